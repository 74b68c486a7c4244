// Package clamav scans mail for malware with ClamAV's daemon, clamd, over
// its INSTREAM command (clamd's man page, "INSTREAM"), through
// github.com/baruwa-enterprise/clamd.
//
// At end of message the check streams the message as received to clamd in
// one INSTREAM (mode "message", the default), as clamav-milter does: clamd
// decodes mail itself, and its cost is mostly per stream, so clean mail
// costs one scan. Only when clamd finds malware are the decoded leaf parts
// from scanners/mimepart streamed one by one, so that the finding names the
// attachment: CLAMAV_VIRUS with the detail "<signature> in <file name>"
// ("in the whole message" when no part alone carries it). A message over
// max_size is scanned part by part; mode "parts" always is. Parts go in
// parallel, bounded per message and, through one semaphore, for all
// messages together (max_concurrent). Every infection is reported; the
// first in part order sets the decision and its reply, "554 5.7.1 Message
// rejected: malware <signature> found" by default, with the signature
// reduced to printable ASCII.
//
// When the MIME walk reports broken structure (a boundary, an encoding, a
// header) or a limit (depth, part count, decoded size), the check streams
// both the decoded parts and the raw message, header and body, as received: clamd parses mail
// itself, and matches its signatures against the raw bytes too, so content
// that Mamori's parser and a mail client would read differently is still
// scanned (a part mislabelled as base64 hides EICAR from the part scan and
// not from the raw one; see TestRealClamd). A signature already reported
// for a part is not repeated.
//
// A part larger than max_size is not sent, and the message gets
// CLAMAV_UNSCANNED with the configured outcome, a score of 1 by default
// (amavisd marks such mail UNCHECKED). clamd refuses streams longer than
// its StreamMaxLength, so max_size must not exceed it; if it does, the
// refusal is also CLAMAV_UNSCANNED, with a warning in the log.
//
// When clamd cannot be reached, drops the connection, answers with an
// error or does not answer within scan_timeout, Run returns an error and
// the engine applies the check's on_error policy, tempfail by default, so
// that no mail passes unscanned. Each scan dials afresh, so the check
// recovers as soon as clamd is back; a background PING (health_interval)
// keeps the mamori_clamav_up gauge and the log current, and the log has one
// warning when clamd goes down and one line when it is back, not one per
// message.
//
// # Library limitations
//
// github.com/baruwa-enterprise/clamd v1.0.1 is the PING client (health
// probe, and telling a size refusal from clamd going down). Scans go
// through instream, a small INSTREAM client of Mamori's own, because of
// (a), (b), (d) and (e) below: with the library's ScanReader, clamd spent
// 2.4 ms per message with a 100 KB PDF against clamav-milter's 1.4 ms on
// the same clamd, and Mamori fell below clamav-milter's rate through
// Postfix; with instream clamd spends about 1.6 ms
// (BenchmarkPostfixScanThroughput, docs/performance.md). Each gap has a
// test that shows the library's behaviour, so that a fixed release makes
// the test fail and ScanReader can come back.
//
//   - (a) Size limit. clamd answers a stream over StreamMaxLength with
//     "INSTREAM size limit exceeded" and closes. The library writes on and
//     returns the broken pipe of its next write without reading that answer
//     (TestLibrarySizeLimitIsBrokenPipe: 8 MB into StreamMaxLength 1M gives
//     "write: broken pipe"; 1 MiB + 100 bytes gives the answer). Scanner
//     never sends more than max_size; instream reads clamd's answer even
//     after a failed write; and when a stream is cut off with
//     EPIPE or ECONNRESET after data went out while clamd still answers
//     PING, it reports the size limit (Unscanned) rather than clamd down.
//   - (b) Context. ScanReader uses ctx only to dial, then waits up to its
//     own per-read timeout (TestLibraryIgnoresContextAfterDial: a 50 ms
//     deadline returns after 1 s). instream closes the connection when ctx
//     ends, and its reader fails from then on, so the caller's data is never
//     read after Scan returns (TestScanAbandonedStreamIsNotRead).
//   - (c) NewClient stats a Unix socket and fails if clamd has not created
//     it yet (TestLibraryNewClientNeedsSocket). Clients are built on the
//     first scan and a failure is retried on the next, so Mamori may start
//     before clamd.
//   - (d) The library sends 1 KiB chunks, flushing and allocating each.
//     BenchmarkScan10MB on a 2-CPU machine: about 100 MB/s and 10 MB of
//     garbage per 10 MB part, against about 150 MB/s with 64 KiB chunks
//     (some 35 ms more per 10 MB); BenchmarkScan100KB: about 1.7 ms per
//     100 KB part against 1.4 ms. clamd writes each chunk to its temporary
//     file, so the cost lands on clamd too: through Postfix it was the
//     difference between 0.90x and parity with clamav-milter.
//   - (e) A Read that returns data together with io.EOF loses that data:
//     the library stops before writing it, and clamd scans what remains
//     (TestLibraryDropsDataReturnedWithEOF and its real-clamd twin: EICAR
//     through iotest.DataErrReader is "stream: OK"). instream reads with
//     io.ReadFull, which keeps such data.
//   - (f) After a dial timeout the library sleeps its retry pause (1 s)
//     even with retries set to 0 (TestLibrarySleepsAfterDialTimeout).
//     Scanner sets the pause to 1 ns.
//   - An error answer naming the stream ("stream: ... ERROR") comes back as
//     a Response with Status ERROR and a nil error
//     (TestLibraryReturnsErrorRepliesAsResponses); Scanner treats it as a
//     failed scan, never as clean.
//
// The package is split as STYLE §3 says: clamav.go is the clamd client
// (Scanner, no configuration types), config.go and check.go the adapter.
package clamav
