package quarantine

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// The two backends' access for acctDB, and the Accounts methods, which
// hand over to it (documented on Accounts).

// accounts implements Accounts.
func (s *SQLite) accounts() *acctDB {
	return &acctDB{
		d: sqliteDialect,
		exec: func(ctx context.Context, q string, args ...any) (int64, error) {
			res, err := s.db.ExecContext(ctx, q, args...)
			if err != nil {
				return 0, err
			}
			return res.RowsAffected()
		},
		row: func(ctx context.Context, q string, args []any, fn func(scanner) error) error {
			err := fn(s.db.QueryRowContext(ctx, q, args...))
			if errors.Is(err, sql.ErrNoRows) {
				return errNoRow
			}
			return err
		},
		rows: func(ctx context.Context, q string, args []any, fn func(scanner) error) error {
			rows, err := s.db.QueryContext(ctx, q, args...)
			if err != nil {
				return err
			}
			defer rows.Close()
			for rows.Next() {
				if err := fn(rows); err != nil {
					return err
				}
			}
			return rows.Err()
		},
		unique: func(err error) bool {
			se := (*sqlite.Error)(nil)
			return errors.As(err, &se) && se.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
		},
	}
}

// accounts implements Accounts.
func (p *Postgres) accounts() *acctDB {
	return &acctDB{
		d: postgresDialect,
		exec: func(ctx context.Context, q string, args ...any) (int64, error) {
			var n int64
			err := p.with(ctx, func(c *pgx.Conn) error {
				tag, err := c.Exec(ctx, q, args...)
				n = tag.RowsAffected()
				return err
			})
			return n, err
		},
		row: func(ctx context.Context, q string, args []any, fn func(scanner) error) error {
			err := p.with(ctx, func(c *pgx.Conn) error { return fn(c.QueryRow(ctx, q, args...)) })
			if errors.Is(err, pgx.ErrNoRows) {
				return errNoRow
			}
			return err
		},
		rows: func(ctx context.Context, q string, args []any, fn func(scanner) error) error {
			return p.with(ctx, func(c *pgx.Conn) error {
				rows, err := c.Query(ctx, q, args...)
				if err != nil {
					return err
				}
				defer rows.Close()
				for rows.Next() {
					if err := fn(rows); err != nil {
						return err
					}
				}
				return rows.Err()
			})
		},
		unique: func(err error) bool {
			pe := (*pgconn.PgError)(nil)
			return errors.As(err, &pe) && pe.Code == "23505" // unique_violation
		},
	}
}

// AddUser implements Accounts.
func (s *SQLite) AddUser(ctx context.Context, login string, role Role, domains []string, password string) error {
	return s.accounts().AddUser(ctx, login, role, domains, password)
}

// GetUser implements Accounts.
func (s *SQLite) GetUser(ctx context.Context, login string) (*User, error) {
	return s.accounts().GetUser(ctx, login)
}

// ListUsers implements Accounts.
func (s *SQLite) ListUsers(ctx context.Context) ([]User, error) {
	return s.accounts().ListUsers(ctx)
}

// SetPassword implements Accounts.
func (s *SQLite) SetPassword(ctx context.Context, login, password string) error {
	return s.accounts().SetPassword(ctx, login, password)
}

// SetRole implements Accounts.
func (s *SQLite) SetRole(ctx context.Context, login string, role Role) error {
	return s.accounts().SetRole(ctx, login, role)
}

// SetDomains implements Accounts.
func (s *SQLite) SetDomains(ctx context.Context, login string, domains []string) error {
	return s.accounts().SetDomains(ctx, login, domains)
}

// DisableUser implements Accounts.
func (s *SQLite) DisableUser(ctx context.Context, login string) error {
	return s.accounts().DisableUser(ctx, login)
}

// EnableUser implements Accounts.
func (s *SQLite) EnableUser(ctx context.Context, login string) error {
	return s.accounts().EnableUser(ctx, login)
}

// UnlockUser implements Accounts.
func (s *SQLite) UnlockUser(ctx context.Context, login string) error {
	return s.accounts().UnlockUser(ctx, login)
}

