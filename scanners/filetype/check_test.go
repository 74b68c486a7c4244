package filetype

import (
	"bytes"
	"context"
	"encoding/base64"
	"mime"
	"strings"
	"testing"
	"time"

	"github.com/mamori-mail/mamori/internal/metricstest"
	"github.com/mamori-mail/mamori/rules/check"
	dto "github.com/prometheus/client_model/go"
	"gopkg.in/yaml.v3"
)

// memBody is a message body held in memory.
type memBody struct{ *bytes.Reader }

func (b memBody) Size() int64 { return b.Reader.Size() }

// attachment is one part of a test message.
type attachment struct {
	ctype       string // "application/pdf"
	disposition string // "attachment", "inline" or ""
	filename    string // encoded as RFC 2047 when not ASCII
	data        []byte
	raw         string // a text part's body, sent as is
}

// buildMessage writes a multipart/mixed message and returns it as the
// engine would pass it: header fields parsed, body spooled.
func buildMessage(parts ...attachment) *check.Message {
	var b strings.Builder
	for i, p := range parts {
		b.WriteString("--BOUNDARY\r\n")
		ct := p.ctype
		name := p.filename
		if name != "" && strings.ContainsFunc(name, func(r rune) bool { return r > 0x7e }) {
			name = mime.BEncoding.Encode("UTF-8", name)
		}
		if name != "" && p.disposition == "" {
			ct += "; name=\"" + name + "\""
		}
		b.WriteString("Content-Type: " + ct + "\r\n")
		if p.disposition != "" {
			b.WriteString("Content-Disposition: " + p.disposition)
			if name != "" {
				b.WriteString("; filename=\"" + name + "\"")
			}
			b.WriteString("\r\n")
		}
		if p.data != nil {
			b.WriteString("Content-Transfer-Encoding: base64\r\n\r\n")
			enc := base64.StdEncoding.EncodeToString(p.data)
			for len(enc) > 76 {
				b.WriteString(enc[:76] + "\r\n")
				enc = enc[76:]
			}
			b.WriteString(enc + "\r\n")
		} else {
			b.WriteString("\r\n" + p.raw + "\r\n")
		}
		_ = i
	}
	b.WriteString("--BOUNDARY--\r\n")
	return &check.Message{
		Headers: []check.Header{
			{Name: "From", Raw: " sender@example.jp"},
			{Name: "Subject", Raw: " =?UTF-8?B?6KuL5rGC5pu4?="},
			{Name: "MIME-Version", Raw: " 1.0"},
			{Name: "Content-Type", Raw: " multipart/mixed; boundary=\"BOUNDARY\""},
		},
		Body: memBody{bytes.NewReader([]byte(b.String()))},
	}
}

func newChecker(t *testing.T, src string, env check.Env) *Checker {
	t.Helper()
	var node *yaml.Node
	if src != "" {
		var n yaml.Node
		if err := yaml.Unmarshal([]byte(src), &n); err != nil {
			t.Fatal(err)
		}
		node = n.Content[0]
	}
	c, err := factory(node, env)
	if err != nil {
		t.Fatalf("factory: %v", err)
	}
	return c.(*Checker)
}

func run(t *testing.T, c *Checker, m *check.Message) check.Result {
	t.Helper()
	defer m.Done()
	res, err := c.Run(context.Background(), m, check.EOM)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	return res
}

func symbolNames(res check.Result) string {
	var out []string
	for _, s := range res.Symbols {
		out = append(out, s.Name)
	}
	return strings.Join(out, " ")
}

