package quarantine

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// dialect holds what differs between the two databases in the SQL this
// package shares. Both accept "$N" placeholders (SQLite binds $N to the
// N-th argument), so the statements themselves are common.
type dialect struct {
	// contains is an SQL expression true when column holds the text of
	// placeholder ph.
	contains func(column, ph string) string
	// timeArg converts a time to what the time columns store.
	timeArg func(time.Time) any
	// timeDest returns a Scan destination for a time column, and timeOf
	// reads it back.
	timeDest func() any
	timeOf   func(any) time.Time
}

var sqliteDialect = dialect{
	contains: func(col, ph string) string { return "instr(" + col + ", " + ph + ") > 0" },
	timeArg:  func(t time.Time) any { return t.UnixMicro() },
	timeDest: func() any { return new(int64) },
	timeOf:   func(v any) time.Time { return time.UnixMicro(*v.(*int64)).UTC() },
}

var postgresDialect = dialect{
	contains: func(col, ph string) string { return "strpos(" + col + ", " + ph + ") > 0" },
	timeArg:  func(t time.Time) any { return t },
	timeDest: func() any { return new(time.Time) },
	timeOf:   func(v any) time.Time { return v.(*time.Time).UTC() },
}

// query accumulates SQL and its arguments, numbering placeholders.
type query struct {
	args []any
}

// arg adds v and returns its placeholder.
func (q *query) arg(v any) string {
	q.args = append(q.args, v)
	return "$" + strconv.Itoa(len(q.args))
}

// where renders f (normalized) as a WHERE clause ("" for no condition).
func (d dialect) where(q *query, f Filter) (string, error) {
	var conds []string
	if f.Sender != "" {
		domain, v := addrMatch(f.Sender)
		col := "sender_lc"
		if domain {
			col = "sender_domain"
		}
		conds = append(conds, col+" = "+q.arg(v))
	}
	if f.Recipient != "" {
		domain, v := addrMatch(f.Recipient)
		col := "r.addr"
		if domain {
			col = "r.domain"
		}
		conds = append(conds, "EXISTS (SELECT 1 FROM quarantine_rcpts r WHERE r.id = e.id AND "+col+" = "+q.arg(v)+")")
	}
	if f.Reason != "" {
		conds = append(conds, d.contains("reason_lc", q.arg(f.Reason)))
	}
	if f.Text != "" {
		conds = append(conds, d.contains("search", q.arg(f.Text)))
	}
	if !f.From.IsZero() {
		conds = append(conds, "time >= "+q.arg(d.timeArg(f.From.UTC().Truncate(time.Microsecond))))
	}
	if !f.To.IsZero() {
		conds = append(conds, "time < "+q.arg(d.timeArg(f.To.UTC().Truncate(time.Microsecond))))
	}
	if f.MinScore != nil {
		conds = append(conds, "score >= "+q.arg(*f.MinScore))
	}
	if f.MaxScore != nil {
		conds = append(conds, "score <= "+q.arg(*f.MaxScore))
	}
	if len(f.States) > 0 {
		phs := make([]string, len(f.States))
		for i, s := range f.States {
			if !validState(s) {
				return "", fmt.Errorf("quarantine: unknown state %q in filter (want one of %v)", s, States)
			}
			phs[i] = q.arg(string(s))
		}
		conds = append(conds, "state IN ("+strings.Join(phs, ", ")+")")
	}
	if len(conds) == 0 {
		return "", nil
	}
	return " WHERE " + strings.Join(conds, " AND "), nil
}

// listSQL returns the page and count statements for f, with their
// arguments.
func (d dialect) listSQL(f Filter) (page string, pageArgs []any, count string, countArgs []any, err error) {
	var q query
	w, err := d.where(&q, f)
	if err != nil {
		return "", nil, "", nil, err
	}
	count, countArgs = "SELECT count(*) FROM quarantine_entries e"+w, append([]any(nil), q.args...)
	// Newest first; id breaks ties so that pages neither repeat nor skip.
	page = "SELECT " + entryColumns + " FROM quarantine_entries e" + w +
		" ORDER BY time DESC, id DESC LIMIT " + q.arg(int64(f.Limit)) + " OFFSET " + q.arg(int64(f.Offset))
	return page, q.args, count, countArgs, nil
}

// scanner is a row: *sql.Row, *sql.Rows, pgx.Row, pgx.Rows.
type scanner interface{ Scan(dest ...any) error }

// scanEntry reads the entryColumns of one row.
func (d dialect) scanEntry(r scanner) (*Entry, error) {
	var e Entry
	var rcpts, syms, state string
	t, st := d.timeDest(), d.timeDest()
	err := r.Scan(&e.ID, t, &e.QueueID, &e.ClientIP, &e.ClientHost, &e.Helo, &e.SASLUser, &e.Sender, &rcpts,
		&e.MessageID, &e.From, &e.Subject, &e.Size, &e.SHA256, &e.Score, &syms, &e.Reason, &e.Config,
		&state, st, &e.StateBy, &e.Error)
	if err != nil {
		return nil, err
	}
	e.Time, e.StateAt, e.State = d.timeOf(t), d.timeOf(st), State(state)
	if err := json.Unmarshal([]byte(rcpts), &e.Recipients); err != nil {
		return nil, fmt.Errorf("quarantine: entry %s: recipients column: %w", e.ID, err)
	}
	if err := json.Unmarshal([]byte(syms), &e.Symbols); err != nil {
		return nil, fmt.Errorf("quarantine: entry %s: symbols column: %w", e.ID, err)
	}
	return &e, nil
}

// insertArgs returns insertEntrySQL's arguments for e (prepared).
func (d dialect) insertArgs(e *Entry) []any {
	rcpts, _ := json.Marshal(nonNil(e.Recipients))
	syms, _ := json.Marshal(nonNil(e.Symbols))
	lc, domain := addrKey(e.Sender)
	return []any{e.ID, d.timeArg(e.Time), e.QueueID, e.ClientIP, e.ClientHost, e.Helo, e.SASLUser, e.Sender, string(rcpts),
		e.MessageID, e.From, e.Subject, e.Size, e.SHA256, e.Score, string(syms), e.Reason, e.Config,
		string(e.State), d.timeArg(e.StateAt), e.StateBy, e.Error,
		lc, domain, strings.ToLower(e.Reason), search(e)}
}

// rcptKeys returns the distinct (addr, domain) pairs of e's recipients.
func rcptKeys(e *Entry) [][2]string {
	seen := map[string]bool{}
	var keys [][2]string
	for _, r := range e.Recipients {
		lc, domain := addrKey(r)
		if !seen[lc] {
			seen[lc] = true
			keys = append(keys, [2]string{lc, domain})
		}
	}
	return keys
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// transitionSQL moves an entry from one of from to the state of $2,
// recording when ($3), who ($4) and the error text ($5), and returns the
// entry as it is now. A concurrent transition of the same entry waits for
// this one and then finds the state changed: no two can both succeed.
func transitionSQL(from ...State) string {
	phs := make([]string, len(from))
	for i, s := range from {
		phs[i] = "'" + string(s) + "'" // constants of this package, never input
	}
	return "UPDATE quarantine_entries SET state = $2, state_at = $3, state_by = $4, error = $5 WHERE id = $1 AND state IN (" +
		strings.Join(phs, ", ") + ") RETURNING " + entryColumns
}

// The transitions.
var (
	beginReleaseSQL  = transitionSQL(Held, ReleaseFailed)
	finishReleaseSQL = transitionSQL(Releasing)
	deleteSQL        = transitionSQL(Held, Released, ReleaseFailed)
)
