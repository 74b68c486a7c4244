package ratelimit

import (
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mamori-mail/mamori/internal/metricstest"
	"github.com/mamori-mail/mamori/rules/check"
	dto "github.com/prometheus/client_model/go"
	"gopkg.in/yaml.v3"
)

func parseNode(t testing.TB, src string) *yaml.Node {
	t.Helper()
	var n yaml.Node
	if err := yaml.Unmarshal([]byte(src), &n); err != nil {
		t.Fatal(err)
	}
	return n.Content[0]
}

// buildOn compiles a checks.ratelimit section onto store s.
func buildOn(t testing.TB, src string, s Store) *Checker {
	t.Helper()
	node := parseNode(t, src)
	var cfg Config
	if err := check.DecodeStrict(node, &cfg, "checks.ratelimit"); err != nil {
		t.Fatal(err)
	}
	lim, err := cfg.compile(node)
	if err != nil {
		t.Fatal(err)
	}
	lim.Store, lim.KeyPrefix = s, "test:"
	return New(lim, nil)
}

// session drives one SMTP transaction through the check the way the
// engine does.
type session struct {
	t *testing.T
	c *Checker
	m *check.Message
}

func (c *Checker) begin(t *testing.T, ip, user, sender string) *session {
	m := &check.Message{Sender: sender, AuthUser: user}
	if ip != "" {
		m.ClientIP = netip.MustParseAddr(ip)
	}
	return &session{t: t, c: c, m: m}
}

func (s *session) run(st check.Stage) check.Result {
	s.t.Helper()
	res, err := s.c.Run(context.Background(), s.m, st)
	if err != nil {
		s.t.Fatalf("%s: %v", st, err)
	}
	return res
}

// mail runs MAIL FROM and reports whether it passed.
func (s *session) mail() (bool, check.Result) {
	res := s.run(check.MailFrom)
	return res.Decision == nil, res
}

// rcpt runs RCPT TO and, like the milter session, drops a refused
// recipient.
func (s *session) rcpt(addr string) (bool, check.Result) {
	s.m.Recipients = append(s.m.Recipients, addr)
	res := s.run(check.Rcpt)
	if res.Decision != nil {
		s.m.Recipients = s.m.Recipients[:len(s.m.Recipients)-1]
	}
	return res.Decision == nil, res
}

// end finishes the transaction; a refund is made before Done returns.
func (s *session) end(accepted bool) {
	s.m.Accepted = accepted
	s.m.Done()
}

// send runs a whole transaction; it returns whether MAIL FROM passed and
// how many recipients were accepted.
func (c *Checker) send(t *testing.T, ip, user, sender string, rcpts int, accepted bool) (bool, int) {
	t.Helper()
	s := c.begin(t, ip, user, sender)
	defer func() { s.end(accepted && len(s.m.Recipients) > 0) }()
	if ok, _ := s.mail(); !ok {
		return false, 0
	}
	n := 0
	for i := range rcpts {
		if ok, _ := s.rcpt("r" + string(rune('a'+i%26)) + "@example.org"); ok {
			n++
		}
	}
	return true, n
}

const senderLimit = `
limits:
  - {name: sender, key: sender, rate: 3, period: 1h}
`

