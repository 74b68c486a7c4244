package daemon

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/mamori-mail/mamori/internal/audit"
	"github.com/mamori-mail/mamori/internal/config"
	"github.com/mamori-mail/mamori/internal/mailfile"
	"github.com/mamori-mail/mamori/internal/quarantine"
	"github.com/mamori-mail/mamori/milter"
	"github.com/mamori-mail/mamori/rules/check"
)

const holdConfig = "checks:\n  policy:\n    entries:\n      - {sender: held@example.net, action: quarantine}\n  bayes: {enabled: false}\n"

// runMessage drives one message through a connection's stages, as the
// milter session does, and returns the end-of-message response.
func runMessage(t *testing.T, f *Filter, raw string) milter.Response {
	t.Helper()
	m, err := mailfile.Parse(strings.NewReader(raw), accLimits)
	if err != nil {
		t.Fatal(err)
	}
	m.Sender, m.QueueID = "held@example.net", "4XyZ12"
	c := f.NewConnection()
	defer c.Close()
	for _, st := range []check.Stage{check.Connect, check.Helo, check.MailFrom} {
		c.Stage(st, m)
	}
	rcpts := []string{"bob@example.org", "carol@example.org"}
	for _, r := range rcpts {
		m.Recipients = append(m.Recipients, r)
		c.Stage(check.Rcpt, m)
	}
	c.Stage(check.EOH, m)
	r := c.Stage(check.EOM, m)
	c.EndMessage(m, false)
	return r
}

func quarantineFilter(t *testing.T, st quarantine.Store) (*Filter, *bytes.Buffer) {
	t.Helper()
	cfg, err := config.Parse([]byte(holdConfig))
	if err != nil {
		t.Fatal(err)
	}
	p, err := cfg.Build(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	var log bytes.Buffer
	f := NewFilter(p, audit.New(&log), time.Minute, nil)
	if st != nil {
		f.SetQuarantine(st)
	}
	return f, &log
}

const heldMessage = "Received: from client.example (client.example [192.0.2.7])\r\n\tby mx.example.org (Postfix) with ESMTP id 4XyZ12\r\nFrom: =?UTF-8?B?5pel5pys?= <held@example.net>\r\nTo: bob@example.org\r\nSubject: =?ISO-2022-JP?B?GyRCOCtAURsoQg==?= hold me\r\nMessage-ID: <held-1@example.net>\r\n\r\nbody line\r\n.leading dot\r\n\xff 8-bit\r\n"

// In store mode a quarantined message is written to the store, exact
// bytes and envelope, before the MTA is told to discard it; the audit
// record carries the store's ID.
func TestQuarantineStoreMode(t *testing.T) {
	st, err := quarantine.OpenSQLite(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	f, log := quarantineFilter(t, st)
	r := runMessage(t, f, heldMessage)
	if r.Action != milter.Discard {
		t.Fatalf("action %v, want discard (the store holds it)", r.Action)
	}
	var rec map[string]any
	if err := json.Unmarshal(log.Bytes(), &rec); err != nil || rec["action"] != "quarantine" || rec["quarantine_id"] == nil {
		t.Fatalf("audit record %s (%v)", log.String(), err)
	}
	id := rec["quarantine_id"].(string)
	e, err := st.Get(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if e.Sender != "held@example.net" || strings.Join(e.Recipients, ",") != "bob@example.org,carol@example.org" || e.QueueID != "4XyZ12" ||
		e.Subject != "見積 hold me" || e.From != "日本 <held@example.net>" || e.MessageID != "<held-1@example.net>" ||
		!strings.Contains(e.Reason, "policy") || len(e.Symbols) == 0 {
		t.Errorf("entry %+v", e)
	}
	rc, err := st.Open(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(rc)
	rc.Close()
	if err != nil || string(got) != heldMessage {
		t.Errorf("stored bytes differ (%v):\n%q\nwant\n%q", err, got, heldMessage)
	}
}

// A store that cannot write turns the quarantine into a tempfail: the
// message is neither delivered nor lost, and the audit record says why.
func TestQuarantineStoreFailureTempfails(t *testing.T) {
	f, log := quarantineFilter(t, failingStore{})
	r := runMessage(t, f, heldMessage)
	if r.Action != milter.Tempfail || r.Reply.Code != 451 {
		t.Fatalf("response %+v, want a 451 tempfail", r)
	}
	if !strings.Contains(log.String(), `"action":"tempfail"`) || !strings.Contains(log.String(), "quarantine store failed: disk full") {
		t.Errorf("audit record %s", log.String())
	}
}

// Hold mode (no store) still uses the MTA's quarantine.
func TestQuarantineHoldMode(t *testing.T) {
	f, _ := quarantineFilter(t, nil)
	if r := runMessage(t, f, heldMessage); r.Action != milter.Quarantine || r.QuarantineReason == "" {
		t.Fatalf("response %+v, want the MTA's quarantine", r)
	}
}

type failingStore struct{ quarantine.Store }

func (failingStore) Put(context.Context, *quarantine.Entry, io.Reader) error {
	return errors.New("disk full")
}
