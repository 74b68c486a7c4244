package spf

import (
	"context"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-msgauth/authres"
	"github.com/mamori-mail/mamori/integration/harness"
	"github.com/mamori-mail/mamori/internal/metricstest"
	"github.com/mamori-mail/mamori/internal/resolver"
	"github.com/mamori-mail/mamori/rules/check"
	dto "github.com/prometheus/client_model/go"
	"gopkg.in/yaml.v3"
)

func build(t *testing.T, src string) (*Checker, *harness.DNSServer) {
	t.Helper()
	srv := harness.StartDNS(t)
	r := resolver.New(resolver.Options{Servers: []string{srv.Addr}, Timeout: 100 * time.Millisecond, Attempts: 1})
	var n yaml.Node
	if err := yaml.Unmarshal([]byte(src), &n); err != nil {
		t.Fatal(err)
	}
	var node *yaml.Node
	if len(n.Content) > 0 {
		node = n.Content[0]
	}
	c, err := factory(node, check.Env{DNS: r})
	if err != nil {
		t.Fatal(err)
	}
	return c.(*Checker), srv
}

func TestCheckResults(t *testing.T) {
	c, srv := build(t, "outcomes: {fail: reject}")
	srv.Add(t,
		`pass.test. 60 IN TXT "v=spf1 ip4:192.0.2.0/24 -all"`,
		`soft.test. 60 IN TXT "v=spf1 ~all"`,
		`neutral.test. 60 IN TXT "v=spf1 ?all"`,
		`broken.test. 60 IN TXT "v=spf1 ip4:999.1.1.1 -all"`,
		`mx.helo.test. 60 IN TXT "v=spf1 ip4:192.0.2.7 -all"`,
	)
	srv.ServFail("down.test.")
	for _, tc := range []struct {
		ip, helo, from, sym, ar string
		reject                  bool
	}{
		{"192.0.2.7", "x", "a@pass.test", "SPF_PASS", "spf=pass smtp.mailfrom=pass.test", false},
		{"198.51.100.1", "x", "a@pass.test", "SPF_FAIL", "spf=fail smtp.mailfrom=pass.test", true},
		{"198.51.100.1", "x", "a@soft.test", "SPF_SOFTFAIL", "spf=softfail smtp.mailfrom=soft.test", false},
		{"198.51.100.1", "x", "a@neutral.test", "SPF_NEUTRAL", "spf=neutral smtp.mailfrom=neutral.test", false},
		{"198.51.100.1", "x", "a@none.test", "SPF_NONE", "spf=none smtp.mailfrom=none.test", false},
		{"198.51.100.1", "x", "a@broken.test", "SPF_PERMERROR", "spf=permerror smtp.mailfrom=broken.test", false},
		{"198.51.100.1", "x", "a@down.test", "SPF_TEMPERROR", "spf=temperror smtp.mailfrom=down.test", false},
		{"192.0.2.7", "mx.helo.test", "", "SPF_PASS", "spf=pass smtp.helo=mx.helo.test", false},
	} {
		m := &check.Message{ClientIP: netip.MustParseAddr(tc.ip), Helo: tc.helo, Sender: tc.from}
		res, err := c.Run(context.Background(), m, check.MailFrom)
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Symbols) != 1 || res.Symbols[0].Name != tc.sym || len(res.AuthResults) != 1 || arText(res.AuthResults[0]) != tc.ar {
			t.Errorf("%s from %s: %+v %v", tc.from, tc.ip, res.Symbols, res.AuthResults)
		}
		if (res.Decision != nil) != tc.reject {
			t.Errorf("%s: decision %+v", tc.from, res.Decision)
		}
		if tc.reject && res.Decision.Reply.String() != "550 5.7.23 SPF check failed for pass.test" {
			t.Errorf("reply %s", res.Decision.Reply)
		}
		if st, _ := m.GetState(StateKey).(Result); st.Domain == "" {
			t.Errorf("%s: result not kept for DMARC", tc.from)
		}
	}
}

// arText formats one result as it appears in the header.
func arText(r authres.Result) string {
	return strings.TrimPrefix(authres.Format("x", []authres.Result{r}), "x; ")
}

func TestCheckSkips(t *testing.T) {
	c, srv := build(t, "")
	for _, m := range []*check.Message{
		{ClientIP: netip.MustParseAddr("127.0.0.1"), Sender: "a@x.test"},
		{ClientIP: netip.MustParseAddr("10.0.0.1"), Sender: "a@x.test"},
		{ClientIP: netip.MustParseAddr("192.0.2.1"), Sender: "a@x.test", AuthUser: "alice"},
		{Sender: "a@x.test"},
	} {
		if res, err := c.Run(context.Background(), m, check.MailFrom); err != nil || len(res.Symbols) != 0 {
			t.Errorf("%+v: %v %v", m, res, err)
		}
	}
	if n := len(srv.Queries()); n != 0 {
		t.Errorf("%d queries for skipped clients", n)
	}
}

func TestCheckConfigErrors(t *testing.T) {
	for src, want := range map[string]string{
		"outcomes: {failed: 3}":       `"failed" is not an SPF result`,
		"fail_reply: \"450 later\"":   "must be a 5xx reply",
		"outcomes: {fail: sometimes}": "want reject",
	} {
		var n yaml.Node
		yaml.Unmarshal([]byte(src), &n)
		if _, err := factory(n.Content[0], check.Env{}); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", src, err, want)
		}
	}
}

func TestMetrics(t *testing.T) {
	c, srv := build(t, "")
	srv.Add(t, `m.test. 60 IN TXT "v=spf1 -all"`)
	c.Run(context.Background(), &check.Message{ClientIP: netip.MustParseAddr("192.0.2.1"), Sender: "a@m.test"}, check.MailFrom)
	metricstest.Lint(t, "mamori_spf_", map[string]dto.MetricType{"mamori_spf_results_total": dto.MetricType_COUNTER}, []string{"result"})
}
