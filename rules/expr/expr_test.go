package expr

import (
	"errors"
	"math"
	"slices"
	"strings"
	"testing"
)

// testNames is the symbol table of the unit tests; slots follow the order.
var testNames = []string{
	"A", "B", "C", "D",
	"SUBJ_ALL_CAPS", "HTML_ONLY", "MISSING_DATE",
	"BAYES_99", "RBL_SPAMHAUS_SBL",
	"FREE_OFFER", "URGENT_WORDS", "MONEY_SYMBOLS", "CLICK_HERE",
	"URIBL_BLACK", "URIBL_GREY", "URIBL_RED", "SPF_FAIL", "DKIM_FAIL",
}

func testTable() *Table { return NewTable(testNames...) }

func TestParse(t *testing.T) {
	tests := []struct{ src, want string }{
		// Operands.
		{"A", "A"},
		{"42", "42"},
		{"2.50", "2.5"},
		{"0.125", "0.125"},
		{"(A)", "A"},
		{"((A))", "A"},
		{"score(SPF_FAIL)", "score(SPF_FAIL)"},
		{"score( SPF_FAIL )", "score(SPF_FAIL)"},
		{"count(URIBL_*)", "count(URIBL_*)"},
		{"count( *_FAIL )", "count(*_FAIL)"},
		// Unary operators bind tightest.
		{"!A", "(! A)"},
		{"!!A", "(! (! A))"},
		{"-A", "(- A)"},
		{"- -1", "(- (- 1))"},
		{"!A && B", "(&& (! A) B)"},
		{"!A == B", "(== (! A) B)"},
		{"!A + B", "(+ (! A) B)"},
		{"-A * B", "(* (- A) B)"},
		{"!(A && B)", "(! (&& A B))"},
		// Binary operators associate to the left.
		{"A || B || C", "(|| (|| A B) C)"},
		{"A && B && C", "(&& (&& A B) C)"},
		{"A + B + C", "(+ (+ A B) C)"},
		{"A - B - C", "(- (- A B) C)"},
		{"A - B + C", "(+ (- A B) C)"},
		{"A * B * C", "(* (* A B) C)"},
		// Precedence: * over + -, over comparisons, over &&, over ||.
		{"A || B && C", "(|| A (&& B C))"},
		{"A && B || C", "(|| (&& A B) C)"},
		{"A && B == C", "(&& A (== B C))"},
		{"A + B * C", "(+ A (* B C))"},
		{"A * B + C", "(+ (* A B) C)"},
		{"A - B * C", "(- A (* B C))"},
		{"A + B > C", "(> (+ A B) C)"},
		{"A > B + C", "(> A (+ B C))"},
		{"A || B > 1 && C", "(|| A (&& (> B 1) C))"},
		{"(A || B) && C", "(&& (|| A B) C)"},
		{"A * (B + C)", "(* A (+ B C))"},
		// Every comparison.
		{"A > 1", "(> A 1)"},
		{"A >= 1", "(>= A 1)"},
		{"A < 1", "(< A 1)"},
		{"A <= 1", "(<= A 1)"},
		{"A == 1", "(== A 1)"},
		{"A != 1", "(!= A 1)"},
		{"(A < B) < C", "(< (< A B) C)"},
		// Spacing and lines do not matter.
		{"A&&!B", "(&& A (! B))"},
		{"A!=B", "(!= A B)"},
		{"A-1", "(- A 1)"},
		{"A--1", "(- A (- 1))"},
		{"\tA &&\n  (B ||\r\n   C)\n", "(&& A (|| B C))"},
		// The brief's examples.
		{"SUBJ_ALL_CAPS && (HTML_ONLY || !MISSING_DATE)", "(&& SUBJ_ALL_CAPS (|| HTML_ONLY (! MISSING_DATE)))"},
		{"BAYES_99 && RBL_SPAMHAUS_SBL", "(&& BAYES_99 RBL_SPAMHAUS_SBL)"},
		{"(FREE_OFFER + URGENT_WORDS + MONEY_SYMBOLS + CLICK_HERE) >= 3",
			"(>= (+ (+ (+ FREE_OFFER URGENT_WORDS) MONEY_SYMBOLS) CLICK_HERE) 3)"},
		{"count(URIBL_*) >= 2", "(>= count(URIBL_*) 2)"},
		{"score(SPF_FAIL) > 1", "(> score(SPF_FAIL) 1)"},
	}
	for _, tt := range tests {
		t.Run(tt.src, func(t *testing.T) {
			n, err := parse(tt.src)
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			if got := n.String(); got != tt.want {
				t.Errorf("got %s, want %s", got, tt.want)
			}
			if _, err := Compile(tt.src, testTable()); err != nil {
				t.Errorf("Compile: %v", err)
			}
		})
	}
}

