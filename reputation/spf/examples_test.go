package spf_test

import (
	"errors"
	"fmt"

	"github.com/mamori-mail/mamori/reputation/spf"
)

func ExampleParseRecord() {
	r, err := spf.ParseRecord("v=spf1 +a mx/24 include:_spf.example.com ip4:192.0.2.0/24 -all redirect=%{d2}")
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, d := range r.Directives {
		fmt.Printf("%c %s %q\n", d.Qualifier, d.Mechanism, d.Domain)
	}
	fmt.Println("redirect:", r.Redirect)
	fmt.Println(r)

	// A syntax error anywhere makes the whole record a permerror.
	_, err = spf.ParseRecord("v=spf1 ip4:192.0.2.1 -all a:museum")
	fmt.Println(errors.Is(err, spf.ErrSyntax), err)
	// Output:
	// + a ""
	// + mx ""
	// + include "_spf.example.com"
	// + ip4 ""
	// - all ""
	// redirect: %{d2}
	// v=spf1 a mx/24 include:_spf.example.com ip4:192.0.2.0/24 -all redirect=%{d2}
	// true spf: syntax error in "a:museum": domain-spec "museum" does not end in a macro or "." and a top label
}
