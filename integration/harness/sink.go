package harness

import (
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

// SinkMessage is one message the sink accepted.
type SinkMessage struct {
	// From is the envelope sender from MAIL FROM, without angle brackets.
	From string
	// To holds the envelope recipients from RCPT TO, in order.
	To []string
	// Data is the message exactly as received after dot-unstuffing, with its
	// CRLF line endings and the final CRLF before the terminating dot.
	Data []byte
}

// Header returns the value of the first header field called name
// (case-insensitive), unfolded, with leading and trailing white space removed.
// It is a convenience for assertions; tests that care about exact bytes should
// look at Data.
func (m SinkMessage) Header(name string) (string, bool) {
	head, _, _ := strings.Cut(string(m.Data), "\r\n\r\n")
	lines := strings.Split(head, "\r\n")
	for i := 0; i < len(lines); i++ {
		field, value, ok := strings.Cut(lines[i], ":")
		if !ok || !strings.EqualFold(field, name) {
			continue
		}
		for i+1 < len(lines) && len(lines[i+1]) > 0 && (lines[i+1][0] == ' ' || lines[i+1][0] == '\t') {
			i++
			value += lines[i]
		}
		return strings.TrimSpace(value), true
	}
	return "", false
}

// Body returns everything after the blank line that ends the header section.
func (m SinkMessage) Body() []byte {
	s := string(m.Data)
	if i := strings.Index(s, "\r\n\r\n"); i >= 0 {
		return m.Data[i+4:]
	}
	return nil
}

// Sink is an in-process SMTP server on 127.0.0.1 that accepts every message
// and records it. Postfix relays to it, so a test sees exactly what the MTA
// would have handed to the next hop after the milter had its say.
type Sink struct {
	srv *smtp.Server
	ln  net.Listener

	mu      sync.Mutex
	msgs    []SinkMessage
	changed chan struct{} // closed and replaced whenever msgs grows
	logs    []attachedLog
}

type attachedLog struct {
	name string
	read func() string
}

// StartSink starts a sink on a free loopback port and closes it when the test
// ends.
func StartSink(t testing.TB) *Sink {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("harness: sink listen: %v", err)
	}
	s := &Sink{ln: ln, changed: make(chan struct{})}
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) {
		return &sinkSession{sink: s}, nil
	}))
	// The name must differ from Postfix's myhostname, or Postfix's SMTP client
	// reports "mail loops back to myself" and defers everything.
	srv.Domain = "sink.mamori.test"
	// No line or size limit: the sink must not be what rejects a test message.
	srv.MaxLineLength = 0
	srv.MaxMessageBytes = 0
	// Postfix asks for SMTPUTF8 when a message needs it and bounces the
	// message if the next hop does not offer it.
	srv.EnableSMTPUTF8 = true
	srv.ReadTimeout = time.Minute
	srv.WriteTimeout = time.Minute
	// Connection errors (Postfix closing a cached connection) are expected
	// and would only clutter the test output.
	srv.ErrorLog = discardLogger{}
	s.srv = srv
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(ln)
	}()
	t.Cleanup(func() {
		srv.Close()
		<-done
	})
	return s
}

// Addr returns the sink's address as "127.0.0.1:port".
func (s *Sink) Addr() string {
	return s.ln.Addr().String()
}

// Messages returns a snapshot of the messages received so far, in arrival
// order.
func (s *Sink) Messages() []SinkMessage {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]SinkMessage(nil), s.msgs...)
}

// Reset forgets every message received so far.
func (s *Sink) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.msgs = nil
}

// AttachLog makes WaitCount print the output of read under the heading name
// when it times out. A message that never arrives is diagnosed in the sending
// MTA's log, not in the sink, so StartPostfix attaches its log here.
func (s *Sink) AttachLog(name string, read func() string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.logs = append(s.logs, attachedLog{name: name, read: read})
}

// WaitCount waits until the sink holds at least n messages and returns them
// all (there may be more than n). It fails the test when timeout passes first,
// listing what did arrive and every attached log.
func (s *Sink) WaitCount(t testing.TB, n int, timeout time.Duration) []SinkMessage {
	t.Helper()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		s.mu.Lock()
		if len(s.msgs) >= n {
			msgs := append([]SinkMessage(nil), s.msgs...)
			s.mu.Unlock()
			return msgs
		}
		changed := s.changed
		s.mu.Unlock()
		select {
		case <-changed:
		case <-timer.C:
			t.Fatalf("harness: sink %s got %d of %d messages within %v%s", s.Addr(), len(s.Messages()), n, timeout, s.diagnosis())
			return nil
		}
	}
}

// diagnosis describes the received messages and the attached logs for a
// failure message.
func (s *Sink) diagnosis() string {
	s.mu.Lock()
	msgs := append([]SinkMessage(nil), s.msgs...)
	logs := append([]attachedLog(nil), s.logs...)
	s.mu.Unlock()
	var b strings.Builder
	for i, m := range msgs {
		subject, _ := m.Header("Subject")
		fmt.Fprintf(&b, "\n  message %d: from=<%s> to=%v size=%d subject=%q", i+1, m.From, m.To, len(m.Data), subject)
	}
	for _, l := range logs {
		fmt.Fprintf(&b, "\n--- %s ---\n%s", l.name, l.read())
	}
	return b.String()
}

func (s *Sink) add(m SinkMessage) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.msgs = append(s.msgs, m)
	close(s.changed)
	s.changed = make(chan struct{})
}

// sinkSession collects one transaction at a time; go-smtp calls Reset between
// transactions on the same connection.
type sinkSession struct {
	sink *Sink
	from string
	to   []string
}

func (ss *sinkSession) Mail(from string, _ *smtp.MailOptions) error {
	ss.from = from
	ss.to = nil
	return nil
}

func (ss *sinkSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	ss.to = append(ss.to, to)
	return nil
}

func (ss *sinkSession) Data(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	ss.sink.add(SinkMessage{From: ss.from, To: append([]string(nil), ss.to...), Data: data})
	return nil
}

func (ss *sinkSession) Reset() {
	ss.from = ""
	ss.to = nil
}

func (ss *sinkSession) Logout() error { return nil }

type discardLogger struct{}

func (discardLogger) Printf(string, ...any) {}
func (discardLogger) Println(...any)        {}
