package filetype

import (
	"archive/zip"
	"bytes"
	"context"
	"fmt"
	"runtime"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/gabriel-vasile/mimetype"
)

// inspect runs a default Inspector over data.
func inspect(t testing.TB, in *Inspector, name, declared string, data []byte) []Finding {
	t.Helper()
	fs, err := in.Inspect(context.Background(), name, declared, bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatalf("Inspect(%q): %v", name, err)
	}
	return fs
}

// summary renders findings as "rule path: detail" lines, sorted.
func summary(fs []Finding) string {
	var out []string
	for _, f := range fs {
		out = append(out, string(f.Rule)+" "+f.String())
	}
	sort.Strings(out)
	return strings.Join(out, "\n")
}

// want lists expected findings as "rule path" with an optional detail
// fragment after " ~ ".
func checkFindings(t *testing.T, fs []Finding, want ...string) {
	t.Helper()
	if len(fs) != len(want) {
		t.Fatalf("got %d findings, want %d:\n%s", len(fs), len(want), summary(fs))
	}
	for _, w := range want {
		head, frag, _ := strings.Cut(w, " ~ ")
		rule, path, _ := strings.Cut(head, " ")
		found := false
		for _, f := range fs {
			if string(f.Rule) == rule && f.Path == path && strings.Contains(f.Detail, frag) {
				found = true
			}
		}
		if !found {
			t.Fatalf("no finding %q in:\n%s", w, summary(fs))
		}
	}
}

func TestFixturesSniffAsIntended(t *testing.T) {
	for _, tc := range []struct {
		name string
		data []byte
		mime string
		kind kind
	}{
		{"pe", fakePE(), mimePE, kindProgram},
		{"elf", fakeELF(), "application/x-executable", kindProgram},
		{"lnk", fakeLNK(), "application/x-ms-shortcut", kindProgram},
		{"iso", fakeISO(), "application/x-iso9660-image", kindDiskImage},
		{"vhd", fakeVHD(), "application/x-vhd", kindDiskImage},
		{"msi", cfbFile(t, cfbSpec{rootCLSID: clsidMSI, streams: []string{"\x05SummaryInformation"}}), "application/x-ms-installer", kindProgram},
		{"doc", wordDoc(t, false), "application/msword", kindOLE},
		{"pdf", pdfBytes(2000), "application/pdf", kindOther},
		{"png", pngBytes(), "image/png", kindOther},
		{"zip", makeZip(t, zipEntry{name: "a.txt", data: []byte("hello")}), "application/zip", kindZip},
		{"docx", docx(t, false), "application/vnd.openxmlformats-officedocument.wordprocessingml.document", kindZip},
		{"gzip", gzipBytes("a", []byte("x")), "application/gzip", kindGzip},
		{"tar", tarBytes(t, map[string][]byte{"a": []byte("x")}), "application/x-tar", kindTar},
		{"rar5", rar5(rarFile{name: "a.txt", data: []byte("x")}), "application/vnd.rar", kindRar},
		{"rar4", rar4(rarFile{name: "a.txt", data: []byte("x")}), "application/vnd.rar", kindRar},
		{"shell", []byte("#!/bin/sh\necho hi\n"), "text/x-shellscript", kindScript},
		{"text starting with MZ", []byte("MZ Corporation quarterly report, all figures in yen.\n"), "text/plain", kindText},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := sniff(tc.data, tc.data[max(0, len(tc.data)-tailLen):])
			if got.mime != tc.mime || got.kind != tc.kind {
				t.Fatalf("sniff = %s kind %d, want %s kind %d (mimetype says %s)", got.mime, got.kind, tc.mime, tc.kind, mimetype.Detect(tc.data))
			}
		})
	}
}

