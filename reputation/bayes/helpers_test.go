package bayes

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/mamori-mail/mamori/internal/mailfile"
	"github.com/mamori-mail/mamori/internal/spool"
	"github.com/mamori-mail/mamori/rules/check"
)

// parseLimits are those of mamori check.
var parseLimits = mailfile.Limits{MaxHeaders: 1000, MaxHeaderSize: 1 << 20, MaxMessageSize: 64 << 20, SpoolThreshold: 1 << 20}

// parseMessage reads a raw message (an mbox "From " line first is
// skipped by mailfile.Parse). Release it with release.
func parseMessage(tb testing.TB, raw []byte) *check.Message {
	tb.Helper()
	m, err := mailfile.Parse(bytes.NewReader(raw), parseLimits)
	if err != nil {
		tb.Fatal(err)
	}
	return m
}

// release ends the message: the MIME walk's parts and the body spool.
func release(m *check.Message) {
	m.Done()
	if sp, ok := m.Body.(*spool.Spool); ok {
		sp.Close()
	}
}

func fixture(tb testing.TB, name string) []byte {
	tb.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		tb.Fatal(err)
	}
	return data
}

// tokenize tokenizes raw with tz.
func tokenize(tb testing.TB, tz *Tokenizer, raw []byte) []string {
	tb.Helper()
	m := parseMessage(tb, raw)
	defer release(m)
	toks, err := tz.Tokenize(context.Background(), m)
	if err != nil {
		tb.Fatal(err)
	}
	return toks
}
