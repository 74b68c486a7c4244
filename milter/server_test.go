package milter

import (
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	gomilter "github.com/d--j/go-milter"
	"github.com/mamori-mail/mamori/rules/check"
)

// recorder is a ConnHandler that records what the session built and
// answers from a table.
type recorder struct {
	mu       sync.Mutex
	messages []*check.Message // snapshot at EOM
	refused  []string
	ended    int
	answer   func(st check.Stage, m *check.Message) Response
}

func (r *recorder) NewConnection() ConnHandler { return r }

func (r *recorder) Stage(st check.Stage, m *check.Message) Response {
	if st == check.EOM {
		r.mu.Lock()
		body := make([]byte, m.Body.Size())
		m.Body.ReadAt(body, 0)
		r.messages = append(r.messages, &check.Message{
			ClientIP: m.ClientIP, ClientHost: m.ClientHost, Helo: m.Helo, AuthUser: m.AuthUser,
			Sender: m.Sender, Recipients: append([]string(nil), m.Recipients...),
			Headers: append([]check.Header(nil), m.Headers...),
			Macros:  map[string]string{"body": string(body), "qid": m.QueueID},
		})
		r.mu.Unlock()
	}
	if r.answer != nil {
		return r.answer(st, m)
	}
	return Response{Action: Accept}
}

func (r *recorder) Refused(st check.Stage, m *check.Message, rep check.Reply, why string) {
	r.mu.Lock()
	r.refused = append(r.refused, st.String()+": "+rep.String()+": "+why)
	r.mu.Unlock()
}
func (r *recorder) EndMessage(*check.Message, bool) { r.mu.Lock(); r.ended++; r.mu.Unlock() }
func (r *recorder) Close()                          {}

var testLimits = Limits{
	MaxSessions: 4, MaxMessageSize: 64 << 10, SpoolThreshold: 1 << 10, MaxHeaders: 20,
	MaxHeaderSize: 4 << 10, MaxRecipients: 3, ReadTimeout: 5 * time.Second,
}

func startServer(t *testing.T, h Handler, lim Limits) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := NewServer(h, lim, nil)
	go s.Serve(ln)
	t.Cleanup(func() { s.Close() })
	return ln.Addr().String()
}

// mta drives a server like Postfix does, with the protocol flags Postfix
// 3.7 offers (all of version 6).
type mta struct {
	t      *testing.T
	s      *gomilter.ClientSession
	macros *gomilter.MacroBag
}

