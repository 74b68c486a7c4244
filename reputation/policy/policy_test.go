package policy

import (
	"context"
	"net/netip"
	"testing"

	"github.com/mamori-mail/mamori/rules/check"
	"gopkg.in/yaml.v3"
)

func build(t *testing.T, src string) *Checker {
	t.Helper()
	var n yaml.Node
	if err := yaml.Unmarshal([]byte(src), &n); err != nil {
		t.Fatal(err)
	}
	c, err := factory(n.Content[0], check.Env{})
	if err != nil {
		t.Fatal(err)
	}
	return c.(*Checker)
}

const lists = `
entries:
  - {client_ip: 192.0.2.0/24, action: allow}
  - {sender: Spammer@Example.NET, action: reject, reply: "554 5.7.1 Go away"}
  - {sender_domain: example.net, action: quarantine}
  - {sender_domain: .bulk.example, action: score, score: 2.5}
  - {client_ip: "2001:db8::/32", action: tempfail}
  - {recipient: abuse@example.org, action: allow}
  - {recipient: "@closed.example", action: reject}
  - {recipient: trap@example.org, action: discard}
`

func TestEnvelopeMatches(t *testing.T) {
	c := build(t, lists)
	for _, tc := range []struct {
		name   string
		ip     string
		sender string
		action check.Action
		symbol string
	}{
		{"trusted network beats a denied sender (first match)", "192.0.2.9", "spammer@example.net", check.ActAllow, "POLICY_ALLOW_CLIENT_IP"},
		{"sender match is case-insensitive", "198.51.100.1", "SPAMMER@example.net", check.ActReject, "POLICY_REJECT_SENDER"},
		{"domain entry matches that domain", "198.51.100.1", "other@example.net", check.ActQuarantine, "POLICY_QUARANTINE_SENDER_DOMAIN"},
		{"plain domain entry does not match subdomains", "198.51.100.1", "a@sub.example.net", check.ActNone, ""},
		{"dot entry matches subdomains", "198.51.100.1", "a@news.bulk.example", check.ActNone, "POLICY_SCORE_SENDER_DOMAIN"},
		{"dot entry does not match the parent", "198.51.100.1", "a@bulk.example", check.ActNone, ""},
		{"IPv6 network", "2001:db8::25", "x@y.example", check.ActTempfail, "POLICY_TEMPFAIL_CLIENT_IP"},
		{"IPv4-mapped IPv6 client matches the IPv4 entry", "::ffff:192.0.2.5", "x@y.example", check.ActAllow, "POLICY_ALLOW_CLIENT_IP"},
		{"null sender matches no sender entry", "198.51.100.1", "", check.ActNone, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := &check.Message{ClientIP: netip.MustParseAddr(tc.ip), Sender: tc.sender}
			res, err := c.Run(context.Background(), m, check.MailFrom)
			if err != nil {
				t.Fatal(err)
			}
			var got check.Action
			if res.Decision != nil {
				got = res.Decision.Action
			}
			if got != tc.action {
				t.Fatalf("action %s, want %s", got, tc.action)
			}
			sym := ""
			if len(res.Symbols) > 0 {
				sym = res.Symbols[0].Name
			}
			if sym != tc.symbol {
				t.Fatalf("symbol %q, want %q", sym, tc.symbol)
			}
			if tc.symbol == "POLICY_SCORE_SENDER_DOMAIN" && res.Symbols[0].Score != 2.5 {
				t.Fatalf("score %v", res.Symbols[0].Score)
			}
			if tc.action == check.ActReject && res.Decision.Reply.String() != "554 5.7.1 Go away" {
				t.Fatalf("reply %v", res.Decision.Reply)
			}
		})
	}
}

func TestRecipients(t *testing.T) {
	c := build(t, lists)
	run := func(m *check.Message, rcpts ...string) (last check.Result) {
		for _, r := range rcpts {
			m.Recipients = append(m.Recipients, r)
			last, _ = c.Run(context.Background(), m, check.Rcpt)
		}
		return last
	}
	m := &check.Message{}
	if r := run(m, "x@closed.example"); r.Decision == nil || r.Decision.Action != check.ActReject || !r.Decision.Recipient {
		t.Fatalf("@domain reject: %+v", r.Decision)
	}
	// One allow-listed recipient among others must not spare the message.
	m = &check.Message{}
	run(m, "abuse@example.org", "someone@example.org")
	if r, _ := c.Run(context.Background(), m, check.EOM); r.Decision != nil {
		t.Fatalf("partial recipient allow spared the message: %+v", r.Decision)
	}
	m = &check.Message{}
	run(m, "abuse@example.org", "ABUSE@example.org")
	if r, _ := c.Run(context.Background(), m, check.EOM); r.Decision == nil || r.Decision.Action != check.ActAllow {
		t.Fatalf("all recipients allow-listed: %+v", r.Decision)
	}
	m = &check.Message{}
	if r := run(m, "trap@example.org"); r.Decision == nil || r.Decision.Action != check.ActDiscard {
		t.Fatalf("discard recipient: %+v", r.Decision)
	}
}