func TestCheckBusinessMailPasses(t *testing.T) {
	c := newChecker(t, "", check.Env{})
	docs := makeZip(t, zipEntry{name: "見積書.pdf", data: pdfBytes(4000)}, zipEntry{name: "明細.xlsx", data: xlsx(t)})
	m := buildMessage(
		attachment{ctype: "text/plain; charset=UTF-8", raw: "#!/bin/sh はシェルの一行目です。\r\nMZ で始まる行も本文です。"},
		attachment{ctype: "text/html; charset=UTF-8", raw: "<html><body>請求書を送ります</body></html>"},
		attachment{ctype: "application/pdf", disposition: "attachment", filename: "請求書.pdf", data: pdfBytes(20000)},
		attachment{ctype: "application/vnd.openxmlformats-officedocument.wordprocessingml.document", disposition: "attachment", filename: "報告書.docx", data: docx(t, false)},
		attachment{ctype: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", disposition: "attachment", filename: "a.xlsx", data: xlsx(t)},
		attachment{ctype: "image/png", disposition: "inline", filename: "logo.png", data: pngBytes()},
		attachment{ctype: "application/zip", disposition: "attachment", filename: "資料.zip", data: docs},
		attachment{ctype: "application/msword", disposition: "attachment", filename: "old.doc", data: wordDoc(t, false)},
	)
	res := run(t, c, m)
	if len(res.Symbols) != 0 || res.Decision != nil {
		t.Fatalf("ordinary mail flagged: %+v %+v", res.Symbols, res.Decision)
	}
}

func TestCheckFindings(t *testing.T) {
	c := newChecker(t, "", check.Env{})
	for _, tc := range []struct {
		name    string
		parts   []attachment
		symbols string
		action  check.Action
		reply   string
		reason  string
	}{
		{
			name:    "exe attachment",
			parts:   []attachment{{ctype: "application/octet-stream", disposition: "attachment", filename: "setup.exe", data: fakePE()}},
			symbols: "FILETYPE_BLOCKED FILETYPE_EXECUTABLE", action: check.ActReject,
			reply:  `554 5.7.1 Attachment "setup.exe" refused: file type not allowed`,
			reason: "filetype blocked_extension: setup.exe: extension .exe",
		},
		{
			name:    "Japanese name in the reply is ASCII",
			parts:   []attachment{{ctype: "application/octet-stream", disposition: "attachment", filename: "請求書.pdf.exe", data: []byte("x")}},
			symbols: "FILETYPE_BLOCKED FILETYPE_DOUBLE_EXT", action: check.ActReject,
			reply: `554 5.7.1 Attachment "???.pdf.exe" refused: file type not allowed`,
		},
		{
			name:    "RTL override in an RFC 2047 name",
			parts:   []attachment{{ctype: "application/octet-stream", disposition: "attachment", filename: "請求書\u202Efdp.exe", data: fakePE()}},
			symbols: "FILETYPE_BLOCKED FILETYPE_BIDI_NAME FILETYPE_EXECUTABLE", action: check.ActReject,
			reply: `554 5.7.1 Attachment "???<U+202E>fdp.exe" refused: file type not allowed`,
		},
		{
			name:    "exe in a zip",
			parts:   []attachment{{ctype: "application/zip", disposition: "attachment", filename: "docs.zip", data: makeZip(t, zipEntry{name: "setup.exe", data: fakePE()})}},
			symbols: "FILETYPE_BLOCKED FILETYPE_EXECUTABLE", action: check.ActReject,
			reply: `554 5.7.1 Attachment "docs.zip/setup.exe" refused: file type not allowed`,
		},
		{
			name:    "PE named pdf",
			parts:   []attachment{{ctype: "application/pdf", disposition: "attachment", filename: "invoice.pdf", data: fakePE()}},
			symbols: "FILETYPE_EXECUTABLE FILETYPE_DISGUISED", action: check.ActReject,
			reason: "filetype executable: invoice.pdf: " + mimePE,
		},
		{
			name:    "unnamed attachment is judged by content",
			parts:   []attachment{{ctype: "application/octet-stream", disposition: "attachment", data: fakePE()}},
			symbols: "FILETYPE_EXECUTABLE", action: check.ActReject,
			reply: `554 5.7.1 Attachment "part 1" refused: executable content`,
		},
		{
			name:    "password zip is quarantined",
			parts:   []attachment{{ctype: "application/zip", disposition: "attachment", filename: "ppap.zip", data: makeZip(t, zipEntry{name: "見積.pdf", data: []byte("0123456789abcdef"), flags: 1})}},
			symbols: "FILETYPE_ENCRYPTED", action: check.ActQuarantine,
			reason: "filetype encrypted: ppap.zip: encrypted member ppap.zip/見積.pdf",
		},
		{
			name:    "docm is quarantined",
			parts:   []attachment{{ctype: "application/vnd.ms-word.document.macroEnabled.12", disposition: "attachment", filename: "a.docm", data: docx(t, true)}},
			symbols: "FILETYPE_MACRO", action: check.ActQuarantine,
		},
		{
			name:    "png named pdf scores",
			parts:   []attachment{{ctype: "application/pdf", disposition: "attachment", filename: "scan.pdf", data: pngBytes()}},
			symbols: "FILETYPE_MISMATCH", action: check.ActNone,
		},
		{
			name:    "inline text body is not a file",
			parts:   []attachment{{ctype: "text/plain", raw: "#!/bin/sh\nrm -rf /"}, {ctype: "text/plain", raw: "MZ\x90\x00\x03"}},
			symbols: "", action: check.ActNone,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := run(t, c, buildMessage(tc.parts...))
			if got := symbolNames(res); got != tc.symbols {
				t.Fatalf("symbols %q, want %q (%+v)", got, tc.symbols, res.Symbols)
			}
			var act check.Action
			if res.Decision != nil {
				act = res.Decision.Action
			}
			if act != tc.action {
				t.Fatalf("action %s, want %s", act, tc.action)
			}
			if tc.reply != "" && res.Decision.Reply.String() != tc.reply {
				t.Fatalf("reply %q, want %q", res.Decision.Reply.String(), tc.reply)
			}
			if tc.reason != "" && res.Decision.Reason != tc.reason {
				t.Fatalf("reason %q, want %q", res.Decision.Reason, tc.reason)
			}
			if tc.symbols == "FILETYPE_MISMATCH" && res.Symbols[0].Score != 1 {
				t.Fatalf("mismatch score %v, want 1", res.Symbols[0].Score)
			}
		})
	}
}

