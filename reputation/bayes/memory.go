package bayes

import (
	"context"
	"sync"
	"time"
)

// Memory is a Store in process memory: for tests, for tools that learn and
// score one batch, and as the reference the other stores are tested
// against. Nothing survives Close.
type Memory struct {
	mu      sync.RWMutex
	closed  bool
	totals  Totals
	tokens  map[Hash]Counts
	learned map[Hash]learnedRecord
}

type learnedRecord struct {
	class Class
	at    int64 // Unix seconds
}

var _ Store = (*Memory)(nil)

// NewMemory returns an empty store.
func NewMemory() *Memory {
	return &Memory{tokens: make(map[Hash]Counts), learned: make(map[Hash]learnedRecord)}
}

// Backend implements Store.
func (s *Memory) Backend() string { return "memory" }

// Get implements Store.
func (s *Memory) Get(ctx context.Context, tokens []Hash) (Totals, []Counts, error) {
	if err := ctx.Err(); err != nil {
		return Totals{}, nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return Totals{}, nil, ErrClosed
	}
	out := make([]Counts, len(tokens))
	for i, h := range tokens {
		out[i] = s.tokens[h]
	}
	return s.totals, out, nil
}

// Learn implements Store.
func (s *Memory) Learn(ctx context.Context, now time.Time, batch []Learning) ([]bool, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := validateBatch(batch); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrClosed
	}
	ts := now.Unix()
	changed := make([]bool, len(batch))
	for i, l := range batch {
		undo, do, ok := plan(s.learned[l.ID].class, l.Class)
		if !ok {
			continue
		}
		changed[i] = true
		if undo != None {
			s.add(l.Tokens, undo, -1, ts)
		}
		if do != None {
			s.add(l.Tokens, do, +1, ts)
			s.learned[l.ID] = learnedRecord{class: do, at: ts}
		} else {
			delete(s.learned, l.ID)
		}
	}
	return changed, nil
}

func (s *Memory) add(tokens []Hash, cl Class, d int, ts int64) {
	s.totals = s.totals.apply(cl, d)
	for _, h := range tokens {
		c, ok := s.tokens[h]
		if !ok && d < 0 {
			continue
		}
		c = c.apply(cl, d, ts)
		if c.empty() {
			delete(s.tokens, h)
		} else {
			s.tokens[h] = c
		}
	}
}

// Learned implements Store.
func (s *Memory) Learned(ctx context.Context, id Hash) (Class, error) {
	if err := ctx.Err(); err != nil {
		return None, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return None, ErrClosed
	}
	return s.learned[id].class, nil
}

// Touch implements Store.
func (s *Memory) Touch(ctx context.Context, now time.Time, tokens []Hash) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	ts := now.Unix()
	for _, h := range tokens {
		if c, ok := s.tokens[h]; ok && ts > c.LastSeen {
			c.LastSeen = ts
			s.tokens[h] = c
		}
	}
	return nil
}

// Expire implements Store.
func (s *Memory) Expire(ctx context.Context, o ExpireOptions) (ExpireResult, error) {
	if err := ctx.Err(); err != nil {
		return ExpireResult{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ExpireResult{}, ErrClosed
	}
	var r ExpireResult
	for h, c := range s.tokens {
		if o.expired(c) {
			delete(s.tokens, h)
			r.Tokens++
		}
	}
	for id, rec := range s.learned {
		if o.learnedExpired(rec.at) {
			delete(s.learned, id)
			r.Learned++
		}
	}
	return r, nil
}

// Stats implements Store.
func (s *Memory) Stats(ctx context.Context) (Stats, error) {
	if err := ctx.Err(); err != nil {
		return Stats{}, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return Stats{}, ErrClosed
	}
	return Stats{Totals: s.totals, Tokens: uint64(len(s.tokens)), Learned: uint64(len(s.learned))}, nil
}

// Close implements Store.
func (s *Memory) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	s.tokens, s.learned = nil, nil
	return nil
}
