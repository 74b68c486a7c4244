package integration

import (
	"fmt"
	"net"
	"sort"
	"strings"
	"testing"
	"time"

	gomilter "github.com/d--j/go-milter"
	"github.com/mamori-mail/mamori/integration/harness"
)

type noop struct{ gomilter.NoOpMilter }

func (noop) EndOfMessage(gomilter.Modifier) (*gomilter.Response, error) {
	return gomilter.RespAccept, nil
}

// startNoopMilter is the do-nothing baseline: go-milter's defaults, as a
// first Go milter would be written.
func startNoopMilter(t testing.TB) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := gomilter.NewServer(gomilter.WithMilter(func() gomilter.Milter { return noop{} }))
	go s.Serve(ln)
	t.Cleanup(func() { s.Close() })
	return "inet:" + ln.Addr().String()
}

func latencies(b *testing.B, addr string, n int) []time.Duration {
	out := make([]time.Duration, 0, n)
	for i := 0; i < n; i++ {
		t0 := time.Now()
		res := harness.SendMail(addr, "client.example", "alice@example.net", []string{"bob@example.org"}, message(fmt.Sprintf("latency %d", i)))
		if !res.OK() {
			b.Fatalf("message %d: %v", i, res)
		}
		out = append(out, time.Since(t0))
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// BenchmarkPostfixLatency sends messages one at a time through real
// Postfix (SMTP connect to final 250) with no milter, a do-nothing milter,
// and Mamori with policy lists, all in one run, and reports the medians and
// what Mamori adds over the do-nothing milter.
func BenchmarkPostfixLatency(b *testing.B) {
	n := max(b.N, 50)
	sink := harness.StartSink(b)
	mamori := harness.StartMamori(b, denyConfig)
	setups := []struct{ name, milter string }{{"none", ""}, {"noop", startNoopMilter(b)}, {"mamori", mamori.Milter}}
	med := map[string]time.Duration{}
	for _, s := range setups {
		pf := harness.StartPostfix(b, harness.PostfixOptions{Milter: s.milter, DefaultAction: "tempfail", Sink: sink})
		latencies(b, pf.SMTPAddr, 5) // warm up: first connections start smtpd and cleanup
		l := latencies(b, pf.SMTPAddr, n)
		med[s.name] = l[len(l)/2]
		b.ReportMetric(ms(l[len(l)/2]), s.name+"-p50-ms")
		b.ReportMetric(ms(l[len(l)*99/100]), s.name+"-p99-ms")
	}
	b.ReportMetric(ms(med["mamori"]-med["noop"]), "mamori-minus-noop-ms")
}

// BenchmarkSendmailLatency is BenchmarkPostfixLatency through Sendmail,
// which writes each macro packet separately: a milter that leaves ACKs
// delayed (the do-nothing one) stalls at every stage, Mamori does not.
func BenchmarkSendmailLatency(b *testing.B) {
	n := max(b.N, 20)
	sink := harness.StartSink(b)
	mamori := harness.StartMamori(b, denyConfig)
	noopAddr := strings.TrimPrefix(startNoopMilter(b), "inet:")
	host, port, _ := net.SplitHostPort(noopAddr)
	setups := []struct{ name, milter string }{
		{"none", ""},
		{"noop", port + "@" + host},
		{"mamori", fmt.Sprintf("%d@127.0.0.1", mamori.Port)},
	}
	for _, s := range setups {
		spec := ""
		if s.milter != "" {
			spec = "inet:" + s.milter
		}
		sm := harness.StartSendmail(b, harness.SendmailOptions{Milter: spec, FailClosed: true, NextHop: sink.Addr()})
		latencies(b, sm.SMTPAddr, 3)
		l := latencies(b, sm.SMTPAddr, n)
		b.ReportMetric(ms(l[len(l)/2]), s.name+"-p50-ms")
		b.ReportMetric(ms(l[len(l)*99/100]), s.name+"-p99-ms")
	}
}
