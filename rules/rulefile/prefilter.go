package rulefile

import (
	"regexp/syntax"
	"strings"
	"unicode"
	"unicode/utf8"
)

// The prefilter spares most rules from running at all. From each pattern
// it derives a few literal strings ("atoms") of which every match must
// contain at least one; a rule whose atoms are all absent from a text
// cannot match it, and its regular expression is not run. The texts are
// case-folded once per message, and so are the atoms, so one search
// serves case-sensitive and (?i) patterns alike. It is the idea behind
// RE2's prefilter and SpamAssassin's body rule preselection; here it is
// kept small: a regexp/syntax tree walk, and strings.Contains over the
// folded text (a few hundred atoms cost well under a millisecond on a
// typical message, where running every pattern cost about 30 ms).
//
// It is sound, never exact: a pattern may still fail where its atoms
// occur, and a pattern with no usable atoms (".*", "\\w+ \\d+") always
// runs. Soundness is what FuzzPrefilter checks.

const (
	maxExact = 16 // largest set of exact strings tracked through a concatenation
	minAtom  = 3  // shorter atoms select almost every message; no filter is better
	maxClass = 8  // character classes up to this many runes are expanded
)

// pinfo is what a subexpression tells about its matches: either they are
// all in exact, or each contains one of atoms (nil atoms: no requirement).
type pinfo struct {
	isExact bool
	exact   []string
	atoms   []string
}

var (
	anything = pinfo{}
	empty    = pinfo{isExact: true, exact: []string{""}}
)

// atomsFor returns the atoms of pattern, or nil when every text must be
// tried.
func atomsFor(pattern string) []string {
	re, err := syntax.Parse(pattern, syntax.Perl)
	if err != nil {
		return nil
	}
	re = re.Simplify()
	if size(re, 0) > maxNodes {
		return nil // x{500} unrolled: not worth analysing, and no rule needs it
	}
	return toAtoms(analyze(re))
}

const maxNodes = 2000

// size counts the nodes of re, stopping once past maxNodes.
func size(re *syntax.Regexp, n int) int {
	n++
	for _, s := range re.Sub {
		if n > maxNodes {
			break
		}
		n = size(s, n)
	}
	return n
}

func analyze(re *syntax.Regexp) pinfo {
	switch re.Op {
	case syntax.OpLiteral:
		return pinfo{isExact: true, exact: []string{fold(string(re.Rune))}}
	case syntax.OpEmptyMatch, syntax.OpBeginLine, syntax.OpEndLine, syntax.OpBeginText,
		syntax.OpEndText, syntax.OpWordBoundary, syntax.OpNoWordBoundary:
		return empty
	case syntax.OpCharClass:
		return classInfo(re.Rune)
	case syntax.OpCapture:
		return analyze(re.Sub[0])
	case syntax.OpQuest:
		sub := analyze(re.Sub[0])
		if sub.isExact && len(sub.exact) < maxExact {
			return pinfo{isExact: true, exact: union(sub.exact, []string{""})}
		}
		return anything
	case syntax.OpPlus:
		return pinfo{atoms: toAtoms(analyze(re.Sub[0]))}
	case syntax.OpRepeat:
		if re.Min == 0 {
			return anything
		}
		return pinfo{atoms: toAtoms(analyze(re.Sub[0]))}
	case syntax.OpConcat:
		return concatInfo(re.Sub)
	case syntax.OpAlternate:
		return alternateInfo(re.Sub)
	}
	return anything // OpAnyChar, OpAnyCharNotNL, OpStar, OpNoMatch
}

func classInfo(ranges []rune) pinfo {
	n := 0
	for i := 0; i+1 < len(ranges); i += 2 {
		n += int(ranges[i+1]-ranges[i]) + 1
		if n > maxClass {
			return anything
		}
	}
	var out []string
	for i := 0; i+1 < len(ranges); i += 2 {
		for r := ranges[i]; r <= ranges[i+1]; r++ {
			out = union(out, []string{fold(string(r))})
		}
	}
	return pinfo{isExact: true, exact: out}
}

func concatInfo(subs []*syntax.Regexp) pinfo { return concatFrom(empty, subs) }

