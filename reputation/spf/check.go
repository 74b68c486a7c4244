package spf

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"blitiri.com.ar/go/spf"
	"github.com/emersion/go-msgauth/authres"
	"github.com/mamori-mail/mamori/rules/check"
	"gopkg.in/yaml.v3"
)

// Config is the spf check's section (checks.spf). The common keys
// enabled, timeout and on_error are the engine's.
type Config struct {
	// Outcomes map each SPF result to a score or an action. Defaults:
	// pass -0.5, fail 3, softfail 1, neutral 0, none 0, temperror 0,
	// permerror 0.5. "fail: reject" refuses at MAIL FROM, as
	// policyd-spf does; most sites leave that to DMARC.
	Outcomes map[string]check.Outcome `yaml:"outcomes"`
	// FailReply is the reply when the outcome of fail is reject. Default
	// "550 5.7.23 SPF check failed for {domain}" (RFC 7372).
	FailReply string `yaml:"fail_reply"`
	// CheckAuthenticated checks SASL-authenticated clients too. Default
	// false: their mail is submission, which SPF does not describe.
	CheckAuthenticated bool `yaml:"check_authenticated"`
	// CheckLocal checks loopback and private clients too. Default false:
	// internal relays are not in public SPF records.
	CheckLocal bool `yaml:"check_local"`
}

var defaultOutcomes = map[spf.Result]check.Outcome{
	spf.Pass: check.Score(-0.5), spf.Fail: check.Score(3), spf.SoftFail: check.Score(1),
	spf.Neutral: {}, spf.None: {}, spf.TempError: {}, spf.PermError: check.Score(0.5),
}

// DefaultFailReply uses RFC 7372's code for a failed SPF check.
const DefaultFailReply = "550 5.7.23 SPF check failed for {domain}"

func init() {
	var syms []string
	for _, s := range symbols {
		syms = append(syms, s)
	}
	check.Register(check.Registration{Name: "spf", Factory: factory, DefaultOn: false, FailurePolicy: check.FailContinue, Symbols: syms})
}

// Checker is the SPF check.
type Checker struct {
	outcomes map[spf.Result]check.Outcome
	reply    string
	authed   bool
	local    bool
	dns      check.DNS
}

var _ check.Check = (*Checker)(nil)

func factory(node *yaml.Node, env check.Env) (check.Check, error) {
	var cfg Config
	if err := check.DecodeStrict(node, &cfg, "checks.spf"); err != nil {
		return nil, err
	}
	outcomes, err := check.Outcomes(check.Field(node, "outcomes"), "checks.spf.outcomes", "an SPF result", cfg.Outcomes, defaultOutcomes)
	c := &Checker{outcomes: outcomes, reply: cfg.FailReply, authed: cfg.CheckAuthenticated, local: cfg.CheckLocal, dns: env.DNS}
	var errs []error
	if err != nil {
		errs = append(errs, err)
	}
	if c.reply == "" {
		c.reply = DefaultFailReply
	}
	if r, err := check.ParseReply(strings.ReplaceAll(c.reply, "{domain}", "example.com")); err != nil || r.Code/100 != 5 {
		errs = append(errs, check.Errorf(check.Field(node, "fail_reply"), "checks.spf.fail_reply", "%q must be a 5xx reply", c.reply))
	}
	return c, errors.Join(errs...)
}

// Name implements check.Check.
func (c *Checker) Name() string { return "spf" }

// Stages implements check.Check.
func (c *Checker) Stages() check.StageMask { return check.Stages(check.MailFrom) }

// Close implements check.Check.
func (c *Checker) Close() error { return nil }

// Symbols by result.
var symbols = map[spf.Result]string{
	spf.Pass: "SPF_PASS", spf.Fail: "SPF_FAIL", spf.SoftFail: "SPF_SOFTFAIL", spf.Neutral: "SPF_NEUTRAL",
	spf.None: "SPF_NONE", spf.TempError: "SPF_TEMPERROR", spf.PermError: "SPF_PERMERROR",
}

// Run implements check.Check.
func (c *Checker) Run(ctx context.Context, m *check.Message, _ check.Stage) (check.Result, error) {
	var res check.Result
	if m.AuthUser != "" && !c.authed {
		return res, nil
	}
	if why := check.LocalClient(m.ClientIP); why != "" && (!c.local || !m.ClientIP.IsValid()) {
		return res, nil
	}
	if c.dns == nil {
		return res, errors.New("no DNS resolver")
	}
	r := Evaluate(ctx, c.dns.ForMessage(m), m.ClientIP, m.Helo, m.Sender)
	m.SetState(StateKey, r)
	results.WithLabelValues(string(r.Result)).Inc()
	detail := r.Domain
	if r.Err != nil {
		detail += ": " + r.Err.Error()
	}
	reply, _ := check.ParseReply(strings.ReplaceAll(c.reply, "{domain}", r.Domain))
	c.outcomes[r.Result].Apply(&res, symbols[r.Result], detail, reply, fmt.Sprintf("SPF %s for %s", r.Result, r.Domain))
	ar := &authres.SPFResult{Value: authres.ResultValue(r.Result), From: r.Domain}
	if r.Helo {
		ar.From, ar.Helo = "", r.Domain
	}
	res.AuthResults = append(res.AuthResults, ar)
	return res, nil
}
