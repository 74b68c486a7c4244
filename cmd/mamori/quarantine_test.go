package main

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mamori-mail/mamori/integration/harness"
	"github.com/mamori-mail/mamori/internal/config"
	"github.com/mamori-mail/mamori/internal/quarantine"
)

type qenv struct {
	t       *testing.T
	cfg     string
	dataDir string
	audit   string
	st      *quarantine.SQLite
	sink    *harness.Sink
}

func newQEnv(t *testing.T) *qenv {
	t.Helper()
	dir := t.TempDir()
	e := &qenv{t: t, dataDir: filepath.Join(dir, "data"), audit: filepath.Join(dir, "audit.log"), sink: harness.StartSink(t)}
	e.cfg = writeFile(t, filepath.Join(dir, "m.yaml"), "quarantine:\n  mode: store\n  release:\n    relay: "+e.sink.Addr()+
		"\n    timeout: 5s\naudit:\n  file: "+e.audit+"\n")
	st, err := quarantine.OpenSQLite(config.QuarantineDir(e.dataDir))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	e.st = st
	return e
}

func (e *qenv) put(ent quarantine.Entry, msg string) string {
	e.t.Helper()
	if err := e.st.Put(context.Background(), &ent, strings.NewReader(msg)); err != nil {
		e.t.Fatal(err)
	}
	return ent.ID
}

func (e *qenv) run(args ...string) (int, string, string) {
	e.t.Helper()
	return runCmd(e.t, append(append([]string{"quarantine"}, args...), "--config", e.cfg, "--data-dir", e.dataDir)...)
}

func (e *qenv) auditRecords() []map[string]any {
	e.t.Helper()
	f, err := os.Open(e.audit)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		e.t.Fatal(err)
	}
	defer f.Close()
	var out []map[string]any
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			e.t.Fatalf("audit line not JSON: %s", sc.Text())
		}
		out = append(out, m)
	}
	return out
}

const qmsg = "From: Alice <alice@example.net>\r\nTo: bob@example.org\r\nSubject: Invoice overdue\r\nMessage-ID: <q1@example.net>\r\n\r\n" +
	".dot-stuffed line\r\nbody\r\n"

