package daemon

// The built-in checks, as cmd/mamori/checks.go links them: the default
// rule set names their symbols, so the tests judge with all of them.
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
