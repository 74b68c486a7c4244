package ratelimit

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/netip"
	"strings"
	"time"

	"github.com/mamori-mail/mamori/rules/check"
)

// KeyKind is what a limit counts per.
type KeyKind uint8

const (
	KeySender       KeyKind = iota // envelope sender address
	KeySenderDomain                // its domain
	KeyUser                        // SASL login ({auth_authen})
	KeyClientIP                    // client address, masked to a prefix
)

var keyNames = [...]string{"sender", "sender_domain", "user", "client_ip"}

func (k KeyKind) String() string { return keyNames[k] }

// Unit is what a limit counts.
type Unit uint8

const (
	Messages   Unit = iota // one per transaction
	Recipients             // one per accepted recipient
)

func (u Unit) String() string {
	if u == Recipients {
		return "recipients"
	}
	return "messages"
}

// Limit is one compiled limit.
type Limit struct {
	Name  string
	Key   KeyKind
	Count Unit
	Rate  Rate
	// V4Prefix and V6Prefix mask the client address (KeyClientIP).
	V4Prefix, V6Prefix int
	// Reply answers a refusal; {limit} and {retry} are filled in.
	Reply string

	exact    map[string]override // sender, domain or user → override
	prefixes []prefixOverride    // client_ip overrides, longest first
}

type override struct {
	rate      Rate
	unlimited bool
}

type prefixOverride struct {
	prefix netip.Prefix
	override
}

// Facts are what the limits key on, from the message.
type Facts struct {
	Sender   string
	User     string
	ClientIP netip.Addr
}

// FactsOf takes the facts from m.
func FactsOf(m *check.Message) Facts {
	return Facts{Sender: m.Sender, User: m.AuthUser, ClientIP: m.ClientIP}
}

// value returns the key value of f for l ("" when the limit does not apply:
// the null sender, no SASL login, a local submission without address).
func (l *Limit) value(f Facts) string {
	switch l.Key {
	case KeySender:
		return strings.ToLower(f.Sender)
	case KeySenderDomain:
		return check.Domain(f.Sender)
	case KeyUser:
		return strings.ToLower(f.User)
	case KeyClientIP:
		if !f.ClientIP.IsValid() {
			return ""
		}
		bits := l.V4Prefix
		if f.ClientIP.Is6() {
			bits = l.V6Prefix
		}
		p, err := f.ClientIP.Prefix(bits)
		if err != nil {
			return ""
		}
		return p.String()
	}
	return ""
}

// rateFor applies the overrides for value; ok is false for an unlimited key.
func (l *Limit) rateFor(value string, ip netip.Addr) (Rate, bool) {
	if o, found := l.exact[value]; found {
		return o.rate, !o.unlimited
	}
	if l.Key == KeyClientIP && ip.IsValid() {
		for _, p := range l.prefixes {
			if p.prefix.Contains(ip) {
				return p.rate, !p.unlimited
			}
		}
	}
	return l.Rate, true
}

// Limiter holds the compiled limits and the store.
type Limiter struct {
	Limits []*Limit
	Exempt Exemptions
	Store  Store
	// KeyPrefix starts every key; the limiter adds a hash tag after it so
	// that a message's keys share one Redis Cluster slot (one script sees
	// them all).
	KeyPrefix string
}

// hashTag puts every rate-limit key in one Redis Cluster hash slot.
const hashTag = "{ratelimit}:"

// maxValueLen bounds the key value kept verbatim; longer values (a
// 300-byte sender) are hashed, so that a key stays small.
const maxValueLen = 128

// Planned is one limit applied to one message.
type Planned struct {
	Limit *Limit
	Value string // the key value, for the log and the audit record
	Req   Request
}

// Plan returns the requests for the limits counting unit, each with cost.
func (lm *Limiter) Plan(f Facts, unit Unit, cost int) []Planned {
	var out []Planned
	for _, l := range lm.Limits {
		if l.Count != unit {
			continue
		}
		v := l.value(f)
		if v == "" {
			continue
		}
		rate, limited := l.rateFor(v, f.ClientIP)
		if !limited {
			continue
		}
		kv := v
		if len(kv) > maxValueLen {
			sum := sha256.Sum256([]byte(kv))
			kv = "sha256:" + hex.EncodeToString(sum[:16])
		}
		out = append(out, Planned{Limit: l, Value: v, Req: Request{Key: lm.KeyPrefix + hashTag + l.Name + ":" + kv, Rate: rate, Cost: cost}})
	}
	return out
}

// Denial is one limit that refused.
type Denial struct {
	Planned
	RetryAfter time.Duration
}

// Decide applies mode to the planned requests in one store call and
// returns the limits that refused (none when allowed).
func (lm *Limiter) Decide(ctx context.Context, mode Mode, plan []Planned) (bool, []Denial, error) {
	if len(plan) == 0 {
		return true, nil, nil
	}
	reqs := make([]Request, len(plan))
	for i, p := range plan {
		reqs[i] = p.Req
	}
	res, err := lm.Store.Apply(ctx, mode, reqs)
	if err != nil {
		return false, nil, err
	}
	var denied []Denial
	for i, k := range res.Keys {
		result := "allowed"
		if !k.Allowed {
			result = "limited"
			denied = append(denied, Denial{Planned: plan[i], RetryAfter: k.RetryAfter})
		}
		if mode != Refund {
			decisions.WithLabelValues(plan[i].Limit.Name, result).Inc()
		}
	}
	return res.Allowed, denied, nil
}

// Exemptions skip every limit for trusted clients, users or domains.
type Exemptions struct {
	ClientIPs     []netip.Prefix
	Users         map[string]bool
	SenderDomains []string // "example.org", or ".example.org" for subdomains
}

// Match returns why f is exempt ("" when it is not).
func (e *Exemptions) Match(f Facts) string {
	if f.ClientIP.IsValid() {
		for _, p := range e.ClientIPs {
			if p.Contains(f.ClientIP) {
				return "client_ip"
			}
		}
	}
	if f.User != "" && e.Users[strings.ToLower(f.User)] {
		return "user"
	}
	if d := check.Domain(f.Sender); d != "" {
		for _, x := range e.SenderDomains {
			if d == x || strings.HasPrefix(x, ".") && strings.HasSuffix(d, x) {
				return "sender_domain"
			}
		}
	}
	return ""
}
