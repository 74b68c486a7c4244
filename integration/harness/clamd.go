package harness

import (
	"bufio"
	"bytes"
	"crypto/md5"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
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

// Binaries the clamd helpers run (Debian's clamav-daemon and clamav-milter).
const (
	clamdPath       = "/usr/sbin/clamd"
	clamavMilterBin = "/usr/sbin/clamav-milter"
)

// Test signatures. clamd appends ".UNOFFICIAL" to every name from a database
// that is not signed by the ClamAV project, so a detection of EICAR reads
// "Mamori.Test.EICAR.UNOFFICIAL": compare with strings.HasPrefix.
const (
	// EICARSignature is the name of the body signature for the EICAR test
	// file; EICARHashSignature the name of its MD5 entry.
	EICARSignature     = "Mamori.Test.EICAR"
	EICARHashSignature = "Mamori.Test.EICAR.Hash"
	// Marker is a string of our own that the test database flags as
	// MarkerSignature wherever it appears, for tests that need "malware"
	// other than EICAR (inside a document, at the end of a large part).
	Marker          = "MAMORI-TEST-MALWARE-MARKER"
	MarkerSignature = "Mamori.Test.Marker"
)

// EICAR returns the 68-byte EICAR anti-virus test file. It is put together
// at run time so that no file of this repository contains it and desktop
// scanners leave the source tree alone.
func EICAR() []byte {
	parts := []string{`X5O!P%@AP[4\PZX54(P^)7CC)7}$`, "EICAR", "-STANDARD-", "ANTIVIRUS", "-TEST-FILE!", "$H+H*"}
	return []byte(strings.Join(parts, ""))
}

// ClamdOptions configures a private clamd.
type ClamdOptions struct {
	// TCP makes clamd listen on a free loopback TCP port as well as on its
	// Unix socket.
	TCP bool
	// StreamMaxLength is clamd's limit on one INSTREAM request, in clamd.conf
	// syntax ("25M", "1M", "512K"); "" means 25M, the Debian default.
	StreamMaxLength string
	// MaxThreads is clamd's worker count; 0 means 10 (clamd's default).
	MaxThreads int
	// Config holds extra clamd.conf lines ("MaxScanSize 1M"); a key given
	// here overrides the harness's own.
	Config []string
}

// Clamd is a running private clamd with the test signature database.
type Clamd struct {
	// Socket is the path of its Unix socket.
	Socket string
	// TCPAddr is "127.0.0.1:port" when ClamdOptions.TCP was set, else "".
	TCPAddr string
	// Dir holds the configuration, the database, the socket and the log.
	Dir string
	// ConfigFile is the clamd.conf it runs with.
	ConfigFile string
	// LogFile is clamd's log.
	LogFile string

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
	out  bytes.Buffer // stdout and stderr of the current process
}

// StartClamd starts clamd with a private configuration and a database of
// test signatures (EICAR and Marker; nothing is downloaded), waits until it
// answers PING, and stops it when the test ends.
//
// clamd needs no root: without a User line it runs as whoever starts it.
// Without the binary the test is skipped, unless MAMORI_REQUIRE_INTEGRATION=1
// says it must run, in which case it fails.
func StartClamd(t testing.TB, opts ClamdOptions) *Clamd {
	t.Helper()
	requireBinary(t, clamdPath, "clamav-daemon")
	// A short directory: Unix socket paths are limited to 107 bytes.
	dir, err := os.MkdirTemp("", "mamori-clamd-")
	if err != nil {
		t.Fatalf("harness: %v", err)
	}
	c := &Clamd{
		Dir:        dir,
		Socket:     filepath.Join(dir, "clamd.sock"),
		ConfigFile: filepath.Join(dir, "clamd.conf"),
		LogFile:    filepath.Join(dir, "clamd.log"),
	}
	t.Cleanup(func() {
		c.stop()
		if t.Failed() {
			t.Logf("clamd log:\n%s", c.Log())
		}
		os.RemoveAll(dir)
	})
	if err := writeTestDatabase(filepath.Join(dir, "db")); err != nil {
		t.Fatalf("harness: clamd database: %v", err)
	}
	if opts.TCP {
		c.TCPAddr = net.JoinHostPort("127.0.0.1", strconv.Itoa(FreePort(t)))
	}
	if err := os.WriteFile(c.ConfigFile, []byte(c.config(opts)), 0o644); err != nil {
		t.Fatalf("harness: %v", err)
	}
	c.Start(t)
	return c
}

// config renders clamd.conf: the harness's settings, then opts.Config with
// duplicates of its keys removed (clamd refuses a key given twice).
func (c *Clamd) config(opts ClamdOptions) string {
	maxLen := opts.StreamMaxLength
	if maxLen == "" {
		maxLen = "25M"
	}
	threads := opts.MaxThreads
	if threads <= 0 {
		threads = 10
	}
	lines := []string{
		"Foreground yes",
		"LocalSocket " + c.Socket,
		"LocalSocketMode 666",
		"DatabaseDirectory " + filepath.Join(c.Dir, "db"),
		"StreamMaxLength " + maxLen,
		"MaxThreads " + strconv.Itoa(threads),
		"LogFile " + c.LogFile,
		"LogTime yes",
		"LogVerbose yes",
		// The self check reloads the database when it changed; tests never
		// change it, and a reload would only add latency.
		"SelfCheck 0",
		"PidFile " + filepath.Join(c.Dir, "clamd.pid"),
	}
	if c.TCPAddr != "" {
		host, port, _ := net.SplitHostPort(c.TCPAddr)
		lines = append(lines, "TCPSocket "+port, "TCPAddr "+host)
	}
	override := map[string]bool{}
	for _, l := range opts.Config {
		override[strings.ToLower(strings.Fields(l + " ")[0])] = true
	}
	var b strings.Builder
	for _, l := range lines {
		if !override[strings.ToLower(strings.Fields(l)[0])] {
			b.WriteString(l + "\n")
		}
	}
	for _, l := range opts.Config {
		b.WriteString(l + "\n")
	}
	return b.String()
}

// writeTestDatabase writes mamori.ndb (body signatures, any file type,
// anywhere in the file) and mamori.hdb (MD5:size:name of the EICAR file).
func writeTestDatabase(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	eicar := EICAR()
	ndb := EICARSignature + ":0:*:" + hex.EncodeToString(eicar) + "\n" +
		MarkerSignature + ":0:*:" + hex.EncodeToString([]byte(Marker)) + "\n"
	sum := md5.Sum(eicar)
	hdb := hex.EncodeToString(sum[:]) + ":" + strconv.Itoa(len(eicar)) + ":" + EICARHashSignature + "\n"
	if err := os.WriteFile(filepath.Join(dir, "mamori.ndb"), []byte(ndb), 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "mamori.hdb"), []byte(hdb), 0o644)
}

