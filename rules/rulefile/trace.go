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

// Every mail client and submission server writes a Message-ID. A relay
// that takes a message without one may write its own (Postfix for its
// local clients, Sendmail, Exim, most providers' relays) from the queue
// ID it gives the message, which it also writes in the id clause of its
// Received field. A Message-ID holding the queue ID of a hop that took
// the message from another host, over the network and without
// authentication, is therefore one the sender did not write: the mark of
// a bulk tool speaking SMTP itself. The MTAs in front of Mamori add none
// for clients on the Internet (Postfix only for local clients, unless
// always_add_missing_headers is set; Sendmail shows the milter no header
// it adds), so there missing_message_id catches the same senders; this
// test catches them after a relay on the way, a list server, an
// upstream gateway, or in a stored message judged later.
func init() {
	builtins["msgid_from_relay"] = builtin{"the Message-ID was written by a relay on the way, not by the sender: it holds the queue ID that a Received field records for a hop from another host, unauthenticated and not from a private address", msgidFromRelay}
	builtins["sender_no_message_id"] = builtin{"the sender wrote no Message-ID: the field is missing, or a relay wrote it (msgid_from_relay)", func(in *Input) (bool, string) {
		if in.header("Message-ID") == nil {
			return true, ""
		}
		return msgidFromRelay(in)
	}}
}

// msgidFromRelay finds the Received field whose queue ID the Message-ID
// holds, among hops from another host, and names it ("mx.example.net id
// 4AbC123").
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
		id, _, _ := strings.Cut(c.ID, "@")
		if len(id) >= minQueueID && strings.Contains(local, id) {
			return true, c.By + " id " + c.ID
		}
	}
	return false, ""
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
