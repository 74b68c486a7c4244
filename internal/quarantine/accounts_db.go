package quarantine

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// acctDB is the accounts logic, written once over what the two databases
// share: the SQL below runs unchanged on both ("$N" placeholders); the
// dialect converts times. SQLite.accounts and Postgres.accounts build one.
type acctDB struct {
	d dialect
	// exec runs a statement and returns the rows it changed.
	exec func(ctx context.Context, q string, args ...any) (int64, error)
	// row scans the one row of q with fn; errNoRow if there is none.
	row func(ctx context.Context, q string, args []any, fn func(scanner) error) error
	// rows scans each row of q with fn.
	rows func(ctx context.Context, q string, args []any, fn func(scanner) error) error
	// unique reports whether err is a primary key violation.
	unique func(error) bool
}

var errNoRow = errors.New("quarantine: no row")

// never is what the time columns hold for "never happened": the epoch, so
// that "locked_until <= now" needs no NULL case.
var never = time.Unix(0, 0).UTC()

const userColumns = `login, role, domains, password_hash, created_at, updated_at, failed_count, locked_until, last_login_at, disabled`

// scanUser reads userColumns.
func (a *acctDB) scanUser(r scanner) (*User, string, error) {
	var u User
	var role, domains, hash string
	var failed int64
	ct, ut, lu, ll := a.d.timeDest(), a.d.timeDest(), a.d.timeDest(), a.d.timeDest()
	if err := r.Scan(&u.Login, &role, &domains, &hash, ct, ut, &failed, lu, ll, &u.Disabled); err != nil {
		return nil, "", err
	}
	var err error
	if u.Domains, err = decodeDomains(domains); err != nil {
		return nil, "", err
	}
	u.Role, u.FailedCount = Role(role), int(failed)
	u.CreatedAt, u.UpdatedAt = a.d.timeOf(ct), a.d.timeOf(ut)
	u.LockedUntil, u.LastLoginAt = a.timeOrZero(lu), a.timeOrZero(ll)
	return &u, hash, nil
}

func (a *acctDB) timeOrZero(v any) time.Time {
	if t := a.d.timeOf(v); !t.Equal(never) {
		return t
	}
	return time.Time{}
}

func (a *acctDB) t(t time.Time) any { return a.d.timeArg(t.UTC().Truncate(time.Microsecond)) }

// getUser returns the account and its password hash.
func (a *acctDB) getUser(ctx context.Context, login string) (*User, string, error) {
	var u *User
	var hash string
	err := a.row(ctx, `SELECT `+userColumns+` FROM users WHERE login = $1`, []any{login}, func(r scanner) error {
		var err error
		u, hash, err = a.scanUser(r)
		return err
	})
	if errors.Is(err, errNoRow) {
		return nil, "", fmt.Errorf("%w: %s", ErrNoUser, login)
	}
	if err != nil {
		return nil, "", wrapErr("read user "+login, err)
	}
	return u, hash, nil
}

func (a *acctDB) GetUser(ctx context.Context, login string) (*User, error) {
	login = normLogin(login)
	if err := checkLogin(login); err != nil {
		return nil, err
	}
	u, _, err := a.getUser(ctx, login)
	return u, err
}

func (a *acctDB) ListUsers(ctx context.Context) ([]User, error) {
	var users []User
	err := a.rows(ctx, `SELECT `+userColumns+` FROM users ORDER BY login`, nil, func(r scanner) error {
		u, _, err := a.scanUser(r)
		if err == nil {
			users = append(users, *u)
		}
		return err
	})
	if err != nil {
		return nil, wrapErr("list users", err)
	}
	return users, nil
}

func (a *acctDB) AddUser(ctx context.Context, login string, role Role, domains []string, password string) error {
	login = normLogin(login)
	if err := checkLogin(login); err != nil {
		return err
	}
	if err := checkRole(role); err != nil {
		return err
	}
	domains, err := normDomains(domains)
	if err != nil {
		return err
	}
	if err := checkPassword(password); err != nil {
		return err
	}
	hash := hashPassword(password, argonCost)
	now := a.t(time.Now())
	_, err = a.exec(ctx, `INSERT INTO users (login, role, domains, password_hash, created_at, updated_at,
		failed_count, locked_until, last_login_at, disabled) VALUES ($1, $2, $3, $4, $5, $5, 0, $6, $6, $7)`,
		login, string(role), encodeDomains(domains), hash, now, a.t(never), false)
	if err != nil && a.unique(err) {
		return fmt.Errorf("%w: user %s", ErrExists, login)
	}
	if err != nil {
		return wrapErr("add user "+login, err)
	}
	return nil
}

