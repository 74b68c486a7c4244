package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/mamori-mail/mamori/internal/config"
	"github.com/mamori-mail/mamori/internal/daemon"
	"github.com/mamori-mail/mamori/internal/mailfile"
	"github.com/mamori-mail/mamori/reputation/bayes"
)

// Batching: the learner tokenizes messages without the database, then
// opens it read-write, writes at most learnBatch messages (or
// learnBatchTokens token hashes, or what learnBatchAge gathered) in one
// transaction and closes it again, so that the daemon, which opens the file
// read-only for each message and waits at most 300 ms for it, classifies
// between batches.
const (
	learnBatch = 100
	// learnBatchTokens keeps a batch's write short: bbolt splits pages only
	// at commit, so one transaction's inserts grow in-memory nodes whose
	// cost rises with their size, and the daemon's readers wait for the
	// whole write (a review measured 100,000 tokens at 1.3 s on a database
	// of a million, well past the readers' 300 ms).
	learnBatchTokens = 15_000
	learnBatchAge    = 2 * time.Second
	// learnLockTimeout bounds the wait for the file while another process
	// holds it: another learner for a whole batch, the daemon for a moment.
	learnLockTimeout = 10 * time.Second
	// progressEvery is the least time between two progress lines.
	progressEvery = 250 * time.Millisecond
)

// afterBatch is called after each batch is written, with the database's
// new stats; tests use it to see that readers get in between batches.
var afterBatch = func(bayes.Stats) {}

// errNotMessage marks a file without a header section.
var errNotMessage = errors.New("not a message: no header fields")

const learnUsage = `Usage: mamori learn --spam|--ham [flags] FILE|DIR|- ...
       mamori learn --forget [--spam|--ham] [flags] FILE|DIR|- ...
       mamori learn --expire [--max-age 180d] [--max-count 1] [flags]

Teaches the Bayes classifier (checks.bayes) what spam and what ham (wanted
mail) look like, from message files. mamori serve and mamori check use what
it learns with no further setup. The classifier says nothing until it has
learned 200 spam and 200 ham messages (checks.bayes min_spam and min_ham);
the summary says how many more each class needs.

Input: message files (.eml, Maildir, MH), mbox files (split at each "From "
line after an empty line; ">From " lines lose one ">", as in mboxrd), and
- for standard input. Directories are read recursively; in a Maildir only
cur/ and new/ (tmp/ holds mail still being delivered). Files and folders
whose names start with a dot are skipped, such as the Maildir++ subfolders
.Junk and .Trash of ~/Maildir: name such a folder to learn it.

Database: --db, else the path of checks.bayes in the configuration, else
bayes.db in the data directory (--data-dir, $MAMORI_DATA_DIR, the config's
data_dir, else /var/lib/mamori as root), as mamori serve finds it. It is
created if missing. Run learn as the user the daemon runs as, so that the
daemon can read the file (it is created with mode 0600). When checks.bayes
has a redis section (and no --db is given), the tokens go to that Redis,
where every Mamori instance reads them.

Relearning is safe: a message already learned as the same class counts once
(the summary says "already known"), and one learned as the other class is
moved to this one. --forget takes messages back out; with --spam or --ham it
only takes out those learned as that class.

The daemon need not be stopped: learn writes at most 100 messages (15,000
tokens) at a time and lets go of the database in between, so the daemon
keeps classifying; a message arriving during a write waits for it.

--expire removes what no longer helps: tokens neither learned nor seen in
scored mail for more than --max-age (the daemon records what it scores
with every 10 minutes) that occur in at most --max-count learned messages (rare and
old: typos, one-off names, last year's campaigns), and the records of
messages learned more than twice --max-age ago (such a message, learned
again, counts again). The totals stay, as SpamAssassin's expiry leaves
them. Run it from cron, weekly or monthly, at a quiet hour: the daemon
need not stop, but it cannot read the database while expiry runs (seconds
for a million tokens) and judges those messages without the classifier.

Exit status: 0 every message was learned; 1 some files could not be read or
parsed (each listed on standard error as FILE: reason) but the others were
learned, or learn was interrupted; 2 bad flags or configuration, or the
database could not be opened (another mamori learn holding it: wait for it
to finish, then run the same command again).

Examples:
  mamori learn --spam ~/Maildir/.Junk
  mamori learn --ham /var/mail/alice
  mamori learn --ham --config /etc/mamori/mamori.yaml ~/Maildir/cur ~/Maildir/new
  mamori learn --forget --spam wrongly-learned.eml
  mamori learn --expire --max-age 365d

Flags:
`

