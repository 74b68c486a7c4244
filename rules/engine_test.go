package rules

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mamori-mail/mamori/rules/check"
)

// fake is a configurable check for engine tests.
type fake struct {
	name   string
	stages check.StageMask
	prio   int
	run    func(ctx context.Context, m *check.Message, st check.Stage) (check.Result, error)
	calls  atomic.Int32
	closed atomic.Bool
}

func (f *fake) Name() string            { return f.name }
func (f *fake) Stages() check.StageMask { return f.stages }
func (f *fake) Priority() int {
	if f.prio == 0 {
		return check.DefaultPriority
	}
	return f.prio
}
func (f *fake) Close() error { f.closed.Store(true); return nil }
func (f *fake) Run(ctx context.Context, m *check.Message, st check.Stage) (check.Result, error) {
	f.calls.Add(1)
	return f.run(ctx, m, st)
}

func symbol(name string, score float64) func(context.Context, *check.Message, check.Stage) (check.Result, error) {
	return func(context.Context, *check.Message, check.Stage) (check.Result, error) {
		var r check.Result
		r.Add(name, score, "")
		return r, nil
	}
}

func decide(a check.Action) func(context.Context, *check.Message, check.Stage) (check.Result, error) {
	return func(context.Context, *check.Message, check.Stage) (check.Result, error) {
		return check.Result{Decision: &check.Decision{Action: a, Reason: a.String()}}, nil
	}
}

var testPolicy = Policy{
	Thresholds:    Thresholds{AddHeader: 5, Quarantine: 10, Reject: 15},
	RejectReply:   check.Reply{Code: 550, Status: "5.7.1", Text: "spam"},
	TempfailReply: check.Reply{Code: 451, Status: "4.7.1", Text: "later"},
}

func entry(f *fake, onErr check.FailurePolicy) *Entry {
	return &Entry{Check: f, Timeout: 200 * time.Millisecond, OnError: onErr}
}

func eom(fs ...*fake) *Pipeline {
	var es []*Entry
	for _, f := range fs {
		if f.stages == 0 {
			f.stages = check.Stages(check.EOM)
		}
		es = append(es, entry(f, check.FailContinue))
	}
	return NewPipeline(es, testPolicy, "test", nil)
}

func TestVerdictPrecedenceAndThresholds(t *testing.T) {
	for _, tc := range []struct {
		name   string
		checks []*fake
		want   check.Action
		score  float64
	}{
		{"nothing found accepts", nil, check.ActAccept, 0},
		{"below add_header", []*fake{{name: "a", run: symbol("A", 4.9)}}, check.ActAccept, 4.9},
		{"add_header threshold is inclusive", []*fake{{name: "a", run: symbol("A", 5)}}, check.ActAddHeader, 5},
		{"scores add up to quarantine", []*fake{{name: "a", run: symbol("A", 6)}, {name: "b", run: symbol("B", 4.5)}}, check.ActQuarantine, 10.5},
		{"float noise does not miss a threshold", []*fake{{name: "a", run: symbol("A", 4.7)}, {name: "b", run: symbol("B", 0.1)}, {name: "c", run: symbol("C", 0.2)}}, check.ActAddHeader, 5},
		{"reject by score", []*fake{{name: "a", run: symbol("A", 20)}}, check.ActReject, 20},
		{"negative scores offset", []*fake{{name: "a", run: symbol("A", 20)}, {name: "b", run: symbol("B", -10)}}, check.ActQuarantine, 10},
		{"reject beats tempfail", []*fake{{name: "a", run: decide(check.ActTempfail)}, {name: "b", run: decide(check.ActReject)}}, check.ActReject, 0},
		{"tempfail beats quarantine", []*fake{{name: "a", run: decide(check.ActQuarantine)}, {name: "b", run: decide(check.ActTempfail)}}, check.ActTempfail, 0},
		{"quarantine beats discard", []*fake{{name: "a", run: decide(check.ActDiscard)}, {name: "b", run: decide(check.ActQuarantine)}}, check.ActQuarantine, 0},
		{"discard beats add_header", []*fake{{name: "a", run: decide(check.ActDiscard)}, {name: "b", run: symbol("B", 6)}}, check.ActDiscard, 6},
		{"score reject beats a quarantine decision", []*fake{{name: "a", run: decide(check.ActQuarantine)}, {name: "b", run: symbol("B", 16)}}, check.ActReject, 16},
		{"allow wins over everything", []*fake{{name: "p", prio: 1, run: decide(check.ActAllow)}, {name: "b", run: symbol("B", 99)}}, check.ActAccept, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := eom(tc.checks...)
			var tx Transaction
			p.Run(context.Background(), &check.Message{}, check.EOM, &tx)
			v := tx.Final(&p.Policy, nil)
			if v.Action != tc.want || v.Score != tc.score {
				t.Fatalf("got %s score %v, want %s score %v (reason %q)", v.Action, v.Score, tc.want, tc.score, v.Reason)
			}
			if v.Action == check.ActReject && v.Reply.IsZero() {
				t.Fatal("a reject without a reply")
			}
		})
	}
}

