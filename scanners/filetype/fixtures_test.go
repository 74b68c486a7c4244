package filetype

// Test fixtures, built in Go at test time: no binaries are committed and
// no live malware is involved. The "programs" are headers that identify as
// programs and do nothing.

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/flate"
	"compress/gzip"
	"encoding/binary"
	"hash/crc32"
	"image"
	"image/png"
	"maps"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode/utf16"

	"github.com/mamori-mail/mamori/integration/harness"
)

// fakePE is the smallest file mimetype and isDOSProgram take for a PE
// program (the integration harness builds it, for these tests and for the
// ones through Postfix).
func fakePE() []byte { return harness.FakePE() }

func fakeELF() []byte {
	b := make([]byte, 64)
	copy(b, "\x7fELF\x02\x01\x01")
	binary.LittleEndian.PutUint16(b[16:], 2) // ET_EXEC
	binary.LittleEndian.PutUint16(b[18:], 0x3e)
	return b
}

// fakeLNK is a shell link header ([MS-SHLLINK] §2.1).
func fakeLNK() []byte {
	b := make([]byte, 76)
	copy(b, []byte{0x4c, 0, 0, 0, 0x01, 0x14, 0x02, 0x00, 0, 0, 0, 0, 0xc0, 0, 0, 0, 0, 0, 0, 0x46})
	return b
}

// fakeISO has an ISO 9660 primary volume descriptor at sector 16.
func fakeISO() []byte {
	b := make([]byte, 0x8800)
	copy(b[0x8000:], "\x01CD001\x01")
	return b
}

func fakeVHD() []byte {
	b := make([]byte, 4096)
	copy(b[len(b)-512:], "conectix")
	return b
}

// pdfBytes is a PDF-like file of about n bytes.
func pdfBytes(n int) []byte {
	var b bytes.Buffer
	b.WriteString("%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\n")
	line := []byte("0 0 0 rg 72 720 Td (Invoice 2024-001) Tj 12 TL T* (Amount due) Tj\n")
	for b.Len() < n-32 {
		b.Write(line)
	}
	b.WriteString("%%EOF\n")
	return b.Bytes()
}

func pngBytes() []byte {
	var b bytes.Buffer
	img := image.NewGray(image.Rect(0, 0, 4, 4))
	if err := png.Encode(&b, img); err != nil {
		panic(err)
	}
	return b.Bytes()
}

// zipEntry is one member for makeZip.
type zipEntry struct {
	name   string
	data   []byte
	store  bool   // store instead of deflate
	flags  uint16 // extra general-purpose flags (bit 0: encrypted)
	nonUTF bool
}

