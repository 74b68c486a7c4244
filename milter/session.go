package milter

import (
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"strings"

	gomilter "github.com/d--j/go-milter"
	"github.com/mamori-mail/mamori/internal/spool"
	"github.com/mamori-mail/mamori/rules/check"
)

// session is one milter connection: it builds the check.Message and turns
// handler answers into protocol responses.
type session struct {
	h      ConnHandler
	lim    Limits
	log    *slog.Logger
	msg    *check.Message
	spool  *spool.Spool
	inTx   bool
	hdrLen int64
	// refusal is a limit the message broke; it is answered at end of
	// message, because Mamori negotiates no replies to headers and body.
	refusal    *check.Reply
	refusalWhy string
	leadSpace  bool
}

var _ gomilter.Milter = (*session)(nil)

func newSession(h ConnHandler, lim Limits, log *slog.Logger) *session {
	return &session{h: h, lim: lim, log: log, msg: &check.Message{Macros: map[string]string{}}}
}

// Replies for resource limits. The texts follow Postfix's own, which
// operators and senders already recognise.
var (
	replySize       = check.Reply{Code: 552, Status: "5.3.4", Text: "Message size exceeds fixed limit"}
	replyHeaders    = check.Reply{Code: 552, Status: "5.3.4", Text: "Message header exceeds limit"}
	replyRecipients = check.Reply{Code: 452, Status: "4.5.3", Text: "Too many recipients"}
	replyLocal      = check.Reply{Code: 451, Status: "4.3.0", Text: "Temporary local problem, please try again later"}
)

func (s *session) NewConnection(m gomilter.Modifier) error {
	s.leadSpace = m.Protocol()&gomilter.OptHeaderLeadingSpace != 0
	return nil
}

// macros copies the latest value of every macro Mamori keeps. go-milter
// keeps them per stage and forgets a transaction's at the next MAIL, which is
// the lifetime the message model wants.
func (s *session) macros(m gomilter.Modifier) {
	for _, name := range macroNames {
		if v, ok := m.GetEx(name); ok {
			s.msg.Macros[name] = v
		} else if _, had := s.msg.Macros[name]; had && !connMacro(name) {
			delete(s.msg.Macros, name)
		}
	}
	if q := m.Get("i"); q != "" {
		s.msg.QueueID = q
	}
	if u, ok := m.GetEx("{auth_authen}"); ok {
		s.msg.AuthUser = u
	}
	if v := m.Get("{tls_version}"); v != "" {
		s.msg.TLS = v
	}
}

func connMacro(name string) bool {
	switch name {
	case "j", "{daemon_name}", "{daemon_addr}", "{client_addr}", "{client_name}", "v", "_", "{tls_version}", "{cipher}", "{if_addr}", "{cert_subject}":
		return true
	}
	return false
}

func (s *session) Connect(host, family string, port uint16, addr string, m gomilter.Modifier) (*gomilter.Response, error) {
	s.msg.ClientHost = host
	s.msg.ClientPort = port
	if a, err := netip.ParseAddr(addr); err == nil {
		s.msg.ClientIP = a.Unmap()
	}
	s.macros(m)
	return s.preData(check.Connect)
}

func (s *session) Helo(name string, m gomilter.Modifier) (*gomilter.Response, error) {
	s.msg.Helo = name
	s.macros(m)
	return s.preData(check.Helo)
}

func (s *session) MailFrom(from, _ string, m gomilter.Modifier) (*gomilter.Response, error) {
	if s.inTx {
		s.endMessage(true) // Sendmail sends no ABORT between messages
	}
	s.inTx = true
	s.msg.Sender = gomilter.RemoveAngle(from)
	s.macros(m)
	return s.preData(check.MailFrom)
}

func (s *session) RcptTo(rcpt, _ string, m gomilter.Modifier) (*gomilter.Response, error) {
	s.macros(m)
	rcpt = gomilter.RemoveAngle(rcpt)
	if len(s.msg.Recipients) >= s.lim.MaxRecipients {
		limitHits.WithLabelValues("recipients").Inc()
		s.h.Refused(check.Rcpt, s.msg, replyRecipients, fmt.Sprintf("more than %d recipients", s.lim.MaxRecipients))
		return reply(replyRecipients)
	}
	s.msg.Recipients = append(s.msg.Recipients, rcpt)
	r := s.h.Stage(check.Rcpt, s.msg)
	if r.Action == Reject || r.Action == Tempfail {
		// A refused recipient is not part of the message.
		s.msg.Recipients = s.msg.Recipients[:len(s.msg.Recipients)-1]
	}
	return s.respond(r)
}

