package bayes

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// Bolt is a Store in a bbolt file. Readers share the file and a writer
// has it alone (bbolt's file lock): the daemon opens it read-only for
// each message, mamori learn and the daemon's last-seen writes open it
// for writing in short batches. Every Learn call is one transaction,
// durable when it returns.
//
// Layout, all integers big-endian:
//
//	bucket "tokens":  key 8-byte token Hash, value spam u32, ham u32, last seen i64 (Unix s)
//	bucket "learned": key 8-byte message Hash, value class u8, learned at i64 (Unix s)
//	bucket "meta":    "version", "spam", "ham", "tokens", "learned": u64 each
type Bolt struct {
	db *bolt.DB
}

var _ Store = (*Bolt)(nil)

// BoltOptions tunes OpenBolt.
type BoltOptions struct {
	// Timeout bounds the wait for the lock on the file held by another
	// process; 0 means DefaultBoltTimeout.
	Timeout time.Duration
	// NoSync skips fsync after each write: bulk learning is much faster,
	// but a crash of the machine can lose or corrupt the database. For
	// tests and for building a database that is copied into place.
	NoSync bool
	// ReadOnly opens an existing file for reading under a shared lock, so
	// that several readers (the daemon's classifications) and, between
	// them, one writer (mamori learn) can use the file in turn; bbolt's
	// exclusive lock would otherwise keep the learner out while the daemon
	// runs. A missing file is an error wrapping fs.ErrNotExist.
	ReadOnly bool
	// MustExist opens for writing only a file that is there: a missing one
	// is an error wrapping fs.ErrNotExist instead of a new, empty database
	// (expiry and the daemon's last-seen writes must not create one).
	MustExist bool
}

// DefaultBoltTimeout is BoltOptions.Timeout when 0.
const DefaultBoltTimeout = time.Second

// boltFormat is the version in meta: it changes whenever the token hash,
// the tokenizer's scheme in a way that invalidates counts, or the value
// layout changes.
const boltFormat = 1

var (
	bucketTokens  = []byte("tokens")
	bucketLearned = []byte("learned")
	bucketMeta    = []byte("meta")

	metaVersion = []byte("version")
	metaSpam    = []byte("spam")
	metaHam     = []byte("ham")
	metaTokens  = []byte("tokens")
	metaLearned = []byte("learned")
)

const (
	tokenValueLen   = 16
	learnedValueLen = 9
	// expireChunk is the number of keys one Expire transaction scans, so
	// that readers keep a fresh view and ctx is checked between chunks.
	expireChunk = 50_000
)

// OpenBolt opens or creates the database file at path (mode 0600).
func OpenBolt(path string, o BoltOptions) (*Bolt, error) {
	if o.Timeout <= 0 {
		o.Timeout = DefaultBoltTimeout
	}
	if o.ReadOnly || o.MustExist {
		if _, err := os.Stat(path); err != nil {
			return nil, fmt.Errorf("bayes: open %s: %w", path, err)
		}
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: o.Timeout, NoSync: o.NoSync, ReadOnly: o.ReadOnly, FreelistType: bolt.FreelistMapType})
	if err != nil {
		if errors.Is(err, bolterrors.ErrTimeout) {
			return nil, fmt.Errorf("bayes: %s is locked by another process: %w", path, err)
		}
		return nil, fmt.Errorf("bayes: open %s: %w", path, err)
	}
	if o.ReadOnly {
		err = db.View(func(tx *bolt.Tx) error {
			meta := tx.Bucket(bucketMeta)
			if meta == nil || tx.Bucket(bucketTokens) == nil || tx.Bucket(bucketLearned) == nil {
				return fmt.Errorf("%w: %s is not a token database", ErrFormat, path)
			}
			if v := meta.Get(metaVersion); len(v) != 8 || binary.BigEndian.Uint64(v) != boltFormat {
				return fmt.Errorf("%w: %s has version %x, want %d", ErrFormat, path, v, boltFormat)
			}
			return nil
		})
		if err != nil {
			db.Close()
			return nil, err
		}
		return &Bolt{db: db}, nil
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, name := range [][]byte{bucketTokens, bucketLearned} {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return err
			}
		}
		meta, err := tx.CreateBucketIfNotExists(bucketMeta)
		if err != nil {
			return err
		}
		if v := meta.Get(metaVersion); v == nil {
			return meta.Put(metaVersion, u64(boltFormat))
		} else if len(v) != 8 || binary.BigEndian.Uint64(v) != boltFormat {
			return fmt.Errorf("%w: %s has version %x, want %d", ErrFormat, path, v, boltFormat)
		}
		return nil
	})
	if err != nil {
		db.Close()
		if errors.Is(err, ErrFormat) {
			return nil, err
		}
		return nil, fmt.Errorf("bayes: open %s: %w", path, err)
	}
	return &Bolt{db: db}, nil
}

// Backend implements Store.
func (s *Bolt) Backend() string { return "bolt" }

