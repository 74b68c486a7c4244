package expr

// stackSize is Eval's fixed operand stack. Sethi–Ullman ordering bounds
// the need by log2(leaves)+1, at most 12 within MaxLen; compile checks it.
const stackSize = 16

type opcode uint8

const (
	opConst opcode = iota // push consts[a]
	opSym                 // push present[a] as 1 or 0
	opScore               // push score[a], 0 when out of range
	opCount               // push how many of pool[a:b] are present (count() and A+B+C)
	opNot                 // top = top == 0
	opNeg                 // top = -top
	opBool                // top = top != 0
	opAdd                 // x y -> x+y
	opSub                 // x y -> x-y
	opSubR                // y x -> x-y (operands emitted in reverse)
	opMul                 // x y -> x*y
	opLt                  // x y -> x<y
	opLe
	opGt
	opGe
	opEq
	opNe
	opAnd // top == 0: top = 0, jump to a; else pop
	opOr  // top != 0: top = 1, jump to a; else pop
)

// instr is one instruction; a and b are its operands.
type instr struct {
	op   opcode
	a, b int32
}

var binOps = map[tokKind]opcode{
	tAdd: opAdd, tSub: opSub, tMul: opMul,
	tLt: opLt, tLe: opLe, tGt: opGt, tGe: opGe, tEq: opEq, tNe: opNe,
}

// mirror is the opcode computing the same value when the operands are on
// the stack in the opposite order. Each is exact in IEEE 754 (x+y and y+x
// round alike; x<y is y>x, NaN included), so the order of evaluation never
// shows in a result.
var mirror = [...]opcode{
	opAdd: opAdd, opMul: opMul, opSub: opSubR,
	opLt: opGt, opLe: opGe, opGt: opLt, opGe: opLe, opEq: opEq, opNe: opNe,
}

type codegen struct {
	code   []instr
	consts []float64
	pool   []int32
}

// setNeed records, bottom-up, how many stack slots each subtree needs
// when the deeper operand of an arithmetic or comparison operator is
// evaluated first. && and || pop their left value before the right side
// runs, so they need only the larger of the two.
func (g *codegen) setNeed(n *node) int {
	switch n.kind {
	case nUnary:
		n.need = g.setNeed(n.x)
	case nBinary:
		a, b := g.setNeed(n.x), g.setNeed(n.y)
		switch {
		case n.op == tAdd && presenceSum(n.x) && presenceSum(n.y):
			n.symSum = true
			n.need = 1
		case n.op == tAnd || n.op == tOr || a != b:
			n.need = max(a, b)
		default:
			n.need = a + 1
		}
	default:
		n.need = 1
	}
	return n.need
}

func (g *codegen) add(op opcode, a, b int) {
	g.code = append(g.code, instr{op: op, a: int32(a), b: int32(b)})
}

func (g *codegen) emit(n *node) {
	switch n.kind {
	case nNum:
		g.add(opConst, len(g.consts), 0)
		g.consts = append(g.consts, n.num)
	case nSym:
		g.add(opSym, n.slot, 0)
	case nScore:
		g.add(opScore, n.slot, 0)
	case nCount:
		start := len(g.pool)
		for _, s := range n.slots {
			g.pool = append(g.pool, int32(s))
		}
		g.add(opCount, start, len(g.pool))
	case nUnary:
		g.emit(n.x)
		if n.op == tNot {
			g.add(opNot, 0, 0)
		} else {
			g.add(opNeg, 0, 0)
		}
	case nBinary:
		if n.symSum {
			// A + B + C over symbols is how many of them are present:
			// one instruction instead of 2n-1. Sums of 0s and 1s are
			// exact in any order, so the value is the same.
			start := len(g.pool)
			g.pool = appendSumSlots(g.pool, n)
			g.add(opCount, start, len(g.pool))
			return
		}
		if n.op == tAnd || n.op == tOr {
			g.emit(n.x)
			jump := len(g.code)
			if n.op == tAnd {
				g.add(opAnd, 0, 0)
			} else {
				g.add(opOr, 0, 0)
			}
			g.emit(n.y)
			if !isBool(n.y) {
				g.add(opBool, 0, 0)
			}
			g.code[jump].a = int32(len(g.code))
			return
		}
		first, second, op := n.x, n.y, binOps[n.op]
		if n.y.need > n.x.need {
			first, second, op = n.y, n.x, mirror[op]
		}
		g.emit(first)
		g.emit(second)
		g.add(op, 0, 0)
	}
}