func TestQuarantineListShow(t *testing.T) {
	e := newQEnv(t)
	now := time.Now()
	a := e.put(quarantine.Entry{Time: now.Add(-time.Hour), Sender: "alice@example.net", Recipients: []string{"bob@example.org", "carol@example.org"},
		Subject: "Invoice overdue", From: "Alice <alice@example.net>", MessageID: "<q1@example.net>", Score: 12.5, Reason: "score 12.5",
		Symbols:  []quarantine.Symbol{{Name: "BAYES_SPAM", Score: 5}, {Name: "URIBL", Score: 7.5, Detail: "bad.example"}},
		ClientIP: "192.0.2.1", Helo: "mx.example.net", QueueID: "4ABC"}, qmsg)
	b := e.put(quarantine.Entry{Time: now.Add(-10 * 24 * time.Hour), Sender: "", Recipients: []string{"dave@example.com"}, Subject: "old bounce", Score: 3, Reason: "policy"}, "Subject: old bounce\r\n\r\nx\r\n")

	code, out, stderr := e.run("list")
	if code != exitOK || !strings.Contains(out, a) || !strings.Contains(out, b) || !strings.Contains(out, "bob@example.org (+1)") ||
		!strings.Contains(out, "<>") || !strings.Contains(stderr, "entries 1-2 of 2") {
		t.Fatalf("list: exit %d\n%s\n%s", code, out, stderr)
	}
	if strings.Index(out, a) > strings.Index(out, b) {
		t.Error("list is not newest first")
	}
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"--sender", "@example.net"}, []string{a}},
		{[]string{"--rcpt", "dave@example.com"}, []string{b}},
		{[]string{"--since", "7d"}, []string{a}},
		{[]string{"--until", "7d"}, []string{b}},
		{[]string{"--since", now.AddDate(0, 0, -30).Format("2006-01-02")}, []string{a, b}},
		{[]string{"--reason", "POLICY"}, []string{b}},
		{[]string{"--text", "invoice"}, []string{a}},
		{[]string{"--min-score", "10"}, []string{a}},
		{[]string{"--max-score", "10"}, []string{b}},
		{[]string{"--state", "held,release_failed"}, []string{a, b}},
		{[]string{"--state", "released"}, nil},
		{[]string{"--limit", "1", "--page", "2"}, []string{b}},
	} {
		code, out, stderr := e.run(append([]string{"list", "--json"}, tc.args...)...)
		if code != exitOK {
			t.Errorf("%v: exit %d: %s", tc.args, code, stderr)
			continue
		}
		var ids []string
		for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
			if l == "" {
				continue
			}
			var j map[string]any
			if err := json.Unmarshal([]byte(l), &j); err != nil {
				t.Fatalf("%v: not JSON: %s", tc.args, l)
			}
			ids = append(ids, j["id"].(string))
		}
		if strings.Join(ids, ",") != strings.Join(tc.want, ",") {
			t.Errorf("list %v = %v, want %v", tc.args, ids, tc.want)
		}
	}
	if code, _, stderr := e.run("list", "--limit", "1"); code != exitOK || !strings.Contains(stderr, "next page: --page 2") {
		t.Errorf("paged list: %d %s", code, stderr)
	}

	code, out, _ = e.run("show", a)
	for _, want := range []string{"Mail from:", "alice@example.net", "bob@example.org", "carol@example.org", "192.0.2.1", "4ABC", "<q1@example.net>",
		"score 12.5", "URIBL", "bad.example", "held since"} {
		if !strings.Contains(out, want) {
			t.Errorf("show lacks %q:\n%s", want, out)
		}
	}
	if code != exitOK || strings.Index(out, "URIBL") > strings.Index(out, "BAYES_SPAM") {
		t.Errorf("show: exit %d, symbols not by score:\n%s", code, out)
	}
	code, out, _ = e.run("show", a, "--raw") // flags after the ID
	if code != exitOK || out != qmsg {
		t.Errorf("show --raw: exit %d, bytes differ:\n%q", code, out)
	}
	if code, out, _ := e.run("show", "--json", b); code != exitOK || !strings.Contains(out, `"mail_from": ""`) {
		t.Errorf("show --json: %d %s", code, out)
	}
}

func TestQuarantineBadInput(t *testing.T) {
	e := newQEnv(t)
	id := e.put(quarantine.Entry{Sender: "a@example.net", Recipients: []string{"b@example.org"}}, qmsg)
	for _, args := range [][]string{
		{"show", "../x"},
		{"show", "../../etc/passwd"},
		{"release", id, "../x"}, // nothing done, not even the good one
		{"delete", strings.ToUpper(id)},
		{"show"},
		{"release", "--resolve", "maybe", id},
		{"list", "--since", "yesterday"},
		{"list", "--state", "stuck"},
		{"purge", "--older-than", "soon"},
		{"frobnicate"},
	} {
		code, _, stderr := e.run(args...)
		if code != exitUsage || stderr == "" {
			t.Errorf("%v: exit %d, stderr %q; want 2 with a reason", args, code, stderr)
		}
	}
	if got, _ := e.st.Get(context.Background(), id); got.State != quarantine.Held {
		t.Errorf("state %s after refused commands, want held", got.State)
	}
	if len(e.sink.Messages()) != 0 || len(e.auditRecords()) != 0 {
		t.Error("a refused command sent mail or wrote audit records")
	}
	if code, _, stderr := e.run("show", quarantine.NewID()); code != exitFailure || !strings.Contains(stderr, "no such entry") {
		t.Errorf("unknown ID: %d %s", code, stderr)
	}
}

