// Package relaytest is an in-process SMTP server standing in for an MTA's
// release listener in tests of quarantine releases (the store's, the
// command line's and the console's).
package relaytest

import (
	"errors"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

// Relay is an in-process SMTP server standing in for the MTA's release
// listener.
type Relay struct {
	Addr   string
	Refuse map[string]bool // recipients answered 550
	Hang   chan struct{}   // when set, DATA is read but never answered until closed
	mu     sync.Mutex
	got    []Message
}

// Message is one message the relay took.
type Message struct {
	From string
	To   []string
	Data []byte
}

// Start starts a relay for the test; configure, when set, adjusts it and
// its server before it listens (SMTPUTF8, refusals, a hang).
func Start(t testing.TB, configure func(*Relay, *smtp.Server)) *Relay {
	t.Helper()
	r := &Relay{Refuse: map[string]bool{}}
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return &relaySession{r: r}, nil }))
	srv.Domain = "relay.test"
	srv.MaxLineLength = 0
	srv.ReadTimeout, srv.WriteTimeout = time.Minute, time.Minute
	srv.ErrorLog = quietLog{}
	if configure != nil {
		configure(r, srv)
	}
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r.Addr = ln.Addr().String()
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(ln) }()
	t.Cleanup(func() {
		if r.Hang != nil {
			select {
			case <-r.Hang:
			default:
				close(r.Hang)
			}
		}
		srv.Close()
		<-done
	})
	return r
}

// SetRefuse makes the relay refuse (or accept again) a recipient.
func (r *Relay) SetRefuse(rcpt string, refuse bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.Refuse[rcpt] = refuse
}

// Messages returns what the relay took, in order.
func (r *Relay) Messages() []Message {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Message(nil), r.got...)
}

type quietLog struct{}

func (quietLog) Printf(string, ...any) {}
func (quietLog) Println(...any)        {}

type relaySession struct {
	r    *Relay
	from string
	to   []string
}

func (s *relaySession) Reset()        { s.from, s.to = "", nil }
func (s *relaySession) Logout() error { return nil }
func (s *relaySession) Mail(from string, _ *smtp.MailOptions) error {
	s.from = from
	return nil
}
func (s *relaySession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.r.mu.Lock()
	refused := s.r.Refuse[to]
	s.r.mu.Unlock()
	if refused {
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "No such user " + to}
	}
	s.to = append(s.to, to)
	return nil
}
func (s *relaySession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	if s.r.Hang != nil {
		<-s.r.Hang
		return errors.New("hung")
	}
	s.r.mu.Lock()
	s.r.got = append(s.r.got, Message{s.from, s.to, b})
	s.r.mu.Unlock()
	return nil
}
