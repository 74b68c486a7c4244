package rulefile

import (
	"slices"
	"strings"
	"unicode"

	"github.com/mamori-mail/mamori/reputation/uribl"
	"github.com/mamori-mail/mamori/rules/check"
)

// minRecipientOrgs is the number of organisations other than the sender's
// that recipients_many_orgs needs in To and Cc. People do write to three
// outside organisations at once (a meeting between partners); a list of
// strangers at many providers, shown to each of them, is a mass mailing
// from a tool that puts each batch in To.
const minRecipientOrgs = 4

// maxRecipientAddrs bounds the addresses read from To and Cc: the test
// needs a handful, and a field can hold thousands.
const maxRecipientAddrs = 200

func init() {
	builtins["recipients_many_orgs"] = builtin{"To and Cc hold addresses at 4 or more organisations (registered domains) other than the sender's", recipientsManyOrgs}
}

// recipientsManyOrgs names the organisations it counted. Addresses are
// found leniently (each "@domain" outside quoted strings and comments),
// because the lists bulk tools write, and From fields with raw 8-bit
// names, often fail a strict parse.
func recipientsManyOrgs(in *Input) (bool, string) {
	own := ""
	if f := in.header("From"); f != nil {
		addrDomains(f.Value, 1, func(org string) bool { own = org; return false })
	}
	var orgs []string
	left := maxRecipientAddrs
	for _, f := range in.Headers {
		if left <= 0 {
			break
		}
		if !strings.EqualFold(f.Name, "To") && !strings.EqualFold(f.Name, "Cc") {
			continue
		}
		addrDomains(f.Value, left, func(org string) bool {
			left--
			if org != own && !slices.Contains(orgs, org) {
				orgs = append(orgs, org)
			}
			return true
		})
	}
	if len(orgs) < minRecipientOrgs {
		return false, ""
	}
	return true, strings.Join(orgs, " ")
}

// addrDomains calls fn with the organisation (check.OrgDomain of the name
// uribl.CanonName gives) of each address's domain in an address-list
// value, at most max times and until fn returns false. An address is an
// "@" outside quoted strings and comments (a display name may hold an
// address in quotes, or the whole list be malformed) followed by a host
// name with a dot; internationalized names are compared in their ASCII
// form, so that one organisation written two ways counts once.
func addrDomains(v string, max int, fn func(org string) bool) {
	quoted, comment := false, 0
	for i := 0; i < len(v) && max > 0; i++ {
		switch c := v[i]; {
		case c == '\\':
			i++ // a quoted pair: the next character is literal
		case quoted:
			quoted = c != '"'
		case c == '"':
			quoted = true
		case c == '(':
			comment++
		case c == ')' && comment > 0:
			comment--
		case c == '@' && comment == 0:
			rest := v[i+1:]
			end := strings.IndexFunc(rest, func(r rune) bool {
				return !(r == '.' || r == '-' || unicode.IsLetter(r) || unicode.IsDigit(r))
			})
			if end < 0 {
				end = len(rest)
			}
			host, ok := uribl.CanonName(rest[:end])
			i += end // the loop's i++ then reads the delimiter (a quote may open)
			if !ok || !strings.Contains(host, ".") {
				continue
			}
			max--
			if !fn(check.OrgDomain(host)) {
				return
			}
		}
	}
}
