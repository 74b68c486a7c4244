package quarantine

// The schemas, as migrations: migration i (0-based) brings the schema from
// version i to i+1, and quarantine_schema_version holds the version reached.
// Migrations are append-only: a released one is never edited, a change is a
// new one. Each runs in its own transaction with the version update, so a
// crash leaves the schema at a version, never between two.
//
// The two schemas have the same tables and columns; they differ in types
// (SQLite stores times as microseconds since the epoch, PostgreSQL as
// timestamptz) and in where the message lives (SQLite: a file per message;
// PostgreSQL: quarantine_chunks).
//
// Columns ending in _lc, sender_domain and search are copies lower-cased in
// Go for Filter, so that case folding is the same in both databases.

var sqliteMigrations = []string{
	// 1: the first schema.
	`CREATE TABLE quarantine_entries (
		id            TEXT PRIMARY KEY NOT NULL,
		time          INTEGER NOT NULL,
		queue_id      TEXT NOT NULL,
		client_ip     TEXT NOT NULL,
		client_host   TEXT NOT NULL,
		helo          TEXT NOT NULL,
		sasl_user     TEXT NOT NULL,
		sender        TEXT NOT NULL,
		recipients    TEXT NOT NULL, -- JSON array, as given
		message_id    TEXT NOT NULL,
		hdr_from      TEXT NOT NULL,
		subject       TEXT NOT NULL,
		size          INTEGER NOT NULL,
		sha256        TEXT NOT NULL,
		score         REAL NOT NULL,
		symbols       TEXT NOT NULL, -- JSON array of {name, score, detail}
		reason        TEXT NOT NULL,
		config        TEXT NOT NULL,
		state         TEXT NOT NULL CHECK (state IN ('held', 'releasing', 'released', 'release_failed', 'deleted')),
		state_at      INTEGER NOT NULL,
		state_by      TEXT NOT NULL,
		error         TEXT NOT NULL,
		sender_lc     TEXT NOT NULL,
		sender_domain TEXT NOT NULL,
		reason_lc     TEXT NOT NULL,
		search        TEXT NOT NULL
	) STRICT;
	CREATE INDEX quarantine_entries_time ON quarantine_entries (time, id);
	CREATE INDEX quarantine_entries_state ON quarantine_entries (state, time);
	CREATE INDEX quarantine_entries_sender ON quarantine_entries (sender_lc);
	CREATE INDEX quarantine_entries_sender_domain ON quarantine_entries (sender_domain);
	CREATE TABLE quarantine_rcpts (
		id     TEXT NOT NULL REFERENCES quarantine_entries (id) ON DELETE CASCADE,
		addr   TEXT NOT NULL,
		domain TEXT NOT NULL,
		PRIMARY KEY (id, addr)
	) STRICT, WITHOUT ROWID;
	CREATE INDEX quarantine_rcpts_addr ON quarantine_rcpts (addr);
	CREATE INDEX quarantine_rcpts_domain ON quarantine_rcpts (domain);`,

	// 2: the accounts of the web console (accounts.go). Times that have
	// not happened (locked_until, last_login_at) are 0, the epoch, not
	// NULL, so that "locked_until <= now" needs no NULL case. Sessions are
	// keyed by the SHA-256 of their token, never the token itself.
	`CREATE TABLE users (
		login         TEXT PRIMARY KEY NOT NULL,
		role          TEXT NOT NULL CHECK (role IN ('viewer', 'operator', 'admin')),
		domains       TEXT NOT NULL, -- JSON array of recipient domains; [] = all
		password_hash TEXT NOT NULL, -- PHC argon2id, or bcrypt when imported
		created_at    INTEGER NOT NULL,
		updated_at    INTEGER NOT NULL,
		failed_count  INTEGER NOT NULL DEFAULT 0,
		locked_until  INTEGER NOT NULL DEFAULT 0,
		last_login_at INTEGER NOT NULL DEFAULT 0,
		disabled      INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1))
	) STRICT, WITHOUT ROWID;
	CREATE TABLE sessions (
		id_hash      TEXT PRIMARY KEY NOT NULL, -- hex SHA-256 of the token
		login        TEXT NOT NULL REFERENCES users (login) ON DELETE CASCADE,
		csrf         TEXT NOT NULL,
		created_at   INTEGER NOT NULL,
		expires_at   INTEGER NOT NULL,
		last_seen_at INTEGER NOT NULL,
		client_ip    TEXT NOT NULL
	) STRICT, WITHOUT ROWID;
	CREATE INDEX sessions_login ON sessions (login);
	CREATE INDEX sessions_expires_at ON sessions (expires_at);
	CREATE INDEX sessions_last_seen_at ON sessions (last_seen_at);`,

	// 3: the admin records (adminaudit.go): who did what, when and from
	// where, shared by every instance on the store. "by" is quoted: it is
	// an SQL keyword. detail is a JSON object of the other fields.
	`CREATE TABLE admin_audit (
		id            INTEGER PRIMARY KEY AUTOINCREMENT,
		time          INTEGER NOT NULL,
		action        TEXT NOT NULL,
		"by"          TEXT NOT NULL,
		client_ip     TEXT NOT NULL,
		quarantine_id TEXT NOT NULL,
		result        TEXT NOT NULL,
		error         TEXT NOT NULL,
		detail        TEXT NOT NULL
	) STRICT;
	CREATE INDEX admin_audit_time ON admin_audit (time, id);`,
}

