package ratelimit

import (
	"fmt"
	"math"
	"time"
)

// Rate is one limit's allowance: Burst units at once, drained at Count per
// Period. A limit of "50 per hour, burst 50" lets 50 messages through at
// once and then one every 72 seconds.
type Rate struct {
	Count  int
	Period time.Duration
	Burst  int
}

// Valid reports whether r can be used.
func (r Rate) Valid() error {
	switch {
	case r.Count <= 0:
		return fmt.Errorf("rate must be positive")
	case r.Period <= 0:
		return fmt.Errorf("period must be positive")
	case r.Burst <= 0:
		return fmt.Errorf("burst must be positive")
	case r.Period/time.Duration(r.Count) < time.Microsecond:
		return fmt.Errorf("%d per %s is more than one per microsecond", r.Count, r.Period)
	}
	return nil
}

func (r Rate) String() string {
	return fmt.Sprintf("%d per %s (burst %d)", r.Count, r.Period, r.Burst)
}

// intervalMicros is the emission interval: how long one unit takes to
// drain, in microseconds (the unit Redis TIME gives).
func (r Rate) intervalMicros() float64 {
	return float64(r.Period.Microseconds()) / float64(r.Count)
}

// Mode is what a store call does.
type Mode uint8

const (
	// Take charges every request if all fit, and none otherwise.
	Take Mode = iota
	// Peek answers as Take would, and changes nothing (mamori check).
	Peek
	// Refund gives requests back: the level drops by the cost, never below
	// zero. It always succeeds.
	Refund
)

var modeNames = [...]string{"take", "peek", "refund"}

func (m Mode) String() string { return modeNames[m] }

// bucket is one key's state.
type bucket struct {
	level float64 // units in the bucket at time last
	last  int64   // microseconds since the Unix epoch
}

// drained returns b's level at now.
func (b bucket) drained(now int64, interval float64) float64 {
	elapsed := now - b.last
	if elapsed < 0 {
		elapsed = 0 // the clock went back (a Redis failover): drain nothing
	}
	return math.Max(0, b.level-float64(elapsed)/interval)
}

// KeyResult is one request's answer.
type KeyResult struct {
	// Allowed reports whether this key alone had room for the cost.
	Allowed bool
	// Remaining is how many whole units the key has left after the call.
	Remaining int
	// RetryAfter is how long until the key has room for the cost (0 when
	// allowed).
	RetryAfter time.Duration
	// ResetAfter is how long until the key is empty again (its TTL).
	ResetAfter time.Duration
}

// step decides one key. level is the drained level; it returns the answer
// and the level to store when the call charges (or refunds).
//
// script.lua repeats this arithmetic in Lua; the shared test table in
// store_test.go holds the two to the same answers.
func step(level float64, r Rate, cost int, mode Mode) (KeyResult, float64) {
	interval := r.intervalMicros()
	burst, c := float64(r.Burst), float64(cost)
	var kr KeyResult
	next := level
	switch mode {
	case Refund:
		next = math.Max(0, level-c)
		kr.Allowed = true
	default:
		if level+c <= burst+epsilon {
			kr.Allowed = true
			next = level + c
		} else {
			kr.RetryAfter = micros(math.Ceil((level + c - burst) * interval))
		}
	}
	kr.Remaining = int(math.Floor(burst - next + epsilon))
	kr.Remaining = max(kr.Remaining, 0)
	kr.ResetAfter = micros(math.Ceil(next * interval))
	return kr, next
}

// epsilon absorbs rounding: a level drained to 0.9999999999 of a unit
// below the burst leaves room for one unit.
const epsilon = 1e-9

func micros(us float64) time.Duration { return time.Duration(us) * time.Microsecond }
