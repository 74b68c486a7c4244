package mimepart

import (
	"bytes"
	"strings"

	"golang.org/x/net/html"
	"golang.org/x/text/encoding/htmlindex"
)

// Guessing the charset of text that declares none.
//
// Mail clients do not read undeclared 8-bit text as Windows-1252 alone:
// Thunderbird runs a detector, Outlook and Japanese clients take the
// reader's locale. Bulk tools that send Shift_JIS, EUC-JP, GB2312, Big5 or
// EUC-KR text without a charset rely on that, and a filter that reads the
// bytes as Windows-1252 sees mojibake where the recipient sees the text:
// no body rule written in Japanese can match it. guessCharset reads the
// bytes as each East Asian multibyte encoding in turn and takes one only
// when the bytes are that encoding's, with the mark of its language: kana
// for Japanese, Hangul for Korean, the frequent-character rows for Big5
// and for GB2312; Thai is told by its vowel and tone marks and read as
// Windows-874. Anything else stays Windows-1252: Latin text with accents,
// and Cyrillic, Greek, Hebrew or Arabic text, whose letters can pair up
// like a multibyte encoding's but without its spread of bytes.

// Bounds of the guess.
const (
	// guessMinChars is how many double-byte characters it takes: a stray
	// pair of accented letters is not a language.
	guessMinChars = 8
	// guessScan bounds the bytes looked at.
	guessScan = 16 << 10
)

// guessCharset names the charset to read b in: "shift_jis", "euc-jp",
// "euc-kr", "windows-874" (Thai), "big5" or "gbk" when b reads as one,
// else "windows-1252".
// b is neither UTF-8 nor ISO-2022-JP (DecodeText tests those first).
func guessCharset(b []byte) string {
	b = b[:min(len(b), guessScan)]
	if cs, chars := guessByBytes(b); cs != "" && decodesCleanly(cs, b, chars) {
		return cs
	}
	return "windows-1252"
}

// decodesCleanly reports whether b decodes in cs with at most one
// character in 50 unreadable: the byte tests accept any pair in an
// encoding's ranges, the decoder knows which are assigned.
func decodesCleanly(cs string, b []byte, chars int) bool {
	enc, err := htmlindex.Get(cs)
	if err != nil {
		return false
	}
	out, err := enc.NewDecoder().Bytes(b)
	if err != nil {
		return false
	}
	return bytes.Count(out, []byte("\uFFFD"))*50 <= chars
}

// guessByBytes is guessCharset's test of the bytes: the charset they
// read as and how many characters they make, or "".
func guessByBytes(b []byte) (string, int) {
	if s := scanSJIS(b); s.fits(5) {
		return "shift_jis", s.chars
	}
	e := scanEUC(b)
	switch {
	case e.fits(5):
		return "euc-jp", e.chars
	case e.valid() && e.hangul*10 >= e.chars*7:
		return "euc-kr", e.chars
	}
	if s := scanBig5(b); s.valid() && s.common*10 >= s.chars*8 && s.lowTrail*10 >= s.chars && s.run*2 >= s.chars {
		return "big5", s.chars
	}
	// Big5 is tested first: its lead bytes fall among the Thai consonants
	// and would make any mark after them look placed, but Thai has none
	// of its ASCII-range trail bytes.
	marks, placed, latin := scanThai(b)
	thai := marks >= 3 && placed*20 >= marks*19 && latin*5 <= marks
	switch {
	case thai && marks >= guessMinChars:
		return "windows-874", marks
	case thai:
		// Too short to be sure it is Thai, too Thai to be Chinese.
		return "", 0
	}
	if e.valid() && e.gb*10 >= e.chars*8 && e.lowTrail*100 >= e.chars*15 {
		return "gbk", e.chars
	}
	return "", 0
}

