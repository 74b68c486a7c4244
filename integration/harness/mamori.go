package harness

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// MamoriBinary builds cmd/mamori once per test binary, so that integration
// tests run the program operators run, not an in-process imitation.
func MamoriBinary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		_, file, _, _ := runtime.Caller(0)
		root := filepath.Join(filepath.Dir(file), "..", "..")
		dir, err := os.MkdirTemp("", "mamori-bin-*")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "mamori")
		cmd := exec.Command("go", "build", "-o", binPath, "./cmd/mamori")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// Mamori is a running `mamori serve`.
type Mamori struct {
	// Milter is the milter address in Postfix syntax (inet:127.0.0.1:PORT).
	Milter string
	// Port is the milter's TCP port.
	Port int
	// AdminURL is http://127.0.0.1:PORT of /healthz and /metrics.
	AdminURL  string
	Dir       string
	AuditFile string
	Config    string
	cmd       *exec.Cmd
	done      chan struct{}
	mu        sync.Mutex
	stderr    bytes.Buffer
}

// StartMamori runs the daemon with the given YAML configuration (listen,
// admin and audit settings are supplied by the harness) and waits until
// /healthz answers.
func StartMamori(t testing.TB, configYAML string) *Mamori {
	t.Helper()
	return StartMamoriOnPort(t, configYAML, FreePort(t))
}

// StartMamoriOnPort is StartMamori on a chosen milter port, to restart a
// daemon where the MTA expects it.
func StartMamoriOnPort(t testing.TB, configYAML string, port int) *Mamori {
	t.Helper()
	bin := MamoriBinary(t)
	dir := t.TempDir()
	m := &Mamori{Dir: dir, Port: port, AuditFile: filepath.Join(dir, "audit.log"), Config: filepath.Join(dir, "mamori.yaml"), done: make(chan struct{})}
	m.Milter = fmt.Sprintf("inet:127.0.0.1:%d", port)
	adminPort := FreePort(t)
	m.AdminURL = fmt.Sprintf("http://127.0.0.1:%d", adminPort)
	m.WriteConfig(t, configYAML)
	m.cmd = exec.Command(bin, "serve", "--config", m.Config, "--data-dir", filepath.Join(dir, "data"),
		"--listen", m.Milter, "--admin-listen", fmt.Sprintf("127.0.0.1:%d", adminPort))
	m.cmd.Stdout = io.Discard
	m.cmd.Stderr = &lockedWriter{mu: &m.mu, w: &m.stderr}
	if err := m.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { m.cmd.Wait(); close(m.done) }()
	t.Cleanup(func() {
		m.Kill()
		if t.Failed() {
			t.Logf("mamori log:\n%s", m.Log())
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get(m.AdminURL + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return m
			}
		}
		select {
		case <-m.done:
			t.Fatalf("mamori exited at start:\n%s", m.Log())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("mamori did not become healthy:\n%s", m.Log())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// WriteConfig writes the configuration file, with the audit file added.
func (m *Mamori) WriteConfig(t testing.TB, configYAML string) {
	t.Helper()
	cfg := configYAML + fmt.Sprintf("\naudit:\n  file: %s\n", m.AuditFile)
	if err := os.WriteFile(m.Config, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
}

// Reload writes a new configuration and sends SIGHUP.
func (m *Mamori) Reload(t testing.TB, configYAML string) {
	t.Helper()
	m.WriteConfig(t, configYAML)
	if err := m.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
}

// ReloadAndWait is Reload, returning once the daemon has logged the
// outcome: the new configuration serves from then on. A refused
// configuration fails the test.
func (m *Mamori) ReloadAndWait(t testing.TB, configYAML string) {
	t.Helper()
	done := strings.Count(m.Log(), "configuration reloaded")
	failed := strings.Count(m.Log(), "reload failed")
	m.Reload(t, configYAML)
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		l := m.Log()
		if strings.Count(l, "reload failed") > failed {
			t.Fatalf("mamori refused the new configuration:\n%s", l)
		}
		if strings.Count(l, "configuration reloaded") > done {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("mamori did not log the reload within 10s:\n%s", m.Log())
}

// Log returns the daemon's stderr so far.
func (m *Mamori) Log() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.stderr.String()
}

// WaitLog waits until the log contains s.
func (m *Mamori) WaitLog(t testing.TB, s string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !strings.Contains(m.Log(), s) {
		if time.Now().After(deadline) {
			t.Fatalf("mamori log never said %q:\n%s", s, m.Log())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Stop sends SIGTERM and waits for the exit.
func (m *Mamori) Stop(t testing.TB) {
	t.Helper()
	_ = m.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-m.done:
	case <-time.After(40 * time.Second):
		t.Fatalf("mamori did not stop on SIGTERM:\n%s", m.Log())
	}
}

// Kill ends the process at once.
func (m *Mamori) Kill() {
	_ = m.cmd.Process.Kill()
	<-m.done
}

// Exited reports whether the process has ended.
func (m *Mamori) Exited() bool {
	select {
	case <-m.done:
		return true
	default:
		return false
	}
}

// Audit returns the audit records written so far.
func (m *Mamori) Audit(t testing.TB) []map[string]any {
	t.Helper()
	f, err := os.Open(m.AuditFile)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []map[string]any
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var r map[string]any
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("audit line is not JSON: %v: %s", err, sc.Text())
		}
		out = append(out, r)
	}
	return out
}

// WaitAudit waits for at least n audit records.
func (m *Mamori) WaitAudit(t testing.TB, n int, timeout time.Duration) []map[string]any {
	t.Helper()
	return pollUntil(t, timeout, func() ([]map[string]any, bool) {
		recs := m.Audit(t)
		return recs, len(recs) >= n
	}, func(recs []map[string]any) string {
		return fmt.Sprintf("%d audit records after %v, want %d:\n%v", len(recs), timeout, n, recs)
	})
}

// PeakRSS returns the process's peak resident set size in bytes (VmHWM).
func (m *Mamori) PeakRSS(t testing.TB) int64 {
	t.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", m.cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, "VmHWM:") {
			f := strings.Fields(line)
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb << 10
		}
	}
	t.Fatal("no VmHWM in /proc status")
	return 0
}

// Metrics returns the /metrics text.
func (m *Mamori) Metrics(t testing.TB) string {
	t.Helper()
	resp, err := http.Get(m.AdminURL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}
