package bayes

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/net/publicsuffix"
	"golang.org/x/text/unicode/norm"

	"github.com/mamori-mail/mamori/reputation/uribl"
	"github.com/mamori-mail/mamori/rules/check"
	"github.com/mamori-mail/mamori/scanners/mimepart"
)

// Defaults of the Tokenizer limits.
const (
	DefaultMaxTokens    = 5000
	DefaultMaxTextBytes = 512 << 10
)

// Fixed bounds on what one header or token contributes.
const (
	maxHeaderText    = 2048 // bytes of a header value read
	maxHeaderTokens  = 64   // tokens from one header's words
	maxMetaTokens    = 64   // reserved for the m: tokens
	maxURLHosts      = 100  // hosts taken from one part
	maxWordRunes     = 40   // longer words become a "long:" token
	minWordRunes     = 3    // shorter latin words are dropped
	maxCharsetTokens = 4
	maxAttachTokens  = 8
)

// Tokenizer turns a message into the tokens the classifier counts. The zero
// value uses the defaults; a Tokenizer is safe for concurrent use.
type Tokenizer struct {
	// MaxTokens caps the distinct tokens of one message; 0 means
	// DefaultMaxTokens. Header tokens come first and a quarter of the
	// limit (at most 64) is kept for the m: meta tokens, so it is the body
	// that is cut short.
	MaxTokens int
	// MaxTextBytes caps the decoded text read from the message's text
	// parts, all together; 0 means DefaultMaxTextBytes.
	MaxTextBytes int64
	// Content bounds the MIME walk in Tokenize (check.Env.Content).
	Content check.ContentLimits
}

// Tokenize returns m's tokens, sorted and distinct. It walks the MIME
// structure with mimepart.ForMessage, which shares the walk with the other
// checks of the message and releases it when the message is done. The
// error is for I/O failures and ctx.
func (t *Tokenizer) Tokenize(ctx context.Context, m *check.Message) ([]string, error) {
	res, err := mimepart.ForMessage(ctx, m, t.Content)
	if err != nil {
		return nil, fmt.Errorf("bayes: %w", err)
	}
	// The links come from the per-message extraction the uribl check
	// shares, rather than from a second pass over the same text.
	links, err := uribl.MessageLinks(ctx, m, t.Content)
	if err != nil {
		return nil, fmt.Errorf("bayes: %w", err)
	}
	return t.tokenize(ctx, m.Headers, res, links)
}

// TokenizeParts is Tokenize for a message already walked; res may be nil
// for a message without a body.
func (t *Tokenizer) TokenizeParts(ctx context.Context, headers []check.Header, res *mimepart.Result) ([]string, error) {
	return t.tokenize(ctx, headers, res, nil)
}

// tokenize tokenizes; links holds each text part's links when the caller
// has them (nil: they are extracted here).
func (t *Tokenizer) tokenize(ctx context.Context, headers []check.Header, res *mimepart.Result, links map[*mimepart.Part][]uribl.Found) ([]string, error) {
	maxTokens := t.MaxTokens
	if maxTokens <= 0 {
		maxTokens = DefaultMaxTokens
	}
	budget := t.MaxTextBytes
	if budget <= 0 {
		budget = DefaultMaxTextBytes
	}
	reserve := min(maxMetaTokens, maxTokens/4)
	tz := &tokenizing{set: make(map[string]struct{}, 64), limit: maxTokens - reserve, budget: budget, links: links}

	var parts []*mimepart.Part
	if res != nil {
		parts = res.Parts
	}
	// The charset of the first text part decodes raw 8-bit header text, as
	// mail clients guess it.
	guess := ""
	for _, p := range parts {
		if p.IsBodyText() && p.Charset != "" {
			guess = p.Charset
			break
		}
	}
	tz.headers(headers, guess)

	var meta metaFacts
	for _, p := range parts {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if err := tz.part(p, &meta); err != nil {
			return nil, fmt.Errorf("bayes: read part %s: %w", p.Path, err)
		}
	}
	if res != nil {
		for _, a := range res.Anomalies {
			meta.anomalies = addName(meta.anomalies, string(a.Kind), maxAttachTokens)
		}
	}
	tz.limit = maxTokens
	tz.meta(&meta)

	out := make([]string, 0, len(tz.set))
	for tok := range tz.set {
		out = append(out, tok)
	}
	slices.Sort(out)
	return out, nil
}

