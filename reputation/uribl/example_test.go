package uribl_test

import (
	"fmt"

	"github.com/mamori-mail/mamori/reputation/uribl"
)

// A phishing mail: the link text shows one host, the href goes to another
// through a userinfo trick, the image loads from a decimal IP, and the text
// spells out a defanged name.
func ExampleExtract() {
	body := `<p>Your account at <a href="https://paypal.com@login.evil.example/verify">paypal.com</a> is locked.</p>
<img src="http://3221225985/pixel.gif">
<p>Or go to hxxps://secure-login[.]evil[.]example/ or write to help@evil.example.net</p>`
	for _, f := range uribl.Extract([]byte(body), uribl.Options{HTML: true}) {
		if f.IP.IsValid() {
			fmt.Println(f.Source, f.IP)
		} else {
			fmt.Println(f.Source, f.Host, f.Domain)
		}
	}
	// Output:
	// href login.evil.example evil.example
	// bare paypal.com paypal.com
	// src 192.0.2.1
	// text secure-login.evil.example evil.example
	// email evil.example.net example.net
}
