package mimepart

import (
	"bytes"
	"context"
	"encoding/base64"
	"io"
	"math/rand/v2"
	"strings"
	"testing"
)

// benchMessage is a mail with a text part and a 20 MB base64 attachment.
func benchMessage() (msg []byte, encoded string) {
	data := make([]byte, 20<<20)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range data {
		data[i] = byte(r.Uint32())
	}
	encoded = b64(data)
	msg = []byte(crlf("Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/plain\n\nhello\n--b\nContent-Type: application/pdf; name=big.pdf\nContent-Transfer-Encoding: base64\n\n") + encoded + crlf("--b--\n"))
	return msg, encoded
}

// BenchmarkWalk measures the walk on a large attachment (MB/s of message),
// beside BenchmarkWalkBaseline, the standard library's base64 decoder
// alone on the same bytes: the ratio is the walk's overhead.
func BenchmarkWalk(b *testing.B) {
	msg, _ := benchMessage()
	lim := Limits{TempDir: b.TempDir()}
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	for b.Loop() {
		r, err := Walk(context.Background(), bytes.NewReader(msg), int64(len(msg)), lim)
		if err != nil {
			b.Fatal(err)
		}
		if len(r.Parts) != 2 || r.Parts[1].Size != 20<<20 {
			b.Fatalf("parts %d", len(r.Parts))
		}
		r.Close()
	}
}

func BenchmarkWalkBaseline(b *testing.B) {
	msg, encoded := benchMessage()
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	for b.Loop() {
		n, err := io.Copy(io.Discard, base64.NewDecoder(base64.StdEncoding, strings.NewReader(strings.ReplaceAll(encoded, "\r\n", ""))))
		if err != nil || n != 20<<20 {
			b.Fatal(n, err)
		}
	}
}

// BenchmarkWalkManyParts is a message of 200 small parts: the per-part
// cost (header parsing, names, bookkeeping).
func BenchmarkWalkManyParts(b *testing.B) {
	var sb strings.Builder
	sb.WriteString("Content-Type: multipart/mixed; boundary=b\r\n\r\n")
	for i := 0; i < 200; i++ {
		sb.WriteString("--b\r\nContent-Type: application/pdf; name=\"=?UTF-8?B?6KuL5rGC5pu4?=.pdf\"\r\nContent-Disposition: attachment; filename*=UTF-8''%E8%AB%8B.pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n" + b64(bytes.Repeat([]byte("%PDF-1.7 "), 100)))
	}
	sb.WriteString("--b--\r\n")
	msg := []byte(sb.String())
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	for b.Loop() {
		r, err := Walk(context.Background(), bytes.NewReader(msg), int64(len(msg)), Limits{})
		if err != nil || len(r.Parts) != 200 {
			b.Fatal(err)
		}
		r.Close()
	}
}