// tokenizing is the state of one TokenizeParts call.
type tokenizing struct {
	set    map[string]struct{}
	limit  int   // distinct tokens accepted so far may not exceed it
	stop   int   // when > 0, the set size at which this words call stops
	budget int64 // text bytes left to read
	links  map[*mimepart.Part][]uribl.Found
	buf    []byte

	// Word state (see rune).
	word     []byte
	wordOver int // runes of the current word beyond what word keeps
	cjkPrev  rune
	cjkLen   int
}

// add records prefix+tok, copying it only when new.
func (tz *tokenizing) add(prefix string, tok []byte) {
	tz.buf = append(append(tz.buf[:0], prefix...), tok...)
	if _, ok := tz.set[string(tz.buf)]; ok || tz.full() {
		return
	}
	tz.set[string(tz.buf)] = struct{}{}
}

func (tz *tokenizing) addString(prefix, tok string) {
	tz.buf = append(append(tz.buf[:0], prefix...), tok...)
	if _, ok := tz.set[string(tz.buf)]; ok || tz.full() {
		return
	}
	tz.set[string(tz.buf)] = struct{}{}
}

// full reports whether no new token may be added: the message's limit, or
// the current words call's own (stop, when set).
func (tz *tokenizing) full() bool {
	return len(tz.set) >= tz.limit || tz.stop > 0 && len(tz.set) >= tz.stop
}

// Headers.

// headers adds the h: and s: tokens.
func (tz *tokenizing) headers(hs []check.Header, guess string) {
	var (
		subject, from, replyTo, mailer *check.Header
		rcpts, received                int
		hasTo, hasMsgID                bool
	)
	for i := range hs {
		h := &hs[i]
		switch strings.ToLower(h.Name) {
		case "subject":
			subject = first(subject, h)
		case "from":
			from = first(from, h)
		case "reply-to":
			replyTo = first(replyTo, h)
		case "x-mailer", "user-agent":
			mailer = first(mailer, h)
		case "to":
			hasTo = true
			rcpts += countAddrs(headerValue(h))
		case "cc":
			rcpts += countAddrs(headerValue(h))
		case "received":
			received++
		case "message-id":
			hasMsgID = true
		}
	}

	if subject == nil {
		tz.addString("s:", "none")
	} else {
		raw := headerValue(subject)
		for _, cs := range encodedWordCharsets(raw) {
			tz.addString("s:cs:", cs)
		}
		text := decodeHeader(raw, guess)
		if isShouting(text) {
			tz.addString("s:", "caps")
		}
		tz.words("s:", []byte(text), maxHeaderTokens)
	}

	fromDomain := ""
	if from == nil {
		tz.addString("h:from:", "none")
	} else {
		name, addr := splitAddress(headerValue(from))
		name = decodeHeader(name, guess)
		if name == "" {
			tz.addString("h:from:", "noname")
		} else {
			if strings.Contains(name, "@") {
				tz.addString("h:from:", "name-has-addr")
			}
			tz.words("h:from:n:", []byte(name), maxHeaderTokens/4)
		}
		fromDomain = tz.domain("h:from:", addr)
	}
	if replyTo != nil {
		_, addr := splitAddress(headerValue(replyTo))
		switch d := tz.domain("h:reply-to:", addr); {
		case d == "":
		case d == fromDomain:
			tz.addString("h:reply-to:", "same")
		default:
			tz.addString("h:reply-to:", "other")
		}
	}
	if !hasTo {
		tz.addString("h:to:", "none")
	}
	tz.addString("h:rcpt:", bucket(rcpts, 0, 1, 2, 3, 6, 11))
	tz.addString("h:received:", bucket(received, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10))
	if mailer == nil {
		tz.addString("h:mailer:", "none")
	} else {
		tz.addString("h:mailer:", mailerName(headerValue(mailer)))
	}
	if !hasMsgID {
		tz.addString("h:msgid:", "none")
	}
}

