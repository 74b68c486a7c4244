package uribl

import (
	"bytes"
	"strings"

	"golang.org/x/net/html"
)

// scanHTML finds references in an HTML document: in the attributes that
// hold URLs, and in the text a reader sees. Comments are tokenized once
// more (inComment), for Outlook's conditional comments; their text counts
// only for explicit URLs.
func (s *scanner) scanHTML(doc []byte, inComment bool) {
	z := html.NewTokenizer(bytes.NewReader(doc))
	raw := "" // "script" or "style" while the next token may be its content
	for !s.full() {
		switch z.Next() {
		case html.ErrorToken:
			return
		case html.TextToken:
			s.htmlText(z.Text(), raw, inComment)
		case html.StartTagToken, html.SelfClosingTagToken:
			raw = s.startTag(z)
			continue
		case html.EndTagToken:
			if name, _ := z.TagName(); !isInline(name) {
				s.flushText()
			}
		case html.CommentToken:
			if !inComment {
				s.flushText()
				s.scanHTML(z.Text(), true)
			}
		}
		raw = ""
	}
}

// htmlText handles a text token. Visible text is kept until a block
// boundary, so that "exa<span></span>mple.com" is read as it renders.
func (s *scanner) htmlText(t []byte, raw string, inComment bool) {
	switch {
	case raw == "script":
		s.scanText(string(t), modeExplicit, SourceText)
	case raw == "style":
		s.scanText(string(t), modeExplicit, SourceSrc) // CSS url(...)
	case inComment:
		s.scanText(string(t), modeExplicit, SourceText)
	default:
		s.text = append(s.text, t...)
	}
}

// flushText scans the visible text kept so far. It runs at block
// boundaries, and before a URL from an attribute is recorded, so that
// results stay in document order.
func (s *scanner) flushText() {
	if len(s.text) == 0 {
		return
	}
	t := string(s.text)
	s.text = s.text[:0]
	s.scanText(t, modeFull, SourceText)
}

// startTag handles a start tag and its attributes. It returns the name of
// the element whose raw content comes next, if that content is code.
func (s *scanner) startTag(z *html.Tokenizer) string {
	name, hasAttr := z.TagName()
	if !isInline(name) {
		s.flushText()
	}
	if hasAttr {
		s.attrs(z, name)
	}
	switch string(name) {
	case "script", "style":
		return string(name)
	case "noscript", "noembed", "noframes":
		// A mail client runs no scripts, plugins or frames, so it renders
		// this content as HTML; the tokenizer would return it as raw text.
		z.NextIsNotRawText()
	}
	return ""
}

// attrs handles the attributes of a tag that hold URLs.
func (s *scanner) attrs(z *html.Tokenizer, tag []byte) {
	refresh, content := false, ""
	for more := true; more && !s.full(); {
		var k, v []byte
		k, v, more = z.TagAttr()
		switch string(k) {
		case "href", "xlink:href":
			s.attrURL(string(v), SourceHref)
		case "src", "background", "poster", "lowsrc", "dynsrc":
			s.attrURL(string(v), SourceSrc)
		case "data":
			if string(tag) == "object" {
				s.attrURL(string(v), SourceSrc)
			}
		case "srcset":
			for _, f := range strings.Fields(string(v)) {
				s.attrURL(strings.Trim(f, ","), SourceSrc)
			}
		case "action", "formaction":
			s.attrURL(string(v), SourceForm)
		case "style":
			s.flushText()
			s.scanText(string(v), modeExplicit, SourceSrc)
		case "http-equiv":
			refresh = strings.EqualFold(strings.TrimSpace(string(v)), "refresh")
		case "content":
			content = string(v)
		}
	}
	if refresh && string(tag) == "meta" {
		s.attrURL(refreshURL(content), SourceHref)
	}
}

// attrURL handles the URL in an attribute value. Absolute http, https and
// ftp URLs, scheme-relative ones (//host/) and www. names give their host;
// mailto: its domains; javascript: is scanned as code; other schemes (data:,
// cid:, tel:) and relative URLs have no host. URLs inside the path or query
// count too.
func (s *scanner) attrURL(v, src string) {
	s.flushText()
	v = s.clean(urlTrim(v))
	scheme, rest, ok := splitScheme(v)
	switch {
	case !ok:
		next := 0
		if j := skipSlashes(v, 0); j >= 2 {
			next, _ = s.url(v, j, false, src, false)
		} else if hasPrefixFold(v, "www.") {
			next, _ = s.url(v, 0, false, src, true)
		}
		s.scanWord(v[next:], modeExplicit, src)
	case isWebScheme(scheme):
		next, _ := s.url(v, skipSlashes(v, len(scheme)+1), false, src, false)
		s.scanWord(v[next:], modeExplicit, src)
	case strings.EqualFold(scheme, "mailto"):
		s.mailto(rest)
	case strings.EqualFold(scheme, "javascript"):
		if strings.IndexByte(rest, '%') >= 0 {
			rest = percentDecode(rest) // as a browser does before running it
		}
		s.scanText(rest, modeExplicit, SourceText)
	}
}

// urlTrim does what the WHATWG URL parser does first: strip leading and
// trailing C0 controls and spaces, and remove tabs and newlines anywhere.
func urlTrim(v string) string {
	v = strings.TrimFunc(v, func(r rune) bool { return r <= ' ' })
	if strings.ContainsAny(v, "\t\n\r") {
		v = strings.NewReplacer("\t", "", "\n", "", "\r", "").Replace(v)
	}
	return v
}

// splitScheme splits "scheme:rest" (RFC 3986 section 3.1, plus "*" for
// h**p). ok is false for a relative URL.
func splitScheme(v string) (scheme, rest string, ok bool) {
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case isUpper(c) || isLower(c):
		case i > 0 && (isDigit(c) || c == '+' || c == '-' || c == '.' || c == '*'):
		case i > 0 && c == ':':
			return v[:i], v[i+1:], true
		default:
			return "", "", false
		}
	}
	return "", "", false
}

// refreshURL returns the URL of a meta refresh content value such as
// "0; url='http://example.com/'" (HTML Living Standard, "shared declarative
// refresh steps").
func refreshURL(c string) string {
	const ws = " \t\n\f\r"
	c = strings.TrimLeft(c, ws+"0123456789.")
	c = strings.TrimLeft(c, ws+";,")
	if hasPrefixFold(c, "url") {
		if r := strings.TrimLeft(c[3:], ws); strings.HasPrefix(r, "=") {
			c = strings.TrimLeft(r[1:], ws)
		}
	}
	if c != "" && (c[0] == '\'' || c[0] == '"') {
		q := c[0]
		c = c[1:]
		if j := strings.IndexByte(c, q); j >= 0 {
			c = c[:j]
		}
	}
	return c
}

// isInline reports whether an element sits inside a line of text, so that
// text on both sides of it renders as one word when not spaced.
func isInline(name []byte) bool {
	switch string(name) {
	case "a", "abbr", "b", "bdi", "bdo", "big", "cite", "code", "data", "del",
		"dfn", "em", "font", "i", "ins", "kbd", "mark", "nobr", "q", "s", "samp",
		"small", "span", "strike", "strong", "sub", "sup", "time", "tt", "u",
		"var", "wbr":
		return true
	}
	return false
}
