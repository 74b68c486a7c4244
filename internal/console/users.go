package console

import (
	"errors"
	"net/http"
	"strings"

	"github.com/mamori-mail/mamori/internal/audit"
	"github.com/mamori-mail/mamori/internal/quarantine"
)

// The users page (admin role): the accounts, and forms that add, change
// and delete them. Every change is written to the audit log (event
// "admin", action user_*, reason "account <login>"); a password never is.

// userActions maps the action of POST /users/{login}/{action} to its audit
// action.
var userActions = map[string]string{
	"role":     "user_role",
	"domains":  "user_domains",
	"disable":  "user_disable",
	"enable":   "user_enable",
	"unlock":   "user_unlock",
	"delete":   "user_delete",
	"password": "user_passwd",
}

// userRow is one account as the users page shows it.
type userRow struct {
	quarantine.User
	Self   bool
	Locked bool
}

type usersData struct {
	Users  []userRow
	Roles  []quarantine.Role
	MinPwd int
	Err    string
}

// validLoginPath reports whether s is a login as stored (normalized): 1 to
// 64 of a-z, 0-9, '.', '_', '@' and '-'. A path with anything else is
// answered 404 without asking the accounts.
func validLoginPath(s string) bool {
	ok := len(s) >= 1 && len(s) <= 64
	for i := 0; ok && i < len(s); i++ {
		c := s[i]
		ok = 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '@' || c == '-'
	}
	return ok
}

// canManageUsers answers 403 and returns false unless the session's role
// may manage the accounts.
func (c *Console) canManageUsers(q *request) bool {
	if !q.sess.User.Role.CanManageUsers() {
		c.page(q, http.StatusForbidden, "error", "Forbidden", "The users page is for admins.")
		return false
	}
	return true
}

// users shows the accounts and their forms.
func (c *Console) users(q *request) {
	if !c.canManageUsers(q) {
		return
	}
	d := &usersData{Roles: quarantine.Roles, MinPwd: quarantine.MinPasswordLen}
	us, err := c.o.Accounts.ListUsers(q.ctx)
	if err != nil {
		c.log.Error("console: list users", "err", err, "client_ip", q.ip)
		d.Err = "The accounts could not be listed (internal error); see the daemon's log."
	}
	now := c.now()
	for _, u := range us {
		d.Users = append(d.Users, userRow{User: u, Self: u.Login == q.sess.User.Login, Locked: u.Locked(now)})
	}
	c.page(q, http.StatusOK, "users", "Users", d)
}

// userRecord is an admin record about the account login.
func userRecord(q *request, action, login string) *audit.Record {
	return &audit.Record{Action: action, By: q.by(), ClientIP: q.ip, Reason: "account " + login, Result: "ok"}
}

// splitDomains splits the domains field at commas and white space.
func splitDomains(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' || r == '\r' || r == '\n' })
}

// accountError is the text of a failed account change for the flash: the
// store's own text for what the admin can fix, a generic one otherwise.
func (c *Console) accountError(q *request, err error) string {
	if errors.Is(err, quarantine.ErrBadAccount) || errors.Is(err, quarantine.ErrNoUser) || errors.Is(err, quarantine.ErrExists) {
		return err.Error()
	}
	c.log.Error("console: account change", "err", err, "client_ip", q.ip)
	return err.Error() + " (see the daemon's log)"
}

// finishUser records rec, sets the flash and sends the browser back to
// the users page.
func (c *Console) finishUser(q *request, rec *audit.Record, err error, ok string) {
	if err != nil {
		msg := c.accountError(q, err)
		rec.Result, rec.Error = "failed", msg
		c.setFlash(q, "Not done: "+msg, true)
	} else {
		c.setFlash(q, ok, false)
	}
	c.record(rec)
	http.Redirect(q.w, q.r, "/users", http.StatusSeeOther)
}

// addUser creates an account from the "add user" form.
func (c *Console) addUser(q *request) {
	if !c.canManageUsers(q) {
		return
	}
	f := q.r.PostForm
	login := strings.ToLower(strings.TrimSpace(f.Get("login")))
	shown := login // for the record and the flash: bounded
	if len(shown) > 64 {
		shown = shown[:64] + "..."
	}
	rec := userRecord(q, "user_add", shown)
	role, err := quarantine.ParseRole(f.Get("role"))
	if err == nil {
		err = c.o.Accounts.AddUser(q.ctx, login, role, splitDomains(f.Get("domains")), f.Get("password"))
	}
	c.finishUser(q, rec, err, "Account "+shown+" added.")
}

// changeUser applies one action of a user's forms to the account login.
func (c *Console) changeUser(q *request, login, action string) {
	if !c.canManageUsers(q) {
		return
	}
	auditAction, ok := userActions[action]
	if !ok || !validLoginPath(login) {
		c.notFound(q)
		return
	}
	_, err := c.o.Accounts.GetUser(q.ctx, login)
	if errors.Is(err, quarantine.ErrNoUser) || errors.Is(err, quarantine.ErrBadAccount) {
		c.notFound(q)
		return
	}
	rec := userRecord(q, auditAction, login)
	if err != nil {
		c.finishUser(q, rec, err, "")
		return
	}
	f := q.r.PostForm
	self := login == q.sess.User.Login
	refuse := func(msg string) {
		rec.Result, rec.Error = "failed", msg
		c.record(rec)
		c.setFlash(q, "Not done: "+msg, true)
		http.Redirect(q.w, q.r, "/users", http.StatusSeeOther)
	}
	var done string
	switch action {
	case "role":
		role, perr := quarantine.ParseRole(f.Get("role"))
		if perr != nil {
			c.finishUser(q, rec, perr, "")
			return
		}
		if self && !role.CanManageUsers() {
			refuse("you may not demote your own account (ask another admin)")
			return
		}
		err, done = c.o.Accounts.SetRole(q.ctx, login, role), "Role of "+login+" set to "+string(role)+"."
	case "domains":
		err = c.o.Accounts.SetDomains(q.ctx, login, splitDomains(f.Get("domains")))
		done = "Domains of " + login + " changed."
	case "disable":
		if self {
			refuse("you may not disable your own account (ask another admin)")
			return
		}
		err, done = c.o.Accounts.DisableUser(q.ctx, login), "Account "+login+" disabled; its sessions ended."
	case "enable":
		err, done = c.o.Accounts.EnableUser(q.ctx, login), "Account "+login+" enabled."
	case "unlock":
		err, done = c.o.Accounts.UnlockUser(q.ctx, login), "Account "+login+" unlocked."
	case "delete":
		if self {
			refuse("you may not delete your own account (ask another admin)")
			return
		}
		if f.Get("confirm") != "yes" {
			refuse("tick the confirmation box to delete " + login)
			return
		}
		err, done = c.o.Accounts.DeleteUser(q.ctx, login), "Account "+login+" deleted."
	case "password":
		err = c.o.Accounts.SetPassword(q.ctx, login, f.Get("password"))
		done = "Password of " + login + " reset; its sessions ended."
	}
	c.finishUser(q, rec, err, done)
}