// concatFrom analyses a concatenation that starts with what acc tells.
func concatFrom(acc pinfo, subs []*syntax.Regexp) pinfo {
	var best []string
	exact := true
	for _, s := range subs {
		si := analyze(s)
		if acc.isExact && si.isExact && len(acc.exact)*len(si.exact) <= maxExact {
			acc = pinfo{isExact: true, exact: cross(acc.exact, si.exact)}
			continue
		}
		if acc.isExact && !si.isExact && s.Op == syntax.OpAlternate {
			// The parser factors common prefixes out of alternations
			// ("make…|mlm" becomes M(?:AKE…|LM)), which leaves a
			// one-letter prefix and branches too short alone. Spreading
			// the prefix over the branches gets the words back.
			if atoms := distribute(acc, s.Sub); atoms != nil {
				exact = false
				best = better(best, atoms)
				acc = empty
				continue
			}
		}
		exact = false
		best = better(best, toAtoms(acc))
		if si.isExact {
			acc = si
		} else {
			best = better(best, si.atoms)
			acc = empty
		}
	}
	if exact {
		return acc
	}
	return pinfo{atoms: better(best, toAtoms(acc))}
}

// distribute returns atoms for prefix·(b1|b2|…): each branch analysed
// after the prefix, nil if one of them has none.
func distribute(prefix pinfo, branches []*syntax.Regexp) []string {
	var atoms []string
	for _, b := range branches {
		subs := []*syntax.Regexp{b}
		if b.Op == syntax.OpConcat {
			subs = b.Sub
		}
		a := toAtoms(concatFrom(prefix, subs))
		if a == nil {
			return nil
		}
		atoms = union(atoms, a)
	}
	return atoms
}

func alternateInfo(subs []*syntax.Regexp) pinfo {
	infos := make([]pinfo, len(subs))
	allExact := true
	for i, s := range subs {
		infos[i] = analyze(s)
		allExact = allExact && infos[i].isExact
	}
	if allExact {
		var out []string
		for _, in := range infos {
			out = union(out, in.exact)
		}
		if len(out) <= maxExact {
			return pinfo{isExact: true, exact: out}
		}
	}
	var atoms []string
	for _, in := range infos {
		a := toAtoms(in)
		if a == nil {
			return anything // one branch can match without any atom
		}
		atoms = union(atoms, a)
	}
	return pinfo{atoms: atoms}
}

// toAtoms turns what a subexpression tells into atoms, or nil when that
// is no useful requirement.
func toAtoms(p pinfo) []string {
	if !p.isExact {
		return p.atoms
	}
	for _, s := range p.exact {
		if len(s) < minAtom {
			return nil
		}
	}
	return p.exact
}

// better picks the more selective of two requirements: one over none,
// then the one whose shortest atom is longer, then the one with fewer.
func better(a, b []string) []string {
	switch {
	case a == nil:
		return b
	case b == nil:
		return a
	}
	ma, mb := shortest(a), shortest(b)
	if ma != mb {
		if ma > mb {
			return a
		}
		return b
	}
	if len(b) < len(a) {
		return b
	}
	return a
}

func shortest(ss []string) int {
	m := -1
	for _, s := range ss {
		if m < 0 || len(s) < m {
			m = len(s)
		}
	}
	return m
}

func cross(a, b []string) []string {
	out := make([]string, 0, len(a)*len(b))
	for _, x := range a {
		for _, y := range b {
			out = union(out, []string{x + y})
		}
	}
	return out
}

func union(a, b []string) []string {
	for _, s := range b {
		found := false
		for _, t := range a {
			if s == t {
				found = true
				break
			}
		}
		if !found {
			a = append(a, s)
		}
	}
	return a
}

// fold maps s to a canonical case: each rune to the smallest rune of its
// Unicode simple-folding orbit (K, k and the Kelvin sign all become K), so
// that a folded pattern atom is found in a folded text whatever the case
// of either. ASCII, the common case, is upper-cased in place.
func fold(s string) string {
	ascii := true
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			ascii = false
			break
		}
	}
	if ascii {
		return strings.ToUpper(s)
	}
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		b.WriteRune(foldRune(r))
	}
	return b.String()
}

func foldRune(r rune) rune {
	if r < utf8.RuneSelf {
		if 'a' <= r && r <= 'z' {
			return r - 'a' + 'A'
		}
		return r
	}
	m := r
	for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
		m = min(m, f)
	}
	return m
}

// mayMatch reports whether folded (a text passed through fold) contains
// one of atoms; nil atoms always may.
func mayMatch(atoms []string, folded string) bool {
	if atoms == nil {
		return true
	}
	for _, a := range atoms {
		if strings.Contains(folded, a) {
			return true
		}
	}
	return false
}
