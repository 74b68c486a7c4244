package rulefile

import (
	"strings"

	"github.com/mamori-mail/mamori/internal/received"
	"github.com/mamori-mail/mamori/rules/check"
)

// maxTraceFields bounds the Received fields the trace tests read; real
// messages carry under 15, and each is parsed.
const maxTraceFields = 30

// minQueueID is the shortest queue ID matched inside a Message-ID:
// Sendmail's are 8 or more characters, Postfix's 10 or more, Exim's 16,
// and shorter ones could occur in a sender's own identifier by chance.
const minQueueID = 6

// maxMsgID bounds the Message-ID read: RFC 5322 lines are at most 998
// bytes, and the test looks for short IDs in it.
const maxMsgID = 998

// Mail clients write a Message-ID. A relay that takes a message without
// one may write its own from the queue ID it gives the message (Postfix
// for its local clients, Sendmail, Exim), which it also writes in the id
// clause of its Received field. A Message-ID holding the queue ID of a hop
// that took the message from another organisation's host, over the
// network and without authentication, was written by that relay: the
// sender's software wrote none, the mark of a bulk tool speaking SMTP
// itself. A submission server may add one for its own users (RFC 6409
// §8.3), so hops between hosts of one registered domain, authenticated
// ones and ones from private addresses do not count. The MTAs in front of
// Mamori add none for clients on the Internet (Postfix only for local
// clients unless always_add_missing_headers is set; Sendmail shows the
// milter no header it adds), so there missing_message_id sees the same
// senders; this test sees them behind a relay on the way, a list server,
// an upstream gateway, or in a stored message judged later.
func init() {
	builtins["msgid_from_relay"] = builtin{"the Message-ID was written by a relay on the way, not by the sender: it holds, as a whole token, the queue ID that a Received field records for a hop from another organisation's host (another registered domain), unauthenticated and not from a private address", msgidFromRelay}
}

// msgidFromRelay finds the Received field whose queue ID the Message-ID
// holds and names it ("mx.example.net id 4abc123").
func msgidFromRelay(in *Input) (bool, string) {
	f := in.header("Message-ID")
	if f == nil {
		return false, ""
	}
	local := msgidLocal(f.Value)
	if len(local) < minQueueID {
		return false, ""
	}
	n := 0
	for _, h := range in.Headers {
		if !strings.EqualFold(h.Name, "Received") {
			continue
		}
		if n++; n > maxTraceFields {
			break
		}
		c, err := received.Parse(h.Value)
		if err != nil || c.Authenticated || check.LocalClient(c.IP) != "" {
			continue
		}
		if c.Verified && c.Host != "unknown" && c.By != "" && check.OrgDomain(c.Host) == check.OrgDomain(c.By) {
			continue // a hop inside one organisation: its own submission relay
		}
		id, _, _ := strings.Cut(c.ID, "@")
		if len(id) >= minQueueID && holdsToken(local, id) {
			return true, c.By + " id " + c.ID
		}
	}
	return false, ""
}

// holdsToken reports whether id occurs in s as a whole token: not inside
// a longer run of letters and digits, except for the "E" Exim puts in
// front of its queue ID in the Message-IDs it writes.
func holdsToken(s, id string) bool {
	for from := 0; ; {
		i := strings.Index(s[from:], id)
		if i < 0 {
			return false
		}
		i += from
		j := i + len(id)
		before := i == 0 || !isAlnum(s[i-1]) || (s[i-1] == 'e' && (i == 1 || !isAlnum(s[i-2])))
		after := j == len(s) || !isAlnum(s[j])
		if before && after {
			return true
		}
		from = i + 1
	}
}

func isAlnum(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}

// msgidLocal returns the lower-cased part before the @ of a Message-ID
// value ("<id@host>"), or "".
func msgidLocal(v string) string {
	v = strings.TrimSpace(v)
	if len(v) > maxMsgID {
		return ""
	}
	v = strings.TrimPrefix(v, "<")
	local, _, ok := strings.Cut(v, "@")
	if !ok {
		return ""
	}
	return strings.ToLower(local)
}
