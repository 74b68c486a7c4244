// Package dkim verifies every DKIM-Signature of a message (RFC 6376) with
// github.com/emersion/go-msgauth/dkim, fetching keys through Mamori's
// shared resolver. The verifier reads the message as the sender's MTA sent
// it: header fields from the message model keep their exact bytes (the
// milter session negotiates the leading space after the colon and turns
// the protocol's bare-LF folds back into CRLF), so both simple and relaxed
// canonicalization see what was signed. Each signature gives a symbol and
// an Authentication-Results result; the results are kept for DMARC.
package dkim
