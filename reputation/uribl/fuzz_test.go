package uribl

import (
	"strings"
	"testing"
)

// FuzzExtract feeds arbitrary text and HTML to Extract: it must not panic,
// and what it returns must be well formed, distinct and within MaxHosts.
// The seed corpus is every table test input.
//
//	go test -run '^$' -fuzz FuzzExtract -fuzztime 20000x ./reputation/uribl/
func FuzzExtract(f *testing.F) {
	for _, cases := range [][]tcase{textURLCases, obfuscationCases, trickCases, ipCases, emailCases} {
		for _, c := range cases {
			f.Add([]byte(c.in), false, uint8(0))
		}
	}
	for _, c := range htmlCases {
		f.Add([]byte(c.in), true, uint8(3))
	}
	f.Fuzz(func(t *testing.T, in []byte, html bool, max uint8) {
		o := Options{HTML: html, MaxHosts: int(max)}
		checkValid(t, Extract(in, o), o)
	})
}

// checkValid reports results that break Extract's contract.
func checkValid(t *testing.T, fs []Found, o Options) {
	t.Helper()
	max := o.MaxHosts
	if max <= 0 {
		max = DefaultMaxHosts
	}
	if len(fs) > max {
		t.Errorf("%d results, more than MaxHosts %d", len(fs), max)
	}
	seen := make(map[string]bool)
	for _, f := range fs {
		key := f.Host
		switch {
		case f.Host == "" && !f.IP.IsValid():
			t.Errorf("%+v: neither host nor IP", f)
		case f.Host != "" && f.IP.IsValid():
			t.Errorf("%+v: both host and IP", f)
		case f.IP.IsValid():
			key = f.IP.String()
			if f.Domain != "" || f.IP.Zone() != "" || f.IP.Is4In6() {
				t.Errorf("%+v: IP with domain, zone or IPv4-mapped", f)
			}
		case !validName(f.Host) || endsInNumber(f.Host):
			t.Errorf("%+v: host is not a lower-case ASCII DNS name", f)
		case f.Domain != "" && f.Domain != f.Host && !strings.HasSuffix(f.Host, "."+f.Domain):
			t.Errorf("%+v: domain is not a suffix of host", f)
		}
		switch f.Source {
		case SourceHref, SourceSrc, SourceForm, SourceText, SourceBare, SourceMailto, SourceEmail:
		default:
			t.Errorf("%+v: unknown source", f)
		}
		if seen[key] {
			t.Errorf("%+v: duplicate", f)
		}
		seen[key] = true
	}
}
