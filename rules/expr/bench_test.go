package expr

import "testing"

// benchSrc is a typical meta rule over six symbols.
const benchSrc = "SUBJ_ALL_CAPS && (HTML_ONLY || !MISSING_DATE) && (FREE_OFFER + URGENT_WORDS + CLICK_HERE) >= 2"

func BenchmarkEval(b *testing.B) {
	tab := testTable()
	p, err := Compile(benchSrc, tab)
	if err != nil {
		b.Fatal(err)
	}
	// The rule fires, so every operand is evaluated: the slow path.
	present, score := facts(b, tab, "SUBJ_ALL_CAPS MISSING_DATE HTML_ONLY FREE_OFFER CLICK_HERE")
	b.ReportAllocs()
	for b.Loop() {
		if !p.Eval(present, score) {
			b.Fatal("want true")
		}
	}
}

func BenchmarkCompile(b *testing.B) {
	tab := testTable()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Compile(benchSrc, tab); err != nil {
			b.Fatal(err)
		}
	}
}