// update runs an UPDATE of one user's row; ErrNoUser if there is none.
func (a *acctDB) update(ctx context.Context, op, login, set string, args ...any) error {
	login = normLogin(login)
	if err := checkLogin(login); err != nil {
		return err
	}
	n, err := a.exec(ctx, `UPDATE users SET `+set+`, updated_at = $2 WHERE login = $1`,
		append([]any{login, a.t(time.Now())}, args...)...)
	if err != nil {
		return wrapErr(op+" "+login, err)
	}
	if n == 0 {
		return fmt.Errorf("%w: %s", ErrNoUser, login)
	}
	return nil
}

func (a *acctDB) SetPassword(ctx context.Context, login, password string) error {
	if err := checkPassword(password); err != nil {
		return err
	}
	err := a.update(ctx, "set the password of", login, `password_hash = $3, failed_count = 0, locked_until = $4`,
		hashPassword(password, argonCost), a.t(never))
	if err != nil {
		return err
	}
	return a.EndSessions(ctx, login)
}

func (a *acctDB) SetRole(ctx context.Context, login string, role Role) error {
	if err := checkRole(role); err != nil {
		return err
	}
	return a.update(ctx, "set the role of", login, `role = $3`, string(role))
}

func (a *acctDB) SetDomains(ctx context.Context, login string, domains []string) error {
	domains, err := normDomains(domains)
	if err != nil {
		return err
	}
	return a.update(ctx, "set the domains of", login, `domains = $3`, encodeDomains(domains))
}

func (a *acctDB) DisableUser(ctx context.Context, login string) error {
	if err := a.update(ctx, "disable", login, `disabled = $3`, true); err != nil {
		return err
	}
	return a.EndSessions(ctx, login)
}

func (a *acctDB) EnableUser(ctx context.Context, login string) error {
	return a.update(ctx, "enable", login, `disabled = $3`, false)
}

func (a *acctDB) UnlockUser(ctx context.Context, login string) error {
	return a.update(ctx, "unlock", login, `failed_count = 0, locked_until = $3`, a.t(never))
}

func (a *acctDB) DeleteUser(ctx context.Context, login string) error {
	login = normLogin(login)
	if err := checkLogin(login); err != nil {
		return err
	}
	if err := a.EndSessions(ctx, login); err != nil { // ON DELETE CASCADE does it too
		return err
	}
	n, err := a.exec(ctx, `DELETE FROM users WHERE login = $1`, login)
	if err != nil {
		return wrapErr("delete user "+login, err)
	}
	if n == 0 {
		return fmt.Errorf("%w: %s", ErrNoUser, login)
	}
	return nil
}

// Authenticate: see Accounts. clientIP is not used yet: throttling is per
// account, so that an attacker with many addresses gets no more guesses;
// it is in the signature for per-address throttling later.
func (a *acctDB) Authenticate(ctx context.Context, login, password, clientIP string, now time.Time) (*User, error) {
	login = normLogin(login)
	now = now.UTC().Truncate(time.Microsecond)
	var u *User
	var hash string
	err := checkLogin(login)
	if err == nil {
		u, hash, err = a.getUser(ctx, login)
	}
	if err != nil && (errors.Is(err, ErrNoUser) || errors.Is(err, ErrBadAccount)) {
		verifyPassword(dummyHash(), password) // the same work as for a known login
		return nil, ErrBadCredentials
	}
	if err != nil {
		return nil, err
	}
	if u.Locked(now) {
		return nil, fmt.Errorf("%w: %s until %s", ErrLocked, login, u.LockedUntil.Format(time.RFC3339))
	}
	ok, rehash, err := verifyPassword(hash, password)
	if err != nil {
		return nil, fmt.Errorf("quarantine: user %s: %w (set a new password)", login, err)
	}
	if !ok {
		if err := a.fail(ctx, login, now); err != nil {
			return nil, err
		}
		return nil, ErrBadCredentials
	}
	if u.Disabled {
		return nil, fmt.Errorf("%w: %s", ErrDisabled, login)
	}
	// The lock and the disabled flag are checked again in the UPDATE: a
	// concurrent 10th failure, or an admin, may have come first.
	n, err := a.exec(ctx, `UPDATE users SET failed_count = 0, last_login_at = $2
		WHERE login = $1 AND locked_until <= $2 AND disabled = $3`, login, a.t(now), false)
	if err != nil {
		return nil, wrapErr("log in "+login, err)
	}
	if n == 0 {
		u, _, err := a.getUser(ctx, login)
		switch {
		case err != nil:
			return nil, ErrBadCredentials // deleted meanwhile
		case u.Disabled:
			return nil, fmt.Errorf("%w: %s", ErrDisabled, login)
		default:
			return nil, fmt.Errorf("%w: %s until %s", ErrLocked, login, u.LockedUntil.Format(time.RFC3339))
		}
	}
	if rehash {
		// Replace an imported bcrypt hash, or one of another cost, now that
		// the password is known; unless changed meanwhile. A failure only
		// means it is tried again at the next login.
		a.exec(ctx, `UPDATE users SET password_hash = $2 WHERE login = $1 AND password_hash = $3`,
			login, hashPassword(password, argonCost), hash)
	}
	u.FailedCount, u.LastLoginAt = 0, now
	return u, nil
}

