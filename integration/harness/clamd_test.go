package harness

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestEICARIsBuiltAtRunTime(t *testing.T) {
	e := EICAR()
	if len(e) != 68 || !bytes.HasPrefix(e, []byte("X5O!")) || !bytes.HasSuffix(e, []byte("$H+H*")) {
		t.Fatalf("EICAR() = %q (%d bytes)", e, len(e))
	}
}

func TestClamdDetectsTestSignatures(t *testing.T) {
	t.Parallel()
	start := time.Now()
	c := StartClamd(t, ClamdOptions{TCP: true, StreamMaxLength: "1M"})
	t.Logf("clamd answered PING %v after start", time.Since(start).Round(time.Millisecond))

	for _, tc := range []struct {
		name, network, addr string
		data                []byte
		want                string
	}{
		{"eicar unix", "unix", c.Socket, EICAR(), "stream: " + EICARSignature + ".UNOFFICIAL FOUND"},
		{"eicar tcp", "tcp", c.TCPAddr, EICAR(), "stream: " + EICARSignature + ".UNOFFICIAL FOUND"},
		{"marker", "unix", c.Socket, []byte("text before " + Marker + " and after"), "stream: " + MarkerSignature + ".UNOFFICIAL FOUND"},
		{"clean", "unix", c.Socket, []byte("nothing to see here"), "stream: OK"},
		{"over StreamMaxLength", "unix", c.Socket, make([]byte, 2<<20), "INSTREAM size limit exceeded. ERROR"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ClamdRequest(tc.network, tc.addr, "INSTREAM", tc.data, 10*time.Second)
			if err != nil || got != tc.want {
				t.Fatalf("INSTREAM = %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

func TestClamdStopAndStart(t *testing.T) {
	t.Parallel()
	c := StartClamd(t, ClamdOptions{TCP: true})
	c.Stop(t)
	if _, err := ClamdRequest("unix", c.Socket, "PING", nil, time.Second); err == nil {
		t.Fatal("PING answered after Stop")
	}
	if _, err := ClamdRequest("tcp", c.TCPAddr, "PING", nil, time.Second); err == nil {
		t.Fatal("TCP PING answered after Stop")
	}
	start := time.Now()
	c.Start(t)
	t.Logf("restart took %v", time.Since(start).Round(time.Millisecond))
	for _, n := range []struct{ network, addr string }{{"unix", c.Socket}, {"tcp", c.TCPAddr}} {
		if got, err := ClamdRequest(n.network, n.addr, "PING", nil, time.Second); err != nil || got != "PONG" {
			t.Fatalf("%s PING after Start = %q, %v", n.network, got, err)
		}
	}
}

func TestClamdExtraConfigOverrides(t *testing.T) {
	c := &Clamd{Dir: "/d", Socket: "/d/s", LogFile: "/d/l"}
	conf := c.config(ClamdOptions{Config: []string{"MaxThreads 2", "MaxScanSize 1M"}})
	if strings.Count(conf, "MaxThreads") != 1 || !strings.Contains(conf, "MaxThreads 2\n") || !strings.Contains(conf, "MaxScanSize 1M\n") {
		t.Fatalf("config:\n%s", conf)
	}
	if !strings.Contains(conf, "StreamMaxLength 25M\n") {
		t.Fatalf("default StreamMaxLength missing:\n%s", conf)
	}
}

// TestClamavMilterRejectsEICAR runs the reference milter behind Postfix:
// an EICAR attachment is refused at end of message, clean mail is relayed.
func TestClamavMilterRejectsEICAR(t *testing.T) {
	t.Parallel()
	c := StartClamd(t, ClamdOptions{})
	m := StartClamavMilter(t, c.Socket)
	sink := StartSink(t)
	pf := StartPostfix(t, PostfixOptions{Sink: sink, Milter: m.Milter})

	infected := []byte("From: a@example.org\r\nTo: b@example.net\r\nSubject: eicar\r\n" +
		"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n" +
		"--b\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n" +
		"--b\r\nContent-Type: application/octet-stream; name=eicar.com\r\n" +
		"Content-Disposition: attachment; filename=eicar.com\r\n\r\n" +
		string(EICAR()) + "\r\n--b--\r\n")
	res := SendMail(pf.SMTPAddr, "client.example.org", "a@example.org", []string{"b@example.net"}, infected)
	if res.Code/100 != 5 || res.Stage != "dot" {
		t.Fatalf("infected mail: %v, want a 5xx at end of data", res)
	}
	res = SendMail(pf.SMTPAddr, "client.example.org", "a@example.org", []string{"b@example.net"}, testMessage("clean via clamav-milter"))
	if res.Code != 250 {
		t.Fatalf("clean mail: %v, want 250", res)
	}
	sink.WaitCount(t, 1, wait)
}
