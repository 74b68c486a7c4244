package bayes

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"unicode/utf8"

	"github.com/mamori-mail/mamori/internal/mailfile"
)

// maxTokenLen bounds one token: the longest are a prefix and a 253-byte
// host name.
const maxTokenLen = 300

// FuzzTokenize feeds arbitrary messages to the tokenizer: it must not
// panic, and its output must be sorted, distinct, valid UTF-8, within
// MaxTokens and of bounded length. The seeds are the fixtures.
//
//	go test -run '^$' -fuzz FuzzTokenize -fuzztime 60s ./reputation/bayes/
func FuzzTokenize(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.eml")
	for _, name := range files {
		data, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data, uint16(0))
		f.Add(data, uint16(7))
	}
	f.Add([]byte("Subject: =?ISO-2022-JP?B?GyRCOzNFRBsoQg==?=\r\n\r\n\x1b$B2V;R\x1b(B"), uint16(3))
	f.Add([]byte("Content-Type: text/html\r\n\r\n<p>a<script>b</p><img><img src=http://x.example/>"), uint16(0))
	f.Fuzz(func(t *testing.T, data []byte, maxTokens uint16) {
		m, err := mailfile.Parse(bytes.NewReader(data), mailfile.Limits{MaxHeaders: 100, MaxHeaderSize: 64 << 10, MaxMessageSize: 1 << 20, SpoolThreshold: 1 << 20})
		if err != nil {
			return
		}
		defer release(m)
		tz := &Tokenizer{MaxTokens: int(maxTokens), MaxTextBytes: 64 << 10}
		toks, err := tz.Tokenize(context.Background(), m)
		if err != nil {
			t.Fatal(err)
		}
		limit := int(maxTokens)
		if limit == 0 {
			limit = DefaultMaxTokens
		}
		if len(toks) > limit {
			t.Fatalf("%d tokens, MaxTokens %d", len(toks), limit)
		}
		if !slices.IsSorted(toks) {
			t.Fatal("tokens not sorted")
		}
		for i, tok := range toks {
			if i > 0 && toks[i-1] == tok {
				t.Fatalf("token %q repeated", tok)
			}
			if tok == "" || len(tok) > maxTokenLen || !utf8.ValidString(tok) {
				t.Fatalf("bad token %q", tok)
			}
		}
	})
}
