package bayes

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mamori-mail/mamori/integration/harness"
	"github.com/redis/go-redis/v9"
)

// newTestRedis returns a store on srv with prefix, closed when the test
// ends.
func newTestRedis(t *testing.T, srv *harness.Redis, prefix string) *Redis {
	t.Helper()
	s := NewRedis(redis.NewClient(&redis.Options{Addr: srv.Addr, DialTimeout: time.Second, DialerRetries: 1, MaxRetries: -1}), prefix)
	t.Cleanup(func() { s.Close() })
	return s
}

// sharedMessages returns n messages of alternating class, each with two
// tokens all share, one a seventh share and one of its own.
func sharedMessages(n int) []Learning {
	ls := make([]Learning, n)
	for i := range ls {
		cl := Ham
		if i%2 == 0 {
			cl = Spam
		}
		ls[i] = msg(Hash(i), cl, 1, 2, Hash(100+i%7), Hash(1000+i))
	}
	return ls
}

// TestRedisTwoLearners: two instances learn overlapping sets of messages at
// once, each message once per instance; the database ends as if one learner
// had learned each message once.
func TestRedisTwoLearners(t *testing.T) {
	ctx := context.Background()
	srv := harness.StartRedis(t, harness.RedisOptions{})
	a, b := newTestRedis(t, srv, "mamori:"), newTestRedis(t, srv, "mamori:")
	const n, batch = 400, 10
	all := sharedMessages(n)

	var wg sync.WaitGroup
	var mu sync.Mutex
	changed := make(map[Hash]int)
	learnAll := func(s Store, ls []Learning, reverse bool) {
		for i := 0; i < len(ls); i += batch {
			chunk := ls[i:min(i+batch, len(ls))]
			if reverse {
				chunk = ls[max(len(ls)-i-batch, 0) : len(ls)-i]
			}
			res, err := s.Learn(ctx, ts(100), chunk)
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			for j, c := range res {
				if c {
					changed[chunk[j].ID]++
				}
			}
			mu.Unlock()
		}
	}
	// a learns the first three quarters, b the last three, from the end,
	// so that they meet in the middle half both learn.
	wg.Go(func() { learnAll(a, all[:3*n/4], false) })
	wg.Go(func() { learnAll(b, all[n/4:], true) })
	wg.Wait()
	if t.Failed() {
		return
	}
	for _, l := range all {
		if changed[l.ID] != 1 {
			t.Errorf("message %d changed the store %d times, want once", l.ID, changed[l.ID])
		}
	}

	ref := NewMemory()
	if _, err := ref.Learn(ctx, ts(100), all); err != nil {
		t.Fatal(err)
	}
	toks := []Hash{1, 2, 3}
	for i := range n {
		toks = append(toks, Hash(100+i%7), Hash(1000+i))
	}
	wantTotals, wantCounts, _ := ref.Get(ctx, toks)
	wantStats, _ := ref.Stats(ctx)
	for _, s := range []*Redis{a, b} {
		totals, counts, err := s.Get(ctx, toks)
		if err != nil {
			t.Fatal(err)
		}
		if totals != wantTotals {
			t.Errorf("totals %+v, want %+v", totals, wantTotals)
		}
		for i := range toks {
			if counts[i] != wantCounts[i] {
				t.Errorf("token %d: %+v, want %+v", toks[i], counts[i], wantCounts[i])
			}
		}
		if st, err := s.Stats(ctx); err != nil || st != wantStats {
			t.Errorf("stats %+v, %v; want %+v", st, err, wantStats)
		}
	}

	// Both unlearn everything at once: each message is taken back once
	// and the database ends empty, totals included.
	unlearn := make([]Learning, n)
	for i, l := range all {
		unlearn[i] = Learning{ID: l.ID, Class: None, Tokens: l.Tokens}
	}
	clear(changed)
	wg.Go(func() { learnAll(a, unlearn, false) })
	wg.Go(func() { learnAll(b, unlearn, true) })
	wg.Wait()
	if st, err := a.Stats(ctx); err != nil || st != (Stats{}) {
		t.Errorf("after unlearning: stats %+v, %v; want zero", st, err)
	}
	if keys := srv.Keys(t, "mamori:{bayes}:[tl]:*"); len(keys) != 0 {
		t.Errorf("after unlearning %d token or record keys are left, e.g. %s", len(keys), keys[0])
	}
}