// TestCheckTable runs every behaviour against both stores.
func TestCheckTable(t *testing.T) {
	cases := []struct {
		name string
		cfg  string
		run  func(t *testing.T, c *Checker)
	}{
		{"sender limit refuses at MAIL FROM with a retry time", senderLimit, func(t *testing.T, c *Checker) {
			for i := range 3 {
				if ok, _ := c.send(t, "198.51.100.7", "", "Alice@Example.COM", 1, true); !ok {
					t.Fatalf("message %d refused", i+1)
				}
			}
			s := c.begin(t, "198.51.100.7", "", "alice@example.com")
			ok, res := s.mail()
			s.end(false)
			if ok {
				t.Fatal("fourth message passed a limit of 3 (addresses differ only in case)")
			}
			d := res.Decision
			if d.Action != check.ActTempfail || d.Reply.Code != 450 || d.Reply.Status != "4.7.1" || d.Recipient {
				t.Fatalf("decision %+v", d)
			}
			// 1h / 3 = 20 minutes until one more fits.
			if !strings.Contains(d.Reply.Text, "try again in 1200 seconds") || !strings.Contains(d.Reply.Text, "sender") {
				t.Errorf("reply %q", d.Reply)
			}
			if !strings.Contains(d.Reason, "limit sender (3 messages per 1h0m0s) reached for sender alice@example.com") {
				t.Errorf("reason %q", d.Reason)
			}
			if len(res.Symbols) != 1 || res.Symbols[0].Name != "RATELIMIT_SENDER" {
				t.Errorf("symbols %+v", res.Symbols)
			}
		}},
		{"refused attempts use no quota", `
limits:
  - {name: sender, key: sender, rate: 2, period: 1h}
  - {name: ip, key: client_ip, rate: 1, period: 1h}
`, func(t *testing.T, c *Checker) {
			if ok, _ := c.send(t, "192.0.2.1", "", "bob@example.com", 1, true); !ok {
				t.Fatal("first message refused")
			}
			// The next two come from a client over its limit: refused at
			// MAIL FROM by "ip", and the sender limit keeps its quota.
			for range 2 {
				if ok, _ := c.send(t, "192.0.2.1", "", "bob@example.com", 1, true); ok {
					t.Fatal("message over the ip limit passed")
				}
			}
			if ok, _ := c.send(t, "192.0.2.2", "", "bob@example.com", 1, true); !ok {
				t.Fatal("sender's second message refused: the refused attempts used its quota")
			}
		}},
		{"messages refused later are given back", `
limits:
  - {name: sender, key: sender, rate: 2, period: 1h}
`, func(t *testing.T, c *Checker) {
			for range 5 {
				// Passed MAIL FROM and RCPT, then rejected at end of data
				// (a virus) or abandoned by the client.
				if ok, _ := c.send(t, "192.0.2.1", "", "carol@example.com", 1, false); !ok {
					t.Fatal("a message was refused though every earlier one was given back")
				}
			}
			for range 2 {
				if ok, _ := c.send(t, "192.0.2.1", "", "carol@example.com", 1, true); !ok {
					t.Fatal("accepted message refused")
				}
			}
			if ok, _ := c.send(t, "192.0.2.1", "", "carol@example.com", 1, true); ok {
				t.Fatal("third accepted message passed a limit of 2")
			}
		}},
		{"recipients limit refuses at RCPT TO", `
limits:
  - {name: rcpts, key: user, count: recipients, rate: 5, period: 1h}
`, func(t *testing.T, c *Checker) {
			if ok, n := c.send(t, "192.0.2.1", "dave", "dave@example.com", 3, true); !ok || n != 3 {
				t.Fatalf("first message: %v, %d recipients", ok, n)
			}
			s := c.begin(t, "192.0.2.1", "Dave", "dave@example.com")
			if ok, _ := s.mail(); !ok {
				t.Fatal("MAIL FROM refused with 2 recipients left")
			}
			s.rcpt("a@example.org")
			s.rcpt("b@example.org")
			ok, res := s.rcpt("c@example.org")
			s.end(true)
			if ok || !res.Decision.Recipient || res.Decision.Reply.Code != 450 {
				t.Fatalf("sixth recipient: %v %+v", ok, res.Decision)
			}
			if len(s.m.Recipients) != 2 {
				t.Fatalf("recipients kept: %v", s.m.Recipients)
			}
			// No quota left at all: refused at MAIL FROM already.
			if ok, _ := c.send(t, "192.0.2.1", "dave", "dave@example.com", 1, true); ok {
				t.Fatal("MAIL FROM passed with no recipient quota left")
			}
		}},
		{"recipients charged but not delivered are given back", `
limits:
  - {name: rcpts, key: sender, count: recipients, rate: 4, period: 1h}
`, func(t *testing.T, c *Checker) {
			// Refused after its recipients: all four come back.
			if ok, n := c.send(t, "192.0.2.1", "", "erin@example.com", 4, false); !ok || n != 4 {
				t.Fatalf("first message: %v %d", ok, n)
			}
			// The first recipient is charged at MAIL FROM; when every RCPT
			// is refused by the MTA before Mamori sees it, it comes back.
			s := c.begin(t, "192.0.2.1", "", "erin@example.com")
			s.mail()
			s.end(false)
			if ok, n := c.send(t, "192.0.2.1", "", "erin@example.com", 4, true); !ok || n != 4 {
				t.Fatalf("after refunds: %v %d, want all 4 recipients", ok, n)
			}
		}},
		{"client_ip groups by prefix", `
limits:
  - {name: net, key: client_ip, ipv4_prefix: 24, ipv6_prefix: 48, rate: 2, period: 1h}
`, func(t *testing.T, c *Checker) {
			for _, ip := range []string{"203.0.113.1", "203.0.113.200"} {
				if ok, _ := c.send(t, ip, "", "a@example.com", 1, true); !ok {
					t.Fatalf("%s refused", ip)
				}
			}
			if ok, _ := c.send(t, "203.0.113.99", "", "b@example.com", 1, true); ok {
				t.Fatal("third address of the /24 passed")
			}
			if ok, _ := c.send(t, "203.0.114.1", "", "b@example.com", 1, true); !ok {
				t.Fatal("another /24 refused")
			}
			for _, ip := range []string{"2001:db8:1:1::1", "2001:db8:1:2::1"} {
				c.send(t, ip, "", "a@example.com", 1, true)
			}
			if ok, _ := c.send(t, "2001:db8:1:ffff::9", "", "a@example.com", 1, true); ok {
				t.Fatal("third address of the /48 passed")
			}
			// A local submission has no address: the limit does not apply.
			if ok, _ := c.send(t, "", "", "a@example.com", 1, true); !ok {
				t.Fatal("local submission refused")
			}
		}},
		{"keys that do not apply", `
limits:
  - {name: sender, key: sender, rate: 1, period: 1h}
  - {name: domain, key: sender_domain, rate: 1, period: 1h}
  - {name: user, key: user, rate: 1, period: 1h}
`, func(t *testing.T, c *Checker) {
			// The null sender has no sender or domain to count; without a
			// login there is no user.
			for range 3 {
				if ok, _ := c.send(t, "192.0.2.1", "", "", 1, true); !ok {
					t.Fatal("bounce refused")
				}
			}
			c.send(t, "192.0.2.1", "", "x@one.example", 1, true)
			if ok, res := c.begin(t, "192.0.2.1", "", "y@one.example").mail(); ok || res.Symbols[0].Name != "RATELIMIT_DOMAIN" {
				t.Fatalf("second sender of the domain: %v %+v", ok, res.Symbols)
			}
		}},
		{"overrides", `
limits:
  - name: sender
    key: sender
    rate: 1
    period: 1h
    overrides:
      - {match: News@Example.com, rate: 3}
      - {match: backup@example.com, unlimited: true}
  - name: ip
    key: client_ip
    rate: 100
    period: 1h
    overrides:
      - {match: 198.51.100.0/24, rate: 2}
      - {match: 198.51.100.9, unlimited: true}
`, func(t *testing.T, c *Checker) {
			n := 0
			for range 5 {
				if ok, _ := c.send(t, "192.0.2.1", "", "news@example.com", 1, true); ok {
					n++
				}
			}
			if n != 3 {
				t.Errorf("bulk sender: %d of 5 passed, want its override of 3", n)
			}
			for range 5 {
				if ok, _ := c.send(t, "192.0.2.1", "", "backup@example.com", 1, true); !ok {
					t.Fatal("unlimited sender refused")
				}
			}
			n = 0
			for i := range 4 {
				if ok, _ := c.send(t, "198.51.100.5", "", "s"+string(rune('a'+i))+"@example.com", 1, true); ok {
					n++
				}
			}
			if n != 2 {
				t.Errorf("network override: %d of 4 passed, want 2", n)
			}
			for i := range 4 {
				if ok, _ := c.send(t, "198.51.100.9", "", "t"+string(rune('a'+i))+"@example.com", 1, true); !ok {
					t.Fatal("the more specific unlimited address was refused")
				}
			}
		}},
		{"exemptions", `
exempt:
  client_ips: [10.0.0.0/8, "::1"]
  users: [Relay]
  sender_domains: [trusted.example, .corp.example]
limits:
  - {name: sender, key: sender, rate: 1, period: 1h}
`, func(t *testing.T, c *Checker) {
			for _, tc := range []struct{ ip, user, sender string }{
				{"10.1.2.3", "", "a@example.com"},
				{"::1", "", "a@example.com"},
				{"192.0.2.1", "relay", "a@example.com"},
				{"192.0.2.1", "", "a@trusted.example"},
				{"192.0.2.1", "", "a@mail.corp.example"},
			} {
				for range 3 {
					if ok, _ := c.send(t, tc.ip, tc.user, tc.sender, 1, true); !ok {
						t.Fatalf("%+v refused though exempt", tc)
					}
				}
			}
			c.send(t, "192.0.2.1", "", "a@corp.example", 1, true)
			if ok, _ := c.send(t, "192.0.2.1", "", "a@corp.example", 1, true); ok {
				t.Fatal(".corp.example exempted the parent domain")
			}
		}},
	}
	for name, mk := range testStores(t, false) {
		t.Run(name, func(t *testing.T) {
			s := mk(t)
			for i, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					// A prefix per case keeps the cases' keys apart in one store.
					c := buildOn(t, tc.cfg, s)
					c.lim.KeyPrefix = "case" + string(rune('a'+i)) + ":"
					tc.run(t, c)
				})
			}
		})
	}
}