// Path returns the database file name.
func (s *Bolt) Path() string { return s.db.Path() }

// wrap maps bbolt's errors to ours.
func wrap(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, bolterrors.ErrDatabaseNotOpen):
		return ErrClosed
	case errors.Is(err, ErrBadClass), errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return err
	}
	return fmt.Errorf("bayes: %w", err)
}

// Get implements Store. All tokens are read in one read transaction.
func (s *Bolt) Get(ctx context.Context, tokens []Hash) (Totals, []Counts, error) {
	if err := ctx.Err(); err != nil {
		return Totals{}, nil, err
	}
	var t Totals
	out := make([]Counts, len(tokens))
	err := s.db.View(func(tx *bolt.Tx) error {
		meta, b := tx.Bucket(bucketMeta), tx.Bucket(bucketTokens)
		t = readTotals(meta)
		var key [8]byte
		for i, h := range tokens {
			binary.BigEndian.PutUint64(key[:], uint64(h))
			out[i] = decodeCounts(b.Get(key[:]))
		}
		return nil
	})
	if err != nil {
		return Totals{}, nil, wrap(err)
	}
	return t, out, nil
}

// Learn implements Store. The whole batch is one write transaction.
func (s *Bolt) Learn(ctx context.Context, now time.Time, batch []Learning) ([]bool, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := validateBatch(batch); err != nil {
		return nil, err
	}
	ts := now.Unix()
	changed := make([]bool, len(batch))
	err := s.db.Update(func(tx *bolt.Tx) error {
		w := boltWriter{tx: tx, meta: tx.Bucket(bucketMeta), tokens: tx.Bucket(bucketTokens), learned: tx.Bucket(bucketLearned)}
		w.totals = readTotals(w.meta)
		w.ntokens, w.nlearned = getU64(w.meta, metaTokens), getU64(w.meta, metaLearned)
		for i, l := range batch {
			key := u64(uint64(l.ID))
			prev := None
			v := w.learned.Get(key)
			if len(v) == learnedValueLen {
				prev = Class(v[0])
			}
			exists := v != nil
			undo, do, ok := plan(prev, l.Class)
			if !ok {
				continue
			}
			changed[i] = true
			if undo != None {
				if err := w.add(l.Tokens, undo, -1, ts); err != nil {
					return err
				}
			}
			var err error
			if do != None {
				if err = w.add(l.Tokens, do, +1, ts); err != nil {
					return err
				}
				v := make([]byte, learnedValueLen)
				v[0] = byte(do)
				binary.BigEndian.PutUint64(v[1:], uint64(ts))
				err = w.learned.Put(key, v)
				if !exists {
					w.nlearned++
				}
			} else {
				err = w.learned.Delete(key)
				w.nlearned = addTotal(w.nlearned, -1)
			}
			if err != nil {
				return err
			}
		}
		return w.flush()
	})
	if err != nil {
		return nil, wrap(err)
	}
	return changed, nil
}

// boltWriter holds one write transaction's buckets and running counters.
type boltWriter struct {
	tx                    *bolt.Tx
	meta, tokens, learned *bolt.Bucket
	totals                Totals
	ntokens, nlearned     uint64
}

func (w *boltWriter) add(tokens []Hash, cl Class, d int, ts int64) error {
	w.totals = w.totals.apply(cl, d)
	// bbolt keeps the key and value slices until the transaction ends, so
	// each Put gets its own; one allocation serves the whole message.
	buf := make([]byte, len(tokens)*(8+tokenValueLen))
	for _, h := range tokens {
		key, val := buf[:8:8], buf[8:8+tokenValueLen:8+tokenValueLen]
		buf = buf[8+tokenValueLen:]
		binary.BigEndian.PutUint64(key, uint64(h))
		old := w.tokens.Get(key)
		if old == nil && d < 0 {
			continue
		}
		c := decodeCounts(old).apply(cl, d, ts)
		var err error
		switch {
		case c.empty():
			err = w.tokens.Delete(key)
			w.ntokens = addTotal(w.ntokens, -1)
		case old == nil:
			err = w.tokens.Put(key, encodeCounts(val, c))
			w.ntokens++
		default:
			err = w.tokens.Put(key, encodeCounts(val, c))
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (w *boltWriter) flush() error {
	for _, kv := range []struct {
		k []byte
		v uint64
	}{{metaSpam, w.totals.Spam}, {metaHam, w.totals.Ham}, {metaTokens, w.ntokens}, {metaLearned, w.nlearned}} {
		if err := w.meta.Put(kv.k, u64(kv.v)); err != nil {
			return err
		}
	}
	return nil
}

// Learned implements Store.
func (s *Bolt) Learned(ctx context.Context, id Hash) (Class, error) {
	if err := ctx.Err(); err != nil {
		return None, err
	}
	cl := None
	err := s.db.View(func(tx *bolt.Tx) error {
		if v := tx.Bucket(bucketLearned).Get(u64(uint64(id))); len(v) == learnedValueLen {
			cl = Class(v[0])
		}
		return nil
	})
	return cl, wrap(err)
}

// Touch implements Store, in one write transaction.
func (s *Bolt) Touch(ctx context.Context, now time.Time, tokens []Hash) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	ts := now.Unix()
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketTokens)
		var key [8]byte
		for _, h := range tokens {
			binary.BigEndian.PutUint64(key[:], uint64(h))
			old := b.Get(key[:])
			if old == nil {
				continue
			}
			c := decodeCounts(old)
			if ts <= c.LastSeen {
				continue
			}
			c.LastSeen = ts
			buf := make([]byte, 8+tokenValueLen)
			copy(buf, key[:])
			if err := b.Put(buf[:8], encodeCounts(buf[8:], c)); err != nil {
				return err
			}
		}
		return nil
	})
	return wrap(err)
}

