package milter

import (
	"net"
	"sync"
	"testing"
	"time"

	gomilter "github.com/d--j/go-milter"
	emilter "github.com/emersion/go-milter"
)

// emersionBackend records, per message, what the backend knew about the
// connection when the message ended.
type emersionBackend struct {
	emilter.NoOpMilter
	mu     *sync.Mutex
	seen   *[]string
	client string
}

func (b *emersionBackend) Connect(host, family string, port uint16, addr net.IP, m *emilter.Modifier) (emilter.Response, error) {
	b.client = addr.String()
	return emilter.RespContinue, nil
}

func (b *emersionBackend) Body(m *emilter.Modifier) (emilter.Response, error) {
	b.mu.Lock()
	*b.seen = append(*b.seen, b.client)
	b.mu.Unlock()
	return emilter.RespAccept, nil
}

// TestEmersionLosesConnectionState records why Mamori does not use
// github.com/emersion/go-milter v0.5.0 for its server: after any final reply
// the library replaces the backend (session.go, HandleMilterCommands), so the
// second message on one SMTP connection reaches a backend that never saw
// Connect: client address, host name and HELO are gone, and with them every
// client-based check and the audit record's client fields. If this test
// starts failing, the library has fixed it and the choice can be revisited.
func TestEmersionLosesConnectionState(t *testing.T) {
	var mu sync.Mutex
	var seen []string
	srv := &emilter.Server{
		NewMilter: func() emilter.Milter { return &emersionBackend{mu: &mu, seen: &seen} },
		Actions:   emilter.OptAddHeader,
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	defer srv.Close()

	// emersion's server answers with protocol version 2; d--j's client
	// negotiates down to it, as Postfix and Sendmail do.
	c := gomilter.NewClient("tcp", ln.Addr().String(), gomilter.WithReadTimeout(5*time.Second))
	s, err := c.Session(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	m := &mta{t: t, s: s, macros: gomilter.NewMacroBag()}
	m.connect("192.0.2.7", "mx.example.net")
	for _, from := range []string{"a@example.net", "b@example.net"} {
		m.send(from, []string{"x@example.org"}, [][2]string{{"Subject", " x"}}, "body\r\n")
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != 2 {
		t.Fatalf("backend saw %d messages, want 2", len(seen))
	}
	if seen[0] != "192.0.2.7" {
		t.Fatalf("first message: client %q, want 192.0.2.7", seen[0])
	}
	if seen[1] == "192.0.2.7" {
		t.Fatalf("second message kept the client address: emersion/go-milter no longer loses connection state")
	}
	t.Logf("emersion/go-milter v0.5.0: message 1 client %q, message 2 client %q (lost)", seen[0], seen[1])
}
