package filetype

import (
	"bytes"
	"encoding/binary"
	"strings"

	"github.com/gabriel-vasile/mimetype"
)

// kind is what the rules make of a sniffed type.
type kind uint8

const (
	kindOther kind = iota
	kindText
	// kindScript is text that starts with a #! line (sh, bash, python,
	// perl, node, ruby, php, lua, tcl).
	kindScript
	// kindProgram is code Windows, Linux or macOS runs: PE, ELF, Mach-O,
	// Java classes and archives, installers (MSI), shortcuts (LNK) and
	// compiled help (CHM).
	kindProgram
	// kindDiskImage is a disk image that Windows mounts on a double click
	// (ISO 9660, UDF, VHD, VHDX): files inside escape the Mark of the Web.
	kindDiskImage
	// kindRisky is a container Windows opens as code-bearing although it is
	// not a program (OneNote).
	kindRisky
	kindZip
	kindGzip
	kindTar
	kind7z
	kindRar
	kindOLE
)

// sniffed is the type of some content as found from its bytes.
type sniffed struct {
	mime string
	kind kind
	// families is what the content is for the extension and declared-type
	// comparison: "pdf", "jpeg", "zip", "text"...; empty when unknown.
	families []string
}

// headLen is how much of a file sniffing reads: mimetype looks at 4 KiB,
// ISO 9660 and UDF keep their signature at 32 KiB + 1 (ECMA-119 §6.2.1).
const headLen = 0x9000 + 6

// tailLen is how much of the end sniffing reads: a fixed VHD keeps its
// only "conectix" footer in the last 512 bytes.
const tailLen = 512

// Text-tree and container media types, by their mimetype names.
const (
	mimeText = "text/plain"
	mimeZip  = "application/zip"
	mimeOLE  = "application/x-ole-storage"
	mimePE   = "application/vnd.microsoft.portable-executable"
)

// programTypes are the mimetype results the executable rule reports.
var programTypes = map[string]bool{
	mimePE:                        true,
	"application/x-elf":           true,
	"application/x-object":        true,
	"application/x-executable":    true,
	"application/x-sharedlib":     true,
	"application/x-coredump":      true,
	"application/x-mach-binary":   true,
	"application/x-java-applet":   true,
	"application/java-archive":    true,
	"application/x-ms-installer":  true,
	"application/x-ms-shortcut":   true,
	"application/vnd.ms-htmlhelp": true,
}

// scriptTypes are the #! scripts mimetype knows.
var scriptTypes = map[string]bool{
	"text/x-shellscript": true, "text/x-python": true, "text/x-perl": true,
	"text/javascript": true, "text/x-ruby": true, "text/x-php": true,
	"text/x-lua": true, "text/x-tcl": true,
}

// familyOf names the families of specific types; text-tree types add
// "text", zip-tree types "zip".
var familyOf = map[string]string{
	"application/pdf":             "pdf",
	"image/jpeg":                  "jpeg",
	"image/png":                   "png",
	"image/apng":                  "png",
	"image/gif":                   "gif",
	"image/bmp":                   "bmp",
	"image/tiff":                  "tiff",
	"image/webp":                  "webp",
	"image/heic":                  "heif",
	"image/heif":                  "heif",
	"text/html":                   "html",
	"text/xml":                    "xml",
	"text/rtf":                    "rtf",
	"application/gzip":            "gzip",
	"application/x-tar":           "tar",
	"application/x-7z-compressed": "7z",
	"application/vnd.rar":         "rar",
	"application/vnd.openxmlformats-officedocument.wordprocessingml.document":   "ooxml",
	"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet":         "ooxml",
	"application/vnd.openxmlformats-officedocument.presentationml.presentation": "ooxml",
	"application/vnd.ms-visio.drawing.main+xml":                                 "ooxml",
}

// strong are the families whose detection is reliable enough to call a
// mismatch on; for the rest (audio, video, fonts, rare formats) the
// signatures are weak or the formats overlap, and a wrong guess would
// score ordinary mail.
var strong = map[string]bool{
	"pdf": true, "jpeg": true, "png": true, "gif": true, "tiff": true, "webp": true,
	"zip": true, "ooxml": true, "ole": true, "gzip": true, "7z": true, "rar": true,
	"tar": true, "text": true, "html": true, "xml": true, "rtf": true,
}

