package quarantine

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"modernc.org/sqlite" // the "sqlite" database/sql driver, pure Go
	sqlite3 "modernc.org/sqlite/lib"
)

// sqliteFile is the index database's name in the quarantine directory.
const sqliteFile = "quarantine.db"

// busyTimeout is how long a statement waits for another connection's (or
// process's) write lock before failing with "database is locked".
const busyTimeout = 10 * time.Second

// purgeChunk bounds the rows one purge transaction removes, so that a purge
// of a million entries never holds the write lock for long.
const purgeChunk = 500

// orphanAge is how old a message file without a live entry must be before
// Purge removes it: younger ones may belong to a Put between writing its
// file and committing its row.
const orphanAge = time.Hour

// SQLite is the embedded Store: an SQLite index (quarantine.db) and one
// file per message under msgs/, both in one directory.
type SQLite struct {
	dir   string
	db    *sql.DB
	now   func() time.Time // tests move time
	chunk int              // purgeChunk; tests make it small
	// Accounts are kept in the same database (accounts_db.go).
	*acctDB
}

var (
	_ Store    = (*SQLite)(nil)
	_ Accounts = (*SQLite)(nil)
)

// OpenSQLite opens the quarantine in dir (for example
// <data_dir>/quarantine), creating the directory and the database, or
// bringing its schema up to date, as needed.
func OpenSQLite(dir string) (*SQLite, error) {
	if err := os.MkdirAll(dir, dirMode); err != nil {
		return nil, fmt.Errorf("quarantine: %w (create it, or fix the data directory setting)", err)
	}
	// Every connection gets these pragmas: WAL so that List and Open never
	// wait for a Put; synchronous=FULL because Put promises durability
	// (NORMAL may lose the last commits in a power cut); foreign keys for
	// ON DELETE CASCADE. _txlock=immediate takes the write lock at BEGIN of
	// a write transaction, where busy_timeout applies, rather than failing
	// when a reader upgrades mid-transaction.
	q := url.Values{}
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", busyTimeout.Milliseconds()))
	q.Add("_pragma", "synchronous(FULL)")
	q.Add("_pragma", "foreign_keys(1)")
	q.Set("_txlock", "immediate")
	path := filepath.Join(dir, sqliteFile)
	db, err := sql.Open("sqlite", "file:"+(&url.URL{Path: path}).EscapedPath()+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("quarantine: open %s: %w", path, err)
	}
	s := &SQLite{dir: dir, db: db, now: time.Now, chunk: purgeChunk}
	s.acctDB = s.accounts()
	ctx, cancel := context.WithTimeout(context.Background(), 2*busyTimeout)
	defer cancel()
	if err := s.migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

// migrate brings the schema to the newest version.
func (s *SQLite) migrate(ctx context.Context) error {
	path := filepath.Join(s.dir, sqliteFile)
	if _, err := s.db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS quarantine_schema_version (version INTEGER NOT NULL)`); err != nil {
		return fmt.Errorf("quarantine: %s: %w (is it an SQLite database, on a local disk?)", path, err)
	}
	for {
		tx, err := s.db.BeginTx(ctx, nil)
		if err != nil {
			return fmt.Errorf("quarantine: %s: %w", path, err)
		}
		var v int
		err = tx.QueryRowContext(ctx, `SELECT version FROM quarantine_schema_version`).Scan(&v)
		if errors.Is(err, sql.ErrNoRows) {
			_, err = tx.ExecContext(ctx, `INSERT INTO quarantine_schema_version (version) VALUES (0)`)
		}
		if err == nil && v > len(sqliteMigrations) {
			err = fmt.Errorf(schemaTooNew, path, v, len(sqliteMigrations))
		}
		if err == nil && v == len(sqliteMigrations) {
			return tx.Rollback()
		}
		if err == nil {
			_, err = tx.ExecContext(ctx, sqliteMigrations[v])
		}
		if err == nil {
			_, err = tx.ExecContext(ctx, `UPDATE quarantine_schema_version SET version = $1`, v+1)
		}
		if err == nil {
			err = tx.Commit()
		}
		if err != nil {
			tx.Rollback()
			return fmt.Errorf("quarantine: %s: schema version %d: %w", path, v+1, err)
		}
	}
}

// Close closes the database.
func (s *SQLite) Close() error { return s.db.Close() }

// Put stores the message file first and then, in one transaction, its
// entry: the row only ever points at a durable file. A crash in between
// leaves an orphan file, which Purge removes.
func (s *SQLite) Put(ctx context.Context, e *Entry, msg io.Reader) error {
	given := e.ID != ""
	if err := prepare(e, s.now()); err != nil {
		return err
	}
	if given { // fail before writing 100 MB, not after
		if _, err := s.Get(ctx, e.ID); err == nil {
			return fmt.Errorf("%w: %s", ErrExists, e.ID)
		} else if !errors.Is(err, ErrNotFound) {
			return err
		}
	}
	hr := newHashingReader(ctx, msg)
	n, err := writeMsg(s.dir, e.ID, hr)
	if err != nil {
		return err
	}
	e.Size, e.SHA256 = n, hr.sum()
	if err := s.insert(ctx, e); err != nil {
		removeMsg(s.dir, e.ID) // or Purge does, later
		return err
	}
	return nil
}

// insert adds e's rows in one transaction.
func (s *SQLite) insert(ctx context.Context, e *Entry) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("quarantine: store entry %s: %w", e.ID, err)
	}
	defer tx.Rollback()
	if err := sqliteInsertRows(ctx, tx, e); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("quarantine: store entry %s: %w", e.ID, err)
	}
	return nil
}

func sqliteInsertRows(ctx context.Context, tx *sql.Tx, e *Entry) error {
	if _, err := tx.ExecContext(ctx, insertEntrySQL, sqliteDialect.insertArgs(e)...); err != nil {
		if se := (*sqlite.Error)(nil); errors.As(err, &se) && se.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY {
			return fmt.Errorf("%w: %s", ErrExists, e.ID)
		}
		return fmt.Errorf("quarantine: store entry %s: %w", e.ID, err)
	}
	for _, k := range rcptKeys(e) {
		if _, err := tx.ExecContext(ctx, insertRcptSQL, e.ID, k[0], k[1]); err != nil {
			return fmt.Errorf("quarantine: store entry %s: %w", e.ID, err)
		}
	}
	return nil
}

// Get returns the entry id.
func (s *SQLite) Get(ctx context.Context, id string) (*Entry, error) {
	if _, err := ParseID(id); err != nil {
		return nil, err
	}
	e, err := sqliteDialect.scanEntry(s.db.QueryRowContext(ctx, `SELECT `+entryColumns+` FROM quarantine_entries WHERE id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	if err != nil {
		return nil, fmt.Errorf("quarantine: read entry %s: %w", id, err)
	}
	return e, nil
}

// Open opens the message file of id.
func (s *SQLite) Open(ctx context.Context, id string) (io.ReadCloser, error) {
	e, err := s.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	if e.State == Deleted {
		return nil, fmt.Errorf("%w: %s was deleted by %s at %s", ErrNotFound, id, e.StateBy, e.StateAt.Format(time.RFC3339))
	}
	f, err := os.Open(msgPath(s.dir, id))
	if errors.Is(err, fs.ErrNotExist) {
		if now, err := s.Get(ctx, id); err != nil || now.State == Deleted { // deleted or purged meanwhile
			return nil, fmt.Errorf("%w: %s was deleted or purged just now", ErrNotFound, id)
		}
		return nil, fmt.Errorf("%w: the message file of %s is missing (%s; restored the database without %s?): "+
			"restore the file or delete the entry", ErrCorrupt, id, msgPath(s.dir, id), msgsDir)
	}
	if err != nil {
		return nil, fmt.Errorf("quarantine: %w", err)
	}
	return newCheckedReader(f, f, e), nil
}

// List returns one page of entries and the total, both from one snapshot.
func (s *SQLite) List(ctx context.Context, f Filter) ([]Entry, int, error) {
	f = f.normalize()
	page, pageArgs, count, countArgs, err := sqliteDialect.listSQL(f)
	if err != nil {
		return nil, 0, err
	}
	tx, err := s.db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, 0, fmt.Errorf("quarantine: list: %w", err)
	}
	defer tx.Rollback()
	var total int
	if err := tx.QueryRowContext(ctx, count, countArgs...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("quarantine: list: %w", err)
	}
	rows, err := tx.QueryContext(ctx, page, pageArgs...)
	if err != nil {
		return nil, 0, fmt.Errorf("quarantine: list: %w", err)
	}
	defer rows.Close()
	entries := make([]Entry, 0, min(total, f.Limit))
	for rows.Next() {
		e, err := sqliteDialect.scanEntry(rows)
		if err != nil {
			return nil, 0, fmt.Errorf("quarantine: list: %w", err)
		}
		entries = append(entries, *e)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, fmt.Errorf("quarantine: list: %w", err)
	}
	return entries, total, nil
}