// facts builds Eval's slices from "NAME" and "NAME=score" words.
func facts(t testing.TB, tab *Table, spec string) ([]bool, []float64) {
	present := make([]bool, tab.Len())
	score := make([]float64, tab.Len())
	for _, w := range strings.Fields(spec) {
		name, sc, hasScore := strings.Cut(w, "=")
		s, ok := tab.Slot(name)
		if !ok {
			t.Fatalf("facts: unknown %s", name)
		}
		present[s] = true
		if hasScore {
			var v float64
			for _, c := range []struct {
				s string
				v float64
			}{{"0", 0}, {"0.5", 0.5}, {"1", 1}, {"1.5", 1.5}, {"2", 2}, {"-1", -1}, {"-3", -3}, {"NaN", math.NaN()}} {
				if c.s == sc {
					v = c.v
				}
			}
			score[s] = v
		}
	}
	return present, score
}

func TestEval(t *testing.T) {
	tests := []struct {
		src   string
		facts string
		want  bool
		value float64
	}{
		{"A", "A", true, 1},
		{"A", "", false, 0},
		{"A", "A=0", true, 1}, // present with score 0 is present
		{"A", "A=-3", true, 1},
		{"!A", "", true, 1},
		{"!A", "A", false, 0},
		{"A && B", "A B", true, 1},
		{"A && B", "A", false, 0},
		{"A && B", "B", false, 0},
		{"A || B", "B", true, 1},
		{"A || B", "", false, 0},
		{"A || B && C", "A", true, 1},
		{"(A || B) && C", "A", false, 0},
		{"A + B + C", "A C", true, 2},
		{"A + B + C >= 2", "A C", true, 1},
		{"A + B + C >= 2", "C", false, 0},
		{"A - B", "B", true, -1},
		{"A - B - C", "A", true, 1}, // (A-B)-C, not A-(B-C)
		{"2 * A + B", "A", true, 2},
		{"2 * (A + B)", "A B", true, 4},
		{"A * B", "A", false, 0},
		{"-A", "A", true, -1},
		{"- -A", "A", true, 1},
		{"!5", "", false, 0},
		{"!0", "", true, 1},
		{"0.5", "", true, 0.5},
		{"0", "", false, 0},
		{"1 < 2", "", true, 1},
		{"2 < 2", "", false, 0},
		{"2 <= 2", "", true, 1},
		{"3 > 2", "", true, 1},
		{"2 >= 3", "", false, 0},
		{"2 == 2.0", "", true, 1},
		{"2 != 2", "", false, 0},
		{"(A < B) < C + 1", "B C", true, 1},
		{"A == B", "", true, 1},
		{"A != B", "A", true, 1},
		// && and || give 0 or 1 whatever their operands.
		{"A && 5", "A", true, 1},
		{"0 || 0.5", "", true, 1},
		{"(A && 5) + 1", "A", true, 2},
		{"(A || 0) - 1", "", true, -1},
		// score() reads the score; absent is 0.
		{"score(SPF_FAIL) > 1", "SPF_FAIL=1.5", true, 1},
		{"score(SPF_FAIL) > 1", "SPF_FAIL=1", false, 0},
		{"score(SPF_FAIL) > 1", "", false, 0},
		{"score(SPF_FAIL)", "SPF_FAIL=0", false, 0},
		{"score(SPF_FAIL) < 0", "SPF_FAIL=-1", true, 1},
		{"score(SPF_FAIL) + score(DKIM_FAIL)", "SPF_FAIL=1.5 DKIM_FAIL=2", true, 3.5},
		{"score(SPF_FAIL) * 2", "SPF_FAIL=0.5", true, 1},
		{"score(SPF_FAIL) == score(SPF_FAIL)", "SPF_FAIL=NaN", false, 0},
		{"score(SPF_FAIL) && 1", "SPF_FAIL=NaN", true, 1}, // NaN is not zero
		// count() counts present symbols matching the glob.
		{"count(URIBL_*)", "URIBL_BLACK URIBL_RED A", true, 2},
		{"count(URIBL_*) >= 2", "URIBL_GREY", false, 0},
		{"count(*_FAIL)", "SPF_FAIL DKIM_FAIL", true, 2},
		{"count(URIBL_*E*)", "URIBL_GREY URIBL_RED URIBL_BLACK", true, 2},
		{"count(A)", "A", true, 1},
		{"count(URIBL_*)", "", false, 0},
		// The brief's examples.
		{"SUBJ_ALL_CAPS && (HTML_ONLY || !MISSING_DATE)", "SUBJ_ALL_CAPS", true, 1},
		{"SUBJ_ALL_CAPS && (HTML_ONLY || !MISSING_DATE)", "SUBJ_ALL_CAPS MISSING_DATE", false, 0},
		{"SUBJ_ALL_CAPS && (HTML_ONLY || !MISSING_DATE)", "SUBJ_ALL_CAPS MISSING_DATE HTML_ONLY", true, 1},
		{"BAYES_99 && RBL_SPAMHAUS_SBL", "BAYES_99 RBL_SPAMHAUS_SBL", true, 1},
		{"(FREE_OFFER + URGENT_WORDS + MONEY_SYMBOLS + CLICK_HERE) >= 3", "FREE_OFFER MONEY_SYMBOLS CLICK_HERE", true, 1},
		{"(FREE_OFFER + URGENT_WORDS + MONEY_SYMBOLS + CLICK_HERE) >= 3", "FREE_OFFER CLICK_HERE", false, 0},
		// Operand reordering (deeper side first) keeps - and < exact.
		{"A - (B + (C + D))", "A B C", true, -1},
		{"1 < (A + (B + C))", "A B", true, 1},
		{"(A + (B + C)) < 1", "A B", false, 0},
		{"3 - ((A + B) * (C + D))", "A B C", true, 1},
	}
	tab := testTable()
	for _, tt := range tests {
		t.Run(tt.src+"/"+tt.facts, func(t *testing.T) {
			p, tree, err := compile(tt.src, tab)
			if err != nil {
				t.Fatal(err)
			}
			present, score := facts(t, tab, tt.facts)
			if got := p.Eval(present, score); got != tt.want {
				t.Errorf("Eval = %v, want %v", got, tt.want)
			}
			if got := p.value(present, score); got != tt.value {
				t.Errorf("value = %v, want %v", got, tt.value)
			}
			if got := refEval(tree, present, score); !sameValue(got, tt.value) {
				t.Errorf("reference value = %v, want %v", got, tt.value)
			}
		})
	}
}

