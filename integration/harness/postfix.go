package harness

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// PostfixOptions configures a private Postfix instance.
type PostfixOptions struct {
	// Milter is the value for smtpd_milters and non_smtpd_milters, such as
	// "inet:127.0.0.1:11332"; "" runs Postfix without a milter.
	Milter string
	// DefaultAction is milter_default_action, which decides what Postfix
	// does when the milter is unreachable or times out; "" means "tempfail".
	DefaultAction string
	// NextHop is the "127.0.0.1:port" every message is relayed to. If it is
	// empty, Sink's address is used; one of the two is required. To keep
	// mail in the queue, point NextHop at a port where nothing listens.
	NextHop string
	// Sink, if set, is the next hop unless NextHop says otherwise, and its
	// WaitCount prints this instance's log when it times out.
	Sink *Sink
	// Main holds extra main.cf settings; they override the harness's own.
	Main map[string]string
	// Master holds extra master.cf lines, for example a second smtpd service
	// with its own -o overrides.
	Master []string
	// ReleaseListener adds a second smtpd on a free loopback port, at
	// Postfix.ReleaseAddr, that calls no milter: the listener mamori
	// quarantine release re-injects released mail into (ReleaseMasterLine).
	ReleaseListener bool
}

// ReleaseMasterLine is the master.cf line of a release listener on addr:
// an smtpd without milters that accepts mail from mynetworks only, as
// docs/quarantine.md tells operators to add.
func ReleaseMasterLine(addr string) string {
	return addr + " inet n - n - - smtpd -o smtpd_milters= -o non_smtpd_milters=" +
		" -o smtpd_recipient_restrictions=permit_mynetworks,reject -o smtpd_relay_restrictions=permit_mynetworks,reject"
}

// QueueEntry is one message in the Postfix queue, as postqueue -j reports it.
type QueueEntry struct {
	// ID is the queue ID, as in "250 2.0.0 Ok: queued as ID".
	ID string
	// Queue is the queue name: "incoming", "active", "deferred", "hold" or
	// "maildrop".
	Queue string
	// Held reports whether the message is in the hold queue, which is where a
	// milter's quarantine puts it.
	Held bool
	// Sender is the envelope sender ("" for a bounce).
	Sender string
	// Recipients lists the envelope recipients still to be delivered.
	Recipients []string
	// DelayReasons maps a recipient to why its delivery was deferred; it is
	// nil when no attempt failed yet.
	DelayReasons map[string]string
	// Size is the queue file's message size in bytes.
	Size int64
}

// Postfix is a running private Postfix instance.
type Postfix struct {
	// SMTPAddr is the "127.0.0.1:port" where its smtpd listens.
	SMTPAddr string
	// ReleaseAddr is the "127.0.0.1:port" of the milter-less release
	// listener when PostfixOptions.ReleaseListener is set, else "".
	ReleaseAddr string
	// Dir holds everything the instance writes; it is removed when the test
	// ends unless MAMORI_KEEP_POSTFIX=1 is set.
	Dir string
	// ConfigDir is the config_directory (main.cf, master.cf), the value
	// every Postfix command gets with -c.
	ConfigDir string
	// QueueDir is the queue_directory.
	QueueDir string
	// LogFile is the maillog_file that postlogd writes.
	LogFile string

	main   map[string]string
	master []string
	// logShown records that a failure message already printed the log, so
	// that stop does not print it again.
	logShown bool
}

// Directory and file names inside Postfix.Dir. They are short because the
// queue directory holds Unix sockets, whose paths are limited to 107 bytes.
const (
	pfConfigDir = "etc"
	pfQueueDir  = "q"
	pfDataDir   = "data"
	pfLogFile   = "maillog"
)

// postfixHostname is the instance's myhostname. It must differ from the
// sink's greeting name, or Postfix defers mail as looping back to itself.
const postfixHostname = "mx.mamori.test"

