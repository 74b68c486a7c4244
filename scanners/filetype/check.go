package filetype

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/mamori-mail/mamori/rules/check"
	"github.com/mamori-mail/mamori/scanners/mimepart"
	"gopkg.in/yaml.v3"
)

// Config is the filetype check's section of the configuration
// (checks.filetype). Every setting is optional.
type Config struct {
	// BlockedExtensions replaces the built-in list of refused extensions
	// (written without the dot: exe, scr). Leave it out to keep the
	// built-in list; an empty list refuses none.
	BlockedExtensions *[]string `yaml:"blocked_extensions"`
	// ExtraBlockedExtensions adds extensions to the list.
	ExtraBlockedExtensions []string `yaml:"extra_blocked_extensions"`
	// AllowedExtensions removes extensions from the list (after the
	// additions), e.g. [one] to let OneNote files through.
	AllowedExtensions []string `yaml:"allowed_extensions"`
	// ArchiveDepth is how many levels of archives are opened (default
	// 3): a zip in a zip in a zip is opened, an archive inside that is
	// reported as archive_depth. From 1 to 16.
	ArchiveDepth *int `yaml:"archive_depth"`
	// ArchiveMaxEntries caps the archive members looked at in one message,
	// all archives and levels together (default 10000).
	ArchiveMaxEntries *int `yaml:"archive_max_entries"`
	// ArchiveMaxBytes caps the bytes decompressed from archives in one
	// message (default 512M); written as bytes or with K, M or G.
	ArchiveMaxBytes *ByteSize `yaml:"archive_max_bytes"`
	// ArchiveMaxRatio caps how many times one member or stream may expand
	// once it is past 1 MiB (default 100).
	ArchiveMaxRatio *float64 `yaml:"archive_max_ratio"`
	// ScanArchives opens archives to judge their members (default true).
	// When false, archives are judged by name and type only.
	ScanArchives *bool `yaml:"scan_archives"`
	// ExecutableScripts treats #! scripts (shell, Python, Perl...) as
	// executables wherever they are (default false: a script is only
	// reported when it hides under a document's or picture's name).
	ExecutableScripts bool `yaml:"executable_scripts"`
	// Outcomes sets what each rule does: reject, quarantine, tempfail,
	// discard, none, or a score. Rules left out keep their defaults.
	Outcomes Outcomes `yaml:"outcomes"`
	// RejectReply replaces the reply of a reject, e.g. "554 5.7.1
	// Attachment refused by policy". Default: 554 5.7.1 Attachment
	// "<name>" refused: <reason>.
	RejectReply string `yaml:"reject_reply"`
}

// Outcomes holds one outcome per rule; nil keeps the default.
type Outcomes struct {
	BlockedExtension *check.Outcome `yaml:"blocked_extension"`
	DoubleExtension  *check.Outcome `yaml:"double_extension"`
	BidiName         *check.Outcome `yaml:"bidi_name"`
	Executable       *check.Outcome `yaml:"executable"`
	Disguised        *check.Outcome `yaml:"disguised"`
	Mismatch         *check.Outcome `yaml:"mismatch"`
	Encrypted        *check.Outcome `yaml:"encrypted"`
	Macro            *check.Outcome `yaml:"macro"`
	Bomb             *check.Outcome `yaml:"bomb"`
	ArchiveDepth     *check.Outcome `yaml:"archive_depth"`
	ArchiveBroken    *check.Outcome `yaml:"archive_broken"`
	MIMEBroken       *check.Outcome `yaml:"mime_broken"`
	MIMELimit        *check.Outcome `yaml:"mime_limit"`
}

// The rules for what the MIME walk reports.
const (
	RuleMIMEBroken Rule = "mime_broken"
	RuleMIMELimit  Rule = "mime_limit"
)

func init() {
	ruleSymbols[RuleMIMEBroken] = "MIME_BROKEN"
	ruleSymbols[RuleMIMELimit] = "MIME_LIMIT"
	// 30s, not the engine's 10s: decompressing archive_max_bytes (512 MiB)
	// of LZMA or PPMd runs at 30–100 MB/s, and a legitimate large archive
	// must not time out into a tempfail.
	var syms []string
	for _, s := range ruleSymbols {
		syms = append(syms, s)
	}
	check.Register(check.Registration{Name: "filetype", Factory: factory, DefaultOn: true, FailurePolicy: check.FailTempfail, Timeout: 30 * time.Second, Symbols: syms})
}

// DefaultOutcomes is what each rule does when the configuration says
// nothing: refuse what runs code or hides it, hold what could not be
// looked into, score the harmless oddities.
var DefaultOutcomes = map[Rule]check.Outcome{
	RuleBlocked:       check.Reject,
	RuleDoubleExt:     check.Reject,
	RuleBidiName:      check.Reject,
	RuleExecutable:    check.Reject,
	RuleDisguised:     check.Reject,
	RuleMismatch:      check.Score(1),
	RuleEncrypted:     check.Quarantine,
	RuleMacro:         check.Quarantine,
	RuleBomb:          check.Reject,
	RuleArchiveDepth:  check.Quarantine,
	RuleArchiveBroken: check.Quarantine,
	RuleMIMEBroken:    check.Score(1),
	RuleMIMELimit:     check.Quarantine,
}

