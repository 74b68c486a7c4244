package uribl

import (
	"net/netip"
	"strconv"
	"strings"
	"unicode/utf8"

	"golang.org/x/net/idna"
	"golang.org/x/net/publicsuffix"
)

// DNS limits (RFC 1035 section 2.3.4).
const (
	maxName  = 253
	maxLabel = 63
	// maxRawHost bounds a host as written, before percent-decoding and
	// IDNA: %-escapes triple a byte, and a CJK character is three bytes that
	// grow in Punycode. Longer candidates cannot become a valid name, and are
	// dropped before any costly step.
	maxRawHost = 4 * maxName
)

// idnaProfile is the WHATWG URL Standard's "domain to ASCII" (UTS #46 with
// CheckHyphens, UseSTD3ASCIIRules and VerifyDnsLength off, CheckBidi and
// CheckJoiners on, non-transitional): the names a browser resolves.
var idnaProfile = idna.New(
	idna.MapForLookup(),
	idna.Transitional(false),
	idna.BidiRule(),
	idna.CheckHyphens(false),
	idna.StrictDomainName(false),
)

// canonHost turns the host part of a URL into what is looked up: a
// lower-case ASCII name or an IP address. ok is false when a browser would
// refuse the host, or when it is no DNS name.
func canonHost(raw string) (host string, ip netip.Addr, ok bool) {
	if raw == "" || len(raw) > maxRawHost {
		return "", ip, false
	}
	if raw[0] == '[' {
		ip, ok = parseIPv6Literal(raw)
		return "", ip, ok
	}
	h := raw
	if strings.IndexByte(h, '%') >= 0 {
		h = percentDecode(h)
	}
	if isASCII(h) {
		h = strings.ToLower(h)
	} else {
		var err error
		if h, err = idnaProfile.ToASCII(h); err != nil {
			return "", ip, false
		}
	}
	h = strings.Trim(h, ".")
	// WHATWG host parsing: a name whose last label is a number is an IPv4
	// address, or invalid; never a name.
	if endsInNumber(h) {
		ip, ok = parseIPv4(h)
		return "", ip, ok
	}
	if !validName(h) {
		return "", ip, false
	}
	return h, ip, true
}

// CanonName is canonHost for a host name written elsewhere (an address's
// domain): the lower-case ASCII name a browser or resolver would use, and
// false for an IP address or a name no DNS lookup could take.
func CanonName(raw string) (string, bool) {
	h, _, ok := canonHost(raw)
	return h, ok && h != ""
}

// textHost is canonHost for hosts found in running text. Japanese text has
// no spaces, so "http://example.comへ" reaches here as "example.comへ"; when
// a name with non-ASCII characters does not end in a real top-level domain,
// the trailing non-ASCII characters are dropped and the rest is tried.
func textHost(raw string) (string, netip.Addr, bool) {
	h, ip, ok := canonHost(raw)
	if isASCII(raw) || (ok && (ip.IsValid() || isTLD(lastLabel(h)))) {
		return h, ip, ok
	}
	end := len(raw)
	for end > 0 {
		r, size := utf8.DecodeLastRuneInString(raw[:end])
		if r < utf8.RuneSelf {
			break
		}
		end -= size
	}
	if end == len(raw) || end == 0 {
		return h, ip, ok
	}
	return canonHost(raw[:end])
}

// parseIPv6Literal parses "[2001:db8::1]". An IPv4-mapped address is
// returned as IPv4, which is what lists of IPv4 addresses are keyed by; a
// zone is dropped.
func parseIPv6Literal(raw string) (netip.Addr, bool) {
	if len(raw) < 2 || raw[len(raw)-1] != ']' {
		return netip.Addr{}, false
	}
	ip, err := netip.ParseAddr(raw[1 : len(raw)-1])
	if err != nil || !ip.Is6() {
		return netip.Addr{}, false
	}
	return ip.WithZone("").Unmap(), true
}

