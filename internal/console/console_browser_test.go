package console

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/mamori-mail/mamori/integration/harness"
	"github.com/mamori-mail/mamori/internal/quarantine"
)

func TestBrowser(t *testing.T) {
	ctx := harness.Browser(t)
	e := newEnv(t)
	id := e.put("browser test", []string{"b@example.org"}, plainMsg)
	other := e.put("something else", []string{"b@example.org"}, plainMsg)
	base := e.srv.URL

	login := func(user string) {
		t.Helper()
		err := chromedp.Do(ctx,
			chromedp.Navigate(base+"/"), // sent on to /login
			chromedp.WaitVisible(chromedp.ID("login")),
			chromedp.SendKeys(chromedp.CSS(`input[name=login]`), user),
			chromedp.SendKeys(chromedp.CSS(`input[name=password]`), testPassword),
			chromedp.Click(chromedp.ID("login")),
			chromedp.WaitVisible(chromedp.ID("search")),
		)
		if err != nil {
			t.Fatalf("log in as %s: %v", user, err)
		}
	}

	// An operator searches, opens the message and releases it.
	login("operator")
	err := chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.CSS(`input[name=text]`), "browser"),
		chromedp.Click(chromedp.ID("search")),
		chromedp.WaitNotPresent(chromedp.CSS(`a[href="/m/`+other+`"]`)),
		chromedp.Click(chromedp.CSS(`a.subject[href="/m/`+id+`"]`)),
		chromedp.WaitVisible(chromedp.ID("release")),
		chromedp.Click(chromedp.ID("release")),
		chromedp.WaitVisible(chromedp.ID("flash")),
	)
	if err != nil {
		t.Fatalf("release: %v", err)
	}
	flash, err := chromedp.Run(ctx, chromedp.Text(chromedp.ID("flash")))
	if err != nil || !strings.Contains(flash, "Released") {
		t.Fatalf("outcome %q, %v", flash, err)
	}
	if state, _ := chromedp.Run(ctx, chromedp.Text(chromedp.ID("state"))); state != string(quarantine.Released) {
		t.Errorf("the page shows state %q", state)
	}
	if msgs := e.relay.Messages(); len(msgs) != 1 {
		t.Fatalf("the relay got %d messages, want 1", len(msgs))
	}
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.ID("logout")), chromedp.WaitVisible(chromedp.ID("login"))); err != nil {
		t.Fatalf("log out: %v", err)
	}

	// A viewer sees no release button, and a forged form posted from
	// another site is refused.
	login("viewer")
	if err := chromedp.Do(ctx, chromedp.Navigate(base+"/m/"+other)); err != nil {
		t.Fatal(err)
	}
	main, err := chromedp.Run(ctx, chromedp.OuterHTML(chromedp.CSS("main")))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(main, "something else") || strings.Contains(main, `id="release"`) || strings.Contains(main, `id="delete"`) {
		t.Errorf("viewer's message page:\n%s", main)
	}
	attacker := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, `<!DOCTYPE html><form method="post" action="%s/m/%s/release"><input type="hidden" name="csrf" value="forged"><button id="go">win a prize</button></form>`, base, other)
	}))
	defer attacker.Close()
	err = chromedp.Do(ctx,
		chromedp.Navigate(attacker.URL),
		chromedp.Click(chromedp.ID("go")),
		chromedp.WaitVisible(chromedp.CSS("main h1")),
	)
	if err != nil {
		t.Fatalf("forged post: %v", err)
	}
	if h1, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("main h1"))); h1 != "Forbidden" {
		t.Errorf("forged post answered %q", h1)
	}
	if got := e.state(other); got != quarantine.Held {
		t.Errorf("after the forged post: %s", got)
	}
	if msgs := e.relay.Messages(); len(msgs) != 1 {
		t.Errorf("the relay got %d messages, want 1", len(msgs))
	}
}
