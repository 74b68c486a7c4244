package dnsbl

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"sync"

	"github.com/mamori-mail/mamori/rules/check"
	"gopkg.in/yaml.v3"
)

// Config is the dnsbl check's section (checks.dnsbl). The common keys
// enabled, timeout and on_error are the engine's; on_error defaults to
// continue (a list that does not answer only weakens the score).
type Config struct {
	// Lists are the zones to ask; all at once for each message.
	Lists []ListConfig `yaml:"lists"`
	// CheckAuthenticated looks up SASL-authenticated clients too. Default
	// false: a user submitting from a home or mobile address is not spam.
	CheckAuthenticated bool `yaml:"check_authenticated"`
}

// ListConfig is one zone.
type ListConfig struct {
	// Zone is the list's DNS zone, such as zen.spamhaus.org.
	Zone string `yaml:"zone"`
	// Type is block (a DNSBL; the default) or allow (a DNSWL, whose
	// outcomes are usually negative scores).
	Type string `yaml:"type"`
	// IPv6 asks the list about IPv6 clients too. Default true; turn it off
	// for lists that only know IPv4.
	IPv6 *bool `yaml:"ipv6"`
	// Returns map answers to a symbol and an outcome, each entry with code
	// (127.0.0.2, or a range 127.0.0.4-127.0.0.7) or mask (bits of the
	// answer, 0.0.0.8 or 8). Every matching entry counts.
	Returns []ReturnConfig `yaml:"returns"`
	// Default is the finding for a 127.0.0.0/8 answer no entry matches.
	Default *ReturnConfig `yaml:"default"`
	// Refusals are answers that mean the list refused to answer (quota, or
	// a public resolver); they are errors, never hits. Default
	// 127.255.255.252, 127.255.255.254, 127.255.255.255.
	Refusals []string `yaml:"refusals"`
	// RejectReply is the reply when an outcome is reject. Default
	// "554 5.7.1 Service unavailable; client [{ip}] blocked using {zone}".
	RejectReply string `yaml:"reject_reply"`
}

// ReturnConfig maps answers to a finding.
type ReturnConfig struct {
	Code    string         `yaml:"code"`
	Mask    string         `yaml:"mask"`
	Symbol  string         `yaml:"symbol"`
	Outcome *check.Outcome `yaml:"outcome"`
}

// DefaultRejectReply follows Postfix's reject_rbl_client text, which
// senders' postmasters recognise.
const DefaultRejectReply = "554 5.7.1 Service unavailable; client [{ip}] blocked using {zone}"

var defaultRefusals = []string{"127.255.255.252", "127.255.255.254", "127.255.255.255"}

func init() {
	check.Register(check.Registration{Name: "dnsbl", Factory: factory, FailurePolicy: check.FailContinue})
}

// Checker is the DNSBL check.
type Checker struct {
	lists   []*List
	replies map[*List]string
	authed  bool
	dns     check.DNS
	log     *slog.Logger

	mu      sync.Mutex
	refused map[string]bool // zones currently refusing, for one log line per change
}

var _ check.Check = (*Checker)(nil)

