package filetype

import (
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// DefaultBlocked is the built-in list of refused file name extensions: what
// Windows runs, installs, mounts or opens as code on a double click, and the
// formats mail-borne malware has used to get there (shortcuts, disk images,
// help files, OneNote notebooks). Compare Microsoft Outlook's Level 1 list
// and Exchange Online's common attachment filter.
//
// OneNote (.one, .onepkg) is on the list: in 2023 it carried much of the
// malware that Office macros used to, and business mail rarely attaches a
// notebook (they are shared through OneDrive or SharePoint links). An
// operator who needs them writes allowed_extensions: [one].
var DefaultBlocked = []string{
	"exe", "scr", "com", "pif", "bat", "cmd", "js", "jse", "vbs", "vbe", "vb",
	"wsf", "wsh", "ws", "wsc", "sct", "hta", "ps1", "psm1", "jar", "lnk", "iso",
	"img", "vhd", "vhdx", "msi", "msp", "cpl", "reg", "scf", "chm", "hlp",
	"application", "appref-ms", "gadget", "msc", "inf", "appx", "appxbundle",
	"msix", "msixbundle", "dll", "sys", "drv", "ocx", "xll", "url",
	"settingcontent-ms", "library-ms", "one", "onepkg",
}

// decoys are the extensions a double-extension trick shows to the reader
// ("invoice.pdf.exe"): documents, pictures, archives and media.
var decoys = map[string]bool{
	"pdf": true, "doc": true, "docx": true, "xls": true, "xlsx": true, "ppt": true,
	"pptx": true, "rtf": true, "txt": true, "csv": true, "odt": true, "ods": true,
	"jpg": true, "jpeg": true, "png": true, "gif": true, "bmp": true, "tif": true,
	"tiff": true, "zip": true, "rar": true, "7z": true, "htm": true, "html": true,
	"xml": true, "eml": true, "msg": true, "mp3": true, "mp4": true, "avi": true,
	"mov": true, "wav": true,
}

// isBidi reports whether r is a Unicode bidirectional control: the marks
// U+200E, U+200F and U+061C, the embeddings and overrides U+202A–U+202E, and
// the isolates U+2066–U+2069 (Unicode Standard Annex #9 §2). They change
// how a name is displayed, not what Windows sees: "invoice\u202Efdp.exe"
// shows as "invoiceexe.pdf" and runs as a program.
func isBidi(r rune) bool {
	switch {
	case r == 0x200E, r == 0x200F, r == 0x061C:
		return true
	case r >= 0x202A && r <= 0x202E:
		return true
	case r >= 0x2066 && r <= 0x2069:
		return true
	}
	return false
}

// nameInfo is a file name as the rules judge it.
type nameInfo struct {
	raw string
	// clean is the base name without bidirectional controls and without the
	// trailing dots and spaces that Windows strips ("a.exe. " opens as
	// "a.exe").
	clean string
	// bidi lists the controls found, in order, without repeats.
	bidi []rune
	// trimmed reports that trailing dots or spaces were removed.
	trimmed bool
	// ext is the last extension of clean, lower case, without the dot;
	// inner is the one before it, trimmed of spaces ("a.pdf  .exe": pdf).
	ext, inner string
}

// parseName analyses a declared file name. Directory parts (either slash)
// are dropped: only the last element becomes a file on the reader's disk.
func parseName(raw string) nameInfo {
	n := nameInfo{raw: raw}
	base := raw
	if i := strings.LastIndexAny(base, `/\`); i >= 0 {
		base = base[i+1:]
	}
	var b strings.Builder
	for _, r := range base {
		if isBidi(r) {
			if !containsRune(n.bidi, r) {
				n.bidi = append(n.bidi, r)
			}
			continue
		}
		b.WriteRune(r)
	}
	clean := b.String()
	trimmed := strings.TrimRight(clean, ". ")
	n.trimmed = trimmed != clean
	n.clean = trimmed
	if i := strings.LastIndexByte(trimmed, '.'); i >= 0 {
		n.ext = strings.ToLower(trimmed[i+1:])
		rest := trimmed[:i]
		if j := strings.LastIndexByte(rest, '.'); j >= 0 {
			n.inner = strings.ToLower(strings.TrimSpace(rest[j+1:]))
		}
	}
	return n
}

func containsRune(rs []rune, r rune) bool {
	for _, x := range rs {
		if x == r {
			return true
		}
	}
	return false
}

// displayName makes a name safe to log and to show in a detail: invalid
// UTF-8 becomes U+FFFD and control and format characters (bidirectional
// controls among them, which would reorder the log line itself) are written
// as <U+202E>. Japanese and other printable text is kept as is.
func displayName(s string) string {
	clean := true
	for _, r := range s {
		if r == utf8.RuneError || unicode.Is(unicode.Cc, r) || unicode.Is(unicode.Cf, r) {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	for _, r := range strings.ToValidUTF8(s, "\uFFFD") {
		if unicode.Is(unicode.Cc, r) || unicode.Is(unicode.Cf, r) {
			b.WriteString(runeCode(r))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// runeCode writes r as U+XXXX in angle brackets.
func runeCode(r rune) string {
	s := strings.ToUpper(strconv.FormatInt(int64(r), 16))
	for len(s) < 4 {
		s = "0" + s
	}
	return "<U+" + s + ">"
}

// maxReplyName bounds the name quoted in an SMTP reply.
const maxReplyName = 60

// replyName makes a name fit to quote in an SMTP reply (RFC 5321 §4.2:
// printable ASCII): every other character, the double quote and the
// backslash become '?', and a long name keeps its start and its end (where
// the extension is), joined by "...".
func replyName(s string) string {
	var b strings.Builder
	n := 0
	for _, r := range s {
		if r < 0x20 || r > 0x7e || r == '"' || r == '\\' {
			r = '?'
		}
		b.WriteRune(r)
		n++
	}
	out := b.String()
	if n <= maxReplyName {
		return out
	}
	const head, tail = 28, maxReplyName - 28 - 3
	return out[:head] + "..." + out[len(out)-tail:]
}

// NormalizeExtension turns an extension as an operator writes it (".EXE",
// "exe") into the form the rules compare (exe). It reports false for what
// cannot be a single extension: empty, or with a dot, a slash, a backslash,
// white space or a control character inside.
func NormalizeExtension(s string) (string, bool) {
	s = strings.ToLower(strings.TrimPrefix(strings.TrimSpace(s), "."))
	if s == "" || len(s) > 64 {
		return "", false
	}
	for _, r := range s {
		if r == '.' || r == '/' || r == '\\' || unicode.IsSpace(r) || unicode.IsControl(r) || unicode.Is(unicode.Cf, r) {
			return "", false
		}
	}
	return s, true
}
