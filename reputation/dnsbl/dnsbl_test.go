package dnsbl

import (
	"context"
	"net"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mamori-mail/mamori/internal/metricstest"
	"github.com/mamori-mail/mamori/rules/check"
	dto "github.com/prometheus/client_model/go"
	"gopkg.in/yaml.v3"
)

// fakeDNS answers A lookups from a map (unit tests only; the resolver and
// the check run against a real DNS server in internal/resolver and
// integration/).
type fakeDNS struct {
	a     map[string][]string
	fail  map[string]error
	delay time.Duration
	calls atomic.Int32
}

func (f *fakeDNS) LookupA(ctx context.Context, name string) ([]netip.Addr, error) {
	f.calls.Add(1)
	if f.delay > 0 {
		select {
		case <-time.After(f.delay):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if err := f.fail[name]; err != nil {
		return nil, err
	}
	v, ok := f.a[name]
	if !ok {
		return nil, &net.DNSError{Err: "no such host", Name: name, IsNotFound: true}
	}
	var out []netip.Addr
	for _, s := range v {
		out = append(out, netip.MustParseAddr(s))
	}
	return out, nil
}
func (f *fakeDNS) LookupTXT(context.Context, string) ([]string, error)        { return nil, nil }
func (f *fakeDNS) LookupMX(context.Context, string) ([]*net.MX, error)        { return nil, nil }
func (f *fakeDNS) LookupIPAddr(context.Context, string) ([]net.IPAddr, error) { return nil, nil }
func (f *fakeDNS) LookupAddr(context.Context, string) ([]string, error)       { return nil, nil }
func (f *fakeDNS) ForMessage(*check.Message) check.DNS                        { return f }

func build(t *testing.T, src string, dns check.DNS) *Checker {
	t.Helper()
	var n yaml.Node
	if err := yaml.Unmarshal([]byte(src), &n); err != nil {
		t.Fatal(err)
	}
	c, err := factory(n.Content[0], check.Env{DNS: dns})
	if err != nil {
		t.Fatal(err)
	}
	return c.(*Checker)
}

func TestQueryName(t *testing.T) {
	for ip, want := range map[string]string{
		"192.0.2.99":       "99.2.0.192.bl.test.",
		"::ffff:192.0.2.1": "1.2.0.192.bl.test.",
		"2001:db8::1":      "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.bl.test.",
	} {
		if got := QueryName(netip.MustParseAddr(ip), "bl.test."); got != want {
			t.Errorf("%s: %s, want %s", ip, got, want)
		}
	}
}

const lists = `
lists:
  - zone: zen.test
    returns:
      - {code: 127.0.0.2, symbol: RBL_SBL, outcome: 4}
      - {code: 127.0.0.4-127.0.0.7, symbol: RBL_XBL, outcome: reject}
      - {code: 127.0.0.10, symbol: RBL_PBL, outcome: 2}
  - zone: multi.test
    ipv6: false
    returns:
      - {mask: 0.0.0.2, symbol: MULTI_A, outcome: 1}
      - {mask: 8, symbol: MULTI_B, outcome: 1.5}
    default: {symbol: MULTI_OTHER, outcome: 0.5}
  - zone: wl.test
    type: allow
    returns:
      - {code: 127.0.10.0-127.0.10.255, symbol: RCVD_IN_WL, outcome: -2}
`

func run(t *testing.T, c *Checker, m *check.Message) (check.Result, error) {
	t.Helper()
	return c.Run(context.Background(), m, check.MailFrom)
}

func names(res check.Result) string {
	var s []string
	for _, sym := range res.Symbols {
		s = append(s, sym.Name)
	}
	return strings.Join(s, " ")
}

func TestHits(t *testing.T) {
	dns := &fakeDNS{a: map[string][]string{
		"2.2.0.192.zen.test.":   {"127.0.0.2", "127.0.0.10"},
		"2.2.0.192.multi.test.": {"127.0.0.10"}, // bits 2 and 8
		"3.2.0.192.multi.test.": {"127.0.0.64"}, // no mask bit: default
		"3.2.0.192.zen.test.":   {"127.0.0.5"},
		"4.2.0.192.wl.test.":    {"127.0.10.3"},
		"5.2.0.192.zen.test.":   {"127.0.0.99"}, // unknown code, no default
	}}
	c := build(t, lists, dns)
	for _, tc := range []struct {
		ip, want string
		action   check.Action
	}{
		{"192.0.2.2", "RBL_SBL RBL_PBL MULTI_A MULTI_B", check.ActNone},
		{"192.0.2.3", "RBL_XBL MULTI_OTHER", check.ActReject},
		{"192.0.2.4", "RCVD_IN_WL", check.ActNone},
		{"192.0.2.5", "", check.ActNone},
		{"192.0.2.6", "", check.ActNone},
	} {
		res, err := run(t, c, &check.Message{ClientIP: netip.MustParseAddr(tc.ip)})
		if err != nil {
			t.Fatal(err)
		}
		if got := names(res); got != tc.want {
			t.Errorf("%s: symbols %q, want %q", tc.ip, got, tc.want)
		}
		var act check.Action
		if res.Decision != nil {
			act = res.Decision.Action
			if r := res.Decision.Reply.String(); r != "554 5.7.1 Service unavailable; client [192.0.2.3] blocked using zen.test" {
				t.Errorf("reply %q", r)
			}
		}
		if act != tc.action {
			t.Errorf("%s: action %s, want %s", tc.ip, act, tc.action)
		}
	}
	res, _ := run(t, c, &check.Message{ClientIP: netip.MustParseAddr("192.0.2.2")})
	if res.Symbols[0].Score != 4 || res.Symbols[0].Detail != "192.0.2.2 listed in zen.test (127.0.0.2)" {
		t.Errorf("symbol %+v", res.Symbols[0])
	}
}

func TestRefusalIsErrorNeverHit(t *testing.T) {
	dns := &fakeDNS{a: map[string][]string{
		"9.2.0.192.zen.test.":   {"127.255.255.254"},
		"9.2.0.192.multi.test.": {"127.0.0.2"},
		"8.2.0.192.zen.test.":   {"127.255.255.254"},
		"8.2.0.192.multi.test.": {"127.255.255.252"},
		"8.2.0.192.wl.test.":    {"203.0.113.9"}, // a resolver answering every name
	}}
	c := build(t, lists, dns)
	res, err := run(t, c, &check.Message{ClientIP: netip.MustParseAddr("192.0.2.9")})
	if err != nil {
		t.Fatal(err)
	}
	if got := names(res); got != "MULTI_A DNSBL_FAIL" || !strings.Contains(res.Symbols[1].Detail, "zen.test: list refused the query (answer 127.255.255.254)") {
		t.Fatalf("partial refusal: %+v", res.Symbols)
	}
	if _, err := run(t, c, &check.Message{ClientIP: netip.MustParseAddr("192.0.2.8")}); err == nil || !strings.Contains(err.Error(), "outside 127.0.0.0/8") {
		t.Fatalf("every list failing: %v", err)
	}
}

func TestSkips(t *testing.T) {
	dns := &fakeDNS{}
	c := build(t, lists, dns)
	for _, m := range []*check.Message{
		{ClientIP: netip.MustParseAddr("127.0.0.1")},
		{ClientIP: netip.MustParseAddr("10.1.2.3")},
		{ClientIP: netip.MustParseAddr("fd00::1")},
		{ClientIP: netip.MustParseAddr("fe80::1")},
		{ClientIP: netip.MustParseAddr("100.64.1.1")},
		{},
		{ClientIP: netip.MustParseAddr("192.0.2.1"), AuthUser: "alice"},
	} {
		if _, err := run(t, c, m); err != nil {
			t.Fatal(err)
		}
	}
	if n := dns.calls.Load(); n != 0 {
		t.Fatalf("%d lookups for clients that must be skipped", n)
	}
	authed := build(t, lists+"check_authenticated: true\n", dns)
	run(t, authed, &check.Message{ClientIP: netip.MustParseAddr("192.0.2.1"), AuthUser: "alice"})
	if dns.calls.Load() == 0 {
		t.Fatal("check_authenticated did not look up")
	}
}

func TestIPv6(t *testing.T) {
	dns := &fakeDNS{a: map[string][]string{
		QueryName(netip.MustParseAddr("2001:db8::7"), "zen.test"): {"127.0.0.2"},
	}}
	c := build(t, lists, dns)
	res, err := run(t, c, &check.Message{ClientIP: netip.MustParseAddr("2001:db8::7")})
	if err != nil || names(res) != "RBL_SBL" {
		t.Fatalf("%v %v", names(res), err)
	}
	if dns.calls.Load() != 2 {
		t.Errorf("%d lookups; multi.test is IPv4-only and must not be asked", dns.calls.Load())
	}
}

func TestListsInParallel(t *testing.T) {
	dns := &fakeDNS{delay: 50 * time.Millisecond}
	c := build(t, lists, dns)
	t0 := time.Now()
	run(t, c, &check.Message{ClientIP: netip.MustParseAddr("192.0.2.1")})
	if d := time.Since(t0); d > 120*time.Millisecond {
		t.Fatalf("3 lists at 50ms each took %s: not asked at once", d)
	}
}

func TestServerFailure(t *testing.T) {
	fail := &net.DNSError{Err: "server misbehaving", IsTemporary: true}
	dns := &fakeDNS{fail: map[string]error{"1.2.0.192.zen.test.": fail, "1.2.0.192.multi.test.": fail, "1.2.0.192.wl.test.": fail}}
	c := build(t, lists, dns)
	if _, err := run(t, c, &check.Message{ClientIP: netip.MustParseAddr("192.0.2.1")}); err == nil || !strings.Contains(err.Error(), "server misbehaving") {
		t.Fatal("all lists failing is not an error")
	}
}

func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct{ src, want string }{
		{"lists: []", "no lists configured"},
		{"lists: [{zone: nodot}]", "lists[0].zone"},
		{"lists: [{zone: a.test}]", "set returns"},
		{"lists: [{zone: a.test, type: grey, returns: [{code: 127.0.0.2, symbol: X, outcome: 1}]}]", "lists[0].type"},
		{"lists: [{zone: a.test, returns: [{code: 10.0.0.2, symbol: X, outcome: 1}]}]", "want an address in 127.0.0.0/8"},
		{"lists: [{zone: a.test, returns: [{code: 127.0.0.9-127.0.0.2, symbol: X, outcome: 1}]}]", "range"},
		{"lists: [{zone: a.test, returns: [{code: 127.0.0.2, mask: 2, symbol: X, outcome: 1}]}]", "exactly one of code"},
		{"lists: [{zone: a.test, returns: [{mask: 0, symbol: X, outcome: 1}]}]", "non-zero mask"},
		{"lists: [{zone: a.test, returns: [{code: 127.0.0.2, symbol: lower, outcome: 1}]}]", "returns[0].symbol"},
		{"lists: [{zone: a.test, returns: [{code: 127.0.0.2, symbol: X}]}]", "outcome: is required"},
		{"lists: [{zone: a.test, returns: [{code: 127.0.0.2, symbol: X, outcome: maybe}]}]", "want reject"},
		{"lists: [{zone: a.test, refusals: [x], returns: [{code: 127.0.0.2, symbol: X, outcome: 1}]}]", "refusals[0]"},
		{"lists: [{zone: a.test, reject_reply: \"450 later\", returns: [{code: 127.0.0.2, symbol: X, outcome: 1}]}]", "5xx"},
		{"lists: [{zone: a.test, default: {code: 127.0.0.3, symbol: X, outcome: 1}}]", "default takes no code"},
	} {
		var n yaml.Node
		yaml.Unmarshal([]byte(tc.src), &n)
		_, err := factory(n.Content[0], check.Env{})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.src, err, tc.want)
		}
	}
}

func TestMetrics(t *testing.T) {
	c := build(t, lists, &fakeDNS{})
	run(t, c, &check.Message{ClientIP: netip.MustParseAddr("192.0.2.1")})
	run(t, c, &check.Message{ClientIP: netip.MustParseAddr("127.0.0.1")})
	metricstest.Lint(t, "mamori_dnsbl_", map[string]dto.MetricType{
		"mamori_dnsbl_lookups_total": dto.MetricType_COUNTER, "mamori_dnsbl_skipped_total": dto.MetricType_COUNTER,
	}, []string{"list", "result", "reason"})
}