func TestEvalShortSlices(t *testing.T) {
	tab := testTable()
	p, err := Compile("!SPF_FAIL && score(SPF_FAIL) == 0 && count(URIBL_*) == 0", tab)
	if err != nil {
		t.Fatal(err)
	}
	// Slots past the slices' ends read as absent.
	if !p.Eval(nil, nil) || !p.Eval(make([]bool, 2), make([]float64, 1)) {
		t.Error("short slices: want true")
	}
}

func TestShortCircuit(t *testing.T) {
	tab := testTable()
	// The right side of && is skipped when the left is false: the code
	// jumps over it, so the stack stays balanced either way.
	for _, src := range []string{"A && (B + C * D > 1)", "A || (B + C * D > 1)", "(A && B) + (C || D) * 2"} {
		p, tree, err := compile(src, tab)
		if err != nil {
			t.Fatal(err)
		}
		for bits := 0; bits < 16; bits++ {
			present := []bool{bits&1 != 0, bits&2 != 0, bits&4 != 0, bits&8 != 0}
			if got, want := p.value(present, nil), refEval(tree, present, nil); got != want {
				t.Errorf("%s with %04b: %v, want %v", src, bits, got, want)
			}
		}
	}
}

func TestDeps(t *testing.T) {
	tests := []struct {
		src  string
		want []string
	}{
		{"1", []string{}},
		{"A", []string{"A"}},
		{"B && A || B", []string{"A", "B"}},
		{"score(SPF_FAIL) > 1 && SPF_FAIL", []string{"SPF_FAIL"}},
		{"count(URIBL_*) >= 2 || A", []string{"A", "URIBL_BLACK", "URIBL_GREY", "URIBL_RED"}},
	}
	for _, tt := range tests {
		p, err := Compile(tt.src, testTable())
		if err != nil {
			t.Fatal(err)
		}
		if got := p.Deps(); !slices.Equal(got, tt.want) {
			t.Errorf("%s: deps %q, want %q", tt.src, got, tt.want)
		}
		if p.String() != tt.src {
			t.Errorf("String() = %q", p.String())
		}
	}
}

