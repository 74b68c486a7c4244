package config

import (
	"fmt"
	"slices"

	"github.com/mamori-mail/mamori/rules"
	"github.com/mamori-mail/mamori/rules/check"
	"github.com/mamori-mail/mamori/rules/defaults"
	"github.com/mamori-mail/mamori/rules/rulefile"
)

// Rules configures the rule files.
type Rules struct {
	// Dir is the directory of the operator's rule files (*.yaml, *.yml),
	// read in name order after the embedded default set: a rule there with
	// a default rule's name replaces it, and its scores and thresholds
	// override the defaults' and this file's. "" reads none.
	Dir string `yaml:"dir"`
	// Defaults loads the embedded default rule set (default true).
	Defaults *bool `yaml:"defaults"`
	// Watch is how often Dir is looked at for changes; a change reloads
	// the whole configuration as SIGHUP does. 0 turns watching off.
	Watch Duration `yaml:"watch"`
	// Timeout bounds the rules' run on one message.
	Timeout Duration `yaml:"timeout"`
	// OnError is what a failure (a timeout) of the rules means: continue
	// (RULES_FAIL, score the rest) or tempfail.
	OnError string `yaml:"on_error"`
	// MaxText is how much decoded text the rules read of one message, all
	// its text parts together (and as much HTML markup for the hidden-text
	// and link checks).
	MaxText ByteSize `yaml:"max_text"`
	// MaxRaw is how much of the raw body rawbody rules read.
	MaxRaw ByteSize `yaml:"max_raw"`
}

// UseDefaults reports whether the embedded default set is loaded.
func (r Rules) UseDefaults() bool { return r.Defaults == nil || *r.Defaults }

func (r Rules) validate(bad func(path, format string, args ...any)) {
	if r.Watch < 0 {
		bad("rules.watch", "must be 0 (off) or a positive duration")
	}
	if r.Timeout.D() <= 0 {
		bad("rules.timeout", "must be positive")
	}
	if _, err := check.ParseFailurePolicy(r.OnError); err != nil {
		bad("rules.on_error", "%v", err)
	}
	if r.MaxText < 1024 {
		bad("rules.max_text", "must be at least 1K")
	}
	if r.MaxRaw < 1024 {
		bad("rules.max_raw", "must be at least 1K")
	}
}

// LoadRules reads and compiles the rule set the configuration names: the
// embedded defaults (unless turned off), then Dir.
func (c *Config) LoadRules() (*rulefile.Set, error) {
	var srcs []rulefile.Source
	if c.Rules.UseDefaults() {
		srcs = append(srcs, defaults.Sources()...)
	}
	if c.Rules.Dir != "" {
		local, err := rulefile.ReadDir(c.Rules.Dir)
		if err != nil {
			return nil, fmt.Errorf("rules.dir: %w", err)
		}
		srcs = append(srcs, local...)
	}
	return rulefile.Compile(srcs)
}

// ruleLimits returns what the rules read of a message.
func (c *Config) ruleLimits() rulefile.Limits {
	return rulefile.Limits{Text: int64(c.Rules.MaxText), Raw: int64(c.Rules.MaxRaw)}
}

// applyRules folds the rule set into the policy: its meta rules, compiled
// against every name a check or rule can report; its scores; its
// thresholds over the configuration's; its recipient-domain policies.
func applyRules(pol *rules.Policy, set *rulefile.Set, known []string) error {
	var defs []rules.MetaDef
	for _, r := range set.ByKind(rulefile.KindMeta) {
		defs = append(defs, rules.MetaDef{Name: r.Name, Description: r.Description, Score: r.Score, Expr: r.Meta, File: r.File, Line: r.MetaLine})
	}
	meta, err := rules.CompileMeta(defs, known)
	if err != nil {
		return err
	}
	meta.OnHit = func(name string) { rulefile.HitsTotal.WithLabelValues(name).Inc() }
	pol.Meta = meta
	// Precedence, lowest first: the embedded set's scores, the
	// configuration file's scores section, the operator's rule files.
	scores := make(map[string]float64, len(pol.Scores)+len(set.Scores))
	for k, v := range set.Scores {
		scores[k] = v
	}
	for k, v := range pol.Scores {
		scores[k] = v
	}
	for k, v := range set.LocalScores {
		scores[k] = v
	}
	pol.Scores = scores
	pol.Thresholds = over(pol.Thresholds, set.Thresholds)
	pol.Domains = nil
	for _, p := range set.Policies {
		pol.Domains = append(pol.Domains, rules.DomainPolicy{Name: p.Name, Domains: p.Domains, Thresholds: over(pol.Thresholds, p.Thresholds)})
	}
	for _, th := range append([]rules.Thresholds{pol.Thresholds}, domainThresholds(pol.Domains)...) {
		if th.Quarantine > 0 && th.Reject > 0 && th.Quarantine >= th.Reject || th.AddHeader > 0 && th.Reject > 0 && th.AddHeader >= th.Reject {
			return fmt.Errorf("rule files: thresholds add_header %v, quarantine %v, reject %v: add_header and quarantine must be below reject", th.AddHeader, th.Quarantine, th.Reject)
		}
	}
	return nil
}

func domainThresholds(ds []rules.DomainPolicy) []rules.Thresholds {
	out := make([]rules.Thresholds, len(ds))
	for i, d := range ds {
		out[i] = d.Thresholds
	}
	return out
}

func over(t rules.Thresholds, o rulefile.Thresholds) rules.Thresholds {
	if o.AddHeader != nil {
		t.AddHeader = *o.AddHeader
	}
	if o.Quarantine != nil {
		t.Quarantine = *o.Quarantine
	}
	if o.Reject != nil {
		t.Reject = *o.Reject
	}
	return t
}

// knownSymbols returns every name a check or rule of this pipeline may
// report: the registered families' fixed names and failure symbols
// (enabled or not, so that the default rules may name SPF_FAIL while spf
// is off), and what the built checks list from their configuration.
func knownSymbols(entries []*rules.Entry) []string {
	var out []string
	for _, reg := range check.Registered() {
		out = append(out, reg.Symbols...)
		out = append(out, rules.FailSymbol(reg.Name))
	}
	out = append(out, rules.FailSymbol(rulefile.CheckName))
	for _, e := range entries {
		if l, ok := e.Check.(check.SymbolLister); ok {
			out = append(out, l.Symbols()...)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// KnownSymbols returns every name p's checks and rules may report, meta
// rules included: what a scores section may sensibly name.
func KnownSymbols(p *rules.Pipeline) []string {
	out := knownSymbols(p.Checks())
	for _, r := range p.Policy.Meta.Rules() {
		out = append(out, r.Name)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// RuleSet returns the rule set p runs (nil if it runs none).
func RuleSet(p *rules.Pipeline) *rulefile.Set {
	for _, e := range p.Checks() {
		if c, ok := e.Check.(*rulefile.Checker); ok {
			return c.Set()
		}
	}
	return nil
}
