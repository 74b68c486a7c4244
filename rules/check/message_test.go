package check

import (
	"io"
	"net/netip"
	"testing"
)

func TestHeaderBytes(t *testing.T) {
	m := &Message{Headers: []Header{{Name: "Subject", Raw: " a\r\n\tb"}, {Name: "From", Raw: "x@y"}}}
	if got := string(m.HeaderBytes()); got != "Subject: a\r\n\tb\r\nFrom:x@y\r\n\r\n" {
		t.Fatalf("%q", got)
	}
	if got := string((&Message{}).HeaderBytes()); got != "\r\n" {
		t.Fatalf("no headers: %q", got)
	}
	if b, _ := io.ReadAll(m.BodyReader()); len(b) != 0 {
		t.Fatal("body of a message without one")
	}
}

func TestLocalClient(t *testing.T) {
	for ip, want := range map[string]string{
		"127.0.0.1": "loopback", "::1": "loopback", "10.1.2.3": "private address", "fd00::1": "private address",
		"fe80::1": "private address", "100.64.1.1": "private address", "::ffff:192.168.1.1": "private address",
		"192.0.2.1": "", "2001:db8::1": "",
	} {
		if got := LocalClient(netip.MustParseAddr(ip)); got != want {
			t.Errorf("%s: %q, want %q", ip, got, want)
		}
	}
	if got := LocalClient(netip.Addr{}); got != "no client address" {
		t.Errorf("no address: %q", got)
	}
}