// Address returns the Unix socket in the form Mamori's clamav check takes
// ("unix:/tmp/.../clamd.sock").
func (c *Clamd) Address() string { return "unix:" + c.Socket }

// Start starts clamd (again) on the same socket and port and waits until it
// answers PING. StartClamd calls it; tests call it after Stop to bring clamd
// back.
func (c *Clamd) Start(t testing.TB) {
	t.Helper()
	c.mu.Lock()
	if c.cmd != nil {
		c.mu.Unlock()
		t.Fatalf("harness: clamd is already running")
	}
	c.out.Reset()
	cmd := exec.Command(clamdPath, "-c", c.ConfigFile)
	cmd.Stdout = &lockedWriter{mu: &c.mu, w: &c.out}
	cmd.Stderr = cmd.Stdout
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		c.mu.Unlock()
		t.Fatalf("harness: start clamd: %v", err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	c.cmd, c.done = cmd, done
	c.mu.Unlock()

	start := time.Now()
	pollUntil(t, 60*time.Second, func() (error, bool) {
		select {
		case <-done:
			return errors.New("clamd exited"), true
		default:
		}
		_, err := ClamdRequest("unix", c.Socket, "PING", nil, time.Second)
		return err, err == nil
	}, func(err error) string {
		return fmt.Sprintf("harness: clamd did not answer PING within 60s: %v\n%s", err, c.Log())
	})
	select {
	case <-done:
		t.Fatalf("harness: clamd exited at start:\n%s", c.Log())
	default:
	}
	if c.TCPAddr != "" {
		pollUntil(t, 10*time.Second, func() (error, bool) {
			_, err := ClamdRequest("tcp", c.TCPAddr, "PING", nil, time.Second)
			return err, err == nil
		}, func(err error) string { return fmt.Sprintf("harness: clamd TCP %s: %v", c.TCPAddr, err) })
	}
	if testing.Verbose() {
		t.Logf("harness: clamd ready in %v", time.Since(start).Round(time.Millisecond))
	}
}

// Stop stops clamd (SIGTERM, SIGKILL after 10 s) and waits until it has
// exited. Scans then fail as they would with clamd down; Start brings it
// back on the same socket and port.
func (c *Clamd) Stop(t testing.TB) {
	t.Helper()
	if !c.stop() {
		t.Fatalf("harness: clamd is not running")
	}
}

func (c *Clamd) stop() bool {
	c.mu.Lock()
	cmd, done := c.cmd, c.done
	c.cmd = nil
	c.mu.Unlock()
	if cmd == nil {
		return false
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
	}
	// clamd removes its socket on SIGTERM, but not when killed; a stale
	// socket file would refuse connections rather than look absent.
	_ = os.Remove(c.Socket)
	return true
}

// Log returns clamd's output and log file.
func (c *Clamd) Log() string {
	c.mu.Lock()
	out := c.out.String()
	c.mu.Unlock()
	data, _ := os.ReadFile(c.LogFile)
	return out + string(data)
}

// ClamdRequest sends one clamd command ("PING", "VERSION", "INSTREAM") on
// a new connection and returns the reply without its trailing newline. For
// INSTREAM, data is streamed in 64 KiB chunks; a write error does not end
// the request, because clamd closes a too-long stream early and its reply
// is still worth reading. It is the harness's own minimal client, so that
// harness tests do not depend on the client library under test.
func ClamdRequest(network, addr, cmd string, data []byte, timeout time.Duration) (string, error) {
	conn, err := net.DialTimeout(network, addr, timeout)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(timeout))
	if _, err := io.WriteString(conn, "n"+cmd+"\n"); err != nil {
		return "", err
	}
	var writeErr error
	if cmd == "INSTREAM" {
		w := bufio.NewWriterSize(conn, 64<<10+4)
		var hdr [4]byte
		for off := 0; off < len(data) && writeErr == nil; off += 64 << 10 {
			chunk := data[off:min(off+64<<10, len(data))]
			binary.BigEndian.PutUint32(hdr[:], uint32(len(chunk)))
			w.Write(hdr[:])
			_, writeErr = w.Write(chunk)
		}
		if writeErr == nil {
			w.Write([]byte{0, 0, 0, 0})
			writeErr = w.Flush()
		}
	}
	reply, err := io.ReadAll(conn)
	if len(reply) == 0 {
		if writeErr != nil {
			return "", writeErr
		}
		if err == nil {
			err = io.ErrUnexpectedEOF
		}
		return "", err
	}
	return strings.TrimRight(string(reply), "\n"), nil
}