func TestTopLevelFiles(t *testing.T) {
	in := New(Options{})
	jp := "請求書.pdf"
	for _, tc := range []struct {
		name, file, declared string
		data                 []byte
		want                 []string
	}{
		{name: "pdf passes", file: "invoice.pdf", declared: "application/pdf", data: pdfBytes(5000)},
		{name: "Japanese pdf passes", file: jp, declared: "application/pdf", data: pdfBytes(5000)},
		{name: "png passes", file: "写真.png", declared: "image/png", data: pngBytes()},
		{name: "docx passes", file: "見積書.docx", declared: "application/vnd.openxmlformats-officedocument.wordprocessingml.document", data: docx(t, false)},
		{name: "xlsx passes", file: "a.xlsx", declared: "application/octet-stream", data: xlsx(t)},
		{name: "doc without macros passes", file: "old.doc", declared: "application/msword", data: wordDoc(t, false)},
		{name: "zip of documents passes", file: "docs.zip", declared: "application/zip", data: makeZip(t,
			zipEntry{name: "a.pdf", data: pdfBytes(3000)}, zipEntry{name: "b.docx", data: docx(t, false)},
			zipEntry{name: "資料/c.png", data: pngBytes()}, zipEntry{name: "dir/"})},
		{name: "shell script as txt passes", file: "deploy.txt", declared: "text/plain", data: []byte("#!/bin/sh\nmake install\n")},
		{name: "text named csv passes", file: "data.csv", declared: "text/csv", data: []byte("a,b\n1,2\n")},
		{name: "pdf with junk before the header passes", file: "scan.pdf", data: append([]byte("\x1b%-12345X@PJL\r\n"), pdfBytes(3000)...)},
		{name: "unnamed octet-stream PDF passes", file: "", declared: "application/octet-stream", data: pdfBytes(3000)},
		{name: "exe by name", file: "setup.exe", data: []byte("not really"), want: []string{"blocked_extension setup.exe ~ extension .exe"}},
		{name: "upper-case extension", file: "SETUP.EXE", data: []byte("x"), want: []string{"blocked_extension SETUP.EXE ~ .exe"}},
		{name: "exe content and name", file: "setup.exe", data: fakePE(), want: []string{
			"blocked_extension setup.exe ~ extension .exe", "executable setup.exe ~ " + mimePE}},
		{name: "double extension", file: "invoice.pdf.exe", data: []byte("x"), want: []string{
			"blocked_extension invoice.pdf.exe ~ extension .exe", "double_extension invoice.pdf.exe ~ .exe hidden behind .pdf"}},
		{name: "double extension with padding", file: "invoice.pdf          .scr", data: []byte("x"), want: []string{
			"blocked_extension invoice.pdf          .scr", "double_extension invoice.pdf          .scr"}},
		{name: "trailing dots and spaces", file: "invoice.exe. . ", data: []byte("x"), want: []string{
			"blocked_extension invoice.exe. .  ~ trailing dots or spaces removed"}},
		{name: "RTL override", file: "invoice\u202Efdp.exe", data: fakePE(), want: []string{
			"bidi_name invoice<U+202E>fdp.exe ~ U+202E", "blocked_extension invoice<U+202E>fdp.exe ~ .exe",
			"executable invoice<U+202E>fdp.exe"}},
		{name: "RTL override hiding .scr behind jpg", file: "photo\u202Egpj.scr", data: []byte("x"), want: []string{
			"bidi_name photo<U+202E>gpj.scr", "blocked_extension photo<U+202E>gpj.scr"}},
		{name: "isolates and marks", file: "a\u2066\u200Fb.pdf", data: pdfBytes(1000), want: []string{
			"bidi_name a<U+2066><U+200F>b.pdf ~ U+2066 U+200F"}},
		{name: "PE named pdf is disguised", file: "invoice.pdf", declared: "application/pdf", data: fakePE(), want: []string{
			"executable invoice.pdf", "disguised invoice.pdf ~ named .pdf"}},
		{name: "PE declared pdf is disguised", file: "invoice", declared: "application/pdf", data: fakePE(), want: []string{
			"executable invoice", "disguised invoice ~ declared application/pdf"}},
		{name: "ELF named jpg", file: "cat.jpg", data: fakeELF(), want: []string{"executable cat.jpg", "disguised cat.jpg"}},
		{name: "LNK named txt", file: "readme.txt", data: fakeLNK(), want: []string{"executable readme.txt ~ shortcut", "disguised readme.txt"}},
		{name: "ISO named pdf", file: "invoice.pdf", data: fakeISO(), want: []string{"executable invoice.pdf ~ iso9660", "disguised invoice.pdf"}},
		{name: "ISO by name", file: "invoice.iso", data: fakeISO(), want: []string{"blocked_extension invoice.iso", "executable invoice.iso"}},
		{name: "VHD named docx", file: "a.docx", data: fakeVHD(), want: []string{"executable a.docx ~ vhd", "disguised a.docx"}},
		{name: "MSI named doc", file: "a.doc", data: cfbFile(t, cfbSpec{rootCLSID: clsidMSI}), want: []string{
			"executable a.doc ~ installer", "disguised a.doc"}},
		{name: "script named pdf is disguised", file: "invoice.pdf", data: []byte("#!/bin/sh\ncurl x | sh\n"), want: []string{
			"disguised invoice.pdf ~ text/x-shellscript named .pdf"}},
		{name: "png named pdf is a mismatch", file: "scan.pdf", declared: "application/pdf", data: pngBytes(), want: []string{
			"mismatch scan.pdf ~ image/png named .pdf"}},
		{name: "png declared pdf without extension", file: "scan", declared: "application/pdf", data: pngBytes(), want: []string{
			"mismatch scan ~ declared application/pdf"}},
		{name: "html named pdf", file: "login.pdf", data: []byte("<html><body><form action=x>password</form></body></html>"), want: []string{
			"mismatch login.pdf ~ text/html named .pdf"}},
		{name: "doc with macros", file: "report.doc", declared: "application/msword", data: wordDoc(t, true), want: []string{
			"macro report.doc ~ VBA project"}},
		{name: "docm", file: "report.docm", data: docx(t, true), want: []string{"macro report.docm ~ VBA project word/vbaProject.bin"}},
		{name: "encrypted Office file", file: "給与.xlsx", data: cfbFile(t, cfbSpec{streams: []string{"EncryptionInfo", "EncryptedPackage"}}), want: []string{
			"encrypted 給与.xlsx ~ password-protected Office document"}},
		{name: "OneNote named pdf", file: "a.pdf", data: append([]byte{0xe4, 0x52, 0x5c, 0x7b, 0x8c, 0xd8, 0xa7, 0x4d, 0xae, 0xb1, 0x53, 0x78, 0xd0, 0x29, 0x96, 0xd3}, make([]byte, 100)...), want: []string{
			"disguised a.pdf ~ application/onenote"}},
		{name: "OneNote by name", file: "notes.one", data: []byte("x"), want: []string{"blocked_extension notes.one"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkFindings(t, inspect(t, in, tc.file, tc.declared, tc.data), tc.want...)
		})
	}
}

