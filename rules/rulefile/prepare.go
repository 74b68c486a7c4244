package rulefile

import (
	"bytes"
	"context"
	"io"
	"regexp"
	"strings"

	"github.com/mamori-mail/mamori/reputation/uribl"
	"github.com/mamori-mail/mamori/rules/check"
	"github.com/mamori-mail/mamori/scanners/mimepart"
	"golang.org/x/net/html"
)

// Prepare reads m once into what the rules look at: decoded headers, the
// text of each text part, the start of the raw body, the linked hosts and
// the attachments. It uses the MIME walk the content scanners share.
func Prepare(ctx context.Context, m *check.Message, content check.ContentLimits, lim Limits) (*Input, error) {
	lim = lim.withDefaults()
	in := &Input{Headers: DecodeHeaders(m.Headers)}
	raw, err := io.ReadAll(io.LimitReader(m.BodyReader(), lim.Raw))
	if err != nil {
		return nil, err
	}
	in.Raw = raw
	walk, err := mimepart.ForMessage(ctx, m, content)
	if err != nil {
		return nil, err
	}
	links, err := uribl.MessageLinks(ctx, m, content)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	for _, p := range walk.Parts {
		if strings.HasPrefix(p.ContentType, "image/") {
			in.Images++
		}
		if p.IsAttachment() {
			in.Attachments = append(in.Attachments, Attachment{Name: p.Filename, Type: p.ContentType})
			continue
		}
		isHTML := p.ContentType == "text/html"
		switch {
		case isHTML:
			in.HTMLParts++
		case p.ContentType == "text/plain":
			in.TextParts++
		default:
			continue
		}
		text, err := p.Text(lim.Text)
		if err != nil {
			return nil, err
		}
		in.Texts = append(in.Texts, text)
		for _, f := range links[p] {
			h := f.Host
			if f.IP.IsValid() {
				h = f.IP.String()
			}
			if h != "" && !seen[h] {
				seen[h] = true
				in.Hosts = append(in.Hosts, h)
			}
		}
		if isHTML && !in.InvisibleText {
			// Hidden text is in the markup, not the visible text.
			src, err := io.ReadAll(io.LimitReader(p.Open(), lim.Text))
			if err != nil {
				return nil, err
			}
			in.InvisibleText = hiddenText(src)
		}
	}
	return in, nil
}

var hiddenStyle = regexp.MustCompile(`(?i)display\s*:\s*none|visibility\s*:\s*hidden|font-size\s*:\s*0+(\.0+)?\s*(px|pt|em|%)?\s*(;|$|")`)

// hiddenText reports whether an HTML document has text inside an element
// styled to be invisible: words a filter reads and the recipient does not.
func hiddenText(doc []byte) bool {
	z := html.NewTokenizer(bytes.NewReader(doc))
	depth := 0 // open elements since the hidden one started; 0: not hidden
	for {
		switch z.Next() {
		case html.ErrorToken:
			return false
		case html.StartTagToken:
			if depth > 0 {
				depth++
				continue
			}
			for {
				k, v, more := z.TagAttr()
				if strings.EqualFold(string(k), "style") && hiddenStyle.Match(v) {
					depth = 1
				}
				if !more {
					break
				}
			}
		case html.EndTagToken:
			if depth > 0 {
				depth--
			}
		case html.TextToken:
			if depth > 0 && len(bytes.TrimSpace(z.Text())) > 0 {
				return true
			}
		}
	}
}
