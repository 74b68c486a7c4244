package harness

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// DefaultSendmailTimeouts is the T= value of the milter definition when
// SendmailOptions.Timeouts is empty.
const DefaultSendmailTimeouts = "C:5s;S:30s;R:60s;E:5m"

// smDefaultPrefix is where scripts/install-test-deps.sh unpacks Sendmail.
const smDefaultPrefix = "/opt/mamori-test/sendmail"

// smHostName is the host name of every test Sendmail, inside its own UTS
// namespace, and smDomain its domain; $j is smHostName.smDomain.
const (
	smHostName = "sendmail"
	smDomain   = "mamori.test"
)

// SendmailOptions configures one private Sendmail instance.
type SendmailOptions struct {
	// Milter is the milter socket in Sendmail syntax, for example
	// "inet:11332@127.0.0.1"; empty means no milter.
	Milter string
	// FailClosed sets F=T on the milter, so that Sendmail answers 4xx when
	// the milter cannot be reached; false keeps Sendmail's default, which
	// is to go on without the milter.
	FailClosed bool
	// Timeouts is the T= value of the milter; empty means
	// DefaultSendmailTimeouts.
	Timeouts string
	// NextHop is the "IP:port" every message is relayed to. It is
	// required.
	NextHop string
}

// Sendmail is a running private Sendmail MTA. It lives in its own mount,
// PID and UTS namespaces: a private /etc/hosts and nsswitch.conf answer
// its host name lookups at once, and a private /dev/log leads to a syslog
// socket this process reads.
type Sendmail struct {
	// SMTPAddr is the "127.0.0.1:port" address Sendmail accepts SMTP on.
	SMTPAddr string
	// Dir holds the configuration, queue, pid file and sockets. It is
	// removed when the test ends.
	Dir string

	prefix   string
	cf       string
	queue    string
	cmd      *exec.Cmd
	stdin    *os.File
	nsPID    string // link text of /proc/PID/ns/pid of the namespace
	waitErr  chan error
	logStart int // index of the first log line of the current start

	logConn *net.UnixConn
	logDone chan struct{}
	mu      sync.Mutex
	logs    []string
}

// StartSendmail builds a configuration from opt, starts Sendmail and waits
// until it listens on SMTPAddr. It fails the test when Sendmail is not
// unpacked or does not start, and stops it and removes its files when the
// test ends.
func StartSendmail(t testing.TB, opt SendmailOptions) *Sendmail {
	t.Helper()
	prefix := os.Getenv("MAMORI_SENDMAIL_PREFIX")
	if prefix == "" {
		prefix = smDefaultPrefix
	}
	bin := filepath.Join(prefix, "usr/libexec/sendmail/sendmail")
	cfDir := filepath.Join(prefix, "usr/share/sendmail/cf")
	for _, p := range []string{bin, filepath.Join(cfDir, "m4/cf.m4")} {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("harness: sendmail: %v: run scripts/install-test-deps.sh (or set MAMORI_SENDMAIL_PREFIX)", err)
		}
	}
	for _, tool := range []string{"m4", "mount", "mknod", "nsenter"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("harness: sendmail: %s not found: run scripts/install-test-deps.sh", tool)
		}
	}
	if os.Geteuid() != 0 {
		t.Fatalf("harness: sendmail: must run as root (it needs mount, PID and UTS namespaces)")
	}
	hop, err := smNextHop(opt.NextHop)
	if err != nil {
		t.Fatalf("harness: sendmail: %v", err)
	}
	if err := smCheckMilter(opt); err != nil {
		t.Fatalf("harness: sendmail: %v", err)
	}

	dir, err := smTempDir()
	if err != nil {
		t.Fatalf("harness: sendmail: %v", err)
	}
	s := &Sendmail{
		Dir:     dir,
		prefix:  prefix,
		cf:      filepath.Join(dir, "sendmail.cf"),
		queue:   filepath.Join(dir, "mqueue"),
		logDone: make(chan struct{}),
	}
	t.Cleanup(func() { s.stop(t) })

	if err := s.listenSyslog(); err != nil {
		t.Fatalf("harness: sendmail: %v", err)
	}
	// The port is free when chosen but Sendmail binds it later; if another
	// process took it meanwhile, start over on a new one.
	for attempt := 1; ; attempt++ {
		port, err := smPortFunc()
		if err != nil {
			t.Fatalf("harness: sendmail: %v", err)
		}
		s.SMTPAddr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		if err := s.writeFiles(cfDir, port, hop, opt); err != nil {
			t.Fatalf("harness: sendmail: %v", err)
		}
		if err := s.start(bin); err != nil {
			t.Fatalf("harness: sendmail: %v", err)
		}
		err = s.waitReady(15 * time.Second)
		if err == nil {
			return s
		}
		if errors.Is(err, errSmPortTaken) && attempt < 3 {
			s.stopNamespace(t)
			continue
		}
		t.Fatalf("harness: sendmail: %v\n%s", err, s.diagnostics())
	}
}

