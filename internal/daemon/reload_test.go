package daemon

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mamori-mail/mamori/internal/audit"
	"github.com/mamori-mail/mamori/internal/mailfile"
)

// ruleGen writes rule set number gen: three rules whose names carry the
// generation, all firing on the test message (one of them a meta rule
// over the other two).
func ruleGen(gen int) string {
	return fmt.Sprintf(`
rules:
  - {name: G%[1]d_SUBJECT, header: Subject, match: reload, score: 1, description: gen %[1]d}
  - {name: G%[1]d_BODY, body: hello, score: 1, description: gen %[1]d}
  - {name: G%[1]d_BOTH, meta: G%[1]d_SUBJECT && G%[1]d_BODY, score: 1, description: gen %[1]d}
`, gen)
}

// TestRuleReloadUnderLoad rewrites the rule directory while messages are
// judged without pause: the watcher notices each change, the reload swaps
// the rule set whole, and every message is scored by exactly one
// generation (all three of its rules, none of another's). A broken file
// on the way is refused and the running rules stay.
func TestRuleReloadUnderLoad(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "50-local.yaml")
	if err := os.WriteFile(file, []byte(ruleGen(0)), 0o644); err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(t.TempDir(), "mamori.yaml")
	os.WriteFile(cfgPath, []byte("rules: {dir: "+dir+", defaults: false, watch: 20ms}\nchecks: {bayes: {enabled: false}}\n"), 0o644)
	var logs bytes.Buffer
	var logMu sync.Mutex
	d := &Daemon{opts: Options{ConfigPath: cfgPath}, audit: audit.New(io.Discard), level: new(slog.LevelVar),
		log: slog.New(slog.NewTextHandler(&lockedWriter{w: &logs, mu: &logMu}, nil))}
	cfg, err := LoadConfig(d.opts)
	if err != nil {
		t.Fatal(err)
	}
	p, err := cfg.Build(t.TempDir(), d.log)
	if err != nil {
		t.Fatal(err)
	}
	d.cfg, d.filter = cfg, NewFilter(p, nil, time.Minute, d.log)
	defer func() { d.filter.Pipeline().Close() }()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	changed := make(chan string, 1)
	go d.watchRules(ctx, dirSum(dir), changed)
	reloaded := make(chan struct{})
	go func() {
		defer close(reloaded)
		for {
			select {
			case sum := <-changed:
				d.reload(sum)
			case <-ctx.Done():
				return
			}
		}
	}()

	msg := []byte("From: a@example.net\nTo: b@example.org\nSubject: reload test\nDate: Wed, 25 Nov 2026 10:00:00 +0000\nMessage-ID: <r@example.net>\n\nhello\n")
	var (
		stop   atomic.Bool
		judged atomic.Int64
		mu     sync.Mutex
		seen   = map[string]int{}
		bad    []string
	)
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				m, err := mailfile.Parse(bytes.NewReader(msg), accLimits)
				if err != nil {
					t.Error(err)
					return
				}
				v := d.filter.CheckMessage(m)
				var names []string
				for _, s := range v.Symbols {
					names = append(names, s.Name)
				}
				sort.Strings(names)
				key := strings.Join(names, " ")
				gen := strings.SplitN(key, "_", 2)[0]
				mu.Lock()
				seen[gen]++
				if key != gen+"_BODY "+gen+"_BOTH "+gen+"_SUBJECT" || v.Score != 3 {
					bad = append(bad, fmt.Sprintf("%s (score %v)", key, v.Score))
				}
				mu.Unlock()
				judged.Add(1)
			}
		}()
	}
	waitFor := func(gen string) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for !hasRule(d, gen) {
			if time.Now().After(deadline) {
				logMu.Lock()
				defer logMu.Unlock()
				t.Fatalf("rule set %s not loaded; log:\n%s", gen, logs.String())
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	const gens = 8
	for g := 1; g <= gens; g++ {
		if g == 4 {
			// A broken file: refused, generation 3 keeps running.
			before := d.filter.Pipeline().Rules.Version
			os.WriteFile(file, []byte(ruleGen(g)+"  - {name: BROKEN, body: '(x', score: 1}\n"), 0o644)
			time.Sleep(300 * time.Millisecond)
			if v := d.filter.Pipeline().Rules.Version; v != before || !hasRule(d, "G3") {
				t.Fatalf("broken rule file replaced the running rules (%s → %s)", before, v)
			}
		}
		os.WriteFile(file, []byte(ruleGen(g)), 0o644)
		waitFor(fmt.Sprintf("G%d", g))
		time.Sleep(30 * time.Millisecond) // let messages run on this generation
	}
	stop.Store(true)
	wg.Wait()
	cancel()
	<-reloaded
	if len(bad) > 0 {
		t.Errorf("%d of %d messages scored against a mixed or partial rule set, e.g. %s", len(bad), judged.Load(), bad[0])
	}
	if len(seen) < gens/2 {
		t.Errorf("messages saw only generations %v", seen)
	}
	logMu.Lock()
	defer logMu.Unlock()
	if !strings.Contains(logs.String(), "50-local.yaml:6: rules[3] BROKEN.body: error parsing regexp") {
		t.Errorf("the refused reload's error is not logged with file, line and rule:\n%s", logs.String())
	}
	t.Logf("%d messages judged across %d rule-set generations: %v", judged.Load(), len(seen), seen)
}

func hasRule(d *Daemon, gen string) bool {
	for _, e := range d.filter.Pipeline().Checks() {
		if l, ok := e.Check.(interface{ Symbols() []string }); ok && e.Check.Name() == "rules" {
			for _, s := range l.Symbols() {
				if strings.HasPrefix(s, gen+"_") {
					return true
				}
			}
		}
	}
	return false
}

type lockedWriter struct {
	w  io.Writer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// TestWatchWaitsForEmptyFile: a rule file caught empty (truncated, its
// content not yet written) is not reported as settled at once; its
// content is. A file that stays empty (a placeholder) is reported after
// the hold, said once in the log, and blocks no later change.
func TestWatchWaitsForEmptyFile(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "50-local.yaml")
	other := filepath.Join(dir, "60-other.yaml")
	os.WriteFile(file, []byte(ruleGen(0)), 0o644)
	os.WriteFile(other, []byte(ruleGen(100)), 0o644)
	d, logs := watchedDaemon(t, dir)
	changed := startWatch(t, d, dir)
	expect := func(what string, within time.Duration) {
		t.Helper()
		select {
		case sum := <-changed:
			if sum != dirSum(dir) {
				t.Errorf("%s: reported a state other than the directory's", what)
			}
		case <-time.After(within):
			t.Fatalf("%s: not reported within %v", what, within)
		}
	}

	os.WriteFile(file, nil, 0o644)
	select {
	case <-changed:
		t.Fatal("a rule file empty for 200 ms was reported as settled")
	case <-time.After(200 * time.Millisecond):
	}
	os.WriteFile(file, []byte(ruleGen(1)), 0o644)
	expect("the written file", 5*time.Second)

	said := strings.Count(logs(), "rule file is empty")
	start := time.Now()
	os.WriteFile(file, nil, 0o644)
	expect("the file left empty", 5*time.Second)
	if waited := time.Since(start); waited < emptyHold(10*time.Millisecond) {
		t.Errorf("the empty file was reported after %v, before the hold", waited)
	}
	// About a hundred looks saw the file empty; one line says so.
	if n := strings.Count(logs(), "rule file is empty") - said; n != 1 {
		t.Errorf("%d log lines about the empty file, want 1:\n%s", n, logs())
	}
	os.WriteFile(other, []byte(ruleGen(101)), 0o644)
	expect("a change beside the empty file", 5*time.Second)
	os.Remove(file)
	expect("the file's removal", 5*time.Second)
}

// TestWatchOffersAgainWhenBusy: a state that settles while the previous
// reload still runs (the channel full) is offered again, not lost.
func TestWatchOffersAgainWhenBusy(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "50-local.yaml")
	os.WriteFile(file, []byte(ruleGen(0)), 0o644)
	d, _ := watchedDaemon(t, dir)
	changed := startWatch(t, d, dir)
	os.WriteFile(file, []byte(ruleGen(1)), 0o644)
	time.Sleep(150 * time.Millisecond)
	os.WriteFile(file, []byte(ruleGen(2)), 0o644)
	time.Sleep(150 * time.Millisecond)
	<-changed // generation 1, taken by a reload that took this long
	select {
	case sum := <-changed:
		if sum != dirSum(dir) {
			t.Error("offered a state other than the directory's")
		}
	case <-time.After(2 * time.Second):
		t.Fatal("the state that settled during the reload was never offered")
	}
}

