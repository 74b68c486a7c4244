package rulefile

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/mamori-mail/mamori/rules/check"
)

// Client is the SMTP client as the MTA reported it.
type Client struct {
	IP netip.Addr
	// Host is the verified host name, "unknown" (Postfix) or "[IP]"
	// (Sendmail) when there is none.
	Host string
	Helo string
	// Judged is false when the client tests do not apply: a local or
	// private client (a submission, a relay of our own), an authenticated
	// one, or none known (a stored message judged without its client).
	Judged bool
}

func clientOf(m *check.Message) Client {
	c := Client{IP: m.ClientIP.Unmap(), Host: strings.ToLower(strings.TrimSuffix(m.ClientHost, ".")), Helo: m.Helo}
	if strings.Contains(m.Macros["_"], "may be forged") {
		// Sendmail passes a PTR name whose forward lookup failed as the
		// host name, and says so only in its "_" macro.
		c.Host = "unknown"
	}
	c.Judged = check.LocalClient(c.IP) == "" && m.AuthUser == ""
	return c
}

// The client tests describe how a host that sends mail names itself. A
// mail server on the Internet has a host name that resolves both ways
// (RFC 1912 §2.1; the large mailbox providers refuse mail without one)
// and says it in HELO (RFC 5321 §4.1.1.1: a fully qualified name, or an
// address literal only when it has none). Hosts in address pools (home
// lines, dial-up, mobile) have generated names and are not mail servers:
// mail straight from them is malware or a misconfigured script.
func init() {
	for name, b := range map[string]builtin{
		"client_no_rdns": {"the SMTP client has no verified host name (no PTR record, or one whose name does not resolve back to the address)", func(in *Input) (bool, string) {
			c := in.Client
			if !c.Judged {
				return false, ""
			}
			return c.Host == "" || c.Host == "unknown" || strings.HasPrefix(c.Host, "["), c.IP.String()
		}},
		"client_dynamic": {"the SMTP client's host name is an address pool's: it holds the address's numbers (c-198-51-100-7.example.net) and no mail-server word (mail, mx, smtp, mta, out, static, ...), or a word such as dsl, dialup, dynamic, pool, ppp, cable", func(in *Input) (bool, string) {
			c := in.Client
			if !c.Judged {
				return false, ""
			}
			return poolName(c.Host, c.IP), c.Host
		}},
		"helo_not_fqdn": {"the HELO name has no dot or is localhost.anything (RFC 5321 wants a fully qualified name or an address literal)", func(in *Input) (bool, string) {
			c := in.Client
			if !c.Judged || c.Helo == "" || isAddress(c.Helo) {
				return false, ""
			}
			h := strings.ToLower(strings.TrimSuffix(c.Helo, "."))
			return !strings.Contains(h, ".") || h == "localhost.localdomain" || strings.HasPrefix(h, "localhost."), c.Helo
		}},
		"helo_ip": {"the HELO name is an IP address, bare or as an address literal [192.0.2.1], rather than a host name", func(in *Input) (bool, string) {
			c := in.Client
			return c.Judged && isAddress(c.Helo), c.Helo
		}},
		"helo_dynamic": {"the HELO name is an address pool's host name (as client_dynamic)", func(in *Input) (bool, string) {
			c := in.Client
			if !c.Judged || isAddress(c.Helo) {
				return false, ""
			}
			return poolName(c.Helo, c.IP), c.Helo
		}},
	} {
		builtins[name] = b
	}
}

// isAddress reports whether a HELO name is an IP address, bare or as an
// address literal.
func isAddress(helo string) bool {
	_, ok := check.ParseAddress(helo)
	return ok
}

// poolWords are the words providers put in the names of addresses they
// hand out to customers. A name's words are split at dots and hyphens,
// digits at a word's end dropped (adsl-…, dhcp123, dyn-…).
var poolWords = []string{
	"adsl", "broadband", "cable", "cpe", "cust", "customer", "dhcp", "dial", "dialin", "dialup",
	"dip", "dsl", "dyn", "dynamic", "dynip", "ftth", "pool", "ppp", "pppoe", "resident", "residential",
	"vdsl", "xdsl",
}

// mailWords name hosts that send mail for a living; with one of them the
// address's numbers in a name are a server's numbering, not a pool's.
// "static" marks an address a provider rents out for good, as hosting
// companies name their servers (static.203.0.113.5.clients.example).
var mailWords = []string{"bounce", "bounces", "email", "mail", "mailer", "mta", "mx", "out", "outbound", "relay", "send", "sender", "smtp", "static"}

// poolName reports whether a host name looks generated for an address
// pool: left of its registered domain, one of its words is in poolWords;
// or two of the address's last numbers stand next to each other (in
// either order, in decimal, or the whole address in hex) and none of its
// words is in mailWords.
func poolName(host string, ip netip.Addr) bool {
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	if host == "" || host == "unknown" || strings.HasPrefix(host, "[") || !strings.Contains(host, ".") {
		return false
	}
	left := strings.TrimSuffix(strings.TrimSuffix(host, check.OrgDomain(host)), ".")
	if left == "" {
		return false
	}
	words := strings.FieldsFunc(left, func(r rune) bool { return !('a' <= r && r <= 'z' || '0' <= r && r <= '9') })
	mailServer := false
	for _, w := range words {
		stem := strings.TrimRight(w, "0123456789")
		if slices.Contains(poolWords, stem) {
			return true
		}
		// Senders' own outbound servers are often numbered by address
		// too (mta-201-35.esp.example, o1-2-3-4.smtp-out.example).
		mailServer = mailServer || slices.Contains(mailWords, stem)
	}
	if mailServer || !ip.Is4() {
		return false
	}
	a := ip.As4()
	if strings.Contains(left, fmt.Sprintf("%02x%02x%02x%02x", a[0], a[1], a[2], a[3])) {
		return true
	}
	c, d := strconv.Itoa(int(a[2])), strconv.Itoa(int(a[3]))
	for i := 0; i+1 < len(words); i++ {
		if (words[i] == c && words[i+1] == d) || (words[i] == d && words[i+1] == c) {
			return true
		}
	}
	return false
}