func TestOptions(t *testing.T) {
	t.Run("scripts as executables", func(t *testing.T) {
		in := New(Options{ExecutableScripts: true})
		checkFindings(t, inspect(t, in, "deploy.txt", "text/plain", []byte("#!/bin/bash\nrm -rf /\n")), "executable deploy.txt ~ text/x-shellscript")
	})
	t.Run("custom blocked list", func(t *testing.T) {
		in := New(Options{Blocked: []string{".HTML", "svg"}})
		checkFindings(t, inspect(t, in, "setup.exe", "", []byte("x")))
		checkFindings(t, inspect(t, in, "login.html", "", []byte("<html></html>")), "blocked_extension login.html")
	})
	t.Run("skip archives", func(t *testing.T) {
		in := New(Options{SkipArchives: true})
		checkFindings(t, inspect(t, in, "a.zip", "", makeZip(t, zipEntry{name: "evil.exe", data: fakePE()})))
	})
}

func TestArchives(t *testing.T) {
	in := New(Options{})
	pe := fakePE()
	inner := makeZip(t, zipEntry{name: "evil.exe", data: pe})
	for _, tc := range []struct {
		name, file string
		data       []byte
		want       []string
	}{
		{"zip with exe", "docs.zip", makeZip(t, zipEntry{name: "readme.pdf", data: pdfBytes(2000)}, zipEntry{name: "setup.exe", data: pe}),
			[]string{"blocked_extension docs.zip/setup.exe", "executable docs.zip/setup.exe ~ " + mimePE}},
		{"zip with renamed exe", "docs.zip", makeZip(t, zipEntry{name: "invoice.pdf", data: pe}),
			[]string{"executable docs.zip/invoice.pdf", "disguised docs.zip/invoice.pdf ~ named .pdf"}},
		{"nested zip", "docs.zip", makeZip(t, zipEntry{name: "inner.zip", data: inner}),
			[]string{"blocked_extension docs.zip/inner.zip/evil.exe", "executable docs.zip/inner.zip/evil.exe"}},
		{"stored nested zip", "docs.zip", makeZip(t, zipEntry{name: "inner.zip", data: inner, store: true}),
			[]string{"blocked_extension docs.zip/inner.zip/evil.exe", "executable docs.zip/inner.zip/evil.exe"}},
		{"zip with Windows paths", "a.zip", makeZip(t, zipEntry{name: `folder\run.bat`, data: []byte("@echo off")}),
			[]string{`blocked_extension a.zip/folder\run.bat ~ .bat`}},
		{"zip with Shift_JIS names", "a.zip", makeZip(t, zipEntry{name: "\x90\xbf\x8b\x81\x8f\x91.exe", data: []byte("x"), nonUTF: true}),
			[]string{"blocked_extension a.zip/請求書.exe"}},
		{"zip with bidi member", "a.zip", makeZip(t, zipEntry{name: "doc\u202Excod.js", data: []byte("x")}),
			[]string{"bidi_name a.zip/doc<U+202E>xcod.js", "blocked_extension a.zip/doc<U+202E>xcod.js"}},
		{"encrypted zip entry", "secret.zip", makeZip(t, zipEntry{name: "a.pdf", data: []byte("0123456789abcdef"), flags: 1}),
			[]string{"encrypted secret.zip ~ encrypted member secret.zip/a.pdf"}},
		{"encrypted zip entry with blocked name", "secret.zip", makeZip(t, zipEntry{name: "a.exe", data: []byte("0123456789abcdef"), flags: 1}, zipEntry{name: "b.pdf", data: []byte("0123456789abcdef"), flags: 1}),
			[]string{"encrypted secret.zip ~ and 1 more", "blocked_extension secret.zip/a.exe"}},
		{"docm in zip", "docs.zip", makeZip(t, zipEntry{name: "report.docm", data: docx(t, true)}),
			[]string{"macro docs.zip/report.docm ~ VBA project"}},
		{"doc with macros in zip", "docs.zip", makeZip(t, zipEntry{name: "report.doc", data: wordDoc(t, true)}),
			[]string{"macro docs.zip/report.doc"}},
		{"xlsm macro sheet", "a.xlsm", makeZip(t, zipEntry{name: "[Content_Types].xml", data: []byte(`<Types/>`)}, zipEntry{name: "xl/macrosheets/sheet1.xml", data: []byte("<x/>")}),
			[]string{"macro a.xlsm ~ Excel 4.0 macro sheet"}},
		{"macro-enabled content type only", "a.pptm", makeZip(t, zipEntry{name: "[Content_Types].xml", data: []byte(`<Types><Override PartName="/ppt/presentation.xml" ContentType="application/vnd.ms-powerpoint.presentation.macroEnabled.main+xml"/></Types>`)}),
			[]string{"macro a.pptm ~ content type application/vnd.ms-powerpoint.presentation.macroEnabled.main+xml"}},
		{"odt with Basic module", "a.odt", makeZip(t, zipEntry{name: "mimetype", data: []byte("application/vnd.oasis.opendocument.text"), store: true}, zipEntry{name: "Basic/Standard/Module1.xml", data: []byte("<x/>")}, zipEntry{name: "Basic/script-lc.xml", data: []byte("<x/>")}),
			[]string{"macro a.odt ~ Basic/Standard/Module1.xml"}},
		{"tar.gz with exe", "logs.tar.gz", gzipBytes("logs.tar", tarBytes(t, map[string][]byte{"bin/tool.exe": pe, "a.txt": []byte("hi")})),
			[]string{"blocked_extension logs.tar.gz/bin/tool.exe", "executable logs.tar.gz/bin/tool.exe"}},
		{"tgz with renamed ELF", "x.tgz", gzipBytes("", tarBytes(t, map[string][]byte{"photo.jpg": fakeELF()})),
			[]string{"executable x.tgz/photo.jpg", "disguised x.tgz/photo.jpg"}},
		{"gzip of an exe", "report.pdf.gz", gzipBytes("", pe),
			[]string{"executable report.pdf.gz/report.pdf", "disguised report.pdf.gz/report.pdf"}},
		{"gzip of a zip of an exe", "a.zip.gz", gzipBytes("a.zip", inner),
			[]string{"blocked_extension a.zip.gz/a.zip/evil.exe", "executable a.zip.gz/a.zip/evil.exe"}},
		{"plain tar", "a.tar", tarBytes(t, map[string][]byte{"x.vbs": []byte("MsgBox 1")}),
			[]string{"blocked_extension a.tar/x.vbs"}},
		{"rar5 with exe", "a.rar", rar5(rarFile{name: "dir/setup.exe", data: pe}, rarFile{name: "a.txt", data: []byte("hello")}),
			[]string{"blocked_extension a.rar/dir/setup.exe", "executable a.rar/dir/setup.exe"}},
		{"rar5 encrypted", "a.rar", rar5(rarFile{name: "invoice.pdf", data: bytes.Repeat([]byte{7}, 64), encrypted: true}),
			[]string{"encrypted a.rar ~ a.rar/invoice.pdf"}},
		{"rar5 encrypted headers", "a.rar", concat([]byte("Rar!\x1a\x07\x01\x00"), rar5Block(concat(vint(4), vint(0), vint(0), vint(0), []byte{15}, bytes.Repeat([]byte{0x33}, 16))), bytes.Repeat([]byte{0x99}, 64)),
			[]string{"encrypted a.rar ~ encrypted headers"}},
		{"rar4 with exe", "a.rar", rar4(rarFile{name: "setup.exe", data: pe}),
			[]string{"blocked_extension a.rar/setup.exe", "executable a.rar/setup.exe"}},
		{"rar4 encrypted", "a.rar", rar4(rarFile{name: "a.pdf", data: bytes.Repeat([]byte{7}, 64), encrypted: true}),
			[]string{"encrypted a.rar ~ a.rar/a.pdf"}},
		{"ISO named pdf in a zip", "a.zip", makeZip(t, zipEntry{name: "photos.pdf", data: fakeISO()}),
			[]string{"executable a.zip/photos.pdf ~ iso9660", "disguised a.zip/photos.pdf"}},
		{"large fixed VHD in a zip (footer found while streaming)", "a.zip", makeZip(t, zipEntry{name: "disk.dat", data: append(docBytes(3<<20, 7), fakeVHD()...)}),
			[]string{"executable a.zip/disk.dat ~ application/x-vhd"}},
		{"large fixed VHD stored", "a.zip", makeZip(t, zipEntry{name: "disk.dat", data: append(bytes.Repeat([]byte{1, 2, 3}, 100000), fakeVHD()...), store: true}),
			[]string{"executable a.zip/disk.dat ~ application/x-vhd"}},
		{"truncated zip", "a.zip", makeZip(t, zipEntry{name: "a.pdf", data: pdfBytes(5000)})[:200],
			[]string{"archive_broken a.zip ~ unreadable"}},
		{"zip with bad CRC", "a.zip", corruptCRC(makeZip(t, zipEntry{name: "a.txt", data: []byte("hello hello hello")}, zipEntry{name: "b.exe", data: []byte("x")})),
			[]string{"archive_broken a.zip ~ checksum", "blocked_extension a.zip/b.exe"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkFindings(t, inspect(t, in, tc.file, "", tc.data), tc.want...)
		})
	}
}

