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
// content not yet written) is never reported as settled, however long it
// stays so; its content is, and so is the file's removal.
func TestWatchWaitsForEmptyFile(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "50-local.yaml")
	os.WriteFile(file, []byte(ruleGen(0)), 0o644)
	cfgPath := filepath.Join(t.TempDir(), "mamori.yaml")
	os.WriteFile(cfgPath, []byte("rules: {dir: "+dir+", defaults: false, watch: 10ms}\n"), 0o644)
	var logs bytes.Buffer
	var logMu sync.Mutex
	d := &Daemon{opts: Options{ConfigPath: cfgPath}, log: slog.New(slog.NewTextHandler(&lockedWriter{w: &logs, mu: &logMu}, nil))}
	cfg, err := LoadConfig(d.opts)
	if err != nil {
		t.Fatal(err)
	}
	d.cfg = cfg
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	changed := make(chan string, 1)
	go d.watchRules(ctx, dirSum(dir), changed)

	os.WriteFile(file, nil, 0o644)
	select {
	case <-changed:
		t.Fatal("an empty rule file was reported as settled")
	case <-time.After(200 * time.Millisecond):
	}
	logMu.Lock()
	if !strings.Contains(logs.String(), "rule file is empty; waiting for its content") {
		t.Errorf("no log line about the empty file:\n%s", logs.String())
	}
	logMu.Unlock()
	os.WriteFile(file, []byte(ruleGen(1)), 0o644)
	select {
	case sum := <-changed:
		if sum != dirSum(dir) {
			t.Error("reported a state other than the written one")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the written file was not reported")
	}
	os.Remove(file)
	select {
	case <-changed:
	case <-time.After(5 * time.Second):
		t.Fatal("the file's removal was not reported")
	}
}
