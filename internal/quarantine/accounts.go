package quarantine

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// Accounts of the web console.
//
// The accounts live in the quarantine's database (tables users and
// sessions, schema version 2), so that instances sharing a PostgreSQL
// quarantine share their accounts and sessions too.
//
// Passwords are stored as argon2id hashes in the PHC string format
// (password.go); bcrypt hashes ("$2a$", "$2b$", "$2y$") are accepted for
// imported accounts and replaced by argon2id at their next login.
//
// Authenticate counts failed passwords in the row, with one UPDATE per
// failure, so that concurrent attempts on several instances all count. The
// MaxFailedLogins-th failure in a row locks the account for LockDuration;
// while it is locked, Authenticate answers ErrLocked without looking at the
// password, so that guessing stops, and a lock therefore tells that the
// login exists. An unknown login and a wrong password give the same
// ErrBadCredentials, after the same work (a hash of the given password).
//
// A session is a random token of SessionTokenBytes, given to the browser;
// the database keeps only its SHA-256, so a copy of the database opens no
// session. A session ends after SessionIdle without use, after its
// lifetime (at most SessionMaxAge), at EndSession, or when its user's
// password changes or the user is disabled or deleted (EndSessions).

// Errors of the accounts, wrapped; match them with errors.Is.
var (
	// ErrBadCredentials: unknown login or wrong password (never said which).
	ErrBadCredentials = errors.New("quarantine: wrong login or password")
	// ErrLocked: too many wrong passwords in a row; the account is locked
	// until LockedUntil, whatever password is given.
	ErrLocked = errors.New("quarantine: account locked after too many failed logins")
	// ErrDisabled: the account was disabled by an admin.
	ErrDisabled = errors.New("quarantine: account disabled")
	// ErrNoUser: no account has this login.
	ErrNoUser = errors.New("quarantine: no such user")
	// ErrNoSession: the session token is unknown, expired or ended.
	ErrNoSession = errors.New("quarantine: no such session, or it expired")
	// ErrBadAccount: a login, password, role or domain that AddUser and the
	// setters refuse; the message says what is wanted.
	ErrBadAccount = errors.New("quarantine: invalid account")
)

// Login throttling: the MaxFailedLogins-th wrong password in a row locks
// the account for LockDuration, and the count starts again from 0. A
// successful login, SetPassword and UnlockUser reset the count.
const (
	MaxFailedLogins = 10
	LockDuration    = 15 * time.Minute
)

// Sessions: a session ends after SessionIdle without a request, and
// SessionMaxAge after it began whatever its use; NewSession's ttl can only
// shorten the latter.
const (
	SessionIdle       = 30 * time.Minute
	SessionMaxAge     = 12 * time.Hour
	SessionTokenBytes = 32
)

// Bounds of accounts.
const (
	MinPasswordLen = 12   // characters
	maxPasswordLen = 1024 // bytes: a hash of 1 MB of "password" is a denial of service
	maxLoginLen    = 64
	maxDomains     = 1000
)

// Role is what an account may do. Each role may do what the one before
// may, and more.
type Role string

// The roles.
const (
	RoleViewer   Role = "viewer"   // list entries and read them
	RoleOperator Role = "operator" // and release and delete them
	RoleAdmin    Role = "admin"    // and manage the accounts
)

// Roles lists the roles, least first.
var Roles = []Role{RoleViewer, RoleOperator, RoleAdmin}

// Action is something the console does on behalf of an account.
type Action string

// The actions Role.Can knows.
const (
	ActionRead        Action = "read"    // list entries, show one, read its message
	ActionRelease     Action = "release" // release an entry
	ActionDelete      Action = "delete"  // delete an entry
	ActionManageUsers Action = "users"   // add, change and delete accounts
)

// ParseRole returns the role named s.
func ParseRole(s string) (Role, error) {
	r := Role(strings.ToLower(strings.TrimSpace(s)))
	if !slices.Contains(Roles, r) {
		return "", fmt.Errorf("%w: unknown role %q (want viewer, operator or admin)", ErrBadAccount, clip(s, 40))
	}
	return r, nil
}

// Can reports whether r may do a. An unknown role or action may do
// nothing.
func (r Role) Can(a Action) bool {
	switch a {
	case ActionRead:
		return r == RoleViewer || r == RoleOperator || r == RoleAdmin
	case ActionRelease, ActionDelete:
		return r == RoleOperator || r == RoleAdmin
	case ActionManageUsers:
		return r == RoleAdmin
	}
	return false
}

