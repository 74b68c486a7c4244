package uribl

import (
	"net/netip"
	"strings"
	"unicode"
	"unicode/utf8"
)

// scanWord finds the references in one cleaned word, left to right. Each
// branch returns where to go on, past what it looked at, so that a word is
// read a bounded number of times whatever it holds. After a URL's host, in
// its path and query (inPath), only explicit URLs count, until a character
// that ends a URL in text.
func (s *scanner) scanWord(w string, m mode, src string) {
	inPath := false
	for i := 0; i < len(w) && !s.full(); {
		c := w[i]
		if inPath && endsPath(w, i) {
			inPath = false
		}
		explicit := m == modeExplicit || inPath
		var found bool // a URL whose path follows
		switch {
		case c == ':' || c == '%':
			i, found = s.schemeAt(w, i, src)
		case explicit:
			i++
		case c == '@':
			i = s.email(w, i)
		case isAlnum(c) && (i == 0 || !isAlnum(w[i-1])):
			i, found = s.name(w, i, src)
		default:
			i++
		}
		inPath = inPath || found
	}
}

// endsPath reports whether w[i] ends a URL written in text. Only the first
// byte of a rune is looked at.
func endsPath(w string, i int) bool {
	switch c := w[i]; {
	case c == '<' || c == '>' || c == '"' || c == '`' || c <= ' ':
		return true
	case c >= 0xc0:
		return runeEnd(w[i:], true) == 0
	}
	return false
}

// webSchemes are the schemes whose URLs name a host to look up, with their
// defanged spellings. Longer names come first where one ends another.
var webSchemes = []string{"https", "hxxps", "h**ps", "http", "hxxp", "h**p", "ftp"}

// schemes are webSchemes and mailto, the schemes looked for in text.
var schemes = append(webSchemes[:len(webSchemes):len(webSchemes)], "mailto")

// schemeBefore returns the web scheme, or "mailto", that ends at w[i].
// Looking back from the colon finds "http" in "Visit:http://" and in
// "foohttp://" alike.
func schemeBefore(w string, i int) string {
	for _, name := range schemes {
		if i >= len(name) && strings.EqualFold(w[i-len(name):i], name) {
			return name
		}
	}
	return ""
}

// isWebScheme reports whether name, in any case, is one of webSchemes.
func isWebScheme(name string) bool {
	for _, n := range webSchemes {
		if strings.EqualFold(name, n) {
			return true
		}
	}
	return false
}

// schemeAt handles a ":" (or a "%", for "http%3A%2F%2F") that may end a
// scheme. It returns where scanning goes on, and whether that is inside
// the path of a URL.
func (s *scanner) schemeAt(w string, i int, src string) (next int, url bool) {
	name := schemeBefore(w, i)
	switch {
	case name == "":
		return i + 1, false
	case w[i] == '%':
		return s.encodedURL(w, i, src), false
	case name == "mailto":
		end := textURLEnd(w, i+1)
		s.mailto(w[i+1 : end])
		return end, false
	}
	j := skipSlashes(w, i+1)
	if j == i+1 {
		return i + 1, false // "note:" or "http:" without slashes is prose
	}
	return s.url(w, j, true, src, false)
}

// encodedURL handles "http%3A%2F%2Fevil.example" in a query string: the
// parameter is decoded once and its host taken. It returns where the
// parameter ends.
func (s *scanner) encodedURL(w string, i int, src string) int {
	if !hasPrefixFold(w[i:], "%3a%2f") && !hasPrefixFold(w[i:], "%3a%5c") {
		return i + 1
	}
	end := i
	for end < len(w) && !strings.ContainsRune("&#;<>\"' ", rune(w[end])) {
		end++
	}
	dec := percentDecode(w[i:end])
	if j := skipSlashes(dec, 1); j > 1 {
		s.url(dec, j, true, src, false)
	}
	return end
}

func skipSlashes(w string, i int) int {
	for i < len(w) && (w[i] == '/' || w[i] == '\\') {
		i++
	}
	return i
}

