package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"os/user"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/mamori-mail/mamori/internal/audit"
	"github.com/mamori-mail/mamori/internal/config"
	"github.com/mamori-mail/mamori/internal/daemon"
	"github.com/mamori-mail/mamori/internal/quarantine"
)

const quarantineUsage = `Usage: mamori quarantine list    [flags]
       mamori quarantine show    [--raw] ID
       mamori quarantine release [--by NAME] ID...
       mamori quarantine release --resolve delivered|failed ID...
       mamori quarantine delete  [--by NAME] ID...
       mamori quarantine purge   [--older-than 30d]

Lists, shows, releases and deletes the messages the daemon kept in its
quarantine store (quarantine.mode: store). It opens the store the
configuration names, as mamori serve does: quarantine.postgres, else the
SQLite store in <data dir>/quarantine. Run it as the user the daemon runs
as, with the same --config and --data-dir.

list     newest first, one page at a time (--limit, --page); the total
         count goes to standard error. Filters combine with AND.
show     one entry: envelope, client, verdict, symbols, state and the last
         release error; --raw writes the exact stored message to standard
         output instead (mamori quarantine show --raw ID | less).
release  sends each message to quarantine.release.relay with its original
         envelope, over SMTP: an MTA listener that does not call Mamori
         again (Postfix: see docs/quarantine.md for the master.cf line).
         A message is released at most once: of two admins releasing it,
         one sends it and the other is told it is releasing or released.
         A refused recipient aborts the whole release (nothing is sent to
         anyone; it can be released again once fixed).
         If the relay does not answer after the whole message was sent,
         nobody knows whether it queued the message: the entry stays
         "releasing" and is never sent again by itself. Look for its
         Message-ID in the relay's log, then record what you found with
         --resolve delivered (it went out) or --resolve failed (it did
         not; it may then be released again).
delete   removes the message; the entry stays, as deleted, with who and
         when, so that the audit question "what happened to it" has an
         answer.
purge    removes entries (of any state) quarantined before --older-than
         ago, default quarantine.retention. The daemon purges hourly too.

Every release, resolve, delete and purge writes an audit record (event
"admin", with the action, who, the entry and the result) to audit.file.
Who is --by, default cli:<your Unix user> (the sudo caller's under sudo).

Exit status: 0 done; 1 some IDs failed (each says why on standard error;
the others were done); 2 bad flags or IDs (nothing was done), or the
configuration, the store or the audit file could not be opened.

Examples:
  mamori quarantine list --since 7d --sender @example.net
  mamori quarantine list --state release_failed,releasing
  mamori quarantine list --text invoice --min-score 10 --json | jq .id
  mamori quarantine show 3f2a...c9
  mamori quarantine show --raw 3f2a...c9 > held.eml
  mamori quarantine release 3f2a...c9 7b10...4e
  mamori quarantine release --resolve delivered 3f2a...c9
  mamori quarantine delete --by alice 3f2a...c9
  mamori quarantine purge --older-than 90d

Flags:
`

// resolveGrace is how long past quarantine.release.timeout a releasing
// entry must have been releasing before --resolve may finish it: until
// then its release may still be running. A variable for tests.
var resolveGrace = 30 * time.Second

// qcmd is one run of mamori quarantine.
type qcmd struct {
	sub    string
	o      daemon.Options
	json   bool
	by     string
	stdout io.Writer
	stderr io.Writer
	cfg    *config.Config
	st     quarantine.Store
	audit  *audit.Log
}

