package spf

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// ErrSyntax is what every *SyntaxError matches with errors.Is: the record
// does not follow the ABNF of RFC 7208 §12, which makes the result
// permerror wherever the error is (§4.6).
var ErrSyntax = errors.New("spf: syntax error")

// SyntaxError says which term of a record is malformed and why.
type SyntaxError struct {
	// Term is the offending term as written ("" for the record as a whole).
	Term string
	// Reason says what is wrong with it.
	Reason string
}

func (e *SyntaxError) Error() string {
	if e.Term == "" {
		return "spf: syntax error: " + e.Reason
	}
	return fmt.Sprintf("spf: syntax error in %q: %s", e.Term, e.Reason)
}

// Is makes errors.Is(err, ErrSyntax) true.
func (e *SyntaxError) Is(target error) bool { return target == ErrSyntax }

// Qualifier is a directive's qualifier (RFC 7208 §4.6.2).
type Qualifier byte

// The four qualifiers; a directive without one is QPass.
const (
	QPass     Qualifier = '+'
	QFail     Qualifier = '-'
	QSoftFail Qualifier = '~'
	QNeutral  Qualifier = '?'
)

// Mechanism is a mechanism name (RFC 7208 §5), lower case.
type Mechanism string

// The mechanisms of RFC 7208 §5.1–§5.7.
const (
	MechAll     Mechanism = "all"
	MechInclude Mechanism = "include"
	MechA       Mechanism = "a"
	MechMX      Mechanism = "mx"
	MechPTR     Mechanism = "ptr"
	MechIP4     Mechanism = "ip4"
	MechIP6     Mechanism = "ip6"
	MechExists  Mechanism = "exists"
)

// Directive is a qualifier and a mechanism with its arguments.
type Directive struct {
	Qualifier Qualifier
	Mechanism Mechanism
	// Domain is the domain-spec of include, exists, a, mx and ptr as
	// written, macros unexpanded. It is "" for a, mx and ptr without one:
	// the domain being checked.
	Domain string
	// Net is the network of ip4 and ip6 (the address as written, with a
	// prefix length of 32 or 128 when the record gives none).
	Net netip.Prefix
	// Prefix4 and Prefix6 are the dual-cidr-length of a and mx, -1 where
	// the record gives none.
	Prefix4, Prefix6 int
}

// Modifier is a modifier other than redirect and exp (unknown-modifier,
// RFC 7208 §6): it is checked for syntax and otherwise ignored.
type Modifier struct {
	Name, Value string
}

// Record is an SPF record parsed according to RFC 7208 §12.
type Record struct {
	Directives []Directive
	// Redirect and Exp are the domain-specs of the redirect= and exp=
	// modifiers, "" when absent (a present one is never empty).
	Redirect, Exp string
	// Unknown are the other modifiers, in record order.
	Unknown []Modifier
}

// IsRecord reports whether a TXT string is an SPF version 1 record: it
// starts with "v=spf1" in any case, followed by a space or the end
// (RFC 7208 §4.5). Other TXT strings are none of SPF's business.
func IsRecord(txt string) bool {
	return len(txt) >= len(version) && strings.EqualFold(txt[:len(version)], version) &&
		(len(txt) == len(version) || txt[len(version)] == ' ')
}

const version = "v=spf1"

// ParseRecord parses and fully validates an SPF record (RFC 7208 §12):
//
//   - only printable 7-bit ASCII (RFC 7208 §3.1: records are 7-bit
//     ASCII; terms are separated by spaces only, §4.6.1);
//   - the version, then terms separated by one or more spaces;
//   - mechanisms all, include, a, mx, ptr, ip4, ip6 and exists with an
//     optional qualifier, their domain-specs and cidr-lengths (§5);
//   - redirect= and exp= at most once each (§6), unknown modifiers
//     with name = ALPHA *( ALPHA / DIGIT / "-" / "_" / "." ) and a
//     macro-string value (§4.6.1, §12);
//   - domain-specs that end in a macro-expand or in "." toplabel, with
//     macros per §7.1, the letters c, r and t being allowed only in
//     explanation text.
//
// Any error is a *SyntaxError.
func ParseRecord(s string) (*Record, error) {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return nil, &SyntaxError{Reason: fmt.Sprintf("byte %#02x at offset %d is not printable 7-bit ASCII", s[i], i)}
		}
	}
	if !IsRecord(s) {
		return nil, &SyntaxError{Reason: `no "v=spf1" version`}
	}
	r := &Record{}
	for _, term := range strings.Split(s[len(version):], " ") {
		if term == "" {
			continue // runs of spaces and trailing spaces are allowed
		}
		if name, value, ok := modifierTerm(term); ok {
			if err := r.addModifier(term, name, value); err != nil {
				return nil, err
			}
			continue
		}
		d, err := parseDirective(term)
		if err != nil {
			return nil, err
		}
		r.Directives = append(r.Directives, d)
	}
	return r, nil
}

