package quarantine

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode/utf8"
)

// Errors a Store returns, wrapped with the entry's id; match them with
// errors.Is.
var (
	// ErrNotFound: no entry has this id, or its message was deleted (Get
	// still returns a deleted entry; Open does not).
	ErrNotFound = errors.New("quarantine: no such entry")
	// ErrState: the entry is not in a state the operation accepts (releasing
	// a released entry, finishing a release that was never begun).
	ErrState = errors.New("quarantine: entry is in the wrong state")
	// ErrExists: Put was given an ID that is already stored.
	ErrExists = errors.New("quarantine: entry already exists")
	// ErrTooLarge: the message is longer than MaxMessageSize.
	ErrTooLarge = errors.New("quarantine: message too large")
	// ErrBadID: the string is not a quarantine id.
	ErrBadID = errors.New("quarantine: malformed id")
	// ErrCorrupt: the stored bytes no longer match the SHA-256 taken at Put.
	ErrCorrupt = errors.New("quarantine: stored message is corrupt")
)

// MaxMessageSize bounds Put. The milter refuses messages long before this
// (its own size limit); the bound is here so that a runaway reader cannot
// fill the disk or the database.
const MaxMessageSize = 256 << 20

// Limits of List.
const (
	DefaultLimit = 50
	MaxLimit     = 1000
)

// maxText bounds each header-derived field (From, Subject, Message-ID,
// Reason, ...) as stored: they are for listing and search, and a 1 MB
// Subject must not make every List slow.
const maxText = 998 // RFC 5322 section 2.1.1's line limit

// State is where an entry is in its life.
type State string

// The states. held and release_failed can be released; releasing is taken
// by one BeginRelease until its FinishRelease; deleted keeps the row as a
// trace without the message.
const (
	Held          State = "held"
	Releasing     State = "releasing"
	Released      State = "released"
	ReleaseFailed State = "release_failed"
	Deleted       State = "deleted"
)

// States lists every state, in the order of an entry's life.
var States = []State{Held, Releasing, Released, ReleaseFailed, Deleted}

// Symbol is one symbol of the verdict that quarantined the message, as in
// the audit trail.
type Symbol struct {
	Name   string  `json:"name"`
	Score  float64 `json:"score"`
	Detail string  `json:"detail,omitempty"`
}

// Entry describes one quarantined message. The message itself is read with
// Store.Open.
type Entry struct {
	// ID is 32 lower-case hex digits (128 random bits); see ParseID.
	ID string
	// Time is when the message was quarantined, in UTC, to the microsecond
	// (PostgreSQL's precision; both stores truncate alike).
	Time time.Time

	QueueID    string
	ClientIP   string
	ClientHost string
	Helo       string
	SASLUser   string
	Sender     string // envelope MAIL FROM, "" for the null sender
	Recipients []string

	// MessageID, From and Subject come from the header, From and Subject
	// decoded (RFC 2047) by the caller; they are for listing and search.
	MessageID string
	From      string
	Subject   string

	// Size is the message's length in bytes; Put sets it from what it read.
	Size int64
	// SHA256 is the hex SHA-256 of the message; Put sets it, and Open's
	// reader checks it at the end.
	SHA256 string

	Score   float64
	Symbols []Symbol
	Reason  string // why it was quarantined, as the verdict said
	Config  string // version of the configuration that judged it

	State   State
	StateAt time.Time // when State was entered
	StateBy string    // who: "filter", an admin login, "cli:<unix user>"
	Error   string    // the last release error, for release_failed
}

// Filter selects entries for List. Zero fields select everything.
type Filter struct {
	// Sender and Recipient match an address case-insensitively, whole, or
	// every address of a domain when given as "@example.org".
	Sender    string
	Recipient string
	// Reason is a case-insensitive substring of Reason.
	Reason string
	// Text is a case-insensitive substring of the subject, the From field
	// or the sender.
	Text string
	// From and To bound Time: From <= Time < To.
	From, To time.Time
	// MinScore and MaxScore bound Score, inclusive.
	MinScore, MaxScore *float64
	// States selects entries in any of these states; none means all.
	States []State
	// Limit is the page size: DefaultLimit when 0, at most MaxLimit.
	Limit  int
	Offset int
}

// Store keeps quarantined messages. SQLite and Postgres implement it; both
// are safe for concurrent use.
type Store interface {
	// Put stores msg and its entry, durably before it returns. It sets
	// e.ID (when empty), Time (when zero), Size, SHA256, State (held) and
	// StateAt. An error means that nothing was stored.
	Put(ctx context.Context, e *Entry, msg io.Reader) error
	// Get returns the entry, or ErrNotFound.
	Get(ctx context.Context, id string) (*Entry, error)
	// Open returns the exact bytes given to Put. Reading fails with
	// ErrCorrupt at the end if they no longer match. ErrNotFound once the
	// entry is deleted.
	Open(ctx context.Context, id string) (io.ReadCloser, error)
	// List returns one page of the entries f selects, newest first, and
	// how many entries f selects in all.
	List(ctx context.Context, f Filter) ([]Entry, int, error)

	// BeginRelease moves a held or release_failed entry to releasing and
	// returns it; ErrState in any other state, so that of two concurrent
	// releases exactly one proceeds.
	BeginRelease(ctx context.Context, id, by string) (*Entry, error)
	// FinishRelease ends a release begun by BeginRelease: released when
	// releaseErr is nil, else release_failed with releaseErr's text in
	// Error. ErrState unless the entry is releasing.
	FinishRelease(ctx context.Context, id, by string, releaseErr error) error
	// Delete removes the message and keeps the entry, as deleted, as a
	// trace of who deleted it. ErrState while it is releasing or deleted.
	Delete(ctx context.Context, id, by string) error
	// Purge removes entries quarantined before the given time, messages
	// and rows, in any state, and returns how many.
	Purge(ctx context.Context, before time.Time) (int, error)

	Close() error
}

