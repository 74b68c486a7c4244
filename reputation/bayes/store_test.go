package bayes

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/mamori-mail/mamori/integration/harness"
	"github.com/mamori-mail/mamori/internal/redisclient"
	"github.com/redis/go-redis/v9"
	bolt "go.etcd.io/bbolt"
)

// testStores returns the stores the shared table runs against; a Redis
// store joins here.
func testStores() map[string]func(t *testing.T) Store {
	return map[string]func(t *testing.T) Store{
		"memory": func(t *testing.T) Store { return NewMemory() },
		"bolt": func(t *testing.T) Store {
			s, err := OpenBolt(filepath.Join(t.TempDir(), "bayes.db"), BoltOptions{NoSync: true})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		},
		"redis": func(t *testing.T) Store {
			srv := harness.StartRedis(t, harness.RedisOptions{})
			s := NewRedis(redis.NewClient(&redis.Options{Addr: srv.Addr}), "test:")
			t.Cleanup(func() { s.Close() })
			return s
		},
	}
}

// op is one store call of a script and what it must return.
type op struct {
	at      int64 // now, Unix seconds
	learn   []Learning
	changed []bool
	err     error // of learn
	touch   []Hash
	expire  *ExpireOptions
	removed ExpireResult
}

func learn(at int64, changed []bool, ls ...Learning) op {
	return op{at: at, learn: ls, changed: changed}
}

func msg(id Hash, cl Class, toks ...Hash) Learning {
	return Learning{ID: id, Class: cl, Tokens: toks}
}

func yes(n int) []bool {
	b := make([]bool, n)
	for i := range b {
		b[i] = true
	}
	return b
}

func ts(sec int64) time.Time { return time.Unix(sec, 0) }

type storeCase struct {
	name    string
	ops     []op
	counts  map[Hash]Counts // Get of these tokens
	learned map[Hash]Class
	stats   Stats
}

