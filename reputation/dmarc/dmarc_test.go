package dmarc

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
	"github.com/mamori-mail/mamori/reputation/dkim"
	"github.com/mamori-mail/mamori/reputation/spf"
	"github.com/mamori-mail/mamori/rules/check"
	dto "github.com/prometheus/client_model/go"
	"gopkg.in/yaml.v3"
)

func setup(t *testing.T, cfg string) (*Checker, *harness.DNSServer) {
	t.Helper()
	srv := harness.StartDNS(t)
	srv.Add(t,
		`_dmarc.example.com. 60 IN TXT "v=DMARC1; p=reject; sp=quarantine"`,
		`_dmarc.strict.example. 60 IN TXT "v=DMARC1; p=reject; adkim=s; aspf=s"`,
		`_dmarc.own.example.com. 60 IN TXT "v=DMARC1; p=none"`,
		`_dmarc.sampled.example. 60 IN TXT "v=DMARC1; p=reject; pct=0"`,
		`_dmarc.quar.example. 60 IN TXT "v=DMARC1; p=quarantine"`,
		`_dmarc.twice.example. 60 IN TXT "v=DMARC1; p=reject"`,
		`_dmarc.twice.example. 60 IN TXT "v=DMARC1; p=none"`,
		`_dmarc.broken.example. 60 IN TXT "v=DMARC1; sp=reject"`,
		`_dmarc.other.example. 60 IN TXT "some other text"`,
		`_dmarc.example.co.jp. 60 IN TXT "v=DMARC1; p=reject"`,
	)
	srv.ServFail("_dmarc.down.example.")
	r := resolver.New(resolver.Options{Servers: []string{srv.Addr}, Timeout: 200 * time.Millisecond, Attempts: 1})
	var node *yaml.Node
	if cfg != "" {
		var n yaml.Node
		yaml.Unmarshal([]byte(cfg), &n)
		node = n.Content[0]
	}
	c, err := factory(node, check.Env{DNS: r})
	if err != nil {
		t.Fatal(err)
	}
	return c.(*Checker), srv
}

type msg struct {
	from    []string // From field values
	spfDom  string   // SPF passed for this domain ("" none)
	dkimDom []string // DKIM passed for these domains
	failed  []string // DKIM failed for these
}

func (x msg) message() *check.Message {
	m := &check.Message{ClientIP: netip.MustParseAddr("198.51.100.1")}
	for _, f := range x.from {
		m.Headers = append(m.Headers, check.Header{Name: "From", Raw: " " + f})
	}
	if x.spfDom != "" {
		m.SetState(spf.StateKey, spf.Result{Result: "pass", Domain: x.spfDom})
	}
	var sigs []dkim.Signature
	for _, d := range x.dkimDom {
		sigs = append(sigs, dkim.Signature{Domain: d, Result: authres.ResultPass})
	}
	for _, d := range x.failed {
		sigs = append(sigs, dkim.Signature{Domain: d, Result: authres.ResultFail})
	}
	m.SetState(dkim.StateKey, sigs)
	return m
}

func TestPolicies(t *testing.T) {
	c, _ := setup(t, "")
	for _, tc := range []struct {
		name   string
		m      msg
		symbol string
		action check.Action
		ar     string
	}{
		{"aligned DKIM, relaxed", msg{from: []string{"Alice <alice@example.com>"}, dkimDom: []string{"mail.example.com"}}, "DMARC_PASS", 0, "pass"},
		{"aligned SPF", msg{from: []string{"alice@example.com"}, spfDom: "bounce.example.com"}, "DMARC_PASS", 0, "pass"},
		{"unaligned pass is a fail", msg{from: []string{"alice@example.com"}, spfDom: "example.net", dkimDom: []string{"example.net"}}, "DMARC_FAIL_REJECT", check.ActReject, "fail"},
		{"failed DKIM of the domain", msg{from: []string{"alice@example.com"}, failed: []string{"example.com"}}, "DMARC_FAIL_REJECT", check.ActReject, "fail"},
		{"strict alignment", msg{from: []string{"a@strict.example"}, dkimDom: []string{"mail.strict.example"}, spfDom: "mail.strict.example"}, "DMARC_FAIL_REJECT", check.ActReject, "fail"},
		{"strict, exact domain", msg{from: []string{"a@strict.example"}, dkimDom: []string{"strict.example"}}, "DMARC_PASS", 0, "pass"},
		{"org-domain fallback takes sp=", msg{from: []string{"a@news.example.com"}}, "DMARC_FAIL_QUARANTINE", 0, "fail"},
		{"subdomain with its own record", msg{from: []string{"a@own.example.com"}}, "DMARC_FAIL_NONE", 0, "fail"},
		{"p=quarantine scores by default", msg{from: []string{"a@quar.example"}}, "DMARC_FAIL_QUARANTINE", 0, "fail"},
		{"pct=0 samples reject down to quarantine", msg{from: []string{"a@sampled.example"}}, "DMARC_FAIL_QUARANTINE", 0, "fail"},
		{"no record", msg{from: []string{"a@nodmarc.example"}}, "DMARC_NONE", 0, "none"},
		{"two records: no policy", msg{from: []string{"a@twice.example"}}, "DMARC_NONE", 0, "none"},
		{"not a DMARC record", msg{from: []string{"a@other.example"}}, "DMARC_NONE", 0, "none"},
		{"record without p=", msg{from: []string{"a@broken.example"}}, "DMARC_PERMERROR", 0, "permerror"},
		{"DNS failure", msg{from: []string{"a@down.example"}}, "DMARC_TEMPERROR", 0, "temperror"},
		{"two From fields", msg{from: []string{"a@example.com", "b@example.com"}}, "DMARC_PERMERROR", 0, "permerror"},
		{"two addresses", msg{from: []string{"a@example.com, b@example.net"}}, "DMARC_PERMERROR", 0, "permerror"},
		{"co.jp: the organizational domain is example.co.jp", msg{from: []string{"a@mail.example.co.jp"}, dkimDom: []string{"example.co.jp"}}, "DMARC_PASS", 0, "pass"},
		{"co.jp is a public suffix, not an organization", msg{from: []string{"a@mail.example.co.jp"}, dkimDom: []string{"evil.co.jp"}}, "DMARC_FAIL_REJECT", check.ActReject, "fail"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := c.Run(context.Background(), tc.m.message(), check.EOM)
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Symbols) != 1 || res.Symbols[0].Name != tc.symbol {
				t.Fatalf("symbols %+v, want %s", res.Symbols, tc.symbol)
			}
			var act check.Action
			if res.Decision != nil {
				act = res.Decision.Action
			}
			if act != tc.action {
				t.Errorf("action %s, want %s", act, tc.action)
			}
			if got := res.AuthResults[0].(*authres.DMARCResult).Value; string(got) != tc.ar {
				t.Errorf("AR %s, want %s", got, tc.ar)
			}
		})
	}
}

