package filetype

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// fuzzOptions are small caps, so that each input is cheap and a breach
// shows at once.
var fuzzOptions = Options{MaxEntries: 64, MaxBytes: 2 << 20, MaxRatio: 50, MaxDictionary: 1 << 20, MemoryBytes: 64 << 10, ArchiveDepth: 3}

// FuzzInspect feeds arbitrary bytes to every archive reader (zip, 7z,
// RAR, tar, gzip, OLE) and to the sniffing entry point. It must never
// panic in this package, never decompress past the byte cap, and never
// count past the entry cap. Panics inside the third-party parsers are
// turned into unreadable-archive findings by design (recoverParser); the
// fuzzer fails only when the panicking frame is ours.
func FuzzInspect(f *testing.F) {
	for _, seed := range fuzzSeeds(f) {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		onParserPanic = func(p any, stack []byte) {
			if frame := panickingFrame(string(stack)); strings.Contains(frame, "scanners/filetype.") {
				t.Fatalf("panic in filetype: %v\n%s", p, stack)
			}
		}
		defer func() { onParserPanic = nil }()
		in := New(fuzzOptions)
		ctx := context.Background()
		walkers := []func(s *Scan, n node, r *bytes.Reader) error{
			func(s *Scan, n node, r *bytes.Reader) error { return s.zip(ctx, n, r, r.Size()) },
			func(s *Scan, n node, r *bytes.Reader) error { return s.sevenZip(ctx, n, r, r.Size()) },
			func(s *Scan, n node, r *bytes.Reader) error { return s.rar(ctx, n, r, r.Size()) },
			func(s *Scan, n node, r *bytes.Reader) error { return s.tarFile(ctx, n, r, r.Size()) },
			func(s *Scan, n node, r *bytes.Reader) error { return s.gzip(ctx, n, r, r.Size()) },
			func(s *Scan, n node, r *bytes.Reader) error { return s.ole(n, r, r.Size()) },
			func(s *Scan, n node, r *bytes.Reader) error {
				_, err := s.Inspect(ctx, File{Name: "x.pdf", ContentType: "application/pdf", R: r, Size: r.Size()})
				return err
			},
		}
		for _, w := range walkers {
			s := in.NewScan()
			r := bytes.NewReader(data)
			n := node{path: "f", name: parseName("f.bin")}
			_ = s.settle(ctx, n, w(s, n, r))
			st := s.Stats()
			if st.Bytes > fuzzOptions.MaxBytes+1 {
				t.Fatalf("decompressed %d bytes, cap %d", st.Bytes, fuzzOptions.MaxBytes)
			}
			if st.Entries > fuzzOptions.MaxEntries+1 {
				t.Fatalf("counted %d entries, cap %d", st.Entries, fuzzOptions.MaxEntries)
			}
		}
	})
}

// panickingFrame returns the first stack frame after the panic call.
func panickingFrame(stack string) string {
	lines := strings.Split(stack, "\n")
	for i, l := range lines {
		if strings.HasPrefix(l, "panic(") {
			for _, m := range lines[i+1:] {
				if !strings.HasPrefix(m, "\t") && !strings.HasPrefix(m, "runtime.") {
					return m
				}
			}
		}
	}
	return ""
}

// fuzzSeeds are the fixtures of the other tests, small ones.
func fuzzSeeds(tb testing.TB) [][]byte {
	pe := fakePE()
	seeds := [][]byte{
		makeZip(tb, zipEntry{name: "a.exe", data: pe}, zipEntry{name: "b.txt", data: []byte("hello")}),
		makeZip(tb, zipEntry{name: "inner.zip", data: makeZip(tb, zipEntry{name: "c.exe", data: pe})}),
		makeZip(tb, zipEntry{name: "s.pdf", data: []byte("0123456789abcdef"), flags: 1}),
		docx(tb, true),
		gzipBytes("a.tar", tarBytes(tb, map[string][]byte{"x.exe": pe})),
		tarBytes(tb, map[string][]byte{"a.vbs": []byte("x")}),
		rar5(rarFile{name: "a.exe", data: pe}, rarFile{name: "b", data: []byte("x"), encrypted: true}),
		rar4(rarFile{name: "a.exe", data: pe}, rarFile{name: "b", data: []byte("x"), encrypted: true}),
		wordDoc(tb, true),
		cfbFile(tb, cfbSpec{streams: []string{"EncryptionInfo", "EncryptedPackage"}}),
		sevenZipRaw(make([]byte, 16), concat([]byte{0x01, 0x05}, sz7Number(3), []byte{0x00, 0x00})),
		zipRepeat(tb, 4, "z#.bin", make([]byte, 1<<20)),
	}
	// Real 7z archives when the tool is there (the seeds only help; the
	// fuzz target does not need them).
	if p := lookTool("7z"); p != "" {
		seeds = append(seeds, toolArchive(tb, "7z", ".7z", map[string][]byte{"a.exe": pe, "b.txt": []byte("hi")}, "-mx1"))
		seeds = append(seeds, toolArchive(tb, "7z", ".7z", map[string][]byte{"a.exe": pe}, "-pX", "-mhe=on"))
	}
	return seeds
}