var postgresMigrations = []string{
	// 1: the first schema. Messages are split into chunks of chunkSize
	// bytes, so that neither Put nor Open holds a whole message in memory.
	`CREATE TABLE quarantine_entries (
		id            text PRIMARY KEY,
		time          timestamptz NOT NULL,
		queue_id      text NOT NULL,
		client_ip     text NOT NULL,
		client_host   text NOT NULL,
		helo          text NOT NULL,
		sasl_user     text NOT NULL,
		sender        text NOT NULL,
		recipients    text NOT NULL,
		message_id    text NOT NULL,
		hdr_from      text NOT NULL,
		subject       text NOT NULL,
		size          bigint NOT NULL,
		sha256        text NOT NULL,
		score         double precision NOT NULL,
		symbols       text NOT NULL,
		reason        text NOT NULL,
		config        text NOT NULL,
		state         text NOT NULL CHECK (state IN ('held', 'releasing', 'released', 'release_failed', 'deleted')),
		state_at      timestamptz NOT NULL,
		state_by      text NOT NULL,
		error         text NOT NULL,
		sender_lc     text NOT NULL,
		sender_domain text NOT NULL,
		reason_lc     text NOT NULL,
		search        text NOT NULL
	);
	CREATE INDEX quarantine_entries_time ON quarantine_entries (time, id);
	CREATE INDEX quarantine_entries_state ON quarantine_entries (state, time);
	CREATE INDEX quarantine_entries_sender ON quarantine_entries (sender_lc);
	CREATE INDEX quarantine_entries_sender_domain ON quarantine_entries (sender_domain);
	CREATE TABLE quarantine_rcpts (
		id     text NOT NULL REFERENCES quarantine_entries (id) ON DELETE CASCADE,
		addr   text NOT NULL,
		domain text NOT NULL,
		PRIMARY KEY (id, addr)
	);
	CREATE INDEX quarantine_rcpts_addr ON quarantine_rcpts (addr);
	CREATE INDEX quarantine_rcpts_domain ON quarantine_rcpts (domain);
	CREATE TABLE quarantine_chunks (
		id   text NOT NULL REFERENCES quarantine_entries (id) ON DELETE CASCADE,
		seq  integer NOT NULL,
		data bytea NOT NULL,
		PRIMARY KEY (id, seq)
	);`,

	// 2: the accounts of the web console (accounts.go), as in SQLite's 2.
	`CREATE TABLE users (
		login         text PRIMARY KEY,
		role          text NOT NULL CHECK (role IN ('viewer', 'operator', 'admin')),
		domains       text NOT NULL,
		password_hash text NOT NULL,
		created_at    timestamptz NOT NULL,
		updated_at    timestamptz NOT NULL,
		failed_count  integer NOT NULL DEFAULT 0,
		locked_until  timestamptz NOT NULL DEFAULT 'epoch',
		last_login_at timestamptz NOT NULL DEFAULT 'epoch',
		disabled      boolean NOT NULL DEFAULT false
	);
	CREATE TABLE sessions (
		id_hash      text PRIMARY KEY,
		login        text NOT NULL REFERENCES users (login) ON DELETE CASCADE,
		csrf         text NOT NULL,
		created_at   timestamptz NOT NULL,
		expires_at   timestamptz NOT NULL,
		last_seen_at timestamptz NOT NULL,
		client_ip    text NOT NULL
	);
	CREATE INDEX sessions_login ON sessions (login);
	CREATE INDEX sessions_expires_at ON sessions (expires_at);
	CREATE INDEX sessions_last_seen_at ON sessions (last_seen_at);`,

	// 3: the admin records (adminaudit.go), as in SQLite's 3.
	`CREATE TABLE admin_audit (
		id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
		time          timestamptz NOT NULL,
		action        text NOT NULL,
		"by"          text NOT NULL,
		client_ip     text NOT NULL,
		quarantine_id text NOT NULL,
		result        text NOT NULL,
		error         text NOT NULL,
		detail        text NOT NULL
	);
	CREATE INDEX admin_audit_time ON admin_audit (time, id);`,
}

// schemaTooNew explains a database written by a newer Mamori.
const schemaTooNew = "quarantine: the %s schema is at version %d, newer than this Mamori knows (%d): " +
	"run the newer Mamori, or point this one at another quarantine"

// entryColumns are the columns scanEntry reads, in its order.
const entryColumns = `id, time, queue_id, client_ip, client_host, helo, sasl_user, sender, recipients,
	message_id, hdr_from, subject, size, sha256, score, symbols, reason, config,
	state, state_at, state_by, error`

// insertEntrySQL inserts one entry; the placeholders are numbered for
// PostgreSQL, which SQLite accepts too ("?NNN" or "$NNN").
const insertEntrySQL = `INSERT INTO quarantine_entries (` + entryColumns + `,
	sender_lc, sender_domain, reason_lc, search)
	VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18,
	$19, $20, $21, $22, $23, $24, $25, $26)`

const insertRcptSQL = `INSERT INTO quarantine_rcpts (id, addr, domain) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`