func TestQuarantineRelease(t *testing.T) {
	e := newQEnv(t)
	a := e.put(quarantine.Entry{Sender: "alice@example.net", Recipients: []string{"bob@example.org", "carol@example.org"}, MessageID: "<q1@example.net>"}, qmsg)
	b := e.put(quarantine.Entry{Sender: "", Recipients: []string{"dave@example.com"}}, qmsg)
	t.Setenv("SUDO_USER", "alice")

	code, out, stderr := e.run("release", a, b)
	if code != exitOK || !strings.Contains(out, a+": released to "+e.sink.Addr()) {
		t.Fatalf("release: exit %d\n%s\n%s", code, out, stderr)
	}
	msgs := e.sink.WaitCount(t, 2, 10*time.Second)
	if msgs[0].From != "alice@example.net" || strings.Join(msgs[0].To, ",") != "bob@example.org,carol@example.org" || string(msgs[0].Data) != qmsg {
		t.Errorf("relayed %+v", msgs[0])
	}
	if msgs[1].From != "" || string(msgs[1].Data) != qmsg {
		t.Errorf("null-sender message relayed from %q", msgs[1].From)
	}
	// Again: refused, exit 1, nothing sent.
	code, _, stderr = e.run("release", a)
	if code != exitFailure || !strings.Contains(stderr, "released already") {
		t.Errorf("second release: exit %d %s", code, stderr)
	}
	if len(e.sink.Messages()) != 2 {
		t.Error("a released message was sent again")
	}
	recs := e.auditRecords()
	if len(recs) != 3 {
		t.Fatalf("%d audit records, want 3: %v", len(recs), recs)
	}
	for k, want := range map[string]any{"event": "admin", "action": "release", "by": "cli:alice", "quarantine_id": a,
		"mail_from": "alice@example.net", "result": "ok", "message_id": "<q1@example.net>"} {
		if recs[0][k] != want {
			t.Errorf("audit %s = %v, want %v", k, recs[0][k], want)
		}
	}
	if recs[2]["result"] != "failed" || !strings.Contains(recs[2]["error"].(string), "released") {
		t.Errorf("audit of the refused release: %v", recs[2])
	}
	got, _ := e.st.Get(context.Background(), a)
	if got.State != quarantine.Released || got.StateBy != "cli:alice" {
		t.Errorf("entry %s by %s", got.State, got.StateBy)
	}
}

func TestQuarantineReleaseFailsAndResolve(t *testing.T) {
	e := newQEnv(t)
	// No relay listening: release_failed, exit 1.
	bad := writeFile(t, filepath.Join(t.TempDir(), "bad.yaml"), "quarantine:\n  mode: store\n  release:\n    relay: 127.0.0.1:1\n    timeout: 2s\naudit:\n  file: "+e.audit+"\n")
	id := e.put(quarantine.Entry{Sender: "a@example.net", Recipients: []string{"b@example.org"}}, qmsg)
	code, _, stderr := runCmd(t, "quarantine", "release", "--config", bad, "--data-dir", e.dataDir, id)
	if code != exitFailure || !strings.Contains(stderr, "connection to relay 127.0.0.1:1 failed") {
		t.Fatalf("release to nowhere: exit %d %s", code, stderr)
	}
	if got, _ := e.st.Get(context.Background(), id); got.State != quarantine.ReleaseFailed {
		t.Fatalf("state %s, want release_failed", got.State)
	}
	// --resolve refuses what is not releasing.
	if code, _, stderr := e.run("release", "--resolve", "delivered", id); code != exitFailure || !strings.Contains(stderr, "not releasing") {
		t.Errorf("resolve of release_failed: %d %s", code, stderr)
	}
	// A release that began long ago and never finished.
	stuck := e.put(quarantine.Entry{Sender: "a@example.net", Recipients: []string{"b@example.org"}}, qmsg)
	if _, err := e.st.BeginRelease(context.Background(), stuck, "cli:crashed"); err != nil {
		t.Fatal(err)
	}
	code, _, stderr = e.run("release", stuck)
	if code != exitFailure || !strings.Contains(stderr, "--resolve delivered|failed "+stuck) {
		t.Errorf("release of a releasing entry: %d %s", code, stderr)
	}
	// Too recent: it may still be running.
	if code, _, stderr := e.run("release", "--resolve", "failed", stuck); code != exitFailure || !strings.Contains(stderr, "may still be running") {
		t.Errorf("resolve of a fresh release: %d %s", code, stderr)
	}
	// Dated back, it resolves; failed makes it releasable again.
	cfg := writeFile(t, filepath.Join(t.TempDir(), "fast.yaml"), "quarantine:\n  mode: store\n  release:\n    relay: "+e.sink.Addr()+"\n    timeout: 1ms\naudit:\n  file: "+e.audit+"\n")
	defer func(old time.Duration) { resolveGrace = old }(resolveGrace)
	resolveGrace = 0
	code, out, stderr := runCmd(t, "quarantine", "release", "--resolve", "failed", "--config", cfg, "--data-dir", e.dataDir, stuck)
	if code != exitOK || !strings.Contains(out, "release_failed") {
		t.Fatalf("resolve failed: %d %s %s", code, out, stderr)
	}
	if code, _, stderr := e.run("release", stuck); code != exitOK {
		t.Fatalf("release after resolve failed: %d %s", code, stderr)
	}
	e.sink.WaitCount(t, 1, 10*time.Second)
	var actions []string
	for _, r := range e.auditRecords() {
		actions = append(actions, r["action"].(string)+"/"+r["result"].(string))
	}
	if got := strings.Join(actions, " "); got != "release/failed release/failed resolve/ok release/ok" {
		t.Errorf("audit trail %q", got)
	}
}

