package expr

import (
	"errors"
	"reflect"
	"testing"
)

func TestOrder(t *testing.T) {
	tests := []struct {
		name  string
		deps  map[string][]string
		want  []string
		cycle string // the error, when there is a cycle
	}{
		{name: "empty", deps: map[string][]string{}, want: []string{}},
		{name: "independent rules alphabetically",
			deps: map[string][]string{"M2": {"A"}, "M1": {"B"}, "M3": nil},
			want: []string{"M1", "M2", "M3"}},
		{name: "chain",
			deps: map[string][]string{"TOP": {"MID", "A"}, "MID": {"LOW"}, "LOW": {"A", "B"}},
			want: []string{"LOW", "MID", "TOP"}},
		{name: "diamond",
			deps: map[string][]string{"D": {"B", "C"}, "B": {"A"}, "C": {"A"}, "A": {"SPF_FAIL"}},
			want: []string{"A", "B", "C", "D"}},
		{name: "self",
			deps:  map[string][]string{"URIBL_MULTI": {"URIBL_BLACK", "URIBL_MULTI"}},
			cycle: "expr: dependency cycle: URIBL_MULTI -> URIBL_MULTI"},
		{name: "two",
			deps:  map[string][]string{"A": {"B"}, "B": {"A"}},
			cycle: "expr: dependency cycle: A -> B -> A"},
		{name: "cycle below an acyclic prefix",
			deps:  map[string][]string{"A": {"B"}, "B": {"C"}, "C": {"D"}, "D": {"B"}},
			cycle: "expr: dependency cycle: B -> C -> D -> B"},
		{name: "cycle found after finished rules",
			deps:  map[string][]string{"A": {"X"}, "M": {"N"}, "N": {"O"}, "O": {"M", "A"}},
			cycle: "expr: dependency cycle: M -> N -> O -> M"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Order(tt.deps)
			if tt.cycle != "" {
				var ce *CycleError
				if err == nil || err.Error() != tt.cycle || !errors.Is(err, ErrCycle) || !errors.As(err, &ce) {
					t.Fatalf("err = %v, want %s", err, tt.cycle)
				}
				if ce.Path[0] != ce.Path[len(ce.Path)-1] {
					t.Errorf("path %q does not close", ce.Path)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("order %q, want %q", got, tt.want)
			}
		})
	}
}

// TestOrderWithPrograms wires Compile, Deps and Order together as the
// engine does.
func TestOrderWithPrograms(t *testing.T) {
	rules := map[string]string{
		"MULTI_URIBL": "count(URIBL_*) >= 2",
		"SPAMMY":      "MULTI_URIBL && BAYES_99",
		"VERY_SPAMMY": "SPAMMY && score(SPF_FAIL) > 1",
	}
	tab := NewTable("URIBL_BLACK", "URIBL_RED", "BAYES_99", "SPF_FAIL")
	for name := range rules {
		tab.Intern(name)
	}
	deps := map[string][]string{}
	progs := map[string]*Program{}
	for name, src := range rules {
		p, err := Compile(src, tab)
		if err != nil {
			t.Fatal(err)
		}
		progs[name], deps[name] = p, p.Deps()
	}
	order, err := Order(deps)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"MULTI_URIBL", "SPAMMY", "VERY_SPAMMY"}; !reflect.DeepEqual(order, want) {
		t.Fatalf("order %q", order)
	}
	present := make([]bool, tab.Len())
	score := make([]float64, tab.Len())
	for _, n := range []string{"URIBL_BLACK", "URIBL_RED", "BAYES_99", "SPF_FAIL"} {
		s, _ := tab.Slot(n)
		present[s], score[s] = true, 1.5
	}
	for _, name := range order {
		s, _ := tab.Slot(name)
		present[s] = progs[name].Eval(present, score)
	}
	if s, _ := tab.Slot("VERY_SPAMMY"); !present[s] {
		t.Error("VERY_SPAMMY did not fire")
	}

	// A meta rule named inside its own count() pattern reads itself.
	tab.Intern("URIBL_MULTI")
	p, err := Compile("count(URIBL_*) >= 2", tab)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Order(map[string][]string{"URIBL_MULTI": p.Deps()}); err == nil ||
		err.Error() != "expr: dependency cycle: URIBL_MULTI -> URIBL_MULTI" {
		t.Errorf("err = %v", err)
	}
}
