package filetype

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"runtime/debug"
	"strings"
)

// This file holds what every archive format shares (the spool that keeps
// a nested archive, the panic boundary) and the formats the standard
// library reads: gzip and tar. zip.go, sevenzip.go and rar.go hold the
// others.

// errParserPanic marks a third-party parser that panicked on crafted input.
var errParserPanic = errors.New("filetype: archive parser failed")

// recoverParser turns a panic in an archive library into a broken-archive
// error. STYLE §7 keeps recover at goroutine roots; this is the written
// exception: the zip, 7z, RAR and CFB parsers index slices with numbers
// taken from the attachment (sevenzip's FileFolderAndSize, for one), and a
// crafted file must end as an unreadable-archive finding with its
// configured outcome, not as a check failure the sender can retry forever.
func recoverParser(err *error) {
	if p := recover(); p != nil {
		if onParserPanic != nil {
			onParserPanic(p, debug.Stack())
		}
		*err = fmt.Errorf("%w: %v", errParserPanic, p)
	}
}

// onParserPanic lets the fuzz test tell a library's panic (handled) from
// one of this package's (a bug).
var onParserPanic func(p any, stack []byte)

// writeErr remembers a failure of the spool a nested archive is copied
// to, so that a full disk is told apart from a broken archive.
type writeErr struct {
	w   io.Writer
	err error
}

func (w *writeErr) Write(p []byte) (int, error) {
	n, err := w.w.Write(p)
	if err != nil {
		w.err = err
	}
	return n, err
}

// gzip opens a gzip file (RFC 1952): a .tar.gz is walked as the tar it
// holds, anything else is judged as the one member it is.
func (s *Scan) gzip(ctx context.Context, n node, r io.ReaderAt, size int64) (err error) {
	defer recoverParser(&err)
	zr, err := gzip.NewReader(io.NewSectionReader(r, 0, size))
	if err != nil {
		return err
	}
	defer zr.Close()
	mr := s.meter(ctx, zr, n.path, size)
	buf := getHead()
	defer putHead(buf)
	k, err := io.ReadFull(mr, buf[:512])
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
		return err
	}
	rest := io.MultiReader(bytes.NewReader(buf[:k]), mr)
	if k == 512 && sniff(buf[:k], nil).kind == kindTar {
		return s.tar(ctx, n, rest)
	}
	name := zr.Name
	if name == "" {
		name = gunzipName(n.name.clean)
	}
	if err := s.entry(n.path); err != nil {
		return err
	}
	return s.stream(ctx, n.child(name), rest)
}

// gunzipName derives a member name from the archive's: "a.pdf.gz" holds
// "a.pdf", "a.tgz" holds "a.tar".
func gunzipName(archive string) string {
	lower := strings.ToLower(archive)
	switch {
	case strings.HasSuffix(lower, ".tgz"):
		return archive[:len(archive)-4] + ".tar"
	case strings.HasSuffix(lower, ".gz"):
		return archive[:len(archive)-3]
	case strings.HasSuffix(lower, ".gzip"):
		return archive[:len(archive)-5]
	}
	return "data"
}

// tarFile opens an uncompressed tar archive.
func (s *Scan) tarFile(ctx context.Context, n node, r io.ReaderAt, size int64) (err error) {
	return s.tar(ctx, n, s.meter(ctx, io.NewSectionReader(r, 0, size), n.path, 0))
}

// tar walks a tar stream (POSIX.1-2001 pax, GNU and ustar, as archive/tar
// reads them). rd is already metered.
func (s *Scan) tar(ctx context.Context, n node, rd io.Reader) (err error) {
	defer recoverParser(&err)
	tr := tar.NewReader(rd)
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if err := s.next(ctx, n.path); err != nil {
			return err
		}
		if h.Typeflag != tar.TypeReg {
			continue
		}
		if err := s.declared(n.path, h.Size, 0); err != nil {
			return err
		}
		if err := s.stream(ctx, n.child(h.Name), tr); err != nil {
			return err
		}
	}
}