// modifierTerm splits a modifier into name and value. A term is a
// modifier when a name is followed by "=" before any ":" or "/" (RFC 7208
// §4.6.1); anything else is read as a directive.
func modifierTerm(term string) (name, value string, ok bool) {
	if term == "" || !isAlpha(term[0]) {
		return "", "", false
	}
	for i := 1; i < len(term); i++ {
		c := term[i]
		switch {
		case c == '=':
			return term[:i], term[i+1:], true
		case isAlpha(c) || isDigit(c) || c == '-' || c == '_' || c == '.':
		default:
			return "", "", false
		}
	}
	return "", "", false
}

func (r *Record) addModifier(term, name, value string) error {
	switch strings.ToLower(name) {
	case "redirect", "exp":
		// A known modifier with a bad value is an error, not an unknown
		// modifier (RFC 7208 §6.1, §6.2; the test suite's
		// redirect-syntax-error).
		if err := checkDomainSpec(value); err != nil {
			return &SyntaxError{Term: term, Reason: err.Error()}
		}
		p := &r.Redirect
		if strings.EqualFold(name, "exp") {
			p = &r.Exp
		}
		if *p != "" {
			// RFC 7208 §6: redirect and exp appear at most once each.
			return &SyntaxError{Term: term, Reason: strings.ToLower(name) + "= appears more than once"}
		}
		*p = value
	default:
		if _, err := scanMacroString(value); err != nil {
			return &SyntaxError{Term: term, Reason: err.Error()}
		}
		r.Unknown = append(r.Unknown, Modifier{Name: name, Value: value})
	}
	return nil
}

func parseDirective(term string) (Directive, error) {
	d := Directive{Qualifier: QPass, Prefix4: -1, Prefix6: -1}
	rest := term
	switch q := Qualifier(rest[0]); q {
	case QPass, QFail, QSoftFail, QNeutral:
		d.Qualifier, rest = q, rest[1:]
	}
	n := strings.IndexAny(rest, ":/")
	if n < 0 {
		n = len(rest)
	}
	d.Mechanism, rest = Mechanism(strings.ToLower(rest[:n])), rest[n:]
	fail := func(reason string) (Directive, error) {
		return Directive{}, &SyntaxError{Term: term, Reason: reason}
	}
	switch d.Mechanism {
	case MechAll:
		// all = "all" (RFC 7208 §5.1).
		if rest != "" {
			return fail(`"all" takes no argument`)
		}
	case MechInclude, MechExists:
		// include = "include" ":" domain-spec; exists likewise (§5.2, §5.7).
		if !strings.HasPrefix(rest, ":") {
			return fail(fmt.Sprintf("%q needs \":\" and a domain-spec", d.Mechanism))
		}
		d.Domain = rest[1:]
		if err := checkDomainSpec(d.Domain); err != nil {
			return fail(err.Error())
		}
	case MechPTR:
		// PTR = "ptr" [ ":" domain-spec ] (§5.5).
		if rest != "" {
			if rest[0] != ':' {
				return fail(`"ptr" takes no cidr-length`)
			}
			d.Domain = rest[1:]
			if err := checkDomainSpec(d.Domain); err != nil {
				return fail(err.Error())
			}
		}
	case MechA, MechMX:
		// A = "a" [ ":" domain-spec ] [ dual-cidr-length ]; MX likewise
		// (§5.3, §5.4). A domain-spec may hold ":" and "/" (its literals
		// are any visible character but "%"), but it ends in a macro or a
		// toplabel, never in "/" DIGITs, so a trailing cidr-length is
		// told apart from the end.
		spec, p4, p6, err := splitDualCIDR(rest)
		if err != nil {
			return fail(err.Error())
		}
		d.Prefix4, d.Prefix6 = p4, p6
		switch {
		case spec == "":
		case spec[0] == ':':
			d.Domain = spec[1:]
			if err := checkDomainSpec(d.Domain); err != nil {
				return fail(err.Error())
			}
		default:
			return fail("malformed dual-cidr-length")
		}
	case MechIP4, MechIP6:
		// IP4 = "ip4" ":" ip4-network [ ip4-cidr-length ]; IP6 likewise
		// (§5.6).
		if !strings.HasPrefix(rest, ":") {
			return fail(fmt.Sprintf("%q needs \":\" and an address", d.Mechanism))
		}
		addr, cidr, hasCIDR := strings.Cut(rest[1:], "/")
		ip, err := netip.ParseAddr(addr)
		if err != nil || ip.Zone() != "" || ip.Is4() != (d.Mechanism == MechIP4) {
			family := "IPv4"
			if d.Mechanism == MechIP6 {
				family = "IPv6"
			}
			return fail(fmt.Sprintf("%q is not an %s address", addr, family))
		}
		bits := ip.BitLen()
		if hasCIDR {
			if bits, err = cidrLength(cidr, ip.BitLen()); err != nil {
				return fail(err.Error())
			}
		}
		d.Net = netip.PrefixFrom(ip, bits)
	default:
		return fail("unknown mechanism")
	}
	return d, nil
}

