package rulefile

import (
	"net/mail"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/mamori-mail/mamori/rules/check"
)

// builtin is a test that a pattern cannot express.
type builtin struct {
	doc  string
	test func(in *Input) (bool, string)
}

// builtins are the tests rule files can name with "builtin:". Each doc is
// the operator's description (docs/rules.md lists them).
var builtins = map[string]builtin{
	"missing_date": {"no Date field (RFC 5322 requires one; bulk tools forget it)", func(in *Input) (bool, string) {
		return in.header("Date") == nil, ""
	}},
	"missing_message_id": {"no Message-ID field", func(in *Input) (bool, string) {
		return in.header("Message-ID") == nil, ""
	}},
	"missing_subject": {"no Subject field, or an empty one", func(in *Input) (bool, string) {
		f := in.header("Subject")
		return f == nil || strings.TrimSpace(f.Value) == "", ""
	}},
	"malformed_from": {"the From field is missing, repeated, or not an address list", func(in *Input) (bool, string) {
		n := 0
		var val string
		for _, f := range in.Headers {
			if strings.EqualFold(f.Name, "From") {
				n++
				val = f.Value
			}
		}
		if n != 1 {
			return true, ""
		}
		if _, err := mail.ParseAddressList(val); err != nil {
			return true, val
		}
		return false, ""
	}},
	"date_in_future": {"the Date field is more than a day ahead of now", func(in *Input) (bool, string) {
		d, ok := in.date()
		return ok && d.After(time.Now().Add(24*time.Hour)), ""
	}},
	"subject_all_caps": {"the Subject has at least 10 letters and no lower-case letter (Latin script)", func(in *Input) (bool, string) {
		f := in.header("Subject")
		if f == nil {
			return false, ""
		}
		letters, lower := 0, 0
		for _, c := range f.Value {
			if unicode.IsLetter(c) && c < 0x250 {
				letters++
				if unicode.IsLower(c) {
					lower++
				}
			}
		}
		return letters >= 10 && lower == 0, f.Value
	}},
	"html_only": {"HTML text without a plain-text alternative", func(in *Input) (bool, string) {
		return in.HTMLParts > 0 && in.TextParts == 0, ""
	}},
	"image_only": {"images with (almost) no text: under 20 bytes of text in all (UTF-8: 20 Latin letters, about 7 Japanese characters)", func(in *Input) (bool, string) {
		if in.Images == 0 {
			return false, ""
		}
		n := 0
		for _, t := range in.Texts {
			n += len(strings.TrimSpace(t))
		}
		return n < 20, ""
	}},
	"invisible_text": {"HTML text hidden from the reader (display:none, visibility:hidden, font-size:0)", func(in *Input) (bool, string) {
		return in.InvisibleText, ""
	}},
	"reply_to_differs": {"a Reply-To address is in another domain than the From address (subdomains count as the same)", func(in *Input) (bool, string) {
		from := in.fromAddress()
		if from == nil {
			return false, ""
		}
		f := in.header("Reply-To")
		if f == nil {
			return false, ""
		}
		l, err := mail.ParseAddressList(f.Value)
		if err != nil {
			return false, ""
		}
		fd := check.OrgDomain(addrDomain(from.Address))
		for _, a := range l {
			if d := addrDomain(a.Address); d != "" && check.OrgDomain(d) != fd {
				return true, d
			}
		}
		return false, ""
	}},
	"from_display_address_mismatch": {"the From display name holds an email address in another domain than the real one (\"support@bank.example\" <x@elsewhere.example>)", func(in *Input) (bool, string) {
		from := in.fromAddress()
		if from == nil || !strings.Contains(from.Name, "@") {
			return false, ""
		}
		m := nameAddress.FindStringSubmatch(from.Name)
		if m == nil {
			return false, ""
		}
		if check.OrgDomain(m[1]) != check.OrgDomain(addrDomain(from.Address)) {
			return true, m[0]
		}
		return false, ""
	}},
	"link_text_mismatch": {"an HTML link whose visible text shows a web address in another domain than the one it goes to", func(in *Input) (bool, string) {
		return in.LinkTextMismatch != "", in.LinkTextMismatch
	}},
	"short_text_link": {"under 200 bytes of text in all (UTF-8: about 70 Japanese characters), with a link or address in it: a message that is little more than a link", func(in *Input) (bool, string) {
		if len(in.Hosts) == 0 || len(in.Attachments) > 0 {
			return false, ""
		}
		n := 0
		for _, t := range in.Texts {
			n += len(strings.TrimSpace(t))
		}
		return n > 0 && n < 200, ""
	}},
	"header_not_utf8": {"the Subject or From holds raw bytes that are not UTF-8: neither RFC 2047 encoded words nor the UTF-8 of RFC 6532", func(in *Input) (bool, string) {
		for _, f := range in.Headers {
			if (strings.EqualFold(f.Name, "Subject") || strings.EqualFold(f.Name, "From")) && !utf8.ValidString(f.Value) {
				return true, f.Name
			}
		}
		return false, ""
	}},
	"filler_line": {"a line holding only a run of 25 or more lower-case ASCII letters, the random filler bulk software adds", func(in *Input) (bool, string) {
		for _, t := range in.Texts {
			if l := fillerLine(t); l != "" {
				return true, l
			}
		}
		return false, ""
	}},
	"random_tag_line": {"a line holding only a token of 14 or more digits, letters and hyphens (after a short tag in parentheses, or none) that starts with a digit, has a hyphen, mixes upper and lower case, changes case inside a run of letters and alternates digits and letters 6 times or more: the per-copy tag bulk software stamps on each message to defeat checksums", func(in *Input) (bool, string) {
		for _, t := range in.Texts {
			if l := randomTagLine(t); l != "" {
				return true, l
			}
		}
		return false, ""
	}},
	"undeclared_8bit": {"a text part holds 8-bit text (at least 20 bytes, and 5% of the part) but declares no charset, or US-ASCII (RFC 2046 §4.1.2); HTML with a <meta> charset has declared one", func(in *Input) (bool, string) {
		return in.Undeclared8bit != "", in.Undeclared8bit
	}},
	"mislabeled_8bit": {"a text part that declares a charset other than US-ASCII holds 8-bit bytes while its transfer encoding is 7bit, declared or by default (RFC 2045 §6.1): a mail program that names the charset also labels the bytes 8bit, quoted-printable or base64", func(in *Input) (bool, string) {
		return in.Mislabeled8bit != "", in.Mislabeled8bit
	}},
	"html_relative_link": {"an HTML link, image or style sheet given as a relative path (\"images/top.gif\", \"faq.html\") in a document without <base>: it leads nowhere in a mail client, so the HTML is a web page or a word processor's file sent as saved", func(in *Input) (bool, string) {
		return in.RelativeLink != "", in.RelativeLink
	}},
	"control_chars": {"a text part holds 5 or more control characters (other than tab, line breaks, form feed and the ISO-2022 shifts ESC, SO, SI): binary data sent as text, such as a document pasted into the body, or a broken encoder", func(in *Input) (bool, string) {
		return in.ControlChars != "", in.ControlChars
	}},
	"msmail_without_mimeole": {"an X-MSMail-Priority field without X-MimeOLE: Outlook Express and Windows Live Mail write both, so the pair broken is software dressing as them (SquirrelMail and PHP scripts, which write the first alone and say so in X-Mailer, and Outlook and Exchange, which write Thread-Index, are exempt)", func(in *Input) (bool, string) {
		f := in.header("X-MSMail-Priority")
		if f == nil || in.header("X-MimeOLE") != nil || in.header("Thread-Index") != nil {
			return false, ""
		}
		if m := in.header("X-Mailer"); m != nil {
			mailer := strings.ToLower(strings.TrimSpace(m.Value))
			if strings.HasPrefix(mailer, "squirrelmail") || strings.HasPrefix(mailer, "php") {
				return false, ""
			}
		}
		return true, f.Value
	}},
	"many_visible_recipients": {"20 or more addresses in To and Cc", func(in *Input) (bool, string) {
		n := 0
		for _, f := range in.Headers {
			if strings.EqualFold(f.Name, "To") || strings.EqualFold(f.Name, "Cc") {
				if l, err := mail.ParseAddressList(f.Value); err == nil {
					n += len(l)
				}
			}
		}
		return n >= 20, ""
	}},
}

