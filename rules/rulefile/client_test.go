package rulefile

import (
	"net/netip"
	"testing"

	"github.com/mamori-mail/mamori/rules/check"
)

func TestClientBuiltins(t *testing.T) {
	type client struct {
		ip         string
		host, helo string
		auth       bool
	}
	forged := &check.Message{ClientIP: netip.MustParseAddr("198.51.100.7"), ClientHost: "mail.example.net", Helo: "mail.example.net",
		Macros: map[string]string{"_": "mail.example.net [198.51.100.7] (may be forged)"}}
	if c := clientOf(forged); c.Host != "unknown" {
		t.Errorf("Sendmail's unverified name taken as verified: %+v", c)
	}
	for _, tc := range []struct {
		test string
		c    client
		want bool
	}{
		{"client_no_rdns", client{"198.51.100.7", "unknown", "mail.example.net", false}, true},
		{"client_no_rdns", client{"198.51.100.7", "[198.51.100.7]", "mail.example.net", false}, true},
		{"client_no_rdns", client{"198.51.100.7", "mail.example.net", "mail.example.net", false}, false},
		// Submissions and our own relays are not judged by their names.
		{"client_no_rdns", client{"198.51.100.7", "unknown", "laptop", true}, false},
		{"client_no_rdns", client{"192.168.1.20", "unknown", "laptop", false}, false},
		{"client_no_rdns", client{"", "", "", false}, false},

		{"client_dynamic", client{"198.51.100.7", "c-198-51-100-7.hsd1.ca.example.net", "x.example.net", false}, true},
		{"client_dynamic", client{"198.51.100.7", "7.100.51.198.customers.example.net", "x.example.net", false}, true},
		{"client_dynamic", client{"198.51.100.7", "adsl-nat.bri.example.net", "x.example.net", false}, true},
		{"client_dynamic", client{"198.51.100.7", "pool123.dialup.example.net", "x.example.net", false}, true},
		{"client_dynamic", client{"198.51.100.7", "host-c6336407.example.net", "x.example.net", false}, true},
		{"client_dynamic", client{"198.51.100.7", "mail.example.net", "mail.example.net", false}, false},
		{"client_dynamic", client{"198.51.100.7", "mta7-100.example.net", "x.example.net", false}, false},
		{"client_dynamic", client{"198.51.100.7", "mx100-7.example.net", "x.example.net", false}, false},
		{"client_dynamic", client{"198.51.100.7", "mta-100-7.esp.example.net", "x.example.net", false}, false},
		{"client_dynamic", client{"198.51.100.7", "o1.smtp-out-100-7.example.net", "x.example.net", false}, false},
		{"client_dynamic", client{"198.51.100.7", "198-51-100-7.mail.example.net", "x.example.net", false}, false},
		{"client_dynamic", client{"198.51.100.7", "host-100-7.example.net", "x.example.net", false}, true},
		{"client_dynamic", client{"89.67.45.123", "static.89.67.45.123.clients.your-server.de", "x.example.net", false}, false},
		// The registered domain is the provider's name, not a pool's.
		{"client_dynamic", client{"198.51.100.7", "smtp.dsl.com", "x", false}, false},
		{"client_dynamic", client{"198.51.100.7", "mail.poolside-hotel.example", "x", false}, false},

		{"helo_not_fqdn", client{"198.51.100.7", "unknown", "donaldbae", false}, true},
		{"helo_not_fqdn", client{"198.51.100.7", "unknown", "localhost.localdomain", false}, true},
		{"helo_not_fqdn", client{"198.51.100.7", "mail.example.net", "mail.example.net", false}, false},
		{"helo_not_fqdn", client{"198.51.100.7", "unknown", "[198.51.100.7]", false}, false},
		{"helo_not_fqdn", client{"198.51.100.7", "unknown", "laptop", true}, false},

		{"helo_ip", client{"198.51.100.7", "unknown", "198.51.100.7", false}, true},
		{"helo_ip", client{"198.51.100.7", "unknown", "[198.51.100.7]", false}, true},
		{"helo_ip", client{"2001:db8::7", "unknown", "[IPv6:2001:db8::7]", false}, true},
		{"helo_ip", client{"198.51.100.7", "unknown", "mail.example.net", false}, false},

		{"helo_dynamic", client{"198.51.100.7", "unknown", "dsl-198-51-100-7.example.net", false}, true},
		{"helo_dynamic", client{"198.51.100.7", "unknown", "mail.example.net", false}, false},
		{"helo_dynamic", client{"198.51.100.7", "unknown", "198.51.100.7", false}, false},
	} {
		s := compile(t, "rules:\n  - {name: T, builtin: "+tc.test+", score: 1}\n")
		in := prepare(t, "From: a@x.example\r\n\r\nhi\r\n")
		ip, _ := netip.ParseAddr(tc.c.ip)
		m := &check.Message{ClientIP: ip, ClientHost: tc.c.host, Helo: tc.c.helo}
		if tc.c.auth {
			m.AuthUser = "alice"
		}
		in.Client = clientOf(m)
		if _, ok := fired(s, in)["T"]; ok != tc.want {
			t.Errorf("%s %+v: fired %v, want %v", tc.test, tc.c, ok, tc.want)
		}
	}
}
