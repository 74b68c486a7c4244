package bayes

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
)

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

// TestChi2Q checks the chi-square survival function against the
// regularized upper incomplete gamma function Q(v/2, x2/2), computed with
// mpmath at 30 digits.
func TestChi2Q(t *testing.T) {
	for _, tc := range []struct {
		x2   float64
		v    int
		want float64
	}{
		{0, 2, 1},
		{2, 2, math.Exp(-1)},
		{4, 4, 0.406005849709838075681998484917},
		{10, 6, 0.124652019483081141287766895828},
		{300, 300, 0.489141770250640315126256266632},
		{5000, 300, 0},
	} {
		if got := chi2Q(tc.x2, tc.v); math.Abs(got-tc.want) > 1e-12 {
			t.Errorf("chi2Q(%v, %d) = %.17g, want %.17g", tc.x2, tc.v, got, tc.want)
		}
	}
}

// TestFisher checks the combination on hand-computed cases.
func TestFisher(t *testing.T) {
	for _, tc := range []struct {
		name  string
		probs []float64
		check func(p, s, h float64) bool
	}{
		{"no clues is unsure", nil, func(p, s, h float64) bool { return p == 0.5 && s == 0 && h == 0 }},
		// One clue f: S = 1-Q(-2ln(1-f), 2) = f and H = 1-Q(-2ln f, 2) = 1-f,
		// so the result is f itself.
		{"one clue is its own probability", []float64{0.8}, func(p, s, h float64) bool { return near(p, 0.8) && near(s, 0.8) && near(h, 0.2) }},
		{"symmetric clues cancel", []float64{0.99, 0.01}, func(p, s, h float64) bool { return near(p, 0.5) && near(s, h) }},
		{"strong spam", []float64{0.99, 0.98, 0.97, 0.95, 0.9}, func(p, s, h float64) bool { return p > 0.99 && s > 0.99 && h < 0.01 }},
		{"strong ham", []float64{0.01, 0.02, 0.03, 0.05, 0.1}, func(p, s, h float64) bool { return p < 0.01 }},
		// Both sides strong: S and H near 1, the answer near 0.5 ("unsure"),
		// Fisher's advantage over Graham's product.
		{"conflicting evidence is unsure", []float64{0.99, 0.99, 0.99, 0.01, 0.01, 0.01}, func(p, s, h float64) bool { return s > 0.9 && h > 0.9 && near(p, 0.5) }},
	} {
		p, s, h := fisher(tc.probs)
		if !tc.check(p, s, h) {
			t.Errorf("%s: fisher(%v) = %v, S %v, H %v", tc.name, tc.probs, p, s, h)
		}
	}
}

