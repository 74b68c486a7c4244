package daemon

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mamori-mail/mamori/internal/config"
	"github.com/mamori-mail/mamori/reputation/bayes"
)

// The console's learning writes where mamori learn writes, with the same
// message key: learning a message twice counts it once, and learning it
// as the other class moves it.
func TestLearnMessage(t *testing.T) {
	dir := t.TempDir()
	cfg, err := config.Parse([]byte("checks: {bayes: {path: " + filepath.Join(dir, "b.db") + "}}\n"))
	if err != nil {
		t.Fatal(err)
	}
	msg := "From: a@example.net\r\nSubject: quarterly figures\r\nMessage-ID: <l1@example.net>\r\n\r\nthe figures are attached\r\n"
	for range 2 {
		if err := learnMessage(context.Background(), cfg, dir, strings.NewReader(msg), false); err != nil {
			t.Fatal(err)
		}
	}
	if err := learnMessage(context.Background(), cfg, dir, strings.NewReader(msg), true); err != nil {
		t.Fatal(err)
	}
	st, err := bayes.OpenBolt(filepath.Join(dir, "b.db"), bayes.BoltOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	s, _ := st.Stats(context.Background())
	if s.Spam != 1 || s.Ham != 0 || s.Tokens == 0 {
		t.Errorf("stats %+v, want the message once, as spam", s)
	}
}
