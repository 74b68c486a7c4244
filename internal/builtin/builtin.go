// Package builtin links every built-in check family into a program: each
// package registers itself in init, so importing this one is what makes
// a mamori binary (or a test that must judge as one does) know them all.
// This list is the one place that says what Mamori contains.
package builtin

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