func TestCheckMIMEAnomalies(t *testing.T) {
	c := newChecker(t, "", check.Env{})
	m := buildMessage(attachment{ctype: "application/pdf", disposition: "attachment", filename: "a.pdf", data: pdfBytes(1000)})
	body, _ := readAll(m.Body)
	m.Body = memBody{bytes.NewReader(bytes.TrimSuffix(body, []byte("--BOUNDARY--\r\n")))}
	res := run(t, c, m)
	if symbolNames(res) != "MIME_BROKEN" || res.Decision != nil || res.Symbols[0].Score != 1 {
		t.Fatalf("missing close delimiter: %+v %+v", res.Symbols, res.Decision)
	}

	c = newChecker(t, "", check.Env{Content: check.ContentLimits{MaxParts: 1}})
	res = run(t, c, buildMessage(
		attachment{ctype: "text/plain", raw: "hello"},
		attachment{ctype: "application/octet-stream", disposition: "attachment", filename: "setup.exe", data: fakePE()},
	))
	if symbolNames(res) != "MIME_LIMIT" || res.Decision == nil || res.Decision.Action != check.ActQuarantine {
		t.Fatalf("parts limit: %+v %+v", res.Symbols, res.Decision)
	}

	// A zip cut at the decoded-size limit is incomplete, not broken.
	c = newChecker(t, "", check.Env{Content: check.ContentLimits{MaxDecodedBytes: 3000}})
	res = run(t, c, buildMessage(attachment{ctype: "application/zip", disposition: "attachment", filename: "a.zip", data: makeZip(t, zipEntry{name: "a.pdf", data: pdfBytes(8000), store: true})}))
	if symbolNames(res) != "MIME_LIMIT" {
		t.Fatalf("truncated zip: %+v", res.Symbols)
	}
}

func readAll(b check.Body) ([]byte, error) {
	out := make([]byte, b.Size())
	_, err := b.ReadAt(out, 0)
	return out, err
}

