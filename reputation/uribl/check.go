package uribl

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"

	"github.com/mamori-mail/mamori/reputation/dnsbl"
	"github.com/mamori-mail/mamori/rules/check"
	"github.com/mamori-mail/mamori/scanners/mimepart"
	"gopkg.in/yaml.v3"
)

// Config is the uribl check's section (checks.uribl). The common keys
// enabled, timeout and on_error are the engine's.
type Config struct {
	// Lists are the zones to ask, each in the form of a dnsbl list (zone,
	// returns, default, refusals, reject_reply) plus its kind.
	Lists []ListConfig `yaml:"lists"`
	// MaxHosts is how many distinct domains and addresses of one message
	// are looked up; the rest are ignored (URIBL_LIMIT). Default 30.
	MaxHosts int `yaml:"max_hosts"`
	// Exempt are domains never looked up (your own, and big providers
	// whose links are in every newsletter); a listed domain also exempts
	// its subdomains.
	Exempt []string `yaml:"exempt"`
}

// ListConfig is one URI list.
type ListConfig struct {
	dnsbl.ListConfig `yaml:",inline"`
	// Kind is domain (the link's registered domain is looked up: DBL,
	// SURBL) or ip (links to IP addresses, reversed as for a DNSBL).
	// Default domain.
	Kind string `yaml:"kind"`
}

// DefaultRejectReply answers a reject outcome.
const DefaultRejectReply = "554 5.7.1 Message rejected: link to {ip} listed by {zone}"

func init() {
	check.Register(check.Registration{Name: "uribl", Factory: factory, FailurePolicy: check.FailContinue, Symbols: []string{"URIBL_LIMIT"}})
}

type list struct {
	*dnsbl.List
	ip    bool
	reply string
}

// Checker is the URI blocklist check.
type Checker struct {
	lists   []list
	max     int
	exempt  []string
	dns     check.DNS
	content check.ContentLimits
}

var _ check.Check = (*Checker)(nil)

