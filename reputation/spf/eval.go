package spf

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"

	"blitiri.com.ar/go/spf"
	"github.com/mamori-mail/mamori/rules/check"
)

// Errors behind temperror and permerror results. Result.Err wraps one of
// these, a *SyntaxError (ErrSyntax) or, for temperror, the DNS error.
var (
	// ErrNoRecord: an include or redirect target has no SPF record
	// (RFC 7208 §5.2, §6.1), which is permerror.
	ErrNoRecord = errors.New("spf: no SPF record")
	// ErrMultipleRecords: a domain publishes more than one SPF record (§4.5).
	ErrMultipleRecords = errors.New("spf: more than one SPF record")
	// ErrLookupLimit: more than 10 terms that query DNS (§4.6.4).
	ErrLookupLimit = errors.New("spf: more than 10 DNS-querying terms")
	// ErrVoidLimit: more than 2 lookups found nothing (§4.6.4).
	ErrVoidLimit = errors.New("spf: more than 2 void lookups")
	// ErrTooManyMX: an mx mechanism found more than 10 MX records (§4.6.4).
	ErrTooManyMX = errors.New("spf: more than 10 MX records")
	// ErrTemporary: a DNS lookup failed or timed out (§5), or the
	// evaluation's context ended.
	ErrTemporary = errors.New("spf: DNS lookup failed")
	// ErrInvalidIP: the client address is not valid.
	ErrInvalidIP = errors.New("spf: invalid client address")
)

// Limits of RFC 7208 §4.6.4.
const (
	maxLookups     = 10 // terms that cause DNS queries
	maxVoidLookups = 2  // lookups answered NXDOMAIN or with no records
	maxMX          = 10 // MX records one mx mechanism may look at
	maxPTR         = 10 // PTR names validated for ptr and %{p}
)

var qualifierResults = map[Qualifier]spf.Result{
	QPass: spf.Pass, QFail: spf.Fail, QSoftFail: spf.SoftFail, QNeutral: spf.Neutral,
}

// This is check_host() of Mamori's own rather than
// blitiri.com.ar/go/spf's: the library splits "a:" and "mx:" domain-specs
// at the first "/" and expands %{p} to "unknown", which no wrapper around
// it can change, and it misses syntax errors it does not reach (doc.go,
// "Library limitations"; library_test.go shows each on the library).

// resolution is the state of one SPF evaluation: the arguments of
// check_host() that stay the same through include and redirect, and the
// counters of §4.6.4, which are for the evaluation as a whole.
type resolution struct {
	ctx    context.Context
	dns    check.DNS
	ip     netip.Addr // IPv4-mapped addresses unmapped (RFC 7208 §5)
	sender string     // <sender>, "postmaster@" added where it has no local part
	local  string     // its local part, for %{l}
	domain string     // its domain, for %{o}
	helo   string     // the HELO/EHLO name, for %{h}

	lookups, voids int

	// The validated names of ip (§5.5), looked up once for ptr and %{p}.
	ptrDone  bool
	ptrNames []string
	ptrErr   error
}

// checkHost is check_host() of RFC 7208 §4 for domain: the record is
// fetched, parsed whole, and evaluated.
func (r *resolution) checkHost(domain string) (spf.Result, error) {
	// §4.3: a malformed domain, or one that is not a multi-label name,
	// gives none without a lookup.
	if !validHostDomain(domain) {
		return spf.None, fmt.Errorf("%w: %q is not a valid domain name", ErrNoRecord, domain)
	}
	rec, res, err := r.record(domain)
	if rec == nil {
		return res, err
	}
	for _, d := range rec.Directives {
		matched, res, err := r.match(d, domain)
		if res != "" {
			return res, err
		}
		if matched {
			return qualifierResults[d.Qualifier], nil
		}
	}
	if rec.Redirect != "" {
		// §6.1: redirect applies when no mechanism matched, wherever it is
		// in the record; it counts as a lookup, and none becomes permerror.
		if err := r.countLookup(); err != nil {
			return spf.PermError, err
		}
		target, err := r.expandDomain(rec.Redirect, domain)
		if err != nil {
			return failure(err), err
		}
		res, err := r.checkHost(target)
		if res == spf.None {
			return spf.PermError, fmt.Errorf("%w (redirect)", err)
		}
		return res, err
	}
	// §4.7: no match and no redirect.
	return spf.Neutral, nil
}

