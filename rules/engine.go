// Package rules is Mamori's engine: it runs the configured checks stage by
// stage and turns what they report into one verdict (verdict.go). The rule
// file language lives beside it.
package rules

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mamori-mail/mamori/rules/check"
)

// Entry is one configured check with the settings every check has.
type Entry struct {
	Check   check.Check
	Timeout time.Duration
	OnError check.FailurePolicy
}

// Pipeline is an immutable set of checks plus the policy that judges their
// results. A reload builds a new Pipeline and swaps it in whole; a message
// keeps the one it started with (Acquire/Release) so that it is never judged
// by half of one configuration and half of another.
type Pipeline struct {
	Policy  Policy
	Version string // identifies the configuration it was built from
	// Rules describes the rule set it runs, for metrics and tools.
	Rules RulesInfo

	groups [check.EOM + 1][][]*Entry // per stage, priority groups in order
	all    []*Entry
	log    *slog.Logger

	refs    atomic.Int64
	retired atomic.Bool
	closed  sync.Once
}

// RulesInfo describes a loaded rule set.
type RulesInfo struct {
	Version string         // hash of the rule files' contents
	Files   []string       // in load order
	Kinds   map[string]int // rules by kind (header, body, meta, ...)
	// LocalSum identifies the operator's rule files as compiled
	// (rulefile.Set.LocalSum).
	LocalSum string
}

// NewPipeline builds a pipeline. It takes ownership of the checks: Close (or
// Retire) closes them.
func NewPipeline(entries []*Entry, pol Policy, version string, log *slog.Logger) *Pipeline {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	p := &Pipeline{Policy: pol, Version: version, all: entries, log: log}
	sorted := append([]*Entry(nil), entries...)
	sort.SliceStable(sorted, func(i, j int) bool {
		return check.PriorityOf(sorted[i].Check) < check.PriorityOf(sorted[j].Check)
	})
	for st := check.Connect; st <= check.EOM; st++ {
		lastPrio := -1 << 31
		for _, e := range sorted {
			if !e.Check.Stages().Has(st) {
				continue
			}
			if pr := check.PriorityOf(e.Check); pr != lastPrio || len(p.groups[st]) == 0 {
				p.groups[st] = append(p.groups[st], nil)
				lastPrio = pr
			}
			g := len(p.groups[st]) - 1
			p.groups[st][g] = append(p.groups[st][g], e)
		}
	}
	return p
}

// Checks returns the configured checks in configuration order.
func (p *Pipeline) Checks() []*Entry { return p.all }

// NeedsStage reports whether any check runs at st, so that the milter layer
// can skip work (and round trips) nobody needs.
func (p *Pipeline) NeedsStage(st check.Stage) bool { return len(p.groups[st]) > 0 }

// Acquire pins the pipeline for one message. It pins nothing and reports
// false when the pipeline has been retired (a reload replaced it between
// the caller loading it and pinning it, so its checks may be closed
// already): the caller loads the live pipeline and tries again.
func (p *Pipeline) Acquire() bool {
	p.refs.Add(1)
	if p.retired.Load() {
		p.Release()
		return false
	}
	return true
}

// Release unpins it; the last release of a retired pipeline closes it.
func (p *Pipeline) Release() {
	if p.refs.Add(-1) == 0 && p.retired.Load() {
		p.close()
	}
}

// Retire marks a replaced pipeline; it closes once no message uses it.
func (p *Pipeline) Retire() {
	p.retired.Store(true)
	if p.refs.Load() == 0 {
		p.close()
	}
}

func (p *Pipeline) close() {
	p.closed.Do(func() {
		for _, e := range p.all {
			if err := e.Check.Close(); err != nil {
				p.log.Warn("closing check", "check", e.Check.Name(), "err", err)
			}
		}
	})
}

// Start starts the background work of the checks that have some (see
// check.Starter). The daemon calls it once the pipeline is about to serve.
func (p *Pipeline) Start() {
	for _, e := range p.all {
		if s, ok := e.Check.(check.Starter); ok {
			s.Start()
		}
	}
}

// Close closes the checks now, for shutdown and for tools.
func (p *Pipeline) Close() { p.close() }