// errSmPortTaken means Sendmail could not bind its SMTP port.
var errSmPortTaken = errors.New("SMTP port taken by another process")

// smPortFunc picks the SMTP port; tests replace it to provoke a clash.
var smPortFunc = smFreePort

// smTempDir makes the instance directory. It stays short because the
// syslog socket inside must fit in sun_path (108 bytes), and it is 0700
// because Sendmail refuses a queue that others can write.
func smTempDir() (string, error) {
	base := os.TempDir()
	if len(base) > 60 {
		base = "/tmp"
	}
	dir, err := os.MkdirTemp(base, "mamori-sm-")
	if err != nil {
		return "", err
	}
	// Sendmail follows the path from / and rejects group-writable
	// directories on it; resolve symlinks so it checks the real one.
	return filepath.EvalSymlinks(dir)
}

// smFreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func smFreePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// smHop is a parsed next hop.
type smHop struct {
	ip   string
	port int
}

// smNextHop parses SendmailOptions.NextHop, which must be an IP literal
// with a port: Sendmail would look any name up in DNS.
func smNextHop(s string) (smHop, error) {
	if s == "" {
		return smHop{}, errors.New("SendmailOptions.NextHop is required (\"127.0.0.1:PORT\")")
	}
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return smHop{}, fmt.Errorf("next hop %q: %w", s, err)
	}
	ip := net.ParseIP(host)
	if ip == nil {
		return smHop{}, fmt.Errorf("next hop %q: host must be an IP address", s)
	}
	p, err := strconv.Atoi(port)
	if err != nil || p <= 0 || p > 65535 {
		return smHop{}, fmt.Errorf("next hop %q: bad port", s)
	}
	return smHop{ip: ip.String(), port: p}, nil
}

// smCheckMilter rejects characters that would break the m4 quoting or the
// comma-separated milter definition.
func smCheckMilter(opt SendmailOptions) error {
	for _, v := range []string{opt.Milter, opt.Timeouts} {
		if strings.ContainsAny(v, "`',\n") {
			return fmt.Errorf("milter option %q: must not contain quotes, commas or newlines", v)
		}
	}
	return nil
}

// smQuote quotes v for m4.
func smQuote(v string) string { return "`" + v + "'" }

