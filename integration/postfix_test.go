package integration

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/mamori-mail/mamori/integration/harness"
)

const denyConfig = `
checks:
  policy:
    entries:
      - sender: spammer@bad.example
        action: reject
        reply: "554 5.7.1 Sender blocked by local policy"
      - sender: hold@example.net
        action: quarantine
      - recipient: closed@example.org
        action: reject
`

func message(subject string, extra ...string) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "From: Alice <alice@example.net>\r\nTo: bob@example.org\r\nSubject: %s\r\n", subject)
	fmt.Fprintf(&b, "Message-ID: <%d.%s@example.net>\r\nDate: Wed, 25 Nov 2026 10:00:00 +0000\r\n", time.Now().UnixNano(), strings.ReplaceAll(subject, " ", "-"))
	for _, h := range extra {
		b.WriteString(h + "\r\n")
	}
	b.WriteString("\r\nHello Bob,\r\nthis is a test.\r\n")
	return b.Bytes()
}

type stack struct {
	sink    *harness.Sink
	mamori  *harness.Mamori
	postfix *harness.Postfix
}

func startStack(t *testing.T, cfg string) *stack {
	t.Helper()
	s := &stack{sink: harness.StartSink(t)}
	s.mamori = harness.StartMamori(t, cfg)
	s.postfix = harness.StartPostfix(t, harness.PostfixOptions{Milter: s.mamori.Milter, DefaultAction: "tempfail", Sink: s.sink})
	return s
}

func TestPostfixCleanMailGetsHeaders(t *testing.T) {
	t.Parallel()
	s := startStack(t, denyConfig)
	// A sender must not be able to pre-label its mail as clean.
	res := harness.SendMail(s.postfix.SMTPAddr, "client.example", "alice@example.net", []string{"bob@example.org"},
		message("clean", "X-Spam-Flag: NO", "X-Mamori-Verdict: accept"))
	if !res.OK() {
		t.Fatalf("clean mail refused: %v\n%s", res, s.postfix.Log())
	}
	got := s.sink.WaitCount(t, 1, 20*time.Second)[0]
	for name, want := range map[string]string{"X-Spam-Flag": "NO", "X-Spam-Score": "0", "X-Mamori-Verdict": "accept"} {
		if v, ok := got.Header(name); !ok || v != want {
			t.Errorf("%s = %q (present %v), want %q", name, v, ok, want)
		}
	}
	if n := bytes.Count(got.Data, []byte("\nX-Spam-Flag:")); n != 1 {
		t.Errorf("%d X-Spam-Flag headers arrived; the forged one must be removed:\n%s", n, got.Data)
	}
	if !bytes.Contains(got.Data, []byte("\r\nX-Spam-Flag: NO\r\n")) {
		t.Errorf("added header bytes are not \"X-Spam-Flag: NO\":\n%s", got.Data)
	}
	recs := s.mamori.WaitAudit(t, 1, 10*time.Second)
	r := recs[0]
	for k, want := range map[string]any{"event": "message", "action": "accept", "client_ip": "127.0.0.1", "helo": "client.example",
		"mail_from": "alice@example.net", "stage": "eom"} {
		if r[k] != want {
			t.Errorf("audit %s = %v, want %v", k, r[k], want)
		}
	}
	if r["qid"] == "" || !strings.HasPrefix(fmt.Sprint(r["message_id"]), "<") || r["size"].(float64) < 100 {
		t.Errorf("audit record lacks queue id, Message-ID or size: %v", r)
	}
	if rc := r["rcpt"].([]any); len(rc) != 1 || rc[0] != "bob@example.org" {
		t.Errorf("audit rcpt %v", rc)
	}
}