// NewID returns a new random id.
func NewID() string {
	var b [16]byte
	rand.Read(b[:]) // never fails (crypto/rand documents it)
	return hex.EncodeToString(b[:])
}

// ParseID checks that s is an id: exactly 32 lower-case hex digits. Every
// id reaching a Store passes it, so an id can never carry a path ("../x")
// or SQL, whatever an admin types.
func ParseID(s string) (string, error) {
	if len(s) != 32 {
		return "", fmt.Errorf("%w %q: want 32 lower-case hex digits", ErrBadID, clip(s, 40))
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return "", fmt.Errorf("%w %q: want 32 lower-case hex digits", ErrBadID, clip(s, 40))
		}
	}
	return s, nil
}

// prepare validates e for Put and fills in what Put owns. Text is made
// storable alike by both backends: valid UTF-8 without NUL (PostgreSQL
// text refuses both), clipped to maxText.
func prepare(e *Entry, now time.Time) error {
	if e.ID == "" {
		e.ID = NewID()
	} else if _, err := ParseID(e.ID); err != nil {
		return err
	}
	if e.Time.IsZero() {
		e.Time = now
	}
	e.Time = e.Time.UTC().Truncate(time.Microsecond)
	e.State, e.StateAt, e.Error = Held, e.Time, ""
	if e.StateBy == "" {
		e.StateBy = "filter"
	}
	for _, p := range []*string{&e.QueueID, &e.ClientIP, &e.ClientHost, &e.Helo, &e.SASLUser, &e.Sender,
		&e.MessageID, &e.From, &e.Subject, &e.Reason, &e.Config, &e.StateBy} {
		*p = clean(*p)
	}
	for i := range e.Recipients {
		e.Recipients[i] = clean(e.Recipients[i])
	}
	for i := range e.Symbols {
		e.Symbols[i].Name = clean(e.Symbols[i].Name)
		e.Symbols[i].Detail = clean(e.Symbols[i].Detail)
	}
	return nil
}

// clean returns s as valid UTF-8 without NUL, at most maxText bytes.
func clean(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.ReplaceAll(s, "\x00", "\uFFFD")
	return clip(s, maxText)
}

// clip shortens s to at most n bytes without splitting a UTF-8 sequence.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// cleanBy is clean for the "by" of a state change, which must say who.
func cleanBy(by string) (string, error) {
	by = clean(strings.TrimSpace(by))
	if by == "" {
		return "", errors.New("quarantine: a state change needs to say who made it (by is empty)")
	}
	return by, nil
}

// releaseError is the text FinishRelease records for a failed release.
func releaseError(err error) string {
	if err == nil {
		return ""
	}
	if s := clean(err.Error()); s != "" {
		return s
	}
	return "release failed (no error text)"
}

// search is the lower-cased text Filter.Text searches. Lower-casing in Go,
// not in SQL, makes both backends fold case alike (SQLite's lower() folds
// ASCII only).
func search(e *Entry) string {
	return strings.ToLower(e.Subject + "\n" + e.From + "\n" + e.Sender)
}

// addrKey splits an address for the indexed columns: lower-cased address
// and domain.
func addrKey(addr string) (lc, domain string) {
	lc = strings.ToLower(strings.TrimSpace(addr))
	if i := strings.LastIndexByte(lc, '@'); i >= 0 {
		domain = lc[i+1:]
	}
	return lc, domain
}

// addrMatch turns a Filter address into (column suffix, value): "@d" matches
// the domain column, anything else the whole address.
func addrMatch(f string) (domain bool, value string) {
	f = strings.ToLower(strings.TrimSpace(f))
	if strings.HasPrefix(f, "@") {
		return true, f[1:]
	}
	return false, f
}

// normalize applies List's defaults and bounds.
func (f Filter) normalize() Filter {
	switch {
	case f.Limit <= 0:
		f.Limit = DefaultLimit
	case f.Limit > MaxLimit:
		f.Limit = MaxLimit
	}
	f.Offset = max(f.Offset, 0)
	f.Text = strings.ToLower(strings.TrimSpace(f.Text))
	f.Reason = strings.ToLower(strings.TrimSpace(f.Reason))
	return f
}

// validState reports whether s is one of States.
func validState(s State) bool {
	for _, v := range States {
		if s == v {
			return true
		}
	}
	return false
}

// stateError explains why a transition was refused, with what to do next.
func stateError(id string, op string, cur State) error {
	hint := ""
	switch cur {
	case Releasing:
		hint = ": a release is in progress or was interrupted; check the relay log for the message, then finish the release as released or failed"
	case Released:
		hint = ": it was released already"
	case Deleted:
		hint = ": it was deleted"
	}
	return fmt.Errorf("%w: cannot %s %s, it is %s%s", ErrState, op, id, cur, hint)
}
