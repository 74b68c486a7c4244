package audit

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"
)

func decode(t *testing.T, r *Record) map[string]any {
	t.Helper()
	var b bytes.Buffer
	New(&b).Write(r)
	var m map[string]any
	if err := json.Unmarshal(b.Bytes(), &m); err != nil {
		t.Fatalf("%v: %s", err, b.String())
	}
	return m
}

func TestAdminRecord(t *testing.T) {
	at := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	m := decode(t, &Record{Time: at, Event: "admin", Action: "release", By: "cli:alice", Quarantine: "0123",
		Sender: "a@example.net", Recipients: []string{"b@example.org"}, MessageID: "<m@x>", Result: "failed", Error: "relay refused"})
	for k, want := range map[string]any{"event": "admin", "action": "release", "by": "cli:alice", "quarantine_id": "0123",
		"mail_from": "a@example.net", "message_id": "<m@x>", "result": "failed", "error": "relay refused", "time": "2026-11-25T10:00:00Z"} {
		if m[k] != want {
			t.Errorf("%s = %v, want %v", k, m[k], want)
		}
	}
	if _, ok := m["count"]; ok {
		t.Error("a release record has a count")
	}
	if m := decode(t, &Record{Time: at, Event: "admin", Action: "purge", By: "cli:alice", Result: "ok"}); m["count"] != float64(0) {
		t.Errorf("purge record count = %v, want 0", m["count"])
	}
}

func TestMessageRecordUnchanged(t *testing.T) {
	m := decode(t, &Record{Time: time.Now(), Event: "message", Action: "accept"})
	for _, k := range []string{"by", "quarantine_id", "result", "error", "count"} {
		if _, ok := m[k]; ok {
			t.Errorf("message record has the admin field %s", k)
		}
	}
	for _, k := range []string{"stage", "qid", "mail_from", "rcpt", "symbols", "action", "reason", "duration_ms", "config"} {
		if _, ok := m[k]; !ok {
			t.Errorf("message record lacks %s", k)
		}
	}
}
