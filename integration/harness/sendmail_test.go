package harness

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	milter "github.com/d--j/go-milter"
	smtp "github.com/emersion/go-smtp"
)

// smTestMessage is one message the test sink received.
type smTestMessage struct {
	From string
	To   []string
	Data []byte
}

// smTestSink is the next hop of the test Sendmail: an SMTP server on a
// free 127.0.0.1 port that keeps every message byte for byte.
type smTestSink struct {
	Addr string
	msgs chan smTestMessage
}

// smStartSink starts a sink that stops when the test ends.
func smStartSink(t *testing.T) *smTestSink {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	k := &smTestSink{Addr: ln.Addr().String(), msgs: make(chan smTestMessage, 100)}
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) {
		return &smSinkSession{sink: k}, nil
	}))
	srv.Domain = "sink.mamori.test"
	srv.ReadTimeout = 30 * time.Second
	srv.WriteTimeout = 30 * time.Second
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { srv.Close() })
	return k
}

// Wait returns the next message or fails the test after timeout.
func (k *smTestSink) Wait(t *testing.T, s *Sendmail, timeout time.Duration) smTestMessage {
	t.Helper()
	select {
	case m := <-k.msgs:
		return m
	case <-time.After(timeout):
		t.Fatalf("sink: no message within %v\n%s", timeout, s.Log())
		return smTestMessage{}
	}
}

// None fails the test if a message arrives within d.
func (k *smTestSink) None(t *testing.T, d time.Duration) {
	t.Helper()
	select {
	case m := <-k.msgs:
		t.Fatalf("sink: unexpected message:\n%s", m.Data)
	case <-time.After(d):
	}
}

// smSinkSession is one SMTP session of the sink.
type smSinkSession struct {
	sink *smTestSink
	msg  smTestMessage
}

func (s *smSinkSession) Reset()        { s.msg = smTestMessage{} }
func (s *smSinkSession) Logout() error { return nil }

func (s *smSinkSession) Mail(from string, _ *smtp.MailOptions) error {
	s.msg.From = from
	return nil
}

func (s *smSinkSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.msg.To = append(s.msg.To, to)
	return nil
}

func (s *smSinkSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.msg.Data = b
	s.sink.msgs <- s.msg
	return nil
}

// smSendError is the failure of one SMTP transaction, with the stage.
type smSendError struct {
	Stage string
	Err   error
}

func (e *smSendError) Error() string { return e.Stage + ": " + e.Err.Error() }
func (e *smSendError) Unwrap() error { return e.Err }

// smSend sends one message over a new SMTP connection.
func smSend(addr, from, to, subject string) error {
	c, err := smtp.Dial(addr)
	if err != nil {
		return &smSendError{"connect", err}
	}
	defer c.Close()
	c.CommandTimeout = 30 * time.Second
	c.SubmissionTimeout = 30 * time.Second
	if err := c.Hello("client.mamori.test"); err != nil {
		return &smSendError{"EHLO", err}
	}
	if err := c.Mail(from, nil); err != nil {
		return &smSendError{"MAIL", err}
	}
	if err := c.Rcpt(to, nil); err != nil {
		return &smSendError{"RCPT", err}
	}
	w, err := c.Data()
	if err != nil {
		return &smSendError{"DATA", err}
	}
	msg := "From: <" + from + ">\r\nTo: <" + to + ">\r\nSubject: " + subject +
		"\r\nMessage-ID: <" + strings.ReplaceAll(subject, " ", ".") + "@client.mamori.test>\r\n\r\nHello.\r\n"
	if _, err := io.WriteString(w, msg); err != nil {
		return &smSendError{"DATA", err}
	}
	if err := w.Close(); err != nil {
		return &smSendError{"end of data", err}
	}
	if err := c.Quit(); err != nil {
		return &smSendError{"QUIT", err}
	}
	return nil
}

// smMacroRecorder records the milter packets Sendmail sends: the macros
// of each stage and the command sequence.
type smMacroRecorder struct {
	mu     sync.Mutex
	macros map[byte][]string // stage command → macros, as first seen
	seqs   [][]string        // command sequence of each connection
}

