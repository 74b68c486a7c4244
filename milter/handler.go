package milter

import (
	"strings"

	"github.com/mamori-mail/mamori/rules/check"
)

// Handler is the policy side: the daemon implements it.
type Handler interface {
	// NewConnection is called once per milter connection (one SMTP session).
	NewConnection() ConnHandler
}

// ConnHandler receives one connection's transactions.
type ConnHandler interface {
	// Stage is called when m has been brought up to date for st. At Connect
	// and Helo the answer is not sent (Mamori negotiates no reply there):
	// a refusal found then must be kept and returned at MailFrom.
	Stage(st check.Stage, m *check.Message) Response
	// Refused tells the handler that a resource limit refused a command or the
	// message, for its audit trail; no checks ran on the refused part.
	Refused(st check.Stage, m *check.Message, r check.Reply, why string)
	// EndMessage is called when a transaction ends, after its final reply or
	// on abort, before m is reset for the next one.
	EndMessage(m *check.Message, aborted bool)
	// Close is called when the connection ends.
	Close()
}

// Action is what the session answers.
type Action uint8

// Actions of a Response.
const (
	Continue Action = iota
	Accept
	Reject
	Tempfail
	Discard
	Quarantine
)

// Response is a handler's answer at one stage.
type Response struct {
	Action Action
	// Reply is the SMTP reply for Reject and Tempfail.
	Reply check.Reply
	// AddHeaders are added at end of message (Accept and Quarantine).
	AddHeaders []check.HeaderField
	// RemoveHeaders names headers whose every incoming copy is removed
	// before AddHeaders are added.
	RemoveHeaders []string
	// DeleteHeaders are single incoming fields to remove, each named with
	// its 1-based position among the fields of that name.
	DeleteHeaders []HeaderRef
	// InsertHeaders go above every other field, in order (trace fields
	// such as Authentication-Results belong at the top).
	InsertHeaders []check.HeaderField
	// QuarantineReason is the hold reason (Sendmail keeps it; Postfix logs
	// its own text).
	QuarantineReason string
}

// HeaderRef is one occurrence of a header field.
type HeaderRef struct {
	Name  string
	Index int // 1-based among the fields named Name
}

// replyText makes a reply safe for the milter protocol: one line, no NUL.
// go-milter doubles '%' itself.
func replyText(r check.Reply) string {
	s := r.Status
	if r.Text != "" {
		if s != "" {
			s += " "
		}
		s += r.Text
	}
	return replySanitizer.Replace(s)
}

var replySanitizer = strings.NewReplacer("\r\n", " ", "\r", " ", "\n", " ", "\x00", " ")