// record fetches and parses domain's SPF record (RFC 7208 §4.4, §4.5,
// §4.6). A nil record comes with the result to return.
func (r *resolution) record(domain string) (*Record, spf.Result, error) {
	if err := r.ctx.Err(); err != nil {
		return nil, spf.TempError, fmt.Errorf("%w: %w", ErrTemporary, err)
	}
	txts, err := r.dns.LookupTXT(r.ctx, domain)
	if err != nil {
		if notFound(err) {
			return nil, spf.None, fmt.Errorf("%w for %s", ErrNoRecord, domain)
		}
		return nil, spf.TempError, fmt.Errorf("%w: TXT %s: %w", ErrTemporary, domain, err)
	}
	var found []string
	for _, txt := range txts {
		if IsRecord(txt) {
			found = append(found, txt)
		}
	}
	switch len(found) {
	case 0:
		return nil, spf.None, fmt.Errorf("%w for %s", ErrNoRecord, domain)
	case 1:
	default:
		return nil, spf.PermError, fmt.Errorf("%w for %s", ErrMultipleRecords, domain)
	}
	rec, err := ParseRecord(found[0])
	if err != nil {
		return nil, spf.PermError, fmt.Errorf("%w (record of %s)", err, domain)
	}
	return rec, "", nil
}

// match evaluates one mechanism (RFC 7208 §5). A non-empty result ends
// the evaluation with it (temperror or permerror).
func (r *resolution) match(d Directive, domain string) (bool, spf.Result, error) {
	switch d.Mechanism {
	case MechAll:
		return true, "", nil
	case MechIP4, MechIP6:
		// §5.6; an IPv4 client never matches ip6 (§5).
		return d.Net.Contains(r.ip), "", nil
	}
	// Every other mechanism queries DNS.
	if err := r.countLookup(); err != nil {
		return false, spf.PermError, err
	}
	target := domain
	if d.Domain != "" {
		var err error
		if target, err = r.expandDomain(d.Domain, domain); err != nil {
			return false, failure(err), err
		}
	}
	switch d.Mechanism {
	case MechInclude:
		return r.include(target)
	case MechA:
		return r.matchA(target, d.Prefix4, d.Prefix6)
	case MechMX:
		return r.matchMX(target, d.Prefix4, d.Prefix6)
	case MechPTR:
		// §5.5: a validated name of ip that is target or below it.
		names, err := r.validatedNames()
		if err != nil {
			return false, failure(err), err
		}
		for _, n := range names {
			if isSubdomain(n, target) {
				return true, "", nil
			}
		}
		return false, "", nil
	case MechExists:
		// §5.7: any A record, whatever the client's address family.
		if !validName(target) {
			return r.nonexistent()
		}
		if err := r.ctx.Err(); err != nil {
			return false, spf.TempError, fmt.Errorf("%w: %w", ErrTemporary, err)
		}
		ips, err := r.dns.LookupA(r.ctx, target)
		return r.found(target, len(ips), err)
	}
	return false, spf.PermError, fmt.Errorf("spf: mechanism %q not evaluated", d.Mechanism) // parser bug
}

// include is §5.2: pass matches; fail, softfail and neutral do not;
// temperror stays; permerror and none are permerror.
func (r *resolution) include(target string) (bool, spf.Result, error) {
	res, err := r.checkHost(target)
	switch res {
	case spf.Pass:
		return true, "", nil
	case spf.Fail, spf.SoftFail, spf.Neutral:
		return false, "", nil
	case spf.None:
		return false, spf.PermError, fmt.Errorf("%w (include)", err)
	}
	return false, res, err
}

// nonexistent is the outcome of a target no query can carry: it does not
// exist (RFC 7208 §4.8; the test suite's invalid-domain-empty-label and
// invalid-domain-long), so it does not match and is a void lookup.
func (r *resolution) nonexistent() (bool, spf.Result, error) {
	if err := r.countVoid(0, nil); err != nil {
		return false, spf.PermError, err
	}
	return false, "", nil
}

