package rules

import (
	"slices"
	"testing"

	"github.com/emersion/go-msgauth/authres"
	"github.com/mamori-mail/mamori/rules/check"
)

func TestAuthResultsHeader(t *testing.T) {
	v := Verdict{AuthResults: []authres.Result{
		&authres.SPFResult{Value: authres.ResultPass, From: "example.com"},
		&authres.DKIMResult{Value: authres.ResultFail, Domain: "example.com", Reason: "signature did not verify"},
		&authres.DMARCResult{Value: authres.ResultPass, From: "example.com"},
	}}
	h, ok := v.AuthResultsHeader(&Policy{AuthServID: "mx.example.org"})
	want := "mx.example.org;\n\tspf=pass smtp.mailfrom=example.com;\n\tdkim=fail reason=\"signature did not verify\" header.d=example.com;\n\tdmarc=pass header.from=example.com"
	if !ok || h.Name != "Authentication-Results" || h.Value != want {
		t.Fatalf("got %v %q\nwant %q", ok, h.Value, want)
	}
	// The field parses back with the library.
	id, res, err := authres.Parse(h.Value)
	if err != nil || id != "mx.example.org" || len(res) != 3 {
		t.Fatalf("parse back: %q %d %v", id, len(res), err)
	}
	if _, ok := (&Verdict{}).AuthResultsHeader(&Policy{AuthServID: "mx"}); ok {
		t.Error("a field with no results")
	}
}

func TestForgedAuthResults(t *testing.T) {
	hs := []check.Header{
		{Name: "Received", Raw: " from x"},
		{Name: "Authentication-Results", Raw: " mx.example.org; spf=pass smtp.mailfrom=a.example"},
		{Name: "authentication-results", Raw: " other.example; dkim=pass"},
		{Name: "Authentication-Results", Raw: " MX.Example.ORG (trusted); dmarc=pass"},
		{Name: "Authentication-Results", Raw: " mx.example.org 2; spf=pass"},
		{Name: "Authentication-Results", Raw: "\r\n\t(hi (nested)) mx.example.org\r\n ; dkim=pass"},
		{Name: "Authentication-Results", Raw: " mx.example.org.evil; spf=pass"},
	}
	if got := ForgedAuthResults(hs, "mx.example.org"); !slices.Equal(got, []int{1, 3, 4, 5}) {
		t.Fatalf("forged positions %v, want [1 3 4 5]", got)
	}
	if got := ForgedAuthResults(hs, ""); got != nil {
		t.Fatalf("no authserv-id: %v", got)
	}
}

// TestLibraryAuthresParseLosesIdentity: authres.Parse returns no identity
// when a comment or a version other than 1 follows the authserv-id, so a
// filter that relied on it to find forged fields would keep
// "mx.example.org (trusted); spf=pass". ForgedAuthResults reads the
// identity itself.
func TestLibraryAuthresParseLosesIdentity(t *testing.T) {
	for _, v := range []string{"mx.example.org (trusted); spf=pass", "mx.example.org 2; spf=pass"} {
		if id, _, _ := authres.Parse(v); id != "" {
			t.Fatalf("authres.Parse(%q) now gives %q; ForgedAuthResults could use it", v, id)
		}
		if id := authServIDOf(v); id != "mx.example.org" {
			t.Fatalf("authServIDOf(%q) = %q", v, id)
		}
	}
}
