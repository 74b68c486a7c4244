package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writeRules makes an operator rule directory with one example message
// per outcome.
func writeRules(t *testing.T, rules string) string {
	t.Helper()
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "examples"), 0o755)
	os.WriteFile(filepath.Join(dir, "examples", "offer.eml"), []byte("From: shop@example.net\nTo: you@example.org\nSubject: Limited offer for you\nDate: Wed, 25 Nov 2026 10:00:00 +0000\nMessage-ID: <1@example.net>\n\nPlease click here to claim.\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "examples", "notes.eml"), []byte("From: boss@example.org\nTo: you@example.org\nSubject: Meeting notes\nDate: Wed, 25 Nov 2026 10:00:00 +0000\nMessage-ID: <2@example.org>\n\nSee you tomorrow.\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "50-local.yaml"), []byte(rules), 0o644)
	return dir
}

const localRules = `
rules:
  - name: LOCAL_OFFER
    header: Subject
    match: '(?i)\boffer\b'
    score: 2
    description: an offer in the subject
    examples: {match: [examples/offer.eml], no_match: [examples/notes.eml]}
  - name: LOCAL_CLICK
    body: '(?i)click here'
    score: 1.5
    description: click here
    examples: {match: [examples/offer.eml]}
  - name: LOCAL_BOTH
    meta: LOCAL_OFFER && LOCAL_CLICK
    score: 2
    description: an offer and a click
    examples: {match: [examples/offer.eml], no_match: [examples/notes.eml]}
scores:
  SPF_FAIL: 2
  SPF_FIAL: 2
thresholds: {add_header: 4}
`

func TestRulesLintAndTest(t *testing.T) {
	dir := writeRules(t, localRules)
	code, out, stderr := runCmd(t, "rules", "lint", dir)
	if code != exitOK || !strings.Contains(out, "warning: scores: SPF_FIAL: no check or rule reports this symbol") ||
		strings.Contains(out, "SPF_FAIL:") || !strings.Contains(out, "ok: ") || !strings.Contains(out, "add_header 4,") {
		t.Errorf("lint: exit %d\n%s%s", code, out, stderr)
	}
	os.WriteFile(filepath.Join(dir, "40-placeholder.yaml"), nil, 0o644)
	if code, out, _ := runCmd(t, "rules", "lint", dir); code != exitOK || !strings.Contains(out, "warning: "+filepath.Join(dir, "40-placeholder.yaml")+": empty: it adds no rules") {
		t.Errorf("lint with an empty file: exit %d\n%s", code, out)
	}
	os.Remove(filepath.Join(dir, "40-placeholder.yaml"))
	code, out, stderr = runCmd(t, "rules", "test", "--no-defaults", dir)
	if code != exitOK || !strings.Contains(out, "5 examples, 0 failed") {
		t.Errorf("test: exit %d\n%s%s", code, out, stderr)
	}

	// An example that contradicts its rule fails, naming file and line.
	bad := writeRules(t, strings.Replace(localRules, "examples: {match: [examples/offer.eml]}", "examples: {no_match: [examples/offer.eml]}", 1))
	code, out, _ = runCmd(t, "rules", "test", "--no-defaults", bad)
	if code != exitFailure || !strings.Contains(out, "FAIL LOCAL_CLICK: "+filepath.Join(bad, "examples/offer.eml")+": no_match example ("+filepath.Join(bad, "50-local.yaml")+":9)") {
		t.Errorf("failing example: exit %d\n%s", code, out)
	}

	// A broken file: every error with file, line and rule; exit 1.
	broken := writeRules(t, `
rules:
  - {name: GOOD, body: x, score: 1}
  - {name: BAD_RE, body: '(x', score: 1}
  - {name: BAD_META, meta: 'GOOD && GOD', score: 1}
`)
	code, out, stderr = runCmd(t, "rules", "lint", broken)
	f := filepath.Join(broken, "50-local.yaml")
	if code != exitFailure || !strings.Contains(stderr, f+":4: rules[1] BAD_RE.body: error parsing regexp") {
		t.Errorf("broken lint: exit %d\n%s%s", code, out, stderr)
	}
	// Meta rules are compiled once every rule is valid.
	broken = writeRules(t, "rules:\n  - {name: GOOD, body: x, score: 1}\n  - {name: BAD_META, meta: 'GOOD && GOD', score: 1}\n")
	code, _, stderr = runCmd(t, "rules", "lint", broken)
	if code != exitFailure || !strings.Contains(stderr, filepath.Join(broken, "50-local.yaml")+`:3: BAD_META.meta: column 9: unknown symbol "GOD" (did you mean GOOD?)`) {
		t.Errorf("meta lint: exit %d\n%s", code, stderr)
	}
	if code, _, _ := runCmd(t, "rules", "lint", "/nonexistent"); code != exitUsage {
		t.Errorf("missing dir: exit %d", code)
	}
	if code, _, _ := runCmd(t, "rules"); code != exitUsage {
		t.Errorf("no subcommand: exit %d", code)
	}
}

func TestCheckExplain(t *testing.T) {
	dir := writeRules(t, localRules)
	cfg := filepath.Join(t.TempDir(), "m.yaml")
	os.WriteFile(cfg, []byte("rules: {dir: "+dir+", defaults: false}\nchecks: {bayes: {enabled: false}}\n"), 0o644)
	code, out, stderr := runCmd(t, "check", "--explain", "--config", cfg, filepath.Join(dir, "examples", "offer.eml"))
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, want := range []string{
		"add_header (score 5.5)",
		"thresholds (global policy): add_header 4, quarantine off, reject 15",
		"LOCAL_OFFER  2      " + filepath.Join(dir, "50-local.yaml") + ":3",
		`header: "offer"`, "an offer in the subject",
		"LOCAL_BOTH", "meta: LOCAL_CLICK LOCAL_OFFER", "an offer and a click [LOCAL_OFFER && LOCAL_CLICK]",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("explain lacks %q:\n%s", want, out)
		}
	}
}

// TestWorkedExample keeps docs/rules.md's worked example true: the rule
// directory it shows lints clean and its examples pass over the default
// set.
func TestWorkedExample(t *testing.T) {
	dir := filepath.Join("..", "..", "docs", "examples", "rules.d")
	if code, out, stderr := runCmd(t, "rules", "lint", dir); code != exitOK || strings.Contains(out, "warning: scores:") {
		t.Errorf("lint: exit %d\n%s%s", code, out, stderr)
	}
	if code, out, stderr := runCmd(t, "rules", "test", dir); code != exitOK {
		t.Errorf("test: exit %d\n%s%s", code, out, stderr)
	}
}
