package uribl

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// mode says what counts as a reference in a piece of text.
type mode uint8

const (
	// modeFull takes URLs, www. names, bare domains and addresses: prose.
	modeFull mode = iota
	// modeExplicit takes only URLs with a scheme and mailto: links: code,
	// CSS, comments and the path of another URL, where a.b is seldom a host.
	modeExplicit
)

// maxJoin bounds a name glued together from "example dot com": past it,
// the result could not be a host anyway.
const maxJoin = 2 * maxName

// scanText finds references in t, word by word. URLs and names never
// contain white space, except where a spammer split one with " dot ".
func (s *scanner) scanText(t string, m mode, src string) {
	for !s.full() {
		var w string
		w, t = nextWord(t)
		if w == "" {
			return
		}
		w, t = s.joinDots(w, t)
		s.scanWord(s.clean(w), m, src)
	}
}

// nextWord returns the first word of t and the text after it.
func nextWord(t string) (word, rest string) {
	i := 0
	for i < len(t) {
		if c := t[i]; c < utf8.RuneSelf {
			if !asciiSpace[c] {
				break
			}
			i++
		} else if n := spaceAt(t[i:]); n > 0 {
			i += n
		} else {
			break
		}
	}
	j := i
	for j < len(t) {
		if c := t[j]; c < utf8.RuneSelf {
			if asciiSpace[c] {
				break
			}
			j++
		} else if spaceAt(t[j:]) > 0 {
			break
		} else {
			_, n := utf8.DecodeRuneInString(t[j:])
			j += n
		}
	}
	return t[i:j], t[j:]
}

var asciiSpace = [utf8.RuneSelf]bool{' ': true, '\t': true, '\n': true, '\v': true, '\f': true, '\r': true}

// spaceAt returns the length of the non-ASCII white space rune that t
// starts with, or 0.
func spaceAt(t string) int {
	r, n := utf8.DecodeRuneInString(t)
	if unicode.IsSpace(r) {
		return n
	}
	return 0
}

// joinDots glues "hxxp://example dot com" and "example [.] com" back into one
// word. A bracketed dot is always a defanged dot; a plain "dot" only inside
// something that is already a URL, so that prose ("connect the dot to") is
// left alone.
func (s *scanner) joinDots(w, rest string) (string, string) {
	if !dotAhead(rest) {
		return w, rest // the common case, decided by one byte
	}
	plainOK := hasScheme(w) || hasPrefixFold(w, "www")
	tail, joined, n := w, false, len(w)
	for n < maxJoin && dotAhead(rest) && hostTail(tail) {
		sep, rest2 := nextWord(rest)
		if !isDotWord(sep, plainOK) {
			break
		}
		next, rest3 := nextWord(rest2)
		if next == "" || !startsHost(next) || hasScheme(next) {
			break
		}
		if !joined {
			s.joined = append(s.joined[:0], w...)
			joined = true
		}
		s.joined = append(append(s.joined, '.'), next...)
		tail, rest, n = next, rest3, n+1+len(next)
	}
	if !joined {
		return w, rest
	}
	return string(s.joined), rest
}

// hasScheme reports whether w contains a scheme and its slashes.
func hasScheme(w string) bool {
	k := strings.IndexByte(w, ':')
	return k >= 0 && skipSlashes(w, k+1) > k+1
}

// hostTail reports whether part (a word, or the piece last glued to it)
// still ends inside a host: no path has started and the last character can
// end a label.
func hostTail(part string) bool {
	if k := strings.IndexByte(part, ':'); k >= 0 && skipSlashes(part, k+1) > k+1 {
		part = part[skipSlashes(part, k+1):]
	}
	if part == "" || strings.ContainsAny(part, `/\?#@`) {
		return false
	}
	c := part[len(part)-1]
	return isAlnum(c) || c >= utf8.RuneSelf
}

func startsHost(w string) bool { return isAlnum(w[0]) || w[0] >= utf8.RuneSelf }

// dotAhead is a cheap test that the next word may be a spelled-out dot, so
// that ordinary prose is not split twice.
func dotAhead(rest string) bool {
	for i := 0; i < len(rest); i++ {
		switch rest[i] {
		case ' ', '\t', '\r', '\n':
		case 'd', 'D', '[', '(', '{':
			return true
		default:
			return false
		}
	}
	return false
}

func isDotWord(w string, plainOK bool) bool {
	if strings.EqualFold(w, "dot") {
		return plainOK
	}
	for _, d := range defangs {
		if d.to == "." && strings.EqualFold(w, d.from) {
			return true
		}
	}
	return false
}

// clean undoes what makes a word look unlike the URL it is: zero-width
// characters are dropped, the word is normalised to NFKC (full-width
// letters and dots), and defanged dots and colons are restored. Most words
// need none of it and are returned as they are.
func (s *scanner) clean(w string) string {
	ascii, brackets := true, false
	for i := 0; i < len(w); i++ {
		switch c := w[i]; {
		case c >= utf8.RuneSelf:
			ascii = false
		case c == '[' || c == '(' || c == '{':
			brackets = true
		}
	}
	if ascii && !brackets {
		return w
	}
	var b []byte
	if ascii {
		s.visible = append(s.visible[:0], w...)
		b = s.visible
	} else {
		s.visible = appendVisible(s.visible[:0], w)
		s.nfkc = norm.NFKC.Append(s.nfkc[:0], s.visible...)
		b = s.nfkc
	}
	s.defanged = appendDefanged(s.defanged[:0], b)
	return string(s.defanged)
}

// appendVisible appends w without the characters that render as nothing
// and that spammers put inside names: zero-width space, non-joiner, joiner,
// word joiner, byte order mark, soft hyphen.
func appendVisible(b []byte, w string) []byte {
	for i := 0; i < len(w); {
		r, size := utf8.DecodeRuneInString(w[i:])
		switch r {
		case '\u200b', '\u200c', '\u200d', '\u2060', '\ufeff', '\u00ad':
		default:
			b = append(b, w[i:i+size]...)
		}
		i += size
	}
	return b
}

// defangs maps the spellings threat reports and spammers use to the
// character they stand for.
var defangs = []struct{ from, to string }{
	{"[.]", "."}, {"(.)", "."}, {"{.}", "."},
	{"[dot]", "."}, {"(dot)", "."}, {"{dot}", "."},
	{"[:]", ":"},
}

func appendDefanged(b, w []byte) []byte {
	for i := 0; i < len(w); {
		if c := w[i]; c == '[' || c == '(' || c == '{' {
			if to, n := defangAt(w[i:]); n > 0 {
				b = append(b, to...)
				i += n
				continue
			}
		}
		b = append(b, w[i])
		i++
	}
	return b
}

func defangAt(w []byte) (string, int) {
	for _, d := range defangs {
		if len(w) >= len(d.from) && strings.EqualFold(string(w[:len(d.from)]), d.from) {
			return d.to, len(d.from)
		}
	}
	return "", 0
}
