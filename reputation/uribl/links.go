package uribl

import (
	"context"
	"io"
	"strings"
	"sync"

	"github.com/mamori-mail/mamori/rules/check"
	"github.com/mamori-mail/mamori/scanners/mimepart"
)

// Limits of MessageLinks, per text part.
const (
	MaxPartBytes = 2 << 20 // text read for links
	MaxPartHosts = 400     // hosts kept
)

// MessageLinks returns the hosts each text part of m links to, extracted
// once per message from the part's text decoded from its charset, and
// shared by every check that reads them (the uribl check, the classifier's
// tokenizer): extraction is the costly part of reading a body.
func MessageLinks(ctx context.Context, m *check.Message, content check.ContentLimits) (map[*mimepart.Part][]Found, error) {
	st := m.StateOnce(linksKey, func() any { return &linksState{} }).(*linksState)
	st.once.Do(func() { st.links, st.err = partLinks(ctx, m, content) })
	return st.links, st.err
}

const linksKey = "uribl.links"

type linksState struct {
	once  sync.Once
	links map[*mimepart.Part][]Found
	err   error
}

func partLinks(ctx context.Context, m *check.Message, content check.ContentLimits) (map[*mimepart.Part][]Found, error) {
	walk, err := mimepart.ForMessage(ctx, m, content)
	if err != nil {
		return nil, err
	}
	out := map[*mimepart.Part][]Found{}
	for _, p := range walk.Parts {
		if !p.IsBodyText() && (p.IsAttachment() || !strings.HasPrefix(p.ContentType, "text/")) {
			continue
		}
		data, err := io.ReadAll(io.LimitReader(p.Open(), MaxPartBytes))
		if err != nil {
			return nil, err
		}
		data = p.Decode(data)
		out[p] = Extract(data, Options{HTML: p.ContentType == "text/html", MaxHosts: MaxPartHosts})
	}
	return out, nil
}