// transition runs one of the transition statements; when no row matched it
// tells ErrNotFound from ErrState.
func (s *SQLite) transition(ctx context.Context, op, stmt, id, by string, to State, errText string) (*Entry, error) {
	if _, err := ParseID(id); err != nil {
		return nil, err
	}
	by, err := cleanBy(by)
	if err != nil {
		return nil, err
	}
	now := sqliteDialect.timeArg(s.now().UTC().Truncate(time.Microsecond))
	e, err := sqliteDialect.scanEntry(s.db.QueryRowContext(ctx, stmt, id, string(to), now, by, errText))
	if errors.Is(err, sql.ErrNoRows) {
		cur, err := s.Get(ctx, id)
		if err != nil {
			return nil, err
		}
		return nil, stateError(id, op, cur.State)
	}
	if err != nil {
		return nil, fmt.Errorf("quarantine: %s %s: %w", op, id, err)
	}
	return e, nil
}

// BeginRelease takes id for release.
func (s *SQLite) BeginRelease(ctx context.Context, id, by string) (*Entry, error) {
	return s.transition(ctx, "release", beginReleaseSQL, id, by, Releasing, "")
}

// FinishRelease records the outcome of a release.
func (s *SQLite) FinishRelease(ctx context.Context, id, by string, releaseErr error) error {
	to := Released
	if releaseErr != nil {
		to = ReleaseFailed
	}
	_, err := s.transition(ctx, "finish the release of", finishReleaseSQL, id, by, to, releaseError(releaseErr))
	return err
}

