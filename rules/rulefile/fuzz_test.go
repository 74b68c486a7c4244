package rulefile

import (
	"bytes"
	"strings"
	"testing"
)

// FuzzCompile: any file content either compiles or gives errors; it never
// panics, and what compiles matches a message without panicking.
func FuzzCompile(f *testing.F) {
	f.Add([]byte(kinds))
	f.Add([]byte("rules:\n  - {name: A, header: ALL, match: '(?i)x', score: 1}\nscores: {B: 2}\n"))
	f.Add([]byte("rules: [{name: M, meta: 'A && B', score: 1}]"))
	in := &Input{
		Headers: []Field{{"Subject", "FREE"}, {"From", "a@b"}},
		Texts:   []string{"click here"}, Raw: []byte("raw"), Hosts: []string{"bit.ly"},
		Attachments: []Attachment{{"a.iso", "application/octet-stream"}}, HTMLParts: 1,
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := Compile([]Source{{Name: "f.yaml", Data: data}})
		if err != nil {
			return
		}
		s.Match(in)
	})
}

// FuzzScanHTML: the HTML scan behind invisible_text, link_text_mismatch
// and html_relative_link never panics, and only reports what the markup
// can show: hidden text needs a style attribute, a mismatch needs a link,
// and what is reported as a relative path looks like one.
func FuzzScanHTML(f *testing.F) {
	f.Add([]byte(`<div style="display:none">hidden <br> words</div><p>shown</p>`))
	f.Add([]byte(`<img src=x style="display:none"><a href="https://evil.example/x">https://bank.example/</a>`))
	f.Add([]byte(`<DIV STYLE="font-size:0px"><div></div>x</DIV></span>y`))
	f.Add([]byte(`<a href=http://a.example>www.b.example</a><a href="https://user@c.example:8080/">c.example</a>`))
	f.Add([]byte(`<body background="bg.gif"><img src="images/top.gif"><a href="#x">x</a></body>`))
	f.Add([]byte(`<base href="https://a.example/"><img src=top.gif>`))
	f.Fuzz(func(t *testing.T, doc []byte) {
		got := scanHTML(doc)
		lower := bytes.ToLower(doc)
		if got.hidden && !bytes.Contains(lower, []byte("style")) {
			t.Fatalf("hidden text reported without a style attribute: %q", doc)
		}
		if got.mismatch != "" && !bytes.Contains(lower, []byte("href")) {
			t.Fatalf("link mismatch %q reported without a link: %q", got.mismatch, doc)
		}
		// Checked without relativePath, so that a fault in it shows: a
		// reported path has no scheme, is no fragment or host-relative
		// reference, names a file and stands in the document's markup.
		if r := got.relative; r != "" {
			if strings.ContainsAny(r, ":?#") || strings.HasPrefix(r, "//") || !strings.Contains(r, ".") {
				t.Fatalf("relative link %q is not a relative file path: %q", r, doc)
			}
			if !bytes.Contains(lower, []byte("href")) && !bytes.Contains(lower, []byte("src")) && !bytes.Contains(lower, []byte("background")) {
				t.Fatalf("relative link %q reported without a link attribute: %q", r, doc)
			}
		}
		if again := scanHTML(doc); again != got {
			t.Fatalf("not deterministic: %+v, then %+v", got, again)
		}
	})
}