func TestErrors(t *testing.T) {
	tests := []struct {
		src  string
		kind error
		want string
	}{
		// Syntax: every message says what was expected and where.
		{"", ErrSyntax, "expr: 1:1: empty expression"},
		{"  \n ", ErrSyntax, "expr: 2:2: empty expression"},
		{"(A && B", ErrSyntax, `expr: 1:8: expected ")" to close "(" at 1:1, found end of expression`},
		{"A && (B || C D)", ErrSyntax, `expr: 1:14: expected ")" to close "(" at 1:6, found "D"`},
		{"SUBJ_ALL_CAPS &&\n  (HTML_ONLY ||\n   !MISSING_DATE", ErrSyntax,
			`expr: 3:17: expected ")" to close "(" at 2:3, found end of expression`},
		{"A)", ErrSyntax, `expr: 1:2: unexpected ")": no "(" is open`},
		{"A B", ErrSyntax, `expr: 1:3: expected an operator or the end of the expression, found "B"`},
		{"A &&", ErrSyntax, `expr: 1:5: expected a symbol, number, function, "(", "!" or "-", found end of expression`},
		{"&& A", ErrSyntax, `expr: 1:1: expected a symbol, number, function, "(", "!" or "-", found "&&"`},
		{"A + * B", ErrSyntax, `expr: 1:5: expected a symbol, number, function, "(", "!" or "-", found "*"`},
		{"()", ErrSyntax, `expr: 1:2: expected a symbol, number, function, "(", "!" or "-", found ")"`},
		{"A & B", ErrSyntax, `expr: 1:3: unexpected "&": write && for "and"`},
		{"A | B", ErrSyntax, `expr: 1:3: unexpected "|": write || for "or"`},
		{"A = 1", ErrSyntax, `expr: 1:3: unexpected "=": write == to compare`},
		{"A / 2", ErrSyntax, `expr: 1:3: unexpected "/": there is no division`},
		{"A > .5", ErrSyntax, `expr: 1:5: unexpected ".": write a number with a leading digit, as in 0.5`},
		{"A > 1.", ErrSyntax, `expr: 1:7: expected a digit after "." in a number`},
		{"A @ B", ErrSyntax, `expr: 1:3: unexpected character '@'`},
		{"A ≥ 1", ErrSyntax, `expr: 1:3: unexpected character '≥'`},
		{"A \xff", ErrSyntax, `expr: 1:3: unexpected byte 0xff (not UTF-8)`},
		{"1 < A < 3", ErrSyntax, `expr: 1:7: comparisons do not chain: "<" follows "<" at 1:3; join them with && or add parentheses`},
		{"A == B != C", ErrSyntax, `expr: 1:8: comparisons do not chain: "!=" follows "==" at 1:3; join them with && or add parentheses`},
		{"A and B", ErrSyntax, `expr: 1:3: "and" is not an operator: write &&`},
		{"A or B", ErrSyntax, `expr: 1:3: "or" is not an operator: write ||`},
		{"not A", ErrSyntax, `expr: 1:1: "not" is not an operator: write !`},
		{"A && true", ErrSyntax, `expr: 1:6: there is no "true": write 1 or 0`},
		{"1" + strings.Repeat("0", 400), ErrSyntax, "expr: 1:1: number 1" + strings.Repeat("0", 400) + " is out of range"},
		// Functions.
		{"count >= 2", ErrSyntax, "expr: 1:1: count is a function: write count(PATTERN), as in count(URIBL_*)"},
		{"score > 2", ErrSyntax, "expr: 1:1: score is a function: write score(SYMBOL), as in score(SPF_FAIL)"},
		{"max(A, B)", ErrSyntax, `expr: 1:1: unknown function "max": the functions are count and score`},
		{"A(B)", ErrSyntax, `expr: 1:2: unexpected "(" after symbol A: the functions are count and score`},
		{"count(/^URIBL_/) >= 2", ErrSyntax, "expr: 1:7: count takes a glob such as URIBL_*, not a regular expression"},
		{`count("URIBL_*")`, ErrSyntax, "expr: 1:7: write count's pattern without quotes, as in count(URIBL_*)"},
		{"count()", ErrSyntax, `expr: 1:7: expected a symbol pattern such as URIBL_* in count(), found character ')'`},
		{"count(", ErrSyntax, `expr: 1:7: expected a symbol pattern such as URIBL_* in count(), found end of expression`},
		{"count(URIBL_* ", ErrSyntax, `expr: 1:15: expected ")" to close count( at 1:6, found end of expression`},
		{"score(1)", ErrSyntax, `expr: 1:7: expected a symbol name in score(), found "1"`},
		{"score(A B)", ErrSyntax, `expr: 1:9: expected ")" to close score( at 1:6, found "B"`},
		// Names.
		{"SUBJ_ALLCAPS", ErrUnknownSymbol, `expr: 1:1: unknown symbol "SUBJ_ALLCAPS" (did you mean SUBJ_ALL_CAPS?)`},
		{"A && (B || SUBJ_ALL_CPAS)", ErrUnknownSymbol, `expr: 1:12: unknown symbol "SUBJ_ALL_CPAS" (did you mean SUBJ_ALL_CAPS?)`},
		{"A && NOTHING_LIKE_IT", ErrUnknownSymbol, `expr: 1:6: unknown symbol "NOTHING_LIKE_IT"`},
		{"subj_all_caps", ErrUnknownSymbol, `expr: 1:1: unknown symbol "subj_all_caps": symbol names are upper-case (did you mean SUBJ_ALL_CAPS?)`},
		{"Html_Onyl", ErrUnknownSymbol, `expr: 1:1: unknown symbol "Html_Onyl": symbol names are upper-case (did you mean HTML_ONLY?)`},
		{"zzz", ErrUnknownSymbol, `expr: 1:1: unknown symbol "zzz": symbol names are upper-case`},
		{"_A", ErrUnknownSymbol, `expr: 1:1: unknown symbol "_A": symbol names start with a letter`},
		{"score(SPF_FALE)", ErrUnknownSymbol, `expr: 1:7: unknown symbol "SPF_FALE" (did you mean SPF_FAIL?)`},
		{"count(URI_*)", ErrUnknownSymbol, `expr: 1:7: pattern "URI_*" matches no known symbol`},
		{"count(uribl_*)", ErrUnknownSymbol, `expr: 1:7: pattern "uribl_*": symbol names are upper-case (did you mean URIBL_*?)`},
		{"A &&\n  XX_ONE +\n  XX_TWO", ErrUnknownSymbol,
			"expr: 2:3: unknown symbol \"XX_ONE\"\nexpr: 3:3: unknown symbol \"XX_TWO\""},
		{strings.Repeat("X", 65), ErrUnknownSymbol, `expr: 1:1: symbol name "XXXXXXXXXXXXXXXXXXXX"… is 65 characters long, more than 64`},
		// Limits.
		{strings.Repeat("A+", 2048) + "A", ErrLimit, "expr: 1:1: expression is 4097 bytes long, more than the limit of 4096"},
		{strings.Repeat("(", 65) + "A" + strings.Repeat(")", 65), ErrLimit, "expr: 1:65: expression nested deeper than 64 levels"},
		{strings.Repeat("!", 65) + "A", ErrLimit, "expr: 1:65: expression nested deeper than 64 levels"},
		{strings.Repeat("(!", 33) + "A" + strings.Repeat(")", 33), ErrLimit, "expr: 1:65: expression nested deeper than 64 levels"},
	}
	tab := testTable()
	for _, tt := range tests {
		name := tt.src
		if len(name) > 40 {
			name = name[:40]
		}
		t.Run(name, func(t *testing.T) {
			p, err := Compile(tt.src, tab)
			if err == nil {
				t.Fatalf("compiled; want error %s", tt.want)
			}
			if p != nil {
				t.Error("non-nil program with an error")
			}
			if err.Error() != tt.want {
				t.Errorf("error\n got %s\nwant %s", err, tt.want)
			}
			if !errors.Is(err, tt.kind) {
				t.Errorf("errors.Is(%v) false", tt.kind)
			}
			var e *Error
			if !errors.As(err, &e) || e.Pos.Line < 1 || e.Pos.Col < 1 {
				t.Errorf("no *Error with a position: %#v", err)
			}
		})
	}
}

