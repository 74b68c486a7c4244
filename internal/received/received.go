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
//	          from [IP], from [IP] (port=N)  HELO the address, or none
//	qmail     from RDNS (HELO name) (IP)     from unknown (HELO name) (user@IP)
//	fetchmail from HOST [IP] by localhost with IMAP
//
// Other forms, Exchange's among them (an address without brackets and no
// verified name), are refused rather than guessed at. The by clause is
// read only after the from clause and its comments, where no HELO name
// can pose as it.
package received

import (
	"cmp"
	"errors"
	"net/netip"
	"strings"
	"unicode/utf8"

	"github.com/mamori-mail/mamori/rules/check"
)

// Client is what one Received field tells of the host that sent.
type Client struct {
	IP netip.Addr
	// Host is the client's verified host name, or "unknown" when the
	// receiving server found none (or found one that did not resolve
	// back), as Postfix reports it to a milter. qmail does not verify the
	// name it writes; Verified says whether the name is one the client
	// could not choose (a verified PTR name, or fetchmail's configured
	// server).
	Host     string
	Verified bool
	// Helo is the name the client gave in HELO or EHLO, as written; ""
	// when the field does not say.
	Helo string
	// By is the host that wrote the field.
	By string
	// Authenticated is set when the field records an SMTP AUTH login
	// (ESMTPA, ESMTPSA, "Authenticated sender:", Sendmail's
	// "(authenticated"); User is the login when it is written.
	Authenticated bool
	User          string
	// ID is the queue ID the receiving server gave the message (the id
	// clause), lower-cased, without angle brackets; "" when not written.
	ID string
}

// ErrNoClient means the field has no from clause.
var ErrNoClient = errors.New("no from clause")

// ErrUnknownFormat means the field has a from clause in a form the parser
// does not know, or one that does not record a verified host name.
var ErrUnknownFormat = errors.New("from clause in an unknown form")

// maxField bounds the text read of one field: real ones are under 500
// bytes, and a header can be megabytes. maxName bounds a name kept (a DNS
// name is at most 253 bytes).
const (
	maxField = 4096
	maxName  = 255
)

// Parse reads one Received field's value.
func Parse(value string) (Client, error) {
	if len(value) > maxField {
		value = value[:maxField]
	}
	v := strings.Join(strings.Fields(strings.ToValidUTF8(value, "?")), " ")
	var c Client
	rest, ok := cutWord(v, "from")
	if !ok {
		c.By = clauseWord(v, "by")
		return c, ErrNoClient
	}
	// The first word is the HELO name (Postfix, Sendmail) or the verified
	// name (Exim, qmail); the comments after it say which. The by clause
	// is looked for only after them, so that no HELO name can pose as it.
	first, rest, _ := strings.Cut(rest, " ")
	comments, after := leadingComments(rest)
	c.By = clauseWord(after, "by")
	c.ID = bound(strings.Trim(clauseWord(after, "id"), "<>"))
	c.Authenticated, c.User = authentication(after, comments)
	var err error
	switch {
	case len(comments) >= 2 && strings.HasPrefix(comments[0], "HELO "):
		// qmail: from NAME (HELO name) (IP), or (user@IP) with an
		// ident answer. NAME is tcpserver's unverified PTR name.
		c.Helo = strings.TrimSpace(comments[0][len("HELO "):])
		c.Host = first
		addr := comments[1]
		if i := strings.LastIndexByte(addr, '@'); i >= 0 {
			addr = addr[i+1:]
		}
		if c.IP, ok = check.ParseAddress(addr); !ok {
			err = ErrUnknownFormat
		}
	case strings.HasPrefix(first, "[") && (len(comments) == 0 || !strings.Contains(comments[0], "[")):
		// Exim without a verified name: from [IP], with (helo=NAME),
		// (port=N) or nothing when the HELO was the address itself.
		ip, ok := bracketIP(first)
		if !ok {
			err = ErrUnknownFormat
		}
		c.IP, c.Host, c.Verified = ip, "unknown", true
		if len(comments) > 0 {
			c.Helo = eximHelo(comments[0])
		}
	case len(comments) >= 1 && strings.Contains(comments[0], "helo="):
		// Exim: from NAME ([IP] helo=HELO), NAME verified.
		c.Host, c.Verified, c.Helo = first, true, eximHelo(comments[0])
		if c.IP, ok = bracketIP(comments[0]); !ok {
			err = ErrUnknownFormat
		}
	case len(comments) >= 1:
		// Postfix or Sendmail: from HELO (RDNS [IP]); Exim with the HELO
		// equal to the verified name: from HOST ([IP]). An address
		// without brackets (Exchange) comes with no verified name, so
		// those fields are not read.
		in := comments[0]
		c.Helo, c.Verified = first, true
		if c.IP, ok = bracketIP(in); !ok {
			err = ErrUnknownFormat
			break
		}
		name := strings.TrimSpace(in[:strings.IndexByte(in, '[')])
		if _, host, found := strings.Cut(name, "@"); found {
			name = host // Sendmail's ident answer, user@host
		}
		name, _, _ = strings.Cut(name, " ")
		switch {
		case strings.Contains(in, "may be forged"):
			c.Host = "unknown"
		case name == "" && strings.Contains(v, "(Exim "):
			c.Host, c.Helo = first, first // Exim leaves out a HELO equal to the verified name
		case name == "":
			c.Host = "unknown"
		default:
			c.Host = name
		}
	case strings.HasPrefix(after, "["):
		// fetchmail: from HOST [IP] by localhost with IMAP; HOST is the
		// server the site's own configuration told fetchmail to poll, a
		// name the server did not choose.
		word, _, _ := strings.Cut(after, " ")
		c.Host, c.Verified = first, true
		if c.IP, ok = bracketIP(word); !ok {
			err = ErrUnknownFormat
		}
	default:
		err = ErrUnknownFormat
	}
	if err != nil {
		return c, err
	}
	c.IP = c.IP.Unmap()
	c.Host = bound(strings.ToLower(strings.TrimSuffix(c.Host, ".")))
	c.Helo = bound(c.Helo)
	if c.Host == "" {
		c.Host = "unknown"
	}
	return c, nil
}