func TestCheckOutcomes(t *testing.T) {
	exe := attachment{ctype: "application/octet-stream", disposition: "attachment", filename: "tool.exe", data: fakePE()}
	t.Run("scores and none", func(t *testing.T) {
		c := newChecker(t, "outcomes: {blocked_extension: none, executable: 5.5}", check.Env{})
		res := run(t, c, buildMessage(exe))
		if res.Decision != nil || symbolNames(res) != "FILETYPE_BLOCKED FILETYPE_EXECUTABLE" || res.Symbols[0].Score != 0 || res.Symbols[1].Score != 5.5 {
			t.Fatalf("%+v %+v", res.Symbols, res.Decision)
		}
	})
	t.Run("allowed extension", func(t *testing.T) {
		c := newChecker(t, "allowed_extensions: [exe]\noutcomes: {executable: quarantine}", check.Env{})
		res := run(t, c, buildMessage(exe))
		if symbolNames(res) != "FILETYPE_EXECUTABLE" || res.Decision.Action != check.ActQuarantine {
			t.Fatalf("%+v %+v", res.Symbols, res.Decision)
		}
	})
	t.Run("reject reply", func(t *testing.T) {
		c := newChecker(t, `reject_reply: "550 5.7.1 Attachments of this kind are not accepted here"`, check.Env{})
		res := run(t, c, buildMessage(exe))
		if res.Decision.Reply.String() != "550 5.7.1 Attachments of this kind are not accepted here" {
			t.Fatalf("reply %v", res.Decision.Reply)
		}
	})
	t.Run("tempfail gets a 4xx reply", func(t *testing.T) {
		c := newChecker(t, "outcomes: {blocked_extension: tempfail, executable: none}", check.Env{})
		res := run(t, c, buildMessage(exe))
		if res.Decision.Action != check.ActTempfail || res.Decision.Reply.Code != 451 {
			t.Fatalf("%+v", res.Decision)
		}
	})
	t.Run("many findings make one symbol per rule", func(t *testing.T) {
		c := newChecker(t, "", check.Env{})
		z := makeZip(t, zipEntry{name: "a.exe", data: []byte("x")}, zipEntry{name: "b.scr", data: []byte("x")},
			zipEntry{name: "c.bat", data: []byte("x")}, zipEntry{name: "d.js", data: []byte("x")}, zipEntry{name: "e.vbs", data: []byte("x")})
		res := run(t, c, buildMessage(attachment{ctype: "application/zip", disposition: "attachment", filename: "x.zip", data: z}))
		if len(res.Symbols) != 1 || !strings.HasSuffix(res.Symbols[0].Detail, "(+2 more)") {
			t.Fatalf("%+v", res.Symbols)
		}
	})
}

