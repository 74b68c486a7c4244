package rulefile

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/mamori-mail/mamori/reputation/uribl"
	"github.com/mamori-mail/mamori/rules/check"
	"github.com/mamori-mail/mamori/scanners/mimepart"
	"golang.org/x/net/html"
)

// Prepare reads m once into what the rules look at: decoded headers, the
// text of each text part, the start of the raw body, the linked hosts and
// the attachments. It uses the MIME walk the content scanners share.
func Prepare(ctx context.Context, m *check.Message, content check.ContentLimits, lim Limits) (*Input, error) {
	lim = lim.withDefaults()
	in := &Input{Headers: DecodeHeaders(m.Headers), Client: clientOf(m)}
	raw, err := io.ReadAll(io.LimitReader(m.BodyReader(), lim.Raw))
	if err != nil {
		return nil, err
	}
	in.Raw = raw
	walk, err := mimepart.ForMessage(ctx, m, content)
	if err != nil {
		return nil, err
	}
	links, err := uribl.MessageLinks(ctx, m, content)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	// lim.Text bounds the decoded text of the whole message, and as much
	// again the HTML markup scanned: the rules' work grows with the text
	// they read, so a message of many large parts costs no more than one.
	budget, htmlBudget := lim.Text, lim.Text
	for _, p := range walk.Parts {
		if strings.HasPrefix(p.ContentType, "image/") {
			in.Images++
		}
		if p.IsAttachment() {
			in.Attachments = append(in.Attachments, Attachment{Name: p.Filename, Type: p.ContentType})
			if !p.IsBodyText() {
				continue
			}
		}
		isHTML := p.ContentType == "text/html"
		switch {
		case isHTML:
			in.HTMLParts++
		case p.ContentType == "text/plain":
			in.TextParts++
		default:
			continue
		}
		if budget <= 0 {
			// The text budget is spent: later parts add their links and
			// counts, not their text.
			addLinks(in, links[p], seen)
			continue
		}
		// One read serves the bytes (undeclared 8-bit text) and the text.
		raw, err := io.ReadAll(io.LimitReader(p.Open(), budget))
		if err != nil {
			return nil, err
		}
		switch scan := raw[:min(len(raw), max8bitScan)]; {
		case mimepart.UndeclaredLabel(p.Charset):
			if in.Undeclared8bit == "" {
				in.Undeclared8bit = undeclared8bit(p, scan)
			}
		case in.Mislabeled8bit == "" && (p.Encoding == "" || p.Encoding == "7bit") && !p.Encapsulated && p.Charset != "utf-8" && p.Charset != "utf8":
			// A forwarded or bounced message's labels are its own
			// sender's. UTF-8 is exempt: developers' tools (git
			// send-email, quilt) send it unlabelled, and rspamd too
			// weighs it far less than the legacy charsets.
			in.Mislabeled8bit = mislabeled8bit(p, scan)
		}
		text := p.TextOf(raw)
		budget -= int64(len(text))
		if in.ControlChars == "" {
			if n := controlChars(text); n >= minControlChars {
				in.ControlChars = fmt.Sprintf("part %s: %d", p.Path, n)
			}
		}
		in.Texts = append(in.Texts, text)
		addLinks(in, links[p], seen)
		if isHTML && (!in.InvisibleText || in.LinkTextMismatch == "" || in.RelativeLink == "") && htmlBudget > 0 {
			// Hidden text and link targets are in the markup, not the
			// visible text.
			src, err := io.ReadAll(io.LimitReader(p.Open(), htmlBudget))
			htmlBudget -= int64(len(src))
			if err != nil {
				return nil, err
			}
			found := scanHTML(src)
			in.InvisibleText = in.InvisibleText || found.hidden
			if in.LinkTextMismatch == "" {
				in.LinkTextMismatch = found.mismatch
			}
			if in.RelativeLink == "" && !p.Encapsulated {
				in.RelativeLink = found.relative
			}
		}
	}
	return in, nil
}

// addLinks adds a part's linked hosts (IP literals as addresses) to in,
// each once.
func addLinks(in *Input, found []uribl.Found, seen map[string]bool) {
	for _, f := range found {
		h := f.Host
		if f.IP.IsValid() {
			h = f.IP.String()
		}
		if h != "" && !seen[h] {
			seen[h] = true
			in.Hosts = append(in.Hosts, h)
		}
	}
}

var hiddenStyle = regexp.MustCompile(`(?i)display\s*:\s*none|visibility\s*:\s*hidden|font-size\s*:\s*0+(\.0+)?\s*(px|pt|em|%)?\s*(;|$|")`)

// shownHost finds a host name that a link's visible text presents as
// where the link goes: a URL, a www. name, or the whole text being a
// host name ("paypal.com", "https://paypal.com/login").
var shownHost = regexp.MustCompile(`(?i)^\s*(?:https?://([a-z0-9.-]+\.[a-z]{2,})|(www\.[a-z0-9.-]+\.[a-z]{2,})|([a-z0-9-]+(?:\.[a-z0-9-]+)*\.(?:com|net|org|info|biz|co|io|jp|uk|de|us|ca|au|fr|ru|cn|me))\b)`)

