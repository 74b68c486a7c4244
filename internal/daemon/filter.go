// Package daemon wires Mamori together: the milter session feeds the
// message model, the live rules.Pipeline judges it, and every outcome goes
// to the MTA, the audit trail and the metrics. The same Filter serves the
// daemon and `mamori check`, so both judge a message identically.
package daemon

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	"github.com/mamori-mail/mamori/internal/audit"
	"github.com/mamori-mail/mamori/internal/quarantine"
	"github.com/mamori-mail/mamori/milter"
	"github.com/mamori-mail/mamori/rules"
	"github.com/mamori-mail/mamori/rules/check"
	"github.com/mamori-mail/mamori/rules/rulefile"
)

// Filter is the milter.Handler: it holds the live pipeline, swapped whole
// on reload.
type Filter struct {
	pipeline atomic.Pointer[rules.Pipeline]
	audit    *audit.Log
	log      *slog.Logger
	budget   atomic.Int64 // per-stage budget for all checks, ns
	// quarantine, when set (quarantine.mode: store), keeps quarantined
	// messages; the MTA is told to discard them once they are stored.
	quarantine quarantine.Store
}

// quarantineTimeout bounds the store write of one message: past it the
// message is tempfailed (the sender retries), never passed or dropped.
const quarantineTimeout = 30 * time.Second

// SetQuarantine makes quarantined messages go to st (mode store) instead of
// the MTA's hold queue.
func (f *Filter) SetQuarantine(st quarantine.Store) { f.quarantine = st }

// NewFilter returns a filter running p.
func NewFilter(p *rules.Pipeline, a *audit.Log, budget time.Duration, log *slog.Logger) *Filter {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	f := &Filter{audit: a, log: log}
	f.pipeline.Store(p)
	f.budget.Store(int64(budget))
	return f
}

// Swap installs a new pipeline; messages in flight finish on the old one,
// which closes after the last of them.
func (f *Filter) Swap(p *rules.Pipeline, budget time.Duration) {
	f.budget.Store(int64(budget))
	if old := f.pipeline.Swap(p); old != nil {
		old.Retire()
	}
}

// acquire pins the live pipeline for a message. Swap stores the new
// pipeline before it retires the old one, so a retry finds a live one.
func (f *Filter) acquire() *rules.Pipeline {
	for {
		if p := f.pipeline.Load(); p.Acquire() {
			return p
		}
	}
}

// Pipeline returns the live pipeline.
func (f *Filter) Pipeline() *rules.Pipeline { return f.pipeline.Load() }

// NewConnection implements milter.Handler.
func (f *Filter) NewConnection() milter.ConnHandler { return &connFilter{f: f} }

// connFilter follows one SMTP session.
type connFilter struct {
	f *Filter
	// conn holds what the Connect and Helo checks found; each message starts
	// from a copy, and a refusal found there is answered at MAIL FROM.
	conn     rules.Transaction
	connDeny *rules.StageOutcome

	p     *rules.Pipeline // pinned from MAIL FROM to the end of the message
	tx    rules.Transaction
	start time.Time
	// spent is the time checks of this message have used so far: the
	// budget covers check work across all stages, not the client's pauses.
	spent   time.Duration
	audited bool
	last    rules.Verdict
	// accepted is whether the MTA was told to take the current message.
	accepted bool
}

// ctx returns the context for one stage's checks: what is left of the
// message's budget (limits.message_timeout).
func (c *connFilter) ctx() (context.Context, context.CancelFunc) {
	left := time.Duration(c.f.budget.Load()) - c.spent
	return context.WithTimeout(context.Background(), max(left, 0))
}

// Stage implements milter.ConnHandler.
func (c *connFilter) Stage(st check.Stage, m *check.Message) milter.Response {
	if st == check.MailFrom {
		c.spent = 0
	}
	ctx, cancel := c.ctx()
	defer cancel()
	t0 := time.Now()
	defer func() { c.spent += time.Since(t0) }()
	switch st {
	case check.Connect, check.Helo:
		p := c.f.acquire()
		out := p.Run(ctx, m, st, &c.conn)
		p.Release()
		if out.Decision != nil && c.connDeny == nil {
			c.connDeny = &out
		}
		return milter.Response{}
	case check.MailFrom:
		c.begin()
		c.tx = c.conn.Clone()
		if d := c.connDeny; d != nil {
			return c.refuse(st, m, *d)
		}
	}
	if c.p == nil { // a stage after a refused MAIL FROM cannot happen; be safe
		c.begin()
	}
	out := c.p.Run(ctx, m, st, &c.tx)
	if st == check.EOM {
		return c.finish(m)
	}
	if out.Decision != nil && st != check.EOH {
		return c.refuse(st, m, out)
	}
	return milter.Response{}
}

