package clamav

import (
	"strings"
	"testing"
)

func TestParseAnswer(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		err      bool
	}{
		{"stream: OK", "OK:", false},
		{"stream: Eicar-Test-Signature FOUND\n", "FOUND:Eicar-Test-Signature", false},
		{"stream: A FOUND\nstream: B FOUND\n", "FOUND:A FOUND:B", false},
		{"stream: Can't allocate memory ERROR", "ERROR:Can't allocate memory", false},
		{"INSTREAM size limit exceeded. ERROR", "", true},
		{"stream: something else", "", true},
		{"", "", false},
	} {
		got, err := parseAnswer(tc.in)
		var parts []string
		for _, r := range got {
			parts = append(parts, r.Status+":"+r.Signature)
		}
		if (err != nil) != tc.err || strings.Join(parts, " ") != tc.want {
			t.Errorf("parseAnswer(%q) = %q, %v", tc.in, parts, err)
		}
	}
}