// StageOutcome is what the MTA must hear at the end of a stage. A nil
// Decision means "go on".
type StageOutcome struct {
	Decision *check.Decision
	Decider  string
	// Symbols found at this stage, for the audit record of a refused command.
	Symbols []check.Symbol
}

// Run runs the checks of stage st on m and merges their results into tx.
//
// Before DATA only reject and tempfail decisions end the command at once;
// quarantine and discard wait for end of message, where the milter protocol
// allows them. At Rcpt the results concern one recipient: a refused
// recipient leaves no trace in tx, so the message is judged on the
// recipients it is delivered to.
func (p *Pipeline) Run(ctx context.Context, m *check.Message, st check.Stage, tx *Transaction) StageOutcome {
	if tx.allowed {
		return StageOutcome{}
	}
	target := tx
	var scratch Transaction
	if st == check.Rcpt {
		target = &scratch
	}
	for _, group := range p.groups[st] {
		p.runGroup(ctx, m, st, group, target)
		if target.allowed || refusing(target.decision, st) {
			break // the verdict is certain; spare the slower checks
		}
	}
	out := StageOutcome{Symbols: target.symbols}
	if d := target.decision; d != nil && st < check.EOM && (d.Action == check.ActReject || d.Action == check.ActTempfail) {
		out.Decision, out.Decider = d, target.decider
		if out.Decision.Reply.IsZero() {
			dd := *d
			if d.Action == check.ActReject {
				dd.Reply = p.Policy.RejectReply
			} else {
				dd.Reply = p.Policy.TempfailReply
			}
			out.Decision = &dd
		}
		return out
	}
	if st == check.Rcpt {
		mergeTx(tx, &scratch)
	}
	return out
}

// refusing reports whether d settles the stage. A reject always does;
// before DATA a tempfail does too, since the command is refused either way:
// checks of later priority groups (rate limits, which charge quota for
// what they let through) then do not run for a command that is refused.
func refusing(d *check.Decision, st check.Stage) bool {
	if d == nil {
		return false
	}
	return d.Action == check.ActReject || st < check.EOM && d.Action == check.ActTempfail
}

// mergeTx folds a recipient's accepted scratch results into the message.
// A recipient allow-list hit is kept per recipient by the check itself (it
// knows whether every recipient is allowed); here only facts carry over.
func mergeTx(dst, src *Transaction) {
	dst.symbols = append(dst.symbols, src.symbols...)
	dst.headers = append(dst.headers, src.headers...)
	dst.authres = append(dst.authres, src.authres...)
	if src.allowed && !dst.allowed {
		dst.allowed, dst.allowBy = true, src.allowBy
	}
	if d := src.decision; d != nil && (dst.decision == nil || d.Action > dst.decision.Action) {
		dst.decision, dst.decider = d, src.decider
	}
}

type runResult struct {
	e   *Entry
	res check.Result
	err error
	dur time.Duration
}

