package integration

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mamori-mail/mamori/integration/harness"
	"github.com/mamori-mail/mamori/internal/config"
	"github.com/mamori-mail/mamori/internal/resolver"
	"github.com/mamori-mail/mamori/rules"
	"github.com/mamori-mail/mamori/rules/check"

	_ "github.com/mamori-mail/mamori/reputation/dnsbl"
	_ "github.com/mamori-mail/mamori/reputation/spf"
)

// BenchmarkDNSStage measures the MAIL FROM stage of a message that needs 15
// DNS lookups (14 blocklists and the sender's SPF record), through the real
// engine, resolver and a DNS server on loopback that delays every answer by
// 20 ms. Every message has a new client address and sender domain, so
// nothing comes from the cache. The baseline in the same run asks the same
// 15 names one after another. It reports p50 and p99 of the stage.
//
//	go test -run '^$' -bench BenchmarkDNSStage -benchtime 100x ./integration/
func BenchmarkDNSStage(b *testing.B) {
	const lists, delay = 14, 20 * time.Millisecond
	dns := harness.StartDNS(b)
	n := b.N
	var zones strings.Builder
	for i := range lists {
		fmt.Fprintf(&zones, "      - {zone: bl%d.test, returns: [{code: 127.0.0.2, symbol: RBL_%d, outcome: 1}]}\n", i, i)
	}
	for i := range n {
		dns.Add(b, fmt.Sprintf(`d%d.example. 60 IN TXT "v=spf1 ip4:203.0.113.0/24 -all"`, i))
	}
	dns.SetDelay(delay)
	cfg, err := config.Parse([]byte(`
dns:
  nameservers: ["` + dns.Addr + `"]
  cache_size: 1
checks:
  spf: {}
  dnsbl:
    lists:
` + zones.String()))
	if err != nil {
		b.Fatal(err)
	}
	p, err := cfg.Build(b.TempDir(), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	ip := func(i int) netip.Addr { return netip.AddrFrom4([4]byte{203, 0, byte(113 + i/250), byte(1 + i%250)}) }

	stage := make([]time.Duration, 0, n)
	b.ResetTimer()
	for i := range n {
		m := &check.Message{ClientIP: ip(i), Helo: "mx.example", Sender: fmt.Sprintf("a@d%d.example", i)}
		var tx rules.Transaction
		t0 := time.Now()
		p.Run(context.Background(), m, check.MailFrom, &tx)
		stage = append(stage, time.Since(t0))
		if syms := tx.Symbols(); len(syms) != 1 || syms[0].Name != "SPF_PASS" {
			b.Fatalf("message %d: symbols %+v (want SPF_PASS only: every lookup answered)", i, syms)
		}
	}
	b.StopTimer()

	// Baseline: the same 15 lookups, one after another, on a fresh
	// resolver (no cache).
	r := resolver.New(resolver.Options{Servers: []string{dns.Addr}, CacheSize: 1})
	seq := make([]time.Duration, 0, min(n, 20))
	for i := range cap(seq) {
		t0 := time.Now()
		for z := range lists {
			r.LookupA(context.Background(), fmt.Sprintf("%d.%d.%d.%d.bl%d.test", 200+i%50, 1, 0, 203, z))
		}
		r.LookupTXT(context.Background(), fmt.Sprintf("d%d.example", i))
		seq = append(seq, time.Since(t0))
	}
	pct := func(d []time.Duration, q float64) float64 {
		s := slices.Clone(d)
		slices.Sort(s)
		return float64(s[int(float64(len(s)-1)*q)].Microseconds()) / 1000
	}
	b.ReportMetric(pct(stage, 0.5), "p50-ms")
	b.ReportMetric(pct(stage, 0.99), "p99-ms")
	b.ReportMetric(pct(seq, 0.5), "sequential-p50-ms")
	b.ReportMetric(pct(stage, 0.5)/float64(delay.Milliseconds()), "round-trips")
}