// splitDualCIDR takes dual-cidr-length = [ ip4-cidr-length ] [ "/"
// ip6-cidr-length ] off the end of s (RFC 7208 §5.6), giving -1 for the
// lengths that are absent.
func splitDualCIDR(s string) (rest string, p4, p6 int, err error) {
	p4, p6 = -1, -1
	i := trailingDigits(s)
	if i < len(s) && i >= 2 && s[i-1] == '/' && s[i-2] == '/' {
		if p6, err = cidrLength(s[i:], 128); err != nil {
			return "", 0, 0, err
		}
		s = s[:i-2]
		i = trailingDigits(s)
	}
	if i < len(s) && i >= 1 && s[i-1] == '/' {
		if p4, err = cidrLength(s[i:], 32); err != nil {
			return "", 0, 0, err
		}
		s = s[:i-1]
	}
	return s, p4, p6, nil
}

// trailingDigits returns where the run of digits ending s starts.
func trailingDigits(s string) int {
	i := len(s)
	for i > 0 && isDigit(s[i-1]) {
		i--
	}
	return i
}

// cidrLength reads ip4-cidr-length ("0" / %x31-39 0*1DIGIT, at most 32)
// or ip6-cidr-length ("0" / %x31-39 0*2DIGIT, at most 128) without its
// "/" (RFC 7208 §5.6): no leading zeros.
func cidrLength(s string, max int) (int, error) {
	if s == "" || len(s) > 3 || (len(s) > 1 && s[0] == '0') || trailingDigits(s) != 0 {
		return 0, fmt.Errorf("malformed cidr-length %q", s)
	}
	n, _ := strconv.Atoi(s)
	if n > max {
		return 0, fmt.Errorf("cidr-length %d is over %d", n, max)
	}
	return n, nil
}

// checkDomainSpec checks domain-spec = macro-string domain-end, with
// domain-end = ( "." toplabel [ "." ] ) / macro-expand (RFC 7208 §7.1).
func checkDomainSpec(s string) error {
	if s == "" {
		return errors.New("empty domain-spec")
	}
	tail, err := scanMacroString(s)
	if err != nil {
		return err
	}
	if tail == len(s) {
		return nil // ends in a macro-expand
	}
	// The literal text after the last macro-expand holds "." toplabel
	// [ "." ].
	lit := strings.TrimSuffix(s[tail:], ".")
	dot := strings.LastIndexByte(lit, '.')
	if dot < 0 {
		return fmt.Errorf("domain-spec %q does not end in a macro or \".\" and a top label", s)
	}
	if !validTopLabel(lit[dot+1:]) {
		return fmt.Errorf("invalid top label %q", lit[dot+1:])
	}
	return nil
}

// validTopLabel checks toplabel = ( *alphanum ALPHA *alphanum ) /
// ( 1*alphanum "-" *( alphanum / "-" ) alphanum ) (RFC 7208 §7.1): not
// all digits, not starting or ending with "-".
func validTopLabel(l string) bool {
	if l == "" {
		return false
	}
	alpha, dash := false, false
	for i := 0; i < len(l); i++ {
		switch c := l[i]; {
		case isAlpha(c):
			alpha = true
		case isDigit(c):
		case c == '-':
			dash = true
		default:
			return false
		}
	}
	if dash {
		return l[0] != '-' && l[len(l)-1] != '-'
	}
	return alpha
}

// macroLetters are the macro letters allowed in a record (RFC 7208 §7.1):
// c, r and t are for explanation text only.
const macroLetters = "slodiphvSLODIPHV"

// macroDelimiters are the delimiters of a macro-expand (RFC 7208 §7.1).
const macroDelimiters = ".-+,/_="

