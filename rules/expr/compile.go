package expr

import (
	"fmt"
	"math"
	"sort"
	"strings"
)

// Symbols is the symbol table an expression is compiled against.
type Symbols interface {
	// Slot reports whether name is a known symbol and, if so, its index in
	// the slices passed to Program.Eval. Slots are small non-negative
	// integers; two names may share one only if they mean the same thing.
	Slot(name string) (slot int, ok bool)
	// Names returns every known name. Compile uses it to expand count()
	// patterns and to suggest a name for a typo; it may be nil for neither.
	Names() []string
}

// Table is a Symbols that hands out slots 0, 1, 2, … in the order names
// are interned. It is not safe for concurrent use while it grows; build
// it, then compile.
type Table struct {
	slots map[string]int
	names []string
}

// NewTable returns a table holding names, interned in order.
func NewTable(names ...string) *Table {
	t := &Table{slots: make(map[string]int, len(names))}
	for _, n := range names {
		t.Intern(n)
	}
	return t
}

// Intern returns name's slot, adding name if the table lacks it. It does
// not check the name; ValidName does.
func (t *Table) Intern(name string) int {
	if s, ok := t.slots[name]; ok {
		return s
	}
	if t.slots == nil {
		t.slots = make(map[string]int)
	}
	s := len(t.names)
	t.slots[name] = s
	t.names = append(t.names, name)
	return s
}

// Slot implements Symbols.
func (t *Table) Slot(name string) (int, bool) {
	s, ok := t.slots[name]
	return s, ok
}

// Names implements Symbols: the names in slot order. The slice is the
// table's own; do not modify it.
func (t *Table) Names() []string { return t.names }

// Len is the number of slots, the length Eval's slices need.
func (t *Table) Len() int { return len(t.names) }

// ValidName reports whether name follows the project's symbol naming rule,
// [A-Z][A-Z0-9_]{0,63}.
func ValidName(name string) bool {
	if name == "" || len(name) > maxName || !isUpper(name[0]) {
		return false
	}
	for i := 1; i < len(name); i++ {
		if c := name[i]; !isUpper(c) && !isDigit(c) && c != '_' {
			return false
		}
	}
	return true
}

// Program is a compiled expression. It is immutable, and safe for
// concurrent use by any number of messages.
type Program struct {
	src    string
	code   []instr
	consts []float64
	pool   []int32 // count() slot lists; instr.a:instr.b indexes it
	deps   []string
}

// Compile parses src and resolves its names against syms. The error is
// an *Error for a syntax error or a limit, or one or more *Error joined by
// errors.Join for unknown names.
func Compile(src string, syms Symbols) (*Program, error) {
	p, _, err := compile(src, syms)
	if err != nil {
		return nil, err
	}
	return p, nil
}

// compile is Compile that also returns the tree, for the tests' reference
// evaluator.
func compile(src string, syms Symbols) (*Program, *node, error) {
	tree, perr := parse(src)
	if perr != nil {
		return nil, nil, perr
	}
	deps, err := resolve(tree, syms)
	if err != nil {
		return nil, nil, err
	}
	g := &codegen{}
	if need := g.setNeed(tree); need > stackSize {
		// Unreachable within MaxLen (see doc.go); kept so a change of
		// limits cannot turn into an index panic in Eval.
		return nil, nil, &Error{Pos: tree.pos, Kind: ErrLimit,
			Msg: fmt.Sprintf("expression needs %d stack slots, more than %d", need, stackSize)}
	}
	g.emit(tree)
	return &Program{src: src, code: g.code, consts: g.consts, pool: g.pool, deps: deps}, tree, nil
}

// String returns the source the program was compiled from.
func (p *Program) String() string { return p.src }

// Deps returns the names of the symbols the expression reads, sorted and
// without repeats; count() contributes every name its pattern matched.
func (p *Program) Deps() []string { return append([]string(nil), p.deps...) }

