package quarantine

import (
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/mamori-mail/mamori/internal/quarantine/relaytest"
)

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
			r := relaytest.Start(t, func(_ *relaytest.Relay, s *smtp.Server) { s.EnableSMTPUTF8 = true })
			st := openSQLite(t, t.TempDir())
			e := putEntry(t, st, tc.sender, tc.rcpts, tc.msg)
			got, err := Release(context.Background(), st, e.ID, "cli:test", ReleaseOptions{Relay: r.Addr, Timeout: 5 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			if got.State != Released || state(t, st, e.ID).State != Released {
				t.Fatalf("state %s, want released", got.State)
			}
			msgs := r.Messages()
			if len(msgs) != 1 {
				t.Fatalf("%d messages relayed, want 1", len(msgs))
			}
			m := msgs[0]
			if m.From != tc.wantFrom || strings.Join(m.To, ",") != strings.Join(tc.rcpts, ",") {
				t.Errorf("envelope from=%q to=%v, want %q %v", m.From, m.To, tc.wantFrom, tc.rcpts)
			}
			if !bytes.Equal(m.Data, []byte(tc.msg)) {
				t.Errorf("relayed bytes differ:\n got %q\nwant %q", m.Data, tc.msg)
			}
		})
	}
}

func TestReleaseFailures(t *testing.T) {
	t.Parallel()
	t.Run("refused recipient aborts all", func(t *testing.T) {
		t.Parallel()
		r := relaytest.Start(t, func(r *relaytest.Relay, _ *smtp.Server) { r.Refuse["x@example.org"] = true })
		st := openSQLite(t, t.TempDir())
		e := putEntry(t, st, "a@example.net", []string{"b@example.org", "x@example.org"}, releaseMsg)
		got, err := Release(context.Background(), st, e.ID, "cli:test", ReleaseOptions{Relay: r.Addr, Timeout: 5 * time.Second})
		if err == nil || !strings.Contains(err.Error(), "refused RCPT x@example.org (550 5.1.1 No such user x@example.org)") {
			t.Fatalf("err = %v", err)
		}
		if got.State != ReleaseFailed || !strings.Contains(state(t, st, e.ID).Error, "x@example.org") {
			t.Errorf("entry %+v, want release_failed naming the recipient", state(t, st, e.ID))
		}
		if n := len(r.Messages()); n != 0 {
			t.Errorf("%d messages relayed, want none (no partial delivery)", n)
		}
		// Fixed at the relay, a retry delivers to all.
		r.SetRefuse("x@example.org", false)
		if _, err := Release(context.Background(), st, e.ID, "cli:test", ReleaseOptions{Relay: r.Addr, Timeout: 5 * time.Second}); err != nil {
			t.Fatal(err)
		}
		if m := r.Messages(); len(m) != 1 || len(m[0].To) != 2 {
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
		r := relaytest.Start(t, func(r *relaytest.Relay, _ *smtp.Server) { r.Hang = make(chan struct{}) })
		st := openSQLite(t, t.TempDir())
		e := putEntry(t, st, "a@example.net", []string{"b@example.org"}, releaseMsg)
		start := time.Now()
		_, err := Release(context.Background(), st, e.ID, "cli:test", ReleaseOptions{Relay: r.Addr, Timeout: 300 * time.Millisecond})
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
		if _, err := Release(context.Background(), st, e.ID, "cli:test", ReleaseOptions{Relay: r.Addr, Timeout: time.Second}); !errors.Is(err, ErrState) {
			t.Errorf("second release of a releasing entry: %v, want ErrState", err)
		}
	})
	t.Run("damaged message is not sent", func(t *testing.T) {
		t.Parallel()
		r := relaytest.Start(t, nil)
		dir := t.TempDir()
		st := openSQLite(t, dir)
		e := putEntry(t, st, "a@example.net", []string{"b@example.org"}, releaseMsg)
		corruptFile(t, dir, e.ID)
		_, err := Release(context.Background(), st, e.ID, "cli:test", ReleaseOptions{Relay: r.Addr, Timeout: 5 * time.Second})
		if !errors.Is(err, ErrCorrupt) {
			t.Fatalf("err = %v, want ErrCorrupt", err)
		}
		if n := len(r.Messages()); n != 0 {
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
	r := relaytest.Start(t, nil)
	st := openSQLite(t, t.TempDir())
	e := putEntry(t, st, "a@example.net", []string{"b@example.org"}, releaseMsg)
	o := ReleaseOptions{Relay: r.Addr, Timeout: 5 * time.Second}
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
	if ok != 1 || len(r.Messages()) != 1 {
		t.Fatalf("%d releases succeeded and %d messages relayed, want 1 and 1", ok, len(r.Messages()))
	}
	if _, err := Release(context.Background(), st, e.ID, "cli:test", o); !errors.Is(err, ErrState) {
		t.Errorf("release of a released entry: %v, want ErrState", err)
	}
	if len(r.Messages()) != 1 {
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