func TestLimitsAccepted(t *testing.T) {
	tab := testTable()
	ok := []string{
		strings.Repeat("(", 64) + "A" + strings.Repeat(")", 64),
		strings.Repeat("!", 64) + "A",
		strings.Repeat("A+", 2047) + "A ", // 4096 bytes
		// A long chain is not deep: the parser loops along it.
		strings.Repeat("A&&", 1365) + "A",
	}
	for _, src := range ok {
		p, tree, err := compile(src, tab)
		if err != nil {
			t.Errorf("%.30s…: %v", src, err)
			continue
		}
		present, _ := facts(t, tab, "A")
		if got, want := p.value(present, nil), refEval(tree, present, nil); got != want {
			t.Errorf("%.30s…: %v, want %v", src, got, want)
		}
	}
}

func TestNameErrorCap(t *testing.T) {
	src := strings.Repeat("XA+", 30) + "XA"
	_, err := Compile(src, testTable())
	if err == nil {
		t.Fatal("want error")
	}
	lines := strings.Split(err.Error(), "\n")
	if len(lines) != maxNameErrors+1 || lines[maxNameErrors] != "expr: 21 more unknown names not shown" {
		t.Errorf("got %d lines, last %q", len(lines), lines[len(lines)-1])
	}
}

// TestStackBound builds the expression that needs the most stack within
// MaxLen, a balanced tree of subtractions, and checks it fits.
func TestStackBound(t *testing.T) {
	var build func(depth int) string
	build = func(depth int) string {
		if depth == 0 {
			return "A"
		}
		s := build(depth - 1)
		return "(" + s + ")-(" + s + ")"
	}
	src := build(8) // 256 leaves, depth 8 parentheses
	p, tree, err := compile(src, testTable())
	if err != nil {
		t.Fatal(err)
	}
	if tree.need != 9 {
		t.Errorf("need = %d, want 9", tree.need)
	}
	if got := p.value([]bool{true}, nil); got != 0 {
		t.Errorf("value = %v", got)
	}
	// A right-leaning chain needs 2 slots, not its length.
	_, tree, err = compile(strings.Repeat("A-(", 60)+"A"+strings.Repeat(")", 60), testTable())
	if err != nil {
		t.Fatal(err)
	}
	if tree.need != 2 {
		t.Errorf("right chain need = %d, want 2", tree.need)
	}
}

