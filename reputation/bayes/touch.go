package bayes

import (
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"slices"
	"sync"
	"time"
)

// Scoring marks the tokens it used as seen, so that expiry (mamori learn
// --expire) removes what the site's mail no longer contains rather than
// what was learned long ago and is still in use, as SpamAssassin's expiry
// goes by a token's last use. The writes are batched: the check collects
// the tokens of the messages it scores and writes their LastSeen every
// touchEvery, in chunks of touchChunk tokens in key order (neighbouring
// keys share B+tree pages, so a sorted chunk rewrites few of them), each
// chunk in its own short write: the bbolt file is locked exclusively
// while a writer has it open, the check's readers in the process wait for
// the chunk on a mutex, and a learner in another process that holds the
// file for longer than touchLock postpones the round rather than keep
// those readers waiting.
const (
	touchEvery   = 10 * time.Minute
	touchChunk   = 2048
	touchPending = 1 << 18 // distinct tokens kept between writes (~8 MiB)
	touchLock    = 100 * time.Millisecond
)

// toucher collects token hashes and writes their LastSeen in the
// background. Its zero value is not usable; see newToucher.
type toucher struct {
	open func() (Store, error) // a store to write to; closed after each chunk
	log  *slog.Logger
	now  func() time.Time

	mu      sync.Mutex
	pending map[Hash]struct{}

	stop      chan struct{}
	done      chan struct{}
	closeOnce sync.Once
}

func newToucher(open func() (Store, error), log *slog.Logger) *toucher {
	return &toucher{open: open, log: log, now: time.Now, pending: map[Hash]struct{}{}}
}

// start runs the periodic writes until close.
func (t *toucher) start(every time.Duration) {
	t.stop, t.done = make(chan struct{}), make(chan struct{})
	go func() {
		defer close(t.done)
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			select {
			case <-t.stop:
				return
			case <-tick.C:
				ctx, cancel := context.WithTimeout(context.Background(), every/2)
				t.flush(ctx)
				cancel()
			}
		}
	}()
}

// add records hashes as seen now. Past touchPending distinct tokens the
// rest wait for a later message: a token in use comes back.
func (t *toucher) add(hashes []Hash) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for i, h := range hashes {
		if len(t.pending) >= touchPending {
			touches.WithLabelValues("deferred").Add(float64(len(hashes) - i))
			return
		}
		t.pending[h] = struct{}{}
	}
}

// flush writes the pending tokens' LastSeen. Tokens it could not write
// (the file held by a learner for longer than touchLock, Redis down) stay
// pending for the next round; none is lost but by the pending bound.
func (t *toucher) flush(ctx context.Context) {
	t.mu.Lock()
	batch := make([]Hash, 0, len(t.pending))
	for h := range t.pending {
		batch = append(batch, h)
	}
	t.pending = map[Hash]struct{}{}
	t.mu.Unlock()
	if len(batch) == 0 {
		return
	}
	slices.Sort(batch)
	now := t.now()
	for len(batch) > 0 {
		n := min(len(batch), touchChunk)
		err := t.write(ctx, now, batch[:n])
		switch {
		case errors.Is(err, fs.ErrNotExist):
			// Nothing learned yet: nothing to keep alive.
			touches.WithLabelValues("untrained").Inc()
			return
		case err != nil:
			touches.WithLabelValues("postponed").Inc()
			t.log.Info("bayes: token last-seen times not written; trying again later", "tokens", len(batch), "err", err)
			t.add(batch)
			return
		}
		touches.WithLabelValues("written").Inc()
		batch = batch[n:]
	}
}

func (t *toucher) write(ctx context.Context, now time.Time, hashes []Hash) error {
	st, err := t.open()
	if err != nil {
		return err
	}
	err = st.Touch(ctx, now, hashes)
	return errors.Join(err, st.Close())
}

// close stops the periodic writes and writes what is pending, within ctx.
// Later calls do nothing.
func (t *toucher) close(ctx context.Context) {
	t.closeOnce.Do(func() {
		if t.stop != nil {
			close(t.stop)
			<-t.done
		}
		t.flush(ctx)
	})
}
