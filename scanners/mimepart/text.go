package mimepart

import (
	"bytes"
	"io"
	"strings"
	"unicode/utf8"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

// Text returns what a reader sees of a text part, as UTF-8: the decoded
// content converted from the part's charset, and for text/html the visible
// text (tags, comments, scripts and styles dropped; block elements and
// <br> become line breaks; entities decoded). At most limit bytes of the
// part are read (limit <= 0: all). Rules and the classifier read this;
// URIs come from the markup itself (package uribl).
func (p *Part) Text(limit int64) (string, error) {
	r := io.Reader(p.Open())
	if limit > 0 {
		r = io.LimitReader(r, limit)
	}
	switch p.Charset {
	case "", "utf-8", "utf8", "us-ascii":
	default:
		if cr, err := charsetReader(p.Charset, r); err == nil {
			r = cr
		}
	}
	data, err := io.ReadAll(r)
	if err != nil {
		return "", err
	}
	if !utf8.Valid(data) {
		data = bytes.ToValidUTF8(data, []byte("\uFFFD"))
	}
	if p.ContentType != "text/html" {
		return string(data), nil
	}
	return HTMLText(data), nil
}

// HTMLText returns the visible text of an HTML document.
func HTMLText(doc []byte) string {
	var b strings.Builder
	z := html.NewTokenizer(bytes.NewReader(doc))
	skip := 0 // inside <script>, <style>, <head> <title> is kept
	for {
		switch z.Next() {
		case html.ErrorToken:
			return strings.TrimSpace(b.String())
		case html.TextToken:
			if skip == 0 {
				b.Write(bytes.Join(bytes.Fields(z.Text()), []byte(" ")))
				b.WriteByte(' ')
			}
		case html.StartTagToken, html.SelfClosingTagToken:
			name, _ := z.TagName()
			switch a := atom.Lookup(name); a {
			case atom.Script, atom.Style, atom.Template:
				if z.Token().Type == html.StartTagToken {
					skip++
				}
			case atom.Br, atom.P, atom.Div, atom.Tr, atom.Li, atom.H1, atom.H2, atom.H3, atom.H4, atom.H5, atom.H6, atom.Table, atom.Blockquote:
				b.WriteByte('\n')
			}
		case html.EndTagToken:
			name, _ := z.TagName()
			switch atom.Lookup(name) {
			case atom.Script, atom.Style, atom.Template:
				if skip > 0 {
					skip--
				}
			case atom.P, atom.Div, atom.Tr, atom.Li, atom.Table:
				b.WriteByte('\n')
			}
		}
	}
}
