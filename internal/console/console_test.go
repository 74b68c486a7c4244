package console

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mamori-mail/mamori/internal/audit"
	"github.com/mamori-mail/mamori/internal/quarantine"
	"github.com/mamori-mail/mamori/internal/quarantine/relaytest"
)

const testPassword = "correct horse battery"

// syncBuffer is an audit sink safe for concurrent use.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// records returns the audit records written, decoded.
func (s *syncBuffer) records(t *testing.T) []map[string]any {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(s.b.Bytes()))
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("audit line %q: %v", sc.Text(), err)
		}
		out = append(out, m)
	}
	return out
}

// env is a console on a SQLite store with a relay and a few accounts:
// admin, operator, viewer (all domains) and scoped (example.org only).
type env struct {
	t     *testing.T
	st    *quarantine.SQLite
	relay *relaytest.Relay
	audit *syncBuffer
	srv   *httptest.Server
	c     *Console
}

func newEnv(t *testing.T) *env {
	t.Helper()
	st, err := quarantine.OpenSQLite(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	ctx := context.Background()
	for _, u := range []struct {
		login   string
		role    quarantine.Role
		domains []string
	}{
		{"admin", quarantine.RoleAdmin, nil},
		{"operator", quarantine.RoleOperator, nil},
		{"viewer", quarantine.RoleViewer, nil},
		{"scoped", quarantine.RoleOperator, []string{"example.org"}},
	} {
		if err := st.AddUser(ctx, u.login, u.role, u.domains, testPassword); err != nil {
			t.Fatal(err)
		}
	}
	e := &env{t: t, st: st, relay: relaytest.Start(t, nil), audit: &syncBuffer{}}
	e.c, err = New(Options{
		Store: st, Accounts: st, Audit: audit.New(e.audit),
		Release: quarantine.ReleaseOptions{Relay: e.relay.Addr, Helo: "console.test", Timeout: 10 * time.Second},
	})
	if err != nil {
		t.Fatal(err)
	}
	e.srv = httptest.NewServer(e.c)
	t.Cleanup(e.srv.Close)
	return e
}

// put stores a message for rcpts.
func (e *env) put(subject string, rcpts []string, msg string) string {
	e.t.Helper()
	en := &quarantine.Entry{Sender: "a@example.net", Recipients: rcpts, Subject: subject, Reason: "spam", Score: 12.5,
		Symbols: []quarantine.Symbol{{Name: "BAYES_SPAM", Score: 5}}}
	if err := e.st.Put(context.Background(), en, strings.NewReader(msg)); err != nil {
		e.t.Fatal(err)
	}
	return en.ID
}

func (e *env) state(id string) quarantine.State {
	e.t.Helper()
	en, err := e.st.Get(context.Background(), id)
	if err != nil {
		e.t.Fatal(err)
	}
	return en.State
}

// client is a browser: a cookie jar, no redirects followed.
type client struct {
	e    *env
	hc   *http.Client
	csrf string // of the last page that had a form
}

func (e *env) client() *client {
	jar, _ := cookiejar.New(nil)
	return &client{e: e, hc: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}}
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

type response struct {
	status int
	header http.Header
	body   string
}

func (c *client) do(method, path string, form url.Values) response {
	c.e.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, c.e.srv.URL+path, body)
	if err != nil {
		c.e.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		c.e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if m := csrfRE.FindStringSubmatch(string(b)); m != nil {
		c.csrf = m[1]
	}
	return response{resp.StatusCode, resp.Header, string(b)}
}

func (c *client) get(path string) response { return c.do(http.MethodGet, path, nil) }

// post sends form with the CSRF token of the last page.
func (c *client) post(path string, form url.Values) response {
	if form == nil {
		form = url.Values{}
	}
	if _, ok := form["csrf"]; !ok {
		form.Set("csrf", c.csrf)
	}
	return c.do(http.MethodPost, path, form)
}

// tryLogin fetches the form and posts it.
func (c *client) tryLogin(login, password string) response {
	c.e.t.Helper()
	if r := c.get("/login"); r.status != http.StatusOK {
		c.e.t.Fatalf("GET /login: %d", r.status)
	}
	return c.post("/login", url.Values{"login": {login}, "password": {password}})
}

func (c *client) login(login string) {
	c.e.t.Helper()
	r := c.tryLogin(login, testPassword)
	if r.status != http.StatusSeeOther || r.header.Get("Location") != "/" {
		c.e.t.Fatalf("login %s: %d %s\n%s", login, r.status, r.header.Get("Location"), r.body)
	}
	c.get("/") // picks up the session's CSRF token
}

const plainMsg = "From: a@example.net\r\nTo: b@example.org\r\nSubject: hello\r\nMessage-ID: <m1@example.net>\r\n\r\nhello there\r\n"

func TestSecurityHeadersAndCookies(t *testing.T) {
	e := newEnv(t)
	c := e.client()
	r := c.get("/login")
	for k, want := range map[string]string{
		"Content-Security-Policy": csp,
		"X-Content-Type-Options":  "nosniff",
		"Referrer-Policy":         "no-referrer",
		"Cache-Control":           "no-store",
	} {
		if got := r.header.Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	r = c.tryLogin("operator", testPassword)
	var sess *http.Cookie
	for _, ck := range (&http.Response{Header: r.header}).Cookies() {
		if ck.Name == sessionCookie {
			sess = ck
		}
	}
	if sess == nil {
		t.Fatalf("no session cookie: %v", r.header["Set-Cookie"])
	}
	if !sess.HttpOnly || sess.SameSite != http.SameSiteStrictMode || sess.Path != "/" || sess.Secure {
		t.Errorf("session cookie flags: %+v", sess)
	}
	if r.header.Get("Content-Security-Policy") != csp {
		t.Error("no CSP on the login redirect")
	}

	e.c.o.SecureCookies = true
	r = e.client().tryLogin("operator", testPassword)
	if !strings.Contains(strings.Join(r.header["Set-Cookie"], "\n"), "mamori_session=") ||
		!strings.Contains(strings.Join(r.header["Set-Cookie"], "\n"), "Secure") {
		t.Errorf("SecureCookies: %v", r.header["Set-Cookie"])
	}
}

func TestEverythingNeedsLogin(t *testing.T) {
	e := newEnv(t)
	id := e.put("hello", []string{"b@example.org"}, plainMsg)
	c := e.client()
	for _, path := range []string{"/", "/m/" + id, "/audit", "/nope"} {
		if r := c.get(path); r.status != http.StatusSeeOther || r.header.Get("Location") != "/login" {
			t.Errorf("GET %s without a session: %d %q", path, r.status, r.header.Get("Location"))
		}
	}
	c.get("/login") // a login-form token, which must not do as a session's
	for _, path := range []string{"/logout", "/m/" + id + "/release", "/m/" + id + "/delete"} {
		if r := c.post(path, nil); r.status != http.StatusForbidden {
			t.Errorf("POST %s without a session: %d", path, r.status)
		}
	}
	// A forged session cookie is no session.
	u, _ := url.Parse(e.srv.URL)
	c.hc.Jar.SetCookies(u, []*http.Cookie{{Name: sessionCookie, Value: "forged"}})
	if r := c.get("/"); r.status != http.StatusSeeOther {
		t.Errorf("forged session: %d", r.status)
	}
	if got := e.state(id); got != quarantine.Held {
		t.Errorf("state %s, want held", got)
	}
	if n := len(e.relay.Messages()); n != 0 {
		t.Errorf("relay got %d messages", n)
	}
}

func TestCSRF(t *testing.T) {
	e := newEnv(t)
	id := e.put("hello", []string{"b@example.org"}, plainMsg)

	// The login form: without its token, or with another one, refused.
	c := e.client()
	c.get("/login")
	if r := c.post("/login", url.Values{"login": {"operator"}, "password": {testPassword}, "csrf": {""}}); r.status != http.StatusForbidden {
		t.Errorf("login without CSRF: %d", r.status)
	}
	if r := c.post("/login", url.Values{"login": {"operator"}, "password": {testPassword}, "csrf": {"x" + c.csrf}}); r.status != http.StatusForbidden {
		t.Errorf("login with a forged CSRF: %d", r.status)
	}
	if r := e.client().post("/login", url.Values{"login": {"operator"}, "password": {testPassword}, "csrf": {strings.Repeat("a", 43)}}); r.status != http.StatusForbidden {
		t.Errorf("login without the cookie: %d", r.status)
	}

	c.login("operator")
	other := e.client()
	other.login("admin")
	for _, tc := range []struct {
		name, token string
	}{
		{"missing", ""},
		{"forged", "AAAA" + c.csrf[4:]},
		{"another session's", other.csrf},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, path := range []string{"/m/" + id + "/release", "/m/" + id + "/delete", "/logout"} {
				if r := c.post(path, url.Values{"csrf": {tc.token}}); r.status != http.StatusForbidden {
					t.Errorf("POST %s: %d", path, r.status)
				}
			}
		})
	}
	if got := e.state(id); got != quarantine.Held {
		t.Errorf("state %s, want held", got)
	}
	if r := c.get("/"); r.status != http.StatusOK {
		t.Errorf("the session ended: %d", r.status)
	}
}

