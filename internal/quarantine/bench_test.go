package quarantine

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/mamori-mail/mamori/integration/harness"
)

// The benchmarks run each backend as it would run in production:
// PostgreSQL with fsync, synchronous_commit and full_page_writes back on,
// so that Put costs a durable commit in both.
//
//	go test -run XXX -bench . -benchtime 1000x ./internal/quarantine/
var durablePostgres = []string{"fsync = on", "synchronous_commit = on", "full_page_writes = on"}

func benchStores(b *testing.B, fn func(b *testing.B, s Store)) {
	b.Run("sqlite", func(b *testing.B) { fn(b, openSQLite(b, b.TempDir())) })
	b.Run("postgres", func(b *testing.B) {
		pg := harness.StartPostgres(b, durablePostgres...)
		fn(b, openPostgres(b, pg.DSN))
	})
}

// benchMessage is a typical small spam: 4 KiB with CRLF lines.
var benchMessage = bytes.Repeat([]byte("Subject: cheap pills, order now\r\n"), 4096/33)

// BenchmarkPut stores one small message per iteration, durably.
func BenchmarkPut(b *testing.B) {
	benchStores(b, func(b *testing.B, s Store) {
		ctx := context.Background()
		b.ReportAllocs()
		b.SetBytes(int64(len(benchMessage)))
		for b.Loop() {
			e := benchEntry(0)
			if err := s.Put(ctx, &e, bytes.NewReader(benchMessage)); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkList pages through a quarantine of 10,000 entries: the first
// page (the console's default view), the page at offset 5000, a sender
// domain (indexed), and a text search (a scan of every row).
func BenchmarkList(b *testing.B) {
	benchStores(b, func(b *testing.B, s Store) {
		fillIndex(b, s, 10000)
		ctx := context.Background()
		for _, tc := range []struct {
			name string
			f    Filter
		}{
			{"first-page", Filter{}},
			{"offset-5000", Filter{Offset: 5000}},
			{"sender-domain", Filter{Sender: "@sender7.example"}},
			{"text", Filter{Text: "invoice 4711"}},
		} {
			b.Run(tc.name, func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					page, total, err := s.List(ctx, tc.f)
					if err != nil || total == 0 || len(page) == 0 {
						b.Fatalf("List = %d entries of %d, %v", len(page), total, err)
					}
				}
			})
		}
	})
}

func benchEntry(i int) Entry {
	return Entry{
		Time:       time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Second),
		QueueID:    fmt.Sprintf("Q%d", i),
		ClientIP:   "192.0.2.1",
		Sender:     fmt.Sprintf("user%d@sender%d.example", i, i%100),
		Recipients: []string{fmt.Sprintf("rcpt%d@corp.example", i%50)},
		Subject:    fmt.Sprintf("invoice %d overdue", i),
		Score:      float64(i%30) / 2,
		Symbols:    []Symbol{{Name: "BAYES_SPAM", Score: 5}},
		Reason:     "score >= 10",
	}
}

// fillIndex inserts n entries' rows in one transaction, without messages:
// List never reads them, and n durable Puts would only time the disk.
func fillIndex(b *testing.B, s Store, n int) {
	b.Helper()
	ctx := context.Background()
	now := time.Now()
	var err error
	switch s := s.(type) {
	case *SQLite:
		var tx *sql.Tx
		if tx, err = s.db.BeginTx(ctx, nil); err == nil {
			for i := 0; i < n && err == nil; i++ {
				e := benchEntry(i)
				if err = prepare(&e, now); err == nil {
					err = sqliteInsertRows(ctx, tx, &e)
				}
			}
			if err == nil {
				err = tx.Commit()
			}
		}
	case *Postgres:
		err = s.inTx(ctx, func(tx pgx.Tx) error {
			for i := range n {
				e := benchEntry(i)
				if err := prepare(&e, now); err != nil {
					return err
				}
				if _, err := tx.Exec(ctx, insertEntrySQL, postgresDialect.insertArgs(&e)...); err != nil {
					return err
				}
				for _, k := range rcptKeys(&e) {
					if _, err := tx.Exec(ctx, insertRcptSQL, e.ID, k[0], k[1]); err != nil {
						return err
					}
				}
			}
			return nil
		})
	}
	if err != nil {
		b.Fatal(err)
	}
}
