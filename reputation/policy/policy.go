package policy

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/mamori-mail/mamori/rules/check"
)

// Kind is what an entry matches on.
type Kind uint8

// The entry kinds. Client and sender entries are evaluated together at MAIL
// FROM (first match in file order wins); recipient entries at each RCPT TO.
const (
	KindSender Kind = iota
	KindSenderDomain
	KindClientIP
	KindRecipient
)

var kindSymbol = [...]string{"SENDER", "SENDER_DOMAIN", "CLIENT_IP", "RECIPIENT"}
var kindName = [...]string{"sender", "sender_domain", "client_ip", "recipient"}

// Entry is one compiled list entry.
type Entry struct {
	Kind   Kind
	Value  string       // lower-cased address or domain
	Prefix netip.Prefix // for KindClientIP
	Action check.Action // allow, reject, tempfail, quarantine, discard, or ActNone for score only
	Score  float64
	Reply  check.Reply
	Symbol string
	Index  int // position in the configuration, for the report
}

// Lists is a compiled set of entries.
type Lists struct {
	envelope   []Entry // sender, sender_domain and client_ip, in order
	recipients []Entry
}

// Compile builds Lists from entries.
func Compile(entries []Entry) *Lists {
	l := &Lists{}
	for i := range entries {
		e := entries[i]
		if e.Symbol == "" {
			e.Symbol = defaultSymbol(e)
		}
		if e.Kind == KindRecipient {
			l.recipients = append(l.recipients, e)
		} else {
			l.envelope = append(l.envelope, e)
		}
	}
	return l
}

func defaultSymbol(e Entry) string {
	act := "SCORE"
	if e.Action != check.ActNone {
		act = strings.ToUpper(e.Action.String())
	}
	return "POLICY_" + act + "_" + kindSymbol[e.Kind]
}

// MatchEnvelope returns the first client or sender entry matching the
// client address and envelope sender.
func (l *Lists) MatchEnvelope(client netip.Addr, sender string) (Entry, bool) {
	client = client.Unmap()
	sender = strings.ToLower(sender)
	domain := check.Domain(sender)
	for _, e := range l.envelope {
		switch e.Kind {
		case KindClientIP:
			if client.IsValid() && e.Prefix.Contains(client) {
				return e, true
			}
		case KindSender:
			if sender == e.Value {
				return e, true
			}
		case KindSenderDomain:
			if domainMatch(domain, e.Value) {
				return e, true
			}
		}
	}
	return Entry{}, false
}

// MatchRecipient returns the first recipient entry matching rcpt.
func (l *Lists) MatchRecipient(rcpt string) (Entry, bool) {
	rcpt = strings.ToLower(rcpt)
	domain := check.Domain(rcpt)
	for _, e := range l.recipients {
		if rcpt == e.Value || strings.HasPrefix(e.Value, "@") && domainMatch(domain, e.Value[1:]) {
			return e, true
		}
	}
	return Entry{}, false
}

// domainMatch follows the Postfix access-table habit: "example.com" matches
// that domain only, ".example.com" matches its subdomains only.
func domainMatch(domain, pattern string) bool {
	if domain == "" {
		return false
	}
	if strings.HasPrefix(pattern, ".") {
		return strings.HasSuffix(domain, pattern)
	}
	return domain == pattern
}

// Describe says what matched, for the symbol detail and the audit record.
func (e Entry) Describe() string {
	v := e.Value
	if e.Kind == KindClientIP {
		v = e.Prefix.String()
	}
	return fmt.Sprintf("%s %s (entry %d)", kindName[e.Kind], v, e.Index+1)
}

// ParsePrefix reads "192.0.2.1", "192.0.2.0/24", "2001:db8::/32".
func ParsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, err
		}
		if p.Masked() != p {
			return netip.Prefix{}, fmt.Errorf("%s has host bits set (did you mean %s?)", s, p.Masked())
		}
		return p, nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// Symbols returns the symbols of every entry.
func (l *Lists) Symbols() []string {
	var out []string
	for _, es := range [][]Entry{l.envelope, l.recipients} {
		for _, e := range es {
			out = append(out, e.Symbol)
		}
	}
	return out
}
