package mimepart

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"io"
	"strings"
	"sync"
)

// The transfer decoders here write to a Writer and count what they had to
// skip instead of failing. Mail clients decode leniently (Thunderbird and
// Outlook skip stray characters in base64), and a scanner that stops at the
// first bad byte would hand the client a payload it never looked at.

var b64Map = func() (m [256]byte) {
	for i := range m {
		m[i] = 0xff
	}
	const alpha = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	for i := 0; i < len(alpha); i++ {
		m[alpha[i]] = byte(i)
	}
	return m
}()

type b64Bufs struct {
	in  [32 << 10]byte
	out [24<<10 + 16]byte
}

// b64Pool keeps decode buffers across parts: a message of many small parts
// would otherwise allocate 56 KB for each.
var b64Pool = sync.Pool{New: func() any { return new(b64Bufs) }}

// decodeBase64 decodes RFC 2045 §6.8 base64 from r to w. White space is
// ignored; "=" ends a quantum (concatenated encodings decode as such); any
// other character outside the alphabet is skipped and counted in bad.
func decodeBase64(w io.Writer, r io.Reader) (bad int, err error) {
	bufs := b64Pool.Get().(*b64Bufs)
	defer b64Pool.Put(bufs)
	var (
		in   = bufs.in[:]
		out  = bufs.out[:0]
		q    [4]byte
		nq   int
		done bool
	)
	flush := func() {
		switch nq {
		case 1:
			bad++ // six bits make no byte
		case 2:
			out = append(out, q[0]<<2|q[1]>>4)
		case 3:
			out = append(out, q[0]<<2|q[1]>>4, q[1]<<4|q[2]>>2)
		}
		nq = 0
	}
	for !done {
		n, rerr := r.Read(in)
		chunk := in[:n]
		// Fast path: whole lines of well-formed base64, which is nearly
		// all mail, go through the standard library's decoder (several
		// times faster than the byte loop below); it skips CR and LF. Any
		// error sends the segment through the lenient loop instead.
		if nq == 0 {
			if cut := bytes.LastIndexByte(chunk, '\n'); cut >= 0 {
				seg := chunk[:cut+1]
				dst := out[len(out):cap(out)]
				if base64.StdEncoding.DecodedLen(len(seg)) <= len(dst) {
					if k, err := base64.StdEncoding.Decode(dst, seg); err == nil {
						out = out[:len(out)+k]
						chunk = chunk[cut+1:]
					}
				}
			}
		}
		for _, c := range chunk {
			v := b64Map[c]
			if v != 0xff {
				q[nq] = v
				nq++
				if nq == 4 {
					out = append(out, q[0]<<2|q[1]>>4, q[1]<<4|q[2]>>2, q[2]<<6|q[3])
					nq = 0
				}
				continue
			}
			switch c {
			case '=':
				flush()
			case ' ', '\t', '\r', '\n':
			default:
				bad++
			}
		}
		if rerr == io.EOF {
			flush()
			done = true
		} else if rerr != nil {
			return bad, rerr
		}
		if len(out) > 0 {
			if _, err := w.Write(out); err != nil {
				return bad, err
			}
			out = out[:0]
		}
	}
	return bad, nil
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	case 'a' <= c && c <= 'f': // RFC 2045 wants upper case; clients accept both
		return c - 'a' + 10, true
	}
	return 0, false
}

