package harness

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Binaries the DKIM helpers run (Debian's opendkim and opendkim-tools).
const (
	opendkimPath       = "/usr/sbin/opendkim"
	opendkimGenkeyPath = "/usr/sbin/opendkim-genkey"
)

// DKIMKeyBits is the RSA key size NewDKIMKey asks for. 2048 is what RFC 8301
// §3.2 says signers should use; opendkim-genkey makes one in about 0.3 s.
const DKIMKeyBits = 2048

// DKIMKey is an RSA key pair made with opendkim-genkey, for opendkim to sign
// with and for a test DNS server to publish.
type DKIMKey struct {
	// Domain and Selector name the key: its record is at
	// Selector._domainkey.Domain (RFC 6376 §3.6.2.1).
	Domain, Selector string
	// PrivateKeyFile is the PEM file opendkim-genkey wrote (PKCS #8,
	// "BEGIN PRIVATE KEY").
	PrivateKeyFile string
	// TXT is the key record's text, the strings of the generated .txt file
	// joined: "v=DKIM1; h=sha256; k=rsa; p=MIIB...".
	TXT string
}

// NewDKIMKey makes a DKIMKeyBits-bit key for domain and selector with
// opendkim-genkey in a directory of the test's own. Without the binary the
// test is skipped, unless MAMORI_REQUIRE_INTEGRATION=1 says it must run.
func NewDKIMKey(t testing.TB, domain, selector string) *DKIMKey {
	t.Helper()
	requireBinary(t, opendkimGenkeyPath, "opendkim-tools")
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, opendkimGenkeyPath,
		"-b", strconv.Itoa(DKIMKeyBits), "-d", domain, "-s", selector, "-D", dir)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("harness: opendkim-genkey -d %s -s %s: %v\n%s", domain, selector, err, out)
	}
	k := &DKIMKey{
		Domain:         domain,
		Selector:       selector,
		PrivateKeyFile: filepath.Join(dir, selector+".private"),
	}
	if _, err := os.Stat(k.PrivateKeyFile); err != nil {
		t.Fatalf("harness: opendkim-genkey: %v", err)
	}
	txtFile := filepath.Join(dir, selector+".txt")
	data, err := os.ReadFile(txtFile)
	if err != nil {
		t.Fatalf("harness: opendkim-genkey: %v", err)
	}
	if k.TXT, err = parseZoneTXT(string(data)); err != nil {
		t.Fatalf("harness: opendkim-genkey: %s: %v\n%s", txtFile, err, data)
	}
	if !strings.HasPrefix(k.TXT, "v=DKIM1;") || !strings.Contains(k.TXT, "p=") {
		t.Fatalf("harness: opendkim-genkey: %s holds no DKIM key record: %q", txtFile, k.TXT)
	}
	return k
}

// parseZoneTXT returns the character strings of the TXT record in a zone
// file line as opendkim-genkey writes it, joined:
//
//	sel._domainkey	IN	TXT	( "v=DKIM1; h=sha256; k=rsa; "
//		  "p=MIIB..." )  ; ----- DKIM key sel for example.test
//
// It stops at the first comment outside quotes.
func parseZoneTXT(s string) (string, error) {
	var b strings.Builder
	n := 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case ';':
			i = len(s)
			continue
		case '"':
		default:
			continue
		}
		n++
		for i++; ; i++ {
			if i >= len(s) {
				return "", errors.New("unterminated quoted string")
			}
			if s[i] == '"' {
				break
			}
			if s[i] == '\\' && i+1 < len(s) {
				i++
			}
			b.WriteByte(s[i])
		}
	}
	if n == 0 {
		return "", errors.New("no quoted string")
	}
	return b.String(), nil
}

// RecordName returns the name of the key record without the trailing dot,
// "selector._domainkey.domain", as a DKIM verifier asks for it.
func (k *DKIMKey) RecordName() string {
	return k.Selector + "._domainkey." + k.Domain
}

// Publish adds the key record to dns with a TTL of 60, its text split into
// strings of at most 255 bytes (RFC 6376 §3.6.2.2: a verifier joins them
// without separator).
func (k *DKIMKey) Publish(t testing.TB, dns *DNSServer) {
	t.Helper()
	var b strings.Builder
	b.WriteString(k.RecordName() + ". 60 IN TXT")
	for s := k.TXT; s != ""; {
		n := min(len(s), 255)
		b.WriteString(` "`)
		for _, c := range []byte(s[:n]) {
			if c == '"' || c == '\\' {
				b.WriteByte('\\')
			}
			b.WriteByte(c)
		}
		b.WriteByte('"')
		s = s[n:]
	}
	dns.Add(t, b.String())
}