func (c *connFilter) begin() {
	if c.p != nil {
		c.p.Release()
	}
	c.p = c.f.acquire()
	c.start, c.audited, c.accepted = time.Now(), false, false
}

// refuse answers a command before DATA and records it.
func (c *connFilter) refuse(st check.Stage, m *check.Message, out rules.StageOutcome) milter.Response {
	d := out.Decision
	v := rules.Verdict{Action: d.Action, Reply: d.Reply, Reason: d.Reason, Decider: out.Decider, Symbols: out.Symbols}
	c.last = v
	rec := c.record(m, st, &v)
	if st == check.Rcpt {
		rec.Recipients = []string{m.Recipient()}
	} else {
		c.audited = true
	}
	rec.Event = "command"
	c.f.audit.Write(rec)
	messagesTotal.WithLabelValues(v.Action.String(), st.String()).Inc()
	act := milter.Reject
	if d.Action == check.ActTempfail {
		act = milter.Tempfail
	}
	return milter.Response{Action: act, Reply: d.Reply}
}

// finish turns the verdict into the end-of-message answer.
func (c *connFilter) finish(m *check.Message) milter.Response {
	pol := &c.p.Policy
	v := c.tx.Final(pol, m.Recipients)
	var qid string
	if v.Action == check.ActQuarantine && c.f.quarantine != nil {
		// Stored durably before the MTA hears anything; a failed write is
		// a tempfail, so the message is neither delivered nor lost.
		id, err := c.f.keep(m, &v, c.p.Version)
		if err != nil {
			c.f.log.Error("quarantine store failed; message tempfailed (the sender retries)", "qid", m.QueueID, "err", err)
			quarantineTotal.WithLabelValues("error").Inc()
			v.Action, v.Reply, v.Reason = check.ActTempfail, pol.TempfailReply, "quarantine store failed: "+err.Error()
		} else {
			quarantineTotal.WithLabelValues("stored").Inc()
			qid = id
		}
	}
	c.last = v
	rec := c.record(m, check.EOM, &v)
	rec.Quarantine = qid
	c.f.audit.Write(rec)
	c.audited = true
	messagesTotal.WithLabelValues(v.Action.String(), check.EOM.String()).Inc()
	messageDuration.Observe(time.Since(c.start).Seconds())
	scoreHist.Observe(v.Score)

	r := milter.Response{RemoveHeaders: rules.OwnHeaders}
	for _, i := range rules.ForgedAuthResults(m.Headers, pol.AuthServID) {
		r.DeleteHeaders = append(r.DeleteHeaders, milter.HeaderRef{Name: "Authentication-Results", Index: i})
	}
	if h, ok := v.AuthResultsHeader(pol); ok {
		// At the top, like the trace field it is (RFC 8601 §5).
		r.InsertHeaders = append(r.InsertHeaders, h)
	}
	r.AddHeaders = append(r.AddHeaders, v.Headers...)
	r.AddHeaders = append(r.AddHeaders, v.StatusHeaders(pol)...)
	c.accepted = v.Action != check.ActReject && v.Action != check.ActTempfail
	switch v.Action {
	case check.ActReject:
		r.Action, r.Reply = milter.Reject, v.Reply
	case check.ActTempfail:
		r.Action, r.Reply = milter.Tempfail, v.Reply
	case check.ActDiscard:
		r.Action = milter.Discard
	case check.ActQuarantine:
		if qid != "" {
			r.Action = milter.Discard // the store holds it
		} else {
			r.Action, r.QuarantineReason = milter.Quarantine, v.Reason
		}
	default:
		r.Action = milter.Accept
	}
	return r
}

func (c *connFilter) record(m *check.Message, st check.Stage, v *rules.Verdict) *audit.Record {
	syms := make([]audit.Symbol, len(v.Symbols))
	for i, s := range v.Symbols {
		syms[i] = audit.Symbol{Name: s.Name, Score: s.Score, Detail: s.Detail}
	}
	rec := &audit.Record{
		Time: time.Now(), Event: "message", Stage: st.String(), QueueID: m.QueueID,
		ClientHost: m.ClientHost, Helo: m.Helo, SASLUser: m.AuthUser, TLS: m.TLS,
		Sender: m.Sender, Recipients: append([]string(nil), m.Recipients...),
		MessageID: m.HeaderValue("Message-ID"), Size: m.Size, Score: v.Score,
		Symbols: syms, Action: v.Action.String(), Decider: v.Decider, Reason: v.Reason, Duration: time.Since(c.start),
	}
	if m.ClientIP.IsValid() {
		rec.ClientIP = m.ClientIP.String()
	}
	if !v.Reply.IsZero() && (v.Action == check.ActReject || v.Action == check.ActTempfail) {
		rec.Reply = v.Reply.String()
	}
	if c.p != nil {
		rec.Config = c.p.Version
	}
	return rec
}

