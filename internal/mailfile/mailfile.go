// Package mailfile reads a message file (RFC 5322, optionally with an mbox
// "From " line) into the same model the milter session builds, so that
// `mamori check` judges a file exactly as the daemon judges mail: header
// values keep their bytes, folds become CRLF, and the body is stored in
// SMTP's CRLF form.
package mailfile

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"

	"github.com/mamori-mail/mamori/internal/spool"
	"github.com/mamori-mail/mamori/rules/check"
)

// Limits bound what Parse accepts.
type Limits struct {
	MaxHeaders     int
	MaxHeaderSize  int64
	MaxMessageSize int64
	SpoolThreshold int64
	SpoolDir       string
}

// ErrTooLarge is returned when a limit is exceeded.
var ErrTooLarge = errors.New("mailfile: message exceeds limits")

// Parse reads a message. The caller closes the returned body (a *spool.Spool)
// when done. The header section ends at the first empty line, or at the first
// line that is neither a field nor a fold (as Postfix's cleanup treats it);
// such a line starts the body.
func Parse(r io.Reader, lim Limits) (*check.Message, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	m := &check.Message{Macros: map[string]string{}}
	sp := spool.New(lim.SpoolThreshold, lim.SpoolDir)
	m.Body = sp
	fail := func(err error) (*check.Message, error) {
		sp.Close()
		return nil, err
	}
	var hdrBytes int64
	first := true
	var pending []byte // a line read ahead that belongs to the body
	for {
		line, err := readLine(br, lim.MaxHeaderSize-hdrBytes+1)
		if err != nil && err != io.EOF {
			return fail(err)
		}
		if len(line) == 0 && err == io.EOF {
			break
		}
		if first && bytes.HasPrefix(line, []byte("From ")) {
			first = false
			continue // mbox separator
		}
		first = false
		content := bytes.TrimRight(line, "\r\n")
		if len(content) == 0 {
			hdrBytes += 2
			break // end of header section
		}
		if (content[0] == ' ' || content[0] == '\t') && len(m.Headers) > 0 {
			h := &m.Headers[len(m.Headers)-1]
			h.Raw += "\r\n" + string(content)
			hdrBytes += int64(len(content)) + 2
		} else if i := bytes.IndexByte(content, ':'); i > 0 && validName(content[:i]) {
			if len(m.Headers) >= lim.MaxHeaders {
				return fail(fmt.Errorf("%w: more than %d header fields", ErrTooLarge, lim.MaxHeaders))
			}
			m.Headers = append(m.Headers, check.Header{Name: string(content[:i]), Raw: string(content[i+1:])})
			hdrBytes += int64(len(content)) + 2
		} else {
			pending = line
			break
		}
		if hdrBytes > lim.MaxHeaderSize {
			return fail(fmt.Errorf("%w: header section over %d bytes", ErrTooLarge, lim.MaxHeaderSize))
		}
		if err == io.EOF {
			break
		}
	}
	w := &crlfWriter{w: sp, max: lim.MaxMessageSize - hdrBytes}
	if pending != nil {
		if _, err := w.Write(pending); err != nil {
			return fail(err)
		}
	}
	if _, err := io.Copy(w, br); err != nil {
		return fail(err)
	}
	m.Size = hdrBytes + sp.Size()
	return m, nil
}

// readLine reads one line (with its ending), refusing lines longer than max
// so that a file without newlines cannot exhaust memory.
func readLine(br *bufio.Reader, max int64) ([]byte, error) {
	var out []byte
	for {
		frag, err := br.ReadSlice('\n')
		out = append(out, frag...)
		if int64(len(out)) > max {
			return nil, fmt.Errorf("%w: header line too long", ErrTooLarge)
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		return out, err
	}
}

// validName follows RFC 5322 §3.6.8: printable ASCII except colon.
func validName(b []byte) bool {
	for _, c := range b {
		if c < 33 || c > 126 {
			return false
		}
	}
	return true
}

// crlfWriter turns bare LF into CRLF (files on disk usually use LF; SMTP
// and DKIM body hashes use CRLF) and enforces the size limit.
type crlfWriter struct {
	w      io.Writer
	max    int64
	n      int64
	lastCR bool
	buf    []byte
}

func (c *crlfWriter) Write(p []byte) (int, error) {
	c.buf = c.buf[:0]
	for _, b := range p {
		if b == '\n' && !c.lastCR {
			c.buf = append(c.buf, '\r')
		}
		c.buf = append(c.buf, b)
		c.lastCR = b == '\r'
	}
	c.n += int64(len(c.buf))
	if c.n > c.max {
		return 0, fmt.Errorf("%w: message over %d bytes", ErrTooLarge, c.max)
	}
	if _, err := c.w.Write(c.buf); err != nil {
		return 0, err
	}
	return len(p), nil
}
