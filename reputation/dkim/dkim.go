package dkim

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"

	"github.com/emersion/go-msgauth/authres"
	msgdkim "github.com/emersion/go-msgauth/dkim"
	"github.com/mamori-mail/mamori/rules/check"
)

// Signature is the outcome of one DKIM-Signature.
type Signature struct {
	Domain     string // d=
	Selector   string // s=
	Identifier string // i= (the signing identity), as verified
	Canon      string // c=, e.g. "relaxed/simple"
	Result     authres.ResultValue
	Err        error
}

// StateKey is where the signatures are kept in the message, for DMARC.
const StateKey = "dkim.signatures"

// MaxSignatures bounds the signatures verified per message: each costs a
// key lookup and a pass over the body.
const MaxSignatures = 8

// Verify checks every DKIM-Signature of m, at most MaxSignatures. A message
// without any gives none.
func Verify(ctx context.Context, dns check.DNS, m *check.Message) []Signature {
	var sigs []Signature
	for _, h := range m.Headers {
		if strings.EqualFold(h.Name, "DKIM-Signature") {
			sigs = append(sigs, parseTags(h.Value()))
		}
	}
	if len(sigs) == 0 {
		return nil
	}
	if len(sigs) > MaxSignatures {
		sigs = sigs[:MaxSignatures]
	}
	opts := &msgdkim.VerifyOptions{
		MaxVerifications: MaxSignatures,
		LookupTXT:        func(name string) ([]string, error) { return dns.LookupTXT(ctx, name) },
	}
	verifs, err := msgdkim.VerifyWithOptions(raw(m), opts)
	if err != nil && !errors.Is(err, msgdkim.ErrTooManySignatures) {
		// The message could not be read as a signed message at all.
		for i := range sigs {
			sigs[i].Result, sigs[i].Err = authres.ResultPermError, err
		}
		return sigs
	}
	for i := range sigs {
		if i >= len(verifs) {
			break
		}
		v := verifs[i]
		sigs[i].Identifier = v.Identifier
		if v.Domain != "" {
			sigs[i].Domain = strings.ToLower(v.Domain)
		}
		sigs[i].Err = v.Err
		switch {
		case v.Err == nil:
			sigs[i].Result = authres.ResultPass
		case msgdkim.IsTempFail(v.Err):
			sigs[i].Result = authres.ResultTempError
		case msgdkim.IsPermFail(v.Err):
			sigs[i].Result = authres.ResultPermError
		default:
			sigs[i].Result = authres.ResultFail
		}
	}
	return sigs
}

// raw returns the message as received.
func raw(m *check.Message) io.Reader {
	return io.MultiReader(bytes.NewReader(m.HeaderBytes()), m.BodyReader())
}

// parseTags reads the tags Mamori reports (d, s, i, c) from a signature.
func parseTags(v string) Signature {
	var s Signature
	for _, tag := range strings.Split(v, ";") {
		k, val, ok := strings.Cut(tag, "=")
		if !ok {
			continue
		}
		val = strings.Join(strings.Fields(val), "")
		switch strings.TrimSpace(k) {
		case "d":
			s.Domain = strings.ToLower(val)
		case "s":
			s.Selector = val
		case "i":
			s.Identifier = val
		case "c":
			s.Canon = val
		}
	}
	if s.Canon == "" {
		s.Canon = "simple/simple"
	} else if !strings.Contains(s.Canon, "/") {
		s.Canon += "/simple"
	}
	return s
}
