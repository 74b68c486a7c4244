// Package check defines the contract between Mamori's engine and its checks:
// the message model a check reads, the Result it reports, and the registry
// through which check families plug in.
//
// It is a leaf package. It imports nothing else from this project, so that
// scanners/ and reputation/ can depend on it without cycles, and the data flow
// stays one way: milter callbacks fill a Message, checks read it and report
// Results, and the engine in package rules turns Results into one verdict.
//
// A check is long-lived and shared by every message; per-message state lives
// in the Message (or in Message.State for a check's own notes between stages),
// never in the check's fields.
//
// A Result states facts: symbols with scores, headers to add, and at most an
// explicit Decision when the operator configured the check to take one (a
// deny-list entry with "action: reject", a virus with "action: reject"). An
// error from Run means "could not decide" (timeout, dependency down); the
// engine then applies that check's configured failure policy.
package check
