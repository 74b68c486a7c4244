package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mamori-mail/mamori/integration/harness"
	"github.com/mamori-mail/mamori/reputation/bayes"
)

// testMessage is a small message; kind and i make it and its Message-ID
// distinct.
func testMessage(kind string, i int) string {
	words := map[string]string{
		"ham":  "the quarterly report draft is attached, see you at the meeting tomorrow",
		"spam": "cheap pills discount offer, click here now to claim your free prize",
	}[kind]
	return fmt.Sprintf("From: %s%d@%s.example\nTo: you@example.org\nSubject: %s %d\nMessage-ID: <%s-%d@test.example>\n\n%s, number %d\n",
		kind, i, kind, kind, i, kind, i, words, i)
}

func writeFile(t *testing.T, path, content string) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// mbox joins messages as an mbox: a "From " line before each, an empty
// line after each.
func mbox(msgs ...string) string {
	var b strings.Builder
	for _, m := range msgs {
		b.WriteString("From sender@example.net Thu Jan  1 00:00:00 2002\n")
		b.WriteString(m)
		b.WriteString("\n")
	}
	return b.String()
}

func dbStats(t *testing.T, path string) bayes.Stats {
	t.Helper()
	st, err := bayes.OpenBolt(path, bayes.BoltOptions{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	s, err := st.Stats(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestLearn runs learn steps in order on one database: a Maildir of ham,
// an mbox of spam, relearning, moving and forgetting.
func TestLearn(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "data", "bayes.db")
	hamDir := filepath.Join(dir, "Maildir")
	hamFiles := []string{
		writeFile(t, filepath.Join(hamDir, "cur", "1:2,S"), testMessage("ham", 1)),
		writeFile(t, filepath.Join(hamDir, "cur", "2:2,S"), testMessage("ham", 2)),
		writeFile(t, filepath.Join(hamDir, "new", "3"), testMessage("ham", 3)),
	}
	// Not read: mail being delivered, Dovecot's files, a Maildir++
	// subfolder, a dot-file.
	tmp4 := writeFile(t, filepath.Join(hamDir, "tmp", "4"), testMessage("ham", 4))
	writeFile(t, filepath.Join(hamDir, "dovecot-uidlist"), "3 V1 N5\n")
	writeFile(t, filepath.Join(hamDir, ".Junk", "cur", "5"), testMessage("spam", 5))
	writeFile(t, filepath.Join(hamDir, "cur", ".hidden"), testMessage("spam", 6))
	spamBox := writeFile(t, filepath.Join(dir, "spam.mbox"), mbox(testMessage("spam", 1), testMessage("spam", 2)+">From the desk of\n", testMessage("spam", 3)))

	for _, step := range []struct {
		name      string
		args      []string
		out       []string // substrings of stdout
		spam, ham uint64
	}{
		{"ham maildir", []string{"--ham", hamDir},
			[]string{"learned 3 ham messages (0 already known, 0 unreadable); database " + db + " now holds 0 spam and 3 ham\n",
				"until the database holds 200 spam and 200 ham: learn 200 more spam and 197 more ham\n"}, 0, 3},
		{"spam mbox", []string{"--spam", spamBox},
			[]string{"learned 3 spam messages (0 already known, 0 unreadable); database " + db + " now holds 3 spam and 3 ham\n",
				"learn 197 more spam and 197 more ham"}, 3, 3},
		{"ham again", []string{"--ham", hamDir}, []string{"learned 0 ham messages (3 already known, 0 unreadable)", "holds 3 spam and 3 ham"}, 3, 3},
		{"spam again", []string{"--spam", spamBox}, []string{"learned 0 spam messages (3 already known, 0 unreadable)"}, 3, 3},
		{"ham learned as spam moves", []string{"--spam", hamFiles[0]}, []string{"learned 1 spam message (1 moved from ham, 0 already known, 0 unreadable)", "holds 4 spam and 2 ham"}, 4, 2},
		{"forget as ham leaves spam alone", []string{"--forget", "--ham", hamFiles[0]}, []string{"forgot 0 ham messages (0 not learned, 1 learned as spam and left alone, 0 unreadable)"}, 4, 2},
		{"forget", []string{"--forget", hamFiles[0], hamFiles[1], tmp4}, []string{"forgot 2 messages (1 not learned, 0 unreadable)", "holds 3 spam and 1 ham"}, 3, 1},
		{"relearn after forget", []string{"--ham", hamDir}, []string{"learned 2 ham messages (1 already known, 0 unreadable)", "holds 3 spam and 3 ham"}, 3, 3},
	} {
		t.Run(step.name, func(t *testing.T) {
			var before *bayes.Stats
			if _, err := os.Stat(db); err == nil {
				b := dbStats(t, db)
				before = &b
			}
			code, out, stderr := runCmd(t, append([]string{"learn", "--db", db}, step.args...)...)
			if code != exitOK {
				t.Fatalf("exit %d\n%s%s", code, out, stderr)
			}
			for _, want := range step.out {
				if !strings.Contains(out, want) {
					t.Errorf("output lacks %q:\n%s", want, out)
				}
			}
			st := dbStats(t, db)
			if st.Spam != step.spam || st.Ham != step.ham {
				t.Errorf("database holds %d spam, %d ham; want %d, %d", st.Spam, st.Ham, step.spam, step.ham)
			}
			if strings.Contains(step.name, "again") && (before == nil || st != *before) {
				t.Errorf("relearning changed the database: %+v, was %+v", st, before)
			}
		})
	}
	if fi, err := os.Stat(filepath.Dir(db)); err != nil {
		t.Error(err)
	} else if fi.Mode().Perm() != 0o750 {
		t.Errorf("data directory mode %v, want 0750", fi.Mode().Perm())
	}
}

// TestLearnUnreadable: a file that is not a message and a missing one are
// listed, one line each; the others are learned; exit 1.
func TestLearnUnreadable(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "bayes.db")
	writeFile(t, filepath.Join(dir, "in", "1.eml"), testMessage("ham", 1))
	writeFile(t, filepath.Join(dir, "in", "2.eml"), testMessage("ham", 2))
	garbage := writeFile(t, filepath.Join(dir, "in", "garbage"), "\x00\x01\x02 binary junk without a header\n")
	huge := writeFile(t, filepath.Join(dir, "in", "huge.eml"), "Subject: "+strings.Repeat("x", 2<<20)+"\n\nbody\n")
	missing := filepath.Join(dir, "missing")
	code, out, stderr := runCmd(t, "learn", "--ham", "--db", db, filepath.Join(dir, "in"), missing)
	if code != exitFailure {
		t.Fatalf("exit %d, want %d\n%s%s", code, exitFailure, out, stderr)
	}
	for _, want := range []string{garbage + ": not a message: no header fields\n", huge + ": mailfile: message exceeds limits", missing + ": "} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
	if n := strings.Count(stderr, "\n"); n != 3 {
		t.Errorf("want 3 error lines, got %d:\n%s", n, stderr)
	}
	if !strings.Contains(out, "learned 2 ham messages (0 already known, 3 unreadable)") {
		t.Errorf("summary: %s", out)
	}
	if st := dbStats(t, db); st.Ham != 2 {
		t.Errorf("database holds %d ham, want 2", st.Ham)
	}
}

func TestLearnUsage(t *testing.T) {
	dir := t.TempDir()
	msg := writeFile(t, filepath.Join(dir, "m.eml"), testMessage("ham", 1))
	db := filepath.Join(dir, "bayes.db")
	for _, tc := range []struct {
		name string
		args []string
		want string // in stderr
	}{
		{"no class", []string{msg}, "say what the messages are: --spam or --ham"},
		{"both classes", []string{"--spam", "--ham", msg}, "--spam and --ham exclude each other"},
		{"no files", []string{"--spam"}, "name at least one FILE, DIR or -"},
		{"bad progress", []string{"--spam", "--progress", "sometimes", msg}, `--progress "sometimes": want auto, always or never`},
		{"unknown flag", []string{"--spma", msg}, "flag provided but not defined: -spma"},
		{"help", []string{"-h"}, "mamori learn --spam ~/Maildir/.Junk"},
		{"bad config", []string{"--spam", "--config", writeFile(t, filepath.Join(dir, "bad.yaml"), "checks:\n  bayes:\n    pth: x\n"), msg}, "bad.yaml:3: checks.bayes.pth: unknown field"},
		{"database not a database", []string{"--spam", "--db", writeFile(t, filepath.Join(dir, "not.db"), "hello\n"), msg}, "mamori learn: "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, stderr := runCmd(t, append([]string{"learn", "--db", db}, tc.args...)...)
			if code != exitUsage {
				t.Errorf("exit %d, want %d\n%s%s", code, exitUsage, out, stderr)
			}
			if !strings.Contains(stderr, tc.want) {
				t.Errorf("stderr lacks %q:\n%s", tc.want, stderr)
			}
		})
	}
	_, _, help := runCmd(t, "learn", "-h")
	for _, want := range []string{"Relearning is safe", "need not be stopped", "bayes.db in the data directory", "mamori learn --ham /var/mail/alice", "Exit status: 0", "-db path"} {
		if !strings.Contains(help, want) {
			t.Errorf("usage lacks %q", want)
		}
	}
}

// TestLearnDatabasePath: --db, else checks.bayes path, else bayes.db in the
// data directory; the configured minimums show in the summary.
func TestLearnDatabasePath(t *testing.T) {
	dir := t.TempDir()
	msg := writeFile(t, filepath.Join(dir, "m.eml"), testMessage("spam", 1))
	configured := filepath.Join(dir, "conf", "tokens.db")
	cfg := writeFile(t, filepath.Join(dir, "mamori.yaml"), "checks:\n  bayes:\n    enabled: true\n    timeout: 2s\n    on_error: continue\n    path: "+configured+"\n    min_spam: 1\n    min_ham: 5\n")
	data := filepath.Join(dir, "data")
	t.Setenv("MAMORI_DATA_DIR", "")

	code, out, stderr := runCmd(t, "learn", "--spam", "--config", cfg, "--data-dir", data, msg)
	if code != exitOK {
		t.Fatalf("exit %d\n%s%s", code, out, stderr)
	}
	if !strings.Contains(out, "database "+configured+" now holds 1 spam and 0 ham") ||
		!strings.Contains(out, "until the database holds 1 spam and 5 ham: learn 5 more ham\n") {
		t.Errorf("summary: %s", out)
	}
	if _, err := os.Stat(filepath.Join(data, "bayes.db")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("data directory used despite checks.bayes.path: %v", err)
	}

	code, out, stderr = runCmd(t, "learn", "--spam", "--data-dir", data, msg)
	if code != exitOK || !strings.Contains(out, "database "+filepath.Join(data, "bayes.db")+" now holds 1 spam") {
		t.Errorf("default path: exit %d\n%s%s", code, out, stderr)
	}

	code, out, stderr = runCmd(t, "learn", "--ham", "--data-dir", data, "-")
	if code != exitOK || !strings.Contains(out, "learned 1 ham message (0 already known, 0 unreadable); database "+filepath.Join(data, "bayes.db")+" now holds 1 spam and 1 ham") {
		t.Errorf("standard input: exit %d\n%s%s", code, out, stderr)
	}

	off := writeFile(t, filepath.Join(dir, "off.yaml"), "checks:\n  bayes:\n    enabled: false\n")
	code, _, stderr = runCmd(t, "learn", "--spam", "--config", off, "--data-dir", data, msg)
	if code != exitOK || !strings.Contains(stderr, "checks.bayes is disabled in "+off) {
		t.Errorf("disabled check: exit %d, %s", code, stderr)
	}
}

// TestLearnLetsReadersIn: a reader opening the database as the daemon does
// (read-only, 300 ms) never fails while 250 messages are learned, and it
// sees the totals of each batch before the next one is written.
func TestLearnLetsReadersIn(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "bayes.db")
	in := filepath.Join(dir, "ham")
	for i := range 250 {
		writeFile(t, filepath.Join(in, fmt.Sprintf("%03d.eml", i)), testMessage("ham", i))
	}

	var (
		mu      sync.Mutex
		seen    = map[uint64]bool{}
		readErr error
		reads   int
	)
	stop := make(chan struct{})
	readerDone := make(chan struct{})
	go func() {
		defer close(readerDone)
		opened := false
		for {
			select {
			case <-stop:
				return
			default:
			}
			st, err := bayes.OpenBolt(db, bayes.BoltOptions{ReadOnly: true, Timeout: 300 * time.Millisecond})
			if errors.Is(err, fs.ErrNotExist) && !opened {
				time.Sleep(time.Millisecond)
				continue
			}
			var s bayes.Stats
			if err == nil {
				opened = true
				s, err = st.Stats(context.Background())
				st.Close()
			}
			mu.Lock()
			reads++
			if err != nil && readErr == nil {
				readErr = err
			}
			seen[s.Ham] = true
			mu.Unlock()
			time.Sleep(time.Millisecond)
		}
	}()

	// After each batch, wait until the reader has seen its totals: only
	// possible if learn let go of the file between batches.
	var batches []uint64
	afterBatch = func(s bayes.Stats) {
		batches = append(batches, s.Ham)
		deadline := time.Now().Add(5 * time.Second)
		for time.Now().Before(deadline) {
			mu.Lock()
			ok := seen[s.Ham]
			mu.Unlock()
			if ok {
				return
			}
			time.Sleep(time.Millisecond)
		}
		t.Errorf("reader never saw %d ham", s.Ham)
	}
	defer func() { afterBatch = func(bayes.Stats) {} }()

	code, out, stderr := runCmd(t, "learn", "--ham", "--db", db, in)
	close(stop)
	<-readerDone
	if code != exitOK || !strings.Contains(out, "learned 250 ham messages") {
		t.Fatalf("exit %d\n%s%s", code, out, stderr)
	}
	if readErr != nil {
		t.Errorf("reader failed: %v", readErr)
	}
	if fmt.Sprint(batches) != "[100 200 250]" {
		t.Errorf("batches ended at %v, want [100 200 250]", batches)
	}
	t.Logf("%d reads", reads)
}