func (o *Outcomes) byRule() map[Rule]*check.Outcome {
	return map[Rule]*check.Outcome{
		RuleBlocked: o.BlockedExtension, RuleDoubleExt: o.DoubleExtension, RuleBidiName: o.BidiName,
		RuleExecutable: o.Executable, RuleDisguised: o.Disguised, RuleMismatch: o.Mismatch,
		RuleEncrypted: o.Encrypted, RuleMacro: o.Macro, RuleBomb: o.Bomb, RuleArchiveDepth: o.ArchiveDepth,
		RuleArchiveBroken: o.ArchiveBroken, RuleMIMEBroken: o.MIMEBroken, RuleMIMELimit: o.MIMELimit,
	}
}

// ByteSize is the configuration size unit shared by every check.
type ByteSize = check.ByteSize

// Checker is the filetype check.
type Checker struct {
	in       *Inspector
	outcomes map[Rule]check.Outcome
	reply    check.Reply // the configured reject reply, zero for the default
	content  check.ContentLimits
}

var _ check.Check = (*Checker)(nil)

func factory(node *yaml.Node, env check.Env) (check.Check, error) {
	var cfg Config
	if err := check.DecodeStrict(node, &cfg, "checks.filetype"); err != nil {
		return nil, err
	}
	return cfg.build(node, env)
}

// build validates the configuration, reporting every problem with its
// line, and returns the check.
func (c *Config) build(node *yaml.Node, env check.Env) (*Checker, error) {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, check.Errorf(valueNode(node, key), "checks.filetype."+key, format, args...))
	}
	exts := func(key string, list []string) []string {
		out := make([]string, 0, len(list))
		for _, e := range list {
			n, ok := NormalizeExtension(e)
			if !ok {
				bad(key, "%q is not a file name extension (write one extension without dots, like exe)", e)
				continue
			}
			out = append(out, n)
		}
		return out
	}
	blocked := DefaultBlocked
	if c.BlockedExtensions != nil {
		blocked = exts("blocked_extensions", *c.BlockedExtensions)
	}
	set := map[string]bool{}
	for _, e := range blocked {
		set[e] = true
	}
	for _, e := range exts("extra_blocked_extensions", c.ExtraBlockedExtensions) {
		set[e] = true
	}
	for _, e := range exts("allowed_extensions", c.AllowedExtensions) {
		delete(set, e)
	}
	opts := Options{
		Blocked:           make([]string, 0, len(set)),
		ExecutableScripts: c.ExecutableScripts,
		MemoryBytes:       env.Content.MemoryBytes,
		TempDir:           env.Content.TempDir,
	}
	for e := range set {
		opts.Blocked = append(opts.Blocked, e)
	}
	if c.ArchiveDepth != nil {
		if opts.ArchiveDepth = *c.ArchiveDepth; opts.ArchiveDepth < 1 || opts.ArchiveDepth > 16 {
			bad("archive_depth", "%d: want 1 to 16", *c.ArchiveDepth)
		}
	}
	if c.ArchiveMaxEntries != nil {
		if opts.MaxEntries = *c.ArchiveMaxEntries; opts.MaxEntries < 1 || opts.MaxEntries > 1_000_000 {
			bad("archive_max_entries", "%d: want 1 to 1000000", *c.ArchiveMaxEntries)
		}
	}
	if c.ArchiveMaxBytes != nil {
		if opts.MaxBytes = int64(*c.ArchiveMaxBytes); opts.MaxBytes < 1<<20 {
			bad("archive_max_bytes", "%d: want at least 1M", opts.MaxBytes)
		}
	}
	if c.ArchiveMaxRatio != nil {
		if opts.MaxRatio = *c.ArchiveMaxRatio; !(opts.MaxRatio >= 2) || opts.MaxRatio > 1e6 {
			bad("archive_max_ratio", "%v: want 2 to 1000000", *c.ArchiveMaxRatio)
		}
	}
	if c.ScanArchives != nil {
		opts.SkipArchives = !*c.ScanArchives
	}
	ck := &Checker{outcomes: make(map[Rule]check.Outcome, len(DefaultOutcomes)), content: env.Content}
	for r, o := range DefaultOutcomes {
		ck.outcomes[r] = o
	}
	for r, o := range c.Outcomes.byRule() {
		if o != nil {
			ck.outcomes[r] = *o
		}
	}
	if c.RejectReply != "" {
		r, err := check.ParseReply(c.RejectReply)
		switch {
		case err != nil:
			bad("reject_reply", "%v", err)
		case r.Code/100 != 5:
			bad("reject_reply", "%q must be a 5xx reply like \"554 5.7.1 Attachment refused\"", c.RejectReply)
		}
		ck.reply = r
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	ck.in = New(opts)
	return ck, nil
}