// decodeQP decodes RFC 2045 §6.7 quoted-printable from r to w. A "=" not
// followed by two hex digits or a line break is kept literally and counted
// in bad; trailing white space on a line is dropped (rule 3).
func decodeQP(w io.Writer, r io.Reader) (bad int, err error) {
	br := bufio.NewReaderSize(r, 64<<10)
	bw := bufio.NewWriterSize(w, 32<<10)
	var carry []byte
	for {
		line, rerr := br.ReadSlice('\n')
		full := rerr == nil
		if rerr == bufio.ErrBufferFull {
			rerr = nil
		}
		if len(carry) > 0 {
			line = append(carry, line...)
			carry = nil
		}
		body, eol := line, []byte(nil)
		if full {
			body = bytes.TrimRight(line, "\r\n")
			eol = line[len(body):]
			body = bytes.TrimRight(body, " \t")
		} else if rerr == nil {
			// A line longer than the buffer: decode all but a possible
			// "=XY" cut at the end, which waits for the next chunk.
			if i := bytes.LastIndexByte(body, '='); i >= 0 && i >= len(body)-2 {
				carry = append([]byte(nil), body[i:]...)
				body = body[:i]
			}
		} else {
			body = bytes.TrimRight(body, " \t")
		}
		soft := false
		for i := 0; i < len(body); i++ {
			c := body[i]
			if c != '=' {
				bw.WriteByte(c)
				continue
			}
			if i == len(body)-1 && (full || rerr != nil) {
				soft = true // "=" at the end of a line: a soft line break
				break
			}
			if i+2 < len(body) {
				h, ok1 := unhex(body[i+1])
				l, ok2 := unhex(body[i+2])
				if ok1 && ok2 {
					bw.WriteByte(h<<4 | l)
					i += 2
					continue
				}
			}
			bad++
			bw.WriteByte('=')
		}
		if !soft && eol != nil {
			bw.Write(eol)
		}
		if rerr == io.EOF {
			if len(carry) > 0 {
				bw.Write(carry)
				bad++
			}
			return bad, bw.Flush()
		}
		if rerr != nil {
			return bad, rerr
		}
	}
}

// uuBegin parses a uuencode "begin MODE NAME" line and returns the name.
func uuBegin(line []byte) (string, bool) {
	s := strings.TrimRight(string(line), "\r\n")
	rest, ok := strings.CutPrefix(s, "begin ")
	if !ok {
		return "", false
	}
	mode, name, ok := strings.Cut(rest, " ")
	if !ok || len(mode) < 3 || len(mode) > 4 || strings.Trim(mode, "01234567") != "" {
		return "", false
	}
	return strings.TrimSpace(name), true
}

// decodeUULines decodes uuencoded lines from br to w up to the "end" line
// (consumed) or the end of input. It reports whether "end" was seen and how
// many lines were damaged.
func decodeUULines(w io.Writer, br *bufio.Reader) (ended bool, bad int, err error) {
	var out []byte
	for {
		line, rerr := br.ReadSlice('\n')
		if rerr == bufio.ErrBufferFull {
			// No uuencoded line is this long: skip the rest of it.
			bad++
			for rerr == bufio.ErrBufferFull {
				_, rerr = br.ReadSlice('\n')
			}
			if rerr == io.EOF {
				return false, bad, nil
			}
			if rerr != nil {
				return false, bad, rerr
			}
			continue
		}
		t := bytes.TrimRight(line, "\r\n")
		if string(bytes.TrimRight(t, " \t")) == "end" {
			return true, bad, nil
		}
		if len(t) > 0 {
			n := int((t[0] - ' ') & 63)
			out = out[:0]
			var q [4]byte
			for i := 1; len(out) < n; i += 4 {
				for j := 0; j < 4; j++ {
					c := byte('`')
					if i+j < len(t) {
						c = t[i+j]
					} else if j == 0 {
						bad++
					}
					q[j] = (c - ' ') & 63
				}
				out = append(out, q[0]<<2|q[1]>>4, q[1]<<4|q[2]>>2, q[2]<<6|q[3])
				if i > len(t) {
					break
				}
			}
			if len(out) > n {
				out = out[:n]
			}
			if _, err := w.Write(out); err != nil {
				return false, bad, err
			}
		}
		if rerr == io.EOF {
			return false, bad, nil
		}
		if rerr != nil {
			return false, bad, rerr
		}
	}
}