// resolve checks every name of the tree against syms, fills in slots, and
// returns the sorted dependency names. It reports every bad name.
func resolve(tree *node, syms Symbols) ([]string, error) {
	var names []string
	if syms != nil {
		names = syms.Names()
	}
	var errs nameErrors
	depSet := map[string]bool{}
	lookup := func(name string, pos Pos) (int, bool) {
		if !checkName(name, pos, syms, names, &errs) {
			return 0, false
		}
		s, ok := slot(syms, name)
		switch {
		case !ok:
			msg := fmt.Sprintf("unknown symbol %q", name)
			if s := suggest(name, names); s != "" {
				msg += " (did you mean " + s + "?)"
			}
			errs.add(pos, ErrUnknownSymbol, "%s", msg)
			return 0, false
		case s < 0 || s > math.MaxInt32:
			errs.add(pos, ErrUnknownSymbol, "symbol %s has slot %d, outside 0…%d", name, s, math.MaxInt32)
			return 0, false
		}
		depSet[name] = true
		return s, true
	}
	var walk func(n *node)
	walk = func(n *node) {
		switch n.kind {
		case nSym, nScore:
			n.slot, _ = lookup(n.name, n.pos)
		case nCount:
			n.slots = expand(n, syms, names, &errs, depSet)
		case nUnary:
			walk(n.x)
		case nBinary:
			walk(n.x)
			walk(n.y)
		}
	}
	walk(tree)
	if err := errs.err(); err != nil {
		return nil, err
	}
	deps := make([]string, 0, len(depSet))
	for d := range depSet {
		deps = append(deps, d)
	}
	sort.Strings(deps)
	return deps, nil
}

// checkName reports a name that breaks the naming rule, with the upper-case
// spelling when that is a known name.
func checkName(name string, pos Pos, syms Symbols, names []string, errs *nameErrors) bool {
	switch {
	case ValidName(name):
		return true
	case len(name) > maxName:
		errs.add(pos, ErrUnknownSymbol, "symbol name %.20q… is %d characters long, more than %d", name, len(name), maxName)
	case name[0] == '_':
		errs.add(pos, ErrUnknownSymbol, "unknown symbol %q: symbol names start with a letter", name)
	default:
		msg := fmt.Sprintf("unknown symbol %q: symbol names are upper-case", name)
		up := strings.ToUpper(name)
		if _, ok := slot(syms, up); ok {
			msg += " (did you mean " + up + "?)"
		} else if s := suggest(up, names); s != "" {
			msg += " (did you mean " + s + "?)"
		}
		errs.add(pos, ErrUnknownSymbol, "%s", msg)
	}
	return false
}

func slot(syms Symbols, name string) (int, bool) {
	if syms == nil {
		return 0, false
	}
	return syms.Slot(name)
}

// expand returns the slots of the known names matching n's pattern.
func expand(n *node, syms Symbols, names []string, errs *nameErrors, depSet map[string]bool) []int {
	pat := n.name
	if len(pat) > maxName {
		errs.add(n.pos, ErrUnknownSymbol, "pattern %.20q… is %d characters long, more than %d", pat, len(pat), maxName)
		return nil
	}
	if up := strings.ToUpper(pat); up != pat {
		errs.add(n.pos, ErrUnknownSymbol, "pattern %q: symbol names are upper-case (did you mean %s?)", pat, up)
		return nil
	}
	seen := map[int]bool{}
	var slots []int
	for _, name := range names {
		if !glob(pat, name) {
			continue
		}
		s, ok := slot(syms, name)
		if !ok || s < 0 || s > math.MaxInt32 {
			continue
		}
		depSet[name] = true
		if !seen[s] {
			seen[s] = true
			slots = append(slots, s)
		}
	}
	if len(slots) == 0 {
		errs.add(n.pos, ErrUnknownSymbol, "pattern %q matches no known symbol", pat)
		return nil
	}
	sort.Ints(slots)
	return slots
}

// glob reports whether name matches pat, where "*" matches any run of
// characters and every other character itself. The classic one-star
// backtracking loop: O(len(pat)·len(name)) at worst, both at most 64.
func glob(pat, name string) bool {
	p, n := 0, 0
	star, mark := -1, 0
	for n < len(name) {
		switch {
		case p < len(pat) && pat[p] == '*':
			star, mark = p, n
			p++
		case p < len(pat) && pat[p] == name[n]:
			p++
			n++
		case star >= 0:
			p = star + 1
			mark++
			n = mark
		default:
			return false
		}
	}
	for p < len(pat) && pat[p] == '*' {
		p++
	}
	return p == len(pat)
}
