package rules

import (
	"context"
	"strings"
	"testing"

	"github.com/mamori-mail/mamori/rules/check"
	"gopkg.in/yaml.v3"
)

func metaSet(t *testing.T, known []string, defs ...MetaDef) *Meta {
	t.Helper()
	for i := range defs {
		defs[i].File, defs[i].Line = "m.yaml", 10*(i+1)
	}
	mt, err := CompileMeta(defs, known)
	if err != nil {
		t.Fatal(err)
	}
	return mt
}

func names(syms []check.Symbol) string {
	var out []string
	for _, s := range syms {
		out = append(out, s.Name)
	}
	return strings.Join(out, " ")
}

func TestMetaEval(t *testing.T) {
	known := []string{"SPF_FAIL", "BAYES_SPAM", "SUBJ_FREE", "BODY_CLICK", "URIBL_A", "URIBL_B", "HAM_SIGN"}
	mt := metaSet(t, known,
		// Defined before the rule it reads: evaluation follows dependencies,
		// not file order.
		MetaDef{Name: "STACKED", Score: 1, Expr: "OFFER_AND_CLICK && count(URIBL_*) >= 2"},
		MetaDef{Name: "OFFER_AND_CLICK", Score: 2, Expr: "SUBJ_FREE && BODY_CLICK && !HAM_SIGN"},
		MetaDef{Name: "FORGED_SPAMMY", Score: 3, Expr: "score(SPF_FAIL) > 1 && BAYES_SPAM"},
	)
	for _, tc := range []struct {
		in   []check.Symbol
		want string
	}{
		{nil, ""},
		{[]check.Symbol{{Name: "SUBJ_FREE"}, {Name: "BODY_CLICK"}}, "OFFER_AND_CLICK"},
		{[]check.Symbol{{Name: "SUBJ_FREE"}, {Name: "BODY_CLICK"}, {Name: "HAM_SIGN", Score: -1}}, ""},
		{[]check.Symbol{{Name: "SUBJ_FREE"}, {Name: "BODY_CLICK"}, {Name: "URIBL_A"}, {Name: "URIBL_B"}}, "OFFER_AND_CLICK STACKED"},
		{[]check.Symbol{{Name: "SPF_FAIL", Score: 0.5}, {Name: "BAYES_SPAM"}}, ""},
		{[]check.Symbol{{Name: "SPF_FAIL", Score: 2}, {Name: "BAYES_SPAM"}}, "FORGED_SPAMMY"},
		{[]check.Symbol{{Name: "UNKNOWN_TO_META"}, {Name: "SUBJ_FREE"}}, ""},
	} {
		if got := names(mt.Eval(tc.in, nil)); got != tc.want {
			t.Errorf("%s: got %q, want %q", names(tc.in), got, tc.want)
		}
	}
	out := mt.Eval([]check.Symbol{{Name: "SUBJ_FREE"}, {Name: "BODY_CLICK"}}, map[string]float64{"OFFER_AND_CLICK": 4.5})
	if len(out) != 1 || out[0].Score != 4.5 || out[0].Detail != "meta: BODY_CLICK SUBJ_FREE" || out[0].Check != "rules" {
		t.Errorf("override or detail: %+v", out)
	}
}

func TestMetaErrors(t *testing.T) {
	_, err := CompileMeta([]MetaDef{
		{Name: "TYPO", Expr: "SUBJ_FRE && X", File: "a.yaml", Line: 3},
		{Name: "SYNTAX", Expr: "A &&\n  (B", File: "a.yaml", Line: 7},
		{Name: "PATTERN", Expr: "count(NOPE_*) > 1", File: "b.yaml", Line: 2},
	}, []string{"SUBJ_FREE", "X", "A", "B"})
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{
		`a.yaml:3: TYPO.meta: column 1: unknown symbol "SUBJ_FRE" (did you mean SUBJ_FREE?)`,
		`a.yaml:8: SYNTAX.meta: column 5: expected ")"`,
		"b.yaml:2: PATTERN.meta: column 7:",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("errors lack %q:\n%v", want, err)
		}
	}
	_, err = CompileMeta([]MetaDef{
		{Name: "A_META", Expr: "B_META || X", File: "c.yaml", Line: 1},
		{Name: "B_META", Expr: "A_META", File: "c.yaml", Line: 5},
	}, []string{"X"})
	if err == nil || !strings.Contains(err.Error(), "c.yaml:1: A_META.meta: meta rules read each other in a circle: A_META -> B_META -> A_META") {
		t.Errorf("cycle: %v", err)
	}
}