const evilMsg = "From: a@example.net\r\nTo: b@example.org\r\nSubject: <script>alert(1)</script>\r\n" +
	"MIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary=b\r\n\r\n" +
	"--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nbody <script>alert(1)</script>\r\n" +
	"--b\r\nContent-Type: text/html\r\n\r\n<html><body><img src=http://x/><script>alert(2)</script></body></html>\r\n" +
	"--b\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=\"<b>evil</b>.exe\"\r\n\r\nMZ\r\n" +
	"--b--\r\n"

func TestMessageInert(t *testing.T) {
	e := newEnv(t)
	id := e.put("<script>alert(1)</script>", []string{"b@example.org"}, evilMsg)
	c := e.client()
	c.login("viewer")
	for _, path := range []string{"/", "/m/" + id} {
		r := c.get(path)
		if r.status != http.StatusOK {
			t.Fatalf("GET %s: %d", path, r.status)
		}
		if r.header.Get("Content-Security-Policy") != csp {
			t.Errorf("GET %s: no CSP", path)
		}
		low := strings.ToLower(r.body)
		for _, bad := range []string{"<script", "<img", "<b>evil"} {
			if strings.Contains(low, bad) {
				t.Errorf("GET %s: the page holds %q", path, bad)
			}
		}
		if !strings.Contains(r.body, "&lt;script&gt;alert(1)&lt;/script&gt;") {
			t.Errorf("GET %s: the escaped subject is missing", path)
		}
	}
	r := c.get("/m/" + id)
	for _, want := range []string{
		"body &lt;script&gt;alert(1)&lt;/script&gt;", // the text part
		"&lt;img src=http://x/&gt;",                  // the HTML source
		"HTML source, not rendered",
		"&lt;b&gt;evil&lt;/b&gt;.exe", // the attachment, listed
		"application/octet-stream",
		"BAYES_SPAM",
	} {
		if !strings.Contains(r.body, want) {
			t.Errorf("message page lacks %q", want)
		}
	}
	if strings.Contains(r.body, "release") && strings.Contains(r.body, `id="release"`) {
		t.Error("a viewer is offered the release button")
	}
	// A message whose only text is a named part: clients show it as the
	// message, and so does the console, besides listing it.
	id = e.put("named", []string{"b@example.org"}, "From: a@example.net\r\nTo: b@example.org\r\nSubject: named\r\n"+
		"Content-Type: text/html\r\nContent-Disposition: inline; filename=\"filename.html\"\r\n\r\n<p>shown <script>alert(3)</script></p>\r\n")
	r = c.get("/m/" + id)
	for _, want := range []string{"filename.html", "&lt;p&gt;shown &lt;script&gt;alert(3)&lt;/script&gt;"} {
		if !strings.Contains(r.body, want) {
			t.Errorf("named text part: message page lacks %q", want)
		}
	}
}

