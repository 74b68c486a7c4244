package integration

import (
	"archive/zip"
	"bytes"
	"encoding/base64"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/mamori-mail/mamori/integration/harness"
)

// attachment is one file of a test message.
type attachment struct {
	name, typ string
	data      []byte
}

// withAttachments builds a multipart/mixed message with a text part and
// the files, base64-encoded as mail clients send them.
func withAttachments(subject string, files ...attachment) []byte {
	var b bytes.Buffer
	head := message(subject)
	b.Write(head[:bytes.Index(head, []byte("\r\n\r\n"))+2])
	b.WriteString("MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"=_mamori\"\r\n\r\n")
	b.WriteString("--=_mamori\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nPlease find the file attached.\r\n")
	for _, f := range files {
		fmt.Fprintf(&b, "--=_mamori\r\nContent-Type: %s; name=\"%s\"\r\nContent-Disposition: attachment; filename=\"%s\"\r\nContent-Transfer-Encoding: base64\r\n\r\n", f.typ, f.name, f.name)
		enc := base64.StdEncoding.EncodeToString(f.data)
		for len(enc) > 76 {
			b.WriteString(enc[:76] + "\r\n")
			enc = enc[76:]
		}
		b.WriteString(enc + "\r\n")
	}
	b.WriteString("--=_mamori--\r\n")
	return b.Bytes()
}

