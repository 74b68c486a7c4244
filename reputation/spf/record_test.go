package spf

import (
	"errors"
	"net/netip"
	"reflect"
	"strings"
	"testing"
)

func TestIsRecord(t *testing.T) {
	for txt, want := range map[string]bool{
		"v=spf1":          true,
		"v=spf1 -all":     true,
		"V=SpF1 ~all":     true,
		"v=spf1  a  ":     true,
		"v=spf10":         false,
		"v=spf1mx":        false,
		"v=spf1\t-all":    false,
		" v=spf1 -all":    false,
		"v=spf2 -all":     false,
		"spf2.0/pra -all": false,
		"":                false,
	} {
		if got := IsRecord(txt); got != want {
			t.Errorf("IsRecord(%q) = %v, want %v", txt, got, want)
		}
	}
}

func TestParseRecord(t *testing.T) {
	for _, tc := range []struct {
		name, in, canonical string
	}{
		{"empty", "v=spf1", "v=spf1"},
		{"version case", "V=SPF1 -ALL", "v=spf1 -all"},
		{"spaces", "v=spf1  a   -all  ", "v=spf1 a -all"},
		{"qualifiers", "v=spf1 +a -mx ~ptr ?all", "v=spf1 a -mx ~ptr ?all"},
		{"ip4", "v=spf1 ip4:192.0.2.1 ip4:192.0.2.0/24 ip4:0.0.0.0/0 ip4:192.0.2.1/32", "v=spf1 ip4:192.0.2.1 ip4:192.0.2.0/24 ip4:0.0.0.0/0 ip4:192.0.2.1"},
		{"ip6", "v=spf1 ip6:2001:DB8::1 ip6:2001:db8::/32 ip6:::1.1.1.1/0 ip6:::FFFF:1.2.3.4", "v=spf1 ip6:2001:db8::1 ip6:2001:db8::/32 ip6:::101:101/0 ip6:::ffff:1.2.3.4"},
		{"a and mx cidr", "v=spf1 a/24 a//64 a/24//64 mx:example.com/0 mx:example.com//128", "v=spf1 a/24 a//64 a/24//64 mx:example.com/0 mx:example.com//128"},
		{"colon in domain", "v=spf1 a:foo:bar/baz.example.com mx:foo:bar/baz.example.com/24", "v=spf1 a:foo:bar/baz.example.com mx:foo:bar/baz.example.com/24"},
		{"dash toplabel", "v=spf1 a:foo.example.xn--zckzah a:x.1-2", "v=spf1 a:foo.example.xn--zckzah a:x.1-2"},
		{"trailing dot", "v=spf1 include:o.spf.example.com. redirect=%{d}.d.spf.example.com.", "v=spf1 include:o.spf.example.com. redirect=%{d}.d.spf.example.com."},
		{"macros", "v=spf1 exists:%{ir}.%{l1r-}.lp._spf.%{d2} exists:%{i}.%{l2r+-=,/_}.user.%{D2} a:%{H}", "v=spf1 exists:%{ir}.%{l1r-}.lp._spf.%{d2} exists:%{i}.%{l2r+-=,/_}.user.%{D2} a:%{H}"},
		{"escapes", "v=spf1 a:macro%%percent%_%_space%-url-space.example.com", "v=spf1 a:macro%%percent%_%_space%-url-space.example.com"},
		{"ends in escape", "v=spf1 a:foo%%", "v=spf1 a:foo%%"},
		{"ptr", "v=spf1 ptr ptr:example.com PTR:%{d}", "v=spf1 ptr ptr:example.com ptr:%{d}"},
		{"modifiers", "v=spf1 redirect=example.com -all Exp=explain.%{d} moo.cow-far_out=man:dog/cat default= x=%{l}", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := ParseRecord(tc.in)
			if err != nil {
				t.Fatalf("%q: %v", tc.in, err)
			}
			if tc.canonical != "" && r.String() != tc.canonical {
				t.Errorf("%q: String %q, want %q", tc.in, r.String(), tc.canonical)
			}
			again, err := ParseRecord(r.String())
			if err != nil || !reflect.DeepEqual(again, r) {
				t.Errorf("%q: %q parses to %+v, %v; want %+v", tc.in, r.String(), again, err, r)
			}
		})
	}
}

