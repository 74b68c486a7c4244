// Package ratelimit limits how much mail one sender, sender domain, SASL
// user or client network may send per period, and how many recipients.
//
// The algorithm is GCRA, the generic cell rate algorithm (ITU-T I.371), in
// its continuous-state leaky bucket form: each key holds a level (units used
// and not yet drained) and the time it was last updated; the level drains at
// Count per Period, and a request of cost c is allowed when level+c does not
// exceed Burst. This is the same algorithm as redis_rate's virtual
// scheduling form (a theoretical arrival time), stated so that a key's state
// survives a change of its rate: after a reload from 50 to 100 per hour, 30
// messages sent are still 30 messages sent, where a stored arrival time
// would suddenly count double.
//
// Files: gcra.go is the arithmetic; store.go the Store contract, with an
// in-process store (memory.go) and a Redis store (redis.go, script.lua) that
// decide identically; limiter.go turns a message into keys and requests;
// check.go is the adapter to Mamori's engine.
//
// Every limit of a message is decided in one call to the store, and the
// call is all or nothing: when one limit refuses, none is charged. At the
// end of a transaction that was refused or abandoned, what it was charged
// is given back, so that a refused attempt never uses up quota.
package ratelimit
