package mimepart

import (
	"bufio"
	"bytes"
	"io"
)

// lineReader reads lines from a section of a ReaderAt and keeps the offset
// of what it has returned, so that parts are kept as offsets into the
// message, not as copies.
type lineReader struct {
	br  *bufio.Reader
	off int64
	// long is set while the rest of a line longer than the buffer is being
	// returned: such a piece is not at the start of a line.
	long bool
}

const lineBuf = 16 << 10

func newLineReader(ra io.ReaderAt, off, end int64) *lineReader {
	return newLineReaderSize(ra, off, end, lineBuf)
}

func newLineReaderSize(ra io.ReaderAt, off, end int64, size int) *lineReader {
	return &lineReader{br: bufio.NewReaderSize(io.NewSectionReader(ra, off, end-off), size), off: off}
}

// next returns the next line or piece of a long line, and whether it
// starts a line.
func (l *lineReader) next() (line []byte, start bool, err error) {
	start = !l.long
	b, err := l.br.ReadSlice('\n')
	l.off += int64(len(b))
	l.long = err == bufio.ErrBufferFull
	if l.long {
		err = nil
	}
	return b, start, err
}

// span is a byte range of the message.
type span struct{ start, end int64 }

// splitResult is a multipart body cut at its delimiters.
type splitResult struct {
	parts    []span
	found    bool // at least one delimiter line
	closed   bool // the close delimiter was seen
	epilogue bool // non-blank text after the close delimiter
}

// split finds the body parts of a multipart entity (RFC 2046 §5.1.1). It is
// lenient where clients are: delimiter lines may end in LF alone or carry
// trailing white space, and a missing close delimiter ends the last part at
// the end of the entity. The line break before a delimiter belongs to the
// delimiter, so part content ends before it.
func split(ra io.ReaderAt, off, end int64, boundary string) splitResult {
	dash := []byte("--" + boundary)
	lr := newLineReader(ra, off, end)
	var r splitResult
	partStart := int64(-1)
	prevEnd := int64(-1) // offset where the previous line's content ended (before its EOL)
	for {
		line, atStart, err := lr.next()
		if len(line) > 0 {
			if r.closed {
				if len(bytes.TrimSpace(line)) > 0 {
					r.epilogue = true
				}
			} else if atStart && bytes.HasPrefix(line, dash) {
				rest := bytes.TrimRight(line[len(dash):], " \t\r\n")
				closing := bytes.Equal(rest, []byte("--"))
				if len(rest) == 0 || closing {
					if partStart >= 0 {
						e := prevEnd
						if e < partStart {
							e = partStart
						}
						r.parts = append(r.parts, span{partStart, e})
					}
					r.found = true
					if closing {
						r.closed = true
						partStart = -1
					} else {
						partStart = lr.off
					}
					prevEnd = -1
					if err != nil {
						break
					}
					continue
				}
			}
			// Where this line's content ends if the next line is a delimiter:
			// before its CRLF or LF.
			if bytes.HasSuffix(line, []byte("\r\n")) {
				prevEnd = lr.off - 2
			} else if bytes.HasSuffix(line, []byte("\n")) {
				prevEnd = lr.off - 1
			} else {
				prevEnd = lr.off
			}
		}
		if err != nil {
			break
		}
	}
	if partStart >= 0 && !r.closed {
		r.parts = append(r.parts, span{partStart, lr.off})
	}
	return r
}