// OpenDKIMOptions configures a private signing opendkim.
type OpenDKIMOptions struct {
	// Key is the key to sign with; its Domain is the only domain signed
	// (the From header's domain must match it) and its Selector goes in s=.
	// It is required.
	Key *DKIMKey
	// Canonicalization is opendkim's Canonicalization setting: "simple",
	// "relaxed", or header/body such as "relaxed/simple". "" keeps
	// opendkim's default, simple/simple.
	Canonicalization string
	// SignHeaders is opendkim's SignHeaders setting, a comma-separated list
	// of header field names; "" keeps opendkim's default (the RFC 6376 §5.4
	// list). opendkim adds From if the list lacks it.
	SignHeaders string
	// Config holds extra opendkim.conf lines ("OversignHeaders From",
	// "SignatureAlgorithm rsa-sha1"); a key given here overrides the
	// harness's own.
	Config []string
}

// OpenDKIM is a running private opendkim that signs and never verifies.
type OpenDKIM struct {
	// Milter is its address in Postfix syntax (inet:127.0.0.1:PORT), for
	// PostfixOptions.Milter.
	Milter string
	// Addr is "127.0.0.1:PORT".
	Addr string
	// Dir holds the configuration, the pid file and the log.
	Dir string
	// ConfigFile is the opendkim.conf it runs with.
	ConfigFile string
	// LogFile holds opendkim's stderr and, where the harness could give it
	// a private /dev/log (see StartOpenDKIM), its syslog lines. opendkim
	// has no log file setting of its own.
	LogFile string

	syslog   bool
	logShown bool // a failure message already printed the log
	logFile  *os.File
	logConn  *net.UnixConn
	logDone  chan struct{}
	mu       sync.Mutex // serialises writes to logFile
	cmd      *exec.Cmd
	done     chan struct{}
}

// StartOpenDKIM starts Debian's opendkim as a signing milter (Mode s) on a
// free loopback port, waits until it listens, and kills it when the test
// ends. It signs the mail of the key's domain that comes from 127.0.0.1,
// the only InternalHosts entry; other mail passes unsigned and unchecked.
// No DNS is needed to sign.
//
// opendkim logs only through syslog(3), and there is no syslogd on test
// machines. When the test runs as root, opendkim runs in a private mount
// namespace whose /dev is a small tmpfs with a /dev/log that leads to a
// socket the harness reads, so LogFile gets its syslog lines with LogWhy
// (why each message was signed or not) and LogResults. Otherwise Syslog is
// off and LogFile gets only what opendkim prints to stderr, which includes
// configuration errors.
//
// opendkim runs as the user that starts it: as root it does not complain,
// and the key file, written by the same user, stays readable. Without the
// binary the test is skipped, unless MAMORI_REQUIRE_INTEGRATION=1 says it
// must run, in which case it fails.
func StartOpenDKIM(t testing.TB, opt OpenDKIMOptions) *OpenDKIM {
	t.Helper()
	requireBinary(t, opendkimPath, "opendkim")
	if opt.Key == nil {
		t.Fatalf("harness: opendkim: OpenDKIMOptions.Key is required")
	}
	// A short directory: the syslog socket's path must fit in sun_path.
	dir, err := os.MkdirTemp("", "mamori-odk-")
	if err != nil {
		t.Fatalf("harness: %v", err)
	}
	o := &OpenDKIM{
		Dir:        dir,
		ConfigFile: filepath.Join(dir, "opendkim.conf"),
		LogFile:    filepath.Join(dir, "opendkim.log"),
	}
	t.Cleanup(func() {
		o.stop()
		if t.Failed() && !o.logShown {
			t.Logf("harness: opendkim %s log:\n%s", o.Addr, o.Log())
		}
		os.RemoveAll(dir)
	})
	if o.logFile, err = os.OpenFile(o.LogFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644); err != nil {
		t.Fatalf("harness: %v", err)
	}
	o.syslog = os.Geteuid() == 0
	if o.syslog {
		if err := o.listenSyslog(); err != nil {
			t.Fatalf("harness: opendkim: %v", err)
		}
	}
	// Another process can take the port between FreePort and opendkim's
	// bind; opendkim then exits at once, and a new port fixes it.
	for attempt := 1; ; attempt++ {
		port := FreePort(t)
		o.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		o.Milter = "inet:" + o.Addr
		if err := os.WriteFile(o.ConfigFile, []byte(o.config(port, opt)), 0o644); err != nil {
			t.Fatalf("harness: %v", err)
		}
		err := o.start(t, port)
		if err == nil {
			return o
		}
		if o.syslog && errors.Is(err, syscall.EPERM) {
			// Root without CAP_SYS_ADMIN (a container) cannot make a mount
			// namespace: run opendkim as it is, without syslog.
			t.Logf("harness: opendkim runs without syslog: no mount namespace: %v", err)
			o.syslog = false
			continue
		}
		if attempt < 3 && errors.Is(err, errOpenDKIMPortTaken) {
			t.Logf("harness: opendkim port %d was taken; trying another", port)
			continue
		}
		o.logShown = true
		t.Fatalf("harness: opendkim: %v\n%s", err, o.Log())
	}
}