// mc returns the .mc text of this instance. Every file of the instance
// lives in Dir, so several instances can run at once.
func (s *Sendmail) mc(cfDir string, port int, hop smHop, opt SendmailOptions) string {
	var b strings.Builder
	define := func(name, value string) {
		fmt.Fprintf(&b, "define(%s, %s)dnl\n", smQuote(name), smQuote(value))
	}
	macro := func(name string, args ...string) {
		for i, a := range args {
			args[i] = smQuote(a)
		}
		fmt.Fprintf(&b, "%s(%s)dnl\n", name, strings.Join(args, ", "))
	}
	b.WriteString("divert(-1)\n")
	define("MAIL_SETTINGS_DIR", s.Dir+"/")
	b.WriteString("divert(0)dnl\n")
	fmt.Fprintf(&b, "include(%s)dnl\n", smQuote(cfDir+"/m4/cf.m4"))
	macro("VERSIONID", "mamori integration test")
	macro("OSTYPE", "linux")
	define("confDOMAIN_NAME", smHostName+"."+smDomain)
	define("QUEUE_DIR", s.queue)
	define("STATUS_FILE", s.Dir+"/statistics")
	define("confPID_FILE", s.Dir+"/sendmail.pid")
	define("confDEAD_LETTER_DROP", s.Dir+"/dead.letter")
	// No aliases database to build with newaliases.
	b.WriteString("undefine(`ALIAS_FILE')dnl\n")
	// Host lookups read only the private hosts file, never DNS; any
	// resolver query left over does not walk a search list.
	define("confSERVICE_SWITCH_FILE", s.Dir+"/service.switch")
	define("confHOSTS_FILE", s.Dir+"/hosts")
	define("confBIND_OPTS", "-DNSRCH -DEFNAMES")
	// Do not resolve the name of every local interface at start.
	define("confDONT_PROBE_INTERFACES", "True")
	// No RFC 1413 ident query for each connection.
	define("confTO_IDENT", "0s")
	// A busy test machine (load above 8 or 12) must neither queue mail
	// instead of delivering it nor refuse connections.
	define("confQUEUE_LA", "1000")
	define("confREFUSE_LA", "1000")
	// Debian's mail user; there is no mailnull.
	define("confDEF_USER_ID", "8:8")
	// Log milter negotiation and each milter decision.
	define("confLOG_LEVEL", "14")
	// SMART_HOST takes no port, so the port goes in the mailer arguments.
	hopIP := hop.ip
	if strings.Contains(hopIP, ":") {
		hopIP = "IPv6:" + hopIP
	}
	define("SMART_HOST", "esmtp:["+hopIP+"]")
	for _, m := range []string{"ESMTP", "SMTP", "SMTP8", "DSMTP", "RELAY"} {
		define(m+"_MAILER_ARGS", fmt.Sprintf("TCP $h %d", hop.port))
	}
	// The rules must not look the sender's or client's names up.
	macro("FEATURE", "nocanonify")
	macro("FEATURE", "accept_unresolvable_domains")
	macro("FEATURE", "accept_unqualified_senders")
	macro("FEATURE", "no_default_msa")
	macro("DAEMON_OPTIONS", fmt.Sprintf("Family=inet, Name=MTA, Port=%d, Addr=127.0.0.1", port))
	// confMILTER_MACROS_* stay at Sendmail's defaults on purpose.
	if opt.Milter != "" {
		spec := "S=" + opt.Milter
		if opt.FailClosed {
			spec += ", F=T"
		}
		to := opt.Timeouts
		if to == "" {
			to = DefaultSendmailTimeouts
		}
		macro("INPUT_MAIL_FILTER", "mamori", spec+", T="+to)
	}
	macro("MAILER", "local")
	macro("MAILER", "smtp")
	return b.String()
}

// writeFiles writes the configuration, the private system files for the
// namespace, and the queue directory.
func (s *Sendmail) writeFiles(cfDir string, port int, hop smHop, opt SendmailOptions) error {
	fqdn := smHostName + "." + smDomain
	// Sendmail's own name resolves to a fully qualified name from the file
	// (no DNS search), on 127.0.1.1 as Debian does it, so that test
	// clients on 127.0.0.1 show up as "localhost", not as the MTA itself.
	hosts := fmt.Sprintf("127.0.0.1\tlocalhost\n127.0.1.1\t%s %s\n::1\tlocalhost ip6-localhost ip6-loopback\n", fqdn, smHostName)
	files := []struct {
		name, text string
		mode       os.FileMode
	}{
		{"sendmail.mc", s.mc(cfDir, port, hop, opt), 0o644},
		// The system files bound over /etc inside the namespace.
		{"etc-hosts", hosts, 0o644},
		{"etc-nsswitch.conf", "hosts: files\n", 0o644},
		// Sendmail's own copies, named in the .cf.
		{"hosts", hosts, 0o644},
		{"service.switch", "hosts\tfiles\naliases\tfiles\n", 0o644},
		// Sendmail only updates an existing statistics file.
		{"statistics", "", 0o600},
	}
	for _, f := range files {
		if err := os.WriteFile(filepath.Join(s.Dir, f.name), []byte(f.text), f.mode); err != nil {
			return err
		}
	}
	if err := os.Mkdir(s.queue, 0o700); err != nil && !os.IsExist(err) {
		return err
	}
	if err := os.Remove(filepath.Join(s.Dir, "sendmail.exit")); err != nil && !os.IsNotExist(err) {
		return err
	}
	m4 := exec.Command("m4", "-D_CF_DIR_="+cfDir+"/", filepath.Join(s.Dir, "sendmail.mc"))
	var stderr bytes.Buffer
	m4.Stderr = &stderr
	cf, err := m4.Output()
	if err != nil {
		return fmt.Errorf("m4: %w: %s", err, stderr.String())
	}
	if stderr.Len() > 0 {
		return fmt.Errorf("m4: %s", stderr.String())
	}
	return os.WriteFile(s.cf, cf, 0o644)
}