func TestLearnProgress(t *testing.T) {
	dir := t.TempDir()
	for i := range 3 {
		writeFile(t, filepath.Join(dir, "in", fmt.Sprintf("%d.eml", i)), testMessage("spam", i))
	}
	box := writeFile(t, filepath.Join(dir, "box"), mbox(testMessage("ham", 1), testMessage("ham", 2)))
	db := filepath.Join(dir, "bayes.db")
	for _, tc := range []struct {
		name, progress string
		args           []string
		want           string // the last line of stderr; "" for no output
	}{
		{"always", "always", []string{"--spam", filepath.Join(dir, "in")}, "learned 3/3 (100%), "},
		{"mbox counts bytes", "always", []string{"--ham", box}, "learned 2 messages, 100% of 1 file, "},
		{"auto, not a terminal", "auto", []string{"--spam", filepath.Join(dir, "in")}, ""},
		{"never", "never", []string{"--spam", filepath.Join(dir, "in")}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, stderr := runCmd(t, append([]string{"learn", "--db", db, "--progress", tc.progress}, tc.args...)...)
			if code != exitOK {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			if tc.want == "" {
				if stderr != "" {
					t.Errorf("want no progress, got %q", stderr)
				}
				return
			}
			last := stderr[strings.LastIndex(stderr, "\r")+1:]
			if !strings.HasPrefix(last, tc.want) || !strings.HasSuffix(strings.TrimRight(last, " \n"), " msg/s") || !strings.HasSuffix(last, "\n") {
				t.Errorf("last progress line %q, want %q... msg/s and a newline", last, tc.want)
			}
		})
	}
}

