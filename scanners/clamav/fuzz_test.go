package clamav

import (
	"strings"
	"testing"
)

// FuzzCleanSignature: whatever clamd names, the reply text stays one line
// of printable ASCII and ParseReply accepts it.
func FuzzCleanSignature(f *testing.F) {
	for _, s := range []string{"Win.Test.EICAR_HDB-1", "a\r\n250 ok", "日本語", "", strings.Repeat("x", 500)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, sig string) {
		got := CleanSignature(sig)
		if got == "" || len(got) > maxSignature {
			t.Fatalf("CleanSignature(%q) = %q", sig, got)
		}
		for i := 0; i < len(got); i++ {
			if got[i] <= ' ' || got[i] >= 0x7f {
				t.Fatalf("CleanSignature(%q) = %q: byte %#x", sig, got, got[i])
			}
		}
	})
}

// FuzzParseAddress: an accepted address is a unix path or a host:port.
func FuzzParseAddress(f *testing.F) {
	for _, s := range []string{"unix:/run/clamav/clamd.ctl", "tcp:127.0.0.1:3310", "/x", "tcp:[::1]:1", "tcp::0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		network, addr, err := ParseAddress(s)
		if err != nil {
			return
		}
		switch network {
		case "unix":
			if !strings.HasPrefix(addr, "/") || len(addr) > 107 {
				t.Fatalf("ParseAddress(%q) = unix %q", s, addr)
			}
		case "tcp":
			if !strings.Contains(addr, ":") {
				t.Fatalf("ParseAddress(%q) = tcp %q", s, addr)
			}
		default:
			t.Fatalf("ParseAddress(%q) network %q", s, network)
		}
	})
}
