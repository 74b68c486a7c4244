package quarantine

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestSQLiteReopenKeepsEverything(t *testing.T) {
	dir := t.TempDir()
	s, err := OpenSQLite(dir)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	msg := randomBytes(2<<20, 7)
	e := &Entry{Sender: "a@example.org", Recipients: []string{"b@example.org"}, Subject: "kept", Score: 11}
	if err := s.Put(ctx, e, bytes.NewReader(msg)); err != nil {
		t.Fatal(err)
	}
	released := &Entry{}
	if err := s.Put(ctx, released, strings.NewReader("r")); err != nil {
		t.Fatal(err)
	}
	s.BeginRelease(ctx, released.ID, "alice")
	s.FinishRelease(ctx, released.ID, "alice", nil)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s2 := openSQLite(t, dir) // also: migrating an up-to-date schema is a no-op
	if g := get(t, s2, e.ID); !entriesEqual(g, e) {
		t.Errorf("after reopen Get = %+v, want %+v", g, e)
	}
	if got := readAll(t, s2, e.ID); !bytes.Equal(got, msg) {
		t.Error("after reopen the message differs")
	}
	if g := get(t, s2, released.ID); g.State != Released || g.StateBy != "alice" {
		t.Errorf("after reopen the released entry is %s by %s", g.State, g.StateBy)
	}
	if page, total, err := s2.List(ctx, Filter{Recipient: "b@example.org"}); err != nil || total != 1 || page[0].ID != e.ID {
		t.Errorf("after reopen List = %v, %d, %v", page, total, err)
	}
}

func TestSQLiteFiles(t *testing.T) {
	dir := t.TempDir()
	s := openSQLite(t, dir)
	e := put(t, s, &Entry{}, []byte("Subject: x\r\n\r\nbody\r\n"))
	path := filepath.Join(dir, "msgs", e.ID[:2], e.ID+".eml")
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatalf("message file: %v", err)
	}
	if fi.Mode().Perm() != 0o640 {
		t.Errorf("message file mode %v, want 0640", fi.Mode().Perm())
	}
	if data, _ := os.ReadFile(path); string(data) != "Subject: x\r\n\r\nbody\r\n" {
		t.Errorf("message file holds %q", data)
	}
	if tmps, _ := filepath.Glob(filepath.Join(dir, "msgs", "*", ".tmp-*")); len(tmps) != 0 {
		t.Errorf("temporary files left: %v", tmps)
	}
	var mode string
	s.db.QueryRow(`PRAGMA journal_mode`).Scan(&mode)
	if mode != "wal" {
		t.Errorf("journal_mode = %q, want wal", mode)
	}
}

func TestSQLiteCorruptOrMissingFile(t *testing.T) {
	dir := t.TempDir()
	s := openSQLite(t, dir)
	ctx := context.Background()
	e := put(t, s, &Entry{}, []byte("original message"))
	path := msgPath(dir, e.ID)

	for name, data := range map[string]string{
		"altered":   "originaL message",
		"truncated": "original",
		"longer":    "original message and more",
	} {
		os.WriteFile(path, []byte(data), 0o640)
		r, err := s.Open(ctx, e.ID)
		if err != nil {
			t.Fatal(err)
		}
		_, err = io.ReadAll(r)
		r.Close()
		if !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s file: read error %v, want ErrCorrupt", name, err)
		}
	}

	os.Remove(path)
	if _, err := s.Open(ctx, e.ID); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "missing") {
		t.Errorf("Open with the file gone: %v, want ErrCorrupt saying it is missing", err)
	}
	// Deleting such an entry works: there is nothing to remove.
	if err := s.Delete(ctx, e.ID, "alice"); err != nil {
		t.Errorf("Delete with the file gone: %v", err)
	}
}

// Purge sweeps what crashes leave: message files without a row, files of
// deleted rows, and abandoned temporary files, once they are an hour old.
func TestSQLitePurgeSweepsOrphans(t *testing.T) {
	dir := t.TempDir()
	s := openSQLite(t, dir)
	ctx := context.Background()
	live := put(t, s, &Entry{}, []byte("live"))
	deleted := put(t, s, &Entry{}, []byte("deleted"))
	if err := s.Delete(ctx, deleted.ID, "a"); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-2 * time.Hour)
	write := func(path string, mtime time.Time) string {
		os.MkdirAll(filepath.Dir(path), 0o750)
		if err := os.WriteFile(path, []byte("x"), 0o640); err != nil {
			t.Fatal(err)
		}
		os.Chtimes(path, mtime, mtime)
		return path
	}
	orphan := write(msgPath(dir, NewID()), old)
	young := write(msgPath(dir, NewID()), time.Now())
	tmp := write(filepath.Join(dir, "msgs", "ab", ".tmp-"+NewID()+"-123"), old)
	resurrected := write(msgPath(dir, deleted.ID), old) // a failed unlink
	notes := write(filepath.Join(dir, "msgs", "ab", "README"), old)
	os.Chtimes(msgPath(dir, live.ID), old, old)

	if n, err := s.Purge(ctx, time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)); err != nil || n != 0 {
		t.Fatalf("Purge = %d, %v", n, err)
	}
	for path, want := range map[string]bool{
		orphan: false, young: true, tmp: false, resurrected: false, notes: true, msgPath(dir, live.ID): true,
	} {
		_, err := os.Stat(path)
		if exists := err == nil; exists != want {
			t.Errorf("%s: exists %v after Purge, want %v", strings.TrimPrefix(path, dir), exists, want)
		}
	}
}

func TestSQLiteSchemaTooNew(t *testing.T) {
	dir := t.TempDir()
	s := openSQLite(t, dir)
	s.db.Exec(`UPDATE quarantine_schema_version SET version = 99`)
	s.Close()
	_, err := OpenSQLite(dir)
	if err == nil || !strings.Contains(err.Error(), "version 99, newer than this Mamori knows") {
		t.Errorf("OpenSQLite of a newer schema: %v", err)
	}
}

func TestSQLiteOpenErrors(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "quarantine.db"), []byte("this is not a database, but long enough to look like a header......................................................"), 0o640)
	if _, err := OpenSQLite(dir); err == nil || !strings.Contains(err.Error(), "is it an SQLite database") {
		t.Errorf("OpenSQLite of a non-database: %v", err)
	}
	file := filepath.Join(t.TempDir(), "file")
	os.WriteFile(file, nil, 0o640)
	if _, err := OpenSQLite(filepath.Join(file, "q")); err == nil {
		t.Error("OpenSQLite under a regular file succeeded")
	}
}