// TestReadOnlyPeeks: mamori check asks, and charges nothing.
func TestReadOnlyPeeks(t *testing.T) {
	c := buildOn(t, senderLimit, NewMemory(0))
	c.readOnly = true
	for range 10 {
		if ok, _ := c.send(t, "192.0.2.1", "", "a@example.com", 2, true); !ok {
			t.Fatal("read-only check refused: something was charged")
		}
	}
	c.readOnly = false
	for range 3 {
		c.send(t, "192.0.2.1", "", "a@example.com", 1, true)
	}
	c.readOnly = true
	if ok, _ := c.send(t, "192.0.2.1", "", "a@example.com", 1, true); ok {
		t.Fatal("read-only check does not see the used quota")
	}
}

// TestStoreErrorIsCheckError: the engine applies on_error to a store
// failure; the check does not decide on its own.
func TestStoreErrorIsCheckError(t *testing.T) {
	srv := newRedisStore(t, "127.0.0.1:1") // nothing listens there
	c := buildOn(t, senderLimit, srv)
	m := &check.Message{Sender: "a@example.com", ClientIP: netip.MustParseAddr("192.0.2.1")}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if _, err := c.Run(ctx, m, check.MailFrom); err == nil {
		t.Fatal("no error with the store unreachable")
	}
	// MAIL FROM charged nothing; the first recipient is then tried at RCPT.
	m.Recipients = []string{"r@example.org"}
	if _, err := c.Run(ctx, m, check.Rcpt); err != nil {
		t.Fatalf("RCPT with no recipients limit configured: %v", err)
	}
}

