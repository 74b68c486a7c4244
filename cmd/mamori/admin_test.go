package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mamori-mail/mamori/internal/quarantine"
)

func runAdmin(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(append([]string{"admin"}, args...), strings.NewReader(stdin), &out, &errb)
	return code, out.String(), errb.String()
}

// TestAdminAccounts manages console accounts from the command line: each
// change is in the store and in the audit trail.
func TestAdminAccounts(t *testing.T) {
	dir := t.TempDir()
	auditFile := filepath.Join(dir, "audit.log")
	cfg := filepath.Join(dir, "m.yaml")
	os.WriteFile(cfg, []byte("audit: {file: "+auditFile+"}\n"), 0o644)
	data := filepath.Join(dir, "data")
	common := []string{"--config", cfg, "--data-dir", data, "--by", "cli:root"}
	if code, out, stderr := runAdmin(t, "correct horse battery\n", append([]string{"add-user", "--role", "operator", "--domains", "city.example.lg.jp"}, append(common, "alice")...)...); code != exitOK {
		t.Fatalf("add-user: exit %d %s %s", code, out, stderr)
	}
	if code, _, stderr := runAdmin(t, "short\n", append([]string{"add-user"}, append(common, "bob")...)...); code != exitFailure || !strings.Contains(stderr, "at least 12") {
		t.Errorf("short password: exit %d %s", code, stderr)
	}
	if code, _, stderr := runAdmin(t, "correct horse battery\n", append([]string{"add-user"}, append(common, "alice")...)...); code != exitFailure || !strings.Contains(stderr, "exists") {
		t.Errorf("duplicate: exit %d %s", code, stderr)
	}
	if code, _, _ := runAdmin(t, "", append([]string{"set-role"}, append(common, "alice", "superuser")...)...); code != exitFailure {
		t.Errorf("bad role: exit %d", code)
	}
	if code, _, _ := runAdmin(t, "", append([]string{"set-role"}, append(common, "alice", "admin")...)...); code != exitOK {
		t.Errorf("set-role: exit %d", code)
	}
	code, out, _ := runAdmin(t, "", append([]string{"list"}, common...)...)
	if code != exitOK || !strings.Contains(out, "alice") || !strings.Contains(out, "admin") || !strings.Contains(out, "city.example.lg.jp") {
		t.Errorf("list: exit %d\n%s", code, out)
	}
	st, err := quarantine.OpenSQLite(filepath.Join(data, "quarantine"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Authenticate(context.Background(), "alice", "correct horse battery", "127.0.0.1", time.Now()); err != nil {
		t.Errorf("the password set from the command line does not log in: %v", err)
	}
	st.Close()
	if code, _, _ := runAdmin(t, "", append([]string{"frobnicate"}, common...)...); code != exitUsage {
		t.Errorf("unknown subcommand: exit %d", code)
	}
	log, _ := os.ReadFile(auditFile)
	for _, want := range []string{`"action":"user_add"`, `"by":"cli:root"`, `"result":"failed"`, `"action":"user_role"`, `account alice`} {
		if !strings.Contains(string(log), want) {
			t.Errorf("audit trail lacks %s:\n%s", want, log)
		}
	}
}
