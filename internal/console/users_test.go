package console

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/mamori-mail/mamori/internal/quarantine"
)

const newPassword = "a brand new passphrase"

// mustUser returns the account login.
func (e *env) mustUser(login string) *quarantine.User {
	e.t.Helper()
	u, err := e.st.GetUser(context.Background(), login)
	if err != nil {
		e.t.Fatal(err)
	}
	return u
}

func TestUsersForbiddenToNonAdmins(t *testing.T) {
	e := newEnv(t)
	for _, login := range []string{"operator", "viewer", "scoped"} {
		c := e.client()
		c.login(login)
		if r := c.get("/"); strings.Contains(r.body, `href="/users"`) {
			t.Errorf("%s: the nav links to /users", login)
		}
		if r := c.get("/users"); r.status != http.StatusForbidden {
			t.Errorf("%s GET /users: %d", login, r.status)
		}
		if r := c.post("/users/add", url.Values{"login": {"x" + login}, "role": {"admin"}, "password": {newPassword}}); r.status != http.StatusForbidden {
			t.Errorf("%s POST /users/add: %d", login, r.status)
		}
		for _, a := range []string{"role", "domains", "disable", "enable", "unlock", "delete", "password"} {
			form := url.Values{"role": {"admin"}, "password": {newPassword}, "confirm": {"yes"}}
			if r := c.post("/users/viewer/"+a, form); r.status != http.StatusForbidden {
				t.Errorf("%s POST /users/viewer/%s: %d", login, a, r.status)
			}
		}
	}
	if _, err := e.st.GetUser(context.Background(), "xoperator"); !errors.Is(err, quarantine.ErrNoUser) {
		t.Errorf("a non-admin added a user: %v", err)
	}
	if u := e.mustUser("viewer"); u.Role != quarantine.RoleViewer || u.Disabled {
		t.Errorf("a non-admin changed viewer: %+v", u)
	}
	for _, r := range e.audit.records(t) {
		if strings.HasPrefix(r["action"].(string), "user_") {
			t.Errorf("record of a refused request: %v", r)
		}
	}
}

func TestUsersPage(t *testing.T) {
	e := newEnv(t)
	a := e.client()
	a.login("admin")
	if r := a.get("/"); !strings.Contains(r.body, `href="/users"`) {
		t.Error("no Users link in the admin's nav")
	}
	r := a.get("/users")
	if r.status != http.StatusOK {
		t.Fatalf("GET /users: %d", r.status)
	}
	for _, s := range []string{"operator", "scoped", "example.org", `action="/users/add"`, `action="/users/viewer/delete"`, "active", "never"} {
		if !strings.Contains(r.body, s) {
			t.Errorf("users page lacks %q", s)
		}
	}
	if strings.Contains(r.body, `action="/users/admin/delete"`) || strings.Contains(r.body, `action="/users/admin/disable"`) {
		t.Error("the page offers the admin to delete or disable themself")
	}
}

