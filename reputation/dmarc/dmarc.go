package dmarc

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/mail"
	"strings"

	"github.com/emersion/go-msgauth/authres"
	msgdmarc "github.com/emersion/go-msgauth/dmarc"
	"github.com/mamori-mail/mamori/reputation/dkim"
	"github.com/mamori-mail/mamori/reputation/spf"
	"github.com/mamori-mail/mamori/rules/check"
)

// Evaluation is the DMARC outcome for one message.
type Evaluation struct {
	From string // the RFC5322.From domain
	// Result is pass, fail, none (no policy), temperror or permerror.
	Result authres.ResultValue
	// Policy is the policy that applies (p=, or sp= for a subdomain),
	// after pct= sampling; "" without a record.
	Policy msgdmarc.Policy
	// Requested is the policy the record asks for before sampling.
	Requested msgdmarc.Policy
	// OrgFallback reports that the record came from the organizational
	// domain.
	OrgFallback bool
	SPFAligned  bool
	DKIMAligned bool
	Err         error
}

// Sampler decides pct= sampling: it returns true for the share pct/100
// of calls. Tests replace it.
type Sampler func(pct int) bool

// FromDomain returns the domain of the single author address in the From
// field, or an error when there is not exactly one From field holding one
// address (RFC 7489 §6.6.1: such messages cannot be evaluated).
func FromDomain(m *check.Message) (string, error) {
	var from []check.Header
	for _, h := range m.Headers {
		if strings.EqualFold(h.Name, "From") {
			from = append(from, h)
		}
	}
	if len(from) != 1 {
		return "", fmt.Errorf("%d From fields", len(from))
	}
	addrs, err := (&mail.AddressParser{WordDecoder: nil}).ParseList(from[0].Value())
	if err != nil {
		return "", fmt.Errorf("From field: %v", err)
	}
	if len(addrs) != 1 {
		return "", fmt.Errorf("From field has %d addresses", len(addrs))
	}
	d := check.Domain(addrs[0].Address)
	if d == "" {
		return "", errors.New("From address has no domain")
	}
	return d, nil
}

// OrgDomain returns the organizational domain of d (the registered domain
// per the public suffix list), or d itself when it is a public suffix.
func OrgDomain(d string) string { return check.OrgDomain(d) }

func aligned(a, b string, mode msgdmarc.AlignmentMode) bool {
	a, b = strings.ToLower(strings.TrimSuffix(a, ".")), strings.ToLower(strings.TrimSuffix(b, "."))
	if mode == msgdmarc.AlignmentStrict {
		return a == b
	}
	return a != "" && OrgDomain(a) == OrgDomain(b)
}

// lookup finds the DMARC record for d: at _dmarc.d, else at the
// organizational domain's. A missing or ambiguous record is (nil, nil).
func lookup(ctx context.Context, dns check.DNS, d string) (rec *msgdmarc.Record, orgFallback bool, err error) {
	rec, err = lookupOne(ctx, dns, d)
	if rec != nil || err != nil {
		return rec, false, err
	}
	if org := OrgDomain(d); org != d {
		rec, err = lookupOne(ctx, dns, org)
		return rec, rec != nil, err
	}
	return nil, false, nil
}

func lookupOne(ctx context.Context, dns check.DNS, d string) (*msgdmarc.Record, error) {
	txts, err := dns.LookupTXT(ctx, "_dmarc."+d)
	var de *net.DNSError
	if errors.As(err, &de) && de.IsNotFound {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var recs []string
	for _, t := range txts {
		// RFC 7489 §6.6.3: records not starting with "v=DMARC1" are
		// discarded; more than one left means no policy.
		if strings.HasPrefix(strings.TrimSpace(t), "v=DMARC1") {
			recs = append(recs, t)
		}
	}
	if len(recs) != 1 {
		return nil, nil
	}
	rec, err := msgdmarc.Parse(recs[0])
	if err != nil {
		return nil, &recordError{err}
	}
	return rec, nil
}

// recordError is a DMARC record that is there but does not parse.
type recordError struct{ err error }

func (e *recordError) Error() string { return "invalid DMARC record: " + e.err.Error() }

// Evaluate applies the From domain's policy to the SPF and DKIM results.
func Evaluate(ctx context.Context, dns check.DNS, m *check.Message, spfRes *spf.Result, sigs []dkim.Signature, sample Sampler) Evaluation {
	var ev Evaluation
	from, err := FromDomain(m)
	if err != nil {
		ev.Result, ev.Err = authres.ResultPermError, err
		return ev
	}
	ev.From = from
	rec, orgFallback, err := lookup(ctx, dns, from)
	var re *recordError
	switch {
	case errors.As(err, &re):
		ev.Result, ev.Err = authres.ResultPermError, err
		return ev
	case err != nil:
		ev.Result, ev.Err = authres.ResultTempError, err
		return ev
	case rec == nil:
		ev.Result = authres.ResultNone
		return ev
	}
	ev.OrgFallback = orgFallback
	ev.Requested = rec.Policy
	if orgFallback && rec.SubdomainPolicy != "" {
		ev.Requested = rec.SubdomainPolicy
	}
	if spfRes != nil && spfRes.Result == "pass" {
		ev.SPFAligned = aligned(spfRes.Domain, from, rec.SPFAlignment)
	}
	for _, s := range sigs {
		if s.Result == authres.ResultPass && aligned(s.Domain, from, rec.DKIMAlignment) {
			ev.DKIMAligned = true
		}
	}
	if ev.SPFAligned || ev.DKIMAligned {
		ev.Result = authres.ResultPass
		return ev
	}
	ev.Result = authres.ResultFail
	ev.Policy = ev.Requested
	if rec.Percent != nil && *rec.Percent < 100 && !sample(*rec.Percent) {
		// RFC 7489 §6.6.4: outside the sample, the next weaker policy.
		switch ev.Policy {
		case msgdmarc.PolicyReject:
			ev.Policy = msgdmarc.PolicyQuarantine
		case msgdmarc.PolicyQuarantine:
			ev.Policy = msgdmarc.PolicyNone
		}
	}
	return ev
}
