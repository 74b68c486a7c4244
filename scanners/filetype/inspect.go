package filetype

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"

	"github.com/mamori-mail/mamori/internal/spool"
)

// Rule names one kind of finding. Its value is the rule's key under
// outcomes in the configuration.
type Rule string

// The rules.
const (
	RuleBlocked       Rule = "blocked_extension"
	RuleDoubleExt     Rule = "double_extension"
	RuleBidiName      Rule = "bidi_name"
	RuleExecutable    Rule = "executable"
	RuleDisguised     Rule = "disguised"
	RuleMismatch      Rule = "mismatch"
	RuleEncrypted     Rule = "encrypted"
	RuleMacro         Rule = "macro"
	RuleBomb          Rule = "bomb"
	RuleArchiveDepth  Rule = "archive_depth"
	RuleArchiveBroken Rule = "archive_broken"
)

// Rules lists every file rule in the order reports use.
var Rules = []Rule{
	RuleBlocked, RuleDoubleExt, RuleBidiName, RuleExecutable, RuleDisguised, RuleMismatch,
	RuleEncrypted, RuleMacro, RuleBomb, RuleArchiveDepth, RuleArchiveBroken,
}

var ruleSymbols = map[Rule]string{
	RuleBlocked: "FILETYPE_BLOCKED", RuleDoubleExt: "FILETYPE_DOUBLE_EXT", RuleBidiName: "FILETYPE_BIDI_NAME",
	RuleExecutable: "FILETYPE_EXECUTABLE", RuleDisguised: "FILETYPE_DISGUISED", RuleMismatch: "FILETYPE_MISMATCH",
	RuleEncrypted: "FILETYPE_ENCRYPTED", RuleMacro: "FILETYPE_MACRO", RuleBomb: "FILETYPE_ARCHIVE_BOMB",
	RuleArchiveDepth: "FILETYPE_ARCHIVE_DEPTH", RuleArchiveBroken: "FILETYPE_ARCHIVE_BROKEN",
}

// Symbol returns the symbol the check reports for the rule.
func (r Rule) Symbol() string { return ruleSymbols[r] }

// Finding is one thing a rule found in one file or archive member.
type Finding struct {
	Rule Rule
	// Path names the file: the attachment's name, then each archive
	// member below it ("docs.zip/inner.zip/evil.exe"). Control and
	// bidirectional characters are written as <U+202E>.
	Path string
	// Detail says why ("extension .exe",
	// "application/vnd.microsoft.portable-executable").
	Detail string
}

func (f Finding) String() string { return f.Path + ": " + f.Detail }

// Options configure an Inspector. Zero fields take the defaults.
type Options struct {
	// Blocked lists the refused extensions, lower case, without the dot;
	// nil means DefaultBlocked, an empty non-nil slice blocks none.
	Blocked []string
	// ArchiveDepth is how many levels of archives are opened (default 3):
	// an archive found deeper is reported, not opened.
	ArchiveDepth int
	// MaxEntries caps the archive members looked at across one Scan, all
	// archives and nesting levels together (default 10000).
	MaxEntries int
	// MaxBytes caps the bytes decompressed across one Scan (default
	// 512 MiB). It is counted while decompressing; no more than this is
	// ever decompressed.
	MaxBytes int64
	// MaxRatio caps the compression ratio of one member or stream once it
	// is past 1 MiB (default 100).
	MaxRatio float64
	// SkipArchives leaves archives closed: names and types are still
	// judged, members are not.
	SkipArchives bool
	// ExecutableScripts makes #! scripts executables wherever they are.
	ExecutableScripts bool
	// MaxDictionary caps the decoder memory a 7z or RAR member may ask for
	// (LZMA, LZMA2 and RAR dictionaries, PPMd models); a larger one is an
	// unreadable archive (default 64 MiB).
	MaxDictionary int64
	// MemoryBytes is how large a nested archive may be and stay in memory
	// while it is inspected; larger ones go to a file in TempDir, removed
	// at once (default 4 MiB).
	MemoryBytes int64
	// TempDir is where large nested archives spill ("": the system's).
	TempDir string
	// MaxFindings caps the findings kept per Scan (default 100).
	MaxFindings int
}

// Defaults of Options.
const (
	DefaultArchiveDepth  = 3
	DefaultMaxEntries    = 10000
	DefaultMaxBytes      = 512 << 20
	DefaultMaxRatio      = 100
	DefaultMaxDictionary = 64 << 20
	DefaultMemoryBytes   = 4 << 20
	DefaultMaxFindings   = 100
)

