package rules

import (
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/emersion/go-msgauth/authres"
	"github.com/mamori-mail/mamori/rules/check"
)

// Thresholds turn a score into an action. A zero threshold is off.
type Thresholds struct {
	AddHeader  float64
	Quarantine float64
	Reject     float64
}

// Policy is the operator's mapping from findings to outcomes: thresholds,
// replies, score overrides and the headers Mamori adds.
type Policy struct {
	Thresholds    Thresholds
	RejectReply   check.Reply // score-based and default rejects
	TempfailReply check.Reply // failures and default tempfails
	// Scores overrides the score of any symbol by name.
	Scores map[string]float64
	// HeadersOnClean adds the X-Spam-* and X-Mamori-Verdict headers to every
	// delivered message, not only to flagged ones.
	HeadersOnClean bool
	// Report adds X-Mamori-Report with each symbol and its score.
	Report bool
	// ServerName labels the report header, so that a message that passed
	// several filters shows which one said what.
	ServerName string
	// AuthServID names this server in Authentication-Results; incoming
	// fields that claim it are removed.
	AuthServID string
	// Meta are the meta rules, evaluated over every check's symbols at end
	// of message, before the score is summed.
	Meta *Meta
	// Domains are thresholds for mail to particular recipient domains,
	// each already complete (unset fields taken from Thresholds).
	Domains []DomainPolicy
}

// DomainPolicy is the thresholds for mail to some recipient domains.
type DomainPolicy struct {
	Name string
	// Domains are lower-case domains; ".example.jp" matches every
	// subdomain of example.jp.
	Domains    []string
	Thresholds Thresholds
}

func (d *DomainPolicy) matches(domain string) bool {
	for _, p := range d.Domains {
		if p == domain || p[0] == '.' && strings.HasSuffix(domain, p) {
			return true
		}
	}
	return false
}

// thresholdsFor returns the thresholds for a message to rcpts, and the
// name of the domain policy that set them ("" for the global ones). A
// milter cannot split a message between recipients, so a message whose
// recipients fall under different policies is judged by the most
// protective threshold of each action among them ("mixed").
func (p *Policy) thresholdsFor(rcpts []string) (Thresholds, string) {
	if len(p.Domains) == 0 {
		return p.Thresholds, ""
	}
	var pols []*DomainPolicy
	var global bool
	for _, r := range rcpts {
		_, dom, _ := strings.Cut(strings.Trim(r, "<>"), "@")
		dom = strings.ToLower(strings.TrimSuffix(dom, "."))
		var hit *DomainPolicy
		for i := range p.Domains {
			if p.Domains[i].matches(dom) {
				hit = &p.Domains[i]
				break
			}
		}
		if hit == nil {
			global = true
		} else if !slices.Contains(pols, hit) {
			pols = append(pols, hit)
		}
	}
	switch {
	case len(pols) == 0:
		return p.Thresholds, ""
	case len(pols) == 1 && !global:
		return pols[0].Thresholds, pols[0].Name
	}
	th := p.Thresholds
	if !global {
		th = pols[0].Thresholds
	}
	for _, d := range pols {
		th.AddHeader = stricter(th.AddHeader, d.Thresholds.AddHeader)
		th.Quarantine = stricter(th.Quarantine, d.Thresholds.Quarantine)
		th.Reject = stricter(th.Reject, d.Thresholds.Reject)
	}
	return th, "mixed"
}

// stricter returns the lower of two thresholds, where 0 is off.
func stricter(a, b float64) float64 {
	if a == 0 || b != 0 && b < a {
		return b
	}
	return a
}

// Verdict is the final word on a message (or on a command before DATA).
type Verdict struct {
	Action  check.Action   `json:"action"`
	Score   float64        `json:"score"`
	Reply   check.Reply    `json:"-"`
	Reason  string         `json:"reason"`
	Symbols []check.Symbol `json:"symbols"`
	// Decider names the check whose decision set the action ("" when the score
	// did, or nothing was found).
	Decider     string              `json:"decider,omitempty"`
	Headers     []check.HeaderField `json:"-"`
	AuthResults []authres.Result    `json:"-"`
	// Policy names the recipient-domain policy whose thresholds applied
	// ("" for the global ones, "mixed" for several).
	Policy string `json:"policy,omitempty"`
	// applied are the thresholds Final used.
	applied *Thresholds
}

// Transaction accumulates what checks report over the stages of one message.
// It is owned by one session goroutine; the engine locks while merging the
// concurrent results of one stage.
type Transaction struct {
	symbols  []check.Symbol
	decision *check.Decision
	decider  string
	allowed  bool
	allowBy  string
	headers  []check.HeaderField
	authres  []authres.Result
}

// Reset clears the transaction for the next message on the connection.
func (t *Transaction) Reset() { *t = Transaction{} }

// Allowed reports whether an allow-list entry ended the checks.
func (t *Transaction) Allowed() bool { return t.allowed }

// Symbols returns what has been found so far.
func (t *Transaction) Symbols() []check.Symbol { return t.symbols }

// merge folds one check's result in. Score overrides apply here, once, so
// every consumer (headers, audit, JSON) sees the same numbers.
func (t *Transaction) merge(name string, r check.Result, p *Policy) {
	for _, s := range r.Symbols {
		if v, ok := p.Scores[s.Name]; ok {
			s.Score = v
		}
		if s.Check == "" {
			s.Check = name
		}
		t.symbols = append(t.symbols, s)
	}
	t.headers = append(t.headers, r.Headers...)
	t.authres = append(t.authres, r.AuthResults...)
	if d := r.Decision; d != nil {
		if d.Action == check.ActAllow {
			if !t.allowed {
				t.allowed, t.allowBy = true, name
			}
			return
		}
		if t.decision == nil || d.Action > t.decision.Action {
			dd := *d
			t.decision, t.decider = &dd, name
		}
	}
}

