package quarantine

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"
)

// argonParams are argon2id's costs (RFC 9106).
type argonParams struct {
	time    uint32 // passes
	memory  uint32 // KiB
	threads uint8
	saltLen int
	keyLen  int
}

// defaultArgon is the cost of new hashes: RFC 9106 section 4's second
// recommended option (64 MiB) with 2 passes and 2 lanes, about 50 ms on a
// current server core; a 16-byte salt and a 32-byte key.
var defaultArgon = argonParams{time: 2, memory: 64 * 1024, threads: 2, saltLen: 16, keyLen: 32}

// argonCost is the cost hashPassword uses: defaultArgon, except in tests,
// which lower it (accounts_test.go) so that hundreds of hashes in parallel
// tests do not each take 64 MiB. Verification always uses the cost written
// in the hash.
var argonCost = defaultArgon

// Bounds on the cost read from a stored hash, so that a tampered row
// cannot make a login take gigabytes or minutes.
const (
	maxArgonMemory = 1 << 20 // KiB: 1 GiB
	maxArgonTime   = 16
)

// hashPassword returns the PHC string of password under p:
// $argon2id$v=19$m=65536,t=2,p=2$<salt>$<key>, salt and key in base64
// without padding (the PHC string format).
func hashPassword(password string, p argonParams) string {
	salt := make([]byte, p.saltLen)
	rand.Read(salt) // never fails (crypto/rand documents it)
	key := argon2.IDKey([]byte(password), salt, p.time, p.memory, p.threads, uint32(p.keyLen))
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.memory, p.time, p.threads,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key))
}

var errBadHash = errors.New("quarantine: stored password hash is malformed")

// verifyPassword reports whether password matches hash (argon2id PHC, or
// bcrypt), comparing in constant time, and whether the hash should be
// replaced by one at argonCost (bcrypt, or another cost). An error means
// the hash cannot be read: the account cannot log in until its password is
// set again.
func verifyPassword(hash, password string) (ok, rehash bool, err error) {
	if strings.HasPrefix(hash, "$2a$") || strings.HasPrefix(hash, "$2b$") || strings.HasPrefix(hash, "$2y$") {
		err := bcrypt.CompareHashAndPassword([]byte(hash), []byte(password))
		switch {
		case err == nil:
			return true, true, nil
		case errors.Is(err, bcrypt.ErrMismatchedHashAndPassword), errors.Is(err, bcrypt.ErrPasswordTooLong):
			return false, false, nil
		}
		return false, false, fmt.Errorf("%w: bcrypt: %v", errBadHash, err)
	}
	p, salt, key, err := parseArgon(hash)
	if err != nil {
		return false, false, err
	}
	got := argon2.IDKey([]byte(password), salt, p.time, p.memory, p.threads, uint32(len(key)))
	ok = subtle.ConstantTimeCompare(got, key) == 1
	return ok, ok && (p != argonCost), nil
}

// parseArgon reads a PHC argon2id string.
func parseArgon(hash string) (p argonParams, salt, key []byte, err error) {
	bad := func(why string) (argonParams, []byte, []byte, error) {
		return argonParams{}, nil, nil, fmt.Errorf("%w: %s", errBadHash, why)
	}
	f := strings.Split(hash, "$")
	if len(f) != 6 || f[0] != "" || f[1] != "argon2id" {
		return bad("want $argon2id$v=19$m=…,t=…,p=…$salt$key, or bcrypt")
	}
	if f[2] != "v="+strconv.Itoa(argon2.Version) {
		return bad("argon2 version " + clip(f[2], 20))
	}
	for kv := range strings.SplitSeq(f[3], ",") {
		k, v, _ := strings.Cut(kv, "=")
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil {
			return bad("parameter " + clip(kv, 20))
		}
		switch k {
		case "m":
			p.memory = uint32(n)
		case "t":
			p.time = uint32(n)
		case "p":
			if n > 255 {
				return bad("parallelism " + v)
			}
			p.threads = uint8(n)
		default:
			return bad("parameter " + clip(kv, 20))
		}
	}
	if p.time < 1 || p.time > maxArgonTime || p.threads < 1 || p.memory < 8*uint32(p.threads) || p.memory > maxArgonMemory {
		return bad("costs out of range: " + clip(f[3], 40))
	}
	salt, err1 := base64.RawStdEncoding.DecodeString(f[4])
	key, err2 := base64.RawStdEncoding.DecodeString(f[5])
	if err1 != nil || err2 != nil || len(salt) < 8 || len(key) < 16 || len(key) > 128 {
		return bad("salt or key")
	}
	p.saltLen, p.keyLen = len(salt), len(key)
	return p, salt, key, nil
}

// dummyHash is a hash at argonCost of a password nobody has: Authenticate
// verifies against it for an unknown login, so that it costs as much as a
// known one and the time taken does not tell which logins exist.
var dummyHash = sync.OnceValue(func() string { return hashPassword("mamori: no such account", argonCost) })
