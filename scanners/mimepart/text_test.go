package mimepart

import (
	"strings"
	"testing"
)

func TestVisibleText(t *testing.T) {
	b, _ := VisibleText([]byte(`<html><head><style>p{color:red}</style><title>Offer</title></head>
<body><p>Click&nbsp;<a href="http://x.example">here</a> now! fr<b></b>ee</p><script>var a="hidden";</script><div>Second&amp;line</div></body></html>`))
	got := string(b)
	for _, want := range []string{"Offer", "Click\u00a0here now! free", "Second&line"} {
		if !strings.Contains(got, want) {
			t.Errorf("visible text lacks %q: %q", want, got)
		}
	}
	for _, bad := range []string{"color:red", "hidden", "<p>"} {
		if strings.Contains(got, bad) {
			t.Errorf("visible text has %q: %q", bad, got)
		}
	}
}

func TestPartTextCharset(t *testing.T) {
	// ISO-2022-JP for "見積書をお送りします" and an HTML part in Shift_JIS.
	msg := "Content-Type: multipart/alternative; boundary=b\r\n\r\n" +
		"--b\r\nContent-Type: text/plain; charset=iso-2022-jp\r\n\r\n\x1b$B8+@Q=q$r$*Aw$j$7$^$9\x1b(B\r\n" +
		"--b\r\nContent-Type: text/html; charset=shift_jis\r\n\r\n<p>\x8c\xa9\x90\xcf\x8f\x91</p>\r\n--b--\r\n"
	res := walk(t, msg, Limits{})
	var texts []string
	for _, p := range res.Parts {
		s, err := p.Text(0)
		if err != nil {
			t.Fatal(err)
		}
		texts = append(texts, strings.TrimSpace(s))
	}
	if len(texts) != 2 || texts[0] != "見積書をお送りします" || texts[1] != "見積書" {
		t.Fatalf("texts %q", texts)
	}
}
