package rulefile

import (
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
