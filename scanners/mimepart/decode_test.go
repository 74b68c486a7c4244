package mimepart

import (
	"bytes"
	"encoding/base64"
	"math/rand/v2"
	"strings"
	"testing"
)

// TestDecodeBase64 checks the fast path (standard library on whole lines)
// and the lenient loop against each other: well-formed input of any line
// length decodes exactly, and damage in one place costs only that place.
func TestDecodeBase64(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, size := range []int{0, 1, 2, 3, 57, 1000, 100 << 10} {
		data := make([]byte, size)
		for i := range data {
			data[i] = byte(r.Uint32())
		}
		enc := base64.StdEncoding.EncodeToString(data)
		for _, width := range []int{76, 64, 73, 1 << 20} {
			var b strings.Builder
			for s := enc; len(s) > 0; {
				k := min(width, len(s))
				b.WriteString(s[:k] + "\r\n")
				s = s[k:]
			}
			var out bytes.Buffer
			bad, err := decodeBase64(&out, strings.NewReader(b.String()))
			if err != nil || bad != 0 || !bytes.Equal(out.Bytes(), data) {
				t.Fatalf("size %d width %d: bad %d err %v, equal %v", size, width, bad, err, bytes.Equal(out.Bytes(), data))
			}
		}
	}
	// Damage: a stray character in the middle of a long attachment.
	data := bytes.Repeat([]byte("0123456789"), 10000)
	enc := b64(data)
	dirty := enc[:50000] + "!" + enc[50000:]
	var out bytes.Buffer
	bad, err := decodeBase64(&out, strings.NewReader(dirty))
	if err != nil || bad != 1 || !bytes.Equal(out.Bytes(), data) {
		t.Fatalf("stray character: bad %d err %v equal %v", bad, err, bytes.Equal(out.Bytes(), data))
	}
	// Concatenated encodings with padding in the middle.
	var cat bytes.Buffer
	if _, err := decodeBase64(&cat, strings.NewReader("TWE=\r\nTWFu\r\n")); err != nil || cat.String() != "MaMan" {
		t.Fatalf("concatenated: %q %v", cat.String(), err)
	}
}

// TestBogusCharsetWordKeepsOthersDecoded: one encoded word in a charset
// nobody knows must not leave the other words encoded, which would hide a
// filename's real extension from the attachment checks.
func TestBogusCharsetWordKeepsOthersDecoded(t *testing.T) {
	_, params, ok := parseMediaType(`attachment; filename="=?x-bogus?Q?a?= =?UTF-8?Q?invoice.exe?="`)
	if !ok || params["filename"] != "ainvoice.exe" {
		t.Errorf("filename %q (ok %v), want ainvoice.exe", params["filename"], ok)
	}
	if got := DecodeWords("=?UTF-8?B?5pyq5om/6Ku+5bqD5ZGK?= =?x-bogus?Q?a?="); got != "未承諾広告a" {
		t.Errorf("subject %q", got)
	}
	if got := DecodeWords("no words here"); got != "no words here" {
		t.Errorf("plain %q", got)
	}
}