func (s *session) Data(m gomilter.Modifier) (*gomilter.Response, error) {
	s.macros(m)
	return gomilter.RespContinue, nil
}

func (s *session) Header(name, value string, m gomilter.Modifier) (*gomilter.Response, error) {
	if s.refusal != nil {
		return gomilter.RespContinue, nil
	}
	// The milter protocol hands folds over as bare LF; the model keeps the
	// wire form (CRLF) so that DKIM sees the signed bytes.
	raw := strings.ReplaceAll(value, "\n", "\r\n")
	if !s.leadSpace {
		raw = " " + raw // the MTA stripped exactly one space (MTA-NOTES)
	}
	s.hdrLen += int64(len(name) + 1 + len(raw) + 2)
	switch {
	case len(s.msg.Headers) >= s.lim.MaxHeaders:
		s.refuse("headers", replyHeaders, fmt.Sprintf("more than %d header fields", s.lim.MaxHeaders))
	case s.hdrLen > s.lim.MaxHeaderSize:
		s.refuse("header_size", replyHeaders, fmt.Sprintf("header section over %d bytes", s.lim.MaxHeaderSize))
	case s.hdrLen > s.lim.MaxMessageSize:
		s.refuse("size", replySize, fmt.Sprintf("message over %d bytes", s.lim.MaxMessageSize))
	default:
		s.msg.Headers = append(s.msg.Headers, check.Header{Name: name, Raw: raw})
	}
	return gomilter.RespContinue, nil
}

func (s *session) refuse(limit string, r check.Reply, why string) {
	limitHits.WithLabelValues(limit).Inc()
	s.refusal, s.refusalWhy = &r, why
	s.dropBody()
}

func (s *session) Headers(m gomilter.Modifier) (*gomilter.Response, error) {
	s.macros(m)
	if s.refusal != nil {
		return gomilter.RespContinue, nil
	}
	s.msg.Size = s.hdrLen + 2 // the empty line
	return s.preData(check.EOH)
}

func (s *session) BodyChunk(chunk []byte, _ gomilter.Modifier) (*gomilter.Response, error) {
	if s.refusal != nil {
		return gomilter.RespContinue, nil
	}
	s.msg.Size += int64(len(chunk))
	if s.msg.Size > s.lim.MaxMessageSize {
		// Keep reading (the MTA sends the rest anyway) but store nothing more:
		// memory and disk stay bounded whatever the sender pushes.
		s.refuse("size", replySize, fmt.Sprintf("message over %d bytes", s.lim.MaxMessageSize))
		return gomilter.RespContinue, nil
	}
	if s.spool == nil {
		s.spool = spool.New(s.lim.SpoolThreshold, s.lim.SpoolDir)
		s.msg.Body = s.spool
	}
	if _, err := s.spool.Write(chunk); err != nil {
		s.log.Warn("spooling body failed", "err", err)
		s.refusal, s.refusalWhy = &replyLocal, "spool: "+err.Error()
		s.dropBody()
	}
	return gomilter.RespContinue, nil
}

func (s *session) dropBody() {
	if s.spool != nil {
		s.spool.Close()
		s.spool, s.msg.Body = nil, nil
	}
}

func (s *session) EndOfMessage(m gomilter.Modifier) (*gomilter.Response, error) {
	s.macros(m)
	defer s.endMessage(false)
	if s.refusal != nil {
		s.h.Refused(check.EOM, s.msg, *s.refusal, s.refusalWhy)
		return reply(*s.refusal)
	}
	if s.msg.Body == nil {
		s.msg.Body = spool.New(0, "") // an empty body still reads as one
	}
	r := s.h.Stage(check.EOM, s.msg)
	switch r.Action {
	case Accept, Continue, Quarantine:
		if err := s.modify(r, m); err != nil {
			// Headers half-applied or a hold not placed: the safe answer is to
			// have the MTA retry, never to deliver without the verdict.
			s.log.Warn("applying verdict failed", "qid", s.msg.QueueID, "err", err)
			// The audit trail must say what the MTA was told, and checks
			// that charged the message (rate limits) must give it back.
			s.h.Refused(check.EOM, s.msg, replyLocal, "applying the verdict failed: "+err.Error())
			return reply(replyLocal)
		}
		return gomilter.RespAccept, nil
	}
	return s.respond(r)
}

