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

// BenchmarkPostfixScanThroughput sends mail through real Postfix from 8
// concurrent SMTP sessions (smtp-source -s 8) and reports messages per
// second, in one run, for Postfix alone, Postfix with Debian's
// clamav-milter, and Postfix with Mamori (clamav and filetype checks), both
// scanning through the same clamd, plus Mamori with each check alone to
// show where the time goes. Two kinds of mail: a 3 KB text message and one
// with a 100 KB PDF attachment. It also reports the CPU each milter and
// clamd spent per message. mamori/clamav-milter is the figure to watch;
// mamori/none says how close Mamori gets to Postfix's own ceiling.
func BenchmarkPostfixScanThroughput(b *testing.B) {
	n := max(b.N, 400)
	clamd := harness.StartClamd(b, harness.ClamdOptions{})
	clm := harness.StartClamavMilter(b, clamd.Socket)
	mamori := harness.StartMamori(b, scanConfig(clamd))
	fileOnly := harness.StartMamori(b, "checks:\n  filetype: {}\n")
	clamOnly := harness.StartMamori(b, "checks:\n  filetype: {enabled: false}\n  clamav:\n    address: "+clamd.Address()+"\n")
	sink := harness.StartSink(b)
	cpu := func(pid int) time.Duration {
		d, err := harness.CPUTime(pid)
		if err != nil {
			b.Fatal(err)
		}
		return d
	}
	text := message("text", "MIME-Version: 1.0", "Content-Type: text/plain; charset=utf-8")
	text = append(text, bytes.Repeat([]byte("The quarterly figures are attached to the shared folder as usual.\r\n"), 40)...)
	pdf := withAttachments("pdf", attachment{"quote.pdf", "application/pdf", bytes.Repeat(cleanPDF(), 100<<10/len(cleanPDF()))})
	delivered := 0
	for _, kind := range []struct {
		name string
		msg  []byte
	}{{"text-3KB", text}, {"pdf-100KB", pdf}} {
		b.Run(kind.name, func(b *testing.B) {
			file := filepath.Join(b.TempDir(), "msg.eml")
			if err := os.WriteFile(file, bytes.ReplaceAll(kind.msg, []byte("\r\n"), []byte("\n")), 0o644); err != nil {
				b.Fatal(err)
			}
			rate := map[string]float64{}
			for _, s := range []struct {
				name, milter string
				pid          int // the milter process, 0 for none
			}{{"none", "", 0}, {"clamav-milter", clm.Milter, clm.PID()}, {"mamori", mamori.Milter, mamori.PID()},
				{"mamori-filetype-only", fileOnly.Milter, fileOnly.PID()}, {"mamori-clamav-only", clamOnly.Milter, clamOnly.PID()}} {
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
				milter0, clamd0 := time.Duration(0), cpu(clamd.PID())
				if s.pid != 0 {
					milter0 = cpu(s.pid)
				}
				d := source(n)
				perMsg := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 / float64(n) }
				if s.pid != 0 {
					b.ReportMetric(perMsg(cpu(s.pid)-milter0), s.name+"-cpu-ms/msg")
				}
				b.ReportMetric(perMsg(cpu(clamd.PID())-clamd0), s.name+"-clamd-cpu-ms/msg")
				delivered += n + 16
				sink.WaitCount(b, delivered, 5*time.Minute)
				rate[s.name] = float64(n) / d.Seconds()
				b.ReportMetric(rate[s.name], s.name+"-msg/s")
			}
			b.ReportMetric(rate["mamori"]/rate["clamav-milter"], "mamori/clamav-milter")
			b.ReportMetric(rate["mamori"]/rate["none"], "mamori/none")
		})
	}
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
