// Package expr is the expression language of meta rules: a rule whose value
// is computed from the symbols other rules and checks reported for the same
// message. Operators write expressions in rule files:
//
//	meta: SUBJ_ALL_CAPS && (HTML_ONLY || !MISSING_DATE)
//	meta: (FREE_OFFER + URGENT_WORDS + MONEY_SYMBOLS + CLICK_HERE) >= 3
//	meta: count(URIBL_*) >= 2 && score(SPF_FAIL) > 1
//
// Compile turns the text into a Program once, at load time. Program.Eval
// runs it once per message, without allocating.
//
// # Grammar
//
// In EBNF (the notation of the Go specification). White space (space,
// tab, CR, LF) separates tokens and is otherwise ignored, so an expression
// may span the lines of a YAML block scalar.
//
//	Expr    = Or .
//	Or      = And { "||" And } .
//	And     = Cmp { "&&" Cmp } .
//	Cmp     = Sum [ CmpOp Sum ] .                  (not chainable)
//	CmpOp   = ">" | ">=" | "<" | "<=" | "==" | "!=" .
//	Sum     = Product { ( "+" | "-" ) Product } .
//	Product = Unary { "*" Unary } .
//	Unary   = ( "!" | "-" ) Unary | Primary .
//	Primary = Symbol | Number | "(" Expr ")"
//	        | "count" "(" Pattern ")"
//	        | "score" "(" Symbol ")" .
//	Symbol  = Upper { Upper | Digit | "_" } .      (at most 64 characters)
//	Pattern = PChar { PChar } .                    (at most 64 characters)
//	PChar   = Upper | Digit | "_" | "*" .
//	Number  = Digit { Digit } [ "." Digit { Digit } ] .
//	Upper   = "A" … "Z" .
//	Digit   = "0" … "9" .
//
// Precedence, tightest first: unary ! and -, then *, then binary + and -,
// then comparisons, then &&, then ||. Binary operators associate to the
// left; comparisons do not associate at all: "A < B < C" is an error
// (write "A < B && B < C"), because C's reading ((A < B) < C) is never
// what was meant.
//
// # Semantics
//
// There is one type of value, a float64; a boolean is 1 (true) or 0
// (false), and any value used as a boolean is true when it is not zero.
//
//   - A symbol is 1 when the message has it, whatever its score (0 and
//     negative scores included), and 0 otherwise. Hence "A + B + C >= 2"
//     reads "at least two of A, B, C".
//   - score(S) is S's score in this message, 0 when S is absent. It is a
//     number, not a presence test: "score(S)" alone is false for a present
//     S that scored 0; write "S" for presence and compare scores
//     explicitly ("score(SPF_FAIL) > 1").
//   - count(P) is how many symbols whose names match the glob P are
//     present. "*" stands for any run of characters, everything else is
//     literal: count(URIBL_*), count(*_FAIL), count(RBL_*_SBL). A glob,
//     not a regular expression, so there is nothing to backtrack on, and P
//     is expanded against the known names once, at compile time: Eval
//     only walks a slot list. A pattern that matches no known name is an
//     error, like an unknown symbol. Beware that a meta rule whose own
//     name matches its pattern depends on itself, which Order reports as
//     a cycle: name it outside the pattern (URIBL_MULTI is in URIBL_*,
//     MULTI_URIBL is not).
//   - ! gives 1 for 0 and 0 otherwise. && and || give 0 or 1 and stop
//     early: the right side is not evaluated when the left decides.
//   - + - * are float64 arithmetic. There is no division: nothing to divide
//     by zero. Comparisons give 1 or 0; == and != compare exactly.
//   - The whole expression is true when its value is not zero.
//
// # Names
//
// Symbols follow the project's naming rule, [A-Z][A-Z0-9_]{0,63}, the
// rule rule files and checks enforce for the names they report. Lower-case
// words are reserved for the functions count and score, so a lower-case
// symbol is an error that suggests the upper-case name, and "and", "or",
// "not" get a hint to write &&, ||, !.
//
// Compile asks the caller's Symbols which names exist and which slot each
// occupies; an unknown name is an error at its position, with a
// suggestion from Symbols.Names when one is close ("did you mean
// SUBJ_ALL_CAPS?"). Table is a ready-made Symbols.
//
// # Evaluation
//
// A Program evaluates against two slices indexed by slot: present (does
// the message have the symbol) and score (its score, read only by score()).
// Slices rather than an interface, because the engine holds a message's
// symbols in a per-message table anyway: indexing is a bounds check and a
// load, where an interface method is an indirect call per symbol that the
// compiler cannot inline. A slot beyond a slice's length reads as absent
// (score 0), so slices sized for an older, smaller table stay safe. To
// chain meta rules, evaluate them in the order Order gives and record each
// result in present (and score) before evaluating the rules that use it.
//
// The compiled form is postfix code for a small stack machine. && and ||
// compile to conditional jumps. Operands of the other binary operators
// are emitted deeper-subtree first (Sethi–Ullman order; every operator
// has an exact mirror: a+b = b+a, a<b = b>a, and a reversed subtraction),
// so the stack never needs more than log2(leaves)+1 slots: 12 for the
// largest expression the 4 KB limit lets through, and Eval keeps a fixed
// 16-slot array on the Go stack instead of allocating. A sum of symbols
// (A + B + C) compiles to a single counting instruction, as count() does.
// A typical six-symbol rule evaluates in about 40 ns (BenchmarkEval).
//
// # Limits and errors
//
// Compile rejects a source longer than MaxLen (4096) bytes and nesting
// (parentheses and unary operators) deeper than MaxDepth (64), so a rule
// file cannot blow the stack. Every error is an *Error carrying the line
// and column (1-based; columns count characters) and a message saying what
// was expected, for example
//
//	expr: 1:15: expected ")" to close "(" at 1:3, found end of expression
//	expr: 1:1: unknown symbol "SUBJ_ALLCAPS" (did you mean SUBJ_ALL_CAPS?)
//
// A syntax error stops compilation. Name errors are all reported (up to
// ten, joined with errors.Join), so one run lists every typo.
//
// Program.Deps lists the symbols an expression reads. Order takes each
// meta rule's dependencies and returns an evaluation order, or an error
// naming a cycle ("A -> B -> A").
package expr