// corruptCRC flips the CRC-32 of the first member in both headers.
func corruptCRC(z []byte) []byte {
	z = bytes.Clone(z)
	z[14] ^= 0xff
	if i := bytes.Index(z, []byte("PK\x01\x02")); i >= 0 {
		z[i+16] ^= 0xff
	}
	return z
}

func TestArchiveDepth(t *testing.T) {
	pe := fakePE()
	z := makeZip(t, zipEntry{name: "evil.exe", data: pe})
	for i := 1; i <= 4; i++ {
		z = makeZip(t, zipEntry{name: fmt.Sprintf("l%d.zip", i), data: z})
	}
	// l4.zip/l3.zip/l2.zip/l1.zip/evil.exe: l1.zip is the fourth archive.
	in := New(Options{})
	checkFindings(t, inspect(t, in, "top.zip", "", z), "archive_depth top.zip/l4.zip/l3.zip/l2.zip ~ inside 3 archives")
	in = New(Options{ArchiveDepth: 5})
	checkFindings(t, inspect(t, in, "top.zip", "", z),
		"blocked_extension top.zip/l4.zip/l3.zip/l2.zip/l1.zip/evil.exe", "executable top.zip/l4.zip/l3.zip/l2.zip/l1.zip/evil.exe")
}

func TestEncryptedWithTools(t *testing.T) {
	in := New(Options{})
	files := map[string][]byte{"invoice.pdf": pdfBytes(4000), "setup.exe": fakePE()}
	t.Run("zip -P", func(t *testing.T) {
		z := toolArchive(t, "zip", ".zip", files, "-q", "-P", "secret")
		checkFindings(t, inspect(t, in, "ppap.zip", "application/zip", z),
			"encrypted ppap.zip ~ encrypted member", "blocked_extension ppap.zip/setup.exe")
	})
	t.Run("7z plain", func(t *testing.T) {
		z := toolArchive(t, "7z", ".7z", files)
		checkFindings(t, inspect(t, in, "a.7z", "", z), "blocked_extension a.7z/setup.exe", "executable a.7z/setup.exe")
	})
	t.Run("7z encrypted content", func(t *testing.T) {
		z := toolArchive(t, "7z", ".7z", files, "-pSECRET")
		checkFindings(t, inspect(t, in, "a.7z", "", z), "encrypted a.7z ~ encrypted member", "blocked_extension a.7z/setup.exe")
	})
	t.Run("7z encrypted headers", func(t *testing.T) {
		z := toolArchive(t, "7z", ".7z", files, "-pSECRET", "-mhe=on")
		checkFindings(t, inspect(t, in, "a.7z", "", z), "encrypted a.7z ~ encrypted headers")
	})
	t.Run("7z non-solid LZMA and PPMd", func(t *testing.T) {
		z := toolArchive(t, "7z", ".7z", files, "-ms=off", "-m0=PPMd")
		checkFindings(t, inspect(t, in, "a.7z", "", z), "blocked_extension a.7z/setup.exe", "executable a.7z/setup.exe")
		z = toolArchive(t, "7z", ".7z", files, "-m0=LZMA", "-mhc=off")
		checkFindings(t, inspect(t, in, "a.7z", "", z), "blocked_extension a.7z/setup.exe", "executable a.7z/setup.exe")
	})
	t.Run("7z with a dictionary above the cap", func(t *testing.T) {
		z := toolArchive(t, "7z", ".7z", map[string][]byte{"a.pdf": pdfBytes(4 << 20)}, "-m0=LZMA2:d=4m")
		checkFindings(t, inspect(t, New(Options{MaxDictionary: 1 << 20}), "a.7z", "", z), "archive_broken a.7z ~ LZMA2 dictionary of 4 MiB")
	})
	t.Run("zip of a 7z", func(t *testing.T) {
		z := toolArchive(t, "7z", ".7z", files)
		checkFindings(t, inspect(t, in, "a.zip", "", makeZip(t, zipEntry{name: "b.7z", data: z})),
			"blocked_extension a.zip/b.7z/setup.exe", "executable a.zip/b.7z/setup.exe")
	})
}