func cmdQuarantine(args []string, stdout, stderr io.Writer) int {
	subs := []string{"list", "show", "release", "delete", "purge"}
	if len(args) == 0 || !slices.Contains(subs, args[0]) {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
			fmt.Fprint(stdout, quarantineUsage)
			return exitOK
		}
		if len(args) > 0 {
			fmt.Fprintf(stderr, "mamori quarantine: unknown subcommand %q: want list, show, release, delete or purge\n\n", args[0])
		}
		fmt.Fprint(stderr, quarantineUsage)
		return exitUsage
	}
	q := &qcmd{sub: args[0], stdout: stdout, stderr: stderr}
	fset := flag.NewFlagSet("quarantine "+q.sub, flag.ContinueOnError)
	fset.SetOutput(stderr)
	commonFlags(fset, &q.o)
	fset.BoolVar(&q.json, "json", false, "list, show: JSON (list: one object a line) instead of text")
	fset.Usage = func() {
		fmt.Fprint(stderr, quarantineUsage)
		fset.PrintDefaults()
	}

	var f quarantine.Filter
	var since, until, states string
	var page int
	var raw bool
	var resolve, olderThan string
	switch q.sub {
	case "list":
		fset.StringVar(&f.Sender, "sender", "", "envelope sender `address`, or @domain for all of a domain")
		fset.StringVar(&f.Recipient, "rcpt", "", "envelope recipient `address`, or @domain")
		fset.StringVar(&since, "since", "", "quarantined at or after `when`: a date (2026-11-01), a time (2026-11-01T15:04), or an age (7d, 12h)")
		fset.StringVar(&until, "until", "", "quarantined before `when` (as --since)")
		fset.StringVar(&f.Reason, "reason", "", "`text` in the reason (case-insensitive)")
		fset.StringVar(&f.Text, "text", "", "`text` in the subject, From or sender (case-insensitive)")
		fset.Func("min-score", "score at least `N`", scoreFlag(&f.MinScore))
		fset.Func("max-score", "score at most `N`", scoreFlag(&f.MaxScore))
		fset.StringVar(&states, "state", "", "comma-separated `states`: held, releasing, released, release_failed, deleted (default: all)")
		fset.IntVar(&f.Limit, "limit", quarantine.DefaultLimit, fmt.Sprintf("entries a page, at most %d", quarantine.MaxLimit))
		fset.IntVar(&page, "page", 1, "page `number`, from 1")
	case "show":
		fset.BoolVar(&raw, "raw", false, "write the exact stored message to standard output")
	case "release":
		fset.StringVar(&resolve, "resolve", "", "finish releases stuck in releasing after checking the relay's log: `delivered` or failed")
	case "purge":
		fset.StringVar(&olderThan, "older-than", "", "remove entries quarantined more than `age` ago: days (30d) or a duration (720h); default quarantine.retention")
	}
	if q.sub != "list" && q.sub != "show" {
		fset.StringVar(&q.by, "by", "", "who acts, for the entry and the audit trail (default cli:<Unix user>)")
	}
	ids, err := parseInterspersed(fset, args[1:])
	if err != nil {
		return exitUsage
	}
	bad := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "mamori quarantine %s: %s\n", q.sub, fmt.Sprintf(format, a...))
		return exitUsage
	}

	// Check everything typed before opening anything: a bad flag or ID
	// does nothing at all.
	switch q.sub {
	case "list":
		if len(ids) > 0 {
			return bad("takes no IDs (did you mean show?)")
		}
		now := time.Now()
		if f.From, err = parseWhen(since, now); err != nil {
			return bad("--since %q: %v", since, err)
		}
		if f.To, err = parseWhen(until, now); err != nil {
			return bad("--until %q: %v", until, err)
		}
		if states != "" {
			for _, s := range strings.Split(states, ",") {
				s = strings.TrimSpace(s)
				if !slices.Contains(quarantine.States, quarantine.State(s)) {
					return bad("--state %q: want held, releasing, released, release_failed or deleted", s)
				}
				f.States = append(f.States, quarantine.State(s))
			}
		}
		if f.Limit < 1 || f.Limit > quarantine.MaxLimit {
			return bad("--limit %d: want 1 to %d", f.Limit, quarantine.MaxLimit)
		}
		if page < 1 {
			return bad("--page %d: pages count from 1", page)
		}
		f.Offset = (page - 1) * f.Limit
	case "show":
		if len(ids) != 1 {
			return bad("name one ID (mamori quarantine list shows them)")
		}
	case "release", "delete":
		if len(ids) == 0 {
			return bad("name at least one ID (mamori quarantine list shows them)")
		}
		if resolve != "" && resolve != "delivered" && resolve != "failed" {
			return bad("--resolve %q: want delivered (the relay's log shows it queued) or failed (it did not)", resolve)
		}
	case "purge":
		if len(ids) > 0 {
			return bad("takes no IDs (use delete for single entries)")
		}
	}
	for _, id := range ids {
		if _, err := quarantine.ParseID(id); err != nil {
			return bad("%q is not an entry ID (32 lower-case hex digits, as mamori quarantine list shows); nothing was done", clipArg(id))
		}
	}
	var age time.Duration
	if olderThan != "" {
		if age, err = parseAge(olderThan); err != nil {
			return bad("--older-than %q: %v", olderThan, err)
		}
	}

	if q.cfg, err = daemon.LoadConfig(q.o); err != nil {
		fmt.Fprintln(stderr, err)
		return exitUsage
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	dataDir := daemon.DataDir(q.o.DataDir, q.cfg.DataDir)
	if q.st, err = q.cfg.OpenQuarantine(ctx, dataDir); err != nil {
		where := config.QuarantineDir(dataDir)
		if q.cfg.Quarantine.Postgres != "" || q.cfg.Quarantine.PostgresFile != "" {
			where = "the PostgreSQL store (quarantine.postgres)"
		}
		fmt.Fprintf(stderr, "mamori quarantine: cannot open %s: %v\n(run as the daemon's user, with its --config and --data-dir)\n", where, err)
		return exitUsage
	}
	defer q.st.Close()
	if q.sub != "list" && q.sub != "show" {
		if q.by == "" {
			q.by = defaultBy()
		}
		if q.audit, err = openAdminAudit(q.cfg.Audit.File, stderr); err != nil {
			fmt.Fprintf(stderr, "mamori quarantine: cannot write the audit trail: %v; nothing was done (run as the daemon's user, or fix audit.file's permissions)\n", err)
			return exitUsage
		}
		defer q.audit.Close()
	}

	switch q.sub {
	case "list":
		return q.list(ctx, f, page)
	case "show":
		return q.show(ctx, ids[0], raw)
	case "release":
		if resolve != "" {
			return q.each(ctx, ids, func(id string) (string, error) { return q.resolve(ctx, id, resolve) })
		}
		return q.each(ctx, ids, func(id string) (string, error) { return q.release(ctx, id) })
	case "delete":
		return q.each(ctx, ids, func(id string) (string, error) { return q.delete(ctx, id) })
	default:
		return q.purge(ctx, age)
	}
}

