package bayes

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	mcorpus "github.com/mamori-mail/mamori/internal/corpus"
)

type sample struct {
	name   string
	class  Class
	id     Hash
	tokens []string
	hashes []Hash
}

type corpus struct {
	samples  []sample
	tokenize time.Duration // total time spent parsing and tokenizing
	bytes    int64
}

var (
	corpusOnce sync.Once
	corpusData *corpus
	corpusErr  error
)

// loadCorpus reads and tokenizes the corpus once per test binary; it skips
// tb when the corpus is absent.
func loadCorpus(tb testing.TB) *corpus {
	tb.Helper()
	path := mcorpus.Path()
	if path == "" {
		tb.Skip("corpus not found: set MAMORI_CORPUS to shared/corpus/sa-dev-2002.tgz")
	}
	corpusOnce.Do(func() { corpusData, corpusErr = readCorpus(tb, path) })
	if corpusErr != nil {
		tb.Fatal(corpusErr)
	}
	return corpusData
}

func readCorpus(tb testing.TB, path string) (*corpus, error) {
	msgs, err := mcorpus.Load(path)
	if err != nil {
		return nil, err
	}
	c := &corpus{}
	tz := &Tokenizer{}
	for _, msg := range msgs {
		class, raw := Ham, msg.Data
		if msg.Spam {
			class = Spam
		}
		start := time.Now()
		m := parseMessage(tb, raw)
		toks, err := tz.Tokenize(context.Background(), m)
		if err != nil {
			release(m)
			return nil, fmt.Errorf("%s: %w", msg.Name, err)
		}
		id, err := MessageKey(m)
		release(m)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", msg.Name, err)
		}
		c.tokenize += time.Since(start)
		c.bytes += int64(len(raw))
		c.samples = append(c.samples, sample{name: filepath.Base(msg.Name), class: class, id: id, tokens: toks, hashes: TokenHashes(toks)})
	}
	// Tar order is arbitrary; sort for reproducible folds.
	slices.SortFunc(c.samples, func(a, b sample) int {
		if a.class != b.class {
			return int(a.class) - int(b.class)
		}
		return strings.Compare(a.name, b.name)
	})
	return c, nil
}

// folds assigns each sample to one of k folds, stratified by class, with a
// fixed seed.
func folds(samples []sample, k int) []int {
	rng := rand.New(rand.NewPCG(2002, 10))
	fold := make([]int, len(samples))
	for _, cl := range []Class{Ham, Spam} {
		var idx []int
		for i, s := range samples {
			if s.class == cl {
				idx = append(idx, i)
			}
		}
		rng.Shuffle(len(idx), func(a, b int) { idx[a], idx[b] = idx[b], idx[a] })
		for j, i := range idx {
			fold[i] = j % k
		}
	}
	return fold
}

// learnAll learns the samples in batches (one Bolt transaction each) and
// returns the time taken.
func learnAll(tb testing.TB, s Store, samples []sample) time.Duration {
	tb.Helper()
	const batchSize = 100
	ctx := context.Background()
	now := time.Unix(1_700_000_000, 0)
	start := time.Now()
	batch := make([]Learning, 0, batchSize)
	flush := func() {
		if _, err := s.Learn(ctx, now, batch); err != nil {
			tb.Fatal(err)
		}
		batch = batch[:0]
	}
	for _, smp := range samples {
		batch = append(batch, Learning{ID: smp.id, Class: smp.class, Tokens: smp.hashes})
		if len(batch) == batchSize {
			flush()
		}
	}
	if len(batch) > 0 {
		flush()
	}
	return time.Since(start)
}

