package harness

import "encoding/binary"

// FakePE returns the smallest file that content sniffers (mimetype, and
// Mamori's filetype check) take for a Windows PE program: an MZ header whose
// e_lfanew points at "PE\0\0" and an i386 COFF header. It runs nowhere.
func FakePE() []byte {
	b := make([]byte, 0x200)
	copy(b, "MZ")
	binary.LittleEndian.PutUint16(b[2:], 0x90) // bytes on last page
	binary.LittleEndian.PutUint16(b[4:], 3)    // pages
	binary.LittleEndian.PutUint16(b[8:], 4)    // header paragraphs
	binary.LittleEndian.PutUint32(b[0x3c:], 0x80)
	copy(b[0x80:], "PE\x00\x00")
	binary.LittleEndian.PutUint16(b[0x84:], 0x14c) // IMAGE_FILE_MACHINE_I386
	copy(b[0x40:], "This program cannot be run in DOS mode.\r\r\n$")
	return b
}
