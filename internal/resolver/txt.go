package resolver

import "strings"

// txtBytes returns the bytes of a TXT string as github.com/miekg/dns keeps
// it: in zone-file form (RFC 1035 §5.1), a byte 0x80 as the four
// characters "\128" and a quote as "\"". check.DNS promises the bytes,
// as net.Resolver gives them; read as kept, a record with non-ASCII bytes
// would look like 7-bit ASCII to SPF (the RFC 7208 suite's
// non-ascii-policy) and a DKIM key with a backslash would be wrong.
func txtBytes(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' || i+1 == len(s) {
			b.WriteByte(c)
			continue
		}
		if i+3 < len(s) && isDigit(s[i+1]) && isDigit(s[i+2]) && isDigit(s[i+3]) {
			if n := int(s[i+1]-'0')*100 + int(s[i+2]-'0')*10 + int(s[i+3]-'0'); n <= 255 {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i+1])
		i++
	}
	return b.String()
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }
