package ratelimit

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/go-redis/redis_rate/v10"
	"github.com/mamori-mail/mamori/integration/harness"
	"github.com/redis/go-redis/v9"
)

// BenchmarkDecide measures whole decisions (a message's three limits in
// one store call, keys built from the message's facts) against the
// in-process store and a local redis-server, at concurrency 1 and 16, in
// one run so that the figures compare. It reports decisions per second and
// the p50 and p99 latency of one decision.
//
//	go test -run '^$' -bench BenchmarkDecide -benchtime 20000x ./reputation/ratelimit/
func BenchmarkDecide(b *testing.B) {
	srv := harness.StartRedis(b, harness.RedisOptions{})
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr})
	b.Cleanup(func() { rdb.Close() })
	stores := []struct {
		name string
		s    Store
	}{
		{"memory", NewMemory(0)},
		{"redis", newRedisStore(b, srv.Addr)},
		// The baseline a library would give: redis_rate, one call per limit.
		{"redis_rate", &redisRateStore{redis_rate.NewLimiter(rdb)}},
	}
	cfg := `
limits:
  - {name: sender, key: sender, rate: 1000000, period: 1h}
  - {name: user, key: user, rate: 1000000, period: 1h}
  - {name: ip, key: client_ip, rate: 1000000, period: 1h}
`
	for _, st := range stores {
		for _, conc := range []int{1, 16} {
			b.Run(fmt.Sprintf("%s/c%d", st.name, conc), func(b *testing.B) {
				lim := buildOn(b, cfg, st.s).lim
				// 10,000 senders from 1,000 addresses: keys repeat, as in
				// real traffic, and the store holds many.
				plans := make([][]Planned, 10000)
				for i := range plans {
					f := Facts{Sender: fmt.Sprintf("user%d@example.com", i), User: fmt.Sprintf("user%d", i),
						ClientIP: netip.AddrFrom4([4]byte{198, 51, byte(i / 250), byte(i % 250)})}
					plans[i] = lim.Plan(f, Messages, 1)
				}
				lat := make([][]time.Duration, conc)
				b.ResetTimer()
				t0 := time.Now()
				var wg sync.WaitGroup
				for g := range conc {
					n := b.N / conc
					if g < b.N%conc {
						n++
					}
					lat[g] = make([]time.Duration, 0, n)
					wg.Go(func() {
						ctx := context.Background()
						for i := range n {
							s := time.Now()
							ok, _, err := lim.Decide(ctx, Take, plans[(g*7919+i)%len(plans)])
							if err != nil || !ok {
								b.Errorf("decision: %v %v", ok, err)
								return
							}
							lat[g] = append(lat[g], time.Since(s))
						}
					})
				}
				wg.Wait()
				elapsed := time.Since(t0)
				b.StopTimer()
				all := slices.Concat(lat...)
				slices.Sort(all)
				if len(all) == 0 {
					return
				}
				b.ReportMetric(float64(len(all))/elapsed.Seconds(), "decisions/s")
				b.ReportMetric(float64(all[len(all)/2].Microseconds()), "p50-µs")
				b.ReportMetric(float64(all[len(all)*99/100].Microseconds()), "p99-µs")
			})
		}
	}
}

// redisRateStore decides each request with its own redis_rate call, as a
// caller of that library must (not all-or-nothing: for comparison only).
type redisRateStore struct{ l *redis_rate.Limiter }

func (s *redisRateStore) Backend() string { return "redis_rate" }
func (s *redisRateStore) Close() error    { return nil }
func (s *redisRateStore) Apply(ctx context.Context, _ Mode, reqs []Request) (Result, error) {
	res := Result{Allowed: true, Keys: make([]KeyResult, len(reqs))}
	for i, r := range reqs {
		x, err := s.l.AllowN(ctx, r.Key, redis_rate.Limit{Rate: r.Rate.Count, Burst: r.Rate.Burst, Period: r.Rate.Period}, r.Cost)
		if err != nil {
			return Result{}, err
		}
		res.Keys[i] = KeyResult{Allowed: x.Allowed > 0, Remaining: x.Remaining}
		res.Allowed = res.Allowed && x.Allowed > 0
	}
	return res, nil
}
