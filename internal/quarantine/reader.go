package quarantine

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"sync"
)

// bufPool holds chunkSize scratch buffers: the file copy of the SQLite
// store and the chunking of the PostgreSQL store each need one per Put,
// and a 1 MiB allocation per message is most of Put's garbage.
var bufPool = sync.Pool{New: func() any { b := make([]byte, chunkSize); return &b }}

// checkedReader passes a stored message through and, at its end, checks
// the length and SHA-256 recorded at Put: a truncated or altered message
// file (or a restored database that does not match its files) fails the
// read with ErrCorrupt instead of being released.
type checkedReader struct {
	r      io.Reader
	c      io.Closer
	id     string
	want   string
	size   int64
	n      int64
	h      hash.Hash
	failed error
}

func newCheckedReader(r io.Reader, c io.Closer, e *Entry) *checkedReader {
	return &checkedReader{r: r, c: c, id: e.ID, want: e.SHA256, size: e.Size, h: sha256.New()}
}

func (c *checkedReader) Read(p []byte) (int, error) {
	if c.failed != nil {
		return 0, c.failed
	}
	n, err := c.r.Read(p)
	c.h.Write(p[:n])
	c.n += int64(n)
	if c.n > c.size {
		c.failed = fmt.Errorf("%w: %s is longer than the %d bytes stored; delete it", ErrCorrupt, c.id, c.size)
		return n, c.failed
	}
	if err == io.EOF {
		if got := hex.EncodeToString(c.h.Sum(nil)); c.n != c.size || got != c.want {
			c.failed = fmt.Errorf("%w: %s has %d bytes with SHA-256 %s, want %d bytes with %s; restore it from a backup or delete it",
				ErrCorrupt, c.id, c.n, got, c.size, c.want)
			return n, c.failed
		}
	}
	return n, err
}

func (c *checkedReader) Close() error { return c.c.Close() }

// hashingReader reads a message for Put: it counts and hashes, refuses more
// than MaxMessageSize and stops when ctx is done, so that a stalled or
// endless source does not hold a transaction open forever.
type hashingReader struct {
	ctx context.Context
	r   io.Reader
	h   hash.Hash
	n   int64
}

func newHashingReader(ctx context.Context, r io.Reader) *hashingReader {
	return &hashingReader{ctx: ctx, r: r, h: sha256.New()}
}

func (h *hashingReader) Read(p []byte) (int, error) {
	if err := h.ctx.Err(); err != nil {
		return 0, err
	}
	n, err := h.r.Read(p)
	h.h.Write(p[:n])
	h.n += int64(n)
	if h.n > MaxMessageSize {
		return n, fmt.Errorf("%w: more than %d bytes", ErrTooLarge, MaxMessageSize)
	}
	return n, err
}

// sum returns the hex SHA-256 of what was read.
func (h *hashingReader) sum() string { return hex.EncodeToString(h.h.Sum(nil)) }
