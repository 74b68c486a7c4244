package harness

import (
	"bufio"
	"bytes"
	"net"
	"strings"
	"testing"
	"time"
)

func TestSinkRecordsExactBytes(t *testing.T) {
	t.Parallel()
	sink := StartSink(t)
	tests := []struct {
		name string
		data string
		want string
	}{
		{"plain", "Subject: a\r\n\r\nbody\r\n", "Subject: a\r\n\r\nbody\r\n"},
		{"dots", "Subject: b\r\n\r\n.\r\n..\r\n.x\r\n", "Subject: b\r\n\r\n.\r\n..\r\n.x\r\n"},
		{"no final CRLF", "Subject: c\r\n\r\nbody", "Subject: c\r\n\r\nbody\r\n"},
		{"leading dot first line", ".Subject: d\r\n\r\nx\r\n", ".Subject: d\r\n\r\nx\r\n"},
	}
	for _, tc := range tests {
		sink.Reset()
		res := SendMail(sink.Addr(), "client.test", "a@example.org", []string{"b@example.net"}, []byte(tc.data))
		if res.Code != 250 {
			t.Fatalf("%s: %v", tc.name, res)
		}
		got := sink.WaitCount(t, 1, time.Second)
		if string(got[0].Data) != tc.want {
			t.Errorf("%s: sink got %q, want %q", tc.name, got[0].Data, tc.want)
		}
	}
}

func TestWriteDotStuffed(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ".\r\n"},
		{"a\r\n", "a\r\n.\r\n"},
		{".a\r\n.\r\nb", "..a\r\n..\r\nb\r\n.\r\n"},
		{"a\n.b\n", "a\n..b\n.\r\n"},
	}
	for _, tc := range tests {
		var b bytes.Buffer
		w := bufio.NewWriter(&b)
		if err := writeDotStuffed(w, []byte(tc.in)); err != nil {
			t.Fatal(err)
		}
		w.Flush()
		if b.String() != tc.want {
			t.Errorf("writeDotStuffed(%q) = %q, want %q", tc.in, b.String(), tc.want)
		}
	}
}

func TestReplyParsing(t *testing.T) {
	tests := []struct {
		reply string
		want  SMTPResult
	}{
		{"250 2.0.0 Ok: queued as 4ABC\r\n", SMTPResult{Code: 250, Enhanced: "2.0.0", Text: "Ok: queued as 4ABC"}},
		{"550-5.7.1 first\r\n550 5.7.1 second\r\n", SMTPResult{Code: 550, Enhanced: "5.7.1", Text: "first\nsecond"}},
		{"354 End data with <CR><LF>.<CR><LF>\r\n", SMTPResult{Code: 354, Text: "End data with <CR><LF>.<CR><LF>"}},
		{"451 4.7.1 Service unavailable - try again later\r\n", SMTPResult{Code: 451, Enhanced: "4.7.1", Text: "Service unavailable - try again later"}},
		{"250 2.1.0\r\n", SMTPResult{Code: 250, Enhanced: "2.1.0"}},
	}
	for _, tc := range tests {
		client, server := net.Pipe()
		go func() { server.Write([]byte(tc.reply)) }()
		c := &SMTPConn{Timeout: time.Second, conn: client, r: bufio.NewReader(client)}
		got := c.reply("mail")
		tc.want.Stage = "mail"
		if got != tc.want {
			t.Errorf("reply %q = %+v, want %+v", tc.reply, got, tc.want)
		}
		client.Close()
		server.Close()
	}
}

func TestSMTPConnRecoversAfterReject(t *testing.T) {
	t.Parallel()
	sink := StartSink(t)
	c := DialSMTP(t, sink.Addr(), "client.test")
	if !strings.Contains(c.Ehlo.Text, "SMTPUTF8") {
		t.Errorf("sink does not offer SMTPUTF8: %q", c.Ehlo.Text)
	}
	// With no recipients Send goes straight to DATA, which the server must
	// refuse; the next transaction must still work after the RSET.
	if res := c.Send("a@example.org", nil, []byte("x\r\n")); res.Code/100 != 5 || res.Stage != "data" {
		t.Errorf("no recipients: %v, want 5xx at data", res)
	}
	if res := c.Send("a@example.org", []string{"b@example.net"}, []byte("Subject: ok\r\n\r\nok\r\n")); res.Code != 250 {
		t.Errorf("after reject: %v", res)
	}
	sink.WaitCount(t, 1, time.Second)
}

func TestQueueID(t *testing.T) {
	for text, want := range map[string]string{
		"Ok: queued as 4ABC":     "4ABC",
		"Ok: queued as 4ABC foo": "4ABC",
		"Ok: queued as ":         "",
		"Ok":                     "",
	} {
		if got := (SMTPResult{Text: text}).QueueID(); got != want {
			t.Errorf("QueueID(%q) = %q, want %q", text, got, want)
		}
	}
}