// CanRelease reports whether r may release and delete entries.
func (r Role) CanRelease() bool { return r.Can(ActionRelease) }

// CanManageUsers reports whether r may manage the accounts.
func (r Role) CanManageUsers() bool { return r.Can(ActionManageUsers) }

// User is an account, without its password hash.
type User struct {
	Login string
	Role  Role
	// Domains scope the account to entries for these recipient domains
	// (see InScope); empty means every domain. ".example.jp" means every
	// subdomain of example.jp.
	Domains   []string
	CreatedAt time.Time
	UpdatedAt time.Time
	// FailedCount is the wrong passwords in a row since the last login,
	// lock or reset.
	FailedCount int
	// LockedUntil and LastLoginAt are zero when it never happened.
	LockedUntil time.Time
	LastLoginAt time.Time
	Disabled    bool
}

// Locked reports whether u is locked at now.
func (u *User) Locked(now time.Time) bool { return now.Before(u.LockedUntil) }

// Session is a live console session.
type Session struct {
	Login string
	// CSRF is the session's anti-CSRF token: forms and unsafe requests
	// must carry it, compared in constant time.
	CSRF      string
	CreatedAt time.Time
	// ExpiresAt is the end of the session's lifetime; it ends earlier
	// after SessionIdle without use.
	ExpiresAt time.Time
	ClientIP  string // where it was created
	User      *User  // as the account is now
}

// Accounts keeps the console's accounts and sessions. SQLite and Postgres
// implement it; both are safe for concurrent use. Times are passed in (now)
// so that tests, and instances that share a database, agree.
type Accounts interface {
	// AddUser creates an account; ErrExists if the login is taken,
	// ErrBadAccount for a login, role, domain or password it refuses.
	AddUser(ctx context.Context, login string, role Role, domains []string, password string) error
	// GetUser returns the account, or ErrNoUser.
	GetUser(ctx context.Context, login string) (*User, error)
	// ListUsers returns every account, by login.
	ListUsers(ctx context.Context) ([]User, error)
	// SetPassword replaces the password, unlocks the account and ends its
	// sessions.
	SetPassword(ctx context.Context, login, password string) error
	// SetRole changes the role; live sessions see it at their next request.
	SetRole(ctx context.Context, login string, role Role) error
	// SetDomains changes the scope; empty means every domain.
	SetDomains(ctx context.Context, login string, domains []string) error
	// DisableUser disables the account and ends its sessions; EnableUser
	// undoes it.
	DisableUser(ctx context.Context, login string) error
	EnableUser(ctx context.Context, login string) error
	// UnlockUser clears a lock and the count of failed logins.
	UnlockUser(ctx context.Context, login string) error
	// DeleteUser removes the account and its sessions.
	DeleteUser(ctx context.Context, login string) error

	// Authenticate checks a password: the account, or ErrBadCredentials,
	// ErrLocked or ErrDisabled (the latter only for the right password).
	Authenticate(ctx context.Context, login, password, clientIP string, now time.Time) (*User, error)

	// NewSession starts a session for login, for ttl at most SessionMaxAge
	// (SessionMaxAge when ttl <= 0), and returns its token, for the
	// browser's cookie, and its CSRF token.
	NewSession(ctx context.Context, login, clientIP string, now time.Time, ttl time.Duration) (token, csrf string, err error)
	// Session returns the live session of token and marks it used at now;
	// ErrNoSession if there is none.
	Session(ctx context.Context, token string, now time.Time) (*Session, error)
	// EndSession ends one session (logout); ending an unknown one is no
	// error.
	EndSession(ctx context.Context, token string) error
	// EndSessions ends every session of login.
	EndSessions(ctx context.Context, login string) error
}

var (
	_ Accounts = (*SQLite)(nil)
	_ Accounts = (*Postgres)(nil)
)