// smMilterCmds names the milter commands (libmilter mfdef.h).
var smMilterCmds = map[byte]string{
	'A': "ABORT", 'B': "BODY", 'C': "CONNECT", 'D': "MACRO", 'E': "BODYEOB",
	'H': "HELO", 'L': "HEADER", 'M': "MAIL", 'N': "EOH", 'O': "OPTNEG",
	'Q': "QUIT", 'R': "RCPT", 'T': "DATA", 'U': "UNKNOWN", 'K': "QUIT_NC",
}

// stageName names the stage a macro packet is for.
func smStageName(c byte) string {
	if n, ok := smMilterCmds[c]; ok {
		return n
	}
	return fmt.Sprintf("%q", c)
}

// Report returns the macros per stage, one line each, in protocol order.
func (r *smMacroRecorder) Report() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var b strings.Builder
	for _, c := range []byte("CHMRTLNBE") {
		if names, ok := r.macros[c]; ok {
			fmt.Fprintf(&b, "  %-8s %s\n", smStageName(c), strings.Join(names, " "))
		}
	}
	for i, seq := range r.seqs {
		fmt.Fprintf(&b, "  connection %d: %s\n", i+1, strings.Join(seq, " "))
		if i == 2 {
			fmt.Fprintf(&b, "  (%d more connections)\n", len(r.seqs)-3)
			break
		}
	}
	return b.String()
}

// smRecordConn parses the MTA-to-milter byte stream of one connection.
type smRecordConn struct {
	net.Conn
	rec *smMacroRecorder
	idx int // index of this connection in rec.seqs
	buf []byte
}

func (c *smRecordConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.buf = append(c.buf, p[:n]...)
	for len(c.buf) >= 4 {
		l := int(binary.BigEndian.Uint32(c.buf))
		if l < 1 || len(c.buf) < 4+l {
			break
		}
		cmd, data := c.buf[4], c.buf[5:4+l]
		c.record(cmd, data)
		c.buf = c.buf[4+l:]
	}
	return n, err
}

func (c *smRecordConn) record(cmd byte, data []byte) {
	r := c.rec
	r.mu.Lock()
	defer r.mu.Unlock()
	name := smStageName(cmd)
	if cmd == 'D' && len(data) > 0 {
		stage := data[0]
		parts := bytes.Split(bytes.TrimSuffix(data[1:], []byte{0}), []byte{0})
		var names []string
		for i := 0; i+1 < len(parts); i += 2 {
			names = append(names, string(parts[i])+"="+string(parts[i+1]))
		}
		if len(names) == 0 {
			names = []string{"(empty macro packet)"}
		}
		if _, ok := r.macros[stage]; !ok {
			r.macros[stage] = names
		}
		name = "MACRO(" + smStageName(stage) + ")"
	}
	r.seqs[c.idx] = append(r.seqs[c.idx], name)
}

// smRecordListener wraps every accepted connection in a smRecordConn.
type smRecordListener struct {
	net.Listener
	rec      *smMacroRecorder
	quickAck bool
}

// smQuickAckConn sets TCP_QUICKACK after every read, so the kernel
// acknowledges Sendmail's packets at once instead of delaying the ACK.
type smQuickAckConn struct {
	*net.TCPConn
}

func (c *smQuickAckConn) Read(p []byte) (int, error) {
	n, err := c.TCPConn.Read(p)
	if rc, e := c.TCPConn.SyscallConn(); e == nil {
		_ = rc.Control(func(fd uintptr) {
			_ = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_QUICKACK, 1)
		})
	}
	return n, err
}

func (l *smRecordListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	if l.quickAck {
		c = &smQuickAckConn{TCPConn: c.(*net.TCPConn)}
	}
	l.rec.mu.Lock()
	idx := len(l.rec.seqs)
	l.rec.seqs = append(l.rec.seqs, nil)
	l.rec.mu.Unlock()
	return &smRecordConn{Conn: c, rec: l.rec, idx: idx}, nil
}

// smTestMilter is a d--j/go-milter server on a free 127.0.0.1 port.
type smTestMilter struct {
	Spec string // Sendmail socket spec
	Rec  *smMacroRecorder
}

// smStartMilter serves newMilter with opts until the test ends.
func smStartMilter(t *testing.T, newMilter func() milter.Milter, opts ...milter.Option) *smTestMilter {
	t.Helper()
	return smStartMilterAck(t, false, newMilter, opts...)
}