// bound cuts a name to maxName bytes, at a character boundary.
func bound(s string) string {
	if len(s) <= maxName {
		return s
	}
	s = s[:maxName]
	for len(s) > 0 && !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s
}

// eximHelo returns the helo= value of an Exim comment.
func eximHelo(comment string) string {
	_, helo, ok := strings.Cut(comment, "helo=")
	if !ok {
		return ""
	}
	helo, _, _ = strings.Cut(helo, " ")
	return strings.TrimSuffix(helo, ")")
}

// authentication reads an SMTP AUTH login from the comments Postfix
// ("Authenticated sender: alice") and Sendmail ("authenticated as alice
// bits=0", "authenticated bits=0") write, or from the with clause
// (ESMTPA, ESMTPSA: RFC 3848).
func authentication(after string, comments []string) (bool, string) {
	for _, c := range comments {
		if rest, ok := strings.CutPrefix(c, "Authenticated sender: "); ok {
			user, _, _ := strings.Cut(rest, " ")
			return true, bound(user)
		}
		if rest, ok := strings.CutPrefix(c, "authenticated"); ok && (rest == "" || rest[0] == ' ') {
			if r, ok := strings.CutPrefix(rest, " as "); ok {
				user, _, _ := strings.Cut(r, " ")
				return true, bound(user)
			}
			return true, ""
		}
	}
	switch clauseWord(after, "with") {
	case "esmtpa", "esmtpsa", "lmtpa", "lmtpsa", "utf8smtpa", "utf8smtpsa":
		return true, ""
	}
	return false, ""
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
// the site's own hosts (ours) about its own hosts (a verified name of
// ours, fetchmail's configured server when it is ours, loopback, private
// addresses) are internal hops, and fields without a from clause (a local
// pickup) are skipped; the first field
// written by one of ours about any other client names the client. It
// stops, finding none, at the first field not written by one of ours or
// whose from clause it cannot read: from there on the trace may be the
// sender's. A HELO name never makes a hop internal: the client chose it.
func FromHeaders(values []string, ours []string) (Client, bool) {
	for _, v := range values {
		c, err := Parse(v)
		if c.By == "" || !Trusted(c.By, ours) {
			return Client{}, false
		}
		switch {
		case errors.Is(err, ErrNoClient):
			continue
		case err != nil:
			return Client{}, false
		case internal(c, ours):
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

// Apply gives m the connection facts the MTA would have told the milter:
// the client's address, host name and HELO, and for an authenticated
// submission its login ("authenticated" when the field does not name it).
func (c Client) Apply(m *check.Message) {
	m.ClientIP, m.ClientHost, m.Helo = c.IP, c.Host, c.Helo
	if c.Authenticated {
		m.AuthUser = cmp.Or(c.User, "authenticated")
	}
}

func internal(c Client, ours []string) bool {
	return check.LocalClient(c.IP) != "" || (c.Verified && Trusted(c.Host, ours))
}

// cutWord returns what follows the word w at the start of v.
func cutWord(v, w string) (string, bool) {
	if len(v) > len(w) && strings.EqualFold(v[:len(w)], w) && v[len(w)] == ' ' {
		return v[len(w)+1:], true
	}
	return "", false
}

// clauseWord returns the word after the clause keyword w, outside
// comments, lower-cased.
func clauseWord(v, w string) string {
	depth := 0
	for i := 0; i < len(v); i++ {
		if depth == 0 && (i == 0 || v[i-1] == ' ') {
			if rest, ok := cutWord(v[i:], w); ok {
				word, _, _ := strings.Cut(rest, " ")
				return strings.ToLower(strings.TrimRight(word, ";"))
			}
		}
		switch v[i] {
		case '(':
			depth++
		case ')':
			if depth > 0 {
				depth--
			}
		}
	}
	return ""
}

// leadingComments returns the parenthesised comments at the start of s
// (nested parentheses kept inside) and what follows them.
func leadingComments(s string) ([]string, string) {
	var out []string
	for {
		s = strings.TrimLeft(s, " ")
		if !strings.HasPrefix(s, "(") {
			return out, s
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
			return append(out, s[1:]), ""
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
	return check.ParseAddress(s[i+1 : i+j])
}
