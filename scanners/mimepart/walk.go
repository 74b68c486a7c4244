package mimepart

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"

	"github.com/emersion/go-message/textproto"
	"github.com/mamori-mail/mamori/internal/spool"
	"github.com/mamori-mail/mamori/rules/check"
)

// Walk reads a whole message (header block and body) from ra and returns
// its decoded leaf parts. The error is for I/O failures and cancellation
// only; broken structure ends up in Result.Anomalies.
func Walk(ctx context.Context, ra io.ReaderAt, size int64, lim Limits) (*Result, error) {
	w := newWalker(ctx, lim)
	h, body, ok := readHeaderBlock(ra, 0, size)
	if !ok {
		w.anomaly(KindHeader, "", "message header block malformed")
	}
	err := w.entity(ra, h, body, size, "", 0, "")
	return w.finish(err)
}

// WalkBody walks a message whose header fields are already parsed (as the
// milter receives them) and whose body is in ra.
func WalkBody(ctx context.Context, fields []check.Header, ra io.ReaderAt, size int64, lim Limits) (*Result, error) {
	w := newWalker(ctx, lim)
	var block []byte
	for _, f := range fields {
		block = append(block, f.Name...)
		block = append(block, ':')
		block = append(block, f.Raw...)
		block = append(block, "\r\n"...)
	}
	block = append(block, "\r\n"...)
	h, err := textproto.ReadHeader(bufio.NewReader(bytes.NewReader(block)))
	if err != nil {
		w.anomaly(KindHeader, "", "message header block malformed")
		h = lenientHeader(block)
	}
	err = w.entity(ra, h, 0, size, "", 0, "")
	return w.finish(err)
}

type walkState struct {
	once sync.Once
	res  *Result
	err  error
}

const stateKey = "mimepart"

// ForMessage walks m once and shares the result among all the checks that
// ask, whichever asks first; the parts are released when the message is
// done (check.Message.Done). lim comes from check.Env.Content.
func ForMessage(ctx context.Context, m *check.Message, lim check.ContentLimits) (*Result, error) {
	st := m.StateOnce(stateKey, func() any { return &walkState{} }).(*walkState)
	st.once.Do(func() {
		var body io.ReaderAt = emptyBody{}
		var size int64
		if m.Body != nil {
			body, size = m.Body, m.Body.Size()
		}
		st.res, st.err = WalkBody(ctx, m.Headers, body, size, Limits{
			MaxDepth: lim.MaxDepth, MaxParts: lim.MaxParts, MaxDecodedBytes: lim.MaxDecodedBytes,
			MemoryBytes: lim.MemoryBytes, TempDir: lim.TempDir,
		})
		if st.res != nil {
			res := st.res
			m.OnDone(func() { res.Close() })
		}
	})
	return st.res, st.err
}

type emptyBody struct{}

func (emptyBody) ReadAt([]byte, int64) (int, error) { return 0, io.EOF }

type walker struct {
	ctx    context.Context
	lim    Limits
	res    *Result
	full   bool // a limit on parts or bytes stopped the walk
	counts map[Kind]int
	// inMessage counts the attached messages (message/rfc822) the walk
	// is inside.
	inMessage int
}

func newWalker(ctx context.Context, lim Limits) *walker {
	return &walker{ctx: ctx, lim: lim.withDefaults(), res: &Result{}, counts: map[Kind]int{}}
}

func (w *walker) finish(err error) (*Result, error) {
	if err != nil {
		w.res.Close()
		return nil, err
	}
	markBodyText(w.res.Parts)
	return w.res, nil
}

// maxAnomalies keeps a hostile message from growing the report without
// bound; the count of each kind still says how bad it was.
const maxAnomalies = 32

func (w *walker) anomaly(k Kind, path, format string, args ...any) {
	w.counts[k]++
	if len(w.res.Anomalies) >= maxAnomalies {
		return
	}
	if path == "" {
		path = "1"
	}
	w.res.Anomalies = append(w.res.Anomalies, Anomaly{Kind: k, Path: path, Detail: fmt.Sprintf(format, args...)})
}

func childPath(prefix string, i int) string {
	if prefix == "" {
		return strconv.Itoa(i)
	}
	return prefix + "." + strconv.Itoa(i)
}

