package mimepart

import (
	"errors"
	"io"
)

// errBudget ends a copy at the decoded-size limit.
var errBudget = errors.New("mimepart: decoded size limit reached")

// budgetWriter passes at most n bytes, then fails with errBudget.
type budgetWriter struct {
	w io.Writer
	n int64
}

func (b *budgetWriter) Write(p []byte) (int, error) {
	if int64(len(p)) > b.n {
		k, err := b.w.Write(p[:b.n])
		b.n -= int64(k)
		if err != nil {
			return k, err
		}
		return k, errBudget
	}
	k, err := b.w.Write(p)
	b.n -= int64(k)
	return k, err
}
