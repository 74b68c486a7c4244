// Package resolver is the DNS resolver every reputation check shares: one
// set of nameservers, one cache that honours TTLs (negative answers too,
// RFC 2308), a lookup budget per message, and metrics.
//
// Why github.com/miekg/dns rather than the standard library's resolver: the
// standard resolver hides TTLs (a cache could only guess lifetimes), reads
// /etc/hosts and applies resolv.conf search domains to names such as DNSBL
// queries, and cannot be pointed at a nameserver per query without a custom
// dialer that still parses resolv.conf. The methods keep the standard
// library's shape and error type (*net.DNSError, IsNotFound for NXDOMAIN
// and for "no such record"), so that libraries written against
// net.Resolver — blitiri.com.ar/go/spf, go-msgauth's DKIM — take it as is.
package resolver

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"
)

// Options configure a Resolver.
type Options struct {
	// Servers are host:port addresses asked in turn.
	Servers []string
	// Timeout bounds one query to one server.
	Timeout time.Duration
	// Attempts is how many times the server list is tried.
	Attempts int
	// CacheSize bounds the cache (entries).
	CacheSize int
	// MaxTTL caps how long an answer is kept; NegativeTTL caps how long a
	// "no such name" or "no such record" is kept.
	MaxTTL, NegativeTTL time.Duration
	// Budget is how many queries one message may send (cache hits are
	// free); 0 means no limit.
	Budget int
}

// Resolver answers queries through the configured servers and a cache.
type Resolver struct {
	opt    Options
	udp    *dns.Client
	tcp    *dns.Client
	cache  *cache
	flight flight
	now    func() time.Time
}

// New returns a resolver. It does no I/O.
func New(o Options) *Resolver {
	if o.Timeout <= 0 {
		o.Timeout = 2 * time.Second
	}
	if o.Attempts <= 0 {
		o.Attempts = 2
	}
	if o.CacheSize <= 0 {
		o.CacheSize = 20000
	}
	if o.MaxTTL <= 0 {
		o.MaxTTL = time.Hour
	}
	if o.NegativeTTL <= 0 {
		o.NegativeTTL = 5 * time.Minute
	}
	return &Resolver{
		opt:   o,
		udp:   &dns.Client{Net: "udp", Timeout: o.Timeout, UDPSize: ednsSize},
		tcp:   &dns.Client{Net: "tcp", Timeout: o.Timeout},
		cache: newCache(o.CacheSize),
		now:   time.Now,
	}
}

// ednsSize is the UDP payload size offered (the DNS flag day 2020 value,
// which avoids IP fragmentation).
const ednsSize = 1232

// answer is the outcome of one query: the records of the asked type
// (CNAMEs followed by the server), or why there are none.
type answer struct {
	rrs   []dns.RR
	rcode int // dns.RcodeSuccess with no rrs means "no such record"
}

// Lookup returns the records of type qtype for name. An NXDOMAIN or an
// empty answer is a *net.DNSError with IsNotFound; a server failure or a
// timeout is one with IsTemporary (and IsTimeout).
func (r *Resolver) Lookup(ctx context.Context, name string, qtype uint16) ([]dns.RR, error) {
	return r.lookup(ctx, name, qtype, nil)
}

func (r *Resolver) lookup(ctx context.Context, name string, qtype uint16, b *budget) ([]dns.RR, error) {
	name = dns.CanonicalName(name)
	if _, ok := dns.IsDomainName(name); !ok || len(name) > 254 {
		return nil, &net.DNSError{Err: "invalid domain name", Name: name, IsNotFound: true}
	}
	key := cacheKey{name, qtype}
	if a, ok := r.cache.get(key, r.now()); ok {
		cacheLookups.WithLabelValues("hit").Inc()
		return a.result(name)
	}
	cacheLookups.WithLabelValues("miss").Inc()
	if b != nil && !b.take() {
		queries.WithLabelValues("budget").Inc()
		return nil, &net.DNSError{Err: "lookup budget of this message spent", Name: name, IsTemporary: true}
	}
	a, err := r.flight.do(ctx, key, func() (answer, error) { return r.exchange(name, qtype) })
	if err != nil {
		return nil, err
	}
	return a.result(name)
}

