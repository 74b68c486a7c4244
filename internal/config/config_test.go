package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mamori-mail/mamori/rules"

	_ "github.com/mamori-mail/mamori/reputation/policy"
)

func TestDefaultsAreValid(t *testing.T) {
	c, err := Load("")
	if err != nil {
		t.Fatalf("embedded defaults do not validate: %v", err)
	}
	p, err := c.Build(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	var names []string
	for _, e := range p.Checks() {
		names = append(names, e.Check.Name())
	}
	// The checks that need no server: the rule set, the classifier (silent
	// until trained), the file-type rules and the policy lists.
	if got := strings.Join(names, " "); got != "rules bayes filetype policy" {
		t.Fatalf("default checks: %s", got)
	}
	if p.Rules.Kinds["meta"] == 0 || p.Rules.Kinds["body"] == 0 || p.Policy.Meta == nil {
		t.Fatalf("the default rule set is not loaded: %+v", p.Rules)
	}
}

// TestConfigErrors pins the exact messages: operators read them, and
// scripts around `mamori validate` may match them.
func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		name, yaml string
		want       []string
	}{
		{"unknown top-level key with suggestion", "lisen: x\n",
			[]string{"cfg.yaml:1: lisen: unknown field (did you mean \"listen\"?)"}},
		{"bad listen", "listen: nowhere\n",
			[]string{`cfg.yaml:1: listen: "nowhere" is not host:port or unix:/path`}},
		{"relative unix socket", "listen: unix:run/m.sock\n",
			[]string{`cfg.yaml:1: listen: unix socket path in "unix:run/m.sock" must be absolute`}},
		{"type error", "limits:\n  max_sessions: many\n",
			[]string{"cfg.yaml:2: cannot unmarshal !!str `many` into int"}},
		{"bad duration", "limits:\n  read_timeout: forever\n",
			[]string{`cfg.yaml:2: "forever" is not a duration`}},
		{"bad size", "limits:\n  max_message_size: 10Q\n",
			[]string{`cfg.yaml:2: "10Q" is not a size`}},
		{"zero limit", "limits:\n  max_recipients: 0\n",
			[]string{"cfg.yaml:2: limits.max_recipients: must be at least 1"}},
		{"thresholds out of order", "thresholds:\n  quarantine: 20\n  reject: 15\n",
			[]string{"cfg.yaml:2: thresholds.quarantine: 20 must be below thresholds.reject 15, or it never applies"}},
		{"reject reply must be 5xx", "replies:\n  reject: \"450 4.7.1 no\"\n",
			[]string{`cfg.yaml:2: replies.reject: "450 4.7.1 no" must be a 5xx reply`}},
		{"unknown check", "checks:\n  clamv: {}\n",
			[]string{"cfg.yaml:2: checks.clamv: no such check (known: bayes, clamav"}},
		{"bad on_error", "checks:\n  policy:\n    on_error: explode\n",
			[]string{`cfg.yaml:3: checks.policy.on_error: on_error must be tempfail or continue, not "explode"`}},
		{"policy entry errors carry lines", "checks:\n  policy:\n    entries:\n      - sender: a@b\n        action: reject\n      - client_ip: 10.0.0.1/8\n        action: reject\n      - sender: x\n        sender_domain: y\n        action: nope\n",
			[]string{
				"cfg.yaml:6: checks.policy.entries[1]: client_ip \"10.0.0.1/8\": 10.0.0.1/8 has host bits set (did you mean 10.0.0.0/8?)",
				"cfg.yaml:8: checks.policy.entries[2]: sender \"x\" is not an address",
				"cfg.yaml:8: checks.policy.entries[2]: set exactly one of sender, sender_domain, client_ip, recipient (found 2)",
				`cfg.yaml:8: checks.policy.entries[2]: action "nope": want allow, reject, tempfail, quarantine, discard or score`,
			}},
		{"unknown key in a check", "checks:\n  policy:\n    entries:\n      - sendr: a@b\n        action: reject\n",
			[]string{`cfg.yaml:4: checks.policy.entries[0].sendr: unknown field (did you mean "sender"?)`}},
		{"several errors in one pass", "listen: x\nlimits:\n  max_headers: 0\nlog:\n  level: loud\n",
			[]string{"cfg.yaml:1: listen:", "cfg.yaml:3: limits.max_headers: must be at least 1", `cfg.yaml:5: log.level: "loud": want debug, info, warn or error`}},
		{"not yaml", "listen: [\n",
			[]string{"cfg.yaml:1: did not find expected node content"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "cfg.yaml")
			if err := os.WriteFile(path, []byte(tc.yaml), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := Load(path)
			if err == nil {
				t.Fatal("invalid configuration accepted")
			}
			msg := strings.ReplaceAll(err.Error(), filepath.Dir(path)+"/", "")
			lines := strings.Split(msg, "\n")
			if len(lines) != len(tc.want) {
				t.Fatalf("got %d errors, want %d:\n%s", len(lines), len(tc.want), msg)
			}
			for i, w := range tc.want {
				if !strings.HasPrefix(lines[i], w) {
					t.Errorf("error %d:\n got  %s\n want %s...", i, lines[i], w)
				}
			}
		})
	}
}