// Refused implements milter.ConnHandler.
func (c *connFilter) Refused(st check.Stage, m *check.Message, r check.Reply, why string) {
	act := check.ActReject
	if r.Code/100 == 4 {
		act = check.ActTempfail
	}
	v := rules.Verdict{Action: act, Reply: r, Reason: why}
	if st != check.Rcpt {
		c.accepted = false
	}
	rec := c.record(m, st, &v)
	rec.Event = "message"
	if st == check.Rcpt {
		rec.Event, rec.Recipients = "command", []string{m.Recipient()}
	} else {
		c.audited = true
	}
	c.f.audit.Write(rec)
	messagesTotal.WithLabelValues(act.String(), st.String()).Inc()
}

// EndMessage implements milter.ConnHandler.
func (c *connFilter) EndMessage(m *check.Message, aborted bool) {
	if aborted && !c.audited && c.p != nil {
		c.f.log.Debug("transaction aborted before end of message", "qid", m.QueueID, "mail_from", m.Sender)
	}
	// The checks' end-of-message work (refunds, spool clean-up) runs while
	// the pipeline is still pinned, so a reload cannot close a check under it.
	m.Accepted = c.accepted && !aborted
	m.Done()
	if c.p != nil {
		c.p.Release()
		c.p = nil
	}
	c.tx.Reset()
	c.accepted = false
}

// Close implements milter.ConnHandler.
func (c *connFilter) Close() {
	if c.p != nil {
		c.p.Release()
		c.p = nil
	}
}

// CheckMessage runs every stage on a complete message, as the daemon would
// for the same envelope, and returns the verdict. It writes no audit record
// unless the filter has an audit log.
func (f *Filter) CheckMessage(m *check.Message) rules.Verdict {
	c := &connFilter{f: f}
	defer c.Close()
	defer m.Done()
	rcpts := m.Recipients
	m.Recipients = nil
	for _, st := range []check.Stage{check.Connect, check.Helo, check.MailFrom} {
		if r := c.Stage(st, m); r.Action == milter.Reject || r.Action == milter.Tempfail {
			return c.last
		}
	}
	for _, rc := range rcpts {
		m.Recipients = append(m.Recipients, rc)
		if r := c.Stage(check.Rcpt, m); r.Action == milter.Reject || r.Action == milter.Tempfail {
			m.Recipients = m.Recipients[:len(m.Recipients)-1]
		}
	}
	if len(m.Recipients) == 0 && len(rcpts) > 0 {
		return rules.Verdict{Action: check.ActReject, Reason: "every recipient refused", Symbols: c.tx.Symbols()}
	}
	c.Stage(check.EOH, m)
	c.Stage(check.EOM, m)
	m.Accepted = c.accepted
	return c.last
}

// keep writes m into the quarantine store and returns its ID.
func (f *Filter) keep(m *check.Message, v *rules.Verdict, config string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), quarantineTimeout)
	defer cancel()
	e := &quarantine.Entry{
		QueueID: m.QueueID, ClientHost: m.ClientHost, Helo: m.Helo, SASLUser: m.AuthUser,
		Sender: m.Sender, Recipients: append([]string(nil), m.Recipients...),
		MessageID: m.HeaderValue("Message-ID"), Score: v.Score, Reason: v.Reason, Config: config, StateBy: "filter",
	}
	if m.ClientIP.IsValid() {
		e.ClientIP = m.ClientIP.String()
	}
	for _, h := range rulefile.DecodeHeaders(m.Headers) {
		switch {
		case e.From == "" && strings.EqualFold(h.Name, "From"):
			e.From = h.Value
		case e.Subject == "" && strings.EqualFold(h.Name, "Subject"):
			e.Subject = h.Value
		}
	}
	for _, s := range v.Symbols {
		e.Symbols = append(e.Symbols, quarantine.Symbol{Name: s.Name, Score: s.Score, Detail: s.Detail})
	}
	msg := io.MultiReader(bytes.NewReader(m.HeaderBytes()), m.BodyReader())
	if err := f.quarantine.Put(ctx, e, msg); err != nil {
		return "", err
	}
	return e.ID, nil
}
