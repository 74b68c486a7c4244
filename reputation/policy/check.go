package policy

import (
	"context"
	"errors"
	"strconv"
	"strings"

	"github.com/mamori-mail/mamori/rules/check"
	"gopkg.in/yaml.v3"
)

// Config is the policy check's section of the configuration.
type Config struct {
	// Entries are matched in order; the first match decides.
	Entries []EntryConfig `yaml:"entries"`
}

// EntryConfig is one list entry. Exactly one of Sender, SenderDomain,
// ClientIP and Recipient is set.
type EntryConfig struct {
	// Sender is a full envelope sender address (case-insensitive).
	Sender string `yaml:"sender"`
	// SenderDomain is a domain; a leading dot matches subdomains only.
	SenderDomain string `yaml:"sender_domain"`
	// ClientIP is an address or CIDR network, IPv4 or IPv6.
	ClientIP string `yaml:"client_ip"`
	// Recipient is an address, or "@domain" for a whole domain.
	Recipient string `yaml:"recipient"`
	// Action is allow, reject, tempfail, quarantine, discard or score.
	Action string `yaml:"action"`
	// Score is added when Action is score (and may accompany any action).
	Score float64 `yaml:"score"`
	// Reply overrides the SMTP reply for reject and tempfail, "550 5.7.1 text".
	Reply string `yaml:"reply"`
	// Symbol overrides the symbol name, e.g. POLICY_REJECT_SENDER.
	Symbol string `yaml:"symbol"`
}

// Checker is the policy-list check.
type Checker struct {
	lists *Lists
}

var _ check.Check = (*Checker)(nil)

func init() {
	check.Register(check.Registration{Name: "policy", Factory: factory, DefaultOn: true, FailurePolicy: check.FailContinue})
}

func factory(node *yaml.Node, _ check.Env) (check.Check, error) {
	var cfg Config
	if err := check.DecodeStrict(node, &cfg, "checks.policy"); err != nil {
		return nil, err
	}
	entries, err := cfg.compile(entryNodes(node))
	if err != nil {
		return nil, err
	}
	return &Checker{lists: Compile(entries)}, nil
}

// entryNodes finds each entry's node so that errors carry its line.
func entryNodes(node *yaml.Node) []*yaml.Node {
	if node == nil || node.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(node.Content); i += 2 {
		if node.Content[i].Value == "entries" && node.Content[i+1].Kind == yaml.SequenceNode {
			return node.Content[i+1].Content
		}
	}
	return nil
}

func (c *Config) compile(nodes []*yaml.Node) ([]Entry, error) {
	var errs []error
	var out []Entry
	for i, ec := range c.Entries {
		var n *yaml.Node
		if i < len(nodes) {
			n = nodes[i]
		}
		path := "checks.policy.entries[" + strconv.Itoa(i) + "]"
		bad := func(format string, args ...any) { errs = append(errs, check.Errorf(n, path, format, args...)) }
		e := Entry{Index: i, Score: ec.Score, Symbol: ec.Symbol}
		set := 0
		if ec.Sender != "" {
			set++
			e.Kind, e.Value = KindSender, strings.ToLower(ec.Sender)
			if !strings.Contains(ec.Sender, "@") {
				bad("sender %q is not an address (use sender_domain for a domain)", ec.Sender)
			}
		}
		if ec.SenderDomain != "" {
			set++
			e.Kind, e.Value = KindSenderDomain, strings.ToLower(strings.TrimSuffix(ec.SenderDomain, "."))
			if strings.Contains(ec.SenderDomain, "@") {
				bad("sender_domain %q must be a domain, not an address", ec.SenderDomain)
			}
		}
		if ec.ClientIP != "" {
			set++
			e.Kind = KindClientIP
			p, err := ParsePrefix(ec.ClientIP)
			if err != nil {
				bad("client_ip %q: %v", ec.ClientIP, err)
			}
			e.Prefix = p
		}
		if ec.Recipient != "" {
			set++
			e.Kind, e.Value = KindRecipient, strings.ToLower(ec.Recipient)
			if !strings.Contains(ec.Recipient, "@") {
				bad("recipient %q must be an address or @domain", ec.Recipient)
			}
		}
		if set != 1 {
			bad("set exactly one of sender, sender_domain, client_ip, recipient (found %d)", set)
		}
		switch ec.Action {
		case "score":
			e.Action = check.ActNone
		case "":
			bad("action is required (allow, reject, tempfail, quarantine, discard or score)")
		default:
			a, err := check.ParseAction(ec.Action)
			if err != nil || a == check.ActAccept || a == check.ActAddHeader {
				bad("action %q: want allow, reject, tempfail, quarantine, discard or score", ec.Action)
			}
			e.Action = a
		}
		if ec.Reply != "" {
			r, err := check.ParseReply(ec.Reply)
			switch {
			case err != nil:
				bad("reply: %v", err)
			case e.Action == check.ActReject && r.Code/100 != 5, e.Action == check.ActTempfail && r.Code/100 != 4:
				bad("reply %q does not fit action %s", ec.Reply, ec.Action)
			case e.Action != check.ActReject && e.Action != check.ActTempfail:
				bad("reply is only used with reject or tempfail")
			}
			e.Reply = r
		}
		out = append(out, e)
	}
	return out, errors.Join(errs...)
}

