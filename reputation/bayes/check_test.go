package bayes

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mamori-mail/mamori/integration/harness"
	"github.com/mamori-mail/mamori/internal/metricstest"
	"github.com/mamori-mail/mamori/rules/check"
	dto "github.com/prometheus/client_model/go"
	"gopkg.in/yaml.v3"
)

func spamMsg(i int) []byte {
	return []byte(fmt.Sprintf("From: Prize Desk <win%d@lottery.example>\r\nTo: you@example.org\r\nSubject: You won %d million dollars claim now\r\n"+
		"Message-ID: <s%d@lottery.example>\r\n\r\nCongratulations winner! Claim your prize money now, send your bank details today. Free cash guaranteed.\r\n", i, i, i))
}

func hamMsg(i int) []byte {
	return []byte(fmt.Sprintf("From: Taro Yamada <taro@city.example.lg.jp>\r\nTo: team@city.example.lg.jp\r\nSubject: Minutes of meeting %d\r\n"+
		"Message-ID: <h%d@city.example.lg.jp>\r\n\r\nHello team, attached are the minutes of the budget committee meeting. Please review the agenda items before Thursday.\r\n", i, i))
}

// trained builds a database with n messages of each class.
func trained(t *testing.T, n int) string {
	path := filepath.Join(t.TempDir(), DefaultFile)
	st, err := OpenBolt(path, BoltOptions{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	cl, _ := New(st, Options{})
	for i := range n {
		for _, x := range []struct {
			raw   []byte
			class Class
		}{{spamMsg(i), Spam}, {hamMsg(i), Ham}} {
			m := parseMessage(t, x.raw)
			if _, err := cl.LearnMessage(context.Background(), m, x.class); err != nil {
				t.Fatal(err)
			}
			release(m)
		}
	}
	st.Close()
	return path
}

func checker(t *testing.T, src string) *Checker {
	t.Helper()
	var node *yaml.Node
	if src != "" {
		var n yaml.Node
		if err := yaml.Unmarshal([]byte(src), &n); err != nil {
			t.Fatal(err)
		}
		node = n.Content[0]
	}
	c, err := factory(node, check.Env{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	return c.(*Checker)
}

func classify(t *testing.T, c *Checker, raw []byte) (check.Result, error) {
	m := parseMessage(t, raw)
	defer release(m)
	return c.Run(context.Background(), m, check.EOM)
}

func TestCheckBands(t *testing.T) {
	path := trained(t, 12)
	c := checker(t, "path: "+path+"\nmin_spam: 10\nmin_ham: 10\n")
	res, err := classify(t, c, spamMsg(99))
	if err != nil || len(res.Symbols) != 1 || !strings.HasPrefix(res.Symbols[0].Name, "BAYES_SPAM") || res.Symbols[0].Score < 3 {
		t.Fatalf("spam: %+v %v", res.Symbols, err)
	}
	if !strings.Contains(res.Symbols[0].Detail, "(12 spam, 12 ham learned)") {
		t.Errorf("detail %q", res.Symbols[0].Detail)
	}
	res, err = classify(t, c, hamMsg(99))
	if err != nil || len(res.Symbols) != 1 || !strings.HasPrefix(res.Symbols[0].Name, "BAYES_HAM") || res.Symbols[0].Score > -1 {
		t.Fatalf("ham: %+v %v", res.Symbols, err)
	}
}

func TestCheckSilentUntilTrained(t *testing.T) {
	// No database at all: the default path in an empty data directory.
	if res, err := classify(t, checker(t, ""), spamMsg(1)); err != nil || len(res.Symbols) != 0 {
		t.Fatalf("no database: %+v %v", res.Symbols, err)
	}
	// Fewer messages learned than the minimum (200 by default).
	path := trained(t, 12)
	if res, err := classify(t, checker(t, "path: "+path), spamMsg(1)); err != nil || len(res.Symbols) != 0 {
		t.Fatalf("under the minimum: %+v %v", res.Symbols, err)
	}
}

func TestCheckWhileLearnerHoldsTheFile(t *testing.T) {
	path := trained(t, 12)
	w, err := OpenBolt(path, BoltOptions{})
	if err != nil {
		t.Fatal(err)
	}
	c := checker(t, "path: "+path+"\nmin_spam: 10\nmin_ham: 10\n")
	t0 := time.Now()
	if _, err := classify(t, c, spamMsg(1)); err == nil || !strings.Contains(err.Error(), "locked by another process") {
		t.Fatalf("file held by a writer: %v", err)
	}
	if d := time.Since(t0); d > time.Second {
		t.Errorf("waited %s for the lock", d)
	}
	w.Close()
	if res, err := classify(t, c, spamMsg(1)); err != nil || len(res.Symbols) != 1 {
		t.Fatalf("after the writer: %+v %v", res.Symbols, err)
	}
}

func TestCheckConfig(t *testing.T) {
	for src, want := range map[string]string{
		"bands: [{min: 0.5, max: 0.4, symbol: X, score: 1}]": "want 0 <= min < max <= 1",
		"bands: [{min: 0, max: 1, symbol: lower, score: 1}]": `"lower": a symbol`,
		"min_spams: 3": "min_spams",
	} {
		var n yaml.Node
		yaml.Unmarshal([]byte(src), &n)
		if _, err := factory(n.Content[0], check.Env{}); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", src, err, want)
		}
	}
	cfg, err := ParseConfig(nil, "/var/lib/mamori")
	if err != nil || cfg.Path != "/var/lib/mamori/bayes.db" || len(cfg.Bands) != len(DefaultBands) {
		t.Errorf("defaults %+v %v", cfg, err)
	}
}

func TestCheckMetrics(t *testing.T) {
	path := trained(t, 12)
	c := checker(t, "path: "+path+"\nmin_spam: 10\nmin_ham: 10\n")
	classify(t, c, spamMsg(1))
	c.Close()
	metricstest.Lint(t, "mamori_bayes_", map[string]dto.MetricType{
		"mamori_bayes_results_total": dto.MetricType_COUNTER,
		"mamori_bayes_touch_total":   dto.MetricType_COUNTER,
	}, []string{"result"})
}

// TestCheckRedis: with a redis section the check reads the tokens from
// Redis, where learners on any host put them.
func TestCheckRedis(t *testing.T) {
	srv := harness.StartRedis(t, harness.RedisOptions{})
	c := checker(t, "redis: {addrs: [\""+srv.Addr+"\"]}\nmin_spam: 10\nmin_ham: 10\n")
	if res, err := classify(t, c, spamMsg(1)); err != nil || len(res.Symbols) != 0 {
		t.Fatalf("empty Redis: %+v %v", res.Symbols, err)
	}
	cfg, err := ParseConfig(parseYAML(t, "redis: {addrs: [\""+srv.Addr+"\"]}"), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	st, err := cfg.OpenRedis()
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	cl, _ := New(st, Options{})
	for i := range 12 {
		for _, x := range []struct {
			raw   []byte
			class Class
		}{{spamMsg(i), Spam}, {hamMsg(i), Ham}} {
			m := parseMessage(t, x.raw)
			if _, err := cl.LearnMessage(context.Background(), m, x.class); err != nil {
				t.Fatal(err)
			}
			release(m)
		}
	}
	later := time.Now().Add(24 * time.Hour)
	c.touch.now = func() time.Time { return later }
	res, err := classify(t, c, spamMsg(99))
	if err != nil || len(res.Symbols) != 1 || !strings.HasPrefix(res.Symbols[0].Name, "BAYES_SPAM") {
		t.Fatalf("after learning in Redis: %+v %v", res.Symbols, err)
	}
	if cfg.Where() != "redis "+srv.Addr {
		t.Errorf("Where %q", cfg.Where())
	}
	// Closing writes the scored tokens' last-seen time to Redis, and
	// leaves the store the check shares open until then.
	c.Close()
	hashes := TokenHashes(tokenize(t, &Tokenizer{}, spamMsg(99)))
	_, counts, err := st.Get(context.Background(), hashes)
	if err != nil {
		t.Fatal(err)
	}
	touched := 0
	for _, cnt := range counts {
		if cnt.Spam+cnt.Ham > 0 {
			if cnt.LastSeen != later.Unix() {
				t.Fatalf("token LastSeen %d, want %d", cnt.LastSeen, later.Unix())
			}
			touched++
		}
	}
	if touched == 0 {
		t.Fatal("no learned token in the scored message")
	}
}

func parseYAML(t *testing.T, src string) *yaml.Node {
	var n yaml.Node
	if err := yaml.Unmarshal([]byte(src), &n); err != nil {
		t.Fatal(err)
	}
	return n.Content[0]
}
