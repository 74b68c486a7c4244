package ratelimit

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/mamori-mail/mamori/internal/redisclient"
	"github.com/mamori-mail/mamori/rules/check"
	"gopkg.in/yaml.v3"
)

// DefaultReply answers a refusal.
const DefaultReply = "450 4.7.1 Rate limit {limit} exceeded, try again in {retry}"

// DefaultTimeout bounds one decision: Redis answers within a millisecond
// when it is well, so waiting longer only delays mail when it is not.
const DefaultTimeout = 500 * time.Millisecond

// refundTimeout bounds giving quota back after a refused message. The
// refund is made before the session goes on, so that the client's next
// attempt sees the quota; while Redis is known to be down it fails at once.
const refundTimeout = 500 * time.Millisecond

// Priority: after every other check of a stage, so that a command another
// check refuses is never charged (the engine stops a stage at a refusal).
const Priority = 900

func init() {
	check.Register(check.Registration{Name: "ratelimit", Factory: factory, FailurePolicy: check.FailContinue, Timeout: DefaultTimeout})
}

// processMemory is the in-process store. It lives as long as the process,
// not the pipeline, so that a reload keeps the counters.
var processMemory = NewMemory(0)

// Checker is the rate-limit check.
type Checker struct {
	lim      *Limiter
	readOnly bool
	log      *slog.Logger
}

var _ check.Check = (*Checker)(nil)

func factory(node *yaml.Node, env check.Env) (check.Check, error) {
	var cfg Config
	if err := check.DecodeStrict(node, &cfg, "checks.ratelimit"); err != nil {
		return nil, err
	}
	lim, err := cfg.compile(node)
	if err != nil {
		return nil, err
	}
	log := env.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.Redis != nil {
		client, err := redisclient.New(cfg.Redis)
		if err != nil {
			return nil, check.Errorf(check.Field(node, "redis"), "checks.ratelimit.redis", "%v", err)
		}
		lim.Store = NewRedis(client, log)
		lim.KeyPrefix = cfg.Redis.Prefix()
	} else {
		processMemory.SetMaxKeys(cfg.MemoryMaxKeys)
		lim.Store = processMemory
		backendUp.WithLabelValues("memory").Set(1)
	}
	return &Checker{lim: lim, readOnly: env.ReadOnly, log: log}, nil
}

// New returns a check on a store of the caller's (tests, benchmarks).
func New(lim *Limiter, log *slog.Logger) *Checker {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Checker{lim: lim, log: log}
}

// Name implements check.Check.
func (c *Checker) Name() string { return "ratelimit" }

// Stages implements check.Check.
func (c *Checker) Stages() check.StageMask { return check.Stages(check.MailFrom, check.Rcpt) }

// Priority implements check.Prioritized.
func (c *Checker) Priority() int { return Priority }

// Close implements check.Check.
func (c *Checker) Close() error { return c.lim.Store.Close() }

// txState is what one transaction was charged.
type txState struct {
	// charged are the requests taken at MAIL FROM: every messages limit,
	// and every recipients limit for the first recipient.
	charged []Request
	// rcpt are the recipients limits with cost 1, charged again from the
	// second accepted recipient on.
	rcpt []Planned
	// rcptCharged is how many recipients the recipients limits were
	// charged for.
	rcptCharged int
}

const stateKey = "ratelimit"

// Run implements check.Check.
func (c *Checker) Run(ctx context.Context, m *check.Message, st check.Stage) (check.Result, error) {
	switch st {
	case check.MailFrom:
		return c.mailFrom(ctx, m)
	case check.Rcpt:
		return c.rcptTo(ctx, m)
	}
	return check.Result{}, nil
}

func (c *Checker) mode() Mode {
	if c.readOnly {
		return Peek
	}
	return Take
}

// mailFrom decides every limit at once: the messages limits, and the
// recipients limits for the first recipient, so that a sender with no
// quota left hears so at MAIL FROM and one-recipient mail (most of it)
// costs one round trip.
func (c *Checker) mailFrom(ctx context.Context, m *check.Message) (check.Result, error) {
	f := FactsOf(m)
	if why := c.lim.Exempt.Match(f); why != "" {
		exempted.WithLabelValues(why).Inc()
		return check.Result{}, nil
	}
	ts := &txState{rcpt: c.lim.Plan(f, Recipients, 1)}
	m.SetState(stateKey, ts)
	plan := append(c.lim.Plan(f, Messages, 1), ts.rcpt...)
	ok, denied, err := c.lim.Decide(ctx, c.mode(), plan)
	if err != nil {
		return check.Result{}, err
	}
	if !ok {
		return c.refusal(denied, false), nil
	}
	if c.mode() == Take && len(plan) > 0 {
		for _, p := range plan {
			ts.charged = append(ts.charged, p.Req)
		}
		ts.rcptCharged = 1
		m.OnDone(func() { c.settle(m, ts) })
	}
	return check.Result{}, nil
}

