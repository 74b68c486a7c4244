// Package integration tests Mamori against real mail servers: a private
// Postfix and a private Sendmail (started by integration/harness from
// Debian's packages, on loopback ports), with `mamori serve` built from
// this tree. Run scripts/install-test-deps.sh first; the tests fail, and
// say so, when a server is missing.
package integration
