package expr

import (
	"errors"
	"math"
	"testing"
)

// refEval is the reference semantics: a plain walk of the tree, in
// source order, with no jumps, stack or operand reordering. The compiled
// program must agree with it on every input.
func refEval(n *node, present []bool, score []float64) float64 {
	has := func(s int) bool { return s < len(present) && present[s] }
	truth := func(v float64) bool { return v != 0 }
	switch n.kind {
	case nNum:
		return n.num
	case nSym:
		return b2f(has(n.slot))
	case nScore:
		if n.slot < len(score) {
			return score[n.slot]
		}
		return 0
	case nCount:
		c := 0
		for _, s := range n.slots {
			if has(s) {
				c++
			}
		}
		return float64(c)
	case nUnary:
		x := refEval(n.x, present, score)
		if n.op == tNot {
			return b2f(!truth(x))
		}
		return -x
	}
	x := refEval(n.x, present, score)
	switch n.op {
	case tAnd:
		return b2f(truth(x) && truth(refEval(n.y, present, score)))
	case tOr:
		return b2f(truth(x) || truth(refEval(n.y, present, score)))
	}
	y := refEval(n.y, present, score)
	switch n.op {
	case tAdd:
		return x + y
	case tSub:
		return x - y
	case tMul:
		return x * y
	case tLt:
		return b2f(x < y)
	case tLe:
		return b2f(x <= y)
	case tGt:
		return b2f(x > y)
	case tGe:
		return b2f(x >= y)
	case tEq:
		return b2f(x == y)
	case tNe:
		return b2f(x != y)
	}
	panic("refEval: unknown operator")
}

// sameValue is == except that NaN equals NaN.
func sameValue(a, b float64) bool { return a == b || (math.IsNaN(a) && math.IsNaN(b)) }

// fuzzNames are the fuzzer's symbols: short ones it can guess, plus
// families for count().
var fuzzNames = []string{"A", "B", "C", "D", "E", "X1", "X2", "X3", "X_Y", "SPF_FAIL", "DKIM_FAIL"}

// fuzzScores are the scores symbols get, edge cases included.
var fuzzScores = []float64{0, 1, -1, 0.5, 2.5, 1e308, math.Inf(1), math.NaN()}

func FuzzCompile(f *testing.F) {
	for _, s := range []string{
		"A", "!A", "A && B || C", "A || B && !C", "(A + B + C) >= 2", "A - B - C", "A * (B + C) - 2",
		"count(X*) >= 2", "count(*_FAIL) == 1", "score(SPF_FAIL) > 1", "-score(A) * 1e", "score(A) * score(B) - score(C)",
		"1 < A", "A == B", "A != (B < C)", "((A))", "!!!A", "-(-A)", "A &&\n (B ||\n C)", "2.5 * A <= 0.5",
		"(A - (B - (C - D))) * (E - X1)", "SUBJ_ALL_CAPS && (HTML_ONLY || !MISSING_DATE)",
		"A < B < C", "(A", "A)", "count(/x/)", "a && b", "A and B", "",
	} {
		f.Add(s, uint64(0b1011_0110_1101), uint64(0x0123_4567_89ab_cdef))
	}
	tab := NewTable(fuzzNames...)
	f.Fuzz(func(t *testing.T, src string, bits, scoreBits uint64) {
		p, tree, err := compile(src, tab)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("error without position: %v", err)
			}
			if e.Pos.Line < 1 || e.Pos.Col < 1 || e.Pos.Offset < 0 || e.Pos.Offset > len(src) {
				t.Fatalf("bad position %+v for %q", e.Pos, src)
			}
			if !errors.Is(err, ErrSyntax) && !errors.Is(err, ErrUnknownSymbol) && !errors.Is(err, ErrLimit) {
				t.Fatalf("error of no kind: %v", err)
			}
			return
		}
		if tree.need > stackSize {
			t.Fatalf("need %d", tree.need)
		}
		// Several symbol sets per input: rotations of bits, and slices
		// cut short (a slot past the end reads as absent).
		n := tab.Len()
		for round := 0; round < 4; round++ {
			b := bits>>(round*7) | bits<<(64-round*7)
			present := make([]bool, n)
			score := make([]float64, n)
			for i := range n {
				present[i] = b>>i&1 != 0
				score[i] = fuzzScores[(scoreBits>>(3*i+round))&7]
			}
			if round == 3 {
				present, score = present[:n/2], score[:n/3]
			}
			want := refEval(tree, present, score)
			got := p.value(present, score)
			if !sameValue(got, want) {
				t.Fatalf("%q: value %v, reference %v (present %v, score %v)", src, got, want, present, score)
			}
			if p.Eval(present, score) != (want != 0) {
				t.Fatalf("%q: Eval disagrees with value %v", src, want)
			}
		}
	})
}
