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
	mem    []*chunk // full chunks, then the one being filled
	file   *os.File
	size   int64
	closed bool
}

// chunkSize is the unit of in-memory storage. Fixed chunks from a pool,
// rather than one growing slice, mean no copying as a body grows and little
// garbage per message: at 100 messages a second with attachments, the
// growing slice was a tenth of the daemon's CPU (growslice and GC).
const chunkSize = 32 << 10

type chunk [chunkSize]byte

var chunks = sync.Pool{New: func() any { return new(chunk) }}

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
	n := len(p)
	for len(p) > 0 {
		off := int(s.size % chunkSize)
		if off == 0 {
			s.mem = append(s.mem, chunks.Get().(*chunk))
		}
		k := copy(s.mem[len(s.mem)-1][off:], p)
		p = p[k:]
		s.size += int64(k)
	}
	return n, nil
}
func (s *Spool) spill() error {
	f, err := os.CreateTemp(s.dir, "mamori-body-*")
	if err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	// Unlink at once: the file lives while it is open, and a crash cannot
	// leave message bodies behind on disk.
	_ = os.Remove(f.Name())
	var off int64
	for _, c := range s.mem {
		k := min(int64(chunkSize), s.size-off)
		if _, err := f.WriteAt(c[:k], off); err != nil {
			f.Close()
			return fmt.Errorf("spool: %w", err)
		}
		off += k
	}
	s.file = f
	s.release()
	return nil
}

// release returns the memory chunks to the pool.
func (s *Spool) release() {
	for _, c := range s.mem {
		chunks.Put(c)
	}
	s.mem = nil
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
		for n < len(p) {
			pos := off + int64(n)
			n += copy(p[n:], s.mem[pos/chunkSize][pos%chunkSize:])
		}
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
	s.release()
	if s.file != nil {
		err := s.file.Close()
		s.file = nil
		return err
	}
	return nil
}