func TestPostfixDenyListedSenderRejected(t *testing.T) {
	t.Parallel()
	s := startStack(t, denyConfig)
	res := harness.SendMail(s.postfix.SMTPAddr, "client.example", "spammer@bad.example", []string{"bob@example.org"}, message("spam"))
	if res.Code != 554 || res.Enhanced != "5.7.1" || res.Text != "Sender blocked by local policy" || res.Stage != "mail" {
		t.Fatalf("got %v, want 554 5.7.1 with the configured text at MAIL FROM", res)
	}
	c := harness.DialSMTP(t, s.postfix.SMTPAddr, "client.example")
	res, refused := c.SendSome("alice@example.net", []string{"closed@example.org", "bob@example.org"}, message("one refused"))
	c.Close()
	if !res.OK() || len(refused) != 1 || refused[0].Code != 550 || refused[0].Text != "Recipient rejected by local policy" {
		t.Fatalf("message with one refused recipient: %v, refused %v", res, refused)
	}
	got := s.sink.WaitCount(t, 1, 20*time.Second)[0]
	if len(got.To) != 1 || got.To[0] != "bob@example.org" {
		t.Fatalf("delivered to %v, want only bob", got.To)
	}
	recs := s.mamori.WaitAudit(t, 3, 10*time.Second)
	if recs[0]["action"] != "reject" || recs[0]["stage"] != "mail" || !strings.Contains(fmt.Sprint(recs[0]["reason"]), "spammer@bad.example") ||
		recs[0]["reply"] != "554 5.7.1 Sender blocked by local policy" {
		t.Errorf("audit of the refused sender: %v", recs[0])
	}
	if recs[1]["stage"] != "rcpt" || fmt.Sprint(recs[1]["rcpt"]) != "[closed@example.org]" {
		t.Errorf("audit of the refused recipient: %v", recs[1])
	}
	if s.sink.Messages()[0].From == "spammer@bad.example" {
		t.Fatal("rejected sender delivered")
	}
}

func TestPostfixQuarantineHoldsAndReleases(t *testing.T) {
	t.Parallel()
	s := startStack(t, denyConfig)
	res := harness.SendMail(s.postfix.SMTPAddr, "client.example", "hold@example.net", []string{"bob@example.org"}, message("hold me"))
	if !res.OK() {
		t.Fatalf("quarantined mail must be accepted at SMTP (250): %v", res)
	}
	held := s.postfix.WaitHeld(t, 1, 20*time.Second)
	if len(s.sink.Messages()) != 0 {
		t.Fatal("a quarantined message reached the sink before release")
	}
	if !strings.Contains(s.postfix.Log(), "milter-hold") {
		t.Errorf("postfix did not log milter-hold:\n%s", s.postfix.Log())
	}
	s.postfix.Release(t, held[0].ID)
	got := s.sink.WaitCount(t, 1, 20*time.Second)[0]
	if v, _ := got.Header("X-Mamori-Verdict"); v != "quarantine" {
		t.Errorf("released copy X-Mamori-Verdict = %q, want quarantine", v)
	}
	recs := s.mamori.WaitAudit(t, 1, 10*time.Second)
	if recs[0]["action"] != "quarantine" || recs[0]["qid"] != held[0].ID {
		t.Errorf("audit %v, want quarantine with queue id %s", recs[0], held[0].ID)
	}
}

func TestPostfixMamoriDownTempfails(t *testing.T) {
	t.Parallel()
	s := startStack(t, denyConfig)
	s.mamori.Stop(t)
	res := harness.SendMail(s.postfix.SMTPAddr, "client.example", "alice@example.net", []string{"bob@example.org"}, message("while down"))
	if res.Code/100 != 4 {
		t.Fatalf("with mamori stopped got %v, want 4xx (milter_default_action = tempfail)", res)
	}
	if len(s.sink.Messages()) != 0 {
		t.Fatal("mail delivered unfiltered while mamori was down")
	}
}

func TestPostfixRecipientsAndConnectionReuse(t *testing.T) {
	t.Parallel()
	s := startStack(t, denyConfig)
	c := harness.DialSMTP(t, s.postfix.SMTPAddr, "reuse.example")
	rcpts := []string{"r1@example.org", "r2@example.org", "r3@example.org"}
	for i := 0; i < 2; i++ {
		if res := c.Send(fmt.Sprintf("sender%d@example.net", i), rcpts, message(fmt.Sprintf("msg %d", i))); !res.OK() {
			t.Fatalf("message %d: %v", i, res)
		}
	}
	c.Close()
	msgs := s.sink.WaitCount(t, 2, 20*time.Second)
	for _, m := range msgs {
		if len(m.To) != 3 {
			t.Errorf("message from %s delivered to %v, want 3 recipients", m.From, m.To)
		}
	}
	recs := s.mamori.WaitAudit(t, 2, 10*time.Second)
	for i, r := range recs[:2] {
		if r["helo"] != "reuse.example" || r["client_ip"] != "127.0.0.1" || len(r["rcpt"].([]any)) != 3 {
			t.Errorf("record %d: the second message on a connection must keep the connection's facts: %v", i, r)
		}
		if r["mail_from"] != fmt.Sprintf("sender%d@example.net", i) {
			t.Errorf("record %d: mail_from %v", i, r["mail_from"])
		}
	}
}