// DeleteUser implements Accounts.
func (s *SQLite) DeleteUser(ctx context.Context, login string) error {
	return s.accounts().DeleteUser(ctx, login)
}

// Authenticate implements Accounts.
func (s *SQLite) Authenticate(ctx context.Context, login, password, clientIP string, now time.Time) (*User, error) {
	return s.accounts().Authenticate(ctx, login, password, clientIP, now)
}

// NewSession implements Accounts.
func (s *SQLite) NewSession(ctx context.Context, login, clientIP string, now time.Time, ttl time.Duration) (token, csrf string, err error) {
	return s.accounts().NewSession(ctx, login, clientIP, now, ttl)
}

// Session implements Accounts.
func (s *SQLite) Session(ctx context.Context, token string, now time.Time) (*Session, error) {
	return s.accounts().Session(ctx, token, now)
}

// EndSession implements Accounts.
func (s *SQLite) EndSession(ctx context.Context, token string) error {
	return s.accounts().EndSession(ctx, token)
}

// EndSessions implements Accounts.
func (s *SQLite) EndSessions(ctx context.Context, login string) error {
	return s.accounts().EndSessions(ctx, login)
}

// AddUser implements Accounts.
func (p *Postgres) AddUser(ctx context.Context, login string, role Role, domains []string, password string) error {
	return p.accounts().AddUser(ctx, login, role, domains, password)
}

// GetUser implements Accounts.
func (p *Postgres) GetUser(ctx context.Context, login string) (*User, error) {
	return p.accounts().GetUser(ctx, login)
}

// ListUsers implements Accounts.
func (p *Postgres) ListUsers(ctx context.Context) ([]User, error) {
	return p.accounts().ListUsers(ctx)
}

// SetPassword implements Accounts.
func (p *Postgres) SetPassword(ctx context.Context, login, password string) error {
	return p.accounts().SetPassword(ctx, login, password)
}

// SetRole implements Accounts.
func (p *Postgres) SetRole(ctx context.Context, login string, role Role) error {
	return p.accounts().SetRole(ctx, login, role)
}

// SetDomains implements Accounts.
func (p *Postgres) SetDomains(ctx context.Context, login string, domains []string) error {
	return p.accounts().SetDomains(ctx, login, domains)
}

// DisableUser implements Accounts.
func (p *Postgres) DisableUser(ctx context.Context, login string) error {
	return p.accounts().DisableUser(ctx, login)
}

// EnableUser implements Accounts.
func (p *Postgres) EnableUser(ctx context.Context, login string) error {
	return p.accounts().EnableUser(ctx, login)
}

// UnlockUser implements Accounts.
func (p *Postgres) UnlockUser(ctx context.Context, login string) error {
	return p.accounts().UnlockUser(ctx, login)
}

// DeleteUser implements Accounts.
func (p *Postgres) DeleteUser(ctx context.Context, login string) error {
	return p.accounts().DeleteUser(ctx, login)
}

// Authenticate implements Accounts.
func (p *Postgres) Authenticate(ctx context.Context, login, password, clientIP string, now time.Time) (*User, error) {
	return p.accounts().Authenticate(ctx, login, password, clientIP, now)
}

// NewSession implements Accounts.
func (p *Postgres) NewSession(ctx context.Context, login, clientIP string, now time.Time, ttl time.Duration) (token, csrf string, err error) {
	return p.accounts().NewSession(ctx, login, clientIP, now, ttl)
}

// Session implements Accounts.
func (p *Postgres) Session(ctx context.Context, token string, now time.Time) (*Session, error) {
	return p.accounts().Session(ctx, token, now)
}

// EndSession implements Accounts.
func (p *Postgres) EndSession(ctx context.Context, token string) error {
	return p.accounts().EndSession(ctx, token)
}

// EndSessions implements Accounts.
func (p *Postgres) EndSessions(ctx context.Context, login string) error {
	return p.accounts().EndSessions(ctx, login)
}
