package mimepart

import (
	"bufio"
	"bytes"
	"io"
	"mime"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"unicode"

	"github.com/emersion/go-message/textproto"
	"golang.org/x/text/encoding/htmlindex"
	"golang.org/x/text/transform"
)

// maxHeaderBlock bounds one part's header block; the milter limits bound
// the top-level one before it gets here.
const maxHeaderBlock = 256 << 10

// readHeaderBlock reads a part's header block starting at off and returns
// the fields and the offset of the body. A block go-message cannot parse (a
// line without a colon, a bad key) is read again line by line, keeping the
// good fields, and ok is false.
func readHeaderBlock(ra io.ReaderAt, off, end int64) (h textproto.Header, body int64, ok bool) {
	// Header blocks are small: a small buffer keeps many-part messages cheap.
	lr := newLineReaderSize(ra, off, end, 4<<10)
	var block []byte
	ok = true
	first := true
	for {
		start := lr.off
		line, _, err := lr.next()
		if len(line) == 0 && err != nil {
			body = lr.off
			break
		}
		if isBlank(line) {
			body = lr.off
			break
		}
		if first && !looksLikeField(line) {
			// No header block at all (RFC 2046 §5.1.1 allows an empty one,
			// and some senders forget the blank line): it is all body.
			return textproto.Header{}, start, false
		}
		first = false
		if len(block)+len(line) > maxHeaderBlock {
			ok = false
			body = start
			break
		}
		block = append(block, line...)
		if err != nil {
			body = lr.off
			break
		}
	}
	block = append(block, "\r\n"...)
	hh, err := textproto.ReadHeader(bufio.NewReader(bytes.NewReader(block)))
	if err == nil {
		return hh, body, ok
	}
	return lenientHeader(block), body, false
}

// lenientHeader keeps every well-formed field of a block and drops the
// lines go-message refused.
func lenientHeader(block []byte) textproto.Header {
	var h textproto.Header
	var cur []byte
	flush := func() {
		if k, _, ok := bytes.Cut(cur, []byte(":")); ok && validKey(bytes.TrimSpace(k)) {
			h.AddRaw(append(bytes.TrimRight(cur, "\r\n"), "\r\n"...))
		}
		cur = nil
	}
	for _, line := range bytes.SplitAfter(block, []byte("\n")) {
		if len(line) > 0 && (line[0] == ' ' || line[0] == '\t') && cur != nil {
			cur = append(cur, line...)
			continue
		}
		flush()
		cur = append(cur, line...)
	}
	flush()
	return h
}

func validKey(k []byte) bool {
	if len(k) == 0 {
		return false
	}
	for _, c := range k {
		if c <= ' ' || c >= 127 || c == ':' {
			return false
		}
	}
	return true
}

func looksLikeField(line []byte) bool {
	if line[0] == ' ' || line[0] == '\t' {
		return false
	}
	k, _, ok := bytes.Cut(line, []byte(":"))
	return ok && validKey(bytes.TrimRight(k, " \t"))
}

func isBlank(line []byte) bool {
	return len(bytes.TrimRight(line, "\r\n")) == 0
}

// unfold joins a folded header value.
func unfold(v string) string {
	if strings.ContainsAny(v, "\r\n") {
		v = strings.NewReplacer("\r\n", "", "\n", "", "\r", "").Replace(v)
	}
	return strings.TrimSpace(v)
}

