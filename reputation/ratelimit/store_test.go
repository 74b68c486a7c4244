package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mamori-mail/mamori/integration/harness"
	"github.com/mamori-mail/mamori/internal/redisclient"
)

// tk is a test key in the hash slot the limiter uses, so that calls with
// several keys work on Redis Cluster too.
func tk(name string) string { return "test:" + hashTag + name }

// testStores returns the stores one table runs against: the in-process
// store and a real redis-server on a private port; with all, also Redis
// behind a Sentinel and a three-node Redis Cluster, each reached through
// the same redis section an operator writes.
func testStores(t *testing.T, all bool) map[string]func(t *testing.T) Store {
	m := map[string]func(t *testing.T) Store{
		"memory": func(t *testing.T) Store { return NewMemory(0) },
		"redis": func(t *testing.T) Store {
			return newRedisStore(t, harness.StartRedis(t, harness.RedisOptions{}).Addr)
		},
	}
	if all {
		m["sentinel"] = func(t *testing.T) Store {
			srv := harness.StartRedis(t, harness.RedisOptions{})
			sn := harness.StartRedisSentinel(t, srv, "mamori")
			return newStoreFor(t, &redisclient.Config{Addrs: []string{sn.Addr}, MasterName: "mamori"})
		}
		m["cluster"] = func(t *testing.T) Store {
			cl := harness.StartRedisCluster(t, 3)
			return newStoreFor(t, &redisclient.Config{Mode: redisclient.Cluster, Addrs: cl.Addrs[:1]})
		}
	}
	return m
}

func newRedisStore(t testing.TB, addr string) *Redis {
	return newStoreFor(t, &redisclient.Config{Addrs: []string{addr}})
}

func newStoreFor(t testing.TB, cfg *redisclient.Config) *Redis {
	t.Helper()
	if err := cfg.Validate(nil, "redis"); err != nil {
		t.Fatal(err)
	}
	c, err := redisclient.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	s := NewRedis(c, nil)
	t.Cleanup(func() { s.Close() })
	return s
}

func apply(t *testing.T, s Store, mode Mode, reqs ...Request) Result {
	t.Helper()
	res, err := s.Apply(context.Background(), mode, reqs)
	if err != nil {
		t.Fatalf("%s %v: %v", mode, reqs, err)
	}
	return res
}

var hourly5 = Rate{Count: 5, Period: time.Hour, Burst: 5}

// near reports whether d is within tol of want.
func near(d, want, tol time.Duration) bool { return d >= want-tol && d <= want+tol }