func TestUsersLifecycle(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	a := e.client()
	a.login("admin")
	a.get("/users")

	expectFlash := func(r response, want string) {
		t.Helper()
		if r.status != http.StatusSeeOther || r.header.Get("Location") != "/users" {
			t.Fatalf("POST: %d %s\n%s", r.status, r.header.Get("Location"), r.body)
		}
		p := a.get("/users")
		if !strings.Contains(p.body, want) {
			t.Fatalf("flash: want %q in\n%s", want, p.body)
		}
	}

	// Add.
	expectFlash(a.post("/users/add", url.Values{"login": {"Carol"}, "role": {"viewer"}, "domains": {"example.org, example.com"}, "password": {testPassword}}),
		"Account carol added.")
	u := e.mustUser("carol")
	if u.Role != quarantine.RoleViewer || strings.Join(u.Domains, ",") != "example.com,example.org" {
		t.Errorf("added: %+v", u)
	}
	if r := e.client().tryLogin("carol", testPassword); r.status != http.StatusSeeOther {
		t.Errorf("new user's login: %d", r.status)
	}
	expectFlash(a.post("/users/add", url.Values{"login": {"carol"}, "role": {"viewer"}, "password": {testPassword}}), "Not done:")
	expectFlash(a.post("/users/add", url.Values{"login": {"dave"}, "role": {"viewer"}, "password": {"tooshort"}}), "at least 12")
	expectFlash(a.post("/users/add", url.Values{"login": {"dave"}, "role": {"root"}, "password": {testPassword}}), "unknown role")

	// Role and domains.
	expectFlash(a.post("/users/carol/role", url.Values{"role": {"operator"}}), "Role of carol set to operator.")
	if u := e.mustUser("carol"); u.Role != quarantine.RoleOperator {
		t.Errorf("role: %v", u.Role)
	}
	expectFlash(a.post("/users/carol/domains", url.Values{"domains": {""}}), "Domains of carol changed.")
	if u := e.mustUser("carol"); len(u.Domains) != 0 {
		t.Errorf("domains: %v", u.Domains)
	}
	expectFlash(a.post("/users/carol/domains", url.Values{"domains": {"not a domain!"}}), "Not done:")

	// Disable, enable.
	expectFlash(a.post("/users/carol/disable", nil), "Account carol disabled")
	if r := e.client().tryLogin("carol", testPassword); r.status == http.StatusSeeOther || !strings.Contains(r.body, "disabled") {
		t.Errorf("disabled user's login: %d", r.status)
	}
	expectFlash(a.post("/users/carol/enable", nil), "Account carol enabled.")
	if r := e.client().tryLogin("carol", testPassword); r.status != http.StatusSeeOther {
		t.Errorf("enabled user's login: %d", r.status)
	}

	// Lock, unlock.
	for range quarantine.MaxFailedLogins {
		e.st.Authenticate(ctx, "carol", "wrong password!", "192.0.2.1", time.Now())
	}
	if !e.mustUser("carol").Locked(time.Now()) {
		t.Fatal("carol is not locked")
	}
	if r := a.get("/users"); !strings.Contains(r.body, "locked until") || !strings.Contains(r.body, `action="/users/carol/unlock"`) {
		t.Error("the page does not show the lock")
	}
	expectFlash(a.post("/users/carol/unlock", nil), "Account carol unlocked.")
	if r := e.client().tryLogin("carol", testPassword); r.status != http.StatusSeeOther {
		t.Errorf("unlocked user's login: %d", r.status)
	}

	// Password.
	expectFlash(a.post("/users/carol/password", url.Values{"password": {"tooshort"}}), "at least 12")
	expectFlash(a.post("/users/carol/password", url.Values{"password": {newPassword}}), "Password of carol reset")
	if r := e.client().tryLogin("carol", testPassword); r.status == http.StatusSeeOther {
		t.Error("the old password still works")
	}
	if r := e.client().tryLogin("carol", newPassword); r.status != http.StatusSeeOther {
		t.Errorf("new password's login: %d", r.status)
	}

	// Delete: only when confirmed.
	expectFlash(a.post("/users/carol/delete", nil), "tick the confirmation box")
	e.mustUser("carol")
	expectFlash(a.post("/users/carol/delete", url.Values{"confirm": {"yes"}}), "Account carol deleted.")
	if _, err := e.st.GetUser(ctx, "carol"); !errors.Is(err, quarantine.ErrNoUser) {
		t.Errorf("after delete: %v", err)
	}

	// Unknown users, bad logins and actions.
	for _, p := range []string{"/users/carol/enable", "/users/Admin/enable", "/users/a%20b/enable", "/users/admin/frob", "/users/admin/enable/x", "/users//enable", "/users/admin"} {
		if r := a.post(p, nil); r.status != http.StatusNotFound {
			t.Errorf("POST %s: %d, want 404", p, r.status)
		}
	}

	// The records.
	want := map[string]string{"user_add": "", "user_role": "", "user_domains": "", "user_disable": "", "user_enable": "",
		"user_unlock": "", "user_passwd": "", "user_delete": ""}
	for _, r := range e.audit.records(t) {
		act := r["action"].(string)
		if !strings.HasPrefix(act, "user_") {
			continue
		}
		if r["event"] != "admin" || r["by"] != "web:admin" || r["client_ip"] != "127.0.0.1" {
			t.Errorf("record %v", r)
		}
		if r["result"] == "ok" {
			if r["reason"] != "account carol" {
				t.Errorf("record %v: reason", r)
			}
			delete(want, act)
		}
	}
	if len(want) > 0 {
		t.Errorf("no ok record of %v", want)
	}
	e.audit.mu.Lock()
	log := e.audit.b.String()
	e.audit.mu.Unlock()
	for _, pw := range []string{testPassword, newPassword, "tooshort"} {
		if strings.Contains(log, pw) {
			t.Errorf("the audit log holds the password %q", pw)
		}
	}
}

func TestUsersNotSelf(t *testing.T) {
	e := newEnv(t)
	a := e.client()
	a.login("admin")
	for _, p := range []struct {
		action string
		form   url.Values
		want   string
	}{
		{"role", url.Values{"role": {"operator"}}, "demote your own account"},
		{"disable", nil, "disable your own account"},
		{"delete", url.Values{"confirm": {"yes"}}, "delete your own account"},
	} {
		r := a.post("/users/admin/"+p.action, p.form)
		if r.status != http.StatusSeeOther {
			t.Fatalf("%s: %d", p.action, r.status)
		}
		if r := a.get("/users"); r.status != http.StatusOK || !strings.Contains(r.body, p.want) {
			t.Errorf("%s: %d, no %q", p.action, r.status, p.want)
		}
	}
	if u := e.mustUser("admin"); u.Role != quarantine.RoleAdmin || u.Disabled {
		t.Errorf("admin changed themself: %+v", u)
	}
	failed := 0
	for _, r := range e.audit.records(t) {
		if strings.HasPrefix(r["action"].(string), "user_") && r["result"] == "failed" && r["reason"] == "account admin" {
			failed++
		}
	}
	if failed != 3 {
		t.Errorf("%d failed records of self changes, want 3", failed)
	}
	// Setting one's own role to admin again is no demotion.
	a.post("/users/admin/role", url.Values{"role": {"admin"}})
	if r := a.get("/users"); !strings.Contains(r.body, "Role of admin set to admin.") {
		t.Error("setting one's own role to admin refused")
	}
}

func TestUsersCSRF(t *testing.T) {
	e := newEnv(t)
	a := e.client()
	a.login("admin")
	for _, tok := range []string{"", "forged"} {
		for _, p := range []string{"/users/add", "/users/viewer/delete", "/users/viewer/role"} {
			form := url.Values{"csrf": {tok}, "login": {"eve"}, "role": {"admin"}, "password": {newPassword}, "confirm": {"yes"}}
			if r := a.post(p, form); r.status != http.StatusForbidden {
				t.Errorf("POST %s with csrf %q: %d", p, tok, r.status)
			}
		}
	}
	if _, err := e.st.GetUser(context.Background(), "eve"); !errors.Is(err, quarantine.ErrNoUser) {
		t.Errorf("forged add: %v", err)
	}
	if u := e.mustUser("viewer"); u.Role != quarantine.RoleViewer {
		t.Errorf("forged role: %v", u.Role)
	}
}
