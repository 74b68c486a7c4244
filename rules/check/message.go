package check

import (
	"golang.org/x/net/publicsuffix"
	"io"
	"net/netip"
	"strings"
	"sync"
)

// Header is one header field as received: Raw holds the exact bytes after the
// colon up to (not including) the final CRLF, folds as CRLF plus the original
// white space, so that DKIM can see what the sender signed.
type Header struct {
	Name string
	Raw  string
}

// Value returns the unfolded value without leading and trailing white space
// (RFC 5322 §2.2.3). It does not decode RFC 2047 words.
func (h Header) Value() string {
	v := h.Raw
	if strings.IndexByte(v, '\n') >= 0 {
		v = strings.NewReplacer("\r\n", "", "\n", "").Replace(v)
	}
	return strings.TrimSpace(v)
}

// Body is the message body, spooled in memory or on disk. ReadAt and Size let
// several checks read it at once without copies.
type Body interface {
	io.ReaderAt
	Size() int64
}

// Message is everything known about one SMTP transaction. The engine fills it
// stage by stage; checks only read it, except State.
type Message struct {
	// Connection facts.
	ClientIP   netip.Addr // invalid for a local (unix or pickup) submission
	ClientHost string     // verified PTR name, or "unknown"
	ClientPort uint16
	Helo       string
	TLS        string // TLS version, "" when the session is not encrypted
	// AuthUser is the SASL login ({auth_authen}); "" when not authenticated.
	AuthUser string
	// QueueID is the MTA's queue id ({i}); Postfix sends it only from DATA on.
	QueueID string

	// Envelope.
	Sender     string   // MAIL FROM address without brackets; "" for the null sender
	Recipients []string // accepted RCPT TO addresses so far, in order

	// Content, from EOH on (headers) and at Body (body).
	Headers []Header
	Body    Body
	// Size is the message size in bytes as received (headers + body).
	Size int64

	// Macros holds the latest value of every macro the MTA sent during the
	// connection and transaction.
	Macros map[string]string

	// Accepted is set when the transaction ends, before the OnDone
	// functions run: true when the MTA was told to take the message
	// (accept, add headers, quarantine, discard: the client heard 250),
	// false when it was refused or the client gave up. Checks that charged
	// something for the message (rate limits) give it back when false.
	Accepted bool

	// state holds what checks keep between stages (SetState, keyed by
	// check name); the engine never reads it.
	stateMu sync.Mutex
	state   map[string]any
	onDone  []func()
}

// Recipient returns the latest recipient (the one being checked at Rcpt).
func (m *Message) Recipient() string {
	if len(m.Recipients) == 0 {
		return ""
	}
	return m.Recipients[len(m.Recipients)-1]
}

// Header returns the first header named name (case-insensitive) and whether
// there was one.
func (m *Message) Header(name string) (Header, bool) {
	for _, h := range m.Headers {
		if strings.EqualFold(h.Name, name) {
			return h, true
		}
	}
	return Header{}, false
}

// HeaderValue returns the unfolded value of the first header named name.
func (m *Message) HeaderValue(name string) string {
	h, _ := m.Header(name)
	return h.Value()
}

// HeaderBytes returns the header section as the sending MTA wrote it:
// each field with its exact bytes and CRLF, then the empty line. With
// BodyReader it is the message as received (clamd scans it, DKIM verifies
// it).
func (m *Message) HeaderBytes() []byte {
	n := 2
	for _, h := range m.Headers {
		n += len(h.Name) + len(h.Raw) + 3
	}
	b := make([]byte, 0, n)
	for _, h := range m.Headers {
		b = append(b, h.Name...)
		b = append(b, ':')
		b = append(b, h.Raw...)
		b = append(b, "\r\n"...)
	}
	return append(b, "\r\n"...)
}