// errOpenDKIMPortTaken means opendkim exited because it could not open its
// socket, most likely because another process took the port.
var errOpenDKIMPortTaken = errors.New("could not open its milter socket")

// config renders opendkim.conf: the harness's settings, then opt.Config
// with duplicates of its keys removed.
func (o *OpenDKIM) config(port int, opt OpenDKIMOptions) string {
	lines := []string{
		"Mode s",
		"Domain " + opt.Key.Domain,
		"Selector " + opt.Key.Selector,
		"KeyFile " + opt.Key.PrivateKeyFile,
		// The key lies below /tmp, which others can write; opendkim
		// refuses such a key unless told not to care.
		"RequireSafeKeys no",
		// Mail from these clients is signed (the default, made explicit).
		"InternalHosts 127.0.0.1",
		"Socket inet:" + strconv.Itoa(port) + "@127.0.0.1",
		"Background no",
		"PidFile " + filepath.Join(o.Dir, "opendkim.pid"),
		"TemporaryDirectory " + o.Dir,
	}
	if opt.Canonicalization != "" {
		lines = append(lines, "Canonicalization "+opt.Canonicalization)
	}
	if opt.SignHeaders != "" {
		lines = append(lines, "SignHeaders "+opt.SignHeaders)
	}
	if o.syslog {
		lines = append(lines, "Syslog yes", "SyslogSuccess yes", "LogWhy yes", "LogResults yes")
	} else {
		lines = append(lines, "Syslog no")
	}
	override := map[string]bool{}
	for _, l := range opt.Config {
		override[strings.ToLower(strings.Fields(l + " ")[0])] = true
	}
	var b strings.Builder
	b.WriteString("# Written by the Mamori integration harness.\n")
	for _, l := range lines {
		if !override[strings.ToLower(strings.Fields(l)[0])] {
			b.WriteString(l + "\n")
		}
	}
	for _, l := range opt.Config {
		b.WriteString(l + "\n")
	}
	return b.String()
}

// odkNamespaceScript runs opendkim in its own mount namespace. It makes
// every mount private first, so that nothing below leaks to the host, then
// replaces /dev with a small tmpfs holding the devices a daemon may open and
// a /dev/log that leads to the harness's syslog socket, and execs opendkim
// in the foreground. When opendkim dies, the namespace goes with it.
const odkNamespaceScript = `set -e
D="$1"; BIN="$2"; CONF="$3"
mount --make-rprivate /
mount -t tmpfs -o mode=0755,size=64k mamori-dev /dev
mknod -m 666 /dev/null c 1 3
mknod -m 666 /dev/zero c 1 5
mknod -m 666 /dev/random c 1 8
mknod -m 666 /dev/urandom c 1 9
ln -s /proc/self/fd /dev/fd
ln -s "$D/log.sock" /dev/log
exec "$BIN" -f -x "$CONF"
`

