package config

import (
	"errors"
	"log/slog"
	"time"

	"github.com/mamori-mail/mamori/internal/resolver"
	"github.com/mamori-mail/mamori/rules"
	"github.com/mamori-mail/mamori/rules/check"
	"github.com/mamori-mail/mamori/rules/rulefile"
)

// DefaultCheckTimeout bounds a check that sets no timeout of its own.
const DefaultCheckTimeout = 10 * time.Second

// Build turns a validated configuration into a ready pipeline. On error it
// closes whatever it had built, and the error names file and line.
func (c *Config) Build(dataDir string, log *slog.Logger) (*rules.Pipeline, error) {
	return c.build(check.Env{DataDir: dataDir}, log)
}

// BuildReadOnly builds a pipeline for tools (mamori check, validate): its
// checks judge as the daemon's would but change no shared state, so that
// checking a message does not use up a sender's rate limit.
func (c *Config) BuildReadOnly(dataDir string, log *slog.Logger) (*rules.Pipeline, error) {
	return c.build(check.Env{DataDir: dataDir, ReadOnly: true}, log)
}

func (c *Config) build(env check.Env, log *slog.Logger) (*rules.Pipeline, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	env.Content = c.Limits.Content()
	if o, err := c.DNS.Options(); err == nil {
		env.DNS = resolver.Shared(o)
	} else if len(c.DNS.Nameservers) > 0 {
		return nil, err
	} else {
		// No resolv.conf (a container without DNS): checks that need DNS
		// fail as "could not decide" and their on_error applies.
		log.Warn("no DNS resolver; DNS-based checks cannot decide", "err", err)
		env.DNS = resolver.Shared(resolver.Options{})
	}
	var entries []*rules.Entry
	var errs []error
	set, err := c.LoadRules()
	if err != nil {
		errs = append(errs, err)
	} else {
		onErr, _ := check.ParseFailurePolicy(c.Rules.OnError)
		entries = append(entries, &rules.Entry{Check: rulefile.NewChecker(set, env.Content, c.ruleLimits()), Timeout: c.Rules.Timeout.D(), OnError: onErr})
	}
	for _, reg := range check.Registered() {
		n, configured := c.Checks[reg.Name]
		cc, rest, err := splitCommon(&n, reg.Name)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		on := reg.DefaultOn
		if configured && cc.Enabled == nil {
			on = true // naming a check's settings turns it on
		}
		if cc.Enabled != nil {
			on = *cc.Enabled
		}
		if !on {
			continue
		}
		env.Log = log.With("check", reg.Name)
		ck, err := reg.Factory(rest, env)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		e := &rules.Entry{Check: ck, Timeout: DefaultCheckTimeout, OnError: reg.FailurePolicy}
		if reg.Timeout > 0 {
			e.Timeout = reg.Timeout
		}
		if cc.Timeout != 0 {
			e.Timeout = cc.Timeout.D()
		}
		if cc.OnError != "" {
			e.OnError, _ = check.ParseFailurePolicy(cc.OnError)
		}
		entries = append(entries, e)
	}
	pol := c.Policy()
	if set != nil && len(errs) == 0 {
		if err := applyRules(&pol, set, knownSymbols(entries)); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		for _, e := range entries {
			_ = e.Check.Close()
		}
		err := errors.Join(errs...)
		if c.File != "" {
			err = &FileError{File: c.File, Err: err}
		}
		return nil, err
	}
	version := c.Version + "+rules." + set.Version
	p := rules.NewPipeline(entries, pol, version, log.With("config", version))
	p.Rules = rulesInfo(set)
	return p, nil
}

func rulesInfo(set *rulefile.Set) rules.RulesInfo {
	info := rules.RulesInfo{Version: set.Version, Files: set.Files, Kinds: map[string]int{}, LocalSum: set.LocalSum}
	for _, r := range set.Rules {
		info.Kinds[r.Kind.String()]++
	}
	return info
}

// Policy returns the verdict policy the configuration describes.
func (c *Config) Policy() rules.Policy {
	rej, _ := check.ParseReply(c.Replies.Reject)
	tmp, _ := check.ParseReply(c.Replies.Tempfail)
	return rules.Policy{
		Thresholds:     rules.Thresholds{AddHeader: c.Thresholds.AddHeader, Quarantine: c.Thresholds.Quarantine, Reject: c.Thresholds.Reject},
		RejectReply:    rej,
		TempfailReply:  tmp,
		Scores:         c.Scores,
		HeadersOnClean: c.Headers.OnClean == nil || *c.Headers.OnClean,
		Report:         c.Headers.Report == nil || *c.Headers.Report,
		ServerName:     c.Headers.ServerName,
		AuthServID:     c.Headers.AuthServID,
	}
}