// smStartMilterAck is smStartMilter that can set TCP_QUICKACK.
func smStartMilterAck(t *testing.T, quickAck bool, newMilter func() milter.Milter, opts ...milter.Option) *smTestMilter {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	rec := &smMacroRecorder{macros: map[byte][]string{}}
	opts = append([]milter.Option{milter.WithMilter(newMilter)}, opts...)
	srv := milter.NewServer(opts...)
	go func() { _ = srv.Serve(&smRecordListener{Listener: ln, rec: rec, quickAck: quickAck}) }()
	t.Cleanup(func() { srv.Close() })
	port := ln.Addr().(*net.TCPAddr).Port
	return &smTestMilter{Spec: fmt.Sprintf("inet:%d@127.0.0.1", port), Rec: rec}
}

// smAddHeaderMilter adds "X-Test: yes" at end of message and accepts.
type smAddHeaderMilter struct {
	milter.NoOpMilter
}

func (smAddHeaderMilter) EndOfMessage(m milter.Modifier) (*milter.Response, error) {
	if err := m.AddHeader("X-Test", "yes"); err != nil {
		return nil, err
	}
	return milter.RespAccept, nil
}

// smQuarantineMilter quarantines every message.
type smQuarantineMilter struct {
	milter.NoOpMilter
}

func (smQuarantineMilter) EndOfMessage(m milter.Modifier) (*milter.Response, error) {
	if err := m.Quarantine("mamori test"); err != nil {
		return nil, err
	}
	return milter.RespAccept, nil
}

// smHeaderLine returns the raw line of header name in msg, CRLF included.
func smHeaderLine(msg []byte, name string) []byte {
	for _, line := range bytes.SplitAfter(msg, []byte("\r\n")) {
		if len(line) == 2 {
			break // end of header
		}
		if bytes.HasPrefix(bytes.ToLower(line), []byte(strings.ToLower(name)+":")) {
			return line
		}
	}
	return nil
}

func TestSendmailNoMilterDelivers(t *testing.T) {
	sink := smStartSink(t)
	start := time.Now()
	s := StartSendmail(t, SendmailOptions{NextHop: sink.Addr})
	t.Logf("sendmail up in %v at %s (dir %s)", time.Since(start), s.SMTPAddr, s.Dir)

	if err := smSend(s.SMTPAddr, "alice@client.mamori.test", "bob@example.test", "no milter"); err != nil {
		t.Fatal(err)
	}
	m := sink.Wait(t, s, 10*time.Second)
	if m.From != "alice@client.mamori.test" || len(m.To) != 1 || m.To[0] != "bob@example.test" {
		t.Errorf("envelope = %q %q", m.From, m.To)
	}
	if !bytes.Contains(m.Data, []byte("Subject: no milter\r\n")) {
		t.Errorf("message lacks the subject:\n%s", m.Data)
	}
	if !bytes.Contains(m.Data, []byte("Received: from client.mamori.test (localhost [127.0.0.1])\r\n\tby sendmail.mamori.test")) {
		t.Errorf("unexpected Received line:\n%s", m.Data)
	}
	t.Logf("next hop got:\n%s", m.Data)
}

func TestSendmailMilterAddsHeader(t *testing.T) {
	for _, tc := range []struct {
		name      string
		leadSpace bool
		want      string
	}{
		// Sendmail puts ": " between name and value itself.
		{"default", false, "X-Test: yes\r\n"},
		// With SMFIP_HDR_LEADSPC the milter owns the whitespace, and
		// Sendmail writes only the colon.
		{"leading-space", true, "X-Test:yes\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sink := smStartSink(t)
			var opts []milter.Option
			opts = append(opts, milter.WithAction(milter.OptAddHeader))
			if tc.leadSpace {
				opts = append(opts, milter.WithProtocol(milter.OptHeaderLeadingSpace))
			}
			var negotiated milter.OptProtocol
			var mu sync.Mutex
			ml := smStartMilter(t, func() milter.Milter {
				return &smNegotiationSpy{Milter: smAddHeaderMilter{}, mu: &mu, protocol: &negotiated}
			}, opts...)
			s := StartSendmail(t, SendmailOptions{Milter: ml.Spec, FailClosed: true, NextHop: sink.Addr})
			if err := smSend(s.SMTPAddr, "alice@client.mamori.test", "bob@example.test", "add header"); err != nil {
				t.Fatal(err)
			}
			m := sink.Wait(t, s, 10*time.Second)
			got := smHeaderLine(m.Data, "X-Test")
			mu.Lock()
			lead := negotiated&milter.OptHeaderLeadingSpace != 0
			mu.Unlock()
			t.Logf("leading space negotiated=%v; added header arrives as %q", lead, got)
			if lead != tc.leadSpace {
				t.Errorf("OptHeaderLeadingSpace negotiated = %v, want %v", lead, tc.leadSpace)
			}
			if string(got) != tc.want {
				t.Errorf("added header = %q, want %q\n%s", got, tc.want, m.Data)
			}
			t.Logf("macros Sendmail sent per stage:\n%s", ml.Rec.Report())
		})
	}
}

