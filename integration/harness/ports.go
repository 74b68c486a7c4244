package harness

import (
	"net"
	"sync"
	"testing"
)

// handedOut remembers every port FreePort returned in this process. The
// kernel may offer a port again as soon as FreePort's probe listener closes,
// and two parallel tests that got the same port would race for it.
var handedOut = struct {
	sync.Mutex
	ports map[int]bool
}{ports: map[int]bool{}}

// FreePort returns a currently free TCP port on 127.0.0.1.
//
// The port is free only when FreePort returns: a server that binds it later
// can still lose it to another process, which is why servers this package
// runs itself (the sink, test milters) listen on port 0 instead. FreePort is
// for processes such as Postfix that must be told their port in advance, or
// for an address where nothing listens.
func FreePort(t testing.TB) int {
	t.Helper()
	handedOut.Lock()
	defer handedOut.Unlock()
	for range 100 {
		ln, err := net.Listen("tcp4", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("harness: find a free port: %v", err)
		}
		port := ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		if !handedOut.ports[port] {
			handedOut.ports[port] = true
			return port
		}
	}
	t.Fatalf("harness: no unused free port after 100 tries")
	return 0
}