// url reads the authority that starts at w[i] (after the scheme and its
// slashes) and records its host. In text, the authority also ends at
// characters that end a URL in prose, and a non-ASCII host gets textHost's
// second try, and a name needs a dot: "http://exa mple.com" is no link to
// "exa". www says that the URL has no scheme and starts with "www.": a
// guess, which needs a real top-level domain to count. It returns where
// scanning goes on: after the authority, in the URL's path (url true), or
// at i when there is no authority to read.
func (s *scanner) url(w string, i int, text bool, src string, www bool) (next int, url bool) {
	authEnd := authorityEnd(w, i, text)
	raw := hostOf(w[i:authEnd])
	if raw == "" || isWebScheme(raw) && strings.HasSuffix(w[i:authEnd], ":") {
		// "http://http://evil.example": the inner URL is the real one.
		return i, false
	}
	host, ip, ok := canonHost(raw)
	if text {
		host, ip, ok = textHost(raw)
		ok = ok && (ip.IsValid() || strings.IndexByte(host, '.') > 0)
	}
	if ok && (!www || !ip.IsValid() && isTLD(lastLabel(host))) {
		s.add(host, ip, src)
	}
	return authEnd, true
}

// proseEnd are the characters that end a URL's authority in text: quotes,
// brackets and punctuation that enclose or follow a URL in a sentence.
const proseEnd = "<>\"'`(){}|^,;"

// authorityEnd finds the end of the authority starting at w[i]: the first
// "/", "\", "?" or "#" (WHATWG URL Standard, special schemes), white space,
// and in text also characters that end a URL written in prose.
func authorityEnd(w string, i int, text bool) int {
	for ; i < len(w); i++ {
		switch c := w[i]; {
		case c == '/' || c == '\\' || c == '?' || c == '#':
			return i
		case c <= ' ' || c == 0x7f:
			return i // controls and spaces are forbidden in a host
		case text && strings.IndexByte(proseEnd, c) >= 0:
			return i
		case c >= utf8.RuneSelf:
			size := runeEnd(w[i:], text)
			if size == 0 {
				return i
			}
			i += size - 1
		}
	}
	return i
}

// textURLEnd finds where a URL in text ends, from w[i] on.
func textURLEnd(w string, i int) int {
	for i < len(w) {
		c := w[i]
		if c == '<' || c == '>' || c == '"' || c == '`' || c <= ' ' {
			return i
		}
		if c < utf8.RuneSelf {
			i++
			continue
		}
		size := runeEnd(w[i:], true)
		if size == 0 {
			return i
		}
		i += size
	}
	return i
}

// runeEnd returns the size of the non-ASCII rune at the start of w, or 0
// when, in text, it ends a URL: white space, CJK punctuation (、。「」【】
// and the like) and invalid UTF-8.
func runeEnd(w string, text bool) int {
	r, size := utf8.DecodeRuneInString(w)
	if text && (unicode.IsSpace(r) || '\u3000' <= r && r <= '\u303f' || r == utf8.RuneError) {
		return 0
	}
	return size
}

// hostOf returns the host of an authority: after the userinfo (up to the
// last "@", as a browser reads it), before the port, without the
// punctuation that ends a sentence.
func hostOf(auth string) string {
	trailing := `.,;:!?'")]}>*`
	if strings.IndexByte(auth, '[') >= 0 {
		trailing = `.,;:!?'")}>*` // keep the "]" of an IPv6 literal
	}
	auth = strings.TrimRight(auth, trailing)
	auth = auth[strings.LastIndexByte(auth, '@')+1:]
	if strings.HasPrefix(auth, "[") {
		if j := strings.IndexByte(auth, ']'); j >= 0 {
			return auth[:j+1]
		}
		return auth
	}
	if j := strings.IndexByte(auth, ':'); j >= 0 {
		return auth[:j]
	}
	return auth
}

// name handles an alphanumeric run in prose: a www. URL or a bare domain.
func (s *scanner) name(w string, i int, src string) (next int, url bool) {
	if (w[i] == 'w' || w[i] == 'W') && hasPrefixFold(w[i:], "www.") && leftOK(w, i) {
		// url stays at i when there is no host ("www.@"); bare moves on.
		if next, found := s.url(w, i, true, src, true); next > i {
			return next, found
		}
	}
	return s.bare(w, i), false
}