// scanMacroString checks a macro-string (RFC 7208 §7.1): macro-literals
// (%x21-24 / %x26-7E) and macro-expands, "%{" macro-letter transformers
// *delimiter "}" or "%%", "%_", "%-". It returns the offset of the
// literal text after the last macro-expand (len(s) when s ends in one).
func scanMacroString(s string) (tail int, err error) {
	for i := 0; i < len(s); {
		c := s[i]
		if c != '%' {
			if c < 0x21 || c > 0x7e {
				return 0, fmt.Errorf("byte %#02x not allowed in a macro-string", c)
			}
			i++
			continue
		}
		if i+1 == len(s) {
			return 0, errors.New(`"%" at the end of a macro-string`)
		}
		switch s[i+1] {
		case '%', '_', '-':
			i += 2
		case '{':
			end := strings.IndexByte(s[i+2:], '}')
			if end < 0 {
				return 0, errors.New("unterminated macro")
			}
			if _, _, _, _, err := parseMacro(s[i+2 : i+2+end]); err != nil {
				return 0, err
			}
			i += 2 + end + 1
		default:
			return 0, fmt.Errorf(`"%%" followed by %q (want "{", "%%", "_" or "-")`, s[i+1])
		}
		tail = i
	}
	return tail, nil
}

// parseMacro reads the inside of "%{…}": macro-letter, transformers =
// *DIGIT [ "r" ], then *delimiter (RFC 7208 §7.1). digits is 0 when none
// are given; a given count must be nonzero (§7.3).
func parseMacro(body string) (letter byte, digits int, reverse bool, delims string, err error) {
	if body == "" || !strings.ContainsRune(macroLetters, rune(body[0])) {
		return 0, 0, false, "", fmt.Errorf("invalid macro %%{%s}", body)
	}
	letter, rest := body[0], body[1:]
	n := 0
	for n < len(rest) && isDigit(rest[n]) {
		n++
	}
	if n > 0 {
		digits = parseCount(rest[:n])
		if digits == 0 {
			return 0, 0, false, "", fmt.Errorf("invalid macro %%{%s}: zero parts", body)
		}
	}
	rest = rest[n:]
	if rest != "" && (rest[0] == 'r' || rest[0] == 'R') {
		reverse, rest = true, rest[1:]
	}
	for i := 0; i < len(rest); i++ {
		if !strings.ContainsRune(macroDelimiters, rune(rest[i])) {
			return 0, 0, false, "", fmt.Errorf("invalid macro %%{%s}", body)
		}
	}
	return letter, digits, reverse, rest, nil
}

// parseCount reads a run of digits, capped at 1000: no name has more
// parts than that, and the cap keeps any count from overflowing.
func parseCount(s string) int {
	n := 0
	for i := 0; i < len(s); i++ {
		n = n*10 + int(s[i]-'0')
		if n > 1000 {
			return 1000
		}
	}
	return n
}

func isAlpha(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }
func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// String returns the record in a canonical form that parses back to the
// same Record: mechanism and known modifier names in lower case, "+" and
// absent cidr-lengths left out, modifiers after the directives.
func (r *Record) String() string {
	var b strings.Builder
	b.WriteString(version)
	for _, d := range r.Directives {
		b.WriteByte(' ')
		b.WriteString(d.String())
	}
	if r.Redirect != "" {
		b.WriteString(" redirect=" + r.Redirect)
	}
	if r.Exp != "" {
		b.WriteString(" exp=" + r.Exp)
	}
	for _, m := range r.Unknown {
		b.WriteString(" " + m.Name + "=" + m.Value)
	}
	return b.String()
}

// String returns the directive as a record term.
func (d Directive) String() string {
	var b strings.Builder
	if d.Qualifier != QPass {
		b.WriteByte(byte(d.Qualifier))
	}
	b.WriteString(string(d.Mechanism))
	switch d.Mechanism {
	case MechIP4, MechIP6:
		b.WriteString(":" + d.Net.Addr().String())
		if d.Net.Bits() != d.Net.Addr().BitLen() {
			b.WriteString("/" + strconv.Itoa(d.Net.Bits()))
		}
		return b.String()
	}
	if d.Domain != "" {
		b.WriteString(":" + d.Domain)
	}
	if d.Prefix4 >= 0 {
		b.WriteString("/" + strconv.Itoa(d.Prefix4))
	}
	if d.Prefix6 >= 0 {
		b.WriteString("//" + strconv.Itoa(d.Prefix6))
	}
	return b.String()
}
