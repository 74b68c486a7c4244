package dkim

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-msgauth/authres"
	msgdkim "github.com/emersion/go-msgauth/dkim"
	"github.com/mamori-mail/mamori/integration/harness"
	"github.com/mamori-mail/mamori/internal/mailfile"
	"github.com/mamori-mail/mamori/internal/metricstest"
	"github.com/mamori-mail/mamori/internal/resolver"
	"github.com/mamori-mail/mamori/rules/check"
	dto "github.com/prometheus/client_model/go"
	"gopkg.in/yaml.v3"
)

const plain = "From: Alice <alice@example.com>\r\nTo: bob@example.org\r\nSubject: Quarterly  report\r\n" +
	"Date: Wed, 25 Nov 2026 10:00:00 +0000\r\nMessage-ID: <1@example.com>\r\n" +
	"X-Folded: first part\r\n\tsecond   part\r\n\r\nHello Bob,  \r\nthe figures are attached.\r\n\r\n\r\n"

type fixture struct {
	key ed25519.PrivateKey
	dns *harness.DNSServer
	c   *Checker
}

func setup(t *testing.T) *fixture {
	pub, key, _ := ed25519.GenerateKey(rand.Reader)
	srv := harness.StartDNS(t)
	srv.Add(t, `sel._domainkey.example.com. 60 IN TXT "v=DKIM1; k=ed25519; p=`+base64.StdEncoding.EncodeToString(pub)+`"`)
	r := resolver.New(resolver.Options{Servers: []string{srv.Addr}, Timeout: 200 * time.Millisecond, Attempts: 1})
	c, err := factory(nil, check.Env{DNS: r})
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{key: key, dns: srv, c: c.(*Checker)}
}

func (f *fixture) sign(t *testing.T, msg, canon string, domain, selector string) string {
	hc, bc, _ := strings.Cut(canon, "/")
	var out bytes.Buffer
	err := msgdkim.Sign(&out, strings.NewReader(msg), &msgdkim.SignOptions{
		Domain: domain, Selector: selector, Signer: f.key,
		HeaderCanonicalization: msgdkim.Canonicalization(hc), BodyCanonicalization: msgdkim.Canonicalization(bc),
		HeaderKeys: []string{"From", "To", "Subject", "Date", "Message-ID", "X-Folded"},
	})
	if err != nil {
		t.Fatal(err)
	}
	return out.String()
}