func cmdLearn(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fset := flag.NewFlagSet("learn", flag.ContinueOnError)
	fset.SetOutput(stderr)
	var o daemon.Options
	commonFlags(fset, &o)
	var (
		spam, ham, forget bool
		dbPath, prog      string
	)
	fset.BoolVar(&spam, "spam", false, "the messages are spam")
	fset.BoolVar(&ham, "ham", false, "the messages are ham (wanted mail)")
	fset.BoolVar(&forget, "forget", false, "unlearn the messages (with --spam or --ham: only those learned as that class)")
	fset.StringVar(&dbPath, "db", "", "token database `path` (default: checks.bayes path in the configuration, else bayes.db in the data directory)")
	var expire bool
	var maxAge string
	var maxCount uint
	fset.BoolVar(&expire, "expire", false, "remove old rare tokens and old learned-message records instead of learning (see below)")
	fset.StringVar(&maxAge, "max-age", "180d", "with --expire: `age` (days as 180d, or a duration as 4320h) after which a rare token goes")
	fset.UintVar(&maxCount, "max-count", 1, "with --expire: a token seen in at most this many learned messages is rare; 0 removes every old token, whatever its count")
	fset.StringVar(&prog, "progress", "auto", "show a progress line on standard error: `auto` (when it is a terminal), always or never")
	fset.Usage = func() {
		fmt.Fprint(stderr, learnUsage)
		fset.PrintDefaults()
	}
	if err := fset.Parse(args); err != nil {
		return exitUsage
	}
	if expire {
		age, err := parseAge(maxAge)
		switch {
		case err != nil:
			fmt.Fprintf(stderr, "mamori learn: --max-age %q: %v\n", maxAge, err)
			return exitUsage
		case spam || ham || forget || fset.NArg() > 0:
			fmt.Fprintln(stderr, "mamori learn: --expire takes no messages and no --spam, --ham or --forget")
			return exitUsage
		}
		if maxCount > math.MaxUint32 {
			fmt.Fprintf(stderr, "mamori learn: --max-count %d: at most %d\n", maxCount, uint64(math.MaxUint32))
			return exitUsage
		}
		return runExpire(o, dbPath, age, uint32(maxCount), stdout, stderr)
	}
	switch {
	case spam && ham:
		fmt.Fprintln(stderr, "mamori learn: --spam and --ham exclude each other: learn the spam and the ham folders in two runs")
		return exitUsage
	case !spam && !ham && !forget:
		fmt.Fprintln(stderr, "mamori learn: say what the messages are: --spam or --ham (or --forget to unlearn them); see mamori learn -h")
		return exitUsage
	case prog != "auto" && prog != "always" && prog != "never":
		fmt.Fprintf(stderr, "mamori learn: --progress %q: want auto, always or never\n", prog)
		return exitUsage
	case fset.NArg() == 0:
		fmt.Fprintln(stderr, "mamori learn: name at least one FILE, DIR or - (see mamori learn -h)")
		return exitUsage
	}
	cfg, bc, enabled, err := learnConfig(o)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return exitUsage
	}
	if dbPath != "" {
		bc.Path = dbPath
	}
	var shared *bayes.Redis
	var stats bayes.Stats
	if bc.Redis != nil && dbPath == "" {
		// One store for the whole run: Redis has no file lock to release.
		if shared, err = bc.OpenRedis(); err == nil {
			defer shared.Close()
			stats, err = shared.Stats(context.Background())
		}
		if err != nil {
			fmt.Fprintf(stderr, "mamori learn: %s: %v\n", bc.Where(), err)
			return exitUsage
		}
	} else {
		bc.Redis = nil
		if err := os.MkdirAll(filepath.Dir(bc.Path), 0o750); err != nil {
			fmt.Fprintf(stderr, "mamori learn: %v\n", err)
			return exitUsage
		}
		if stats, err = prepareDB(bc.Path); err != nil {
			fmt.Fprintln(stderr, dbProblem(bc.Path, err))
			return exitUsage
		}
	}
	if !enabled {
		fmt.Fprintf(stderr, "mamori learn: note: checks.bayes is disabled in %s; set enabled: true for the daemon to use %s\n", cfg.File, bc.Where())
	}

	l := &learner{
		path: bc.Path, where: bc.Where(), shared: shared, class: classOf(spam, ham), forget: forget, stats: stats,
		tz:  bayes.Tokenizer{Content: cfg.Limits.Content()},
		lim: cfg.Limits.MailLimits(),
	}
	if forget {
		l.only, l.class = l.class, bayes.None
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	pg := &progress{w: stderr, on: prog == "always" || prog == "auto" && isTerminal(stderr)}
	fail := func(name string, err error) {
		l.unreadable++
		pg.clear()
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
	}
	inputs := collectInputs(fset.Args(), fail)
	pg.start(len(inputs), inputs)
	var dbErr error
	interrupted := false
	// learnFile learns the messages of one file; false stops the run.
	learnFile := func(in input) bool {
		defer pg.fileDone(in.size)
		r := stdin
		if in.path != "-" {
			f, err := os.Open(in.path)
			if err != nil {
				fail(in.path, err)
				return true
			}
			defer f.Close()
			r = f
		}
		mr := newMboxReader(r)
		for k := 1; ; k++ {
			msg := mr.Next()
			if msg == nil {
				break
			}
			err := l.learnOne(ctx, msg)
			_, _ = io.Copy(io.Discard, msg) // on to the next message, whatever Parse left
			if ctx.Err() != nil {
				interrupted = true
				return false
			}
			if err != nil {
				name := in.path
				if mr.mbox {
					name = fmt.Sprintf("%s: message %d", in.path, k)
				}
				fail(name, err)
			}
			if k == 2 {
				pg.mbox = true
			}
			pg.message(mr.read)
			if l.due() {
				if dbErr = l.flush(); dbErr != nil {
					return false
				}
			}
		}
		if mr.err != nil {
			fail(in.path, mr.err)
		}
		return true
	}
	for _, in := range inputs {
		if ctx.Err() != nil {
			interrupted = true
			break
		}
		if !learnFile(in) {
			break
		}
	}
	if dbErr == nil {
		dbErr = l.flush()
	}
	pg.finish()
	fmt.Fprint(stdout, l.summary(bc))
	switch {
	case dbErr != nil:
		fmt.Fprintf(stderr, "%s\n%s read but not learned; run the same command again: what was learned is skipped\n", dbProblem(bc.Where(), dbErr), plural(l.lost, "message"))
		return exitUsage
	case interrupted:
		fmt.Fprintln(stderr, "mamori learn: interrupted; run the same command again to go on: what was learned is skipped")
		return exitFailure
	case l.unreadable > 0:
		return exitFailure
	}
	return exitOK
}