// scanThai reads b as TIS-620 (Windows-874): it counts the vowel signs
// and tone marks that are written above or below a consonant (D1, D4–DA,
// E7–EE) and how many of them follow a consonant (A1–CE) or another such
// mark, as in every Thai word. In Chinese bytes read this way the same
// bytes follow anything. latin counts the marks with an ASCII letter
// right after them: Latin-1 capitals are these bytes too ("AÇÕES"), but
// inside Latin words.
func scanThai(b []byte) (marks, placed, latin int) {
	for i, c := range b {
		if c == 0xd1 || 0xd4 <= c && c <= 0xda || 0xe7 <= c && c <= 0xee {
			marks++
			if i > 0 {
				if p := b[i-1]; 0xa1 <= p && p <= 0xce || p == 0xd1 || 0xd4 <= p && p <= 0xda || 0xe7 <= p && p <= 0xee {
					placed++
				}
			}
			if i+1 < len(b) && asciiLetter(b[i+1]) {
				latin++
			}
		}
	}
	return marks, placed, latin
}

// mbStats counts what one reading of the bytes found.
type mbStats struct {
	chars   int // well-formed multibyte characters (and half-width kana)
	invalid int // high bytes that do not start or finish one
	kana    int // Japanese kana among chars
	hangul  int // Hangul syllables (EUC rows B0–C8)
	// EUC: GB2312's punctuation and hanzi rows (A1–A3, B0–F7).
	gb int
	// Trail bytes below the script's letters. EUC: below C0, since
	// Cyrillic, Greek, Hebrew and Arabic letters sit at C0–FF in their
	// 8-bit charsets, so paired up they make characters whose trail
	// bytes are all C0 or more, while a Chinese text's spread over A1–FE
	// (a third below C0). Big5: below 0x80, which GB2312 never has.
	lowTrail int
	// Big5 only: characters in the punctuation and frequent-hanzi rows
	// (A1–C6), and characters followed at once by another, as Chinese
	// runs on without spaces. Latin-1 text is well-formed Big5 (an
	// accented letter and the ASCII letter after it make a pair) but its
	// pairs stand alone.
	common, run int
	// Characters with an ASCII letter right before or after them. Accented
	// Latin capitals pair up as EUC characters ("AÇÕES": Ç and Õ read as
	// one Hangul syllable), but inside Latin words; East Asian text
	// meets Latin words across a space or a mark.
	latin int
}

// valid reports enough characters, at most one bad byte in 50, and at
// most one character in five touching a Latin letter.
func (s mbStats) valid() bool {
	return s.chars >= guessMinChars && s.invalid*50 <= s.chars && s.latin*5 <= s.chars
}

// touchesLatin reports an ASCII letter just before the character b[i:j]
// or just after it. last is where the character before ended: a trail
// byte in the ASCII range (Shift_JIS and Big5 have them) is not a letter.
func touchesLatin(b []byte, i, j, last int) bool {
	return i > 0 && i != last && asciiLetter(b[i-1]) || j < len(b) && asciiLetter(b[j])
}

// char counts the character b[i:i+n], notes where it ended in *last,
// and returns the index after it.
func (s *mbStats) char(b []byte, i, n int, last *int) int {
	s.chars++
	if touchesLatin(b, i, i+n, *last) {
		s.latin++
	}
	*last = i + n
	return i + n
}

func asciiLetter(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }

// fits reports a valid Japanese reading: at least one character in
// kanaDiv is full-width kana (Japanese prose is a third to a half kana).
func (s mbStats) fits(kanaDiv int) bool {
	return s.valid() && s.kana*kanaDiv >= s.chars
}

// scanSJIS reads b as Shift_JIS.
func scanSJIS(b []byte) (s mbStats) {
	last := -1 // where the last character ended
	for i := 0; i < len(b); {
		c := b[i]
		switch {
		case c < 0x80:
			i++
		case 0xa1 <= c && c <= 0xdf:
			// Half-width katakana, which Japanese mail avoids; not
			// counted as kana, since Latin-1 capitals and ß are these
			// bytes too.
			i = s.char(b, i, 1, &last)
		case (0x81 <= c && c <= 0x9f || 0xe0 <= c && c <= 0xfc) && i+1 < len(b) && sjisTrail(b[i+1]):
			t := b[i+1]
			if c == 0x82 && t >= 0x9f || c == 0x83 && t <= 0x96 {
				s.kana++
			}
			i = s.char(b, i, 2, &last)
		default:
			s.invalid++
			i++
		}
	}
	return s
}