// ratioFloor is the size a member must pass before its compression ratio
// counts: small files of zeros or repeated cells compress far beyond any
// sane ratio and are harmless.
const ratioFloor = 1 << 20

// Inspector applies the file rules. It is immutable and safe for concurrent
// use; each message gets its own Scan.
type Inspector struct {
	opts    Options
	blocked map[string]bool
}

// New returns an Inspector for o.
func New(o Options) *Inspector {
	if o.Blocked == nil {
		o.Blocked = DefaultBlocked
	}
	orDefault(&o.ArchiveDepth, DefaultArchiveDepth)
	orDefault(&o.MaxEntries, DefaultMaxEntries)
	orDefault(&o.MaxBytes, DefaultMaxBytes)
	orDefault(&o.MaxRatio, DefaultMaxRatio)
	orDefault(&o.MaxDictionary, DefaultMaxDictionary)
	orDefault(&o.MemoryBytes, DefaultMemoryBytes)
	orDefault(&o.MaxFindings, DefaultMaxFindings)
	in := &Inspector{opts: o, blocked: make(map[string]bool, len(o.Blocked))}
	for _, e := range o.Blocked {
		if e, ok := NormalizeExtension(e); ok {
			in.blocked[e] = true
		}
	}
	return in
}

// orDefault sets *v to d when it is zero or negative.
func orDefault[T int | int64 | float64](v *T, d T) {
	if *v <= 0 {
		*v = d
	}
}

// Blocked reports whether ext (lower case, no dot) is refused.
func (in *Inspector) Blocked(ext string) bool { return in.blocked[ext] }

// Inspect judges one file on its own: a Scan of one.
func (in *Inspector) Inspect(ctx context.Context, name, declaredType string, r io.ReaderAt, size int64) ([]Finding, error) {
	return in.NewScan().Inspect(ctx, File{Name: name, ContentType: declaredType, R: r, Size: size})
}

// NewScan starts the inspection of one message: the entry and byte caps
// hold across every file inspected through it.
func (in *Inspector) NewScan() *Scan { return &Scan{in: in, opts: &in.opts} }

// File is one file to inspect.
type File struct {
	// Name is the file name the sender declared ("" when none).
	Name string
	// Label names a file that has no name in findings ("part 2");
	// default "unnamed".
	Label string
	// ContentType is the declared media type, lower case, without
	// parameters ("" when none).
	ContentType string
	R           io.ReaderAt
	Size        int64
}

// Scan is the inspection of one message. It is not safe for concurrent
// use.
type Scan struct {
	in   *Inspector
	opts *Options

	entries  int
	bytes    int64
	findings []Finding
	dropped  int
	// ioErr is the first read error of the content itself (a spool file,
	// the message store), as opposed to a broken archive.
	ioErr error
	// over is the cap the message already went past, if any.
	over string
}

// Stats is what a Scan has done.
type Stats struct {
	Entries  int   // archive members looked at
	Bytes    int64 // bytes decompressed
	Findings int   // findings, including those past MaxFindings
}

// Stats returns the Scan's counters.
func (s *Scan) Stats() Stats {
	return Stats{Entries: s.entries, Bytes: s.bytes, Findings: len(s.findings) + s.dropped}
}

// Findings returns every finding kept so far.
func (s *Scan) Findings() []Finding { return s.findings }

// Inspect judges one file and returns what it found in it. The error is
// only for what prevented a judgement: ctx ended, or reading the content
// itself failed. A broken or hostile archive is a finding, not an error.
func (s *Scan) Inspect(ctx context.Context, f File) ([]Finding, error) {
	start := len(s.findings)
	label := f.Name
	if label == "" {
		label = f.Label
	}
	if label == "" {
		label = "unnamed"
	}
	n := node{path: displayName(label), name: parseName(f.Name), declared: f.ContentType}
	err := s.file(ctx, n, &guard{r: f.R, s: s}, f.Size, true)
	if err == nil {
		err = ctx.Err()
	}
	return s.findings[start:], err
}

// node is a file being judged: an attachment or an archive member.
type node struct {
	path     string
	name     nameInfo
	declared string
	// depth counts the archives around the file: 0 for an attachment.
	depth int
}

// child returns the node of an archive member named name.
func (n node) child(name string) node {
	return node{path: n.path + "/" + displayName(name), name: parseName(name), depth: n.depth + 1}
}

func (s *Scan) add(r Rule, path, detail string) {
	if len(s.findings) >= s.opts.MaxFindings {
		s.dropped++
		return
	}
	s.findings = append(s.findings, Finding{Rule: r, Path: path, Detail: detail})
}

