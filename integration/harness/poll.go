package harness

import (
	"testing"
	"time"
)

// pollUntil calls get every 20 ms until it reports done, and fails the test
// with describe's text once timeout has passed. Every Wait* helper of the
// harness is this loop.
func pollUntil[T any](t testing.TB, timeout time.Duration, get func() (T, bool), describe func(T) string) T {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		v, done := get()
		if done {
			return v
		}
		if time.Now().After(deadline) {
			t.Fatal(describe(v))
		}
		time.Sleep(20 * time.Millisecond)
	}
}