func sjisTrail(t byte) bool { return 0x40 <= t && t <= 0x7e || 0x80 <= t && t <= 0xfc }

// scanEUC reads b as the EUC family (EUC-JP, EUC-KR and GB2312 share the
// two-byte form; EUC-JP adds 8E half-width kana and 8F three-byte
// characters).
func scanEUC(b []byte) (s mbStats) {
	last := -1 // where the last character ended
	for i := 0; i < len(b); {
		c := b[i]
		switch {
		case c < 0x80:
			i++
		case 0xa1 <= c && c <= 0xfe && i+1 < len(b) && 0xa1 <= b[i+1] && b[i+1] <= 0xfe:
			switch {
			case c == 0xa4 || c == 0xa5:
				s.kana++
			case 0xb0 <= c && c <= 0xc8:
				s.hangul++
			}
			if c <= 0xa3 || 0xb0 <= c && c <= 0xf7 {
				s.gb++
			}
			if b[i+1] < 0xc0 {
				s.lowTrail++
			}
			i = s.char(b, i, 2, &last)
		case c == 0x8e && i+1 < len(b) && 0xa1 <= b[i+1] && b[i+1] <= 0xdf:
			i = s.char(b, i, 2, &last) // half-width katakana
		case c == 0x8f && i+2 < len(b) && b[i+1] >= 0xa1 && b[i+2] >= 0xa1 && b[i+1] != 0xff && b[i+2] != 0xff:
			i = s.char(b, i, 3, &last)
		default:
			s.invalid++
			i++
		}
	}
	return s
}

// scanBig5 reads b as Big5.
func scanBig5(b []byte) (s mbStats) {
	last := -1 // where the last character ended
	for i := 0; i < len(b); {
		c := b[i]
		switch {
		case c < 0x80:
			i++
		case 0x81 <= c && c <= 0xfe && i+1 < len(b) && (0x40 <= b[i+1] && b[i+1] <= 0x7e || 0xa1 <= b[i+1] && b[i+1] <= 0xfe):
			if 0xa1 <= c && c <= 0xc6 {
				s.common++
			}
			if b[i+1] < 0x80 {
				s.lowTrail++
			}
			i = s.char(b, i, 2, &last)
			if i < len(b) && b[i] >= 0x81 {
				s.run++
			}
		default:
			s.invalid++
			i++
		}
	}
	return s
}

// maxMetaScan bounds the bytes of a document searched for its <meta>
// charset. Browsers look at the first 1,024 bytes and start again when
// one comes later; a mail's head can be long with styles, so more is read.
const maxMetaScan = 16 << 10

// MetaCharset returns the charset an HTML document names in a <meta>
// element within its first bytes (<meta charset=x>, or http-equiv
// Content-Type with a charset in content), as the name of a known
// encoding, or "" when it names none or none known. As in browsers
// (the WHATWG encoding rules), a <meta> naming UTF-16 means UTF-8, since
// a document that could read its own ASCII <meta> is not UTF-16, and
// x-user-defined means Windows-1252. A label that stands for no encoding
// at all (iso-2022-kr, hz-gb-2312: the "replacement" encoding) is passed
// over: a browser would show the page as one replacement character, and
// a filter that did the same would read nothing of it. Markup in
// comments and scripts does not count.
func MetaCharset(doc []byte) string {
	doc = doc[:min(len(doc), maxMetaScan)]
	if !hasMetaTag(doc) {
		return "" // most documents: no tokenizing
	}
	z := html.NewTokenizer(bytes.NewReader(doc))
	for {
		switch z.Next() {
		case html.ErrorToken:
			return ""
		case html.StartTagToken, html.SelfClosingTagToken:
			name, hasAttr := z.TagName()
			if string(name) != "meta" {
				continue
			}
			var charset, content string
			pragma := false
			for hasAttr {
				var k, v []byte
				k, v, hasAttr = z.TagAttr()
				switch string(k) {
				case "charset":
					charset = string(v)
				case "content":
					content = string(v)
				case "http-equiv":
					pragma = strings.EqualFold(strings.TrimSpace(string(v)), "content-type")
				}
			}
			if charset == "" && pragma {
				charset = contentCharset(content)
			}
			if cs := htmlCharset(charset); cs != "" {
				return cs
			}
		}
	}
}