// classOf returns the class --spam or --ham names, or bayes.None.
func classOf(spam, ham bool) bayes.Class {
	switch {
	case spam:
		return bayes.Spam
	case ham:
		return bayes.Ham
	}
	return bayes.None
}

// prepareDB makes sure a token database exists at path and can be written,
// and returns its stats. A new file is built under a temporary name and
// linked into place, so that the daemon never opens a file still being
// initialised.
func prepareDB(path string) (bayes.Stats, error) {
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		if err := createDB(path); err != nil {
			return bayes.Stats{}, err
		}
	}
	st, err := bayes.OpenBolt(path, bayes.BoltOptions{Timeout: learnLockTimeout})
	if err != nil {
		return bayes.Stats{}, err
	}
	defer st.Close()
	return st.Stats(context.Background())
}

func createDB(path string) error {
	f, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".*.new")
	if err != nil {
		return err
	}
	tmp := f.Name()
	f.Close()
	defer os.Remove(tmp)
	st, err := bayes.OpenBolt(tmp, bayes.BoltOptions{})
	if err != nil {
		return err
	}
	if err := st.Close(); err != nil {
		return err
	}
	if err := ownLikeDir(tmp); err != nil {
		return err
	}
	// Link fails if another learner made the file meanwhile: keep theirs.
	if err := os.Link(tmp, path); err != nil && !errors.Is(err, fs.ErrExist) {
		return os.Rename(tmp, path) // a file system without hard links
	}
	return nil
}

