package expr

import (
	"errors"
	"fmt"
	"strings"
)

// Error kinds, for errors.Is. Every *Error wraps exactly one of the first
// three; a *CycleError wraps ErrCycle.
var (
	ErrSyntax        = errors.New("expr: syntax error")
	ErrUnknownSymbol = errors.New("expr: unknown symbol")
	ErrLimit         = errors.New("expr: expression too large")
	ErrCycle         = errors.New("expr: dependency cycle")
)

// Error is a problem at one position of an expression. Msg carries no
// position, so that a rule-file loader can re-anchor Pos in the file
// (an expression in a YAML block scalar starts on a later line).
type Error struct {
	Pos  Pos
	Msg  string
	Kind error // ErrSyntax, ErrUnknownSymbol or ErrLimit
}

func (e *Error) Error() string { return "expr: " + e.Pos.String() + ": " + e.Msg }

// Unwrap returns the error's kind.
func (e *Error) Unwrap() error { return e.Kind }

func syntaxErr(pos Pos, msg string) *Error { return &Error{Pos: pos, Msg: msg, Kind: ErrSyntax} }

// CycleError reports meta rules that depend on each other.
type CycleError struct {
	// Path starts and ends with the same name: [A B A].
	Path []string
}

func (e *CycleError) Error() string {
	return "expr: dependency cycle: " + strings.Join(e.Path, " -> ")
}

// Unwrap returns ErrCycle.
func (e *CycleError) Unwrap() error { return ErrCycle }

// maxNameErrors bounds how many name errors one Compile reports, and so
// the did-you-mean work an adversarial expression can cause.
const maxNameErrors = 10

// nameErrors collects the name errors of one expression.
type nameErrors struct {
	list    []error
	dropped int
}

func (ne *nameErrors) add(pos Pos, kind error, format string, args ...any) {
	if len(ne.list) == maxNameErrors {
		ne.dropped++
		return
	}
	ne.list = append(ne.list, &Error{Pos: pos, Msg: fmt.Sprintf(format, args...), Kind: kind})
}

func (ne *nameErrors) err() error {
	if ne.dropped > 0 {
		return errors.Join(append(ne.list, fmt.Errorf("expr: %d more unknown names not shown", ne.dropped))...)
	}
	return errors.Join(ne.list...)
}

// suggest returns the known name closest to name, or "" when none is
// close enough to be a likely typo. Ties go to the alphabetically first
// name, so messages are stable.
func suggest(name string, known []string) string {
	maxDist := min(max(len(name)/4, 1), 3)
	best, bestDist := "", maxDist+1
	for _, k := range known {
		if d := len(k) - len(name); d > maxDist || -d > maxDist {
			continue
		}
		// The limit lets an exact tie through for the alphabetical rule.
		d := distance(name, k, bestDist+1)
		if d < bestDist || (d == bestDist && d <= maxDist && k < best) {
			best, bestDist = k, d
		}
	}
	return best
}

// distance is the optimal string alignment distance between a and b
// (insertions, deletions, substitutions and swaps of neighbours each cost
// 1), or a value >= limit when it is at least limit. Names are at most 64
// bytes, so the rows live on the stack.
func distance(a, b string, limit int) int {
	if len(a) > maxName || len(b) > maxName {
		return limit
	}
	var rows [3][maxName + 1]int
	prev2, prev, cur := &rows[0], &rows[1], &rows[2]
	for j := 0; j <= len(b); j++ {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		rowMin := i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			d := min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				d = min(d, prev2[j-2]+1)
			}
			cur[j] = d
			rowMin = min(rowMin, d)
		}
		if rowMin >= limit {
			return limit
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(b)]
}