// validName reports whether h is a DNS name: labels of 1 to 63 letters,
// digits, hyphens or underscores (which browsers accept), 253 bytes in all.
func validName(h string) bool {
	if h == "" || len(h) > maxName {
		return false
	}
	n := 0
	for i := 0; i < len(h); i++ {
		c := h[i]
		switch {
		case c == '.':
			if n == 0 {
				return false
			}
			n = 0
			continue
		case isLower(c) || isDigit(c) || c == '-' || c == '_':
		default:
			return false
		}
		if n++; n > maxLabel {
			return false
		}
	}
	return n > 0
}

// endsInNumber is the WHATWG URL Standard's "ends in a number checker": the
// last label is decimal digits, or 0x and hex digits.
func endsInNumber(h string) bool {
	last := lastLabel(h)
	if last == "" {
		return false
	}
	if len(last) >= 2 && last[0] == '0' && (last[1] == 'x' || last[1] == 'X') {
		return allBytes(last[2:], isHex)
	}
	return allBytes(last, isDigit)
}

// parseIPv4 is the WHATWG URL Standard's IPv4 parser: one to four parts,
// each decimal, octal (leading 0) or hex (0x); the last part fills the
// remaining bytes, so 192.0.513 is 192.0.2.1 and 3221225985 is too.
func parseIPv4(h string) (netip.Addr, bool) {
	if strings.Count(h, ".") > 3 {
		return netip.Addr{}, false
	}
	parts := strings.Split(h, ".")
	var v uint64
	for i, p := range parts {
		n, ok := ipv4Number(p)
		if !ok {
			return netip.Addr{}, false
		}
		if i < len(parts)-1 {
			if n > 255 {
				return netip.Addr{}, false
			}
			v |= n << (8 * (3 - i))
			continue
		}
		if n >= 1<<(8*(5-len(parts))) {
			return netip.Addr{}, false
		}
		v |= n
	}
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}), true
}

func ipv4Number(p string) (uint64, bool) {
	if p == "" {
		return 0, false
	}
	base := 10
	switch {
	case len(p) >= 2 && p[0] == '0' && (p[1] == 'x' || p[1] == 'X'):
		p, base = p[2:], 16
	case len(p) >= 2 && p[0] == '0':
		p, base = p[1:], 8
	}
	if p == "" {
		return 0, true
	}
	n, err := strconv.ParseUint(p, base, 64)
	return n, err == nil
}

// percentDecode decodes %XX escapes; a "%" not followed by two hex digits
// stays, and makes the name invalid later, as in a browser.
func percentDecode(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]) {
			b.WriteByte(unhex(s[i+1])<<4 | unhex(s[i+2]))
			i += 2
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// isTLD reports whether label is a top-level domain managed by ICANN, per
// the Public Suffix List. An unlisted label gets the list's default rule,
// which is not ICANN's, so "txt" and "3" are not.
func isTLD(label string) bool {
	if label == "" {
		return false
	}
	ps, icann := publicsuffix.PublicSuffix(label)
	return icann && ps == label
}

// registrable reports whether a name found without a scheme is worth a
// lookup: it ends in a real top-level domain and is not itself a public
// suffix.
func registrable(h string) bool {
	if strings.IndexByte(h, '.') < 0 || !isTLD(lastLabel(h)) {
		return false
	}
	_, err := publicsuffix.EffectiveTLDPlusOne(h)
	return err == nil
}

func lastLabel(h string) string { return h[strings.LastIndexByte(h, '.')+1:] }

// trimRight drops trailing dots and hyphens: they end sentences and dashes,
// not names.
func trimRight(s string) string {
	for s != "" && (s[len(s)-1] == '.' || s[len(s)-1] == '-') {
		s = s[:len(s)-1]
	}
	return s
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

func allBytes(s string, f func(byte) bool) bool {
	for i := 0; i < len(s); i++ {
		if !f(s[i]) {
			return false
		}
	}
	return true
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }
func isLower(c byte) bool { return 'a' <= c && c <= 'z' }
func isUpper(c byte) bool { return 'A' <= c && c <= 'Z' }
func isAlnum(c byte) bool { return isLower(c) || isUpper(c) || isDigit(c) }
func isHex(c byte) bool   { return isDigit(c) || 'a' <= c|0x20 && c|0x20 <= 'f' }

func unhex(c byte) byte {
	if isDigit(c) {
		return c - '0'
	}
	return (c | 0x20) - 'a' + 10
}
