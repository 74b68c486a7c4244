package quarantine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/mamori-mail/mamori/integration/harness"
)

// The same cases run against both backends: TestStore/sqlite/<case> and
// TestStore/postgres/<case> (the latter against a real PostgreSQL the
// harness starts; skipped without the binaries, unless
// MAMORI_REQUIRE_INTEGRATION=1).
var storeCases = []struct {
	name string
	fn   func(t *testing.T, s Store)
}{
	{"RoundTrip", testRoundTrip},
	{"PutFields", testPutFields},
	{"PutGivenID", testPutGivenID},
	{"PutCleansText", testPutCleansText},
	{"PutFailingReaderLeavesNothing", testPutFailingReader},
	{"PutCanceledLeavesNothing", testPutCanceled},
	{"List", testList},
	{"ListPaging", testListPaging},
	{"ListLimits", testListLimits},
	{"ConcurrentBeginRelease", testConcurrentBeginRelease},
	{"ReleaseStates", testReleaseStates},
	{"Delete", testDelete},
	{"Purge", testPurge},
	{"BadIDs", testBadIDs},
}

func TestStore(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) {
		t.Parallel()
		for _, tc := range storeCases {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				tc.fn(t, openSQLite(t, t.TempDir()))
			})
		}
	})
	t.Run("postgres", func(t *testing.T) {
		t.Parallel()
		pg := harness.StartPostgres(t)
		var n atomic.Int32
		for _, tc := range storeCases {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				tc.fn(t, openPostgres(t, pg.CreateDatabase(t, fmt.Sprintf("case%d", n.Add(1)))))
			})
		}
	})
}

