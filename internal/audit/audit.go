// Package audit writes Mamori's audit trail: one JSON object per line for
// every verdict (and, later, every admin action), so that an operator can
// answer "what happened to the mail from X to Y yesterday" with grep or jq.
// The format is a stable contract, documented in docs/audit.md.
package audit

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

var writeErrors = promauto.NewCounter(prometheus.CounterOpts{
	Namespace: "mamori", Subsystem: "audit", Name: "write_errors_total",
	Help: "Audit records that could not be written (disk full, file removed).",
})

// Symbol is a symbol as recorded.
type Symbol struct {
	Name   string  `json:"name"`
	Score  float64 `json:"score"`
	Detail string  `json:"detail,omitempty"`
}

// Record is one audit entry for a message, a refused command, or an
// admin action on the quarantine.
type Record struct {
	Time       time.Time
	Event      string // "message", "command" or "admin"
	Stage      string // where the decision was taken: mail, rcpt, eom
	QueueID    string
	ClientIP   string
	ClientHost string
	Helo       string
	SASLUser   string
	TLS        string
	Sender     string
	Recipients []string
	MessageID  string
	Size       int64
	Score      float64
	Symbols    []Symbol
	Action     string
	// Decider names the check whose decision set the action ("" when the
	// score did).
	Decider  string
	Reason   string
	Reply    string
	Duration time.Duration
	Config   string
	// Quarantine is the quarantine store's ID of a message kept there,
	// or of the entry an admin record acts on.
	Quarantine string

	// The fields of an admin record (Event "admin", Action release,
	// resolve, delete or purge), written only when set so that message
	// and command records keep their fields.

	// By says who acted: "cli:<unix user>", a console login.
	By string
	// Result is ok or failed, or unknown for a release the relay did not
	// confirm; Error says why when not ok.
	Result string
	Error  string
	// Count is how many entries a purge removed.
	Count int
}

// Log writes records to a file or standard output.
type Log struct {
	path string
	mu   sync.Mutex
	f    *os.File
	h    *slog.Logger
}

// Open opens path for appending ("-" is standard output).
func Open(path string) (*Log, error) {
	l := &Log{path: path}
	if err := l.Reopen(); err != nil {
		return nil, err
	}
	return l, nil
}

// New writes to w (for tests and tools).
func New(w io.Writer) *Log {
	l := &Log{}
	l.h = newLogger(w)
	return l
}

func newLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewJSONHandler(&countingWriter{w}, &slog.HandlerOptions{
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) == 0 && a.Key == slog.LevelKey {
				return slog.Attr{} // every record is an audit record; no level
			}
			if len(groups) == 0 && a.Key == slog.MessageKey {
				a.Key = "event"
			}
			return a
		},
	}))
}

type countingWriter struct{ w io.Writer }

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	if err != nil {
		writeErrors.Inc()
	}
	return n, err
}

// Reopen reopens the file after rotation (SIGHUP).
func (l *Log) Reopen() error {
	if l.path == "" {
		return nil
	}
	if l.path == "-" {
		l.mu.Lock()
		l.h = newLogger(os.Stdout)
		l.mu.Unlock()
		return nil
	}
	f, err := os.OpenFile(l.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	l.mu.Lock()
	old := l.f
	l.f, l.h = f, newLogger(f)
	l.mu.Unlock()
	if old != nil {
		old.Close()
	}
	return nil
}

// Close closes the file.
func (l *Log) Close() error {
	if l == nil {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f != nil {
		return l.f.Close()
	}
	return nil
}

// Write records r. A failure is counted and logged by the handler, never
// returned: the audit trail must not stop mail.
func (l *Log) Write(r *Record) {
	if l == nil {
		return // tools such as `mamori check` judge without an audit trail
	}
	l.mu.Lock()
	h := l.h
	l.mu.Unlock()
	syms := r.Symbols
	if syms == nil {
		syms = []Symbol{}
	}
	rcpts := r.Recipients
	if rcpts == nil {
		rcpts = []string{}
	}
	rec := slog.NewRecord(r.Time, slog.LevelInfo, r.Event, 0)
	rec.AddAttrs(
		slog.String("stage", r.Stage),
		slog.String("qid", r.QueueID),
		slog.String("client_ip", r.ClientIP),
		slog.String("client_host", r.ClientHost),
		slog.String("helo", r.Helo),
		slog.String("sasl_user", r.SASLUser),
		slog.String("tls", r.TLS),
		slog.String("mail_from", r.Sender),
		slog.Any("rcpt", rcpts),
		slog.String("message_id", r.MessageID),
		slog.Int64("size", r.Size),
		slog.Float64("score", r.Score),
		slog.Any("symbols", syms),
		slog.String("action", r.Action),
		slog.String("decider", r.Decider),
		slog.String("reason", r.Reason),
		slog.String("reply", r.Reply),
		slog.Float64("duration_ms", float64(r.Duration.Microseconds())/1000),
		slog.String("config", r.Config),
	)
	if r.By != "" {
		rec.AddAttrs(slog.String("by", r.By))
	}
	if r.Result != "" {
		rec.AddAttrs(slog.String("result", r.Result))
	}
	if r.Error != "" {
		rec.AddAttrs(slog.String("error", r.Error))
	}
	if r.Event == "admin" && r.Action == "purge" {
		rec.AddAttrs(slog.Int("count", r.Count))
	}
	if r.Quarantine != "" {
		rec.AddAttrs(slog.String("quarantine_id", r.Quarantine))
	}
	_ = h.Handler().Handle(context.Background(), rec)
}
