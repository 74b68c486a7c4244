package integration

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/mamori-mail/mamori/integration/harness"
	"github.com/mamori-mail/mamori/reputation/bayes"
)

const consolePassword = "correct horse battery staple"

// adminCLI runs `mamori admin ARGS` against the daemon's configuration and
// data directory, the password on standard input.
func adminCLI(t *testing.T, m *harness.Mamori, args ...string) {
	t.Helper()
	args = append(append([]string{"admin"}, args...), "--config", m.Config, "--data-dir", filepath.Join(m.Dir, "data"))
	cmd := exec.Command(harness.MamoriBinary(t), args...)
	cmd.Stdin = strings.NewReader(consolePassword + "\n")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("mamori %v: %v\n%s", args, err, out.String())
	}
}

// TestPostfixConsoleRelease is the console end to end: real Postfix, the
// real daemon serving its console, headless Chromium. A message
// quarantined by policy is in the store and not delivered; an operator logs
// in, searches, opens it and releases it; it reaches the sink once, not
// filtered again. A viewer sees it but has no release button.
func TestPostfixConsoleRelease(t *testing.T) {
	t.Parallel()
	ctx := harness.Browser(t)
	sink := harness.StartSink(t)
	consoleAddr := fmt.Sprintf("127.0.0.1:%d", harness.FreePort(t))
	cfg := func(relay string) string {
		return denyConfig + fmt.Sprintf("quarantine:\n  mode: store\n  release: {relay: %q, timeout: 30s}\n  console: {listen: %q}\n", relay, consoleAddr)
	}
	m := harness.StartMamori(t, cfg("127.0.0.1:1"))
	m.WaitLog(t, "quarantine console serving", 10*time.Second)
	pf := harness.StartPostfix(t, harness.PostfixOptions{Milter: m.Milter, DefaultAction: "tempfail", Sink: sink, ReleaseListener: true})
	m.ReloadAndWait(t, cfg(pf.ReleaseAddr)) // the console reads the relay at each release
	adminCLI(t, m, "add-user", "--role", "operator", "ops")
	adminCLI(t, m, "add-user", "--role", "viewer", "watcher")

	if res := harness.SendMail(pf.SMTPAddr, "client.example", "hold@example.net", []string{"bob@example.org"}, message("console release test")); !res.OK() {
		t.Fatalf("send: %v", res)
	}
	if res := harness.SendMail(pf.SMTPAddr, "client.example", "hold@example.net", []string{"bob@example.org"}, message("another held one")); !res.OK() {
		t.Fatalf("send: %v", res)
	}
	if res := harness.SendMail(pf.SMTPAddr, "client.example", "hold@example.net", []string{"bob@example.org"}, message("wanted after all")); !res.OK() {
		t.Fatalf("send: %v", res)
	}
	m.WaitAudit(t, 3, 20*time.Second)
	if n := len(sink.Messages()); n != 0 {
		t.Fatalf("%d quarantined messages reached the sink", n)
	}

	base := "http://" + consoleAddr
	login := func(user string) {
		t.Helper()
		err := chromedp.Do(ctx,
			chromedp.Navigate(base+"/"),
			chromedp.WaitVisible(chromedp.ID("login")),
			chromedp.SendKeys(chromedp.CSS(`input[name=login]`), user),
			chromedp.SendKeys(chromedp.CSS(`input[name=password]`), consolePassword),
			chromedp.Click(chromedp.ID("login")),
			chromedp.WaitVisible(chromedp.ID("search")),
		)
		if err != nil {
			t.Fatalf("log in as %s: %v\n%s", user, err, m.Log())
		}
	}
	login("ops")
	err := chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.CSS(`input[name=text]`), "console release"),
		chromedp.Click(chromedp.ID("search")),
		chromedp.WaitVisible(chromedp.CSS(`a.subject`)),
		chromedp.Click(chromedp.CSS(`a.subject`)),
		chromedp.WaitVisible(chromedp.ID("release")),
		chromedp.Click(chromedp.ID("release")),
		chromedp.WaitVisible(chromedp.ID("flash")),
	)
	if err != nil {
		t.Fatalf("search, open, release: %v\n%s", err, m.Log())
	}
	flash, err := chromedp.Run(ctx, chromedp.Text(chromedp.ID("flash")))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(flash, "Released") {
		t.Fatalf("release outcome %q", flash)
	}
	got := sink.WaitCount(t, 1, 30*time.Second)
	if len(got) != 1 || got[0].From != "hold@example.net" || !strings.Contains(string(got[0].Data), "Subject: console release test") {
		t.Fatalf("sink got %d messages: %+v", len(got), got)
	}
	time.Sleep(500 * time.Millisecond)
	if n := len(sink.Messages()); n != 1 {
		t.Errorf("the sink got %d messages, want exactly 1", n)
	}
	var msgRecords int
	for _, r := range m.Audit(t) {
		if r["event"] == "message" {
			msgRecords++
		}
	}
	if msgRecords != 3 {
		t.Errorf("%d message records in the audit trail, want 3 (the released one must not be judged again)", msgRecords)
	}

	// "Release and learn as ham": the classifier learns it, then it goes out.
	err = chromedp.Do(ctx,
		chromedp.Navigate(base+"/?text=wanted"),
		chromedp.WaitVisible(chromedp.CSS(`a.subject`)),
		chromedp.Click(chromedp.CSS(`a.subject`)),
		chromedp.WaitVisible(chromedp.ID("learn-ham")),
		chromedp.Click(chromedp.ID("learn-ham")),
		chromedp.WaitVisible(chromedp.ID("flash")),
	)
	if err != nil {
		t.Fatalf("learn as ham: %v\n%s", err, m.Log())
	}
	if flash, _ := chromedp.Run(ctx, chromedp.Text(chromedp.ID("flash"))); !strings.Contains(flash, "Learned as ham. Released") {
		t.Errorf("learn outcome %q", flash)
	}
	sink.WaitCount(t, 2, 30*time.Second)
	db, err := bayes.OpenBolt(filepath.Join(m.Dir, "data", bayes.DefaultFile), bayes.BoltOptions{ReadOnly: true})
	if err != nil {
		t.Fatalf("the classifier's database: %v", err)
	}
	stats, _ := db.Stats(context.Background())
	db.Close()
	if stats.Ham != 1 || stats.Spam != 0 {
		t.Errorf("classifier holds %+v, want the one ham learned from the console", stats)
	}
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.ID("logout")), chromedp.WaitVisible(chromedp.ID("login"))); err != nil {
		t.Fatalf("log out: %v", err)
	}

	// A viewer reads but cannot release.
	login("watcher")
	err = chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.CSS(`input[name=text]`), "another held"),
		chromedp.Click(chromedp.ID("search")),
		chromedp.WaitVisible(chromedp.CSS(`a.subject`)),
		chromedp.Click(chromedp.CSS(`a.subject`)),
		chromedp.WaitVisible(chromedp.CSS("main h1")),
	)
	if err != nil {
		t.Fatalf("viewer: %v", err)
	}
	page, err := chromedp.Run(ctx, chromedp.OuterHTML(chromedp.CSS("main")))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(page, "another held one") || strings.Contains(page, `id="release"`) {
		t.Errorf("viewer's page:\n%s", page)
	}
	// Logins and views are in the audit trail.
	var logins, views int
	for _, r := range m.Audit(t) {
		switch r["action"] {
		case "login":
			logins++
		case "view":
			views++
		}
	}
	if logins < 2 || views < 2 {
		t.Errorf("audit trail: %d logins, %d views", logins, views)
	}
}
