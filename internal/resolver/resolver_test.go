package resolver

import (
	"context"
	"errors"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mamori-mail/mamori/integration/harness"
	"github.com/mamori-mail/mamori/internal/metricstest"
	"github.com/mamori-mail/mamori/rules/check"
	"github.com/miekg/dns"
	dto "github.com/prometheus/client_model/go"
)

func newTest(t *testing.T, o Options) (*Resolver, *harness.DNSServer) {
	t.Helper()
	srv := harness.StartDNS(t)
	o.Servers = []string{srv.Addr}
	if o.Timeout == 0 {
		o.Timeout = 300 * time.Millisecond
	}
	return New(o), srv
}

func notFound(err error) bool {
	var de *net.DNSError
	return errors.As(err, &de) && de.IsNotFound
}

func TestLookups(t *testing.T) {
	r, srv := newTest(t, Options{})
	srv.Add(t,
		"a.test. 300 IN A 192.0.2.1",
		"a.test. 300 IN AAAA 2001:db8::1",
		"a.test. 300 IN MX 10 mx.a.test.",
		`a.test. 300 IN TXT "v=spf1 " "-all"`,
		"alias.test. 300 IN CNAME a.test.",
		"1.2.0.192.in-addr.arpa. 300 IN PTR a.test.",
	)
	ctx := context.Background()
	if got, err := r.LookupTXT(ctx, "a.test"); err != nil || len(got) != 1 || got[0] != "v=spf1 -all" {
		t.Errorf("TXT %q %v (strings must be joined)", got, err)
	}
	if got, err := r.LookupMX(ctx, "A.TEST."); err != nil || len(got) != 1 || got[0].Host != "mx.a.test." || got[0].Pref != 10 {
		t.Errorf("MX %v %v", got, err)
	}
	if got, err := r.LookupIPAddr(ctx, "alias.test"); err != nil || len(got) != 2 {
		t.Errorf("A+AAAA through a CNAME: %v %v", got, err)
	}
	if got, err := r.LookupA(ctx, "a.test"); err != nil || len(got) != 1 || got[0].String() != "192.0.2.1" {
		t.Errorf("A %v %v", got, err)
	}
	if got, err := r.LookupAddr(ctx, "192.0.2.1"); err != nil || len(got) != 1 || got[0] != "a.test." {
		t.Errorf("PTR %v %v", got, err)
	}
	if _, err := r.LookupA(ctx, "missing.test"); !notFound(err) {
		t.Errorf("NXDOMAIN: %v", err)
	}
	if got, err := r.LookupTXT(ctx, "alias.test"); err != nil || len(got) != 1 {
		t.Errorf("TXT through a CNAME: %v %v", got, err)
	}
	if _, err := r.LookupMX(ctx, "mx.a.test"); !notFound(err) {
		t.Errorf("no such name: %v", err)
	}
	if _, err := r.LookupMX(ctx, "b..test"); !notFound(err) {
		t.Errorf("invalid name: %v", err)
	}
}

func TestCacheHonoursTTLs(t *testing.T) {
	r, srv := newTest(t, Options{})
	now := time.Now()
	r.now = func() time.Time { return now }
	srv.Add(t, "short.test. 5 IN A 192.0.2.5", "long.test. 3600 IN A 192.0.2.6",
		"test. 3600 IN SOA ns.test. hostmaster.test. 1 3600 600 86400 30")
	ctx := context.Background()
	for range 3 {
		r.LookupA(ctx, "short.test")
		r.LookupA(ctx, "long.test")
		r.LookupA(ctx, "nx.test")
	}
	for _, n := range []string{"short.test.", "long.test.", "nx.test."} {
		if c := srv.QueryCount(n, dns.TypeA); c != 1 {
			t.Errorf("%s asked %d times within its TTL", n, c)
		}
	}
	now = now.Add(10 * time.Second) // past short's TTL, within nx's SOA minimum (30s)
	r.LookupA(ctx, "short.test")
	r.LookupA(ctx, "nx.test")
	if srv.QueryCount("short.test.", dns.TypeA) != 2 || srv.QueryCount("nx.test.", dns.TypeA) != 1 {
		t.Errorf("after 10s: short asked %d, nx asked %d; want 2 and 1", srv.QueryCount("short.test.", dns.TypeA), srv.QueryCount("nx.test.", dns.TypeA))
	}
	now = now.Add(31 * time.Second)
	r.LookupA(ctx, "nx.test")
	if srv.QueryCount("nx.test.", dns.TypeA) != 2 {
		t.Error("negative answer kept past the SOA minimum")
	}
}

func TestFailuresAreTemporaryAndNotCached(t *testing.T) {
	r, srv := newTest(t, Options{Timeout: 100 * time.Millisecond, Attempts: 1})
	srv.ServFail("bad.test.")
	srv.Drop("slow.test.")
	srv.Refuse("refused.test.")
	ctx := context.Background()
	for _, n := range []string{"bad.test", "slow.test", "refused.test"} {
		_, err := r.LookupA(ctx, n)
		var de *net.DNSError
		if !errors.As(err, &de) || de.IsNotFound || !de.IsTemporary {
			t.Errorf("%s: %v, want a temporary error", n, err)
		}
		if n == "slow.test" && !de.IsTimeout {
			t.Errorf("dropped query is not a timeout: %+v", de)
		}
	}
	srv.ClearBehaviour("bad.test.")
	srv.Add(t, "bad.test. 60 IN A 192.0.2.9")
	if got, err := r.LookupA(ctx, "bad.test"); err != nil || len(got) != 1 {
		t.Errorf("after the server recovered: %v %v (a failure must not be cached)", got, err)
	}
}

