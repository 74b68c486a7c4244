package expr

import (
	"fmt"
	"unicode/utf8"
)

// Pos is a position in an expression's source.
type Pos struct {
	Offset int // byte offset, 0-based
	Line   int // 1-based
	Col    int // 1-based, in characters
}

func (p Pos) String() string { return fmt.Sprintf("%d:%d", p.Line, p.Col) }

type tokKind uint8

const (
	tEOF tokKind = iota
	tIdent
	tNumber
	tPattern // the argument of count(), scanned on the parser's request
	tLParen
	tRParen
	tNot
	tAnd
	tOr
	tAdd
	tSub
	tMul
	tLt
	tLe
	tGt
	tGe
	tEq
	tNe
)

var tokNames = [...]string{
	tEOF: "end of expression", tIdent: "name", tNumber: "number", tPattern: "pattern",
	tLParen: `"("`, tRParen: `")"`, tNot: `"!"`, tAnd: `"&&"`, tOr: `"||"`,
	tAdd: `"+"`, tSub: `"-"`, tMul: `"*"`,
	tLt: `"<"`, tLe: `"<="`, tGt: `">"`, tGe: `">="`, tEq: `"=="`, tNe: `"!="`,
}

// opText is the operator's spelling, for String forms.
var opText = [...]string{
	tNot: "!", tAnd: "&&", tOr: "||", tAdd: "+", tSub: "-", tMul: "*",
	tLt: "<", tLe: "<=", tGt: ">", tGe: ">=", tEq: "==", tNe: "!=",
}

type token struct {
	kind tokKind
	pos  Pos
	text string // identifier, number or pattern text
}

// describe names the token for "found …" in messages.
func (t token) describe() string {
	switch t.kind {
	case tIdent, tNumber, tPattern:
		return fmt.Sprintf("%q", t.text)
	}
	return tokNames[t.kind]
}

// lexer scans src on demand; the parser pulls one token at a time, which
// lets it ask for a pattern instead of a token inside count( ).
type lexer struct {
	src  string
	off  int
	line int
	col  int
}

func newLexer(src string) *lexer { return &lexer{src: src, line: 1, col: 1} }

func (l *lexer) pos() Pos { return Pos{Offset: l.off, Line: l.line, Col: l.col} }

// advance moves over n ASCII bytes on the current line.
func (l *lexer) advance(n int) {
	l.off += n
	l.col += n
}

func (l *lexer) skipSpace() {
	for l.off < len(l.src) {
		switch l.src[l.off] {
		case '\n':
			l.off++
			l.line++
			l.col = 1
		case ' ', '\t', '\r':
			l.advance(1)
		default:
			return
		}
	}
}

func (l *lexer) peekByte(i int) byte {
	if l.off+i < len(l.src) {
		return l.src[l.off+i]
	}
	return 0
}

func isUpper(c byte) bool { return 'A' <= c && c <= 'Z' }
func isLower(c byte) bool { return 'a' <= c && c <= 'z' }
func isDigit(c byte) bool { return '0' <= c && c <= '9' }
func isWord(c byte) bool  { return isUpper(c) || isLower(c) || isDigit(c) || c == '_' }

// next scans one token.
func (l *lexer) next() (token, *Error) {
	l.skipSpace()
	pos := l.pos()
	if l.off >= len(l.src) {
		return token{kind: tEOF, pos: pos}, nil
	}
	c := l.src[l.off]
	switch {
	case isUpper(c) || isLower(c) || c == '_':
		n := 1
		for l.off+n < len(l.src) && isWord(l.src[l.off+n]) {
			n++
		}
		t := token{kind: tIdent, pos: pos, text: l.src[l.off : l.off+n]}
		l.advance(n)
		return t, nil
	case isDigit(c):
		n := 1
		for l.off+n < len(l.src) && isDigit(l.src[l.off+n]) {
			n++
		}
		if l.off+n < len(l.src) && l.src[l.off+n] == '.' {
			n++
			if l.off+n >= len(l.src) || !isDigit(l.src[l.off+n]) {
				l.advance(n)
				return token{}, syntaxErr(l.pos(), `expected a digit after "." in a number`)
			}
			for l.off+n < len(l.src) && isDigit(l.src[l.off+n]) {
				n++
			}
		}
		t := token{kind: tNumber, pos: pos, text: l.src[l.off : l.off+n]}
		l.advance(n)
		return t, nil
	}
	kind, n := tEOF, 1
	switch c {
	case '(':
		kind = tLParen
	case ')':
		kind = tRParen
	case '+':
		kind = tAdd
	case '-':
		kind = tSub
	case '*':
		kind = tMul
	case '!':
		kind = tNot
		if l.peekByte(1) == '=' {
			kind, n = tNe, 2
		}
	case '<':
		kind = tLt
		if l.peekByte(1) == '=' {
			kind, n = tLe, 2
		}
	case '>':
		kind = tGt
		if l.peekByte(1) == '=' {
			kind, n = tGe, 2
		}
	case '=':
		if l.peekByte(1) != '=' {
			return token{}, syntaxErr(pos, `unexpected "=": write == to compare`)
		}
		kind, n = tEq, 2
	case '&':
		if l.peekByte(1) != '&' {
			return token{}, syntaxErr(pos, `unexpected "&": write && for "and"`)
		}
		kind, n = tAnd, 2
	case '|':
		if l.peekByte(1) != '|' {
			return token{}, syntaxErr(pos, `unexpected "|": write || for "or"`)
		}
		kind, n = tOr, 2
	case '.':
		return token{}, syntaxErr(pos, `unexpected ".": write a number with a leading digit, as in 0.5`)
	case '/':
		return token{}, syntaxErr(pos, `unexpected "/": there is no division`)
	default:
		return token{}, syntaxErr(pos, "unexpected "+describeRune(l.src[l.off:]))
	}
	l.advance(n)
	return token{kind: kind, pos: pos}, nil
}

// pattern scans count()'s argument: a run of [A-Za-z0-9_*] (case is
// checked later, with the names). It reports what went wrong when there is
// none.
func (l *lexer) pattern() (token, *Error) {
	l.skipSpace()
	pos := l.pos()
	n := 0
	for l.off+n < len(l.src) && (isWord(l.src[l.off+n]) || l.src[l.off+n] == '*') {
		n++
	}
	if n > 0 {
		t := token{kind: tPattern, pos: pos, text: l.src[l.off : l.off+n]}
		l.advance(n)
		return t, nil
	}
	switch l.peekByte(0) {
	case '/':
		return token{}, syntaxErr(pos, "count takes a glob such as URIBL_*, not a regular expression")
	case '"', '\'':
		return token{}, syntaxErr(pos, "write count's pattern without quotes, as in count(URIBL_*)")
	}
	found := "end of expression"
	if l.off < len(l.src) {
		found = describeRune(l.src[l.off:])
	}
	return token{}, syntaxErr(pos, "expected a symbol pattern such as URIBL_* in count(), found "+found)
}

// describeRune quotes the character s starts with.
func describeRune(s string) string {
	r, size := utf8.DecodeRuneInString(s)
	if r == utf8.RuneError && size <= 1 {
		return fmt.Sprintf("byte 0x%02x (not UTF-8)", s[0])
	}
	return fmt.Sprintf("character %q", r)
}