func TestBadIDs(t *testing.T) {
	e := newEnv(t)
	c := e.client()
	c.login("operator")
	for _, path := range []string{
		"/m/../../etc/passwd", "/m/%2e%2e/%2e%2e/etc/passwd", "/m/%2e%2e", "/m/..%2f..%2fetc%2fpasswd",
		"/m/" + strings.Repeat("A", 32), "/m/" + quarantine.NewID(), "/m/" + quarantine.NewID() + "/x", "/m/",
	} {
		req, _ := http.NewRequest(http.MethodGet, e.srv.URL, nil)
		req.URL.Opaque = path // sent as is, not cleaned by the client
		resp, err := c.hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404", path, resp.StatusCode)
		}
	}
	if r := c.post("/m/../../etc/passwd/release", nil); r.status != http.StatusNotFound {
		t.Errorf("POST release of a bad id: %d", r.status)
	}
}

func TestReleaseRoles(t *testing.T) {
	e := newEnv(t)
	id := e.put("hello", []string{"b@example.org"}, plainMsg)

	v := e.client()
	v.login("viewer")
	if r := v.get("/m/" + id); strings.Contains(r.body, `id="release"`) || strings.Contains(r.body, `id="delete"`) {
		t.Error("a viewer is offered release or delete")
	}
	for _, action := range []string{"release", "delete"} {
		if r := v.post("/m/"+id+"/"+action, nil); r.status != http.StatusForbidden {
			t.Errorf("viewer %s: %d", action, r.status)
		}
	}
	if got := e.state(id); got != quarantine.Held {
		t.Fatalf("after the viewer: %s", got)
	}

	o := e.client()
	o.login("operator")
	if r := o.get("/m/" + id); !strings.Contains(r.body, `id="release"`) {
		t.Error("the operator has no release button")
	}
	r := o.post("/m/"+id+"/release", nil)
	if r.status != http.StatusSeeOther || r.header.Get("Location") != "/m/"+id {
		t.Fatalf("release: %d %q", r.status, r.header.Get("Location"))
	}
	r = o.get("/m/" + id)
	if !strings.Contains(r.body, "Released: the relay accepted") {
		t.Errorf("no outcome shown:\n%s", r.body)
	}
	if strings.Contains(o.get("/m/"+id).body, "Released: the relay accepted") {
		t.Error("the outcome is shown twice")
	}
	if got := e.state(id); got != quarantine.Released {
		t.Errorf("state %s, want released", got)
	}
	// A second release is refused by the store, and shown.
	o.post("/m/"+id+"/release", nil)
	if r := o.get("/m/" + id); !strings.Contains(r.body, "Not released") {
		t.Error("a second release shows no error")
	}
	msgs := e.relay.Messages()
	if len(msgs) != 1 || msgs[0].From != "a@example.net" || len(msgs[0].To) != 1 || msgs[0].To[0] != "b@example.org" {
		t.Fatalf("relay got %+v", msgs)
	}
	if !bytes.Contains(msgs[0].Data, []byte("hello there")) {
		t.Errorf("relayed %q", msgs[0].Data)
	}
	en, _ := e.st.Get(context.Background(), id)
	if en.StateBy != "web:operator" {
		t.Errorf("StateBy %q", en.StateBy)
	}

	id2 := e.put("bye", []string{"b@example.org"}, plainMsg)
	o.get("/m/" + id2)
	o.post("/m/"+id2+"/delete", nil)
	if got := e.state(id2); got != quarantine.Deleted {
		t.Errorf("after delete: %s", got)
	}
	if r := o.get("/m/" + id2); !strings.Contains(r.body, "Deleted:") {
		t.Error("no delete outcome shown")
	}
}