func TestNilSymbols(t *testing.T) {
	if _, err := Compile("A", nil); !errors.Is(err, ErrUnknownSymbol) {
		t.Errorf("err = %v", err)
	}
	p, err := Compile("1 + 2 > 2", nil)
	if err != nil || !p.Eval(nil, nil) {
		t.Errorf("constant expression: %v", err)
	}
}

type badSymbols struct{}

func (badSymbols) Slot(string) (int, bool) { return -1, true }
func (badSymbols) Names() []string         { return nil }

func TestBadSlot(t *testing.T) {
	_, err := Compile("A", badSymbols{})
	if err == nil || !strings.Contains(err.Error(), "slot -1") {
		t.Errorf("err = %v", err)
	}
}

func TestGlob(t *testing.T) {
	tests := []struct {
		pat, name string
		want      bool
	}{
		{"URIBL_*", "URIBL_BLACK", true},
		{"URIBL_*", "URIBL_", true},
		{"URIBL_*", "URIBL", false},
		{"URIBL_*", "X_URIBL_BLACK", false},
		{"*_FAIL", "SPF_FAIL", true},
		{"*_FAIL", "SPF_FAIL_X", false},
		{"RBL_*_SBL", "RBL_SPAMHAUS_SBL", true},
		{"RBL_*_SBL", "RBL_SBL", false},
		{"*", "ANY", true},
		{"**A**", "BAB", true},
		{"A*B*C", "AXBYBZC", true},
		{"A*B*C", "AXBYBZ", false},
		{"ABC", "ABC", true},
		{"ABC", "ABCD", false},
	}
	for _, tt := range tests {
		if got := glob(tt.pat, tt.name); got != tt.want {
			t.Errorf("glob(%q, %q) = %v", tt.pat, tt.name, got)
		}
	}
}

