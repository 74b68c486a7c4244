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
		{"the only part, named without a disposition", "Content-Type: text/html; name=\"filename.html\"", true, true},
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
	// Beside an unnamed text, a named text part is a file the reader may
	// open (Apple Mail attaches every file inline), not the message's text.
	r := walk(t, crlf("Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/plain\n\nSee the attached list.\n"+
		"--b\nContent-Type: text/plain; x-unix-mode=0644; name=export.txt\nContent-Disposition: inline; filename=export.txt\n\nLICENCE IN CAPITALS\n"+
		"--b\nContent-Type: text/html; name=sale.html\nContent-Disposition: inline; filename=sale.html\n\n<p>saved page</p>\n--b--\n"), Limits{})
	for i, want := range []bool{true, false, false} {
		if got := r.Parts[i].IsBodyText(); got != want {
			t.Errorf("beside a body: part %s %q IsBodyText %v, want %v", r.Parts[i].Path, r.Parts[i].Filename, got, want)
		}
	}
	// With no unnamed text, the named ones are what the reader sees.
	r = walk(t, crlf("Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/html\nContent-Disposition: inline; filename=offer.html\n\n<p>offer</p>\n"+
		"--b\nContent-Type: image/gif\nContent-Disposition: inline; filename=a.gif\n\nGIF89a\n--b--\n"), Limits{})
	if !r.Parts[0].IsBodyText() || r.Parts[1].IsBodyText() {
		t.Errorf("no unnamed text: IsBodyText %v, %v; want true, false", r.Parts[0].IsBodyText(), r.Parts[1].IsBodyText())
	}

	// A file uuencoded in the text is a file, named or not.
	r = walk(t, crlf("Subject: uu\n\nsee attached\nbegin 644 notes.txt\n&35HB(&%B\n`\nend\nbye\n"), Limits{})
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