func TestZipKeepsEncryptionFlag(t *testing.T) {
	// makeZip sets bit 0 through archive/zip's CreateRaw: it must survive.
	z := makeZip(t, zipEntry{name: "a", data: []byte("0123456789"), flags: 1})
	zr, err := newZipReader(z)
	if err != nil {
		t.Fatal(err)
	}
	if zr.File[0].Flags&1 == 0 {
		t.Fatalf("flags %#x: archive/zip dropped the encryption bit", zr.File[0].Flags)
	}
}

func TestBombs(t *testing.T) {
	t.Run("declared ratio", func(t *testing.T) {
		z := zipRepeat(t, 1, "zeros#.bin", make([]byte, 64<<20))
		s := New(Options{}).NewScan()
		fs, err := s.Inspect(context.Background(), File{Name: "bomb.zip", R: bytes.NewReader(z), Size: int64(len(z))})
		if err != nil {
			t.Fatal(err)
		}
		checkFindings(t, fs, "bomb bomb.zip/zerosa.bin ~ compression ratio")
		if st := s.Stats(); st.Bytes != 0 {
			t.Fatalf("decompressed %d bytes of an honest bomb", st.Bytes)
		}
	})
	t.Run("gzip counted while reading", func(t *testing.T) {
		// gzip declares no size: the ratio is found while inflating.
		g := gzipBytes("zeros", make([]byte, 16<<20))
		s := New(Options{}).NewScan()
		fs, err := s.Inspect(context.Background(), File{Name: "a.gz", R: bytes.NewReader(g), Size: int64(len(g))})
		if err != nil {
			t.Fatal(err)
		}
		checkFindings(t, fs, "bomb a.gz ~ expands more than 100 times")
		if st := s.Stats(); st.Bytes > int64(100*len(g))+ratioFloor+64<<10 {
			t.Fatalf("decompressed %d bytes from %d", st.Bytes, len(g))
		}
	})
	t.Run("byte cap stops a lying stream", func(t *testing.T) {
		g := gzipBytes("zeros", make([]byte, 8<<20))
		s := New(Options{MaxBytes: 2 << 20, MaxRatio: 1e6}).NewScan()
		fs, _ := s.Inspect(context.Background(), File{Name: "a.gz", R: bytes.NewReader(g), Size: int64(len(g))})
		checkFindings(t, fs, "bomb a.gz ~ more than 2 MiB")
		if st := s.Stats(); st.Bytes > 2<<20+1 {
			t.Fatalf("decompressed %d bytes, cap 2 MiB", st.Bytes)
		}
	})
	t.Run("entry cap", func(t *testing.T) {
		z := zipRepeat(t, 300, "f#.txt", []byte("x"))
		fs := inspect(t, New(Options{MaxEntries: 100}), "many.zip", "", z)
		checkFindings(t, fs, "bomb many.zip ~ more than 100 archive entries")
	})
	t.Run("entry cap counted before parsing", func(t *testing.T) {
		z := zipRepeat(t, 5000, "#", nil)
		s := New(Options{MaxEntries: 50}).NewScan()
		fs, _ := s.Inspect(context.Background(), File{Name: "many.zip", R: bytes.NewReader(z), Size: int64(len(z))})
		checkFindings(t, fs, "bomb many.zip ~ more than 50")
		if st := s.Stats(); st.Entries != 51 {
			t.Fatalf("counted %d entries, want the cap plus one", st.Entries)
		}
	})
	t.Run("caps are per message", func(t *testing.T) {
		s := New(Options{MaxEntries: 10}).NewScan()
		z := zipRepeat(t, 6, "f#.txt", []byte("x"))
		fs1, _ := s.Inspect(context.Background(), File{Name: "a.zip", R: bytes.NewReader(z), Size: int64(len(z))})
		fs2, _ := s.Inspect(context.Background(), File{Name: "b.zip", R: bytes.NewReader(z), Size: int64(len(z))})
		checkFindings(t, fs1)
		checkFindings(t, fs2, "bomb b.zip ~ more than 10")
	})
}

