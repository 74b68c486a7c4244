package mailfile

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/mamori-mail/mamori/internal/spool"
)

var lim = Limits{MaxHeaders: 100, MaxHeaderSize: 64 << 10, MaxMessageSize: 1 << 20, SpoolThreshold: 1 << 10}

func body(t *testing.T, b interface{ Size() int64 }) string {
	t.Helper()
	data, err := io.ReadAll(io.NewSectionReader(b.(*spool.Spool), 0, b.Size()))
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		name    string
		in      string
		headers []string // name=raw
		body    string
	}{
		{"lf file", "From: a@b\nSubject: hi\n\nline\n", []string{"From= a@b", "Subject= hi"}, "line\r\n"},
		{"crlf kept", "From: a@b\r\n\r\nx\r\ny", []string{"From= a@b"}, "x\r\ny"},
		{"mbox separator skipped", "From a@b Thu Jan  1 00:00:00 2002\nFrom: a@b\n\nx\n", []string{"From= a@b"}, "x\r\n"},
		{"folds become CRLF, white space kept", "Subject:  a\n\tb\n  c\n\n", []string{"Subject=  a\r\n\tb\r\n  c"}, ""},
		{"no body", "From: a@b\n", []string{"From= a@b"}, ""},
		{"non-field line starts the body", "From: a@b\nthis is not a header\nmore\n", []string{"From= a@b"}, "this is not a header\r\nmore\r\n"},
		{"leading fold without a field is body", " x\nFrom: a\n", nil, " x\r\nFrom: a\r\n"},
		{"empty value", "X-Empty:\n\n", []string{"X-Empty="}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := Parse(strings.NewReader(tc.in), lim)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, h := range m.Headers {
				got = append(got, h.Name+"="+h.Raw)
			}
			if strings.Join(got, "|") != strings.Join(tc.headers, "|") {
				t.Fatalf("headers %q, want %q", got, tc.headers)
			}
			if b := body(t, m.Body); b != tc.body {
				t.Fatalf("body %q, want %q", b, tc.body)
			}
		})
	}
}

func TestParseLimits(t *testing.T) {
	for _, tc := range []struct{ name, in string }{
		{"too many headers", strings.Repeat("X: y\n", 101)},
		{"header section too large", "X: " + strings.Repeat("a", 70<<10) + "\n"},
		{"header line without end", strings.Repeat("a", 70<<10)},
		{"message too large", "X: y\n\n" + strings.Repeat("b", 2<<20)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Parse(strings.NewReader(tc.in), lim); !errors.Is(err, ErrTooLarge) {
				t.Fatalf("err = %v, want ErrTooLarge", err)
			}
		})
	}
}

// FuzzParse feeds arbitrary bytes through the file intake path. Whatever
// the input, Parse must not panic, must keep bodies in CRLF form, and must
// account for every byte it kept.
func FuzzParse(f *testing.F) {
	for _, seed := range []string{
		"From: a@b\nSubject: hi\n\nbody\n",
		"From a@b Thu Jan  1 00:00:00 2002\nFrom: a@b\n\n",
		"Subject: =?UTF-8?B?5a6I44KK?=\n\tfolded\n\n",
		"Content-Type: multipart/mixed; boundary=\"x\"\n\n--x\nContent-Type: text/plain\n\nhi\n--x--\n",
		"Content-Type: multipart/mixed; boundary=\n\n--\n--\n",
		": no name\n\n",
		"X-Bad\x00Name: v\n\n",
		"\r\r\r\n\n\n",
		"A:\r\n \r\n\r\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := Parse(bytes.NewReader(data), Limits{MaxHeaders: 50, MaxHeaderSize: 8 << 10, MaxMessageSize: 64 << 10, SpoolThreshold: 1 << 10})
		if err != nil {
			if !errors.Is(err, ErrTooLarge) {
				t.Fatalf("unexpected error kind: %v", err)
			}
			return
		}
		defer m.Body.(*spool.Spool).Close()
		b := body(t, m.Body)
		for i := 0; i < len(b); i++ {
			if b[i] == '\n' && (i == 0 || b[i-1] != '\r') {
				t.Fatalf("bare LF in body at %d", i)
			}
		}
		var hdr int64
		for _, h := range m.Headers {
			if h.Name == "" || strings.ContainsAny(h.Name, ": \t\r\n") {
				t.Fatalf("bad header name %q", h.Name)
			}
			hdr += int64(len(h.Name) + 1 + len(h.Raw) + 2)
			_ = h.Value()
		}
		if m.Size < hdr+m.Body.Size() {
			t.Fatalf("size %d does not cover headers %d + body %d", m.Size, hdr, m.Body.Size())
		}
	})
}
