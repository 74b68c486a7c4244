package ratelimit

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// Why a script of our own rather than github.com/go-redis/redis_rate: its
// GCRA script decides one key per call, so the limits of one message take
// one call each, and a message refused by its third limit has already been
// charged by the first two (redisrate_test.go shows it). The rules
// are one round trip per message and no quota used by a refused attempt;
// script.lua checks every key before it writes any. It also keeps a level
// rather than a theoretical arrival time (doc.go says why) and gives quota
// back (Refund).

//go:embed script.lua
var scriptSource string

var script = redis.NewScript(scriptSource)

// Redis is the store shared by several Mamori instances. All arithmetic
// runs inside Redis, on Redis's clock, in one script per call.
type Redis struct {
	client redis.UniversalClient
	health *health
}

// NewRedis returns a store on client. It owns the client: Close closes it.
func NewRedis(client redis.UniversalClient, log *slog.Logger) *Redis {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Redis{client: client, health: newHealth(log)}
}

// Backend implements Store.
func (s *Redis) Backend() string { return "redis" }

// Close implements Store.
func (s *Redis) Close() error { return s.client.Close() }

// ErrDown is returned without asking Redis while it is known to be down;
// one call per probe interval still tries, and its success ends the state.
var ErrDown = errors.New("ratelimit: redis is down (waiting to retry)")

// Apply implements Store.
func (s *Redis) Apply(ctx context.Context, mode Mode, reqs []Request) (Result, error) {
	if err := validate(reqs); err != nil {
		return Result{}, err
	}
	if len(reqs) == 0 {
		return Result{Allowed: true}, nil
	}
	if !s.health.allow() {
		return Result{}, ErrDown
	}
	keys := make([]string, len(reqs))
	args := make([]any, 1, 1+3*len(reqs))
	args[0] = mode.String()
	for i, r := range reqs {
		keys[i] = r.Key
		args = append(args, r.Rate.Burst, strconv.FormatFloat(r.Rate.intervalMicros(), 'g', -1, 64), r.Cost)
	}
	t0 := time.Now()
	v, err := script.Run(ctx, s.client, keys, args...).Int64Slice()
	storeSeconds.WithLabelValues("redis").Observe(time.Since(t0).Seconds())
	if err != nil {
		if errors.Is(err, context.Canceled) {
			s.health.abandoned() // the message went away; says nothing of Redis
			return Result{}, err
		}
		s.health.failed(err)
		return Result{}, fmt.Errorf("redis: %w", err)
	}
	s.health.ok()
	if len(v) != 1+4*len(reqs) {
		return Result{}, fmt.Errorf("redis: rate-limit script answered %d values for %d keys", len(v), len(reqs))
	}
	res := Result{Allowed: v[0] == 1, Keys: make([]KeyResult, len(reqs))}
	for i := range reqs {
		x := v[1+4*i:]
		res.Keys[i] = KeyResult{
			Allowed: x[0] == 1, Remaining: int(x[1]),
			RetryAfter: time.Duration(x[2]) * time.Microsecond, ResetAfter: time.Duration(x[3]) * time.Microsecond,
		}
	}
	return res, nil
}

// health follows whether Redis answers. While it does not, calls fail at
// once instead of each waiting for its timeout (a hung Redis would
// otherwise add the whole timeout to every message); one call per
// probeEvery goes through to find out whether it is back. It logs once per
// change, not once per message.
type health struct {
	log *slog.Logger

	mu        sync.Mutex
	down      bool
	probing   bool
	nextProbe time.Time
}

// probeEvery is how often a call may try a Redis that is down.
const probeEvery = time.Second

func newHealth(log *slog.Logger) *health {
	return &health{log: log}
}

func (h *health) allow() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.down {
		return true
	}
	if h.probing || time.Now().Before(h.nextProbe) {
		return false
	}
	h.probing = true
	return true
}

func (h *health) ok() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.probing = false
	if h.down {
		h.down = false
		h.log.Info("redis answers again; rate limits apply")
	}
	backendUp.WithLabelValues("redis").Set(1)
}

func (h *health) abandoned() {
	h.mu.Lock()
	h.probing = false
	h.mu.Unlock()
}

func (h *health) failed(err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.probing = false
	h.nextProbe = time.Now().Add(probeEvery)
	if !h.down {
		h.down = true
		h.log.Warn("redis unreachable; rate limits follow on_error until it answers", "err", err)
	}
	backendUp.WithLabelValues("redis").Set(0)
}
