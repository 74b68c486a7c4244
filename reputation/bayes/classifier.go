package bayes

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/mamori-mail/mamori/rules/check"
)

// Defaults of Options.
const (
	DefaultStrength     = 1.0
	DefaultUnknownProb  = 0.5
	DefaultMinDeviation = 0.1
	DefaultMaxClues     = 150
	DefaultMinSpam      = 200
	DefaultMinHam       = 200
)

// Options tunes a Classifier. Zero fields take the defaults.
type Options struct {
	// Strength is Robinson's s: how many messages' worth of weight the
	// prior UnknownProb has against a token's own counts. Default 1.
	Strength float64
	// UnknownProb is Robinson's x: the spam probability of a token never
	// seen. Default 0.5.
	UnknownProb float64
	// MinDeviation drops tokens whose f(w) is within it of 0.5: they say
	// too little to count. Default 0.1, as SpamBayes.
	MinDeviation float64
	// MaxClues is N, the most significant tokens combined. Default 150.
	MaxClues int
	// MinSpam and MinHam are the learned messages of each class the store
	// must hold before Classify answers; until then it is silent. 0 means
	// the default, 200 each, so the least is 1: f(w) needs both totals.
	MinSpam, MinHam uint64
	// Tokenizer tokenizes messages for the *Message methods.
	Tokenizer Tokenizer
}

// ErrOptions is returned by New for options out of range.
var ErrOptions = errors.New("bayes: invalid options")

func (o *Options) setDefaults() error {
	if o.Strength == 0 {
		o.Strength = DefaultStrength
	}
	if o.UnknownProb == 0 {
		o.UnknownProb = DefaultUnknownProb
	}
	if o.MinDeviation == 0 {
		o.MinDeviation = DefaultMinDeviation
	}
	if o.MaxClues == 0 {
		o.MaxClues = DefaultMaxClues
	}
	if o.MinSpam == 0 {
		o.MinSpam = DefaultMinSpam
	}
	if o.MinHam == 0 {
		o.MinHam = DefaultMinHam
	}
	var errs []error
	if !(o.Strength > 0) || math.IsInf(o.Strength, 0) {
		errs = append(errs, fmt.Errorf("%w: strength %v is not positive", ErrOptions, o.Strength))
	}
	if !(o.UnknownProb > 0 && o.UnknownProb < 1) {
		errs = append(errs, fmt.Errorf("%w: unknown_prob %v is not between 0 and 1", ErrOptions, o.UnknownProb))
	}
	if !(o.MinDeviation >= 0 && o.MinDeviation < 0.5) {
		errs = append(errs, fmt.Errorf("%w: min_deviation %v is not in [0, 0.5)", ErrOptions, o.MinDeviation))
	}
	if o.MaxClues < 0 {
		errs = append(errs, fmt.Errorf("%w: max_clues %d is negative", ErrOptions, o.MaxClues))
	}
	return errors.Join(errs...)
}

// Classifier scores messages against a Store and learns them into it. It
// is safe for concurrent use.
type Classifier struct {
	store Store
	opt   Options
}

// New returns a classifier over store with o (see Options for defaults).
func New(store Store, o Options) (*Classifier, error) {
	if err := o.setDefaults(); err != nil {
		return nil, err
	}
	return &Classifier{store: store, opt: o}, nil
}

// Store returns the classifier's store.
func (c *Classifier) Store() Store { return c.store }

// Clue is one token that counted in a score.
type Clue struct {
	Token     string
	Prob      float64 // f(w)
	Spam, Ham uint32
}

// Result is a classification.
type Result struct {
	// Prob is the spam probability (S-H+1)/2: near 1 spam, near 0 ham,
	// near 0.5 unsure (both or neither). 0.5 when no token was
	// significant.
	Prob float64
	// S and H are Fisher's combined spam and ham indicators.
	S, H float64
	// Tokens is the number of distinct tokens looked up, and Hashes are
	// their hashes (for Store.Touch, without hashing them again).
	Tokens int
	Hashes []Hash
	// Clues are the tokens combined, most significant first.
	Clues []Clue
	// Totals are the learned messages the score was computed from.
	Totals Totals
}

// Ready reports whether totals are enough for Classify to answer.
func (c *Classifier) Ready(t Totals) bool {
	return t.Spam >= c.opt.MinSpam && t.Ham >= c.opt.MinHam
}

