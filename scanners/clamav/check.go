package clamav

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/mamori-mail/mamori/rules/check"
	"github.com/mamori-mail/mamori/scanners/mimepart"
	"gopkg.in/yaml.v3"
)

// Symbols the check reports.
const (
	// SymbolVirus is one signature clamd found, with "<signature> in
	// <attachment>" as detail; one per finding.
	SymbolVirus = "CLAMAV_VIRUS"
	// SymbolUnscanned says which parts were not scanned because of their
	// size; one per message.
	SymbolUnscanned = "CLAMAV_UNSCANNED"
)

// wholeMessage labels the scan of the raw message.
const wholeMessage = "the whole message"

// Checker is the clamav check: every decoded leaf part of a message, and
// the raw message when its MIME structure is broken, scanned by clamd.
type Checker struct {
	scanner     *Scanner
	limits      check.ContentLimits
	outcome     check.Outcome
	unscanned   check.Outcome
	reply       check.Reply
	scanRaw     bool
	perPart     bool
	concurrency int
}

var _ check.Check = (*Checker)(nil)

func init() {
	check.Register(check.Registration{Name: "clamav", Factory: factory, DefaultOn: false, FailurePolicy: check.FailTempfail, Timeout: 60 * time.Second,
		Symbols: []string{SymbolVirus, SymbolUnscanned}})
}

func factory(node *yaml.Node, env check.Env) (check.Check, error) {
	var cfg Config
	if err := check.DecodeStrict(node, &cfg, "checks.clamav"); err != nil {
		return nil, err
	}
	s, err := cfg.compile(node)
	if err != nil {
		return nil, err
	}
	s.opts.Logger = env.Log
	return newChecker(s, env), nil
}

func newChecker(s settings, env check.Env) *Checker {
	return &Checker{
		scanner:     New(s.opts),
		limits:      env.Content,
		outcome:     s.outcome,
		unscanned:   s.unscanned,
		reply:       s.reply,
		scanRaw:     s.scanRaw,
		perPart:     s.perPart,
		concurrency: s.concurrency,
	}
}

// Name implements check.Check.
func (c *Checker) Name() string { return "clamav" }

// Stages implements check.Check: the content is complete only at end of
// message.
func (c *Checker) Stages() check.StageMask { return check.Stages(check.EOM) }

// Start starts the background health probe; the daemon calls it when the
// pipeline starts serving (check.Starter). Run starts it too, for tools
// that never call Start; it does no I/O itself.
func (c *Checker) Start() { c.scanner.Start() }

// Close implements check.Check; it stops the health probe.
func (c *Checker) Close() error { return c.scanner.Close() }

// Scanner returns the check's clamd client.
func (c *Checker) Scanner() *Scanner { return c.scanner }

// item is one stream to scan and what came of it.
type item struct {
	label string
	size  int64
	open  func() io.Reader
	raw   bool

	rep Report
	err error
}

// Run implements check.Check.
func (c *Checker) Run(ctx context.Context, m *check.Message, st check.Stage) (check.Result, error) {
	if st != check.EOM {
		return check.Result{}, nil
	}
	c.scanner.Start()
	walk, err := mimepart.ForMessage(ctx, m, c.limits)
	if err != nil {
		return check.Result{}, fmt.Errorf("clamav: reading the message: %w", err)
	}
	var parts []*item
	for _, p := range walk.Parts {
		if p.Size == 0 {
			continue
		}
		parts = append(parts, &item{label: p.Label(), size: p.Size, open: func() io.Reader { return p.Open() }})
	}
	raw := rawItem(m)
	var items []*item
	var firstErr error
	switch {
	case !c.perPart && raw.size <= c.scanner.MaxSize():
		// One scan per message, as clamav-milter does: clamd's own cost is
		// mostly per stream, so this is the cheap path for clean mail.
		// Where Mamori's parser found the structure broken, the parts as
		// Mamori decoded them are scanned too, so that a disagreement
		// between clamd's MIME parser and a mail client's cannot hide a
		// payload.
		items = []*item{raw}
		if len(walk.Anomalies) > 0 {
			items = append(parts, raw)
		}
		firstErr = c.scanAll(ctx, items)
		if firstErr == nil && raw.rep.Status == Infected && len(items) == 1 {
			// Name the carrier: scan the parts. A failure here leaves the
			// finding on the whole message, which still decides.
			_ = c.scanAll(ctx, parts)
			items = append(parts, raw)
		}
	default:
		items = parts
		if c.scanRaw && len(walk.Anomalies) > 0 && raw.size <= c.scanner.MaxSize() {
			items = append(items, raw)
		}
		firstErr = c.scanAll(ctx, items)
	}
	res := c.result(items)
	if firstErr != nil && res.Decision == nil {
		// Not everything was scanned and nothing found settles the
		// message: the engine applies on_error.
		return check.Result{}, firstErr
	}
	return res, nil
}