// entity handles one entity whose header is h and whose body is
// ra[body:end]. defType is the default media type ("" for text/plain; a
// multipart/digest makes it message/rfc822, RFC 2046 §5.1.5).
func (w *walker) entity(ra io.ReaderAt, h textproto.Header, body, end int64, path string, depth int, defType string) error {
	if err := w.ctx.Err(); err != nil {
		return err
	}
	if w.full {
		return nil
	}
	typ, params, ok := parseMediaType(h.Get("Content-Type"))
	if !ok {
		w.anomaly(KindHeader, path, "Content-Type parameters malformed")
	}
	if typ == "" || !strings.Contains(typ, "/") {
		if typ != "" {
			w.anomaly(KindHeader, path, "Content-Type %q is not type/subtype", typ)
		}
		typ = defType
		if typ == "" {
			typ = "text/plain"
		}
	}
	enc := strings.ToLower(unfold(h.Get("Content-Transfer-Encoding")))
	switch {
	case strings.HasPrefix(typ, "multipart/"):
		if depth >= w.lim.MaxDepth {
			w.anomaly(KindDepth, path, "nesting deeper than %d", w.lim.MaxDepth)
			return w.leaf(ra, h, body, end, path, depth, typ, params, "")
		}
		return w.multipart(ra, body, end, path, depth, typ, params)
	case typ == "message/rfc822" || typ == "message/global":
		if depth >= w.lim.MaxDepth {
			w.anomaly(KindDepth, path, "nesting deeper than %d", w.lim.MaxDepth)
			return w.leaf(ra, h, body, end, path, depth, typ, params, "")
		}
		return w.message(ra, h, body, end, path, depth, enc)
	}
	return w.leaf(ra, h, body, end, path, depth, typ, params, enc)
}

func (w *walker) multipart(ra io.ReaderAt, body, end int64, path string, depth int, typ string, params map[string]string) error {
	boundary := params["boundary"]
	if boundary == "" {
		w.anomaly(KindBoundary, path, "%s without a boundary parameter", typ)
		return w.leaf(ra, textproto.Header{}, body, end, path, depth, "text/plain", nil, "")
	}
	sp := split(ra, body, end, boundary)
	if !sp.found {
		w.anomaly(KindBoundary, path, "no delimiter line for boundary %q", boundary)
		return w.leaf(ra, textproto.Header{}, body, end, path, depth, "text/plain", nil, "")
	}
	if !sp.closed {
		w.anomaly(KindBoundary, path, "close delimiter missing")
	}
	def := ""
	if typ == "multipart/digest" {
		def = "message/rfc822"
	}
	for i, s := range sp.parts {
		h, b, ok := readHeaderBlock(ra, s.start, s.end)
		cp := childPath(path, i+1)
		if !ok {
			w.anomaly(KindHeader, cp, "part header block malformed")
		}
		if err := w.entity(ra, h, b, s.end, cp, depth+1, def); err != nil {
			return err
		}
	}
	return nil
}

// message walks an attached message (RFC 2046 §5.2.1). An identity
// encoding keeps it in place; an encoded one (against the RFC, but sent)
// is decoded first.
func (w *walker) message(ra io.ReaderAt, h textproto.Header, body, end int64, path string, depth int, enc string) error {
	inner, innerSize := ra, end
	start := body
	if !identity(enc) {
		sp := w.newSpool()
		budget := &budgetWriter{w: sp, n: w.remaining()}
		err := w.decode(budget, io.NewSectionReader(ra, body, end-body), enc, path)
		if err == errBudget {
			w.limitSize(path)
			err = nil
		}
		if err != nil {
			sp.Close()
			return err
		}
		defer sp.Close()
		inner, innerSize, start = sp, sp.Size(), 0
	}
	ih, ib, ok := readHeaderBlock(inner, start, innerSize)
	if !ok {
		w.anomaly(KindHeader, path, "attached message header block malformed")
	}
	if depth > 0 {
		// A part of a multipart; a message whose own body is
		// message/rfc822 is shown as that message, not as an attachment.
		w.inMessage++
		defer func() { w.inMessage-- }()
	}
	return w.entity(inner, ih, ib, innerSize, path, depth+1, "")
}

func identity(enc string) bool {
	switch enc {
	case "", "7bit", "8bit", "binary":
		return true
	}
	return false
}

// newSpool holds one decoded part: in memory up to MemoryBytes, then in an
// unlinked temporary file.
func (w *walker) newSpool() *spool.Spool { return spool.New(w.lim.MemoryBytes, w.lim.TempDir) }

func (w *walker) remaining() int64 { return w.lim.MaxDecodedBytes - w.res.Bytes }

func (w *walker) limitSize(path string) {
	w.anomaly(KindSize, path, "decoded content beyond %d bytes", w.lim.MaxDecodedBytes)
	w.full = true
}