// modify applies header changes and the quarantine flag. Only end of message
// allows modifications in the milter protocol.
func (s *session) modify(r Response, m gomilter.Modifier) error {
	for _, name := range r.RemoveHeaders {
		// Indexes count per name from 1; deleting from the last keeps the
		// earlier ones valid.
		var n int
		for _, h := range s.msg.Headers {
			if strings.EqualFold(h.Name, name) {
				n++
			}
		}
		for i := n; i >= 1; i-- {
			if err := m.ChangeHeader(i, name, ""); err != nil {
				return err
			}
		}
	}
	// Highest position first, so that earlier positions stay valid.
	dels := slices.Clone(r.DeleteHeaders)
	slices.SortFunc(dels, func(a, b HeaderRef) int { return b.Index - a.Index })
	for _, d := range dels {
		if err := m.ChangeHeader(d.Index, d.Name, ""); err != nil {
			return err
		}
	}
	for i := len(r.InsertHeaders) - 1; i >= 0; i-- {
		h := r.InsertHeaders[i]
		if err := m.InsertHeader(0, h.Name, s.headerValue(h.Value)); err != nil {
			return err
		}
	}
	for _, h := range r.AddHeaders {
		if err := m.AddHeader(h.Name, s.headerValue(h.Value)); err != nil {
			return err
		}
	}
	if r.Action == Quarantine {
		reason := r.QuarantineReason
		if reason == "" {
			reason = "held by mamori"
		}
		return m.Quarantine(reason)
	}
	return nil
}

// headerValue is v as the MTA must receive it: with leading space
// negotiated, the MTA adds none after the colon, so the milter does.
func (s *session) headerValue(v string) string {
	if s.leadSpace {
		return " " + v
	}
	return v
}

func (s *session) Abort(m gomilter.Modifier) error {
	if s.inTx {
		s.endMessage(true)
	}
	return nil
}

func (s *session) Unknown(string, gomilter.Modifier) (*gomilter.Response, error) {
	return gomilter.RespContinue, nil
}

func (s *session) Cleanup(gomilter.Modifier) {
	if s.inTx {
		s.endMessage(true)
	}
	s.dropBody()
	s.h.Close()
}

// endMessage tells the handler and resets the transaction, keeping the
// connection facts for the next message on this connection.
func (s *session) endMessage(aborted bool) {
	s.h.EndMessage(s.msg, aborted)
	s.msg.Done()
	s.dropBody()
	old := s.msg
	s.msg = &check.Message{
		ClientIP: old.ClientIP, ClientHost: old.ClientHost, ClientPort: old.ClientPort,
		Helo: old.Helo, TLS: old.TLS, AuthUser: old.AuthUser, Macros: map[string]string{},
	}
	for k, v := range old.Macros {
		if connMacro(k) {
			s.msg.Macros[k] = v
		}
	}
	s.inTx, s.hdrLen, s.refusal, s.refusalWhy = false, 0, nil, ""
}

// preData asks the handler at a stage before the body.
func (s *session) preData(st check.Stage) (*gomilter.Response, error) {
	return s.respond(s.h.Stage(st, s.msg))
}

func (s *session) respond(r Response) (*gomilter.Response, error) {
	switch r.Action {
	case Reject, Tempfail:
		return reply(r.Reply)
	case Discard:
		return gomilter.RespDiscard, nil
	case Accept:
		return gomilter.RespAccept, nil
	}
	return gomilter.RespContinue, nil
}

func reply(r check.Reply) (*gomilter.Response, error) {
	resp, err := gomilter.RejectWithCodeAndReason(uint16(r.Code), replyText(r))
	if err != nil {
		// An unusable reply text must not turn into an accept.
		if r.Code/100 == 4 {
			return gomilter.RespTempFail, nil
		}
		return gomilter.RespReject, nil
	}
	return resp, nil
}
