package rulefile

import (
	"context"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mamori-mail/mamori/internal/mailfile"
	"github.com/mamori-mail/mamori/rules/check"
)

func compile(t *testing.T, files ...string) *Set {
	t.Helper()
	var srcs []Source
	for i, f := range files {
		srcs = append(srcs, Source{Name: "r" + string(rune('0'+i)) + ".yaml", Data: []byte(f)})
	}
	s, err := Compile(srcs)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func prepare(t *testing.T, msg string) *Input {
	t.Helper()
	m, err := mailfile.Parse(strings.NewReader(msg), mailfile.Limits{MaxHeaders: 100, MaxHeaderSize: 1 << 20, MaxMessageSize: 1 << 24, SpoolThreshold: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Done)
	in, err := Prepare(context.Background(), m, check.ContentLimits{}, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	return in
}

func fired(s *Set, in *Input) map[string]string {
	out := map[string]string{}
	for _, h := range s.Match(in) {
		out[h.Rule.Name] = h.Text
	}
	return out
}

const kinds = `
rules:
  - {name: SUBJ_FREE, header: Subject, match: '(?i)\bfree\b', score: 1.5, description: free in the subject}
  - {name: SUBJ_MITSUMORI, header: Subject, match: '見積', score: 0.1}
  - {name: HAS_X_MAILER, header: X-Mailer, exists: true, score: 0.2}
  - {name: NO_LIST_ID, header: List-Id, exists: true, negate: true, score: 0.1}
  - {name: ANY_BULK, header: ALL, match: '(?i)^precedence: bulk', score: 0.3}
  - {name: BODY_CLICK, body: '(?i)click\s+here', score: 1}
  - {name: RAW_B64, rawbody: 'Content-Transfer-Encoding: base64', score: 0.1}
  - {name: URI_SHORT, uri: '^(bit\.ly|t\.co)$', score: 1}
  - {name: ATT_ISO, attachment: '(?i)\.iso$', score: 2}
  - {name: ATT_ZIP_TYPE, attachment_type: '^application/zip$', score: 0.5}
  - {name: HTML_ONLY, builtin: html_only, score: 0.5}
  - {name: HIDDEN, builtin: invisible_text, score: 1}
  - {name: NO_DATE, builtin: missing_date, score: 1}
  - {name: CAPS, builtin: subject_all_caps, score: 0.5}
`

func TestKinds(t *testing.T) {
	s := compile(t, kinds)
	msg := "From: a@x.example\r\nTo: b@y.example\r\nSubject: =?ISO-2022-JP?B?GyRCOCtAURsoQg==?= FREE OFFER TODAY\r\n" +
		"X-Mailer: Bulk 1.0\r\nPrecedence: bulk\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n" +
		"--b\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>Please <b>click</b>  here: <a href=\"https://bit.ly/x\">x</a></p>" +
		"<div style=\"display:none\">cheap words for filters</div>\r\n" +
		"--b\r\nContent-Type: application/zip; name=\"a.zip\"\r\nContent-Transfer-Encoding: base64\r\n\r\nUEsDBA==\r\n" +
		"--b\r\nContent-Type: application/octet-stream; name=\"disk.ISO\"\r\n\r\nxx\r\n--b--\r\n"
	got := fired(s, prepare(t, msg))
	for name, text := range map[string]string{
		"SUBJ_FREE": "FREE", "SUBJ_MITSUMORI": "見積", "HAS_X_MAILER": "", "NO_LIST_ID": "", "ANY_BULK": "Precedence: bulk",
		"BODY_CLICK": "click  here", "RAW_B64": "Content-Transfer-Encoding: base64", "URI_SHORT": "bit.ly",
		"ATT_ISO": "disk.ISO", "ATT_ZIP_TYPE": "application/zip", "HTML_ONLY": "", "HIDDEN": "", "NO_DATE": "", "CAPS": "",
	} {
		if g, ok := got[name]; !ok {
			t.Errorf("%s did not fire", name)
		} else if text != "" && g != text {
			t.Errorf("%s matched %q, want %q", name, g, text)
		}
	}
	clean := fired(s, prepare(t, "From: a@x.example\r\nDate: Wed, 25 Nov 2026 10:00:00 +0000\r\nSubject: Meeting notes\r\nList-Id: <team.example>\r\n\r\nSee you tomorrow.\r\n"))
	if len(clean) != 0 {
		t.Errorf("rules fired on a plain message: %v", clean)
	}
}

// TestNamedInlineText checks that a text part with a file name but marked
// inline, which mail clients show as the message's text, is read as text
// as well as listed as an attachment; a name must not hide text from the
// body and URI rules. Marked attachment, it is a file only.
func TestNamedInlineText(t *testing.T) {
	s := compile(t, kinds+"  - {name: ATT_HTML, attachment: '(?i)\\.html$', score: 1}\n")
	const head = "From: a@x.example\r\nContent-Type: text/html\r\nContent-Disposition: "
	const body = "\r\n\r\n<p>Please click here: <a href=\"https://bit.ly/x\">x</a></p>\r\n"
	inline := fired(s, prepare(t, head+`inline; filename="filename.html"`+body))
	for _, name := range []string{"BODY_CLICK", "URI_SHORT", "HTML_ONLY", "ATT_HTML"} {
		if _, ok := inline[name]; !ok {
			t.Errorf("inline: %s did not fire (fired %v)", name, inline)
		}
	}
	attached := fired(s, prepare(t, head+`attachment; filename="filename.html"`+body))
	if _, ok := attached["ATT_HTML"]; !ok {
		t.Errorf("attachment: ATT_HTML did not fire (fired %v)", attached)
	}
	for _, name := range []string{"BODY_CLICK", "URI_SHORT"} {
		if _, ok := attached[name]; ok {
			t.Errorf("attachment: %s read a file's text", name)
		}
	}
}

func TestCompileErrors(t *testing.T) {
	_, err := Compile([]Source{
		{Name: "a.yaml", Data: []byte(`
rules:
  - {name: lower_case, body: x, score: 1}
  - {name: NO_SCORE, body: x}
  - {name: TWO_KINDS, body: x, uri: y, score: 1}
  - {name: NO_KIND, score: 1}
  - {name: BAD_RE, body: '(unclosed', score: 1}
  - {name: HDR_NO_MATCH, header: Subject, score: 1}
  - {name: HDR_BOTH, header: Subject, match: x, exists: true, score: 1}
  - {name: MATCH_ON_BODY, body: x, match: y, score: 1}
  - {name: UNKNOWN_BUILTIN, builtin: missing_dat, score: 1}
  - {name: DUP, body: x, score: 1}
  - {name: TYPO, bdy: x, score: 1}
scores:
  bad-name: 1
`)},
		{Name: "d.yaml", Data: []byte("rules:\n  - {name: NEG_BODY, body: unsubscribe, negate: true, score: 1}\n")},
		{Name: "b.yaml", Data: []byte("rules:\n  - {name: DUP, body: y, score: 1}\n")},
		{Name: "c.yaml", Data: []byte("rules: [\n")},
	})
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{
		`a.yaml:3: rules[0] lower_case.name: "lower_case": a rule name is upper-case`,
		"a.yaml:4: rules[1] NO_SCORE.score: is required",
		"a.yaml:5: rules[2] TWO_KINDS: set exactly one of header, body, rawbody, uri, attachment, attachment_type, builtin, meta (found body, uri)",
		"a.yaml:6: rules[3] NO_KIND: set exactly one",
		"a.yaml:7: rules[4] BAD_RE.body: error parsing regexp: missing closing )",
		"a.yaml:8: rules[5] HDR_NO_MATCH.match: a header rule needs match",
		"a.yaml:9: rules[6] HDR_BOTH.match: a header rule takes match or exists",
		"a.yaml:10: rules[7] MATCH_ON_BODY.match: match belongs to header rules",
		`a.yaml:11: rules[8] UNKNOWN_BUILTIN.builtin: "missing_dat" is not a built-in test (known: client_dynamic, client_no_rdns, control_chars, date_in_future`,
		`a.yaml:13: rules[10].bdy: unknown field (did you mean "body"?)`,
		"b.yaml:2: rules[0] DUP: rule DUP is defined twice (first at a.yaml:12)",
		"c.yaml:",
		"d.yaml:2: rules[0] NEG_BODY.negate: negate belongs to header rules; to fire when a body rule does not match, write a meta rule: !NAME",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("errors lack %q", want)
		}
	}
	if t.Failed() {
		t.Logf("errors:\n%v", err)
	}
}

func TestLoadDirAndScores(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "10-local.yaml"), []byte("rules:\n  - {name: LOCAL, body: x, score: 1}\nscores:\n  SPF_FAIL: 2.5\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "20-more.yml"), []byte("rules:\n  - {name: MORE, uri: y, score: 2}\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "README.txt"), []byte("not a rule file"), 0o644)
	// An editor's lock link and a file manager's metadata file are skipped.
	os.Symlink("user@host.1234:1700000000", filepath.Join(dir, ".#10-local.yaml"))
	os.WriteFile(filepath.Join(dir, "._10-local.yaml"), []byte{0, 5, 22, 7, 0, 2}, 0o644)
	s, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Rules) != 2 || s.Rules[0].Name != "LOCAL" || s.Rules[1].Line != 2 || s.Scores["SPF_FAIL"] != 2.5 || len(s.Version) != 12 {
		t.Fatalf("set %+v", s)
	}
	if _, err := Load(filepath.Join(dir, "missing")); err == nil {
		t.Error("missing directory accepted")
	}
	s2, _ := Load(dir)
	if s2.Version != s.Version {
		t.Error("same files, different version")
	}
}