// names applies the name rules.
func (s *Scan) names(n node) {
	nm := n.name
	if nm.raw == "" {
		return
	}
	if len(nm.bidi) > 0 {
		var b strings.Builder
		b.WriteString("bidirectional control")
		for _, r := range nm.bidi {
			b.WriteByte(' ')
			b.WriteString(strings.Trim(runeCode(r), "<>"))
		}
		b.WriteString(" in name, judged as ")
		b.WriteString(strconv.Quote(nm.clean))
		s.add(RuleBidiName, n.path, b.String())
	}
	if nm.ext == "" || !s.in.blocked[nm.ext] {
		return
	}
	detail := "extension ." + nm.ext
	if nm.trimmed {
		detail += " (trailing dots or spaces removed)"
	}
	s.add(RuleBlocked, n.path, detail)
	if decoys[nm.inner] {
		s.add(RuleDoubleExt, n.path, "."+nm.ext+" hidden behind ."+nm.inner)
	}
}

// content applies the type rules to sniffed content.
func (s *Scan) content(n node, t sniffed, head []byte) {
	ext, decl := claims(n.name, n.declared)
	disguise := func(c claim) {
		s.add(RuleDisguised, n.path, t.mime+" "+c.desc)
	}
	switch t.kind {
	case kindProgram, kindDiskImage:
		s.add(RuleExecutable, n.path, t.mime)
	case kindScript:
		if s.opts.ExecutableScripts {
			s.add(RuleExecutable, n.path, t.mime)
		}
		// A script is text: it disguises itself only as a non-text type.
		switch {
		case ext.families != nil && !ext.has("text"):
			disguise(ext)
		case ext.families == nil && decl.families != nil && !decl.has("text"):
			disguise(decl)
		}
		return
	}
	switch t.kind {
	case kindProgram, kindDiskImage, kindRisky:
		switch {
		case ext.families != nil:
			disguise(ext)
		case decl.families != nil:
			disguise(decl)
		}
		return
	}
	if !t.judged() {
		return
	}
	c := ext
	if c.families == nil {
		c = decl
	}
	if c.families != nil && !c.accepts(t, head) {
		s.add(RuleMismatch, n.path, t.mime+" "+c.desc)
	}
}

// file judges content that can be read at any offset.
func (s *Scan) file(ctx context.Context, n node, r io.ReaderAt, size int64, checkName bool) error {
	if checkName {
		s.names(n)
	}
	if size <= 0 {
		return nil
	}
	buf := getHead()
	defer putHead(buf)
	head := buf[:min(int64(len(buf)), size)]
	if _, err := r.ReadAt(head, 0); err != nil && !errors.Is(err, io.EOF) {
		return s.readErr(err)
	}
	var tail []byte
	if size > int64(len(head)) {
		tail = make([]byte, min(tailLen, size))
		if _, err := r.ReadAt(tail, size-int64(len(tail))); err != nil && !errors.Is(err, io.EOF) {
			return s.readErr(err)
		}
	} else {
		tail = head[max(0, len(head)-tailLen):]
	}
	t := sniff(head, tail)
	s.content(n, t, head)
	return s.container(ctx, n, t, r, size)
}

// opens reports whether content of kind k is opened at n's depth.
func (s *Scan) opens(n node, k kind) bool {
	switch k {
	case kindOLE:
		return true
	case kindZip, kindGzip, kindTar, kind7z, kindRar:
		return !s.opts.SkipArchives && n.depth < s.opts.ArchiveDepth
	}
	return false
}

// container opens archives and Office compound files. r may be nil when
// the content was only streamed past (then nothing is opened).
func (s *Scan) container(ctx context.Context, n node, t sniffed, r io.ReaderAt, size int64) error {
	switch t.kind {
	case kindZip, kindGzip, kindTar, kind7z, kindRar:
		if s.opts.SkipArchives {
			return nil
		}
		if n.depth >= s.opts.ArchiveDepth {
			s.add(RuleArchiveDepth, n.path, fmt.Sprintf("%s inside %d archives, not opened", t.mime, n.depth))
			return nil
		}
	case kindOLE:
	default:
		return nil
	}
	if r == nil {
		return nil
	}
	var err error
	switch t.kind {
	case kindZip:
		err = s.zip(ctx, n, r, size)
	case kindGzip:
		err = s.gzip(ctx, n, r, size)
	case kindTar:
		err = s.tarFile(ctx, n, r, size)
	case kind7z:
		err = s.sevenZip(ctx, n, r, size)
	case kindRar:
		err = s.rar(ctx, n, r, size)
	case kindOLE:
		err = s.ole(n, r, size)
	}
	return s.settle(ctx, n, err)
}

