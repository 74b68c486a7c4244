package spf

import (
	"context"
	"net/netip"
	"strings"
	"testing"
)

// TestExpandRFCExamples runs the macro examples of RFC 7208 §7.4.
func TestExpandRFCExamples(t *testing.T) {
	r := &resolution{
		ctx: context.Background(), ip: netip.MustParseAddr("192.0.2.3"),
		sender: "strong-bad@email.example.com", local: "strong-bad", domain: "email.example.com",
		helo: "mx.example.org",
	}
	const domain = "email.example.com"
	for spec, want := range map[string]string{
		"%{s}":                              "strong-bad@email.example.com",
		"%{o}":                              "email.example.com",
		"%{d}":                              "email.example.com",
		"%{d4}":                             "email.example.com",
		"%{d3}":                             "email.example.com",
		"%{d2}":                             "example.com",
		"%{d1}":                             "com",
		"%{dr}":                             "com.example.email",
		"%{d2r}":                            "example.email",
		"%{l}":                              "strong-bad",
		"%{l-}":                             "strong.bad",
		"%{lr}":                             "strong-bad",
		"%{lr-}":                            "bad.strong",
		"%{l1r-}":                           "strong",
		"%{ir}.%{v}._spf.%{d2}":             "3.2.0.192.in-addr._spf.example.com",
		"%{lr-}.lp._spf.%{d2}":              "bad.strong.lp._spf.example.com",
		"%{lr-}.lp.%{ir}.%{v}._spf.%{d2}":   "bad.strong.lp.3.2.0.192.in-addr._spf.example.com",
		"%{ir}.%{v}.%{l1r-}.lp._spf.%{d2}":  "3.2.0.192.in-addr.strong.lp._spf.example.com",
		"%{d2}.trusted-domains.example.net": "example.com.trusted-domains.example.net",
		"%{h}":                              "mx.example.org",
		"%{d999999999999}":                  "email.example.com",
		"%%%_%-":                            "% %20",
		"%{S}":                              "strong-bad%40email.example.com",
	} {
		got, err := r.expand(spec, domain)
		if err != nil || got != want {
			t.Errorf("%s: %q, %v; want %q", spec, got, err, want)
		}
	}
	r.ip = netip.MustParseAddr("2001:db8::cb01")
	got, _ := r.expand("%{ir}.%{v}._spf.%{d2}", domain)
	if want := "1.0.b.c.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6._spf.example.com"; got != want {
		t.Errorf("IPv6: %q, want %q", got, want)
	}
}

func TestTransform(t *testing.T) {
	for _, tc := range []struct {
		v      string
		digits int
		rev    bool
		delims string
		want   string
	}{
		{"a..b", 0, false, "", "a..b"}, // empty parts are kept
		{"a..b", 2, false, "", ".b"},
		{"foo-bar+zip+quux", 0, false, "+-", "foo.bar.zip.quux"},
		{"foo-bar+zip+quux", 2, true, "+-", "bar.foo"},
		{"", 0, true, "", ""},
	} {
		if got := transform(tc.v, tc.digits, tc.rev, tc.delims); got != tc.want {
			t.Errorf("transform(%q, %d, %v, %q) = %q, want %q", tc.v, tc.digits, tc.rev, tc.delims, got, tc.want)
		}
	}
	if got, want := urlEscape("~jack&jill=up-a_b3.c x"), "~jack%26jill%3Dup-a_b3.c%20x"; got != want {
		t.Errorf("urlEscape: %q, want %q", got, want)
	}
}

// TestExpandTruncates: a target-name over 253 bytes loses labels on the
// left (RFC 7208 §4.8, §7.3).
func TestExpandTruncates(t *testing.T) {
	r := &resolution{ctx: context.Background(), ip: netip.MustParseAddr("192.0.2.3")}
	long := strings.Repeat("abcdefghi.", 30) + "example.com"
	got, err := r.expandDomain("%{d}.", long)
	if err != nil || len(got) > 253 || !strings.HasSuffix(got, ".example.com") || !strings.HasPrefix(got, "abcdefghi.") {
		t.Errorf("%q (%d bytes), %v", got, len(got), err)
	}
}