func dialMTA(t *testing.T, addr string) *mta {
	t.Helper()
	c := gomilter.NewClient("tcp", addr,
		gomilter.WithActions(gomilter.AllClientSupportedActionMasks),
		gomilter.WithReadTimeout(5*time.Second))
	macros := gomilter.NewMacroBag()
	s, err := c.Session(macros)
	if err != nil {
		t.Fatalf("milter session: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return &mta{t: t, s: s, macros: macros}
}

// ok fails the test on a protocol error; it takes the client's results
// directly: m.ok(m.s.Helo(...)).
func (m *mta) ok(a *gomilter.Action, err error) *gomilter.Action {
	m.t.Helper()
	if err != nil {
		m.t.Fatal(err)
	}
	return a
}

func (m *mta) connect(ip, helo string) {
	m.ok(m.s.Conn("client.example", gomilter.FamilyInet, 4242, ip))
	m.ok(m.s.Helo(helo))
}

// send runs one transaction and returns the final action and modifications.
func (m *mta) send(from string, rcpts []string, header [][2]string, body string) (*gomilter.Action, []gomilter.ModifyAction) {
	m.t.Helper()
	if a := m.ok(m.s.Mail("<"+from+">", "")); a.StopProcessing() {
		return a, nil
	}
	for _, r := range rcpts {
		m.macros.Set(gomilter.MacroRcptAddr, r)
		m.ok(m.s.Rcpt("<"+r+">", ""))
	}
	m.ok(m.s.DataStart())
	m.macros.Set(gomilter.MacroQueueId, "QID"+from)
	for _, h := range header {
		m.ok(m.s.HeaderField(h[0], h[1], nil))
	}
	m.ok(m.s.HeaderEnd())
	for len(body) > 0 {
		n := min(len(body), 65535)
		m.ok(m.s.BodyChunk([]byte(body[:n])))
		body = body[n:]
	}
	mods, act, err := m.s.End()
	if err != nil {
		m.t.Fatal(err)
	}
	return act, mods
}

func TestSessionKeepsConnectionFactsAcrossMessages(t *testing.T) {
	rec := &recorder{}
	m := dialMTA(t, startServer(t, rec, testLimits))
	m.macros.Set(gomilter.MacroAuthAuthen, "alice")
	m.connect("192.0.2.7", "mx.example.net")
	hdr := [][2]string{{"Subject", "  two spaces kept"}, {"X-Folded", " a\n\tb"}}
	for _, from := range []string{"a@example.net", "b@example.net"} {
		act, _ := m.send(from, []string{"x@example.org", "y@example.org", "z@example.org"}, hdr, "line1\r\nline2\r\n")
		if act.Type != gomilter.ActionAccept {
			t.Fatalf("final action = %v, want accept", act)
		}
	}
	if len(rec.messages) != 2 {
		t.Fatalf("got %d messages, want 2", len(rec.messages))
	}
	for i, msg := range rec.messages {
		if msg.ClientIP.String() != "192.0.2.7" || msg.Helo != "mx.example.net" || msg.ClientHost != "client.example" {
			t.Errorf("message %d: client %v %q %q, want the connection's facts on every message", i, msg.ClientIP, msg.ClientHost, msg.Helo)
		}
		if msg.AuthUser != "alice" {
			t.Errorf("message %d: AuthUser = %q, want alice", i, msg.AuthUser)
		}
		if len(msg.Recipients) != 3 {
			t.Errorf("message %d: %d recipients, want 3", i, len(msg.Recipients))
		}
		if got := msg.Headers[0].Raw; got != "  two spaces kept" {
			t.Errorf("message %d: Subject raw = %q, want leading white space kept byte for byte", i, got)
		}
		if got := msg.Headers[1].Raw; got != " a\r\n\tb" {
			t.Errorf("message %d: folded raw = %q, want CRLF folds", i, got)
		}
		if msg.Macros["body"] != "line1\r\nline2\r\n" {
			t.Errorf("message %d: body %q", i, msg.Macros["body"])
		}
	}
	if rec.messages[1].Sender != "b@example.net" || rec.messages[1].Macros["qid"] != "QIDb@example.net" {
		t.Errorf("second message: sender %q qid %q", rec.messages[1].Sender, rec.messages[1].Macros["qid"])
	}
}

func TestSessionRepliesAndModifications(t *testing.T) {
	rec := &recorder{answer: func(st check.Stage, m *check.Message) Response {
		switch {
		case st == check.MailFrom && m.Sender == "deny@example.net":
			return Response{Action: Reject, Reply: check.Reply{Code: 550, Status: "5.7.1", Text: "100% denied\r\nsecond line"}}
		case st == check.Rcpt && m.Recipient() == "nobody@example.org":
			return Response{Action: Reject, Reply: check.Reply{Code: 550, Status: "5.1.1", Text: "no"}}
		case st == check.EOM && m.Sender == "drop@example.net":
			return Response{Action: Discard}
		case st == check.EOM && m.Sender == "hold@example.net":
			return Response{Action: Quarantine, QuarantineReason: "spam", RemoveHeaders: []string{"X-Spam-Flag"},
				AddHeaders: []check.HeaderField{{Name: "X-Spam-Flag", Value: "YES"}}}
		case st == check.EOM:
			if len(m.Recipients) != 1 {
				return Response{Action: Tempfail, Reply: check.Reply{Code: 451, Status: "4.7.1", Text: "bad recipients"}}
			}
		}
		return Response{Action: Accept}
	}}
	m := dialMTA(t, startServer(t, rec, testLimits))
	m.connect("192.0.2.7", "mx.example.net")

	act, _ := m.send("deny@example.net", []string{"x@example.org"}, nil, "")
	if act.Type != gomilter.ActionRejectWithCode || act.SMTPCode != 550 || !strings.Contains(act.SMTPReply, "100%% denied second line") {
		t.Fatalf("deny: %+v; want 550 with %% doubled and CR/LF flattened", act)
	}
	a := m.ok(m.s.Rcpt("<nobody@example.org>", ""))
	if a.SMTPCode != 550 {
		t.Fatalf("rcpt reject: %+v", a)
	}
	m.s.Abort(nil)

	act, _ = m.send("ok@example.net", []string{"nobody@example.org", "x@example.org"}, nil, "body\r\n")
	if act.Type != gomilter.ActionAccept {
		t.Fatalf("refused recipient must leave the message with one recipient: %+v", act)
	}
	if act, _ := m.send("drop@example.net", []string{"x@example.org"}, nil, "b\r\n"); act.Type != gomilter.ActionDiscard {
		t.Fatalf("discard: %+v", act)
	}
	act, mods := m.send("hold@example.net", []string{"x@example.org"}, [][2]string{{"X-Spam-Flag", " NO"}, {"X-Spam-Flag", " NO"}}, "body\r\n")
	if act.Type != gomilter.ActionAccept {
		t.Fatalf("quarantine must accept after the hold: %+v", act)
	}
	want := []gomilter.ModifyActionType{gomilter.ActionChangeHeader, gomilter.ActionChangeHeader, gomilter.ActionAddHeader, gomilter.ActionQuarantine}
	if len(mods) != len(want) {
		t.Fatalf("modifications %v, want types %v", mods, want)
	}
	for i, md := range mods {
		if md.Type != want[i] {
			t.Errorf("modification %d = %s, want type %v", i, md, want[i])
		}
	}
	if mods[0].HeaderIndex != 2 || mods[1].HeaderIndex != 1 || mods[0].HeaderValue != "" {
		t.Errorf("removals must delete from the last copy: %+v %+v", mods[0], mods[1])
	}
	if mods[2].HeaderValue != " YES" {
		t.Errorf("added header value %q: with leading space negotiated the milter supplies the space", mods[2].HeaderValue)
	}
}

func TestSessionLimits(t *testing.T) {
	rec := &recorder{}
	m := dialMTA(t, startServer(t, rec, testLimits))
	m.connect("192.0.2.7", "mx.example.net")

	act, _ := m.send("big@example.net", []string{"x@example.org"}, nil, strings.Repeat("x", 100<<10))
	if act.SMTPCode != 552 || !strings.Contains(act.SMTPReply, "5.3.4") {
		t.Fatalf("oversize message: %+v, want 552 5.3.4", act)
	}
	many := make([][2]string, 30)
	for i := range many {
		many[i] = [2]string{"X-H", " v"}
	}
	act, _ = m.send("hdrs@example.net", []string{"x@example.org"}, many, "b\r\n")
	if act.SMTPCode != 552 {
		t.Fatalf("too many headers: %+v, want 552", act)
	}
	m.ok(m.s.Mail("<r@example.net>", ""))
	for i := 0; i < 3; i++ {
		if a := m.ok(m.s.Rcpt("<x@example.org>", "")); a.StopProcessing() {
			t.Fatalf("recipient %d refused: %+v", i+1, a)
		}
	}
	if a := m.ok(m.s.Rcpt("<x@example.org>", "")); a.SMTPCode != 452 {
		t.Fatalf("4th recipient: %+v, want 452 4.5.3", a)
	}
	if len(rec.refused) != 3 {
		t.Fatalf("refusals recorded for audit: %v", rec.refused)
	}
	if len(rec.messages) != 0 {
		t.Fatalf("no checks may run on refused messages, got %d", len(rec.messages))
	}
}

func TestMaxSessions(t *testing.T) {
	lim := testLimits
	lim.MaxSessions = 1
	addr := startServer(t, &recorder{}, lim)
	m := dialMTA(t, addr) // holds the only slot
	m.connect("192.0.2.1", "h")
	c := gomilter.NewClient("tcp", addr, gomilter.WithReadTimeout(2*time.Second))
	if s, err := c.Session(nil); err == nil {
		s.Close()
		t.Fatal("second session negotiated past max_sessions=1")
	}
}