// found turns the answer of an exists lookup into a match.
func (r *resolution) found(target string, n int, err error) (bool, spf.Result, error) {
	if verr := r.countVoid(n, err); verr != nil {
		return false, spf.PermError, verr
	}
	if err != nil {
		if notFound(err) {
			return false, "", nil
		}
		return false, spf.TempError, fmt.Errorf("%w: %s: %w", ErrTemporary, target, err)
	}
	return n > 0, "", nil
}

// matchA is §5.3: an address of target, of the client's family, in the
// client's network of the given prefix length.
func (r *resolution) matchA(target string, p4, p6 int) (bool, spf.Result, error) {
	if !validName(target) {
		return r.nonexistent()
	}
	ips, err := r.addrs(target)
	if verr := r.countVoid(len(ips), err); verr != nil {
		return false, spf.PermError, verr
	}
	if err != nil {
		if notFound(err) {
			return false, "", nil
		}
		return false, spf.TempError, fmt.Errorf("%w: %s: %w", ErrTemporary, target, err)
	}
	return r.inNetwork(ips, p4, p6), "", nil
}

// matchMX is §5.4: an address of one of target's MX hosts (at most 10,
// §4.6.4) in the client's network of the given prefix length. The target
// itself is never tried as an implicit MX.
func (r *resolution) matchMX(target string, p4, p6 int) (bool, spf.Result, error) {
	if !validName(target) {
		return r.nonexistent()
	}
	if err := r.ctx.Err(); err != nil {
		return false, spf.TempError, fmt.Errorf("%w: %w", ErrTemporary, err)
	}
	mxs, err := r.dns.LookupMX(r.ctx, target)
	if verr := r.countVoid(len(mxs), err); verr != nil {
		return false, spf.PermError, verr
	}
	if err != nil && len(mxs) == 0 {
		if notFound(err) {
			return false, "", nil
		}
		return false, spf.TempError, fmt.Errorf("%w: MX %s: %w", ErrTemporary, target, err)
	}
	if len(mxs) > maxMX {
		return false, spf.PermError, fmt.Errorf("%w at %s (%d)", ErrTooManyMX, target, len(mxs))
	}
	for _, mx := range mxs {
		host := strings.TrimSuffix(mx.Host, ".")
		if host == "" {
			continue // null MX (RFC 7505)
		}
		ips, err := r.addrs(host)
		if err != nil {
			if notFound(err) {
				continue
			}
			return false, spf.TempError, fmt.Errorf("%w: %s: %w", ErrTemporary, host, err)
		}
		if r.inNetwork(ips, p4, p6) {
			return true, "", nil
		}
	}
	return false, "", nil
}

// addrs looks up the addresses of host of the client's family (A for
// IPv4, AAAA for IPv6; RFC 7208 §5.3). check.DNS has no AAAA-only query,
// so for IPv6 both are asked and the IPv4 answers dropped.
func (r *resolution) addrs(host string) ([]netip.Addr, error) {
	if err := r.ctx.Err(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrTemporary, err)
	}
	if r.ip.Is4() {
		ips, err := r.dns.LookupA(r.ctx, host)
		var out []netip.Addr
		for _, ip := range ips {
			if ip = ip.Unmap(); ip.Is4() {
				out = append(out, ip)
			}
		}
		return out, err
	}
	ips, err := r.dns.LookupIPAddr(r.ctx, host)
	var out []netip.Addr
	for _, ip := range ips {
		if ip.IP.To4() == nil {
			if a, ok := netip.AddrFromSlice(ip.IP); ok {
				out = append(out, a)
			}
		}
	}
	return out, err
}

// inNetwork reports whether the client is in the network of one of ips,
// with the prefix length of its family (the full length when absent).
func (r *resolution) inNetwork(ips []netip.Addr, p4, p6 int) bool {
	bits := p4
	if r.ip.Is6() {
		bits = p6
	}
	if bits < 0 {
		bits = r.ip.BitLen()
	}
	for _, ip := range ips {
		if ip.BitLen() != r.ip.BitLen() {
			continue
		}
		if p, err := ip.Prefix(bits); err == nil && p.Contains(r.ip) {
			return true
		}
	}
	return false
}