// scanAll scans the items in parallel, at most c.concurrency at a time for
// this message (the Scanner bounds all messages together). After the first
// failure the rest are cancelled: the message cannot pass anyway.
func (c *Checker) scanAll(ctx context.Context, items []*item) error {
	if len(items) == 0 {
		return nil
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		next     atomic.Int64
		wg       sync.WaitGroup
		errOnce  sync.Once
		firstErr error
	)
	for range min(len(items), c.concurrency) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= len(items) || ctx.Err() != nil {
					return
				}
				it := items[i]
				it.rep, it.err = c.scanner.Scan(ctx, it.open(), it.size)
				if it.err != nil {
					errOnce.Do(func() { firstErr = it.err })
					cancel()
				}
			}
		}()
	}
	wg.Wait()
	if firstErr == nil && ctx.Err() != nil {
		firstErr = ctx.Err()
	}
	return firstErr
}

// result turns the scans into symbols and at most one decision: the first
// infection in part order decides, every infection is reported.
func (c *Checker) result(items []*item) check.Result {
	var res check.Result
	seen := map[string]bool{}
	var unscanned []string
	for _, it := range items {
		switch it.rep.Status {
		case Infected:
			for _, raw := range it.rep.Signatures {
				sig := CleanSignature(raw)
				if it.raw && seen[sig] {
					continue // already reported for the part it is in
				}
				seen[sig] = true
				detail := sig + " in " + cleanLabel(it.label)
				c.outcome.Apply(&res, SymbolVirus, detail, c.replyFor(sig), "malware "+detail)
			}
		case Unscanned:
			unscanned = append(unscanned, it.label+" ("+it.rep.Reason+")")
		}
	}
	if len(unscanned) > 0 {
		detail := joinLimited(unscanned, 5)
		c.unscanned.Apply(&res, SymbolUnscanned, detail, check.Reply{}, "not scanned for malware: "+detail)
	}
	return res
}

// replyFor returns the reject reply naming sig; other outcomes use the
// engine's configured replies.
func (c *Checker) replyFor(sig string) check.Reply {
	if c.outcome.Action != check.ActReject {
		return check.Reply{}
	}
	r := c.reply
	r.Text = strings.ReplaceAll(r.Text, "{signature}", sig)
	return r
}

// rawItem is the message as received: header fields, blank line, body.
// clamd parses mail itself (its ScanMail option, on by default).
func rawItem(m *check.Message) *item {
	head := m.HeaderBytes()
	size := int64(len(head))
	if m.Body != nil {
		size += m.Body.Size()
	}
	return &item{label: wholeMessage, size: size, raw: true, open: func() io.Reader {
		if m.Body == nil {
			return bytes.NewReader(head)
		}
		return io.MultiReader(bytes.NewReader(head), io.NewSectionReader(m.Body, 0, m.Body.Size()))
	}}
}

// maxSignature bounds a signature name in replies and reports.
const maxSignature = 100

// CleanSignature makes a signature name safe for an SMTP reply and the
// report: printable ASCII without spaces, at most 100 bytes. Anything else
// becomes "?".
func CleanSignature(s string) string {
	var b strings.Builder
	for i := 0; i < len(s) && b.Len() < maxSignature; i++ {
		if c := s[i]; c > ' ' && c < 0x7f {
			b.WriteByte(c)
		} else {
			b.WriteByte('?')
		}
	}
	if b.Len() == 0 {
		return "unnamed"
	}
	return b.String()
}

// maxLabel bounds a part label in symbol details.
const maxLabel = 200

// cleanLabel keeps a sender-chosen file name printable in logs and the
// audit record: control and other unprintable characters become "?".
func cleanLabel(s string) string {
	var b strings.Builder
	for _, r := range s {
		if b.Len() >= maxLabel {
			b.WriteString("…")
			break
		}
		if r == utf8.RuneError || !unicode.IsPrint(r) {
			r = '?'
		}
		b.WriteRune(r)
	}
	return b.String()
}

func joinLimited(list []string, n int) string {
	var b strings.Builder
	for i, s := range list {
		if i == n {
			b.WriteString(" and " + strconv.Itoa(len(list)-n) + " more")
			break
		}
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(cleanLabel(s))
	}
	return b.String()
}
