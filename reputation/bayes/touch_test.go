package bayes

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mamori-mail/mamori/rules/check"
)

// lastSeen returns the LastSeen of raw's tokens in the database at path,
// by token.
func lastSeen(t *testing.T, path string, raw []byte) map[Hash]int64 {
	t.Helper()
	tz := &Tokenizer{}
	hashes := TokenHashes(tokenize(t, tz, raw))
	st, err := OpenBolt(path, BoltOptions{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	_, counts, err := st.Get(context.Background(), hashes)
	if err != nil {
		t.Fatal(err)
	}
	out := map[Hash]int64{}
	for i, h := range hashes {
		if counts[i].Spam+counts[i].Ham > 0 {
			out[h] = counts[i].LastSeen
		}
	}
	return out
}

// TestCheckTouchesScoredTokens: the tokens of scored mail get a new
// LastSeen when the check writes its batch (here, at Close), so expiry
// keeps them; tokens of mail not scored keep the time they were learned.
func TestCheckTouchesScoredTokens(t *testing.T) {
	path := trained(t, 12)
	before := lastSeen(t, path, spamMsg(1))
	if len(before) == 0 {
		t.Fatal("no learned tokens")
	}
	c := checker(t, "path: "+path+"\nmin_spam: 10\nmin_ham: 10\n")
	later := time.Now().Add(48 * time.Hour)
	c.touch.now = func() time.Time { return later }
	if _, err := classify(t, c, spamMsg(1)); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	c.Close() // a second Close is harmless
	after := lastSeen(t, path, spamMsg(1))
	for h, ts := range after {
		if ts != later.Unix() {
			t.Fatalf("token %x: LastSeen %d, want %d (was %d)", h, ts, later.Unix(), before[h])
		}
	}
	// A ham token the scored message did not contain keeps its time.
	ham := lastSeen(t, path, hamMsg(1))
	kept := 0
	for h, ts := range ham {
		if _, scored := after[h]; !scored && ts < later.Unix() {
			kept++
		}
	}
	if kept == 0 {
		t.Fatal("every ham token was touched by scoring a spam message")
	}

	// Expiry by age now keeps the scored tokens and drops the others.
	st, err := OpenBolt(path, BoltOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Expire(context.Background(), ExpireOptions{Before: later.Add(-time.Hour)}); err != nil {
		t.Fatal(err)
	}
	st.Close()
	if got := lastSeen(t, path, spamMsg(1)); len(got) != len(after) {
		t.Fatalf("after expiry %d of the scored message's %d tokens remain", len(got), len(after))
	}
	if got := lastSeen(t, path, hamMsg(1)); len(got) >= len(ham) {
		t.Fatalf("expiry removed none of the unscored tokens (%d of %d remain)", len(got), len(ham))
	}
}

// TestCheckReadOnlyDoesNotTouch: mamori check (a read-only pipeline)
// writes nothing.
func TestCheckReadOnlyDoesNotTouch(t *testing.T) {
	path := trained(t, 12)
	before := lastSeen(t, path, spamMsg(1))
	c, err := factory(nil, check.Env{DataDir: t.TempDir(), ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	ch := c.(*Checker)
	ch.cfg.Path, ch.cfg.MinSpam, ch.cfg.MinHam = path, 10, 10
	if ch.touch != nil {
		t.Fatal("read-only check has a toucher")
	}
	res, err := classify(t, ch, spamMsg(1))
	if err != nil || len(res.Symbols) == 0 {
		t.Fatalf("%+v %v", res, err)
	}
	ch.Close()
	after := lastSeen(t, path, spamMsg(1))
	for h, ts := range after {
		if ts != before[h] {
			t.Fatalf("token %x touched by a read-only check", h)
		}
	}
}

// TestTouchPostponedWhileBusy: while a learner holds the file the write
// is postponed, and the tokens are written on the next round.
func TestTouchPostponedWhileBusy(t *testing.T) {
	path := trained(t, 12)
	c := checker(t, "path: "+path+"\nmin_spam: 10\nmin_ham: 10\n")
	defer c.Close()
	later := time.Now().Add(48 * time.Hour)
	c.touch.now = func() time.Time { return later }
	if _, err := classify(t, c, spamMsg(2)); err != nil {
		t.Fatal(err)
	}
	learner, err := OpenBolt(path, BoltOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	c.touch.flush(ctx) // waits touchLock, then gives up
	learner.Close()
	c.touch.mu.Lock()
	pending := len(c.touch.pending)
	c.touch.mu.Unlock()
	if pending == 0 {
		t.Fatal("tokens dropped while the file was busy")
	}
	c.touch.flush(ctx)
	for h, ts := range lastSeen(t, path, spamMsg(2)) {
		if ts != later.Unix() {
			t.Fatalf("token %x not written on the second round", h)
		}
	}
}

// TestTouchUntrained: a database removed since scoring is not created
// again by the write.
func TestTouchUntrained(t *testing.T) {
	path := trained(t, 12)
	c := checker(t, "path: "+path+"\nmin_spam: 10\nmin_ham: 10\n")
	if _, err := classify(t, c, spamMsg(3)); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	c.Close()
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("database created again: %v", err)
	}
}

// TestTouchDoesNotStarveReaders: while the last-seen write of many tokens
// runs on a large database, the check keeps classifying: its readers wait
// for each chunk on the in-process lock instead of timing out on the
// polled file lock.
func TestTouchDoesNotStarveReaders(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a database of 300,000 tokens")
	}
	path := trained(t, 12)
	st, err := OpenBolt(path, BoltOptions{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	// Learned as 60 messages of 5,000 tokens (the tokenizer's most).
	big := make([]Hash, 300_000)
	var batch []Learning
	for i := range big {
		big[i] = Hash(uint64(i+1) * 0x9e3779b97f4a7c15)
		if (i+1)%5000 == 0 {
			batch = append(batch, Learning{ID: Hash(1<<60 + i), Class: Ham, Tokens: slices.Sorted(slices.Values(big[i+1-5000 : i+1]))})
		}
	}
	for i := 0; i < len(batch); i += 2 {
		if _, err := st.Learn(context.Background(), time.Now(), batch[i:i+2]); err != nil {
			t.Fatal(err)
		}
	}
	st.Close()
	c := checker(t, "path: "+path+"\nmin_spam: 10\nmin_ham: 10\n")
	defer c.Close()
	c.touch.add(big[:100_000])

	done := make(chan struct{})
	errs := make(chan error, 1000)
	var classified atomic.Int64
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-done:
					return
				default:
				}
				if _, err := classify(t, c, spamMsg(5)); err != nil {
					errs <- err
				}
				classified.Add(1)
			}
		}()
	}
	start := time.Now()
	c.touch.flush(context.Background())
	took := time.Since(start)
	close(done)
	wg.Wait()
	close(errs)
	n := 0
	for err := range errs {
		if n++; n <= 3 {
			t.Errorf("classification failed during the write: %v", err)
		}
	}
	t.Logf("wrote 100,000 last-seen times in %v while %d messages were classified, %d failures", took, classified.Load(), n)
	// Only the tokens of the messages scored meanwhile may be pending.
	c.touch.mu.Lock()
	defer c.touch.mu.Unlock()
	for _, h := range big[:100_000] {
		if _, ok := c.touch.pending[h]; ok {
			t.Fatalf("token %x still pending after the write", h)
		}
	}
}