func TestScope(t *testing.T) {
	e := newEnv(t)
	in := e.put("inside", []string{"b@example.org"}, plainMsg)
	out := e.put("outside", []string{"b@example.com"}, plainMsg)
	mixed := e.put("mixed", []string{"b@example.org", "c@example.com"}, plainMsg)

	s := e.client()
	s.login("scoped")
	r := s.get("/")
	if !strings.Contains(r.body, in) || strings.Contains(r.body, out) || strings.Contains(r.body, mixed) {
		t.Errorf("scoped list:\n%s", r.body)
	}
	r = s.get("/?rcpt=%40example.com")
	if strings.Contains(r.body, out) {
		t.Error("a recipient filter shows an out-of-scope entry")
	}
	for _, id := range []string{out, mixed} {
		if r := s.get("/m/" + id); r.status != http.StatusNotFound {
			t.Errorf("view of out-of-scope %s: %d", id, r.status)
		}
		if r := s.post("/m/"+id+"/release", nil); r.status != http.StatusNotFound {
			t.Errorf("release of out-of-scope %s: %d", id, r.status)
		}
		if r := s.post("/m/"+id+"/delete", nil); r.status != http.StatusNotFound {
			t.Errorf("delete of out-of-scope %s: %d", id, r.status)
		}
		if got := e.state(id); got != quarantine.Held {
			t.Errorf("%s is %s", id, got)
		}
	}
	if r := s.get("/m/" + in); r.status != http.StatusOK {
		t.Errorf("view in scope: %d", r.status)
	}
	if len(e.relay.Messages()) != 0 {
		t.Error("something was released")
	}

	// An unscoped account sees all three.
	a := e.client()
	a.login("admin")
	r = a.get("/")
	for _, id := range []string{in, out, mixed} {
		if !strings.Contains(r.body, id) {
			t.Errorf("admin does not see %s", id)
		}
	}
}

