package rules

import (
	"strings"

	"github.com/emersion/go-msgauth/authres"
	"github.com/mamori-mail/mamori/rules/check"
)

// AuthResultsHeader returns the Authentication-Results field (RFC 8601) for
// the results the checks reported, one result per folded line, and false
// when no check reported any. Formatting is go-msgauth's authres.
func (v *Verdict) AuthResultsHeader(p *Policy) (check.HeaderField, bool) {
	if len(v.AuthResults) == 0 || p.AuthServID == "" {
		return check.HeaderField{}, false
	}
	var b strings.Builder
	b.WriteString(p.AuthServID)
	prefix := p.AuthServID + "; "
	for _, r := range v.AuthResults {
		b.WriteString(";\n\t")
		b.WriteString(strings.TrimPrefix(authres.Format(p.AuthServID, []authres.Result{r}), prefix))
	}
	return check.HeaderField{Name: "Authentication-Results", Value: b.String()}, true
}

// ForgedAuthResults returns the 1-based positions, among the message's
// Authentication-Results fields, of those that claim to come from
// authservID. RFC 8601 §5: an MTA must remove such fields from incoming
// mail, or a sender could forge this server's verdicts.
//
// The identity is read here rather than with authres.Parse: Parse gives up
// (returns no identity) on a comment or an unknown version after the
// authserv-id, so "mx.example.org (trusted); spf=pass" would be kept
// (rules/authres_test.go shows it).
func ForgedAuthResults(headers []check.Header, authservID string) []int {
	if authservID == "" {
		return nil
	}
	var out []int
	n := 0
	for _, h := range headers {
		if !strings.EqualFold(h.Name, "Authentication-Results") {
			continue
		}
		n++
		if strings.EqualFold(authServIDOf(h.Value()), authservID) {
			out = append(out, n)
		}
	}
	return out
}

// authServIDOf returns the authserv-id of an Authentication-Results value:
// the first token before ";", with RFC 5322 comments removed.
func authServIDOf(v string) string {
	head, _, _ := strings.Cut(v, ";")
	var b strings.Builder
	depth := 0
	escaped := false
	for _, r := range head {
		switch {
		case escaped:
			escaped = false
		case r == '\\' && depth > 0:
			escaped = true
		case r == '(':
			depth++
		case r == ')' && depth > 0:
			depth--
		case depth == 0:
			b.WriteRune(r)
		}
	}
	fields := strings.Fields(b.String())
	if len(fields) == 0 {
		return ""
	}
	return strings.Trim(fields[0], `"`)
}