func factory(node *yaml.Node, env check.Env) (check.Check, error) {
	var cfg Config
	if err := check.DecodeStrict(node, &cfg, "checks.dnsbl"); err != nil {
		return nil, err
	}
	c := &Checker{authed: cfg.CheckAuthenticated, dns: env.DNS, log: env.Log, replies: map[*List]string{}, refused: map[string]bool{}}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	var errs []error
	lnode := check.Field(node, "lists")
	for i, lc := range cfg.Lists {
		l, reply, err := lc.Compile(check.Item(lnode, i), fmt.Sprintf("checks.dnsbl.lists[%d]", i))
		if err != nil {
			errs = append(errs, err)
			continue
		}
		c.lists = append(c.lists, l)
		c.replies[l] = reply
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if len(c.lists) == 0 {
		return nil, check.Errorf(node, "checks.dnsbl", "no lists configured: add one under lists, e.g. {zone: bl.example.net, returns: [{code: 127.0.0.2, symbol: RBL_EXAMPLE, outcome: 3}]}")
	}
	return c, nil
}

var symbolRE = regexp.MustCompile(`^[A-Z][A-Z0-9_]{0,63}$`)

// Compile validates one list's settings (every problem, with its line)
// and returns the list and its reject reply template. path names the list
// in errors ("checks.dnsbl.lists[0]").
func (lc *ListConfig) Compile(node *yaml.Node, path string) (*List, string, error) {
	var errs []error
	bad := func(n *yaml.Node, p, format string, args ...any) {
		if n == nil {
			n = node
		}
		errs = append(errs, check.Errorf(n, p, format, args...))
	}
	zone := strings.ToLower(strings.Trim(lc.Zone, "."))
	if zone == "" || strings.ContainsAny(zone, " /@") || !strings.Contains(zone, ".") {
		bad(check.Field(node, "zone"), path+".zone", "%q is not a DNS zone such as zen.spamhaus.org", lc.Zone)
	}
	l := &List{Zone: zone, IPv6: lc.IPv6 == nil || *lc.IPv6}
	switch lc.Type {
	case "", "block":
	case "allow":
		l.Allow = true
	default:
		bad(check.Field(node, "type"), path+".type", "%q: want block or allow", lc.Type)
	}
	rnode := check.Field(node, "returns")
	for i, rc := range lc.Returns {
		r, err := rc.compile(check.Item(rnode, i), fmt.Sprintf("%s.returns[%d]", path, i), false)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		l.Returns = append(l.Returns, r)
	}
	if lc.Default != nil {
		r, err := lc.Default.compile(check.Field(node, "default"), path+".default", true)
		if err != nil {
			errs = append(errs, err)
		} else {
			l.Default = &r
		}
	}
	if len(lc.Returns) == 0 && lc.Default == nil {
		bad(nil, path, "set returns (answer → symbol and outcome) or default, or no answer of %s would count", lc.Zone)
	}
	refusals := lc.Refusals
	if refusals == nil {
		refusals = defaultRefusals
	}
	for i, s := range refusals {
		a, err := netip.ParseAddr(s)
		if err != nil || !a.Is4() {
			bad(check.Item(check.Field(node, "refusals"), i), fmt.Sprintf("%s.refusals[%d]", path, i), "%q is not an IPv4 address", s)
			continue
		}
		l.Refusals = append(l.Refusals, a)
	}
	reply := lc.RejectReply
	if reply == "" {
		reply = DefaultRejectReply
	}
	if r, err := check.ParseReply(fillReply(reply, netip.MustParseAddr("192.0.2.1"), zone)); err != nil || r.Code/100 != 5 {
		bad(check.Field(node, "reject_reply"), path+".reject_reply", "%q must be a 5xx reply", reply)
	}
	return l, reply, errors.Join(errs...)
}

func (rc *ReturnConfig) compile(node *yaml.Node, path string, isDefault bool) (Return, error) {
	var errs []error
	bad := func(key, format string, args ...any) {
		n := check.Field(node, key)
		if n == nil {
			n = node
		}
		errs = append(errs, check.Errorf(n, path+"."+key, format, args...))
	}
	var r Return
	switch {
	case isDefault && (rc.Code != "" || rc.Mask != ""):
		bad("code", "default takes no code or mask: it is for every other answer")
	case isDefault:
	case (rc.Code == "") == (rc.Mask == ""):
		bad("code", "set exactly one of code (127.0.0.2 or 127.0.0.4-127.0.0.7) and mask (0.0.0.8)")
	case rc.Code != "":
		lo, hi, _ := strings.Cut(rc.Code, "-")
		if hi == "" {
			hi = lo
		}
		a, err1 := netip.ParseAddr(strings.TrimSpace(lo))
		b, err2 := netip.ParseAddr(strings.TrimSpace(hi))
		if err1 != nil || err2 != nil || !a.Is4() || !b.Is4() || b.Less(a) || !loopback.Contains(a) || !loopback.Contains(b) {
			bad("code", "%q: want an address in 127.0.0.0/8 or a range low-high", rc.Code)
		}
		r.Low, r.High = a, b
	default:
		m, err := parseMask(rc.Mask)
		if err != nil {
			bad("mask", "%v", err)
		}
		r.Mask = m
	}
	r.Symbol = rc.Symbol
	if !symbolRE.MatchString(rc.Symbol) {
		bad("symbol", "%q: a symbol is upper-case letters, digits and _, such as RBL_SPAMHAUS_SBL", rc.Symbol)
	}
	if rc.Outcome == nil {
		bad("outcome", "is required: a score such as 3 (negative for an allowlist), or reject, quarantine, tempfail")
	} else {
		r.Outcome = *rc.Outcome
	}
	return r, errors.Join(errs...)
}

func parseMask(s string) (uint32, error) {
	if a, err := netip.ParseAddr(s); err == nil && a.Is4() {
		v := a.As4()
		if m := uint32(v[0])<<24 | uint32(v[1])<<16 | uint32(v[2])<<8 | uint32(v[3]); m != 0 {
			return m, nil
		}
	}
	if n, err := strconv.ParseUint(s, 0, 32); err == nil && n != 0 {
		return uint32(n), nil
	}
	return 0, fmt.Errorf("%q: want a non-zero mask such as 0.0.0.8 or 8", s)
}

func fillReply(tmpl string, ip netip.Addr, zone string) string {
	return FillReply(tmpl, ip.String(), zone)
}

// FillReply fills a reject reply template: {ip} is the listed address (or
// domain), {zone} the list.
func FillReply(tmpl, what, zone string) string {
	return strings.NewReplacer("{ip}", what, "{zone}", zone).Replace(tmpl)
}

// Name implements check.Check.
func (c *Checker) Name() string { return "dnsbl" }

// Stages implements check.Check. MAIL FROM, where it is known whether the
// client authenticated; a reject there spares the transaction.
func (c *Checker) Stages() check.StageMask { return check.Stages(check.MailFrom) }

// Close implements check.Check.
func (c *Checker) Close() error { return nil }

// Run implements check.Check.
func (c *Checker) Run(ctx context.Context, m *check.Message, _ check.Stage) (check.Result, error) {
	var res check.Result
	ip := m.ClientIP.Unmap()
	if why := check.LocalClient(ip); why != "" {
		skipped.WithLabelValues(why).Inc()
		return res, nil
	}
	if m.AuthUser != "" && !c.authed {
		skipped.WithLabelValues("authenticated").Inc()
		return res, nil
	}
	if c.dns == nil {
		return res, errors.New("no DNS resolver")
	}
	results := Query(ctx, c.dns.ForMessage(m), ip, c.lists)
	var failed []string
	asked := 0
	for _, lr := range results {
		if ip.Is6() && !lr.List.IPv6 {
			continue
		}
		asked++
		c.noteRefusal(lr)
		lookups.WithLabelValues(lr.List.Zone, resultOf(lr)).Inc()
		if lr.Err != nil {
			failed = append(failed, lr.Err.Error())
			continue
		}
		for _, h := range lr.Hits {
			detail := fmt.Sprintf("%s listed in %s (%s)", ip, lr.List.Zone, h.Answer)
			reply, _ := check.ParseReply(fillReply(c.replies[lr.List], ip, lr.List.Zone))
			h.Return.Outcome.Apply(&res, h.Return.Symbol, detail, reply, "client "+detail)
		}
	}
	if asked > 0 && len(failed) == asked {
		return check.Result{}, fmt.Errorf("every list failed: %s", strings.Join(failed, "; "))
	}
	if len(failed) > 0 {
		res.Add("DNSBL_FAIL", 0, strings.Join(failed, "; "))
	}
	return res, nil
}

func resultOf(lr ListResult) string {
	switch {
	case errors.Is(lr.Err, ErrRefused):
		return "refused"
	case lr.Err != nil:
		return "error"
	case len(lr.Hits) > 0:
		return "listed"
	}
	return "clean"
}

// noteRefusal logs once when a list starts or stops refusing our queries:
// the operator must fix the resolver (or the quota), and a line per
// message would drown that.
func (c *Checker) noteRefusal(lr ListResult) {
	now := errors.Is(lr.Err, ErrRefused)
	if !now && lr.Err != nil {
		return // another failure says nothing about refusal
	}
	c.mu.Lock()
	was := c.refused[lr.List.Zone]
	c.refused[lr.List.Zone] = now
	c.mu.Unlock()
	switch {
	case now && !was:
		c.log.Warn("blocklist refuses our queries; its hits are not counted until it answers", "zone", lr.List.Zone, "err", lr.Err,
			"hint", "query through your own recursive resolver (dns.nameservers), not a public one, and check the list's usage terms")
	case !now && was:
		c.log.Info("blocklist answers again", "zone", lr.List.Zone)
	}
}

// Symbols implements check.SymbolLister: the configured lists' symbols.
func (c *Checker) Symbols() []string { return ListSymbols(c.lists) }

// ListSymbols returns the symbols lists can report (uribl shares it).
func ListSymbols(lists []*List) []string {
	var out []string
	for _, l := range lists {
		for _, r := range l.Returns {
			out = append(out, r.Symbol)
		}
		if l.Default != nil {
			out = append(out, l.Default.Symbol)
		}
	}
	return out
}