// StartPostfix starts a private Postfix instance whose smtpd listens on a free
// loopback port, and stops it when the test ends.
//
// The instance has its own config, queue and data directories and log file,
// so several can run at once. It never reads /etc/postfix/main.cf and does
// not start or need the system instance: Postfix run by root accepts any
// "-c DIR" without alternate_config_directories in the default main.cf.
func StartPostfix(t testing.TB, opt PostfixOptions) *Postfix {
	t.Helper()
	requirePostfix(t)

	dir, err := os.MkdirTemp("", "mamori-pf-")
	if err != nil {
		t.Fatalf("harness: %v", err)
	}
	p := &Postfix{
		Dir:       dir,
		ConfigDir: filepath.Join(dir, pfConfigDir),
		QueueDir:  filepath.Join(dir, pfQueueDir),
		LogFile:   filepath.Join(dir, pfLogFile),
		SMTPAddr:  net.JoinHostPort("127.0.0.1", strconv.Itoa(FreePort(t))),
		master:    opt.Master,
	}
	if opt.ReleaseListener {
		p.ReleaseAddr = net.JoinHostPort("127.0.0.1", strconv.Itoa(FreePort(t)))
	}
	t.Cleanup(func() { p.stop(t) })
	if err := p.prepareDirs(); err != nil {
		t.Fatalf("harness: postfix directories: %v", err)
	}
	p.main, err = baseMain(p, opt)
	if err != nil {
		t.Fatalf("harness: %v", err)
	}
	maps.Copy(p.main, opt.Main)
	// Another process can take the port between FreePort and the master's
	// bind; the master then exits at once, and a new port fixes it.
	for attempt := 1; ; attempt++ {
		if err := p.writeConfig(); err != nil {
			t.Fatalf("harness: write postfix config: %v", err)
		}
		out, err := p.run(time.Minute, nil, "postfix", "-c", p.ConfigDir, "start")
		if err == nil {
			break
		}
		if attempt < 3 && strings.Contains(p.Log(), "Address already in use") {
			t.Logf("harness: postfix smtpd port %s was taken; trying another", p.SMTPAddr)
			p.SMTPAddr = net.JoinHostPort("127.0.0.1", strconv.Itoa(FreePort(t)))
			if p.ReleaseAddr != "" {
				p.ReleaseAddr = net.JoinHostPort("127.0.0.1", strconv.Itoa(FreePort(t)))
			}
			continue
		}
		p.fatalf(t, "postfix start: %v\n%s", err, out)
	}
	if opt.Sink != nil {
		opt.Sink.AttachLog("postfix log "+p.LogFile, func() string {
			p.logShown = true
			return p.logTail(200)
		})
	}
	return p
}

// requirePostfix skips the test where a private Postfix cannot run, or fails
// it if MAMORI_REQUIRE_INTEGRATION=1 says it must run.
func requirePostfix(t testing.TB) {
	t.Helper()
	why := ""
	if os.Geteuid() != 0 {
		why = "private Postfix instances need root"
	} else if _, err := os.Stat(commandPath("postfix")); err != nil {
		why = "postfix is not installed (run scripts/install-test-deps.sh)"
	} else if _, err := user.Lookup("postfix"); err != nil {
		why = "no postfix user (run scripts/install-test-deps.sh)"
	}
	if why == "" {
		return
	}
	if os.Getenv("MAMORI_REQUIRE_INTEGRATION") == "1" {
		t.Fatalf("harness: %s", why)
	}
	t.Skipf("harness: %s", why)
}

// prepareDirs creates the instance's directories with the owners Postfix
// insists on: the postfix user must reach the queue through every parent
// directory, and data_directory must belong to it (master takes its lock
// there). post-install, run by "postfix start", creates the queue's
// subdirectories itself.
func (p *Postfix) prepareDirs() error {
	if err := os.Chmod(p.Dir, 0o755); err != nil {
		return err
	}
	for d := filepath.Dir(p.Dir); ; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err != nil {
			return err
		}
		if fi.Mode().Perm()&0o001 == 0 {
			return fmt.Errorf("the postfix user cannot search %s; set TMPDIR to a directory every user can reach", d)
		}
		if d == filepath.Dir(d) {
			break
		}
	}
	if n := len(p.QueueDir + "/private/proxywrite"); n > 100 {
		return fmt.Errorf("queue directory %s is too long for Unix socket paths; set a shorter TMPDIR", p.QueueDir)
	}
	pf, err := user.Lookup("postfix")
	if err != nil {
		return err
	}
	uid, _ := strconv.Atoi(pf.Uid)
	gid, _ := strconv.Atoi(pf.Gid)
	for _, d := range []string{p.ConfigDir, p.QueueDir, filepath.Join(p.Dir, pfDataDir)} {
		if err := os.Mkdir(d, 0o755); err != nil {
			return err
		}
	}
	return os.Chown(filepath.Join(p.Dir, pfDataDir), uid, gid)
}