func (a answer) result(name string) ([]dns.RR, error) {
	switch {
	case a.rcode == dns.RcodeNameError:
		return nil, &net.DNSError{Err: "no such host", Name: name, IsNotFound: true}
	case len(a.rrs) == 0:
		return nil, &net.DNSError{Err: "no such record", Name: name, IsNotFound: true}
	}
	return a.rrs, nil
}

// exchange asks the servers in turn until one answers with NOERROR or
// NXDOMAIN. It runs detached from any one caller's context (callers of
// the same query share it); its own time is bounded by Attempts × servers ×
// Timeout.
func (r *Resolver) exchange(name string, qtype uint16) (answer, error) {
	if len(r.opt.Servers) == 0 {
		return answer{}, &net.DNSError{Err: "no nameserver configured", Name: name, IsTemporary: true}
	}
	q := new(dns.Msg)
	q.SetQuestion(name, qtype)
	q.RecursionDesired = true
	q.SetEdns0(ednsSize, false)
	var last error
	for range r.opt.Attempts {
		for _, srv := range r.opt.Servers {
			t0 := r.now()
			resp, _, err := r.udp.Exchange(q, srv)
			if err == nil && resp.Truncated {
				resp, _, err = r.tcp.Exchange(q, srv)
			}
			querySeconds.Observe(time.Since(t0).Seconds())
			if err != nil {
				last = err
				queries.WithLabelValues(errorKind(err)).Inc()
				continue
			}
			switch resp.Rcode {
			case dns.RcodeSuccess, dns.RcodeNameError:
				a := answer{rcode: resp.Rcode}
				for _, rr := range resp.Answer {
					if rr.Header().Rrtype == qtype {
						a.rrs = append(a.rrs, rr)
					}
				}
				queries.WithLabelValues(outcome(a)).Inc()
				r.cache.put(cacheKey{name, qtype}, a, r.now().Add(r.ttl(a, resp)))
				return a, nil
			default:
				last = fmt.Errorf("server %s answered %s", srv, dns.RcodeToString[resp.Rcode])
				queries.WithLabelValues("servfail").Inc()
			}
		}
	}
	dnsErr := &net.DNSError{Err: last.Error(), Name: name, IsTemporary: true}
	var ne net.Error
	if errors.As(last, &ne) && ne.Timeout() {
		dnsErr.IsTimeout = true
	}
	return answer{}, dnsErr
}

func outcome(a answer) string {
	switch {
	case a.rcode == dns.RcodeNameError:
		return "nxdomain"
	case len(a.rrs) == 0:
		return "nodata"
	}
	return "ok"
}

func errorKind(err error) string {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return "timeout"
	}
	return "error"
}

// ttl is how long a is kept: the smallest TTL of its records, or for a
// negative answer the SOA's minimum (RFC 2308 §5), each capped.
func (r *Resolver) ttl(a answer, resp *dns.Msg) time.Duration {
	if len(a.rrs) > 0 {
		t := a.rrs[0].Header().Ttl
		for _, rr := range a.rrs[1:] {
			t = min(t, rr.Header().Ttl)
		}
		return min(time.Duration(t)*time.Second, r.opt.MaxTTL)
	}
	for _, rr := range resp.Ns {
		if soa, ok := rr.(*dns.SOA); ok {
			return min(time.Duration(min(soa.Minttl, soa.Hdr.Ttl))*time.Second, r.opt.NegativeTTL)
		}
	}
	return 0 // no SOA: do not cache (RFC 2308 §5)
}

// LookupTXT returns each TXT record's strings joined, as net.Resolver does.
func (r *Resolver) LookupTXT(ctx context.Context, name string) ([]string, error) {
	return r.lookupTXT(ctx, name, nil)
}

func (r *Resolver) lookupTXT(ctx context.Context, name string, b *budget) ([]string, error) {
	rrs, err := r.lookup(ctx, name, dns.TypeTXT, b)
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(rrs))
	for _, rr := range rrs {
		out = append(out, txtBytes(strings.Join(rr.(*dns.TXT).Txt, "")))
	}
	return out, nil
}

// LookupMX returns the MX records.
func (r *Resolver) LookupMX(ctx context.Context, name string) ([]*net.MX, error) {
	return r.lookupMX(ctx, name, nil)
}

