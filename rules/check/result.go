package check

import (
	"fmt"
	"strings"

	"github.com/emersion/go-msgauth/authres"
)

// Action is what happens to a message (or, before DATA, to a command).
type Action uint8

// Actions in increasing precedence, so that the strongest of several wins by
// comparison: reject > tempfail > quarantine > discard > add_header > accept.
// Allow is not a verdict of its own: it is an allow-list hit that ends the
// checks early and yields accept.
const (
	ActNone Action = iota
	ActAccept
	ActAddHeader
	ActDiscard
	ActQuarantine
	ActTempfail
	ActReject
	ActAllow Action = 100
)

var actionNames = map[Action]string{
	ActNone: "none", ActAccept: "accept", ActAddHeader: "add_header", ActDiscard: "discard",
	ActQuarantine: "quarantine", ActTempfail: "tempfail", ActReject: "reject", ActAllow: "allow",
}

func (a Action) String() string {
	if s, ok := actionNames[a]; ok {
		return s
	}
	return fmt.Sprintf("action(%d)", a)
}

// ParseAction reads an action name as operators write it in config.
func ParseAction(s string) (Action, error) {
	for a, n := range actionNames {
		if n == s && a != ActNone {
			return a, nil
		}
	}
	return ActNone, fmt.Errorf("unknown action %q (want allow, accept, add_header, discard, quarantine, tempfail or reject)", s)
}

// MarshalText makes actions print by name in JSON.
func (a Action) MarshalText() ([]byte, error) { return []byte(a.String()), nil }

// Reply is an SMTP reply for reject and tempfail: "550 5.7.1 text".
type Reply struct {
	Code   int    // 4xx or 5xx
	Status string // enhanced status code (RFC 3463), "5.7.1"
	Text   string // human text; no CR or LF
}

// IsZero reports whether r is unset.
func (r Reply) IsZero() bool { return r.Code == 0 }

func (r Reply) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d", r.Code)
	if r.Status != "" {
		b.WriteByte(' ')
		b.WriteString(r.Status)
	}
	if r.Text != "" {
		b.WriteByte(' ')
		b.WriteString(r.Text)
	}
	return b.String()
}

// ParseReply reads "550 5.7.1 Some text" (the enhanced code is optional).
func ParseReply(s string) (Reply, error) {
	s = strings.TrimSpace(s)
	if strings.ContainsAny(s, "\r\n") {
		return Reply{}, fmt.Errorf("reply %q must be one line", s)
	}
	code, rest, _ := strings.Cut(s, " ")
	var r Reply
	if len(code) != 3 || (code[0] != '4' && code[0] != '5') || code[1] < '0' || code[1] > '9' || code[2] < '0' || code[2] > '9' {
		return Reply{}, fmt.Errorf("reply %q must start with a 4xx or 5xx code", s)
	}
	r.Code = int(code[0]-'0')*100 + int(code[1]-'0')*10 + int(code[2]-'0')
	if st, text, _ := strings.Cut(rest, " "); isEnhancedStatus(st) {
		if st[0] != code[0] {
			return Reply{}, fmt.Errorf("reply %q: enhanced status %s does not match code class %c", s, st, code[0])
		}
		r.Status, r.Text = st, text
	} else {
		r.Text = rest
	}
	return r, nil
}

func isEnhancedStatus(s string) bool {
	parts := strings.Split(s, ".")
	if len(parts) != 3 || (parts[0] != "4" && parts[0] != "5" && parts[0] != "2") {
		return false
	}
	for _, p := range parts[1:] {
		if p == "" || len(p) > 3 || strings.Trim(p, "0123456789") != "" {
			return false
		}
	}
	return true
}

// Symbol is one named finding: the why behind a score.
type Symbol struct {
	Name   string  `json:"name"`
	Score  float64 `json:"score"`
	Detail string  `json:"detail,omitempty"`
	// Check names the check that reported it; the engine fills it in
	// ("rules" for rule-file and meta rules).
	Check string `json:"check,omitempty"`
}

// Decision is a hard outcome a check was configured to take.
type Decision struct {
	Action Action
	// Reply overrides the configured default reply for reject/tempfail.
	Reply Reply
	// Reason is a short operator-facing explanation (logged, audited, and the
	// quarantine reason); it is never shown to the SMTP client unless it is in
	// Reply.Text.
	Reason string
	// Recipient, when set at the Rcpt stage, limits a reject or tempfail to
	// that recipient: the RCPT command is refused, the transaction goes on.
	Recipient bool
}

// HeaderField is a header field to add.
type HeaderField struct {
	Name  string
	Value string
}

// Result is what one check run reports.
type Result struct {
	Symbols  []Symbol
	Decision *Decision
	Headers  []HeaderField
	// AuthResults are RFC 8601 results (spf, dkim, dmarc),
	// gathered into one Authentication-Results header.
	AuthResults []authres.Result
}

// Add appends a symbol.
func (r *Result) Add(name string, score float64, detail string) {
	r.Symbols = append(r.Symbols, Symbol{Name: name, Score: score, Detail: detail})
}