func TestSearchAndPaging(t *testing.T) {
	e := newEnv(t)
	var ids []string
	for i := range 55 {
		subj := "bulk"
		if i == 54 {
			subj = "needle"
		}
		ids = append(ids, e.put(subj, []string{"b@example.org"}, plainMsg))
	}
	c := e.client()
	c.login("viewer")
	r := c.get("/")
	if !strings.Contains(r.body, "55 entries") || !strings.Contains(r.body, "page 1 of 2") {
		t.Errorf("first page:\n%s", r.body)
	}
	if strings.Count(r.body, `class="subject"`) != 50 {
		t.Errorf("first page has %d rows", strings.Count(r.body, `class="subject"`))
	}
	if r := c.get("/?page=2"); strings.Count(r.body, `class="subject"`) != 5 {
		t.Errorf("second page has %d rows", strings.Count(r.body, `class="subject"`))
	}
	r = c.get("/?text=needle")
	if !strings.Contains(r.body, ids[54]) || !strings.Contains(r.body, "1 entries") {
		t.Errorf("text search:\n%s", r.body)
	}
	for q, want := range map[string]string{
		"/?state=held&min=12":       "55 entries",
		"/?min=13":                  "0 entries",
		"/?state=released":          "0 entries",
		"/?sender=%40example.net":   "55 entries",
		"/?since=2000-01-01":        "55 entries",
		"/?until=2000-01-01":        "0 entries",
		"/?since=yesterday":         "since: want a date",
		"/?state=%3Cscript%3E":      "unknown state",
		"/?min=x&page=0":            "min score: want a number; page",
		"/?rcpt=b%40example.org":    "55 entries",
		"/?rcpt=%40example.com":     "0 entries",
		"/?page=99":                 "page 99 of 2",
		"/?text=%3Cscript%3E&x=%22": "0 entries",
	} {
		if r := c.get(q); r.status != http.StatusOK || !strings.Contains(r.body, want) {
			t.Errorf("GET %s: %d, want %q", q, r.status, want)
		}
	}
}