// TestReloadCompilesTheSettledState: a file rewritten in place with the
// same content (truncate, then write) while a reload reads the directory
// must not leave a rule set without it: the reload compiles exactly the
// state it was asked for, or keeps the running set.
func TestReloadCompilesTheSettledState(t *testing.T) {
	dir := t.TempDir()
	a := filepath.Join(dir, "50-a.yaml")
	b := filepath.Join(dir, "60-b.yaml")
	os.WriteFile(a, []byte(ruleGen(0)), 0o644)
	bData := []byte(ruleGen(100))
	os.WriteFile(b, bData, 0o644)
	d, _ := watchedDaemon(t, dir)
	p, err := d.cfg.Build(t.TempDir(), d.log)
	if err != nil {
		t.Fatal(err)
	}
	d.audit, d.level = audit.New(io.Discard), new(slog.LevelVar)
	d.filter = NewFilter(p, nil, time.Minute, d.log)
	defer func() { d.filter.Pipeline().Close() }()
	var stop atomic.Bool
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for !stop.Load() {
			f, err := os.OpenFile(b, os.O_WRONLY|os.O_TRUNC, 0o644)
			if err != nil {
				t.Error(err)
				return
			}
			time.Sleep(200 * time.Microsecond)
			f.Write(bData)
			f.Close()
			time.Sleep(300 * time.Microsecond)
		}
	}()
	for gen := 1; gen <= 100; gen++ {
		os.WriteFile(a, []byte(ruleGen(gen)), 0o644)
		want := ""
		for want == "" {
			if sum, empty := dirState(dir); empty == "" {
				want = sum
			}
		}
		d.reload(want)
		n := 0
		for _, k := range d.filter.Pipeline().Rules.Kinds {
			n += k
		}
		if n != 6 {
			t.Errorf("generation %d: the live rule set has %d rules, want 6 (both files)", gen, n)
		}
	}
	stop.Store(true)
	wg.Wait()
}

// watchedDaemon is a daemon whose configuration watches dir every 10 ms,
// and a reader of its log.
func watchedDaemon(t *testing.T, dir string) (*Daemon, func() string) {
	t.Helper()
	cfgPath := filepath.Join(t.TempDir(), "mamori.yaml")
	os.WriteFile(cfgPath, []byte("rules: {dir: "+dir+", defaults: false, watch: 10ms}\nchecks: {bayes: {enabled: false}}\n"), 0o644)
	var logs bytes.Buffer
	var mu sync.Mutex
	d := &Daemon{opts: Options{ConfigPath: cfgPath}, log: slog.New(slog.NewTextHandler(&lockedWriter{w: &logs, mu: &mu}, nil))}
	cfg, err := LoadConfig(d.opts)
	if err != nil {
		t.Fatal(err)
	}
	d.cfg = cfg
	return d, func() string {
		mu.Lock()
		defer mu.Unlock()
		return logs.String()
	}
}

// startWatch runs d's watcher on dir, from its present state, until the
// test ends, and returns what it signals.
func startWatch(t *testing.T, d *Daemon, dir string) <-chan string {
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	changed := make(chan string, 1)
	go d.watchRules(ctx, dirSum(dir), changed)
	return changed
}
