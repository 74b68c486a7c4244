package spf

import (
	"net/netip"
	"strings"
)

// expandDomain turns a domain-spec into a target-name (RFC 7208 §4.8,
// §7.3): macros expanded, a trailing dot dropped, then whole labels
// dropped from the left while it is longer than 253 bytes.
func (r *resolution) expandDomain(spec, domain string) (string, error) {
	s, err := r.expand(spec, domain)
	if err != nil {
		return "", err
	}
	t := strings.TrimSuffix(s, ".")
	for len(t) > 253 {
		i := strings.IndexByte(t, '.')
		if i < 0 {
			break // a single label that long: validName refuses it
		}
		t = t[i+1:]
	}
	return t, nil
}

// expand expands the macros of a macro-string the parser accepted (RFC
// 7208 §7), with domain as <domain>. It fails only when %{p} runs into a
// lookup limit.
func (r *resolution) expand(spec, domain string) (string, error) {
	if !strings.Contains(spec, "%") {
		return spec, nil
	}
	var b strings.Builder
	for i := 0; i < len(spec); {
		c := spec[i]
		if c != '%' || i+1 == len(spec) {
			b.WriteByte(c)
			i++
			continue
		}
		switch spec[i+1] {
		case '%':
			b.WriteByte('%')
		case '_':
			b.WriteByte(' ')
		case '-':
			b.WriteString("%20")
		case '{':
			end := strings.IndexByte(spec[i+2:], '}')
			if end < 0 {
				return "", &SyntaxError{Term: spec, Reason: "unterminated macro"}
			}
			letter, digits, reverse, delims, err := parseMacro(spec[i+2 : i+2+end])
			if err != nil {
				return "", &SyntaxError{Term: spec, Reason: err.Error()}
			}
			v, err := r.macroValue(lower(letter), domain)
			if err != nil {
				return "", err
			}
			v = transform(v, digits, reverse, delims)
			if letter != lower(letter) {
				v = urlEscape(v) // §7.3: upper-case letters are URL-escaped
			}
			b.WriteString(v)
			i += 2 + end + 1
			continue
		default:
			return "", &SyntaxError{Term: spec, Reason: "invalid macro"}
		}
		i += 2
	}
	return b.String(), nil
}

// macroValue is the value of a macro letter (RFC 7208 §7.3).
func (r *resolution) macroValue(letter byte, domain string) (string, error) {
	switch letter {
	case 's':
		return r.sender, nil
	case 'l':
		return r.local, nil
	case 'o':
		return r.domain, nil
	case 'd':
		return domain, nil
	case 'i':
		return ipMacro(r.ip), nil
	case 'p':
		return r.pMacro(domain)
	case 'v':
		if r.ip.Is4() {
			return "in-addr", nil
		}
		return "ip6", nil
	case 'h':
		return r.helo, nil
	}
	return "", &SyntaxError{Term: "%{" + string(letter) + "}", Reason: "macro letter not allowed in a record"}
}

// pMacro is %{p}, the validated domain name of the client (RFC 7208
// §7.3): domain itself if validated, else a validated name below it,
// else any validated name, else "unknown". Its PTR lookup counts against
// the limit of 10 (§4.6.4), once: ptr mechanisms share it.
func (r *resolution) pMacro(domain string) (string, error) {
	if !r.ptrDone {
		if err := r.countLookup(); err != nil {
			return "", err
		}
	}
	names, err := r.validatedNames()
	if err != nil {
		return "", err
	}
	domain = strings.TrimSuffix(domain, ".")
	for _, n := range names {
		if asciiEqualFold(n, domain) {
			return n, nil
		}
	}
	for _, n := range names {
		if isSubdomain(n, domain) {
			return n, nil
		}
	}
	if len(names) > 0 {
		return names[0], nil
	}
	return "unknown", nil
}

// transform applies a macro's transformers (RFC 7208 §7.3): split on the
// delimiters ("." by default), reverse if asked, keep the rightmost digits
// parts if given, and join with ".".
func transform(v string, digits int, reverse bool, delims string) string {
	if delims == "" {
		delims = "."
	}
	var parts []string
	start := 0
	for i := 0; i < len(v); i++ {
		if strings.IndexByte(delims, v[i]) >= 0 {
			parts = append(parts, v[start:i])
			start = i + 1
		}
	}
	parts = append(parts, v[start:])
	if reverse {
		for i, j := 0, len(parts)-1; i < j; i, j = i+1, j-1 {
			parts[i], parts[j] = parts[j], parts[i]
		}
	}
	if digits > 0 && digits < len(parts) {
		parts = parts[len(parts)-digits:]
	}
	return strings.Join(parts, ".")
}

// urlEscape escapes all but the unreserved characters of RFC 3986 (RFC
// 7208 §7.3). url.QueryEscape would turn a space into "+".
func urlEscape(s string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if isAlpha(c) || isDigit(c) || c == '-' || c == '.' || c == '_' || c == '~' {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&15])
	}
	return b.String()
}

// ipMacro is %{i}: dotted quad for IPv4, 32 dot-separated nibbles for
// IPv6 (RFC 7208 §7.3).
func ipMacro(ip netip.Addr) string {
	if ip.Is4() {
		return ip.String()
	}
	const hex = "0123456789abcdef"
	var b strings.Builder
	for i, x := range ip.As16() {
		if i > 0 {
			b.WriteByte('.')
		}
		b.WriteByte(hex[x>>4])
		b.WriteByte('.')
		b.WriteByte(hex[x&15])
	}
	return b.String()
}