// bare handles a bare domain such as example.com in prose. It returns the
// end of the run of name characters it looked at.
func (s *scanner) bare(w string, i int) int {
	end := i
	for end < len(w) && (isAlnum(w[end]) || w[end] == '.' || w[end] == '-') {
		end++
	}
	raw := trimRight(w[i:end])
	if len(raw) > maxName || strings.IndexByte(raw, '.') < 0 || !leftOK(w, i) {
		return end
	}
	if right := i + len(raw); right < len(w) && strings.IndexByte("@_+%$~^", w[right]) >= 0 {
		return end // the local part of an address, or part of an identifier
	}
	if allBytes(raw, func(c byte) bool { return isDigit(c) || c == '.' }) {
		s.bareIP(raw, w[i+len(raw):])
		return end
	}
	if tld := lastLabel(raw); len(tld) > 1 && isUpper(tld[0]) && !allBytes(tld, isUpper) {
		return end // "end.The": a missing space after a full stop
	}
	if host, ip, ok := canonHost(raw); ok && !ip.IsValid() && !s.seen[host] && registrable(host) {
		s.addHost(host, SourceBare)
	}
	return end
}

// bareIP takes a dotted-quad address in prose only when a path follows:
// "192.0.2.1/login" is a link, "version 1.2.3.4" is not.
func (s *scanner) bareIP(raw, after string) {
	if !strings.HasPrefix(after, "/") {
		return
	}
	if ip, err := netip.ParseAddr(raw); err == nil && ip.Is4() {
		s.addIP(ip, SourceBare)
	}
}

// leftOK reports whether a name may start at w[i] in prose: not in the
// middle of a path, an identifier, an address or a query.
func leftOK(w string, i int) bool {
	if i == 0 {
		return true
	}
	return !strings.ContainsRune(`_/\@%&#$~+^`, rune(w[i-1]))
}

// email takes the domain of an address such as someone@example.com in
// prose, when something that can end a local part comes before the "@".
func (s *scanner) email(w string, i int) int {
	end := hostRunEnd(w, i+1)
	if i == 0 || !isAtext(w[i-1]) {
		return max(end, i+1)
	}
	raw := trimRight(w[i+1 : end])
	if host, ip, ok := textHost(raw); ok && !ip.IsValid() && !s.seen[host] && registrable(host) {
		s.addHost(host, SourceEmail)
	}
	return max(end, i+1)
}

// mailto takes the domains of the addresses of a mailto: URL (after the
// colon), including those in its to, cc and bcc fields.
func (s *scanner) mailto(body string) {
	if strings.IndexByte(body, '%') >= 0 {
		body = percentDecode(body)
	}
	for i := strings.IndexByte(body, '@'); i >= 0 && !s.full(); {
		end := hostRunEnd(body, i+1)
		raw := trimRight(body[i+1 : end])
		if host, ip, ok := textHost(raw); ok && !ip.IsValid() && strings.IndexByte(host, '.') > 0 {
			s.addHost(host, SourceMailto)
		}
		j := strings.IndexByte(body[end:], '@')
		if j < 0 {
			return
		}
		i = end + j
	}
}

// hostRunEnd returns the end of the run of name characters from w[i]:
// ASCII letters, digits, ".", "-", "_", and letters and digits of other
// scripts (IDN).
func hostRunEnd(w string, i int) int {
	for i < len(w) {
		c := w[i]
		if isAlnum(c) || c == '.' || c == '-' || c == '_' {
			i++
			continue
		}
		if c < utf8.RuneSelf {
			return i
		}
		r, size := utf8.DecodeRuneInString(w[i:])
		if !unicode.IsLetter(r) && !unicode.IsDigit(r) && !unicode.IsMark(r) {
			return i
		}
		i += size
	}
	return i
}

// isAtext reports whether c may end the local part of an address
// (RFC 5322 section 3.2.3 atext), or is a non-ASCII byte (RFC 6532).
func isAtext(c byte) bool {
	return isAlnum(c) || c >= utf8.RuneSelf || strings.IndexByte("!#$%&'*+-/=?^_`{|}~", c) >= 0
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}
