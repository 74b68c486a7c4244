package console

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/mamori-mail/mamori/internal/audit"
	"github.com/mamori-mail/mamori/internal/quarantine"
)

// Per-address login throttle: after maxIPFailures failed logins from one
// address within ipWindow, that address gets 429 until the window ends.
// It complements the per-account lock of quarantine.Authenticate, which an
// attacker trying one password on many logins never reaches.
const (
	maxIPFailures = 20
	ipWindow      = 10 * time.Minute
	// maxTracked bounds the addresses remembered; past it, expired ones
	// are dropped, and if none is, the oldest window goes.
	maxTracked = 10000
)

// Login messages: one for every wrong credential, so that none tells
// whether the login exists.
const (
	msgBadLogin = "wrong login or password"
	msgLocked   = "This account is locked after too many failed logins. Try again later, or ask an admin to unlock it."
	msgThrottle = "Too many failed logins from your address. Try again later."
)

// throttle counts failed logins per client address.
type throttle struct {
	mu sync.Mutex
	m  map[string]*ipCount
}

type ipCount struct {
	start time.Time
	n     int
}

func newThrottle() *throttle { return &throttle{m: map[string]*ipCount{}} }

// blocked reports whether ip has used up its failures at now.
func (t *throttle) blocked(ip string, now time.Time) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	c := t.m[ip]
	return c != nil && now.Sub(c.start) < ipWindow && c.n >= maxIPFailures
}

// fail counts a failed login of ip at now.
func (t *throttle) fail(ip string, now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	c := t.m[ip]
	if c == nil || now.Sub(c.start) >= ipWindow {
		if c == nil && len(t.m) >= maxTracked {
			t.prune(now)
		}
		c = &ipCount{start: now}
		t.m[ip] = c
	}
	c.n++
}

func (t *throttle) prune(now time.Time) {
	var oldest string
	var oldestT time.Time
	for ip, c := range t.m {
		if now.Sub(c.start) >= ipWindow {
			delete(t.m, ip)
			continue
		}
		if oldest == "" || c.start.Before(oldestT) {
			oldest, oldestT = ip, c.start
		}
	}
	if len(t.m) >= maxTracked {
		delete(t.m, oldest)
	}
}

// loginData is the login page's.
type loginData struct {
	Token string
	Login string
}

// loginForm shows the login form with msg, setting the form's
// double-submit cookie when the browser has none.
func (c *Console) loginForm(w http.ResponseWriter, r *http.Request, login, msg string, status int) {
	token := ""
	if ck, err := r.Cookie(loginCookie); err == nil && len(ck.Value) >= 32 && len(ck.Value) <= 64 {
		token = ck.Value
	} else {
		token = randomToken()
		http.SetCookie(w, c.cookie(loginCookie, token, 0))
	}
	p := page{Title: "Log in", Data: loginData{Token: token, Login: login}}
	if msg != "" {
		p.Flash, p.FlashErr = msg, true
	}
	c.render(w, status, "login", p)
}

// cookie returns a console cookie; maxAge < 0 deletes it.
func (c *Console) cookie(name, value string, maxAge int) *http.Cookie {
	return &http.Cookie{
		Name: name, Value: value, Path: "/", MaxAge: maxAge,
		HttpOnly: true, Secure: c.o.SecureCookies, SameSite: http.SameSiteStrictMode,
	}
}

// login checks a POSTed login form.
func (c *Console) login(w http.ResponseWriter, r *http.Request) {
	ip := clientIP(r)
	now := c.now()
	if c.throttle.blocked(ip, now) {
		c.loginForm(w, r, "", msgThrottle, http.StatusTooManyRequests)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	if err := r.ParseForm(); err != nil {
		c.loginForm(w, r, "", "The form could not be read; try again.", http.StatusBadRequest)
		return
	}
	ck, err := r.Cookie(loginCookie)
	if err != nil || !sameToken(r.PostFormValue("csrf"), ck.Value) {
		c.loginForm(w, r, "", "The form expired or your browser refused its cookie: try again.", http.StatusForbidden)
		return
	}
	login := strings.TrimSpace(r.PostFormValue("login"))
	if len(login) > 64 {
		login = login[:64]
	}
	ctx, cancel := context.WithTimeout(r.Context(), requestTimeout)
	defer cancel()
	u, err := c.o.Accounts.Authenticate(ctx, login, r.PostFormValue("password"), ip, now)
	if err != nil {
		rec := &audit.Record{Action: "login_failed", By: "web:" + login, ClientIP: ip, Result: "failed"}
		msg, status := msgBadLogin, http.StatusUnauthorized
		switch {
		case errors.Is(err, quarantine.ErrBadCredentials):
			rec.Error = "wrong login or password"
			c.throttle.fail(ip, now)
		case errors.Is(err, quarantine.ErrLocked):
			rec.Error = "account locked"
			msg = msgLocked
			c.throttle.fail(ip, now)
		case errors.Is(err, quarantine.ErrDisabled):
			// Only said for the right password: it tells nothing to a guesser.
			rec.Error = "account disabled"
			msg = "This account is disabled; ask an admin."
		default:
			c.log.Error("console: login", "err", err, "client_ip", ip)
			rec.Error = err.Error()
			msg, status = "The login could not be checked (internal error); try again later.", http.StatusInternalServerError
		}
		c.record(rec)
		c.loginForm(w, r, login, msg, status)
		return
	}
	token, _, err := c.o.Accounts.NewSession(ctx, u.Login, ip, now, 0)
	if err != nil {
		c.log.Error("console: new session", "err", err, "client_ip", ip)
		c.record(&audit.Record{Action: "login", By: "web:" + u.Login, ClientIP: ip, Result: "failed", Error: err.Error()})
		c.loginForm(w, r, login, "The session could not be started (internal error); try again later.", http.StatusInternalServerError)
		return
	}
	c.record(&audit.Record{Action: "login", By: "web:" + u.Login, ClientIP: ip, Result: "ok"})
	http.SetCookie(w, c.cookie(loginCookie, "", -1))
	http.SetCookie(w, c.cookie(sessionCookie, token, 0))
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// logout ends the session.
func (c *Console) logout(q *request) {
	rec := &audit.Record{Action: "logout", By: q.by(), ClientIP: q.ip, Result: "ok"}
	if err := c.o.Accounts.EndSession(q.ctx, q.token); err != nil {
		c.log.Error("console: end session", "err", err, "client_ip", q.ip)
		rec.Result, rec.Error = "failed", err.Error()
	}
	c.record(rec)
	c.mu.Lock()
	delete(c.flashes, q.token)
	c.mu.Unlock()
	http.SetCookie(q.w, c.cookie(sessionCookie, "", -1))
	http.Redirect(q.w, q.r, "/login", http.StatusSeeOther)
}