func TestMboxReader(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   string
		want []string
	}{
		{"one message", "From: a\n\nbody\n\nFrom here on, a plain body line\n", []string{"From: a\n\nbody\n\nFrom here on, a plain body line\n"}},
		{"mbox", "From x Thu Jan  1 00:00:00 2002\nA: 1\n\nb1\n\nFrom y Fri Jan  2 10:00:00 2002\nA: 2\n\nb2\n>From z\n>>From w\n>Fromage\n\n",
			[]string{"From x Thu Jan  1 00:00:00 2002\nA: 1\n\nb1\n", "From y Fri Jan  2 10:00:00 2002\nA: 2\n\nb2\nFrom z\n>From w\n>Fromage\n"}},
		{"crlf mbox", "From x 12:00\r\nA: 1\r\n\r\nb1\r\n\r\nFrom y 13:00\r\nA: 2\r\n", []string{"From x 12:00\r\nA: 1\r\n\r\nb1\r\n", "From y 13:00\r\nA: 2\r\n"}},
		{"unescaped From in one message", "From x 12:00\nA: 1\n\nb1\n\nFrom my point of view, no.\n", []string{"From x 12:00\nA: 1\n\nb1\n\nFrom my point of view, no.\n"}},
		{"empty lines kept inside", "From x\nA: 1\n\nb1\n\n\nb2\n", []string{"From x\nA: 1\n\nb1\n\n\nb2\n"}},
		{"empty", "", []string{""}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newMboxReader(strings.NewReader(tc.in))
			var got []string
			for m := r.Next(); m != nil; m = r.Next() {
				b, err := io.ReadAll(m)
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, string(b))
			}
			if fmt.Sprintf("%q", got) != fmt.Sprintf("%q", tc.want) {
				t.Errorf("got %q\nwant %q", got, tc.want)
			}
			if r.read != int64(len(tc.in)) {
				t.Errorf("read %d bytes of %d", r.read, len(tc.in))
			}
		})
	}
	// A message read only in part (Parse stopped at a limit) must not
	// shift the next one when the rest is drained.
	r := newMboxReader(bytes.NewReader([]byte("From x 12:00\nA: 1\n\n" + strings.Repeat("long line\n", 10000) + "\nFrom y 13:00\nA: 2\n")))
	m := r.Next()
	io.CopyN(io.Discard, m, 100)
	io.Copy(io.Discard, m)
	b, _ := io.ReadAll(r.Next())
	if string(b) != "From y 13:00\nA: 2\n" || r.Next() != nil {
		t.Errorf("second message %q", b)
	}
}

