package quarantine

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

// relay is an in-process SMTP server standing in for the MTA's release
// listener.
type relay struct {
	addr    string
	refuse  map[string]bool // recipients answered 550
	hang    chan struct{}   // when set, DATA is read but never answered until closed
	mu      sync.Mutex
	got     []relayed
	rcptErr *smtp.SMTPError
}

type relayed struct {
	from string
	to   []string
	data []byte
}

func startRelay(t *testing.T, configure func(*relay, *smtp.Server)) *relay {
	t.Helper()
	r := &relay{refuse: map[string]bool{}}
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
	r.addr = ln.Addr().String()
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(ln) }()
	t.Cleanup(func() {
		if r.hang != nil {
			select {
			case <-r.hang:
			default:
				close(r.hang)
			}
		}
		srv.Close()
		<-done
	})
	return r
}

func (r *relay) messages() []relayed {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]relayed(nil), r.got...)
}

type quietLog struct{}

func (quietLog) Printf(string, ...any) {}
func (quietLog) Println(...any)        {}

type relaySession struct {
	r    *relay
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
	if s.r.refuse[to] {
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
	if s.r.hang != nil {
		<-s.r.hang
		return errors.New("hung")
	}
	s.r.mu.Lock()
	s.r.got = append(s.r.got, relayed{s.from, s.to, b})
	s.r.mu.Unlock()
	return nil
}

const releaseMsg = "From: a@example.net\r\nTo: b@example.org\r\nSubject: hi\r\nMessage-ID: <m1@example.net>\r\n\r\n" +
	".leading dot\r\n..two dots\r\n.\r\nlast line\r\n"

func putEntry(t *testing.T, st Store, sender string, rcpts []string, msg string) *Entry {
	t.Helper()
	e := &Entry{Sender: sender, Recipients: rcpts, MessageID: "<m1@example.net>", Subject: "hi", Reason: "policy"}
	if err := st.Put(context.Background(), e, strings.NewReader(msg)); err != nil {
		t.Fatal(err)
	}
	return e
}

func state(t *testing.T, st Store, id string) *Entry {
	t.Helper()
	e, err := st.Get(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func TestReleaseDelivers(t *testing.T) {
	for _, tc := range []struct {
		name, sender, wantFrom string
		rcpts                  []string
		msg                    string
	}{
		{"envelope kept", "a@example.net", "a@example.net", []string{"b@example.org", "c@example.org"}, releaseMsg},
		{"null sender", "", "", []string{"b@example.org"}, releaseMsg},
		{"null sender as <>", "<>", "", []string{"b@example.org"}, releaseMsg},
		{"8bit and UTF-8 header", "a@example.net", "a@example.net", []string{"b@example.org"},
			"Subject: caf\xc3\xa9\r\n\r\n\xe6\x97\xa5\xe6\x9c\xac\r\n"},
		{"UTF-8 envelope", "j\xc3\xb6rg@example.net", "j\xc3\xb6rg@example.net", []string{"b@example.org"}, releaseMsg},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := startRelay(t, func(_ *relay, s *smtp.Server) { s.EnableSMTPUTF8 = true })
			st := openSQLite(t, t.TempDir())
			e := putEntry(t, st, tc.sender, tc.rcpts, tc.msg)
			got, err := Release(context.Background(), st, e.ID, "cli:test", ReleaseOptions{Relay: r.addr, Timeout: 5 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			if got.State != Released || state(t, st, e.ID).State != Released {
				t.Fatalf("state %s, want released", got.State)
			}
			msgs := r.messages()
			if len(msgs) != 1 {
				t.Fatalf("%d messages relayed, want 1", len(msgs))
			}
			m := msgs[0]
			if m.from != tc.wantFrom || strings.Join(m.to, ",") != strings.Join(tc.rcpts, ",") {
				t.Errorf("envelope from=%q to=%v, want %q %v", m.from, m.to, tc.wantFrom, tc.rcpts)
			}
			if !bytes.Equal(m.data, []byte(tc.msg)) {
				t.Errorf("relayed bytes differ:\n got %q\nwant %q", m.data, tc.msg)
			}
		})
	}
}

func TestReleaseFailures(t *testing.T) {
	t.Parallel()
	t.Run("refused recipient aborts all", func(t *testing.T) {
		t.Parallel()
		r := startRelay(t, func(r *relay, _ *smtp.Server) { r.refuse["x@example.org"] = true })
		st := openSQLite(t, t.TempDir())
		e := putEntry(t, st, "a@example.net", []string{"b@example.org", "x@example.org"}, releaseMsg)
		got, err := Release(context.Background(), st, e.ID, "cli:test", ReleaseOptions{Relay: r.addr, Timeout: 5 * time.Second})
		if err == nil || !strings.Contains(err.Error(), "refused RCPT x@example.org (550 5.1.1 No such user x@example.org)") {
			t.Fatalf("err = %v", err)
		}
		if got.State != ReleaseFailed || !strings.Contains(state(t, st, e.ID).Error, "x@example.org") {
			t.Errorf("entry %+v, want release_failed naming the recipient", state(t, st, e.ID))
		}
		if n := len(r.messages()); n != 0 {
			t.Errorf("%d messages relayed, want none (no partial delivery)", n)
		}
		// Fixed at the relay, a retry delivers to all.
		r.mu.Lock()
		delete(r.refuse, "x@example.org")
		r.mu.Unlock()
		if _, err := Release(context.Background(), st, e.ID, "cli:test", ReleaseOptions{Relay: r.addr, Timeout: 5 * time.Second}); err != nil {
			t.Fatal(err)
		}
		if m := r.messages(); len(m) != 1 || len(m[0].to) != 2 {
			t.Errorf("retry relayed %+v, want one message to both", m)
		}
	})
	t.Run("connection refused", func(t *testing.T) {
		t.Parallel()
		ln, err := net.Listen("tcp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		st := openSQLite(t, t.TempDir())
		e := putEntry(t, st, "a@example.net", []string{"b@example.org"}, releaseMsg)
		_, err = Release(context.Background(), st, e.ID, "cli:test", ReleaseOptions{Relay: addr, Timeout: 5 * time.Second})
		if err == nil || !strings.Contains(err.Error(), "connection to relay "+addr+" failed") {
			t.Fatalf("err = %v", err)
		}
		if got := state(t, st, e.ID); got.State != ReleaseFailed || !strings.Contains(got.Error, "connection refused") {
			t.Errorf("entry state %s error %q, want release_failed with the reason", got.State, got.Error)
		}
	})
	t.Run("no reply to the final dot", func(t *testing.T) {
		t.Parallel()
		r := startRelay(t, func(r *relay, _ *smtp.Server) { r.hang = make(chan struct{}) })
		st := openSQLite(t, t.TempDir())
		e := putEntry(t, st, "a@example.net", []string{"b@example.org"}, releaseMsg)
		start := time.Now()
		_, err := Release(context.Background(), st, e.ID, "cli:test", ReleaseOptions{Relay: r.addr, Timeout: 300 * time.Millisecond})
		if !errors.Is(err, ErrOutcomeUnknown) || !strings.Contains(err.Error(), "<m1@example.net>") ||
			!strings.Contains(err.Error(), "mamori quarantine release --resolve delivered "+e.ID) {
			t.Fatalf("err = %v, want outcome unknown naming the Message-ID and --resolve", err)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("took %v; the timeout is 300ms", d)
		}
		if got := state(t, st, e.ID); got.State != Releasing {
			t.Errorf("state %s, want releasing (outcome unknown)", got.State)
		}
		// Never released again automatically.
		if _, err := Release(context.Background(), st, e.ID, "cli:test", ReleaseOptions{Relay: r.addr, Timeout: time.Second}); !errors.Is(err, ErrState) {
			t.Errorf("second release of a releasing entry: %v, want ErrState", err)
		}
	})
	t.Run("damaged message is not sent", func(t *testing.T) {
		t.Parallel()
		r := startRelay(t, nil)
		dir := t.TempDir()
		st := openSQLite(t, dir)
		e := putEntry(t, st, "a@example.net", []string{"b@example.org"}, releaseMsg)
		corruptFile(t, dir, e.ID)
		_, err := Release(context.Background(), st, e.ID, "cli:test", ReleaseOptions{Relay: r.addr, Timeout: 5 * time.Second})
		if !errors.Is(err, ErrCorrupt) {
			t.Fatalf("err = %v, want ErrCorrupt", err)
		}
		if n := len(r.messages()); n != 0 {
			t.Errorf("%d messages relayed from a damaged file", n)
		}
		if got := state(t, st, e.ID); got.State != ReleaseFailed {
			t.Errorf("state %s, want release_failed", got.State)
		}
	})
	t.Run("bad id and bad relay", func(t *testing.T) {
		t.Parallel()
		st := openSQLite(t, t.TempDir())
		if _, err := Release(context.Background(), st, "../x", "cli:test", ReleaseOptions{Relay: "127.0.0.1:25"}); !errors.Is(err, ErrBadID) {
			t.Errorf("err = %v, want ErrBadID", err)
		}
		e := putEntry(t, st, "a@example.net", []string{"b@example.org"}, releaseMsg)
		if _, err := Release(context.Background(), st, e.ID, "cli:test", ReleaseOptions{Relay: "nowhere"}); err == nil {
			t.Error("a relay without a port was accepted")
		}
		if got := state(t, st, e.ID); got.State != Held {
			t.Errorf("state %s after a refused call, want held", got.State)
		}
	})
}

func TestReleaseAtMostOnce(t *testing.T) {
	t.Parallel()
	r := startRelay(t, nil)
	st := openSQLite(t, t.TempDir())
	e := putEntry(t, st, "a@example.net", []string{"b@example.org"}, releaseMsg)
	o := ReleaseOptions{Relay: r.addr, Timeout: 5 * time.Second}
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = Release(context.Background(), st, e.ID, "cli:test", o)
		}()
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		switch {
		case err == nil:
			ok++
		case !errors.Is(err, ErrState):
			t.Errorf("concurrent release: %v, want nil or ErrState", err)
		}
	}
	if ok != 1 || len(r.messages()) != 1 {
		t.Fatalf("%d releases succeeded and %d messages relayed, want 1 and 1", ok, len(r.messages()))
	}
	if _, err := Release(context.Background(), st, e.ID, "cli:test", o); !errors.Is(err, ErrState) {
		t.Errorf("release of a released entry: %v, want ErrState", err)
	}
	if len(r.messages()) != 1 {
		t.Error("a released entry was sent again")
	}
}

// corruptFile flips one byte of a stored message, keeping its length.
func corruptFile(t *testing.T, dir, id string) {
	t.Helper()
	path := msgPath(dir, id)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)-3] ^= 0x20
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}