// dbProblem explains a database that could not be opened or written.
func dbProblem(path string, err error) string {
	switch {
	case errors.Is(err, bolterrors.ErrTimeout):
		return fmt.Sprintf("mamori learn: %s is locked by another process, most likely another mamori learn (the daemon holds it only for a moment); wait for that one to finish, then run this again", path)
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Sprintf("mamori learn: no token database at %s: nothing was learned there yet (name another file with --db, or check checks.bayes.path)", path)
	case errors.Is(err, bayes.ErrFormat):
		return fmt.Sprintf("mamori learn: %v; move the file away and learn again", err)
	case errors.Is(err, bolterrors.ErrInvalid), errors.Is(err, bolterrors.ErrVersionMismatch), errors.Is(err, bolterrors.ErrChecksum):
		return fmt.Sprintf("mamori learn: %v: %s is not a token database, or is damaged; move it away and learn again, or name another file with --db", err, path)
	}
	return fmt.Sprintf("mamori learn: %v", err)
}

// learner tokenizes messages into a pending batch and writes each batch in
// one transaction.
type learner struct {
	path   string
	where  string       // the database for messages: path or Redis servers
	shared *bayes.Redis // the Redis store, or nil for the bolt file at path
	class  bayes.Class  // Spam or Ham; None to forget
	forget bool
	only   bayes.Class // forgetting: keep messages learned as another class (None: any)
	tz     bayes.Tokenizer
	lim    mailfile.Limits

	pending []bayes.Learning
	tokens  int
	since   time.Time

	// done counts messages learned (moved included) or forgotten; known
	// those that were already learned as the class (forgetting: not
	// learned at all); kept those forgetting left in the other class.
	done, moved, known, kept, unreadable int
	lost                                 int // pending when the database failed
	stats                                bayes.Stats
}

// learnOne parses and tokenizes one message into the pending batch.
func (l *learner) learnOne(ctx context.Context, r io.Reader) error {
	m, err := mailfile.Parse(r, l.lim)
	if err != nil {
		return err
	}
	defer m.Body.(io.Closer).Close()
	defer m.Done()
	if len(m.Headers) == 0 {
		return errNotMessage
	}
	toks, err := l.tz.Tokenize(ctx, m)
	if err != nil {
		return err
	}
	id, err := bayes.MessageKey(m)
	if err != nil {
		return err
	}
	if len(l.pending) == 0 {
		l.since = time.Now()
	}
	hashes := bayes.TokenHashes(toks)
	l.pending = append(l.pending, bayes.Learning{ID: id, Class: l.class, Tokens: hashes})
	l.tokens += len(hashes)
	return nil
}