// TestStoreTable runs the same cases against every store: the in-process
// limiter must decide exactly as the Redis one does.
func TestStoreTable(t *testing.T) {
	cases := []struct {
		name string
		run  func(t *testing.T, s Store)
	}{
		{"burst then refuse", func(t *testing.T, s Store) {
			r := Request{Key: tk("burst"), Rate: hourly5, Cost: 1}
			for i := range 5 {
				res := apply(t, s, Take, r)
				if !res.Allowed || res.Keys[0].Remaining != 4-i {
					t.Fatalf("take %d: %+v, want allowed with %d left", i+1, res, 4-i)
				}
			}
			res := apply(t, s, Take, r)
			if res.Allowed || res.Keys[0].Allowed {
				t.Fatalf("sixth take allowed: %+v", res)
			}
			// One unit drains every 12 minutes.
			if k := res.Keys[0]; !near(k.RetryAfter, 12*time.Minute, time.Second) || k.Remaining != 0 || !near(k.ResetAfter, time.Hour, time.Second) {
				t.Fatalf("refusal: %+v, want retry 12m, reset 1h, 0 left", k)
			}
			if res.RetryAfter() != res.Keys[0].RetryAfter {
				t.Fatalf("Result.RetryAfter %s", res.RetryAfter())
			}
		}},
		{"all or nothing", func(t *testing.T, s Store) {
			full := Request{Key: tk("full"), Rate: Rate{Count: 1, Period: time.Hour, Burst: 1}, Cost: 1}
			room := Request{Key: tk("room"), Rate: hourly5, Cost: 1}
			apply(t, s, Take, full)
			res := apply(t, s, Take, room, full)
			if res.Allowed || !res.Keys[0].Allowed || res.Keys[1].Allowed {
				t.Fatalf("take with one full key: %+v", res)
			}
			if got := apply(t, s, Peek, room).Keys[0].Remaining; got != 4 {
				t.Fatalf("the refused call charged the other key: %d left after one more, want 4", got)
			}
		}},
		{"peek changes nothing", func(t *testing.T, s Store) {
			r := Request{Key: tk("peek"), Rate: hourly5, Cost: 1}
			for range 10 {
				if res := apply(t, s, Peek, r); !res.Allowed || res.Keys[0].Remaining != 4 {
					t.Fatalf("peek: %+v", res)
				}
			}
			if res := apply(t, s, Take, r); res.Keys[0].Remaining != 4 {
				t.Fatalf("take after peeks: %+v", res)
			}
		}},
		{"refund", func(t *testing.T, s Store) {
			r := Request{Key: tk("refund"), Rate: hourly5, Cost: 1}
			for range 5 {
				apply(t, s, Take, r)
			}
			back := r
			back.Cost = 2
			if res := apply(t, s, Refund, back); !res.Allowed || res.Keys[0].Remaining != 2 {
				t.Fatalf("refund: %+v", res)
			}
			back.Cost = 10 // more than was charged: the level stops at zero
			if res := apply(t, s, Refund, back); res.Keys[0].Remaining != 5 || res.Keys[0].ResetAfter != 0 {
				t.Fatalf("over-refund: %+v", res)
			}
			for i := range 5 {
				if !apply(t, s, Take, r).Allowed {
					t.Fatalf("take %d after full refund refused", i+1)
				}
			}
		}},
		{"cost", func(t *testing.T, s Store) {
			r := Request{Key: tk("cost"), Rate: hourly5, Cost: 3}
			if res := apply(t, s, Take, r); !res.Allowed || res.Keys[0].Remaining != 2 {
				t.Fatalf("cost 3: %+v", res)
			}
			res := apply(t, s, Take, r)
			// 3 used + 3 asked - 5 burst = 1 unit to drain: 12 minutes.
			if res.Allowed || !near(res.Keys[0].RetryAfter, 12*time.Minute, time.Second) {
				t.Fatalf("second cost 3: %+v", res)
			}
			r.Cost = 2
			if !apply(t, s, Take, r).Allowed {
				t.Fatalf("cost 2 into the last 2 refused")
			}
		}},
		{"rate change keeps the count", func(t *testing.T, s Store) {
			r := Request{Key: tk("change"), Rate: hourly5, Cost: 1}
			for range 3 {
				apply(t, s, Take, r)
			}
			r.Rate = Rate{Count: 10, Period: time.Hour, Burst: 10}
			if res := apply(t, s, Peek, r); res.Keys[0].Remaining != 6 {
				t.Fatalf("after raising the rate: %+v, want 6 left (3 used of 10, 1 asked)", res)
			}
		}},
		{"drains with time", func(t *testing.T, s Store) {
			r := Request{Key: tk("drain"), Rate: Rate{Count: 10, Period: time.Second, Burst: 2}, Cost: 1}
			apply(t, s, Take, r)
			apply(t, s, Take, r)
			res := apply(t, s, Take, r)
			if res.Allowed || res.Keys[0].RetryAfter <= 0 || res.Keys[0].RetryAfter > 100*time.Millisecond {
				t.Fatalf("third take: %+v, want refused with retry within 100ms", res)
			}
			time.Sleep(res.Keys[0].RetryAfter + 20*time.Millisecond)
			if !apply(t, s, Take, r).Allowed {
				t.Fatalf("take after the retry time refused")
			}
			time.Sleep(250 * time.Millisecond) // the whole burst drains in 200ms
			for i := range 2 {
				if !apply(t, s, Take, r).Allowed {
					t.Fatalf("take %d after draining refused", i+1)
				}
			}
		}},
		{"bad request", func(t *testing.T, s Store) {
			for _, r := range []Request{{Key: "", Rate: hourly5, Cost: 1}, {Key: "k", Rate: Rate{}, Cost: 1}, {Key: "k", Rate: hourly5, Cost: -1}} {
				if _, err := s.Apply(context.Background(), Take, []Request{r}); !errors.Is(err, ErrBadRequest) {
					t.Errorf("%+v: err %v, want ErrBadRequest", r, err)
				}
			}
		}},
	}
	for name, mk := range testStores(t, true) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s := mk(t)
			for _, c := range cases {
				t.Run(c.name, func(t *testing.T) { c.run(t, s) })
			}
		})
	}
}

