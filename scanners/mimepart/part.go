package mimepart

import (
	"io"
)

// Kind names a structural problem found during the walk.
type Kind string

// Anomaly kinds. Consumers turn them into symbols (MIME_BROKEN_*,
// MIME_LIMIT_*).
const (
	// KindBoundary: a multipart without a boundary parameter, with no
	// delimiter line, or without its closing delimiter.
	KindBoundary Kind = "boundary"
	// KindEncoding: stray characters in base64, a broken uuencode block, or
	// an unknown Content-Transfer-Encoding (the part is kept as is).
	KindEncoding Kind = "encoding"
	// KindHeader: a header block that could not be read, or a Content-Type
	// or Content-Disposition whose parameters had to be parsed leniently.
	KindHeader Kind = "header"
	// KindDepth: nesting beyond Limits.MaxDepth; the deeper content is
	// kept as one undecoded part.
	KindDepth Kind = "depth"
	// KindParts: more leaf parts than Limits.MaxParts; the rest are skipped.
	KindParts Kind = "parts"
	// KindSize: decoded bytes beyond Limits.MaxDecodedBytes; the part is
	// truncated (Part.Truncated) and later parts are skipped.
	KindSize Kind = "size"
)

// Anomaly is one structural problem, where it was found, and what it was.
type Anomaly struct {
	Kind   Kind
	Path   string // part path ("1.2"); "" for the top level
	Detail string
}

// IsLimit reports whether the anomaly is a limit being hit rather than
// broken structure.
func (a Anomaly) IsLimit() bool {
	return a.Kind == KindDepth || a.Kind == KindParts || a.Kind == KindSize
}

// Origin says where a part came from.
type Origin string

// Part origins.
const (
	OriginMIME     Origin = "mime"     // a MIME leaf part
	OriginUUEncode Origin = "uuencode" // a uuencoded block inside a text part
)

// Part is one decoded leaf part. Its content is read with Open or ReadAt,
// any number of times, concurrently.
type Part struct {
	// Path numbers the part like IMAP (RFC 3501 §6.4.5): "1", "2.1"; a
	// single-part message is "1", a uuencoded block adds ".u1", ".u2".
	Path string
	// Depth counts the multiparts and attached messages above the part.
	Depth int
	// ContentType is the declared media type, lower case ("text/plain"
	// when absent, RFC 2045 §5.2); Params are its parameters.
	ContentType string
	Params      map[string]string
	// Charset is the declared charset of a text part, lower case.
	Charset string
	// Disposition is "attachment", "inline" or "".
	Disposition string
	// Filename is the decoded file name from Content-Disposition filename,
	// else Content-Type name; "" when the part has none. It is what the
	// sender declared, Unicode controls included: judging it is the
	// consumer's business.
	Filename string
	// Encoding is the declared Content-Transfer-Encoding, lower case.
	Encoding string
	Origin   Origin
	// Encapsulated: the part belongs to an attached message
	// (message/rfc822 or message/global: a forward, a bounce), so its
	// headers and encodings are that message's sender's, not this one's.
	Encapsulated bool
	// Size is the decoded size kept.
	Size int64
	// Truncated means the decoded content went past the size limit and
	// only the first Size bytes were kept.
	Truncated bool

	bodyText bool // see IsBodyText
	content  content
}

// content is a decoded part's bytes, in memory or in a temporary file.
type content interface {
	io.ReaderAt
	Close() error
}

// Open returns a reader over the decoded content from its start.
func (p *Part) Open() *io.SectionReader { return io.NewSectionReader(p, 0, p.Size) }

// ReadAt reads decoded content; Part is an io.ReaderAt of Size bytes.
func (p *Part) ReadAt(b []byte, off int64) (int, error) {
	if p.content == nil {
		return 0, io.EOF
	}
	if off >= p.Size {
		return 0, io.EOF
	}
	if max := p.Size - off; int64(len(b)) > max {
		n, err := p.content.ReadAt(b[:max], off)
		if err == nil {
			err = io.EOF
		}
		return n, err
	}
	return p.content.ReadAt(b, off)
}

// IsAttachment reports whether a mail client would offer the part as a
// file: it has a name, is marked attachment, or is not text meant for
// display.
func (p *Part) IsAttachment() bool {
	if p.Filename != "" || p.Disposition == "attachment" || p.Origin == OriginUUEncode {
		return true
	}
	switch p.ContentType {
	case "text/plain", "text/html", "text/enriched", "message/delivery-status", "message/disposition-notification", "text/rfc822-headers":
		return false
	}
	return true
}

// IsBodyText reports whether a mail client shows the part as text of the
// message when it is opened: plain text, HTML or enriched text, not marked
// attachment nor uuencoded, and unnamed; or, in a message with no unnamed
// text, a named one. Clients show a message's only text as its body
// whatever its name (RFC 2183 §2.1 has an inline part displayed
// automatically), so a part can be both a file (IsAttachment) and body
// text: otherwise a name on the only text part would hide the text the
// reader sees from every text check. A named text file beside the body
// (Apple Mail attaches every file inline) stays a file only, so that the
// checks that judge the sender's own text do not judge a file's.
func (p *Part) IsBodyText() bool { return p.bodyText }

// isText reports a text type a client can show as the message, not
// marked attachment nor uuencoded.
func (p *Part) isText() bool {
	if p.Disposition == "attachment" || p.Origin == OriginUUEncode {
		return false
	}
	switch p.ContentType {
	case "text/plain", "text/html", "text/enriched":
		return true
	}
	return false
}

// markBodyText sets each part's IsBodyText once the whole message is
// walked, for the choice depends on the other parts.
func markBodyText(parts []*Part) {
	unnamed := false
	for _, p := range parts {
		if p.isText() && p.Filename == "" {
			unnamed = true
			break
		}
	}
	for _, p := range parts {
		p.bodyText = p.isText() && (p.Filename == "" || !unnamed)
	}
}

// Label names the part for reports and logs: its file name, else its path
// and type.
func (p *Part) Label() string {
	if p.Filename != "" {
		return p.Filename
	}
	return "part " + p.Path + " (" + p.ContentType + ")"
}

// Result is a walked message: its parts in order and what was wrong.
type Result struct {
	Parts     []*Part
	Anomalies []Anomaly
	// Bytes is the decoded size of all parts kept.
	Bytes int64
}

// Close releases the parts' memory and temporary files.
func (r *Result) Close() error {
	var first error
	for _, p := range r.Parts {
		if p.content != nil {
			if err := p.content.Close(); err != nil && first == nil {
				first = err
			}
			p.content = nil
		}
	}
	return first
}

// Limits bound one walk. Zero fields take the defaults.
type Limits struct {
	MaxDepth        int   // default 16
	MaxParts        int   // default 500
	MaxDecodedBytes int64 // default 200 MiB
	MemoryBytes     int64 // default 1 MiB
	TempDir         string
}

func (l Limits) withDefaults() Limits {
	if l.MaxDepth <= 0 {
		l.MaxDepth = 16
	}
	if l.MaxParts <= 0 {
		l.MaxParts = 500
	}
	if l.MaxDecodedBytes <= 0 {
		l.MaxDecodedBytes = 200 << 20
	}
	if l.MemoryBytes <= 0 {
		l.MemoryBytes = 1 << 20
	}
	return l
}