// baseMain returns the harness's main.cf: relay everything from loopback to
// the next hop, never touch DNS or local mailboxes, retry quickly, and never
// sleep after errors, so that tests are fast and deterministic.
func baseMain(p *Postfix, opt PostfixOptions) (map[string]string, error) {
	action := opt.DefaultAction
	if action == "" {
		action = "tempfail"
	}
	m := map[string]string{
		"compatibility_level": "3.6",
		"queue_directory":     p.QueueDir,
		"data_directory":      filepath.Join(p.Dir, pfDataDir),
		// Postfix 3.7 logs to a file through the postlog service when there
		// is no syslogd, but only below maillog_file_prefixes (default
		// "/var, /dev/stdout"); elsewhere it refuses and logs nothing at all.
		"maillog_file":          p.LogFile,
		"maillog_file_prefixes": p.Dir,

		"myhostname":    postfixHostname,
		"mydomain":      "mamori.test",
		"myorigin":      "$myhostname",
		"mydestination": "",
		"relay_domains": "",
		// With the default local_recipient_maps, smtpd asks the proxymap
		// service about every recipient; without local delivery there is
		// nothing to ask.
		"local_recipient_maps": "",
		"alias_maps":           "",
		"alias_database":       "",
		"append_dot_mydomain":  "no",
		"biff":                 "no",

		"inet_interfaces":          "127.0.0.1",
		"inet_protocols":           "ipv4",
		"mynetworks":               "127.0.0.0/8",
		"smtpd_relay_restrictions": "permit_mynetworks, reject_unauth_destination",
		"smtpd_peername_lookup":    "no",
		"smtp_dns_support_level":   "disabled",
		"smtp_host_lookup":         "native",
		"lmtp_host_lookup":         "native",
		"smtp_tls_security_level":  "none",
		"smtpd_tls_security_level": "none",
		"smtp_connect_timeout":     "5s",

		"message_size_limit": strconv.Itoa(60 << 20),
		"mailbox_size_limit": "0",

		// Tests send rejected commands on purpose; the defaults would sleep
		// a second after each and drop the client after ten.
		"smtpd_error_sleep_time": "0s",
		"smtpd_soft_error_limit": "100",
		"smtpd_hard_error_limit": "200",
		"in_flow_delay":          "0s",
		"queue_run_delay":        "1s",
		"minimal_backoff_time":   "1s",
		"maximal_backoff_time":   "2s",
		"service_throttle_time":  "2s",
		"smtpd_banner":           "$myhostname ESMTP Postfix",

		"milter_protocol":        "6",
		"milter_default_action":  action,
		"milter_connect_timeout": "5s",
		"milter_command_timeout": "10s",
		"milter_content_timeout": "60s",
	}
	if opt.Milter != "" {
		m["smtpd_milters"] = opt.Milter
		m["non_smtpd_milters"] = opt.Milter
	}
	next := opt.NextHop
	if next == "" && opt.Sink != nil {
		next = opt.Sink.Addr()
	}
	host, port, err := net.SplitHostPort(next)
	if err != nil {
		return nil, fmt.Errorf("postfix options: NextHop or Sink must give the relay address: %q: %w", next, err)
	}
	m["relayhost"] = "[" + host + "]:" + port
	return m, nil
}