// parseMediaType parses a Content-Type or Content-Disposition value
// leniently (RFC 2045 §5.1, RFC 2183 §2): it never fails, keeps every
// parameter it can read, joins RFC 2231 continuations and decodes RFC 2231
// charsets (any charset, not only UTF-8 as mime.ParseMediaType does) and the
// RFC 2047 words that mailers put in quoted names against the rules. It
// reports whether the value was well formed.
func parseMediaType(v string) (typ string, params map[string]string, ok bool) {
	v = unfold(v)
	ok = true
	semi := strings.IndexByte(v, ';')
	if semi < 0 {
		semi = len(v)
	}
	typ = strings.ToLower(strings.TrimSpace(v[:semi]))
	if typ != "" && strings.ContainsAny(typ, " \t\"") {
		ok = false
		typ = ""
		if f := strings.Fields(strings.ReplaceAll(v[:semi], "\"", " ")); len(f) > 0 {
			typ = strings.ToLower(f[0])
		}
	}
	params = map[string]string{}
	type piece struct {
		n   int
		enc bool
		v   string
	}
	conts := map[string][]piece{}
	ext := map[string]string{} // name*=charset'lang'value
	rest := v[semi:]
	for len(rest) > 0 {
		rest = strings.TrimLeftFunc(rest, isSpaceOrSemi)
		if rest == "" {
			break
		}
		eq := strings.IndexAny(rest, "=;")
		if eq < 0 || rest[eq] == ';' {
			ok = false // a parameter without "=": skip it
			if eq < 0 {
				break
			}
			rest = rest[eq:]
			continue
		}
		key := strings.ToLower(strings.TrimSpace(rest[:eq]))
		// Any Unicode space, as mime.ParseMediaType skips: a vertical
		// tab before a quoted filename must not turn the quotes into
		// part of the name.
		rest = strings.TrimLeftFunc(rest[eq+1:], unicode.IsSpace)
		var val string
		if strings.HasPrefix(rest, "\"") {
			var b strings.Builder
			i := 1
			closed := false
			for ; i < len(rest); i++ {
				c := rest[i]
				if c == '\\' && i+1 < len(rest) {
					i++
					b.WriteByte(rest[i])
					continue
				}
				if c == '"' {
					closed = true
					i++
					break
				}
				b.WriteByte(c)
			}
			if !closed {
				ok = false
			}
			val, rest = b.String(), rest[i:]
			// Anything between the closing quote and the next ";" is
			// junk; clients ignore it.
			if j := strings.IndexByte(rest, ';'); j >= 0 {
				if strings.TrimSpace(rest[:j]) != "" {
					ok = false
				}
				rest = rest[j:]
			} else {
				if strings.TrimSpace(rest) != "" {
					ok = false
				}
				rest = ""
			}
		} else {
			j := strings.IndexByte(rest, ';')
			if j < 0 {
				j = len(rest)
			}
			val, rest = strings.TrimSpace(rest[:j]), rest[j:]
			if strings.ContainsAny(val, " \t\"") {
				ok = false
			}
		}
		if key == "" {
			ok = false
			continue
		}
		name, star, isExt := strings.Cut(key, "*")
		switch {
		case !isExt:
			if _, dup := params[key]; dup {
				ok = false
				continue // the first one wins, as in most clients
			}
			params[key] = val
		case star == "":
			ext[name] = val
		default:
			enc := strings.HasSuffix(star, "*")
			n, err := strconv.Atoi(strings.TrimSuffix(star, "*"))
			if err != nil || n < 0 || n > 999 {
				ok = false
				continue
			}
			conts[name] = append(conts[name], piece{n, enc, val})
		}
	}
	for name, ps := range conts {
		sort.Slice(ps, func(i, j int) bool { return ps[i].n < ps[j].n })
		var b strings.Builder
		charset := ""
		for i, p := range ps {
			s := p.v
			if p.enc {
				if i == 0 {
					var okc bool
					charset, s, okc = splitExtValue(s)
					if !okc {
						ok = false
					}
				}
				s = pctDecode(s)
			}
			b.WriteString(s)
		}
		params[name] = toUTF8(charset, b.String())
	}
	for name, v := range ext {
		charset, s, okc := splitExtValue(v)
		if !okc {
			ok = false
		}
		params[name] = toUTF8(charset, pctDecode(s))
	}
	for k, v := range params {
		if strings.Contains(v, "=?") {
			params[k] = DecodeWords(v)
		}
	}
	return typ, params, ok
}

func isSpaceOrSemi(r rune) bool { return r == ';' || unicode.IsSpace(r) }

// splitExtValue splits RFC 2231 §4 "charset'language'value".
func splitExtValue(s string) (charset, value string, ok bool) {
	parts := strings.SplitN(s, "'", 3)
	if len(parts) != 3 {
		return "", s, false
	}
	return strings.ToLower(parts[0]), parts[2], true
}

func pctDecode(s string) string {
	if !strings.Contains(s, "%") {
		return s
	}
	if u, err := url.PathUnescape(s); err == nil {
		return u
	}
	// Decode the escapes that are valid and keep the rest.
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) {
			h, ok1 := unhex(s[i+1])
			l, ok2 := unhex(s[i+2])
			if ok1 && ok2 {
				b.WriteByte(h<<4 | l)
				i += 2
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// wordDecoder decodes encoded words in any charset x/text knows; a word in
// a charset it does not know keeps its bytes, so that one bogus word
// ("=?x-unknown?Q?a?=") cannot keep the others encoded and hide a
// filename's extension or a subject's words from the checks.
var wordDecoder = mime.WordDecoder{CharsetReader: func(charset string, r io.Reader) (io.Reader, error) {
	if d, err := charsetReader(charset, r); err == nil {
		return d, nil
	}
	return r, nil
}}

// DecodeWords decodes the RFC 2047 encoded words of a header value (or a
// parameter); text that is not an encoded word stays as it is.
func DecodeWords(s string) string {
	if !strings.Contains(s, "=?") {
		return s
	}
	d, err := wordDecoder.DecodeHeader(s)
	if err != nil {
		return s
	}
	return d
}

// charsetReader converts from any charset x/text knows (ISO-2022-JP,
// Shift_JIS, EUC-JP, GB18030, the ISO-8859 and Windows code pages...).
func charsetReader(charset string, r io.Reader) (io.Reader, error) {
	enc, err := htmlindex.Get(charset)
	if err != nil {
		return nil, err
	}
	return transform.NewReader(r, enc.NewDecoder()), nil
}

// toUTF8 converts s from charset; unknown charsets leave it unchanged.
func toUTF8(charset, s string) string {
	switch charset {
	case "", "utf-8", "us-ascii", "utf8":
		return s
	}
	enc, err := htmlindex.Get(charset)
	if err != nil {
		return s
	}
	out, _, err := transform.String(enc.NewDecoder(), s)
	if err != nil {
		return s
	}
	return out
}
