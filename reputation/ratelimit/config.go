package ratelimit

import (
	"errors"
	"fmt"
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

var nameRE = regexp.MustCompile(`^[a-z0-9_]{1,64}$`)

// compile validates the section (and the limits file) and builds the
// limiter without a store. Every problem is reported, each with its line.
func (c *Config) compile(node *yaml.Node) (*Limiter, error) {
	var errs []error
	if c.Redis != nil {
		errs = append(errs, c.Redis.Validate(check.Field(node, "redis"), "checks.ratelimit.redis"))
	}
	if c.MemoryMaxKeys < 0 {
		errs = append(errs, check.Errorf(check.Field(node, "memory_max_keys"), "checks.ratelimit.memory_max_keys", "must not be negative"))
	}
	lim := &Limiter{}
	seen := map[string]bool{}
	add := func(file string, ex ExemptConfig, exNode *yaml.Node, limits []LimitConfig, limitsNode *yaml.Node, path string) {
		errs = append(errs, check.InFile(ex.compile(&lim.Exempt, exNode, path+"exempt"), file))
		for i, lc := range limits {
			n := check.Item(limitsNode, i)
			p := fmt.Sprintf("%slimits[%d]", path, i)
			if seen[lc.Name] {
				errs = append(errs, check.InFile(check.Errorf(check.Field(n, "name"), p+".name", "limit %q is defined twice", lc.Name), file))
				continue
			}
			seen[lc.Name] = true
			l, err := lc.compile(n, p)
			if err != nil {
				errs = append(errs, check.InFile(err, file))
				continue
			}
			lim.Limits = append(lim.Limits, l)
		}
	}
	add("", c.Exempt, check.Field(node, "exempt"), c.Limits, check.Field(node, "limits"), "checks.ratelimit.")
	if c.LimitsFile != "" {
		file, fnode, err := readLimitsFile(c.LimitsFile)
		var ce *check.ConfigError
		switch {
		case errors.As(err, &ce):
			errs = append(errs, err) // positioned in that file already
		case err != nil:
			errs = append(errs, check.Errorf(check.Field(node, "limits_file"), "checks.ratelimit.limits_file", "%v", err))
		default:
			add(c.LimitsFile, file.Exempt, check.Field(fnode, "exempt"), file.Limits, check.Field(fnode, "limits"), "")
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
		return f, nil, check.InFile(err, path)
	}
	return f, root, nil
}

func (ex ExemptConfig) compile(out *Exemptions, node *yaml.Node, path string) error {
	var errs []error
	for i, s := range ex.ClientIPs {
		p, err := parsePrefix(s)
		if err != nil {
			errs = append(errs, check.Errorf(check.Item(check.Field(node, "client_ips"), i), fmt.Sprintf("%s.client_ips[%d]", path, i), "%v", err))
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
			errs = append(errs, check.Errorf(check.Item(check.Field(node, "sender_domains"), i), fmt.Sprintf("%s.sender_domains[%d]", path, i), "%q is not a domain", ex.SenderDomains[i]))
			continue
		}
		out.SenderDomains = append(out.SenderDomains, d)
	}
	return errors.Join(errs...)
}

func (lc *LimitConfig) compile(node *yaml.Node, path string) (*Limit, error) {
	var errs []error
	bad := func(key, format string, args ...any) {
		n := check.Field(node, key)
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
	for i, oc := range lc.Overrides {
		n := check.Item(check.Field(node, "overrides"), i)
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
				errs = append(errs, check.Errorf(check.Field(n, "match"), op+".match", "%v", err))
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
