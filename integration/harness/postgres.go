package harness

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// postgresGlob finds Debian's PostgreSQL server binaries, one directory per
// major version (postgresql-15 installs /usr/lib/postgresql/15/bin).
const postgresGlob = "/usr/lib/postgresql/*/bin"

// PostgresUser is the superuser of every private cluster. Authentication is
// "trust" on loopback and the private socket, so the DSN needs no password.
const PostgresUser = "mamori"

// Postgres is a private PostgreSQL cluster (initdb + postgres) on a loopback
// port, run as a child of the test process and stopped when the test ends.
type Postgres struct {
	// DSN reaches the cluster's "postgres" database as PostgresUser:
	// "postgres://mamori@127.0.0.1:PORT/postgres?sslmode=disable".
	DSN string
	// Port is the TCP port the server listens on (127.0.0.1 only).
	Port int
	// Dir holds the data directory (Dir/data), the Unix socket and the log.
	Dir string
	// LogFile is the server's standard error: startup, errors, slow queries.
	LogFile string

	bin string // the bin directory of the newest installed major version

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
}

// StartPostgres creates a new cluster with initdb and starts postgres on a
// free loopback port, with its Unix socket in Dir, and waits until it
// accepts connections. It runs with fsync, synchronous_commit and
// full_page_writes off: a test never survives a power loss, and it makes
// initdb and commits fast. Each config line ("fsync = on",
// "log_min_duration_statement = 0") is appended to postgresql.conf, where a
// later setting wins, so a benchmark can turn durability back on. The
// server is stopped and Dir removed when the test ends.
//
// initdb and postgres refuse to run as root; as root the harness runs them
// as the "postgres" user the Debian package creates. Without the binaries
// the test is skipped, unless MAMORI_REQUIRE_INTEGRATION=1 says it must
// run, in which case it fails.
func StartPostgres(t testing.TB, config ...string) *Postgres {
	t.Helper()
	bin := postgresBin()
	if bin == "" {
		requireBinary(t, postgresGlob+"/postgres", "postgresql")
	}
	for _, l := range config {
		switch k := configKey(strings.ReplaceAll(l, "=", " ")); k {
		case "port", "listen_addresses", "unix_socket_directories", "data_directory", "hba_file", "logging_collector":
			t.Fatalf("harness: StartPostgres may not set %s (%q): the harness owns it", k, l)
		}
	}
	cred := postgresCredential(t)

	// Not t.TempDir: its parent is mode 0700 and owned by the test's user,
	// so the postgres user could not enter it. The name is short because
	// Unix socket paths are limited to 107 bytes.
	dir, err := os.MkdirTemp("", "mamori-pg-")
	if err != nil {
		t.Fatalf("harness: %v", err)
	}
	if cred != nil {
		if err := os.Chown(dir, int(cred.Uid), int(cred.Gid)); err != nil {
			os.RemoveAll(dir)
			t.Fatalf("harness: hand %s to the postgres user: %v", dir, err)
		}
	}
	port := FreePort(t)
	p := &Postgres{
		DSN:     postgresDSN(port, "postgres"),
		Port:    port,
		Dir:     dir,
		LogFile: filepath.Join(dir, "postgres.log"),
		bin:     bin,
	}
	t.Cleanup(func() {
		p.Stop()
		if t.Failed() {
			t.Logf("postgres %d log:\n%s", p.Port, p.logTail(50))
		}
		os.RemoveAll(dir)
	})

	start := time.Now()
	data := filepath.Join(dir, "data")
	initdb := exec.Command(filepath.Join(bin, "initdb"), "-D", data, "-U", PostgresUser,
		"--auth=trust", "--encoding=UTF8", "--locale=C", "--no-sync")
	initdb.Dir = dir
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Pdeathsig: syscall.SIGKILL}
	if out, err := initdb.CombinedOutput(); err != nil {
		t.Fatalf("harness: initdb: %v\n%s", err, out)
	}
	initialised := time.Since(start)

	lines := []string{
		"",
		"# mamori test harness",
		"listen_addresses = '127.0.0.1'",
		"port = " + strconv.Itoa(port),
		"unix_socket_directories = '" + dir + "'",
		"logging_collector = off",
		"fsync = off",
		"synchronous_commit = off",
		"full_page_writes = off",
		"max_connections = 50",
		"shared_buffers = 32MB",
	}
	lines = append(lines, config...)
	if err := appendFile(filepath.Join(data, "postgresql.conf"), strings.Join(lines, "\n")+"\n"); err != nil {
		t.Fatalf("harness: %v", err)
	}

	logf, err := os.OpenFile(p.LogFile, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatalf("harness: %v", err)
	}
	defer logf.Close() // the child keeps its own copy
	cmd := exec.Command(filepath.Join(bin, "postgres"), "-D", data)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Credential: cred,
		// Its own process group, so that Stop reaches every backend.
		Setpgid: true,
		// A dying test process takes the postmaster with it; its backends
		// notice the postmaster's death and exit.
		Pdeathsig: syscall.SIGKILL,
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("harness: start postgres: %v", err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	p.mu.Lock()
	p.cmd, p.done = cmd, done
	p.mu.Unlock()

	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	pollUntil(t, 30*time.Second, func() (string, bool) {
		select {
		case <-done:
			return "it exited", true
		default:
		}
		// postmaster.pid's eighth line is the server's status, "ready" once
		// it accepts connections.
		pid, _ := os.ReadFile(filepath.Join(data, "postmaster.pid"))
		if st := strings.Split(string(pid), "\n"); len(st) < 8 || strings.TrimSpace(st[7]) != "ready" {
			return "postmaster.pid does not say ready", false
		}
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			return err.Error(), false
		}
		c.Close()
		return "", true
	}, func(why string) string {
		return fmt.Sprintf("harness: postgres on %s not ready within 30s: %s\n%s", addr, why, p.logTail(30))
	})
	select {
	case <-done:
		t.Fatalf("harness: postgres on %s exited at start (is the configuration valid?):\n%s", addr, p.logTail(30))
	default:
	}
	if testing.Verbose() {
		t.Logf("harness: postgres %s ready in %v (initdb %v)", addr,
			time.Since(start).Round(time.Millisecond), initialised.Round(time.Millisecond))
	}
	return p
}

