package expr

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Limits on what Compile accepts.
const (
	MaxLen   = 4096 // bytes of source
	MaxDepth = 64   // nested parentheses and unary operators
	maxName  = 64   // characters of a symbol name or count() pattern
)

type nodeKind uint8

const (
	nNum    nodeKind = iota
	nSym             // presence of a symbol
	nScore           // score(S)
	nCount           // count(P)
	nUnary           // op is tNot or tSub
	nBinary          // op is any binary operator
)

// node is the syntax tree Compile builds and then compiles to code.
type node struct {
	kind nodeKind
	op   tokKind
	pos  Pos
	num  float64 // nNum
	name string  // nSym, nScore: the symbol; nCount: the pattern
	x, y *node

	// Filled by resolve.
	slot  int   // nSym, nScore
	slots []int // nCount, ascending
	// Filled by codegen: stack slots needed to evaluate this subtree, and
	// whether it is a sum of symbols (compiled to one count).
	need   int
	symSum bool
}

var functions = map[string]bool{"count": true, "score": true}

// wordOps maps the words people reach for to the operators.
var wordOps = map[string]string{"and": "&&", "or": "||", "not": "!"}

type parser struct {
	lx    *lexer
	tok   token
	depth int
}

// parse parses src into a tree. It reports the first syntax error only:
// after one, the rest of the text is rarely worth guessing at.
func parse(src string) (*node, *Error) {
	if len(src) > MaxLen {
		return nil, &Error{Pos: Pos{Line: 1, Col: 1}, Kind: ErrLimit,
			Msg: fmt.Sprintf("expression is %d bytes long, more than the limit of %d", len(src), MaxLen)}
	}
	p := &parser{lx: newLexer(src)}
	if err := p.next(); err != nil {
		return nil, err
	}
	if p.tok.kind == tEOF {
		return nil, syntaxErr(p.tok.pos, "empty expression")
	}
	n, err := p.or()
	if err != nil {
		return nil, err
	}
	if p.tok.kind != tEOF {
		return nil, p.unexpectedAfterOperand()
	}
	return n, nil
}

func (p *parser) next() *Error {
	t, err := p.lx.next()
	if err != nil {
		return err
	}
	p.tok = t
	return nil
}

func (p *parser) or() (*node, *Error) {
	return p.leftAssoc(p.and, tOr)
}

func (p *parser) and() (*node, *Error) {
	return p.leftAssoc(p.cmp, tAnd)
}

func (p *parser) sum() (*node, *Error) {
	return p.leftAssoc(p.product, tAdd, tSub)
}

func (p *parser) product() (*node, *Error) {
	return p.leftAssoc(p.unary, tMul)
}

// leftAssoc parses operand { op operand } for the given operators into a
// left-leaning tree, iterating rather than recursing along the chain.
func (p *parser) leftAssoc(operand func() (*node, *Error), ops ...tokKind) (*node, *Error) {
	x, err := operand()
	if err != nil {
		return nil, err
	}
	for isOneOf(p.tok.kind, ops) {
		t := p.tok
		if err := p.next(); err != nil {
			return nil, err
		}
		y, err := operand()
		if err != nil {
			return nil, err
		}
		x = &node{kind: nBinary, op: t.kind, pos: t.pos, x: x, y: y}
	}
	return x, nil
}

func isOneOf(k tokKind, ks []tokKind) bool {
	for _, o := range ks {
		if k == o {
			return true
		}
	}
	return false
}

func isComparison(k tokKind) bool { return tLt <= k && k <= tNe }

func (p *parser) cmp() (*node, *Error) {
	x, err := p.sum()
	if err != nil {
		return nil, err
	}
	if !isComparison(p.tok.kind) {
		return x, nil
	}
	t := p.tok
	if err := p.next(); err != nil {
		return nil, err
	}
	y, err := p.sum()
	if err != nil {
		return nil, err
	}
	if isComparison(p.tok.kind) {
		return nil, syntaxErr(p.tok.pos, fmt.Sprintf("comparisons do not chain: %s follows %s at %s; join them with && or add parentheses",
			tokNames[p.tok.kind], tokNames[t.kind], t.pos))
	}
	return &node{kind: nBinary, op: t.kind, pos: t.pos, x: x, y: y}, nil
}

// enter counts one level of nesting at pos.
func (p *parser) enter(pos Pos) *Error {
	p.depth++
	if p.depth > MaxDepth {
		return &Error{Pos: pos, Kind: ErrLimit, Msg: fmt.Sprintf("expression nested deeper than %d levels", MaxDepth)}
	}
	return nil
}

func (p *parser) unary() (*node, *Error) {
	if p.tok.kind != tNot && p.tok.kind != tSub {
		return p.primary()
	}
	t := p.tok
	if err := p.enter(t.pos); err != nil {
		return nil, err
	}
	if err := p.next(); err != nil {
		return nil, err
	}
	x, err := p.unary()
	if err != nil {
		return nil, err
	}
	p.depth--
	return &node{kind: nUnary, op: t.kind, pos: t.pos, x: x}, nil
}

