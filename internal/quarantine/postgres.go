package quarantine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// chunkSize is the size of one quarantine_chunks row. 1 MiB keeps Put and
// Open at that much memory per message, a 100 MB message at 100 rows, and
// each row well under PostgreSQL's 1 GB field limit.
const chunkSize = 1 << 20

// migrateLock is the key of the advisory lock that serialises schema
// migrations of instances starting together ("mamoriQ" in ASCII).
const migrateLock = 0x6d616d6f726951

// Postgres is the shared Store: several Mamori instances pointing at one
// database see the same quarantine, messages included.
type Postgres struct {
	pool  *pgPool
	where string // "host:port/database", for errors: never the DSN, which may hold a password
	now   func() time.Time
	chunk int // purgeChunk; tests make it small
	// Accounts are kept in the same database (accounts_db.go).
	*acctDB
}

var (
	_ Store    = (*Postgres)(nil)
	_ Accounts = (*Postgres)(nil)
)

// OpenPostgres connects to dsn (a URL or key=value string, as libpq takes)
// and creates or updates the schema.
func OpenPostgres(ctx context.Context, dsn string) (*Postgres, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("quarantine: PostgreSQL DSN: %w", err)
	}
	p := &Postgres{
		pool:  newPgPool(cfg),
		where: fmt.Sprintf("%s:%d/%s", cfg.Host, cfg.Port, cfg.Database),
		now:   time.Now,
		chunk: purgeChunk,
	}
	if err := p.migrate(ctx); err != nil {
		p.pool.close()
		return nil, err
	}
	p.acctDB = p.accounts()
	return p, nil
}

// with runs fn on a pooled connection.
func (p *Postgres) with(ctx context.Context, fn func(*pgx.Conn) error) error {
	c, err := p.pool.acquire(ctx)
	if err != nil {
		if errors.Is(err, errPoolClosed) || ctx.Err() != nil {
			return err
		}
		return fmt.Errorf("quarantine: connect to PostgreSQL %s: %w (is the server up, and the DSN's host, user and password right?)", p.where, err)
	}
	defer p.pool.release(c)
	return fn(c)
}

// inTx runs fn in a transaction, committed when fn returns nil.
func (p *Postgres) inTx(ctx context.Context, fn func(pgx.Tx) error) error {
	return p.with(ctx, func(c *pgx.Conn) error { return pgx.BeginFunc(ctx, c, fn) })
}