func factory(node *yaml.Node, env check.Env) (check.Check, error) {
	var cfg Config
	if err := check.DecodeStrict(node, &cfg, "checks.uribl"); err != nil {
		return nil, err
	}
	c := &Checker{max: cfg.MaxHosts, dns: env.DNS, content: env.Content}
	if c.max == 0 {
		c.max = 30
	}
	var errs []error
	if cfg.MaxHosts < 0 || cfg.MaxHosts > 1000 {
		errs = append(errs, check.Errorf(check.Field(node, "max_hosts"), "checks.uribl.max_hosts", "must be 1 to 1000"))
	}
	for _, d := range cfg.Exempt {
		c.exempt = append(c.exempt, strings.ToLower(strings.Trim(d, ".")))
	}
	lnode := check.Field(node, "lists")
	for i, lc := range cfg.Lists {
		n := check.Item(lnode, i)
		path := fmt.Sprintf("checks.uribl.lists[%d]", i)
		if lc.RejectReply == "" {
			lc.RejectReply = DefaultRejectReply
		}
		l, reply, err := lc.Compile(n, path)
		switch lc.Kind {
		case "", "domain", "ip":
		default:
			errs = append(errs, check.Errorf(check.Field(n, "kind"), path+".kind", "%q: want domain or ip", lc.Kind))
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		c.lists = append(c.lists, list{List: l, ip: lc.Kind == "ip", reply: reply})
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if len(c.lists) == 0 {
		return nil, check.Errorf(node, "checks.uribl", "no lists configured: add one under lists, e.g. {zone: dbl.example.net, returns: [{code: 127.0.1.2, symbol: URIBL_EXAMPLE, outcome: 5}]}")
	}
	return c, nil
}

// Name implements check.Check.
func (c *Checker) Name() string { return "uribl" }

// Stages implements check.Check.
func (c *Checker) Stages() check.StageMask { return check.Stages(check.EOM) }

// Close implements check.Check.
func (c *Checker) Close() error { return nil }

// targets returns the distinct registered domains and IP addresses the
// message's text parts link to, up to max, and whether more were left out.
func (c *Checker) targets(ctx context.Context, m *check.Message) (domains, ips []string, more bool, err error) {
	walk, err := mimepart.ForMessage(ctx, m, c.content)
	if err != nil {
		return nil, nil, false, err
	}
	links, err := MessageLinks(ctx, m, c.content)
	if err != nil {
		return nil, nil, false, err
	}
	seen := map[string]bool{}
	for _, p := range walk.Parts { // in message order
		for _, f := range links[p] {
			key := f.Domain
			if f.IP.IsValid() {
				key = f.IP.String()
			}
			if key == "" || seen[key] || c.exempted(f.Domain) {
				continue
			}
			if len(seen) == c.max {
				return domains, ips, true, nil
			}
			seen[key] = true
			if f.IP.IsValid() {
				ips = append(ips, key)
			} else {
				domains = append(domains, key)
			}
		}
	}
	return domains, ips, false, nil
}

func (c *Checker) exempted(d string) bool {
	for _, x := range c.exempt {
		if d == x || strings.HasSuffix(d, "."+x) {
			return true
		}
	}
	return false
}

type query struct {
	l      list
	target string
	name   string
}

// Run implements check.Check.
func (c *Checker) Run(ctx context.Context, m *check.Message, _ check.Stage) (check.Result, error) {
	var res check.Result
	if c.dns == nil {
		return res, errors.New("no DNS resolver")
	}
	domains, ips, more, err := c.targets(ctx, m)
	if err != nil {
		return res, err
	}
	if more {
		res.Add("URIBL_LIMIT", 0, fmt.Sprintf("more than %d linked hosts; the first %d were looked up", c.max, c.max))
	}
	var qs []query
	for _, l := range c.lists {
		if l.ip {
			for _, a := range ips {
				addr, _ := netip.ParseAddr(a)
				qs = append(qs, query{l, a, dnsbl.QueryName(addr, l.Zone)})
			}
			continue
		}
		for _, d := range domains {
			qs = append(qs, query{l, d, d + "." + l.Zone + "."})
		}
	}
	if len(qs) == 0 {
		return res, nil
	}
	dns := c.dns.ForMessage(m)
	hits := make([][]dnsbl.Hit, len(qs))
	errs := make([]error, len(qs))
	var wg sync.WaitGroup
	for i, q := range qs {
		wg.Go(func() { hits[i], errs[i] = dnsbl.Ask(ctx, dns, q.name, q.l.List) })
	}
	wg.Wait()

	// One symbol per return entry, naming every listed target, so that a
	// message with twenty links to one listed shop scores like one.
	type finding struct {
		ret     *dnsbl.Return
		l       list
		targets []string
	}
	var order []*dnsbl.Return
	found := map[*dnsbl.Return]*finding{}
	var failed []string
	for i, q := range qs {
		lookups.WithLabelValues(q.l.Zone, resultOf(hits[i], errs[i])).Inc()
		if errs[i] != nil {
			failed = append(failed, errs[i].Error())
			continue
		}
		for _, h := range hits[i] {
			f := found[h.Return]
			if f == nil {
				f = &finding{ret: h.Return, l: q.l}
				found[h.Return] = f
				order = append(order, h.Return)
			}
			if !slices.Contains(f.targets, q.target) {
				f.targets = append(f.targets, q.target)
			}
		}
	}
	for _, r := range order {
		f := found[r]
		detail := strings.Join(f.targets, ", ") + " listed in " + f.l.Zone
		reply, _ := check.ParseReply(dnsbl.FillReply(f.l.reply, f.targets[0], f.l.Zone))
		r.Outcome.Apply(&res, r.Symbol, detail, reply, "link "+detail)
	}
	if len(failed) == len(qs) {
		return check.Result{}, fmt.Errorf("every lookup failed: %s", failed[0])
	}
	if len(failed) > 0 {
		res.Add("URIBL_FAIL", 0, fmt.Sprintf("%d of %d lookups failed: %s", len(failed), len(qs), failed[0]))
	}
	return res, nil
}

func resultOf(h []dnsbl.Hit, err error) string {
	switch {
	case errors.Is(err, dnsbl.ErrRefused):
		return "refused"
	case err != nil:
		return "error"
	case len(h) > 0:
		return "listed"
	}
	return "clean"
}

// Symbols implements check.SymbolLister: the configured lists' symbols.
func (c *Checker) Symbols() []string {
	ls := make([]*dnsbl.List, len(c.lists))
	for i := range c.lists {
		ls[i] = c.lists[i].List
	}
	return dnsbl.ListSymbols(ls)
}
