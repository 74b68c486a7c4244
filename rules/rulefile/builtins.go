package rulefile

import (
	"net/mail"
	"slices"
	"strings"
	"time"
	"unicode"
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
	"image_only": {"images with (almost) no text: under 20 characters of text in all", func(in *Input) (bool, string) {
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