// zipOf builds a zip archive of name → content.
func zipOf(t testing.TB, files ...attachment) []byte {
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	for _, f := range files {
		w, err := zw.Create(f.name)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(f.data)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// cleanPDF is a small, valid PDF document.
func cleanPDF() []byte {
	return []byte("%PDF-1.4\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n2 0 obj\n<< /Type /Pages /Kids [] /Count 0 >>\nendobj\n" +
		"trailer\n<< /Root 1 0 R >>\n%%EOF\n")
}

// cleanDOCX is a minimal Word document without macros.
func cleanDOCX(t testing.TB) []byte {
	return zipOf(t,
		attachment{name: "[Content_Types].xml", data: []byte(`<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="xml" ContentType="application/xml"/><Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>`)},
		attachment{name: "_rels/.rels", data: []byte(`<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="word/document.xml"/></Relationships>`)},
		attachment{name: "word/document.xml", data: []byte(`<?xml version="1.0" encoding="UTF-8"?><w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body><w:p><w:r><w:t>見積書</w:t></w:r></w:p></w:body></w:document>`)},
	)
}

func scanConfig(clamd *harness.Clamd) string {
	return `
checks:
  clamav:
    address: ` + clamd.Address() + `
  filetype:
    outcomes:
      blocked_extension: quarantine
`
}

func symbolsOf(rec map[string]any) string {
	var names []string
	syms, _ := rec["symbols"].([]any)
	for _, s := range syms {
		if m, ok := s.(map[string]any); ok {
			names = append(names, fmt.Sprint(m["name"], ":", m["detail"]))
		}
	}
	return strings.Join(names, " ")
}

// TestPostfixScanning drives the content scanners through real Postfix
// with a real clamd: malware is refused at SMTP naming the signature,
// inside an archive too; a blocked file type gets the configured action
// (quarantine here); business documents are delivered; a dead clamd
// tempfails and a live one is used again without a restart.
func TestPostfixScanning(t *testing.T) {
	t.Parallel()
	clamd := harness.StartClamd(t, harness.ClamdOptions{})
	s := startStack(t, scanConfig(clamd))
	send := func(msg []byte) harness.SMTPResult {
		return harness.SendMail(s.postfix.SMTPAddr, "client.example", "alice@example.net", []string{"bob@example.org"}, msg)
	}
	// auditFor finds the audit record of the message with this subject
	// (message() puts the subject in the Message-ID).
	auditFor := func(subject string) map[string]any {
		t.Helper()
		slug := "." + strings.ReplaceAll(subject, " ", "-") + "@"
		deadline := time.Now().Add(20 * time.Second)
		for time.Now().Before(deadline) {
			for _, r := range s.mamori.Audit(t) {
				if strings.Contains(fmt.Sprint(r["message_id"]), slug) {
					return r
				}
			}
			time.Sleep(50 * time.Millisecond)
		}
		t.Fatalf("no audit record for %q", subject)
		return nil
	}

	t.Run("EICAR attachment is rejected naming it", func(t *testing.T) {
		res := send(withAttachments("eicar", attachment{"report.txt", "text/plain", harness.EICAR()}))
		if res.Code != 554 || res.Enhanced != "5.7.1" || !strings.Contains(res.Text, harness.EICARSignature) {
			t.Fatalf("got %v, want 554 5.7.1 naming %s\n%s", res, harness.EICARSignature, s.mamori.Log())
		}
		rec := auditFor("eicar")
		if rec["action"] != "reject" || !strings.Contains(symbolsOf(rec), "CLAMAV_VIRUS:"+harness.EICARSignature) || !strings.Contains(symbolsOf(rec), "report.txt") {
			t.Fatalf("audit = %v", rec)
		}
	})
	t.Run("EICAR inside a zip is rejected", func(t *testing.T) {
		z := zipOf(t, attachment{name: "docs/readme.txt", data: harness.EICAR()})
		res := send(withAttachments("eicar zip", attachment{"docs.zip", "application/zip", z}))
		if res.Code != 554 || !strings.Contains(res.Text, harness.EICARSignature) {
			t.Fatalf("got %v, want 554 naming %s", res, harness.EICARSignature)
		}
		if rec := auditFor("eicar zip"); !strings.Contains(symbolsOf(rec), "docs.zip") {
			t.Fatalf("the audit must name the attachment: %v", symbolsOf(rec))
		}
	})
	t.Run("blocked extension gets the configured action", func(t *testing.T) {
		res := send(withAttachments("script", attachment{"invoice.js", "application/javascript", []byte("WScript.Echo('hi');\r\n")}))
		if !res.OK() {
			t.Fatalf("quarantine answers 250, got %v", res)
		}
		held := s.postfix.WaitHeld(t, 1, 20*time.Second)
		if len(held) != 1 {
			t.Fatalf("held = %+v", held)
		}
		rec := auditFor("script")
		if rec["action"] != "quarantine" || !strings.Contains(symbolsOf(rec), "FILETYPE_BLOCKED:invoice.js") {
			t.Fatalf("audit = %v %v", rec["action"], symbolsOf(rec))
		}
	})
	t.Run("executable in a zip is rejected", func(t *testing.T) {
		z := zipOf(t, attachment{name: "setup.exe", data: harness.FakePE()})
		res := send(withAttachments("exe zip", attachment{"update.zip", "application/zip", z}))
		if res.Code != 554 || res.Enhanced != "5.7.1" {
			t.Fatalf("got %v, want 554 5.7.1", res)
		}
		if rec := auditFor("exe zip"); rec["action"] != "reject" || !strings.Contains(symbolsOf(rec), "update.zip/setup.exe") {
			t.Fatalf("symbols = %v", symbolsOf(rec))
		}
	})
	t.Run("clean PDF and DOCX are delivered", func(t *testing.T) {
		res := send(withAttachments("documents", attachment{"見積書.pdf", "application/pdf", cleanPDF()},
			attachment{"報告書.docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document", cleanDOCX(t)}))
		if !res.OK() {
			t.Fatalf("clean documents refused: %v", res)
		}
		got := s.sink.WaitCount(t, 1, 20*time.Second)[0]
		if v, _ := got.Header("X-Mamori-Verdict"); v != "accept" {
			t.Fatalf("X-Mamori-Verdict = %q", v)
		}
		if rec := auditFor("documents"); rec["action"] != "accept" || symbolsOf(rec) != "" {
			t.Fatalf("clean mail must carry no symbol: %v %v", rec["action"], symbolsOf(rec))
		}
	})
	t.Run("a score-only finding reaches the report header, the audit and the metrics", func(t *testing.T) {
		png := append([]byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"), make([]byte, 64)...)
		res := send(withAttachments("renamed picture", attachment{"scan.pdf", "application/pdf", png}))
		if !res.OK() {
			t.Fatalf("a type mismatch only scores; got %v", res)
		}
		got := s.sink.WaitCount(t, 2, 20*time.Second)[1]
		if !bytes.Contains(got.Data, []byte("FILETYPE_MISMATCH")) {
			t.Fatalf("X-Mamori-Report must list the symbol:\n%s", got.Data[:bytes.Index(got.Data, []byte("\r\n\r\n"))])
		}
		if rec := auditFor("renamed picture"); !strings.Contains(symbolsOf(rec), "FILETYPE_MISMATCH:scan.pdf") {
			t.Fatalf("audit symbols = %v", symbolsOf(rec))
		}
		m := s.mamori.Metrics(t)
		for _, want := range []string{`mamori_filetype_findings_total{rule="mismatch"}`, `mamori_filetype_findings_total{rule="blocked_extension"}`, `mamori_clamav_scans_total{result="infected"}`} {
			if !strings.Contains(m, want) {
				t.Errorf("metrics lack %s", want)
			}
		}
	})
	t.Run("clamd stopped tempfails, clamd back is used again", func(t *testing.T) {
		clamd.Stop(t)
		res := send(withAttachments("while down", attachment{"a.pdf", "application/pdf", cleanPDF()}))
		if res.Code/100 != 4 {
			t.Fatalf("clamd down: got %v, want 4xx", res)
		}
		if rec := auditFor("while down"); !strings.Contains(symbolsOf(rec), "CLAMAV_FAIL") {
			t.Fatalf("audit must say why: %v", symbolsOf(rec))
		}
		clamd.Start(t)
		res = send(withAttachments("eicar after restart", attachment{"again.txt", "text/plain", harness.EICAR()}))
		if res.Code != 554 {
			t.Fatalf("after clamd restart: got %v, want 554", res)
		}
		auditFor("eicar after restart")
		if m := s.mamori.Metrics(t); !strings.Contains(m, `mamori_clamav_scans_total{result="error"}`) {
			t.Fatalf("clamd errors must show in the metrics")
		}
	})
}