func TestQuarantineDeletePurge(t *testing.T) {
	e := newQEnv(t)
	now := time.Now()
	a := e.put(quarantine.Entry{Time: now.Add(-time.Hour), Sender: "a@example.net", Recipients: []string{"b@example.org"}}, qmsg)
	old := e.put(quarantine.Entry{Time: now.Add(-40 * 24 * time.Hour), Sender: "a@example.net", Recipients: []string{"b@example.org"}}, qmsg)
	if code, out, stderr := e.run("delete", "--by", "bob", a); code != exitOK || !strings.Contains(out, "deleted") {
		t.Fatalf("delete: %d %s %s", code, out, stderr)
	}
	got, _ := e.st.Get(context.Background(), a)
	if got.State != quarantine.Deleted || got.StateBy != "bob" {
		t.Errorf("after delete: %s by %s", got.State, got.StateBy)
	}
	if code, _, stderr := e.run("delete", a); code != exitFailure || !strings.Contains(stderr, "deleted") {
		t.Errorf("second delete: %d %s", code, stderr)
	}
	if code, _, _ := e.run("show", "--raw", a); code != exitFailure {
		t.Error("show --raw of a deleted entry succeeded")
	}
	// Default: the configuration's retention (30 days).
	code, out, stderr := e.run("purge")
	if code != exitOK || !strings.Contains(out, "purged 1 entries") {
		t.Fatalf("purge: %d %s %s", code, out, stderr)
	}
	if _, err := e.st.Get(context.Background(), old); err == nil {
		t.Error("the 40-day-old entry survived the purge")
	}
	if code, out, _ := e.run("purge", "--older-than", "30m"); code != exitOK || !strings.Contains(out, "purged 1 entries") {
		t.Errorf("purge --older-than 30m: %d %s", code, out)
	}
	recs := e.auditRecords()
	if len(recs) != 4 || recs[0]["action"] != "delete" || recs[0]["by"] != "bob" || recs[3]["action"] != "purge" || recs[3]["count"] != float64(1) {
		t.Errorf("audit records: %v", recs)
	}
}

func TestQuarantineHelp(t *testing.T) {
	code, out, _ := runCmd(t, "quarantine", "--help")
	if code != exitOK || !strings.Contains(out, "Examples:") || !strings.Contains(out, "--resolve delivered") {
		t.Errorf("help: %d %s", code, out)
	}
	if code, _, stderr := runCmd(t, "quarantine", "list", "-h"); code != exitUsage || !strings.Contains(stderr, "-min-score") {
		t.Errorf("list -h: %d %s", code, stderr)
	}
}