// TestFinalEvaluatesMeta runs meta rules through the engine: a meta rule
// over two checks' symbols fires at end of message, is scored (with an
// override) and counted in the verdict.
func TestFinalEvaluatesMeta(t *testing.T) {
	pol := testPolicy
	pol.Scores = map[string]float64{"BOTH": 3}
	pol.Meta = metaSet(t, []string{"A", "B"}, MetaDef{Name: "BOTH", Score: 1, Expr: "A && B"})
	p := NewPipeline([]*Entry{
		entry(&fake{name: "a", stages: check.Stages(check.EOM), run: symbol("A", 1)}, check.FailContinue),
		entry(&fake{name: "b", stages: check.Stages(check.EOM), run: symbol("B", 1.5)}, check.FailContinue),
	}, pol, "t", nil)
	var tx Transaction
	p.Run(context.Background(), &check.Message{}, check.EOM, &tx)
	v := tx.Final(&p.Policy, []string{"u@example.jp"})
	if v.Score != 5.5 || v.Action != check.ActAddHeader || !strings.Contains(names(v.Symbols), "BOTH") {
		t.Fatalf("verdict %+v", v)
	}
}

func TestDomainPolicies(t *testing.T) {
	pol := testPolicy // 5 / 10 / 15
	pol.Domains = []DomainPolicy{
		{Name: "agency", Domains: []string{"city.example.lg.jp", ".pref.example.lg.jp"}, Thresholds: Thresholds{AddHeader: 3, Quarantine: 6, Reject: 0}},
		{Name: "lab", Domains: []string{"lab.example.ac.jp"}, Thresholds: Thresholds{AddHeader: 8, Quarantine: 0, Reject: 12}},
	}
	for _, tc := range []struct {
		rcpts  []string
		score  float64
		want   check.Action
		policy string
	}{
		{[]string{"a@example.com"}, 7, check.ActAddHeader, ""},
		{[]string{"a@city.example.lg.jp"}, 7, check.ActQuarantine, "agency"},
		{[]string{"<a@soumu.pref.example.lg.jp>"}, 20, check.ActQuarantine, "agency"}, // reject off there
		{[]string{"a@pref.example.lg.jp"}, 7, check.ActAddHeader, ""},                 // ".pref" is subdomains only
		{[]string{"a@LAB.example.ac.jp"}, 7, check.ActAccept, "lab"},
		{[]string{"a@lab.example.ac.jp"}, 12, check.ActReject, "lab"},
		// Mixed: the most protective threshold of each action.
		{[]string{"a@lab.example.ac.jp", "b@city.example.lg.jp"}, 7, check.ActQuarantine, "mixed"},
		{[]string{"a@lab.example.ac.jp", "b@city.example.lg.jp"}, 13, check.ActReject, "mixed"},
		{[]string{"a@lab.example.ac.jp", "b@example.com"}, 5, check.ActAddHeader, "mixed"},
	} {
		pol := pol
		p := NewPipeline([]*Entry{entry(&fake{name: "s", stages: check.Stages(check.EOM), run: symbol("S", tc.score)}, check.FailContinue)}, pol, "t", nil)
		var tx Transaction
		p.Run(context.Background(), &check.Message{}, check.EOM, &tx)
		v := tx.Final(&p.Policy, tc.rcpts)
		if v.Action != tc.want || v.Policy != tc.policy {
			t.Errorf("%v score %v: %s policy %q, want %s policy %q", tc.rcpts, tc.score, v.Action, v.Policy, tc.want, tc.policy)
		}
		if tc.policy != "" && v.Action > check.ActAccept && !strings.Contains(v.Reason, "(policy "+tc.policy+")") {
			t.Errorf("reason %q does not name the policy", v.Reason)
		}
	}
}

func TestFailSymbolAvoidsResultNames(t *testing.T) {
	check.Register(check.Registration{Name: "zzfailtest", Factory: func(*yaml.Node, check.Env) (check.Check, error) { return nil, nil }, Symbols: []string{"ZZFAILTEST_FAIL"}})
	if got := FailSymbol("zzfailtest"); got != "ZZFAILTEST_CHECK_FAIL" {
		t.Errorf("FailSymbol = %s", got)
	}
	if got := FailSymbol("clamav"); got != "CLAMAV_FAIL" {
		t.Errorf("FailSymbol = %s", got)
	}
}
