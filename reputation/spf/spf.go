package spf

import (
	"context"
	"net"
	"net/netip"
	"strings"

	"blitiri.com.ar/go/spf"
	"github.com/mamori-mail/mamori/rules/check"
)

// Result is what SPF said about one message, kept for DMARC.
type Result struct {
	Result spf.Result
	// Domain is the domain checked: the envelope sender's, or the HELO
	// name's for the null sender.
	Domain string
	// Helo reports whether Domain is the HELO identity.
	Helo bool
	// Err says why, for temperror and permerror.
	Err error
}

// StateKey is where the result is kept in the message (check.Message
// state), for the DMARC check.
const StateKey = "spf.result"

// Evaluate runs the SPF check for ip, helo and the envelope sender with dns.
func Evaluate(ctx context.Context, dns check.DNS, ip netip.Addr, helo, sender string) Result {
	r := Result{Domain: check.Domain(sender)}
	if r.Domain == "" {
		r.Domain, r.Helo = strings.ToLower(strings.TrimSuffix(helo, ".")), true
	}
	res, err := spf.CheckHostWithSender(net.IP(ip.Unmap().AsSlice()), helo, sender,
		spf.WithContext(ctx), spf.WithResolver(dns))
	r.Result = res
	if res == spf.TempError || res == spf.PermError {
		r.Err = err
	}
	return r
}
