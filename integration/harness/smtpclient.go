package harness

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"
)

// SMTPResult is the reply that ended (or completed) a step of an SMTP
// conversation. Tests assert on it directly, so it keeps the reply code, the
// RFC 3463 enhanced status code and the stage apart.
type SMTPResult struct {
	// Code is the three-digit reply code; 0 means no reply arrived (see Err).
	Code int
	// Enhanced is the enhanced status code such as "5.7.1", or "" if the
	// reply had none.
	Enhanced string
	// Text is the reply text without code and enhanced code; the lines of a
	// multi-line reply are joined with "\n".
	Text string
	// Stage names the step the reply answered: "connect" (greeting), "helo",
	// "mail", "rcpt", "data" (the DATA command), "dot" (end of data), or
	// "cmd" for SMTPConn.Cmd.
	Stage string
	// Err is the network or protocol error when no usable reply arrived.
	Err error
}

// OK reports whether the reply is a 2xx success.
func (r SMTPResult) OK() bool { return r.Code >= 200 && r.Code < 300 }

// QueueID returns the queue ID from Postfix's "250 2.0.0 Ok: queued as ID",
// or "" if the reply does not name one.
func (r SMTPResult) QueueID() string {
	_, id, ok := strings.Cut(r.Text, "queued as ")
	fields := strings.Fields(id)
	if !ok || len(fields) == 0 {
		return ""
	}
	return fields[0]
}

// String formats the result for failure messages.
func (r SMTPResult) String() string {
	if r.Err != nil {
		return fmt.Sprintf("%s: no reply: %v", r.Stage, r.Err)
	}
	if r.Enhanced != "" {
		return fmt.Sprintf("%s: %d %s %s", r.Stage, r.Code, r.Enhanced, r.Text)
	}
	return fmt.Sprintf("%s: %d %s", r.Stage, r.Code, r.Text)
}

// DefaultSMTPTimeout bounds each command of an SMTPConn unless its Timeout
// field says otherwise. It is generous because the reply to the final dot
// waits for the milter to scan the whole message.
const DefaultSMTPTimeout = 2 * time.Minute

// SMTPConn is one client connection that can carry several transactions,
// which is how tests check that a milter resets its state between messages.
type SMTPConn struct {
	// Timeout bounds each command and its reply.
	Timeout time.Duration
	// Greeting is the server's 220 greeting.
	Greeting SMTPResult
	// Ehlo is the reply to EHLO; its Text lists the extensions.
	Ehlo SMTPResult

	conn net.Conn
	r    *bufio.Reader
	w    *bufio.Writer
}

