package quarantine

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// The SQLite store's message files: <dir>/msgs/<id[:2]>/<id>.eml, 256
// subdirectories so that no directory grows past a few thousand entries per
// million messages. Temporary files are ".tmp-<id>-*" in the same
// subdirectory (a rename within one directory is atomic).

const (
	msgsDir   = "msgs"
	msgExt    = ".eml"
	tmpPrefix = ".tmp-"
	fileMode  = 0o640 // messages are private mail: no world access
	dirMode   = 0o750
)

// msgPath returns the file of id, which must have passed ParseID.
func msgPath(root, id string) string {
	return filepath.Join(root, msgsDir, id[:2], id+msgExt)
}

// writeMsg writes r to id's file durably: into a temporary file, fsync'd,
// then linked to its name (link, unlike rename, never replaces an existing
// file, so a reused id cannot overwrite another entry's message), and the
// directory fsync'd so that the name survives a crash too. It returns the
// number of bytes written. On error no file of id is left.
func writeMsg(root, id string, r io.Reader) (int64, error) {
	final := msgPath(root, id)
	dir := filepath.Dir(final)
	if err := mkdirDurable(dir); err != nil {
		return 0, err
	}
	f, err := os.CreateTemp(dir, tmpPrefix+id+"-*")
	if err != nil {
		return 0, fmt.Errorf("quarantine: %w (is %s writable, the disk full?)", err, dir)
	}
	tmp := f.Name()
	defer os.Remove(tmp) // after the link, or on any failure
	if err := f.Chmod(fileMode); err != nil {
		f.Close()
		return 0, fmt.Errorf("quarantine: %w", err)
	}
	buf := bufPool.Get().(*[]byte)
	n, err := io.CopyBuffer(struct{ io.Writer }{f}, r, *buf) // not f: its ReadFrom would ignore buf
	bufPool.Put(buf)
	if err != nil {
		f.Close()
		if errors.Is(err, ErrTooLarge) {
			return 0, err
		}
		return 0, fmt.Errorf("quarantine: write message %s: %w", id, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return 0, fmt.Errorf("quarantine: fsync message %s: %w (check the disk)", id, err)
	}
	if err := f.Close(); err != nil {
		return 0, fmt.Errorf("quarantine: write message %s: %w", id, err)
	}
	if err := os.Link(tmp, final); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return 0, fmt.Errorf("%w: %s (a message file is in the way: %s)", ErrExists, id, final)
		}
		return 0, fmt.Errorf("quarantine: %w", err)
	}
	if err := syncDir(dir); err != nil {
		os.Remove(final)
		return 0, err
	}
	return n, nil
}

// removeMsg removes id's message file; one that is already gone is fine.
func removeMsg(root, id string) error {
	err := os.Remove(msgPath(root, id))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("quarantine: remove message %s: %w (the next purge retries)", id, err)
	}
	return nil
}

// mkdirDurable creates dir (and its parent) if missing, fsyncing the parent
// of each directory it creates, so that a new subdirectory is not lost in a
// crash after the message in it was reported stored.
func mkdirDurable(dir string) error {
	if _, err := os.Stat(dir); err == nil {
		return nil
	}
	parent := filepath.Dir(dir)
	if err := mkdirDurable(parent); err != nil {
		return err
	}
	if err := os.Mkdir(dir, dirMode); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("quarantine: %w (is %s writable?)", err, parent)
	}
	return syncDir(parent)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("quarantine: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("quarantine: fsync directory %s: %w (check the disk)", dir, err)
	}
	return nil
}

// msgFile is one file found by walkMsgs.
type msgFile struct {
	path string
	id   string // "" for a temporary file
	info fs.FileInfo
}

// walkMsgs calls fn for every message and temporary file under root/msgs;
// other files are left alone (an operator's notes, a backup tool's).
func walkMsgs(root string, fn func(msgFile) error) error {
	subs, err := os.ReadDir(filepath.Join(root, msgsDir))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("quarantine: %w", err)
	}
	for _, sub := range subs {
		if !sub.IsDir() || len(sub.Name()) != 2 {
			continue
		}
		dir := filepath.Join(root, msgsDir, sub.Name())
		ents, err := os.ReadDir(dir)
		if err != nil {
			return fmt.Errorf("quarantine: %w", err)
		}
		for _, ent := range ents {
			name := ent.Name()
			var id string
			switch {
			case strings.HasPrefix(name, tmpPrefix):
			case strings.HasSuffix(name, msgExt):
				var err error
				if id, err = ParseID(strings.TrimSuffix(name, msgExt)); err != nil {
					continue
				}
			default:
				continue
			}
			info, err := ent.Info()
			if err != nil {
				continue // removed meanwhile
			}
			if err := fn(msgFile{path: filepath.Join(dir, name), id: id, info: info}); err != nil {
				return err
			}
		}
	}
	return nil
}