// sniff classifies content from its first headLen bytes and its last
// tailLen bytes (tail may overlap head, or be nil when unknown).
func sniff(head, tail []byte) sniffed {
	switch {
	case isoImage(head):
		return sniffed{mime: "application/x-iso9660-image", kind: kindDiskImage}
	case bytes.HasPrefix(head, []byte("vhdxfile")):
		return sniffed{mime: "application/x-vhdx", kind: kindDiskImage}
	case bytes.HasPrefix(head, []byte("conectix")), len(tail) >= 512 && bytes.HasPrefix(tail[len(tail)-512:], []byte("conectix")),
		len(tail) >= 511 && bytes.HasPrefix(tail[len(tail)-511:], []byte("conectix")):
		return sniffed{mime: "application/x-vhd", kind: kindDiskImage}
	}
	m := mimetype.Detect(head)
	s := sniffed{mime: m.String()}
	if i := strings.IndexByte(s.mime, ';'); i >= 0 {
		s.mime = s.mime[:i] // "text/plain; charset=utf-8"
	}
	if s.mime == mimePE && !isDOSProgram(head) {
		// "MZ" alone is all mimetype asks for; a text that happens to
		// start with it is not a program. Sniff it again without them.
		alt := bytes.Clone(head[:min(len(head), 4096)])
		alt[0], alt[1] = 'm', 'z'
		m = mimetype.Detect(alt)
		s.mime = m.String()
		if i := strings.IndexByte(s.mime, ';'); i >= 0 {
			s.mime = s.mime[:i]
		}
	}
	if programTypes[s.mime] {
		s.kind = kindProgram
		return s
	}
	if s.mime == "application/onenote" {
		s.kind = kindRisky
		return s
	}
	if f, ok := familyOf[s.mime]; ok {
		s.families = append(s.families, f)
	}
	for p := m; p != nil; p = p.Parent() {
		switch p.String() {
		case mimeZip:
			s.kind = kindZip
			s.families = append(s.families, "zip")
		case mimeOLE:
			s.kind = kindOLE
			s.families = append(s.families, "ole")
		}
		if strings.HasPrefix(p.String(), mimeText) {
			if s.kind == kindOther {
				s.kind = kindText
			}
			s.families = append(s.families, "text")
		}
	}
	switch s.mime {
	case "application/gzip":
		s.kind = kindGzip
	case "application/x-tar":
		s.kind = kindTar
	case "application/x-7z-compressed":
		s.kind = kind7z
	case "application/vnd.rar":
		s.kind = kindRar
	}
	if scriptTypes[s.mime] {
		s.kind = kindScript
	}
	return s
}

// isoImage finds the ISO 9660 ("CD001") or UDF ("BEA01", "NSR02",
// "NSR03") volume descriptors at the start of the first three 2 KiB
// sectors of the volume descriptor area.
func isoImage(head []byte) bool {
	for _, off := range []int{0x8001, 0x8801, 0x9001} {
		if len(head) < off+5 {
			return false
		}
		switch string(head[off : off+5]) {
		case "CD001", "BEA01", "NSR02", "NSR03":
			return true
		}
	}
	return false
}

// isDOSProgram checks an "MZ" header more closely: a PE, NE, LE or LX
// header where e_lfanew points, or a plausible DOS header (last-page bytes
// below 512, at least one page, a header of at least 2 paragraphs).
func isDOSProgram(head []byte) bool {
	if len(head) < 0x40 || head[0] != 'M' || head[1] != 'Z' {
		return false
	}
	if off := int(binary.LittleEndian.Uint32(head[0x3c:])); off >= 0x40 && off+4 <= len(head) {
		sig := head[off : off+4]
		if string(sig) == "PE\x00\x00" {
			return true
		}
		switch string(sig[:2]) {
		case "NE", "LE", "LX":
			return true
		}
	}
	lastPage := binary.LittleEndian.Uint16(head[2:])
	pages := binary.LittleEndian.Uint16(head[4:])
	hdrParas := binary.LittleEndian.Uint16(head[8:])
	return lastPage < 512 && pages > 0 && hdrParas >= 2 && int(hdrParas)*16 <= int(pages)*512
}