// runGroup runs one priority group concurrently. A check that overruns its
// deadline is abandoned (its goroutine ends when it notices ctx); the message
// does not wait for it.
func (p *Pipeline) runGroup(ctx context.Context, m *check.Message, st check.Stage, group []*Entry, tx *Transaction) {
	type pending struct {
		e        *Entry
		start    time.Time
		deadline time.Time
		cancel   context.CancelFunc
		done     bool
	}
	type indexed struct {
		i int
		r runResult
	}
	runs := make([]pending, len(group))
	results := make(chan indexed, len(group))
	for i, e := range group {
		cctx, cancel := context.WithTimeout(ctx, e.Timeout)
		dl, _ := cctx.Deadline()
		runs[i] = pending{e: e, start: time.Now(), deadline: dl, cancel: cancel}
		workers.run(func() {
			var r runResult
			defer func() {
				if v := recover(); v != nil {
					p.log.Error("check panicked", "check", e.Check.Name(), "stage", st.String(), "panic", v, "stack", string(debug.Stack()))
					r.err = &checkPanic{v}
				}
				if r.err == nil && errors.Is(cctx.Err(), context.DeadlineExceeded) {
					// A result that came back after the deadline is not
					// trusted to be complete; the timeout is what happened.
					r.err = cctx.Err()
				}
				results <- indexed{i, r}
			}()
			r.res, r.err = e.Check.Run(cctx, m, st)
		})
	}
	finish := func(i int, r runResult) {
		run := &runs[i]
		run.done = true
		run.cancel()
		r.e, r.dur = run.e, time.Since(run.start)
		stageDuration.WithLabelValues(r.e.Check.Name(), st.String()).Observe(r.dur.Seconds())
		if r.err != nil {
			p.failed(r, st, tx)
			return
		}
		tx.merge(r.e.Check.Name(), r.res, &p.Policy)
	}
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for left := len(group); left > 0; {
		// Wake at the earliest deadline of a check still running, or when
		// the message's context ends.
		var next time.Time
		for _, run := range runs {
			if !run.done && (next.IsZero() || run.deadline.Before(next)) {
				next = run.deadline
			}
		}
		timer.Reset(time.Until(next))
		select {
		case x := <-results:
			if !runs[x.i].done {
				finish(x.i, x.r)
				left--
			}
		case <-timer.C:
			now := time.Now()
			for i := range runs {
				if !runs[i].done && !now.Before(runs[i].deadline) {
					finish(i, runResult{err: context.DeadlineExceeded})
					left--
				}
			}
		case <-ctx.Done():
			for i := range runs {
				if !runs[i].done {
					finish(i, runResult{err: ctx.Err()})
					left--
				}
			}
		}
	}
}

// workers runs checks on goroutines that live on between messages: a fresh
// goroutine per check and stage grew its stack anew every time, which was
// about a tenth of the daemon's CPU under load (runtime.copystack).
var workers = &workerPool{jobs: make(chan func())}

type workerPool struct{ jobs chan func() }

// workerIdle is how long a worker waits for a job before it ends.
const workerIdle = 30 * time.Second

// run hands f to an idle worker, or starts one. A check that hangs keeps
// its worker; the others are not held up.
func (wp *workerPool) run(f func()) {
	select {
	case wp.jobs <- f:
	default:
		go wp.worker(f)
	}
}

func (wp *workerPool) worker(f func()) {
	idle := time.NewTimer(workerIdle)
	defer idle.Stop()
	for {
		f()
		idle.Reset(workerIdle)
		select {
		case f = <-wp.jobs:
		case <-idle.C:
			return
		}
	}
}

// FailSymbol is the symbol a check reports when it could not decide:
// its name upper-cased with _FAIL appended ("clamav" → CLAMAV_FAIL), or
// _CHECK_FAIL where the family reports NAME_FAIL as a result of its own
// (SPF_FAIL is the SPF result "fail"; a timed-out spf check is
// SPF_CHECK_FAIL), so that a failure never reads, or scores, as a finding.
func FailSymbol(name string) string {
	sym := strings.ToUpper(name) + "_FAIL"
	if reg, ok := check.Lookup(name); ok && slices.Contains(reg.Symbols, sym) {
		return strings.ToUpper(name) + "_CHECK_FAIL"
	}
	return sym
}

type checkPanic struct{ v any }

func (c *checkPanic) Error() string { return fmt.Sprintf("panic: %v", c.v) }

// failed applies the check's failure policy and records why, as a symbol, so
// that the report and the audit record say what happened.
func (p *Pipeline) failed(r runResult, st check.Stage, tx *Transaction) {
	name := r.e.Check.Name()
	kind := "error"
	var cp *checkPanic
	switch {
	case errors.Is(r.err, context.DeadlineExceeded):
		kind = "timeout"
	case errors.As(r.err, &cp):
		kind = "panic"
	}
	checkErrors.WithLabelValues(name, kind).Inc()
	if kind != "panic" {
		p.log.Warn("check failed", "check", name, "stage", st.String(), "kind", kind, "on_error", r.e.OnError.String(), "err", r.err)
	}
	sym := FailSymbol(name)
	res := check.Result{Symbols: []check.Symbol{{Name: sym, Detail: kind + ": " + r.err.Error()}}}
	if r.e.OnError == check.FailTempfail {
		res.Decision = &check.Decision{Action: check.ActTempfail, Reason: name + " " + kind}
	}
	tx.merge(name, res, &p.Policy)
}
