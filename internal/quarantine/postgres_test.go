package quarantine

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mamori-mail/mamori/integration/harness"
)

func TestPostgresSpecific(t *testing.T) {
	pg := harness.StartPostgres(t)
	ctx := context.Background()

	t.Run("ConcurrentOpenMigratesOnce", func(t *testing.T) {
		dsn := pg.CreateDatabase(t, "concurrent_open")
		var wg sync.WaitGroup
		errs := make(chan error, 4)
		for range 4 {
			wg.Go(func() {
				s, err := OpenPostgres(ctx, dsn)
				if err == nil {
					s.Close()
				}
				errs <- err
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Errorf("OpenPostgres: %v", err)
			}
		}
		if v := pg.Psql(t, "concurrent_open", "SELECT string_agg(version::text, ',') FROM quarantine_schema_version"); v != strconv.Itoa(len(postgresMigrations)) {
			t.Errorf("schema versions %q, want one row at %d", v, len(postgresMigrations))
		}
	})

	t.Run("SharedBetweenInstances", func(t *testing.T) {
		dsn := pg.CreateDatabase(t, "shared")
		a, b := openPostgres(t, dsn), openPostgres(t, dsn)
		e := put(t, a, &Entry{Subject: "seen by both"}, []byte("message"))
		if got := readAll(t, b, e.ID); string(got) != "message" {
			t.Errorf("instance b reads %q", got)
		}
		if _, err := b.BeginRelease(ctx, e.ID, "b"); err != nil {
			t.Fatal(err)
		}
		if _, err := a.BeginRelease(ctx, e.ID, "a"); !errors.Is(err, ErrState) {
			t.Errorf("instance a releasing what b releases: %v, want ErrState", err)
		}
	})

	t.Run("Chunks", func(t *testing.T) {
		dsn := pg.CreateDatabase(t, "chunks")
		s := openPostgres(t, dsn)
		e := put(t, s, &Entry{}, randomBytes(5*chunkSize+1, 5))
		if n := pg.Psql(t, "chunks", "SELECT count(*) || ' ' || max(length(data)) FROM quarantine_chunks WHERE id = '"+e.ID+"'"); n != "6 1048576" {
			t.Errorf("chunks: %q, want 6 of at most 1 MiB", n)
		}
	})

	t.Run("SchemaTooNew", func(t *testing.T) {
		dsn := pg.CreateDatabase(t, "too_new")
		openPostgres(t, dsn).Close()
		pg.Psql(t, "too_new", "UPDATE quarantine_schema_version SET version = 99")
		if _, err := OpenPostgres(ctx, dsn); err == nil || !strings.Contains(err.Error(), "newer than this Mamori") {
			t.Errorf("OpenPostgres of a newer schema: %v", err)
		}
	})

	t.Run("ServerDownAndBack", func(t *testing.T) {
		// A connection killed under an idle store is dropped, not reused.
		dsn := pg.CreateDatabase(t, "reconnect")
		s := openPostgres(t, dsn)
		e := put(t, s, &Entry{}, []byte("x"))
		pg.Psql(t, "postgres", "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = 'reconnect'")
		time.Sleep(100 * time.Millisecond)
		var err error
		for range 2 { // the first use may find the dead connection
			if _, err = s.Get(ctx, e.ID); err == nil {
				break
			}
		}
		if err != nil {
			t.Errorf("Get after the server ended the connections: %v", err)
		}
	})

	t.Run("ClosedStore", func(t *testing.T) {
		s := openPostgres(t, pg.CreateDatabase(t, "closed"))
		s.Close()
		if _, err := s.Get(ctx, NewID()); !errors.Is(err, errPoolClosed) {
			t.Errorf("Get on a closed store: %v", err)
		}
	})
}

func TestOpenPostgresErrors(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	port := harness.FreePort(t) // nothing listens there
	_, err := OpenPostgres(ctx, "postgres://mamori:secret@127.0.0.1:"+strconv.Itoa(port)+"/q?sslmode=disable&connect_timeout=2")
	if err == nil || !strings.Contains(err.Error(), "is the server up") || strings.Contains(err.Error(), "secret") {
		t.Errorf("OpenPostgres of a closed port: %v (want a hint, and no password)", err)
	}
	if _, err := OpenPostgres(ctx, "postgres://[bad"); err == nil || !strings.Contains(err.Error(), "DSN") {
		t.Errorf("OpenPostgres of a bad DSN: %v", err)
	}
}