func makeZip(t testing.TB, entries ...zipEntry) []byte {
	t.Helper()
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	for _, e := range entries {
		fh := &zip.FileHeader{Name: e.name, Method: zip.Deflate, NonUTF8: e.nonUTF}
		if e.store {
			fh.Method = zip.Store
		}
		if e.flags != 0 {
			// CreateRaw keeps Flags as given; the content is written as it
			// is, which is what an encrypted member's bytes look like to a
			// reader without the password.
			fh.Flags = e.flags
			fh.Method = zip.Store
			fh.CRC32 = crc32.ChecksumIEEE(e.data)
			fh.CompressedSize64 = uint64(len(e.data))
			fh.UncompressedSize64 = uint64(len(e.data))
			w, err := zw.CreateRaw(fh)
			if err != nil {
				t.Fatal(err)
			}
			w.Write(e.data)
			continue
		}
		w, err := zw.CreateHeader(fh)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(e.data); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// rawDeflate compresses data once, so that bombs can repeat the result.
func rawDeflate(data []byte) []byte {
	var b bytes.Buffer
	w, _ := flate.NewWriter(&b, flate.BestCompression)
	w.Write(data)
	w.Close()
	return b.Bytes()
}

// zipRepeat writes n members holding the same deflated content.
func zipRepeat(t testing.TB, n int, name string, data []byte) []byte {
	t.Helper()
	comp := rawDeflate(data)
	crc := crc32.ChecksumIEEE(data)
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	for i := range n {
		fh := &zip.FileHeader{Name: strings.Replace(name, "#", string(rune('a'+i%26))+strings.Repeat("x", i/26), 1),
			Method: zip.Deflate, CRC32: crc, CompressedSize64: uint64(len(comp)), UncompressedSize64: uint64(len(data))}
		w, err := zw.CreateRaw(fh)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(comp)
	}
	zw.Close()
	return b.Bytes()
}

// docx is a minimal Word document; with vba it is a .docm.
func docx(t testing.TB, vba bool) []byte {
	ct := `<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">` +
		`<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>` +
		`<Default Extension="xml" ContentType="application/xml"/>`
	main := "application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"
	if vba {
		main = "application/vnd.ms-word.document.macroEnabled.main+xml"
		ct += `<Default Extension="bin" ContentType="application/vnd.ms-office.vbaProject"/>`
	}
	ct += `<Override PartName="/word/document.xml" ContentType="` + main + `"/></Types>`
	entries := []zipEntry{
		{name: "[Content_Types].xml", data: []byte(ct)},
		{name: "_rels/.rels", data: []byte(`<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"/>`)},
		{name: "word/document.xml", data: []byte(`<?xml version="1.0"?><w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body><w:p><w:r><w:t>請求書</w:t></w:r></w:p></w:body></w:document>`)},
	}
	if vba {
		entries = append(entries, zipEntry{name: "word/vbaProject.bin", data: cfbFile(t, cfbSpec{storages: map[string][]string{"VBA": {"_VBA_PROJECT", "dir"}}, streams: []string{"PROJECT"}})})
	}
	return makeZip(t, entries...)
}

// xlsx is a minimal workbook zip (the detail is in the names).
func xlsx(t testing.TB) []byte {
	return makeZip(t,
		zipEntry{name: "[Content_Types].xml", data: []byte(`<Types><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/></Types>`)},
		zipEntry{name: "xl/workbook.xml", data: []byte(`<workbook/>`)},
		zipEntry{name: "xl/worksheets/sheet1.xml", data: bytes.Repeat([]byte(`<row><c t="n"><v>0</v></c></row>`), 2000)},
	)
}

func gzipBytes(name string, data []byte) []byte {
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	zw.Name = name
	zw.Write(data)
	zw.Close()
	return b.Bytes()
}

func tarBytes(t testing.TB, files map[string][]byte) []byte {
	t.Helper()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, name := range slices.Sorted(maps.Keys(files)) {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(files[name])), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		tw.Write(files[name])
	}
	tw.Close()
	return b.Bytes()
}

// requireTool finds an external program or skips the test (fails it when
// MAMORI_REQUIRE_INTEGRATION=1, as CI sets).
func requireTool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("MAMORI_REQUIRE_INTEGRATION") == "1" {
			t.Fatalf("%s not installed (MAMORI_REQUIRE_INTEGRATION=1)", name)
		}
		t.Skipf("%s not installed", name)
	}
	return p
}

// toolArchive writes files into a temporary directory, runs tool with args
// (the archive name is "out" plus ext, files are listed after args) and
// returns the archive.
func toolArchive(t testing.TB, tool, ext string, files map[string][]byte, args ...string) []byte {
	t.Helper()
	bin := requireTool(t, tool)
	dir := t.TempDir()
	var names []string
	for _, name := range slices.Sorted(maps.Keys(files)) {
		p := filepath.Join(dir, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, files[name], 0o644); err != nil {
			t.Fatal(err)
		}
		names = append(names, name)
	}
	out := "out" + ext
	cmd := exec.Command(bin, append(append(args, out), names...)...)
	if tool == "7z" {
		cmd = exec.Command(bin, append(append([]string{"a", "-bd", "-y"}, args...), append([]string{out}, names...)...)...)
	}
	cmd.Dir = dir
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", tool, err, b)
	}
	data, err := os.ReadFile(filepath.Join(dir, out))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// cfbSpec describes a compound file: storages (with the streams in them)
// and streams at the root, all empty; rootCLSID marks the application.
type cfbSpec struct {
	rootCLSID [16]byte
	storages  map[string][]string
	streams   []string
	// big streams at the root with content (at least 4096 bytes each,
	// so that they live in ordinary sectors, not the mini stream).
	big map[string][]byte
}

