package filetype_test

import (
	"archive/zip"
	"bytes"
	"context"
	"fmt"

	"github.com/mamori-mail/mamori/scanners/filetype"
)

// A zip holding a file named like a PDF with an executable's extension:
// the member path names where it was found.
func ExampleInspector_Inspect() {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, _ := zw.Create("invoice.pdf.exe")
	w.Write([]byte("not a real program"))
	zw.Close()

	in := filetype.New(filetype.Options{})
	findings, err := in.Inspect(context.Background(), "docs.zip", "application/zip", bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil {
		panic(err)
	}
	for _, f := range findings {
		fmt.Println(f.Rule.Symbol(), f)
	}
	// Output:
	// FILETYPE_BLOCKED docs.zip/invoice.pdf.exe: extension .exe
	// FILETYPE_DOUBLE_EXT docs.zip/invoice.pdf.exe: .exe hidden behind .pdf
}

// One Scan per message: the caps on archive entries and bytes hold
// across all its attachments.
func ExampleScan() {
	in := filetype.New(filetype.Options{MaxEntries: 1000})
	scan := in.NewScan()
	for _, f := range []filetype.File{
		{Name: "請求書.pdf", ContentType: "application/pdf", R: bytes.NewReader([]byte("%PDF-1.7\n...")), Size: 12},
		{Name: "photo\u202Egpj.scr", R: bytes.NewReader([]byte("MZ")), Size: 2},
	} {
		findings, err := scan.Inspect(context.Background(), f)
		if err != nil {
			panic(err)
		}
		for _, x := range findings {
			fmt.Println(x.Rule, x)
		}
	}
	// Output:
	// bidi_name photo<U+202E>gpj.scr: bidirectional control U+202E in name, judged as "photogpj.scr"
	// blocked_extension photo<U+202E>gpj.scr: extension .scr
}