func TestBuiltins(t *testing.T) {
	for name, tc := range map[string]struct {
		msg  string
		want bool
	}{
		"missing_message_id":            {"From: a@x.example\r\n\r\nhi\r\n", true},
		"missing_subject":               {"From: a@x.example\r\nSubject:  \r\n\r\nhi\r\n", true},
		"malformed_from":                {"From: not an address\r\n\r\nhi\r\n", true},
		"date_in_future":                {"From: a@x.example\r\nDate: Fri, 1 Jan 2100 00:00:00 +0000\r\n\r\nhi\r\n", true},
		"image_only":                    {"From: a@x.example\r\nContent-Type: multipart/related; boundary=b\r\n\r\n--b\r\nContent-Type: text/html\r\n\r\n<img src=cid:1>\r\n--b\r\nContent-Type: image/png\r\nContent-Disposition: inline\r\n\r\nPNG\r\n--b--\r\n", true},
		"many_visible_recipients":       {"From: a@x.example\r\nTo: " + strings.Repeat("u@x.example, ", 19) + "v@x.example\r\n\r\nhi\r\n", true},
		"subject_all_caps":              {"From: a@x.example\r\nSubject: お見積りのご依頼 ABC\r\n\r\nhi\r\n", false},
		"reply_to_differs":              {"From: a@x.example\r\nReply-To: b@y.example\r\n\r\nhi\r\n", true},
		"from_display_address_mismatch": {"From: \"support@bank.example\" <x@evil.example>\r\n\r\nhi\r\n", true},
		"link_text_mismatch":            {"From: a@x.example\r\nContent-Type: text/html\r\n\r\n<p>Log in at <a href=\"http://evil.example/x\"><b>https://www.bank.example/login</b></a></p>\r\n", true},
		"header_not_utf8":               {"From: a@x.example\r\nSubject: caf\xe9 offer\r\n\r\nhi\r\n", true},
		"filler_line":                   {"From: a@x.example\r\n\r\nHello\r\n  gcoakgwnibgafjecarccjbjiiqlluijs \r\n", true},
		"short_text_link":               {"From: a@x.example\r\n\r\nHave a look: http://site.example/offer\r\n", true},
		"control_chars":                 {"From: a@x.example\r\nContent-Type: text/html; charset=us-ascii\r\n\r\n\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1\x00\x00\x01\x02\x03 Worldwide\r\n", true},
		"undeclared_8bit":               {"From: a@x.example\r\nContent-Type: text/plain\r\n\r\n" + strings.Repeat("\x82\xa8\x8b\xe0\x82\xaa ", 10) + "http://x.example/\r\n", true},
		"mislabeled_8bit":               {"From: a@x.example\r\nContent-Type: text/plain; charset=iso-8859-1\r\n\r\nViel Spa\xdf mit der neuen Ausgabe\r\n", true},
		"html_relative_link/root":       {"From: a@x.example\r\nContent-Type: text/html\r\n\r\n<p>Offer</p><img src=\"/img/logo.png\">\r\n", true},
		"html_relative_link":            {"From: a@x.example\r\nContent-Type: multipart/alternative; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nOffer\r\n--b\r\nContent-Type: text/html\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n<p>Offer</p><img src=3D\"images/spacer.gif\" width=3D1>\r\n--b--\r\n", true},
	} {
		t.Run(name, func(t *testing.T) {
			builtin, _, _ := strings.Cut(name, "/") // "/case" names a second case
			s := compile(t, "rules:\n  - {name: T, builtin: "+builtin+", score: 1}\n")
			if _, ok := fired(s, prepare(t, tc.msg))["T"]; ok != tc.want {
				t.Errorf("fired %v, want %v", ok, tc.want)
			}
		})
	}
	for _, tc := range []struct{ name, msg string }{
		{"reply_to_differs", "From: a@x.example\r\nReply-To: b@lists.x.example\r\n\r\nhi\r\n"},
		{"reply_to_differs", "From: a@shop.example.co.jp\r\nReply-To: b@mail.example.co.jp\r\n\r\nhi\r\n"},
		{"from_display_address_mismatch", "From: \"x@mail.bank.example\" <x@bank.example>\r\n\r\nhi\r\n"},
		{"link_text_mismatch", "From: a@x.example\r\nContent-Type: text/html\r\n\r\n<a href=\"https://click.shop.example/t/1\">www.shop.example</a> <a href=\"http://x.example/\">Read more about example.com</a>\r\n"},
		{"header_not_utf8", "From: a@x.example\r\nSubject: café =?iso-8859-1?q?caf=E9?=\r\n\r\nhi\r\n"},
		{"filler_line", "From: a@x.example\r\n\r\nsee https://example.com/averyveryverylongpathnamehere and Donaudampfschifffahrtsgesellschaft\r\n"},
		{"short_text_link", "From: a@x.example\r\n\r\n" + strings.Repeat("Long enough text without any link. ", 8) + "http://site.example/\r\n"},
		{"control_chars", "From: a@x.example\r\n\r\nCols:\ta\tb\fpage two\r\n\x1b$B$3$s\x1b(B\x07\r\n"},
		{"control_chars", "From: a@x.example\r\nContent-Type: text/plain; charset=ISO-2022-JP-MS\r\n\r\n\x1b$B$3$s\x1b(B\r\n\x1b$B$K$A$O\x1b(B\r\n\x1b$B$h$m$7$/\x1b(B\r\n"},
		{"control_chars", "From: cron@x.example\r\n\r\n\x1b[32mok\x1b[0m \x1b[31mfailed\x1b[0m \x1b[33mwarn\x1b[0m\r\n"},
		{"undeclared_8bit", "From: a@x.example\r\nContent-Type: text/plain\r\n\r\n" + strings.Repeat("お問い合わせありがとうございます。", 4) + "\r\n"},
		{"undeclared_8bit", "From: a@x.example\r\nContent-Type: text/html\r\n\r\n<html><head><style>" + strings.Repeat("p{margin:0}", 500) + "</style><meta charset=gb2312></head><body>" + strings.Repeat("\xc4\xfa\xba\xc3", 10) + "</body></html>\r\n"},
		{"undeclared_8bit", "From: a@x.example\r\nContent-Type: text/plain; charset=shift_jis\r\n\r\n" + strings.Repeat("\x82\xa8\x8b\xe0\x82\xaa ", 10) + "\r\n"},
		{"undeclared_8bit", "From: a@x.example\r\nContent-Type: text/html\r\n\r\n<html><head><meta http-equiv=Content-Type content=\"text/html; charset=gb2312\"></head><body>" + strings.Repeat("\xc4\xfa\xba\xc3", 10) + "</body></html>\r\n"},
		{"undeclared_8bit", "From: a@x.example\r\n\r\nThanks, see you soon.\r\n-- \r\nRen\xe9 M\xfcller, Z\xfcrich\r\n"},
		// Labelled 8bit, or encoded: the decoded text is 8-bit, the transfer is not.
		{"mislabeled_8bit", "From: a@x.example\r\nContent-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: 8bit\r\n\r\nViel Spa\xdf\r\n"},
		{"mislabeled_8bit", "From: a@x.example\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\ncaf=C3=A9\r\n"},
		// ISO-2022-JP is 7-bit by design.
		{"mislabeled_8bit", "From: a@x.example\r\nContent-Type: text/plain; charset=iso-2022-jp\r\nContent-Transfer-Encoding: 7bit\r\n\r\n\x1b$B$3$s$K$A$O\x1b(B\r\n"},
		// No charset is undeclared_8bit's case, not this one.
		{"mislabeled_8bit", "From: a@x.example\r\n\r\nRen\xe9 M\xfcller\r\n"},
		// A file beside the text is not the sender's text.
		{"mislabeled_8bit", "From: a@x.example\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nSee attached.\r\n--b\r\nContent-Type: text/plain; charset=iso-8859-1; name=notes.txt\r\nContent-Disposition: attachment; filename=notes.txt\r\n\r\nM\xfcller\r\n--b--\r\n"},
		{"html_relative_link", "From: a@x.example\r\nContent-Type: text/html\r\n\r\n<html><head><base href=\"https://shop.example/\"></head><body><img src=\"images/top.gif\"></body></html>\r\n"},
		{"html_relative_link", "From: a@x.example\r\nContent-Type: text/html\r\n\r\n<a href=\"#top\">Top</a> <a href=\"{{unsubscribe_url}}\">x</a> <a href=\"[UNSUBSCRIBE]\">x</a> <a href=\"*|UNSUB|*\">x</a> <a href=\"%%link.unsub%%\">x</a>\r\n"},
		{"html_relative_link", "From: a@x.example\r\nContent-Type: text/html\r\n\r\n<img src=\"cid:logo.png@01D9\"> <a href=\"mailto:info@x.example\">mail</a> <img src=\"//cdn.x.example/a.gif\"> <a href=\"https://x.example/a.html\">a</a> <link rel=File-List href=\"cid:filelist.xml@01C2\">\r\n"},
		{"html_relative_link", "From: a@x.example\r\n\r\nThe file is in images/top.gif, see <img src=\"images/top.gif\">.\r\n"},
		// A review's look-alikes: a host without its scheme, bare paths,
		// a phone number, a broken scheme, other merge tags.
		{"html_relative_link", "From: a@x.example\r\nContent-Type: text/html\r\n\r\n<a href=\"www.example.com\">a</a> <a href=\"www.example.com/a.html\">a</a> <a href=\"/unsubscribe\">u</a> <a href=\"/\">h</a> <a href=\"..\">up</a> <a href=\"+1.555.123.4567\">call</a> <a href=\"http//example.com/x\">x</a> <a href=\"%recipient.unsubscribe_url%\">u</a> <a href=\"%7B%7Bunsubscribe.url%7D%7D\">u</a> <a href=\"example.com/offer\">o</a>\r\n"},
		// A forwarded message's page is its own sender's doing.
		{"html_relative_link", "From: a@x.example\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nFYI, see below.\r\n--b\r\nContent-Type: message/rfc822\r\n\r\nFrom: c@y.example\r\nContent-Type: text/html\r\n\r\n<img src=\"images/top.gif\">\r\n--b--\r\n"},
		// UTF-8 that developers' tools send unlabelled (git send-email, quilt).
		{"mislabeled_8bit", "From: a@x.example\r\nSubject: [PATCH] hwmon: fix\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=UTF-8\r\n\r\nSigned-off-by: Thomas Wei\xc3\x9fschuh <t@x.example>\r\n"},
		// A forwarded message's labels are its sender's, even when the
		// forward's own encoding (base64 here) hides them.
		{"mislabeled_8bit", "From: a@x.example\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nFYI.\r\n--b\r\nContent-Type: message/rfc822\r\nContent-Transfer-Encoding: base64\r\n\r\n" + base64.StdEncoding.EncodeToString([]byte("From: c@y.example\r\nContent-Type: text/plain; charset=iso-8859-1\r\n\r\nViel Spa\xdf\r\n")) + "\r\n--b--\r\n"},
	} {
		t.Run(tc.name+"/no", func(t *testing.T) {
			s := compile(t, "rules:\n  - {name: T, builtin: "+tc.name+", score: 1}\n")
			if h, ok := fired(s, prepare(t, tc.msg))["T"]; ok {
				t.Errorf("fired (%q), want not", h)
			}
		})
	}
	for name := range builtins {
		if BuiltinDocs()[name] == "" {
			t.Errorf("builtin %s has no description", name)
		}
	}
}