func TestSuggest(t *testing.T) {
	known := []string{"SUBJ_ALL_CAPS", "HTML_ONLY", "AB", "AC", "SPF_FAIL"}
	tests := []struct{ name, want string }{
		{"SUBJ_ALLCAPS", "SUBJ_ALL_CAPS"},  // deletion
		{"SUBJ_ALL_CPAS", "SUBJ_ALL_CAPS"}, // transposition
		{"HTML_ONLYY", "HTML_ONLY"},
		{"AD", "AB"}, // tie: alphabetical
		{"XYZ", ""},
		{"SPF_PASS", ""}, // 2 edits in 8 characters is another symbol, not a typo
	}
	for _, tt := range tests {
		if got := suggest(tt.name, known); got != tt.want {
			t.Errorf("suggest(%q) = %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestValidName(t *testing.T) {
	for name, want := range map[string]bool{
		"A": true, "SPF_FAIL": true, "URIBL_2": true, strings.Repeat("A", 64): true,
		"": false, "a": false, "_A": false, "2A": false, "A-B": false, strings.Repeat("A", 65): false,
	} {
		if ValidName(name) != want {
			t.Errorf("ValidName(%q) = %v", name, !want)
		}
	}
}

func TestTable(t *testing.T) {
	tab := NewTable("A", "B", "A")
	if tab.Len() != 2 || tab.Intern("C") != 2 || tab.Intern("A") != 0 {
		t.Errorf("table: %v", tab.Names())
	}
	var zero Table
	if zero.Intern("X") != 0 {
		t.Error("zero Table")
	}
}