func (l *learner) due() bool {
	return len(l.pending) >= learnBatch || l.tokens >= learnBatchTokens ||
		len(l.pending) > 0 && time.Since(l.since) >= learnBatchAge
}

// flush writes the pending batch: the database is open read-write only
// for it.
func (l *learner) flush() error {
	if len(l.pending) == 0 {
		return nil
	}
	l.lost = len(l.pending)
	if err := l.write(); err != nil {
		return err
	}
	l.pending, l.tokens, l.lost = l.pending[:0], 0, 0
	afterBatch(l.stats)
	return nil
}

func (l *learner) write() error {
	ctx := context.Background() // a batch once started is finished
	var st bayes.Store = l.shared
	if l.shared == nil {
		b, err := bayes.OpenBolt(l.path, bayes.BoltOptions{Timeout: learnLockTimeout})
		if err != nil {
			return err
		}
		defer b.Close()
		st = b
	}
	batch := make([]bayes.Learning, 0, len(l.pending))
	prev := make([]bayes.Class, 0, len(l.pending))
	kept := 0
	for _, p := range l.pending {
		was, err := st.Learned(ctx, p.ID)
		if err != nil {
			return err
		}
		if l.forget && l.only != bayes.None && was != bayes.None && was != l.only {
			kept++
			continue
		}
		batch = append(batch, p)
		prev = append(prev, was)
	}
	changed, err := st.Learn(ctx, time.Now(), batch)
	if err != nil {
		return err
	}
	l.kept += kept
	for i, c := range changed {
		switch {
		case !c:
			l.known++
		case !l.forget && prev[i] != bayes.None:
			l.moved++
			l.done++
		default:
			l.done++
		}
	}
	l.stats, err = st.Stats(ctx)
	return err
}

// summary is what learn prints on standard output at the end.
func (l *learner) summary(bc bayes.Config) string {
	var b strings.Builder
	other := map[bayes.Class]string{bayes.Spam: "ham", bayes.Ham: "spam"}
	if l.forget {
		what := "message"
		if l.only != bayes.None {
			what = l.only.String() + " message"
		}
		fmt.Fprintf(&b, "forgot %s (%d not learned, ", plural(l.done, what), l.known)
		if l.only != bayes.None {
			fmt.Fprintf(&b, "%d learned as %s and left alone, ", l.kept, other[l.only])
		}
	} else {
		fmt.Fprintf(&b, "learned %s (", plural(l.done, l.class.String()+" message"))
		if l.moved > 0 {
			fmt.Fprintf(&b, "%d moved from %s, ", l.moved, other[l.class])
		}
		fmt.Fprintf(&b, "%d already known, ", l.known)
	}
	fmt.Fprintf(&b, "%d unreadable); database %s now holds %d spam and %d ham\n", l.unreadable, l.where, l.stats.Spam, l.stats.Ham)

	minSpam, minHam := bc.MinSpam, bc.MinHam
	if minSpam == 0 {
		minSpam = bayes.DefaultMinSpam
	}
	if minHam == 0 {
		minHam = bayes.DefaultMinHam
	}
	var need []string
	if l.stats.Spam < minSpam {
		need = append(need, fmt.Sprintf("%d more spam", minSpam-l.stats.Spam))
	}
	if l.stats.Ham < minHam {
		need = append(need, fmt.Sprintf("%d more ham", minHam-l.stats.Ham))
	}
	if len(need) > 0 {
		fmt.Fprintf(&b, "the classifier says nothing until the database holds %d spam and %d ham: learn %s\n", minSpam, minHam, strings.Join(need, " and "))
	}
	return b.String()
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

// input is one file to read.
type input struct {
	path string // "-" for standard input
	size int64
}

// collectInputs lists the files named by args, walking directories, and
// reports what it cannot read through fail. Only the names are gathered
// here (cheap), so that progress knows the total. Names starting with a
// dot are skipped below the named paths; in a Maildir only cur and new are
// read. Symbolic links to files are followed, to directories only when
// named.
func collectInputs(args []string, fail func(string, error)) []input {
	var out []input
	for _, arg := range args {
		if arg == "-" {
			out = append(out, input{path: "-"})
			continue
		}
		fi, err := os.Stat(arg)
		if err != nil {
			fail(arg, err)
			continue
		}
		if !fi.IsDir() {
			if !fi.Mode().IsRegular() {
				fail(arg, errors.New("not a file or directory"))
				continue
			}
			out = append(out, input{path: arg, size: fi.Size()})
			continue
		}
		root := arg
		if lfi, err := os.Lstat(arg); err == nil && lfi.Mode()&fs.ModeSymlink != 0 {
			root = arg + string(filepath.Separator) // WalkDir follows only such a root
		}
		maildirs := map[string]bool{}
		_ = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				fail(path, err)
				return nil
			}
			if path != root {
				name := d.Name()
				skip := strings.HasPrefix(name, ".") ||
					maildirs[filepath.Dir(path)] && !(d.IsDir() && (name == "cur" || name == "new"))
				if skip && d.IsDir() {
					return fs.SkipDir
				}
				if skip {
					return nil
				}
			}
			if d.IsDir() {
				if isMaildir(path) {
					maildirs[filepath.Clean(path)] = true
				}
				return nil
			}
			info, err := d.Info()
			if err == nil && info.Mode()&fs.ModeSymlink != 0 {
				info, err = os.Stat(path)
			}
			if err != nil {
				fail(path, err)
				return nil
			}
			if info.Mode().IsRegular() {
				out = append(out, input{path: path, size: info.Size()})
			}
			return nil
		})
	}
	return out
}