func builtinNames() []string {
	var out []string
	for k := range builtins {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// BuiltinDocs returns each built-in test's description, by name.
func BuiltinDocs() map[string]string {
	out := map[string]string{}
	for k, b := range builtins {
		out[k] = b.doc
	}
	return out
}

func (in *Input) header(name string) *Field {
	for i := range in.Headers {
		if strings.EqualFold(in.Headers[i].Name, name) {
			return &in.Headers[i]
		}
	}
	return nil
}

func (in *Input) date() (time.Time, bool) {
	f := in.header("Date")
	if f == nil {
		return time.Time{}, false
	}
	d, err := mail.ParseDate(f.Value)
	return d, err == nil
}

// firstLine returns the first line of t that, trimmed of surrounding
// blanks, satisfies is; or "".
func firstLine(t string, is func(line string) bool) string {
	for len(t) > 0 {
		line := t
		if i := strings.IndexByte(t, '\n'); i >= 0 {
			line, t = t[:i], t[i+1:]
		} else {
			t = ""
		}
		if line = strings.TrimSpace(line); is(line) {
			return line
		}
	}
	return ""
}

// fillerLine returns the first line of t that is, but for surrounding
// blanks, 25 or more lower-case ASCII letters, or "".
func fillerLine(t string) string {
	return firstLine(t, func(line string) bool {
		if len(line) < 25 {
			return false
		}
		for i := 0; i < len(line); i++ {
			if line[i] < 'a' || line[i] > 'z' {
				return false
			}
		}
		return true
	})
}

// randomTagLine returns the first line of t that is a per-copy tag
// ("4486eyRl1-291l12", "(g2-ss2)4483ZsiO6-368esUR2641hwjE2"), or "".
// Product and version names ("Galaxy-S24Ultra", "1080p-60Hz"), UUIDs and
// hashes (one case), API keys (a letter first) and PGP or base64 (no
// hyphen, other characters) fail one condition or another.
func randomTagLine(t string) string {
	return firstLine(t, func(line string) bool {
		if len(line) < 14 || len(line) > 200 {
			return false
		}
		tok := line
		if tok[0] == '(' {
			end := strings.IndexByte(tok, ')')
			if end < 2 || end > 21 || !tagChars(tok[1:end]) {
				return false
			}
			tok = tok[end+1:]
		}
		return isRandomTag(tok)
	})
}

func tagChars(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] != '-' && !isAlnum(s[i]) {
			return false
		}
	}
	return true
}