// TestStoreConcurrentExact hammers one key from many goroutines (and, for
// Redis, from two clients standing for two Mamori instances): exactly the
// burst gets through.
func TestStoreConcurrentExact(t *testing.T) {
	for name, mk := range testStores(t, true) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			stores := []Store{mk(t)}
			if name == "redis" {
				srv := harness.StartRedis(t, harness.RedisOptions{})
				stores = []Store{newRedisStore(t, srv.Addr), newRedisStore(t, srv.Addr)}
			}
			rate := Rate{Count: 50, Period: time.Hour, Burst: 50}
			var allowed atomic.Int64
			var wg sync.WaitGroup
			for g := range 20 {
				wg.Go(func() {
					s := stores[g%len(stores)]
					for range 10 {
						res, err := s.Apply(context.Background(), Take, []Request{
							{Key: tk("exact"), Rate: rate, Cost: 1},
							{Key: tk(fmt.Sprintf("client%d", g)), Rate: rate, Cost: 1},
						})
						if err != nil {
							t.Error(err)
							return
						}
						if res.Allowed {
							allowed.Add(1)
						}
					}
				})
			}
			wg.Wait()
			if n := allowed.Load(); n != 50 {
				t.Fatalf("%d of 200 allowed, want exactly 50", n)
			}
		})
	}
}

// TestRedisKeysHaveTTL: every key written expires when its bucket would be
// empty, so Redis never fills with forgotten keys.
func TestRedisKeysHaveTTL(t *testing.T) {
	srv := harness.StartRedis(t, harness.RedisOptions{})
	s := newRedisStore(t, srv.Addr)
	apply(t, s, Take, Request{Key: "mamori:{ratelimit}:a:x", Rate: hourly5, Cost: 2})
	apply(t, s, Take, Request{Key: "mamori:{ratelimit}:b:y", Rate: Rate{Count: 100, Period: 24 * time.Hour, Burst: 100}, Cost: 1})
	for key, want := range map[string]time.Duration{"mamori:{ratelimit}:a:x": 24 * time.Minute, "mamori:{ratelimit}:b:y": 864 * time.Second} {
		if ttl := srv.TTL(t, key); !near(ttl, want, 2*time.Second) {
			t.Errorf("%s: TTL %s, want %s", key, ttl, want)
		}
	}
	apply(t, s, Refund, Request{Key: "mamori:{ratelimit}:a:x", Rate: hourly5, Cost: 2})
	if keys := srv.Keys(t, "*"); strings.Join(keys, ",") != "mamori:{ratelimit}:b:y" {
		t.Errorf("keys after refunding a:x to zero: %v", keys)
	}
}

// TestRedisDownAndBack: a dead Redis is an error at once (not a hang), a
// known-dead Redis is not asked again until the probe interval passed, and
// the store works again when Redis is back, without a new client.
func TestRedisDownAndBack(t *testing.T) {
	srv := harness.StartRedis(t, harness.RedisOptions{})
	s := newRedisStore(t, srv.Addr)
	r := Request{Key: tk("down"), Rate: hourly5, Cost: 1}
	apply(t, s, Take, r)
	srv.Kill()
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	t0 := time.Now()
	if _, err := s.Apply(ctx, Take, []Request{r}); err == nil {
		t.Fatal("Apply with Redis killed succeeded")
	}
	if d := time.Since(t0); d > 300*time.Millisecond {
		t.Errorf("refused connection took %s", d)
	}
	if _, err := s.Apply(ctx, Take, []Request{r}); !errors.Is(err, ErrDown) {
		t.Errorf("second call while down: %v, want ErrDown without asking", err)
	}
	srv.Start(t)
	time.Sleep(probeEvery + 50*time.Millisecond)
	res := apply(t, s, Take, r)
	if !res.Allowed || res.Keys[0].Remaining != 4 {
		// The restarted Redis kept nothing (no persistence): a fresh bucket.
		t.Fatalf("after restart: %+v", res)
	}
}

