package console

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"embed"
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/mamori-mail/mamori/internal/audit"
	"github.com/mamori-mail/mamori/internal/quarantine"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static/style.css
var styleCSS []byte

// Names of the cookies.
const (
	sessionCookie = "mamori_session"
	loginCookie   = "mamori_login" // double-submit token of the login form
)

// Security headers sent with every response.
const csp = "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// maxForm bounds a POST body: the forms hold a few short fields.
const maxForm = 64 << 10

// maxFlashes bounds the outcomes kept for sessions' next pages.
const maxFlashes = 10000

// requestTimeout bounds the store and account work of one request; a
// release has its own timeout (quarantine.ReleaseOptions.Timeout) on top.
const requestTimeout = 30 * time.Second

// Options configure a Console.
type Options struct {
	Store    quarantine.Store
	Accounts quarantine.Accounts
	// Audit receives a record for every login, failed login, logout, view,
	// release, delete and account change; nil writes none (the /audit page still shows
	// them).
	Audit   *audit.Log
	Release quarantine.ReleaseOptions
	// ReleaseFunc, when set, is asked for the release settings at each
	// release instead of Release, so that a reload changes them.
	ReleaseFunc func() quarantine.ReleaseOptions
	// Learn, when set, teaches the classifier a message as spam or ham:
	// the message page then offers "release and learn as ham" and
	// "confirm as spam" (learn, then delete).
	Learn func(ctx context.Context, msg io.Reader, spam bool) error
	// SecureCookies marks the cookies Secure: set it when the console is
	// served over TLS.
	SecureCookies bool
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// Log receives errors of the store and the accounts; nil discards.
	Log *slog.Logger
}

// Console is the admin web console, an http.Handler.
type Console struct {
	o     Options
	now   func() time.Time
	log   *slog.Logger
	pages map[string]*template.Template

	throttle *throttle
	recent   *recent

	mu      sync.Mutex
	flashes map[string]flash // by session token, one-shot (post/redirect/get)
}

// flash is the outcome of an action, shown once on the next page.
type flash struct {
	msg string
	err bool
}

var errNoStore = errors.New("console: Options.Store and Options.Accounts are required")

// New returns a console serving o.Store to the accounts of o.Accounts.
func New(o Options) (*Console, error) {
	if o.Store == nil || o.Accounts == nil {
		return nil, errNoStore
	}
	c := &Console{o: o, now: o.Now, log: o.Log, throttle: newThrottle(), recent: newRecent(auditKeep), flashes: map[string]flash{}}
	if c.now == nil {
		c.now = time.Now
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	funcs := template.FuncMap{
		"fmtTime": func(t time.Time) string {
			if t.IsZero() {
				return ""
			}
			return t.UTC().Format("2006-01-02 15:04:05")
		},
		"join": func(s []string) string { return strings.Join(s, ", ") },
		"orNull": func(s string) string {
			if s == "" {
				return "<>"
			}
			return s
		},
	}
	layout, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html")
	if err != nil {
		return nil, fmt.Errorf("console: %w", err)
	}
	c.pages = map[string]*template.Template{}
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return nil, fmt.Errorf("console: %w", err)
	}
	for _, n := range names {
		name := strings.TrimSuffix(strings.TrimPrefix(n, "templates/"), ".html")
		if name == "layout" {
			continue
		}
		t, err := template.Must(layout.Clone()).ParseFS(templateFS, n)
		if err != nil {
			return nil, fmt.Errorf("console: %w", err)
		}
		c.pages[name] = t
	}
	return c, nil
}

// page is what every template gets.
type page struct {
	Title    string
	User     *quarantine.User
	CSRF     string
	Flash    string
	FlashErr bool
	Data     any
}

// request is one authenticated request.
type request struct {
	w     http.ResponseWriter
	r     *http.Request
	ctx   context.Context
	ip    string
	token string
	sess  *quarantine.Session
	// flashPrefix starts the outcome message of the action that follows
	// (a release after learning says it learned first).
	flashPrefix string
}

func (q *request) by() string { return "web:" + q.sess.Login }

