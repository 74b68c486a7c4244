package spf

import (
	"context"
	"errors"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"blitiri.com.ar/go/spf"
	"github.com/mamori-mail/mamori/integration/harness"
	"github.com/mamori-mail/mamori/internal/resolver"
)

func evalZone(t *testing.T, records ...string) (*resolver.Resolver, *harness.DNSServer) {
	t.Helper()
	srv := harness.StartDNS(t)
	if len(records) > 0 {
		srv.Add(t, records...)
	}
	return resolver.New(resolver.Options{Servers: []string{srv.Addr}, Timeout: 100 * time.Millisecond, Attempts: 1}), srv
}

// TestEvaluateErrors: temperror and permerror say why, with errors.Is.
func TestEvaluateErrors(t *testing.T) {
	var mxs []string
	for i := range 11 {
		mxs = append(mxs, "manymx.test. 60 IN MX "+strconv.Itoa(i)+" mx"+strconv.Itoa(i)+".test.")
	}
	r, srv := evalZone(t, append(mxs,
		`syntax.test. 60 IN TXT "v=spf1 ip4:192.0.2.1 -all moo"`,
		`two.test. 60 IN TXT "v=spf1 -all"`,
		`two.test. 60 IN TXT "v=spf1 +all"`,
		`inc.test. 60 IN TXT "v=spf1 include:nothing.test -all"`,
		`redir.test. 60 IN TXT "v=spf1 redirect=nothing.test"`,
		`loop.test. 60 IN TXT "v=spf1 include:loop.test"`,
		`void.test. 60 IN TXT "v=spf1 a:n1.test a:n2.test a:n3.test -all"`,
		`manymx.test. 60 IN TXT "v=spf1 mx -all"`,
		`down.test. 60 IN TXT "v=spf1 a:broken.test -all"`,
	)...)
	srv.ServFail("broken.test.")
	for _, tc := range []struct {
		domain string
		result spf.Result
		err    error
	}{
		{"syntax.test", spf.PermError, ErrSyntax},
		{"two.test", spf.PermError, ErrMultipleRecords},
		{"inc.test", spf.PermError, ErrNoRecord},
		{"redir.test", spf.PermError, ErrNoRecord},
		{"loop.test", spf.PermError, ErrLookupLimit},
		{"void.test", spf.PermError, ErrVoidLimit},
		{"manymx.test", spf.PermError, ErrTooManyMX},
		{"down.test", spf.TempError, ErrTemporary},
	} {
		got := Evaluate(context.Background(), r, netip.MustParseAddr("192.0.2.1"), "x", "a@"+tc.domain)
		if got.Result != tc.result || !errors.Is(got.Err, tc.err) || !strings.HasPrefix(got.Err.Error(), "spf: ") {
			t.Errorf("%s: %s (%v), want %s (%v)", tc.domain, got.Result, got.Err, tc.result, tc.err)
		}
	}
}

// TestEvaluateIdentities: the null sender checks the HELO name as
// postmaster@helo (RFC 7208 §2.3, §2.4); a sender without a local part
// gets "postmaster" (§4.3).
func TestEvaluateIdentities(t *testing.T) {
	r, _ := evalZone(t,
		`helo.test. 60 IN TXT "v=spf1 exists:%{l}.%{o}.%{d}.%{h}.x.test -all"`,
		`postmaster.helo.test.helo.test.Helo.Test.x.test. 60 IN A 127.0.0.2`,
		`mail.test. 60 IN TXT "v=spf1 exists:%{S}.x.test -all"`,
		`postmaster%40mail.test.x.test. 60 IN A 127.0.0.2`,
	)
	ip := netip.MustParseAddr("192.0.2.1")
	if got := Evaluate(context.Background(), r, ip, "Helo.Test", ""); got.Result != spf.Pass || got.Domain != "helo.test" || !got.Helo {
		t.Errorf("null sender: %+v", got)
	}
	if got := Evaluate(context.Background(), r, ip, "x", "@mail.test"); got.Result != spf.Pass || got.Helo {
		t.Errorf("no local part: %+v", got)
	}
	if got := Evaluate(context.Background(), r, netip.Addr{}, "x", "a@mail.test"); got.Result != spf.PermError || !errors.Is(got.Err, ErrInvalidIP) {
		t.Errorf("invalid address: %+v", got)
	}
	for _, d := range []string{"a@[192.0.2.1]", "a@single", "a@a..test", "a@" + strings.Repeat("a", 64) + ".test"} {
		if got := Evaluate(context.Background(), r, ip, "x", d); got.Result != spf.None || got.Err != nil {
			t.Errorf("%s: %+v, want none (RFC 7208 §4.3)", d, got)
		}
	}
}

// TestEvaluateContextEnded: with its context ended, Evaluate gives
// temperror and sends no query.
func TestEvaluateContextEnded(t *testing.T) {
	r, srv := evalZone(t, `example.test. 60 IN TXT "v=spf1 -all"`)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	got := Evaluate(ctx, r, netip.MustParseAddr("192.0.2.1"), "x", "a@example.test")
	if got.Result != spf.TempError || !errors.Is(got.Err, context.Canceled) {
		t.Errorf("%+v", got)
	}
	if n := len(srv.Queries()); n != 0 {
		t.Errorf("%d queries", n)
	}
}

// TestEvaluatePTRTimeout: a ptr mechanism ignores DNS errors (RFC 7208
// §5.5), but when the evaluation's time runs out it is temperror, not a
// non-match that lets "-all" decide.
func TestEvaluatePTRTimeout(t *testing.T) {
	r, srv := evalZone(t, `example.test. 60 IN TXT "v=spf1 ptr -all"`)
	srv.Drop("1.2.0.192.in-addr.arpa.")
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if got := Evaluate(ctx, r, netip.MustParseAddr("192.0.2.1"), "x", "a@example.test"); got.Result != spf.TempError {
		t.Errorf("%+v", got)
	}
	if got := Evaluate(context.Background(), r, netip.MustParseAddr("192.0.2.1"), "x", "a@example.test"); got.Result != spf.Fail {
		t.Errorf("without a deadline: %+v", got)
	}
}