// TestRedisHungTimesOut: a Redis that accepts but never answers (stopped
// with SIGSTOP) costs one timeout, then fails fast until it answers again.
func TestRedisHungTimesOut(t *testing.T) {
	srv := harness.StartRedis(t, harness.RedisOptions{})
	s := newRedisStore(t, srv.Addr)
	r := Request{Key: tk("hung"), Rate: hourly5, Cost: 1}
	apply(t, s, Take, r)
	srv.Pause(t)
	defer srv.Resume(t)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	t0 := time.Now()
	if _, err := s.Apply(ctx, Take, []Request{r}); err == nil {
		t.Fatal("Apply on a hung Redis succeeded")
	}
	if d := time.Since(t0); d > 400*time.Millisecond {
		t.Errorf("hung Redis held the call %s; the deadline was 200ms", d)
	}
	t0 = time.Now()
	if _, err := s.Apply(context.Background(), Take, []Request{r}); !errors.Is(err, ErrDown) || time.Since(t0) > 10*time.Millisecond {
		t.Errorf("next call: %v after %s, want ErrDown at once", err, time.Since(t0))
	}
	srv.Resume(t)
	time.Sleep(probeEvery + 50*time.Millisecond)
	if res := apply(t, s, Take, r); !res.Allowed {
		t.Fatalf("after resume: %+v", res)
	}
}

// TestMemoryMaxKeys: a flood of distinct keys cannot grow the in-process
// store past its bound.
func TestMemoryMaxKeys(t *testing.T) {
	m := NewMemory(1000)
	for i := range 5000 {
		apply(t, m, Take, Request{Key: fmt.Sprintf("k%d", i), Rate: hourly5, Cost: 1})
	}
	if n := m.Len(); n > 1000 {
		t.Fatalf("%d keys held, bound 1000", n)
	}
}

// TestMemoryDropsDrained: drained buckets are swept, like expiring keys.
func TestMemoryDropsDrained(t *testing.T) {
	m := NewMemory(0)
	now := time.Now().UnixMicro()
	m.now = func() int64 { return now }
	for i := range 100 {
		apply(t, m, Take, Request{Key: fmt.Sprintf("k%d", i), Rate: Rate{Count: 60, Period: time.Minute, Burst: 60}, Cost: 1})
	}
	now += 2 * gcEvery
	apply(t, m, Take, Request{Key: "fresh", Rate: hourly5, Cost: 1})
	if n := m.Len(); n != 1 {
		t.Fatalf("%d keys after every other bucket drained, want 1", n)
	}
}

// TestStoresAgree drives the in-process store and Redis with the same
// random sequence of calls (take, peek, refund; several keys per call;
// costs and rates that change between calls) and requires the same answer
// from both every time. Periods are long, so the microseconds between the
// two calls cannot change a whole unit.
func TestStoresAgree(t *testing.T) {
	mem := NewMemory(0)
	red := newRedisStore(t, harness.StartRedis(t, harness.RedisOptions{}).Addr)
	rng := rand.New(rand.NewPCG(4, 2))
	keys := []string{tk("a"), tk("b"), tk("c"), tk("d")}
	rates := []Rate{
		{Count: 5, Period: time.Hour, Burst: 5},
		{Count: 10, Period: time.Hour, Burst: 3},
		{Count: 50, Period: 24 * time.Hour, Burst: 50},
		{Count: 2, Period: time.Hour, Burst: 7},
	}
	for i := range 3000 {
		mode := []Mode{Take, Take, Take, Peek, Refund}[rng.IntN(5)]
		perm := rng.Perm(len(keys))[:1+rng.IntN(len(keys))]
		var reqs []Request
		for _, k := range perm {
			reqs = append(reqs, Request{Key: keys[k], Rate: rates[rng.IntN(len(rates))], Cost: rng.IntN(4)})
		}
		a, err := mem.Apply(context.Background(), mode, reqs)
		if err != nil {
			t.Fatal(err)
		}
		b, err := red.Apply(context.Background(), mode, reqs)
		if err != nil {
			t.Fatal(err)
		}
		if a.Allowed != b.Allowed {
			t.Fatalf("call %d %s %+v: memory allowed=%v, redis allowed=%v", i, mode, reqs, a.Allowed, b.Allowed)
		}
		for j := range reqs {
			x, y := a.Keys[j], b.Keys[j]
			if x.Allowed != y.Allowed || x.Remaining != y.Remaining ||
				!near(x.RetryAfter, y.RetryAfter, time.Second) || !near(x.ResetAfter, y.ResetAfter, time.Second) {
				t.Fatalf("call %d %s %+v key %d: memory %+v, redis %+v", i, mode, reqs, j, x, y)
			}
		}
	}
}