// TestPostfixLargeMessageBoundedMemory sends 30 MB through Postfix and
// checks that the body spooled to disk instead of memory.
func TestPostfixLargeMessageBoundedMemory(t *testing.T) {
	t.Parallel()
	s := startStack(t, denyConfig)
	var b bytes.Buffer
	b.Write(message("big"))
	line := strings.Repeat("0123456789abcdef", 4) + "\r\n"
	for b.Len() < 30<<20 {
		b.WriteString(line)
	}
	res := harness.SendMail(s.postfix.SMTPAddr, "client.example", "alice@example.net", []string{"bob@example.org"}, b.Bytes())
	if !res.OK() {
		t.Fatalf("30 MB message: %v", res)
	}
	got := s.sink.WaitCount(t, 1, 60*time.Second)[0]
	if len(got.Data) < 30<<20 {
		t.Fatalf("delivered %d bytes", len(got.Data))
	}
	rss := s.mamori.PeakRSS(t)
	t.Logf("mamori peak RSS after a 30 MB message: %.1f MB", float64(rss)/(1<<20))
	if rss > 100<<20 {
		t.Fatalf("peak RSS %d MB, want under 100 MB", rss>>20)
	}
}

func TestPostfixOversizeRejected(t *testing.T) {
	t.Parallel()
	s := startStack(t, "limits:\n  max_message_size: 1M\n")
	body := bytes.Repeat([]byte("x"), 2<<20)
	res := harness.SendMail(s.postfix.SMTPAddr, "client.example", "alice@example.net", []string{"bob@example.org"}, append(message("huge"), body...))
	if res.Code != 552 || res.Enhanced != "5.3.4" {
		t.Fatalf("oversize: %v, want 552 5.3.4", res)
	}
}

func TestPostfixReload(t *testing.T) {
	t.Parallel()
	s := startStack(t, "checks:\n  policy: {}\n")
	send := func() harness.SMTPResult {
		return harness.SendMail(s.postfix.SMTPAddr, "client.example", "spammer@bad.example", []string{"bob@example.org"}, message("reload"))
	}
	if res := send(); !res.OK() {
		t.Fatalf("before reload: %v", res)
	}
	// An invalid configuration is refused with file, line and field; the
	// old one keeps running.
	s.mamori.Reload(t, "checks:\n  policy:\n    entries:\n      - sendr: spammer@bad.example\n        action: reject\n")
	s.mamori.WaitLog(t, "reload failed", 10*time.Second)
	if !strings.Contains(s.mamori.Log(), "mamori.yaml:4: checks.policy.entries[0].sendr: unknown field") {
		t.Fatalf("reload error does not name file, line and field:\n%s", s.mamori.Log())
	}
	if res := send(); !res.OK() {
		t.Fatalf("after a failed reload the old config must run: %v", res)
	}
	s.mamori.Reload(t, denyConfig)
	s.mamori.WaitLog(t, "configuration reloaded", 10*time.Second)
	if res := send(); res.Code != 554 {
		t.Fatalf("after reload: %v, want the new deny entry's 554", res)
	}
	if m := s.mamori.Metrics(t); !strings.Contains(m, `mamori_config_reloads_total{result="failure"} 1`) || !strings.Contains(m, `mamori_config_reloads_total{result="success"} 1`) {
		t.Errorf("reload metrics missing:\n%s", grep(m, "mamori_config"))
	}
}

func grep(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestPostfixSIGTERMDrains stops Mamori while an SMTP session is open: the
// open session is still filtered to its end, then the daemon exits.
func TestPostfixSIGTERMDrains(t *testing.T) {
	t.Parallel()
	s := startStack(t, denyConfig)
	c := harness.DialSMTP(t, s.postfix.SMTPAddr, "drain.example")
	if res := c.Send("alice@example.net", []string{"bob@example.org"}, message("before")); !res.OK() {
		t.Fatal(res)
	}
	done := make(chan struct{})
	go func() { s.mamori.Stop(t); close(done) }()
	s.mamori.WaitLog(t, "draining sessions", 10*time.Second)
	if res := c.Send("alice@example.net", []string{"bob@example.org"}, message("during drain")); !res.OK() {
		t.Fatalf("message on a session open at SIGTERM: %v", res)
	}
	if s.mamori.Exited() {
		t.Fatal("mamori exited with a session still open")
	}
	c.Close()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("mamori did not exit after the last session closed")
	}
	for _, m := range s.sink.WaitCount(t, 2, 20*time.Second) {
		if v, _ := m.Header("X-Mamori-Verdict"); v != "accept" {
			t.Errorf("message not filtered: X-Mamori-Verdict %q", v)
		}
	}
}