func TestCheckContract(t *testing.T) {
	c := newChecker(t, "", check.Env{})
	if c.Name() != "filetype" || c.Stages() != check.Stages(check.EOM) {
		t.Fatal("name or stages")
	}
	reg, ok := check.Lookup("filetype")
	if !ok || !reg.DefaultOn || reg.FailurePolicy != check.FailTempfail || reg.Timeout != 30*time.Second {
		t.Fatalf("registration %+v", reg)
	}
	res, err := c.Run(context.Background(), buildMessage(), check.Rcpt)
	if err != nil || len(res.Symbols) != 0 {
		t.Fatalf("non-EOM stage: %+v %v", res, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	m := buildMessage(attachment{ctype: "application/zip", disposition: "attachment", filename: "a.zip", data: makeZip(t, zipEntry{name: "a.txt", data: []byte("x")})})
	defer m.Done()
	if _, err := c.Run(ctx, m, check.EOM); err == nil {
		t.Fatal("cancelled context: no error")
	}
}

func TestConfig(t *testing.T) {
	for _, tc := range []struct {
		name, src string
		err       string // substring; "" for valid
		check     func(t *testing.T, c *Checker)
	}{
		{name: "empty", src: ""},
		{name: "all settings", src: `
blocked_extensions: [exe, ".SCR"]
extra_blocked_extensions: [html]
allowed_extensions: [scr]
archive_depth: 5
archive_max_entries: 500
archive_max_bytes: 64M
archive_max_ratio: 50
scan_archives: true
executable_scripts: true
outcomes: {blocked_extension: reject, double_extension: reject, bidi_name: quarantine, executable: reject,
  disguised: reject, mismatch: 2, encrypted: none, macro: 3.5, bomb: reject, archive_depth: quarantine,
  archive_broken: quarantine, mime_broken: 0.5, mime_limit: tempfail}
reject_reply: "554 5.7.1 Not accepted"
`, check: func(t *testing.T, c *Checker) {
			o := c.in.opts
			if !c.in.Blocked("exe") || !c.in.Blocked("html") || c.in.Blocked("scr") || c.in.Blocked("bat") {
				t.Fatalf("blocked %v", c.in.blocked)
			}
			if o.ArchiveDepth != 5 || o.MaxEntries != 500 || o.MaxBytes != 64<<20 || o.MaxRatio != 50 || !o.ExecutableScripts {
				t.Fatalf("options %+v", o)
			}
			if c.outcomes[RuleMismatch] != check.Score(2) || c.outcomes[RuleEncrypted] != (check.Outcome{}) || c.outcomes[RuleMIMELimit] != check.Tempfail {
				t.Fatalf("outcomes %+v", c.outcomes)
			}
		}},
		{name: "defaults", src: "scan_archives: false", check: func(t *testing.T, c *Checker) {
			o := c.in.opts
			if o.ArchiveDepth != 3 || o.MaxEntries != 10000 || o.MaxBytes != 512<<20 || o.MaxRatio != 100 || !o.SkipArchives {
				t.Fatalf("options %+v", o)
			}
			if !c.in.Blocked("one") || !c.in.Blocked("settingcontent-ms") || c.outcomes[RuleBomb] != check.Reject || c.outcomes[RuleMIMEBroken] != check.Score(1) {
				t.Fatal("default list or outcomes")
			}
		}},
		{name: "empty blocked list", src: "blocked_extensions: []", check: func(t *testing.T, c *Checker) {
			if len(c.in.blocked) != 0 {
				t.Fatalf("blocked %v", c.in.blocked)
			}
		}},
		{name: "plain byte count", src: "archive_max_bytes: 2097152", check: func(t *testing.T, c *Checker) {
			if c.in.opts.MaxBytes != 2<<20 {
				t.Fatal(c.in.opts.MaxBytes)
			}
		}},
		{name: "unknown key", src: "archive_dept: 2", err: `line 1: checks.filetype.archive_dept: unknown field (did you mean "archive_depth"?)`},
		{name: "unknown outcome key", src: "outcomes:\n  exe: reject", err: "line 2: checks.filetype.outcomes.exe: unknown field"},
		{name: "bad outcome", src: "outcomes:\n  macro: block", err: `line 2`},
		{name: "bad extension", src: "extra_blocked_extensions: [tar.gz]", err: `line 1: checks.filetype.extra_blocked_extensions: "tar.gz" is not a file name extension`},
		{name: "depth out of range", src: "archive_depth: 0", err: "line 1: checks.filetype.archive_depth: 0: want 1 to 16"},
		{name: "entries out of range", src: "archive_max_entries: -1", err: "archive_max_entries: -1"},
		{name: "bytes too small", src: "archive_max_bytes: 1K", err: "archive_max_bytes: 1024: want at least 1M"},
		{name: "bytes not a size", src: "archive_max_bytes: lots", err: `line 1: checks.filetype: "lots" is not a size`},
		{name: "ratio too small", src: "archive_max_ratio: 1", err: "archive_max_ratio: 1: want 2"},
		{name: "reply not 5xx", src: `reject_reply: "451 4.7.1 later"`, err: "must be a 5xx reply"},
		{name: "reply malformed", src: `reject_reply: "no code"`, err: "must start with a 4xx or 5xx code"},
		{name: "every error at once", src: "archive_depth: 99\narchive_max_ratio: 0\n", err: "line 2: checks.filetype.archive_max_ratio"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var node *yaml.Node
			if tc.src != "" {
				var n yaml.Node
				if err := yaml.Unmarshal([]byte(tc.src), &n); err != nil {
					t.Fatal(err)
				}
				node = n.Content[0]
			}
			c, err := factory(node, check.Env{})
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.check != nil {
				tc.check(t, c.(*Checker))
			}
		})
	}
}

func TestReplyName(t *testing.T) {
	for in, want := range map[string]string{
		"setup.exe":                       "setup.exe",
		"請求書.exe":                         "???.exe",
		"a\"b\\c\r\n.exe":                 "a?b?c??.exe",
		strings.Repeat("x", 100) + ".exe": strings.Repeat("x", 28) + "..." + strings.Repeat("x", 25) + ".exe",
	} {
		if got := replyName(in); got != want {
			t.Errorf("replyName(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestMetricNames lints the family's metrics (STYLE §8): the
// mamori_filetype_ prefix, _total on counters, _seconds on histograms, and
// no label but the bounded rule (never a file name).
func TestMetricNames(t *testing.T) {
	findingsTotal.WithLabelValues(string(RuleBlocked)).Add(0)
	want := map[string]dto.MetricType{
		"mamori_filetype_findings_total":        dto.MetricType_COUNTER,
		"mamori_filetype_archive_members_total": dto.MetricType_COUNTER,
		"mamori_filetype_archive_bytes_total":   dto.MetricType_COUNTER,
		"mamori_filetype_inspect_seconds":       dto.MetricType_HISTOGRAM,
	}
	metricstest.Lint(t, "mamori_filetype_", want, []string{"rule"})
}

// TestREADMEExample keeps the worked example of README.md true.
func TestREADMEExample(t *testing.T) {
	c := newChecker(t, `
extra_blocked_extensions: [html, htm, svg]
allowed_extensions: [one, onepkg]
archive_depth: 4
archive_max_bytes: 256M
outcomes:
  encrypted: reject
  macro: quarantine
  mismatch: 2
`, check.Env{})
	z := makeZip(t, zipEntry{name: "請求書.pdf.exe", data: fakePE()})
	res := run(t, c, buildMessage(attachment{ctype: "application/zip", disposition: "attachment", filename: "請求書.zip", data: z}))
	want := []check.Symbol{
		{Name: "FILETYPE_BLOCKED", Detail: "請求書.zip/請求書.pdf.exe: extension .exe"},
		{Name: "FILETYPE_DOUBLE_EXT", Detail: "請求書.zip/請求書.pdf.exe: .exe hidden behind .pdf"},
		{Name: "FILETYPE_EXECUTABLE", Detail: "請求書.zip/請求書.pdf.exe: application/vnd.microsoft.portable-executable"},
	}
	if len(res.Symbols) != len(want) {
		t.Fatalf("symbols %+v", res.Symbols)
	}
	for i, w := range want {
		if res.Symbols[i] != w {
			t.Fatalf("symbol %d = %+v, want %+v", i, res.Symbols[i], w)
		}
	}
	if got := res.Decision.Reply.String(); got != `554 5.7.1 Attachment "???.zip/???.pdf.exe" refused: file type not allowed` {
		t.Fatalf("reply %q", got)
	}
	if res.Decision.Reason != "filetype blocked_extension: 請求書.zip/請求書.pdf.exe: extension .exe" {
		t.Fatalf("reason %q", res.Decision.Reason)
	}
	res = run(t, c, buildMessage(attachment{ctype: "application/zip", disposition: "attachment", filename: "ppap.zip",
		data: makeZip(t, zipEntry{name: "a.pdf", data: []byte("0123456789abcdef"), flags: 1})}))
	if got := res.Decision.Reply.String(); got != `554 5.7.1 Attachment "ppap.zip" refused: encrypted content cannot be checked` {
		t.Fatalf("reply %q", got)
	}
}