func TestConfigErrors(t *testing.T) {
	dir := t.TempDir()
	badFile := filepath.Join(dir, "limits.yaml")
	os.WriteFile(badFile, []byte("limits:\n  - {name: x, key: ip, rate: 1, period: 1h}\n  - {name: y, key: user, rate: 0, period: 1h}\n"), 0o644)
	unknownFile := filepath.Join(dir, "unknown.yaml")
	os.WriteFile(unknownFile, []byte("limits:\n  - name: x\n    rates: 3\n"), 0o644)
	brokenFile := filepath.Join(dir, "broken.yaml")
	os.WriteFile(brokenFile, []byte("limits: [\n"), 0o644)
	for _, tc := range []struct {
		name, src string
		want      []string
	}{
		{"no limits", `exempt: {users: [a]}`, []string{"no limits configured"}},
		{"every error at once", `
limits:
  - {name: Sender, key: sender, rate: 1, period: 1h}
  - {name: b, key: mailbox, rate: 1, period: 1h}
  - {name: c, key: sender, count: bytes, rate: -1, period: 1h}
  - {name: d, key: sender, rate: 1}
  - {name: e, key: sender, rate: 1, period: 1h, reply: "550 5.7.1 no"}
  - {name: f, key: sender, rate: 1, period: 1h, ipv4_prefix: 24}
  - {name: g, key: client_ip, rate: 1, period: 1h, ipv4_prefix: 40}
  - {name: e, key: sender, rate: 1, period: 1h}
`, []string{
			"line 3: checks.ratelimit.limits[0].name", "line 4: checks.ratelimit.limits[1].key", "line 5: checks.ratelimit.limits[2].count",
			"line 5: checks.ratelimit.limits[2].rate", "limits[3].period", "line 7: checks.ratelimit.limits[4].reply: must be a 4xx",
			"limits[5].ipv4_prefix: ipv4_prefix and ipv6_prefix are for key client_ip", "limits[6].ipv4_prefix: must be 8 to 32",
			"line 10: checks.ratelimit.limits[7].name: limit \"e\" is defined twice",
		}},
		{"overrides and exemptions", `
exempt: {client_ips: [10.0.0.0/33], sender_domains: ["a@b"]}
limits:
  - name: a
    key: client_ip
    rate: 1
    period: 1h
    overrides:
      - {match: not-an-ip, rate: 2}
      - {match: 192.0.2.1}
`, []string{"exempt.client_ips[0]", "exempt.sender_domains[0]", "line 9: checks.ratelimit.limits[0].overrides[0].match", "line 10: checks.ratelimit.limits[0].overrides[1]: set rate"}},
		{"unknown key", `
limits:
  - {name: a, key: sender, rate: 1, period: 1h, burts: 3}
`, []string{"burts"}},
		{"limits file errors name the file", "limits_file: " + badFile + "\nlimits: [{name: z, key: sender, rate: 1, period: 1h}]", []string{
			badFile + ":2: limits[0].key", badFile + ":3: limits[1].rate",
		}},
		{"missing limits file", "limits_file: /nonexistent/limits.yaml", []string{"line 1: checks.ratelimit.limits_file", "no such file"}},
		{"limits file with an unknown key", "limits_file: " + unknownFile, []string{unknownFile + ":3: limits[0].rates: unknown field (did you mean \"rate\"?)"}},
		{"limits file that is not YAML", "limits_file: " + brokenFile, []string{brokenFile + ":1: "}},
		{"redis section", "redis: {mode: cluster, addrs: [x], db: 2}\nlimits: [{name: z, key: sender, rate: 1, period: 1h}]", []string{
			"redis.addrs: \"x\" is not host:port", "redis.db: Redis Cluster has only database 0",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := factory(parseNode(t, tc.src), check.Env{})
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
		})
	}
}

