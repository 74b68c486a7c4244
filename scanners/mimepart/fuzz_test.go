package mimepart

import (
	"bytes"
	"context"
	"io"
	"mime"
	"os"
	"strings"
	"testing"
)

// FuzzWalk feeds arbitrary messages to the walk under small limits: it must
// not panic, must keep its limits, and every part must read back as many
// bytes as it claims.
func FuzzWalk(f *testing.F) {
	for _, s := range []string{
		"Subject: x\r\n\r\nbody\r\n",
		"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Transfer-Encoding: base64\r\n\r\nTVqQ\r\n--b\r\nContent-Type: message/rfc822\r\n\r\nContent-Type: multipart/mixed; boundary=c\r\n\r\n--c\r\n\r\nx\r\n--c--\r\n--b--\r\n",
		"Content-Type: text/plain\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n=41=\r\n=ZZ\r\nbegin 644 a.exe\r\n&35HB(&%B\r\n`\r\nend\r\n",
		"Content-Type: multipart/digest; boundary=\"=_a\"\n\n--=_a\n\nContent-Type: application/x; name*0*=utf-8''%E8; name*1=x\n\nz\n",
		"Content-Type: message/rfc822\r\nContent-Transfer-Encoding: x-uuencode\r\n\r\nbegin 644 m\r\n`\r\nend\r\n",
	} {
		f.Add([]byte(s))
	}
	dir, err := os.MkdirTemp("", "mamori-fuzz-")
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { os.RemoveAll(dir) })
	lim := Limits{MaxDepth: 4, MaxParts: 20, MaxDecodedBytes: 64 << 10, MemoryBytes: 1 << 10, TempDir: dir}
	f.Fuzz(func(t *testing.T, msg []byte) {
		r, err := Walk(context.Background(), bytes.NewReader(msg), int64(len(msg)), lim)
		if err != nil {
			t.Fatalf("Walk: %v", err)
		}
		defer r.Close()
		if len(r.Parts) > lim.MaxParts || r.Bytes > lim.MaxDecodedBytes {
			t.Fatalf("limits broken: %d parts, %d bytes", len(r.Parts), r.Bytes)
		}
		var sum int64
		for _, p := range r.Parts {
			n, err := io.Copy(io.Discard, p.Open())
			if err != nil || n != p.Size {
				t.Fatalf("part %s: read %d of %d: %v", p.Path, n, p.Size, err)
			}
			sum += n
		}
		if sum != r.Bytes {
			t.Fatalf("Bytes = %d, parts sum to %d", r.Bytes, sum)
		}
	})
}

// FuzzParseMediaType checks the lenient parameter parser against the
// standard library: where mime.ParseMediaType accepts a plain value, both
// must agree.
func FuzzParseMediaType(f *testing.F) {
	for _, s := range []string{
		`text/plain; charset="utf-8"`,
		`application/pdf; name=a.pdf`,
		`attachment; filename="a b.exe"; size=12`,
		`attachment; filename*=UTF-8''%E8%AB%8B.pdf`,
		`attachment; filename*0="a"; filename*1="b.exe"`,
		`multipart/mixed; boundary="----=_Part_1"`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		typ, params, _ := parseMediaType(v)
		if strings.ContainsAny(v, "\r\n") || strings.Contains(v, "=?") || strings.Contains(v, "*") || strings.Contains(v, "\\") || strings.Contains(v, "%") {
			return
		}
		st, sp, err := mime.ParseMediaType(v)
		if err != nil {
			return
		}
		if st != typ {
			t.Fatalf("type %q, stdlib %q", typ, st)
		}
		for k, want := range sp {
			if params[k] != want {
				t.Fatalf("param %s = %q, stdlib %q", k, params[k], want)
			}
		}
	})
}