// Classify scores tokens (from a Tokenizer). ok is false, with Result.Totals
// set, while the store holds too few learned messages (MinSpam, MinHam).
func (c *Classifier) Classify(ctx context.Context, tokens []string) (res Result, ok bool, err error) {
	type tok struct {
		h Hash
		i int // index in tokens
	}
	toks := make([]tok, len(tokens))
	for i, t := range tokens {
		toks[i] = tok{TokenHash(t), i}
	}
	slices.SortFunc(toks, func(a, b tok) int { return cmp.Compare(a.h, b.h) })
	toks = slices.CompactFunc(toks, func(a, b tok) bool { return a.h == b.h })
	hashes := make([]Hash, len(toks))
	for i, t := range toks {
		hashes[i] = t.h
	}

	totals, counts, err := c.store.Get(ctx, hashes)
	if err != nil {
		return Result{}, false, err
	}
	res = Result{Tokens: len(hashes), Hashes: hashes, Totals: totals, Prob: 0.5}
	if !c.Ready(totals) {
		return res, false, nil
	}

	type clue struct {
		f, dev float64
		h      Hash
		i      int
		c      Counts
	}
	var clues []clue
	for j, cnt := range counts {
		f := c.wordProb(cnt, totals)
		if dev := math.Abs(f - 0.5); dev > c.opt.MinDeviation {
			clues = append(clues, clue{f: f, dev: dev, h: toks[j].h, i: toks[j].i, c: cnt})
		}
	}
	// Most significant first; equal ones in hash order, so that the choice
	// among them does not depend on the input order.
	slices.SortFunc(clues, func(a, b clue) int {
		if r := cmp.Compare(b.dev, a.dev); r != 0 {
			return r
		}
		return cmp.Compare(a.h, b.h)
	})
	if len(clues) > c.opt.MaxClues {
		clues = clues[:c.opt.MaxClues]
	}
	res.Clues = make([]Clue, len(clues))
	probs := make([]float64, len(clues))
	for k, cl := range clues {
		res.Clues[k] = Clue{Token: tokens[cl.i], Prob: cl.f, Spam: cl.c.Spam, Ham: cl.c.Ham}
		probs[k] = cl.f
	}
	res.Prob, res.S, res.H = fisher(probs)
	return res, true, nil
}

// wordProb is Robinson's f(w) (see doc.go).
func (c *Classifier) wordProb(cnt Counts, t Totals) float64 {
	n := float64(cnt.Spam) + float64(cnt.Ham)
	if n == 0 {
		return c.opt.UnknownProb
	}
	spamRatio := float64(cnt.Spam) / float64(t.Spam)
	hamRatio := float64(cnt.Ham) / float64(t.Ham)
	p := spamRatio / (spamRatio + hamRatio)
	s, x := c.opt.Strength, c.opt.UnknownProb
	return (s*x + n*p) / (s + n)
}

// fisher combines the probabilities with Fisher's method: it returns
// (S-H+1)/2, S and H.
func fisher(probs []float64) (prob, s, h float64) {
	if len(probs) == 0 {
		return 0.5, 0, 0
	}
	var lnHam, lnSpam float64
	for _, f := range probs {
		lnHam += math.Log(f)
		lnSpam += math.Log1p(-f)
	}
	v := 2 * len(probs)
	s = 1 - chi2Q(-2*lnSpam, v)
	h = 1 - chi2Q(-2*lnHam, v)
	return (s - h + 1) / 2, s, h
}

// chi2Q is the probability that a chi-square variable with v (even)
// degrees of freedom exceeds x2: e^-m Σ_{i<v/2} m^i/i! with m = x2/2.
func chi2Q(x2 float64, v int) float64 {
	m := x2 / 2
	term := math.Exp(-m)
	sum := term
	for i := 1; i < v/2; i++ {
		term *= m / float64(i)
		sum += term
	}
	return min(sum, 1)
}

// Learn records tokens as a message of class under id (MessageKey); class
// None unlearns. It reports whether the store changed: learning a message
// again as the same class does not.
func (c *Classifier) Learn(ctx context.Context, id Hash, class Class, tokens []string) (bool, error) {
	changed, err := c.store.Learn(ctx, time.Now(), []Learning{{ID: id, Class: class, Tokens: TokenHashes(tokens)}})
	if err != nil {
		return false, err
	}
	return changed[0], nil
}

// ClassifyMessage tokenizes m and classifies it.
func (c *Classifier) ClassifyMessage(ctx context.Context, m *check.Message) (Result, bool, error) {
	toks, err := c.opt.Tokenizer.Tokenize(ctx, m)
	if err != nil {
		return Result{}, false, err
	}
	return c.Classify(ctx, toks)
}

// LearnMessage tokenizes m and learns it as class (None: unlearns it)
// under MessageKey(m).
func (c *Classifier) LearnMessage(ctx context.Context, m *check.Message, class Class) (bool, error) {
	toks, err := c.opt.Tokenizer.Tokenize(ctx, m)
	if err != nil {
		return false, err
	}
	id, err := MessageKey(m)
	if err != nil {
		return false, err
	}
	return c.Learn(ctx, id, class, toks)
}