func first(have, h *check.Header) *check.Header {
	if have != nil {
		return have
	}
	return h
}

// headerValue returns the unfolded value, at most maxHeaderText bytes.
func headerValue(h *check.Header) string {
	raw := h.Raw
	if len(raw) > maxHeaderText {
		raw = raw[:maxHeaderText]
	}
	return check.Header{Raw: raw}.Value()
}

// domain adds the tokens of an address's domain: its registered domain
// (prefix+"d:") and, when longer, the host (prefix+"h:"). It returns the
// registered domain, or "" when the address has none.
func (tz *tokenizing) domain(prefix, addr string) string {
	host := addrDomain(addr)
	if host == "" {
		tz.addString(prefix, "nodomain")
		return ""
	}
	reg, err := publicsuffix.EffectiveTLDPlusOne(host)
	if err != nil {
		reg = host
	}
	tz.addString(prefix+"d:", reg)
	if reg != host {
		tz.addString(prefix+"h:", host)
	}
	return reg
}

// splitAddress splits a From-style value leniently: `Name <addr>`,
// `addr (Name)` or a bare address.
func splitAddress(v string) (name, addr string) {
	if i := strings.LastIndexByte(v, '<'); i >= 0 {
		addr = v[i+1:]
		if j := strings.IndexByte(addr, '>'); j >= 0 {
			addr = addr[:j]
		}
		name = v[:i]
	} else if i := strings.IndexByte(v, '('); i >= 0 {
		addr, name = v[:i], strings.TrimRight(v[i+1:], ") \t")
	} else {
		addr = v
	}
	return strings.Trim(name, "\"' \t"), strings.TrimSpace(addr)
}

// addrDomain returns the lower-cased domain of addr if it looks like a
// host name.
func addrDomain(addr string) string {
	i := strings.LastIndexByte(addr, '@')
	if i < 0 {
		return ""
	}
	d := strings.ToLower(strings.Trim(addr[i+1:], ".[] \t"))
	if d == "" || len(d) > 253 {
		return ""
	}
	for _, r := range d {
		if !(r == '.' || r == '-' || r == '_' || r == ':' || unicode.IsLetter(r) || unicode.IsDigit(r)) {
			return ""
		}
	}
	return d
}

// countAddrs counts the addresses in an address-list value: the @ signs
// outside quoted strings.
func countAddrs(v string) int {
	n, quoted := 0, false
	for i := 0; i < len(v); i++ {
		switch v[i] {
		case '"':
			quoted = !quoted
		case '@':
			if !quoted {
				n++
			}
		}
	}
	return n
}

// decodeHeader decodes RFC 2047 encoded words; raw 8-bit text (or
// ISO-2022-JP escapes) without them is decoded with the guessed charset.
func decodeHeader(v, guess string) string {
	v = mimepart.DecodeWords(v)
	if utf8.ValidString(v) && !mimepart.HasISO2022Escape([]byte(v)) {
		return v
	}
	return string(mimepart.DecodeText(guess, []byte(v)))
}

// encodedWordCharsets returns the charsets of the first encoded words of
// v, lower-cased ("=?GB2312?B?...": "gb2312").
func encodedWordCharsets(v string) []string {
	var out []string
	for len(out) < maxCharsetTokens {
		i := strings.Index(v, "=?")
		if i < 0 {
			break
		}
		v = v[i+2:]
		j := strings.IndexByte(v, '?')
		if j < 0 || j > 40 {
			continue
		}
		cs := cleanName(v[:j], 40)
		if cs != "" && !slices.Contains(out, cs) {
			out = append(out, cs)
		}
		v = v[j+1:]
		// Skip the encoded text, up to "?=".
		if k := strings.Index(v, "?="); k >= 0 {
			v = v[k+2:]
		}
	}
	return out
}