func TestLimitsFile(t *testing.T) {
	f := filepath.Join(t.TempDir(), "limits.yaml")
	os.WriteFile(f, []byte(`
exempt:
  users: [backup]
limits:
  - name: bulk
    key: sender_domain
    rate: 2
    period: 24h
`), 0o644)
	c, err := factory(parseNode(t, "limits_file: "+f+"\nlimits: [{name: s, key: sender, rate: 5, period: 1h}]"), check.Env{})
	if err != nil {
		t.Fatal(err)
	}
	lim := c.(*Checker).lim
	if len(lim.Limits) != 2 || lim.Limits[1].Name != "bulk" || lim.Limits[1].Rate.Period != 24*time.Hour || !lim.Exempt.Users["backup"] {
		t.Fatalf("limits %+v exempt %+v", lim.Limits, lim.Exempt)
	}
	if lim.Store != processMemory {
		t.Fatal("without redis the check does not use the process-wide store")
	}
}

func TestFactoryIsPure(t *testing.T) {
	// A Redis address where nothing listens: building must not dial.
	t0 := time.Now()
	c, err := factory(parseNode(t, "redis: {addrs: [\"192.0.2.1:6379\"]}\nlimits: [{name: s, key: sender, rate: 5, period: 1h}]"), check.Env{})
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	if d := time.Since(t0); d > 100*time.Millisecond {
		t.Fatalf("factory took %s: it did network I/O", d)
	}
}

func TestMetrics(t *testing.T) {
	c := buildOn(t, senderLimit, NewMemory(0))
	c.send(t, "192.0.2.1", "", "a@example.com", 1, false)
	want := map[string]dto.MetricType{
		"mamori_ratelimit_decisions_total":        dto.MetricType_COUNTER,
		"mamori_ratelimit_exempt_total":           dto.MetricType_COUNTER,
		"mamori_ratelimit_store_seconds":          dto.MetricType_HISTOGRAM,
		"mamori_ratelimit_backend_up":             dto.MetricType_GAUGE,
		"mamori_ratelimit_refunds_total":          dto.MetricType_COUNTER,
		"mamori_ratelimit_memory_evictions_total": dto.MetricType_COUNTER,
		"mamori_ratelimit_memory_keys":            dto.MetricType_GAUGE,
	}
	metricstest.Lint(t, "mamori_ratelimit_", want, []string{"limit", "result", "reason", "backend"},
		"mamori_ratelimit_exempt_total", "mamori_ratelimit_store_seconds", "mamori_ratelimit_backend_up")
}