// decode writes src, transfer-decoded, to dst.
func (w *walker) decode(dst io.Writer, src io.Reader, enc, path string) error {
	src = ctxReader{w.ctx, src}
	var bad int
	var err error
	switch enc {
	case "base64":
		bad, err = decodeBase64(dst, src)
		if bad > 0 {
			w.anomaly(KindEncoding, path, "%d characters outside the base64 alphabet skipped", bad)
		}
	case "quoted-printable":
		bad, err = decodeQP(dst, src)
		if bad > 0 {
			w.anomaly(KindEncoding, path, "%d malformed quoted-printable escapes kept as is", bad)
		}
	case "x-uuencode", "uuencode", "x-uue":
		br := bufio.NewReaderSize(src, lineBuf)
		// Skip to the begin line; without one, decode from the start.
		var ended bool
		ended, bad, err = decodeUULines(dst, skipToBegin(br))
		if err == nil && (!ended || bad > 0) {
			w.anomaly(KindEncoding, path, "uuencoded content damaged or unterminated")
		}
	default:
		if !identity(enc) {
			w.anomaly(KindEncoding, path, "unknown Content-Transfer-Encoding %q, content kept as is", enc)
		}
		_, err = io.Copy(dst, src)
	}
	return err
}

func skipToBegin(br *bufio.Reader) *bufio.Reader {
	if b, err := br.Peek(6); err == nil && string(b) == "begin " {
		br.ReadSlice('\n')
	}
	return br
}

type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// leaf decodes one leaf part into the result.
func (w *walker) leaf(ra io.ReaderAt, h textproto.Header, body, end int64, path string, depth int, typ string, params map[string]string, enc string) error {
	if path == "" {
		path = "1"
	}
	if len(w.res.Parts) >= w.lim.MaxParts {
		w.anomaly(KindParts, path, "more than %d parts", w.lim.MaxParts)
		w.full = true
		return nil
	}
	p := &Part{Path: path, Depth: depth, ContentType: typ, Params: params, Encoding: enc, Origin: OriginMIME, Encapsulated: w.inMessage > 0}
	if params != nil {
		p.Charset = strings.ToLower(params["charset"])
	}
	disp, dparams, ok := parseMediaType(h.Get("Content-Disposition"))
	if !ok {
		w.anomaly(KindHeader, path, "Content-Disposition parameters malformed")
	}
	p.Disposition = disp
	switch {
	case dparams["filename"] != "":
		p.Filename = dparams["filename"]
	case params["name"] != "":
		p.Filename = params["name"]
	}
	sp := w.newSpool()
	budget := &budgetWriter{w: sp, n: w.remaining()}
	err := w.decode(budget, io.NewSectionReader(ra, body, end-body), enc, path)
	if err == errBudget {
		p.Truncated = true
		w.limitSize(path)
		err = nil
	}
	if err != nil {
		sp.Close()
		return err
	}
	p.content, p.Size = sp, sp.Size()
	w.res.Parts = append(w.res.Parts, p)
	w.res.Bytes += p.Size
	if strings.HasPrefix(typ, "text/") && !w.full {
		return w.uuembedded(p)
	}
	return nil
}

// uuembedded finds uuencoded files inside a text part ("begin 644 x.exe"),
// which clients such as Outlook Express and many newsreaders show as
// attachments.
func (w *walker) uuembedded(p *Part) error {
	br := bufio.NewReaderSize(ctxReader{w.ctx, p.Open()}, lineBuf)
	n := 0
	for {
		line, err := br.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			for err == bufio.ErrBufferFull {
				_, err = br.ReadSlice('\n')
			}
			continue
		}
		if name, ok := uuBegin(line); ok {
			n++
			path := p.Path + ".u" + strconv.Itoa(n)
			if len(w.res.Parts) >= w.lim.MaxParts {
				w.anomaly(KindParts, path, "more than %d parts", w.lim.MaxParts)
				w.full = true
				return nil
			}
			sp := w.newSpool()
			budget := &budgetWriter{w: sp, n: w.remaining()}
			ended, bad, derr := decodeUULines(budget, br)
			up := &Part{Path: path, Depth: p.Depth, ContentType: "application/octet-stream", Disposition: "attachment",
				Filename: name, Encoding: "x-uuencode", Origin: OriginUUEncode, Encapsulated: p.Encapsulated}
			if derr == errBudget {
				up.Truncated = true
				w.limitSize(path)
				derr = nil
			}
			if derr != nil {
				sp.Close()
				return derr
			}
			if !ended || bad > 0 {
				w.anomaly(KindEncoding, path, "uuencoded content damaged or unterminated")
			}
			up.content, up.Size = sp, sp.Size()
			w.res.Parts = append(w.res.Parts, up)
			w.res.Bytes += up.Size
			if w.full || !ended {
				return nil
			}
			continue
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}
