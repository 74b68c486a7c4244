package quarantine

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"time"

	"github.com/emersion/go-smtp"
)

// ErrOutcomeUnknown: the connection to the relay broke, or the relay did
// not answer in time, after the whole message and its final "." were sent.
// The relay may have queued the message or not; the entry stays releasing
// until an operator looks at the relay's log and records what happened
// (FinishRelease, or mamori quarantine release --resolve).
var ErrOutcomeUnknown = errors.New("quarantine: release outcome unknown")

// DefaultReleaseTimeout bounds a release's SMTP conversation when
// ReleaseOptions.Timeout is 0.
const DefaultReleaseTimeout = 60 * time.Second

// maxReleaseHeader bounds how much of the header Release reads ahead to
// decide whether the message needs SMTPUTF8; what lies beyond is sent
// without being looked at.
const maxReleaseHeader = 1 << 20

// ReleaseOptions says where and how Release sends a message.
type ReleaseOptions struct {
	// Relay is the host:port of an SMTP listener of the MTA that does not
	// pass mail to the filter again (Postfix: a master.cf smtpd with
	// -o smtpd_milters=).
	Relay string
	// Helo is the name given in EHLO; the host name when empty.
	Helo string
	// Timeout bounds the whole SMTP conversation, connecting included;
	// DefaultReleaseTimeout when 0.
	Timeout time.Duration
}

// Release sends a held (or release_failed) entry's message to the relay
// with its original envelope, and records the outcome in st. It is the
// one way the CLI and the web console release mail.
//
// The entry is claimed first (BeginRelease), so that of two concurrent
// releases one sends and the other gets ErrState: a message goes out at
// most once. Then the stored bytes are sent exactly, over one SMTP
// transaction (RFC 5321 section 3.3): MAIL FROM the original sender
// ("<>" for the null sender), RCPT TO each original recipient, DATA. The
// client does the dot-stuffing (section 4.5.2) and ends bare LF lines with
// CRLF, as SMTP requires; a message stored with CRLF goes out byte for
// byte. SMTPUTF8 (RFC 6531) is asked for when the envelope or the header
// holds non-ASCII and the relay offers it; BODY=8BITMIME (RFC 6152)
// whenever the relay offers it.
//
// Outcomes:
//   - the relay answers 250 to the final ".": released; the entry is
//     returned with no error.
//   - anything fails before the final "." is sent (connection refused,
//     a refused command, the stored bytes damaged, the timeout): nothing
//     was delivered; release_failed with the reason in Entry.Error, and
//     the error returned. It may be released again.
//   - the relay refuses a recipient: the transaction is aborted (RSET)
//     before DATA, even if other recipients were accepted, and the entry
//     is release_failed naming every refused recipient. A partial
//     delivery would leave an entry that can only be released again to
//     all its recipients (duplicates) or to none; aborting keeps "released"
//     meaning "sent to every recipient", and a retry once the cause is
//     fixed delivers to all.
//   - the relay answers the final "." with 4xx or 5xx: release_failed.
//   - no answer to the final "." (timeout, connection lost): the relay may
//     have queued the message. The entry stays releasing and the error
//     wraps ErrOutcomeUnknown, with the Message-ID to look for in the
//     relay's log. Only an operator can tell, and records it with
//     FinishRelease.
//
// The returned entry, when not nil, shows the state Release left.
func Release(ctx context.Context, st Store, id, by string, o ReleaseOptions) (*Entry, error) {
	if _, err := ParseID(id); err != nil {
		return nil, err
	}
	if _, _, err := net.SplitHostPort(o.Relay); err != nil {
		return nil, fmt.Errorf("quarantine: release relay %q is not host:port (set quarantine.release.relay)", o.Relay)
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultReleaseTimeout
	}
	if o.Helo == "" {
		if h, err := os.Hostname(); err == nil && h != "" {
			o.Helo = h
		} else {
			o.Helo = "localhost"
		}
	}
	e, err := st.BeginRelease(ctx, id, by)
	if err != nil {
		return nil, err
	}
	sendErr := send(ctx, st, e, o)
	var unk *unknownError
	if errors.As(sendErr, &unk) {
		return e, fmt.Errorf("%w for %s (%v): the relay %s may have queued it. Look in the relay's log for Message-ID %s (from <%s>), then record what you found: mamori quarantine release --resolve delivered %s, or --resolve failed %s (it may then be released again)",
			ErrOutcomeUnknown, id, unk.err, o.Relay, orNone(e.MessageID), e.Sender, id, id)
	}
	// Record the outcome even if ctx was canceled meanwhile: a release
	// that happened must not stay releasing for want of a context.
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	ferr := st.FinishRelease(fctx, id, by, sendErr)
	switch {
	case sendErr == nil && ferr != nil:
		return e, fmt.Errorf("quarantine: %s was delivered to the relay, but recording that failed (%v); it stays releasing: record it with mamori quarantine release --resolve delivered %s", id, ferr, id)
	case sendErr != nil && ferr != nil:
		return e, fmt.Errorf("quarantine: release of %s failed (%v), and recording the failure failed too (%v); nothing was delivered: record it with mamori quarantine release --resolve failed %s", id, sendErr, ferr, id)
	}
	if got, err := st.Get(fctx, id); err == nil {
		e = got
	} else if sendErr == nil {
		e.State = Released
	} else {
		e.State, e.Error = ReleaseFailed, releaseError(sendErr)
	}
	if sendErr != nil {
		return e, fmt.Errorf("quarantine: release of %s failed: %w", id, sendErr)
	}
	return e, nil
}

// unknownError marks a failure after the final "." went out.
type unknownError struct{ err error }

