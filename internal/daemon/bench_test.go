package daemon

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	gomilter "github.com/d--j/go-milter"
	"github.com/mamori-mail/mamori/internal/audit"
	"github.com/mamori-mail/mamori/internal/config"
	"github.com/mamori-mail/mamori/internal/corpus"
	"github.com/mamori-mail/mamori/internal/mailfile"
	"github.com/mamori-mail/mamori/milter"
	"github.com/mamori-mail/mamori/rules/check"
)

type benchMsg struct {
	from    string
	headers []check.Header
	body    []byte
}

var (
	benchOnce sync.Once
	benchMsgs []benchMsg
)

func loadBenchMessages(b *testing.B) []benchMsg {
	path := corpus.Path()
	if path == "" {
		b.Skip("corpus not found: set MAMORI_CORPUS to shared/corpus/sa-dev-2002.tgz")
	}
	benchOnce.Do(func() {
		msgs, err := corpus.Load(path)
		if err != nil {
			b.Fatal(err)
		}
		for _, m := range msgs {
			pm, err := mailfile.Parse(bytes.NewReader(m.Data), mailfile.Limits{MaxHeaders: 1000, MaxHeaderSize: 1 << 20, MaxMessageSize: 64 << 20, SpoolThreshold: 64 << 20})
			if err != nil {
				continue
			}
			body, _ := io.ReadAll(io.NewSectionReader(pm.Body, 0, pm.Body.Size()))
			benchMsgs = append(benchMsgs, benchMsg{from: "sender@example.net", headers: pm.Headers, body: body})
		}
	})
	return benchMsgs
}

// noopMilter is the do-nothing baseline: the same library, the same
// negotiated protocol, no work.
type noopMilter struct{ gomilter.NoOpMilter }

func (noopMilter) EndOfMessage(gomilter.Modifier) (*gomilter.Response, error) {
	return gomilter.RespAccept, nil
}

func startNoop(b *testing.B) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	s := gomilter.NewServer(gomilter.WithMilter(func() gomilter.Milter { return noopMilter{} }),
		gomilter.WithNegotiationCallback(func(v, _ uint32, a, _ gomilter.OptAction, p, _ gomilter.OptProtocol, ds gomilter.DataSize) (uint32, gomilter.OptAction, gomilter.OptProtocol, gomilter.DataSize, error) {
			want := gomilter.OptNoConnReply | gomilter.OptNoHeloReply | gomilter.OptNoDataReply | gomilter.OptNoEOHReply | gomilter.OptNoHeaderReply | gomilter.OptNoBodyReply
			return v, gomilter.OptAddHeader & a, want & p, ds, nil
		}))
	go s.Serve(ln)
	b.Cleanup(func() { s.Close() })
	return ln.Addr().String()
}

const policyConfig = `
checks:
  policy:
    entries:
      - {sender: spammer@bad.example, action: reject}
      - {client_ip: 203.0.113.0/24, action: reject}
      - {sender_domain: partner.example, action: allow}
`

func startMamori(b *testing.B, yml string) string {
	cfg, err := config.Parse([]byte(yml))
	if err != nil {
		b.Fatal(err)
	}
	p, err := cfg.Build("", nil)
	if err != nil {
		b.Fatal(err)
	}
	// Audit records go to io.Discard: the encoding cost is measured, the disk is not.
	f := NewFilter(p, audit.New(io.Discard), time.Minute, nil)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := milter.NewServer(f, milterLimits(cfg), nil)
	go srv.Serve(ln)
	b.Cleanup(func() { srv.Close(); p.Close() })
	return ln.Addr().String()
}

// drive sends n messages over `conc` milter connections, as Postfix does
// with one connection per SMTP session, and returns per-message latencies.
func drive(b *testing.B, addr string, msgs []benchMsg, n, conc int) ([]time.Duration, time.Duration) {
	var next atomic.Int64
	lat := make([]time.Duration, n)
	var wg sync.WaitGroup
	start := time.Now()
	for w := 0; w < conc; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := gomilter.NewClient("tcp", addr, gomilter.WithActions(gomilter.AllClientSupportedActionMasks), gomilter.WithReadTimeout(10*time.Second))
			macros := gomilter.NewMacroBag()
			s, err := c.Session(macros)
			if err != nil {
				b.Error(err)
				return
			}
			defer s.Close()
			if _, err := s.Conn("client.example", gomilter.FamilyInet, 4000, "198.51.100.7"); err != nil {
				b.Error(err)
				return
			}
			if _, err := s.Helo("client.example"); err != nil {
				b.Error(err)
				return
			}
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				m := msgs[i%len(msgs)]
				t0 := time.Now()
				if err := sendOne(s, macros, m, i); err != nil {
					b.Error(err)
					return
				}
				lat[i] = time.Since(t0)
			}
		}()
	}
	wg.Wait()
	return lat, time.Since(start)
}

