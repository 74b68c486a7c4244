package spf

import (
	"context"
	"net/netip"
	"strings"

	"blitiri.com.ar/go/spf"
	"github.com/mamori-mail/mamori/rules/check"
)

// Result is what SPF said about one message, kept for DMARC.
type Result struct {
	// Result is the SPF result (RFC 7208 §2.6), named by
	// blitiri.com.ar/go/spf's Result type, which check.go and DMARC share.
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

// Evaluate runs the SPF check (check_host(), RFC 7208 §4) for ip, helo
// and the envelope sender with dns, the only resolver it uses. The
// sender's domain is checked, or for the null sender the HELO name with
// "postmaster@" as sender (§2.3, §2.4); a sender without a local part gets
// "postmaster" (§4.3). Every SPF record fetched is parsed in full, so a
// syntax error anywhere is permerror (§4.6). When ctx ends, the result is
// temperror.
func Evaluate(ctx context.Context, dns check.DNS, ip netip.Addr, helo, sender string) Result {
	r := Result{Domain: check.Domain(sender)}
	var local string
	if r.Domain == "" {
		r.Domain, r.Helo = strings.ToLower(strings.TrimSuffix(helo, ".")), true
		local = "postmaster"
	} else {
		local = sender[:strings.LastIndexByte(sender, '@')]
		if local == "" {
			local = "postmaster"
		}
	}
	if !ip.IsValid() {
		r.Result, r.Err = spf.PermError, ErrInvalidIP
		return r
	}
	res := &resolution{
		ctx: ctx, dns: dns, ip: ip.Unmap(),
		sender: local + "@" + r.Domain, local: local, domain: r.Domain, helo: helo,
	}
	r.Result, r.Err = res.checkHost(r.Domain)
	if r.Result != spf.TempError && r.Result != spf.PermError {
		r.Err = nil
	}
	return r
}