// TestCrossValidation runs 10-fold cross-validation on the corpus: each
// fold is scored by a classifier trained on the other nine. Fold 0 trains
// a Bolt store (and a Memory store, which must score identically); the
// others train Memory stores. It fails below a sanity floor.
func TestCrossValidation(t *testing.T) {
	c := loadCorpus(t)
	const k = 10
	fold := folds(c.samples, k)
	ctx := context.Background()

	var (
		hamProbs, spamProbs  []float64
		learnMem, learnBolt  time.Duration
		learnedMem, learnedB int
		classifyTime         time.Duration
		classified           int
		tokenTotal           int
	)
	for _, s := range c.samples {
		tokenTotal += len(s.tokens)
	}
	for f := range k {
		var train, test []sample
		for i, s := range c.samples {
			if fold[i] == f {
				test = append(test, s)
			} else {
				train = append(train, s)
			}
		}
		mem := NewMemory()
		learnMem += learnAll(t, mem, train)
		learnedMem += len(train)
		store := Store(mem)
		var ref *Classifier
		if f == 0 {
			b, err := OpenBolt(filepath.Join(t.TempDir(), "bayes.db"), BoltOptions{})
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			learnBolt += learnAll(t, b, train)
			learnedB += len(train)
			ms, _ := mem.Stats(ctx)
			bs, _ := b.Stats(ctx)
			if ms != bs {
				t.Errorf("fold 0: memory store %+v, bolt store %+v", ms, bs)
			}
			store = b
			if ref, err = New(mem, Options{}); err != nil {
				t.Fatal(err)
			}
		}
		cl, err := New(store, Options{})
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		for _, s := range test {
			res, ok, err := cl.Classify(ctx, s.tokens)
			if err != nil || !ok {
				t.Fatalf("fold %d: %s: ok %v, err %v (totals %+v)", f, s.name, ok, err, res.Totals)
			}
			if ref != nil {
				if r2, _, _ := ref.Classify(ctx, s.tokens); r2.Prob != res.Prob {
					t.Errorf("fold 0: %s: bolt %v, memory %v", s.name, res.Prob, r2.Prob)
				}
			}
			if s.class == Spam {
				spamProbs = append(spamProbs, res.Prob)
			} else {
				hamProbs = append(hamProbs, res.Prob)
			}
		}
		classifyTime += time.Since(start)
		classified += len(test)
	}

	n := len(c.samples)
	t.Logf("corpus %s: %d messages (%d ham, %d spam), %.1f MB, %.0f tokens per message",
		mcorpus.Path(), n, len(hamProbs), len(spamProbs), float64(c.bytes)/1e6, float64(tokenTotal)/float64(n))
	t.Logf("tokenize (parse + MIME walk + tokens): %.0f messages/s", float64(n)/c.tokenize.Seconds())
	t.Logf("learn, memory store: %.0f messages/s (%d messages)", float64(learnedMem)/learnMem.Seconds(), learnedMem)
	t.Logf("learn, bolt store (batches of 100, fsync each): %.0f messages/s (%d messages)", float64(learnedB)/learnBolt.Seconds(), learnedB)
	t.Logf("classify (tokens in hand; fold 0 on bolt): %.0f messages/s", float64(classified)/classifyTime.Seconds())
	t.Logf("10-fold cross-validation, spam when Prob >= threshold:")
	t.Logf("%-9s  %-18s  %-18s", "threshold", "spam detected", "ham false positive")
	var at09 [2]float64
	for _, th := range []float64{0.5, 0.7, 0.9, 0.95, 0.99} {
		tp, fp := countAtLeast(spamProbs, th), countAtLeast(hamProbs, th)
		det, fpr := pct(tp, len(spamProbs)), pct(fp, len(hamProbs))
		t.Logf("%-9.2f  %4d/%d (%6.2f%%)  %4d/%d (%5.2f%%)", th, tp, len(spamProbs), det, fp, len(hamProbs), fpr)
		if th == 0.9 {
			at09 = [2]float64{det, fpr}
		}
	}
	unsureHam, unsureSpam := countBetween(hamProbs, 0.1, 0.9), countBetween(spamProbs, 0.1, 0.9)
	t.Logf("unsure (0.1 < Prob < 0.9): %d ham, %d spam", unsureHam, unsureSpam)
	if at09[0] < 90 || at09[1] > 1 {
		t.Errorf("at threshold 0.9: detection %.2f%% (floor 90%%), false positives %.2f%% (ceiling 1%%)", at09[0], at09[1])
	}
}

func countAtLeast(ps []float64, th float64) int {
	n := 0
	for _, p := range ps {
		if p >= th {
			n++
		}
	}
	return n
}

func countBetween(ps []float64, lo, hi float64) int {
	n := 0
	for _, p := range ps {
		if p > lo && p < hi {
			n++
		}
	}
	return n
}

func pct(a, b int) float64 {
	if b == 0 {
		return 0
	}
	return 100 * float64(a) / float64(b)
}