// cfbFile writes a version 3 compound file ([MS-CFB]) that mscfb reads:
// sector 0 holds the FAT, then the directory, then the big streams. Each
// sibling list is a chain of right siblings (a valid, if unbalanced, tree).
func cfbFile(t testing.TB, spec cfbSpec) []byte {
	const (
		sector     = 512
		freeSect   = 0xffffffff
		endOfChain = 0xfffffffe
		fatSect    = 0xfffffffd
		noStream   = 0xffffffff
	)
	type entry struct {
		name               string
		typ                byte // 1 storage, 2 stream, 5 root
		left, right, child uint32
		start              uint32
		size               uint64
		clsid              [16]byte
		data               []byte
	}
	ents := []entry{{name: "Root Entry", typ: 5, left: noStream, right: noStream, child: noStream, start: endOfChain, clsid: spec.rootCLSID}}
	var rootKids []int
	for _, st := range slices.Sorted(maps.Keys(spec.storages)) {
		si := len(ents)
		ents = append(ents, entry{name: st, typ: 1, left: noStream, right: noStream, child: noStream, start: 0})
		rootKids = append(rootKids, si)
		var kids []int
		for _, s := range spec.storages[st] {
			kids = append(kids, len(ents))
			ents = append(ents, entry{name: s, typ: 2, left: noStream, right: noStream, child: noStream, start: endOfChain})
		}
		for i := range kids {
			if i+1 < len(kids) {
				ents[kids[i]].right = uint32(kids[i+1])
			}
		}
		if len(kids) > 0 {
			ents[si].child = uint32(kids[0])
		}
	}
	for _, s := range spec.streams {
		rootKids = append(rootKids, len(ents))
		ents = append(ents, entry{name: s, typ: 2, left: noStream, right: noStream, child: noStream, start: endOfChain})
	}
	for _, name := range slices.Sorted(maps.Keys(spec.big)) {
		rootKids = append(rootKids, len(ents))
		ents = append(ents, entry{name: name, typ: 2, left: noStream, right: noStream, child: noStream, data: spec.big[name], size: uint64(len(spec.big[name]))})
	}
	for i := range rootKids {
		if i+1 < len(rootKids) {
			ents[rootKids[i]].right = uint32(rootKids[i+1])
		}
	}
	if len(rootKids) > 0 {
		ents[0].child = uint32(rootKids[0])
	}
	for len(ents)%4 != 0 {
		ents = append(ents, entry{typ: 0, left: noStream, right: noStream, child: noStream})
	}
	dirSectors := len(ents) / 4
	fat := []uint32{fatSect}
	for i := range dirSectors {
		if i+1 < dirSectors {
			fat = append(fat, uint32(len(fat)+1))
		} else {
			fat = append(fat, endOfChain)
		}
	}
	for i := range ents {
		if ents[i].data == nil {
			continue
		}
		n := (len(ents[i].data) + sector - 1) / sector
		ents[i].start = uint32(len(fat))
		for j := range n {
			if j+1 < n {
				fat = append(fat, uint32(len(fat)+1))
			} else {
				fat = append(fat, endOfChain)
			}
		}
	}
	if len(fat) > sector/4 {
		t.Fatalf("cfbFile: %d sectors do not fit one FAT sector", len(fat))
	}
	for len(fat) < sector/4 {
		fat = append(fat, freeSect)
	}
	var b bytes.Buffer
	h := make([]byte, sector)
	copy(h, []byte{0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1})
	binary.LittleEndian.PutUint16(h[24:], 0x003e)
	binary.LittleEndian.PutUint16(h[26:], 3)
	binary.LittleEndian.PutUint16(h[28:], 0xfffe)
	binary.LittleEndian.PutUint16(h[30:], 9)
	binary.LittleEndian.PutUint16(h[32:], 6)
	binary.LittleEndian.PutUint32(h[44:], 1) // FAT sectors
	binary.LittleEndian.PutUint32(h[48:], 1) // first directory sector
	binary.LittleEndian.PutUint32(h[56:], 4096)
	binary.LittleEndian.PutUint32(h[60:], endOfChain) // no mini FAT
	binary.LittleEndian.PutUint32(h[68:], endOfChain) // no DIFAT sectors
	binary.LittleEndian.PutUint32(h[76:], 0)          // the FAT is sector 0
	for i := 80; i < sector; i += 4 {
		binary.LittleEndian.PutUint32(h[i:], freeSect)
	}
	b.Write(h)
	for _, v := range fat {
		binary.Write(&b, binary.LittleEndian, v)
	}
	for _, e := range ents {
		d := make([]byte, 128)
		if e.typ != 0 {
			u := utf16.Encode([]rune(e.name))
			for i, c := range u {
				binary.LittleEndian.PutUint16(d[2*i:], c)
			}
			binary.LittleEndian.PutUint16(d[64:], uint16(2*len(u)+2))
		}
		d[66] = e.typ
		d[67] = 1 // black
		binary.LittleEndian.PutUint32(d[68:], e.left)
		binary.LittleEndian.PutUint32(d[72:], e.right)
		binary.LittleEndian.PutUint32(d[76:], e.child)
		copy(d[80:], e.clsid[:])
		binary.LittleEndian.PutUint32(d[116:], e.start)
		binary.LittleEndian.PutUint64(d[120:], e.size)
		b.Write(d)
	}
	for _, e := range ents {
		if e.data == nil {
			continue
		}
		b.Write(e.data)
		if pad := len(e.data) % sector; pad != 0 {
			b.Write(make([]byte, sector-pad))
		}
	}
	return b.Bytes()
}

