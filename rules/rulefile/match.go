package rulefile

import (
	"context"
	"strings"

	"github.com/mamori-mail/mamori/rules/check"
	"github.com/mamori-mail/mamori/scanners/mimepart"
)

// Input is what the rules see of one message, prepared once (Prepare) and
// shared by every rule.
type Input struct {
	// Headers are the fields with RFC 2047 words decoded and folds
	// unfolded, in order.
	Headers []Field
	// Texts are the decoded text parts as UTF-8, HTML as visible text, each
	// capped at Limits.Text.
	Texts []string
	// HTMLParts and TextParts count the text/html and text/plain parts;
	// Images counts image parts.
	HTMLParts, TextParts, Images int
	// Raw is the start of the body as received, capped at Limits.Raw.
	Raw []byte
	// Hosts are the hosts the text parts link to (lower-case ASCII).
	Hosts []string
	// Attachments are the attachments' names and declared types.
	Attachments []Attachment
	// InvisibleText reports text hidden from the reader in HTML parts.
	InvisibleText bool
	// LinkTextMismatch is the first HTML link whose visible text shows a
	// host other than its target's ("shown → target"), or "".
	LinkTextMismatch string
	// Undeclared8bit names the first text part that holds 8-bit text
	// without declaring a charset other than US-ASCII ("1.2: 143 of 2048
	// bytes"), or "".
	Undeclared8bit string
	// Mislabeled8bit names the first text part with a declared charset
	// other than US-ASCII that holds 8-bit bytes while its transfer
	// encoding is 7bit, declared or by default ("part 1: 10 8-bit bytes,
	// charset iso-8859-1"), or "".
	Mislabeled8bit string
	// RelativeLink is the first link or image source in an HTML part that
	// is a relative path ("images/top.gif") in a document without a
	// <base> element, or "".
	RelativeLink string
	// ControlChars names the first text part whose text holds
	// minControlChars or more control characters ("part 1: 12"), or "".
	ControlChars string
	// Client is the SMTP client, for the client_* and helo_* tests.
	Client Client

	// Case-folded texts for the prefilter, made on first use.
	foldedTexts, foldedRaw, foldedHeaders string
}

// Field is one decoded header field.
type Field struct{ Name, Value string }

// Attachment is one attached file.
type Attachment struct{ Name, Type string }

// Limits bound what the rules read of one message.
type Limits struct {
	Text int64 // decoded text of the whole message, all parts; default 256 KiB
	Raw  int64 // of the raw body; default 256 KiB
}

func (l Limits) withDefaults() Limits {
	if l.Text <= 0 {
		l.Text = 256 << 10
	}
	if l.Raw <= 0 {
		l.Raw = 256 << 10
	}
	return l
}

// DecodeHeaders turns the message's fields into Fields: unfolded, RFC 2047
// words decoded (any charset x/text knows), undecodable words kept as
// they are.
func DecodeHeaders(hs []check.Header) []Field {
	out := make([]Field, len(hs))
	for i, h := range hs {
		v := h.Value()
		out[i] = Field{Name: h.Name, Value: mimepart.DecodeWords(v)}
	}
	return out
}

// Match runs every rule but meta rules on in and returns the hits, in rule
// order. Each pattern runs once per text it applies to, and stops at its
// first match.
func (s *Set) Match(in *Input) []Hit {
	hits, _ := s.MatchContext(context.Background(), in)
	return hits
}

// MatchContext is Match that stops between rules once ctx is done, and
// then returns the hits so far with ctx's error: a run the engine has
// given up on (its timeout) does not go on using the CPU.
func (s *Set) MatchContext(ctx context.Context, in *Input) ([]Hit, error) {
	var hits []Hit
	for _, r := range s.Rules {
		if err := ctx.Err(); err != nil {
			return hits, err
		}
		if h, ok := r.match(in); ok {
			hits = append(hits, h)
		}
	}
	return hits, nil
}

func (r *Rule) match(in *Input) (Hit, bool) {
	hit := func(text string) (Hit, bool) { return Hit{Rule: r, Text: clip(text, 80)}, true }
	switch r.Kind {
	case KindHeader:
		if r.Header == "ALL" && !r.Negate && !mayMatch(r.atoms, in.folded(&in.foldedHeaders, in.allHeaders)) {
			return Hit{}, false
		}
		return r.matchHeader(in)
	case KindBody:
		if !mayMatch(r.atoms, in.folded(&in.foldedTexts, in.allTexts)) {
			return Hit{}, false
		}
		for _, t := range in.Texts {
			if loc := r.Pattern.FindStringIndex(t); loc != nil {
				return hit(t[loc[0]:loc[1]])
			}
		}
	case KindRawBody:
		if !mayMatch(r.atoms, in.folded(&in.foldedRaw, func() string { return string(in.Raw) })) {
			return Hit{}, false
		}
		if loc := r.Pattern.FindIndex(in.Raw); loc != nil {
			return hit(string(in.Raw[loc[0]:loc[1]]))
		}
	case KindURI:
		for _, h := range in.Hosts {
			if r.Pattern.MatchString(h) {
				return hit(h)
			}
		}
	case KindAttachment:
		for _, a := range in.Attachments {
			if r.Pattern.MatchString(a.Name) {
				return hit(a.Name)
			}
		}
	case KindAttachmentType:
		for _, a := range in.Attachments {
			if r.Pattern.MatchString(a.Type) {
				return hit(a.Type)
			}
		}
	case KindBuiltin:
		if ok, text := builtins[r.Builtin].test(in); ok {
			return hit(text)
		}
	}
	return Hit{}, false
}

// folded returns the case-folded text for the prefilter, computing it
// once per message.
func (in *Input) folded(cache *string, text func() string) string {
	if *cache == "" {
		*cache = fold(text()) + "\x00" // never empty once computed
	}
	return *cache
}

func (in *Input) allTexts() string { return strings.Join(in.Texts, "\n") }

func (in *Input) allHeaders() string {
	var b strings.Builder
	for _, f := range in.Headers {
		b.WriteString(f.Name)
		b.WriteString(": ")
		b.WriteString(f.Value)
		b.WriteByte('\n')
	}
	return b.String()
}

func (r *Rule) matchHeader(in *Input) (Hit, bool) {
	found := false
	for _, f := range in.Headers {
		if r.Header != "ALL" && !strings.EqualFold(f.Name, r.Header) {
			continue
		}
		found = true
		if r.Exists {
			break
		}
		text := f.Value
		if r.Header == "ALL" {
			text = f.Name + ": " + f.Value
		}
		if loc := r.Pattern.FindStringIndex(text); loc != nil {
			if r.Negate {
				return Hit{}, false
			}
			return Hit{Rule: r, Text: clip(text[loc[0]:loc[1]], 80)}, true
		}
	}
	switch {
	case r.Exists:
		return Hit{Rule: r}, found != r.Negate
	case r.Negate:
		return Hit{Rule: r}, true
	}
	return Hit{}, false
}
