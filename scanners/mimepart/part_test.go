package mimepart

import "testing"

func TestIsBodyText(t *testing.T) {
	for _, tc := range []struct {
		name, hdr        string
		attach, bodyText bool
	}{
		{"plain text", "Content-Type: text/plain", false, true},
		{"no Content-Type", "Subject: x", false, true},
		{"the only part, named and inline", "Content-Type: text/html\r\nContent-Disposition: inline; filename=\"filename.html\"", true, true},
		{"a file sent inline", "Content-Type: text/plain; name=notes.txt\r\nContent-Disposition: inline; filename=notes.txt", true, true},
		{"named without a disposition", "Content-Type: text/plain; name=notes.txt", true, false},
		{"marked attachment", "Content-Type: text/plain\r\nContent-Disposition: attachment", true, false},
		{"a named file marked attachment", "Content-Type: text/html\r\nContent-Disposition: attachment; filename=page.html", true, false},
		{"an image inline", "Content-Type: image/png\r\nContent-Disposition: inline; filename=a.png", true, false},
		{"a calendar", "Content-Type: text/calendar", true, false},
		{"a delivery report", "Content-Type: message/delivery-status", false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := walk(t, tc.hdr+"\r\n\r\nhello\r\n", Limits{})
			p := r.Parts[0]
			if p.IsAttachment() != tc.attach || p.IsBodyText() != tc.bodyText {
				t.Errorf("IsAttachment %v, IsBodyText %v; want %v, %v", p.IsAttachment(), p.IsBodyText(), tc.attach, tc.bodyText)
			}
		})
	}
	// A file uuencoded in the text is a file, named or not.
	r := walk(t, crlf("Subject: uu\n\nsee attached\nbegin 644 notes.txt\n&35HB(&%B\n`\nend\nbye\n"), Limits{})
	uu := 0
	for _, p := range r.Parts {
		if p.Origin == OriginUUEncode {
			uu++
			if p.IsBodyText() {
				t.Errorf("uuencoded part %s %q is body text", p.Path, p.Filename)
			}
		}
	}
	if uu != 1 {
		t.Errorf("%d uuencoded parts, want 1", uu)
	}
}