func TestLockout(t *testing.T) {
	e := newEnv(t)
	c := e.client()
	if r := c.tryLogin("nosuchuser", "whatever"); r.status != http.StatusUnauthorized || !strings.Contains(r.body, msgBadLogin) {
		t.Errorf("unknown login: %d", r.status)
	}
	for i := 1; i <= quarantine.MaxFailedLogins; i++ {
		r := c.tryLogin("operator", "wrong password!")
		if r.status != http.StatusUnauthorized || !strings.Contains(r.body, msgBadLogin) {
			t.Fatalf("failure %d: %d", i, r.status)
		}
	}
	r := c.tryLogin("operator", testPassword)
	if r.status == http.StatusSeeOther || !strings.Contains(r.body, "This account is locked") {
		t.Fatalf("right password on a locked account: %d\n%s", r.status, r.body)
	}
	if strings.Contains(r.body, "until") {
		t.Error("the lock message tells more than that it is locked")
	}
}

func TestIPThrottle(t *testing.T) {
	e := newEnv(t)
	c := e.client()
	for i := range maxIPFailures {
		// Spread over logins that do not exist: no account lock helps.
		if r := c.tryLogin("nobody"+string(rune('a'+i)), "x"); r.status != http.StatusUnauthorized {
			t.Fatalf("failure %d: %d", i, r.status)
		}
	}
	if r := c.tryLogin("admin", testPassword); r.status != http.StatusTooManyRequests {
		t.Errorf("after %d failures: %d, want 429", maxIPFailures, r.status)
	}
	// The window passes.
	e.c.now = func() time.Time { return time.Now().Add(ipWindow + time.Minute) }
	if r := c.tryLogin("admin", testPassword); r.status != http.StatusSeeOther {
		t.Errorf("after the window: %d", r.status)
	}
}

func TestLogout(t *testing.T) {
	e := newEnv(t)
	c := e.client()
	c.login("operator")
	u, _ := url.Parse(e.srv.URL)
	var token string
	for _, ck := range c.hc.Jar.Cookies(u) {
		if ck.Name == sessionCookie {
			token = ck.Value
		}
	}
	r := c.post("/logout", nil)
	if r.status != http.StatusSeeOther || r.header.Get("Location") != "/login" {
		t.Fatalf("logout: %d", r.status)
	}
	if r := c.get("/"); r.status != http.StatusSeeOther {
		t.Errorf("after logout: %d", r.status)
	}
	// The old token is dead on the server, not only dropped by the browser.
	if _, err := e.st.Session(context.Background(), token, time.Now()); err == nil {
		t.Error("the session lives on")
	}
	c.hc.Jar.SetCookies(u, []*http.Cookie{{Name: sessionCookie, Value: token}})
	if r := c.get("/"); r.status != http.StatusSeeOther {
		t.Errorf("replayed token: %d", r.status)
	}
}

func TestAudit(t *testing.T) {
	e := newEnv(t)
	id := e.put("hello", []string{"b@example.org"}, plainMsg)
	c := e.client()
	c.tryLogin("operator", "wrong password!")
	c.login("operator")
	c.get("/m/" + id)
	c.post("/m/"+id+"/release", nil)
	c.get("/m/" + id)
	if r := c.get("/audit"); r.status != http.StatusForbidden {
		t.Errorf("operator on /audit: %d", r.status)
	}
	c.post("/logout", nil)

	type key struct{ action, result string }
	got := map[key]map[string]any{}
	for _, r := range e.audit.records(t) {
		if r["event"] != "admin" {
			t.Errorf("event %v", r["event"])
		}
		got[key{r["action"].(string), r["result"].(string)}] = r
	}
	for _, k := range []key{{"login_failed", "failed"}, {"login", "ok"}, {"view", "ok"}, {"release", "ok"}, {"logout", "ok"}} {
		r, ok := got[k]
		if !ok {
			t.Errorf("no %v record; have %v", k, got)
			continue
		}
		if r["by"] != "web:operator" || r["client_ip"] != "127.0.0.1" {
			t.Errorf("%v: by %v client_ip %v", k, r["by"], r["client_ip"])
		}
		if (k.action == "view" || k.action == "release") && r["quarantine_id"] != id {
			t.Errorf("%v: quarantine_id %v", k, r["quarantine_id"])
		}
	}

	a := e.client()
	a.login("admin")
	r := a.get("/audit")
	if r.status != http.StatusOK || !strings.Contains(r.body, "login_failed") || !strings.Contains(r.body, "web:operator") ||
		!strings.Contains(r.body, "from the quarantine store") {
		t.Errorf("audit page: %d\n%s", r.status, r.body)
	}
}