// parseInterspersed parses flags wherever they stand among the arguments
// ("show ID --raw" as well as "show --raw ID"); "--" ends the flags.
func parseInterspersed(fset *flag.FlagSet, args []string) ([]string, error) {
	var rest []string
	for {
		if err := fset.Parse(args); err != nil {
			return nil, err
		}
		args = fset.Args()
		if len(args) == 0 {
			return rest, nil
		}
		if len(args) > 0 && args[0] == "--" {
			return append(rest, args[1:]...), nil
		}
		rest = append(rest, args[0])
		args = args[1:]
	}
}

func scoreFlag(p **float64) func(string) error {
	return func(s string) error {
		v, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return errors.New("want a number such as 7.5")
		}
		*p = &v
		return nil
	}
}

// parseWhen reads a date, a date and time (local time), or an age before
// now ("7d", "12h"); "" is the zero time.
func parseWhen(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	for _, layout := range []string{"2006-01-02", "2006-01-02T15:04", "2006-01-02 15:04", "2006-01-02T15:04:05", time.RFC3339} {
		if t, err := time.ParseInLocation(layout, s, time.Local); err == nil {
			return t, nil
		}
	}
	if d, err := parseAge(s); err == nil {
		return now.Add(-d), nil
	}
	return time.Time{}, errors.New("want a date (2026-11-01), a date and time (2026-11-01T15:04) or an age (7d, 12h)")
}

func clipArg(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}

// defaultBy names the operator: cli:<the sudo caller, else the user>.
func defaultBy() string {
	name := os.Getenv("SUDO_USER")
	if name == "" {
		name = os.Getenv("USER")
	}
	if name == "" {
		if u, err := user.Current(); err == nil {
			name = u.Username
		}
	}
	if name == "" {
		name = strconv.Itoa(os.Getuid())
	}
	return "cli:" + name
}

// openAdminAudit opens audit.file for the admin records. "-" is the
// daemon's standard output, which this process cannot reach: the records
// go to standard error then, so that they are at least seen.
func openAdminAudit(file string, stderr io.Writer) (*audit.Log, error) {
	if file == "-" || file == "" {
		fmt.Fprintln(stderr, "mamori quarantine: audit.file is standard output (the daemon's); the audit records of this run follow on standard error (set audit.file to a path to keep them with the daemon's)")
		return audit.New(stderr), nil
	}
	return audit.Open(file)
}