// TestLearnIntoRedis: with checks.bayes.redis configured, learn writes to
// Redis (where every instance reads), and the data directory stays empty.
func TestLearnIntoRedis(t *testing.T) {
	srv := harness.StartRedis(t, harness.RedisOptions{})
	dir := t.TempDir()
	for i := range 3 {
		writeFile(t, filepath.Join(dir, "spam", fmt.Sprintf("%d.eml", i)), testMessage("spam", i))
	}
	cfg := writeFile(t, filepath.Join(dir, "mamori.yaml"), "checks:\n  bayes:\n    redis: {addrs: [\""+srv.Addr+"\"]}\n")
	data := filepath.Join(dir, "data")
	code, out, stderr := runCmd(t, "learn", "--spam", "--config", cfg, "--data-dir", data, filepath.Join(dir, "spam"))
	if code != exitOK || !strings.Contains(out, "learned 3 spam messages (0 already known, 0 unreadable); database redis "+srv.Addr+" now holds 3 spam and 0 ham") {
		t.Fatalf("exit %d\n%s%s", code, out, stderr)
	}
	if _, err := os.Stat(filepath.Join(data, "bayes.db")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a bolt file was made although Redis is configured: %v", err)
	}
	code, out, _ = runCmd(t, "learn", "--spam", "--config", cfg, "--data-dir", data, filepath.Join(dir, "spam"))
	if code != exitOK || !strings.Contains(out, "3 already known") {
		t.Errorf("relearning into Redis: %d %s", code, out)
	}
	srv.Kill()
	if code, _, stderr := runCmd(t, "learn", "--spam", "--config", cfg, "--data-dir", data, filepath.Join(dir, "spam")); code != exitUsage || !strings.Contains(stderr, "redis "+srv.Addr) {
		t.Errorf("Redis down: exit %d, %s", code, stderr)
	}
}

