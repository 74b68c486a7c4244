package filetype

import (
	"context"
	"errors"
	"io"

	"github.com/nwaples/rardecode/v2"
)

// rar walks a RAR archive, versions 1.5 to 7 (rarlab technote), with
// rardecode. Encrypted members show their names; encrypted headers hide
// everything but the fact.
func (s *Scan) rar(ctx context.Context, n node, r io.ReaderAt, size int64) (err error) {
	defer recoverParser(&err)
	rr, err := rardecode.NewReader(io.NewSectionReader(r, 0, size), rardecode.MaxDictionarySize(s.opts.MaxDictionary))
	if errors.Is(err, rardecode.ErrArchiveEncrypted) {
		s.add(RuleEncrypted, n.path, "encrypted headers (member names hidden)")
		return nil
	}
	if err != nil {
		return err
	}
	var encrypted []string
	defer func() {
		if len(encrypted) > 0 {
			s.add(RuleEncrypted, n.path, encryptedDetail(encrypted))
		}
	}()
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		h, err := rr.Next()
		switch {
		case errors.Is(err, io.EOF), errors.Is(err, rardecode.ErrMultiVolume):
			// A volume of a split archive: what is in this part was seen.
			return nil
		case errors.Is(err, rardecode.ErrArchiveEncrypted):
			s.add(RuleEncrypted, n.path, "encrypted headers (member names hidden)")
			return nil
		case err != nil:
			return err
		}
		if err := s.next(ctx, n.path); err != nil {
			return err
		}
		if h.IsDir {
			continue
		}
		child := n.child(h.Name)
		if h.Encrypted {
			s.sealed(child, &encrypted)
			continue
		}
		usize := h.UnPackedSize
		if h.UnKnownSize {
			usize = -1
		}
		if err := s.declared(child.path, usize, h.PackedSize); err != nil {
			return err
		}
		if err := s.stream(ctx, child, s.meter(ctx, rr, child.path, h.PackedSize)); err != nil {
			return err
		}
	}
}
