package main

// The built-in checks. Each package registers itself in init; this list is
// the one place that says what a mamori binary contains.
import (
	_ "github.com/mamori-mail/mamori/reputation/bayes"
	_ "github.com/mamori-mail/mamori/reputation/dkim"
	_ "github.com/mamori-mail/mamori/reputation/dmarc"
	_ "github.com/mamori-mail/mamori/reputation/dnsbl"
	_ "github.com/mamori-mail/mamori/reputation/policy"
	_ "github.com/mamori-mail/mamori/reputation/ratelimit"
	_ "github.com/mamori-mail/mamori/reputation/spf"
	_ "github.com/mamori-mail/mamori/reputation/uribl"
	_ "github.com/mamori-mail/mamori/scanners/clamav"
	_ "github.com/mamori-mail/mamori/scanners/filetype"
)