// Delete marks id deleted, then removes its file. Should the removal fail,
// the entry is deleted all the same and Purge removes the file later.
func (s *SQLite) Delete(ctx context.Context, id, by string) error {
	if _, err := s.transition(ctx, "delete", deleteSQL, id, by, Deleted, ""); err != nil {
		return err
	}
	return removeMsg(s.dir, id)
}

// Purge removes old entries in chunks, rows first and then their files,
// and then the orphan files that crashes left behind.
func (s *SQLite) Purge(ctx context.Context, before time.Time) (int, error) {
	cutoff := sqliteDialect.timeArg(before.UTC().Truncate(time.Microsecond))
	total := 0
	for {
		ids, err := s.purgeChunk(ctx, cutoff)
		for _, id := range ids {
			removeMsg(s.dir, id) // a failure leaves an orphan for the sweep below
		}
		total += len(ids)
		if err != nil {
			return total, err
		}
		if len(ids) < s.chunk {
			break
		}
	}
	return total, s.sweep(ctx)
}

// purgeChunk deletes up to purgeChunk entries older than cutoff and
// returns their ids.
func (s *SQLite) purgeChunk(ctx context.Context, cutoff any) ([]string, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("quarantine: purge: %w", err)
	}
	defer tx.Rollback()
	rows, err := tx.QueryContext(ctx, `DELETE FROM quarantine_entries WHERE id IN
		(SELECT id FROM quarantine_entries WHERE time < $1 ORDER BY time LIMIT $2) RETURNING id`, cutoff, s.chunk)
	if err != nil {
		return nil, fmt.Errorf("quarantine: purge: %w", err)
	}
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return nil, fmt.Errorf("quarantine: purge: %w", err)
		}
		ids = append(ids, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("quarantine: purge: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("quarantine: purge: %w", err)
	}
	return ids, nil
}

// sweep removes message files older than orphanAge that no live entry
// owns (a crash between a Put's file and its row, or between Delete's or
// Purge's row change and the file removal), and stale temporary files.
func (s *SQLite) sweep(ctx context.Context) error {
	cutoff := s.now().Add(-orphanAge)
	var batch []msgFile
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		var q query
		phs := make([]string, len(batch))
		for i, f := range batch {
			phs[i] = q.arg(f.id)
		}
		rows, err := s.db.QueryContext(ctx, `SELECT id FROM quarantine_entries WHERE state != 'deleted' AND id IN (`+
			strings.Join(phs, ", ")+`)`, q.args...)
		if err != nil {
			return fmt.Errorf("quarantine: sweep: %w", err)
		}
		live := map[string]bool{}
		for rows.Next() {
			var id string
			if rows.Scan(&id) == nil {
				live[id] = true
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("quarantine: sweep: %w", err)
		}
		for _, f := range batch {
			if !live[f.id] {
				os.Remove(f.path)
			}
		}
		batch = batch[:0]
		return nil
	}
	err := walkMsgs(s.dir, func(f msgFile) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		if !f.info.ModTime().Before(cutoff) {
			return nil
		}
		if f.id == "" {
			os.Remove(f.path) // a temporary file its Put abandoned
			return nil
		}
		batch = append(batch, f)
		if len(batch) == purgeChunk {
			return flush()
		}
		return nil
	})
	if err != nil {
		return err
	}
	return flush()
}
