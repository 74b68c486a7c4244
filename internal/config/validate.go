package config

import (
	"errors"
	"log/slog"
	"net"
	"sort"
	"time"

	"github.com/mamori-mail/mamori/milter"
	"github.com/mamori-mail/mamori/rules/check"
	"gopkg.in/yaml.v3"
)

// Validate checks every setting and returns all problems at once. It is
// fast and pure: no network, no files beyond what Load read.
func (c *Config) Validate() error {
	var errs []error
	bad := func(path string, format string, args ...any) {
		keys := splitPath(path)
		errs = append(errs, check.Errorf(c.node(keys...), path, format, args...))
	}
	if _, err := milter.ParseListen(c.Listen); err != nil {
		bad("listen", "%v", err)
	}
	if c.Admin.Listen != "off" {
		if _, _, err := net.SplitHostPort(c.Admin.Listen); err != nil {
			bad("admin.listen", "%q is not host:port (or \"off\")", c.Admin.Listen)
		}
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		bad("log.level", "%q: want debug, info, warn or error", c.Log.Level)
	}
	if c.Log.Format != "text" && c.Log.Format != "json" {
		bad("log.format", "%q: want text or json", c.Log.Format)
	}
	if c.Audit.File == "" {
		bad("audit.file", "must be a path or \"-\" for standard output")
	}
	l := c.Limits
	positive := map[string]int64{
		"limits.max_sessions": int64(l.MaxSessions), "limits.max_message_size": int64(l.MaxMessageSize),
		"limits.spool_threshold": int64(l.SpoolThreshold), "limits.max_headers": int64(l.MaxHeaders),
		"limits.max_header_size": int64(l.MaxHeaderSize), "limits.max_recipients": int64(l.MaxRecipients),
		"limits.max_mime_depth": int64(l.MaxMIMEDepth), "limits.max_mime_parts": int64(l.MaxMIMEParts),
		"limits.max_decoded_size": int64(l.MaxDecodedSize),
	}
	for _, k := range sortedKeys(positive) {
		if positive[k] < 1 {
			bad(k, "must be at least 1")
		}
	}
	for k, d := range map[string]Duration{"limits.read_timeout": l.ReadTimeout, "limits.message_timeout": l.MessageTimeout, "limits.drain_timeout": l.DrainTimeout} {
		if d.D() < time.Second {
			bad(k, "must be at least 1s")
		}
	}
	th := c.Thresholds
	for k, v := range map[string]float64{"thresholds.add_header": th.AddHeader, "thresholds.quarantine": th.Quarantine, "thresholds.reject": th.Reject} {
		if v < 0 {
			bad(k, "must not be negative (0 turns it off)")
		}
	}
	if th.Quarantine > 0 && th.Reject > 0 && th.Quarantine >= th.Reject {
		bad("thresholds.quarantine", "%v must be below thresholds.reject %v, or it never applies", th.Quarantine, th.Reject)
	}
	if th.AddHeader > 0 && th.Reject > 0 && th.AddHeader >= th.Reject {
		bad("thresholds.add_header", "%v must be below thresholds.reject %v", th.AddHeader, th.Reject)
	}
	if r, err := check.ParseReply(c.Replies.Reject); err != nil || r.Code/100 != 5 {
		bad("replies.reject", "%q must be a 5xx reply like \"550 5.7.1 Message rejected\"", c.Replies.Reject)
	}
	if r, err := check.ParseReply(c.Replies.Tempfail); err != nil || r.Code/100 != 4 {
		bad("replies.tempfail", "%q must be a 4xx reply like \"451 4.7.1 Try again later\"", c.Replies.Tempfail)
	}
	c.Rules.validate(bad)
	c.Quarantine.validate(bad)
	dnsBad := c.DNS.Validate()
	for _, k := range sortedKeys(dnsBad) {
		bad(k, "%s", dnsBad[k])
	}
	names := make([]string, 0, len(c.Checks))
	for name := range c.Checks {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		n := c.Checks[name]
		if _, ok := check.Lookup(name); !ok {
			bad("checks."+name, "no such check (known: %s)", knownChecks())
			continue
		}
		_, rest, err := splitCommon(&n, name)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		// Factories are pure by contract (no I/O), so building each check
		// here lets one pass report the errors of every section.
		reg, _ := check.Lookup(name)
		ck, err := reg.Factory(rest, check.Env{Log: slog.New(slog.DiscardHandler), Content: c.Limits.Content()})
		if err != nil {
			errs = append(errs, err)
			continue
		}
		_ = ck.Close()
	}
	return errors.Join(errs...)
}

func knownChecks() string {
	var s string
	for i, r := range check.Registered() {
		if i > 0 {
			s += ", "
		}
		s += r.Name
	}
	return s
}

// splitCommon decodes the settings every check shares and returns the rest
// of the node for the check's own factory.
func splitCommon(n *yaml.Node, name string) (CheckCommon, *yaml.Node, error) {
	var cc CheckCommon
	if n.Kind == 0 || n.Tag == "!!null" {
		return cc, nil, nil
	}
	if n.Kind != yaml.MappingNode {
		return cc, nil, check.Errorf(n, "checks."+name, "must be a mapping of settings")
	}
	common := &yaml.Node{Kind: yaml.MappingNode, Line: n.Line, Column: n.Column}
	rest := &yaml.Node{Kind: yaml.MappingNode, Line: n.Line, Column: n.Column}
	for i := 0; i+1 < len(n.Content); i += 2 {
		switch n.Content[i].Value {
		case "enabled", "timeout", "on_error":
			common.Content = append(common.Content, n.Content[i], n.Content[i+1])
		default:
			rest.Content = append(rest.Content, n.Content[i], n.Content[i+1])
		}
	}
	if err := check.DecodeStrict(common, &cc, "checks."+name); err != nil {
		return cc, nil, err
	}
	if cc.OnError != "" {
		if _, err := check.ParseFailurePolicy(cc.OnError); err != nil {
			return cc, nil, check.Errorf(valueOf(n, "on_error"), "checks."+name+".on_error", "%v", err)
		}
	}
	if cc.Timeout != 0 && cc.Timeout.D() < time.Millisecond {
		return cc, nil, check.Errorf(valueOf(n, "timeout"), "checks."+name+".timeout", "must be at least 1ms")
	}
	if len(rest.Content) == 0 {
		rest = nil
	}
	return cc, rest, nil
}

func valueOf(n *yaml.Node, key string) *yaml.Node {
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return n
}

func splitPath(p string) []string {
	var out []string
	start := 0
	for i := 0; i <= len(p); i++ {
		if i == len(p) || p[i] == '.' {
			out = append(out, p[start:i])
			start = i + 1
		}
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