// smNegotiationSpy records the negotiated protocol flags of a milter.
type smNegotiationSpy struct {
	milter.Milter
	mu       *sync.Mutex
	protocol *milter.OptProtocol
}

func (s *smNegotiationSpy) NewConnection(m milter.Modifier) error {
	s.mu.Lock()
	*s.protocol = m.Protocol()
	s.mu.Unlock()
	return s.Milter.NewConnection(m)
}

func TestSendmailQuarantineRelease(t *testing.T) {
	sink := smStartSink(t)
	ml := smStartMilter(t, func() milter.Milter { return smQuarantineMilter{} },
		milter.WithAction(milter.OptQuarantine))
	s := StartSendmail(t, SendmailOptions{Milter: ml.Spec, FailClosed: true, NextHop: sink.Addr})

	if err := smSend(s.SMTPAddr, "alice@client.mamori.test", "bob@example.test", "quarantine me"); err != nil {
		t.Fatalf("quarantine must answer 250: %v", err)
	}
	ids := s.WaitQuarantined(t, 1, 10*time.Second)
	if len(ids) != 1 {
		t.Fatalf("quarantined = %v, want one", ids)
	}
	hf, err := os.ReadFile(filepath.Join(s.Dir, "mqueue", "hf"+ids[0]))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(hf, []byte("\nqmamori test\n")) {
		t.Errorf("hf file lacks the reason line:\n%s", hf)
	}
	if !strings.Contains(s.Log(), "quarantine=mamori test") {
		t.Errorf("log lacks quarantine=mamori test:\n%s", s.Log())
	}
	t.Logf("mailq -qQ:\n%s", s.Exec(t, "-bp", "-qQ"))
	sink.None(t, 300*time.Millisecond)

	start := time.Now()
	s.Release(t, ids[0])
	m := sink.Wait(t, s, 10*time.Second)
	t.Logf("released %s in %v", ids[0], time.Since(start))
	if !bytes.Contains(m.Data, []byte("Subject: quarantine me\r\n")) {
		t.Errorf("released message:\n%s", m.Data)
	}
	if q := s.Quarantined(t); len(q) != 0 {
		t.Errorf("still quarantined: %v", q)
	}
}

func TestSendmailMilterUnreachable(t *testing.T) {
	port, err := smFreePort()
	if err != nil {
		t.Fatal(err)
	}
	closed := fmt.Sprintf("inet:%d@127.0.0.1", port)
	t.Run("fail-closed", func(t *testing.T) {
		sink := smStartSink(t)
		s := StartSendmail(t, SendmailOptions{Milter: closed, FailClosed: true, NextHop: sink.Addr})
		err := smSend(s.SMTPAddr, "alice@client.mamori.test", "bob@example.test", "fail closed")
		var se *smSendError
		var code *smtp.SMTPError
		if !errors.As(err, &se) || !errors.As(err, &code) {
			t.Fatalf("send = %v, want an SMTP error", err)
		}
		t.Logf("fail closed: %s answers %d %v %q", se.Stage, code.Code, code.EnhancedCode, code.Message)
		if se.Stage != "MAIL" || code.Code/100 != 4 {
			t.Errorf("got %s %d, want a 4xx at MAIL", se.Stage, code.Code)
		}
		sink.None(t, 300*time.Millisecond)
	})
	t.Run("fail-open", func(t *testing.T) {
		sink := smStartSink(t)
		s := StartSendmail(t, SendmailOptions{Milter: closed, NextHop: sink.Addr})
		if err := smSend(s.SMTPAddr, "alice@client.mamori.test", "bob@example.test", "fail open"); err != nil {
			t.Fatal(err)
		}
		sink.Wait(t, s, 10*time.Second)
	})
}