// migrate brings the schema to the newest version in one transaction,
// under an advisory lock, so that instances starting together neither race
// nor see half a schema.
func (p *Postgres) migrate(ctx context.Context) error {
	err := p.inTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(migrateLock)); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS quarantine_schema_version (version integer NOT NULL)`); err != nil {
			return err
		}
		var v int
		err := tx.QueryRow(ctx, `SELECT version FROM quarantine_schema_version`).Scan(&v)
		if errors.Is(err, pgx.ErrNoRows) {
			_, err = tx.Exec(ctx, `INSERT INTO quarantine_schema_version (version) VALUES (0)`)
		}
		if err != nil {
			return err
		}
		if v > len(postgresMigrations) {
			return fmt.Errorf(schemaTooNew, "PostgreSQL "+p.where, v, len(postgresMigrations))
		}
		for ; v < len(postgresMigrations); v++ {
			if _, err := tx.Exec(ctx, postgresMigrations[v]); err != nil {
				return fmt.Errorf("schema version %d: %w", v+1, err)
			}
		}
		_, err = tx.Exec(ctx, `UPDATE quarantine_schema_version SET version = $1`, v)
		return err
	})
	if err != nil && !strings.HasPrefix(err.Error(), "quarantine:") {
		err = fmt.Errorf("quarantine: PostgreSQL %s: %w (does the DSN's user own this database, or may create tables in it?)", p.where, err)
	}
	return err
}

// Close closes the connections.
func (p *Postgres) Close() error {
	p.pool.close()
	return nil
}

// Put stores the entry and the message's chunks in one transaction: until
// it commits, no other instance sees any of it, and a failed read rolls all
// of it back.
func (p *Postgres) Put(ctx context.Context, e *Entry, msg io.Reader) error {
	given := e.ID != ""
	if err := prepare(e, p.now()); err != nil {
		return err
	}
	if given { // fail before reading 100 MB, not after
		if _, err := p.Get(ctx, e.ID); err == nil {
			return fmt.Errorf("%w: %s", ErrExists, e.ID)
		} else if !errors.Is(err, ErrNotFound) {
			return err
		}
	}
	hr := newHashingReader(ctx, msg)
	err := p.inTx(ctx, func(tx pgx.Tx) error {
		e.Size, e.SHA256 = 0, ""
		if _, err := tx.Exec(ctx, insertEntrySQL, postgresDialect.insertArgs(e)...); err != nil {
			return err
		}
		for _, k := range rcptKeys(e) {
			if _, err := tx.Exec(ctx, insertRcptSQL, e.ID, k[0], k[1]); err != nil {
				return err
			}
		}
		bp := bufPool.Get().(*[]byte)
		defer bufPool.Put(bp)
		buf := *bp
		for seq := 0; ; seq++ {
			n, err := io.ReadFull(hr, buf)
			if n > 0 {
				if _, err := tx.Exec(ctx, `INSERT INTO quarantine_chunks (id, seq, data) VALUES ($1, $2, $3)`,
					e.ID, seq, buf[:n]); err != nil {
					return err
				}
			}
			if err == io.EOF || err == io.ErrUnexpectedEOF {
				break
			}
			if err != nil {
				return err // the reader's error, ErrTooLarge, or ctx's
			}
		}
		e.Size, e.SHA256 = hr.n, hr.sum()
		_, err := tx.Exec(ctx, `UPDATE quarantine_entries SET size = $2, sha256 = $3 WHERE id = $1`, e.ID, e.Size, e.SHA256)
		return err
	})
	if err != nil {
		if pe := (*pgconn.PgError)(nil); errors.As(err, &pe) && pe.Code == "23505" { // unique_violation
			return fmt.Errorf("%w: %s", ErrExists, e.ID)
		}
		if !strings.HasPrefix(err.Error(), "quarantine:") {
			err = fmt.Errorf("quarantine: store entry %s: %w", e.ID, err)
		}
		return err
	}
	return nil
}

// Get returns the entry id.
func (p *Postgres) Get(ctx context.Context, id string) (*Entry, error) {
	if _, err := ParseID(id); err != nil {
		return nil, err
	}
	var e *Entry
	err := p.with(ctx, func(c *pgx.Conn) error {
		var err error
		e, err = postgresDialect.scanEntry(c.QueryRow(ctx, `SELECT `+entryColumns+` FROM quarantine_entries WHERE id = $1`, id))
		return err
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	if err != nil {
		return nil, wrapErr("read entry "+id, err)
	}
	return e, nil
}

// Open returns a reader that fetches the message one chunk at a time, with
// the ctx given to Open, which must stay live until the reader is closed.
func (p *Postgres) Open(ctx context.Context, id string) (io.ReadCloser, error) {
	e, err := p.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	if e.State == Deleted {
		return nil, fmt.Errorf("%w: %s was deleted by %s at %s", ErrNotFound, id, e.StateBy, e.StateAt.Format(time.RFC3339))
	}
	r := &chunkReader{ctx: ctx, p: p, id: id, chunks: int((e.Size + chunkSize - 1) / chunkSize)}
	return newCheckedReader(r, r, e), nil
}

// chunkReader reads quarantine_chunks in order, one query per chunk, so
// that neither this process nor the connection holds more than a chunk.
type chunkReader struct {
	ctx    context.Context
	p      *Postgres
	id     string
	chunks int
	seq    int
	buf    []byte
}

func (r *chunkReader) Read(b []byte) (int, error) {
	for len(r.buf) == 0 {
		if r.seq >= r.chunks {
			return 0, io.EOF
		}
		err := r.p.with(r.ctx, func(c *pgx.Conn) error {
			return c.QueryRow(r.ctx, `SELECT data FROM quarantine_chunks WHERE id = $1 AND seq = $2`, r.id, r.seq).Scan(&r.buf)
		})
		if errors.Is(err, pgx.ErrNoRows) {
			return 0, fmt.Errorf("%w: %s: chunk %d of %d is gone (purged or deleted while being read?)", ErrNotFound, r.id, r.seq, r.chunks)
		}
		if err != nil {
			return 0, wrapErr("read message "+r.id, err)
		}
		r.seq++
	}
	n := copy(b, r.buf)
	r.buf = r.buf[n:]
	return n, nil
}

func (r *chunkReader) Close() error {
	r.buf, r.seq = nil, r.chunks
	return nil
}

// List returns one page of entries and the total, from one snapshot
// (REPEATABLE READ), so that the count matches the page.
func (p *Postgres) List(ctx context.Context, f Filter) ([]Entry, int, error) {
	f = f.normalize()
	page, pageArgs, count, countArgs, err := postgresDialect.listSQL(f)
	if err != nil {
		return nil, 0, err
	}
	var entries []Entry
	var total int
	err = p.with(ctx, func(c *pgx.Conn) error {
		return pgx.BeginTxFunc(ctx, c, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
			if err := tx.QueryRow(ctx, count, countArgs...).Scan(&total); err != nil {
				return err
			}
			rows, err := tx.Query(ctx, page, pageArgs...)
			if err != nil {
				return err
			}
			defer rows.Close()
			entries = make([]Entry, 0, min(total, f.Limit))
			for rows.Next() {
				e, err := postgresDialect.scanEntry(rows)
				if err != nil {
					return err
				}
				entries = append(entries, *e)
			}
			return rows.Err()
		})
	})
	if err != nil {
		return nil, 0, wrapErr("list", err)
	}
	return entries, total, nil
}

// transition runs one transition statement in tx; when no row matched it
// tells ErrNotFound from ErrState.
func (p *Postgres) transition(ctx context.Context, tx pgx.Tx, op, stmt, id, by string, to State, errText string) (*Entry, error) {
	now := p.now().UTC().Truncate(time.Microsecond)
	e, err := postgresDialect.scanEntry(tx.QueryRow(ctx, stmt, id, string(to), now, by, errText))
	if errors.Is(err, pgx.ErrNoRows) {
		var cur string
		err := tx.QueryRow(ctx, `SELECT state FROM quarantine_entries WHERE id = $1`, id).Scan(&cur)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, fmt.Errorf("%w: %s", ErrNotFound, id)
		}
		if err != nil {
			return nil, err
		}
		return nil, stateError(id, op, State(cur))
	}
	return e, err
}

// change runs a transition, and then more statements, in one transaction.
func (p *Postgres) change(ctx context.Context, op, stmt, id, by string, to State, errText string, then func(pgx.Tx) error) (*Entry, error) {
	if _, err := ParseID(id); err != nil {
		return nil, err
	}
	by, err := cleanBy(by)
	if err != nil {
		return nil, err
	}
	var e *Entry
	err = p.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		if e, err = p.transition(ctx, tx, op, stmt, id, by, to, errText); err != nil || then == nil {
			return err
		}
		return then(tx)
	})
	if err != nil {
		return nil, wrapErr(op+" "+id, err)
	}
	return e, nil
}

// BeginRelease takes id for release.
func (p *Postgres) BeginRelease(ctx context.Context, id, by string) (*Entry, error) {
	return p.change(ctx, "release", beginReleaseSQL, id, by, Releasing, "", nil)
}

// FinishRelease records the outcome of a release.
func (p *Postgres) FinishRelease(ctx context.Context, id, by string, releaseErr error) error {
	to := Released
	if releaseErr != nil {
		to = ReleaseFailed
	}
	_, err := p.change(ctx, "finish the release of", finishReleaseSQL, id, by, to, releaseError(releaseErr), nil)
	return err
}

// Delete marks id deleted and removes its chunks, in one transaction.
func (p *Postgres) Delete(ctx context.Context, id, by string) error {
	_, err := p.change(ctx, "delete", deleteSQL, id, by, Deleted, "", func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `DELETE FROM quarantine_chunks WHERE id = $1`, id)
		return err
	})
	return err
}

// Purge removes old entries in chunks of purgeChunk; their recipients and
// chunks go with them (ON DELETE CASCADE). It stops when a chunk finds
// nothing, so that two instances purging at once both finish.
func (p *Postgres) Purge(ctx context.Context, before time.Time) (int, error) {
	cutoff := before.UTC().Truncate(time.Microsecond)
	total := 0
	for {
		var n int64
		err := p.with(ctx, func(c *pgx.Conn) error {
			tag, err := c.Exec(ctx, `DELETE FROM quarantine_entries WHERE id IN
				(SELECT id FROM quarantine_entries WHERE time < $1 ORDER BY time LIMIT $2)`, cutoff, p.chunk)
			n = tag.RowsAffected()
			return err
		})
		if err != nil {
			return total, wrapErr("purge", err)
		}
		total += int(n)
		if n == 0 {
			return total, nil
		}
	}
}

// wrapErr prefixes an error that does not yet say it is the quarantine's;
// sentinel errors keep their text.
func wrapErr(op string, err error) error {
	if strings.HasPrefix(err.Error(), "quarantine:") {
		return err
	}
	return fmt.Errorf("quarantine: %s: %w", op, err)
}