// fail counts a wrong password, atomically in the row: the
// MaxFailedLogins-th in a row locks the account for LockDuration and
// restarts the count. Failures while locked (attempts that began before
// the lock) are not counted.
func (a *acctDB) fail(ctx context.Context, login string, now time.Time) error {
	_, err := a.exec(ctx, `UPDATE users SET
		failed_count = CASE WHEN failed_count + 1 >= $2 THEN 0 ELSE failed_count + 1 END,
		locked_until = CASE WHEN failed_count + 1 >= $2 THEN $3 ELSE locked_until END
		WHERE login = $1 AND locked_until <= $4`,
		login, MaxFailedLogins, a.t(now.Add(LockDuration)), a.t(now))
	if err != nil {
		return wrapErr("count a failed login of "+login, err)
	}
	return nil
}

func (a *acctDB) NewSession(ctx context.Context, login, clientIP string, now time.Time, ttl time.Duration) (string, string, error) {
	login = normLogin(login)
	if err := checkLogin(login); err != nil {
		return "", "", err
	}
	u, _, err := a.getUser(ctx, login)
	if err != nil {
		return "", "", err
	}
	if u.Disabled {
		return "", "", fmt.Errorf("%w: %s", ErrDisabled, login)
	}
	if ttl <= 0 || ttl > SessionMaxAge {
		ttl = SessionMaxAge
	}
	now = now.UTC().Truncate(time.Microsecond)
	// Sweep the expired sessions of every user: the table stays as small
	// as the live sessions, and an expired token's hash does not linger.
	if _, err := a.exec(ctx, `DELETE FROM sessions WHERE expires_at <= $1 OR last_seen_at <= $2`,
		a.t(now), a.t(now.Add(-SessionIdle))); err != nil {
		return "", "", wrapErr("expire sessions", err)
	}
	token, csrf := newToken(), newToken()
	_, err = a.exec(ctx, `INSERT INTO sessions (id_hash, login, csrf, created_at, expires_at, last_seen_at, client_ip)
		VALUES ($1, $2, $3, $4, $5, $4, $6)`, tokenHash(token), login, csrf, a.t(now), a.t(now.Add(ttl)), clean(clientIP))
	if err != nil {
		return "", "", wrapErr("start a session for "+login, err)
	}
	return token, csrf, nil
}

func (a *acctDB) Session(ctx context.Context, token string, now time.Time) (*Session, error) {
	if token == "" || len(token) > 128 {
		return nil, ErrNoSession
	}
	now = now.UTC().Truncate(time.Microsecond)
	var s Session
	err := a.row(ctx, `UPDATE sessions SET last_seen_at = CASE WHEN last_seen_at > $2 THEN last_seen_at ELSE $2 END
		WHERE id_hash = $1 AND expires_at > $2 AND last_seen_at > $3
		RETURNING login, csrf, created_at, expires_at, client_ip`,
		[]any{tokenHash(token), a.t(now), a.t(now.Add(-SessionIdle))}, func(r scanner) error {
			ct, et := a.d.timeDest(), a.d.timeDest()
			if err := r.Scan(&s.Login, &s.CSRF, ct, et, &s.ClientIP); err != nil {
				return err
			}
			s.CreatedAt, s.ExpiresAt = a.d.timeOf(ct), a.d.timeOf(et)
			return nil
		})
	if errors.Is(err, errNoRow) {
		return nil, ErrNoSession
	}
	if err != nil {
		return nil, wrapErr("read session", err)
	}
	u, _, err := a.getUser(ctx, s.Login)
	if errors.Is(err, ErrNoUser) {
		return nil, ErrNoSession
	}
	if err != nil {
		return nil, err
	}
	if u.Disabled {
		return nil, ErrNoSession
	}
	s.User = u
	return &s, nil
}

func (a *acctDB) EndSession(ctx context.Context, token string) error {
	if _, err := a.exec(ctx, `DELETE FROM sessions WHERE id_hash = $1`, tokenHash(token)); err != nil {
		return wrapErr("end session", err)
	}
	return nil
}

func (a *acctDB) EndSessions(ctx context.Context, login string) error {
	login = normLogin(login)
	if _, err := a.exec(ctx, `DELETE FROM sessions WHERE login = $1`, login); err != nil {
		return wrapErr("end the sessions of "+login, err)
	}
	return nil
}
