package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/mamori-mail/mamori/internal/redisclient"
	"github.com/mamori-mail/mamori/rules/check"
	"gopkg.in/yaml.v3"
)

// Config is the ratelimit check's section (checks.ratelimit). The common
// keys enabled, timeout and on_error are the engine's; on_error defaults to
// continue (mail flows while the store is down) and timeout to 500ms.
type Config struct {
	// Redis, when set, keeps the counters in Redis, shared by every Mamori
	// instance that points at it. Without it they are kept in this process
	// (exact for one instance; lost at a restart, kept across reloads).
	Redis *redisclient.Config `yaml:"redis"`
	// MemoryMaxKeys bounds the in-process store. Default 1000000.
	MemoryMaxKeys int `yaml:"memory_max_keys"`
	// Exempt lists clients, users and domains no limit applies to.
	Exempt ExemptConfig `yaml:"exempt"`
	// Limits are the limits; every one that applies to a message is
	// decided at once.
	Limits []LimitConfig `yaml:"limits"`
	// LimitsFile is a YAML file with more limits and exemptions (keys
	// limits and exempt, as here), read at start and at every reload; for
	// long override lists kept apart from mamori.yaml.
	LimitsFile string `yaml:"limits_file"`
}

// ExemptConfig lists what no limit applies to. Envelope sender domains are
// forgeable: exempt a domain only where the client is trusted too.
type ExemptConfig struct {
	// ClientIPs are addresses or networks (CIDR), IPv4 or IPv6.
	ClientIPs []string `yaml:"client_ips"`
	// Users are SASL logins.
	Users []string `yaml:"users"`
	// SenderDomains are envelope sender domains; ".example.org" matches
	// subdomains only.
	SenderDomains []string `yaml:"sender_domains"`
}

// LimitConfig is one limit.
type LimitConfig struct {
	// Name identifies the limit in replies, symbols (RATELIMIT_<NAME>),
	// metrics and Redis keys: lower-case letters, digits and _.
	Name string `yaml:"name"`
	// Key is what the limit counts per: sender (envelope sender address),
	// sender_domain, user (SASL login) or client_ip.
	Key string `yaml:"key"`
	// Count is messages (one per transaction, decided at MAIL FROM) or
	// recipients (one per accepted RCPT TO). Default messages.
	Count string `yaml:"count"`
	// Rate is how many per period. Required.
	Rate int `yaml:"rate"`
	// Period is the period, such as 1h or 24h. Required.
	Period check.Duration `yaml:"period"`
	// Burst is how many may go at once. Default: rate.
	Burst int `yaml:"burst"`
	// IPv4Prefix and IPv6Prefix group client addresses (key client_ip).
	// Defaults 32 (each address) and 64 (a customer's usual allocation).
	IPv4Prefix *int `yaml:"ipv4_prefix"`
	IPv6Prefix *int `yaml:"ipv6_prefix"`
	// Reply is the SMTP reply, a 4xx; {limit} becomes the name and {retry}
	// the wait ("72 seconds"). Default
	// "450 4.7.1 Rate limit {limit} exceeded, try again in {retry}".
	Reply string `yaml:"reply"`
	// Overrides give some keys another rate, or none.
	Overrides []OverrideConfig `yaml:"overrides"`
}

// OverrideConfig changes one key's rate.
type OverrideConfig struct {
	// Match is the key value: an address, a domain or a login; for
	// client_ip an address or a network (the longest match wins).
	Match string `yaml:"match"`
	// Rate, Period and Burst replace the limit's; unset ones are kept
	// (burst follows a new rate unless set).
	Rate   int            `yaml:"rate"`
	Period check.Duration `yaml:"period"`
	Burst  int            `yaml:"burst"`
	// Unlimited exempts the key from this limit.
	Unlimited bool `yaml:"unlimited"`
}

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
			return nil, check.Errorf(child(node, "redis"), "checks.ratelimit.redis", "%v", err)
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

