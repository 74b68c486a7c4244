package rulefile

import (
	"strings"
	"testing"
)

func TestRecipientsManyOrgs(t *testing.T) {
	for _, tc := range []struct {
		name, hdr string
		want      bool
	}{
		{"four providers", "To: a@one.example, b@two.example\r\nCc: c@three.example, d@four.example", true},
		{"three providers", "To: a@one.example, b@two.example, c@three.example", false},
		{"one organisation's hosts", "To: a@x.one.example, b@y.one.example, c@one.example, d@mail.one.example", false},
		{"the sender's own colleagues do not count", "To: a@x.example, b@two.example, c@three.example, d@four.example", false},
		{"a list a strict parser refuses", "To: a@one.example; b@two.example;; <c@three.example> d@four.example,", true},
		{"registered domains under a public suffix", "To: a@one.co.jp, b@two.co.jp, c@three.co.jp, d@mail.one.co.jp", false},
		{"hosts without a dot", "To: a@one, b@two, c@three, d@four", false},
		{"addresses inside display names and comments", `To: "Sales (sales@one.example)" <s@two.example>, "help@three.example" <h@four.example> (or x@five.example)`, false},
		{"one internationalized domain written two ways", "To: a@bücher.example, b@xn--bcher-kva.example, c@two.example, d@three.example", false},
		{"internationalized domains are organisations", "To: a@bücher.example, b@straße.example, c@two.example, d@three.example", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := prepare(t, "From: me@x.example\r\n"+tc.hdr+"\r\n\r\nhi\r\n")
			if got, _ := recipientsManyOrgs(in); got != tc.want {
				t.Errorf("%q: got %v, want %v", tc.hdr, got, tc.want)
			}
		})
	}
	// A From that fails a strict parse (a raw Shift_JIS name) still names
	// the sender's organisation.
	in := prepare(t, "From: \x93\xfa\x96{ <me@x.example>\r\nTo: a@x.example, b@two.example, c@three.example, d@four.example\r\n\r\nhi\r\n")
	if got, orgs := recipientsManyOrgs(in); got {
		t.Errorf("the sender's colleagues counted: %s", orgs)
	}
	// Thousands of addresses: only the first are read.
	in = prepare(t, "From: me@x.example\r\nTo: "+strings.Repeat("a@one.example, ", 5000)+"b@two.example, c@three.example, d@four.example, e@five.example\r\n\r\nhi\r\n")
	if got, _ := recipientsManyOrgs(in); got {
		t.Error("read past the bound")
	}
}
