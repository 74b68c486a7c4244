package mimepart

import (
	"bytes"
	"io"
	"strings"
	"unicode/utf8"

	"golang.org/x/net/html"
	"golang.org/x/text/encoding/htmlindex"
)

// Text returns what a reader sees of a text part, as UTF-8: the decoded
// content converted from the part's charset (DecodeText), and for
// text/html the visible text (VisibleText). At most limit bytes of the
// part are read (limit <= 0: all). Rules and the classifier read this;
// URIs come from the markup itself (package uribl).
func (p *Part) Text(limit int64) (string, error) {
	r := io.Reader(p.Open())
	if limit > 0 {
		r = io.LimitReader(r, limit)
	}
	data, err := io.ReadAll(r)
	if err != nil {
		return "", err
	}
	return p.TextOf(data), nil
}

// TextOf is Text for content already read: raw is the start of the
// part's decoded content (what Open reads), for callers that look at the
// bytes too. raw is not kept.
func (p *Part) TextOf(raw []byte) string {
	data := p.Decode(raw)
	if !utf8.Valid(data) {
		data = bytes.ToValidUTF8(data, []byte("\uFFFD"))
	}
	if p.ContentType != "text/html" {
		return string(data)
	}
	text, _ := VisibleText(data)
	return string(text)
}

// DecodeText decodes text in charset to UTF-8. A missing, ASCII or unknown charset
// keeps valid UTF-8 as it is, takes ISO-2022-JP escapes as that charset
// (Japanese mail often omits the label), and reads anything else in the
// charset its bytes are plainly written in (Shift_JIS, EUC-JP, EUC-KR,
// Big5, GBK, Thai), or failing that as Windows-1252 (see guessCharset).
// Part.Decode also reads an HTML part's <meta> charset.
func DecodeText(charset string, raw []byte) []byte {
	cs := strings.ToLower(strings.TrimSpace(charset))
	switch {
	case cs == "utf-8" || cs == "utf8":
		return raw
	case UndeclaredLabel(cs):
		cs = ""
	}
	if cs == "" {
		switch {
		case HasISO2022Escape(raw):
			cs = "iso-2022-jp"
		case utf8.Valid(raw):
			return raw
		default:
			cs = guessCharset(raw)
		}
	}
	enc, err := htmlindex.Get(cs)
	if err != nil {
		if utf8.Valid(raw) {
			return raw
		}
		if enc, err = htmlindex.Get(guessCharset(raw)); err != nil {
			return raw
		}
	}
	out, err := enc.NewDecoder().Bytes(raw)
	if err != nil {
		return raw
	}
	return out
}

// HasISO2022Escape reports the ESC sequences that switch ISO-2022-JP to
// JIS X 0208 or JIS X 0201.
func HasISO2022Escape(b []byte) bool {
	return bytes.Contains(b, []byte("\x1b$B")) || bytes.Contains(b, []byte("\x1b$@")) || bytes.Contains(b, []byte("\x1b(J"))
}

// VisibleText returns the text of an HTML document as a browser shows it,
// without scripts, styles and comments, with a space at block boundaries
// only (so that "fr<b></b>ee" stays one word), and the number of img tags.
func VisibleText(doc []byte) ([]byte, int) {
	z := html.NewTokenizer(bytes.NewReader(doc))
	out := make([]byte, 0, len(doc)/2)
	imgs := 0
	skip := false // the next text token is the content of script or style
	for {
		tt := z.Next()
		switch tt {
		case html.ErrorToken:
			return out, imgs
		case html.TextToken:
			if !skip {
				out = append(out, z.Text()...)
			}
		case html.StartTagToken, html.SelfClosingTagToken:
			name, _ := z.TagName()
			switch string(name) {
			case "img":
				imgs++
			case "script", "style":
				skip = tt == html.StartTagToken
				continue
			}
			if !inlineTags[string(name)] {
				out = append(out, ' ')
			}
		case html.EndTagToken:
			if name, _ := z.TagName(); !inlineTags[string(name)] {
				out = append(out, ' ')
			}
		}
		skip = false
	}
}

// inlineTags are the elements that do not break a word.
var inlineTags = map[string]bool{
	"a": true, "abbr": true, "b": true, "bdi": true, "bdo": true, "big": true, "cite": true,
	"code": true, "data": true, "dfn": true, "em": true, "font": true, "i": true, "kbd": true,
	"mark": true, "q": true, "s": true, "samp": true, "small": true, "span": true, "strike": true,
	"strong": true, "sub": true, "sup": true, "time": true, "tt": true, "u": true, "var": true, "wbr": true,
}