// listenSyslog opens the datagram socket that /dev/log leads to inside the
// namespace and collects what arrives.
func (s *Sendmail) listenSyslog() error {
	path := filepath.Join(s.Dir, "log.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		return fmt.Errorf("syslog socket: %w", err)
	}
	// Sendmail's children run as other users (DefaultUser) and log too.
	if err := os.Chmod(path, 0o666); err != nil {
		conn.Close()
		return err
	}
	s.logConn = conn
	go readSyslog(conn, func(line string) {
		s.mu.Lock()
		s.logs = append(s.logs, line)
		s.mu.Unlock()
	}, s.logDone)
	return nil
}

// smNamespaceScript runs as PID 1 of the new namespaces. It makes every
// mount private (so nothing leaks to the host), binds the private hosts
// and nsswitch.conf over /etc, replaces /dev with a small tmpfs whose
// "log" is a symlink to our syslog socket, sets the host name and starts
// Sendmail in the foreground (-bD). A second job blocks on stdin; when the
// test process closes it or dies, that job kills every process of the
// namespace. Meanwhile the script waits, which reaps the delivery
// processes Sendmail orphans (they are reparented to PID 1). Should the
// script itself be killed, the kernel kills the rest of the namespace.
const smNamespaceScript = `set -e
D="$1"; SM="$2"
mount --make-rprivate /
mount --bind "$D/etc-hosts" /etc/hosts
mount --bind "$D/etc-nsswitch.conf" /etc/nsswitch.conf
mount -t tmpfs -o mode=0755,size=64k mamori-dev /dev
mknod -m 666 /dev/null c 1 3
mknod -m 666 /dev/zero c 1 5
mknod -m 666 /dev/full c 1 7
mknod -m 666 /dev/random c 1 8
mknod -m 666 /dev/urandom c 1 9
mknod -m 666 /dev/tty c 5 0
ln -s /proc/self/fd /dev/fd
ln -s /proc/self/fd/0 /dev/stdin
ln -s /proc/self/fd/1 /dev/stdout
ln -s /proc/self/fd/2 /dev/stderr
ln -s "$D/log.sock" /dev/log
echo ` + smHostName + ` > /proc/sys/kernel/hostname
exec 3<&0 </dev/null
{ "$SM" -C "$D/sendmail.cf" -bD; echo "$?" > "$D/sendmail.exit"; } &
{ read -r _ <&3 || true; kill -KILL -1; } &
wait
`

// start launches the namespace script with Sendmail.
func (s *Sendmail) start(bin string) error {
	out, err := os.Create(filepath.Join(s.Dir, "stderr.log"))
	if err != nil {
		return err
	}
	defer out.Close()
	r, w, err := os.Pipe()
	if err != nil {
		return err
	}
	defer r.Close()
	s.mu.Lock()
	s.logStart = len(s.logs)
	s.mu.Unlock()
	cmd := exec.Command("/bin/sh", "-c", smNamespaceScript, "sh", s.Dir, bin)
	cmd.Stdin = r
	cmd.Stdout = out
	cmd.Stderr = out
	cmd.Dir = s.Dir
	cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C"}
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags: syscall.CLONE_NEWNS | syscall.CLONE_NEWPID | syscall.CLONE_NEWUTS,
		// A dying test process takes the namespace with it.
		Pdeathsig: syscall.SIGKILL,
	}
	if err := cmd.Start(); err != nil {
		w.Close()
		return fmt.Errorf("start namespace: %w", err)
	}
	s.cmd = cmd
	s.stdin = w
	s.waitErr = make(chan error, 1)
	if link, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/pid", cmd.Process.Pid)); err == nil {
		s.nsPID = link
	}
	go func() { s.waitErr <- cmd.Wait() }()
	return nil
}