func (p *parser) primary() (*node, *Error) {
	t := p.tok
	switch t.kind {
	case tNumber:
		v, err := strconv.ParseFloat(t.text, 64)
		if err != nil || math.IsInf(v, 0) {
			return nil, syntaxErr(t.pos, fmt.Sprintf("number %s is out of range", t.text))
		}
		return &node{kind: nNum, pos: t.pos, num: v}, p.next()
	case tLParen:
		if err := p.enter(t.pos); err != nil {
			return nil, err
		}
		if err := p.next(); err != nil {
			return nil, err
		}
		x, err := p.or()
		if err != nil {
			return nil, err
		}
		if p.tok.kind != tRParen {
			return nil, syntaxErr(p.tok.pos, fmt.Sprintf(`expected ")" to close "(" at %s, found %s`, t.pos, p.tok.describe()))
		}
		p.depth--
		return x, p.next()
	case tIdent:
		if err := p.next(); err != nil {
			return nil, err
		}
		switch t.text {
		case "and", "or", "not":
			return nil, syntaxErr(t.pos, fmt.Sprintf(`%q is not an operator: write %s`, t.text, wordOps[t.text]))
		case "true", "false":
			return nil, syntaxErr(t.pos, fmt.Sprintf(`there is no %q: write 1 or 0`, t.text))
		}
		if p.tok.kind == tLParen {
			return p.call(t)
		}
		if functions[t.text] {
			return nil, syntaxErr(t.pos, fmt.Sprintf(`%s is a function: write %s`, t.text, usage(t.text)))
		}
		return &node{kind: nSym, pos: t.pos, name: t.text}, nil
	}
	return nil, syntaxErr(t.pos, "expected a symbol, number, function, \"(\", \"!\" or \"-\", found "+t.describe())
}

func usage(fn string) string {
	if fn == "count" {
		return "count(PATTERN), as in count(URIBL_*)"
	}
	return "score(SYMBOL), as in score(SPF_FAIL)"
}

// call parses a function call; p.tok is its "(".
func (p *parser) call(name token) (*node, *Error) {
	open := p.tok
	if !functions[name.text] {
		if strings.ToUpper(name.text) == name.text { // a symbol, then "("
			return nil, syntaxErr(open.pos, fmt.Sprintf(`unexpected "(" after symbol %s: the functions are count and score`, name.text))
		}
		return nil, syntaxErr(name.pos, fmt.Sprintf("unknown function %q: the functions are count and score", name.text))
	}
	var arg token
	var err *Error
	if name.text == "count" {
		arg, err = p.lx.pattern()
	} else {
		if err = p.next(); err == nil && p.tok.kind != tIdent {
			err = syntaxErr(p.tok.pos, "expected a symbol name in score(), found "+p.tok.describe())
		}
		arg = p.tok
	}
	if err != nil {
		return nil, err
	}
	if err := p.next(); err != nil {
		return nil, err
	}
	if p.tok.kind != tRParen {
		return nil, syntaxErr(p.tok.pos, fmt.Sprintf(`expected ")" to close %s( at %s, found %s`, name.text, open.pos, p.tok.describe()))
	}
	kind := nScore
	if name.text == "count" {
		kind = nCount
	}
	return &node{kind: kind, pos: arg.pos, name: arg.text}, p.next()
}

// unexpectedAfterOperand explains a token where an operator or the end
// was expected.
func (p *parser) unexpectedAfterOperand() *Error {
	t := p.tok
	switch {
	case t.kind == tIdent && (t.text == "and" || t.text == "or"):
		return syntaxErr(t.pos, fmt.Sprintf(`%q is not an operator: write %s`, t.text, wordOps[t.text]))
	case t.kind == tRParen:
		return syntaxErr(t.pos, `unexpected ")": no "(" is open`)
	}
	return syntaxErr(t.pos, "expected an operator or the end of the expression, found "+t.describe())
}

// String renders the tree fully parenthesised, as an S-expression:
// (&& A (! B)). Tests use it to check precedence and associativity.
func (n *node) String() string {
	var b strings.Builder
	n.write(&b)
	return b.String()
}

func (n *node) write(b *strings.Builder) {
	switch n.kind {
	case nNum:
		b.WriteString(strconv.FormatFloat(n.num, 'g', -1, 64))
	case nSym:
		b.WriteString(n.name)
	case nScore:
		b.WriteString("score(" + n.name + ")")
	case nCount:
		b.WriteString("count(" + n.name + ")")
	case nUnary:
		b.WriteString("(" + opText[n.op] + " ")
		n.x.write(b)
		b.WriteString(")")
	case nBinary:
		b.WriteString("(" + opText[n.op] + " ")
		n.x.write(b)
		b.WriteString(" ")
		n.y.write(b)
		b.WriteString(")")
	}
}