// validatedNames returns the validated domain names of the client (RFC
// 7208 §5.5): of the first 10 names its PTR lookup gives (§4.6.4), those
// with an address equal to it. A failed PTR lookup gives none and a
// failed address lookup skips the name, as §5.5 says; but when ctx ends,
// the evaluation has run out of time, which is temperror (§4.6.4).
func (r *resolution) validatedNames() ([]string, error) {
	if !r.ptrDone {
		r.ptrDone = true
		r.ptrNames, r.ptrErr = r.lookupValidatedNames()
	}
	return r.ptrNames, r.ptrErr
}

func (r *resolution) lookupValidatedNames() ([]string, error) {
	if err := r.ctx.Err(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrTemporary, err)
	}
	names, err := r.dns.LookupAddr(r.ctx, r.ip.String())
	if verr := r.countVoid(len(names), err); verr != nil {
		return nil, verr
	}
	if len(names) > maxPTR {
		names = names[:maxPTR]
	}
	var valid []string
	for _, n := range names {
		n = strings.TrimSuffix(n, ".")
		if !validName(n) {
			continue
		}
		ips, err := r.addrs(n)
		if err != nil {
			continue
		}
		for _, ip := range ips {
			if ip == r.ip {
				valid = append(valid, n)
				break
			}
		}
	}
	if err := r.ctx.Err(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrTemporary, err)
	}
	return valid, nil
}

// failure is the result for an error that ends the evaluation: temperror
// for a DNS failure or an ended context, permerror for anything else.
func failure(err error) spf.Result {
	if errors.Is(err, ErrTemporary) {
		return spf.TempError
	}
	return spf.PermError
}

// countLookup counts a term that queries DNS, failing past the limit of
// 10 (RFC 7208 §4.6.4).
func (r *resolution) countLookup() error {
	if r.lookups >= maxLookups {
		return ErrLookupLimit
	}
	r.lookups++
	return nil
}

// countVoid counts a lookup that found nothing (NXDOMAIN or no records),
// failing past the limit of 2 (RFC 7208 §4.6.4).
func (r *resolution) countVoid(n int, err error) error {
	if (err == nil && n == 0) || notFound(err) {
		r.voids++
	}
	if r.voids > maxVoidLookups {
		return ErrVoidLimit
	}
	return nil
}

// notFound reports whether err is NXDOMAIN or "no such record", which
// check.DNS reports as a *net.DNSError with IsNotFound.
func notFound(err error) bool {
	var de *net.DNSError
	return errors.As(err, &de) && de.IsNotFound
}

// validName reports whether s can be asked in a DNS query: no empty label
// (but the trailing one), labels of at most 63 bytes, 253 in all.
func validName(s string) bool {
	s = strings.TrimSuffix(s, ".")
	if s == "" || len(s) > 253 {
		return false
	}
	for _, l := range strings.Split(s, ".") {
		if l == "" || len(l) > 63 {
			return false
		}
	}
	return true
}

// validHostDomain is the <domain> check of RFC 7208 §4.3: a valid name of
// at least two labels, not an address literal.
func validHostDomain(s string) bool {
	return validName(s) && strings.Contains(strings.TrimSuffix(s, "."), ".") && !strings.HasPrefix(s, "[")
}

// isSubdomain reports whether name is domain or below it, comparing
// labels in ASCII case-insensitively and ignoring trailing dots (RFC 7208
// §5.5; DNS names compare octet by octet, RFC 4343).
func isSubdomain(name, domain string) bool {
	name, domain = strings.TrimSuffix(name, "."), strings.TrimSuffix(domain, ".")
	if len(name) < len(domain) || !asciiEqualFold(name[len(name)-len(domain):], domain) {
		return false
	}
	return len(name) == len(domain) || name[len(name)-len(domain)-1] == '.'
}

// asciiEqualFold is strings.EqualFold for ASCII letters only, so that no
// Unicode folding (the Kelvin sign as "k") makes two names equal.
func asciiEqualFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		if lower(a[i]) != lower(b[i]) {
			return false
		}
	}
	return true
}

func lower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}