// DialSMTP connects to addr, reads the greeting and sends EHLO helo. It fails
// the test if any of that does not succeed; use SendMail to test a rejection
// at connect time.
func DialSMTP(t testing.TB, addr, helo string) *SMTPConn {
	t.Helper()
	c, res := dialSMTP(addr, helo)
	if c == nil {
		t.Fatalf("harness: smtp dial %s: %v", addr, res)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// dialSMTP returns a ready connection, or nil and the failing result.
func dialSMTP(addr, helo string) (*SMTPConn, SMTPResult) {
	conn, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return nil, SMTPResult{Stage: "connect", Err: err}
	}
	c := &SMTPConn{
		Timeout: DefaultSMTPTimeout,
		conn:    conn,
		r:       bufio.NewReader(conn),
		w:       bufio.NewWriterSize(conn, 64<<10),
	}
	c.Greeting = c.reply("connect")
	if c.Greeting.Code != 220 {
		conn.Close()
		return nil, c.Greeting
	}
	c.Ehlo = c.cmd("helo", "EHLO "+helo)
	if !c.Ehlo.OK() {
		c.Close()
		return nil, c.Ehlo
	}
	return c, c.Ehlo
}

// Send runs one transaction: MAIL FROM, RCPT TO for each recipient, DATA and
// the dot-stuffed data. It stops at the first reply that is not a success (for
// DATA, not 354), returns that reply, and sends RSET so that the connection can
// carry the next transaction. On success it returns the reply to the final dot.
//
// data should use CRLF line endings. Send dot-stuffs every line that starts
// with "." and adds a CRLF if data does not end with a line break, but
// otherwise sends data as it is, so a test can also send bare LFs on purpose. MAIL FROM gets
// SMTPUTF8 when an address is not ASCII.
func (c *SMTPConn) Send(from string, to []string, data []byte) SMTPResult {
	mail := "MAIL FROM:<" + from + ">"
	if !isASCII(from) || !isASCII(strings.Join(to, "")) {
		mail += " SMTPUTF8"
	}
	if res := c.cmd("mail", mail); !res.OK() {
		c.rset(res)
		return res
	}
	for _, rcpt := range to {
		if res := c.cmd("rcpt", "RCPT TO:<"+rcpt+">"); !res.OK() {
			c.rset(res)
			return res
		}
	}
	if res := c.cmd("data", "DATA"); res.Code != 354 {
		c.rset(res)
		return res
	}
	c.conn.SetDeadline(time.Now().Add(c.timeout()))
	if err := writeDotStuffed(c.w, data); err != nil {
		return SMTPResult{Stage: "dot", Err: err}
	}
	if err := c.w.Flush(); err != nil {
		return SMTPResult{Stage: "dot", Err: err}
	}
	return c.reply("dot")
}

// Cmd sends one raw command line (without CRLF) and returns the reply, for
// tests of commands Send does not cover (RSET, NOOP, VRFY, a second EHLO).
func (c *SMTPConn) Cmd(line string) SMTPResult {
	return c.cmd("cmd", line)
}

// Close sends QUIT, waits briefly for the reply and closes the connection.
// It is safe to call more than once.
func (c *SMTPConn) Close() error {
	if c.conn == nil {
		return nil
	}
	c.Timeout = 5 * time.Second
	c.cmd("quit", "QUIT")
	err := c.conn.Close()
	c.conn = nil
	return err
}

// SendMail delivers one message over a new connection and closes it. It
// returns the reply to the final dot (250 on success) or the first reply that
// was not a success, with the stage it answered: a server that refuses the
// connection or the greeting yields stage "connect".
func SendMail(addr, helo, from string, to []string, data []byte) SMTPResult {
	c, res := dialSMTP(addr, helo)
	if c == nil {
		return res
	}
	defer c.Close()
	return c.Send(from, to, data)
}

func (c *SMTPConn) timeout() time.Duration {
	if c.Timeout > 0 {
		return c.Timeout
	}
	return DefaultSMTPTimeout
}

// rset ends a failed transaction so that the next Send starts clean. A reply
// with no code means the connection is unusable anyway.
func (c *SMTPConn) rset(failed SMTPResult) {
	if failed.Err == nil && failed.Code != 421 {
		c.cmd("rset", "RSET")
	}
}

func (c *SMTPConn) cmd(stage, line string) SMTPResult {
	if c.conn == nil {
		return SMTPResult{Stage: stage, Err: net.ErrClosed}
	}
	c.conn.SetDeadline(time.Now().Add(c.timeout()))
	if _, err := c.w.WriteString(line + "\r\n"); err != nil {
		return SMTPResult{Stage: stage, Err: err}
	}
	if err := c.w.Flush(); err != nil {
		return SMTPResult{Stage: stage, Err: err}
	}
	return c.reply(stage)
}

// reply reads one possibly multi-line reply (RFC 5321 section 4.2.1).
func (c *SMTPConn) reply(stage string) SMTPResult {
	c.conn.SetDeadline(time.Now().Add(c.timeout()))
	res := SMTPResult{Stage: stage}
	var texts []string
	for {
		line, err := c.r.ReadString('\n')
		if err != nil {
			res.Err = err
			return res
		}
		line = strings.TrimRight(line, "\r\n")
		if len(line) < 3 {
			res.Err = fmt.Errorf("harness: malformed smtp reply %q", line)
			return res
		}
		code, err := strconv.Atoi(line[:3])
		if err != nil {
			res.Err = fmt.Errorf("harness: malformed smtp reply %q", line)
			return res
		}
		res.Code = code
		more := len(line) > 3 && line[3] == '-'
		text := ""
		if len(line) > 4 {
			text = line[4:]
		}
		if enh, rest, ok := splitEnhanced(code, text); ok {
			if res.Enhanced == "" {
				res.Enhanced = enh
			}
			text = rest
		}
		texts = append(texts, text)
		if !more {
			res.Text = strings.Join(texts, "\n")
			return res
		}
	}
}

// splitEnhanced splits "5.7.1 text" into the RFC 3463 code and the text when
// the code's class matches the reply's first digit.
func splitEnhanced(code int, text string) (string, string, bool) {
	enh, rest, _ := strings.Cut(text, " ")
	parts := strings.Split(enh, ".")
	if len(parts) != 3 || parts[0] != strconv.Itoa(code/100) {
		return "", "", false
	}
	for _, p := range parts {
		if _, err := strconv.Atoi(p); err != nil || len(p) > 3 {
			return "", "", false
		}
	}
	return enh, rest, true
}

// writeDotStuffed writes data as the content of DATA followed by the end
// marker (RFC 5321 section 4.5.2). A line is whatever follows an LF, so a
// dot after a bare LF is stuffed too, as Postfix would read it as a new line.
func writeDotStuffed(w *bufio.Writer, data []byte) error {
	rest := data
	for len(rest) > 0 {
		if rest[0] == '.' {
			if err := w.WriteByte('.'); err != nil {
				return err
			}
		}
		i := bytes.IndexByte(rest, '\n')
		if i < 0 {
			_, err := w.Write(rest)
			if err != nil {
				return err
			}
			break
		}
		if _, err := w.Write(rest[:i+1]); err != nil {
			return err
		}
		rest = rest[i+1:]
	}
	end := ".\r\n"
	if len(data) > 0 && data[len(data)-1] != '\n' {
		end = "\r\n.\r\n"
	}
	_, err := w.WriteString(end)
	return err
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}