func TestTruncatedAnswerRetriedOverTCP(t *testing.T) {
	r, srv := newTest(t, Options{})
	for i := range 40 {
		srv.Add(t, `big.test. 60 IN TXT "`+strings.Repeat(string(rune('a'+i%26)), 60)+strconv.Itoa(i)+`"`)
	}
	got, err := r.LookupTXT(context.Background(), "big.test")
	if err != nil || len(got) != 40 {
		t.Fatalf("%d records, %v", len(got), err)
	}
	var tcp bool
	for _, q := range srv.Queries() {
		tcp = tcp || q.Proto == "tcp"
	}
	if !tcp {
		t.Error("no TCP retry for a truncated answer")
	}
}

func TestSharedQueryAndParallelism(t *testing.T) {
	r, srv := newTest(t, Options{})
	srv.SetDelay(50 * time.Millisecond)
	for i := range 15 {
		srv.Add(t, "n"+string(rune('a'+i))+".test. 60 IN A 192.0.2.1")
	}
	var wg sync.WaitGroup
	t0 := time.Now()
	for i := range 15 {
		for range 3 { // three callers of each name share one query
			wg.Go(func() { r.LookupA(context.Background(), "n"+string(rune('a'+i))+".test") })
		}
	}
	wg.Wait()
	if d := time.Since(t0); d > 200*time.Millisecond {
		t.Errorf("15 names at 50ms each took %s", d)
	}
	if n := len(srv.Queries()); n != 15 {
		t.Errorf("%d queries for 15 names asked 3 times each at once", n)
	}
}

func TestBudget(t *testing.T) {
	r, srv := newTest(t, Options{Budget: 3})
	srv.Add(t, "a.test. 60 IN A 192.0.2.1")
	m := &check.Message{}
	d := r.ForMessage(m)
	ctx := context.Background()
	for _, n := range []string{"a.test", "x1.test", "x2.test"} {
		d.LookupA(ctx, n)
	}
	if _, err := d.LookupA(ctx, "a.test"); err != nil {
		t.Errorf("cache hit after the budget is spent: %v (hits are free)", err)
	}
	_, err := d.LookupA(ctx, "x3.test")
	var de *net.DNSError
	if !errors.As(err, &de) || !de.IsTemporary || !strings.Contains(de.Err, "budget") {
		t.Errorf("fourth query: %v, want the budget error", err)
	}
	if _, err := r.ForMessage(&check.Message{}).LookupA(ctx, "x3.test"); !notFound(err) {
		t.Errorf("another message has its own budget: %v", err)
	}
	if got := r.ForMessage(m).(*scoped).b; got != d.(*scoped).b {
		t.Error("the same message got a second budget")
	}
}

func TestContextEndsWait(t *testing.T) {
	r, srv := newTest(t, Options{Timeout: 2 * time.Second})
	srv.Drop("hang.test.")
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	t0 := time.Now()
	if _, err := r.LookupA(ctx, "hang.test"); err == nil {
		t.Fatal("no error")
	}
	if d := time.Since(t0); d > 300*time.Millisecond {
		t.Fatalf("caller waited %s past its deadline", d)
	}
}

func TestCacheBound(t *testing.T) {
	c := newCache(10)
	for i := range 100 {
		c.put(cacheKey{name: string(rune('a'+i%26)) + string(rune('a'+i/26)), qtype: 1}, answer{}, time.Now().Add(time.Hour))
	}
	if c.len() != 10 {
		t.Fatalf("%d entries, bound 10", c.len())
	}
}

func TestConfig(t *testing.T) {
	c := Config{Nameservers: []string{"127.0.0.1", "[::1]:5353", "ns.example"}}
	o, err := c.Options()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(o.Servers, ",") != "127.0.0.1:53,[::1]:5353,ns.example:53" || o.Budget != DefaultLookupsPerMessage {
		t.Fatalf("%+v", o)
	}
	if bad := (&Config{Nameservers: []string{"not an address"}, Attempts: -1}).Validate(); len(bad) != 2 {
		t.Fatalf("validation: %v", bad)
	}
	if Shared(o) != Shared(o) {
		t.Error("same options, different resolvers: a reload would drop the cache")
	}
	o2 := o
	o2.Budget = 7
	if Shared(o2) == Shared(o) {
		t.Error("changed options kept the old resolver")
	}
}
func TestTXTBytes(t *testing.T) {
	for in, want := range map[string]string{
		`v=spf1 -all`:         "v=spf1 -all",
		`v=spf1 \128a -all`:   "v=spf1 \x80a -all",
		`a \"q\" \\ \000 \0`:  "a \"q\" \\ \x00 0",
		`\999 \25 trailing \`: "999 25 trailing \\",
	} {
		if got := txtBytes(in); got != want {
			t.Errorf("txtBytes(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestMetrics(t *testing.T) {
	r, srv := newTest(t, Options{})
	srv.Add(t, "m.test. 60 IN A 192.0.2.1")
	r.LookupA(context.Background(), "m.test")
	r.LookupA(context.Background(), "m.test")
	metricstest.Lint(t, "mamori_dns_", map[string]dto.MetricType{
		"mamori_dns_queries_total": dto.MetricType_COUNTER, "mamori_dns_query_seconds": dto.MetricType_HISTOGRAM,
		"mamori_dns_cache_lookups_total": dto.MetricType_COUNTER, "mamori_dns_cache_entries": dto.MetricType_GAUGE,
	}, []string{"result"})
}
