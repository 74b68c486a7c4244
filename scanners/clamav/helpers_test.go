package clamav

import (
	"bytes"
	"context"
	"encoding/base64"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/mamori-mail/mamori/rules/check"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// shortTempDir is a temporary directory with a short path: Unix socket
// paths are limited to 107 bytes, which t.TempDir can exceed.
func shortTempDir(t testing.TB) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "mamori-clamav-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// logRecorder is a slog handler that keeps every record.
type logRecorder struct {
	mu      sync.Mutex
	records []slog.Record
}

func (l *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (l *logRecorder) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.records = append(l.records, r)
	return nil
}
func (l *logRecorder) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *logRecorder) WithGroup(string) slog.Handler      { return l }

// count returns how many records at level contain substr.
func (l *logRecorder) count(level slog.Level, substr string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, r := range l.records {
		if r.Level == level && strings.Contains(r.Message, substr) {
			n++
		}
	}
	return n
}

// newScanner returns a Scanner for addr ("unix:/p" or "tcp:h:p") whose log
// goes to the returned recorder.
func newScanner(t testing.TB, addr string, opts Options) (*Scanner, *logRecorder) {
	t.Helper()
	network, address, err := ParseAddress(addr)
	if err != nil {
		t.Fatal(err)
	}
	rec := &logRecorder{}
	opts.Network, opts.Address, opts.Logger = network, address, slog.New(rec)
	s := New(opts)
	t.Cleanup(func() { s.Close() })
	return s, rec
}

// part is one MIME part of a test message.
type part struct {
	ctype    string // "text/plain"
	filename string
	encoding string // "base64" encodes content; others copy it as is
	content  []byte
}

// mimeMessage builds a multipart/mixed message.
func mimeMessage(parts ...part) []byte {
	var b bytes.Buffer
	b.WriteString("From: a@example.org\r\nTo: b@example.net\r\nSubject: test\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: multipart/mixed; boundary=\"BOUNDARY\"\r\n\r\npreamble\r\n")
	for _, p := range parts {
		b.WriteString("--BOUNDARY\r\nContent-Type: " + p.ctype)
		if p.filename != "" {
			b.WriteString("; name=\"" + p.filename + "\"\r\nContent-Disposition: attachment; filename=\"" + p.filename + "\"")
		}
		b.WriteString("\r\n")
		if p.encoding != "" {
			b.WriteString("Content-Transfer-Encoding: " + p.encoding + "\r\n")
		}
		b.WriteString("\r\n")
		if p.encoding == "base64" {
			b.WriteString(base64Lines(p.content))
		} else {
			b.Write(p.content)
		}
		b.WriteString("\r\n")
	}
	b.WriteString("--BOUNDARY--\r\n")
	return b.Bytes()
}

// toMessage splits a raw message into the check.Message the milter layer
// builds: header fields with Raw after the colon, and the body.
func toMessage(t testing.TB, raw []byte) *check.Message {
	t.Helper()
	i := bytes.Index(raw, []byte("\r\n\r\n"))
	if i < 0 {
		t.Fatal("test message without header/body separator")
	}
	m := &check.Message{Size: int64(len(raw)), Body: bytes.NewReader(raw[i+4:])}
	for _, line := range strings.Split(string(raw[:i]), "\r\n") {
		if (line[0] == ' ' || line[0] == '\t') && len(m.Headers) > 0 {
			m.Headers[len(m.Headers)-1].Raw += "\r\n" + line
			continue
		}
		name, value, _ := strings.Cut(line, ":")
		m.Headers = append(m.Headers, check.Header{Name: name, Raw: value})
	}
	t.Cleanup(m.Done)
	return m
}

func base64Lines(data []byte) string {
	enc := base64.StdEncoding.EncodeToString(data)
	var b strings.Builder
	for len(enc) > 76 {
		b.WriteString(enc[:76] + "\r\n")
		enc = enc[76:]
	}
	b.WriteString(enc)
	return b.String()
}

// metricValue reads a counter or gauge.
func metricValue(m prometheus.Metric) float64 {
	var out dto.Metric
	if err := m.Write(&out); err != nil {
		panic(err)
	}
	if c := out.GetCounter(); c != nil {
		return c.GetValue()
	}
	return out.GetGauge().GetValue()
}
