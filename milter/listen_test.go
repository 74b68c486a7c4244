package milter

import "testing"

func TestParseListen(t *testing.T) {
	for _, tc := range []struct{ in, net, addr, err string }{
		{in: "inet:127.0.0.1:11332", net: "tcp", addr: "127.0.0.1:11332"},
		{in: "127.0.0.1:11332", net: "tcp", addr: "127.0.0.1:11332"},
		{in: "[::1]:11332", net: "tcp", addr: "[::1]:11332"},
		{in: "inet6:[::1]:11332", net: "tcp", addr: "[::1]:11332"},
		{in: "inet:11332@127.0.0.1", net: "tcp", addr: "127.0.0.1:11332"},
		{in: "inet:11332@[::1]", net: "tcp", addr: "[::1]:11332"},
		{in: "unix:/run/mamori/milter.sock", net: "unix", addr: "/run/mamori/milter.sock"},
		{in: "local:/run/m.sock", net: "unix", addr: "/run/m.sock"},
		{in: "unix:relative.sock", err: `unix socket path in "unix:relative.sock" must be absolute`},
		{in: "", err: "listen address is empty"},
		{in: "mail.example:25", err: `listen host "mail.example" must be an IP address`},
		{in: "127.0.0.1:port", err: `listen port "port" is not a port number`},
		{in: "127.0.0.1", err: `"127.0.0.1" is not host:port or unix:/path (address 127.0.0.1: missing port in address)`},
	} {
		a, err := ParseListen(tc.in)
		if tc.err != "" {
			if err == nil || err.Error() != tc.err {
				t.Errorf("ParseListen(%q) error = %v, want %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || a.Network != tc.net || a.Address != tc.addr {
			t.Errorf("ParseListen(%q) = %+v, %v; want %s %s", tc.in, a, err, tc.net, tc.addr)
		}
	}
}
