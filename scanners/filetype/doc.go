// Package filetype judges the files a message carries by what they are,
// not only by what they claim to be.
//
// For each attachment, and for each member of the archives it holds
// (zip, gzip and tar, 7z, RAR, nested up to a configured depth), it
// reports:
//
//   - a refused file name extension (FILETYPE_BLOCKED), judged after
//     removing Unicode bidirectional controls (FILETYPE_BIDI_NAME, the
//     U+202E "invoice\u202Efdp.exe" trick) and the trailing dots and
//     spaces that Windows strips, and a refused extension hidden behind a
//     harmless one (FILETYPE_DOUBLE_EXT, "invoice.pdf.exe");
//   - content sniffed from its bytes (github.com/gabriel-vasile/mimetype,
//     plus ISO 9660, UDF, VHD and VHDX signatures) that is a program,
//     installer, shortcut or disk image (FILETYPE_EXECUTABLE), such
//     content under a document's name or declared type
//     (FILETYPE_DISGUISED), and a harmless type under another's name
//     (FILETYPE_MISMATCH, a PNG named .pdf);
//   - encrypted archives and password-protected Office files
//     (FILETYPE_ENCRYPTED), Office documents with macros (FILETYPE_MACRO:
//     VBA storages in OLE files, vbaProject.bin and macro-enabled content
//     types in OOXML);
//   - archives that expand beyond the caps on entries, bytes and
//     compression ratio, counted while decompressing (FILETYPE_ARCHIVE_BOMB),
//     nested too deep (FILETYPE_ARCHIVE_DEPTH) or unreadable
//     (FILETYPE_ARCHIVE_BROKEN);
//   - what the shared MIME walk (scanners/mimepart) found broken
//     (MIME_BROKEN) or had to cut short at a limit (MIME_LIMIT).
//
// The library part (Inspector, Scan) takes a reader, a size, a name and a
// declared type and knows nothing of MIME or configuration; check.go
// adapts it to the check contract, where each rule has the outcome the
// operator chose.
package filetype
