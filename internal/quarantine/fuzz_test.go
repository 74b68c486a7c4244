package quarantine

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestParseID(t *testing.T) {
	for _, tc := range []struct {
		in string
		ok bool
	}{
		{"0123456789abcdef0123456789abcdef", true},
		{NewID(), true},
		{"", false},
		{"../x", false},
		{"../../../../../../../../etc/passwd", false},
		{"0123456789ABCDEF0123456789abcdef", false},  // upper case
		{"0123456789abcdef0123456789abcde", false},   // 31
		{"0123456789abcdef0123456789abcdef0", false}, // 33
		{"0123456789abcdef0123456789abcdeg", false},
		{"0123456789abcdef/123456789abcdef", false},
		{"0123456789abcdef0123456789abcde\x00", false},
		{"0123456789abcdef0123456789abcdé", false}, // 32 bytes, not hex
	} {
		id, err := ParseID(tc.in)
		if tc.ok != (err == nil) || (err == nil && id != tc.in) {
			t.Errorf("ParseID(%q) = %q, %v; want ok %v", tc.in, id, err, tc.ok)
		}
		if err != nil && !errors.Is(err, ErrBadID) {
			t.Errorf("ParseID(%q) error %v is not ErrBadID", tc.in, err)
		}
	}
	seen := map[string]bool{}
	for range 1000 {
		id := NewID()
		if _, err := ParseID(id); err != nil || seen[id] {
			t.Fatalf("NewID() = %q: %v, repeated %v", id, err, seen[id])
		}
		seen[id] = true
	}
}

// FuzzParseID: whatever an admin types or a URL holds, an accepted id is
// 32 lower-case hex digits, so it can name nothing but its own file.
func FuzzParseID(f *testing.F) {
	for _, s := range []string{"", "../x", NewID(), strings.Repeat("A", 32), "0123456789abcdef0123456789abcde/"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		id, err := ParseID(s)
		if err != nil {
			if !errors.Is(err, ErrBadID) {
				t.Fatalf("ParseID(%q): error %v is not ErrBadID", s, err)
			}
			return
		}
		if id != s || len(id) != 32 || strings.Trim(id, "0123456789abcdef") != "" {
			t.Fatalf("ParseID(%q) accepted %q", s, id)
		}
		if p := msgPath("/q", id); p != "/q/msgs/"+id[:2]+"/"+id+".eml" {
			t.Fatalf("msgPath(%q) = %q", id, p)
		}
	})
}

// FuzzClean: whatever a header holds, stored text is valid UTF-8 without
// NUL, at most maxText bytes, and a prefix-preserving rewrite of the input.
func FuzzClean(f *testing.F) {
	for _, s := range []string{"", "abc", "\xff\xfe", "a\x00b", strings.Repeat("é", 600), strings.Repeat("x", 997) + "é"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c := clean(s)
		if len(c) > maxText || strings.ContainsRune(c, 0) || !utf8.ValidString(c) {
			t.Fatalf("clean(%q) = %q", s, c)
		}
		if utf8.ValidString(s) && !strings.ContainsRune(s, 0) && !strings.HasPrefix(s, c) {
			t.Fatalf("clean(%q) = %q, not a prefix of valid input", s, c)
		}
	})
}
