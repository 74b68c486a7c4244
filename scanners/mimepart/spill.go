package mimepart

import (
	"bytes"
	"errors"
	"io"
	"os"
)

// spill collects one decoded part: in memory up to a threshold, then in an
// unlinked temporary file, so that memory stays bounded whatever the size
// of an attachment.
type spill struct {
	mem     bytes.Buffer
	f       *os.File
	n       int64
	limit   int64 // bytes kept in memory before spilling
	tempDir string
}

func (s *spill) Write(p []byte) (int, error) {
	if s.f == nil && int64(s.mem.Len()+len(p)) > s.limit {
		f, err := os.CreateTemp(s.tempDir, "mamori-part-*")
		if err != nil {
			return 0, err
		}
		// Unlinked at once: the file goes away with the last descriptor,
		// even if the daemon is killed.
		os.Remove(f.Name())
		if _, err := f.Write(s.mem.Bytes()); err != nil {
			f.Close()
			return 0, err
		}
		s.mem = bytes.Buffer{}
		s.f = f
	}
	var n int
	var err error
	if s.f != nil {
		n, err = s.f.Write(p)
	} else {
		n, err = s.mem.Write(p)
	}
	s.n += int64(n)
	return n, err
}

// content returns the collected bytes as a ReaderAt and hands over the file.
func (s *spill) content() content {
	if s.f != nil {
		f := s.f
		s.f = nil
		return fileContent{f}
	}
	return memContent{bytes.NewReader(s.mem.Bytes())}
}

// discard drops what was collected.
func (s *spill) discard() {
	if s.f != nil {
		s.f.Close()
		s.f = nil
	}
	s.mem = bytes.Buffer{}
}

type memContent struct{ *bytes.Reader }

func (memContent) Close() error { return nil }

type fileContent struct{ f *os.File }

func (c fileContent) ReadAt(p []byte, off int64) (int, error) { return c.f.ReadAt(p, off) }
func (c fileContent) Close() error                            { return c.f.Close() }

// errBudget ends a copy at the decoded-size limit.
var errBudget = errors.New("mimepart: decoded size limit reached")

// budgetWriter passes at most n bytes, then fails with errBudget.
type budgetWriter struct {
	w io.Writer
	n int64
}

func (b *budgetWriter) Write(p []byte) (int, error) {
	if int64(len(p)) > b.n {
		k, err := b.w.Write(p[:b.n])
		b.n -= int64(k)
		if err != nil {
			return k, err
		}
		return k, errBudget
	}
	k, err := b.w.Write(p)
	b.n -= int64(k)
	return k, err
}