func TestSendmailLatency(t *testing.T) {
	const n = 20
	measure := func(t *testing.T, s *Sendmail, sink *smTestSink) []time.Duration {
		var d []time.Duration
		for i := 0; i < n; i++ {
			start := time.Now()
			if err := smSend(s.SMTPAddr, "alice@client.mamori.test", "bob@example.test", fmt.Sprintf("latency %d", i)); err != nil {
				t.Fatal(err)
			}
			d = append(d, time.Since(start))
			sink.Wait(t, s, 10*time.Second)
		}
		return d
	}
	report := func(t *testing.T, name string, d []time.Duration) time.Duration {
		s := append([]time.Duration(nil), d...)
		sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
		var sum time.Duration
		for _, x := range s {
			sum += x
		}
		mean := sum / time.Duration(len(s))
		t.Logf("%s: %d messages, mean %.1f ms, median %.1f ms, min %.1f ms, max %.1f ms per SMTP transaction",
			name, len(s), smMillis(mean), smMillis(s[len(s)/2]), smMillis(s[0]), smMillis(s[len(s)-1]))
		return mean
	}
	var plain, withMilter, quickAck time.Duration
	t.Run("no-milter", func(t *testing.T) {
		sink := smStartSink(t)
		s := StartSendmail(t, SendmailOptions{NextHop: sink.Addr})
		plain = report(t, "no milter", measure(t, s, sink))
	})
	t.Run("noop-milter", func(t *testing.T) {
		sink := smStartSink(t)
		ml := smStartMilter(t, func() milter.Milter { return milter.NoOpMilter{} })
		s := StartSendmail(t, SendmailOptions{Milter: ml.Spec, FailClosed: true, NextHop: sink.Addr})
		withMilter = report(t, "no-op d--j milter", measure(t, s, sink))
		t.Logf("macros Sendmail sent per stage:\n%s", ml.Rec.Report())
	})
	t.Run("noop-milter-quickack", func(t *testing.T) {
		sink := smStartSink(t)
		ml := smStartMilterAck(t, true, func() milter.Milter { return milter.NoOpMilter{} })
		s := StartSendmail(t, SendmailOptions{Milter: ml.Spec, FailClosed: true, NextHop: sink.Addr})
		quickAck = report(t, "no-op d--j milter with TCP_QUICKACK", measure(t, s, sink))
	})
	t.Logf("milter cost per message: %.1f ms; %.1f ms with TCP_QUICKACK", smMillis(withMilter-plain), smMillis(quickAck-plain))
}

// smMillis converts d to fractional milliseconds.
func smMillis(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func TestSendmailCleanup(t *testing.T) {
	var s *Sendmail
	var procs []int
	t.Run("run", func(t *testing.T) {
		sink := smStartSink(t)
		s = StartSendmail(t, SendmailOptions{NextHop: sink.Addr})
		if err := smSend(s.SMTPAddr, "alice@client.mamori.test", "bob@example.test", "cleanup"); err != nil {
			t.Fatal(err)
		}
		sink.Wait(t, s, 10*time.Second)
		procs = s.NamespaceProcs()
		if len(procs) < 2 {
			t.Errorf("namespace processes = %v, want the script and the daemon", procs)
		}
	})
	if left := s.NamespaceProcs(); len(left) != 0 {
		t.Errorf("processes left after cleanup: %v", left)
	}
	if _, err := os.Stat(s.Dir); !os.IsNotExist(err) {
		t.Errorf("dir %s not removed: %v", s.Dir, err)
	}
	if _, err := os.Lstat("/dev/log"); err == nil {
		t.Logf("note: the host has a /dev/log (not ours)")
	}
	if c, err := net.DialTimeout("tcp", s.SMTPAddr, time.Second); err == nil {
		c.Close()
		t.Errorf("%s still accepts connections", s.SMTPAddr)
	}
	t.Logf("namespace had %d processes while running; none left", len(procs))
}

func TestSendmailParallel(t *testing.T) {
	for i := 0; i < 3; i++ {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			t.Parallel()
			sink := smStartSink(t)
			s := StartSendmail(t, SendmailOptions{NextHop: sink.Addr})
			subject := fmt.Sprintf("parallel %d", i)
			if err := smSend(s.SMTPAddr, "alice@client.mamori.test", "bob@example.test", subject); err != nil {
				t.Fatal(err)
			}
			m := sink.Wait(t, s, 10*time.Second)
			if !bytes.Contains(m.Data, []byte("Subject: "+subject+"\r\n")) {
				t.Errorf("got another instance's message:\n%s", m.Data)
			}
		})
	}
}