// Name implements check.Check.
func (c *Checker) Name() string { return "policy" }

// Priority makes the lists run before every other check, so that an allow
// entry spares them and a deny entry costs nothing else.
func (c *Checker) Priority() int { return 10 }

// Stages implements check.Check.
func (c *Checker) Stages() check.StageMask {
	return check.Stages(check.MailFrom, check.Rcpt, check.EOM)
}

type rcptState struct{ total, allowed int }

// Run implements check.Check.
func (c *Checker) Run(_ context.Context, m *check.Message, st check.Stage) (check.Result, error) {
	var res check.Result
	switch st {
	case check.MailFrom:
		if e, ok := c.lists.MatchEnvelope(m.ClientIP, m.Sender); ok {
			apply(&res, e)
		}
	case check.Rcpt:
		s, _ := m.GetState("policy").(*rcptState)
		if s == nil {
			s = &rcptState{}
			m.SetState("policy", s)
		}
		e, ok := c.lists.MatchRecipient(m.Recipient())
		if ok && e.Action == check.ActAllow {
			s.allowed++
			res.Add(e.Symbol, e.Score, e.Describe())
		} else if ok {
			apply(&res, e)
			if res.Decision != nil {
				res.Decision.Recipient = true
			}
		}
		if res.Decision == nil || (res.Decision.Action != check.ActReject && res.Decision.Action != check.ActTempfail) {
			s.total++ // a refused recipient is not part of the message
		}
	case check.EOM:
		// A recipient allow entry spares the message only when it speaks for
		// every recipient: one allow-listed address must not let spam reach
		// the others.
		if s, _ := m.GetState("policy").(*rcptState); s != nil && s.total > 0 && s.allowed == s.total {
			res.Decision = &check.Decision{Action: check.ActAllow, Reason: "all recipients allow-listed"}
		}
	}
	return res, nil
}

func apply(res *check.Result, e Entry) {
	res.Add(e.Symbol, e.Score, e.Describe())
	if e.Action != check.ActNone {
		reply := e.Reply
		if reply.IsZero() {
			reply = defaultReply(e)
		}
		res.Decision = &check.Decision{Action: e.Action, Reply: reply, Reason: "policy " + e.Describe()}
	}
}

// defaultReply says which part of the envelope was refused, the way
// Postfix's access tables do, without naming the list entry.
func defaultReply(e Entry) check.Reply {
	what := [...]string{"Sender", "Sender", "Client", "Recipient"}[e.Kind]
	switch e.Action {
	case check.ActReject:
		return check.Reply{Code: 550, Status: "5.7.1", Text: what + " rejected by local policy"}
	case check.ActTempfail:
		return check.Reply{Code: 450, Status: "4.7.1", Text: what + " temporarily refused by local policy"}
	}
	return check.Reply{}
}

// Close implements check.Check.
func (c *Checker) Close() error { return nil }

// Symbols implements check.SymbolLister: each entry's symbol.
func (c *Checker) Symbols() []string { return c.lists.Symbols() }
