package tune

import (
	"math/rand/v2"
	"testing"
)

// A synthetic corpus where one rule is a strong spam sign its author
// underrated, one fires on ham as often as on spam (worth nothing), and
// one is a ham sign: the fit raises the first, lowers the second towards
// 0, keeps the third negative, and never leaves the bounds.
func TestFitLearnsFromData(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var samples []Sample
	for i := range 3000 {
		spam := i%5 == 0
		var syms []string
		if spam && rng.Float64() < 0.9 || !spam && rng.Float64() < 0.002 {
			syms = append(syms, "STRONG")
		}
		if rng.Float64() < 0.3 {
			syms = append(syms, "NOISE")
		}
		if !spam && rng.Float64() < 0.5 || spam && rng.Float64() < 0.05 {
			syms = append(syms, "HAMMY")
		}
		fixed := 0.0
		if spam {
			fixed = 3 // what the untuned checks give spam here
		}
		samples = append(samples, Sample{Spam: spam, Symbols: syms, Fixed: fixed})
	}
	params := []Param{{Name: "STRONG", Prior: 1}, {Name: "NOISE", Prior: 2}, {Name: "HAMMY", Prior: -0.5}}
	// STRONG must carry a spam over 5 from the fixed 3: it may rise to
	// its bound, 2.5 (1 + 1.5), which is enough.
	for i := range params {
		params[i].Lo, params[i].Hi = Bounds(params[i].Prior)
	}
	w := Fit(samples, params, Options{})
	if w["STRONG"] < 2 || w["STRONG"] > 2.5 {
		t.Errorf("STRONG = %v, want raised to its bound (2.5)", w["STRONG"])
	}
	if w["NOISE"] > 1.5 {
		t.Errorf("NOISE = %v, want lowered (it says nothing)", w["NOISE"])
	}
	if w["HAMMY"] > 0 || w["HAMMY"] < -3 {
		t.Errorf("HAMMY = %v, want within [-3, 0]", w["HAMMY"])
	}
	caught, fp := 0, 0
	for _, s := range samples {
		if Score(s, w) >= 5 {
			if s.Spam {
				caught++
			} else {
				fp++
			}
		}
	}
	if caught < 500 || fp > 3 {
		t.Errorf("tuned: %d of 600 spam flagged, %d ham flagged", caught, fp)
	}
	t.Logf("scores %v: %d/600 spam, %d/2400 ham flagged", w, caught, fp)
}

// With no data a score stays at its prior: tuning adds, it never invents.
func TestFitWithoutDataKeepsPriors(t *testing.T) {
	params := []Param{{Name: "A", Prior: 1.5, Lo: 0, Hi: 4}, {Name: "B", Prior: -1, Lo: -3, Hi: 0}}
	w := Fit([]Sample{{Spam: true, Symbols: []string{"OTHER"}}}, params, Options{})
	if w["A"] != 1.5 || w["B"] != -1 {
		t.Errorf("scores %v", w)
	}
	if lo, hi := Bounds(3); lo != 0 || hi != 6 {
		t.Errorf("Bounds(3) = %v, %v", lo, hi)
	}
	if lo, hi := Bounds(0.4); lo != 0 || hi != 1.9 {
		t.Errorf("Bounds(3) = %v, %v", lo, hi)
	}
	if lo, hi := Bounds(0); lo != 0 || hi != 0 {
		t.Errorf("Bounds(0) = %v, %v", lo, hi)
	}
}

// TestScoreRoundsAsTheEngine: a sum the engine flags at 5 (it rounds to a
// thousandth) must reach 5 here too, or the accuracy run would count as
// missed a message the daemon flags. In floating point 1.9+2.3+0.8 is
// 4.999999999999999.
func TestScoreRoundsAsTheEngine(t *testing.T) {
	s := Sample{Symbols: []string{"A", "B", "C"}}
	w := map[string]float64{"A": 1.9, "B": 2.3, "C": 0.8}
	if got := Score(s, w); got != 5 {
		t.Errorf("Score = %v, want 5", got)
	}
}

// Select weighs a flagged ham as the caller says: a rule that fires on 60
// spam and 24 ham, all of them a point short of the threshold, should be
// raised to flag them when a ham costs little and kept down when a ham
// costs nine spam.
func TestSelectWeighsHam(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	var samples []Sample
	var fold []int
	for i := range 3000 {
		spam := i%5 == 0
		var syms []string
		if spam && rng.Float64() < 0.1 || !spam && rng.Float64() < 0.01 {
			syms = append(syms, "MIXED")
		}
		fixed := 0.0
		if len(syms) > 0 || spam {
			fixed = 4
		}
		if spam && len(syms) == 0 {
			fixed = 8 // caught anyway
		}
		samples = append(samples, Sample{Spam: spam, Symbols: syms, Fixed: fixed})
		fold = append(fold, i%10)
	}
	lo, hi := Bounds(1)
	params := []Param{{Name: "MIXED", Prior: 1, Lo: lo, Hi: hi}}
	flagged := func(o Options) (spam, ham int) {
		w := Fit(samples, params, o)
		for _, s := range samples {
			if Score(s, w) >= 5 {
				if s.Spam {
					spam++
				} else {
					ham++
				}
			}
		}
		return spam, ham
	}
	strict, _ := Select(samples, fold, 10, params, Grid, 9)
	lax, _ := Select(samples, fold, 10, params, Grid, 0.1)
	ss, sh := flagged(strict)
	ls, lh := flagged(lax)
	t.Logf("ham weight 9: %+v flags %d spam, %d ham; ham weight 0.1: %+v flags %d spam, %d ham", strict, ss, sh, lax, ls, lh)
	if sh != 0 || lh == 0 || ls <= ss {
		t.Errorf("the ham weight did not steer the choice")
	}
	if strict.HamCost <= lax.HamCost {
		t.Errorf("HamCost %v at ham weight 9, %v at 0.1: want the first higher", strict.HamCost, lax.HamCost)
	}
}
