// Package policy implements Mamori's policy lists: allow and deny entries
// keyed by envelope sender, sender domain, client IP or network, and
// recipient, each with the action the operator chose. It is the first check
// to run, and an allow entry ends all others, like a Postfix access table
// consulted before content filtering.
package policy
