package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func runCmd(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(args, strings.NewReader("From: a@b.example\nTo: c@d.example\nSubject: stdin\n\nhi\n"), &out, &errb)
	return code, out.String(), errb.String()
}

func TestCheckJSONContract(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "m.yaml")
	os.WriteFile(cfg, []byte("checks:\n  policy:\n    entries:\n      - {sender: bad@spam.example, action: reject}\n      - {sender: held@x.example, action: quarantine}\n"), 0o644)
	mail := func(name, from string) string {
		p := filepath.Join(dir, "mail", name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, []byte("From "+from+" Thu Jan  1 00:00:00 2002\nFrom: "+from+"\nTo: you@example.org\nSubject: t\n\nbody\n"), 0o644)
		return p
	}
	mail("1.eml", "bad@spam.example")
	mail("2.eml", "held@x.example")
	mail("3.eml", "fine@example.net")
	code, out, stderr := runCmd(t, "check", "--json", "--config", cfg, filepath.Join(dir, "mail"), "-")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 4 {
		t.Fatalf("want 4 JSON lines, got:\n%s", out)
	}
	want := []string{"reject", "quarantine", "accept", "accept"}
	for i, l := range lines {
		var r map[string]any
		if err := json.Unmarshal([]byte(l), &r); err != nil {
			t.Fatalf("line %d not JSON: %s", i, l)
		}
		for _, k := range []string{"file", "action", "score", "reason", "symbols"} {
			if _, ok := r[k]; !ok {
				t.Errorf("line %d lacks %q: %s", i, k, l)
			}
		}
		if r["action"] != want[i] {
			t.Errorf("line %d action %v, want %s", i, r["action"], want[i])
		}
	}
	if !strings.Contains(lines[0], `"name":"POLICY_REJECT_SENDER"`) || !strings.Contains(lines[0], `"reply":"550 5.7.1 Sender rejected by local policy"`) {
		t.Errorf("reject line: %s", lines[0])
	}
}

func TestExitCodes(t *testing.T) {
	if code, _, _ := runCmd(t); code != exitUsage {
		t.Errorf("no command: exit %d, want %d", code, exitUsage)
	}
	if code, _, _ := runCmd(t, "frobnicate"); code != exitUsage {
		t.Errorf("unknown command: exit %d", code)
	}
	if code, _, _ := runCmd(t, "check"); code != exitUsage {
		t.Errorf("check without files: exit %d", code)
	}
	if code, _, _ := runCmd(t, "check", "--client-ip", "nope", "-"); code != exitUsage {
		t.Errorf("bad --client-ip: exit %d", code)
	}
	if code, out, _ := runCmd(t, "check", "/nonexistent/file"); code != exitFailure || !strings.Contains(out, "error") {
		t.Errorf("unreadable file: exit %d, out %q", code, out)
	}
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(bad, []byte("lisen: x\n"), 0o644)
	if code, _, stderr := runCmd(t, "validate", "--config", bad); code != exitUsage || !strings.Contains(stderr, "bad.yaml:1: lisen: unknown field") {
		t.Errorf("invalid config: exit %d, %q", code, stderr)
	}
	if code, out, _ := runCmd(t, "validate"); code != exitOK || !strings.Contains(out, "embedded defaults: ok") {
		t.Errorf("validate defaults: exit %d %q", code, out)
	}
}

// TestCheckChargesNoRateLimit: mamori check judges with the limits but uses
// none of their quota, so checking a folder never throttles real senders.
// The in-process store is shared by every run in this process, so a
// charged run would show in the next ones.
func TestCheckChargesNoRateLimit(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "m.yaml")
	os.WriteFile(cfg, []byte("checks:\n  ratelimit:\n    limits:\n      - {name: sender, key: sender, rate: 1, period: 1h}\n"), 0o644)
	for i := range 3 {
		code, out, stderr := runCmd(t, "check", "--json", "--config", cfg, "--from", "cli@example.net", "--client-ip", "192.0.2.1", "-")
		if code != exitOK || !strings.Contains(out, `"action":"accept"`) {
			t.Fatalf("run %d: exit %d, %s %s", i+1, code, out, stderr)
		}
	}
}

// TestCheckReceivedBy: the client comes from the Received field our own
// server wrote, not from the ones below it, and the client tests judge it.
func TestCheckReceivedBy(t *testing.T) {
	msg := filepath.Join(t.TempDir(), "m.eml")
	os.WriteFile(msg, []byte("Received: from localhost (localhost [127.0.0.1]) by mx.example.org (Postfix) with ESMTP id 2\n"+
		"Received: from pc17 (unknown [203.0.113.5]) by mx.example.org (Postfix) with SMTP id 1\n"+
		"Received: from mail.forged.example (mail.forged.example [192.0.2.99]) by pc17\n"+
		"From: a@b.example\nTo: c@example.org\nSubject: t\n\nbody\n"), 0o644)
	code, out, stderr := runCmd(t, "check", "--json", "--received-by", "mx.example.org", msg)
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, want := range []string{`"client":"203.0.113.5 (unknown) HELO pc17, received by mx.example.org"`, `"name":"HELO_NOT_FQDN"`, `"name":"CLIENT_NO_RDNS"`} {
		if !strings.Contains(out, want) {
			t.Errorf("lacks %s: %s", want, out)
		}
	}
	// Without it the message is judged with no client, as before.
	if _, out, _ := runCmd(t, "check", "--json", msg); strings.Contains(out, "HELO_NOT_FQDN") || strings.Contains(out, `"client"`) {
		t.Errorf("client tests fired without a client: %s", out)
	}
	if _, out, _ := runCmd(t, "check", "--received-by", "other.example", msg); !strings.Contains(out, "client: none found") {
		t.Errorf("no field by our host: %s", out)
	}
	for _, flag := range []string{"--client-ip=192.0.2.1", "--client-host=x.example", "--helo=x.example", "--auth-user=alice"} {
		if code, _, stderr := runCmd(t, "check", "--received-by", "mx.example.org", flag, msg); code != exitUsage {
			t.Errorf("--received-by with %s: exit %d %s", flag, code, stderr)
		}
	}
	// A submission through our server is an authenticated user's, whose
	// home line and laptop name are not judged.
	auth := filepath.Join(t.TempDir(), "auth.eml")
	os.WriteFile(auth, []byte("Received: from laptop (c-203-0-113-5.hsd1.example.net [203.0.113.5]) (Authenticated sender: alice) by mx.example.org (Postfix) with ESMTPSA id 1\n"+
		"From: a@example.org\nTo: c@example.org\nSubject: t\n\nbody\n"), 0o644)
	_, out, _ = runCmd(t, "check", "--json", "--received-by", "mx.example.org", auth)
	if !strings.Contains(out, "authenticated as alice") || strings.Contains(out, "HELO_NOT_FQDN") || strings.Contains(out, "CLIENT_DYNAMIC") {
		t.Errorf("authenticated submission: %s", out)
	}
}
