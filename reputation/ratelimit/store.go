package ratelimit

import (
	"context"
	"errors"
	"time"
)

// Request is one key to charge.
type Request struct {
	Key  string
	Rate Rate
	Cost int
}

// Result is a store call's answer.
type Result struct {
	// Allowed reports whether every request fitted: for Take, all were
	// charged; when it is false, none was.
	Allowed bool
	// Keys holds one answer per request, in order.
	Keys []KeyResult
}

// RetryAfter is the longest wait among the refused keys: the time after
// which the same call would pass, if nothing else is charged meanwhile.
func (r Result) RetryAfter() time.Duration {
	var d time.Duration
	for _, k := range r.Keys {
		d = max(d, k.RetryAfter)
	}
	return d
}

// Store keeps the buckets. Apply decides every request in one atomic step:
// no other call sees a state where some of them were charged and others not.
type Store interface {
	Apply(ctx context.Context, mode Mode, reqs []Request) (Result, error)
	// Backend names the store in metrics and logs: "memory" or "redis".
	Backend() string
	Close() error
}

// ErrBadRequest is returned for a request no store can decide (no key, or
// an unusable rate).
var ErrBadRequest = errors.New("ratelimit: bad request")

func validate(reqs []Request) error {
	for _, r := range reqs {
		if r.Key == "" || r.Cost < 0 || r.Rate.Valid() != nil {
			return ErrBadRequest
		}
	}
	return nil
}