// InScope reports whether an account scoped to u.Domains may see and act
// on an entry for recipients: an unscoped account always may, a scoped
// one only if every recipient is in one of its domains (releasing an
// entry delivers it to all its recipients), and never an entry without
// recipients.
func InScope(u *User, recipients []string) bool {
	if u == nil {
		return false
	}
	if len(u.Domains) == 0 {
		return true
	}
	if len(recipients) == 0 {
		return false
	}
	for _, r := range recipients {
		_, domain := addrKey(strings.Trim(strings.TrimSpace(r), "<>"))
		domain = strings.TrimSuffix(domain, ".")
		if domain == "" || !domainIn(u.Domains, domain) {
			return false
		}
	}
	return true
}

// domainIn matches domain against a scope: a domain matches itself, and
// ".example.jp" matches the subdomains of example.jp (as rules.DomainPolicy).
func domainIn(scope []string, domain string) bool {
	for _, d := range scope {
		if d == domain || strings.HasPrefix(d, ".") && strings.HasSuffix(domain, d) {
			return true
		}
	}
	return false
}

// normLogin folds a login as stored: logins are lower-case.
func normLogin(login string) string { return strings.ToLower(strings.TrimSpace(login)) }

// checkLogin validates a normalized login: 1 to 64 of [a-z0-9._@-].
func checkLogin(login string) error {
	ok := len(login) >= 1 && len(login) <= maxLoginLen
	for i := 0; ok && i < len(login); i++ {
		c := login[i]
		ok = 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '@' || c == '-'
	}
	if !ok {
		return fmt.Errorf("%w: login %q: want 1 to %d of a-z, 0-9, '.', '_', '@' and '-'", ErrBadAccount, clip(login, 80), maxLoginLen)
	}
	return nil
}

// checkPassword validates a new password.
func checkPassword(password string) error {
	if n := utf8.RuneCountInString(password); n < MinPasswordLen {
		return fmt.Errorf("%w: the password has %d characters, it needs at least %d", ErrBadAccount, n, MinPasswordLen)
	}
	if len(password) > maxPasswordLen {
		return fmt.Errorf("%w: the password is longer than %d bytes", ErrBadAccount, maxPasswordLen)
	}
	return nil
}

// checkRole validates a role.
func checkRole(r Role) error {
	if !slices.Contains(Roles, r) {
		return fmt.Errorf("%w: unknown role %q (want viewer, operator or admin)", ErrBadAccount, clip(string(r), 40))
	}
	return nil
}

// normDomains lower-cases, checks, sorts and de-duplicates a scope.
func normDomains(domains []string) ([]string, error) {
	if len(domains) > maxDomains {
		return nil, fmt.Errorf("%w: %d domains, at most %d", ErrBadAccount, len(domains), maxDomains)
	}
	out := make([]string, 0, len(domains))
	for _, d := range domains {
		d = strings.TrimSuffix(strings.ToLower(strings.TrimSpace(d)), ".")
		if !validDomain(strings.TrimPrefix(d, ".")) {
			return nil, fmt.Errorf("%w: domain %q: want a domain such as example.jp, or .example.jp for its subdomains", ErrBadAccount, clip(d, 80))
		}
		out = append(out, d)
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// validDomain reports whether d is dot-separated labels of [a-z0-9-] (A
// labels; RFC 1035 section 2.3.1, RFC 5890 for IDNs), at most 253 bytes.
func validDomain(d string) bool {
	if d == "" || len(d) > 253 {
		return false
	}
	for label := range strings.SplitSeq(d, ".") {
		if label == "" || len(label) > 63 {
			return false
		}
		for i := 0; i < len(label); i++ {
			if c := label[i]; !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}

// newToken returns SessionTokenBytes random bytes as base64url.
func newToken() string {
	var b [SessionTokenBytes]byte
	rand.Read(b[:]) // never fails (crypto/rand documents it)
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// tokenHash is what the sessions table keeps of a token: hex SHA-256.
// The token is 256 random bits, so a plain hash is enough (no salt, no
// slow hash): nothing to guess.
func tokenHash(token string) string {
	h := sha256.Sum256([]byte(token))
	return hex.EncodeToString(h[:])
}

// encodeDomains and decodeDomains convert the domains column (JSON).
func encodeDomains(d []string) string {
	b, _ := json.Marshal(nonNil(d))
	return string(b)
}

func decodeDomains(s string) ([]string, error) {
	var d []string
	if err := json.Unmarshal([]byte(s), &d); err != nil {
		return nil, fmt.Errorf("quarantine: users.domains column: %w", err)
	}
	if len(d) == 0 {
		return nil, nil
	}
	return d, nil
}
