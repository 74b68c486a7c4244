package dnsbl

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"

	"github.com/mamori-mail/mamori/rules/check"
)

// List is one blocklist or allowlist zone.
type List struct {
	Zone string
	// Allow marks a DNSWL: its hits vouch for the client.
	Allow bool
	// IPv6 asks the list about IPv6 clients too (nibble form).
	IPv6 bool
	// Returns map answers to findings; every matching entry counts once.
	Returns []Return
	// Default is the finding for a 127/8 answer no entry matches (nil:
	// such answers are ignored).
	Default *Return
	// Refusals are answers that mean "no service", reported as errors.
	Refusals []netip.Addr
}

// Return maps answers to a finding. Either Low..High (an address or a
// range) or Mask (bits of the answer's last octets) is set.
type Return struct {
	Low, High netip.Addr
	Mask      uint32
	Symbol    string
	Outcome   check.Outcome
}

// matches reports whether answer a is one of r's codes.
func (r *Return) matches(a netip.Addr) bool {
	if r.Mask != 0 {
		v := a.As4()
		bits := uint32(v[0])<<24 | uint32(v[1])<<16 | uint32(v[2])<<8 | uint32(v[3])
		return bits&r.Mask != 0
	}
	return a.Compare(r.Low) >= 0 && a.Compare(r.High) <= 0
}

// Hit is one finding.
type Hit struct {
	List   *List
	Answer netip.Addr
	Return *Return
}

// ErrRefused is returned for a list that answered with a refusal code.
var ErrRefused = errors.New("list refused the query")

// QueryName returns the name to look up for ip under zone: reversed octets
// for IPv4, reversed nibbles for IPv6 (RFC 5782 §2.1, §2.4).
func QueryName(ip netip.Addr, zone string) string {
	ip = ip.Unmap()
	var b strings.Builder
	if ip.Is4() {
		v := ip.As4()
		fmt.Fprintf(&b, "%d.%d.%d.%d.", v[3], v[2], v[1], v[0])
	} else {
		v := ip.As16()
		const hex = "0123456789abcdef"
		for i := 15; i >= 0; i-- {
			b.WriteByte(hex[v[i]&0xf])
			b.WriteByte('.')
			b.WriteByte(hex[v[i]>>4])
			b.WriteByte('.')
		}
	}
	b.WriteString(strings.TrimSuffix(zone, "."))
	b.WriteByte('.')
	return b.String()
}

// ListResult is the outcome of one list.
type ListResult struct {
	List *List
	Hits []Hit
	Err  error
}

// Query asks every list about ip at once and returns one result per list,
// in the lists' order.
func Query(ctx context.Context, dns check.DNS, ip netip.Addr, lists []*List) []ListResult {
	ip = ip.Unmap()
	out := make([]ListResult, len(lists))
	var wg sync.WaitGroup
	for i, l := range lists {
		out[i].List = l
		if ip.Is6() && !l.IPv6 {
			continue
		}
		wg.Go(func() { out[i].Hits, out[i].Err = queryList(ctx, dns, ip, l) })
	}
	wg.Wait()
	return out
}

func queryList(ctx context.Context, dns check.DNS, ip netip.Addr, l *List) ([]Hit, error) {
	return Ask(ctx, dns, QueryName(ip, l.Zone), l)
}

// Ask looks name up (already under l's zone) and interprets the answer by
// l's rules: no hits when the name is not listed, an error for a refusal
// code, an answer outside 127.0.0.0/8, or a failed lookup. URI blocklists
// use it with domain names.
func Ask(ctx context.Context, dns check.DNS, name string, l *List) ([]Hit, error) {
	answers, err := dns.LookupA(ctx, name)
	var de *net.DNSError
	if errors.As(err, &de) && de.IsNotFound {
		return nil, nil // not listed
	}
	if err != nil {
		return nil, err
	}
	var hits []Hit
	for _, a := range answers {
		for _, r := range l.Refusals {
			if a == r {
				return nil, fmt.Errorf("%s: %w (answer %s)", l.Zone, ErrRefused, a)
			}
		}
		if !loopback.Contains(a) {
			// A resolver that answers every name (NXDOMAIN hijacking) or a
			// list that moved: nothing a list would say.
			return nil, fmt.Errorf("%s: answer %s is outside 127.0.0.0/8", l.Zone, a)
		}
		matched := false
		for i := range l.Returns {
			if l.Returns[i].matches(a) {
				hits = append(hits, Hit{List: l, Answer: a, Return: &l.Returns[i]})
				matched = true
			}
		}
		if !matched && l.Default != nil {
			hits = append(hits, Hit{List: l, Answer: a, Return: l.Default})
		}
	}
	return hits, nil
}

var loopback = netip.MustParsePrefix("127.0.0.0/8")