// isShouting reports a subject written in capitals: at least 5 letters, no
// lower-case one.
func isShouting(s string) bool {
	upper := 0
	for _, r := range s {
		if unicode.IsLower(r) {
			return false
		}
		if unicode.IsUpper(r) {
			upper++
		}
	}
	return upper >= 5
}

// mailerName keeps the product of an X-Mailer or User-Agent value: its
// first two words without versions ("Microsoft Outlook Express 6.00" gives
// "microsoft-outlook").
func mailerName(v string) string {
	var words []string
	for _, f := range strings.FieldsFunc(strings.ToLower(v), func(r rune) bool {
		return !(r >= 'a' && r <= 'z')
	}) {
		if len(f) > 1 {
			words = append(words, f)
			if len(words) == 2 {
				break
			}
		}
	}
	n := strings.Join(words, "-")
	if n == "" {
		return "other"
	}
	return cleanName(n, 32)
}

// cleanName lower-cases s and keeps [a-z0-9._+/-], at most max bytes, for
// names from headers that become tokens (charsets, media types).
func cleanName(s string, max int) string {
	var b strings.Builder
	for i := 0; i < len(s) && b.Len() < max; i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || strings.IndexByte("._+/-", c) >= 0 {
			b.WriteByte(c)
		}
	}
	return b.String()
}

// bucket names the interval of bounds (ascending) that n falls in: "3" for
// an exact bound, "3-5" below the next one, "11+" past the last.
func bucket(n int, bounds ...int) string {
	for i, b := range bounds {
		if n < b {
			if i == 0 {
				return "<" + strconv.Itoa(b)
			}
			lo := bounds[i-1]
			if b-lo == 1 {
				return strconv.Itoa(lo)
			}
			return strconv.Itoa(lo) + "-" + strconv.Itoa(b-1)
		}
	}
	return strconv.Itoa(bounds[len(bounds)-1]) + "+"
}

// Body.

// metaFacts collects what the m: tokens say.
type metaFacts struct {
	plain, html, images, hosts int
	charsets, attach, exts     []string
	anomalies                  []string
}

// addName appends s to list unless it is empty, already there, or list has
// max names.
func addName(list []string, s string, max int) []string {
	if s == "" || len(list) >= max || slices.Contains(list, s) {
		return list
	}
	return append(list, s)
}

// part adds the tokens of one leaf part.
func (tz *tokenizing) part(p *mimepart.Part, mf *metaFacts) error {
	if strings.HasPrefix(p.ContentType, "image/") {
		mf.images++
	}
	if p.IsAttachment() {
		mf.attach = addName(mf.attach, cleanName(p.ContentType, 64), maxAttachTokens)
		if i := strings.LastIndexByte(p.Filename, '.'); i >= 0 && len(p.Filename)-i <= 11 {
			mf.exts = addName(mf.exts, cleanName(p.Filename[i+1:], 10), maxAttachTokens)
		}
		if !p.IsBodyText() {
			return nil
		}
	}
	if p.Size == 0 {
		return nil
	}
	isHTML := p.ContentType == "text/html"
	if isHTML {
		mf.html++
	} else if strings.HasPrefix(p.ContentType, "text/") {
		mf.plain++
	} else {
		return nil
	}
	mf.charsets = addName(mf.charsets, cleanName(p.Charset, 40), maxCharsetTokens)
	n := min(p.Size, tz.budget)
	if n <= 0 {
		return nil
	}
	raw := make([]byte, n)
	if _, err := io.ReadFull(p.Open(), raw); err != nil {
		return err
	}
	tz.budget -= n
	text := p.Decode(raw)

	found, shared := tz.links[p]
	if tz.links == nil || !shared {
		found = uribl.Extract(text, uribl.Options{HTML: isHTML, MaxHosts: maxURLHosts})
	}
	for _, f := range found[:min(len(found), maxURLHosts)] {
		mf.hosts++
		switch {
		case f.IP.IsValid():
			tz.addString("u:", "ip")
		case f.Source == uribl.SourceEmail || f.Source == uribl.SourceMailto:
			if f.Domain != "" {
				tz.addString("e:d:", f.Domain)
			}
		default:
			if f.Domain != "" {
				tz.addString("u:d:", f.Domain)
			}
			if f.Host != f.Domain {
				tz.addString("u:h:", f.Host)
			}
		}
	}
	if isHTML {
		var imgs int
		text, imgs = mimepart.VisibleText(text)
		mf.images += imgs
	}
	tz.words("", text, -1)
	return nil
}