// nestedBomb builds a 42.zip-like archive: levels of zips, each holding
// width copies of the level below, down to width files of size zeros.
func nestedBomb(t testing.TB, levels, width, size int) []byte {
	z := zipRepeat(t, width, "#.bin", make([]byte, size))
	for range levels - 1 {
		z = zipRepeat(t, width, "#.zip", z)
	}
	return z
}

func TestNestedBomb(t *testing.T) {
	// 16 × 16 × 16 × 1 MiB = 4 GiB of zeros in a few hundred KiB; with
	// the default caps (512 MiB, 10000 entries, depth 3) it must stop
	// at the byte cap, without holding the bytes.
	z := nestedBomb(t, 3, 16, 1<<20)
	if testing.Short() {
		z = nestedBomb(t, 3, 16, 256<<10)
	}
	var before, after runtimeMem
	before.read()
	start := time.Now()
	s := New(Options{MaxBytes: 128 << 20}).NewScan()
	fs, err := s.Inspect(context.Background(), File{Name: "42.zip", R: bytes.NewReader(z), Size: int64(len(z))})
	elapsed := time.Since(start)
	after.read()
	if err != nil {
		t.Fatal(err)
	}
	if len(fs) != 1 || fs[0].Rule != RuleBomb || !strings.HasPrefix(fs[0].Path, "42.zip/") || !strings.Contains(fs[0].Detail, "more than 128 MiB") {
		t.Fatalf("want one bomb finding inside 42.zip, got:\n%s", summary(fs))
	}
	st := s.Stats()
	if st.Bytes > 128<<20+1 {
		t.Fatalf("decompressed %d bytes past the cap", st.Bytes)
	}
	if alloc := after.total - before.total; alloc > 64<<20 {
		t.Fatalf("allocated %d MiB to decompress %d MiB", alloc>>20, st.Bytes>>20)
	}
	t.Logf("%d bytes from %d, %d entries, %v, %d KiB allocated", st.Bytes, len(z), st.Entries, elapsed, (after.total-before.total)>>10)
}

