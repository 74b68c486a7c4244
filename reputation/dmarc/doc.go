// Package dmarc applies the From domain's DMARC policy (RFC 7489): the
// message passes when SPF or DKIM passed for a domain aligned with the
// RFC5322.From domain (relaxed: the same organizational domain, from the
// public suffix list; strict: the same domain). The policy record is looked
// up at _dmarc.<from domain>, falling back to the organizational domain,
// whose sp= then governs subdomains; pct= samples. What a failure under
// p=reject or p=quarantine does here is the operator's choice.
//
// It runs at end of message after the dkim check (priority 200) and reads
// the SPF and DKIM results those checks left in the message.
package dmarc