// record writes one admin audit record.
func (q *qcmd) record(action, id string, e *quarantine.Entry, result string, err error, count int) {
	r := &audit.Record{Time: time.Now(), Event: "admin", Action: action, By: q.by, Quarantine: id, Result: result, Count: count}
	if e != nil {
		r.Sender, r.Recipients, r.MessageID, r.Size, r.Score, r.Reason = e.Sender, e.Recipients, e.MessageID, e.Size, e.Score, e.Reason
		r.QueueID, r.ClientIP, r.ClientHost, r.Helo, r.SASLUser, r.Config = e.QueueID, e.ClientIP, e.ClientHost, e.Helo, e.SASLUser, e.Config
	}
	if err != nil {
		r.Error = err.Error()
	}
	q.audit.Write(r)
	storeAdminRecord(q.st, r, q.stderr)
}

// each runs fn for every ID, printing "ID: what happened" or the error,
// and returns exitFailure if any failed.
func (q *qcmd) each(ctx context.Context, ids []string, fn func(id string) (string, error)) int {
	failed := 0
	for i, id := range ids {
		if ctx.Err() != nil {
			fmt.Fprintf(q.stderr, "mamori quarantine %s: interrupted; not done: %s\n", q.sub, strings.Join(ids[i:], " "))
			return exitFailure
		}
		msg, err := fn(id)
		if err != nil {
			failed++
			fmt.Fprintf(q.stderr, "%s: %v\n", id, err)
			continue
		}
		fmt.Fprintf(q.stdout, "%s: %s\n", id, msg)
	}
	if failed > 0 {
		if len(ids) > 1 {
			fmt.Fprintf(q.stderr, "mamori quarantine %s: %d of %d failed\n", q.sub, failed, len(ids))
		}
		return exitFailure
	}
	return exitOK
}

func (q *qcmd) release(ctx context.Context, id string) (string, error) {
	before, _ := q.st.Get(ctx, id) // for the audit record when Release refuses
	rel := q.cfg.Quarantine.Release
	e, err := quarantine.Release(ctx, q.st, id, q.by, quarantine.ReleaseOptions{Relay: rel.Relay, Helo: rel.Helo, Timeout: rel.Timeout.D()})
	if e == nil {
		e = before
	}
	switch {
	case err == nil:
		q.record("release", id, e, "ok", nil, 0)
		return "released to " + rel.Relay, nil
	case errors.Is(err, quarantine.ErrOutcomeUnknown):
		q.record("release", id, e, "unknown", err, 0)
	default:
		q.record("release", id, e, "failed", err, 0)
	}
	return "", explain(err, id)
}

func (q *qcmd) resolve(ctx context.Context, id, how string) (string, error) {
	e, err := q.st.Get(ctx, id)
	if err != nil {
		return "", explain(err, id)
	}
	if e.State != quarantine.Releasing {
		return "", fmt.Errorf("it is %s, not releasing: --resolve is only for a release whose outcome is unknown", e.State)
	}
	if wait := q.cfg.Quarantine.Release.Timeout.D() + resolveGrace - time.Since(e.StateAt); wait > 0 {
		return "", fmt.Errorf("its release began %s ago and may still be running; try again in %s", time.Since(e.StateAt).Round(time.Second), wait.Round(time.Second))
	}
	var relErr error
	if how == "failed" {
		relErr = fmt.Errorf("not delivered: %s checked the relay's log (the release's outcome was unknown)", q.by)
	}
	err = q.st.FinishRelease(ctx, id, q.by, relErr)
	if err != nil {
		q.record("resolve", id, e, "failed", err, 0)
		return "", explain(err, id)
	}
	q.record("resolve", id, e, "ok", relErr, 0)
	if how == "failed" {
		return "marked release_failed; release it again with mamori quarantine release " + id, nil
	}
	return "marked released", nil
}

func (q *qcmd) delete(ctx context.Context, id string) (string, error) {
	e, _ := q.st.Get(ctx, id)
	if err := q.st.Delete(ctx, id, q.by); err != nil {
		q.record("delete", id, e, "failed", err, 0)
		return "", explain(err, id)
	}
	q.record("delete", id, e, "ok", nil, 0)
	return "deleted", nil
}