// hasMetaTag reports "<meta", in any case, in doc.
func hasMetaTag(doc []byte) bool {
	for i := bytes.IndexByte(doc, '<'); i >= 0 && i+5 <= len(doc); {
		if strings.EqualFold(string(doc[i+1:i+5]), "meta") {
			return true
		}
		j := bytes.IndexByte(doc[i+1:], '<')
		if j < 0 {
			return false
		}
		i += 1 + j
	}
	return false
}

// contentCharset extracts the charset from a <meta> content value
// ("text/html; charset=gb2312", quotes allowed), or "".
func contentCharset(v string) string {
	i := 0
	for ; i+len("charset") <= len(v) && !strings.EqualFold(v[i:i+len("charset")], "charset"); i++ {
	}
	if i+len("charset") > len(v) {
		return ""
	}
	v = strings.TrimLeft(v[i+len("charset"):], " \t\r\n\f")
	if !strings.HasPrefix(v, "=") {
		return ""
	}
	v = strings.TrimLeft(v[1:], " \t\r\n\f")
	if v != "" && (v[0] == '"' || v[0] == '\'') {
		end := strings.IndexByte(v[1:], v[0])
		if end < 0 {
			return ""
		}
		return v[1 : 1+end]
	}
	if end := strings.IndexAny(v, " \t\r\n\f;"); end >= 0 {
		v = v[:end]
	}
	return v
}

// htmlCharset maps a <meta> label to the encoding a browser uses for it,
// or "" (see MetaCharset).
func htmlCharset(label string) string {
	label = strings.TrimSpace(label)
	if label == "" {
		return ""
	}
	enc, err := htmlindex.Get(label)
	if err != nil {
		return ""
	}
	name, err := htmlindex.Name(enc)
	if err != nil {
		return ""
	}
	switch name {
	case "utf-16le", "utf-16be":
		return "utf-8"
	case "x-user-defined":
		return "windows-1252"
	case "replacement":
		return ""
	}
	return name
}

// UndeclaredLabel reports a charset label that says nothing of 8-bit
// text: none, US-ASCII and its aliases (what no charset means, RFC 2046
// §4.1.2), or the "unknown" labels some gateways write. cs is lower case.
func UndeclaredLabel(cs string) bool {
	switch cs {
	case "", "us-ascii", "ascii", "ansi_x3.4-1968", "iso646-us", "unknown-8bit", "x-unknown":
		return true
	}
	return false
}

// Decode converts raw, the start of the part's decoded content, to UTF-8
// in the charset a mail client would read it in: the declared one; for
// HTML that declares none (or US-ASCII, which cannot hold 8-bit text),
// the one its byte order mark or else its <meta> element names;
// otherwise DecodeText's guess.
func (p *Part) Decode(raw []byte) []byte {
	cs := p.Charset
	if p.ContentType == "text/html" && UndeclaredLabel(cs) {
		switch {
		case bytes.HasPrefix(raw, utf8BOM):
			// The byte order mark wins over a <meta>, as in browsers.
			cs = "utf-8"
		default:
			if m := MetaCharset(raw); m != "" {
				cs = m
			}
		}
	}
	return DecodeText(cs, raw)
}

var utf8BOM = []byte("\xef\xbb\xbf")