func TestSendmailPortClash(t *testing.T) {
	// Not parallel: it swaps the package's port picker.
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	calls := 0
	smPortFunc = func() (int, error) {
		calls++
		if calls == 1 {
			return busy.Addr().(*net.TCPAddr).Port, nil
		}
		return smFreePort()
	}
	defer func() { smPortFunc = smFreePort }()

	sink := smStartSink(t)
	s := StartSendmail(t, SendmailOptions{NextHop: sink.Addr})
	if calls != 2 || s.SMTPAddr == busy.Addr().String() {
		t.Fatalf("port picked %d times, listening on %s (busy %s)", calls, s.SMTPAddr, busy.Addr())
	}
	if err := smSend(s.SMTPAddr, "alice@client.mamori.test", "bob@example.test", "port clash"); err != nil {
		t.Fatal(err)
	}
	sink.Wait(t, s, 10*time.Second)
}

// TestSendmailDiesWithTestProcess starts a test binary that starts
// Sendmail and then kills itself, and checks that the namespace dies too.
func TestSendmailDiesWithTestProcess(t *testing.T) {
	if os.Getenv("MAMORI_SM_CHILD") != "" {
		sink := smStartSink(t)
		s := StartSendmail(t, SendmailOptions{NextHop: sink.Addr})
		fmt.Printf("ns=%s dir=%s\n", s.nsPID, s.Dir)
		_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
		select {}
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^TestSendmailDiesWithTestProcess$")
	cmd.Env = append(os.Environ(), "MAMORI_SM_CHILD=1")
	out, _ := cmd.Output()
	var ns, dir string
	if _, err := fmt.Sscanf(string(out), "ns=%s dir=%s", &ns, &dir); err != nil || !strings.HasPrefix(ns, "pid:[") {
		t.Fatalf("child said %q: %v", out, err)
	}
	defer os.RemoveAll(dir) // the child had no chance to clean up
	deadline := time.Now().Add(5 * time.Second)
	for len(smProcsInNamespace(ns)) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("processes %v outlived the test process", smProcsInNamespace(ns))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestSendmailMC(t *testing.T) {
	s := &Sendmail{Dir: "/tmp/mamori-sm-x", queue: "/tmp/mamori-sm-x/mqueue"}
	for _, tc := range []struct {
		name string
		opt  SendmailOptions
		want []string
		not  []string
	}{
		{"no milter", SendmailOptions{}, []string{
			"define(`SMART_HOST', `esmtp:[127.0.0.1]')dnl\n",
			"define(`ESMTP_MAILER_ARGS', `TCP $h 2525')dnl\n",
			"DAEMON_OPTIONS(`Family=inet, Name=MTA, Port=10025, Addr=127.0.0.1')dnl\n",
			"define(`QUEUE_DIR', `/tmp/mamori-sm-x/mqueue')dnl\n",
		}, []string{"INPUT_MAIL_FILTER"}},
		{"fail closed", SendmailOptions{Milter: "inet:11332@127.0.0.1", FailClosed: true}, []string{
			"INPUT_MAIL_FILTER(`mamori', `S=inet:11332@127.0.0.1, F=T, T=C:5s;S:30s;R:60s;E:5m')dnl\n",
		}, nil},
		{"fail open", SendmailOptions{Milter: "inet:11332@127.0.0.1", Timeouts: "R:2s"}, []string{
			"INPUT_MAIL_FILTER(`mamori', `S=inet:11332@127.0.0.1, T=R:2s')dnl\n",
		}, []string{"F=T"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mc := s.mc("/cf", 10025, smHop{ip: "127.0.0.1", port: 2525}, tc.opt)
			for _, w := range tc.want {
				if !strings.Contains(mc, w) {
					t.Errorf("mc lacks %q:\n%s", w, mc)
				}
			}
			for _, n := range tc.not {
				if strings.Contains(mc, n) {
					t.Errorf("mc has %q:\n%s", n, mc)
				}
			}
		})
	}
}