func TestAllowStopsLaterGroups(t *testing.T) {
	slow := &fake{name: "slow", run: symbol("SLOW", 1)}
	p := eom(&fake{name: "policy", prio: 10, run: decide(check.ActAllow)}, slow)
	var tx Transaction
	p.Run(context.Background(), &check.Message{}, check.EOM, &tx)
	if slow.calls.Load() != 0 {
		t.Fatal("a check after an allow-list hit ran")
	}
	if v := tx.Final(&p.Policy, nil); v.Action != check.ActAccept || v.Decider != "policy" {
		t.Fatalf("verdict %+v", v)
	}
}

// TestRefusalBeforeDataStopsLaterGroups: before DATA a tempfail refuses
// the command as surely as a reject, so a later group (the rate limiter,
// which charges for what it lets through) must not run. At end of message
// a tempfail does not stop the others: a later reject is stronger.
func TestRefusalBeforeDataStopsLaterGroups(t *testing.T) {
	for _, act := range []check.Action{check.ActReject, check.ActTempfail} {
		late := &fake{name: "late", prio: 900, stages: check.Stages(check.MailFrom, check.EOM), run: symbol("LATE", 0)}
		early := &fake{name: "early", prio: 10, stages: check.Stages(check.MailFrom, check.EOM), run: decide(act)}
		p := NewPipeline([]*Entry{entry(early, check.FailContinue), entry(late, check.FailContinue)}, testPolicy, "test", nil)
		var tx Transaction
		out := p.Run(context.Background(), &check.Message{}, check.MailFrom, &tx)
		if out.Decision == nil || out.Decision.Action != act || late.calls.Load() != 0 {
			t.Fatalf("%s at MAIL FROM: outcome %+v, later group ran %d times", act, out.Decision, late.calls.Load())
		}
		var tx2 Transaction
		p.Run(context.Background(), &check.Message{}, check.EOM, &tx2)
		if act == check.ActTempfail && late.calls.Load() != 1 {
			t.Fatalf("tempfail at EOM stopped the later group")
		}
	}
}

func TestFailurePolicies(t *testing.T) {
	hang := func(ctx context.Context, _ *check.Message, _ check.Stage) (check.Result, error) {
		time.Sleep(2 * time.Second) // ignores ctx on purpose: the engine must not wait
		return check.Result{}, nil
	}
	for _, tc := range []struct {
		name    string
		run     func(context.Context, *check.Message, check.Stage) (check.Result, error)
		onErr   check.FailurePolicy
		want    check.Action
		symbol  string
		kindHas string
	}{
		{"error, continue", func(context.Context, *check.Message, check.Stage) (check.Result, error) {
			return check.Result{}, errors.New("clamd: connection refused")
		}, check.FailContinue, check.ActAccept, "X_FAIL", "error: clamd: connection refused"},
		{"error, tempfail", func(context.Context, *check.Message, check.Stage) (check.Result, error) {
			return check.Result{}, errors.New("down")
		}, check.FailTempfail, check.ActTempfail, "X_FAIL", "error"},
		{"panic, tempfail", func(context.Context, *check.Message, check.Stage) (check.Result, error) {
			var m map[string]int
			m["boom"]++
			return check.Result{}, nil
		}, check.FailTempfail, check.ActTempfail, "X_FAIL", "panic"},
		{"hang past timeout, continue", hang, check.FailContinue, check.ActAccept, "X_FAIL", "timeout"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &fake{name: "x", stages: check.Stages(check.EOM), run: tc.run}
			p := NewPipeline([]*Entry{entry(f, tc.onErr)}, testPolicy, "t", nil)
			var tx Transaction
			start := time.Now()
			p.Run(context.Background(), &check.Message{}, check.EOM, &tx)
			if d := time.Since(start); d > time.Second {
				t.Fatalf("the engine waited %v for a check past its 200ms timeout", d)
			}
			v := tx.Final(&p.Policy, nil)
			if v.Action != tc.want {
				t.Fatalf("action %s, want %s", v.Action, tc.want)
			}
			if len(v.Symbols) != 1 || v.Symbols[0].Name != tc.symbol || !strings.Contains(v.Symbols[0].Detail, tc.kindHas) {
				t.Fatalf("symbols %+v, want %s saying %q", v.Symbols, tc.symbol, tc.kindHas)
			}
			if tc.want == check.ActTempfail && v.Reply.Code != 451 {
				t.Fatalf("tempfail reply %v", v.Reply)
			}
		})
	}
}