func (u *unknownError) Error() string { return u.err.Error() }

func orNone(s string) string {
	if s == "" {
		return "(none: search by sender and time)"
	}
	return s
}

// send runs the SMTP transaction. An *unknownError means the final "."
// was sent and no reply came; any other error means nothing was delivered.
func send(ctx context.Context, st Store, e *Entry, o ReleaseOptions) error {
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	sender := bare(e.Sender)
	rcpts := make([]string, 0, len(e.Recipients))
	for _, r := range e.Recipients {
		if r = bare(r); r != "" {
			rcpts = append(rcpts, r)
		}
	}
	if len(rcpts) == 0 {
		return errors.New("the entry has no recipients to release to")
	}

	rc, err := st.Open(ctx, e.ID)
	if err != nil {
		return fmt.Errorf("reading the stored message: %w", err)
	}
	defer rc.Close()
	br := bufio.NewReaderSize(rc, 64<<10)
	head, err := readHeader(br)
	if err != nil {
		return fmt.Errorf("reading the stored message: %w", err)
	}

	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", o.Relay)
	if err != nil {
		return fmt.Errorf("connection to relay %s failed: %w", o.Relay, err)
	}
	// The client resets its deadline at each command; the overall bound
	// is this: when ctx ends, the connection closes under it.
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	c := smtp.NewClient(conn)
	defer c.Close()
	c.CommandTimeout, c.SubmissionTimeout = o.Timeout, o.Timeout
	step := func(what string, err error) error {
		var se *smtp.SMTPError
		if errors.As(err, &se) {
			return fmt.Errorf("relay %s refused %s: %s", o.Relay, what, reply(se))
		}
		if ctx.Err() != nil {
			err = fmt.Errorf("no answer within %v (quarantine.release.timeout)", o.Timeout)
		}
		return fmt.Errorf("connection to relay %s failed at %s: %w", o.Relay, what, err)
	}

	if err := c.Hello(o.Helo); err != nil {
		return step("EHLO", err)
	}
	utf8 := !ascii(sender) || !allASCII(rcpts)
	if ok, _ := c.Extension("SMTPUTF8"); ok {
		utf8 = utf8 || !ascii(string(head))
	} else if utf8 {
		return fmt.Errorf("relay %s does not offer SMTPUTF8, which the envelope's non-ASCII addresses need", o.Relay)
	}
	if err := c.Mail(sender, &smtp.MailOptions{Size: e.Size, UTF8: utf8}); err != nil {
		return step("MAIL FROM:<"+sender+">", err)
	}
	var refused []string
	for _, r := range rcpts {
		if err := c.Rcpt(r, nil); err != nil {
			var se *smtp.SMTPError
			if !errors.As(err, &se) {
				return step("RCPT TO:<"+r+">", err)
			}
			refused = append(refused, fmt.Sprintf("%s (%s)", r, reply(se)))
		}
	}
	if len(refused) > 0 {
		// Abort the transaction: no recipient gets it until all can.
		_ = c.Reset()
		_ = c.Quit()
		return fmt.Errorf("relay %s refused RCPT %s; the transaction was aborted and nothing was sent to any recipient", o.Relay, strings.Join(refused, ", "))
	}
	w, err := c.Data()
	if err != nil {
		return step("DATA", err)
	}
	if _, err := io.Copy(w, io.MultiReader(bytes.NewReader(head), br)); err != nil {
		// Never send the final ".": a relay drops a transaction whose
		// DATA did not end.
		conn.Close()
		if errors.Is(err, ErrCorrupt) {
			return fmt.Errorf("the stored message is damaged, nothing was delivered: %w", err)
		}
		return step("sending the message", err)
	}
	if _, err := w.CloseWithResponse(); err != nil {
		var se *smtp.SMTPError
		if errors.As(err, &se) {
			return fmt.Errorf("relay %s refused the message after DATA: %s", o.Relay, reply(se))
		}
		if ctx.Err() != nil {
			err = fmt.Errorf("no reply to the final \".\" within %v: %w", o.Timeout, err)
		}
		return &unknownError{err}
	}
	_ = c.Quit()
	return nil
}

// readHeader reads the header section (up to and including the empty
// line), at most maxReleaseHeader bytes of it.
func readHeader(br *bufio.Reader) ([]byte, error) {
	var head []byte
	for len(head) < maxReleaseHeader {
		line, err := br.ReadSlice('\n')
		head = append(head, line...)
		if err == io.EOF {
			return head, nil
		}
		if err != nil && err != bufio.ErrBufferFull {
			return nil, err
		}
		if err == nil && (len(line) == 1 || len(line) == 2 && line[0] == '\r') {
			break
		}
	}
	return head, nil
}

// reply formats a relay's answer as it said it: "550 5.1.1 No such user".
func reply(se *smtp.SMTPError) string {
	s := fmt.Sprint(se.Code)
	if c := se.EnhancedCode; c != smtp.EnhancedCodeNotSet && c != smtp.NoEnhancedCode {
		s += fmt.Sprintf(" %d.%d.%d", c[0], c[1], c[2])
	}
	return s + " " + strings.ReplaceAll(se.Message, "\n", " ")
}

// bare strips the angle brackets of "<a@b>"; "<>" is the null sender "".
func bare(addr string) string {
	addr = strings.TrimSpace(addr)
	if strings.HasPrefix(addr, "<") && strings.HasSuffix(addr, ">") {
		addr = addr[1 : len(addr)-1]
	}
	return addr
}

func ascii(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

func allASCII(ss []string) bool {
	for _, s := range ss {
		if !ascii(s) {
			return false
		}
	}
	return true
}
