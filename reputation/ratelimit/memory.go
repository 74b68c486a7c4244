package ratelimit

import (
	"context"
	"sync"
	"time"
)

// Memory is the in-process store: the default when no Redis is configured,
// exact for one Mamori instance. Its buckets are lost at a restart.
//
// Keys expire like Redis keys do: once a bucket has drained it is dropped.
// MaxKeys bounds memory when a flood brings many distinct keys (every
// client address of a botnet): past it, drained buckets go first, then
// arbitrary ones, which then start afresh (counted in
// mamori_ratelimit_memory_evictions_total).
type Memory struct {
	mu      sync.Mutex
	buckets map[string]memBucket
	maxKeys int
	now     func() int64 // microseconds since the epoch
	lastGC  int64
}

type memBucket struct {
	bucket
	expires int64 // when the level reaches zero, microseconds
}

// DefaultMaxKeys bounds the in-process store (about 100 MB at most).
const DefaultMaxKeys = 1_000_000

// gcEvery is how often Apply sweeps drained buckets, in microseconds.
const gcEvery = int64(time.Minute / time.Microsecond)

// NewMemory returns an empty in-process store holding at most maxKeys keys
// (0: DefaultMaxKeys).
func NewMemory(maxKeys int) *Memory {
	if maxKeys <= 0 {
		maxKeys = DefaultMaxKeys
	}
	return &Memory{buckets: map[string]memBucket{}, maxKeys: maxKeys, now: nowMicros}
}

func nowMicros() int64 { return time.Now().UnixMicro() }

// SetMaxKeys changes the bound (a reload).
func (m *Memory) SetMaxKeys(n int) {
	if n <= 0 {
		n = DefaultMaxKeys
	}
	m.mu.Lock()
	m.maxKeys = n
	m.mu.Unlock()
}

// Len returns the number of keys held.
func (m *Memory) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.buckets)
}

// Backend implements Store.
func (m *Memory) Backend() string { return "memory" }

// Close implements Store. The process-wide store outlives pipelines, so
// closing it does nothing.
func (m *Memory) Close() error { return nil }

// Apply implements Store.
func (m *Memory) Apply(_ context.Context, mode Mode, reqs []Request) (Result, error) {
	if err := validate(reqs); err != nil {
		return Result{}, err
	}
	res := Result{Allowed: true, Keys: make([]KeyResult, len(reqs))}
	next := make([]float64, len(reqs))
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	for i, r := range reqs {
		b, ok := m.buckets[r.Key]
		level := 0.0
		if ok {
			level = b.drained(now, r.Rate.intervalMicros())
		}
		res.Keys[i], next[i] = step(level, r.Rate, r.Cost, mode)
		res.Allowed = res.Allowed && res.Keys[i].Allowed
	}
	if mode == Peek || mode == Take && !res.Allowed {
		return res, nil
	}
	for i, r := range reqs {
		if next[i] <= 0 {
			delete(m.buckets, r.Key)
			continue
		}
		m.buckets[r.Key] = memBucket{bucket{next[i], now}, now + res.Keys[i].ResetAfter.Microseconds()}
	}
	m.collect(now)
	return res, nil
}

// collect drops drained buckets now and then, and enforces maxKeys.
func (m *Memory) collect(now int64) {
	if len(m.buckets) <= m.maxKeys && now-m.lastGC < gcEvery {
		return
	}
	m.lastGC = now
	for k, b := range m.buckets {
		if b.expires <= now {
			delete(m.buckets, k)
		}
	}
	if len(m.buckets) <= m.maxKeys {
		return
	}
	// Still over: drop arbitrary buckets (map order is random) down to
	// nine tenths, so that the next sweep is not due at once.
	drop := len(m.buckets) - m.maxKeys*9/10
	memoryEvictions.Add(float64(drop))
	for k := range m.buckets {
		if drop == 0 {
			break
		}
		delete(m.buckets, k)
		drop--
	}
}
