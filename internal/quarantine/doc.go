// Package quarantine stores the messages the filter holds back: the daemon's
// quarantine action puts them here, and the CLI (mamori quarantine
// list|show|release|delete|purge) and the web console list, show, release,
// delete and purge them. It is storage only: it relays nothing and makes no
// policy; it knows nothing of the configuration.
//
// # Two backends, one Store
//
// SQLite (OpenSQLite) is the default and needs no server: an index database
// and the messages in one directory, <data_dir>/quarantine. It uses the
// pure-Go driver modernc.org/sqlite, so the binary stays CGO_ENABLED=0.
// PostgreSQL (OpenPostgres) is for several Mamori instances sharing one
// quarantine: everything, messages included, is in the database, so any
// instance can show or release what another held.
//
// # Where the message bytes live
//
// SQLite: one file per message, <dir>/msgs/<id[:2]>/<id>.eml, not a BLOB.
// Messages run to 100 MB. As BLOBs they would make the database file as big
// as the quarantine, every purge a rewrite of pages (and a VACUUM to get the
// space back), every backup of the index a backup of all the mail, and a
// write of a large message would hold SQLite's single write lock for as long
// as the copy takes, stalling every other Put. Files are streamed with no
// lock held, deleted by unlink (space back at once), and an operator can
// read one with less. The price is two things to keep consistent, which Put
// orders: the file is written to a temporary name, fsync'd, linked to its
// final name (link refuses to replace an existing file), and its directory
// fsync'd; only then is the row inserted, in a transaction. The row never
// points at a file that is not durable; a crash between the two leaves an
// orphan file, which Purge sweeps away once it is an hour old. Open checks
// the length and SHA-256 recorded at Put as the reader reaches the end
// (ErrCorrupt), so a damaged file or a database restored without its files
// is never released silently.
//
// PostgreSQL: bytea, split into 1 MiB rows of quarantine_chunks, not large
// objects. Large objects would stream too, but they live outside the row:
// deleting an entry does not delete its object (it needs lo_unlink or
// vacuumlo, or it leaks), they have their own permissions, and pg_dump
// handles them apart. Chunked bytea rows go with ON DELETE CASCADE, replicate
// and back up like any row, and keep memory bounded: Put inserts a chunk at
// a time and Open fetches a chunk at a time, where one bytea value would
// have to be held whole in memory on both sides.
//
// Both stores keep the index the same way: one row per entry with the JSON
// of its recipients and symbols as given, lower-cased copies of the sender,
// reason and search text for Filter (folded in Go, so both databases match
// alike; SQLite's lower() folds ASCII only), and one row per distinct
// recipient for the recipient filter. Text is stored as valid UTF-8 without
// NUL (PostgreSQL refuses both; spam headers contain both) and clipped to 998
// bytes per field. Times are kept to the microsecond, PostgreSQL's
// precision. Schemas are versioned in quarantine_schema_version and migrated
// at open, each step in a transaction (PostgreSQL's under an advisory lock,
// for instances starting together).
//
// # States and the release protocol
//
//	held ──BeginRelease──► releasing ──FinishRelease(nil)──► released
//	  ▲                        │
//	  │                        └──FinishRelease(err)──► release_failed ──BeginRelease──► releasing
//	  │
//	held, released, release_failed ──Delete──► deleted        (any state) ──Purge──► gone
//
// Each transition is one UPDATE … WHERE id = ? AND state IN (…) RETURNING:
// the database serialises concurrent ones on the row, so of two admins
// releasing at once exactly one gets the entry and the other ErrState. A
// message is therefore relayed at most once.
//
// An entry found in releasing was either being released just now, or its
// releaser died between relaying and FinishRelease, and then nobody knows
// whether the message went out. It is never released again automatically:
// the CLI shows releasing entries (List with States: releasing, and StateAt
// tells how long ago) and asks the operator to look for the message in the
// relay's log, then to record what they found with FinishRelease: nil if it
// was delivered (released), an error if not (release_failed, which may be
// released again). No separate "force" operation is needed.
//
// # Delete keeps a trace
//
// Delete removes the message but keeps the row, as deleted, with who and
// when: "what happened to the mail from X" must still have an answer after
// an admin deleted it. Get still returns a deleted entry; Open returns
// ErrNotFound. A releasing entry cannot be deleted (its release may be
// reading the message). Purge removes entries older than a time in any
// state, rows and messages both, in chunks of 500 so that a large purge
// never holds a lock for long; it is the retention policy, and the only way
// rows go away.
//
// # Ids
//
// An id is 128 random bits as 32 lower-case hex digits. ParseID accepts
// nothing else, and every method checks the id it is given, so an id typed
// by an admin or taken from a URL can never name a path outside msgs/.
//
// # Bounds
//
// List returns at most MaxLimit (1000) entries a page, DefaultLimit (50)
// when none is asked, with the total count from the same snapshot. Put
// refuses messages over MaxMessageSize (ErrTooLarge). The PostgreSQL store
// opens at most 8 connections per instance.
package quarantine