// Expire implements Store. It scans the buckets in chunks of expireChunk
// keys, one write transaction each, checking ctx in between; what earlier
// chunks removed stays removed when ctx ends the walk.
func (s *Bolt) Expire(ctx context.Context, o ExpireOptions) (ExpireResult, error) {
	var r ExpireResult
	if !o.Before.IsZero() {
		n, err := s.expireBucket(ctx, bucketTokens, metaTokens, func(v []byte) bool {
			return len(v) == tokenValueLen && o.expired(decodeCounts(v))
		})
		r.Tokens = n
		if err != nil {
			return r, err
		}
	}
	if !o.LearnedBefore.IsZero() {
		n, err := s.expireBucket(ctx, bucketLearned, metaLearned, func(v []byte) bool {
			return len(v) == learnedValueLen && o.learnedExpired(int64(binary.BigEndian.Uint64(v[1:])))
		})
		r.Learned = n
		if err != nil {
			return r, err
		}
	}
	return r, nil
}

func (s *Bolt) expireBucket(ctx context.Context, bucket, counter []byte, expired func(v []byte) bool) (uint64, error) {
	var removed uint64
	var start []byte
	for {
		if err := ctx.Err(); err != nil {
			return removed, err
		}
		var next []byte
		err := s.db.Update(func(tx *bolt.Tx) error {
			b, meta := tx.Bucket(bucket), tx.Bucket(bucketMeta)
			c := b.Cursor()
			k, v := c.First()
			if start != nil {
				k, v = c.Seek(start)
			}
			// Deleting under a cursor can make it skip keys; collect first.
			var del [][]byte
			for n := 0; k != nil && n < expireChunk; n++ {
				if expired(v) {
					del = append(del, bytes.Clone(k))
				}
				k, v = c.Next()
			}
			next = bytes.Clone(k)
			for _, k := range del {
				if err := b.Delete(k); err != nil {
					return err
				}
			}
			if len(del) > 0 {
				n := getU64(meta, counter)
				n -= min(n, uint64(len(del)))
				if err := meta.Put(counter, u64(n)); err != nil {
					return err
				}
			}
			removed += uint64(len(del))
			return nil
		})
		if err != nil {
			return removed, wrap(err)
		}
		if next == nil {
			return removed, nil
		}
		start = next
	}
}

// Stats implements Store.
func (s *Bolt) Stats(ctx context.Context) (Stats, error) {
	if err := ctx.Err(); err != nil {
		return Stats{}, err
	}
	var st Stats
	err := s.db.View(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		st = Stats{Totals: readTotals(meta), Tokens: getU64(meta, metaTokens), Learned: getU64(meta, metaLearned)}
		return nil
	})
	return st, wrap(err)
}

// Close implements Store.
func (s *Bolt) Close() error { return wrap(s.db.Close()) }

func u64(v uint64) []byte {
	b := make([]byte, 8)
	binary.BigEndian.PutUint64(b, v)
	return b
}

func getU64(b *bolt.Bucket, k []byte) uint64 {
	v := b.Get(k)
	if len(v) != 8 {
		return 0
	}
	return binary.BigEndian.Uint64(v)
}

func readTotals(meta *bolt.Bucket) Totals {
	return Totals{Spam: getU64(meta, metaSpam), Ham: getU64(meta, metaHam)}
}

func decodeCounts(v []byte) Counts {
	if len(v) != tokenValueLen {
		return Counts{}
	}
	return Counts{
		Spam:     binary.BigEndian.Uint32(v[0:]),
		Ham:      binary.BigEndian.Uint32(v[4:]),
		LastSeen: int64(binary.BigEndian.Uint64(v[8:])),
	}
}

func encodeCounts(dst []byte, c Counts) []byte {
	binary.BigEndian.PutUint32(dst[0:], c.Spam)
	binary.BigEndian.PutUint32(dst[4:], c.Ham)
	binary.BigEndian.PutUint64(dst[8:], uint64(c.LastSeen))
	return dst[:tokenValueLen]
}
