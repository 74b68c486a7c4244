// Package spf checks the Sender Policy Framework (RFC 7208) at MAIL FROM:
// is the client allowed to send for the envelope sender's domain (for the
// null sender, the HELO name's)? Evaluation is blitiri.com.ar/go/spf, with
// every lookup through Mamori's shared resolver (cache, budget, metrics).
// All seven results become symbols (SPF_PASS, SPF_FAIL, SPF_SOFTFAIL,
// SPF_NEUTRAL, SPF_NONE, SPF_TEMPERROR, SPF_PERMERROR) with configurable
// outcomes, and an Authentication-Results clause; the result is kept in the
// message for DMARC.
package spf