func sendOne(s *gomilter.ClientSession, macros *gomilter.MacroBag, m benchMsg, i int) error {
	if _, err := s.Mail("<"+m.from+">", ""); err != nil {
		return err
	}
	if _, err := s.Rcpt("<rcpt@example.org>", ""); err != nil {
		return err
	}
	if _, err := s.DataStart(); err != nil {
		return err
	}
	macros.Set(gomilter.MacroQueueId, fmt.Sprintf("Q%d", i))
	for _, h := range m.headers {
		if _, err := s.HeaderField(h.Name, h.Raw, nil); err != nil {
			return err
		}
	}
	if _, err := s.HeaderEnd(); err != nil {
		return err
	}
	if _, _, err := s.BodyReadFrom(bytes.NewReader(m.body)); err != nil {
		return err
	}
	return nil
}

func pct(l []time.Duration, p float64) time.Duration {
	s := append([]time.Duration(nil), l...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[int(float64(len(s)-1)*p)]
}

// BenchmarkMilterPath drives `mamori serve`'s milter (policy lists on) and a
// do-nothing milter with the same client, the corpus messages and the same
// negotiated protocol, and reports both and their ratio (one run, one
// machine: the ratio is the figure to compare across changes).
func BenchmarkMilterPath(b *testing.B) {
	compareMilters(b, loadBenchMessages(b), startMamori(b, policyConfig), startNoop(b))
}

// compareMilters drives mamori and noop with the same messages at
// concurrency 1 and 8 and reports both rates, their ratio and latencies.
func compareMilters(b *testing.B, msgs []benchMsg, mamori, noop string) {
	for _, conc := range []int{1, 8} {
		b.Run(fmt.Sprintf("c%d", conc), func(b *testing.B) {
			n := max(b.N, 200)
			b.ResetTimer()
			lm, dm := drive(b, mamori, msgs, n, conc)
			ln, dn := drive(b, noop, msgs, n, conc)
			b.StopTimer()
			mr, nr := float64(n)/dm.Seconds(), float64(n)/dn.Seconds()
			b.ReportMetric(mr, "mamori-msgs/s")
			b.ReportMetric(nr, "noop-msgs/s")
			b.ReportMetric(nr/mr, "overhead-ratio")
			b.ReportMetric(float64(pct(lm, .5).Microseconds())/1000, "mamori-p50-ms")
			b.ReportMetric(float64(pct(lm, .99).Microseconds())/1000, "mamori-p99-ms")
			b.ReportMetric(float64(pct(ln, .5).Microseconds())/1000, "noop-p50-ms")
			b.ReportMetric(float64(pct(ln, .99).Microseconds())/1000, "noop-p99-ms")
		})
	}
}

// attachmentMessage is a business mail with a 100 KB PDF attachment.
func attachmentMessage() benchMsg {
	pdf := bytes.Repeat([]byte("%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n"), 100<<10/44)
	enc := base64.StdEncoding.EncodeToString(pdf)
	var body bytes.Buffer
	body.WriteString("--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nPlease find the quote attached.\r\n")
	body.WriteString("--b\r\nContent-Type: application/pdf; name=\"quote.pdf\"\r\nContent-Disposition: attachment; filename=\"quote.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\n")
	for len(enc) > 76 {
		body.WriteString(enc[:76] + "\r\n")
		enc = enc[76:]
	}
	body.WriteString(enc + "\r\n--b--\r\n")
	return benchMsg{from: "alice@example.net", body: body.Bytes(), headers: []check.Header{
		{Name: "From", Raw: " alice@example.net"}, {Name: "To", Raw: " bob@example.org"}, {Name: "Subject", Raw: " quote"},
		{Name: "MIME-Version", Raw: " 1.0"}, {Name: "Content-Type", Raw: " multipart/mixed; boundary=\"b\""},
	}}
}

// BenchmarkMilterPathAttachment is BenchmarkMilterPath for mail with a
// 100 KB attachment and the filetype check on (no server needed): the cost
// of the MIME walk and the file rules on top of the milter path.
func BenchmarkMilterPathAttachment(b *testing.B) {
	compareMilters(b, []benchMsg{attachmentMessage()}, startMamori(b, "checks:\n  filetype: {}\n"), startNoop(b))
}
