package check

import (
	"errors"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Outcome is what the operator set for one kind of finding: a hard action
// (reject, quarantine, tempfail, discard), a score, or "none" (the symbol is
// reported and scores nothing). In YAML it is written as the action name or
// as a number:
//
//	encrypted: quarantine
//	type_mismatch: 3
type Outcome struct {
	Action Action // ActNone for a score
	Score  float64
}

// Outcomes operators may write.
var (
	Reject     = Outcome{Action: ActReject}
	Quarantine = Outcome{Action: ActQuarantine}
	Tempfail   = Outcome{Action: ActTempfail}
	Discard    = Outcome{Action: ActDiscard}
)

// Score returns a score-only outcome.
func Score(v float64) Outcome { return Outcome{Score: v} }

// UnmarshalYAML reads "reject", "quarantine", "tempfail", "discard", "none"
// or a number.
func (o *Outcome) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return lineError(n, "want reject, quarantine, tempfail, discard, none or a score")
	}
	if v, err := strconv.ParseFloat(n.Value, 64); err == nil {
		*o = Outcome{Score: v}
		return nil
	}
	switch n.Value {
	case "none":
		*o = Outcome{}
	case "reject", "quarantine", "tempfail", "discard":
		a, _ := ParseAction(n.Value)
		*o = Outcome{Action: a}
	default:
		return lineError(n, "%q: want reject, quarantine, tempfail, discard, none or a score", n.Value)
	}
	return nil
}

// MarshalYAML writes the form UnmarshalYAML reads.
func (o Outcome) MarshalYAML() (any, error) {
	if o.Action != ActNone {
		return o.Action.String(), nil
	}
	if o.Score == 0 {
		return "none", nil
	}
	return o.Score, nil
}

func (o Outcome) String() string {
	if o.Action != ActNone {
		return o.Action.String()
	}
	if o.Score == 0 {
		return "none"
	}
	return "score " + strconv.FormatFloat(o.Score, 'g', -1, 64)
}

// Apply records a finding in res: the symbol with the outcome's score and,
// for a hard action, a decision unless res already holds a stronger one.
// reply is used for reject and tempfail (zero: the configured default).
func (o Outcome) Apply(res *Result, symbol, detail string, reply Reply, reason string) {
	res.Add(symbol, o.Score, detail)
	if o.Action == ActNone {
		return
	}
	if res.Decision != nil && res.Decision.Action >= o.Action {
		return
	}
	d := &Decision{Action: o.Action, Reason: reason}
	if o.Action == ActReject || o.Action == ActTempfail {
		d.Reply = reply
	}
	res.Decision = d
}

// Outcomes returns defaults with the configured outcomes (keyed by result
// name, from the check's "outcomes" setting at node) laid over them. A name
// that is not a key of defaults is an error, with its line, that lists the
// known names; what names the results ("an SPF result").
func Outcomes[K ~string](node *yaml.Node, path, what string, set map[string]Outcome, defaults map[K]Outcome) (map[K]Outcome, error) {
	out := make(map[K]Outcome, len(defaults))
	known := make([]string, 0, len(defaults))
	for k, v := range defaults {
		out[k] = v
		known = append(known, string(k))
	}
	sort.Strings(known)
	var errs []error
	for k, v := range set {
		if _, ok := defaults[K(k)]; !ok {
			errs = append(errs, Errorf(Field(node, k), path+"."+k, "%q is not %s (%s)", k, what, strings.Join(known, ", ")))
			continue
		}
		out[K(k)] = v
	}
	return out, errors.Join(errs...)
}