func (q *qcmd) purge(ctx context.Context, age time.Duration) int {
	if age == 0 {
		age = q.cfg.Quarantine.Retention.D()
		if age <= 0 {
			fmt.Fprintln(q.stderr, "mamori quarantine purge: quarantine.retention is 0 (keep everything); say how old with --older-than 30d")
			return exitUsage
		}
	}
	before := time.Now().Add(-age)
	if isTerminal(q.stderr) {
		fmt.Fprintf(q.stderr, "purging entries quarantined before %s ...\n", before.Format("2006-01-02 15:04"))
	}
	start := time.Now()
	n, err := q.st.Purge(ctx, before)
	if err != nil {
		q.record("purge", "", nil, "failed", err, n)
		fmt.Fprintf(q.stderr, "mamori quarantine purge: %v (%d entries were removed before the error; run it again to go on)\n", err, n)
		return exitFailure
	}
	q.record("purge", "", nil, "ok", nil, n)
	fmt.Fprintf(q.stdout, "purged %d entries quarantined before %s (%s)\n", n, before.Format(time.RFC3339), time.Since(start).Round(time.Millisecond))
	return exitOK
}

// explain adds what to do next to a store error.
func explain(err error, id string) error {
	switch {
	case errors.Is(err, quarantine.ErrNotFound):
		return fmt.Errorf("no such entry (mamori quarantine list --state held shows what is held); %w", err)
	case errors.Is(err, quarantine.ErrState) && strings.Contains(err.Error(), "is releasing"):
		return fmt.Errorf("%w: mamori quarantine release --resolve delivered|failed %s", err, id)
	}
	return err
}

// entryJSON is the JSON form of an entry, for list --json and show --json.
type entryJSON struct {
	ID         string              `json:"id"`
	Time       time.Time           `json:"time"`
	State      quarantine.State    `json:"state"`
	StateAt    time.Time           `json:"state_at"`
	StateBy    string              `json:"state_by"`
	Error      string              `json:"error,omitempty"`
	QueueID    string              `json:"qid"`
	ClientIP   string              `json:"client_ip"`
	ClientHost string              `json:"client_host"`
	Helo       string              `json:"helo"`
	SASLUser   string              `json:"sasl_user,omitempty"`
	Sender     string              `json:"mail_from"`
	Recipients []string            `json:"rcpt"`
	MessageID  string              `json:"message_id"`
	From       string              `json:"from"`
	Subject    string              `json:"subject"`
	Size       int64               `json:"size"`
	SHA256     string              `json:"sha256"`
	Score      float64             `json:"score"`
	Symbols    []quarantine.Symbol `json:"symbols"`
	Reason     string              `json:"reason"`
	Config     string              `json:"config"`
}

func toJSON(e *quarantine.Entry) entryJSON {
	j := entryJSON{e.ID, e.Time, e.State, e.StateAt, e.StateBy, e.Error, e.QueueID, e.ClientIP, e.ClientHost, e.Helo, e.SASLUser,
		e.Sender, e.Recipients, e.MessageID, e.From, e.Subject, e.Size, e.SHA256, e.Score, e.Symbols, e.Reason, e.Config}
	if j.Recipients == nil {
		j.Recipients = []string{}
	}
	if j.Symbols == nil {
		j.Symbols = []quarantine.Symbol{}
	}
	return j
}

