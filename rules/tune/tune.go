// Package tune fits rule scores to a labelled corpus, the way
// SpamAssassin's score generator does for its default rules, with two
// changes that keep the result honest: every score is pulled towards the
// score its author wrote (a prior), so a rule that fires on a handful of
// messages keeps roughly what a person judged it worth instead of
// whatever separates those few; and each score stays within bounds of
// the sign its author gave it, so tuning never turns a sign of spam into
// a sign of ham.
//
// The model is the one the engine applies: a message's score is the sum
// of its symbols' scores, and the message is flagged when the sum reaches
// the threshold. Fit minimises a logistic loss around the threshold (a
// margin above it for spam, below it for ham), with
// a ham misjudged costing HamCost times a spam missed (a false positive
// is the filter's worst failure), plus Lambda times the squared distance
// of each score from its prior. Projected gradient descent; the loss is
// convex, so the result does not depend on where it starts.
//
// How hard to weigh a ham against a spam, and how wide a margin to ask
// for, depend on the rules and the mail: Select chooses HamCost and Margin
// among Grid by cross-validation on the messages it is given, counting
// each ham flagged as hamWeight spam missed. Fit's own defaults (HamCost 3,
// Lambda 0.2, Margin 0.5, Temperature 1) are what a caller gets without
// choosing.
//
// Fit and Select on the messages a score will not be judged on: the
// accuracy run (internal/daemon TestCorpusAccuracy) selects and fits on
// nine folds and scores the tenth (nested cross-validation: the selection
// runs its own cross-validation inside those nine), and reports those
// figures, not the fit's own.
package tune

import (
	"math"
	"runtime"
	"sort"
	"sync"
)

// Sample is one labelled message: the symbols it got, and the part of its
// score that tuning does not touch (symbols of checks that are not tuned).
type Sample struct {
	Spam    bool
	Symbols []string
	Fixed   float64
	// Decided is set when a check decided the message on its own (an
	// attachment type refused): Select counts it flagged whatever its
	// score. Fit does not look at it.
	Decided bool
}

// Param is one tunable score.
type Param struct {
	Name   string
	Prior  float64
	Lo, Hi float64
}

// Options set the fit. Zero fields take the defaults.
type Options struct {
	Threshold   float64 // the add_header threshold; default 5
	HamCost     float64 // weight of a ham's loss; default 3
	Lambda      float64 // pull towards the priors; default 0.2
	Temperature float64 // width of the logistic around the threshold, in points; default 1
	// Margin moves the loss's centre above the threshold for spam and
	// below it for ham, so that a spam the fit barely lifts over the
	// threshold (and rounding to 0.1 drops back) does not count as won;
	// default 0.5 points.
	Margin     float64
	Iterations int // passes over the scores; default 300
}

func (o Options) withDefaults() Options {
	if o.Threshold == 0 {
		o.Threshold = 5
	}
	if o.HamCost == 0 {
		o.HamCost = 3
	}
	if o.Lambda == 0 {
		o.Lambda = 0.2
	}
	if o.Temperature == 0 {
		o.Temperature = 1
	}
	if o.Margin == 0 {
		o.Margin = 0.5
	}
	if o.Iterations == 0 {
		o.Iterations = 300
	}
	return o
}

// Bounds returns the range a score with this prior may take: its sign
// kept, and at most twice the author's score or 1.5 points beyond it,
// whichever is more (a positive prior p stays in [0, max(2p, p+1.5)]); a
// zero prior stays 0 (such rules are helpers for meta rules, present for
// their presence, not their score). The author's judgment binds: a rule
// written as a weak sign cannot become a verdict on its own because it
// happened to separate this corpus.
func Bounds(prior float64) (lo, hi float64) {
	switch {
	case prior > 0:
		return 0, math.Max(2*prior, prior+1.5)
	case prior < 0:
		return math.Min(2*prior, prior-1.5), 0
	}
	return 0, 0
}