// waitReady waits until Sendmail listens on SMTPAddr. It watches the
// socket table instead of connecting, because every SMTP connection would
// also open a milter connection and show up in the milter's tests.
func (s *Sendmail) waitReady(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	_, portText, _ := net.SplitHostPort(s.SMTPAddr)
	port, _ := strconv.Atoi(portText)
	for time.Now().Before(deadline) {
		select {
		case err := <-s.waitErr:
			s.waitErr <- err
			return fmt.Errorf("namespace exited early: %v", err)
		default:
		}
		if b, err := os.ReadFile(filepath.Join(s.Dir, "sendmail.exit")); err == nil {
			return fmt.Errorf("sendmail exited with status %s", strings.TrimSpace(string(b)))
		}
		ok, err := smListening(port)
		if err != nil {
			return err
		}
		// Sendmail logs "started as" once its sockets are open; someone
		// else's socket on the port would look the same in /proc.
		log := s.currentLog()
		if strings.Contains(log, "Address already in use") {
			return fmt.Errorf("%s: %w", s.SMTPAddr, errSmPortTaken)
		}
		if ok && strings.Contains(log, "started as: ") {
			return nil
		}
		time.Sleep(10 * time.Millisecond)
	}
	return fmt.Errorf("not listening on %s within %v", s.SMTPAddr, timeout)
}

// smListening reports whether a TCP socket listens on 127.0.0.1:port,
// from /proc/net/tcp (the namespace shares the host's network).
func smListening(port int) (bool, error) {
	f, err := os.Open("/proc/net/tcp")
	if err != nil {
		return false, err
	}
	defer f.Close()
	want := fmt.Sprintf("0100007F:%04X", port)
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// sl local_address rem_address st ...; st 0A is LISTEN.
		fields := strings.Fields(sc.Text())
		if len(fields) > 3 && fields[1] == want && fields[3] == "0A" {
			return true, nil
		}
	}
	return false, sc.Err()
}

// diagnostics returns the stderr output and the syslog lines, for failure
// messages.
func (s *Sendmail) diagnostics() string {
	var b strings.Builder
	if out, err := os.ReadFile(filepath.Join(s.Dir, "stderr.log")); err == nil && len(out) > 0 {
		b.WriteString("--- sendmail stderr ---\n")
		b.Write(out)
	}
	b.WriteString("--- sendmail syslog ---\n")
	b.WriteString(s.Log())
	return b.String()
}

// Log returns the syslog lines this instance wrote so far, one per line,
// without the syslog priority prefix.
func (s *Sendmail) Log() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.logs) == 0 {
		return ""
	}
	return strings.Join(s.logs, "\n") + "\n"
}

// currentLog is Log restricted to the current start.
func (s *Sendmail) currentLog() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.Join(s.logs[s.logStart:], "\n")
}

// Exec runs the Sendmail binary with this instance's configuration and
// the given arguments inside the instance's namespaces, and returns its
// combined output. It fails the test if the command fails.
func (s *Sendmail) Exec(t testing.TB, args ...string) string {
	t.Helper()
	out, err := s.exec(args...)
	if err != nil {
		t.Fatalf("harness: sendmail %s: %v\n%s\n%s", strings.Join(args, " "), err, out, s.diagnostics())
	}
	return out
}

