package bayes

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"testing"
	"time"

	"github.com/mamori-mail/mamori/rules/check"
)

// benchStores returns the stores the benchmarks run against, trained on
// 400 spam and 400 ham synthetic messages (Zipf-distributed words from a
// 50,000-word vocabulary, 150 tokens each) plus the tokens of the fixture
// message, so that its lookups hit.
func benchStores(b *testing.B, extra []string) map[string]Store {
	b.Helper()
	rng := rand.New(rand.NewPCG(1, 2))
	zipf := rand.NewZipf(rng, 1.1, 1, 49_999)
	var batch []Learning
	for i := range 800 {
		cl := Spam
		if i%2 == 1 {
			cl = Ham
		}
		toks := make([]string, 0, 150+len(extra))
		for range 150 {
			toks = append(toks, fmt.Sprintf("w%d-%d", zipf.Uint64(), cl))
		}
		if i%3 == 0 {
			toks = append(toks, extra...)
		}
		batch = append(batch, Learning{ID: Hash(i), Class: cl, Tokens: TokenHashes(toks)})
	}
	bolt, err := OpenBolt(filepath.Join(b.TempDir(), "bayes.db"), BoltOptions{NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { bolt.Close() })
	stores := map[string]Store{"memory": NewMemory(), "bolt": bolt}
	for _, s := range stores {
		if _, err := s.Learn(context.Background(), time.Now(), batch); err != nil {
			b.Fatal(err)
		}
	}
	return stores
}

// BenchmarkClassify measures what the check does per message: walk the
// MIME structure, tokenize, look the tokens up and combine them.
func BenchmarkClassify(b *testing.B) {
	raw := fixture(b, "spam.eml")
	m := parseMessage(b, raw)
	defer release(m)
	toks := tokenize(b, &Tokenizer{}, raw)
	ctx := context.Background()
	for name, s := range benchStores(b, toks) {
		b.Run(name, func(b *testing.B) {
			c, err := New(s, Options{})
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				// A fresh message each time, so that the MIME walk is not
				// served from the previous iteration's state.
				msg := &check.Message{Headers: m.Headers, Body: m.Body, Size: m.Size}
				res, ok, err := c.ClassifyMessage(ctx, msg)
				msg.Done()
				if err != nil || !ok || res.Prob < 0.5 {
					b.Fatalf("prob %v ok %v err %v", res.Prob, ok, err)
				}
			}
		})
	}
}

// BenchmarkTokenize measures the tokenizer alone on each fixture, MIME
// walk included.
func BenchmarkTokenize(b *testing.B) {
	files, _ := filepath.Glob("testdata/*.eml")
	for _, f := range files {
		name := filepath.Base(f)
		b.Run(name, func(b *testing.B) {
			m := parseMessage(b, fixture(b, name))
			defer release(m)
			tz := &Tokenizer{}
			b.SetBytes(m.Size)
			b.ReportAllocs()
			for b.Loop() {
				msg := &check.Message{Headers: m.Headers, Body: m.Body, Size: m.Size}
				if _, err := tz.Tokenize(context.Background(), msg); err != nil {
					b.Fatal(err)
				}
				msg.Done()
			}
		})
	}
}

// BenchmarkLearn measures learning one message per call (per transaction
// for Bolt, with fsync).
func BenchmarkLearn(b *testing.B) {
	toks := TokenHashes(tokenize(b, &Tokenizer{}, fixture(b, "spam.eml")))
	for _, name := range []string{"memory", "bolt"} {
		b.Run(name, func(b *testing.B) {
			var s Store = NewMemory()
			if name == "bolt" {
				bs, err := OpenBolt(filepath.Join(b.TempDir(), "bayes.db"), BoltOptions{})
				if err != nil {
					b.Fatal(err)
				}
				defer bs.Close()
				s = bs
			}
			ctx := context.Background()
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				i++
				if _, err := s.Learn(ctx, time.Now(), []Learning{{ID: Hash(i), Class: Spam, Tokens: toks}}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