// Fit returns the tuned score of each param, by name.
func Fit(samples []Sample, params []Param, o Options) map[string]float64 {
	o = o.withDefaults()
	idx := make(map[string]int, len(params))
	w := make([]float64, len(params))
	for i, p := range params {
		idx[p.Name] = i
		w[i] = clamp(p.Prior, p.Lo, p.Hi)
	}
	type row struct {
		y, cost, fixed, centre float64
		feats                  []int
	}
	rows := make([]row, len(samples))
	for i, s := range samples {
		r := row{y: -1, cost: o.HamCost, fixed: s.Fixed, centre: o.Threshold - o.Margin}
		if s.Spam {
			r.y, r.cost, r.centre = 1, 1, o.Threshold+o.Margin
		}
		for _, name := range s.Symbols {
			if j, ok := idx[name]; ok {
				r.feats = append(r.feats, j)
			}
		}
		rows[i] = r
	}
	// Cyclic coordinate descent: each score in turn takes a gradient step
	// sized by its own curvature bound (the logistic's second derivative is
	// at most 1/4τ² per message it fires on), which converges for a
	// convex, smooth loss and needs no tuning of a learning rate. Sums are
	// kept per message and updated as scores move.
	rowsOf := make([][]int, len(w))
	sums := make([]float64, len(rows))
	for i, r := range rows {
		sums[i] = r.fixed
		for _, j := range r.feats {
			rowsOf[j] = append(rowsOf[j], i)
			sums[i] += w[j]
		}
	}
	curv := make([]float64, len(w))
	for j, rs := range rowsOf {
		curv[j] = 2 * o.Lambda
		for _, i := range rs {
			curv[j] += rows[i].cost / (4 * o.Temperature * o.Temperature)
		}
	}
	for range o.Iterations {
		for j := range w {
			g := 2 * o.Lambda * (w[j] - params[j].Prior)
			for _, i := range rowsOf[j] {
				r := &rows[i]
				// d/ds of cost·log(1+exp(-y(s-T)/τ))
				g -= r.cost * r.y / o.Temperature * sigmoid(-r.y*(sums[i]-r.centre)/o.Temperature)
			}
			nw := clamp(w[j]-g/curv[j], params[j].Lo, params[j].Hi)
			if d := nw - w[j]; d != 0 {
				for _, i := range rowsOf[j] {
					sums[i] += d
				}
				w[j] = nw
			}
		}
	}
	out := make(map[string]float64, len(w))
	for j, p := range params {
		out[p.Name] = math.Round(w[j]*10) / 10
	}
	return out
}

// Score is a sample's score under scores, rounded to a thousandth as the
// engine rounds a message's score (rules.Transaction.Score): summed in
// floating point, 1.9+2.3+0.8 is 4.999…, which the engine flags at a
// threshold of 5 and an unrounded sum would not.
func Score(s Sample, scores map[string]float64) float64 {
	sum := s.Fixed
	for _, n := range s.Symbols {
		sum += scores[n]
	}
	return math.Round(sum*1000) / 1000
}

func sigmoid(z float64) float64 {
	if z >= 0 {
		return 1 / (1 + math.Exp(-z))
	}
	e := math.Exp(z)
	return e / (1 + e)
}

func clamp(v, lo, hi float64) float64 { return math.Max(lo, math.Min(hi, v)) }

// Names returns the params' names, sorted.
func Names(params []Param) []string {
	out := make([]string, len(params))
	for i, p := range params {
		out[i] = p.Name
	}
	sort.Strings(out)
	return out
}

// Grid is the settings Select chooses among: a ham costing 1, 2, 3 or 5
// spam in the fit, with a margin of a quarter, a half or a whole point.
// The same twelve were swept unnested first (docs/rules.md, "Accuracy"),
// and the grid was not changed after the nested figures came in.
var Grid = func() []Options {
	var out []Options
	for _, hc := range []float64{1, 2, 3, 5} {
		for _, m := range []float64{0.25, 0.5, 1} {
			out = append(out, Options{HamCost: hc, Margin: m})
		}
	}
	return out
}()

// Select returns the settings of grid whose scores judge unseen mail best:
// for each of the folds (fold[i] in [0, k) is sample i's), it fits on the
// others and judges that one at the threshold, and it sums a cost of 1
// for a spam not flagged and hamWeight for a ham flagged. Ties go to the
// earlier setting in grid; an empty grid gives Fit's defaults, unjudged.
// fold values outside [0, k) are never judged. It fits len(grid)·k times,
// in parallel.
func Select(samples []Sample, fold []int, k int, params []Param, grid []Options, hamWeight float64) (Options, float64) {
	if len(grid) == 0 {
		return Options{}, 0
	}
	costs := make([]float64, len(grid))
	work := make(chan int)
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for g := range work {
				costs[g] = cvCost(samples, fold, k, params, grid[g], hamWeight)
			}
		}()
	}
	for g := range grid {
		work <- g
	}
	close(work)
	wg.Wait()
	best := 0
	for g, c := range costs {
		if c < costs[best] {
			best = g
		}
	}
	return grid[best], costs[best]
}

func cvCost(samples []Sample, fold []int, k int, params []Param, o Options, hamWeight float64) float64 {
	th := o.withDefaults().Threshold
	cost := 0.0
	for f := range k {
		var train []Sample
		for i, s := range samples {
			if fold[i] != f {
				train = append(train, s)
			}
		}
		w := Fit(train, params, o)
		for i, s := range samples {
			if fold[i] != f {
				continue
			}
			flagged := s.Decided || Score(s, w) >= th
			switch {
			case s.Spam && !flagged:
				cost++
			case !s.Spam && flagged:
				cost += hamWeight
			}
		}
	}
	return cost
}
