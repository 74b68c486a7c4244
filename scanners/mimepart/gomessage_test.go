package mimepart

import (
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/emersion/go-message"
)

// These tests pin down where github.com/emersion/go-message, used as is,
// would let content past the scanners, and show that the walk does not.
// If a go-message upgrade fixes one, its test fails: then the workaround
// can go.

// TestGoMessageStrictBase64: go-message's base64 reader fails at the first
// character outside the alphabet, so a scanner reading through it sees no
// payload, while mail clients skip the character and open the file.
func TestGoMessageStrictBase64(t *testing.T) {
	msg := crlf("Content-Type: application/octet-stream\nContent-Transfer-Encoding: base64\n\nTV!qQAAD\n")
	e, err := message.Read(strings.NewReader(msg))
	if err != nil {
		t.Fatal(err)
	}
	_, err = io.ReadAll(e.Body)
	if err == nil {
		t.Fatal("go-message now decodes base64 leniently; the own decoder may go")
	}
	r := walk(t, msg, Limits{})
	if got := partText(t, r.Parts[0]); got != "MZ\x90\x00\x00" {
		t.Fatalf("walk decoded %q, want the whole payload", got)
	}
}

// TestGoMessageMultipartStopsAtMalformedPartHeader: one header line without
// a colon makes go-message's multipart reader return an error, and the
// parts after it are never seen. Clients show them.
func TestGoMessageMultipartStopsAtMalformedPartHeader(t *testing.T) {
	msg := crlf("Content-Type: multipart/mixed; boundary=b\n\n--b\n\none\n--b\nno colon here\n\nMZ\n--b\nContent-Type: application/x-msdownload; name=late.exe\n\nMZ\n--b--\n")
	e, err := message.Read(strings.NewReader(msg))
	if err != nil {
		t.Fatal(err)
	}
	mr := e.MultipartReader()
	seen := 0
	for {
		_, err := mr.NextPart()
		if err != nil {
			if errors.Is(err, io.EOF) {
				t.Fatal("go-message now reads past a malformed part header; the own splitter may go")
			}
			break
		}
		seen++
	}
	if seen != 1 {
		t.Fatalf("go-message saw %d parts before failing, expected 1", seen)
	}
	r := walk(t, msg, Limits{})
	if len(r.Parts) != 3 || r.Parts[2].Filename != "late.exe" {
		t.Fatalf("walk must see all three parts, got %d", len(r.Parts))
	}
}

// TestGoMessageDropsNonUTF8RFC2231Names: go-message parses parameters with
// mime.ParseMediaType, which decodes RFC 2231 values only in UTF-8 or
// US-ASCII and silently drops others, so an ISO-2022-JP file name vanishes.
func TestGoMessageDropsNonUTF8RFC2231Names(t *testing.T) {
	msg := crlf("Content-Type: application/octet-stream\nContent-Disposition: attachment; filename*=iso-2022-jp''%1B%24B%40A5a%3Dq%1B%28B.exe\n\nMZ\n")
	e, err := message.Read(strings.NewReader(msg))
	if err != nil {
		t.Fatal(err)
	}
	_, params, _ := e.Header.ContentDisposition()
	if params["filename"] != "" {
		t.Fatalf("go-message now reads the name (%q); the own parser may go", params["filename"])
	}
	r := walk(t, msg, Limits{})
	if r.Parts[0].Filename != "請求書.exe" {
		t.Fatalf("walk name = %q", r.Parts[0].Filename)
	}
}
