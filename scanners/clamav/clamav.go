package clamav

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/baruwa-enterprise/clamd"
)

// Errors a scan can end with. They wrap the underlying cause; match them
// with errors.Is.
var (
	// ErrUnavailable means clamd could not be reached, or it dropped the
	// connection without an answer.
	ErrUnavailable = errors.New("clamav: clamd unavailable")
	// ErrScanFailed means clamd answered with an error of its own (out of
	// memory, a database problem) instead of a verdict.
	ErrScanFailed = errors.New("clamav: clamd could not scan")
	// ErrTimeout means clamd did not answer within the scan timeout.
	ErrTimeout = errors.New("clamav: clamd did not answer in time")
)

// Status is the outcome of one scan.
type Status uint8

const (
	// Clean: clamd found nothing.
	Clean Status = iota
	// Infected: clamd named at least one signature.
	Infected
	// Unscanned: the stream was larger than Options.MaxSize and was not
	// sent, or clamd refused it as longer than its StreamMaxLength.
	Unscanned
)

func (s Status) String() string {
	switch s {
	case Clean:
		return resultClean
	case Infected:
		return resultInfected
	case Unscanned:
		return resultUnscanned
	}
	return "status(" + strconv.Itoa(int(s)) + ")"
}

// Report is what one scan found.
type Report struct {
	Status Status
	// Signatures are the names clamd reported, as it wrote them (one, or
	// several with clamd's AllMatchScanning).
	Signatures []string
	// Reason says why a stream is Unscanned.
	Reason string
	// Bytes is how much was streamed to clamd.
	Bytes int64
}

// Options configure a Scanner. Zero fields take the defaults given.
type Options struct {
	// Network is "unix" or "tcp"; Address the socket path or host:port.
	Network, Address string
	// ConnectTimeout bounds connecting to clamd (default 2s).
	ConnectTimeout time.Duration
	// ScanTimeout bounds one scan, from connecting to clamd's answer
	// (default 30s).
	ScanTimeout time.Duration
	// MaxConcurrent bounds the scans open at clamd at once (default 8).
	MaxConcurrent int
	// MaxSize is the largest stream sent (default 25 MiB). It must not
	// exceed clamd's StreamMaxLength.
	MaxSize int64
	// HealthInterval is the period of the background PING that Start runs;
	// 0 runs none.
	HealthInterval time.Duration
	// Logger receives clamd state changes (warn when it goes down, info
	// when it is back) and a debug line per scan; nil discards.
	Logger *slog.Logger
}

// Defaults for Options.
const (
	DefaultConnectTimeout = 2 * time.Second
	DefaultScanTimeout    = 30 * time.Second
	DefaultMaxConcurrent  = 8
	DefaultMaxSize        = 25 << 20
)

// Scanner sends streams to clamd with INSTREAM through
// github.com/baruwa-enterprise/clamd, working around that library's gaps
// (see the package documentation). It is safe for concurrent use; New does
// no I/O and starts no goroutine.
type Scanner struct {
	opts Options
	log  *slog.Logger
	sem  chan struct{}

	mu       sync.Mutex
	pingCl   *clamd.Client // built on first use: NewClient stats a Unix socket
	state    health
	closed   bool
	stopProb context.CancelFunc
	probed   chan struct{}
	started  bool

	lastSizeWarn atomic.Int64 // unix nanoseconds of the last StreamMaxLength warning
}

type health uint8

const (
	healthUnknown health = iota
	healthUp
	healthDown
)

