package rules

import (
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/mamori-mail/mamori/rules/check"
	"github.com/mamori-mail/mamori/rules/expr"
)

// MetaCheck is the check name meta rules' symbols carry: they belong to
// the rule set, as the rules the rules check runs do.
const MetaCheck = "rules"

// MetaDef is a meta rule as a rule file defines it.
type MetaDef struct {
	Name        string
	Description string
	Score       float64
	Expr        string
	File        string
	Line        int // where Expr starts
}

// MetaRule is a compiled meta rule.
type MetaRule struct {
	MetaDef
	prog *expr.Program
	slot int
	deps []int // slots of the symbols it reads, for the report
}

// Meta evaluates meta rules over the symbols the checks reported for one
// message. It is built once per configuration and shared by all messages.
type Meta struct {
	table   *expr.Table
	rules   []*MetaRule // in evaluation order: a rule after those it reads
	scratch sync.Pool   // *metaScratch
	// OnHit, when set, is called with each meta rule that fires (metrics).
	OnHit func(name string)
}

type metaScratch struct {
	present []bool
	score   []float64
}

// CompileMeta compiles defs against known, the names any check or rule may
// report; meta rules may read each other too. Every problem is reported,
// each as a *check.ConfigError with the file and the line of the
// expression's error.
func CompileMeta(defs []MetaDef, known []string) (*Meta, error) {
	t := expr.NewTable()
	for _, n := range known {
		t.Intern(n)
	}
	for _, d := range defs {
		t.Intern(d.Name)
	}
	mt := &Meta{table: t}
	byName := map[string]*MetaRule{}
	deps := map[string][]string{}
	var errs []error
	for _, d := range defs {
		p, err := expr.Compile(d.Expr, t)
		if err != nil {
			for _, e := range check.Errors(err) {
				errs = append(errs, metaError(d, e))
			}
			continue
		}
		slot, _ := t.Slot(d.Name)
		r := &MetaRule{MetaDef: d, prog: p, slot: slot}
		for _, dep := range p.Deps() {
			s, _ := t.Slot(dep)
			r.deps = append(r.deps, s)
		}
		byName[d.Name] = r
		deps[d.Name] = p.Deps()
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	order, err := expr.Order(deps)
	if err != nil {
		var ce *expr.CycleError
		if errors.As(err, &ce) {
			d := byName[ce.Path[0]].MetaDef
			return nil, &check.ConfigError{File: d.File, Line: d.Line, Path: d.Name + ".meta",
				Msg: "meta rules read each other in a circle: " + strings.Join(ce.Path, " -> ")}
		}
		return nil, err
	}
	for _, name := range order {
		mt.rules = append(mt.rules, byName[name])
	}
	n := t.Len()
	mt.scratch.New = func() any { return &metaScratch{present: make([]bool, n), score: make([]float64, n)} }
	return mt, nil
}

func metaError(d MetaDef, err error) error {
	line := d.Line
	msg := err.Error()
	var ee *expr.Error
	if errors.As(err, &ee) {
		line += ee.Pos.Line - 1
		msg = fmt.Sprintf("column %d: %s", ee.Pos.Col, ee.Msg)
	}
	return &check.ConfigError{File: d.File, Line: line, Path: d.Name + ".meta", Msg: msg}
}

// Rules returns the compiled meta rules in evaluation order.
func (mt *Meta) Rules() []*MetaRule {
	if mt == nil {
		return nil
	}
	return mt.rules
}

// Eval returns the symbols of the meta rules that fire on syms, each
// with its score (after overrides) and, as detail, the symbols it read
// that were present. Rules see each other's results in evaluation order.
func (mt *Meta) Eval(syms []check.Symbol, scores map[string]float64) []check.Symbol {
	if mt == nil || len(mt.rules) == 0 {
		return nil
	}
	sc := mt.scratch.Get().(*metaScratch)
	defer func() {
		clear(sc.present)
		clear(sc.score)
		mt.scratch.Put(sc)
	}()
	for _, s := range syms {
		if slot, ok := mt.table.Slot(s.Name); ok {
			sc.present[slot] = true
			sc.score[slot] += s.Score
		}
	}
	var out []check.Symbol
	names := mt.table.Names()
	for _, r := range mt.rules {
		if sc.present[r.slot] || !r.prog.Eval(sc.present, sc.score) {
			continue // a check already reported the name: it is not ours to add twice
		}
		score := r.Score
		if v, ok := scores[r.Name]; ok {
			score = v
		}
		sc.present[r.slot], sc.score[r.slot] = true, score
		var seen []string
		for _, d := range r.deps {
			if sc.present[d] {
				seen = append(seen, names[d])
			}
		}
		detail := "meta: " + strings.Join(seen, " ")
		if len(seen) == 0 {
			detail = "meta"
		}
		out = append(out, check.Symbol{Name: r.Name, Score: score, Detail: detail, Check: MetaCheck})
		if mt.OnHit != nil {
			mt.OnHit(r.Name)
		}
	}
	return out
}
