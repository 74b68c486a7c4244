package rulefile

import (
	"context"

	"github.com/mamori-mail/mamori/rules/check"
)

// CheckName is the name the rule set reports under: its failure symbol is
// RULES_FAIL and its time shows in the stage metrics as "rules".
const CheckName = "rules"

// Checker runs a compiled Set (all rules but meta rules, which the engine
// evaluates once every check has reported) on each message. It is not in
// the check registry: the configuration's rules section builds it.
type Checker struct {
	set     *Set
	content check.ContentLimits
	lim     Limits
}

var _ check.Check = (*Checker)(nil)

// NewChecker returns the check for set.
func NewChecker(set *Set, content check.ContentLimits, lim Limits) *Checker {
	return &Checker{set: set, content: content, lim: lim}
}

// Name implements check.Check.
func (c *Checker) Name() string { return CheckName }

// Stages implements check.Check.
func (c *Checker) Stages() check.StageMask { return check.Stages(check.EOM) }

// Close implements check.Check.
func (c *Checker) Close() error { return nil }

// Set returns the compiled rules.
func (c *Checker) Set() *Set { return c.set }

// Symbols implements check.SymbolLister.
func (c *Checker) Symbols() []string {
	out := make([]string, 0, len(c.set.Rules))
	for _, r := range c.set.Rules {
		if r.Kind != KindMeta {
			out = append(out, r.Name)
		}
	}
	return out
}

// Run implements check.Check.
func (c *Checker) Run(ctx context.Context, m *check.Message, _ check.Stage) (check.Result, error) {
	var res check.Result
	if len(c.set.Rules) == len(c.set.byKind[KindMeta]) {
		return res, nil
	}
	in, err := Prepare(ctx, m, c.content, c.lim)
	if err != nil {
		return res, err
	}
	hits, err := c.set.MatchContext(ctx, in)
	if err != nil {
		return res, err
	}
	for _, h := range hits {
		res.Add(h.Rule.Name, h.Rule.Score, h.Detail())
		HitsTotal.WithLabelValues(h.Rule.Name).Inc()
	}
	return res, nil
}