// isMaildir reports whether dir has the cur and new folders of a Maildir.
func isMaildir(dir string) bool {
	for _, sub := range []string{"cur", "new"} {
		if fi, err := os.Stat(filepath.Join(dir, sub)); err != nil || !fi.IsDir() {
			return false
		}
	}
	return true
}

// mboxReader yields the messages of one file. A file whose first line is
// an mbox "From " line is an mbox (RFC 4155): a "From " line with a time
// of day, after an empty line, starts the next message (the empty line is
// the separator's, not part of the message), and lines of ">From " with one
// or more ">" lose one, as in mboxrd. Any other file is one message, read
// as it is.
type mboxReader struct {
	br   *bufio.Reader
	mbox bool
	read int64 // bytes consumed
	n    int   // messages started
	eof  bool
	err  error // a read error that ended the file early
}

func newMboxReader(r io.Reader) *mboxReader {
	br := bufio.NewReaderSize(r, 64<<10)
	head, _ := br.Peek(5)
	return &mboxReader{br: br, mbox: string(head) == "From "}
}

// Next returns the next message, or nil after the last. Each message must
// be read to its end before the next.
func (s *mboxReader) Next() io.Reader {
	if s.n > 0 {
		if !s.mbox || s.eof || s.err != nil {
			return nil
		}
		if _, err := s.br.Peek(1); err != nil {
			if err != io.EOF {
				s.err = err
			}
			return nil
		}
	}
	s.n++
	if !s.mbox {
		return &countingReader{s: s}
	}
	return &mboxMessage{s: s, start: true}
}

type countingReader struct{ s *mboxReader }

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.s.br.Read(p)
	c.s.read += int64(n)
	if err == io.EOF {
		c.s.eof = true
	} else if err != nil {
		c.s.err = err
	}
	return n, err
}

// mboxMessage reads one message of an mbox, line by line.
type mboxMessage struct {
	s     *mboxReader
	buf   []byte // what Read returns next
	line  []byte // buf's storage
	start bool   // at the start of a line
	done  bool
	err   error
}

var fromLine = []byte("From ")

