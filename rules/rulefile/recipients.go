package rulefile

import (
	"slices"
	"strings"

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
// found leniently (each "@domain" in To and Cc), because the lists bulk
// tools write often fail a strict parse.
func recipientsManyOrgs(in *Input) (bool, string) {
	own := ""
	if a := in.fromAddress(); a != nil {
		own = check.OrgDomain(addrDomain(a.Address))
	}
	var orgs []string
	seen := 0
	for _, f := range in.Headers {
		if !strings.EqualFold(f.Name, "To") && !strings.EqualFold(f.Name, "Cc") {
			continue
		}
		for v := f.Value; seen < maxRecipientAddrs; seen++ {
			i := strings.IndexByte(v, '@')
			if i < 0 {
				break
			}
			v = v[i+1:]
			end := strings.IndexFunc(v, func(r rune) bool {
				return !(r == '.' || r == '-' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9')
			})
			if end < 0 {
				end = len(v)
			}
			host := v[:end]
			if !strings.Contains(host, ".") {
				continue
			}
			if org := check.OrgDomain(host); org != own && !slices.Contains(orgs, org) {
				orgs = append(orgs, org)
			}
		}
	}
	if len(orgs) < minRecipientOrgs {
		return false, ""
	}
	return true, strings.Join(orgs, " ")
}