func TestStageChecksRunConcurrently(t *testing.T) {
	sleepy := func(context.Context, *check.Message, check.Stage) (check.Result, error) {
		time.Sleep(100 * time.Millisecond)
		return check.Result{}, nil
	}
	var fs []*fake
	for i := 0; i < 5; i++ {
		fs = append(fs, &fake{name: string(rune('a' + i)), run: sleepy})
	}
	p := eom(fs...)
	start := time.Now()
	p.Run(context.Background(), &check.Message{}, check.EOM, &Transaction{})
	// Five 100 ms checks in sequence would take 500 ms; concurrently about 100.
	if d := time.Since(start); d > 400*time.Millisecond {
		t.Fatalf("5 checks of 100ms took %v: not concurrent", d)
	}
}

func TestRcptRefusalLeavesNoTrace(t *testing.T) {
	f := &fake{name: "r", stages: check.Stages(check.Rcpt), run: func(_ context.Context, m *check.Message, _ check.Stage) (check.Result, error) {
		var r check.Result
		r.Add("RCPT_"+strings.ToUpper(m.Recipient()[:1]), 3, "")
		if m.Recipient() == "bad@x" {
			r.Decision = &check.Decision{Action: check.ActReject, Recipient: true}
		}
		return r, nil
	}}
	p := NewPipeline([]*Entry{entry(f, check.FailContinue)}, testPolicy, "t", nil)
	var tx Transaction
	m := &check.Message{Recipients: []string{"bad@x"}}
	out := p.Run(context.Background(), m, check.Rcpt, &tx)
	if out.Decision == nil || out.Decision.Reply.Code != 550 {
		t.Fatalf("refused recipient: outcome %+v, want a 550 with the default reply", out)
	}
	m.Recipients = []string{"good@x"}
	if out := p.Run(context.Background(), m, check.Rcpt, &tx); out.Decision != nil {
		t.Fatalf("good recipient refused: %+v", out)
	}
	if v := tx.Final(&p.Policy, nil); v.Action != check.ActAccept || v.Score != 3 || len(v.Symbols) != 1 {
		t.Fatalf("message verdict %+v: the refused recipient's findings leaked in", v)
	}
}

func TestScoreOverrides(t *testing.T) {
	p := eom(&fake{name: "a", run: symbol("A", 1)})
	p.Policy.Scores = map[string]float64{"A": 7}
	var tx Transaction
	p.Run(context.Background(), &check.Message{}, check.EOM, &tx)
	if v := tx.Final(&p.Policy, nil); v.Score != 7 || v.Action != check.ActAddHeader {
		t.Fatalf("override not applied: %+v", v)
	}
}

func TestRetiredPipelineClosesAfterLastMessage(t *testing.T) {
	f := &fake{name: "a", run: symbol("A", 1)}
	p := eom(f)
	if !p.Acquire() {
		t.Fatal("live pipeline refused")
	}
	p.Retire()
	if f.closed.Load() {
		t.Fatal("closed while a message still used it")
	}
	p.Release()
	if !f.closed.Load() {
		t.Fatal("not closed after the last message")
	}
}

// TestAcquireRetired: a pipeline retired between a message loading it and
// pinning it (and closed, nobody holding it) refuses the pin, so the
// message never runs on closed checks.
func TestAcquireRetired(t *testing.T) {
	f := &fake{name: "a", run: symbol("A", 1)}
	p := eom(f)
	p.Retire()
	if !f.closed.Load() {
		t.Fatal("retired unused pipeline not closed")
	}
	if p.Acquire() {
		t.Fatal("a closed pipeline was pinned")
	}
	live := eom(&fake{name: "b", run: symbol("B", 1)})
	if !live.Acquire() {
		t.Fatal("live pipeline refused")
	}
	live.Release()
}

func TestStatusHeaders(t *testing.T) {
	pol := testPolicy
	pol.HeadersOnClean, pol.Report, pol.ServerName = true, true, "mx1"
	v := Verdict{Action: check.ActAddHeader, Score: 6.5, Symbols: []check.Symbol{{Name: "A", Score: 5}, {Name: "B", Score: 1.5}}}
	hs := v.StatusHeaders(&pol)
	got := map[string]string{}
	for _, h := range hs {
		got[h.Name] = h.Value
	}
	if got["X-Spam-Flag"] != "YES" || got["X-Spam-Score"] != "6.5" || got["X-Mamori-Verdict"] != "add_header" {
		t.Fatalf("headers %v", got)
	}
	if got["X-Mamori-Report"] != "mx1; score=6.5\n\tA(5)\n\tB(1.5)" {
		t.Fatalf("report %q: want one symbol per folded line", got["X-Mamori-Report"])
	}
	clean := Verdict{Action: check.ActAccept}
	pol.HeadersOnClean = false
	if hs := clean.StatusHeaders(&pol); hs != nil {
		t.Fatalf("clean mail got headers %v with on_clean off", hs)
	}
}