// New returns a Scanner. It only records opts.
func New(opts Options) *Scanner {
	if opts.ConnectTimeout <= 0 {
		opts.ConnectTimeout = DefaultConnectTimeout
	}
	if opts.ScanTimeout <= 0 {
		opts.ScanTimeout = DefaultScanTimeout
	}
	if opts.MaxConcurrent <= 0 {
		opts.MaxConcurrent = DefaultMaxConcurrent
	}
	if opts.MaxSize <= 0 {
		opts.MaxSize = DefaultMaxSize
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Scanner{opts: opts, log: log, sem: make(chan struct{}, opts.MaxConcurrent)}
}

// MaxSize returns the largest stream Scan sends.
func (s *Scanner) MaxSize() int64 { return s.opts.MaxSize }

// Start runs the background health probe (a PING every HealthInterval),
// once; later calls do nothing. Scan does not need it: every scan dials
// afresh, so scans recover as soon as clamd is back. The probe keeps
// mamori_clamav_up and the log current while no mail flows.
func (s *Scanner) Start() {
	if s.opts.HealthInterval <= 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started || s.closed {
		return
	}
	s.started = true
	ctx, cancel := context.WithCancel(context.Background())
	s.stopProb, s.probed = cancel, make(chan struct{})
	go s.probe(ctx, s.probed)
}

// Close stops the health probe and waits for it (at most ConnectTimeout,
// when a PING is under way). Scans still running finish on their own.
func (s *Scanner) Close() error {
	s.mu.Lock()
	s.closed = true
	cancel, done := s.stopProb, s.probed
	s.stopProb = nil
	s.mu.Unlock()
	if cancel != nil {
		cancel()
		<-done
	}
	return nil
}

func (s *Scanner) probe(ctx context.Context, done chan struct{}) {
	defer close(done)
	defer func() {
		if v := recover(); v != nil {
			s.log.Error("clamav health probe panicked", "panic", v, "stack", string(debug.Stack()))
		}
	}()
	t := time.NewTicker(s.opts.HealthInterval)
	defer t.Stop()
	for {
		err := s.Ping(ctx)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			s.markDown(err)
		} else {
			s.markUp()
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Ping asks clamd for PONG, within ConnectTimeout for the connection and
// again for the answer.
func (s *Scanner) Ping(ctx context.Context) error {
	cl, err := s.client()
	if err != nil {
		return err
	}
	ok, err := cl.Ping(ctx)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	if !ok {
		return fmt.Errorf("%w: PING not answered with PONG", ErrUnavailable)
	}
	return nil
}

// client returns the PING client (scans go through instream). The
// library's NewClient fails when a Unix socket does not exist yet, so the
// client is built on first use and a failure is retried on the next call.
func (s *Scanner) client() (*clamd.Client, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pingCl != nil {
		return s.pingCl, nil
	}
	cl, err := clamd.NewClient(s.opts.Network, s.opts.Address)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	cl.SetConnTimeout(s.opts.ConnectTimeout)
	cl.SetCmdTimeout(s.opts.ConnectTimeout)
	cl.SetConnRetries(0)
	// The library sleeps this long after a dial timeout even when it will
	// not retry (TestLibrarySleepsAfterDialTimeout); it accepts no zero.
	cl.SetConnSleep(time.Nanosecond)
	s.pingCl = cl
	return cl, nil
}

// Scan streams size bytes from r to clamd and reports what it found. A
// stream larger than MaxSize is not sent (Unscanned). It waits for one of
// MaxConcurrent slots, and returns as soon as ctx ends or ScanTimeout
// passes (instream closes the connection then); r is never read after Scan
// returns.
//
// The error is nil for every verdict (clean, infected, unscanned) and wraps
// ErrUnavailable, ErrScanFailed, ErrTimeout or ctx's error otherwise.
func (s *Scanner) Scan(ctx context.Context, r io.Reader, size int64) (rep Report, err error) {
	if size > s.opts.MaxSize {
		scansTotal.WithLabelValues(resultUnscanned).Inc()
		return Report{Status: Unscanned, Reason: sizeReason(size, s.opts.MaxSize)}, nil
	}
	select {
	case s.sem <- struct{}{}:
	case <-ctx.Done():
		return Report{}, fmt.Errorf("clamav: waiting for one of %d scan slots: %w", s.opts.MaxConcurrent, ctx.Err())
	}
	defer func() { <-s.sem }()

	start := time.Now()
	defer func() {
		d := time.Since(start)
		scanSeconds.Observe(d.Seconds())
		s.log.Debug("clamd scan", "bytes", rep.Bytes, "result", resultOf(rep, err), "duration", d, "err", err)
	}()
	sctx, cancel := context.WithTimeout(ctx, s.opts.ScanTimeout)
	defer cancel()
	cr := &ctxReader{ctx: sctx, r: io.LimitReader(r, size)}
	resp, err := s.instream(sctx, cr)
	rep.Bytes = cr.n
	bytesTotal.Add(float64(rep.Bytes))
	if sctx.Err() != nil || errors.Is(err, os.ErrDeadlineExceeded) {
		// The stream was cut short, whatever clamd said.
		if ctx.Err() != nil {
			// The caller's deadline (the check's timeout) counts as a
			// failed scan; a cancellation (another part failed, the
			// client went away) does not.
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				scansTotal.WithLabelValues(resultError).Inc()
			}
			return rep, fmt.Errorf("clamav: scan abandoned: %w", ctx.Err())
		}
		err := fmt.Errorf("%w (scan timeout %s): %w", ErrTimeout, s.opts.ScanTimeout, context.DeadlineExceeded)
		s.fail(err, true)
		return rep, err
	}
	return s.interpret(ctx, rep, resp, err)
}

// interpret turns the library's answer into a Report.
func (s *Scanner) interpret(ctx context.Context, rep Report, resp []*clamd.Response, err error) (Report, error) {
	if err != nil {
		switch {
		case isSizeLimit(err.Error()):
			return s.sizeLimited(rep, "clamd: INSTREAM size limit exceeded"), nil
		case (errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNRESET)) && rep.Bytes > 0 && s.Ping(ctx) == nil:
			// clamd answers a stream over StreamMaxLength with "INSTREAM
			// size limit exceeded" and closes; the library keeps writing,
			// gets EPIPE and never reads that answer
			// (TestLibrarySizeLimitIsBrokenPipe). clamd cut us off mid-stream
			// yet answers PING: that is the size limit.
			return s.sizeLimited(rep, "clamd closed the stream after "+strconv.FormatInt(rep.Bytes, 10)+" bytes (StreamMaxLength)"), nil
		}
		err = fmt.Errorf("%w: %w", ErrUnavailable, err)
		s.fail(err, false)
		return rep, err
	}
	if len(resp) == 0 {
		err := fmt.Errorf("%w: connection closed without an answer", ErrUnavailable)
		s.fail(err, false)
		return rep, err
	}
	var failed string
	for _, r := range resp {
		switch r.Status {
		case "FOUND":
			rep.Signatures = append(rep.Signatures, r.Signature)
		case "ERROR":
			// The library returns "stream: <text> ERROR" as a response,
			// not as an error.
			if isSizeLimit(r.Raw) {
				return s.sizeLimited(rep, "clamd: INSTREAM size limit exceeded"), nil
			}
			failed = r.Raw
		}
	}
	s.markUp()
	switch {
	case len(rep.Signatures) > 0:
		rep.Status = Infected
		scansTotal.WithLabelValues(resultInfected).Inc()
		return rep, nil
	case failed != "":
		scansTotal.WithLabelValues(resultError).Inc()
		return rep, fmt.Errorf("%w: %s", ErrScanFailed, failed)
	}
	scansTotal.WithLabelValues(resultClean).Inc()
	return rep, nil
}

func isSizeLimit(s string) bool { return strings.Contains(s, "size limit exceeded") }

// sizeWarnEvery bounds the StreamMaxLength warning to one per period.
const sizeWarnEvery = 10 * time.Minute

func (s *Scanner) sizeLimited(rep Report, reason string) Report {
	s.markUp()
	scansTotal.WithLabelValues(resultUnscanned).Inc()
	now := time.Now().UnixNano()
	if last := s.lastSizeWarn.Load(); (last == 0 || now-last >= int64(sizeWarnEvery)) && s.lastSizeWarn.CompareAndSwap(last, now) {
		s.log.Warn("clamd refused a stream as too large: max_size is above clamd's StreamMaxLength; lower max_size or raise StreamMaxLength in clamd.conf",
			"max_size", s.opts.MaxSize, "bytes_sent", rep.Bytes, "reason", reason)
	}
	rep.Status, rep.Reason = Unscanned, reason
	return rep
}

// fail counts a failed scan; unless it was a timeout (clamd busy, not
// gone), it marks clamd down.
func (s *Scanner) fail(err error, timeout bool) {
	scansTotal.WithLabelValues(resultError).Inc()
	if !timeout {
		s.markDown(err)
	}
}

// markUp and markDown log only state changes, so that a clamd outage
// gives one warning, not one per message.
func (s *Scanner) markUp() {
	s.mu.Lock()
	prev := s.state
	s.state = healthUp
	s.mu.Unlock()
	upGauge.Set(1)
	switch prev {
	case healthDown:
		s.log.Info("clamd is reachable again", "address", s.opts.Address)
	case healthUnknown:
		s.log.Debug("clamd is reachable", "address", s.opts.Address)
	}
}

func (s *Scanner) markDown(err error) {
	s.mu.Lock()
	prev := s.state
	s.state = healthDown
	s.mu.Unlock()
	upGauge.Set(0)
	if prev != healthDown {
		s.log.Warn("clamd is unreachable; messages get the check's on_error policy until it is back",
			"address", s.opts.Address, "err", err)
	}
}

// Up reports whether the last contact with clamd succeeded.
func (s *Scanner) Up() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.state == healthUp
}

func resultOf(rep Report, err error) string {
	if err != nil {
		return resultError
	}
	return rep.Status.String()
}

func sizeReason(size, max int64) string {
	return strconv.FormatInt(size, 10) + " bytes, over max_size " + strconv.FormatInt(max, 10)
}

// ctxReader is the stream handed to instream: it fails once ctx ends, so
// that the upload stops, and counts what was read.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
	n   int64
}

func (c *ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}
