package check

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sort"
	"sync"
	"time"

	"gopkg.in/yaml.v3"
)

// Stage is a point of the SMTP transaction at which checks run.
type Stage uint8

// The stages, in transaction order. Connect and Helo facts are known from
// MailFrom on; a check that needs only the client runs at MailFrom so that a
// refusal lands on MAIL FROM, the way Postfix delays its own rejects
// (smtpd_delay_reject) and clients handle best.
const (
	Connect Stage = iota
	Helo
	MailFrom
	Rcpt
	EOH
	EOM
	numStages
)

var stageNames = [...]string{"connect", "helo", "mail", "rcpt", "eoh", "eom"}

func (s Stage) String() string {
	if int(s) < len(stageNames) {
		return stageNames[s]
	}
	return fmt.Sprintf("stage(%d)", s)
}

// StageMask is a set of stages.
type StageMask uint8

// Has reports whether st is in the set.
func (m StageMask) Has(st Stage) bool { return m&(1<<st) != 0 }

// Stages builds a StageMask.
func Stages(st ...Stage) StageMask {
	var m StageMask
	for _, s := range st {
		m |= 1 << s
	}
	return m
}

// Check is one family of tests. See the package documentation for the
// contract; Run must honour ctx, which carries the check's own deadline.
type Check interface {
	Name() string
	Stages() StageMask
	Run(ctx context.Context, m *Message, st Stage) (Result, error)
	Close() error
}

// Prioritized is implemented by checks that must run before others of the
// same stage. Lower runs first; the default is 100. Checks of one priority run
// concurrently; the engine stops before the next priority group once the
// verdict is certain (an allow-list hit or a hard rejection).
type Prioritized interface {
	Priority() int
}

// DefaultPriority is the priority of checks that do not say.
const DefaultPriority = 100

// PriorityOf returns c's priority.
func PriorityOf(c Check) int {
	if p, ok := c.(Prioritized); ok {
		return p.Priority()
	}
	return DefaultPriority
}

// Starter is implemented by checks with background work (a health probe).
// The daemon calls Start once the pipeline serves; validate and check never
// do, so that loading a configuration stays free of I/O.
type Starter interface {
	Start()
}

// Env is what a factory may use to build a check. It carries no network
// clients: a factory must not do I/O (STYLE §4); checks dial lazily.
type Env struct {
	// DataDir is the directory for embedded stores (classifier tokens,
	// quarantine); a factory may derive paths from it but not create them.
	DataDir string
	// Log is the daemon's logger, already labelled with the check's name;
	// never nil when the engine builds the check.
	Log *slog.Logger
	// Content bounds the MIME walk that content scanners share, so that
	// every scanner sees the same parts under the same limits.
	Content ContentLimits
	// DNS is the shared resolver; nil when the daemon has none (tests).
	DNS DNS
	// ReadOnly is set when the pipeline judges for a tool (mamori check)
	// rather than for the MTA: a check judges as it would, but changes no
	// state shared with the daemon (rate-limit counters are read, not
	// taken; nothing is learned).
	ReadOnly bool
}

// ContentLimits bounds the decoding of one message's MIME structure. Zero
// fields take the defaults of scanners/mimepart.
type ContentLimits struct {
	MaxDepth        int   // nesting of multiparts and attached messages
	MaxParts        int   // leaf parts, attached files included
	MaxDecodedBytes int64 // decoded bytes kept for the whole message
	MemoryBytes     int64 // a decoded part larger than this spills to a file
	TempDir         string
}

// Factory decodes a check's configuration node and returns a ready check. A
// nil node means the check is enabled with its defaults. Decode with
// DecodeStrict so that an unknown key is an error with its line.
type Factory func(node *yaml.Node, env Env) (Check, error)

// Registration describes one check family.
type Registration struct {
	Name    string
	Factory Factory
	// DefaultOn means the check runs when the configuration does not mention
	// it (the embedded defaults). Checks needing a server (clamd, Redis) are
	// off until configured.
	DefaultOn bool
	// FailurePolicy is the default for the check's on_error setting.
	FailurePolicy FailurePolicy
	// Timeout is the default for the check's timeout setting (0: the
	// engine's default, 10s). Checks that stream whole attachments to a
	// server need more.
	Timeout time.Duration
	// Symbols are the names the family reports whatever its configuration
	// (SPF_FAIL, CLAMAV_VIRUS), its failure symbol aside (the engine's
	// NAME_FAIL, which a check may report itself for a partial failure). Names that come from configuration (a
	// blocklist's symbols, a rate limit's name) are the check's own to
	// list: see SymbolLister. Meta rules and score overrides are checked
	// against both, so that a typo is an error at load time rather than a
	// rule that never fires.
	Symbols []string
}

// SymbolLister is implemented by checks whose configuration names some of
// the symbols they report.
type SymbolLister interface {
	Symbols() []string
}

var (
	regMu    sync.Mutex
	registry = map[string]Registration{}
)

// Register adds a check family. It is meant for init functions and panics on
// a duplicate name: two families claiming one name is a build mistake.
func Register(r Registration) {
	regMu.Lock()
	defer regMu.Unlock()
	if r.Name == "" || r.Factory == nil {
		panic("check: Register needs a name and a factory")
	}
	if _, dup := registry[r.Name]; dup {
		panic("check: duplicate registration of " + r.Name)
	}
	registry[r.Name] = r
}

// Lookup returns the registration for name.
func Lookup(name string) (Registration, bool) {
	regMu.Lock()
	defer regMu.Unlock()
	r, ok := registry[name]
	return r, ok
}

// Registered returns every registration sorted by name.
func Registered() []Registration {
	regMu.Lock()
	defer regMu.Unlock()
	out := make([]Registration, 0, len(registry))
	for _, r := range registry {
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// FailurePolicy says what a check's failure (error, timeout, panic) means.
type FailurePolicy uint8

const (
	// FailContinue scores the failure symbol and goes on: right for spam
	// signals, where a missing signal only weakens the score.
	FailContinue FailurePolicy = iota
	// FailTempfail answers 451 so the sender retries later: right for malware
	// scanning, where going on would deliver unscanned mail.
	FailTempfail
)

func (p FailurePolicy) String() string {
	if p == FailTempfail {
		return "tempfail"
	}
	return "continue"
}

// ParseFailurePolicy reads the on_error setting.
func ParseFailurePolicy(s string) (FailurePolicy, error) {
	switch s {
	case "continue", "accept":
		return FailContinue, nil
	case "tempfail":
		return FailTempfail, nil
	}
	return 0, fmt.Errorf("on_error must be tempfail or continue, not %q", s)
}

// DNS is the resolver the reputation checks share: one set of nameservers,
// one cache, one budget per message (internal/resolver). Its methods have
// the standard library's shape, so that libraries written for net.Resolver
// take it as is. A missing name or record is a *net.DNSError with
// IsNotFound; anything else (a server failure, a timeout, a spent budget)
// is an error the check reports as "could not decide".
type DNS interface {
	LookupTXT(ctx context.Context, name string) ([]string, error)
	LookupMX(ctx context.Context, name string) ([]*net.MX, error)
	LookupIPAddr(ctx context.Context, host string) ([]net.IPAddr, error)
	LookupAddr(ctx context.Context, addr string) ([]string, error)
	// LookupA asks for IPv4 addresses only (blocklist answers).
	LookupA(ctx context.Context, name string) ([]netip.Addr, error)
	// ForMessage returns the resolver as seen by m: its queries count
	// against the message's lookup budget.
	ForMessage(m *Message) DNS
}
