// Package rulefile reads Mamori's rule files: YAML documents in a
// directory, each with a list of rules that look at one part of a message
// (a header, the decoded text, the raw body, the links, the attachment
// names and types, or a built-in test) and give a symbol with a score. It
// compiles everything once at load time and reports every problem with
// file, line and rule name; Set.Match runs the compiled rules on one
// message.
//
// Patterns are Go regular expressions (RE2 syntax): matching takes time
// linear in the text, whatever the pattern, so a rule cannot be made to
// hang on a crafted message, and each text is capped (Limits) before any
// rule sees it. docs/rules.md is the operator's reference.
//
// Meta rules (expressions over other symbols) are compiled here too but
// evaluated by the engine, after every check of the message has reported
// (they may combine SPF_FAIL with a body rule).
package rulefile
