package clamav

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/mamori-mail/mamori/rules/check"
	"gopkg.in/yaml.v3"
)

func parseNode(t testing.TB, src string) *yaml.Node {
	t.Helper()
	if strings.TrimSpace(src) == "" {
		return nil
	}
	var n yaml.Node
	if err := yaml.Unmarshal([]byte(src), &n); err != nil {
		t.Fatal(err)
	}
	return n.Content[0]
}

func TestConfig(t *testing.T) {
	for _, tc := range []struct {
		name string
		src  string
		errs []string // substrings, each expected; none: valid
		want func(*Checker) string
	}{
		{name: "defaults", src: "", want: func(c *Checker) string {
			o := c.scanner.opts
			if o.Network != "unix" || o.Address != "/run/clamav/clamd.ctl" || o.ConnectTimeout != 2*time.Second ||
				o.ScanTimeout != 30*time.Second || o.MaxConcurrent != 8 || o.MaxSize != 25<<20 || o.HealthInterval != 10*time.Second ||
				c.outcome != check.Reject || c.unscanned != check.Score(1) || !c.scanRaw ||
				c.reply.String() != "554 5.7.1 Message rejected: malware {signature} found" {
				return "defaults differ"
			}
			return ""
		}},
		{name: "everything set", src: `
address: tcp:127.0.0.1:3310
connect_timeout: 500ms
scan_timeout: 1m
max_concurrent: 4
max_size: 10M
outcome: reject
unscanned: tempfail
reject_reply: "550 5.7.1 Virus {signature} refused"
scan_raw_on_anomaly: false
health_interval: 0
`, want: func(c *Checker) string {
			o := c.scanner.opts
			if o.Network != "tcp" || o.Address != "127.0.0.1:3310" || o.ConnectTimeout != 500*time.Millisecond ||
				o.ScanTimeout != time.Minute || o.MaxConcurrent != 4 || c.concurrency != 4 || o.MaxSize != 10<<20 ||
				o.HealthInterval != 0 || c.unscanned != check.Tempfail || c.scanRaw || c.reply.Code != 550 {
				return "settings not applied"
			}
			return ""
		}},
		{name: "bare socket path", src: "address: /var/run/clamav/clamd.ctl", want: func(c *Checker) string {
			if c.scanner.opts.Network != "unix" || c.scanner.opts.Address != "/var/run/clamav/clamd.ctl" {
				return "bare path not a unix socket"
			}
			return ""
		}},
		{name: "quarantine and a score", src: "outcome: quarantine\nunscanned: 2.5", want: func(c *Checker) string {
			if c.outcome != check.Quarantine || c.unscanned != check.Score(2.5) {
				return "outcomes not applied"
			}
			return ""
		}},
		{name: "score only", src: "outcome: 10\nunscanned: none", want: func(c *Checker) string {
			if c.outcome != check.Score(10) || c.unscanned != (check.Outcome{}) {
				return "outcomes not applied"
			}
			return ""
		}},
		{name: "lower-case size", src: "max_size: 512k", want: func(c *Checker) string {
			if c.scanner.opts.MaxSize != 512<<10 {
				return "512k"
			}
			return ""
		}},
		{name: "unknown key", src: "adress: unix:/x", errs: []string{`line 1: checks.clamav.adress: unknown field (did you mean "address"?)`}},
		{name: "address without scheme", src: "address: 127.0.0.1:3310", errs: []string{"line 1: checks.clamav.address:", "write unix:"}},
		{name: "relative socket", src: "address: unix:clamd.ctl", errs: []string{"absolute"}},
		{name: "bad duration", src: "connect_timeout: 2", errs: []string{"line 1", `"2" is not a duration`}},
		{name: "negative duration", src: "scan_timeout: -1s", errs: []string{"is not a duration"}},
		{name: "tiny timeout", src: "scan_timeout: 1us", errs: []string{"checks.clamav.scan_timeout: must be at least 1ms"}},
		{name: "bad size", src: "max_size: 25X", errs: []string{`"25X" is not a size`}},
		{name: "size over clamd's ceiling", src: "max_size: 5G", errs: []string{"at most 4G"}},
		{name: "negative concurrency", src: "max_concurrent: -1", errs: []string{"between 1 and 1024"}},
		{name: "huge concurrency", src: "max_concurrent: 5000", errs: []string{"between 1 and 1024"}},
		{name: "bad outcome", src: "outcome: accept", errs: []string{`"accept": want reject, quarantine`}},
		{name: "4xx reject reply", src: `reject_reply: "451 4.7.1 later"`, errs: []string{"must be a 5xx reply"}},
		{name: "reply without code", src: `reject_reply: "Virus found"`, errs: []string{"must start with a 4xx or 5xx code"}},
		{name: "reply with a non-reject outcome", src: "outcome: quarantine\nreject_reply: \"554 5.7.1 x\"", errs: []string{"only used when outcome is reject"}},
		{name: "short health interval", src: "health_interval: 10ms", errs: []string{"0 (off) or at least 100ms"}},
		{name: "every error in one pass", src: "address: nowhere\nmax_concurrent: -3\nhealth_interval: 1ms", errs: []string{
			"line 1: checks.clamav.address", "line 2: checks.clamav.max_concurrent", "line 3: checks.clamav.health_interval"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ck, err := factory(parseNode(t, tc.src), check.Env{})
			if len(tc.errs) > 0 {
				if err == nil {
					t.Fatal("config accepted")
				}
				for _, e := range tc.errs {
					if !strings.Contains(err.Error(), e) {
						t.Errorf("error %q lacks %q", err, e)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer ck.Close()
			if msg := tc.want(ck.(*Checker)); msg != "" {
				t.Fatal(msg)
			}
		})
	}
}

// TestFactoryIsPure: building and closing a check dials nothing and leaves
// no goroutine (STYLE §4, §12).
func TestFactoryIsPure(t *testing.T) {
	f := startFake(t, "unix")
	before := runtime.NumGoroutine()
	ck, err := factory(parseNode(t, "address: "+f.Address()+"\nhealth_interval: 100ms"), check.Env{})
	if err != nil {
		t.Fatal(err)
	}
	if n := runtime.NumGoroutine(); n > before {
		t.Fatalf("factory started %d goroutines", n-before)
	}
	ck.Close()
	time.Sleep(150 * time.Millisecond)
	if f.accepted.Load() != 0 || f.Pings() != 0 {
		t.Fatal("factory or Close talked to clamd")
	}
}

// build returns a check for clamd at address with extra YAML settings, its
// log going to the recorder.
func build(t testing.TB, address, extra string) (*Checker, *logRecorder) {
	t.Helper()
	var cfg Config
	if !strings.Contains(extra, "health_interval") {
		extra += "\nhealth_interval: 0"
	}
	// The fake clamd reads no MIME: unit tests scan part by part unless
	// they are about the whole-message mode.
	if !strings.Contains(extra, "mode:") {
		extra += "\nmode: parts"
	}
	node := parseNode(t, "address: "+address+"\n"+extra)
	if err := check.DecodeStrict(node, &cfg, "checks.clamav"); err != nil {
		t.Fatal(err)
	}
	s, err := cfg.compile(node)
	if err != nil {
		t.Fatal(err)
	}
	rec := &logRecorder{}
	s.opts.Logger = slog.New(rec)
	c := newChecker(s, check.Env{})
	t.Cleanup(func() { c.Close() })
	return c, rec
}

func run(t testing.TB, c *Checker, raw []byte) (check.Result, error) {
	t.Helper()
	return c.Run(context.Background(), toMessage(t, raw), check.EOM)
}

func symbols(res check.Result) string {
	var out []string
	for _, s := range res.Symbols {
		out = append(out, s.Name+"("+s.Detail+")")
	}
	return strings.Join(out, " ")
}

var (
	textPart = part{ctype: "text/plain", content: []byte("Hello, see the attachment.")}
	virusBin = part{ctype: "application/octet-stream", filename: "evil.bin", encoding: "base64", content: []byte("MZ " + fakeVirus + " payload")}
)

func TestRunVerdicts(t *testing.T) {
	f := startFake(t, "unix")
	for _, tc := range []struct {
		name     string
		extra    string
		msg      []byte
		symbols  string
		action   check.Action
		reply    string
		score    float64
		streams  int
		rawFirst bool // the last stream is the raw message
	}{
		{name: "clean", msg: mimeMessage(textPart, part{ctype: "application/pdf", filename: "a.pdf", encoding: "base64", content: []byte("%PDF-1.4 fine")}), streams: 2},
		{name: "virus rejects naming the attachment", msg: mimeMessage(textPart, virusBin),
			symbols: "CLAMAV_VIRUS(Fake.Virus in evil.bin)", action: check.ActReject,
			reply: "554 5.7.1 Message rejected: malware Fake.Virus found", streams: 2},
		{name: "every infection reported, the first decides", msg: mimeMessage(
			part{ctype: "application/octet-stream", filename: "a.bin", content: []byte(fakeVirus)},
			part{ctype: "application/octet-stream", filename: "b.bin", content: []byte(fakeVirus + fakeSecond)}),
			symbols: "CLAMAV_VIRUS(Fake.Virus in a.bin) CLAMAV_VIRUS(Fake.Virus in b.bin) CLAMAV_VIRUS(Fake.Second in b.bin)",
			action:  check.ActReject, reply: "554 5.7.1 Message rejected: malware Fake.Virus found", streams: 2},
		{name: "quarantine", extra: "outcome: quarantine", msg: mimeMessage(textPart, virusBin),
			symbols: "CLAMAV_VIRUS(Fake.Virus in evil.bin)", action: check.ActQuarantine, streams: 2},
		{name: "score", extra: "outcome: 7.5", msg: mimeMessage(textPart, virusBin),
			symbols: "CLAMAV_VIRUS(Fake.Virus in evil.bin)", score: 7.5, streams: 2},
		{name: "custom reply", extra: `reject_reply: "550 5.7.0 {signature} - not accepted"`, msg: mimeMessage(virusBin),
			symbols: "CLAMAV_VIRUS(Fake.Virus in evil.bin)", action: check.ActReject, reply: "550 5.7.0 Fake.Virus - not accepted", streams: 1},
		{name: "signature sanitised in the reply", msg: mimeMessage(part{ctype: "application/octet-stream", filename: "x.bin", content: []byte(fakeBadSig)}),
			symbols: "CLAMAV_VIRUS(Bad?Name?<script> in x.bin)", action: check.ActReject,
			reply: "554 5.7.1 Message rejected: malware Bad?Name?<script> found", streams: 1},
		{name: "oversized part unscanned", extra: "max_size: 100", msg: mimeMessage(textPart,
			part{ctype: "application/zip", filename: "big.zip", encoding: "base64", content: bytes.Repeat([]byte("z"), 1000)}),
			symbols: "CLAMAV_UNSCANNED(big.zip (1000 bytes, over max_size 100))", score: 1, streams: 1},
		{name: "unscanned may reject", extra: "max_size: 100\nunscanned: reject", msg: mimeMessage(
			part{ctype: "application/zip", filename: "big.zip", content: bytes.Repeat([]byte("z"), 1000)}),
			symbols: "CLAMAV_UNSCANNED(big.zip (1000 bytes, over max_size 100))", action: check.ActReject, reply: "0"},
		{name: "broken MIME adds a raw scan", msg: bytes.TrimSuffix(mimeMessage(textPart), []byte("--BOUNDARY--\r\n")), streams: 2, rawFirst: true},
		{name: "raw scan off", extra: "scan_raw_on_anomaly: false", msg: bytes.TrimSuffix(mimeMessage(textPart), []byte("--BOUNDARY--\r\n")), streams: 1},
		{name: "raw finding of a known signature is not repeated", msg: bytes.TrimSuffix(mimeMessage(
			part{ctype: "application/octet-stream", filename: "a.bin", content: []byte(fakeVirus)}), []byte("--BOUNDARY--\r\n")),
			symbols: "CLAMAV_VIRUS(Fake.Virus in a.bin)", action: check.ActReject, reply: "554 5.7.1 Message rejected: malware Fake.Virus found", streams: 2, rawFirst: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, _ := build(t, f.Address(), tc.extra)
			before := len(f.Streams())
			res, err := run(t, c, tc.msg)
			if err != nil {
				t.Fatal(err)
			}
			if got := symbols(res); got != tc.symbols {
				t.Errorf("symbols = %s\n      want %s", got, tc.symbols)
			}
			var action check.Action
			var reply string
			if res.Decision != nil {
				action, reply = res.Decision.Action, res.Decision.Reply.String()
			}
			if action != tc.action {
				t.Errorf("action = %s, want %s", action, tc.action)
			}
			if tc.reply != "" && reply != tc.reply {
				t.Errorf("reply = %q, want %q", reply, tc.reply)
			}
			if len(res.Symbols) > 0 && res.Symbols[0].Score != tc.score {
				t.Errorf("score = %v, want %v", res.Symbols[0].Score, tc.score)
			}
			streams := f.Streams()[before:]
			if len(streams) != tc.streams {
				t.Fatalf("clamd got %d streams, want %d", len(streams), tc.streams)
			}
			hasRaw := false
			for _, s := range streams {
				hasRaw = hasRaw || bytes.HasPrefix(s, []byte("From: a@example.org\r\n"))
			}
			if hasRaw != tc.rawFirst {
				t.Errorf("raw message scanned: %v, want %v", hasRaw, tc.rawFirst)
			}
		})
	}
}

// TestRunMessageMode: by default a message is one stream; only a finding
// makes the parts go one by one, to name the carrier.
func TestRunMessageMode(t *testing.T) {
	f := startFake(t, "unix")
	c, _ := build(t, f.Address(), "mode: message")
	clean := mimeMessage(textPart, part{ctype: "application/pdf", filename: "a.pdf", encoding: "base64", content: []byte("%PDF-1.4 fine")})
	before := len(f.Streams())
	res, err := run(t, c, clean)
	if err != nil || len(res.Symbols) != 0 {
		t.Fatalf("clean: %+v %v", res, err)
	}
	if n := len(f.Streams()) - before; n != 1 {
		t.Fatalf("a clean message took %d streams, want 1", n)
	}
	// The marker in a 7bit part is visible to the fake in the raw message.
	infected := mimeMessage(textPart, part{ctype: "application/octet-stream", filename: "tool.bin", content: []byte("MZ " + fakeVirus)})
	before = len(f.Streams())
	res, err = run(t, c, infected)
	if err != nil {
		t.Fatal(err)
	}
	if got := symbols(res); got != "CLAMAV_VIRUS(Fake.Virus in tool.bin)" {
		t.Fatalf("symbols = %s; the finding must name the attachment", got)
	}
	if n := len(f.Streams()) - before; n != 3 {
		t.Fatalf("an infected message took %d streams, want 3 (message, then its two parts)", n)
	}
	// Over max_size as a whole: part by part.
	c, _ = build(t, f.Address(), "mode: message\nmax_size: 60")
	before = len(f.Streams())
	if _, err := run(t, c, mimeMessage(part{ctype: "text/plain", content: []byte("short")})); err != nil {
		t.Fatal(err)
	}
	if s := f.Streams()[before:]; len(s) != 1 || string(s[0]) != "short" {
		t.Fatalf("streams = %q, want the part alone", s)
	}
}

// TestRunSendsDecodedParts: clamd gets each part decoded, not its base64.
func TestRunSendsDecodedParts(t *testing.T) {
	f := startFake(t, "unix")
	c, _ := build(t, f.Address(), "")
	if _, err := run(t, c, mimeMessage(virusBin)); err != nil {
		t.Fatal(err)
	}
	if s := f.Streams(); len(s) != 1 || string(s[0]) != "MZ "+fakeVirus+" payload" {
		t.Fatalf("streams = %q", s)
	}
}

func TestRunClamdDown(t *testing.T) {
	f := startFake(t, "unix")
	c, logs := build(t, f.Address(), "")
	f.Close()
	for range 3 {
		res, err := run(t, c, mimeMessage(textPart, virusBin))
		if !errors.Is(err, ErrUnavailable) || len(res.Symbols) != 0 {
			t.Fatalf("Run = %+v, %v; want ErrUnavailable", res, err)
		}
	}
	if n := logs.count(slog.LevelWarn, "unreachable"); n != 1 {
		t.Fatalf("%d warnings for three messages, want 1", n)
	}
}

// TestRunInfectionBeatsError: a virus found settles the message even if
// another part could not be scanned; without one the error stands.
func TestRunInfectionBeatsError(t *testing.T) {
	f := startFake(t, "unix")
	c, _ := build(t, f.Address(), "max_concurrent: 1")
	failing := part{ctype: "application/octet-stream", filename: "f.bin", content: []byte(fakeError)}
	res, err := run(t, c, mimeMessage(virusBin, failing))
	if err != nil || res.Decision == nil || res.Decision.Action != check.ActReject {
		t.Fatalf("virus then error: %+v, %v; want reject", res, err)
	}
	res, err = run(t, c, mimeMessage(textPart, failing))
	if !errors.Is(err, ErrScanFailed) {
		t.Fatalf("clean then error: %+v, %v; want ErrScanFailed", res, err)
	}
	c, _ = build(t, f.Address(), "max_concurrent: 1\noutcome: 5")
	if _, err := run(t, c, mimeMessage(virusBin, failing)); !errors.Is(err, ErrScanFailed) {
		t.Fatalf("score-only virus then error: %v; want the error (the score alone settles nothing)", err)
	}
}

func TestRunOnlyAtEOM(t *testing.T) {
	f := startFake(t, "unix")
	c, _ := build(t, f.Address(), "")
	m := toMessage(t, mimeMessage(virusBin))
	for st := check.Connect; st < check.EOM; st++ {
		if res, err := c.Run(context.Background(), m, st); err != nil || len(res.Symbols) != 0 {
			t.Fatalf("stage %s: %+v %v", st, res, err)
		}
	}
	if f.accepted.Load() != 0 {
		t.Fatal("scanned before end of message")
	}
	if c.Stages() != check.Stages(check.EOM) {
		t.Fatal("stages")
	}
}

// TestRunStartsHealthProbe: the probe starts with the first message and
// stops with Close.
func TestRunStartsHealthProbe(t *testing.T) {
	f := startFake(t, "unix")
	before := runtime.NumGoroutine()
	c, _ := build(t, f.Address(), "health_interval: 100ms")
	if _, err := run(t, c, mimeMessage(textPart)); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(3 * time.Second)
	for f.Pings() == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if f.Pings() == 0 {
		t.Fatal("no health probe after the first message")
	}
	c.Close()
	waitGoroutines(t, before)
}

func TestCleanSignature(t *testing.T) {
	for in, want := range map[string]string{
		"Win.Test.EICAR_HDB-1":            "Win.Test.EICAR_HDB-1",
		"Bad Name\r\n554 injected":        "Bad?Name??554?injected",
		"日本":                              "??????",
		"":                                "unnamed",
		strings.Repeat("A", 300):          strings.Repeat("A", 100),
		"Heuristics.Limits.Exceeded.Size": "Heuristics.Limits.Exceeded.Size",
	} {
		if got := CleanSignature(in); got != want {
			t.Errorf("CleanSignature(%q) = %q, want %q", in, got, want)
		}
	}
	if got := cleanLabel("report\x07\u202e.exe"); got != "report??.exe" {
		t.Errorf("cleanLabel = %q", got)
	}
	if got := cleanLabel("請求書.pdf"); got != "請求書.pdf" {
		t.Errorf("cleanLabel kept Japanese? %q", got)
	}
}