// ServeHTTP routes a request. Routing is by hand rather than by
// http.ServeMux, so that an unclean path ("/m/../x") is answered 404, not
// redirected to its clean form.
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", csp)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Frame-Options", "DENY")

	path := r.URL.Path
	switch {
	case path == "/static/style.css" && (r.Method == http.MethodGet || r.Method == http.MethodHead):
		h.Set("Content-Type", "text/css; charset=utf-8")
		w.Write(styleCSS)
		return
	case path == "/login":
		switch r.Method {
		case http.MethodGet, http.MethodHead:
			c.loginForm(w, r, "", "", http.StatusOK)
		case http.MethodPost:
			c.login(w, r)
		default:
			c.methodNotAllowed(w, "GET, POST")
		}
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead && r.Method != http.MethodPost {
		c.methodNotAllowed(w, "GET, POST")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), requestTimeout)
	defer cancel()
	q := &request{w: w, r: r, ctx: ctx, ip: clientIP(r)}
	if !c.authenticate(q) {
		return
	}

	post := r.Method == http.MethodPost
	switch {
	case path == "/logout" && post:
		c.logout(q)
	case path == "/" && !post:
		c.list(q)
	case path == "/audit" && !post:
		c.auditPage(q)
	case path == "/users" && !post:
		c.users(q)
	case path == "/users/add" && post:
		c.addUser(q)
	case strings.HasPrefix(path, "/users/") && post:
		login, action, ok := strings.Cut(path[len("/users/"):], "/")
		if !ok || strings.Contains(action, "/") {
			c.notFound(q)
			return
		}
		c.changeUser(q, login, action)
	case strings.HasPrefix(path, "/m/"):
		id, action, _ := strings.Cut(path[len("/m/"):], "/")
		if _, err := quarantine.ParseID(id); err != nil {
			c.notFound(q)
			return
		}
		switch {
		case action == "" && !post:
			c.message(q, id)
		case action == "release" && post:
			c.release(q, id)
		case action == "delete" && post:
			c.delete(q, id)
		case action == "learn-ham" && post && c.o.Learn != nil:
			c.learn(q, id, false)
		case action == "confirm-spam" && post && c.o.Learn != nil:
			c.learn(q, id, true)
		default:
			c.notFound(q)
		}
	default:
		c.notFound(q)
	}
}

// authenticate finds the request's session, and for a POST checks its
// CSRF token. It answers the request itself and returns false when it
// fails: a GET is sent to /login, a POST gets 403.
func (c *Console) authenticate(q *request) bool {
	post := q.r.Method == http.MethodPost
	if ck, err := q.r.Cookie(sessionCookie); err == nil && ck.Value != "" {
		sess, err := c.o.Accounts.Session(q.ctx, ck.Value, c.now())
		switch {
		case err == nil && sess.User != nil:
			q.sess, q.token = sess, ck.Value
		case err != nil && !errors.Is(err, quarantine.ErrNoSession):
			c.log.Error("console: session lookup", "err", err, "client_ip", q.ip)
			c.fail(q.w, http.StatusInternalServerError, "Internal error", "The session could not be checked; see the daemon's log.")
			return false
		}
	}
	if q.sess == nil {
		if post {
			c.fail(q.w, http.StatusForbidden, "Forbidden", "You are not logged in, or your session ended.")
		} else {
			http.Redirect(q.w, q.r, "/login", http.StatusSeeOther)
		}
		return false
	}
	if post {
		q.r.Body = http.MaxBytesReader(q.w, q.r.Body, maxForm)
		if !sameToken(q.r.PostFormValue("csrf"), q.sess.CSRF) {
			c.page(q, http.StatusForbidden, "error", "Forbidden", "The form's security token is missing or wrong: reload the page and try again.")
			return false
		}
	}
	return true
}

// sameToken compares a token from a form with the expected one in
// constant time; an empty expected token matches nothing.
func sameToken(got, want string) bool {
	return want != "" && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

// clientIP is the connection's remote address, without the port.
func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// randomToken returns 32 random bytes as base64url.
func randomToken() string {
	var b [32]byte
	rand.Read(b[:]) // never fails (crypto/rand documents it)
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// setFlash keeps an outcome for the session's next page.
func (c *Console) setFlash(q *request, msg string, isErr bool) {
	c.mu.Lock()
	if len(c.flashes) >= maxFlashes {
		clear(c.flashes) // outcomes never looked at; losing them loses no action
	}
	c.flashes[q.token] = flash{q.flashPrefix + msg, isErr}
	c.mu.Unlock()
}

// takeFlash returns and forgets the session's outcome.
func (c *Console) takeFlash(q *request) flash {
	c.mu.Lock()
	defer c.mu.Unlock()
	f := c.flashes[q.token]
	delete(c.flashes, q.token)
	return f
}

// page renders an authenticated page.
func (c *Console) page(q *request, status int, name, title string, data any) {
	p := page{Title: title, User: q.sess.User, CSRF: q.sess.CSRF, Data: data}
	if status == http.StatusOK {
		f := c.takeFlash(q)
		p.Flash, p.FlashErr = f.msg, f.err
	}
	c.render(q.w, status, name, p)
}

// render executes a page into a buffer first, so that a template error
// gives a clean 500 rather than half a page.
func (c *Console) render(w http.ResponseWriter, status int, name string, p page) {
	var buf bytes.Buffer
	if err := c.pages[name].ExecuteTemplate(&buf, "layout", p); err != nil {
		c.log.Error("console: template", "page", name, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// fail renders an error page without a session.
func (c *Console) fail(w http.ResponseWriter, status int, title, msg string) {
	c.render(w, status, "error", page{Title: title, Data: msg})
}

func (c *Console) notFound(q *request) {
	c.page(q, http.StatusNotFound, "error", "Not found", "There is no such page, or no such entry in your domains.")
}

func (c *Console) methodNotAllowed(w http.ResponseWriter, allow string) {
	w.Header().Set("Allow", allow)
	c.fail(w, http.StatusMethodNotAllowed, "Method not allowed", "This page does not take that method.")
}