// presenceSum reports whether n is a symbol or a sum of symbols.
func presenceSum(n *node) bool { return n.kind == nSym || n.symSum }

// appendSumSlots appends the slots of a sum of symbols, repeats kept.
func appendSumSlots(pool []int32, n *node) []int32 {
	if n.kind == nSym {
		return append(pool, int32(n.slot))
	}
	return appendSumSlots(appendSumSlots(pool, n.x), n.y)
}

// isBool reports whether n's value is always 0 or 1.
func isBool(n *node) bool {
	switch n.kind {
	case nSym:
		return true
	case nNum:
		return n.num == 0 || n.num == 1
	case nUnary:
		return n.op == tNot
	case nBinary:
		return n.op == tAnd || n.op == tOr || isComparison(n.op)
	}
	return false
}

// Eval runs the program on one message. present[s] tells whether the
// symbol in slot s is in the message; score[s] is its score, read only by
// score() (pass nil when the expression has none). A slot past the end of
// a slice reads as absent, score 0. Eval does not allocate.
func (p *Program) Eval(present []bool, score []float64) bool {
	return p.value(present, score) != 0
}

// value is the expression's numeric value (1 or 0 for a boolean one).
func (p *Program) value(present []bool, score []float64) float64 {
	var st [stackSize]float64
	sp := 0 // st[sp-1] is the top
	code := p.code
	for pc := 0; pc < len(code); pc++ {
		in := code[pc]
		switch in.op {
		case opConst:
			st[sp] = p.consts[in.a]
			sp++
		case opSym:
			v := 0.0
			if i := int(in.a); i < len(present) && present[i] {
				v = 1
			}
			st[sp] = v
			sp++
		case opScore:
			v := 0.0
			if i := int(in.a); i < len(score) {
				v = score[i]
			}
			st[sp] = v
			sp++
		case opCount:
			n := 0
			for _, s := range p.pool[in.a:in.b] {
				if int(s) < len(present) && present[s] {
					n++
				}
			}
			st[sp] = float64(n)
			sp++
		case opNot:
			st[sp-1] = b2f(st[sp-1] == 0)
		case opNeg:
			st[sp-1] = -st[sp-1]
		case opBool:
			st[sp-1] = b2f(st[sp-1] != 0)
		case opAdd:
			sp--
			st[sp-1] += st[sp]
		case opSub:
			sp--
			st[sp-1] -= st[sp]
		case opSubR:
			sp--
			st[sp-1] = st[sp] - st[sp-1]
		case opMul:
			sp--
			st[sp-1] *= st[sp]
		case opLt:
			sp--
			st[sp-1] = b2f(st[sp-1] < st[sp])
		case opLe:
			sp--
			st[sp-1] = b2f(st[sp-1] <= st[sp])
		case opGt:
			sp--
			st[sp-1] = b2f(st[sp-1] > st[sp])
		case opGe:
			sp--
			st[sp-1] = b2f(st[sp-1] >= st[sp])
		case opEq:
			sp--
			st[sp-1] = b2f(st[sp-1] == st[sp])
		case opNe:
			sp--
			st[sp-1] = b2f(st[sp-1] != st[sp])
		case opAnd:
			if st[sp-1] == 0 {
				st[sp-1] = 0
				pc = int(in.a) - 1
			} else {
				sp--
			}
		case opOr:
			if st[sp-1] != 0 {
				st[sp-1] = 1
				pc = int(in.a) - 1
			} else {
				sp--
			}
		}
	}
	return st[0]
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