// TestWordProb checks Robinson's f(w) with s=1, x=0.5.
func TestWordProb(t *testing.T) {
	c, err := New(NewMemory(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	tot := Totals{Spam: 100, Ham: 400}
	for _, tc := range []struct {
		c    Counts
		want float64
	}{
		{Counts{}, 0.5},
		// p = (10/100) / (10/100 + 0) = 1; f = (0.5 + 10) / 11.
		{Counts{Spam: 10}, 10.5 / 11},
		{Counts{Ham: 10}, 0.5 / 11},
		// Equal rates: p = 0.5 whatever the counts.
		{Counts{Spam: 1, Ham: 4}, 0.5},
		// p = 0.1 / (0.1 + 0.05) = 2/3; n = 30; f = (0.5 + 30*2/3) / 31.
		{Counts{Spam: 10, Ham: 20}, 20.5 / 31},
	} {
		if got := c.wordProb(tc.c, tot); !near(got, tc.want) {
			t.Errorf("f(%+v) = %v, want %v", tc.c, got, tc.want)
		}
	}
}

func TestOptions(t *testing.T) {
	for _, tc := range []struct {
		o  Options
		ok bool
	}{
		{Options{}, true},
		{Options{Strength: 0.45, UnknownProb: 0.4, MinDeviation: 0.2, MaxClues: 50, MinSpam: 1, MinHam: 1}, true},
		{Options{Strength: -1}, false},
		{Options{Strength: math.Inf(1)}, false},
		{Options{UnknownProb: 1}, false},
		{Options{UnknownProb: math.NaN()}, false},
		{Options{MinDeviation: 0.5}, false},
		{Options{MinDeviation: -0.1}, false},
		{Options{MaxClues: -1}, false},
	} {
		_, err := New(NewMemory(), tc.o)
		if (err == nil) != tc.ok || (err != nil && !errors.Is(err, ErrOptions)) {
			t.Errorf("New(%+v): %v", tc.o, err)
		}
	}
	c, _ := New(NewMemory(), Options{})
	if o := c.opt; o.Strength != 1 || o.UnknownProb != 0.5 || o.MinDeviation != 0.1 || o.MaxClues != 150 || o.MinSpam != 200 || o.MinHam != 200 {
		t.Errorf("defaults: %+v", o)
	}
}

// trainSynthetic learns n spam and n ham messages built from disjoint
// vocabularies plus shared words.
func trainSynthetic(t testing.TB, c *Classifier, n int) {
	t.Helper()
	ctx := context.Background()
	for i := range n {
		spam := []string{"viagra", "winner", "money", fmt.Sprintf("spamword%d", i%7), "the", "and"}
		ham := []string{"meeting", "patch", "review", fmt.Sprintf("hamword%d", i%7), "the", "and"}
		if _, err := c.Learn(ctx, Hash(2*i), Spam, spam); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Learn(ctx, Hash(2*i+1), Ham, ham); err != nil {
			t.Fatal(err)
		}
	}
}

func TestClassifyReadiness(t *testing.T) {
	ctx := context.Background()
	c, err := New(NewMemory(), Options{MinSpam: 5, MinHam: 10})
	if err != nil {
		t.Fatal(err)
	}
	trainSynthetic(t, c, 5)
	res, ok, err := c.Classify(ctx, []string{"viagra", "money"})
	if err != nil || ok {
		t.Fatalf("with 5 ham of 10 needed: ok %v, err %v", ok, err)
	}
	if res.Totals != (Totals{Spam: 5, Ham: 5}) || res.Prob != 0.5 {
		t.Errorf("silent result %+v", res)
	}
	trainSynthetic(t, c, 10) // messages 0..9: 5 new of each class
	if _, ok, _ := c.Classify(ctx, []string{"viagra"}); !ok {
		t.Error("not ready with 10 spam and 10 ham")
	}
}

func TestClassify(t *testing.T) {
	ctx := context.Background()
	c, err := New(NewMemory(), Options{MinSpam: 1, MinHam: 1})
	if err != nil {
		t.Fatal(err)
	}
	trainSynthetic(t, c, 20)
	for _, tc := range []struct {
		name   string
		tokens []string
		check  func(r Result) bool
	}{
		{"spam words", []string{"viagra", "winner", "money", "the", "unknown"}, func(r Result) bool { return r.Prob > 0.99 && len(r.Clues) == 3 }},
		{"ham words", []string{"meeting", "patch", "and"}, func(r Result) bool { return r.Prob < 0.01 && len(r.Clues) == 2 }},
		{"neutral words only", []string{"the", "and", "never-seen"}, func(r Result) bool { return r.Prob == 0.5 && len(r.Clues) == 0 && r.Tokens == 3 }},
		{"mixed", []string{"viagra", "meeting"}, func(r Result) bool { return near(r.Prob, 0.5) }},
		{"nothing", nil, func(r Result) bool { return r.Prob == 0.5 }},
	} {
		r, ok, err := c.Classify(ctx, tc.tokens)
		if err != nil || !ok || !tc.check(r) {
			t.Errorf("%s: %+v ok %v err %v", tc.name, r, ok, err)
		}
	}
	// Clues are ordered by significance and name their tokens.
	r, _, _ := c.Classify(ctx, []string{"money", "spamword1", "viagra"})
	for i := 1; i < len(r.Clues); i++ {
		if math.Abs(r.Clues[i].Prob-0.5) > math.Abs(r.Clues[i-1].Prob-0.5) {
			t.Errorf("clues out of order: %+v", r.Clues)
		}
	}
	if r.Clues[0].Token != "money" && r.Clues[0].Token != "viagra" {
		t.Errorf("first clue %+v", r.Clues[0])
	}
	// MaxClues caps the combination.
	c2, _ := New(c.Store(), Options{MinSpam: 1, MinHam: 1, MaxClues: 1})
	if r, _, _ := c2.Classify(ctx, []string{"viagra", "winner", "meeting"}); len(r.Clues) != 1 {
		t.Errorf("MaxClues 1: %d clues", len(r.Clues))
	}
}

// TestLearnRules checks the learning rules through the classifier: a
// message counts once per class, relearning moves it, None unlearns.
func TestLearnRules(t *testing.T) {
	ctx := context.Background()
	s := NewMemory()
	c, _ := New(s, Options{MinSpam: 1, MinHam: 1})
	toks := []string{"alpha", "beta", "beta"} // a repeated token counts once
	steps := []struct {
		class   Class
		changed bool
		totals  Totals
		beta    Counts
	}{
		{Spam, true, Totals{Spam: 1}, Counts{Spam: 1}},
		{Spam, false, Totals{Spam: 1}, Counts{Spam: 1}},
		{Ham, true, Totals{Ham: 1}, Counts{Ham: 1}},
		{None, true, Totals{}, Counts{}},
		{None, false, Totals{}, Counts{}},
	}
	for i, st := range steps {
		changed, err := c.Learn(ctx, 42, st.class, toks)
		if err != nil || changed != st.changed {
			t.Fatalf("step %d (%v): changed %v err %v", i, st.class, changed, err)
		}
		totals, counts, _ := s.Get(ctx, []Hash{TokenHash("beta")})
		counts[0].LastSeen = 0
		if totals != st.totals || counts[0] != st.beta {
			t.Errorf("step %d: totals %+v beta %+v", i, totals, counts[0])
		}
	}
}

// TestMessageMethods learns and classifies parsed messages, and checks
// MessageKey.
func TestMessageMethods(t *testing.T) {
	ctx := context.Background()
	c, _ := New(NewMemory(), Options{MinSpam: 1, MinHam: 1})
	for _, f := range []struct {
		name  string
		class Class
	}{{"spam.eml", Spam}, {"shiftjis-html.eml", Spam}, {"ham.eml", Ham}, {"japanese.eml", Ham}} {
		m := parseMessage(t, fixture(t, f.name))
		changed, err := c.LearnMessage(ctx, m, f.class)
		release(m)
		if err != nil || !changed {
			t.Fatalf("learn %s: %v %v", f.name, changed, err)
		}
	}
	m := parseMessage(t, fixture(t, "spam.eml"))
	defer release(m)
	if changed, err := c.LearnMessage(ctx, m, Spam); err != nil || changed {
		t.Errorf("learning spam.eml again: changed %v, err %v", changed, err)
	}
	id, err := MessageKey(m)
	if err != nil {
		t.Fatal(err)
	}
	if cl, _ := c.Store().Learned(ctx, id); cl != Spam {
		t.Errorf("spam.eml learned as %v", cl)
	}
	r, ok, err := c.ClassifyMessage(ctx, m)
	if err != nil || !ok || r.Prob < 0.9 {
		t.Errorf("spam.eml: %v %v %v", r.Prob, ok, err)
	}
	h := parseMessage(t, fixture(t, "ham.eml"))
	defer release(h)
	if r, _, _ := c.ClassifyMessage(ctx, h); r.Prob > 0.1 {
		t.Errorf("ham.eml: %v", r.Prob)
	}

	// The key depends on the Message-ID and the body, not on other fields.
	raw := string(fixture(t, "ham.eml"))
	key := func(s string) Hash {
		m := parseMessage(t, []byte(s))
		defer release(m)
		id, err := MessageKey(m)
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	base := key(raw)
	if key(strings.Replace(raw, "Subject: Re:", "Subject: Fwd:", 1)) != base {
		t.Error("MessageKey depends on the Subject")
	}
	if key(strings.Replace(raw, "<Z8WnNMl3Ge0bZ@", "<other@", 1)) == base {
		t.Error("MessageKey ignores the Message-ID")
	}
	if key(strings.Replace(raw, "Thanks, I can", "Thanks, we can", 1)) == base {
		t.Error("MessageKey ignores the body")
	}
}

// TestTokenHash pins the hash, which is part of the database format: FNV-1a
// 64 then the MurmurHash3 fmix64 finaliser (values checked with an
// independent Python implementation).
func TestTokenHash(t *testing.T) {
	for tok, want := range map[string]Hash{
		"":        0xefd01f60ba992926,
		"viagra":  0x133f6799f5817800,
		"s:hello": 0x0210879d1ea3cb3c,
		"会議":      0x5b31e171782eb4a5,
	} {
		if got := TokenHash(tok); got != want {
			t.Errorf("TokenHash(%q) = %#016x, want %#016x", tok, uint64(got), uint64(want))
		}
	}
	hs := TokenHashes([]string{"b", "a", "b", "c"})
	if len(hs) != 3 {
		t.Fatalf("TokenHashes: %v", hs)
	}
	for i := 1; i < len(hs); i++ {
		if hs[i-1] >= hs[i] {
			t.Errorf("TokenHashes not sorted: %v", hs)
		}
	}
}