// settle sorts out an archive's error: a broken archive becomes a finding
// here; caps, cancellation and read errors go up to the attachment, where
// a cap becomes one bomb finding.
func (s *Scan) settle(ctx context.Context, n node, err error) error {
	if err == nil {
		return nil
	}
	if s.ioErr != nil {
		return s.ioErr
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	var be *bombError
	if errors.As(err, &be) {
		if n.depth > 0 {
			return err
		}
		s.add(RuleBomb, be.path, be.reason)
		return nil
	}
	s.add(RuleArchiveBroken, n.path, brokenDetail(err))
	return nil
}

// brokenDetail shortens a library's error to one line.
func brokenDetail(err error) string {
	msg := err.Error()
	if i := strings.IndexAny(msg, "\r\n"); i >= 0 {
		msg = msg[:i]
	}
	if len(msg) > 200 {
		msg = msg[:200]
	}
	return "unreadable: " + strings.ToValidUTF8(msg, "?")
}

// bombError is a cap reached: too many entries or bytes, or a member
// that expands too much.
type bombError struct {
	path   string
	reason string
}

func (e *bombError) Error() string { return "filetype: " + e.path + ": " + e.reason }

// entry counts one archive member against the cap.
func (s *Scan) entry(archive string) error {
	if s.over != "" {
		return &bombError{path: archive, reason: s.over}
	}
	s.entries++
	if s.entries > s.opts.MaxEntries {
		s.over = "more than " + strconv.Itoa(s.opts.MaxEntries) + " archive entries in the message"
		return &bombError{path: archive, reason: s.over}
	}
	return nil
}

// next is called before each archive member: it honours ctx and counts
// the entry against the cap.
func (s *Scan) next(ctx context.Context, archive string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return s.entry(archive)
}

// stops reports whether err ends the whole inspection (a cap, the end of
// ctx, a read failure) rather than one damaged member.
func (s *Scan) stops(ctx context.Context, err error) bool {
	return s.ioErr != nil || ctx.Err() != nil || isBomb(err)
}

// sealed records an encrypted member: its name is judged, its content
// cannot be.
func (s *Scan) sealed(child node, list *[]string) {
	s.names(child)
	*list = append(*list, child.path)
}

// declared checks a member's declared sizes before it is read, so that an
// honest bomb is refused without decompressing anything; a lying one is
// caught while reading.
func (s *Scan) declared(path string, size, comp int64) error {
	if size < 0 {
		return nil
	}
	if s.bytes+size > s.opts.MaxBytes {
		s.over = "more than " + formatSize(s.opts.MaxBytes) + " uncompressed in the message (member declares " + formatSize(size) + ")"
		return &bombError{path: path, reason: s.over}
	}
	if comp > 0 && size > ratioFloor && float64(size) > s.opts.MaxRatio*float64(comp) {
		return &bombError{path: path, reason: fmt.Sprintf("compression ratio %.0f above %g", float64(size)/float64(comp), s.opts.MaxRatio)}
	}
	return nil
}

func formatSize(n int64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return strconv.FormatInt(n>>30, 10) + " GiB"
	case n >= 1<<20 && n%(1<<20) == 0:
		return strconv.FormatInt(n>>20, 10) + " MiB"
	case n >= 1<<10 && n%(1<<10) == 0:
		return strconv.FormatInt(n>>10, 10) + " KiB"
	}
	return strconv.FormatInt(n, 10) + " bytes"
}

// meter counts decompressed bytes as they are read and stops at the caps.
// It never asks the decompressor for more than the bytes left plus one, so
// no more than the cap is ever decompressed.
type meter struct {
	ctx  context.Context
	s    *Scan
	r    io.Reader
	path string
	// comp is the compressed size behind r (0: not compressed, no ratio).
	comp int64
	// n counts this stream's bytes; shared points to a counter several
	// meters add to (the members of one 7z folder).
	n      int64
	shared *int64
	next   int64 // n at which ctx is checked again
}

func (s *Scan) meter(ctx context.Context, r io.Reader, path string, comp int64) *meter {
	return &meter{ctx: ctx, s: s, r: r, path: path, comp: comp}
}

