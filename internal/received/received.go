// Package received reads the SMTP client of a stored message from the
// Received field that the site's own mail server wrote when it took the
// message in: the client's address, its verified host name and the name
// it gave in HELO. A milter is told these facts by the MTA; a message
// judged later (mamori check, the accuracy runs over a stored corpus) has
// only the trace fields, and only the one written by a host the operator
// trusts is evidence: every field below it may be forged by the sender.
//
// It understands the "from" clauses that Postfix, Sendmail, Exim and qmail
// write (RFC 5321 §4.4 leaves the comment's form to the implementation):
//
//	Postfix   from HELO (RDNS [IP])          RDNS "unknown" when unverified
//	Sendmail  from HELO (RDNS [IP])          "(may be forged)" when unverified,
//	          from HELO ([IP])               no RDNS at all
//	          from HELO (user@RDNS [IP])     with an ident answer
//	Exim      from RDNS ([IP] helo=HELO)     from [IP] (helo=HELO)
//	          from HELO ([IP])               HELO equal to the verified name
//	qmail     from RDNS (HELO name) (IP)     from unknown (HELO name) (IP)
package received

import (
	"errors"
	"net/netip"
	"strings"

	"github.com/mamori-mail/mamori/rules/check"
)

// Client is what one Received field tells of the host that sent.
type Client struct {
	IP netip.Addr
	// Host is the client's verified host name, or "unknown" when the
	// receiving server found none (or found one that did not resolve
	// back), as Postfix reports it to a milter.
	Host string
	// Helo is the name the client gave in HELO or EHLO, as written.
	Helo string
	// By is the host that wrote the field.
	By string
}

// ErrNoClient means the field names no client address the parser knows.
var ErrNoClient = errors.New("no client address in the from clause")

// maxField bounds the text read of one field: real ones are under 500
// bytes, and a header can be megabytes.
const maxField = 4096

// Parse reads one Received field's value.
func Parse(value string) (Client, error) {
	if len(value) > maxField {
		value = value[:maxField]
	}
	v := strings.Join(strings.Fields(value), " ")
	var c Client
	if by := clauseWord(v, "by"); by != "" {
		c.By = strings.ToLower(by)
	}
	rest, ok := cutWord(v, "from")
	if !ok {
		return c, ErrNoClient
	}
	// The first word is the HELO name (Postfix, Sendmail) or the verified
	// name (Exim, qmail); the comments after it say which.
	first, rest, _ := strings.Cut(rest, " ")
	comments := leadingComments(rest)
	switch {
	case len(comments) >= 2 && strings.HasPrefix(comments[0], "HELO "):
		// qmail: from RDNS (HELO name) (IP)
		c.Helo = strings.TrimSpace(comments[0][len("HELO "):])
		c.Host = first
		if ip, ok := parseIP(comments[1]); ok {
			c.IP = ip
		}
	case len(comments) >= 1 && strings.Contains(comments[0], "helo="):
		// Exim: from RDNS ([IP] helo=HELO), or from [IP] (helo=HELO)
		in := comments[0]
		_, helo, _ := strings.Cut(in, "helo=")
		c.Helo, _, _ = strings.Cut(helo, " ")
		c.Helo = strings.TrimSuffix(c.Helo, ")")
		if ip, ok := bracketIP(first); ok {
			c.IP, c.Host = ip, "unknown"
		} else {
			c.Host = first
			c.IP, _ = bracketIP(in)
		}
	case len(comments) >= 1:
		// Postfix or Sendmail: from HELO (RDNS [IP]); Exim with the HELO
		// equal to the verified name: from HOST ([IP]).
		in := comments[0]
		c.Helo = first
		ip, ok := bracketIP(in)
		if !ok {
			ip, ok = parseIP(in)
		}
		c.IP = ip
		name := strings.TrimSpace(in[:max(0, strings.IndexByte(in, '['))])
		if _, host, found := strings.Cut(name, "@"); found {
			name = host // Sendmail's ident answer, user@host
		}
		name, _, _ = strings.Cut(name, " ")
		switch {
		case strings.Contains(in, "may be forged"):
			c.Host = "unknown"
		case name == "" && strings.Contains(v, "(Exim "):
			c.Host = first // Exim leaves out a HELO equal to the verified name
		case name == "":
			c.Host = "unknown"
		default:
			c.Host = name
		}
	}
	if !c.IP.IsValid() {
		return c, ErrNoClient
	}
	c.IP = c.IP.Unmap()
	c.Host = strings.ToLower(strings.TrimSuffix(c.Host, "."))
	if c.Host == "" {
		c.Host = "unknown"
	}
	return c, nil
}

