package milter

import (
	"bytes"
	"testing"

	gomilter "github.com/d--j/go-milter"
)

// fakeModifier stands in for go-milter's modifier so the fuzzer can drive
// session callbacks directly, thousands of times a second.
type fakeModifier struct {
	gomilter.Modifier // unexpected calls panic, which the fuzzer reports
	macros            map[string]string
	mods              int
}

func (f *fakeModifier) Get(n string) string { return f.macros[n] }
func (f *fakeModifier) GetEx(n string) (string, bool) {
	v, ok := f.macros[n]
	return v, ok
}
func (f *fakeModifier) Protocol() gomilter.OptProtocol         { return wantProtocol }
func (f *fakeModifier) AddHeader(string, string) error         { f.mods++; return nil }
func (f *fakeModifier) ChangeHeader(int, string, string) error { f.mods++; return nil }
func (f *fakeModifier) Quarantine(string) error                { f.mods++; return nil }

// FuzzIntake drives the milter intake path (header fields as the MTA hands
// them over, then body chunks) with arbitrary bytes: malformed, folded,
// binary and oversized headers, broken MIME. The session must not panic,
// must stay within its limits, and must hand the handler exactly the body
// bytes it was given whenever it accepts the message.
func FuzzIntake(f *testing.F) {
	for _, seed := range []string{
		"Subject: hi\nFrom: a@b\n\nbody\r\n",
		"Subject:  lead\n\tfold\n\n",
		"Content-Type: multipart/mixed; boundary=x\n\n--x\r\nContent-Type: text/plain\r\n\r\nhi\r\n--x--\r\n",
		"Content-Transfer-Encoding: base64\n\n!!!notbase64===\r\n",
		"X: \x00\xff\xfe\n\n\x00",
		": empty name\n\n",
		"\n\n",
	} {
		f.Add([]byte(seed))
	}
	lim := Limits{MaxSessions: 1, MaxMessageSize: 16 << 10, SpoolThreshold: 1 << 10, MaxHeaders: 8, MaxHeaderSize: 2 << 10, MaxRecipients: 2}
	f.Fuzz(func(t *testing.T, data []byte) {
		rec := &recorder{}
		s := newSession(rec, lim, nil)
		mod := &fakeModifier{macros: map[string]string{"i": "Q1"}}
		_ = s.NewConnection(mod)
		s.Connect("h", "tcp4", 25, "192.0.2.1", mod)
		s.Helo("h", mod)
		s.MailFrom("<a@b>", "", mod)
		s.RcptTo("<c@d>", "", mod)
		head, body, _ := bytes.Cut(data, []byte("\n\n"))
		for _, line := range bytes.Split(head, []byte("\n")) {
			name, value, _ := bytes.Cut(line, []byte(":"))
			s.Header(string(name), string(value), mod)
		}
		s.Headers(mod)
		for len(body) > 0 {
			n := min(len(body), 4096)
			s.BodyChunk(body[:n], mod)
			body = body[n:]
		}
		resp, err := s.EndOfMessage(mod)
		if err != nil || resp == nil {
			t.Fatalf("end of message: %v %v", resp, err)
		}
		_, wantBody, _ := bytes.Cut(data, []byte("\n\n"))
		if len(rec.messages) == 1 {
			if got := rec.messages[0].Macros["body"]; got != string(wantBody) {
				t.Fatalf("body changed in transit: %d bytes in, %d out", len(wantBody), len(got))
			}
			if len(rec.messages[0].Headers) > lim.MaxHeaders {
				t.Fatalf("kept %d headers over the limit", len(rec.messages[0].Headers))
			}
		} else if len(rec.refused) != 1 {
			t.Fatalf("message neither judged nor refused: %v", rec.refused)
		}
		s.Cleanup(mod)
		if rec.messages == nil && rec.refused == nil {
			t.Fatal("nothing recorded")
		}
	})
}
