package spf

import (
	"errors"
	"reflect"
	"testing"
)

// FuzzParseRecord: ParseRecord never panics, accepts only printable 7-bit
// ASCII SPF records, fails only with syntax errors, and what it accepts
// prints (String) to a record that parses back to the same Record and
// prints the same: validating again is stable.
func FuzzParseRecord(f *testing.F) {
	for _, s := range []string{
		"v=spf1",
		"v=spf1 -all",
		"v=spf1 ip4:192.0.2.0/24 ip6:2001:db8::/32 ~all",
		"v=spf1 a mx/24 a:foo:bar/baz.example.com/24//64 ptr:example.com -all",
		"v=spf1 include:_spf.example.com exists:%{ir}.%{l1r-}.lp._spf.%{d2} ?all",
		"v=spf1 redirect=%{d}.d.spf.example.com. exp=explain.%{D2}",
		"v=spf1 moo.cow-far_out=man:dog/cat default= -all",
		"v=spf1 a:macro%%percent%_%_space%-url-space.example.com -all",
		"v=spf1 exists:%{l2r+-}.user.%{d2} a:foo.example.xn--zckzah",
		"v=spf1 ip6:::FFFF:1.2.3.4 -ip4:1.2.3.4 ip6:::1.1.1.1/0",
		"v=spf1 a:%{H}.bar ptr/0 exp=-all",
		"V=SPF1  A  MX  ",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseRecord(s)
		if err != nil {
			if !errors.Is(err, ErrSyntax) {
				t.Fatalf("%q: error %v is not a syntax error", s, err)
			}
			return
		}
		for i := 0; i < len(s); i++ {
			if s[i] < 0x20 || s[i] > 0x7e {
				t.Fatalf("%q: accepted byte %#02x", s, s[i])
			}
		}
		if !IsRecord(s) {
			t.Fatalf("%q: accepted without the version", s)
		}
		c := r.String()
		again, err := ParseRecord(c)
		if err != nil {
			t.Fatalf("%q: its canonical form %q does not parse: %v", s, c, err)
		}
		if !reflect.DeepEqual(again, r) {
			t.Fatalf("%q: %q parses to %+v, not %+v", s, c, again, r)
		}
		if again.String() != c {
			t.Fatalf("%q: %q prints as %q", s, c, again.String())
		}
	})
}