// exec is Exec without the test.
func (s *Sendmail) exec(args ...string) (string, error) {
	if s.cmd == nil {
		return "", errors.New("not running")
	}
	bin := filepath.Join(s.prefix, "usr/libexec/sendmail/sendmail")
	argv := append([]string{"--target", strconv.Itoa(s.cmd.Process.Pid), "--mount", "--uts", "--pid", "--",
		bin, "-C", s.cf}, args...)
	cmd := exec.Command("nsenter", argv...)
	cmd.Dir = s.Dir
	cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C"}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// Quarantined returns the sorted queue ids of the quarantined messages,
// read from the hf files of the queue directory.
func (s *Sendmail) Quarantined(t testing.TB) []string {
	t.Helper()
	ids, err := s.queueIDs("hf")
	if err != nil {
		t.Fatalf("harness: sendmail: %v", err)
	}
	return ids
}

// Queued returns the sorted queue ids of the messages waiting in the
// ordinary queue (qf files), for example those deferred by the next hop.
func (s *Sendmail) Queued(t testing.TB) []string {
	t.Helper()
	ids, err := s.queueIDs("qf")
	if err != nil {
		t.Fatalf("harness: sendmail: %v", err)
	}
	return ids
}

// queueIDs lists the queue ids whose control file starts with kind.
func (s *Sendmail) queueIDs(kind string) ([]string, error) {
	ents, err := os.ReadDir(s.queue)
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, e := range ents {
		if name := e.Name(); strings.HasPrefix(name, kind) && len(name) > len(kind) {
			ids = append(ids, name[len(kind):])
		}
	}
	sort.Strings(ids)
	return ids, nil
}

// WaitQuarantined waits until at least n messages are quarantined and
// returns their queue ids; it fails the test after timeout.
func (s *Sendmail) WaitQuarantined(t testing.TB, n int, timeout time.Duration) []string {
	t.Helper()
	return pollUntil(t, timeout, func() ([]string, bool) {
		ids := s.Quarantined(t)
		return ids, len(ids) >= n
	}, func(ids []string) string {
		return fmt.Sprintf("harness: sendmail: %d quarantined after %v, want %d\n%s", len(ids), timeout, n, s.diagnostics())
	})
}

// Release takes the quarantined message id out of the quarantine
// (sendmail -qQ -Q -qI<id>) and delivers it at once in the foreground
// (sendmail -qf -qI<id>).
// It fails the test if the message is not quarantined or is still queued
// afterwards.
func (s *Sendmail) Release(t testing.TB, id string) {
	t.Helper()
	if _, err := os.Stat(filepath.Join(s.queue, "hf"+id)); err != nil {
		t.Fatalf("harness: sendmail: release %s: not quarantined: %v", id, err)
	}
	s.Exec(t, "-qQ", "-Q", "-qI"+id)
	if _, err := os.Stat(filepath.Join(s.queue, "hf"+id)); err == nil {
		t.Fatalf("harness: sendmail: release %s: still quarantined\n%s", id, s.diagnostics())
	}
	s.Exec(t, "-qf", "-qI"+id)
	if _, err := os.Stat(filepath.Join(s.queue, "qf"+id)); err == nil {
		t.Fatalf("harness: sendmail: release %s: delivered nothing, still queued\n%s", id, s.diagnostics())
	}
}

// Flush runs the whole ordinary queue once, in the foreground.
func (s *Sendmail) Flush(t testing.TB) {
	t.Helper()
	s.Exec(t, "-qf")
}

// stop ends the namespace, closes the syslog socket and removes the
// directory.
func (s *Sendmail) stop(t testing.TB) {
	s.stopNamespace(t)
	if s.logConn != nil {
		s.logConn.Close()
		<-s.logDone
	}
	// A SYSERR means the harness set Sendmail up wrong (a path it finds
	// unsafe, a file it cannot write), not that the test failed.
	if strings.Contains(s.currentLog(), "SYSERR") {
		t.Errorf("harness: sendmail logged a SYSERR")
	}
	if t.Failed() {
		t.Logf("harness: sendmail in %s:\n%s", s.Dir, s.diagnostics())
	}
	if err := os.RemoveAll(s.Dir); err != nil {
		t.Errorf("harness: sendmail: %v", err)
	}
}

// stopNamespace ends the namespace and checks that none of its processes
// is left.
func (s *Sendmail) stopNamespace(t testing.TB) {
	if s.cmd == nil {
		return
	}
	s.stdin.Close()
	select {
	case <-s.waitErr:
	case <-time.After(5 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.waitErr
	}
	s.cmd = nil
	// The kernel kills the rest of the PID namespace once its first
	// process is gone; wait until they are reaped.
	deadline := time.Now().Add(5 * time.Second)
	for {
		left := smProcsInNamespace(s.nsPID)
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("harness: sendmail: processes %v left in namespace %s", left, s.nsPID)
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// smProcsInNamespace returns the host PIDs of the processes whose PID
// namespace is ns (the link text of /proc/PID/ns/pid).
func smProcsInNamespace(ns string) []int {
	if ns == "" {
		return nil
	}
	return livePIDs(func(dir string) bool {
		link, err := os.Readlink(filepath.Join(dir, "ns/pid"))
		return err == nil && link == ns
	})
}

// NamespaceProcs returns the host PIDs of the processes still running in
// this instance's PID namespace; after the test's cleanup it is empty.
func (s *Sendmail) NamespaceProcs() []int {
	return smProcsInNamespace(s.nsPID)
}