// masterServices are the daemons a relay-only instance needs. Everything runs
// outside a chroot: a chroot would need copies of /etc files in each queue
// directory and buys nothing in a test. proxymap stays because some default
// lookups go through it even with local delivery off.
var masterServices = []string{
	"pickup     unix  n  -  n  60     1  pickup",
	"cleanup    unix  n  -  n  -      0  cleanup",
	"qmgr       unix  n  -  n  300    1  qmgr",
	"rewrite    unix  -  -  n  -      -  trivial-rewrite",
	"bounce     unix  -  -  n  -      0  bounce",
	"defer      unix  -  -  n  -      0  bounce",
	"trace      unix  -  -  n  -      0  bounce",
	"verify     unix  -  -  n  -      1  verify",
	"flush      unix  n  -  n  1000?  0  flush",
	"proxymap   unix  -  -  n  -      -  proxymap",
	"proxywrite unix  -  -  n  -      1  proxymap",
	"smtp       unix  -  -  n  -      -  smtp",
	"relay      unix  -  -  n  -      -  smtp",
	"showq      unix  n  -  n  -      -  showq",
	"error      unix  -  -  n  -      -  error",
	"retry      unix  -  -  n  -      -  error",
	"discard    unix  -  -  n  -      -  discard",
	"anvil      unix  -  -  n  -      1  anvil",
	"scache     unix  -  -  n  -      1  scache",
	"postlog    unix-dgram n  -  n  -  1  postlogd",
}

// writeConfig writes main.cf and master.cf. Each file is written to a
// temporary name and renamed, so a reload never sees half a file.
//
// The files are then dated an hour back. Postfix takes a main.cf modified
// within the last second or two for one still being edited: every program
// and daemon that reads it sleeps 300 ms and reads again until it is older,
// which made each fresh instance take two seconds to start.
func (p *Postfix) writeConfig() error {
	var mainCF strings.Builder
	mainCF.WriteString("# Written by the Mamori integration harness.\n")
	for _, k := range slices.Sorted(maps.Keys(p.main)) {
		fmt.Fprintf(&mainCF, "%s = %s\n", k, p.main[k])
	}
	var masterCF strings.Builder
	masterCF.WriteString("# Written by the Mamori integration harness.\n")
	fmt.Fprintf(&masterCF, "%s inet n - n - - smtpd\n", p.SMTPAddr)
	if p.ReleaseAddr != "" {
		masterCF.WriteString(ReleaseMasterLine(p.ReleaseAddr) + "\n")
	}
	for _, l := range append(slices.Clone(masterServices), p.master...) {
		masterCF.WriteString(l + "\n")
	}
	for name, text := range map[string]string{"main.cf": mainCF.String(), "master.cf": masterCF.String()} {
		path := filepath.Join(p.ConfigDir, name)
		if err := os.WriteFile(path+".tmp", []byte(text), 0o644); err != nil {
			return err
		}
		past := time.Now().Add(-time.Hour)
		if err := os.Chtimes(path+".tmp", past, past); err != nil {
			return err
		}
		if err := os.Rename(path+".tmp", path); err != nil {
			return err
		}
	}
	return nil
}