// Bounds of the HTML scan: anchors looked at, visible text kept of each.
const (
	maxAnchors    = 500
	maxAnchorText = 256
)

// htmlFindings are what scanHTML reads in the markup.
type htmlFindings struct {
	// hidden: text inside an element styled to be invisible (words a
	// filter reads and the recipient does not).
	hidden bool
	// mismatch: the first link whose visible text shows a host other
	// than the one it goes to, as "shown → target".
	mismatch string
	// relative: the first link, image or style sheet given as a relative
	// path, when the document has no <base>: it points nowhere in a mail
	// client, so the HTML is a web page or a word processor's file sent
	// as it was saved, not something written or tested as mail.
	relative string
}

// scanHTML reads an HTML document once for what the visible text loses.
func scanHTML(doc []byte) (f htmlFindings) {
	z := html.NewTokenizer(bytes.NewReader(doc))
	// While an element styled invisible is open, hiddenTag is its name and
	// depth counts the open elements of that name (it may nest); other
	// tags do not count, so void elements (<br>, <img>) and stray end tags
	// neither extend nor end the hidden region.
	var hiddenTag []byte
	depth := 0
	anchors := 0
	var href string       // target host of the open <a>, "" outside one
	var text bytes.Buffer // its visible text so far
	base := false         // a <base> element makes relative links resolvable
	for {
		tt := z.Next()
		switch tt {
		case html.ErrorToken:
			if base {
				f.relative = ""
			}
			return f
		case html.StartTagToken, html.SelfClosingTagToken:
			name, hasAttr := z.TagName()
			isA := len(name) == 1 && (name[0] == 'a' || name[0] == 'A')
			base = base || bytes.EqualFold(name, []byte("base"))
			if isA {
				href = ""
				text.Reset()
			}
			if depth > 0 && tt == html.StartTagToken && bytes.EqualFold(name, hiddenTag) {
				depth++
			}
			canHide := depth == 0 && tt == html.StartTagToken && !voidElement(name)
			for hasAttr {
				var k, v []byte
				k, v, hasAttr = z.TagAttr()
				switch {
				case canHide && bytes.EqualFold(k, []byte("style")) && hiddenStyle.Match(v):
					hiddenTag, depth = append(hiddenTag[:0], name...), 1
				case isA && anchors < maxAnchors && bytes.EqualFold(k, []byte("href")):
					anchors++
					href = linkHost(string(v))
				}
				if f.relative == "" && linkAttr(k) && relativePath(v) {
					f.relative = string(bytes.TrimSpace(v))
				}
			}
		case html.EndTagToken:
			name, _ := z.TagName()
			if depth > 0 && bytes.EqualFold(name, hiddenTag) {
				depth--
			}
			if len(name) == 1 && (name[0] == 'a' || name[0] == 'A') && href != "" {
				if f.mismatch == "" {
					if m := shownHost.FindSubmatch(text.Bytes()); m != nil {
						shown := strings.ToLower(string(bytes.Join(m[1:], nil)))
						if check.OrgDomain(shown) != check.OrgDomain(href) {
							f.mismatch = shown + " → " + href
						}
					}
				}
				href = ""
			}
		case html.TextToken:
			t := z.Text()
			if depth > 0 && len(bytes.TrimSpace(t)) > 0 {
				f.hidden = true
			}
			if href != "" && text.Len() < maxAnchorText {
				text.Write(t[:min(len(t), maxAnchorText-text.Len())])
			}
		}
	}
}

// linkAttr reports the attributes that name a resource the client would
// fetch or open: href (a, area, link), src (img, frame, script) and
// background (body, table, td).
func linkAttr(k []byte) bool {
	return bytes.EqualFold(k, []byte("href")) || bytes.EqualFold(k, []byte("src")) || bytes.EqualFold(k, []byte("background"))
}

// relativePath reports a URL that is a relative path to a web file: no
// scheme, not a fragment or a network-path reference, made of path
// characters only (a '%' only as an escape), not a host name missing its
// scheme ("www.x.example/..."), and naming a file by a web file's
// extension ("images/top.gif", "./flyer_files/filelist.xml", "faq.html",
// "/img/logo.png"). Unfilled merge tags ("[UNSUBSCRIBE]", "{{url}}",
// "*|UNSUB|*", "%%link%%", "%recipient.url%") and bare paths
// ("/unsubscribe") do not count.
func relativePath(v []byte) bool {
	v = bytes.TrimSpace(v)
	if len(v) == 0 || v[0] == '#' || bytes.HasPrefix(v, []byte("//")) || len(v) >= 4 && bytes.EqualFold(v[:4], []byte("www.")) {
		return false
	}
	for i := 0; i < len(v); i++ {
		switch c := v[i]; {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '_', c == '-', c == '~', c == '+', c == '.', c == '/':
		case c == '%' && i+2 < len(v) && isHex(v[i+1]) && isHex(v[i+2]):
		default:
			// ':' (a scheme), '?', '&', '=', brackets, braces, '|',
			// '@', a '%' that is no escape...
			return false
		}
	}
	file := v[bytes.LastIndexByte(v, '/')+1:]
	dot := bytes.LastIndexByte(file, '.')
	return dot > 0 && webFileExt[string(bytes.ToLower(file[dot+1:]))]
}

