package harness

import (
	"net"
	"strings"
	"testing"

	"github.com/d--j/go-milter"
)

// testMilter is the smallest milter that exercises the paths the harness
// must support: a reject at MAIL FROM, a header added at end of message, and
// optionally a quarantine.
type testMilter struct {
	milter.NoOpMilter
	quarantine bool
}

func (m *testMilter) MailFrom(from, _ string, _ milter.Modifier) (*milter.Response, error) {
	if strings.EqualFold(from, "deny@example.com") {
		return milter.RejectWithCodeAndReason(550, "5.7.1 sender denied by test milter")
	}
	return milter.RespContinue, nil
}

func (m *testMilter) EndOfMessage(mod milter.Modifier) (*milter.Response, error) {
	if err := mod.AddHeader("X-Test", "yes"); err != nil {
		return nil, err
	}
	if m.quarantine {
		if err := mod.Quarantine("harness test"); err != nil {
			return nil, err
		}
	}
	return milter.RespAccept, nil
}

// startTestMilter serves testMilter on a free loopback port until the test
// ends and returns the address in smtpd_milters syntax.
func startTestMilter(t *testing.T, quarantine bool) string {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := milter.NewServer(
		milter.WithMilter(func() milter.Milter { return &testMilter{quarantine: quarantine} }),
		milter.WithAction(milter.OptAddHeader|milter.OptQuarantine),
	)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(ln)
	}()
	t.Cleanup(func() {
		srv.Close()
		<-done
	})
	return "inet:" + ln.Addr().String()
}
