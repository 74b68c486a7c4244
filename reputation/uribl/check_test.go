package uribl

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/mamori-mail/mamori/integration/harness"
	"github.com/mamori-mail/mamori/internal/mailfile"
	"github.com/mamori-mail/mamori/internal/metricstest"
	"github.com/mamori-mail/mamori/internal/resolver"
	"github.com/mamori-mail/mamori/rules/check"
	dto "github.com/prometheus/client_model/go"
	"gopkg.in/yaml.v3"
)

const lists = `
exempt: [trusted.example]
lists:
  - zone: dbl.test
    returns:
      - {code: 127.0.1.2, symbol: URIBL_DBL_SPAM, outcome: 5}
      - {code: 127.0.1.4, symbol: URIBL_DBL_PHISH, outcome: reject}
  - zone: ipbl.test
    kind: ip
    default: {symbol: URIBL_IP, outcome: 3}
`

func setup(t *testing.T, src string) (*Checker, *harness.DNSServer) {
	t.Helper()
	srv := harness.StartDNS(t)
	srv.Add(t,
		"evil.example.dbl.test. 60 IN A 127.0.1.2",
		"phish.example.dbl.test. 60 IN A 127.0.1.4",
		"99.2.0.192.ipbl.test. 60 IN A 127.0.0.2",
		"refused.example.dbl.test. 60 IN A 127.255.255.254",
	)
	r := resolver.New(resolver.Options{Servers: []string{srv.Addr}, Timeout: 200 * time.Millisecond, Attempts: 1})
	var n yaml.Node
	if err := yaml.Unmarshal([]byte(src), &n); err != nil {
		t.Fatal(err)
	}
	c, err := factory(n.Content[0], check.Env{DNS: r})
	if err != nil {
		t.Fatal(err)
	}
	return c.(*Checker), srv
}

