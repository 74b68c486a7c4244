package harness

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestPostgres(t *testing.T) {
	t.Parallel()
	start := time.Now()
	p := StartPostgres(t, "work_mem = 8MB")
	t.Logf("postgres accepted connections %v after start", time.Since(start).Round(time.Millisecond))

	if !strings.HasPrefix(p.DSN, "postgres://mamori@127.0.0.1:"+strconv.Itoa(p.Port)+"/postgres") {
		t.Errorf("DSN = %q", p.DSN)
	}
	// The harness's settings are in force, and a later line overrides.
	for setting, want := range map[string]string{
		"fsync":                   "off",
		"work_mem":                "8MB",
		"listen_addresses":        "127.0.0.1",
		"unix_socket_directories": p.Dir,
		"server_encoding":         "UTF8",
	} {
		if got := p.Psql(t, "postgres", "SHOW "+setting); got != want {
			t.Errorf("SHOW %s = %q, want %q", setting, got, want)
		}
	}
	if _, err := os.Stat(p.Dir + "/.s.PGSQL." + strconv.Itoa(p.Port)); err != nil {
		t.Errorf("no Unix socket in Dir: %v", err)
	}

	dsn := p.CreateDatabase(t, "quarantine_test")
	if !strings.Contains(dsn, "/quarantine_test?") {
		t.Errorf("CreateDatabase DSN = %q", dsn)
	}
	p.Psql(t, "quarantine_test", "CREATE TABLE t (b bytea); INSERT INTO t VALUES ('\\x00ff')")
	if got := p.Psql(t, "quarantine_test", "SELECT encode(b, 'hex') FROM t"); got != "00ff" {
		t.Errorf("bytea round trip = %q", got)
	}

	pid := p.PID()
	p.Stop()
	if p.PID() != 0 {
		t.Error("PID after Stop is not 0")
	}
	if err := syscall.Kill(pid, 0); err == nil {
		t.Errorf("postmaster %d still alive after Stop", pid)
	}
	if c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(p.Port), time.Second); err == nil {
		c.Close()
		t.Error("port still accepts connections after Stop")
	}
	p.Stop() // a second Stop does nothing
}

func TestPostgresRefusesHarnessSettings(t *testing.T) {
	if postgresBin() == "" {
		t.Skip("no PostgreSQL binaries")
	}
	ft := &fatalRecorder{TB: t}
	func() {
		defer func() { recover() }()
		StartPostgres(ft, "port = 5432")
	}()
	if !strings.Contains(ft.msg, "may not set port") {
		t.Errorf("StartPostgres(port = 5432) failed with %q, want a refusal", ft.msg)
	}
}

// fatalRecorder records the message of Fatalf and stops the calling
// function with a panic instead of ending the test.
type fatalRecorder struct {
	testing.TB
	msg string
}

func (f *fatalRecorder) Helper() {}
func (f *fatalRecorder) Fatalf(format string, args ...any) {
	f.msg = fmt.Sprintf(format, args...)
	panic("fatal")
}