func TestRejectReplyAndOutcomes(t *testing.T) {
	c, _ := setup(t, "reject: quarantine\nquarantine: 3")
	res, _ := c.Run(context.Background(), msg{from: []string{"a@example.com"}}.message(), check.EOM)
	if res.Decision == nil || res.Decision.Action != check.ActQuarantine {
		t.Fatalf("reject mapped to quarantine: %+v", res.Decision)
	}
	res, _ = c.Run(context.Background(), msg{from: []string{"a@quar.example"}}.message(), check.EOM)
	if res.Decision != nil || res.Symbols[0].Score != 3 {
		t.Fatalf("quarantine as score 3: %+v %+v", res.Decision, res.Symbols)
	}
	d, _ := setup(t, "")
	res, _ = d.Run(context.Background(), msg{from: []string{"a@example.com"}}.message(), check.EOM)
	if r := res.Decision.Reply.String(); r != "550 5.7.1 Message rejected by DMARC policy of example.com" {
		t.Errorf("reply %q", r)
	}
}

func TestSampling(t *testing.T) {
	c, srv := setup(t, "")
	srv.Add(t, `_dmarc.half.example. 60 IN TXT "v=DMARC1; p=reject; pct=50"`)
	c.sample = func(pct int) bool { return pct == 50 }
	res, _ := c.Run(context.Background(), msg{from: []string{"a@half.example"}}.message(), check.EOM)
	if res.Symbols[0].Name != "DMARC_FAIL_REJECT" {
		t.Errorf("in the sample: %+v", res.Symbols)
	}
	c.sample = func(int) bool { return false }
	res, _ = c.Run(context.Background(), msg{from: []string{"a@half.example"}}.message(), check.EOM)
	if res.Symbols[0].Name != "DMARC_FAIL_QUARANTINE" || !strings.Contains(res.Symbols[0].Detail, "pct sampled reject down to quarantine") {
		t.Errorf("outside the sample: %+v", res.Symbols)
	}
}

func TestTrustedSkipped(t *testing.T) {
	c, srv := setup(t, "")
	m := msg{from: []string{"a@example.com"}}.message()
	m.AuthUser = "alice"
	if res, _ := c.Run(context.Background(), m, check.EOM); len(res.Symbols) != 0 {
		t.Errorf("authenticated: %+v", res.Symbols)
	}
	m = msg{from: []string{"a@example.com"}}.message()
	m.ClientIP = netip.MustParseAddr("10.0.0.1")
	if res, _ := c.Run(context.Background(), m, check.EOM); len(res.Symbols) != 0 {
		t.Errorf("internal client: %+v", res.Symbols)
	}
	if n := len(srv.Queries()); n != 0 {
		t.Errorf("%d queries for trusted senders", n)
	}
}

func TestMetrics(t *testing.T) {
	c, _ := setup(t, "")
	c.Run(context.Background(), msg{from: []string{"a@example.com"}}.message(), check.EOM)
	metricstest.Lint(t, "mamori_dmarc_", map[string]dto.MetricType{"mamori_dmarc_results_total": dto.MetricType_COUNTER}, []string{"result", "policy"})
}