func isRandomTag(tok string) bool {
	if len(tok) < 14 || tok[0] < '0' || tok[0] > '9' || !tagChars(tok) || !strings.Contains(tok, "-") {
		return false
	}
	runs, caseChange, upper, lower := 0, false, false, false
	var prev byte // the previous character, 0 after a hyphen
	for i := 0; i < len(tok); i++ {
		c := tok[i]
		if c == '-' {
			prev = 0
			continue
		}
		digit := c <= '9'
		up := 'A' <= c && c <= 'Z'
		upper, lower = upper || up, lower || (!digit && !up)
		switch {
		case prev == 0 || (prev <= '9') != digit:
			runs++
		case !digit && ('A' <= prev && prev <= 'Z') != up:
			caseChange = true
		}
		prev = c
	}
	return upper && lower && caseChange && runs >= 6
}

// nameAddress finds an email address in a display name; group 1 is its
// domain.
var nameAddress = regexp.MustCompile(`(?i)[a-z0-9._%+-]+@((?:[a-z0-9-]+\.)+[a-z]{2,})`)

// fromAddress returns the first address of the From field, or nil.
func (in *Input) fromAddress() *mail.Address {
	f := in.header("From")
	if f == nil {
		return nil
	}
	l, err := mail.ParseAddressList(f.Value)
	if err != nil || len(l) == 0 {
		return nil
	}
	return l[0]
}

// addrDomain is the lower-case domain of an address, or "".
func addrDomain(addr string) string {
	i := strings.LastIndexByte(addr, '@')
	if i < 0 {
		return ""
	}
	return strings.TrimSuffix(strings.ToLower(addr[i+1:]), ".")
}