// Trusted reports whether a host name belongs to the site: name is one of
// the list or below one that starts with a dot (".example.org").
func Trusted(name string, list []string) bool {
	name = strings.ToLower(strings.TrimSuffix(name, "."))
	for _, t := range list {
		t = strings.ToLower(t)
		if name == t || (strings.HasPrefix(t, ".") && strings.HasSuffix(name, t)) {
			return true
		}
	}
	return false
}

// FromHeaders finds the client that handed the message to the site. It
// reads the Received fields top down, the newest first: fields written by
// the site's own hosts (ours) about its own hosts (ours, loopback, private
// addresses) are internal hops; the first field written by one of ours
// about any other client names the client. It stops at the first field
// not written by one of ours, because from there on the sender writes the
// trace. ok is false when no such field exists.
func FromHeaders(values []string, ours []string) (Client, bool) {
	for _, v := range values {
		c, err := Parse(v)
		if c.By == "" || !Trusted(c.By, ours) {
			return Client{}, false
		}
		if err != nil {
			continue // a hop without an address: fetchmail, local pickup
		}
		if internal(c, ours) {
			continue
		}
		return c, true
	}
	return Client{}, false
}

// FromFields is FromHeaders over a message's header fields.
func FromFields(hs []check.Header, ours []string) (Client, bool) {
	var trace []string
	for _, h := range hs {
		if strings.EqualFold(h.Name, "Received") {
			trace = append(trace, h.Value())
		}
	}
	return FromHeaders(trace, ours)
}

func internal(c Client, ours []string) bool {
	ip := c.IP
	if ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() || ip.IsUnspecified() {
		return true
	}
	return Trusted(c.Host, ours) || (c.Host == "unknown" && Trusted(c.Helo, ours))
}

// cutWord returns what follows the word w at the start of v.
func cutWord(v, w string) (string, bool) {
	if len(v) > len(w) && strings.EqualFold(v[:len(w)], w) && v[len(w)] == ' ' {
		return v[len(w)+1:], true
	}
	return "", false
}

// clauseWord returns the word after the clause keyword w, outside
// comments.
func clauseWord(v, w string) string {
	if rest, ok := cutWord(v, w); ok {
		word, _, _ := strings.Cut(rest, " ")
		return strings.TrimRight(word, ";")
	}
	depth := 0
	for i := 0; i < len(v); i++ {
		switch v[i] {
		case '(':
			depth++
		case ')':
			if depth > 0 {
				depth--
			}
		case ' ':
			if depth == 0 {
				if rest, ok := cutWord(v[i+1:], w); ok {
					word, _, _ := strings.Cut(rest, " ")
					return strings.TrimRight(word, ";")
				}
			}
		}
	}
	return ""
}

// leadingComments returns the parenthesised comments at the start of s
// (nested parentheses kept inside), stopping at the first other word.
func leadingComments(s string) []string {
	var out []string
	for {
		s = strings.TrimLeft(s, " ")
		if !strings.HasPrefix(s, "(") {
			return out
		}
		depth := 0
		end := -1
		for i := 0; i < len(s) && end < 0; i++ {
			switch s[i] {
			case '(':
				depth++
			case ')':
				depth--
				if depth == 0 {
					end = i
				}
			}
		}
		if end < 0 {
			return append(out, s[1:])
		}
		out = append(out, s[1:end])
		s = s[end+1:]
	}
}

// bracketIP finds "[IP]" (with an optional IPv6: tag) in s.
func bracketIP(s string) (netip.Addr, bool) {
	i := strings.IndexByte(s, '[')
	if i < 0 {
		return netip.Addr{}, false
	}
	j := strings.IndexByte(s[i:], ']')
	if j < 0 {
		return netip.Addr{}, false
	}
	return parseIP(s[i+1 : i+j])
}

func parseIP(s string) (netip.Addr, bool) {
	s = strings.TrimSpace(s)
	if len(s) >= 5 && strings.EqualFold(s[:5], "ipv6:") {
		s = s[5:]
	}
	a, err := netip.ParseAddr(s)
	return a, err == nil && a.Zone() == ""
}