func openSQLite(t testing.TB, dir string) *SQLite {
	t.Helper()
	s, err := OpenSQLite(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func openPostgres(t testing.TB, dsn string) *Postgres {
	t.Helper()
	s, err := OpenPostgres(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// setNow sets the store's clock.
func setNow(s Store, now func() time.Time) {
	switch s := s.(type) {
	case *SQLite:
		s.now = now
	case *Postgres:
		s.now = now
	}
}

// contents counts what a store holds: entry rows and stored messages
// (files, temporary ones included, or chunk rows).
func contents(t *testing.T, s Store) (rows, blobs int) {
	t.Helper()
	switch s := s.(type) {
	case *SQLite:
		if err := s.db.QueryRow(`SELECT count(*) FROM quarantine_entries`).Scan(&rows); err != nil {
			t.Fatal(err)
		}
		filepath.WalkDir(filepath.Join(s.dir, msgsDir), func(path string, d os.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				blobs++
			}
			return nil
		})
	case *Postgres:
		err := s.with(context.Background(), func(c *pgx.Conn) error {
			return c.QueryRow(context.Background(),
				`SELECT (SELECT count(*) FROM quarantine_entries), (SELECT count(*) FROM quarantine_chunks)`).Scan(&rows, &blobs)
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return rows, blobs
}

func put(t *testing.T, s Store, e *Entry, msg []byte) *Entry {
	t.Helper()
	if err := s.Put(context.Background(), e, bytes.NewReader(msg)); err != nil {
		t.Fatalf("Put: %v", err)
	}
	return e
}

func readAll(t *testing.T, s Store, id string) []byte {
	t.Helper()
	r, err := s.Open(context.Background(), id)
	if err != nil {
		t.Fatalf("Open(%s): %v", id, err)
	}
	defer r.Close()
	data, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("read %s: %v", id, err)
	}
	return data
}

func get(t *testing.T, s Store, id string) *Entry {
	t.Helper()
	e, err := s.Get(context.Background(), id)
	if err != nil {
		t.Fatalf("Get(%s): %v", id, err)
	}
	return e
}

// randomBytes returns n bytes that are the same for the same seed.
func randomBytes(n int, seed uint64) []byte {
	var key [32]byte
	key[0] = byte(seed)
	b := make([]byte, n)
	rand.NewChaCha8(key).Read(b)
	return b
}

func testRoundTrip(t *testing.T, s Store) {
	all := make([]byte, 256)
	for i := range all {
		all[i] = byte(i)
	}
	for _, tc := range []struct {
		name string
		msg  []byte
	}{
		{"crlf", []byte("From: a@example.org\r\nSubject: hi\r\n\r\nline 1\r\nline 2\r\n.\r\n")},
		{"bare-lf-and-cr", []byte("Subject: x\n\nbody\rwith\r\r\nodd endings\n")},
		{"8bit", append([]byte("Subject: =?utf-8?q?caf=C3=A9?=\r\n\r\ncafé \xff\xfe\x00\x80\r\n"), all...)},
		{"empty", nil},
		{"chunk-exact", randomBytes(chunkSize, 1)},
		{"20MB", randomBytes(20<<20+7, 2)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := put(t, s, &Entry{Sender: "a@example.org", Recipients: []string{"b@example.net"}}, tc.msg)
			got := readAll(t, s, e.ID)
			if !bytes.Equal(got, tc.msg) {
				t.Fatalf("Open returned %d bytes, want the %d given to Put (first difference at %d)",
					len(got), len(tc.msg), firstDiff(got, tc.msg))
			}
			if g := get(t, s, e.ID); g.Size != int64(len(tc.msg)) || g.SHA256 != e.SHA256 || len(g.SHA256) != 64 {
				t.Errorf("Get: Size %d SHA256 %q, want %d and Put's %q", g.Size, g.SHA256, len(tc.msg), e.SHA256)
			}
		})
	}
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

func testPutFields(t *testing.T, s Store) {
	now := time.Date(2026, 3, 4, 5, 6, 7, 891234567, time.FixedZone("CET", 3600))
	setNow(s, func() time.Time { return now })
	msg := []byte("Subject: test\r\n\r\nbody\r\n")
	in := &Entry{
		QueueID: "4XyZ1", ClientIP: "192.0.2.7", ClientHost: "mail.example.org", Helo: "mail.example.org",
		SASLUser: "alice", Sender: "Alice@Example.org", Recipients: []string{"bob@example.net", "carol@example.net"},
		MessageID: "<1@example.org>", From: "Alice <alice@example.org>", Subject: "Grüße",
		Score: 12.5, Symbols: []Symbol{{Name: "BAYES_SPAM", Score: 5, Detail: "0.99"}, {Name: "DNSBL", Score: 7.5}},
		Reason: "score 12.5 >= 10", Config: "v42",
	}
	e := put(t, s, in, msg)
	if _, err := ParseID(e.ID); err != nil {
		t.Errorf("Put set ID %q: %v", e.ID, err)
	}
	wantTime := now.UTC().Truncate(time.Microsecond)
	want := *in
	want.Time, want.StateAt, want.State, want.StateBy = wantTime, wantTime, Held, "filter"
	want.Size = int64(len(msg))
	got := get(t, s, e.ID)
	if !entriesEqual(got, &want) {
		t.Errorf("Get =\n%+v\nwant\n%+v", *got, want)
	}
	if got.Time.Location() != time.UTC {
		t.Errorf("Time in %v, want UTC", got.Time.Location())
	}
	if !entriesEqual(e, &want) {
		t.Errorf("Put left the entry as\n%+v\nwant\n%+v", *e, want)
	}

	// An explicit Time is kept (to the microsecond); nil slices come back
	// empty.
	at := time.Date(2025, 1, 2, 3, 4, 5, 6000, time.UTC)
	e2 := put(t, s, &Entry{Time: at}, msg)
	if g := get(t, s, e2.ID); !g.Time.Equal(at) || len(g.Recipients) != 0 || len(g.Symbols) != 0 {
		t.Errorf("Get = Time %v Recipients %v Symbols %v, want %v and none", g.Time, g.Recipients, g.Symbols, at)
	}
}

// entriesEqual compares entries, ignoring SHA256 (checked by RoundTrip),
// comparing times as instants and nil and empty slices alike.
func entriesEqual(a, b *Entry) bool {
	x, y := *a, *b
	x.SHA256, y.SHA256 = "", ""
	if x.Time.Equal(y.Time) {
		x.Time = y.Time
	}
	if x.StateAt.Equal(y.StateAt) {
		x.StateAt = y.StateAt
	}
	if len(x.Recipients) == 0 && len(y.Recipients) == 0 {
		x.Recipients, y.Recipients = nil, nil
	}
	if len(x.Symbols) == 0 && len(y.Symbols) == 0 {
		x.Symbols, y.Symbols = nil, nil
	}
	return reflect.DeepEqual(x, y)
}

func testPutGivenID(t *testing.T, s Store) {
	id := NewID()
	put(t, s, &Entry{ID: id}, []byte("first"))
	err := s.Put(context.Background(), &Entry{ID: id}, strings.NewReader("second"))
	if !errors.Is(err, ErrExists) {
		t.Errorf("Put with a used ID: %v, want ErrExists", err)
	}
	if got := readAll(t, s, id); string(got) != "first" {
		t.Errorf("after a refused Put the message is %q, want the first one", got)
	}
	if err := s.Put(context.Background(), &Entry{ID: "../../etc/passwd"}, strings.NewReader("x")); !errors.Is(err, ErrBadID) {
		t.Errorf("Put with ID ../../etc/passwd: %v, want ErrBadID", err)
	}
	if rows, blobs := contents(t, s); rows != 1 {
		t.Errorf("store holds %d rows, %d blobs; want 1 row", rows, blobs)
	}
}

func testPutCleansText(t *testing.T, s Store) {
	e := put(t, s, &Entry{
		Subject:    "bad \xff\xfe utf-8 and a NUL\x00 here",
		From:       strings.Repeat("é", 1000), // 2000 bytes
		Recipients: []string{"x\x00@example.org"},
		Symbols:    []Symbol{{Name: "S\xff", Detail: "d\x00"}},
	}, []byte("x"))
	g := get(t, s, e.ID)
	if want := "bad \uFFFD utf-8 and a NUL\uFFFD here"; g.Subject != want {
		t.Errorf("Subject = %q, want %q", g.Subject, want)
	}
	if len(g.From) != 998 || !strings.HasPrefix(g.From, "éé") || strings.ContainsRune(g.From, '\uFFFD') {
		t.Errorf("From clipped to %d bytes (%q...), want 998 bytes of whole characters", len(g.From), clip(g.From, 10))
	}
	if g.Recipients[0] != "x\uFFFD@example.org" || g.Symbols[0].Name != "S\uFFFD" || g.Symbols[0].Detail != "d\uFFFD" {
		t.Errorf("Recipients %q Symbols %+v", g.Recipients, g.Symbols)
	}
}

// failingReader returns n bytes, then err.
type failingReader struct {
	n   int
	err error
}

func (f *failingReader) Read(p []byte) (int, error) {
	if f.n == 0 {
		return 0, f.err
	}
	k := min(len(p), f.n)
	for i := range p[:k] {
		p[i] = 'x'
	}
	f.n -= k
	return k, nil
}

func testPutFailingReader(t *testing.T, s Store) {
	boom := errors.New("client went away")
	e := &Entry{Sender: "a@example.org", Recipients: []string{"b@example.org"}}
	err := s.Put(context.Background(), e, &failingReader{n: 3<<20 + 5, err: boom})
	if !errors.Is(err, boom) {
		t.Fatalf("Put: %v, want the reader's error", err)
	}
	if rows, blobs := contents(t, s); rows != 0 || blobs != 0 {
		t.Errorf("after a failed Put the store holds %d rows and %d blobs, want nothing", rows, blobs)
	}
	if _, err := s.Get(context.Background(), e.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get after a failed Put: %v, want ErrNotFound", err)
	}
}

// cancelingReader cancels its context after the first read.
type cancelingReader struct {
	cancel context.CancelFunc
	n      int
}

func (c *cancelingReader) Read(p []byte) (int, error) {
	c.n++
	if c.n == 2 {
		c.cancel()
	}
	return copy(p, bytes.Repeat([]byte("y"), len(p))), nil
}

func testPutCanceled(t *testing.T, s Store) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	err := s.Put(ctx, &Entry{}, &cancelingReader{cancel: cancel})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Put: %v, want context.Canceled", err)
	}
	if rows, blobs := contents(t, s); rows != 0 || blobs != 0 {
		t.Errorf("after a canceled Put the store holds %d rows and %d blobs, want nothing", rows, blobs)
	}
}

// listFixture stores entries for the list tests and returns their ids by
// name. Entry i is quarantined at base + i minutes, so "n9" is the newest.
func listFixture(t *testing.T, s Store) (map[string]string, time.Time) {
	base := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	specs := []Entry{
		{Sender: "spammer@bad.example", Recipients: []string{"alice@corp.example"}, Subject: "Cheap PILLS", Score: 15, Reason: "score 15 >= 10"},
		{Sender: "Spammer@Bad.Example", Recipients: []string{"bob@corp.example", "alice@corp.example"}, Subject: "pills again", Score: 12, Reason: "score 12 >= 10"},
		{Sender: "news@letter.example", Recipients: []string{"carol@other.example"}, From: "Newsletter <news@letter.example>", Subject: "Weekly news", Score: 6, Reason: "rule BULK"},
		{Sender: "", Recipients: []string{"postmaster@corp.example"}, Subject: "Undelivered Mail", Score: 0, Reason: "clamav: Eicar-Test-Signature"},
		{Sender: "ceo@corp.example", Recipients: []string{"bob@corp.example"}, From: "Çağla Öztürk <ceo@corp.example>", Subject: "ÜBERWEISUNG dringend", Score: 9.5, Reason: "rule PHISH_DISPLAY"},
		{Sender: "x@bad.example", Recipients: []string{"ALICE@CORP.EXAMPLE"}, Subject: "hello", Score: -1, Reason: "score 11 >= 10"},
		{Sender: "y@bad.example", Recipients: []string{"dave@corp.example"}, Subject: "invoice", Score: 10, Reason: "clamav: Win.Trojan"},
		{Sender: "z@good.example", Recipients: []string{"eve@corp.example"}, Subject: "meeting", Score: 3, Reason: "policy"},
		{Sender: "a@bad.example.net", Recipients: []string{"frank@corp.example"}, Subject: "bad.example lookalike", Score: 20, Reason: "score 20 >= 10"},
		{Sender: "b@bad.example", Recipients: []string{"alice@corp.example"}, Subject: "last", Score: 10.5, Reason: "score 10.5 >= 10"},
	}
	ids := map[string]string{}
	for i := range specs {
		e := specs[i]
		e.Time = base.Add(time.Duration(i) * time.Minute)
		put(t, s, &e, []byte("Subject: "+e.Subject+"\r\n\r\n"))
		ids[fmt.Sprintf("n%d", i)] = e.ID
	}
	ctx := context.Background()
	// n6 released, n7 release_failed, n8 deleted, n5 releasing.
	for _, n := range []string{"n5", "n6", "n7"} {
		if _, err := s.BeginRelease(ctx, ids[n], "admin"); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.FinishRelease(ctx, ids["n6"], "admin", nil); err != nil {
		t.Fatal(err)
	}
	if err := s.FinishRelease(ctx, ids["n7"], "admin", errors.New("550 no")); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, ids["n8"], "admin"); err != nil {
		t.Fatal(err)
	}
	return ids, base
}

func testList(t *testing.T, s Store) {
	ids, base := listFixture(t, s)
	name := map[string]string{}
	for n, id := range ids {
		name[id] = n
	}
	score := func(f float64) *float64 { return &f }
	for _, tc := range []struct {
		name string
		f    Filter
		want string // names, newest first
	}{
		{"all", Filter{}, "n9 n8 n7 n6 n5 n4 n3 n2 n1 n0"},
		{"sender exact any case", Filter{Sender: "SPAMMER@bad.example"}, "n1 n0"},
		{"sender domain", Filter{Sender: "@bad.example"}, "n9 n6 n5 n1 n0"},
		{"sender domain is not a suffix match", Filter{Sender: "@example.net"}, ""},
		{"null sender is not matched by empty filter", Filter{Sender: "nobody@x"}, ""},
		{"recipient exact any case", Filter{Recipient: "Alice@corp.example"}, "n9 n5 n1 n0"},
		{"recipient domain", Filter{Recipient: "@other.example"}, "n2"},
		{"reason substring", Filter{Reason: "CLAMAV"}, "n6 n3"},
		{"text in subject", Filter{Text: "pills"}, "n1 n0"},
		{"text in from, unicode case", Filter{Text: "çağla öz"}, "n4"},
		{"text in subject, unicode case", Filter{Text: "überweisung"}, "n4"},
		{"text in sender", Filter{Text: "letter.exa"}, "n2"},
		{"time range", Filter{From: base.Add(2 * time.Minute), To: base.Add(5 * time.Minute)}, "n4 n3 n2"},
		{"time from only", Filter{From: base.Add(8 * time.Minute)}, "n9 n8"},
		{"min score", Filter{MinScore: score(10.5)}, "n9 n8 n1 n0"},
		{"max score", Filter{MaxScore: score(0)}, "n5 n3"},
		{"score range", Filter{MinScore: score(6), MaxScore: score(10)}, "n6 n4 n2"},
		{"held", Filter{States: []State{Held}}, "n9 n4 n3 n2 n1 n0"},
		{"states", Filter{States: []State{Released, ReleaseFailed, Deleted}}, "n8 n7 n6"},
		{"releasing", Filter{States: []State{Releasing}}, "n5"},
		{"combined", Filter{Sender: "@bad.example", Recipient: "alice@corp.example", MinScore: score(11), States: []State{Held}}, "n1 n0"},
		{"nothing", Filter{Text: "no such text"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, total, err := s.List(context.Background(), tc.f)
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, e := range got {
				names = append(names, name[e.ID])
			}
			if g := strings.Join(names, " "); g != tc.want {
				t.Errorf("List = %q, want %q", g, tc.want)
			}
			if want := len(strings.Fields(tc.want)); total != want {
				t.Errorf("total = %d, want %d", total, want)
			}
		})
	}
	if _, _, err := s.List(context.Background(), Filter{States: []State{"bogus"}}); err == nil || !strings.Contains(err.Error(), "unknown state") {
		t.Errorf("List with an unknown state: %v", err)
	}
	// Listed entries are complete.
	got, _, _ := s.List(context.Background(), Filter{Text: "überweisung"})
	if want := get(t, s, ids["n4"]); len(got) != 1 || !entriesEqual(&got[0], want) {
		t.Errorf("listed entry %+v, want %+v", got, want)
	}
}

func testListPaging(t *testing.T, s Store) {
	// Entries sharing one Time are ordered by id, so pages neither repeat
	// nor skip.
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var all []string
	for i := range 23 {
		e := &Entry{Time: at}
		if i%2 == 0 {
			e.Time = at.Add(time.Duration(i) * time.Second)
		}
		put(t, s, e, []byte("m"))
		all = append(all, e.ID)
	}
	var seen []string
	var last time.Time
	for off := 0; ; off += 5 {
		page, total, err := s.List(context.Background(), Filter{Limit: 5, Offset: off})
		if err != nil {
			t.Fatal(err)
		}
		if total != 23 {
			t.Fatalf("total = %d, want 23", total)
		}
		if len(page) == 0 {
			break
		}
		if len(page) > 5 {
			t.Fatalf("page of %d, want at most 5", len(page))
		}
		for _, e := range page {
			if !last.IsZero() && e.Time.After(last) {
				t.Errorf("%s at %v after one at %v: not newest first", e.ID, e.Time, last)
			}
			last = e.Time
			seen = append(seen, e.ID)
		}
	}
	slices.Sort(all)
	slices.Sort(seen)
	if !slices.Equal(seen, all) {
		t.Errorf("paging returned %d entries (%d distinct), want each of the 23 once", len(seen), len(slices.Compact(seen)))
	}
	if page, total, _ := s.List(context.Background(), Filter{Offset: 100}); len(page) != 0 || total != 23 {
		t.Errorf("past the end: %d entries, total %d; want none, 23", len(page), total)
	}
}

func testListLimits(t *testing.T, s Store) {
	for range DefaultLimit + 3 {
		put(t, s, &Entry{}, nil)
	}
	if page, total, _ := s.List(context.Background(), Filter{}); len(page) != DefaultLimit || total != DefaultLimit+3 {
		t.Errorf("default page: %d entries of %d, want %d", len(page), total, DefaultLimit)
	}
	if page, _, _ := s.List(context.Background(), Filter{Limit: 1 << 20, Offset: -5}); len(page) != DefaultLimit+3 {
		t.Errorf("huge limit, negative offset: %d entries, want all %d", len(page), DefaultLimit+3)
	}
	if f := (Filter{Limit: 1 << 20}).normalize(); f.Limit != MaxLimit {
		t.Errorf("Limit 1<<20 normalized to %d, want %d", f.Limit, MaxLimit)
	}
}

func testConcurrentBeginRelease(t *testing.T, s Store) {
	e := put(t, s, &Entry{}, []byte("release me once"))
	var wg sync.WaitGroup
	var wins, lost atomic.Int32
	errs := make(chan error, 8)
	for i := range 8 {
		wg.Go(func() {
			got, err := s.BeginRelease(context.Background(), e.ID, fmt.Sprintf("admin%d", i))
			switch {
			case err == nil && got.State == Releasing:
				wins.Add(1)
			case errors.Is(err, ErrState):
				lost.Add(1)
			default:
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("BeginRelease: %v", err)
	}
	if wins.Load() != 1 || lost.Load() != 7 {
		t.Errorf("%d BeginRelease won and %d got ErrState, want 1 and 7", wins.Load(), lost.Load())
	}
}

func testReleaseStates(t *testing.T, s Store) {
	ctx := context.Background()
	t0 := time.Date(2026, 2, 1, 8, 0, 0, 0, time.UTC)
	clock := t0
	setNow(s, func() time.Time { return clock })
	ok := put(t, s, &Entry{}, []byte("a"))
	bad := put(t, s, &Entry{}, []byte("b"))

	clock = t0.Add(time.Minute)
	got, err := s.BeginRelease(ctx, ok.ID, "alice")
	if err != nil || got.State != Releasing || got.StateBy != "alice" || !got.StateAt.Equal(clock) {
		t.Fatalf("BeginRelease = %+v, %v", got, err)
	}
	if err := s.FinishRelease(ctx, bad.ID, "alice", nil); !errors.Is(err, ErrState) || !strings.Contains(err.Error(), "held") {
		t.Errorf("FinishRelease of a held entry: %v, want ErrState", err)
	}

	clock = t0.Add(2 * time.Minute)
	if err := s.FinishRelease(ctx, ok.ID, "alice", nil); err != nil {
		t.Fatal(err)
	}
	if g := get(t, s, ok.ID); g.State != Released || g.StateBy != "alice" || !g.StateAt.Equal(clock) || g.Error != "" || !g.Time.Equal(t0) {
		t.Errorf("after a release: %+v", g)
	}
	if _, err := s.BeginRelease(ctx, ok.ID, "bob"); !errors.Is(err, ErrState) || !strings.Contains(err.Error(), "released already") {
		t.Errorf("BeginRelease of a released entry: %v, want ErrState", err)
	}
	if err := s.FinishRelease(ctx, ok.ID, "bob", nil); !errors.Is(err, ErrState) {
		t.Errorf("second FinishRelease: %v, want ErrState", err)
	}

	// A failed release records the error and may be retried.
	if _, err := s.BeginRelease(ctx, bad.ID, "cli:root"); err != nil {
		t.Fatal(err)
	}
	relayErr := fmt.Errorf("relay 127.0.0.1:25: %w", errors.New("451 4.3.0 try again later"))
	if err := s.FinishRelease(ctx, bad.ID, "cli:root", relayErr); err != nil {
		t.Fatal(err)
	}
	if g := get(t, s, bad.ID); g.State != ReleaseFailed || g.Error != "relay 127.0.0.1:25: 451 4.3.0 try again later" || g.StateBy != "cli:root" {
		t.Errorf("after a failed release: %+v", g)
	}
	if g, err := s.BeginRelease(ctx, bad.ID, "alice"); err != nil || g.State != Releasing || g.Error != "" {
		t.Errorf("retry of a failed release = %+v, %v", g, err)
	}
	// An interrupted release stays releasing until someone says how it
	// ended; BeginRelease refuses it with a hint.
	if _, err := s.BeginRelease(ctx, bad.ID, "bob"); !errors.Is(err, ErrState) || !strings.Contains(err.Error(), "relay log") {
		t.Errorf("BeginRelease of a releasing entry: %v, want ErrState with a hint", err)
	}
	if err := s.FinishRelease(ctx, bad.ID, "alice", errors.New("")); err != nil {
		t.Fatal(err)
	}
	if g := get(t, s, bad.ID); g.Error == "" {
		t.Errorf("an error with no text left Error empty")
	}

	if _, err := s.BeginRelease(ctx, NewID(), "alice"); !errors.Is(err, ErrNotFound) {
		t.Errorf("BeginRelease of an unknown id: %v, want ErrNotFound", err)
	}
	if err := s.FinishRelease(ctx, NewID(), "alice", nil); !errors.Is(err, ErrNotFound) {
		t.Errorf("FinishRelease of an unknown id: %v, want ErrNotFound", err)
	}
	if _, err := s.BeginRelease(ctx, bad.ID, " "); err == nil || !strings.Contains(err.Error(), "who") {
		t.Errorf("BeginRelease without by: %v", err)
	}
}

func testDelete(t *testing.T, s Store) {
	ctx := context.Background()
	e := put(t, s, &Entry{Subject: "kept as a trace"}, randomBytes(3<<20, 3))
	keep := put(t, s, &Entry{}, []byte("other"))
	if err := s.Delete(ctx, e.ID, "alice"); err != nil {
		t.Fatal(err)
	}
	g := get(t, s, e.ID)
	if g.State != Deleted || g.StateBy != "alice" || g.Subject != "kept as a trace" {
		t.Errorf("deleted entry: %+v", g)
	}
	if _, err := s.Open(ctx, e.ID); !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "deleted by alice") {
		t.Errorf("Open of a deleted entry: %v, want ErrNotFound", err)
	}
	if rows, blobs := contents(t, s); rows != 2 || blobs != 1 {
		t.Errorf("after Delete: %d rows, %d blobs; want 2 rows and the other message only", rows, blobs)
	}
	if err := s.Delete(ctx, e.ID, "bob"); !errors.Is(err, ErrState) {
		t.Errorf("second Delete: %v, want ErrState", err)
	}
	if _, err := s.BeginRelease(ctx, e.ID, "bob"); !errors.Is(err, ErrState) {
		t.Errorf("BeginRelease of a deleted entry: %v, want ErrState", err)
	}
	if _, err := s.BeginRelease(ctx, keep.ID, "bob"); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, keep.ID, "alice"); !errors.Is(err, ErrState) {
		t.Errorf("Delete while releasing: %v, want ErrState", err)
	}
	if err := s.FinishRelease(ctx, keep.ID, "bob", nil); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, keep.ID, "alice"); err != nil {
		t.Errorf("Delete after release: %v", err)
	}
	if err := s.Delete(ctx, NewID(), "alice"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Delete of an unknown id: %v, want ErrNotFound", err)
	}
}

func testPurge(t *testing.T, s Store) {
	ctx := context.Background()
	switch s := s.(type) { // cross chunk boundaries with a few entries
	case *SQLite:
		s.chunk = 3
	case *Postgres:
		s.chunk = 3
	}
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var ids []string
	for i := range 10 { // day i
		e := put(t, s, &Entry{Time: base.Add(time.Duration(i) * 24 * time.Hour)}, randomBytes(1000+i, uint64(i)))
		ids = append(ids, e.ID)
	}
	// Old entries go in any state.
	s.BeginRelease(ctx, ids[0], "a")
	s.BeginRelease(ctx, ids[1], "a")
	s.FinishRelease(ctx, ids[1], "a", nil)
	s.Delete(ctx, ids[2], "a")

	n, err := s.Purge(ctx, base.Add(7*24*time.Hour)) // days 0-6
	if err != nil || n != 7 {
		t.Fatalf("Purge = %d, %v; want 7", n, err)
	}
	for i, id := range ids {
		_, err := s.Get(ctx, id)
		if gone := errors.Is(err, ErrNotFound); gone != (i < 7) {
			t.Errorf("day %d: Get after Purge: %v", i, err)
		}
	}
	if rows, blobs := contents(t, s); rows != 3 || blobs != 3 {
		t.Errorf("after Purge: %d rows, %d blobs; want 3 and 3", rows, blobs)
	}
	if n, err := s.Purge(ctx, base); err != nil || n != 0 {
		t.Errorf("second Purge = %d, %v; want 0", n, err)
	}
	if got := readAll(t, s, ids[9]); !bytes.Equal(got, randomBytes(1009, 9)) {
		t.Error("a kept message changed")
	}
}

func testBadIDs(t *testing.T, s Store) {
	ctx := context.Background()
	for _, id := range []string{"", "../x", "../../../../etc/passwd", strings.Repeat("A", 32), strings.Repeat("a", 31), strings.Repeat("a", 33)} {
		if _, err := s.Get(ctx, id); !errors.Is(err, ErrBadID) {
			t.Errorf("Get(%q): %v, want ErrBadID", id, err)
		}
		if _, err := s.Open(ctx, id); !errors.Is(err, ErrBadID) {
			t.Errorf("Open(%q): %v, want ErrBadID", id, err)
		}
		if _, err := s.BeginRelease(ctx, id, "a"); !errors.Is(err, ErrBadID) {
			t.Errorf("BeginRelease(%q): %v, want ErrBadID", id, err)
		}
		if err := s.FinishRelease(ctx, id, "a", nil); !errors.Is(err, ErrBadID) {
			t.Errorf("FinishRelease(%q): %v, want ErrBadID", id, err)
		}
		if err := s.Delete(ctx, id, "a"); !errors.Is(err, ErrBadID) {
			t.Errorf("Delete(%q): %v, want ErrBadID", id, err)
		}
	}
	if _, err := s.Open(ctx, NewID()); !errors.Is(err, ErrNotFound) {
		t.Errorf("Open of an unknown id: %v, want ErrNotFound", err)
	}
}
