package resolver

import (
	"errors"
	"fmt"
	"net"
	"reflect"
	"regexp"
	"sync"
	"time"

	"github.com/mamori-mail/mamori/rules/check"
	"github.com/miekg/dns"
)

// Config is the top-level dns section. Every field's comment is its
// operator documentation.
type Config struct {
	// Nameservers are the recursive resolvers to ask, as host or host:port
	// (port 53 by default), in order. Default: the nameserver lines of
	// /etc/resolv.conf. Use a local caching resolver (unbound) for DNSBLs:
	// public resolvers are refused by most blocklists.
	Nameservers []string `yaml:"nameservers"`
	// Timeout bounds one query to one nameserver. Default 2s.
	Timeout check.Duration `yaml:"timeout"`
	// Attempts is how many times the nameserver list is tried. Default 2.
	Attempts int `yaml:"attempts"`
	// CacheSize is how many answers are kept. Default 20000.
	CacheSize int `yaml:"cache_size"`
	// MaxTTL caps how long an answer is kept. Default 1h.
	MaxTTL check.Duration `yaml:"max_ttl"`
	// NegativeTTL caps how long "no such name/record" is kept (the zone's
	// SOA minimum applies below it). Default 5m.
	NegativeTTL check.Duration `yaml:"negative_ttl"`
	// LookupsPerMessage is how many queries the checks of one message may
	// send together (cache hits are free); more fail as "could not
	// decide". It bounds what a message crafted to cause lookups (hundreds
	// of URLs, SPF include chains) can cost. Default 100.
	LookupsPerMessage int `yaml:"lookups_per_message"`
}

// Defaults of the settings.
const (
	DefaultTimeout           = 2 * time.Second
	DefaultAttempts          = 2
	DefaultCacheSize         = 20000
	DefaultMaxTTL            = time.Hour
	DefaultNegativeTTL       = 5 * time.Minute
	DefaultLookupsPerMessage = 100
	resolvConf               = "/etc/resolv.conf"
)

// Validate reports every problem at once (path names, without lines: the
// caller positions them).
func (c *Config) Validate() map[string]string {
	bad := map[string]string{}
	for _, ns := range c.Nameservers {
		if _, err := hostPort(ns); err != nil {
			bad["dns.nameservers"] = err.Error()
		}
	}
	for k, v := range map[string]int{"dns.attempts": c.Attempts, "dns.cache_size": c.CacheSize, "dns.lookups_per_message": c.LookupsPerMessage} {
		if v < 0 {
			bad[k] = "must not be negative (0 takes the default)"
		}
	}
	for k, d := range map[string]check.Duration{"dns.timeout": c.Timeout, "dns.max_ttl": c.MaxTTL, "dns.negative_ttl": c.NegativeTTL} {
		if d < 0 {
			bad[k] = "must not be negative (0 takes the default)"
		}
	}
	return bad
}

var hostnameRE = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$`)

func hostPort(s string) (string, error) {
	if _, _, err := net.SplitHostPort(s); err == nil {
		return s, nil
	}
	if ip := net.ParseIP(s); ip != nil {
		return net.JoinHostPort(s, "53"), nil
	}
	if hostnameRE.MatchString(s) {
		return net.JoinHostPort(s, "53"), nil
	}
	return "", fmt.Errorf("%q is not an address or host:port", s)
}

// Options turns c into resolver options, reading /etc/resolv.conf when no
// nameserver is configured (a file read, no network).
func (c *Config) Options() (Options, error) {
	o := Options{
		Timeout: c.Timeout.D(), Attempts: c.Attempts, CacheSize: c.CacheSize,
		MaxTTL: c.MaxTTL.D(), NegativeTTL: c.NegativeTTL.D(), Budget: c.LookupsPerMessage,
	}
	if o.Budget == 0 {
		o.Budget = DefaultLookupsPerMessage
	}
	servers := c.Nameservers
	if len(servers) == 0 {
		cc, err := dns.ClientConfigFromFile(resolvConf)
		if err != nil {
			return o, fmt.Errorf("dns: no nameservers configured and %s unreadable (%v): set dns.nameservers", resolvConf, err)
		}
		for _, s := range cc.Servers {
			servers = append(servers, net.JoinHostPort(s, cc.Port))
		}
	}
	for _, s := range servers {
		hp, err := hostPort(s)
		if err != nil {
			return o, err
		}
		o.Servers = append(o.Servers, hp)
	}
	if len(o.Servers) == 0 {
		return o, errors.New("dns: no nameservers: set dns.nameservers")
	}
	return o, nil
}

var shared struct {
	sync.Mutex
	opt Options
	r   *Resolver
}

// Shared returns the process's resolver for o: the same one (and its
// cache) as long as the options are unchanged, so that a reload keeps the
// cache; a new one when they change.
func Shared(o Options) *Resolver {
	shared.Lock()
	defer shared.Unlock()
	if shared.r == nil || !reflect.DeepEqual(shared.opt, o) {
		shared.r, shared.opt = New(o), o
	}
	return shared.r
}