// The root storage CLSIDs of Word 97 and of Windows Installer, in their
// on-disk byte order.
var (
	clsidWord = [16]byte{0x06, 0x09, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0xc0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x46}
	clsidMSI  = [16]byte{0x84, 0x10, 0x0c, 0x00, 0x00, 0x00, 0x00, 0x00, 0xc0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x46}
)

// wordDoc is a Word 97 document; macros adds a Macros/VBA storage.
func wordDoc(t testing.TB, macros bool) []byte {
	spec := cfbSpec{rootCLSID: clsidWord, big: map[string][]byte{"WordDocument": bytes.Repeat([]byte{0xec, 0xa5}, 2048)}, streams: []string{"1Table"}}
	if macros {
		spec.storages = map[string][]string{"Macros": {"PROJECT", "PROJECTwm"}, "VBA": {"_VBA_PROJECT", "dir", "ThisDocument"}}
	}
	return cfbFile(t, spec)
}

// vint is RAR 5's variable-length integer.
func vint(v uint64) []byte {
	var out []byte
	for {
		b := byte(v & 0x7f)
		v >>= 7
		if v != 0 {
			out = append(out, b|0x80)
			continue
		}
		return append(out, b)
	}
}

// rar5Block frames a RAR 5 header: CRC32, size, then the fields.
func rar5Block(fields []byte) []byte {
	body := append(vint(uint64(len(fields))), fields...)
	var crc [4]byte
	binary.LittleEndian.PutUint32(crc[:], crc32.ChecksumIEEE(body))
	return append(crc[:], body...)
}

type rarFile struct {
	name      string
	data      []byte
	encrypted bool
}

// rar5 writes a RAR 5 archive of stored files (rarlab technote, "RAR 5.0
// archive format"); an encrypted file gets the file encryption extra
// record and random-looking content.
func rar5(files ...rarFile) []byte {
	out := []byte("Rar!\x1a\x07\x01\x00")
	out = append(out, rar5Block(concat(vint(1), vint(0), vint(0)))...) // main archive header
	for _, f := range files {
		var extra []byte
		if f.encrypted {
			rec := concat(vint(1), vint(0), vint(0), []byte{15}, bytes.Repeat([]byte{0x5a}, 32))
			extra = append(vint(uint64(len(rec))), rec...)
		}
		flags := uint64(0x0002) // has data
		if extra != nil {
			flags |= 0x0001
		}
		fields := concat(vint(2), vint(flags))
		if extra != nil {
			fields = append(fields, vint(uint64(len(extra)))...)
		}
		fields = append(fields, vint(uint64(len(f.data)))...)
		var crc [4]byte
		binary.LittleEndian.PutUint32(crc[:], crc32.ChecksumIEEE(f.data))
		fields = append(fields, concat(vint(0x0004), vint(uint64(len(f.data))), vint(0x20), crc[:], vint(0), vint(0), vint(uint64(len(f.name))), []byte(f.name))...)
		fields = append(fields, extra...)
		out = append(out, rar5Block(fields)...)
		out = append(out, f.data...)
	}
	return append(out, rar5Block(concat(vint(5), vint(0), vint(0)))...)
}

