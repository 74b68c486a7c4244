package filetype

import (
	"archive/zip"
	"bytes"
	"context"
	"io"
	"strings"

	"github.com/richardlehane/mscfb"
)

// officeMarks collects, while a zip is walked, what marks an Office Open
// XML document (ECMA-376) or an OpenDocument file as carrying macros.
type officeMarks struct {
	vba       string // a vbaProject.bin part, wherever it is
	xlm       string // an Excel 4.0 macro sheet part
	basic     string // an OpenDocument Basic or script module
	macroType string // a macro-enabled content type in [Content_Types].xml
}

// maxContentTypes bounds the [Content_Types].xml read: real ones are a
// few KiB.
const maxContentTypes = 1 << 20

func (o *officeMarks) entry(name string) {
	lower := strings.ToLower(name)
	switch {
	case o.vba == "" && strings.HasSuffix(lower, "vbaproject.bin"):
		o.vba = name
	case o.xlm == "" && strings.HasPrefix(lower, "xl/macrosheets/"):
		o.xlm = name
	case o.basic == "" && odfModule(name):
		o.basic = name
	}
}

// odfModule recognises a Basic module ("Basic/Standard/Module1.xml") or a
// script ("Scripts/python/x.py") in an OpenDocument file; the library
// index files (script-lc.xml, script-lb.xml) exist without macros.
func odfModule(name string) bool {
	if strings.HasPrefix(name, "Scripts/") && !strings.HasSuffix(name, "/") {
		return true
	}
	if !strings.HasPrefix(name, "Basic/") || strings.Count(name, "/") < 2 {
		return false
	}
	return !strings.HasSuffix(name, "/script-lb.xml") && !strings.HasSuffix(name, "/script-lc.xml")
}

// contentTypes reads [Content_Types].xml and looks for the macro-enabled
// main part types (docm, xlsm, pptm, their templates and add-ins), VBA
// project parts and macro sheets.
func (o *officeMarks) contentTypes(ctx context.Context, s *Scan, f *zip.File, path string) error {
	rc, err := f.Open()
	if err != nil {
		return err
	}
	defer rc.Close()
	data, err := io.ReadAll(io.LimitReader(s.meter(ctx, rc, path, int64(f.CompressedSize64)), maxContentTypes))
	if err != nil {
		return err
	}
	lower := bytes.ToLower(data)
	for _, mark := range []string{"macroenabled", "vbaproject", "macrosheet"} {
		if i := bytes.Index(lower, []byte(mark)); i >= 0 {
			o.macroType = contentTypeAround(data, i)
			return nil
		}
	}
	return nil
}

// contentTypeAround returns the quoted value around data[i], for the
// report ("application/vnd.ms-word.document.macroEnabled.main+xml").
func contentTypeAround(data []byte, i int) string {
	start := bytes.LastIndexByte(data[:i], '"')
	end := bytes.IndexByte(data[i:], '"')
	if start < 0 || end < 0 || i+end-start > 200 {
		return "macro-enabled"
	}
	return string(data[start+1 : i+end])
}

func (o *officeMarks) report(s *Scan, path string) {
	switch {
	case o.vba != "":
		s.add(RuleMacro, path, "VBA project "+displayName(o.vba))
	case o.xlm != "":
		s.add(RuleMacro, path, "Excel 4.0 macro sheet "+displayName(o.xlm))
	case o.macroType != "":
		s.add(RuleMacro, path, "content type "+displayName(o.macroType))
	case o.basic != "":
		s.add(RuleMacro, path, "macro module "+displayName(o.basic))
	}
}

// vbaStorages are the storages and streams of a VBA project in an OLE
// compound file ([MS-OVBA] §2.2): Word keeps it under Macros, Excel under
// _VBA_PROJECT_CUR, both in a VBA storage with a _VBA_PROJECT stream.
var vbaStorages = map[string]bool{"vba": true, "_vba_project": true, "_vba_project_cur": true, "macros": true}

// ole checks an OLE compound file ([MS-CFB]): Word, Excel and PowerPoint
// 97–2003 documents, and the wrapper Office puts around password-protected
// OOXML files ([MS-OFFCRYPTO] §2.3.4: EncryptionInfo and EncryptedPackage
// streams).
func (s *Scan) ole(n node, r io.ReaderAt, size int64) (err error) {
	defer recoverParser(&err)
	doc, err := mscfb.New(io.NewSectionReader(r, 0, size))
	if err != nil {
		return err
	}
	var vba, enc string
	for _, f := range doc.File {
		name := strings.ToLower(f.Name)
		if vba == "" && vbaStorages[name] {
			vba = strings.Join(append(append([]string(nil), f.Path...), f.Name), "/")
		}
		if enc == "" && (name == "encryptedpackage" || name == "encryptioninfo") {
			enc = f.Name
		}
	}
	// The vbaProject.bin part of an OOXML file is itself a compound file;
	// the document it is in reports it.
	if vba != "" && !strings.EqualFold(n.name.clean, "vbaProject.bin") {
		s.add(RuleMacro, n.path, "VBA project "+displayName(vba))
	}
	if enc != "" {
		s.add(RuleEncrypted, n.path, "password-protected Office document ("+enc+" stream)")
	}
	return nil
}