// webFileExt are the extensions of the files a web page refers to.
var webFileExt = map[string]bool{
	"gif": true, "jpg": true, "jpeg": true, "png": true, "bmp": true, "webp": true, "svg": true, "ico": true,
	"htm": true, "html": true, "shtml": true, "xhtml": true, "xml": true, "css": true, "js": true,
	"php": true, "asp": true, "aspx": true, "jsp": true, "cgi": true, "pl": true, "cfm": true,
	"pdf": true, "swf": true, "txt": true,
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// voidElement reports the HTML elements that have no content and no end
// tag. name is as html.Tokenizer gives it, lower-case.
func voidElement(name []byte) bool {
	switch string(name) {
	case "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param", "source", "track", "wbr":
		return true
	}
	return false
}

// linkHost returns the lower-case host of an http or https URL, or "".
func linkHost(u string) string {
	u = strings.TrimSpace(u)
	rest, ok := cutPrefixFold(u, "http://")
	if !ok {
		if rest, ok = cutPrefixFold(u, "https://"); !ok {
			return ""
		}
	}
	if i := strings.IndexAny(rest, "/?#\\"); i >= 0 {
		rest = rest[:i]
	}
	if i := strings.LastIndexByte(rest, '@'); i >= 0 {
		rest = rest[i+1:]
	}
	if i := strings.LastIndexByte(rest, ':'); i >= 0 {
		rest = rest[:i]
	}
	return strings.TrimSuffix(strings.ToLower(rest), ".")
}

func cutPrefixFold(s, prefix string) (string, bool) {
	if len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix) {
		return s[len(prefix):], true
	}
	return s, false
}

// max8bitScan bounds the bytes of one part looked at for undeclared 8-bit
// text.
const max8bitScan = 64 << 10

// undeclared8bit reports a part whose text is 8-bit although its charset
// says US-ASCII: at least 20 bytes with the high bit set, at least 5% of
// the bytes read, and not UTF-8. A stray accented letter in a signature is a
// careless program; a body in Thai or Shift_JIS with no charset is a bulk
// tool that never meant the text to be read as sent. HTML that names its
// charset in a <meta> element has declared it.
func undeclared8bit(p *mimepart.Part, buf []byte) string {
	high := 0
	for _, c := range buf {
		if c >= 0x80 {
			high++
		}
	}
	if high < 20 || high*20 < len(buf) {
		return ""
	}
	// UTF-8 names itself (a script's mail without a charset, a form
	// mailer): only bytes that need a declared charset to be read count.
	// The bytes may end inside a character where the read stopped.
	valid := buf
	for i := 0; i < utf8.UTFMax-1 && len(valid) > 0 && !utf8.Valid(valid); i++ {
		valid = valid[:len(valid)-1]
	}
	if utf8.Valid(valid) {
		return ""
	}
	if p.ContentType == "text/html" && mimepart.MetaCharset(buf) != "" {
		return ""
	}
	return fmt.Sprintf("part %s: %d of %d bytes 8-bit, charset %q", p.Path, high, len(buf), p.Charset)
}

// mislabeled8bit reports a part that declares a charset other than
// US-ASCII and holds 8-bit bytes although its transfer encoding is 7bit
// (declared, or by default: RFC 2045 §6.1). A mail program that names the
// charset also labels how the bytes travel (8bit, quoted-printable or
// base64); a sender that knows the first and ignores the second is a
// script writing MIME headers by hand. rspamd (R_BAD_CTE_7BIT) and
// SpamAssassin users' rules test the same thing.
func mislabeled8bit(p *mimepart.Part, buf []byte) string {
	high := 0
	for _, c := range buf {
		if c >= 0x80 {
			high++
		}
	}
	if high == 0 {
		return ""
	}
	return fmt.Sprintf("part %s: %d 8-bit bytes, charset %q, transfer encoding 7bit", p.Path, high, p.Charset)
}

// minControlChars is how many control characters make a text part binary
// data rather than text with a stray one.
const minControlChars = 5

// controlChars counts the C0 control characters and DEL in decoded text,
// other than tab, line feed, form feed, carriage return and the ISO-2022
// shifts (ESC, SO, SI): characters no one types, which a text part holds
// when a binary file was sent as text.
func controlChars(text string) int {
	n := 0
	for i := 0; i < len(text); i++ {
		switch c := text[i]; {
		case c == '\t' || c == '\n' || c == '\f' || c == '\r':
		case c == 0x1b || c == 0x0e || c == 0x0f:
			// ESC, SO and SI shift the ISO-2022 encodings (Japanese,
			// Korean, Chinese), left in place when a variant's label is
			// not one the decoder knows; ESC also starts terminal colours.
		case c < 0x20 || c == 0x7f:
			n++
		}
	}
	return n
}