// meta adds the m: tokens.
func (tz *tokenizing) meta(mf *metaFacts) {
	switch {
	case mf.html > 0 && mf.plain == 0:
		tz.addString("m:", "html-only")
	case mf.html > 0:
		tz.addString("m:", "html+text")
	case mf.plain > 0:
		tz.addString("m:", "text-only")
	default:
		tz.addString("m:", "no-text")
	}
	tz.addString("m:img:", bucket(mf.images, 0, 1, 2, 3, 6))
	tz.addString("m:hosts:", bucket(mf.hosts, 0, 1, 2, 4, 10))
	for _, cs := range mf.charsets {
		tz.addString("m:cs:", cs)
	}
	for _, a := range mf.attach {
		tz.addString("m:att:", a)
	}
	for _, e := range mf.exts {
		tz.addString("m:ext:", e)
	}
	for _, a := range mf.anomalies {
		tz.addString("m:mime:", a)
	}
}

// Words.

// words adds the word tokens of text with prefix, at most max new tokens
// (-1: no limit beyond the message's). text is normalised to NFKC and
// lower-cased; latin words of 3 to 40 letters count as they are, numbers
// by their number of digits ("n:4"), longer words by their length
// ("long:50"), and CJK runs as overlapping bigrams.
func (tz *tokenizing) words(prefix string, text []byte, max int) {
	if max >= 0 {
		tz.stop = len(tz.set) + max
		if max == 0 {
			return
		}
		defer func() { tz.stop = 0 }()
	}
	full := tz.full
	if norm.NFKC.QuickSpan(text) == len(text) {
		// Already NFKC, as nearly all text is: no copy.
		tz.runes(prefix, text, full)
	} else {
		var it norm.Iter
		it.Init(norm.NFKC, text)
		// NFKC can expand text (one rune becomes up to 18); bound its output.
		left := 2*len(text) + 64
		for !it.Done() && left > 0 && !full() {
			// A segment ends on a rune boundary.
			seg := it.Next()
			left -= len(seg)
			tz.runes(prefix, seg, nil)
		}
	}
	tz.rune(prefix, ' ')
}

// runes feeds the runes of text to rune, until full reports true.
func (tz *tokenizing) runes(prefix string, text []byte, full func() bool) {
	for i := 0; i < len(text); {
		if full != nil && i&1023 == 0 && full() {
			return
		}
		c := text[i]
		if c < utf8.RuneSelf {
			i++
			tz.rune(prefix, rune(c))
			continue
		}
		r, size := utf8.DecodeRune(text[i:])
		i += size
		tz.rune(prefix, r)
	}
}

