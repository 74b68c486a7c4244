package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

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
	if len(p.Checks()) != 1 || p.Checks()[0].Check.Name() != "policy" {
		t.Fatalf("default checks: %d", len(p.Checks()))
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
			[]string{"cfg.yaml:2: checks.clamv: no such check (known: policy"}},
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
	e := p.Checks()[0]
	if e.Timeout.String() != "500ms" || e.OnError.String() != "tempfail" {
		t.Fatalf("common settings not applied: %v %v", e.Timeout, e.OnError)
	}
}