func (f *fixture) run(t *testing.T, msg string) (check.Result, *check.Message) {
	t.Helper()
	m, err := mailfile.Parse(strings.NewReader(msg), mailfile.Limits{MaxHeaders: 100, MaxHeaderSize: 1 << 20, MaxMessageSize: 1 << 20, SpoolThreshold: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	res, err := f.c.Run(context.Background(), m, check.EOM)
	if err != nil {
		t.Fatal(err)
	}
	return res, m
}

func only(t *testing.T, res check.Result) check.Symbol {
	t.Helper()
	if len(res.Symbols) != 1 {
		t.Fatalf("symbols %+v", res.Symbols)
	}
	return res.Symbols[0]
}

func TestVerifyCanonicalizations(t *testing.T) {
	f := setup(t)
	for _, canon := range []string{"relaxed/relaxed", "simple/simple", "relaxed/simple", "simple/relaxed"} {
		signed := f.sign(t, plain, canon, "example.com", "sel")
		res, m := f.run(t, signed)
		if s := only(t, res); s.Name != "DKIM_PASS" || s.Detail != "d=example.com s=sel c="+canon || s.Score != -0.5 {
			t.Errorf("%s: %+v", canon, s)
		}
		ar := res.AuthResults[0].(*authres.DKIMResult)
		if ar.Value != authres.ResultPass || ar.Domain != "example.com" {
			t.Errorf("%s: AR %+v", canon, ar)
		}
		if sigs, _ := m.GetState(StateKey).([]Signature); len(sigs) != 1 || sigs[0].Result != authres.ResultPass {
			t.Errorf("%s: state %+v", canon, sigs)
		}
		// Changed body and changed header: fail.
		for _, tamper := range []func(string) string{
			func(s string) string { return strings.Replace(s, "figures", "figurez", 1) },
			func(s string) string { return strings.Replace(s, "Quarterly", "Quarterlx", 1) },
		} {
			res, _ := f.run(t, tamper(signed))
			if s := only(t, res); s.Name != "DKIM_FAIL" || s.Score != 1 {
				t.Errorf("%s tampered: %+v", canon, s)
			}
		}
	}
	// What relaxed forgives and simple does not: white space changed in
	// transit inside a header and at the ends of body lines.
	reflow := func(s string) string {
		s = strings.Replace(s, "Subject: Quarterly  report", "Subject: Quarterly report", 1)
		return strings.Replace(s, "Hello Bob,  \r\n", "Hello Bob,\r\n", 1)
	}
	if s := only(t, mustRun(t, f, reflow(f.sign(t, plain, "relaxed/relaxed", "example.com", "sel")))); s.Name != "DKIM_PASS" {
		t.Errorf("relaxed/relaxed after white space changes: %+v", s)
	}
	if s := only(t, mustRun(t, f, reflow(f.sign(t, plain, "simple/simple", "example.com", "sel")))); s.Name != "DKIM_FAIL" {
		t.Errorf("simple/simple after white space changes: %+v", s)
	}
}

func mustRun(t *testing.T, f *fixture, msg string) check.Result {
	res, _ := f.run(t, msg)
	return res
}

func TestNoSignatureAndKeyProblems(t *testing.T) {
	f := setup(t)
	res, _ := f.run(t, plain)
	if s := only(t, res); s.Name != "DKIM_NONE" || res.AuthResults[0].(*authres.DKIMResult).Value != authres.ResultNone {
		t.Errorf("unsigned: %+v", s)
	}
	// No key published for the selector: permerror.
	res, _ = f.run(t, f.sign(t, plain, "relaxed/relaxed", "example.com", "gone"))
	if s := only(t, res); s.Name != "DKIM_PERMERROR" {
		t.Errorf("missing key: %+v", s)
	}
	// The key's server fails: temperror.
	f.dns.ServFail("down._domainkey.example.com.")
	res, _ = f.run(t, f.sign(t, plain, "relaxed/relaxed", "example.com", "down"))
	if s := only(t, res); s.Name != "DKIM_TEMPERROR" {
		t.Errorf("key lookup failing: %+v", s)
	}
}

func TestTwoSignatures(t *testing.T) {
	f := setup(t)
	once := f.sign(t, plain, "relaxed/relaxed", "example.com", "sel")
	twice := f.sign(t, once, "simple/simple", "example.com", "gone")
	res, _ := f.run(t, twice)
	var names []string
	for _, s := range res.Symbols {
		names = append(names, s.Name+":"+s.Detail[:strings.Index(s.Detail+":", ":")])
	}
	if got := strings.Join(names, " "); !strings.Contains(got, "DKIM_PERMERROR:d=example.com s=gone c=simple/simple") || !strings.Contains(got, "DKIM_PASS:d=example.com s=sel c=relaxed/relaxed") {
		t.Errorf("two signatures: %s", got)
	}
	if len(res.AuthResults) != 2 {
		t.Errorf("AR results %d", len(res.AuthResults))
	}
}

func TestConfig(t *testing.T) {
	var n yaml.Node
	yaml.Unmarshal([]byte("outcomes: {passed: 1}"), &n)
	if _, err := factory(n.Content[0], check.Env{}); err == nil || !strings.Contains(err.Error(), `"passed" is not a DKIM result`) {
		t.Errorf("%v", err)
	}
}

func TestMetrics(t *testing.T) {
	f := setup(t)
	f.run(t, plain)
	metricstest.Lint(t, "mamori_dkim_", map[string]dto.MetricType{"mamori_dkim_results_total": dto.MetricType_COUNTER}, []string{"result"})
}