// storeCases is the table every store must pass: a script of calls, then
// the state it must be in.
var storeCases = []storeCase{
	{
		name:    "learn one spam",
		ops:     []op{learn(100, yes(1), msg(1, Spam, 10, 11, 12))},
		counts:  map[Hash]Counts{10: {1, 0, 100}, 12: {1, 0, 100}, 13: {}},
		learned: map[Hash]Class{1: Spam, 2: None},
		stats:   Stats{Totals: Totals{Spam: 1}, Tokens: 3, Learned: 1},
	},
	{
		name: "learning again as the same class counts once",
		ops: []op{
			learn(100, yes(1), msg(1, Ham, 10, 11)),
			learn(200, []bool{false}, msg(1, Ham, 10, 11)),
		},
		counts:  map[Hash]Counts{10: {0, 1, 100}},
		learned: map[Hash]Class{1: Ham},
		stats:   Stats{Totals: Totals{Ham: 1}, Tokens: 2, Learned: 1},
	},
	{
		name:    "same message twice in one batch",
		ops:     []op{learn(100, []bool{true, false}, msg(1, Spam, 10), msg(1, Spam, 10))},
		counts:  map[Hash]Counts{10: {1, 0, 100}},
		learned: map[Hash]Class{1: Spam},
		stats:   Stats{Totals: Totals{Spam: 1}, Tokens: 1, Learned: 1},
	},
	{
		name: "learning as the other class moves the message",
		ops: []op{
			learn(100, yes(1), msg(1, Spam, 10, 11)),
			learn(100, yes(1), msg(2, Spam, 11)),
			learn(200, yes(1), msg(1, Ham, 10, 11)),
		},
		counts:  map[Hash]Counts{10: {0, 1, 200}, 11: {1, 1, 200}},
		learned: map[Hash]Class{1: Ham, 2: Spam},
		stats:   Stats{Totals: Totals{Spam: 1, Ham: 1}, Tokens: 2, Learned: 2},
	},
	{
		name: "unlearn removes counts, empty tokens and the record",
		ops: []op{
			learn(100, yes(2), msg(1, Spam, 10, 11), msg(2, Ham, 11, 12)),
			learn(200, yes(1), msg(1, None, 10, 11)),
		},
		counts:  map[Hash]Counts{10: {}, 11: {0, 1, 100}, 12: {0, 1, 100}},
		learned: map[Hash]Class{1: None, 2: Ham},
		stats:   Stats{Totals: Totals{Ham: 1}, Tokens: 2, Learned: 1},
	},
	{
		name:    "unlearning an unknown message changes nothing",
		ops:     []op{learn(100, []bool{false}, msg(1, None, 10))},
		counts:  map[Hash]Counts{10: {}},
		learned: map[Hash]Class{1: None},
		stats:   Stats{},
	},
	{
		name: "last seen only moves forward",
		ops: []op{
			learn(200, yes(1), msg(1, Spam, 10)),
			learn(100, yes(1), msg(2, Spam, 10, 11)),
		},
		counts: map[Hash]Counts{10: {2, 0, 200}, 11: {1, 0, 100}},
		stats:  Stats{Totals: Totals{Spam: 2}, Tokens: 2, Learned: 2},
	},
	{
		name: "touch updates known tokens only",
		ops: []op{
			learn(100, yes(1), msg(1, Ham, 10, 11)),
			{at: 300, touch: []Hash{10, 99}},
			{at: 50, touch: []Hash{11}},
		},
		counts: map[Hash]Counts{10: {0, 1, 300}, 11: {0, 1, 100}, 99: {}},
		stats:  Stats{Totals: Totals{Ham: 1}, Tokens: 2, Learned: 1},
	},
	{
		name: "expire removes old rare tokens, keeps totals",
		ops: []op{
			learn(100, yes(2), msg(1, Spam, 10, 11), msg(2, Ham, 11, 12)),
			learn(500, yes(1), msg(3, Spam, 13)),
			{expire: &ExpireOptions{Before: ts(200), MaxCount: 1}, removed: ExpireResult{Tokens: 2}},
		},
		counts:  map[Hash]Counts{10: {}, 11: {1, 1, 100}, 12: {}, 13: {1, 0, 500}},
		learned: map[Hash]Class{1: Spam, 2: Ham, 3: Spam},
		stats:   Stats{Totals: Totals{Spam: 2, Ham: 1}, Tokens: 2, Learned: 3},
	},
	{
		name: "expire with MaxCount 0 removes old tokens of any count",
		ops: []op{
			learn(100, yes(2), msg(1, Spam, 10, 11), msg(2, Ham, 11, 12)),
			learn(500, yes(1), msg(3, Spam, 13)),
			{expire: &ExpireOptions{Before: ts(200)}, removed: ExpireResult{Tokens: 3}},
		},
		counts: map[Hash]Counts{11: {}, 13: {1, 0, 500}},
		stats:  Stats{Totals: Totals{Spam: 2, Ham: 1}, Tokens: 1, Learned: 3},
	},
	{
		name: "zero ExpireOptions removes nothing",
		ops: []op{
			learn(100, yes(1), msg(1, Spam, 10)),
			{expire: &ExpireOptions{}},
		},
		counts: map[Hash]Counts{10: {1, 0, 100}},
		stats:  Stats{Totals: Totals{Spam: 1}, Tokens: 1, Learned: 1},
	},
	{
		name: "expired learned records count again",
		ops: []op{
			learn(100, yes(1), msg(1, Spam, 10)),
			learn(300, yes(1), msg(2, Spam, 10)),
			{expire: &ExpireOptions{LearnedBefore: ts(200)}, removed: ExpireResult{Learned: 1}},
			learn(400, yes(2), msg(1, Spam, 10), msg(2, Ham, 10)),
		},
		counts:  map[Hash]Counts{10: {2, 1, 400}},
		learned: map[Hash]Class{1: Spam, 2: Ham},
		stats:   Stats{Totals: Totals{Spam: 2, Ham: 1}, Tokens: 1, Learned: 2},
	},
	{
		name: "unlearning after expiry creates no tokens",
		ops: []op{
			learn(100, yes(1), msg(1, Spam, 10, 11)),
			learn(300, yes(1), msg(2, Spam, 11)),
			{expire: &ExpireOptions{Before: ts(200)}, removed: ExpireResult{Tokens: 1}},
			learn(400, yes(1), msg(1, Ham, 10, 11)),
		},
		counts:  map[Hash]Counts{10: {0, 1, 400}, 11: {1, 1, 400}},
		learned: map[Hash]Class{1: Ham, 2: Spam},
		stats:   Stats{Totals: Totals{Spam: 1, Ham: 1}, Tokens: 2, Learned: 2},
	},
	{
		name: "an invalid class fails the whole batch",
		ops: []op{
			{at: 100, learn: []Learning{msg(1, Spam, 10), msg(2, Class(7), 11)}, err: ErrBadClass},
		},
		counts:  map[Hash]Counts{10: {}, 11: {}},
		learned: map[Hash]Class{1: None},
		stats:   Stats{},
	},
	{
		name:  "empty batch",
		ops:   []op{learn(100, []bool{})},
		stats: Stats{},
	},
}