// TestRedisKilled: with Redis gone every call fails with an error, and
// none returns counts; once Redis is back the store works again.
func TestRedisKilled(t *testing.T) {
	ctx := context.Background()
	srv := harness.StartRedis(t, harness.RedisOptions{})
	s := newTestRedis(t, srv, "mamori:")
	if _, err := s.Learn(ctx, ts(100), []Learning{msg(1, Spam, 10, 11)}); err != nil {
		t.Fatal(err)
	}
	srv.Kill()

	totals, counts, err := s.Get(ctx, []Hash{10, 11})
	if err == nil || counts != nil || totals != (Totals{}) {
		t.Errorf("Get: %+v %+v %v; want an error and nothing else", totals, counts, err)
	} else if errors.Is(err, ErrClosed) || errors.Is(err, ErrFormat) || !strings.HasPrefix(err.Error(), "bayes: ") {
		t.Errorf("Get error %q: want a wrapped Redis error", err)
	}
	if changed, err := s.Learn(ctx, ts(200), []Learning{msg(2, Ham, 10)}); err == nil || changed != nil {
		t.Errorf("Learn: %v %v; want an error", changed, err)
	}
	if cl, err := s.Learned(ctx, 1); err == nil || cl != None {
		t.Errorf("Learned: %v %v; want an error", cl, err)
	}
	if err := s.Touch(ctx, ts(200), []Hash{10}); err == nil {
		t.Error("Touch: no error")
	}
	if _, err := s.Expire(ctx, ExpireOptions{Before: ts(200)}); err == nil {
		t.Error("Expire: no error")
	}
	if st, err := s.Stats(ctx); err == nil || st != (Stats{}) {
		t.Errorf("Stats: %+v %v; want an error", st, err)
	}

	// The server comes back empty (no persistence); the same store learns.
	srv.Start(t)
	if _, err := s.Learn(ctx, ts(300), []Learning{msg(2, Ham, 10)}); err != nil {
		t.Fatalf("Learn after restart: %v", err)
	}
	if st, err := s.Stats(ctx); err != nil || st != (Stats{Totals: Totals{Ham: 1}, Tokens: 1, Learned: 1}) {
		t.Errorf("Stats after restart: %+v %v", st, err)
	}
}

// TestRedisPrefix: stores with other prefixes on one server do not see one
// another, also in Expire, whose SCAN pattern quotes the prefix.
func TestRedisPrefix(t *testing.T) {
	ctx := context.Background()
	srv := harness.StartRedis(t, harness.RedisOptions{})
	star, plain := newTestRedis(t, srv, "a*"), newTestRedis(t, srv, "ab")
	if _, err := star.Learn(ctx, ts(100), []Learning{msg(1, Spam, 10)}); err != nil {
		t.Fatal(err)
	}
	if _, err := plain.Learn(ctx, ts(100), []Learning{msg(1, Ham, 10, 11)}); err != nil {
		t.Fatal(err)
	}
	if r, err := star.Expire(ctx, ExpireOptions{Before: ts(200), LearnedBefore: ts(200)}); err != nil || r != (ExpireResult{Tokens: 1, Learned: 1}) {
		t.Errorf("expire: %+v %v", r, err)
	}
	if st, err := plain.Stats(ctx); err != nil || st != (Stats{Totals: Totals{Ham: 1}, Tokens: 2, Learned: 1}) {
		t.Errorf("other prefix: stats %+v %v", st, err)
	}
	if cl, err := plain.Learned(ctx, 1); err != nil || cl != Ham {
		t.Errorf("other prefix: learned %v %v", cl, err)
	}
	for _, k := range srv.Keys(t, "*") {
		if !strings.HasPrefix(k, "a*{bayes}:") && !strings.HasPrefix(k, "ab{bayes}:") {
			t.Errorf("key %q outside the prefixes", k)
		}
	}
}

// TestRedisExpirePages expires more tokens than one SCAN page holds.
func TestRedisExpirePages(t *testing.T) {
	ctx := context.Background()
	srv := harness.StartRedis(t, harness.RedisOptions{})
	s := newTestRedis(t, srv, "")
	const n = 5*redisScanCount + 17
	toks := make([]Hash, n)
	for i := range toks {
		toks[i] = Hash(i) << 40 // keys that differ in their first hex digits
	}
	if _, err := s.Learn(ctx, ts(100), []Learning{msg(1, Spam, toks[:n/2]...)}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Learn(ctx, ts(300), []Learning{msg(2, Spam, toks[n/2:]...)}); err != nil {
		t.Fatal(err)
	}
	r, err := s.Expire(ctx, ExpireOptions{Before: ts(200)})
	if err != nil || r.Tokens != n/2 {
		t.Fatalf("expire: %+v, %v; want %d tokens", r, err, n/2)
	}
	st, _ := s.Stats(ctx)
	if st.Tokens != n-n/2 {
		t.Errorf("%d tokens left, want %d", st.Tokens, n-n/2)
	}
	_, counts, err := s.Get(ctx, toks)
	if err != nil {
		t.Fatal(err)
	}
	for i, c := range counts {
		if (i < n/2) != c.empty() {
			t.Fatalf("token %d: %+v", i, c)
		}
	}
}

// TestRedisFormat: a database of another format version is refused.
func TestRedisFormat(t *testing.T) {
	ctx := context.Background()
	srv := harness.StartRedis(t, harness.RedisOptions{})
	s := newTestRedis(t, srv, "x:")
	srv.Do(t, "HSET", "x:{bayes}:n", "version", "99")
	if _, _, err := s.Get(ctx, []Hash{1}); !errors.Is(err, ErrFormat) {
		t.Errorf("Get: %v, want ErrFormat", err)
	}
	if _, err := s.Learn(ctx, ts(1), []Learning{msg(1, Spam, 1)}); !errors.Is(err, ErrFormat) {
		t.Errorf("Learn: %v, want ErrFormat", err)
	}
	if _, err := s.Stats(ctx); !errors.Is(err, ErrFormat) {
		t.Errorf("Stats: %v, want ErrFormat", err)
	}
	if got := srv.Do(t, "EXISTS", "x:{bayes}:t:0000000000000001"); got != "0" {
		t.Errorf("Learn wrote a token into a foreign database: EXISTS %s", got)
	}
}