func TestParseRecordFields(t *testing.T) {
	r, err := ParseRecord("v=spf1 -a:foo:bar/baz.example.com/24//64 ~ip4:192.0.2.9/24 REDIRECT=x.example.com exp=e.%{d} moo=cow")
	if err != nil {
		t.Fatal(err)
	}
	want := &Record{
		Directives: []Directive{
			{Qualifier: QFail, Mechanism: MechA, Domain: "foo:bar/baz.example.com", Prefix4: 24, Prefix6: 64},
			{Qualifier: QSoftFail, Mechanism: MechIP4, Net: netip.MustParsePrefix("192.0.2.9/24"), Prefix4: -1, Prefix6: -1},
		},
		Redirect: "x.example.com", Exp: "e.%{d}",
		Unknown: []Modifier{{Name: "moo", Value: "cow"}},
	}
	if !reflect.DeepEqual(r, want) {
		t.Errorf("got %+v\nwant %+v", r, want)
	}
}

func TestParseRecordErrors(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"v=spf1 a:\xEF\xBB\xBFgarbage.example.net -all", "not printable 7-bit ASCII"},
		{"v=spf1 a:ctrl.example.com\rptr -all", "not printable"},
		{"v=spf1 ip4:192.0.2.5\n include:x.example.com ~all", "not printable"},
		{"v=spf1 a:foo.example.com\x00", "not printable"},
		{"v=spf1\t-all", "byte 0x09"},
		{"v=spf2 -all", `no "v=spf1"`},
		{"v=spf1 ip4:1.2.3.4 -all moo", "unknown mechanism"},
		{"v=spf1 -all.", "unknown mechanism"},
		{"v=spf1 -all:foobar", "takes no argument"},
		{"v=spf1 -all/8", "takes no argument"},
		{"v=spf1 -", "unknown mechanism"},
		{"v=spf1 ip4:1.2.3.4 redirect:t2.example.com", "unknown mechanism"},
		{"v=spf1 moo.cow/far_out=man:dog/cat", "unknown mechanism"},
		{"v=spf1 moo.cow:far_out=man:dog/cat", "unknown mechanism"},
		{"v=spf1 1up=foo", "unknown mechanism"},
		{"v=spf1 =all", "unknown mechanism"},
		{"v=spf1 -redirect=x.example.com", "unknown mechanism"},
		{"v=spf1 -all foo=%abc", `"%" followed by`},
		{"v=spf1 include", `needs ":"`},
		{"v=spf1 include:", "empty domain-spec"},
		{"v=spf1 include:ip5.example.com/24", "invalid top label"},
		{"v=spf1 exists", `needs ":"`},
		{"v=spf1 exists:mail.example.com/24", "invalid top label"},
		{"v=spf1 ptr/0", "no cidr-length"},
		{"v=spf1 ptr:", "empty domain-spec"},
		{"v=spf1 a:", "empty domain-spec"},
		{"v=spf1 mx: -all", "empty domain-spec"},
		{"v=spf1 a:foo-bar", "does not end in a macro"},
		{"v=spf1 a:museum", "does not end in a macro"},
		{"v=spf1 a:museum.", "does not end in a macro"},
		{"v=spf1 a:111.222.33.44", "invalid top label"},
		{"v=spf1 a:abc.123", "invalid top label"},
		{"v=spf1 a:example.-com", "invalid top label"},
		{"v=spf1 a:example.com-", "invalid top label"},
		{"v=spf1 a:example.com:8080", "invalid top label"},
		{"v=spf1 a:%{d}.", "does not end in a macro"},
		{"v=spf1 a/33", "over 32"},
		{"v=spf1 a//129", "over 128"},
		{"v=spf1 a/24/64", "over 32"},
		{"v=spf1 a/024", "malformed cidr-length"},
		{"v=spf1 a/", "malformed dual-cidr-length"},
		{"v=spf1 ax", "unknown mechanism"},
		{"v=spf1 ip4", `needs ":"`},
		{"v=spf1 ip4:1.2.3", "not an IPv4 address"},
		{"v=spf1 ip4:1.2.3.4:8080", "not an IPv4 address"},
		{"v=spf1 ip4:01.2.3.4", "not an IPv4 address"},
		{"v=spf1 ip4:2001:db8::1", "not an IPv4 address"},
		{"v=spf1 ip4:1.2.3.4//32", "malformed cidr-length"},
		{"v=spf1 ip4:1.2.3.4/33", "over 32"},
		{"v=spf1 ip4:1.2.3.4/032", "malformed cidr-length"},
		{"v=spf1 -all ip6", `needs ":"`},
		{"v=spf1 ip6::CAFE::BABE", "not an IPv6 address"},
		{"v=spf1 ip6:1.2.3.4", "not an IPv6 address"},
		{"v=spf1 ip6:fe80::1%eth0", "not an IPv6 address"},
		{"v=spf1 ip6:::1.1.1.1/129", "over 128"},
		{"v=spf1 ip6:::1.1.1.1//33", "malformed cidr-length"},
		{"v=spf1 redirect=", "empty domain-spec"},
		{"v=spf1 redirect=-all ?all", "does not end in a macro"},
		{"v=spf1 exp=-all", "does not end in a macro"},
		{"v=spf1 exp= -all", "empty domain-spec"},
		{"v=spf1 redirect=a.example.com -all redirect=a.example.com", "redirect= appears more than once"},
		{"v=spf1 exp=a.example.com -all EXP=b.example.com", "exp= appears more than once"},
		{"v=spf1 -all exp=%{r}.example.com", "invalid macro %{r}"},
		{"v=spf1 a:%{c}.example.com", "invalid macro %{c}"},
		{"v=spf1 a:%{t}.example.com", "invalid macro %{t}"},
		{"v=spf1 a:%{a}.example.com", "invalid macro %{a}"},
		{"v=spf1 exists:%(ir).sbl.example.com", `"%" followed by '('`},
		{"v=spf1 exists:foo%.sbl.example.com", `"%" followed by '.'`},
		{"v=spf1 exists:foo.example.com%", `"%" at the end`},
		{"v=spf1 exists:%{ir.example.com", "unterminated macro"},
		{"v=spf1 exists:%{}.example.com", "invalid macro %{}"},
		{"v=spf1 exists:%{d0}.example.com", "zero parts"},
		{"v=spf1 exists:%{d2rr}.example.com", "invalid macro"},
		{"v=spf1 exists:%{d2x}.example.com", "invalid macro"},
		{"v=spf1 exists:%{d r}.example.com", "unterminated macro"},
		{"v=spf1 x=%{c}", "invalid macro %{c}"},
	} {
		_, err := ParseRecord(tc.in)
		if err == nil || !errors.Is(err, ErrSyntax) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want a syntax error with %q", tc.in, err, tc.want)
		}
	}
}

func TestTopLabel(t *testing.T) {
	for l, want := range map[string]bool{
		"com": true, "xn--zckzah": true, "a1": true, "1a": true, "1-2": true, "a-b-c": true, "a--b": true,
		"": false, "123": false, "-com": false, "com-": false, "-": false, "c_m": false, "c:m": false,
	} {
		if got := validTopLabel(l); got != want {
			t.Errorf("validTopLabel(%q) = %v, want %v", l, got, want)
		}
	}
}
