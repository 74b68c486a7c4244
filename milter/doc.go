// Package milter speaks the milter protocol to Postfix and Sendmail and
// nothing else: it turns callbacks into a check.Message, asks a Handler what
// to answer at each stage, and turns the answer into milter responses. It
// holds no policy beyond the resource limits that protect the process.
//
// The protocol itself comes from github.com/d--j/go-milter rather than
// github.com/emersion/go-milter v0.5.0, which cannot keep connection facts
// across messages (it replaces the backend after every final reply, so the
// second message on an SMTP connection loses the client address and HELO:
// see TestEmersionLosesConnectionState), answers negotiation with version 2,
// and sets no read deadline. docs/architecture.md records the decision.
//
// On top of the library this package adds what measured MTAs need: every
// reply leaves in one write (conn.go coalesces the library's split writes and
// holds modifications until the final reply), TCP_QUICKACK after each read so
// Sendmail's separate macro packets are not held by delayed ACKs, and
// "no reply" negotiation for every stage where Mamori never answers.
package milter
