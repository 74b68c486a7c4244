package dkim

import (
	"context"
	"errors"
	"fmt"

	"github.com/emersion/go-msgauth/authres"
	"github.com/mamori-mail/mamori/rules/check"
	"gopkg.in/yaml.v3"
)

// Config is the dkim check's section (checks.dkim). The common keys
// enabled, timeout and on_error are the engine's.
type Config struct {
	// Outcomes map each result to a score or an action. Defaults: pass
	// -0.5, fail 1, temperror 0, permerror 0, none 0. A failed signature
	// alone is weak evidence (mailing lists break signatures); DMARC
	// decides what a failure means for the From domain.
	Outcomes map[string]check.Outcome `yaml:"outcomes"`
}

var defaultOutcomes = map[authres.ResultValue]check.Outcome{
	authres.ResultPass: check.Score(-0.5), authres.ResultFail: check.Score(1),
	authres.ResultTempError: {}, authres.ResultPermError: {}, authres.ResultNone: {},
}

var symbols = map[authres.ResultValue]string{
	authres.ResultPass: "DKIM_PASS", authres.ResultFail: "DKIM_FAIL", authres.ResultTempError: "DKIM_TEMPERROR",
	authres.ResultPermError: "DKIM_PERMERROR", authres.ResultNone: "DKIM_NONE",
}

func init() {
	var syms []string
	for _, s := range symbols {
		syms = append(syms, s)
	}
	check.Register(check.Registration{Name: "dkim", Factory: factory, FailurePolicy: check.FailContinue, Symbols: syms})
}

// Checker is the DKIM check.
type Checker struct {
	outcomes map[authres.ResultValue]check.Outcome
	dns      check.DNS
}

var _ check.Check = (*Checker)(nil)

func factory(node *yaml.Node, env check.Env) (check.Check, error) {
	var cfg Config
	if err := check.DecodeStrict(node, &cfg, "checks.dkim"); err != nil {
		return nil, err
	}
	outcomes, err := check.Outcomes(check.Field(node, "outcomes"), "checks.dkim.outcomes", "a DKIM result", cfg.Outcomes, defaultOutcomes)
	if err != nil {
		return nil, err
	}
	return &Checker{outcomes: outcomes, dns: env.DNS}, nil
}

// Name implements check.Check.
func (c *Checker) Name() string { return "dkim" }

// Stages implements check.Check.
func (c *Checker) Stages() check.StageMask { return check.Stages(check.EOM) }

// Close implements check.Check.
func (c *Checker) Close() error { return nil }

// Run implements check.Check.
func (c *Checker) Run(ctx context.Context, m *check.Message, _ check.Stage) (check.Result, error) {
	if c.dns == nil {
		return check.Result{}, errors.New("no DNS resolver")
	}
	sigs := Verify(ctx, c.dns.ForMessage(m), m)
	m.SetState(StateKey, sigs)
	var res check.Result
	if len(sigs) == 0 {
		results.WithLabelValues(string(authres.ResultNone)).Inc()
		c.outcomes[authres.ResultNone].Apply(&res, symbols[authres.ResultNone], "no signature", check.Reply{}, "no DKIM signature")
		res.AuthResults = append(res.AuthResults, &authres.DKIMResult{Value: authres.ResultNone})
		return res, nil
	}
	for _, s := range sigs {
		results.WithLabelValues(string(s.Result)).Inc()
		detail := fmt.Sprintf("d=%s s=%s c=%s", s.Domain, s.Selector, s.Canon)
		ar := &authres.DKIMResult{Value: s.Result, Domain: s.Domain, Identifier: s.Identifier}
		if s.Err != nil {
			detail += ": " + s.Err.Error()
			ar.Reason = s.Err.Error()
		}
		c.outcomes[s.Result].Apply(&res, symbols[s.Result], detail, check.Reply{}, "DKIM "+string(s.Result)+" for "+s.Domain)
		res.AuthResults = append(res.AuthResults, ar)
	}
	return res, nil
}