// ClamavMilter is a running clamav-milter.
type ClamavMilter struct {
	// Milter is its address in Postfix syntax (inet:127.0.0.1:PORT).
	Milter string
	// Addr is "127.0.0.1:PORT".
	Addr string
	// Dir holds the configuration and the log.
	Dir     string
	LogFile string

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
	out  bytes.Buffer
}

// StartClamavMilter starts Debian's clamav-milter on a free loopback port,
// scanning through the clamd at clamdSocket and rejecting infected mail, and
// stops it when the test ends. extra holds more clamav-milter.conf lines
// ("AddHeader Replace"); a key given there overrides the harness's own. It is
// the reference Mamori's clamav check is compared with.
func StartClamavMilter(t testing.TB, clamdSocket string, extra ...string) *ClamavMilter {
	t.Helper()
	requireBinary(t, clamavMilterBin, "clamav-milter")
	dir, err := os.MkdirTemp("", "mamori-clmilter-")
	if err != nil {
		t.Fatalf("harness: %v", err)
	}
	m := &ClamavMilter{Dir: dir, LogFile: filepath.Join(dir, "clamav-milter.log"), done: make(chan struct{})}
	t.Cleanup(func() {
		m.stop()
		if t.Failed() {
			t.Logf("clamav-milter log:\n%s", m.Log())
		}
		os.RemoveAll(dir)
	})
	port := FreePort(t)
	m.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	m.Milter = "inet:" + m.Addr
	lines := []string{
		"Foreground yes",
		"MilterSocket inet:" + strconv.Itoa(port) + "@127.0.0.1",
		"ClamdSocket unix:" + clamdSocket,
		"OnClean Accept",
		"OnInfected Reject",
		"OnFail Defer",
		"TemporaryDirectory " + dir,
		"LogFile " + m.LogFile,
		"LogVerbose yes",
		"LogInfected Basic",
		"PidFile " + filepath.Join(dir, "clamav-milter.pid"),
	}
	override := map[string]bool{}
	for _, l := range extra {
		override[strings.ToLower(strings.Fields(l + " ")[0])] = true
	}
	var conf strings.Builder
	for _, l := range lines {
		if !override[strings.ToLower(strings.Fields(l)[0])] {
			conf.WriteString(l + "\n")
		}
	}
	for _, l := range extra {
		conf.WriteString(l + "\n")
	}
	confFile := filepath.Join(dir, "clamav-milter.conf")
	if err := os.WriteFile(confFile, []byte(conf.String()), 0o644); err != nil {
		t.Fatalf("harness: %v", err)
	}
	cmd := exec.Command(clamavMilterBin, "-c", confFile)
	cmd.Stdout = &lockedWriter{mu: &m.mu, w: &m.out}
	cmd.Stderr = cmd.Stdout
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("harness: start clamav-milter: %v", err)
	}
	m.cmd = cmd
	go func() { cmd.Wait(); close(m.done) }()
	pollUntil(t, 30*time.Second, func() (error, bool) {
		select {
		case <-m.done:
			return errors.New("clamav-milter exited"), true
		default:
		}
		conn, err := net.DialTimeout("tcp", m.Addr, time.Second)
		if err == nil {
			conn.Close()
		}
		return err, err == nil
	}, func(err error) string {
		return fmt.Sprintf("harness: clamav-milter not listening on %s: %v\n%s", m.Addr, err, m.Log())
	})
	select {
	case <-m.done:
		t.Fatalf("harness: clamav-milter exited at start:\n%s", m.Log())
	default:
	}
	return m
}

// stop ends clamav-milter. It takes about 4 s to exit on SIGTERM (it waits
// for its threads to notice), and a test instance has nothing to save, so it
// is killed outright.
func (m *ClamavMilter) stop() {
	if m.cmd == nil {
		return
	}
	_ = syscall.Kill(-m.cmd.Process.Pid, syscall.SIGKILL)
	<-m.done
}

// Log returns clamav-milter's output and log file.
func (m *ClamavMilter) Log() string {
	m.mu.Lock()
	out := m.out.String()
	m.mu.Unlock()
	data, _ := os.ReadFile(m.LogFile)
	return out + string(data)
}

// requireBinary skips the test when path is missing, or fails it if
// MAMORI_REQUIRE_INTEGRATION=1 says it must run.
func requireBinary(t testing.TB, path, pkg string) {
	t.Helper()
	if _, err := os.Stat(path); err == nil {
		return
	}
	why := path + " not found (install " + pkg + "; scripts/install-test-deps.sh does)"
	if os.Getenv("MAMORI_REQUIRE_INTEGRATION") == "1" {
		t.Fatalf("harness: %s, and MAMORI_REQUIRE_INTEGRATION=1", why)
	}
	t.Skipf("harness: %s", why)
}