// postgresBin returns the bin directory of the newest PostgreSQL major
// version installed, or "" when there is none.
func postgresBin() string {
	dirs, _ := filepath.Glob(postgresGlob)
	version := func(d string) int {
		v, _ := strconv.Atoi(filepath.Base(filepath.Dir(d)))
		return v
	}
	dirs = slices.DeleteFunc(dirs, func(d string) bool {
		_, err := os.Stat(filepath.Join(d, "postgres"))
		return err != nil || version(d) == 0
	})
	if len(dirs) == 0 {
		return ""
	}
	return slices.MaxFunc(dirs, func(a, b string) int { return version(a) - version(b) })
}

// postgresCredential returns the credential to run initdb and postgres
// with: nil when the test is not root, else the postgres user's.
func postgresCredential(t testing.TB) *syscall.Credential {
	t.Helper()
	if os.Geteuid() != 0 {
		return nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		t.Fatalf("harness: postgres refuses to run as root, and there is no postgres user to run it as (%v); the postgresql package creates one", err)
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err1 != nil || err2 != nil {
		t.Fatalf("harness: postgres user has uid %q gid %q", u.Uid, u.Gid)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), NoSetGroups: true}
}

func postgresDSN(port int, db string) string {
	u := url.URL{
		Scheme:   "postgres",
		User:     url.User(PostgresUser),
		Host:     net.JoinHostPort("127.0.0.1", strconv.Itoa(port)),
		Path:     "/" + db,
		RawQuery: "sslmode=disable",
	}
	return u.String()
}

func appendFile(path, text string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(text); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// CreateDatabase creates a new, empty database and returns its DSN, so
// that tests sharing one server do not see each other's tables. name must
// be a plain identifier (letters, digits, underscore).
func (p *Postgres) CreateDatabase(t testing.TB, name string) string {
	t.Helper()
	if name == "" || strings.IndexFunc(name, func(r rune) bool {
		return !(r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9')
	}) >= 0 {
		t.Fatalf("harness: database name %q must be a plain identifier", name)
	}
	p.Psql(t, "postgres", "CREATE DATABASE "+name)
	return postgresDSN(p.Port, name)
}

// Psql runs sql in database db with psql (unaligned, tuples only, stop at
// the first error) and returns its output without the trailing newline. An
// SQL error fails the test. The harness uses psql rather than the Go
// driver, so that its own checks do not depend on the client under test.
func (p *Postgres) Psql(t testing.TB, db, sql string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(p.bin, "psql"), "-X", "-A", "-t", "-q",
		"-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p", strconv.Itoa(p.Port), "-U", PostgresUser, "-d", db, "-c", sql)
	// psql keeps no history with -c; HOME makes sure it reads no ~/.psqlrc
	// either (-X) nor writes anywhere else.
	cmd.Env = append(os.Environ(), "HOME="+p.Dir, "PGCONNECT_TIMEOUT=5")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("harness: psql %s: %v\n%s", sql, err, out)
	}
	return strings.TrimRight(string(out), "\n")
}

// Stop shuts the server down with a fast shutdown (SIGINT: sessions are
// ended, transactions rolled back), or SIGKILL to the whole process group
// if it is still running 10 s later, and waits until it has exited.
// Stopping a stopped server does nothing; the test's cleanup calls Stop.
func (p *Postgres) Stop() {
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	p.cmd = nil
	p.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
	}
}

// PID returns the postmaster's process id, or 0 after Stop.
func (p *Postgres) PID() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return 0
	}
	return p.cmd.Process.Pid
}

// Log returns the server's log.
func (p *Postgres) Log() string {
	data, _ := os.ReadFile(p.LogFile)
	return string(data)
}

func (p *Postgres) logTail(n int) string {
	lines := strings.Split(strings.TrimRight(p.Log(), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