// extFamilies are the families each well-known extension may hold. An
// extension that is not here is never judged for a mismatch. Legacy Office
// names are generous on purpose: Word saves RTF and HTML as .doc, and
// business systems export HTML, XML and CSV tables as .xls.
var extFamilies = map[string][]string{
	"pdf": {"pdf"},
	"jpg": {"jpeg"}, "jpeg": {"jpeg"}, "jpe": {"jpeg"}, "jfif": {"jpeg"},
	"png": {"png"}, "gif": {"gif"}, "bmp": {"bmp"}, "tif": {"tiff"}, "tiff": {"tiff"},
	"webp": {"webp"}, "heic": {"heif"}, "heif": {"heif"},
	"zip":  {"zip"},
	"docx": ooxml, "docm": ooxml, "dotx": ooxml, "dotm": ooxml,
	"xlsx": ooxml, "xlsm": ooxml, "xltx": ooxml, "xltm": ooxml, "xlam": ooxml,
	"pptx": ooxml, "pptm": ooxml, "potx": ooxml, "ppsx": ooxml, "ppsm": ooxml,
	"odt": {"zip"}, "ods": {"zip"}, "odp": {"zip"}, "odg": {"zip"},
	"doc": legacyOffice, "dot": legacyOffice, "xls": legacyOffice, "xlt": legacyOffice,
	"ppt": legacyOffice, "pps": legacyOffice, "pot": legacyOffice, "msg": {"ole"},
	"rtf": {"rtf", "text"},
	"txt": {"text"}, "csv": {"text"}, "tsv": {"text"}, "log": {"text"}, "md": {"text"},
	"htm": {"html", "xml", "text"}, "html": {"html", "xml", "text"}, "xml": {"xml", "html", "text"},
	"json": {"text"}, "ics": {"text"}, "vcf": {"text"}, "svg": {"text"}, "eml": {"text"},
	"gz": {"gzip"}, "tgz": {"gzip"}, "7z": {"7z"}, "rar": {"rar"}, "tar": {"tar"},
}

var legacyOffice = []string{"ole", "rtf", "html", "xml", "text", "zip"}

// ooxml files are zip archives, or OLE files when protected by a password
// ([MS-OFFCRYPTO] wraps the package in an EncryptedPackage stream).
var ooxml = []string{"zip", "ole"}

// declaredFamilies are the declared media types judged like extensions:
// the specific types mail clients set from the file. Generic ones
// (application/octet-stream, text/plain) say nothing and are not here.
var declaredFamilies = map[string][]string{
	"application/pdf": {"pdf"}, "application/x-pdf": {"pdf"},
	"image/jpeg": {"jpeg"}, "image/jpg": {"jpeg"}, "image/pjpeg": {"jpeg"},
	"image/png": {"png"}, "image/gif": {"gif"}, "image/tiff": {"tiff"}, "image/webp": {"webp"},
	"application/zip": {"zip"}, "application/x-zip-compressed": {"zip"}, "application/x-zip": {"zip"},
	"application/msword": legacyOffice, "application/vnd.ms-excel": legacyOffice,
	"application/vnd.ms-powerpoint":                                             legacyOffice,
	"application/vnd.openxmlformats-officedocument.wordprocessingml.document":   ooxml,
	"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet":         ooxml,
	"application/vnd.openxmlformats-officedocument.presentationml.presentation": ooxml,
}

// claim is what a name or declared type says a file is.
type claim struct {
	families []string
	desc     string // "named .pdf", "declared application/pdf"
}

func (c claim) has(f string) bool {
	for _, x := range c.families {
		if x == f {
			return true
		}
	}
	return false
}

// accepts reports whether content of type t fits the claim.
func (c claim) accepts(t sniffed, head []byte) bool {
	for _, f := range t.families {
		if c.has(f) {
			return true
		}
	}
	// Acrobat reads a PDF whose header is anywhere in the first KiB
	// (print spoolers and some generators put bytes before it).
	return c.has("pdf") && bytes.Contains(head[:min(len(head), 1024)], []byte("%PDF-"))
}

// judged reports whether t is known well enough to call a mismatch.
func (t sniffed) judged() bool {
	for _, f := range t.families {
		if strong[f] {
			return true
		}
	}
	return false
}

// claims returns what the extension and the declared type say, the
// extension first; ok is false when neither is known.
func claims(n nameInfo, declared string) (ext, decl claim) {
	if fs, ok := extFamilies[n.ext]; ok {
		ext = claim{families: fs, desc: "named ." + n.ext}
	}
	if fs, ok := declaredFamilies[declared]; ok {
		decl = claim{families: fs, desc: "declared " + declared}
	}
	return ext, decl
}