// Postconf changes main.cf settings and reloads Postfix. It returns once the
// master has logged the reload, after which new SMTP connections get daemons
// with the new settings (idle daemons of the old generation exit at once).
// It is not safe to call concurrently with itself.
func (p *Postfix) Postconf(t testing.TB, kv map[string]string) {
	t.Helper()
	maps.Copy(p.main, kv)
	if err := p.writeConfig(); err != nil {
		t.Fatalf("harness: write postfix config: %v", err)
	}
	before := strings.Count(p.Log(), "reload -- version")
	if out, err := p.run(30*time.Second, nil, "postfix", "-c", p.ConfigDir, "reload"); err != nil {
		p.fatalf(t, "postfix reload: %v\n%s", err, out)
	}
	deadline := time.Now().Add(10 * time.Second)
	for strings.Count(p.Log(), "reload -- version") <= before {
		if time.Now().After(deadline) {
			p.fatalf(t, "postfix master did not log the reload within 10s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Log returns the instance's mail log so far. Postfix writes it through the
// postlog service, so a line may show up a few milliseconds after the event.
func (p *Postfix) Log() string {
	b, err := os.ReadFile(p.LogFile)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Sprintf("(cannot read %s: %v)", p.LogFile, err)
	}
	return string(b)
}

// Queue returns the messages in every queue, parsed from postqueue -j.
func (p *Postfix) Queue(t testing.TB) []QueueEntry {
	t.Helper()
	entries, err := p.queue()
	if err != nil {
		p.fatalf(t, "%v", err)
	}
	return entries
}

func (p *Postfix) queue() ([]QueueEntry, error) {
	out, err := p.run(30*time.Second, nil, "postqueue", "-c", p.ConfigDir, "-j")
	if err != nil {
		return nil, fmt.Errorf("postqueue -j: %v\n%s", err, out)
	}
	var entries []QueueEntry
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		var raw struct {
			QueueName   string `json:"queue_name"`
			QueueID     string `json:"queue_id"`
			Sender      string `json:"sender"`
			MessageSize int64  `json:"message_size"`
			Recipients  []struct {
				Address     string `json:"address"`
				DelayReason string `json:"delay_reason"`
			} `json:"recipients"`
		}
		if err := json.Unmarshal([]byte(line), &raw); err != nil {
			return nil, fmt.Errorf("postqueue -j: %v in %q", err, line)
		}
		e := QueueEntry{
			ID:     raw.QueueID,
			Queue:  raw.QueueName,
			Held:   raw.QueueName == "hold",
			Sender: raw.Sender,
			Size:   raw.MessageSize,
		}
		for _, r := range raw.Recipients {
			e.Recipients = append(e.Recipients, r.Address)
			if r.DelayReason != "" {
				if e.DelayReasons == nil {
					e.DelayReasons = map[string]string{}
				}
				e.DelayReasons[r.Address] = r.DelayReason
			}
		}
		entries = append(entries, e)
	}
	return entries, nil
}

// WaitHeld waits until the hold queue has at least n messages and returns the
// held ones. The hold queue is where Postfix puts a message its milter
// quarantined; the SMTP client was already told 250.
func (p *Postfix) WaitHeld(t testing.TB, n int, timeout time.Duration) []QueueEntry {
	t.Helper()
	var held []QueueEntry
	p.waitQueue(t, timeout, fmt.Sprintf("%d held messages", n), func(q []QueueEntry) bool {
		held = held[:0]
		for _, e := range q {
			if e.Held {
				held = append(held, e)
			}
		}
		return len(held) >= n
	})
	return held
}

// WaitQueueEmpty waits until every message has left the queue, delivered or
// bounced.
func (p *Postfix) WaitQueueEmpty(t testing.TB, timeout time.Duration) {
	t.Helper()
	p.waitQueue(t, timeout, "an empty queue", func(q []QueueEntry) bool { return len(q) == 0 })
}

func (p *Postfix) waitQueue(t testing.TB, timeout time.Duration, what string, done func([]QueueEntry) bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		q, err := p.queue()
		if err != nil {
			p.fatalf(t, "%v", err)
		}
		if done(q) {
			return
		}
		if time.Now().After(deadline) {
			p.fatalf(t, "no %s within %v; queue: %+v", what, timeout, q)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// Release takes a message out of the hold queue and has it delivered now.
// postsuper -H alone only moves it to the deferred queue, where it would wait
// for the next queue run; postqueue -i schedules it at once.
func (p *Postfix) Release(t testing.TB, id string) {
	t.Helper()
	out, err := p.run(30*time.Second, nil, "postsuper", "-c", p.ConfigDir, "-H", id)
	if err != nil || !strings.Contains(out, "Released from hold") {
		p.fatalf(t, "postsuper -H %s: err=%v output=%q", id, err, out)
	}
	if out, err := p.run(30*time.Second, nil, "postqueue", "-c", p.ConfigDir, "-i", id); err != nil {
		p.fatalf(t, "postqueue -i %s: %v\n%s", id, err, out)
	}
}

// Flush asks Postfix to retry every deferred message now.
func (p *Postfix) Flush(t testing.TB) {
	t.Helper()
	if out, err := p.run(30*time.Second, nil, "postqueue", "-c", p.ConfigDir, "-f"); err != nil {
		p.fatalf(t, "postqueue -f: %v\n%s", err, out)
	}
}

// Inject submits a message through Postfix's sendmail command instead of
// SMTP, so it passes non_smtpd_milters (pickup, then cleanup), the path local
// programs and cron mail take.
func (p *Postfix) Inject(t testing.TB, from string, to []string, data []byte) {
	t.Helper()
	args := append([]string{"-C", p.ConfigDir, "-f", from, "-i", "--"}, to...)
	if out, err := p.run(30*time.Second, data, "sendmail", args...); err != nil {
		p.fatalf(t, "sendmail: %v\n%s", err, out)
	}
}

// fatalf fails the test with the instance's log appended, because a Postfix
// failure is almost always explained there and nowhere else.
func (p *Postfix) fatalf(t testing.TB, format string, args ...any) {
	t.Helper()
	p.logShown = true
	t.Fatalf("harness: postfix %s: %s\n--- postfix log %s ---\n%s", p.SMTPAddr, fmt.Sprintf(format, args...), p.LogFile, p.logTail(200))
}

// logTail returns the last n lines of the log.
func (p *Postfix) logTail(n int) string {
	lines := strings.SplitAfter(p.Log(), "\n")
	if len(lines) > n {
		lines = append([]string{fmt.Sprintf("(%d earlier lines omitted)\n", len(lines)-n)}, lines[len(lines)-n:]...)
	}
	return strings.Join(lines, "")
}

// stop stops the instance, makes sure none of its processes survive, and
// removes its directory. "postfix stop" signals the master, which signals
// its children, and waits up to five seconds before killing the master's
// process group; daemons that still hang on after that are killed by PID.
func (p *Postfix) stop(t testing.TB) {
	if _, err := os.Stat(filepath.Join(p.QueueDir, "pid", "master.pid")); err == nil {
		if out, err := p.run(30*time.Second, nil, "postfix", "-c", p.ConfigDir, "stop"); err != nil {
			t.Logf("harness: postfix stop: %v\n%s", err, out)
		}
	}
	start := time.Now()
	killed := false
	for {
		pids := instancePIDs(p.ConfigDir)
		if len(pids) == 0 {
			break
		}
		if time.Since(start) > 10*time.Second {
			t.Errorf("harness: postfix processes %v of %s survived SIGKILL", pids, p.ConfigDir)
			return
		}
		if !killed && time.Since(start) > 3*time.Second {
			for _, pid := range pids {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
			killed = true
		}
		time.Sleep(20 * time.Millisecond)
	}
	if t.Failed() && !p.logShown {
		t.Logf("harness: postfix log %s:\n%s", p.LogFile, p.logTail(500))
	}
	if os.Getenv("MAMORI_KEEP_POSTFIX") == "1" {
		t.Logf("harness: keeping postfix directory %s", p.Dir)
		return
	}
	if err := os.RemoveAll(p.Dir); err != nil {
		t.Errorf("harness: remove postfix directory: %v", err)
	}
}

// instancePIDs returns the live processes that belong to the instance with
// this config directory. Postfix hands MAIL_CONFIG down from the postfix
// command to master and from master to every daemon, so the environment
// identifies an instance's processes even after they were reparented to
// init. Zombies are skipped: they hold no ports or files, and reaping them is
// init's job (which is slow in some containers).
func instancePIDs(configDir string) []int {
	want := []byte("MAIL_CONFIG=" + configDir)
	return livePIDs(func(dir string) bool {
		env, err := os.ReadFile(filepath.Join(dir, "environ"))
		return err == nil && slices.ContainsFunc(bytes.Split(env, []byte{0}), func(v []byte) bool { return bytes.Equal(v, want) })
	})
}

// run runs a Postfix command with a bounded time. WaitDelay bounds the wait
// for output too, since a daemon started by the command may inherit its pipe.
func (p *Postfix) run(timeout time.Duration, stdin []byte, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, commandPath(name), args...)
	cmd.WaitDelay = 5 * time.Second
	// A MAIL_CONFIG inherited from the test's environment would override -c
	// for some helper programs; -c/-C must be the only source.
	cmd.Env = slices.DeleteFunc(os.Environ(), func(v string) bool { return strings.HasPrefix(v, "MAIL_CONFIG=") })
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		err = fmt.Errorf("%s timed out after %v: %w", name, timeout, err)
	}
	return string(out), err
}

// commandPath finds a Postfix command in PATH or else in /usr/sbin, where
// Debian puts them and where a non-login PATH may not look.
func commandPath(name string) string {
	if path, err := exec.LookPath(name); err == nil {
		return path
	}
	return filepath.Join("/usr/sbin", name)
}