type runtimeMem struct{ total uint64 }

func (m *runtimeMem) read() {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	m.total = ms.TotalAlloc
}

func newZipReader(b []byte) (*zip.Reader, error) {
	return zip.NewReader(bytes.NewReader(b), int64(len(b)))
}

// TestCrafted7z feeds headers whose counts would make sevenzip allocate
// tens of GiB (a fatal, unrecoverable error in Go): check7z must refuse
// them first, quickly.
func TestCrafted7z(t *testing.T) {
	for _, tc := range []struct {
		name   string
		header []byte
		want   string
	}{
		{"four billion files", concat([]byte{0x01, 0x05}, sz7Number(0xffffffff), []byte{0x00, 0x00}), "bomb a.7z ~ more than 10000 archive entries"},
		{"four billion pack CRCs", concat([]byte{0x01, 0x04, 0x06, 0x00}, sz7Number(0xffffffff), []byte{0x0a, 0x01, 0x00, 0x00, 0x00}), "archive_broken a.7z ~ count 4294967295 too large"},
		{"four billion substreams", concat([]byte{0x01, 0x04, 0x06, 0x00, 0x01, 0x09, 0x10, 0x00, 0x07, 0x0b, 0x01, 0x00, 0x01, 0x21, 0x21, 0x01, 0x18, 0x0c, 0x20, 0x00, 0x08, 0x0d}, sz7Number(0xffffffff), []byte{0x09, 0x00, 0x00, 0x00}), "archive_broken a.7z ~ substreams"},
		{"LZMA2 dictionary of 4 GiB", concat([]byte{0x01, 0x04, 0x06, 0x00, 0x01, 0x09, 0x10, 0x00, 0x07, 0x0b, 0x01, 0x00, 0x01, 0x21, 0x21, 0x01, 40, 0x0c, 0x20, 0x00, 0x00, 0x05, 0x01, 0x11, 0x05, 0x00, 'a', 0, 0, 0, 0x00, 0x00}), "archive_broken a.7z ~ LZMA2 dictionary"},
		{"encoded header with AES", concat([]byte{0x17, 0x06, 0x00, 0x01, 0x09, 0x10, 0x00, 0x07, 0x0b, 0x01, 0x00, 0x01, 0x24, 0x06, 0xf1, 0x07, 0x01, 0x02, 0xc0, 0x00, 0x0c, 0x20, 0x00, 0x00}), "encrypted a.7z ~ encrypted headers"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			z := sevenZipRaw(make([]byte, 16), tc.header)
			start := time.Now()
			checkFindings(t, inspect(t, New(Options{}), "a.7z", "", z), tc.want)
			if d := time.Since(start); d > time.Second {
				t.Fatalf("took %v", d)
			}
		})
	}
}