func run(t *testing.T, c *Checker, body string) check.Result {
	t.Helper()
	msg := "From: a@x.example\r\nSubject: s\r\nMIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary=b\r\n\r\n" + body
	m, err := mailfile.Parse(strings.NewReader(msg), mailfile.Limits{MaxHeaders: 100, MaxHeaderSize: 1 << 20, MaxMessageSize: 1 << 24, SpoolThreshold: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Done()
	res, err := c.Run(context.Background(), m, check.EOM)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func part(typ, text string) string {
	return "--b\r\nContent-Type: " + typ + "\r\n\r\n" + text + "\r\n"
}

func TestListedLinks(t *testing.T) {
	c, srv := setup(t, lists)
	res := run(t, c, part("text/plain", "See hxxp://evil[.]example/offer and https://good.example/ and http://www.trusted.example/x")+
		part("text/html", `<a href="http://shop.evil.example/a">a</a><a href="http://evil.example/b">b</a><img src="http://192.0.2.99/p.png">`)+"--b--\r\n")
	got := map[string]check.Symbol{}
	for _, s := range res.Symbols {
		got[s.Name] = s
	}
	if s := got["URIBL_DBL_SPAM"]; s.Score != 5 || s.Detail != "evil.example listed in dbl.test" {
		t.Errorf("domain hit (once for three links): %+v", s)
	}
	if s := got["URIBL_IP"]; s.Detail != "192.0.2.99 listed in ipbl.test" {
		t.Errorf("IP hit: %+v", s)
	}
	if len(res.Symbols) != 2 || res.Decision != nil {
		t.Errorf("symbols %+v decision %+v", res.Symbols, res.Decision)
	}
	if n := srv.QueryCount("trusted.example.dbl.test.", 0); n != 0 {
		t.Errorf("exempt domain looked up %d times", n)
	}
	if n := srv.QueryCount("evil.example.dbl.test.", 0); n != 1 {
		t.Errorf("evil.example looked up %d times", n)
	}
}

func TestRejectOutcome(t *testing.T) {
	c, _ := setup(t, lists)
	res := run(t, c, part("text/html", `<a href="https://login.phish.example/">Sign in</a>`)+"--b--\r\n")
	if res.Decision == nil || res.Decision.Action != check.ActReject || res.Decision.Reply.String() != "554 5.7.1 Message rejected: link to phish.example listed by dbl.test" {
		t.Fatalf("decision %+v", res.Decision)
	}
}

func TestRefusalAndFailures(t *testing.T) {
	c, srv := setup(t, lists)
	res := run(t, c, part("text/plain", "http://refused.example/ http://evil.example/")+"--b--\r\n")
	var names []string
	for _, s := range res.Symbols {
		names = append(names, s.Name)
	}
	if strings.Join(names, " ") != "URIBL_DBL_SPAM URIBL_FAIL" {
		t.Errorf("a refusal is an error, never a hit: %v", res.Symbols)
	}
	srv.ServFail("*.dbl.test.")
	m, _ := mailfile.Parse(strings.NewReader("From: a@x.example\r\n\r\nhttp://down.example/\r\n"), mailfile.Limits{MaxHeaders: 10, MaxHeaderSize: 1 << 16, MaxMessageSize: 1 << 16, SpoolThreshold: 1 << 16})
	if _, err := c.Run(context.Background(), m, check.EOM); err == nil {
		t.Error("every lookup failing is not an error")
	}
}

func TestHostLimit(t *testing.T) {
	c, srv := setup(t, lists+"max_hosts: 3\n")
	var b strings.Builder
	for _, d := range []string{"a", "b", "c", "d", "e"} {
		b.WriteString("http://" + d + ".example/ ")
	}
	res := run(t, c, part("text/plain", b.String())+"--b--\r\n")
	if len(res.Symbols) != 1 || res.Symbols[0].Name != "URIBL_LIMIT" {
		t.Errorf("symbols %+v", res.Symbols)
	}
	if n := len(srv.Queries()); n != 3 {
		t.Errorf("%d queries, want 3 (max_hosts) × 1 domain list", n)
	}
}

func TestConfigErrors(t *testing.T) {
	for src, want := range map[string]string{
		"lists: []": "no lists configured",
		"lists: [{zone: a.test, kind: url, default: {symbol: X, outcome: 1}}]": "lists[0].kind",
		"lists: [{zone: a.test}]": "set returns",
		"max_hosts: -1\nlists: [{zone: a.test, default: {symbol: X, outcome: 1}}]": "max_hosts",
	} {
		var n yaml.Node
		yaml.Unmarshal([]byte(src), &n)
		if _, err := factory(n.Content[0], check.Env{}); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", src, err, want)
		}
	}
}

func TestMetrics(t *testing.T) {
	c, _ := setup(t, lists)
	run(t, c, part("text/plain", "http://evil.example/")+"--b--\r\n")
	metricstest.Lint(t, "mamori_uribl_", map[string]dto.MetricType{"mamori_uribl_lookups_total": dto.MetricType_COUNTER}, []string{"list", "result"})
}

// TestMessageLinksOnce: the links of a message are extracted once and
// shared (the classifier's tokenizer reads the same map).
func TestMessageLinksOnce(t *testing.T) {
	msg := "From: a@x.example\r\nContent-Type: text/plain; charset=iso-2022-jp\r\n\r\nsee http://evil.example/ \x1b$B8+@Q\x1b(B\r\n"
	m, err := mailfile.Parse(strings.NewReader(msg), mailfile.Limits{MaxHeaders: 10, MaxHeaderSize: 1 << 16, MaxMessageSize: 1 << 16, SpoolThreshold: 1 << 16})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Done()
	a, err := MessageLinks(context.Background(), m, check.ContentLimits{})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := MessageLinks(context.Background(), m, check.ContentLimits{})
	if len(a) != 1 || fmt.Sprintf("%p", a) != fmt.Sprintf("%p", b) {
		t.Fatalf("links %v / %v: not shared", a, b)
	}
	for _, found := range a {
		if len(found) != 1 || found[0].Domain != "evil.example" {
			t.Fatalf("found %+v", found)
		}
	}
}
