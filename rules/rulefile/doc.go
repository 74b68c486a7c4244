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
// Meta rules (expressions over other symbols, package rules/expr) are only
// read here: compiling one needs every symbol name the configured checks
// can produce, and evaluating it needs every check's result (a meta rule
// may combine SPF_FAIL with a body rule), so both belong to the engine.
// That wiring, with the rules check, reload on change and the tools, is
// the open part of issue 6.
package rulefile
