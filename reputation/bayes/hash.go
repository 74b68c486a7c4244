package bayes

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/mamori-mail/mamori/rules/check"
)

// TokenHash returns the 64-bit hash a store keeps for tok: FNV-1a, then the
// MurmurHash3 finaliser so that every input bit reaches every output bit.
// It is unkeyed and part of the database format (see doc.go on collisions).
func TokenHash(tok string) Hash {
	const (
		offset = 14695981039346656037
		prime  = 1099511628211
	)
	h := uint64(offset)
	for i := 0; i < len(tok); i++ {
		h ^= uint64(tok[i])
		h *= prime
	}
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	h *= 0xc4ceb9fe1a85ec53
	h ^= h >> 33
	return Hash(h)
}

// TokenHashes returns the hashes of toks, sorted and distinct: the form a
// Learning takes.
func TokenHashes(toks []string) []Hash {
	out := make([]Hash, len(toks))
	for i, t := range toks {
		out[i] = TokenHash(t)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// maxKeyBody is how much of the body MessageKey reads.
const maxKeyBody = 1 << 20

// MessageKey returns the ID under which a store records that m was learned:
// the first 64 bits of SHA-256 over the Message-ID field value and the first
// MiB of the raw body. The body is part of it so that a forged Message-ID
// cannot move another message out of its class, and a message without one
// still has a stable key.
func MessageKey(m *check.Message) (Hash, error) {
	h := sha256.New()
	io.WriteString(h, "mamori-bayes-v1\x00")
	io.WriteString(h, strings.ToLower(m.HeaderValue("Message-ID")))
	h.Write([]byte{0})
	if m.Body != nil {
		if _, err := io.Copy(h, io.NewSectionReader(m.Body, 0, min(m.Body.Size(), maxKeyBody))); err != nil {
			return 0, fmt.Errorf("bayes: read body: %w", err)
		}
	}
	var sum [sha256.Size]byte
	return Hash(binary.BigEndian.Uint64(h.Sum(sum[:0]))), nil
}