func (m *mboxMessage) Read(p []byte) (int, error) {
	for len(m.buf) == 0 {
		if m.done {
			return 0, m.err
		}
		m.fill()
	}
	n := copy(p, m.buf)
	m.buf = m.buf[n:]
	return n, nil
}

func (m *mboxMessage) fill() {
	s := m.s
	frag, err := s.br.ReadSlice('\n')
	s.read += int64(len(frag))
	// Copy before Peek, which may move what frag points to.
	m.line = append(m.line[:0], frag...)
	m.buf = m.line
	atStart := m.start
	m.start = err == nil
	if atStart && err == nil && (len(m.buf) == 1 || len(m.buf) == 2 && m.buf[0] == '\r') {
		if next, _ := s.br.Peek(1); len(next) == 0 || isSeparator(s.br) {
			// The separator's empty line, or the one ending the file.
			m.buf, m.done, m.err = nil, true, io.EOF
			return
		}
	}
	if atStart && len(m.buf) > 0 && m.buf[0] == '>' && bytes.HasPrefix(bytes.TrimLeft(m.buf, ">"), fromLine) {
		m.buf = m.buf[1:]
	}
	switch {
	case err == nil, err == bufio.ErrBufferFull:
	case err == io.EOF:
		m.done, m.err, s.eof = true, io.EOF, true
	default:
		m.done, m.err, s.err = true, err, err
	}
}