func (r *Resolver) lookupMX(ctx context.Context, name string, b *budget) ([]*net.MX, error) {
	rrs, err := r.lookup(ctx, name, dns.TypeMX, b)
	if err != nil {
		return nil, err
	}
	out := make([]*net.MX, 0, len(rrs))
	for _, rr := range rrs {
		mx := rr.(*dns.MX)
		out = append(out, &net.MX{Host: mx.Mx, Pref: mx.Preference})
	}
	return out, nil
}

// LookupA returns the IPv4 addresses of name (DNSBL answers).
func (r *Resolver) LookupA(ctx context.Context, name string) ([]netip.Addr, error) {
	return r.lookupA(ctx, name, nil)
}

func (r *Resolver) lookupA(ctx context.Context, name string, b *budget) ([]netip.Addr, error) {
	rrs, err := r.lookup(ctx, name, dns.TypeA, b)
	if err != nil {
		return nil, err
	}
	return addrs(rrs), nil
}

func addrs(rrs []dns.RR) []netip.Addr {
	var out []netip.Addr
	for _, rr := range rrs {
		switch v := rr.(type) {
		case *dns.A:
			if a, ok := netip.AddrFromSlice(v.A.To4()); ok {
				out = append(out, a)
			}
		case *dns.AAAA:
			if a, ok := netip.AddrFromSlice(v.AAAA); ok {
				out = append(out, a)
			}
		}
	}
	return out
}

// LookupIPAddr returns the IPv4 and IPv6 addresses of host, asked at once.
func (r *Resolver) LookupIPAddr(ctx context.Context, host string) ([]net.IPAddr, error) {
	return r.lookupIPAddr(ctx, host, nil)
}

func (r *Resolver) lookupIPAddr(ctx context.Context, host string, b *budget) ([]net.IPAddr, error) {
	type res struct {
		rrs []dns.RR
		err error
	}
	six := make(chan res, 1)
	go func() {
		rrs, err := r.lookup(ctx, host, dns.TypeAAAA, b)
		six <- res{rrs, err}
	}()
	v4, err4 := r.lookup(ctx, host, dns.TypeA, b)
	v6 := <-six
	var out []net.IPAddr
	for _, a := range addrs(append(v4, v6.rrs...)) {
		out = append(out, net.IPAddr{IP: a.AsSlice()})
	}
	if len(out) > 0 {
		return out, nil
	}
	// Not found only if both say so; a failure of either is a failure.
	for _, err := range []error{err4, v6.err} {
		var de *net.DNSError
		if errors.As(err, &de) && !de.IsNotFound {
			return nil, err
		}
	}
	if err4 != nil {
		return nil, err4
	}
	return nil, v6.err
}

// LookupAddr returns the names of addr (PTR).
func (r *Resolver) LookupAddr(ctx context.Context, addr string) ([]string, error) {
	return r.lookupAddr(ctx, addr, nil)
}

func (r *Resolver) lookupAddr(ctx context.Context, addr string, b *budget) ([]string, error) {
	name, err := dns.ReverseAddr(addr)
	if err != nil {
		return nil, &net.DNSError{Err: "invalid address", Name: addr, IsNotFound: true}
	}
	rrs, err := r.lookup(ctx, name, dns.TypePTR, b)
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(rrs))
	for _, rr := range rrs {
		out = append(out, rr.(*dns.PTR).Ptr)
	}
	return out, nil
}

// flight lets concurrent callers of one query share one exchange. Each
// caller waits under its own context; the exchange runs to its own end.
type flight struct {
	mu    sync.Mutex
	calls map[cacheKey]*call
}

type call struct {
	done chan struct{}
	a    answer
	err  error
}

func (f *flight) do(ctx context.Context, key cacheKey, fn func() (answer, error)) (answer, error) {
	f.mu.Lock()
	if f.calls == nil {
		f.calls = map[cacheKey]*call{}
	}
	c, ok := f.calls[key]
	if !ok {
		c = &call{done: make(chan struct{})}
		f.calls[key] = c
		go func() {
			c.a, c.err = fn()
			f.mu.Lock()
			delete(f.calls, key)
			f.mu.Unlock()
			close(c.done)
		}()
	}
	f.mu.Unlock()
	select {
	case <-c.done:
		return c.a, c.err
	case <-ctx.Done():
		return answer{}, &net.DNSError{Err: ctx.Err().Error(), Name: key.name, IsTimeout: true, IsTemporary: true}
	}
}