// valueNode finds key's value under node so that errors carry its line.
func valueNode(node *yaml.Node, key string) *yaml.Node {
	if node == nil || node.Kind != yaml.MappingNode {
		return node
	}
	for i := 0; i+1 < len(node.Content); i += 2 {
		if node.Content[i].Value == key {
			return node.Content[i+1]
		}
	}
	return node
}

// Name implements check.Check.
func (c *Checker) Name() string { return "filetype" }

// Stages implements check.Check: the check needs the whole body.
func (c *Checker) Stages() check.StageMask { return check.Stages(check.EOM) }

// Close implements check.Check.
func (c *Checker) Close() error { return nil }

// maxDetails bounds the findings quoted in one symbol's detail.
const maxDetails = 3

// Run implements check.Check.
func (c *Checker) Run(ctx context.Context, m *check.Message, st check.Stage) (check.Result, error) {
	var res check.Result
	if st != check.EOM {
		return res, nil
	}
	start := time.Now()
	defer func() { inspectSeconds.Observe(time.Since(start).Seconds()) }()
	walk, err := mimepart.ForMessage(ctx, m, c.content)
	if err != nil {
		return res, err
	}
	scan := c.in.NewScan()
	var findings []Finding
	for _, p := range walk.Parts {
		if err := ctx.Err(); err != nil {
			return check.Result{}, err
		}
		// Text shown in the message body is not a file: a body that
		// starts with "#!" or "MZ" is nobody's program.
		if !p.IsAttachment() {
			continue
		}
		found, err := scan.Inspect(ctx, File{Name: p.Filename, Label: "part " + p.Path, ContentType: p.ContentType, R: p, Size: p.Size})
		if err != nil {
			return check.Result{}, err
		}
		if p.Truncated {
			// Cut at the message's decoded-size limit: the archive is not
			// broken, it is incomplete, and MIME_LIMIT says so.
			found = dropRule(found, RuleArchiveBroken)
		}
		findings = append(findings, found...)
	}
	stats := scan.Stats()
	membersTotal.Add(float64(stats.Entries))
	bytesTotal.Add(float64(stats.Bytes))
	for _, a := range walk.Anomalies {
		r := RuleMIMEBroken
		if a.IsLimit() {
			r = RuleMIMELimit
		}
		path := a.Path
		if path == "" {
			path = "message"
		}
		findings = append(findings, Finding{Rule: r, Path: "part " + path, Detail: string(a.Kind) + ": " + a.Detail})
	}
	c.report(&res, findings)
	return res, nil
}

func dropRule(fs []Finding, r Rule) []Finding {
	out := fs[:0:0]
	for _, f := range fs {
		if f.Rule != r {
			out = append(out, f)
		}
	}
	return out
}

// report turns findings into one symbol per rule, in rule order, and the
// strongest outcome into the decision.
func (c *Checker) report(res *check.Result, findings []Finding) {
	byRule := map[Rule][]Finding{}
	for _, f := range findings {
		byRule[f.Rule] = append(byRule[f.Rule], f)
		findingsTotal.WithLabelValues(string(f.Rule)).Inc()
	}
	for _, r := range append(append([]Rule(nil), Rules...), RuleMIMEBroken, RuleMIMELimit) {
		fs := byRule[r]
		if len(fs) == 0 {
			continue
		}
		var d strings.Builder
		for i, f := range fs {
			if i == maxDetails {
				fmt.Fprintf(&d, " (+%d more)", len(fs)-maxDetails)
				break
			}
			if i > 0 {
				d.WriteString("; ")
			}
			d.WriteString(f.String())
		}
		o := c.outcomes[r]
		reason := "filetype " + string(r) + ": " + fs[0].String()
		o.Apply(res, r.Symbol(), d.String(), c.replyFor(o, r, fs[0]), reason)
	}
}

// shortReasons are the reasons an SMTP client is told: generic, with the
// detail left to the logs and the audit trail.
var shortReasons = map[Rule]string{
	RuleBlocked: "file type not allowed", RuleDoubleExt: "hidden file extension",
	RuleBidiName: "misleading file name", RuleExecutable: "executable content",
	RuleDisguised: "disguised file type", RuleMismatch: "file type does not match its name",
	RuleEncrypted: "encrypted content cannot be checked", RuleMacro: "document contains macros",
	RuleBomb: "archive expands too much", RuleArchiveDepth: "archives nested too deep",
	RuleArchiveBroken: "unreadable archive", RuleMIMEBroken: "malformed MIME structure",
	RuleMIMELimit: "message too complex to check",
}

// replyFor builds the SMTP reply for a reject or tempfail.
func (c *Checker) replyFor(o check.Outcome, r Rule, f Finding) check.Reply {
	what := "Attachment \"" + replyName(f.Path) + "\""
	if r == RuleMIMEBroken || r == RuleMIMELimit {
		what = "Message"
	}
	switch o.Action {
	case check.ActReject:
		if !c.reply.IsZero() {
			return c.reply
		}
		return check.Reply{Code: 554, Status: "5.7.1", Text: what + " refused: " + shortReasons[r]}
	case check.ActTempfail:
		return check.Reply{Code: 451, Status: "4.7.1", Text: what + " not accepted now: " + shortReasons[r]}
	}
	return check.Reply{}
}