// start runs opendkim and waits until it listens on port.
func (o *OpenDKIM) start(t testing.TB, port int) error {
	t.Helper()
	var cmd *exec.Cmd
	if o.syslog {
		cmd = exec.Command("/bin/sh", "-c", odkNamespaceScript, "sh", o.Dir, opendkimPath, o.ConfigFile)
	} else {
		cmd = exec.Command(opendkimPath, "-f", "-x", o.ConfigFile)
	}
	cmd.Dir = o.Dir
	cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C"}
	cmd.Stdout = o.logFile
	cmd.Stderr = o.logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{
		// Its own process group, so that stop reaches everything it runs.
		Setpgid: true,
		// A dying test process takes opendkim with it (the signal survives
		// the exec from the namespace script).
		Pdeathsig: syscall.SIGKILL,
	}
	if o.syslog {
		cmd.SysProcAttr.Cloneflags = syscall.CLONE_NEWNS
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start: %w", err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	o.cmd, o.done = cmd, done

	start := time.Now()
	deadline := start.Add(10 * time.Second)
	for {
		select {
		case <-done:
			o.cmd = nil
			if strings.Contains(o.Log(), "smfi_opensocket() failed") {
				return fmt.Errorf("%s: %w (%v)", o.Addr, errOpenDKIMPortTaken, cmd.ProcessState)
			}
			return fmt.Errorf("exited at start: %v", cmd.ProcessState)
		default:
		}
		// Look for the listening socket in /proc rather than connecting
		// until it works: a process that took the port would accept too.
		ok, err := listensOn(cmd.Process.Pid, port)
		if err != nil {
			return err
		}
		if ok {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not listening on %s within 10s", o.Addr)
		}
		time.Sleep(10 * time.Millisecond)
	}
	conn, err := net.DialTimeout("tcp", o.Addr, time.Second)
	if err != nil {
		return fmt.Errorf("listening on %s but not accepting: %w", o.Addr, err)
	}
	conn.Close()
	if testing.Verbose() {
		t.Logf("harness: opendkim %s ready in %v", o.Addr, time.Since(start).Round(time.Millisecond))
	}
	return nil
}

// listensOn reports whether process pid holds a socket listening on
// 127.0.0.1:port: the inode in /proc/net/tcp must be one of its descriptors.
func listensOn(pid, port int) (bool, error) {
	f, err := os.Open("/proc/net/tcp")
	if err != nil {
		return false, err
	}
	defer f.Close()
	want := fmt.Sprintf("0100007F:%04X", port)
	inode := ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
		fields := strings.Fields(sc.Text())
		if len(fields) > 9 && fields[1] == want && fields[3] == "0A" {
			inode = fields[9]
			break
		}
	}
	if err := sc.Err(); err != nil || inode == "" {
		return false, err
	}
	fdDir := "/proc/" + strconv.Itoa(pid) + "/fd"
	fds, err := os.ReadDir(fdDir)
	if err != nil {
		return false, nil
	}
	for _, fd := range fds {
		if link, err := os.Readlink(filepath.Join(fdDir, fd.Name())); err == nil && link == "socket:["+inode+"]" {
			return true, nil
		}
	}
	return false, nil
}

// listenSyslog opens the datagram socket /dev/log leads to inside the
// namespace and appends what arrives to LogFile, one line per message,
// without glibc's "<PRI>" prefix.
func (o *OpenDKIM) listenSyslog() error {
	path := filepath.Join(o.Dir, "log.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		return fmt.Errorf("syslog socket: %w", err)
	}
	o.logConn = conn
	o.logDone = make(chan struct{})
	go readSyslog(conn, func(line string) {
		o.mu.Lock()
		o.logFile.WriteString(line + "\n")
		o.mu.Unlock()
	}, o.logDone)
	return nil
}

// stop kills opendkim and closes the log. SIGTERM would take up to five
// seconds (libmilter's listener notices it only when its poll times out),
// and a test instance has nothing to save.
func (o *OpenDKIM) stop() {
	if o.cmd != nil {
		_ = syscall.Kill(-o.cmd.Process.Pid, syscall.SIGKILL)
		<-o.done
		o.cmd = nil
	}
	if o.logConn != nil {
		o.logConn.Close()
		<-o.logDone
		o.logConn = nil
	}
	if o.logFile != nil {
		o.logFile.Close()
		o.logFile = nil
	}
}

// Log returns what opendkim wrote so far: its stderr and, when the harness
// could collect them, its syslog lines. A datagram may show up a few
// milliseconds after the event it reports.
func (o *OpenDKIM) Log() string {
	data, err := os.ReadFile(o.LogFile)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Sprintf("(cannot read %s: %v)", o.LogFile, err)
	}
	return string(data)
}

// PID returns the opendkim process id.
func (o *OpenDKIM) PID() int { return o.cmd.Process.Pid }
