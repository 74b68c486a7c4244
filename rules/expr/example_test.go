package expr_test

import (
	"fmt"

	"github.com/mamori-mail/mamori/rules/expr"
)

func ExampleCompile() {
	// At load time: intern every symbol checks and rules can report, then
	// compile each meta rule against the table.
	tab := expr.NewTable("SUBJ_ALL_CAPS", "HTML_ONLY", "MISSING_DATE", "SPF_FAIL", "URIBL_BLACK", "URIBL_RED")
	p, err := expr.Compile("SUBJ_ALL_CAPS && (HTML_ONLY || !MISSING_DATE) && score(SPF_FAIL) > 1", tab)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(p.Deps())

	// Per message: fill the slices by slot and evaluate.
	present := make([]bool, tab.Len())
	score := make([]float64, tab.Len())
	for name, sc := range map[string]float64{"SUBJ_ALL_CAPS": 0.5, "SPF_FAIL": 2} {
		s, _ := tab.Slot(name)
		present[s], score[s] = true, sc
	}
	fmt.Println(p.Eval(present, score))

	// Errors carry a position and, for a typo, a suggestion.
	_, err = expr.Compile("count(URIBL_*) >= 2 &&\n  SUBJ_ALLCAPS", tab)
	fmt.Println(err)
	_, err = expr.Compile("(HTML_ONLY || MISSING_DATE", tab)
	fmt.Println(err)
	// Output:
	// [HTML_ONLY MISSING_DATE SPF_FAIL SUBJ_ALL_CAPS]
	// true
	// expr: 2:3: unknown symbol "SUBJ_ALLCAPS" (did you mean SUBJ_ALL_CAPS?)
	// expr: 1:27: expected ")" to close "(" at 1:1, found end of expression
}

func ExampleOrder() {
	order, err := expr.Order(map[string][]string{
		"VERY_SPAMMY": {"SPAMMY", "SPF_FAIL"},
		"SPAMMY":      {"BAYES_99", "MULTI_URIBL"},
		"MULTI_URIBL": {"URIBL_BLACK", "URIBL_RED"},
	})
	fmt.Println(order, err)

	_, err = expr.Order(map[string][]string{"A": {"B"}, "B": {"C"}, "C": {"A"}})
	fmt.Println(err)
	// Output:
	// [MULTI_URIBL SPAMMY VERY_SPAMMY] <nil>
	// expr: dependency cycle: A -> B -> C -> A
}