// Score is the sum of all symbol scores.
func (t *Transaction) Score() float64 {
	var s float64
	for _, sym := range t.symbols {
		s += sym.Score
	}
	// Round away float noise (0.1+0.2) so thresholds compare as operators
	// expect and reports print cleanly.
	return math.Round(s*1000) / 1000
}

// Final computes the verdict at end of message for a message to rcpts:
// it adds the meta rules' symbols, sums the score and applies the
// thresholds of the recipients' policy.
func (t *Transaction) Final(p *Policy, rcpts []string) Verdict {
	if !t.allowed {
		t.symbols = append(t.symbols, p.Meta.Eval(t.symbols, p.Scores)...)
	}
	v := Verdict{Score: t.Score(), Symbols: sortedSymbols(t.symbols), AuthResults: t.authres}
	v.Headers = append(v.Headers, t.headers...)
	switch {
	case t.allowed:
		v.Action, v.Decider, v.Reason = check.ActAccept, t.allowBy, "allow-listed by "+t.allowBy
	default:
		th, pol := p.thresholdsFor(rcpts)
		v.Policy, v.applied = pol, &th
		v.Action = th.action(v.Score)
		if v.Action > check.ActAccept {
			v.Reason = "score " + formatScore(v.Score)
			if pol != "" {
				v.Reason += " (policy " + pol + ")"
			}
		}
		if d := t.decision; d != nil && d.Action >= v.Action {
			v.Action, v.Decider, v.Reply, v.Reason = d.Action, t.decider, d.Reply, d.Reason
		}
	}
	if v.Action == check.ActNone {
		v.Action = check.ActAccept
	}
	if v.Reply.IsZero() {
		switch v.Action {
		case check.ActReject:
			v.Reply = p.RejectReply
		case check.ActTempfail:
			v.Reply = p.TempfailReply
		}
	}
	return v
}

func (th Thresholds) action(score float64) check.Action {
	switch {
	case th.Reject > 0 && score >= th.Reject:
		return check.ActReject
	case th.Quarantine > 0 && score >= th.Quarantine:
		return check.ActQuarantine
	case th.AddHeader > 0 && score >= th.AddHeader:
		return check.ActAddHeader
	}
	return check.ActAccept
}

// Thresholds returns the thresholds the verdict was judged by, when a
// score judged it (not for refused commands).
func (v *Verdict) Thresholds() (Thresholds, bool) {
	if v.applied == nil {
		return Thresholds{}, false
	}
	return *v.applied, true
}

// Flagged reports whether the verdict marks the message as spam for the
// X-Spam-Flag header.
func (v *Verdict) Flagged(p *Policy) bool {
	at := p.Thresholds.AddHeader
	if v.applied != nil {
		at = v.applied.AddHeader
	}
	return v.Action >= check.ActAddHeader && v.Action != check.ActDiscard ||
		at > 0 && v.Score >= at
}

// Names of the headers Mamori owns. Incoming copies are removed so that a
// sender cannot pre-label its own mail as clean.
var OwnHeaders = []string{"X-Spam-Flag", "X-Spam-Score", "X-Mamori-Report", "X-Mamori-Verdict"}

// StatusHeaders returns the headers describing v, for delivered and
// quarantined mail.
func (v *Verdict) StatusHeaders(p *Policy) []check.HeaderField {
	flagged := v.Flagged(p)
	if !flagged && !p.HeadersOnClean {
		return nil
	}
	flag := "NO"
	if flagged {
		flag = "YES"
	}
	out := []check.HeaderField{
		{Name: "X-Spam-Flag", Value: flag},
		{Name: "X-Spam-Score", Value: formatScore(v.Score)},
	}
	if p.Report && len(v.Symbols) > 0 {
		out = append(out, check.HeaderField{Name: "X-Mamori-Report", Value: v.report(p.ServerName)})
	}
	out = append(out, check.HeaderField{Name: "X-Mamori-Verdict", Value: v.Action.String()})
	return out
}

// report folds one symbol per line (RFC 5322 §2.2.3) so that long reports
// stay under the 998-byte line limit; folds are "\n\t", which both MTAs
// store correctly (MTA-NOTES).
func (v *Verdict) report(server string) string {
	var b strings.Builder
	if server != "" {
		b.WriteString(server)
		b.WriteString("; ")
	}
	b.WriteString("score=")
	b.WriteString(formatScore(v.Score))
	for _, s := range v.Symbols {
		b.WriteString("\n\t")
		b.WriteString(s.Name)
		b.WriteByte('(')
		b.WriteString(formatScore(s.Score))
		b.WriteByte(')')
	}
	return b.String()
}

func formatScore(f float64) string {
	return strconv.FormatFloat(f, 'f', -1, 64)
}

// sortedSymbols orders by descending absolute score, then name, so reports
// lead with what mattered.
func sortedSymbols(in []check.Symbol) []check.Symbol {
	out := append([]check.Symbol(nil), in...)
	sort.SliceStable(out, func(i, j int) bool {
		ai, aj := math.Abs(out[i].Score), math.Abs(out[j].Score)
		if ai != aj {
			return ai > aj
		}
		return out[i].Name < out[j].Name
	})
	return out
}

// Clone returns an independent copy, so that each message on a connection
// starts from what the connection-level checks found.
func (t *Transaction) Clone() Transaction {
	c := *t
	c.symbols = append([]check.Symbol(nil), t.symbols...)
	c.headers = append([]check.HeaderField(nil), t.headers...)
	c.authres = append([]authres.Result(nil), t.authres...)
	if t.decision != nil {
		d := *t.decision
		c.decision = &d
	}
	return c
}
