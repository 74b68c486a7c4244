package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mamori-mail/mamori/integration/harness"
)

// rateConfig is the configuration both Mamori instances run: one Redis,
// a sender limit of 50 per hour with a short-period override, and more
// limits in a limits file.
func rateConfig(redisAddr, onError, limitsFile string) string {
	return `
checks:
  ratelimit:
    on_error: ` + onError + `
    redis:
      addrs: ["` + redisAddr + `"]
    limits_file: ` + limitsFile + `
    limits:
      - name: sender
        key: sender
        rate: 50
        period: 1h
        overrides:
          - {match: short@example.net, rate: 5, period: 2s}
`
}

// writeLimits writes the limits file: a domain limit under which
// small.example may send smallRate messages per hour.
func writeLimits(t *testing.T, path string, smallRate int) {
	t.Helper()
	text := fmt.Sprintf(`limits:
  - name: domain
    key: sender_domain
    rate: 1000
    period: 1h
    overrides:
      - {match: small.example, rate: %d}
`, smallRate)
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

// rateStack is one Postfix with two smtpd listeners, each filtered by its
// own Mamori, both counting in one Redis: two mail servers sharing limits.
type rateStack struct {
	redis   *harness.Redis
	sink    *harness.Sink
	mamori  [2]*harness.Mamori
	postfix *harness.Postfix
	smtp    [2]string
	limits  string // the limits file both instances read
}

func startRateStack(t *testing.T) *rateStack {
	t.Helper()
	s := &rateStack{redis: harness.StartRedis(t, harness.RedisOptions{}), sink: harness.StartSink(t)}
	s.limits = filepath.Join(t.TempDir(), "ratelimits.yaml")
	writeLimits(t, s.limits, 2)
	for i := range s.mamori {
		s.mamori[i] = harness.StartMamori(t, rateConfig(s.redis.Addr, "continue", s.limits))
	}
	second := fmt.Sprintf("127.0.0.1:%d", harness.FreePort(t))
	s.postfix = harness.StartPostfix(t, harness.PostfixOptions{
		Milter: s.mamori[0].Milter, DefaultAction: "tempfail", Sink: s.sink,
		Master: []string{second + " inet n - n - - smtpd -o smtpd_milters=" + s.mamori[1].Milter},
		// 20 clients at once, each on its own smtpd.
		Main: map[string]string{"default_process_limit": "50"},
	})
	s.smtp = [2]string{s.postfix.SMTPAddr, second}
	return s
}

func (s *rateStack) send(i int, from, subject string) harness.SMTPResult {
	return harness.SendMail(s.smtp[i%2], "client.example", from, []string{"bob@example.org"}, message(subject))
}

// reload rewrites the limits file and reloads both instances.
func (s *rateStack) reload(t *testing.T, onError string, smallRate int) {
	writeLimits(t, s.limits, smallRate)
	for _, m := range s.mamori {
		m.ReloadAndWait(t, rateConfig(s.redis.Addr, onError, s.limits))
	}
}

// wantLimited fails unless r is the rate limit's refusal at MAIL FROM.
func wantLimited(t *testing.T, r harness.SMTPResult) {
	t.Helper()
	if r.Code != 450 || r.Enhanced != "4.7.1" || r.Stage != "mail" || !strings.Contains(r.Text, "try again in") {
		t.Fatalf("want 450 4.7.1 at MAIL FROM with a retry time, got %v", r)
	}
}

// TestPostfixRateLimitExact: 20 clients at once, through real Postfix and
// two Mamori instances sharing one Redis, send 100 messages as one sender
// whose limit is 50 per hour: exactly 50 are accepted, the rest get 450
// 4.7.1 at MAIL FROM, and the audit trail names the limit. A sender with a
// short period is accepted again once the period has passed.
func TestPostfixRateLimitExact(t *testing.T) {
	t.Parallel()
	s := startRateStack(t)
	var mu sync.Mutex
	codes := map[int]int{}
	var refused []harness.SMTPResult
	var wg sync.WaitGroup
	for c := range 20 {
		wg.Go(func() {
			for n := range 5 {
				r := s.send(c, "burst@example.net", fmt.Sprintf("burst %d-%d", c, n))
				mu.Lock()
				codes[r.Code]++
				if !r.OK() {
					refused = append(refused, r)
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if codes[250] != 50 || codes[450] != 50 {
		t.Fatalf("replies by code %v, want exactly 50 × 250 and 50 × 450", codes)
	}
	wantLimited(t, refused[0])
	if got := len(s.sink.WaitCount(t, 50, 30*time.Second)); got != 50 {
		t.Fatalf("%d messages delivered", got)
	}
	time.Sleep(500 * time.Millisecond)
	if got := len(s.sink.Messages()); got != 50 {
		t.Fatalf("%d messages delivered, want 50", got)
	}
	// Both instances took part, and their audit records name the limit.
	for i, m := range s.mamori {
		var limited int
		for _, rec := range m.Audit(t) {
			if rec["action"] == "tempfail" {
				limited++
				if rec["decider"] != "ratelimit" || rec["stage"] != "mail" || !strings.Contains(symbolsOf(rec), "RATELIMIT_SENDER:") ||
					!strings.Contains(fmt.Sprint(rec["reason"]), "limit sender (50 messages per 1h0m0s) reached for sender burst@example.net") ||
					!strings.HasPrefix(fmt.Sprint(rec["reply"]), "450 4.7.1 Rate limit sender exceeded, try again in ") {
					t.Fatalf("audit record of a refusal: %v", rec)
				}
			}
		}
		if limited == 0 {
			t.Errorf("instance %d refused nothing: the clients did not reach both", i)
		}
		if !strings.Contains(m.Metrics(t), `mamori_ratelimit_decisions_total{limit="sender",result="limited"}`) {
			t.Errorf("instance %d: no limited decisions in /metrics", i)
		}
	}
	// Every key Redis holds expires.
	keys := s.redis.Keys(t, "mamori:*")
	if len(keys) == 0 {
		t.Fatal("no rate-limit keys in Redis")
	}
	for _, k := range keys {
		if ttl := s.redis.TTL(t, k); ttl <= 0 {
			t.Errorf("key %s has no TTL (%s)", k, ttl)
		}
	}

	// A period that can be waited for: 5 per 2 seconds.
	for i := range 5 {
		if r := s.send(i, "short@example.net", "short"); !r.OK() {
			t.Fatalf("short-period message %d: %v", i+1, r)
		}
	}
	r := s.send(0, "short@example.net", "short")
	wantLimited(t, r)
	time.Sleep(2 * time.Second)
	for i := range 5 {
		if r := s.send(i, "short@example.net", "short again"); !r.OK() {
			t.Fatalf("after the period, message %d: %v", i+1, r)
		}
	}
}

// TestPostfixRateLimitRedisDown: a reload of the limits file changes a
// limit and keeps the counts; with on_error continue (the default), mail
// flows while Redis hangs or is dead and is limited again once it is back;
// with on_error tempfail it is tempfailed meanwhile. No restart of Mamori.
func TestPostfixRateLimitRedisDown(t *testing.T) {
	t.Parallel()
	s := startRateStack(t)
	limitedAfterTwo := func(phase string) {
		t.Helper()
		for i := range 2 {
			if r := s.send(i, "small@small.example", phase); !r.OK() {
				t.Fatalf("%s: message %d: %v", phase, i+1, r)
			}
		}
		wantLimited(t, s.send(0, "small@small.example", phase))
	}
	limitedAfterTwo("before")
	// A reload with a changed limits file applies the new limit to the
	// counts so far: 2 sent of a new 4 leaves 2.
	s.reload(t, "continue", 4)
	limitedAfterTwo("raised")
	s.reload(t, "continue", 2)

	// A hung Redis (stopped, connections open, no answers): mail flows,
	// each message delayed at most by the check's timeout.
	s.redis.Pause(t)
	for i := range 3 {
		t0 := time.Now()
		if r := s.send(i, "hung@example.net", "hung"); !r.OK() {
			t.Fatalf("Redis hung, on_error continue: message %d: %v", i+1, r)
		}
		if d := time.Since(t0); d > 3*time.Second {
			t.Errorf("Redis hung: message %d took %s", i+1, d)
		}
	}
	s.redis.Resume(t)
	time.Sleep(1200 * time.Millisecond)

	s.redis.Kill()
	for i := range 4 {
		if r := s.send(i, "small@small.example", "fail-open"); !r.OK() {
			t.Fatalf("Redis dead, on_error continue: message %d: %v", i+1, r)
		}
	}
	for i, m := range s.mamori {
		if !strings.Contains(m.Metrics(t), `mamori_ratelimit_backend_up{backend="redis"} 0`) {
			t.Errorf("instance %d: backend_up not 0 with Redis dead", i)
		}
		m.WaitLog(t, "redis unreachable", 5*time.Second)
	}
	var failed bool
	for _, rec := range s.mamori[0].Audit(t) {
		failed = failed || strings.Contains(symbolsOf(rec), "RATELIMIT_FAIL:")
	}
	if !failed {
		t.Error("no audit record carries RATELIMIT_FAIL while Redis was dead")
	}

	s.redis.Start(t) // empty: it keeps nothing on disk
	time.Sleep(1200 * time.Millisecond)
	limitedAfterTwo("back")
	for _, m := range s.mamori {
		m.WaitLog(t, "redis answers again", 5*time.Second)
	}

	// Fail closed.
	s.reload(t, "tempfail", 2)
	s.redis.Kill()
	for i := range 2 {
		r := s.send(i, "other@example.net", "fail-closed")
		if r.Code/100 != 4 || r.Stage != "mail" {
			t.Fatalf("Redis dead, on_error tempfail: %v, want 4xx at MAIL FROM", r)
		}
	}
	s.redis.Start(t)
	time.Sleep(1200 * time.Millisecond)
	for i := range 2 {
		if r := s.send(i, "other@example.net", "closed-back"); !r.OK() {
			t.Fatalf("Redis back, on_error tempfail: %v", r)
		}
	}
}

// TestSendmailRateLimit: the in-process store (no Redis) behind real
// Sendmail, which sends no ABORT between messages of one connection: a
// transaction the client abandons gives its quota back before the next
// MAIL FROM is judged, and the limit answers 450 4.7.1 at MAIL FROM.
func TestSendmailRateLimit(t *testing.T) {
	t.Parallel()
	s := startSendmailStack(t, `
checks:
  ratelimit:
    limits:
      - {name: sender, key: sender, rate: 2, period: 1h}
`)
	c := harness.DialSMTP(t, s.sendmail.SMTPAddr, "client.example")
	defer c.Close()
	from := "limited@example.net"
	if r := c.Send(from, []string{"bob@example.org"}, message("first")); !r.OK() {
		t.Fatalf("first message: %v", r)
	}
	// Charged at MAIL FROM, then abandoned.
	if r := c.Cmd("MAIL FROM:<" + from + ">"); !r.OK() {
		t.Fatalf("MAIL FROM of the abandoned transaction: %v", r)
	}
	if r := c.Cmd("RCPT TO:<bob@example.org>"); !r.OK() {
		t.Fatalf("RCPT TO of the abandoned transaction: %v", r)
	}
	if r := c.Cmd("RSET"); !r.OK() {
		t.Fatalf("RSET: %v", r)
	}
	if r := c.Send(from, []string{"bob@example.org"}, message("second")); !r.OK() {
		t.Fatalf("second message (the abandoned one gave its quota back): %v", r)
	}
	wantLimited(t, c.Send(from, []string{"bob@example.org"}, message("third")))
	if got := len(s.sink.WaitCount(t, 2, 30*time.Second)); got != 2 {
		t.Fatalf("%d delivered", got)
	}
}
