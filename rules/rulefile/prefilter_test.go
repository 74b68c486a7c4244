package rulefile

import (
	"regexp"
	"slices"
	"testing"
)

func TestAtoms(t *testing.T) {
	for _, tc := range []struct {
		pattern string
		want    []string // nil: no filter
	}{
		{`viagra`, []string{"VIAGRA"}},
		{`(?i)click\s+here`, []string{"CLICK"}},
		{`(?i)\b(free|cheap) (offer|money)\b`, []string{"FREE OFFER", "FREE MONEY", "CHEAP OFFER", "CHEAP MONEY"}},
		{`colou?r`, []string{"COLOR", "COLOUR"}},
		{`(?i)act now|limited time`, []string{"ACT NOW", "LIMITED TIME"}},
		{`\$\d+(,\d{3})*\s+million`, []string{"MILLION"}},
		{`[0-9]{3}-[0-9]{4}`, nil},
		{`.*`, nil},
		// Factored by the parser into M(?:AKE MONEY|LM): spread back.
		{`(?i)\bmake money|mlm\b`, []string{"MAKE MONEY", "MLM"}},
		{`(?i)a|bcd`, nil},
		{`(?i)未承諾広告`, []string{"未承諾広告"}},
		{`(?i)ſtop`, []string{"STOP"}},
	} {
		got := atomsFor(tc.pattern)
		slices.Sort(got)
		want := slices.Clone(tc.want)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("%s: atoms %q, want %q", tc.pattern, got, want)
		}
	}
}

// FuzzPrefilter checks soundness: whenever a pattern matches a text, the
// prefilter must let it through.
func FuzzPrefilter(f *testing.F) {
	for _, s := range [][2]string{
		{`(?i)click\s+here`, "Please CLICK   here"},
		{`(?i)ſtop`, "STOP"},
		{`(?i)K`, "\u212a"},
		{`colou?r`, "colour"},
		{`(?i)(free|cheap) (offer|money)`, "Cheap Money"},
		{`\x{FFFD}abc`, "\xffabc"},
		{`(?i)straße`, "STRASSE"},
		{`ab{2,3}c`, "abbc"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, pattern, text string) {
		re, err := regexp.Compile(pattern)
		if err != nil || len(pattern) > 200 || len(text) > 4096 {
			return
		}
		if re.MatchString(text) && !mayMatch(atomsFor(pattern), fold(text)) {
			t.Fatalf("pattern %q matches %q but the prefilter (atoms %q) skips it", pattern, text, atomsFor(pattern))
		}
	})
}