// TestStoreTable runs the same scripts against every store: they must end
// in the same state.
func TestStoreTable(t *testing.T) {
	for name, open := range testStores() {
		t.Run(name, func(t *testing.T) {
			for _, tc := range storeCases {
				t.Run(tc.name, func(t *testing.T) { runStoreCase(t, open(t), tc) })
			}
		})
	}
}

// TestStoreTableRedisTopologies runs the same scripts against Redis
// behind a Sentinel and on a three-node Redis Cluster, reached through
// the redis section an operator writes (internal/redisclient): every key
// and script of a store carries the {bayes} hash tag, so each Lua call
// touches one slot, and Expire's SCAN finds the keys on whichever node
// holds it. One server each; every case its own key prefix.
func TestStoreTableRedisTopologies(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a Sentinel and a Redis Cluster")
	}
	topologies := map[string]func(t *testing.T) *redisclient.Config{
		"sentinel": func(t *testing.T) *redisclient.Config {
			srv := harness.StartRedis(t, harness.RedisOptions{})
			sn := harness.StartRedisSentinel(t, srv, "mamori")
			return &redisclient.Config{Addrs: []string{sn.Addr}, MasterName: "mamori"}
		},
		"cluster": func(t *testing.T) *redisclient.Config {
			cl := harness.StartRedisCluster(t, 3)
			return &redisclient.Config{Mode: redisclient.Cluster, Addrs: cl.Addrs[:1]}
		},
	}
	for name, start := range topologies {
		t.Run(name, func(t *testing.T) {
			cfg := start(t)
			if err := cfg.Validate(nil, "redis"); err != nil {
				t.Fatal(err)
			}
			for i, tc := range storeCases {
				t.Run(tc.name, func(t *testing.T) {
					client, err := redisclient.New(cfg)
					if err != nil {
						t.Fatal(err)
					}
					s := NewRedis(client, fmt.Sprintf("case%d:", i))
					defer s.Close()
					runStoreCase(t, s, tc)
				})
			}
		})
	}
}

// runStoreCase runs one script of storeCases on s and checks the state it
// ends in.
func runStoreCase(t *testing.T, s Store, tc storeCase) {
	ctx := context.Background()
	for i, o := range tc.ops {
		switch {
		case o.touch != nil:
			if err := s.Touch(ctx, ts(o.at), o.touch); err != nil {
				t.Fatalf("op %d: touch: %v", i, err)
			}
		case o.expire != nil:
			r, err := s.Expire(ctx, *o.expire)
			if err != nil || r != o.removed {
				t.Fatalf("op %d: expire = %+v, %v; want %+v", i, r, err, o.removed)
			}
		default:
			changed, err := s.Learn(ctx, ts(o.at), o.learn)
			if !errors.Is(err, o.err) {
				t.Fatalf("op %d: learn error %v, want %v", i, err, o.err)
			}
			if err == nil && fmt.Sprint(changed) != fmt.Sprint(o.changed) {
				t.Fatalf("op %d: learn changed %v, want %v", i, changed, o.changed)
			}
		}
	}
	var toks []Hash
	for h := range tc.counts {
		toks = append(toks, h)
	}
	totals, counts, err := s.Get(ctx, toks)
	if err != nil {
		t.Fatal(err)
	}
	if totals != tc.stats.Totals {
		t.Errorf("totals %+v, want %+v", totals, tc.stats.Totals)
	}
	for i, h := range toks {
		if counts[i] != tc.counts[h] {
			t.Errorf("token %d: %+v, want %+v", h, counts[i], tc.counts[h])
		}
	}
	for id, want := range tc.learned {
		if got, err := s.Learned(ctx, id); err != nil || got != want {
			t.Errorf("learned %d = %v, %v; want %v", id, got, err, want)
		}
	}
	if st, err := s.Stats(ctx); err != nil || st != tc.stats {
		t.Errorf("stats %+v, %v; want %+v", st, err, tc.stats)
	}
}

