package quarantine

import (
	"context"
	"database/sql"
	"errors"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// The two backends' access for acctDB, which SQLite and Postgres embed:
// its methods are their Accounts methods (documented on Accounts).

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
