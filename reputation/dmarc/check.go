package dmarc

import (
	"context"
	"errors"
	"math/rand/v2"
	"strings"

	"github.com/emersion/go-msgauth/authres"
	msgdmarc "github.com/emersion/go-msgauth/dmarc"
	"github.com/mamori-mail/mamori/reputation/dkim"
	"github.com/mamori-mail/mamori/reputation/spf"
	"github.com/mamori-mail/mamori/rules/check"
	"gopkg.in/yaml.v3"
)

// Config is the dmarc check's section (checks.dmarc). The common keys
// enabled, timeout and on_error are the engine's.
type Config struct {
	// Reject is what a failing message does under p=reject: reject (the
	// default), quarantine, or a score.
	Reject *check.Outcome `yaml:"reject"`
	// Quarantine is what it does under p=quarantine: a score (default 6,
	// enough to mark it as spam) or quarantine to hold it for review.
	Quarantine *check.Outcome `yaml:"quarantine"`
	// None is the score of a failure under p=none (monitoring). Default 0.
	None *check.Outcome `yaml:"none"`
	// Pass is the outcome of a pass. Default 0 (SPF and DKIM already
	// scored theirs).
	Pass *check.Outcome `yaml:"pass"`
	// RejectReply is the reply for a reject; {domain} is the From domain.
	// Default "550 5.7.1 Message rejected by DMARC policy of {domain}".
	RejectReply string `yaml:"reject_reply"`
	// CheckAuthenticated and CheckLocal evaluate submissions and mail from
	// loopback or private clients too. Default false: DMARC judges mail
	// arriving from the Internet.
	CheckAuthenticated bool `yaml:"check_authenticated"`
	CheckLocal         bool `yaml:"check_local"`
}

// DefaultRejectReply is the reply for a DMARC reject.
const DefaultRejectReply = "550 5.7.1 Message rejected by DMARC policy of {domain}"

// Priority: after dkim (default priority) at end of message.
const Priority = 200

func init() {
	check.Register(check.Registration{Name: "dmarc", Factory: factory, FailurePolicy: check.FailContinue, Symbols: []string{
		"DMARC_PASS", "DMARC_FAIL_REJECT", "DMARC_FAIL_QUARANTINE", "DMARC_FAIL_NONE", "DMARC_NONE", "DMARC_TEMPERROR", "DMARC_PERMERROR"}})
}

// Checker is the DMARC check.
type Checker struct {
	reject, quarantine, none, pass check.Outcome
	reply                          string
	authed, local                  bool
	dns                            check.DNS
	sample                         Sampler
}

var _ check.Check = (*Checker)(nil)

func factory(node *yaml.Node, env check.Env) (check.Check, error) {
	var cfg Config
	if err := check.DecodeStrict(node, &cfg, "checks.dmarc"); err != nil {
		return nil, err
	}
	c := &Checker{reject: check.Reject, quarantine: check.Score(6), reply: cfg.RejectReply,
		authed: cfg.CheckAuthenticated, local: cfg.CheckLocal, dns: env.DNS,
		sample: func(pct int) bool { return rand.IntN(100) < pct }}
	for _, o := range []struct {
		dst *check.Outcome
		src *check.Outcome
	}{{&c.reject, cfg.Reject}, {&c.quarantine, cfg.Quarantine}, {&c.none, cfg.None}, {&c.pass, cfg.Pass}} {
		if o.src != nil {
			*o.dst = *o.src
		}
	}
	if c.reply == "" {
		c.reply = DefaultRejectReply
	}
	if r, err := check.ParseReply(strings.ReplaceAll(c.reply, "{domain}", "example.com")); err != nil || r.Code/100 != 5 {
		return nil, check.Errorf(check.Field(node, "reject_reply"), "checks.dmarc.reject_reply", "%q must be a 5xx reply", c.reply)
	}
	return c, nil
}

// Name implements check.Check.
func (c *Checker) Name() string { return "dmarc" }

// Stages implements check.Check.
func (c *Checker) Stages() check.StageMask { return check.Stages(check.EOM) }

// Priority implements check.Prioritized.
func (c *Checker) Priority() int { return Priority }

// Close implements check.Check.
func (c *Checker) Close() error { return nil }

// Run implements check.Check.
func (c *Checker) Run(ctx context.Context, m *check.Message, _ check.Stage) (check.Result, error) {
	var res check.Result
	if m.AuthUser != "" && !c.authed {
		return res, nil
	}
	if check.LocalClient(m.ClientIP) != "" && (!c.local || !m.ClientIP.IsValid()) {
		return res, nil
	}
	if c.dns == nil {
		return res, errors.New("no DNS resolver")
	}
	var spfRes *spf.Result
	if r, ok := m.GetState(spf.StateKey).(spf.Result); ok {
		spfRes = &r
	}
	sigs, _ := m.GetState(dkim.StateKey).([]dkim.Signature)
	ev := Evaluate(ctx, c.dns.ForMessage(m), m, spfRes, sigs, c.sample)
	results.WithLabelValues(string(ev.Result), string(ev.Policy)).Inc()

	ar := &authres.DMARCResult{Value: ev.Result, From: ev.From}
	if ev.Requested != "" {
		ar.Reason = "p=" + string(ev.Requested)
	}
	res.AuthResults = append(res.AuthResults, ar)
	detail := ev.From
	switch ev.Result {
	case authres.ResultPass:
		via := "dkim"
		if !ev.DKIMAligned {
			via = "spf"
		}
		c.pass.Apply(&res, "DMARC_PASS", detail+" (aligned "+via+")", check.Reply{}, "")
	case authres.ResultFail:
		reason := "DMARC policy " + string(ev.Requested) + " of " + ev.From
		if ev.Policy != ev.Requested {
			detail += " (pct sampled " + string(ev.Requested) + " down to " + string(ev.Policy) + ")"
		}
		reply, _ := check.ParseReply(strings.ReplaceAll(c.reply, "{domain}", ev.From))
		switch ev.Policy {
		case msgdmarc.PolicyReject:
			c.reject.Apply(&res, "DMARC_FAIL_REJECT", detail, reply, reason)
		case msgdmarc.PolicyQuarantine:
			c.quarantine.Apply(&res, "DMARC_FAIL_QUARANTINE", detail, reply, reason)
		default:
			c.none.Apply(&res, "DMARC_FAIL_NONE", detail, reply, reason)
		}
	case authres.ResultNone:
		res.Add("DMARC_NONE", 0, detail+": no policy")
	case authres.ResultTempError:
		res.Add("DMARC_TEMPERROR", 0, detail+": "+ev.Err.Error())
	default:
		res.Add("DMARC_PERMERROR", 0, strings.TrimPrefix(detail+": ", ": ")+ev.Err.Error())
	}
	return res, nil
}