// rune feeds one rune to the word state: tz.word holds the latin word so
// far, lower-cased; tz.cjkLen counts the CJK run so far and tz.cjkPrev is
// its last rune.
func (tz *tokenizing) rune(prefix string, r rune) {
	switch {
	case isCJK(r):
		tz.flushWord(prefix)
		if tz.cjkLen > 0 {
			var b [2 * utf8.UTFMax]byte
			n := utf8.EncodeRune(b[:], tz.cjkPrev)
			n += utf8.EncodeRune(b[n:], r)
			tz.add(prefix, b[:n])
		}
		tz.cjkPrev = r
		tz.cjkLen++
	case r < utf8.RuneSelf && asciiWord[r] != 0:
		if tz.cjkLen > 0 {
			tz.flushCJK(prefix)
		}
		if len(tz.word) < 4*maxWordRunes+8 {
			tz.word = append(tz.word, asciiWord[r])
		} else {
			tz.wordOver++
		}
	case r >= utf8.RuneSelf && (unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.IsMark(r)):
		tz.flushCJK(prefix)
		if len(tz.word) < 4*maxWordRunes+8 {
			tz.word = utf8.AppendRune(tz.word, unicode.ToLower(r))
		} else {
			tz.wordOver++
		}
	case (r == '.' || r == ',') && len(tz.word) > 0 && isDigit(tz.word[len(tz.word)-1]):
		// Kept inside numbers (1,000.00); trimmed if no digit follows.
		tz.word = append(tz.word, byte(r))
	default:
		if tz.cjkLen > 0 {
			tz.flushCJK(prefix)
		}
		if len(tz.word) > 0 {
			tz.flushWord(prefix)
		}
	}
}

// asciiWord maps the ASCII characters that belong to words (letters,
// digits, $ ' -) to their lower case, and the others to 0.
var asciiWord = func() (t [utf8.RuneSelf]byte) {
	for c := range utf8.RuneSelf {
		switch {
		case 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '$', c == '\'', c == '-':
			t[c] = byte(c)
		case 'A' <= c && c <= 'Z':
			t[c] = byte(c + 'a' - 'A')
		}
	}
	return t
}()

// flushCJK ends a CJK run; a lone character counts by itself.
func (tz *tokenizing) flushCJK(prefix string) {
	if tz.cjkLen == 1 {
		var b [utf8.UTFMax]byte
		tz.add(prefix, b[:utf8.EncodeRune(b[:], tz.cjkPrev)])
	}
	tz.cjkLen = 0
}

func (tz *tokenizing) flushWord(prefix string) {
	w := bytes.TrimRight(bytes.Trim(tz.word, "-'"), ".,-'")
	over := tz.wordOver
	tz.word, tz.wordOver = tz.word[:0], 0
	if len(w) == 0 {
		return
	}
	if digits, ok := numberDigits(w); ok {
		pre := "n:"
		if w[0] == '$' {
			pre = "n:$"
		}
		tz.addString(prefix+pre, bucket(digits, 1, 2, 3, 4, 5, 6, 7, 10))
		return
	}
	n := utf8.RuneCount(w) + over
	switch {
	case n < minWordRunes:
	case n > maxWordRunes:
		tz.addString(prefix+"long:", strconv.Itoa(min(n/10*10, 100)))
	default:
		tz.add(prefix, w)
	}
}

// numberDigits reports whether w is a number ($ first, then digits, dots,
// commas and dashes: prices, dates, phone numbers) and how many digits it
// has.
func numberDigits(w []byte) (int, bool) {
	if w[0] == '$' {
		w = w[1:]
	}
	digits := 0
	for _, c := range w {
		switch {
		case isDigit(c):
			digits++
		case c == '.' || c == ',' || c == '-':
		default:
			return 0, false
		}
	}
	return digits, digits > 0
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// isCJK reports the scripts written without spaces between words, which
// are cut into bigrams: Han, Hiragana, Katakana (with the prolonged sound
// mark) and Hangul.
func isCJK(r rune) bool {
	if r < 0x1100 {
		return false
	}
	return r == 0x30fc || unicode.In(r, unicode.Han, unicode.Hiragana, unicode.Katakana, unicode.Hangul)
}
