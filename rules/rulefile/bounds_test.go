package rulefile

import (
	"context"
	"fmt"
	"strings"
	"testing"
)

// multipart returns a message of n text/plain parts, each body.
func multipart(n int, body string) string {
	var b strings.Builder
	b.WriteString("From: a@x.example\r\nSubject: hi\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=bb\r\n\r\n")
	for i := range n {
		fmt.Fprintf(&b, "--bb\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n%s %d\r\n", body, i)
	}
	b.WriteString("--bb--\r\n")
	return b.String()
}

// TestTextBudgetPerMessage: the rules read at most Limits.Text of decoded
// text in the whole message, however many parts carry it, so that the
// work per message has a bound; later parts still count.
func TestTextBudgetPerMessage(t *testing.T) {
	part := strings.Repeat("work from home and earn money ", 100<<10/30)
	in := prepare(t, multipart(40, part))
	total := 0
	for _, tx := range in.Texts {
		total += len(tx)
	}
	if lim := int(Limits{}.withDefaults().Text); total > lim+len(part) || total < lim {
		t.Errorf("rules read %d bytes of text from 40 parts of %d; want about %d", total, len(part), lim)
	}
	if in.TextParts != 40 {
		t.Errorf("TextParts %d, want 40 (parts past the budget still count)", in.TextParts)
	}
}

// TestMatchStopsWhenDone: a run whose context has ended stops before the
// next rule and says why.
func TestMatchStopsWhenDone(t *testing.T) {
	s := compile(t, kinds)
	in := prepare(t, "Subject: free\r\n\r\nclick here\r\n")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	hits, err := s.MatchContext(ctx, in)
	if err == nil || len(hits) != 0 {
		t.Fatalf("cancelled run: %d hits, error %v", len(hits), err)
	}
	if hits, err := s.MatchContext(context.Background(), in); err != nil || len(hits) == 0 {
		t.Fatalf("live run: %d hits, error %v", len(hits), err)
	}
}

// TestHiddenTextRegions: only text inside an element styled invisible is
// hidden; void elements with such a style hide nothing, and end tags of
// other elements do not end the region.
func TestHiddenTextRegions(t *testing.T) {
	for _, c := range []struct {
		html   string
		hidden bool
	}{
		{`<p>Hello</p><img src="x.gif" style="display:none" width=1 height=1><p>Your order shipped</p>`, false},
		{`<div style="display:none"><br></div><p>Your order shipped</p>`, false},
		{`<div style="display:none"><div>inner</div></div>`, true},
		{`<div style="display:none"><div></div></div><p>visible</p>`, false},
		{`<div style="display:none"></span>filler words</div>`, true},
		{`<span style="font-size:0px">x y z</span>`, true},
		{`<p style="color:red">sale</p>`, false},
	} {
		if hidden := scanHTML([]byte(c.html)).hidden; hidden != c.hidden {
			t.Errorf("%s: hidden %v, want %v", c.html, hidden, c.hidden)
		}
	}
}

// TestHeaderRuleSeesPastBogusWord: a header rule matches a decoded word
// even when another word of the field names an unknown charset.
func TestHeaderRuleSeesPastBogusWord(t *testing.T) {
	s := compile(t, "rules:\n  - {name: SUBJ_MISHODAKU, header: Subject, match: '未承諾広告', score: 3}\n")
	in := prepare(t, "Subject: =?UTF-8?B?5pyq5om/6Ku+5bqD5ZGK?= =?x-bogus?Q?a?=\r\n\r\nbody\r\n")
	if _, ok := fired(s, in)["SUBJ_MISHODAKU"]; !ok {
		t.Errorf("rule hidden by a bogus encoded word; subject decoded as %q", in.Headers[0].Value)
	}
}
