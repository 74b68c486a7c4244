package bayes

import (
	"context"
	"errors"
	"math"
	"time"
)

// Hash is a 64-bit token or message hash: what stores keep instead of token
// text (see TokenHash and MessageKey).
type Hash uint64

// Class is what a message was learned as.
type Class uint8

// The classes. None is the answer for a message never learned, and unlearns
// one in a Learning.
const (
	None Class = iota
	Ham
	Spam
)

// String returns "none", "ham" or "spam".
func (c Class) String() string {
	switch c {
	case None:
		return "none"
	case Ham:
		return "ham"
	case Spam:
		return "spam"
	}
	return "invalid"
}

// Counts is what a store keeps for one token: in how many learned spam and
// ham messages it occurs, and when it was last learned or touched.
type Counts struct {
	Spam, Ham uint32
	// LastSeen is a Unix time in seconds; 0 for a token the store lacks.
	LastSeen int64
}

// Totals is the number of messages learned as spam and as ham.
type Totals struct {
	Spam, Ham uint64
}

// Stats describes a store's content.
type Stats struct {
	Totals
	// Tokens is the number of distinct tokens (hashes) stored.
	Tokens uint64
	// Learned is the number of learned-message records (see Learning.ID).
	Learned uint64
}

// Learning is one message to learn or unlearn.
type Learning struct {
	// ID identifies the message (MessageKey). The store keeps the class of
	// every ID it learned, so that learning a message again as the same
	// class changes nothing and learning it as the other class moves it.
	ID Hash
	// Class is Spam or Ham; None unlearns the message.
	Class Class
	// Tokens are the message's token hashes, distinct (TokenHashes). Moving
	// or unlearning a message takes back the counts of these tokens, so
	// they must be those it was learned with: the same message through the
	// same tokenizer.
	Tokens []Hash
}

// ExpireOptions says which tokens and learned-message records Expire
// removes.
type ExpireOptions struct {
	// Before removes tokens whose LastSeen is earlier than it; the zero
	// time removes none.
	Before time.Time
	// MaxCount restricts that to rare tokens: those seen in at most
	// MaxCount learned messages (Spam+Ham). 0 removes old tokens whatever
	// their counts.
	MaxCount uint32
	// LearnedBefore removes the records of messages learned before it; a
	// message whose record is gone is counted again if learned again. The
	// zero time keeps every record.
	LearnedBefore time.Time
}

// ExpireResult counts what Expire removed.
type ExpireResult struct {
	Tokens  uint64
	Learned uint64
}

// Store keeps token counts, message totals and learned-message records. All
// methods are safe for concurrent use. Every call names its tokens, in one
// batch, so that a network store (Redis) answers it in one round trip; only
// Expire walks the whole store.
type Store interface {
	// Get returns the totals and the counts of each token, in the order of
	// tokens, as of one instant; a token the store lacks has zero Counts.
	Get(ctx context.Context, tokens []Hash) (Totals, []Counts, error)
	// Learn applies each Learning in order and reports, for each, whether it
	// changed anything. Each one is atomic: no reader sees part of a
	// message's counts. A store may apply the whole batch at once (Bolt
	// does, in one transaction), so batching speeds up bulk learning.
	//
	// Learning a message adds 1 to the counts of its tokens in its class and
	// to the class total, and sets the tokens' LastSeen to now (if later).
	// Moving a message to the other class first takes its tokens' counts
	// back from the old class; unlearning only takes them back. Counts never
	// go below 0, and a token whose counts reach 0 is removed.
	Learn(ctx context.Context, now time.Time, batch []Learning) ([]bool, error)
	// Learned returns the class a message was learned as, or None.
	Learned(ctx context.Context, id Hash) (Class, error)
	// Touch sets the LastSeen of those tokens the store has to now (if
	// later), so that tokens in mail still being scored do not expire. It
	// writes, so callers batch it rather than call it per message.
	Touch(ctx context.Context, now time.Time, tokens []Hash) error
	// Expire removes old rare tokens and old learned-message records. It
	// leaves the totals alone, as SpamAssassin's expiry does.
	Expire(ctx context.Context, o ExpireOptions) (ExpireResult, error)
	// Stats returns the totals and sizes.
	Stats(ctx context.Context) (Stats, error)
	// Backend names the store in metrics and logs: "memory", "bolt",
	// "redis".
	Backend() string
	// Close releases the store; later calls return ErrClosed.
	Close() error
}

var (
	// ErrClosed is returned by a store after Close.
	ErrClosed = errors.New("bayes: store closed")
	// ErrBadClass is returned for a Learning whose Class is not Spam, Ham
	// or None; no Learning of the batch is applied.
	ErrBadClass = errors.New("bayes: invalid class")
	// ErrFormat is returned when a database was written by an incompatible
	// version (another token hash or value layout).
	ErrFormat = errors.New("bayes: unsupported database format")
)

func validateBatch(batch []Learning) error {
	for _, l := range batch {
		if l.Class > Spam {
			return ErrBadClass
		}
	}
	return nil
}

// The arithmetic every store shares, so that they agree exactly.

// addCount adds d (+1 or -1) to c, staying within 0..MaxUint32.
func addCount(c uint32, d int) uint32 {
	switch {
	case d > 0 && c < math.MaxUint32:
		return c + 1
	case d < 0 && c > 0:
		return c - 1
	}
	return c
}

// addTotal adds d (+1 or -1) to t, never below 0.
func addTotal(t uint64, d int) uint64 {
	switch {
	case d > 0:
		return t + 1
	case d < 0 && t > 0:
		return t - 1
	}
	return t
}

// apply changes counts c by d for class cl; learn also moves LastSeen
// forward to now.
func (c Counts) apply(cl Class, d int, now int64) Counts {
	if cl == Spam {
		c.Spam = addCount(c.Spam, d)
	} else {
		c.Ham = addCount(c.Ham, d)
	}
	if d > 0 && now > c.LastSeen {
		c.LastSeen = now
	}
	return c
}

func (c Counts) empty() bool { return c.Spam == 0 && c.Ham == 0 }

// expired reports whether Expire removes a token with counts c.
func (o ExpireOptions) expired(c Counts) bool {
	if o.Before.IsZero() || c.LastSeen >= o.Before.Unix() {
		return false
	}
	return o.MaxCount == 0 || uint64(c.Spam)+uint64(c.Ham) <= uint64(o.MaxCount)
}

func (o ExpireOptions) learnedExpired(at int64) bool {
	return !o.LearnedBefore.IsZero() && at < o.LearnedBefore.Unix()
}

func (t Totals) apply(cl Class, d int) Totals {
	if cl == Spam {
		t.Spam = addTotal(t.Spam, d)
	} else {
		t.Ham = addTotal(t.Ham, d)
	}
	return t
}

// plan says what a Learning does given the class the message was learned
// as: take its counts back from undo (None: nothing), then add them to do
// (None: nothing).
func plan(prev, next Class) (undo, do Class, changed bool) {
	if prev == next {
		return None, None, false
	}
	return prev, next, true
}
