package console

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/mamori-mail/mamori/scanners/mimepart"
)

// Bounds of the message view.
const (
	maxViewBytes = 32 << 20 // of the stored message read for the view
	maxPartText  = 1 << 20  // shown of each text part
	maxHeader    = 256 << 10
)

// body is a message as the view shows it: text only.
type body struct {
	Header      string
	Texts       []textPart
	Attachments []attachment
	Anomalies   []string
	Note        string
}

type textPart struct {
	Path, Type, Charset string
	HTML                bool
	Text                string
	Truncated           bool
}

type attachment struct {
	Path, Name, Type string
	Size             int64
}

// readBody reads and walks the stored message id. The template escapes
// every string of it; nothing is ever rendered as HTML.
func (c *Console) readBody(ctx context.Context, id string) (*body, error) {
	rc, err := c.o.Store.Open(ctx, id)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	raw, err := io.ReadAll(io.LimitReader(rc, maxViewBytes+1))
	if err != nil {
		return nil, err
	}
	b := &body{}
	if len(raw) > maxViewBytes {
		raw = raw[:maxViewBytes]
		b.Note = fmt.Sprintf("The message is larger than %d MiB; only its beginning is shown.", maxViewBytes>>20)
	}
	b.Header = headerBlock(raw)
	res, err := mimepart.Walk(ctx, bytes.NewReader(raw), int64(len(raw)), mimepart.Limits{})
	if err != nil {
		return nil, err
	}
	defer res.Close()
	for _, a := range res.Anomalies {
		b.Anomalies = append(b.Anomalies, strings.TrimSpace(fmt.Sprintf("%s %s: %s", a.Kind, a.Path, a.Detail)))
	}
	for _, p := range res.Parts {
		if p.IsAttachment() {
			b.Attachments = append(b.Attachments, attachment{Path: p.Path, Name: p.Filename, Type: p.ContentType, Size: p.Size})
			if !p.IsBodyText() {
				continue // shown as text too when the reader's client shows it
			}
		}
		data, err := io.ReadAll(io.LimitReader(p.Open(), maxPartText))
		if err != nil {
			return nil, err
		}
		data = p.Decode(data)
		if !utf8.Valid(data) {
			data = bytes.ToValidUTF8(data, []byte("\uFFFD"))
		}
		b.Texts = append(b.Texts, textPart{
			Path: p.Path, Type: p.ContentType, Charset: p.Charset,
			HTML: p.ContentType == "text/html", Text: string(data),
			Truncated: p.Size > maxPartText || p.Truncated,
		})
	}
	return b, nil
}

// headerBlock returns the message's header block as valid UTF-8 text,
// at most maxHeader bytes.
func headerBlock(raw []byte) string {
	end := len(raw)
	if i := bytes.Index(raw, []byte("\r\n\r\n")); i >= 0 {
		end = i
	}
	if i := bytes.Index(raw, []byte("\n\n")); i >= 0 && i < end {
		end = i
	}
	h := raw[:min(end, maxHeader)]
	return strings.ToValidUTF8(strings.ReplaceAll(string(h), "\r\n", "\n"), "\uFFFD")
}
