// Package spool holds a message body of any size with bounded memory: the
// first bytes stay in memory, and past a threshold everything moves to an
// unlinked-on-close temporary file. Readers use ReadAt, so several checks can
// read one body at once without copying it.
package spool

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
)

// ErrClosed is returned after Close.
var ErrClosed = errors.New("spool: closed")

// Spool is an append-only body buffer. Writes come from one goroutine (the
// milter session); reads may come from many once writing is done.
type Spool struct {
	threshold int64
	dir       string

	mu     sync.RWMutex
	mem    []byte
	file   *os.File
	size   int64
	closed bool
}

// New returns a spool that keeps up to threshold bytes in memory and spills to
// a temporary file in dir ("" means os.TempDir()) beyond that.
func New(threshold int64, dir string) *Spool {
	return &Spool{threshold: threshold, dir: dir}
}

// Write appends p.
func (s *Spool) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return 0, ErrClosed
	}
	if s.file == nil && s.size+int64(len(p)) > s.threshold {
		if err := s.spill(); err != nil {
			return 0, err
		}
	}
	if s.file != nil {
		n, err := s.file.WriteAt(p, s.size)
		s.size += int64(n)
		if err != nil {
			return n, fmt.Errorf("spool: write: %w", err)
		}
		return n, nil
	}
	s.mem = append(s.mem, p...)
	s.size += int64(len(p))
	return len(p), nil
}

func (s *Spool) spill() error {
	f, err := os.CreateTemp(s.dir, "mamori-body-*")
	if err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	// Unlink at once: the file lives while it is open, and a crash cannot
	// leave message bodies behind on disk.
	_ = os.Remove(f.Name())
	if _, err := f.WriteAt(s.mem, 0); err != nil {
		f.Close()
		return fmt.Errorf("spool: %w", err)
	}
	s.file, s.mem = f, nil
	return nil
}

// ReadAt implements io.ReaderAt.
func (s *Spool) ReadAt(p []byte, off int64) (int, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return 0, ErrClosed
	}
	if off >= s.size {
		return 0, io.EOF
	}
	want := len(p)
	if rem := s.size - off; int64(want) > rem {
		p = p[:rem]
	}
	var n int
	var err error
	if s.file != nil {
		n, err = s.file.ReadAt(p, off)
	} else {
		n = copy(p, s.mem[off:])
	}
	if err == nil && n < want {
		err = io.EOF
	}
	return n, err
}

// Size returns the number of bytes written.
func (s *Spool) Size() int64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.size
}

// OnDisk reports whether the body spilled to a file.
func (s *Spool) OnDisk() bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.file != nil
}

// Close releases the memory and removes the file. It is safe to call twice.
func (s *Spool) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	s.mem = nil
	if s.file != nil {
		err := s.file.Close()
		s.file = nil
		return err
	}
	return nil
}