func TestValidConfig(t *testing.T) {
	c, err := Parse([]byte(`
listen: unix:/run/mamori/milter.sock
admin: {listen: "[::1]:11334"}
limits: {max_message_size: 50M, spool_threshold: 512K, read_timeout: 10m}
thresholds: {add_header: 4, quarantine: 8, reject: 12}
scores: {POLICY_SCORE_SENDER: 2.5}
checks:
  policy:
    timeout: 500ms
    on_error: tempfail
    entries:
      - {client_ip: "2001:db8::/32", action: reject, reply: "554 5.7.1 Go away"}
      - {sender_domain: .example.com, action: allow}
      - {recipient: "@example.org", action: quarantine}
`))
	if err != nil {
		t.Fatal(err)
	}
	if c.Limits.MaxMessageSize != 50<<20 || c.Limits.SpoolThreshold != 512<<10 {
		t.Fatalf("sizes %d %d", c.Limits.MaxMessageSize, c.Limits.SpoolThreshold)
	}
	p, err := c.Build("", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	var e *rules.Entry
	for _, x := range p.Checks() {
		if x.Check.Name() == "policy" {
			e = x
		}
	}
	if e.Timeout.String() != "500ms" || e.OnError.String() != "tempfail" {
		t.Fatalf("common settings not applied: %v %v", e.Timeout, e.OnError)
	}
}

func TestRulesSection(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "local.yaml"), []byte(`
scores: {BAYES_SPAM: 4}
thresholds: {quarantine: 9}
policies:
  - {name: agency, recipient_domains: [city.example.lg.jp], thresholds: {add_header: 3}}
`), 0o644)
	c, err := Parse([]byte("rules: {dir: " + dir + "}\nthresholds: {add_header: 6}\nscores: {BAYES_SPAM: 1, BAYES_HAM: -2}\n"))
	if err != nil {
		t.Fatal(err)
	}
	p, err := c.Build(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	pol := p.Policy
	if pol.Thresholds != (rules.Thresholds{AddHeader: 6, Quarantine: 9, Reject: 15}) {
		t.Errorf("thresholds %+v", pol.Thresholds)
	}
	if pol.Scores["BAYES_SPAM"] != 4 || pol.Scores["BAYES_HAM"] != -2 {
		t.Errorf("scores %v: the rule file's must win, the configuration's others stay", pol.Scores)
	}
	if len(pol.Domains) != 1 || pol.Domains[0].Thresholds != (rules.Thresholds{AddHeader: 3, Quarantine: 9, Reject: 15}) {
		t.Errorf("domain policy %+v", pol.Domains)
	}

	// Errors: a missing directory; settings out of range; thresholds that
	// only the rule files make inconsistent.
	if _, err := Parse([]byte("rules: {timeout: 0s, on_error: maybe, max_text: 10}\n")); err == nil ||
		!strings.Contains(err.Error(), "rules.timeout: must be positive") || !strings.Contains(err.Error(), "rules.on_error:") || !strings.Contains(err.Error(), "rules.max_text:") {
		t.Errorf("validation: %v", err)
	}
	c, _ = Parse([]byte("rules: {dir: /nonexistent/rules.d}\n"))
	if _, err := c.Build("", nil); err == nil || !strings.Contains(err.Error(), "rules.dir: rules directory: stat /nonexistent/rules.d") {
		t.Errorf("missing dir: %v", err)
	}
	os.WriteFile(filepath.Join(dir, "local.yaml"), []byte("thresholds: {add_header: 20}\n"), 0o644)
	c, _ = Parse([]byte("rules: {dir: " + dir + "}\n"))
	if _, err := c.Build("", nil); err == nil || !strings.Contains(err.Error(), "add_header and quarantine must be below reject") {
		t.Errorf("inconsistent thresholds: %v", err)
	}
}

// TestFailSymbols pins the failure symbol of every built-in check: a
// family whose results include NAME_FAIL fails as NAME_CHECK_FAIL.
func TestFailSymbols(t *testing.T) {
	for name, want := range map[string]string{"spf": "SPF_CHECK_FAIL", "dkim": "DKIM_CHECK_FAIL", "dnsbl": "DNSBL_FAIL",
		"uribl": "URIBL_FAIL", "clamav": "CLAMAV_FAIL", "dmarc": "DMARC_FAIL", "bayes": "BAYES_FAIL", "rules": "RULES_FAIL"} {
		if got := rules.FailSymbol(name); got != want {
			t.Errorf("FailSymbol(%s) = %s, want %s", name, got, want)
		}
	}
}