// TestBombAcrossLevels counts bytes while reading through nesting: gzip
// streams declare no size, and the ratio check is off, so only the
// message's byte cap can stop them.
func TestBombAcrossLevels(t *testing.T) {
	g := gzipBytes("zeros.bin", make([]byte, 8<<20))
	var entries []zipEntry
	for i := range 40 {
		entries = append(entries, zipEntry{name: fmt.Sprintf("part%02d.gz", i), data: g})
	}
	z := makeZip(t, zipEntry{name: "inner.zip", data: makeZip(t, entries...)})
	s := New(Options{MaxBytes: 64 << 20, MaxRatio: 1e6}).NewScan()
	fs, err := s.Inspect(context.Background(), File{Name: "outer.zip", R: bytes.NewReader(z), Size: int64(len(z))})
	if err != nil {
		t.Fatal(err)
	}
	if len(fs) != 1 || fs[0].Rule != RuleBomb || !strings.HasPrefix(fs[0].Path, "outer.zip/inner.zip/part") {
		t.Fatalf("want one bomb finding:\n%s", summary(fs))
	}
	if st := s.Stats(); st.Bytes > 64<<20+1 {
		t.Fatalf("decompressed %d bytes, cap 64 MiB", st.Bytes)
	}
}

func TestCancel(t *testing.T) {
	z := makeZip(t, zipEntry{name: "a.txt", data: []byte("x")}, zipEntry{name: "b.txt", data: []byte("y")})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := New(Options{}).Inspect(ctx, "a.zip", "", bytes.NewReader(z), int64(len(z))); err == nil {
		t.Fatal("no error with a cancelled context")
	}
}

// failingReader fails after n bytes, like a spool file on a full disk.
type failingReader struct {
	r *bytes.Reader
	n int64
}

func (f failingReader) ReadAt(p []byte, off int64) (int, error) {
	if off+int64(len(p)) > f.n {
		return 0, fmt.Errorf("disk gone")
	}
	return f.r.ReadAt(p, off)
}

func TestReadErrorIsAnError(t *testing.T) {
	z := makeZip(t, zipEntry{name: "a.pdf", data: pdfBytes(100000), store: true})
	fs, err := New(Options{}).Inspect(context.Background(), "a.zip", "", failingReader{bytes.NewReader(z), int64(len(z)) - 100}, int64(len(z)))
	if err == nil || !strings.Contains(err.Error(), "disk gone") {
		t.Fatalf("err = %v, findings:\n%s", err, summary(fs))
	}
}