// TestLearnExpire learns a folder, then expires with a zero-day horizon
// in the future: every token seen once goes, the totals stay.
func TestLearnExpire(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "bayes.db")
	mail := filepath.Join(dir, "mail")
	os.MkdirAll(mail, 0o755)
	for i := range 3 {
		os.WriteFile(filepath.Join(mail, fmt.Sprintf("%d.eml", i)), []byte(fmt.Sprintf("From: a@example.net\nSubject: note %d\nMessage-ID: <%d@example.net>\n\ncommon words here and unique%d\n", i, i, i)), 0o644)
	}
	if code, _, stderr := runCmd(t, "learn", "--ham", "--db", db, "--progress", "never", mail); code != exitOK {
		t.Fatalf("learn: exit %d %s", code, stderr)
	}
	code, out, stderr := runCmd(t, "learn", "--expire", "--db", db, "--max-age", "1h")
	if code != exitOK || !strings.Contains(out, "removed 0 tokens") {
		t.Fatalf("nothing is old yet: exit %d %q %s", code, out, stderr)
	}
	// An age so long that twice it would wrap round (and remove everything
	// learned) is refused, as is a count past 32 bits.
	for _, bad := range [][]string{
		{"learn", "--expire", "--max-age", "soon"}, {"learn", "--expire", "--ham", mail},
		{"learn", "--expire", "--db", db, "--max-age", "60000d"}, {"learn", "--expire", "--db", db, "--max-age", "1000000h"},
		{"learn", "--expire", "--db", db, "--max-count", "4294967296"},
	} {
		if code, _, _ := runCmd(t, bad...); code != exitUsage {
			t.Errorf("%v: exit %d, want %d", bad, code, exitUsage)
		}
	}
	if s := dbStats(t, db); s.Learned != 3 {
		t.Fatalf("refused expiry changed the database: %+v", s)
	}
	// Expiring where nothing was learned creates nothing.
	missing := filepath.Join(dir, "none.db")
	if code, _, stderr := runCmd(t, "learn", "--expire", "--db", missing); code != exitUsage || !strings.Contains(stderr, "no token database at "+missing) {
		t.Errorf("missing database: exit %d, %s", code, stderr)
	}
	if _, err := os.Stat(missing); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("expire created %s: %v", missing, err)
	}
	// Everything learned is now "older than" a negative horizon: the
	// tokens seen in one message go; those in all three stay.
	st, err := bayes.OpenBolt(db, bayes.BoltOptions{})
	if err != nil {
		t.Fatal(err)
	}
	before, _ := st.Stats(context.Background())
	res, err := st.Expire(context.Background(), bayes.ExpireOptions{Before: time.Now().Add(time.Hour), MaxCount: 1})
	after, _ := st.Stats(context.Background())
	st.Close()
	if err != nil || res.Tokens == 0 || after.Tokens != before.Tokens-res.Tokens || after.Ham != 3 {
		t.Fatalf("expire: %+v %v; before %+v after %+v", res, err, before, after)
	}
}

// TestLearnAsRootOwnsLikeDataDir: root learning into a data directory
// that belongs to the daemon's user creates a database that user owns.
func TestLearnAsRootOwnsLikeDataDir(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	dir := t.TempDir()
	msg := writeFile(t, filepath.Join(dir, "m.eml"), testMessage("spam", 1))
	data := filepath.Join(dir, "data")
	if err := os.Mkdir(data, 0o750); err != nil {
		t.Fatal(err)
	}
	const uid, gid = 65534, 65534 // nobody, nogroup
	if err := os.Chown(data, uid, gid); err != nil {
		t.Fatal(err)
	}
	code, out, stderr := runCmd(t, "learn", "--spam", "--data-dir", data, msg)
	if code != exitOK {
		t.Fatalf("exit %d\n%s%s", code, out, stderr)
	}
	fi, err := os.Stat(filepath.Join(data, bayes.DefaultFile))
	if err != nil {
		t.Fatal(err)
	}
	if st := fi.Sys().(*syscall.Stat_t); st.Uid != uid || st.Gid != gid {
		t.Fatalf("database owned by %d:%d, want %d:%d like its directory", st.Uid, st.Gid, uid, gid)
	}
}