func (q *qcmd) list(ctx context.Context, f quarantine.Filter, page int) int {
	entries, total, err := q.st.List(ctx, f)
	if err != nil {
		fmt.Fprintf(q.stderr, "mamori quarantine list: %v\n", err)
		return exitFailure
	}
	if q.json {
		enc := json.NewEncoder(q.stdout)
		for i := range entries {
			enc.Encode(toJSON(&entries[i]))
		}
	} else if len(entries) > 0 {
		tw := tabwriter.NewWriter(q.stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tTIME\tSCORE\tSTATE\tSENDER\tRECIPIENT\tSUBJECT")
		for _, e := range entries {
			rcpt := ""
			if len(e.Recipients) > 0 {
				rcpt = e.Recipients[0]
			}
			if len(e.Recipients) > 1 {
				rcpt += fmt.Sprintf(" (+%d)", len(e.Recipients)-1)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", e.ID, e.Time.Local().Format("2006-01-02 15:04"), trimFloat(e.Score), e.State,
				orDefault(oneLine(e.Sender), "<>"), oneLine(rcpt), clipText(oneLine(e.Subject), 50))
		}
		tw.Flush()
	}
	first := f.Offset + 1
	last := f.Offset + len(entries)
	switch {
	case total == 0:
		fmt.Fprintln(q.stderr, "no entries match")
	case len(entries) == 0:
		fmt.Fprintf(q.stderr, "%d entries match; page %d is past the last (%d)\n", total, page, (total+f.Limit-1)/f.Limit)
	case last < total:
		fmt.Fprintf(q.stderr, "entries %d-%d of %d; next page: --page %d\n", first, last, total, page+1)
	default:
		fmt.Fprintf(q.stderr, "entries %d-%d of %d\n", first, last, total)
	}
	return exitOK
}

func (q *qcmd) show(ctx context.Context, id string, raw bool) int {
	if raw {
		r, err := q.st.Open(ctx, id)
		if err != nil {
			fmt.Fprintf(q.stderr, "%s: %v\n", id, explain(err, id))
			return exitFailure
		}
		defer r.Close()
		if _, err := io.Copy(q.stdout, r); err != nil {
			fmt.Fprintf(q.stderr, "%s: %v\n", id, err)
			return exitFailure
		}
		return exitOK
	}
	e, err := q.st.Get(ctx, id)
	if err != nil {
		fmt.Fprintf(q.stderr, "%s: %v\n", id, explain(err, id))
		return exitFailure
	}
	if q.json {
		b, _ := json.MarshalIndent(toJSON(e), "", "  ")
		fmt.Fprintf(q.stdout, "%s\n", b)
		return exitOK
	}
	w := tabwriter.NewWriter(q.stdout, 0, 0, 1, ' ', 0)
	line := func(k, v string) {
		if k != "" {
			k += ":"
		}
		fmt.Fprintf(w, "%s\t%s\n", k, oneLine(v))
	}
	line("ID", e.ID)
	line("Time", e.Time.Local().Format(time.RFC3339))
	state := fmt.Sprintf("%s since %s by %s", e.State, e.StateAt.Local().Format(time.RFC3339), e.StateBy)
	line("State", state)
	if e.Error != "" {
		line("Error", e.Error)
	}
	line("Mail from", orDefault(e.Sender, "<> (null sender)"))
	for i, r := range e.Recipients {
		line(map[bool]string{true: "Rcpt to", false: ""}[i == 0], r)
	}
	client := e.ClientIP
	if e.ClientHost != "" {
		client += " (" + e.ClientHost + ")"
	}
	line("Client", client)
	line("HELO", e.Helo)
	if e.SASLUser != "" {
		line("SASL user", e.SASLUser)
	}
	line("Queue ID", e.QueueID)
	line("Message-ID", e.MessageID)
	line("From", e.From)
	line("Subject", e.Subject)
	line("Size", fmt.Sprintf("%d bytes (sha256 %s)", e.Size, e.SHA256))
	line("Verdict", fmt.Sprintf("quarantine, score %s (configuration %s)", trimFloat(e.Score), orDefault(e.Config, "unknown")))
	line("Reason", e.Reason)
	w.Flush()
	if len(e.Symbols) > 0 {
		fmt.Fprintln(q.stdout, "Symbols:")
		syms := slices.Clone(e.Symbols)
		slices.SortStableFunc(syms, func(a, b quarantine.Symbol) int {
			switch {
			case a.Score > b.Score:
				return -1
			case a.Score < b.Score:
				return 1
			}
			return strings.Compare(a.Name, b.Name)
		})
		sw := tabwriter.NewWriter(q.stdout, 0, 0, 2, ' ', 0)
		for _, s := range syms {
			fmt.Fprintf(sw, "  %s\t%s\t%s\n", s.Name, trimFloat(s.Score), oneLine(s.Detail))
		}
		sw.Flush()
	}
	switch e.State {
	case quarantine.Held, quarantine.ReleaseFailed:
		fmt.Fprintf(q.stdout, "\nRelease: mamori quarantine release %s   Message: mamori quarantine show --raw %s\n", e.ID, e.ID)
	case quarantine.Releasing:
		fmt.Fprintf(q.stdout, "\nThe release's outcome is unknown if it began long ago: look for Message-ID %s in the relay's log, then\nmamori quarantine release --resolve delivered|failed %s\n", orDefault(e.MessageID, "(none)"), e.ID)
	}
	return exitOK
}

// oneLine keeps a field on its line in a table: control characters
// (a header's CR LF, an escape sequence) become spaces.
func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
}