// rcptTo charges the recipients limits from the second recipient on (the
// first was charged at MAIL FROM).
func (c *Checker) rcptTo(ctx context.Context, m *check.Message) (check.Result, error) {
	ts, _ := m.GetState(stateKey).(*txState)
	if ts == nil || len(ts.rcpt) == 0 || len(m.Recipients) <= ts.rcptCharged {
		return check.Result{}, nil
	}
	ok, denied, err := c.lim.Decide(ctx, c.mode(), ts.rcpt)
	if err != nil {
		return check.Result{}, err
	}
	if !ok {
		return c.refusal(denied, true), nil
	}
	if c.mode() == Take {
		if ts.rcptCharged == 0 {
			// MAIL FROM failed to charge (store down): this is the first.
			for _, p := range ts.rcpt {
				ts.charged = append(ts.charged, p.Req)
			}
			m.OnDone(func() { c.settle(m, ts) })
		}
		ts.rcptCharged++
	}
	return check.Result{}, nil
}

// refusal builds the tempfail. The reply names the limit that makes the
// client wait longest; the symbols and the reason name every one.
func (c *Checker) refusal(denied []Denial, rcpt bool) check.Result {
	var res check.Result
	worst := denied[0]
	var reasons []string
	for _, d := range denied {
		if d.RetryAfter > worst.RetryAfter {
			worst = d
		}
		res.Add(symbolOf(d.Limit), 0,
			fmt.Sprintf("%s %s: %s; retry in %s", d.Limit.Key, d.Value, d.Req.Rate, d.RetryAfter.Round(time.Second)))
		reasons = append(reasons, fmt.Sprintf("limit %s (%d %s per %s) reached for %s %s",
			d.Limit.Name, d.Req.Rate.Count, d.Limit.Count, d.Req.Rate.Period, d.Limit.Key, d.Value))
	}
	reply, _ := check.ParseReply(fillReply(worst.Limit.Reply, worst.Limit.Name, worst.RetryAfter))
	res.Decision = &check.Decision{Action: check.ActTempfail, Reply: reply, Reason: strings.Join(reasons, "; "), Recipient: rcpt}
	return res
}

// settle gives back what a transaction was charged and did not use: all of
// it when the message was not accepted, else the recipients charged for
// but refused later.
func (c *Checker) settle(m *check.Message, ts *txState) {
	var back []Request
	for _, r := range ts.charged {
		isRcpt := false
		for _, p := range ts.rcpt {
			if p.Req.Key == r.Key {
				isRcpt = true
			}
		}
		switch {
		case !m.Accepted && isRcpt:
			r.Cost = ts.rcptCharged
		case !m.Accepted:
			r.Cost = 1
		case isRcpt:
			r.Cost = ts.rcptCharged - len(m.Recipients)
		default:
			r.Cost = 0
		}
		if r.Cost > 0 {
			back = append(back, r)
		}
	}
	if len(back) == 0 {
		return
	}
	// Synchronous: a client that retries at once (or sends its next
	// message on the same connection) must find the quota back.
	ctx, cancel := context.WithTimeout(context.Background(), refundTimeout)
	defer cancel()
	if _, err := c.lim.Store.Apply(ctx, Refund, back); err != nil {
		refunds.WithLabelValues("error").Inc()
		c.log.Debug("giving back rate-limit quota failed", "err", err)
		return
	}
	refunds.WithLabelValues("ok").Inc()
}

// Symbols implements check.SymbolLister: RATELIMIT_<NAME> of each limit.
func (c *Checker) Symbols() []string {
	var out []string
	for _, l := range c.lim.Limits {
		out = append(out, symbolOf(l))
	}
	return out
}

func symbolOf(l *Limit) string { return "RATELIMIT_" + strings.ToUpper(l.Name) }
