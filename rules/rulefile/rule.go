package rulefile

import (
	"fmt"
	"regexp"
	"strings"
)

// Kind is what a rule looks at.
type Kind uint8

const (
	KindHeader         Kind = iota // one header (decoded), or all of them
	KindBody                       // decoded text of the text parts (HTML as visible text)
	KindRawBody                    // the body as received
	KindURI                        // each link of the text parts
	KindAttachment                 // each attachment's file name
	KindAttachmentType             // each attachment's declared MIME type
	KindBuiltin                    // a test written in Go (builtins.go)
	KindMeta                       // an expression over other symbols
)

var kindNames = [...]string{"header", "body", "rawbody", "uri", "attachment", "attachment_type", "builtin", "meta"}

func (k Kind) String() string { return kindNames[k] }

// Rule is one compiled rule.
type Rule struct {
	Name        string
	Description string
	Score       float64
	Kind        Kind
	// Header names the header of a header rule; "ALL" means every header,
	// matched as "Name: value" lines.
	Header string
	// Exists makes a header rule test presence rather than a pattern.
	Exists bool
	// Negate turns the rule on when the pattern does not match (for
	// header rules: also when the header is absent).
	Negate  bool
	Pattern *regexp.Regexp
	// atoms are the prefilter's literals (prefilter.go); nil: always run.
	atoms   []string
	Builtin string
	Meta    string
	// MetaLine is the line the meta expression starts on, so that an
	// error at the expression's line 2 points at the file's right line.
	MetaLine int
	// Examples are message files (relative to the rule file) that must
	// (Match) or must not (NoMatch) fire the rule: mamori rules test.
	Examples Examples
	// File and Line locate the rule for errors and --explain.
	File string
	Line int
	// Base is set for rules of the embedded default set (Source.Base).
	Base bool
}

// Prefiltered reports whether the rule runs only on texts that contain
// one of the literals its pattern requires; a rule that is not runs its
// pattern over every text of every message (mamori rules lint says so).
func (r *Rule) Prefiltered() bool { return r.atoms != nil }

// Examples are a rule's regression tests.
type Examples struct {
	Match   []string `yaml:"match"`
	NoMatch []string `yaml:"no_match"`
}

// Hit is a rule that fired on a message, with what it saw.
type Hit struct {
	Rule *Rule
	// Text is the matched text (at most 80 bytes, for --explain and the
	// audit record); empty for presence tests and builtins without one.
	Text string
}

// Detail formats a hit for a symbol's detail.
func (h Hit) Detail() string {
	if h.Text == "" {
		return h.Rule.Kind.String()
	}
	return fmt.Sprintf("%s: %q", h.Rule.Kind, h.Text)
}

// clip shortens s to n bytes at a rune boundary.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !isRuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

func isRuneStart(b byte) bool { return b&0xC0 != 0x80 }

// normalizeHeader is the canonical header name a rule refers to.
func normalizeHeader(h string) string {
	if strings.EqualFold(h, "ALL") {
		return "ALL"
	}
	return h
}