// TestStoreErrors checks what every store does after Close and with a
// cancelled context.
func TestStoreErrors(t *testing.T) {
	for name, open := range testStores() {
		t.Run(name, func(t *testing.T) {
			s := open(t)
			if s.Backend() != name {
				t.Errorf("Backend() = %q", s.Backend())
			}
			cancelled, cancel := context.WithCancel(context.Background())
			cancel()
			if _, _, err := s.Get(cancelled, []Hash{1}); !errors.Is(err, context.Canceled) {
				t.Errorf("Get with cancelled ctx: %v", err)
			}
			if _, err := s.Learn(cancelled, ts(1), []Learning{msg(1, Spam, 1)}); !errors.Is(err, context.Canceled) {
				t.Errorf("Learn with cancelled ctx: %v", err)
			}
			if _, err := s.Expire(cancelled, ExpireOptions{Before: ts(100)}); !errors.Is(err, context.Canceled) {
				t.Errorf("Expire with cancelled ctx: %v", err)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			if _, _, err := s.Get(ctx, []Hash{1}); !errors.Is(err, ErrClosed) {
				t.Errorf("Get after Close: %v", err)
			}
			if _, err := s.Learn(ctx, ts(1), []Learning{msg(1, Spam, 1)}); !errors.Is(err, ErrClosed) {
				t.Errorf("Learn after Close: %v", err)
			}
			if _, err := s.Learned(ctx, 1); !errors.Is(err, ErrClosed) {
				t.Errorf("Learned after Close: %v", err)
			}
			if err := s.Touch(ctx, ts(1), []Hash{1}); !errors.Is(err, ErrClosed) {
				t.Errorf("Touch after Close: %v", err)
			}
			if _, err := s.Expire(ctx, ExpireOptions{Before: ts(100)}); !errors.Is(err, ErrClosed) {
				t.Errorf("Expire after Close: %v", err)
			}
			if _, err := s.Stats(ctx); !errors.Is(err, ErrClosed) {
				t.Errorf("Stats after Close: %v", err)
			}
		})
	}
}

// TestStoreConcurrent learns and reads from many goroutines (run with
// -race); every message is learned once, so the totals are exact.
func TestStoreConcurrent(t *testing.T) {
	ctx := context.Background()
	for name, open := range testStores() {
		t.Run(name, func(t *testing.T) {
			s := open(t)
			const workers, each = 8, 25
			var wg sync.WaitGroup
			for w := range workers {
				wg.Go(func() {
					for i := range each {
						id := Hash(w*each + i)
						cl := Ham
						if i%2 == 0 {
							cl = Spam
						}
						if _, err := s.Learn(ctx, ts(int64(i)), []Learning{msg(id, cl, 1, 2, Hash(1000+id))}); err != nil {
							t.Error(err)
							return
						}
						if _, _, err := s.Get(ctx, []Hash{1, 2, 3}); err != nil {
							t.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
			st, err := s.Stats(ctx)
			if err != nil {
				t.Fatal(err)
			}
			want := Stats{Totals: Totals{Spam: workers * 13, Ham: workers * 12}, Tokens: 2 + workers*each, Learned: workers * each}
			if st != want {
				t.Errorf("stats %+v, want %+v", st, want)
			}
			_, c, _ := s.Get(ctx, []Hash{1})
			if c[0].Spam != workers*13 || c[0].Ham != workers*12 {
				t.Errorf("token 1: %+v", c[0])
			}
		})
	}
}

// TestBoltReopen checks that a Bolt database keeps everything across
// Close and OpenBolt, with fsync on.
func TestBoltReopen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "bayes.db")
	s, err := OpenBolt(path, BoltOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Learn(ctx, ts(100), []Learning{msg(1, Spam, 10, 11), msg(2, Ham, 11)}); err != nil {
		t.Fatal(err)
	}
	if s.Path() != path {
		t.Errorf("Path() = %q", s.Path())
	}
	s.Close()
	s, err = OpenBolt(path, BoltOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	totals, counts, err := s.Get(ctx, []Hash{11})
	if err != nil || totals != (Totals{1, 1}) || counts[0] != (Counts{1, 1, 100}) {
		t.Errorf("after reopen: %+v %+v %v", totals, counts, err)
	}
	if cl, _ := s.Learned(ctx, 2); cl != Ham {
		t.Errorf("message 2 learned as %v after reopen", cl)
	}
}

// TestBoltLocked checks that a second open of the same file waits at most
// Timeout instead of hanging (bbolt takes an exclusive flock).
func TestBoltLocked(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bayes.db")
	s, err := OpenBolt(path, BoltOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	start := time.Now()
	s2, err := OpenBolt(path, BoltOptions{Timeout: 50 * time.Millisecond})
	if err == nil {
		s2.Close()
		t.Fatal("second OpenBolt succeeded")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("second OpenBolt took %v", d)
	}
}

// TestBoltFormat checks that a database of another format version is
// refused rather than misread.
func TestBoltFormat(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bayes.db")
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucket(bucketMeta)
		if err != nil {
			return err
		}
		return b.Put(metaVersion, u64(99))
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	if s, err := OpenBolt(path, BoltOptions{}); !errors.Is(err, ErrFormat) {
		if s != nil {
			s.Close()
		}
		t.Errorf("OpenBolt of version 99: %v, want ErrFormat", err)
	}
}

// TestBoltExpireChunks expires more tokens than one Expire transaction
// scans, so that the walk resumes across chunks without skipping keys.
func TestBoltExpireChunks(t *testing.T) {
	ctx := context.Background()
	s, err := OpenBolt(filepath.Join(t.TempDir(), "bayes.db"), BoltOptions{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	const n = 2*expireChunk + 123
	toks := make([]Hash, n)
	for i := range toks {
		toks[i] = Hash(i)
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
	_, counts, _ := s.Get(ctx, toks)
	for i, c := range counts {
		if (i < n/2) != c.empty() {
			t.Fatalf("token %d: %+v", i, c)
		}
	}
}

// TestBoltReadOnlyBesideWriter: readers open the file with a shared lock
// and a writer gets it between them; a missing file says so.
func TestBoltReadOnlyBesideWriter(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bayes.db")
	if _, err := OpenBolt(path, BoltOptions{ReadOnly: true}); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("missing file: %v", err)
	}
	w, err := OpenBolt(path, BoltOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := w.Learn(ctx, time.Now(), []Learning{{ID: Hash(1), Class: Spam, Tokens: []Hash{7}}}); err != nil {
		t.Fatal(err)
	}
	// The writer holds the file: a reader times out rather than hangs.
	if _, err := OpenBolt(path, BoltOptions{ReadOnly: true, Timeout: 100 * time.Millisecond}); err == nil {
		t.Fatal("reader opened a file a writer holds")
	}
	w.Close()
	r1, err := OpenBolt(path, BoltOptions{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	r2, err := OpenBolt(path, BoltOptions{ReadOnly: true})
	if err != nil {
		t.Fatalf("second reader: %v", err)
	}
	tot, counts, err := r2.Get(ctx, []Hash{7})
	if err != nil || tot.Spam != 1 || counts[0].Spam != 1 {
		t.Fatalf("read back %+v %+v %v", tot, counts, err)
	}
	r1.Close()
	r2.Close()
}