// BodyReader returns a fresh reader over the whole body.
func (m *Message) BodyReader() io.Reader {
	if m.Body == nil {
		return strings.NewReader("")
	}
	return io.NewSectionReader(m.Body, 0, m.Body.Size())
}

// SetState stores v for the check named key.
func (m *Message) SetState(key string, v any) {
	m.stateMu.Lock()
	defer m.stateMu.Unlock()
	if m.state == nil {
		m.state = map[string]any{}
	}
	m.state[key] = v
}

// StateOnce returns what is stored for key, storing mk() first if nothing
// is: checks running at once use it to share per-message work.
func (m *Message) StateOnce(key string, mk func() any) any {
	m.stateMu.Lock()
	defer m.stateMu.Unlock()
	if v, ok := m.state[key]; ok {
		return v
	}
	if m.state == nil {
		m.state = map[string]any{}
	}
	v := mk()
	m.state[key] = v
	return v
}

// GetState returns what SetState stored for key.
func (m *Message) GetState(key string) any {
	m.stateMu.Lock()
	defer m.stateMu.Unlock()
	return m.state[key]
}

// OnDone registers fn to run once when the message is finished (delivered,
// refused or aborted): checks use it to remove what they spooled.
func (m *Message) OnDone(fn func()) {
	m.stateMu.Lock()
	defer m.stateMu.Unlock()
	m.onDone = append(m.onDone, fn)
}

// Done runs the OnDone functions, last registered first. Calling it again
// does nothing.
func (m *Message) Done() {
	m.stateMu.Lock()
	fns := m.onDone
	m.onDone = nil
	m.stateMu.Unlock()
	for i := len(fns) - 1; i >= 0; i-- {
		fns[i]()
	}
}

// SenderDomain returns the domain of the envelope sender, lower-cased.
func (m *Message) SenderDomain() string { return Domain(m.Sender) }

// Domain returns the lower-cased domain part of an address ("" if none).
func Domain(addr string) string {
	i := strings.LastIndexByte(addr, '@')
	if i < 0 {
		return ""
	}
	return strings.ToLower(strings.TrimSuffix(addr[i+1:], "."))
}

// OrgDomain returns the organizational (registered) domain of a host name
// per the public suffix list, lower-cased: "mail.example.co.jp" →
// "example.co.jp". A name that is itself a public suffix, or not a name,
// is returned as it is.
func OrgDomain(host string) string {
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	org, err := publicsuffix.EffectiveTLDPlusOne(host)
	if err != nil {
		return host
	}
	return org
}

// ParseAddress reads an IP address as SMTP writes one: bare, or as an
// address literal ("[192.0.2.1]", "[IPv6:2001:db8::1]", RFC 5321 §4.1.3).
// Zoned addresses are refused: no remote client has one.
func ParseAddress(s string) (netip.Addr, bool) {
	s = strings.TrimSpace(s)
	if len(s) >= 2 && s[0] == '[' && s[len(s)-1] == ']' {
		s = s[1 : len(s)-1]
	}
	if len(s) >= 5 && strings.EqualFold(s[:5], "ipv6:") {
		s = s[5:]
	}
	a, err := netip.ParseAddr(s)
	return a, err == nil && a.Zone() == ""
}

// LocalClient returns why ip is not a client on the Internet: "no client
// address" (a local submission), "loopback", or "private address" (RFC
// 1918, ULA, link-local, RFC 6598 shared space); "" for a public address.
// The DNS checks skip such clients: no list knows them, and SPF and DMARC
// describe mail arriving from the Internet.
func LocalClient(ip netip.Addr) string {
	ip = ip.Unmap()
	switch {
	case !ip.IsValid():
		return "no client address"
	case ip.IsLoopback():
		return "loopback"
	case ip.IsPrivate(), ip.IsLinkLocalUnicast(), ip.IsUnspecified(), sharedSpace.Contains(ip):
		return "private address"
	}
	return ""
}

var sharedSpace = netip.MustParsePrefix("100.64.0.0/10") // RFC 6598