// rar4 writes a RAR 1.5–4.x archive of stored files (RAR 4 technote);
// an encrypted file has the 0x04 flag.
func rar4(files ...rarFile) []byte {
	block := func(typ byte, flags uint16, rest []byte) []byte {
		h := []byte{typ, byte(flags), byte(flags >> 8), 0, 0}
		binary.LittleEndian.PutUint16(h[3:], uint16(7+len(rest)))
		h = append(h, rest...)
		crc := uint16(crc32.ChecksumIEEE(h))
		return append([]byte{byte(crc), byte(crc >> 8)}, h...)
	}
	out := []byte("Rar!\x1a\x07\x00")
	out = append(out, block(0x73, 0, make([]byte, 6))...)
	for _, f := range files {
		flags := uint16(0x8000)
		if f.encrypted {
			flags |= 0x0004
		}
		rest := make([]byte, 25)
		binary.LittleEndian.PutUint32(rest[0:], uint32(len(f.data)))
		binary.LittleEndian.PutUint32(rest[4:], uint32(len(f.data)))
		rest[8] = 2 // Windows
		binary.LittleEndian.PutUint32(rest[9:], crc32.ChecksumIEEE(f.data))
		binary.LittleEndian.PutUint32(rest[13:], 0x5a210000)
		rest[17] = 20   // version to unpack
		rest[18] = 0x30 // store
		binary.LittleEndian.PutUint16(rest[19:], uint16(len(f.name)))
		binary.LittleEndian.PutUint32(rest[21:], 0x20)
		rest = append(rest, f.name...)
		if f.encrypted {
			flags |= 0x0400 // salt
			rest = append(rest, []byte("saltsalt")...)
		}
		out = append(out, block(0x74, flags, rest)...)
		out = append(out, f.data...)
	}
	return append(out, block(0x7b, 0x4000, nil)...)
}

func concat(parts ...[]byte) []byte {
	var out []byte
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// sevenZipRaw wraps a plain 7z header (packed streams, if any, go in
// packed) in a signature header with correct CRCs (7zFormat.txt).
func sevenZipRaw(packed, header []byte) []byte {
	out := []byte{'7', 'z', 0xbc, 0xaf, 0x27, 0x1c, 0, 4}
	start := make([]byte, 20)
	binary.LittleEndian.PutUint64(start[0:], uint64(len(packed)))
	binary.LittleEndian.PutUint64(start[8:], uint64(len(header)))
	binary.LittleEndian.PutUint32(start[16:], crc32.ChecksumIEEE(header))
	out = binary.LittleEndian.AppendUint32(out, crc32.ChecksumIEEE(start))
	out = append(out, start...)
	out = append(out, packed...)
	return append(out, header...)
}

// sz7Number encodes 7z's UINT64 for values below 2^32.
func sz7Number(v uint32) []byte {
	if v < 0x80 {
		return []byte{byte(v)}
	}
	return binary.LittleEndian.AppendUint32([]byte{0xf0}, v)
}

// lookTool returns the path of an external program, "" if missing.
func lookTool(name string) string {
	p, _ := exec.LookPath(name)
	return p
}

// docBytes is about n bytes of PDF-like text that compresses the way
// real documents do (a few times, not a hundred), from a fixed seed.
func docBytes(n int, seed uint64) []byte {
	words := []string{"請求書", "invoice", "amount", "due", "株式会社", "total", "tax", "date", "qty", "円", "unit", "price", "東京都", "report"}
	r := rand.New(rand.NewPCG(seed, 1))
	var b bytes.Buffer
	b.WriteString("%PDF-1.7\n")
	for b.Len() < n {
		b.WriteString(words[r.IntN(len(words))])
		b.WriteByte(' ')
		b.WriteString(strconv.FormatUint(r.Uint64()%1000000, 36))
		if r.IntN(8) == 0 {
			b.WriteByte('\n')
		}
	}
	return b.Bytes()
}