func TestRecentRing(t *testing.T) {
	r := newRecent(3)
	for i := range 5 {
		r.add(audit.Record{Count: i})
	}
	got := r.newest()
	if len(got) != 3 || got[0].Count != 4 || got[2].Count != 2 {
		t.Errorf("newest = %+v", got)
	}
}

// TestLearnActions: "release and learn as ham" teaches the classifier the
// exact message, then releases it; "confirm as spam" teaches it, then
// deletes it; a viewer may do neither; a failed lesson changes nothing.
func TestLearnActions(t *testing.T) {
	e := newEnv(t)
	type lesson struct {
		msg  string
		spam bool
	}
	var mu sync.Mutex
	var lessons []lesson
	fail := false
	e.c.o.Learn = func(_ context.Context, r io.Reader, spam bool) error {
		b, err := io.ReadAll(r)
		if err != nil {
			return err
		}
		mu.Lock()
		defer mu.Unlock()
		if fail {
			return errors.New("database locked")
		}
		lessons = append(lessons, lesson{string(b), spam})
		return nil
	}
	ham := e.put("wanted", []string{"b@example.org"}, plainMsg)
	spam := e.put("junk", []string{"b@example.org"}, plainMsg)

	v := e.client()
	v.login("viewer")
	if r := v.get("/m/" + ham); strings.Contains(r.body, `id="learn-ham"`) {
		t.Error("a viewer is offered learning")
	}
	if r := v.post("/m/"+ham+"/learn-ham", nil); r.status != http.StatusForbidden {
		t.Errorf("viewer learn-ham: %d", r.status)
	}

	o := e.client()
	o.login("operator")
	if r := o.get("/m/" + ham); !strings.Contains(r.body, `id="learn-ham"`) || !strings.Contains(r.body, `id="confirm-spam"`) {
		t.Fatal("the operator has no learning buttons")
	}
	o.post("/m/"+ham+"/learn-ham", nil)
	if r := o.get("/m/" + ham); !strings.Contains(r.body, "Learned as ham. Released") {
		t.Errorf("outcome not shown:\n%s", r.body)
	}
	o.get("/m/" + spam)
	o.post("/m/"+spam+"/confirm-spam", nil)
	if e.state(ham) != quarantine.Released || e.state(spam) != quarantine.Deleted {
		t.Errorf("states %s %s, want released and deleted", e.state(ham), e.state(spam))
	}
	if len(lessons) != 2 || lessons[0].spam || !lessons[1].spam || lessons[0].msg != plainMsg {
		t.Errorf("lessons %+v", lessons)
	}
	if n := len(e.relay.Messages()); n != 1 {
		t.Errorf("%d released, want 1", n)
	}

	// A lesson that fails leaves the message held.
	fail = true
	third := e.put("third", []string{"b@example.org"}, plainMsg)
	o.get("/m/" + third)
	o.post("/m/"+third+"/learn-ham", nil)
	if r := o.get("/m/" + third); !strings.Contains(r.body, "Not learned (nothing else was done): database locked") || e.state(third) != quarantine.Held {
		t.Errorf("after a failed lesson: %s\n%s", e.state(third), r.body)
	}
	var learnRecords int
	for _, r := range e.audit.records(t) {
		if a := r["action"]; a == "learn_ham" || a == "learn_spam" {
			learnRecords++
		}
	}
	if learnRecords != 3 {
		t.Errorf("%d learning records in the audit trail, want 3", learnRecords)
	}
}
