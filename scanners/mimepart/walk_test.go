package mimepart

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"

	"github.com/mamori-mail/mamori/internal/spool"
	"github.com/mamori-mail/mamori/rules/check"
)

// b64 encodes data as mail does, 76 characters per line.
func b64(data []byte) string {
	s := base64.StdEncoding.EncodeToString(data)
	var b strings.Builder
	for len(s) > 76 {
		b.WriteString(s[:76] + "\r\n")
		s = s[76:]
	}
	b.WriteString(s + "\r\n")
	return b.String()
}

// crlf turns the LF line ends of a test literal into CRLF.
func crlf(s string) string { return strings.ReplaceAll(s, "\n", "\r\n") }

func walk(t *testing.T, msg string, lim Limits) *Result {
	t.Helper()
	r, err := Walk(context.Background(), strings.NewReader(msg), int64(len(msg)), lim)
	if err != nil {
		t.Fatalf("Walk: %v", err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func partText(t *testing.T, p *Part) string {
	t.Helper()
	b, err := io.ReadAll(p.Open())
	if err != nil {
		t.Fatalf("reading part %s: %v", p.Path, err)
	}
	return string(b)
}

type wantPart struct {
	path, typ, name, body string
}

func check1(t *testing.T, r *Result, want []wantPart, kinds ...Kind) {
	t.Helper()
	if len(r.Parts) != len(want) {
		var got []string
		for _, p := range r.Parts {
			got = append(got, p.Path+" "+p.ContentType+" "+p.Filename)
		}
		t.Fatalf("got %d parts %q, want %d", len(r.Parts), got, len(want))
	}
	for i, w := range want {
		p := r.Parts[i]
		if p.Path != w.path || p.ContentType != w.typ || p.Filename != w.name {
			t.Errorf("part %d = %s %s %q, want %s %s %q", i, p.Path, p.ContentType, p.Filename, w.path, w.typ, w.name)
		}
		if w.body != "" {
			if got := partText(t, p); got != w.body {
				t.Errorf("part %s content = %q, want %q", p.Path, got, w.body)
			}
		}
	}
	got := map[Kind]bool{}
	for _, a := range r.Anomalies {
		got[a.Kind] = true
	}
	for _, k := range kinds {
		if !got[k] {
			t.Errorf("anomaly %s missing; have %+v", k, r.Anomalies)
		}
		delete(got, k)
	}
	for k := range got {
		t.Errorf("unexpected anomaly %s: %+v", k, r.Anomalies)
	}
}

func TestWalk(t *testing.T) {
	exe := []byte("MZ\x90\x00fake executable bytes \x00\x01\x02")
	for _, tc := range []struct {
		name  string
		msg   string
		want  []wantPart
		kinds []Kind
	}{
		{"plain text", crlf("Subject: hi\n\nhello\n"),
			[]wantPart{{"1", "text/plain", "", "hello\r\n"}}, nil},
		{"mixed with base64 attachment", crlf("Content-Type: multipart/mixed; boundary=\"b1\"\n\npreamble\n--b1\nContent-Type: text/plain\n\nbody\n--b1\nContent-Type: application/octet-stream; name=\"a.exe\"\nContent-Disposition: attachment; filename=\"a.exe\"\nContent-Transfer-Encoding: base64\n\n") + b64(exe) + crlf("--b1--\n"),
			[]wantPart{{"1", "text/plain", "", "body"}, {"2", "application/octet-stream", "a.exe", string(exe)}}, nil},
		{"nested alternative and attached message", crlf(`Content-Type: multipart/mixed; boundary=outer

--outer
Content-Type: multipart/alternative; boundary=alt

--alt
Content-Type: text/plain

plain
--alt
Content-Type: text/html

<p>html</p>
--alt--
--outer
Content-Type: message/rfc822

Subject: inner
Content-Type: multipart/mixed; boundary=in

--in
Content-Type: text/plain

inner text
--in
Content-Type: application/zip
Content-Disposition: attachment; filename=inner.zip

PK
--in--
--outer--
`),
			[]wantPart{{"1.1", "text/plain", "", "plain"}, {"1.2", "text/html", "", "<p>html</p>"}, {"2.1", "text/plain", "", "inner text"}, {"2.2", "application/zip", "inner.zip", "PK"}}, nil},
		{"RFC 2231 UTF-8 name", crlf("Content-Type: application/pdf\nContent-Disposition: attachment; filename*=UTF-8''%E8%AB%8B%E6%B1%82%E6%9B%B8.pdf\n\n%PDF\n"),
			[]wantPart{{"1", "application/pdf", "請求書.pdf", ""}}, nil},
		{"RFC 2231 continuations", crlf("Content-Type: application/pdf\nContent-Disposition: attachment;\n filename*0*=UTF-8''%E8%AB%8B;\n filename*1*=%E6%B1%82%E6%9B%B8;\n filename*2=.pdf\n\n%PDF\n"),
			[]wantPart{{"1", "application/pdf", "請求書.pdf", ""}}, nil},
		{"RFC 2231 ISO-2022-JP", crlf("Content-Type: application/pdf\nContent-Disposition: attachment; filename*=iso-2022-jp'ja'%1B%24B%40A5a%3Dq%1B%28B.pdf\n\n%PDF\n"),
			[]wantPart{{"1", "application/pdf", "請求書.pdf", ""}}, nil},
		{"RFC 2047 in quoted name (ISO-2022-JP)", crlf("Content-Type: application/pdf; name=\"=?ISO-2022-JP?B?GyRCQEE1YT1xGyhC?=.pdf\"\n\n%PDF\n"),
			[]wantPart{{"1", "application/pdf", "請求書.pdf", ""}}, nil},
		{"RFC 2047 Shift_JIS", crlf("Content-Type: application/pdf\nContent-Disposition: attachment; filename=\"=?Shift_JIS?B?kL+LgY+R?=.pdf\"\n\n%PDF\n"),
			[]wantPart{{"1", "application/pdf", "請求書.pdf", ""}}, nil},
		{"quoted-printable", crlf("Content-Transfer-Encoding: quoted-printable\n\na=3Db soft=\nbreak  \n=E3=81=82\n"),
			[]wantPart{{"1", "text/plain", "", "a=b softbreak\r\nあ\r\n"}}, nil},
		{"quoted-printable bad escape", crlf("Content-Transfer-Encoding: Quoted-Printable\n\n100=ZZ\n"),
			[]wantPart{{"1", "text/plain", "", "100=ZZ\r\n"}}, []Kind{KindEncoding}},
		{"base64 with stray characters", crlf("Content-Type: application/octet-stream\nContent-Transfer-Encoding: base64\n\nTV!o*A#A\n"),
			[]wantPart{{"1", "application/octet-stream", "", "MZ\x00"}}, []Kind{KindEncoding}},
		{"missing close delimiter", crlf("Content-Type: multipart/mixed; boundary=b\n\n--b\n\none\n--b\nContent-Type: text/html\n\ntwo\n"),
			[]wantPart{{"1", "text/plain", "", "one"}, {"2", "text/html", "", "two\r\n"}}, []Kind{KindBoundary}},
		{"boundary never found", crlf("Content-Type: multipart/mixed; boundary=nothere\n\nall of it\n"),
			[]wantPart{{"1", "text/plain", "", "all of it\r\n"}}, []Kind{KindBoundary}},
		{"multipart without boundary", crlf("Content-Type: multipart/mixed\n\n--x\n\ntext\n"),
			[]wantPart{{"1", "text/plain", "", "--x\r\n\r\ntext\r\n"}}, []Kind{KindBoundary}},
		{"malformed part header keeps later parts", crlf("Content-Type: multipart/mixed; boundary=b\n\n--b\n\none\n--b\nthis line has no colon\nContent-Type: application/x-msdownload; name=evil.exe\n\nMZ\n--b\nContent-Type: text/plain\n\nthree\n--b--\n"),
			[]wantPart{{"1", "text/plain", "", "one"}, {"2", "text/plain", "", ""}, {"3", "text/plain", "", "three"}}, []Kind{KindHeader}},
		{"LF-only line ends", "Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/plain\n\nlf\n--b--\n",
			[]wantPart{{"1", "text/plain", "", "lf"}}, nil},
		{"delimiter with trailing space", crlf("Content-Type: multipart/mixed; boundary=b\n\n--b   \n\nx\n--b--  \n"),
			[]wantPart{{"1", "text/plain", "", "x"}}, nil},
		{"longer boundary is not a delimiter", crlf("Content-Type: multipart/mixed; boundary=b\n\n--b\n\n--bb is text\n--b--\n"),
			[]wantPart{{"1", "text/plain", "", "--bb is text"}}, nil},
		{"uuencoded file in text", crlf("Subject: uu\n\nsee attached\nbegin 644 a.exe\n&35HB(&%B\n`\nend\nbye\n"),
			[]wantPart{{"1", "text/plain", "", ""}, {"1.u1", "application/octet-stream", "a.exe", "MZ\" ab"}}, nil},
		{"x-uuencode transfer encoding", crlf("Content-Type: application/octet-stream; name=b.bin\nContent-Transfer-Encoding: x-uuencode\n\nbegin 600 b.bin\n&35HB(&%B\n`\nend\n"),
			[]wantPart{{"1", "application/octet-stream", "b.bin", "MZ\" ab"}}, nil},
		{"unknown transfer encoding", crlf("Content-Transfer-Encoding: x-weird\n\nraw\n"),
			[]wantPart{{"1", "text/plain", "", "raw\r\n"}}, []Kind{KindEncoding}},
		{"digest defaults to message/rfc822", crlf("Content-Type: multipart/digest; boundary=d\n\n--d\n\nSubject: m1\nContent-Type: text/plain\n\nfirst\n--d--\n"),
			[]wantPart{{"1", "text/plain", "", "first"}}, nil},
		{"base64 encoded attached message", crlf("Content-Type: message/rfc822\nContent-Transfer-Encoding: base64\n\n") + b64([]byte(crlf("Content-Type: text/plain; name=x.js\n\nwscript\n"))),
			[]wantPart{{"1", "text/plain", "x.js", "wscript\r\n"}}, nil},
		{"malformed disposition still names the file", crlf("Content-Type: application/octet-stream\nContent-Disposition: attachment; filename=\"a b.exe\" junk; size\n\nMZ\n"),
			[]wantPart{{"1", "application/octet-stream", "a b.exe", ""}}, []Kind{KindHeader}},
		{"duplicate parameter: first wins", crlf("Content-Type: application/octet-stream; name=a.pdf; name=a.exe\n\nx\n"),
			[]wantPart{{"1", "application/octet-stream", "a.pdf", ""}}, []Kind{KindHeader}},
		{"empty body", "Subject: x\r\n\r\n",
			[]wantPart{{"1", "text/plain", "", ""}}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			check1(t, walk(t, tc.msg, Limits{}), tc.want, tc.kinds...)
		})
	}
}

func TestWalkLimits(t *testing.T) {
	t.Run("depth", func(t *testing.T) {
		var b strings.Builder
		for i := 0; i < 30; i++ {
			fmt.Fprintf(&b, "Content-Type: multipart/mixed; boundary=b%d\r\n\r\n--b%d\r\n", i, i)
		}
		b.WriteString("Content-Type: text/plain\r\n\r\ndeep\r\n")
		r := walk(t, b.String(), Limits{MaxDepth: 5})
		if len(r.Parts) != 1 || !strings.Contains(partText(t, r.Parts[0]), "deep") {
			t.Fatalf("the deep content must be kept as one part for the scanners; parts %d", len(r.Parts))
		}
		check1(t, r, []wantPart{{"1.1.1.1.1", "multipart/mixed", "", ""}}, KindDepth, KindBoundary)
	})
	t.Run("parts", func(t *testing.T) {
		var b strings.Builder
		b.WriteString("Content-Type: multipart/mixed; boundary=b\r\n\r\n")
		for i := 0; i < 50; i++ {
			fmt.Fprintf(&b, "--b\r\nContent-Type: text/plain\r\n\r\n%d\r\n", i)
		}
		b.WriteString("--b--\r\n")
		r := walk(t, b.String(), Limits{MaxParts: 10})
		if len(r.Parts) != 10 {
			t.Fatalf("parts = %d, want 10", len(r.Parts))
		}
		if r.Anomalies[0].Kind != KindParts || !r.Anomalies[0].IsLimit() {
			t.Fatalf("anomalies = %+v", r.Anomalies)
		}
	})
	t.Run("decoded size", func(t *testing.T) {
		data := bytes.Repeat([]byte("A"), 5000)
		msg := crlf("Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Transfer-Encoding: base64\n\n") + b64(data) + crlf("--b\n\nlater\n--b--\n")
		r := walk(t, msg, Limits{MaxDecodedBytes: 1000})
		if len(r.Parts) != 1 || !r.Parts[0].Truncated || r.Parts[0].Size != 1000 || r.Bytes != 1000 {
			t.Fatalf("want one truncated part of 1000 bytes, got %d parts, bytes %d", len(r.Parts), r.Bytes)
		}
		check1(t, r, []wantPart{{"1", "text/plain", "", strings.Repeat("A", 1000)}}, KindSize)
	})
}

func TestWalkSpillsLargePartsToFile(t *testing.T) {
	data := bytes.Repeat([]byte("0123456789"), 10000)
	msg := crlf("Content-Type: application/octet-stream\nContent-Transfer-Encoding: base64\n\n") + b64(data)
	r := walk(t, msg, Limits{MemoryBytes: 4096, TempDir: t.TempDir()})
	if sp, ok := r.Parts[0].content.(*spool.Spool); !ok || !sp.OnDisk() {
		t.Fatalf("a part over MemoryBytes must spill to a file, got %T", r.Parts[0].content)
	}
	if got := partText(t, r.Parts[0]); got != string(data) {
		t.Fatal("spilled content differs")
	}
	buf := make([]byte, 10)
	if n, err := r.Parts[0].ReadAt(buf, 99995); n != 5 || err != io.EOF || string(buf[:5]) != "56789" {
		t.Fatalf("ReadAt at the end = %d %v %q", n, err, buf[:n])
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
}

type memBody struct{ *strings.Reader }

func (b memBody) Size() int64 { return b.Reader.Size() }

func TestForMessageWalksOnceAndReleases(t *testing.T) {
	body := crlf("--b\nContent-Type: application/pdf; name=a.pdf\n\n%PDF\n--b--\n")
	m := &check.Message{
		Headers: []check.Header{{Name: "Subject", Raw: " x"}, {Name: "Content-Type", Raw: " multipart/mixed;\r\n\tboundary=\"b\""}},
		Body:    memBody{strings.NewReader(body)},
	}
	var wg sync.WaitGroup
	results := make([]*Result, 8)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := ForMessage(context.Background(), m, check.ContentLimits{})
			if err != nil {
				t.Error(err)
			}
			results[i] = r
		}()
	}
	wg.Wait()
	for _, r := range results[1:] {
		if r != results[0] {
			t.Fatal("checks asking at once must share one walk")
		}
	}
	check1(t, results[0], []wantPart{{"1", "application/pdf", "a.pdf", "%PDF"}})
	m.Done()
	if results[0].Parts[0].content != nil {
		t.Fatal("Done must release the parts")
	}
}

func TestWalkCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	msg := crlf("Subject: x\n\nbody\n")
	if _, err := Walk(ctx, strings.NewReader(msg), int64(len(msg)), Limits{}); err == nil {
		t.Fatal("a cancelled walk must say so")
	}
}
