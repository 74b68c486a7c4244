package mimepart

import (
	"regexp"
	"strings"

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
// for Japanese, Hangul for Korean, the frequent-character rows for Big5,
// the GB2312 rows for simplified Chinese. Anything else, Latin text with
// accents above all, stays Windows-1252.

// Bounds of the guess.
const (
	// guessMinChars is how many double-byte characters it takes: a stray
	// pair of accented letters is not a language.
	guessMinChars = 8
	// guessScan bounds the bytes looked at.
	guessScan = 16 << 10
)

// guessCharset names the charset to read b in: "shift_jis", "euc-jp",
// "euc-kr", "big5" or "gbk" when b reads as one, else "windows-1252".
// b is neither UTF-8 nor ISO-2022-JP (DecodeText tests those first).
func guessCharset(b []byte) string {
	b = b[:min(len(b), guessScan)]
	if s := scanSJIS(b); s.fits(5) {
		return "shift_jis"
	}
	e := scanEUC(b)
	switch {
	case e.fits(5):
		return "euc-jp"
	case e.valid() && e.hangul*10 >= e.chars*7:
		return "euc-kr"
	}
	if s := scanBig5(b); s.valid() && s.common*10 >= s.chars*8 && s.lowTrail*10 >= s.chars && s.run*2 >= s.chars {
		return "big5"
	}
	if e.valid() && e.gb*10 >= e.chars*8 {
		return "gbk"
	}
	return "windows-1252"
}

// mbStats counts what one reading of the bytes found.
type mbStats struct {
	chars   int // well-formed multibyte characters (and half-width kana)
	invalid int // high bytes that do not start or finish one
	kana    int // Japanese kana among chars
	hangul  int // Hangul syllables (EUC rows B0–C8)
	gb      int // GB2312 punctuation and hanzi rows (A1–A3, B0–F7)
	// Big5 only: characters in the punctuation and frequent-hanzi rows
	// (A1–C6); trail bytes below 0x80, which GB2312 never has; and
	// characters followed at once by another, as Chinese runs on without
	// spaces. Latin-1 text is well-formed Big5 (an accented letter and
	// the ASCII letter after it make a pair) but its pairs stand alone.
	common, lowTrail, run int
}

// valid reports enough characters with at most one bad byte in 50.
func (s mbStats) valid() bool {
	return s.chars >= guessMinChars && s.invalid*50 <= s.chars
}

// fits reports a valid Japanese reading: at least one character in
// kanaDiv is full-width kana (Japanese prose is a third to a half kana).
func (s mbStats) fits(kanaDiv int) bool {
	return s.valid() && s.kana*kanaDiv >= s.chars
}

// scanSJIS reads b as Shift_JIS.
func scanSJIS(b []byte) (s mbStats) {
	for i := 0; i < len(b); {
		c := b[i]
		switch {
		case c < 0x80:
			i++
		case 0xa1 <= c && c <= 0xdf:
			// Half-width katakana, which Japanese mail avoids; not
			// counted as kana, since Latin-1 capitals and ß are these
			// bytes too.
			s.chars++
			i++
		case (0x81 <= c && c <= 0x9f || 0xe0 <= c && c <= 0xfc) && i+1 < len(b) && sjisTrail(b[i+1]):
			t := b[i+1]
			s.chars++
			if c == 0x82 && t >= 0x9f || c == 0x83 && t <= 0x96 {
				s.kana++
			}
			i += 2
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
	for i := 0; i < len(b); {
		c := b[i]
		switch {
		case c < 0x80:
			i++
		case 0xa1 <= c && c <= 0xfe && i+1 < len(b) && 0xa1 <= b[i+1] && b[i+1] <= 0xfe:
			s.chars++
			switch {
			case c == 0xa4 || c == 0xa5:
				s.kana++
			case 0xb0 <= c && c <= 0xc8:
				s.hangul++
			}
			if c <= 0xa3 || 0xb0 <= c && c <= 0xf7 {
				s.gb++
			}
			i += 2
		case c == 0x8e && i+1 < len(b) && 0xa1 <= b[i+1] && b[i+1] <= 0xdf:
			s.chars++ // half-width katakana
			i += 2
		case c == 0x8f && i+2 < len(b) && b[i+1] >= 0xa1 && b[i+2] >= 0xa1 && b[i+1] != 0xff && b[i+2] != 0xff:
			s.chars++
			i += 3
		default:
			s.invalid++
			i++
		}
	}
	return s
}

// scanBig5 reads b as Big5.
func scanBig5(b []byte) (s mbStats) {
	for i := 0; i < len(b); {
		c := b[i]
		switch {
		case c < 0x80:
			i++
		case 0x81 <= c && c <= 0xfe && i+1 < len(b) && (0x40 <= b[i+1] && b[i+1] <= 0x7e || 0xa1 <= b[i+1] && b[i+1] <= 0xfe):
			s.chars++
			if 0xa1 <= c && c <= 0xc6 {
				s.common++
			}
			if b[i+1] < 0x80 {
				s.lowTrail++
			}
			i += 2
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

// metaCharsetRE finds the charset an HTML document names in a <meta>
// element: <meta charset=x> or <meta http-equiv=Content-Type
// content="text/html; charset=x">.
var metaCharsetRE = regexp.MustCompile(`(?i)<meta\b[^>]{0,300}?\bcharset\s*=\s*["']?\s*([a-z0-9_.:-]{1,40})`)

// maxMetaScan bounds the bytes of a document searched for its <meta>
// charset. Browsers look at the first 1,024 bytes and start again when
// one comes later; a mail's head can be long with styles, so more is read.
const maxMetaScan = 16 << 10

// MetaCharset returns the charset an HTML document names in a <meta>
// element within its first bytes, lower case, or "" when it names none
// or one that is not known.
func MetaCharset(doc []byte) string {
	m := metaCharsetRE.FindSubmatch(doc[:min(len(doc), maxMetaScan)])
	if m == nil {
		return ""
	}
	cs := strings.ToLower(string(m[1]))
	if _, err := htmlindex.Get(cs); err != nil {
		return ""
	}
	return cs
}

// Decode converts raw, the start of the part's decoded content, to UTF-8
// in the charset a mail client would read it in: the declared one; for
// HTML that declares none (or US-ASCII, which cannot hold 8-bit text),
// the one its <meta> element names; otherwise DecodeText's guess.
func (p *Part) Decode(raw []byte) []byte {
	cs := p.Charset
	if p.ContentType == "text/html" && (cs == "" || cs == "us-ascii" || cs == "ascii") {
		if m := MetaCharset(raw); m != "" {
			cs = m
		}
	}
	return DecodeText(cs, raw)
}