// isSeparator reports whether the line br is at is an mbox "From " line:
// "From ", the sender and the date (RFC 4155), recognised by the time of
// day in it, so that a body line such as "From my point of view" in an
// unescaped single-message file does not split it.
func isSeparator(br *bufio.Reader) bool {
	b, _ := br.Peek(256)
	if i := bytes.IndexByte(b, '\n'); i >= 0 {
		b = b[:i]
	}
	if !bytes.HasPrefix(b, fromLine) {
		return false
	}
	for i := len(fromLine); i+5 <= len(b); i++ {
		if isDigit(b[i]) && isDigit(b[i+1]) && b[i+2] == ':' && isDigit(b[i+3]) && isDigit(b[i+4]) {
			return true
		}
	}
	return false
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// progress draws "learned 1200/3000 (40%), 180 msg/s" on a terminal, at
// most every progressEvery. Once a file holds several messages (an mbox)
// the total of messages is unknown, and the line counts the share of the
// files' bytes read instead.
type progress struct {
	w     io.Writer
	on    bool
	mbox  bool
	files int   // files in all
	bytes int64 // their size; 0 when unknown (standard input only)

	filesDone      int
	bytesDone      int64 // of the files done
	inFile         int64 // bytes read of the current file
	msgs           int
	started, drawn time.Time
	width          int // of the line shown
}

func (p *progress) start(files int, in []input) {
	p.files, p.started = files, time.Now()
	p.drawn = p.started // the first line after progressEvery: a rate needs time
	for _, f := range in {
		p.bytes += f.size
	}
}

func (p *progress) message(read int64) {
	p.msgs++
	p.inFile = read
	p.draw(false)
}

func (p *progress) fileDone(size int64) {
	p.filesDone++
	p.bytesDone += size
	p.inFile = 0
	p.draw(false)
}

func (p *progress) draw(force bool) {
	if !p.on {
		return
	}
	now := time.Now()
	if !force && now.Sub(p.drawn) < progressEvery {
		return
	}
	p.drawn = now
	rate := float64(p.msgs) / max(now.Sub(p.started).Seconds(), 1e-3)
	var line string
	if !p.mbox {
		line = fmt.Sprintf("learned %d/%d (%d%%), %.0f msg/s", p.filesDone, p.files, percent(int64(p.filesDone), int64(p.files)), rate)
	} else {
		pct := percent(int64(p.filesDone), int64(p.files))
		if p.bytes > 0 {
			pct = percent(min(p.bytesDone+p.inFile, p.bytes), p.bytes)
		}
		line = fmt.Sprintf("learned %d messages, %d%% of %s, %.0f msg/s", p.msgs, pct, plural(p.files, "file"), rate)
	}
	pad := max(p.width-len(line), 0)
	fmt.Fprintf(p.w, "\r%s%s", line, strings.Repeat(" ", pad))
	p.width = len(line)
}

func percent(n, total int64) int64 {
	if total <= 0 {
		return 100
	}
	return n * 100 / total
}

// clear blanks the progress line, so that an error line can be printed.
func (p *progress) clear() {
	if p.on && p.width > 0 {
		fmt.Fprintf(p.w, "\r%s\r", strings.Repeat(" ", p.width))
		p.width = 0
		p.drawn = time.Time{}
	}
}

func (p *progress) finish() {
	if p.on {
		p.draw(true)
		fmt.Fprintln(p.w)
	}
}

// isTerminal reports whether w is a terminal, without new dependencies.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// maxAgeDays bounds --max-age: twice it (the learned records' age) must
// stay far inside a time.Duration (292 years), or the cut-off would wrap
// round into the future and remove everything.
const maxAgeDays = 36500

// parseAge reads "180d" (days) or a Go duration ("4320h"), at most 100
// years.
func parseAge(s string) (time.Duration, error) {
	if d, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(d)
		if err != nil || n <= 0 {
			return 0, fmt.Errorf("want a number of days such as 180d")
		}
		if n > maxAgeDays {
			return 0, fmt.Errorf("at most %dd (100 years)", maxAgeDays)
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("want days (180d) or a duration (4320h)")
	}
	if d > maxAgeDays*24*time.Hour {
		return 0, fmt.Errorf("at most %dd (100 years)", maxAgeDays)
	}
	return d, nil
}

// learnConfig loads the configuration and its classifier section, as the
// daemon would find them.
func learnConfig(o daemon.Options) (*config.Config, bayes.Config, bool, error) {
	cfg, err := daemon.LoadConfig(o)
	if err != nil {
		return nil, bayes.Config{}, false, err
	}
	bc, enabled, err := cfg.Bayes(daemon.DataDir(o.DataDir, cfg.DataDir))
	return cfg, bc, enabled, err
}

// runExpire removes old rare tokens and old learned-message records from
// the store mamori learn would write to.
func runExpire(o daemon.Options, dbPath string, age time.Duration, maxCount uint32, stdout, stderr io.Writer) int {
	_, bc, _, err := learnConfig(o)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return exitUsage
	}
	if dbPath != "" {
		bc.Path, bc.Redis = dbPath, nil
	}
	var st bayes.Store
	if bc.Redis != nil {
		st, err = bc.OpenRedis()
	} else {
		// Expiring a database that is not there must not create one.
		st, err = bayes.OpenBolt(bc.Path, bayes.BoltOptions{Timeout: learnLockTimeout, MustExist: true})
	}
	if err != nil {
		if bc.Redis == nil {
			fmt.Fprintln(stderr, dbProblem(bc.Path, err))
		} else {
			fmt.Fprintf(stderr, "mamori learn: %s: %v\n", bc.Where(), err)
		}
		return exitUsage
	}
	defer st.Close()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	now := time.Now()
	before, _ := st.Stats(ctx)
	res, err := st.Expire(ctx, bayes.ExpireOptions{Before: now.Add(-age), MaxCount: maxCount, LearnedBefore: now.Add(-2 * age)})
	if err != nil {
		fmt.Fprintf(stderr, "mamori learn: expiring %s: %v (what was removed before the error stays removed)\n", bc.Where(), err)
		return exitFailure
	}
	after, _ := st.Stats(ctx)
	fmt.Fprintf(stdout, "%s: removed %d tokens (of %d) and %d learned-message records (of %d); %d spam and %d ham learned\n",
		bc.Where(), res.Tokens, before.Tokens, res.Learned, before.Learned, after.Spam, after.Ham)
	return exitOK
}