func (m *meter) Read(p []byte) (int, error) {
	s := m.s
	if s.over != "" {
		return 0, &bombError{path: m.path, reason: s.over}
	}
	left := s.opts.MaxBytes - s.bytes
	if int64(len(p)) > left+1 {
		p = p[:left+1]
	}
	n, err := m.r.Read(p)
	m.n += int64(n)
	s.bytes += int64(n)
	total := m.n
	if m.shared != nil {
		*m.shared += int64(n)
		total = *m.shared
	}
	if s.bytes > s.opts.MaxBytes {
		s.over = "more than " + formatSize(s.opts.MaxBytes) + " uncompressed in the message"
		return n, &bombError{path: m.path, reason: s.over}
	}
	if m.comp > 0 && total > ratioFloor && float64(total) > s.opts.MaxRatio*float64(m.comp) {
		return n, &bombError{path: m.path, reason: fmt.Sprintf("expands more than %g times (%s from %s)", s.opts.MaxRatio, formatSize(total), formatSize(m.comp))}
	}
	if m.n >= m.next {
		m.next = m.n + 1<<20
		if err := m.ctx.Err(); err != nil {
			return n, err
		}
	}
	return n, err
}

// guard remembers the first failure to read content the scan was given
// (or spooled), so that it is told apart from a broken archive.
type guard struct {
	r io.ReaderAt
	s *Scan
}

func (g *guard) ReadAt(p []byte, off int64) (int, error) {
	n, err := g.r.ReadAt(p, off)
	if err != nil && !errors.Is(err, io.EOF) && g.s.ioErr == nil {
		g.s.ioErr = fmt.Errorf("filetype: reading content: %w", err)
	}
	return n, err
}

func (s *Scan) readErr(err error) error {
	if s.ioErr == nil {
		s.ioErr = fmt.Errorf("filetype: reading content: %w", err)
	}
	return s.ioErr
}

// stream judges an archive member that can only be read once. A member
// that is itself an archive or an Office compound file is kept (in memory
// or a temporary file) and opened; any other is read to its end, so that
// every byte is counted and checksummed, keeping only its head and tail.
func (s *Scan) stream(ctx context.Context, n node, rd io.Reader) error {
	s.names(n)
	buf := getHead()
	defer putHead(buf)
	k, err := io.ReadFull(rd, buf)
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
		return err
	}
	head := buf[:k]
	if k < len(buf) { // the whole member is in head
		t := sniff(head, head[max(0, k-tailLen):])
		s.content(n, t, head)
		if t.kind == kindOther || !s.opens(n, t.kind) {
			return s.container(ctx, n, t, nil, int64(k))
		}
		return s.container(ctx, n, t, bytes.NewReader(bytes.Clone(head)), int64(k))
	}
	t := sniff(head, nil)
	if s.opens(n, t.kind) {
		sp := spool.New(s.opts.MemoryBytes, s.opts.TempDir)
		defer sp.Close()
		w := &writeErr{w: sp}
		if _, err := w.Write(head); err != nil {
			return s.readErr(err)
		}
		cb := getCopy()
		_, err := io.CopyBuffer(w, rd, cb)
		putCopy(cb)
		if err != nil {
			if w.err != nil {
				return s.readErr(w.err)
			}
			return err
		}
		return s.file(ctx, n, &guard{r: sp, s: s}, sp.Size(), false)
	}
	tw := &tailWriter{}
	cb := getCopy()
	_, err = io.CopyBuffer(tw, rd, cb)
	putCopy(cb)
	if err != nil {
		return err
	}
	t = sniff(head, tw.bytes())
	s.content(n, t, head)
	return s.container(ctx, n, t, nil, 0)
}

// tailWriter keeps the last tailLen bytes written to it.
type tailWriter struct {
	buf [2 * tailLen]byte
	n   int
}

func (w *tailWriter) Write(p []byte) (int, error) {
	l := len(p)
	if len(p) >= tailLen {
		copy(w.buf[:], p[len(p)-tailLen:])
		w.n = tailLen
		return l, nil
	}
	if w.n+len(p) > len(w.buf) {
		copy(w.buf[:], w.buf[w.n+len(p)-tailLen:w.n])
		w.n = tailLen - len(p)
	}
	w.n += copy(w.buf[w.n:], p)
	return l, nil
}

func (w *tailWriter) bytes() []byte { return w.buf[max(0, w.n-tailLen):w.n] }

var (
	headPool = sync.Pool{New: func() any { b := make([]byte, headLen); return &b }}
	copyPool = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}
)

func getHead() []byte  { return *headPool.Get().(*[]byte) }
func putHead(b []byte) { headPool.Put(&b) }
func getCopy() []byte  { return *copyPool.Get().(*[]byte) }
func putCopy(b []byte) { copyPool.Put(&b) }
