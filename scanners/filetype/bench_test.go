package filetype

import (
	"bytes"
	"context"
	"fmt"
	"testing"
)

// BenchmarkInspect measures the inspection of one large attachment; MB/s
// is of the attachment as received (decoded, still compressed).
func BenchmarkInspect(b *testing.B) {
	pdf := pdfBytes(20 << 20)
	var entries []zipEntry
	for i := 0; i < 40; i++ {
		entries = append(entries, zipEntry{name: fmt.Sprintf("資料/report-%02d.pdf", i), data: docBytes(1<<20, uint64(i))})
	}
	for i := 0; i < 10; i++ {
		entries = append(entries, zipEntry{name: fmt.Sprintf("doc-%02d.docx", i), data: docx(b, false)})
	}
	docs := makeZip(b, entries...)
	// PDFs compress well; add stored members so the zip is 20 MB.
	for len(docs) < 20<<20 {
		entries = append(entries, zipEntry{name: fmt.Sprintf("scan-%02d.pdf", len(entries)), data: docBytes(1<<20, uint64(len(entries))), store: true})
		docs = makeZip(b, entries...)
	}
	bomb := nestedBomb(b, 3, 16, 1<<20)
	in := New(Options{})
	cases := []struct {
		name, file string
		data       []byte
	}{
		{"pdf-20MB", "請求書.pdf", pdf},
		{"zip-of-documents-20MB", "資料.zip", docs},
		{"nested-bomb-4GiB", "42.zip", bomb},
	}
	if lookTool("7z") != "" {
		files := map[string][]byte{}
		for i := 0; i < 20; i++ {
			files[fmt.Sprintf("report-%02d.pdf", i)] = docBytes(1<<20, uint64(i))
		}
		cases = append(cases, struct {
			name, file string
			data       []byte
		}{"7z-lzma2-20MiB-of-documents", "資料.7z", toolArchive(b, "7z", ".7z", files, "-mx5")})
	}
	for _, bc := range cases {
		b.Run(bc.name, func(b *testing.B) {
			b.SetBytes(int64(len(bc.data)))
			b.ReportAllocs()
			var st Stats
			for b.Loop() {
				s := in.NewScan()
				if _, err := s.Inspect(context.Background(), File{Name: bc.file, R: bytes.NewReader(bc.data), Size: int64(len(bc.data))}); err != nil {
					b.Fatal(err)
				}
				st = s.Stats()
			}
			b.ReportMetric(float64(st.Bytes)/(1<<20), "MiB-decompressed/op")
		})
	}
}
