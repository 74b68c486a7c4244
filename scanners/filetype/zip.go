package filetype

import (
	"archive/zip"
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/encoding/japanese"
)

// zip walks a zip archive (PKWARE APPNOTE 6.3.10) with archive/zip, which
// reads no member beyond its declared compressed size and refuses one that
// inflates beyond its declared size or fails its CRC-32.
//
// Office Open XML and OpenDocument files are zip archives too: their parts
// go through the same rules (an embedded oleObject.bin is an OLE file and
// is checked for macros), and what marks macros is collected on the way.
func (s *Scan) zip(ctx context.Context, n node, r io.ReaderAt, size int64) (err error) {
	defer recoverParser(&err)
	if left := s.opts.MaxEntries - s.entries; size/46 > int64(left) {
		// archive/zip keeps every central directory record in memory:
		// count them first with a fixed buffer, so that an archive of a
		// million empty entries is refused before it is parsed.
		if c, ok := zipCount(r, size, left+1); ok && c > left {
			s.entries += c
			s.over = fmt.Sprintf("more than %d archive entries in the message", s.opts.MaxEntries)
			return &bombError{path: n.path, reason: s.over}
		}
	}
	zr, err := zip.NewReader(r, size)
	if err != nil && !errors.Is(err, zip.ErrInsecurePath) {
		return err
	}
	var (
		office    officeMarks
		encrypted []string
		broken    error
	)
	for _, f := range zr.File {
		if err := s.next(ctx, n.path); err != nil {
			return err
		}
		name := zipName(f)
		if strings.HasSuffix(name, "/") || f.Mode().IsDir() {
			continue
		}
		office.entry(name)
		child := n.child(name)
		if f.Flags&0x1 != 0 {
			// Traditional PKWARE encryption and WinZip AES both set bit 0
			// (APPNOTE 4.4.4); the name is readable, the content is not.
			s.sealed(child, &encrypted)
			continue
		}
		comp, usize := int64(f.CompressedSize64), int64(f.UncompressedSize64)
		if err := s.declared(child.path, usize, comp); err != nil {
			return err
		}
		if name == "[Content_Types].xml" {
			if err := office.contentTypes(ctx, s, f, child.path); err != nil {
				if s.stops(ctx, err) {
					return err
				}
				broken = err
			}
			continue
		}
		if err := s.zipMember(ctx, child, f, comp); err != nil {
			if s.stops(ctx, err) {
				return err
			}
			// A damaged member: say so once and go on with the others,
			// which zip's central directory still reaches.
			if broken == nil {
				broken = fmt.Errorf("%s: %w", child.path, err)
			}
		}
	}
	if len(encrypted) > 0 {
		s.add(RuleEncrypted, n.path, encryptedDetail(encrypted))
	}
	office.report(s, n.path)
	return broken
}

func (s *Scan) zipMember(ctx context.Context, n node, f *zip.File, comp int64) error {
	rc, err := f.Open()
	if err != nil {
		s.names(n)
		return err
	}
	defer rc.Close()
	return s.stream(ctx, n, s.meter(ctx, rc, n.path, comp))
}

func isBomb(err error) bool {
	var be *bombError
	return errors.As(err, &be)
}

// encryptedDetail names the first encrypted member and counts the rest.
func encryptedDetail(paths []string) string {
	d := "encrypted member " + paths[0]
	if len(paths) > 1 {
		d += fmt.Sprintf(" and %d more", len(paths)-1)
	}
	return d
}

// zipName returns a member's name as UTF-8. Zips made by Windows in Japan
// store names in code page 932 without the UTF-8 flag (APPNOTE
// appendix D); they are decoded as Shift_JIS when that works cleanly.
func zipName(f *zip.File) string {
	name := f.Name
	if utf8.ValidString(name) {
		return name
	}
	if d, err := japanese.ShiftJIS.NewDecoder().String(name); err == nil && !strings.ContainsRune(d, utf8.RuneError) {
		return d
	}
	return name
}

// zipCount counts central directory records the way archive/zip finds
// them (from the end record, zip64 included, until a record does not
// start with its signature), stopping at limit. ok is false when the end
// record is not found; archive/zip then refuses the file itself.
func zipCount(r io.ReaderAt, size int64, limit int) (count int, ok bool) {
	const endLen = 22
	if size < endLen {
		return 0, false
	}
	tailSize := min(size, 65*1024+endLen)
	tail := make([]byte, tailSize)
	if _, err := r.ReadAt(tail, size-tailSize); err != nil && !errors.Is(err, io.EOF) {
		return 0, false
	}
	p := bytes.LastIndex(tail[:len(tail)-endLen+4], []byte("PK\x05\x06"))
	if p < 0 {
		return 0, false
	}
	endOff := size - tailSize + int64(p)
	e := tail[p:]
	dirSize := int64(binary.LittleEndian.Uint32(e[12:]))
	dirOff := int64(binary.LittleEndian.Uint32(e[16:]))
	if binary.LittleEndian.Uint16(e[10:]) == 0xffff || dirSize == 0xffffffff || dirOff == 0xffffffff {
		loc := make([]byte, 20)
		if endOff >= 20 {
			if _, err := r.ReadAt(loc, endOff-20); err == nil && string(loc[:4]) == "PK\x06\x07" {
				off64 := int64(binary.LittleEndian.Uint64(loc[8:]))
				rec := make([]byte, 56)
				if off64 >= 0 && off64 < size {
					if _, err := r.ReadAt(rec, off64); err == nil && string(rec[:4]) == "PK\x06\x06" {
						dirSize = int64(binary.LittleEndian.Uint64(rec[40:]))
						dirOff = int64(binary.LittleEndian.Uint64(rec[48:]))
						endOff = off64
					}
				}
			}
		}
	}
	if dirSize < 0 || dirOff < 0 {
		return 0, false
	}
	base := endOff - dirSize - dirOff
	if base > 0 {
		var sig [4]byte
		if _, err := r.ReadAt(sig[:], dirOff); err == nil && string(sig[:]) == "PK\x01\x02" {
			base = 0
		}
	}
	start := base + dirOff
	if start < 0 || start >= size {
		return 0, false
	}
	br := bufio.NewReaderSize(io.NewSectionReader(r, start, size-start), 64<<10)
	var hdr [46]byte
	for count < limit {
		if _, err := io.ReadFull(br, hdr[:]); err != nil || string(hdr[:4]) != "PK\x01\x02" {
			break
		}
		skip := int(binary.LittleEndian.Uint16(hdr[28:])) + int(binary.LittleEndian.Uint16(hdr[30:])) + int(binary.LittleEndian.Uint16(hdr[32:]))
		if _, err := br.Discard(skip); err != nil {
			break
		}
		count++
	}
	return count, true
}
