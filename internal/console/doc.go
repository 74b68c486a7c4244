// Package console is Mamori's authenticated admin web console: a small
// server-rendered site (html/template, no JavaScript) where an operator
// searches the quarantine, reads a held message safely, and releases or
// deletes it.
//
// Security model:
//   - Every page but /login and the style sheet needs a session: the
//     "mamori_session" cookie (HttpOnly, SameSite=Strict, Path=/, Secure
//     over TLS) holds the token of quarantine.Accounts.NewSession. A GET
//     without one is sent to /login, a POST gets 403.
//   - Every POST carries the session's CSRF token in the hidden "csrf"
//     field, compared in constant time. The login form carries a
//     double-submit token: a random value in the "mamori_login" cookie and
//     the same value in the form.
//   - Failed logins say "wrong login or password" whatever was wrong, or
//     that the account is locked (quarantine.MaxFailedLogins in a row).
//     Each client address also gets at most maxIPFailures failed logins in
//     ipWindow (answered 429), counted in memory by this process.
//   - Every response carries a strict Content-Security-Policy (no script
//     at all, no inline style), nosniff, no referrer and no-store.
//   - A message is shown as text only: its header and text parts escaped
//     in <pre>, HTML parts as escaped source, never rendered; attachments
//     are listed by name, type and size and never served.
//   - A scoped account (quarantine.User.Domains) sees and acts on only the
//     entries quarantine.InScope allows; any other id is answered 404, as
//     an id that does not exist or does not parse (quarantine.ParseID).
//
// The /users page (admin role) lists the accounts and adds, changes
// (role, domains, disabled, lock, password) and deletes them; an admin may
// not demote, disable or delete their own account.
//
// Every login, failed login, logout, view, release, delete and account
// change is written to the audit log (event "admin"; never a password).
// The /audit page (admin role) shows the
// last auditKeep of those records kept in memory by this process: records
// of the CLI, of other instances and from before a restart are only in
// the audit file.
//
// The client address is the connection's remote address: the console does
// not trust X-Forwarded-For. Behind a reverse proxy every client has the
// proxy's address, and the per-address throttle becomes a global one.
package console