var nameRE = regexp.MustCompile(`^[a-z0-9_]{1,64}$`)

// compile validates the section (and the limits file) and builds the
// limiter without a store. Every problem is reported, each with its line.
func (c *Config) compile(node *yaml.Node) (*Limiter, error) {
	var errs []error
	if c.Redis != nil {
		errs = append(errs, c.Redis.Validate(child(node, "redis"), "checks.ratelimit.redis"))
	}
	if c.MemoryMaxKeys < 0 {
		errs = append(errs, check.Errorf(child(node, "memory_max_keys"), "checks.ratelimit.memory_max_keys", "must not be negative"))
	}
	lim := &Limiter{}
	seen := map[string]bool{}
	add := func(file string, ex ExemptConfig, exNode *yaml.Node, limits []LimitConfig, limitNodes []*yaml.Node, path string) {
		located := func(err error) error {
			if file == "" || err == nil {
				return err
			}
			var out []error
			for _, e := range flatten(err) {
				var ce *check.ConfigError
				if errors.As(e, &ce) {
					cc := *ce
					cc.File = file
					e = &cc
				}
				out = append(out, e)
			}
			return errors.Join(out...)
		}
		errs = append(errs, located(ex.compile(&lim.Exempt, exNode, path+"exempt")))
		for i, lc := range limits {
			n := nodeAt(limitNodes, i)
			p := fmt.Sprintf("%slimits[%d]", path, i)
			if seen[lc.Name] {
				errs = append(errs, located(check.Errorf(child(n, "name"), p+".name", "limit %q is defined twice", lc.Name)))
				continue
			}
			seen[lc.Name] = true
			l, err := lc.compile(n, p)
			if err != nil {
				errs = append(errs, located(err))
				continue
			}
			lim.Limits = append(lim.Limits, l)
		}
	}
	add("", c.Exempt, child(node, "exempt"), c.Limits, seq(child(node, "limits")), "checks.ratelimit.")
	if c.LimitsFile != "" {
		file, fnode, err := readLimitsFile(c.LimitsFile)
		if err != nil {
			errs = append(errs, check.Errorf(child(node, "limits_file"), "checks.ratelimit.limits_file", "%v", err))
		} else {
			add(c.LimitsFile, file.Exempt, child(fnode, "exempt"), file.Limits, seq(child(fnode, "limits")), "")
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if len(lim.Limits) == 0 {
		return nil, check.Errorf(node, "checks.ratelimit", "no limits configured: add at least one under limits, e.g. {name: sender, key: sender, rate: 100, period: 1h}")
	}
	return lim, nil
}

// limitsFile is the content of limits_file.
type limitsFile struct {
	Exempt ExemptConfig  `yaml:"exempt"`
	Limits []LimitConfig `yaml:"limits"`
}

func readLimitsFile(path string) (limitsFile, *yaml.Node, error) {
	var f limitsFile
	b, err := os.ReadFile(path)
	if err != nil {
		return f, nil, err
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		ce := check.LineError(err.Error(), "")
		ce.File = path
		return f, nil, ce
	}
	if len(doc.Content) == 0 {
		return f, nil, nil
	}
	root := doc.Content[0]
	if err := check.DecodeStrict(root, &f, ""); err != nil {
		var out []error
		for _, e := range flatten(err) {
			var ce *check.ConfigError
			if errors.As(e, &ce) {
				ce.File = path
			}
			out = append(out, e)
		}
		return f, nil, errors.Join(out...)
	}
	return f, root, nil
}

func (ex ExemptConfig) compile(out *Exemptions, node *yaml.Node, path string) error {
	var errs []error
	for i, s := range ex.ClientIPs {
		p, err := parsePrefix(s)
		if err != nil {
			errs = append(errs, check.Errorf(nodeAt(seq(child(node, "client_ips")), i), fmt.Sprintf("%s.client_ips[%d]", path, i), "%v", err))
			continue
		}
		out.ClientIPs = append(out.ClientIPs, p)
	}
	for _, u := range ex.Users {
		if out.Users == nil {
			out.Users = map[string]bool{}
		}
		out.Users[strings.ToLower(u)] = true
	}
	for i, d := range ex.SenderDomains {
		d = strings.ToLower(strings.TrimSuffix(d, "."))
		if d == "" || d == "." || strings.ContainsAny(d, "@ ") {
			errs = append(errs, check.Errorf(nodeAt(seq(child(node, "sender_domains")), i), fmt.Sprintf("%s.sender_domains[%d]", path, i), "%q is not a domain", ex.SenderDomains[i]))
			continue
		}
		out.SenderDomains = append(out.SenderDomains, d)
	}
	return errors.Join(errs...)
}

func (lc *LimitConfig) compile(node *yaml.Node, path string) (*Limit, error) {
	var errs []error
	bad := func(key, format string, args ...any) {
		n := child(node, key)
		if n == nil {
			n = node
		}
		errs = append(errs, check.Errorf(n, path+"."+key, format, args...))
	}
	l := &Limit{Name: lc.Name, Reply: lc.Reply, V4Prefix: 32, V6Prefix: 64}
	if !nameRE.MatchString(lc.Name) {
		bad("name", "%q: a name is 1 to 64 lower-case letters, digits and _", lc.Name)
	}
	switch lc.Key {
	case "sender":
		l.Key = KeySender
	case "sender_domain":
		l.Key = KeySenderDomain
	case "user":
		l.Key = KeyUser
	case "client_ip":
		l.Key = KeyClientIP
	default:
		bad("key", "%q: want sender, sender_domain, user or client_ip", lc.Key)
	}
	switch lc.Count {
	case "", "messages":
	case "recipients":
		l.Count = Recipients
	default:
		bad("count", "%q: want messages or recipients", lc.Count)
	}
	l.Rate = Rate{Count: lc.Rate, Period: lc.Period.D(), Burst: lc.Burst}
	if l.Rate.Burst == 0 {
		l.Rate.Burst = lc.Rate
	}
	switch {
	case lc.Rate <= 0:
		bad("rate", "must be a positive number of %s per period", l.Count)
	case lc.Period <= 0:
		bad("period", "must be a positive duration such as 1h")
	case lc.Burst < 0:
		bad("burst", "must not be negative")
	default:
		if err := l.Rate.Valid(); err != nil {
			bad("rate", "%v", err)
		}
	}
	if lc.IPv4Prefix != nil || lc.IPv6Prefix != nil {
		if l.Key != KeyClientIP {
			bad("ipv4_prefix", "ipv4_prefix and ipv6_prefix are for key client_ip")
		}
		if lc.IPv4Prefix != nil {
			l.V4Prefix = *lc.IPv4Prefix
		}
		if lc.IPv6Prefix != nil {
			l.V6Prefix = *lc.IPv6Prefix
		}
		if l.V4Prefix < 8 || l.V4Prefix > 32 {
			bad("ipv4_prefix", "must be 8 to 32")
		}
		if l.V6Prefix < 16 || l.V6Prefix > 128 {
			bad("ipv6_prefix", "must be 16 to 128")
		}
	}
	if l.Reply == "" {
		l.Reply = DefaultReply
	}
	if r, err := check.ParseReply(fillReply(l.Reply, "x", time.Second)); err != nil {
		bad("reply", "%v", err)
	} else if r.Code/100 != 4 {
		bad("reply", "must be a 4xx reply: a rate limit asks the client to come back later, it does not bounce the mail")
	}
	onodes := seq(child(node, "overrides"))
	for i, oc := range lc.Overrides {
		n := nodeAt(onodes, i)
		op := fmt.Sprintf("%s.overrides[%d]", path, i)
		o := override{rate: l.Rate, unlimited: oc.Unlimited}
		if oc.Rate > 0 {
			o.rate.Count, o.rate.Burst = oc.Rate, oc.Rate
		}
		if oc.Period > 0 {
			o.rate.Period = oc.Period.D()
		}
		if oc.Burst > 0 {
			o.rate.Burst = oc.Burst
		}
		if oc.Rate < 0 || oc.Burst < 0 || oc.Period < 0 {
			errs = append(errs, check.Errorf(n, op, "rate, period and burst must not be negative"))
			continue
		}
		if !oc.Unlimited && oc.Rate == 0 && oc.Period == 0 && oc.Burst == 0 {
			errs = append(errs, check.Errorf(n, op, "set rate, period, burst or unlimited: true"))
			continue
		}
		if err := o.rate.Valid(); err != nil && !o.unlimited && l.Rate.Valid() == nil {
			errs = append(errs, check.Errorf(n, op, "%v", err))
			continue
		}
		m := strings.ToLower(strings.TrimSpace(oc.Match))
		if m == "" {
			errs = append(errs, check.Errorf(n, op+".match", "is required"))
			continue
		}
		if l.Key == KeyClientIP {
			p, err := parsePrefix(m)
			if err != nil {
				errs = append(errs, check.Errorf(child(n, "match"), op+".match", "%v", err))
				continue
			}
			l.prefixes = append(l.prefixes, prefixOverride{p, o})
			continue
		}
		if l.exact == nil {
			l.exact = map[string]override{}
		}
		l.exact[m] = o
	}
	// Longest prefix first, so that the first match is the most specific.
	for i := 1; i < len(l.prefixes); i++ {
		for j := i; j > 0 && l.prefixes[j].prefix.Bits() > l.prefixes[j-1].prefix.Bits(); j-- {
			l.prefixes[j], l.prefixes[j-1] = l.prefixes[j-1], l.prefixes[j]
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return l, nil
}

func parsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return p, fmt.Errorf("%q is not an address or network", s)
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%q is not an address or network", s)
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// fillReply fills a reply template. The wait is given in whole seconds,
// rounded up, which clients and people both read without ambiguity.
func fillReply(tmpl, limit string, retry time.Duration) string {
	secs := max(int64((retry+time.Second-1)/time.Second), 1)
	wait := strconv.FormatInt(secs, 10) + " seconds"
	if secs == 1 {
		wait = "1 second"
	}
	return strings.NewReplacer("{limit}", limit, "{retry}", wait).Replace(tmpl)
}

// Name implements check.Check.
func (c *Checker) Name() string { return "ratelimit" }

// Stages implements check.Check.
func (c *Checker) Stages() check.StageMask { return check.Stages(check.MailFrom, check.Rcpt) }

// Priority implements check.Prioritized.
func (c *Checker) Priority() int { return Priority }

// Close implements check.Check.
func (c *Checker) Close() error { return c.lim.Store.Close() }

// Limiter returns the check's limiter.
func (c *Checker) Limiter() *Limiter { return c.lim }

// txState is what one transaction was charged.
type txState struct {
	facts Facts
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
	ts := &txState{facts: f, rcpt: c.lim.Plan(f, Recipients, 1)}
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
		res.Add("RATELIMIT_"+strings.ToUpper(d.Limit.Name), 0,
			fmt.Sprintf("%s %s: %s; retry in %s", d.Limit.Key, d.Value, d.Req.Rate, d.RetryAfter.Round(time.Second)))
		reasons = append(reasons, fmt.Sprintf("limit %s (%s per %s) reached for %s %s", d.Limit.Name, strconv.Itoa(d.Req.Rate.Count)+" "+d.Limit.Count.String(), d.Req.Rate.Period, d.Limit.Key, d.Value))
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

func child(n *yaml.Node, key string) *yaml.Node {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

func seq(n *yaml.Node) []*yaml.Node {
	if n == nil || n.Kind != yaml.SequenceNode {
		return nil
	}
	return n.Content
}

func nodeAt(nodes []*yaml.Node, i int) *yaml.Node {
	if i < len(nodes) {
		return nodes[i]
	}
	return nil
}

func flatten(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, flatten(e)...)
		}
		return out
	}
	return []error{err}
}