func TestThresholdsPoliciesAndLayers(t *testing.T) {
	base := Source{Name: "defaults/10.yaml", Base: true, Data: []byte(`
rules:
  - {name: SUBJ_X, header: Subject, match: x, score: 1}
  - {name: BODY_Y, body: y, score: 1}
scores: {SPF_FAIL: 1, BODY_Y: 1.7, SUBJ_X: 1.2}
thresholds: {add_header: 5, reject: 15}
`)}
	local := Source{Name: "/etc/mamori/rules.d/50-local.yaml", Data: []byte(`
rules:
  - {name: BODY_Y, body: 'yy', score: 2.5}
scores: {SPF_FAIL: 3}
thresholds: {reject: 0}
policies:
  - name: agency
    recipient_domains: [City.Example.LG.JP, .pref.example.lg.jp]
    thresholds: {add_header: 3, quarantine: 6}
`)}
	s, err := Compile([]Source{base, local})
	if err != nil {
		t.Fatal(err)
	}
	if r := s.Rule("BODY_Y"); r == nil || r.Score != 2.5 || r.Base || len(s.ByKind(KindBody)) != 1 || len(s.Rules) != 2 {
		t.Errorf("BODY_Y not replaced: %+v (rules %d)", r, len(s.Rules))
	}
	if len(s.Replaced) != 1 || !strings.HasPrefix(s.Replaced[0], "BODY_Y (/etc/mamori/rules.d/50-local.yaml:3)") {
		t.Errorf("Replaced = %v", s.Replaced)
	}
	if s.Scores["SPF_FAIL"] != 3 {
		t.Errorf("later scores do not win: %v", s.Scores)
	}
	// The base set's (tuned) score of a rule it no longer has does not
	// override the replacement's own; the others stay.
	if v, ok := s.Scores["BODY_Y"]; ok || s.Scores["SUBJ_X"] != 1.2 {
		t.Errorf("scores after replacing BODY_Y: BODY_Y %v (present %v), SUBJ_X %v; want BODY_Y absent, SUBJ_X 1.2", v, ok, s.Scores["SUBJ_X"])
	}
	// An operator's scores section still wins over the replacement's own.
	s2, err := Compile([]Source{base, {Name: "40.yaml", Data: []byte("scores: {BODY_Y: 0.4}\n")}, local})
	if err != nil || s2.Scores["BODY_Y"] != 0.4 {
		t.Errorf("operator score of a replaced rule: %v %v", s2.Scores["BODY_Y"], err)
	}
	th := s.Thresholds
	if th.AddHeader == nil || *th.AddHeader != 5 || th.Reject == nil || *th.Reject != 0 || th.Quarantine != nil {
		t.Errorf("thresholds %+v", th)
	}
	if len(s.Policies) != 1 || s.Policies[0].Domains[0] != "city.example.lg.jp" || *s.Policies[0].Thresholds.Quarantine != 6 {
		t.Errorf("policies %+v", s.Policies)
	}

	_, err = Compile([]Source{local, {Name: "60.yaml", Data: []byte(`
rules:
  - {name: BODY_Y, body: z, score: 1}
thresholds: {add_header: -1}
policies:
  - {name: agency, recipient_domains: [a.example], thresholds: {reject: 9}}
  - {recipient_domains: ["a b"], thresholds: {}}
`)}})
	for _, want := range []string{
		"60.yaml:3: rules[0] BODY_Y: rule BODY_Y is defined twice (first at /etc/mamori/rules.d/50-local.yaml:3)",
		"60.yaml:4: thresholds.add_header: must be 0 (off) or more",
		"60.yaml:6: policies[0].name: policy agency is defined twice",
		"60.yaml:7: policies[1].name: is required",
		`60.yaml:7: policies[1].recipient_domains: entry 0: "a b" is not a domain`,
		"60.yaml:7: policies[1].thresholds: set at least one of",
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("errors lack %q:\n%v", want, err)
		}
	}
}

// TestBuiltinsDocumented keeps docs/rules.md's table of built-in tests in
// step with the code.
func TestBuiltinsDocumented(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "rules.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range builtinNames() {
		if !strings.Contains(string(doc), "| `"+name+"` |") {
			t.Errorf("docs/rules.md does not document the built-in test %s", name)
		}
	}
}
