package milter

import (
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/mamori-mail/mamori/rules/check"
)

// failingModifier refuses to add headers, as an MTA that lost the
// connection mid-reply would.
type failingModifier struct{ fakeModifier }

func (f *failingModifier) AddHeader(string, string) error { return errors.New("broken pipe") }

// TestModifyFailureIsTempfailedAndReported: when the verdict cannot be
// applied, the MTA is told to retry, and the handler hears of it, so the
// audit trail says tempfail and charged checks give back.
func TestModifyFailureIsTempfailedAndReported(t *testing.T) {
	rec := &recorder{answer: func(st check.Stage, m *check.Message) Response {
		return Response{Action: Accept, AddHeaders: []check.HeaderField{{Name: "X-Test", Value: "1"}}}
	}}
	s := newSession(rec, testLimits, slog.New(slog.DiscardHandler))
	mod := &failingModifier{fakeModifier{macros: map[string]string{}}}
	s.MailFrom("<a@example.net>", "", mod)
	s.RcptTo("<b@example.org>", "", mod)
	resp, err := s.EndOfMessage(mod)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(resp.String(), "response=reply_code") || !strings.Contains(resp.String(), "451") {
		t.Fatalf("answer %v, want 451", resp)
	}
	if len(rec.refused) != 1 || !strings.Contains(rec.refused[0], "eom: 451 4.3.0") || !strings.Contains(rec.refused[0], "applying the verdict failed: broken pipe") {
		t.Fatalf("handler heard %q", rec.refused)
	}
}
