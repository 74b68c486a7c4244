package integration

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/mamori-mail/mamori/integration/harness"
)

// BenchmarkPostfixScanThroughput sends messages with a 100 KB PDF
// attachment through real Postfix from 8 concurrent SMTP sessions
// (smtp-source -s 8) and reports messages per second, in one run, for
// Postfix alone, Postfix with Debian's clamav-milter, and Postfix with
// Mamori (clamav and filetype checks), both scanning through the same
// clamd. mamori/clamav-milter is the figure to watch.
func BenchmarkPostfixScanThroughput(b *testing.B) {
	n := max(b.N, 400)
	clamd := harness.StartClamd(b, harness.ClamdOptions{})
	clm := harness.StartClamavMilter(b, clamd.Socket)
	mamori := harness.StartMamori(b, scanConfig(clamd))
	sink := harness.StartSink(b)

	pdf := bytes.Repeat(cleanPDF(), 100<<10/len(cleanPDF()))
	msg := bytes.ReplaceAll(withAttachments("throughput", attachment{"quote.pdf", "application/pdf", pdf}), []byte("\r\n"), []byte("\n"))
	file := filepath.Join(b.TempDir(), "msg.eml")
	if err := os.WriteFile(file, msg, 0o644); err != nil {
		b.Fatal(err)
	}
	rate := map[string]float64{}
	delivered := 0
	for _, s := range []struct{ name, milter string }{{"none", ""}, {"clamav-milter", clm.Milter}, {"mamori", mamori.Milter}} {
		pf := harness.StartPostfix(b, harness.PostfixOptions{Milter: s.milter, DefaultAction: "tempfail", Sink: sink})
		source := func(m int) time.Duration {
			t0 := time.Now()
			out, err := exec.Command("/usr/sbin/smtp-source", "-s", "8", "-m", strconv.Itoa(m), "-F", file,
				"-f", "alice@example.net", "-t", "bob@example.org", pf.SMTPAddr).CombinedOutput()
			if err != nil || len(out) > 0 {
				b.Fatalf("%s: smtp-source: %v\n%s", s.name, err, out)
			}
			return time.Since(t0)
		}
		source(16) // warm up: Postfix starts its smtpd and cleanup processes
		d := source(n)
		delivered += n + 16
		sink.WaitCount(b, delivered, 5*time.Minute)
		rate[s.name] = float64(n) / d.Seconds()
		b.ReportMetric(rate[s.name], s.name+"-msg/s")
	}
	b.ReportMetric(rate["mamori"]/rate["clamav-milter"], "mamori/clamav-milter")
	b.ReportMetric(rate["mamori"]/rate["none"], "mamori/none")
}

// BenchmarkPostfixScanLargeAttachment sends one message with a 50 MB
// attachment through Postfix to Mamori scanning with clamd, and reports
// the peak resident memory of the Mamori process: the body and the decoded
// part spill to disk, so it stays far below the attachment's size.
func BenchmarkPostfixScanLargeAttachment(b *testing.B) {
	clamd := harness.StartClamd(b, harness.ClamdOptions{StreamMaxLength: "100M", Config: []string{"MaxScanSize 200M", "MaxFileSize 100M"}})
	mamori := harness.StartMamori(b, `
limits:
  max_message_size: 100M
checks:
  clamav:
    address: `+clamd.Address()+`
    max_size: 100M
    scan_timeout: 5m
  filetype: {}
`)
	sink := harness.StartSink(b)
	pf := harness.StartPostfix(b, harness.PostfixOptions{Milter: mamori.Milter, DefaultAction: "tempfail", Sink: sink,
		Main: map[string]string{"message_size_limit": "104857600", "milter_content_timeout": "600s"}})
	data := make([]byte, 50<<20)
	for i := range data {
		data[i] = byte(i*7 + i>>9)
	}
	msg := withAttachments("fifty megabytes", attachment{"archive.bin", "application/octet-stream", data})
	for i := 0; i < max(b.N, 1); i++ {
		t0 := time.Now()
		res := harness.SendMail(pf.SMTPAddr, "client.example", "alice@example.net", []string{"bob@example.org"}, msg)
		if !res.OK() {
			b.Fatalf("50 MB message: %v\n%s", res, mamori.Log())
		}
		b.ReportMetric(time.Since(t0).Seconds(), "s/message")
	}
	sink.WaitCount(b, max(b.N, 1), 5*time.Minute)
	rss := mamori.PeakRSS(b)
	b.ReportMetric(float64(rss)/(1<<20), "peak-RSS-MB")
	b.ReportMetric(float64(len(msg))/(1<<20), "message-MB")
}
