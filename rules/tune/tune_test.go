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
