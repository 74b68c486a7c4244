package harness

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Binaries the Redis helpers run (Debian's redis-server and redis-tools).
// Sentinel is redis-server with --sentinel: Debian 12 ships the separate
// redis-sentinel binary in its own package, which the tests do not need.
const (
	redisServerPath = "/usr/bin/redis-server"
	redisCLIPath    = "/usr/bin/redis-cli"
)

// Timeouts of the harness's own Redis client: a connection that cannot be
// dialled or a command that gets no reply in this time fails the test.
const (
	redisDialTimeout = 2 * time.Second
	redisCmdTimeout  = 5 * time.Second
)

// Values TTL returns for the two negative answers of PTTL. Both are
// negative, so "ttl > 0" still reads as "the key expires".
const (
	// RedisNoExpiry is what TTL returns for a key that exists but has no
	// expiry (PTTL -1).
	RedisNoExpiry time.Duration = -1
	// RedisNoKey is what TTL returns for a key that does not exist
	// (PTTL -2).
	RedisNoKey time.Duration = -2
)

// RedisOptions configures a private redis-server.
type RedisOptions struct {
	// Config holds extra redis.conf lines ("maxmemory 10mb",
	// "maxmemory-policy allkeys-lru"); a directive given here replaces the
	// harness's own (so "save 60 1" turns persistence back on, into Dir).
	// port, bind, dir, logfile and daemonize are the harness's and may not
	// be set: Addr, Dir and the readiness check depend on them.
	Config []string
}

// Redis is a private redis-server on a loopback port, run as a child of the
// test process. It keeps everything (configuration, log, any RDB, AOF or
// cluster state) in Dir, a t.TempDir, and is stopped when the test ends.
type Redis struct {
	// Addr is "127.0.0.1:PORT", the address to give a Redis client.
	Addr string
	// Port is the TCP port Redis listens on; it stays the same across
	// Stop/Kill and Start.
	Port int
	// Dir is Redis's working directory: its configuration, log and data.
	Dir string
	// ConfigFile is the redis.conf it runs with (sentinel.conf for a
	// sentinel, which Redis rewrites as it learns about the master).
	ConfigFile string
	// LogFile is Redis's log.
	LogFile string

	name string   // "redis-server" or "redis-sentinel", for messages
	args []string // extra command line arguments ("--sentinel")

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
	out  bytes.Buffer // stdout and stderr of the current process
}

// StartRedis starts a private redis-server on a free loopback port, without
// persistence (save "", appendonly no), and waits until it answers PING.
// It is stopped, and Dir removed, when the test ends.
//
// Without the binary the test is skipped, unless MAMORI_REQUIRE_INTEGRATION=1
// says it must run, in which case it fails.
func StartRedis(t testing.TB, opt RedisOptions) *Redis {
	t.Helper()
	requireBinary(t, redisServerPath, "redis-server")
	for _, l := range opt.Config {
		switch k := configKey(l); k {
		case "port", "bind", "dir", "logfile", "daemonize":
			t.Fatalf("harness: RedisOptions.Config may not set %s (%q): the harness owns it", k, l)
		}
	}
	r := newRedis(t, "redis-server", "redis.conf")
	lines := []string{
		"port " + strconv.Itoa(r.Port),
		"bind 127.0.0.1",
		"protected-mode no",
		"daemonize no",
		"dir " + strconv.Quote(r.Dir),
		"logfile " + strconv.Quote(r.LogFile),
		`save ""`,
		"appendonly no",
	}
	r.writeConfig(t, redisConfig(lines, opt.Config))
	r.Start(t)
	return r
}

// newRedis prepares a Redis in a new t.TempDir on a free port and registers
// its cleanup; the caller writes the configuration and starts it.
func newRedis(t testing.TB, name, confName string) *Redis {
	t.Helper()
	dir := t.TempDir()
	port := FreePort(t)
	r := &Redis{
		Addr:       net.JoinHostPort("127.0.0.1", strconv.Itoa(port)),
		Port:       port,
		Dir:        dir,
		ConfigFile: filepath.Join(dir, confName),
		LogFile:    filepath.Join(dir, name+".log"),
		name:       name,
	}
	// Registered after t.TempDir's own cleanup, so it runs first: the
	// server is gone before its directory is removed.
	t.Cleanup(func() {
		r.stop()
		if t.Failed() {
			t.Logf("%s %s log:\n%s", r.name, r.Addr, r.logTail(50))
		}
	})
	return r
}

func (r *Redis) writeConfig(t testing.TB, conf string) {
	t.Helper()
	if err := os.WriteFile(r.ConfigFile, []byte(conf), 0o644); err != nil {
		t.Fatalf("harness: %v", err)
	}
}

// configKey returns the lower-cased directive of a redis.conf line.
func configKey(line string) string {
	return strings.ToLower(strings.Fields(line + " ")[0])
}

// redisConfig renders redis.conf: the harness's lines, except those whose
// directive extra sets again, then extra.
func redisConfig(lines, extra []string) string {
	override := map[string]bool{}
	for _, l := range extra {
		override[configKey(l)] = true
	}
	var b strings.Builder
	for _, l := range lines {
		if !override[configKey(l)] {
			b.WriteString(l + "\n")
		}
	}
	for _, l := range extra {
		b.WriteString(l + "\n")
	}
	return b.String()
}

// Start starts Redis (again) on the same port with the same configuration
// and waits until it answers PING with PONG. StartRedis calls it; tests call
// it after Stop or Kill to bring Redis back. Whatever Redis kept in Dir
// (nothing, unless persistence was configured) is loaded again.
func (r *Redis) Start(t testing.TB) {
	t.Helper()
	r.mu.Lock()
	if r.cmd != nil {
		r.mu.Unlock()
		t.Fatalf("harness: %s %s is already running", r.name, r.Addr)
	}
	r.out.Reset()
	cmd := exec.Command(redisServerPath, append([]string{r.ConfigFile}, r.args...)...)
	cmd.Dir = r.Dir
	cmd.Stdout = &lockedWriter{mu: &r.mu, w: &r.out}
	cmd.Stderr = cmd.Stdout
	cmd.SysProcAttr = &syscall.SysProcAttr{
		// Its own process group, so that Kill reaches any child it forks.
		Setpgid: true,
		// A dying test process takes Redis with it. (Linux sends the signal
		// when the thread that started Redis ends; Go only ends threads of
		// goroutines that exit while locked to them.)
		Pdeathsig: syscall.SIGKILL,
	}
	if err := cmd.Start(); err != nil {
		r.mu.Unlock()
		t.Fatalf("harness: start %s: %v", r.name, err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	r.cmd, r.done = cmd, done
	r.mu.Unlock()

	start := time.Now()
	pollUntil(t, 10*time.Second, func() (error, bool) {
		select {
		case <-done:
			return errors.New("it exited"), true
		default:
		}
		reply, err := redisDo(r.Addr, time.Second, "PING")
		if err == nil && reply != "PONG" {
			err = fmt.Errorf("PING answered %s", formatRedisReply(reply))
		}
		return err, err == nil
	}, func(err error) string {
		return fmt.Sprintf("harness: %s on %s did not answer PING within 10s: %v\n%s", r.name, r.Addr, err, r.logTail(30))
	})
	select {
	case <-done:
		t.Fatalf("harness: %s on %s exited at start (is the configuration valid?):\n%s", r.name, r.Addr, r.logTail(30))
	default:
	}
	if testing.Verbose() {
		t.Logf("harness: %s %s ready in %v", r.name, r.Addr, time.Since(start).Round(time.Millisecond))
	}
}

// Stop shuts Redis down gracefully (SIGTERM, after a SIGCONT in case it is
// paused; SIGKILL if it is still running 10 s later) and waits until it has
// exited. Clients then see "connection refused", as with Redis down; Start
// brings it back on the same port. Stopping a stopped Redis does nothing.
func (r *Redis) Stop(t testing.TB) {
	t.Helper()
	r.stop()
}

// detach takes the running process out of r (nil when none), so that
// only one caller ends it.
func (r *Redis) detach() (*exec.Cmd, chan struct{}) {
	r.mu.Lock()
	defer r.mu.Unlock()
	cmd, done := r.cmd, r.done
	r.cmd = nil
	return cmd, done
}

func (r *Redis) stop() {
	cmd, done := r.detach()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGCONT)
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
	}
}

// Kill ends Redis with SIGKILL, as a crash or the OOM killer would: open
// connections are reset and nothing is saved. It returns once the process
// has been reaped, so the port is free for Start. Killing a stopped Redis
// does nothing.
func (r *Redis) Kill() {
	cmd, done := r.detach()
	if cmd == nil {
		return
	}
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	<-done
}

// Pause stops Redis with SIGSTOP and returns once the kernel reports it
// stopped. Its socket stays open: new connections are still accepted by the
// kernel and commands are sent, but nothing is ever answered, which is what
// a hung or overloaded Redis looks like to a client. Resume undoes it; Stop,
// Kill and the test's cleanup work on a paused Redis too.
func (r *Redis) Pause(t testing.TB) {
	t.Helper()
	r.signal(t, syscall.SIGSTOP, true)
}

// Resume continues a paused Redis with SIGCONT and returns once it runs
// again; the commands sent in between are then answered.
func (r *Redis) Resume(t testing.TB) {
	t.Helper()
	r.signal(t, syscall.SIGCONT, false)
}

// signal sends sig to Redis and waits until its state in /proc is stopped
// ("T") or not, as wantStopped says.
func (r *Redis) signal(t testing.TB, sig syscall.Signal, wantStopped bool) {
	t.Helper()
	pid := r.PID()
	if pid == 0 {
		t.Fatalf("harness: %s %s is not running (call Start first)", r.name, r.Addr)
	}
	if err := syscall.Kill(pid, sig); err != nil {
		t.Fatalf("harness: %v to %s: %v", sig, r.name, err)
	}
	pollUntil(t, 2*time.Second, func() (byte, bool) {
		st := procState(pid)
		return st, (st == 'T') == wantStopped
	}, func(st byte) string {
		return fmt.Sprintf("harness: %s still in state %q 2s after %v", r.name, st, sig)
	})
}

// procState returns the state letter of /proc/PID/stat ('R', 'S', 'T', …),
// or 0 when it cannot be read.
func procState(pid int) byte {
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	// The state follows the parenthesised command name.
	if i := bytes.LastIndexByte(stat, ')'); i >= 0 && i+2 < len(stat) {
		return stat[i+2]
	}
	return 0
}

// PID returns the process id of the running Redis, or 0 after Stop or Kill.
func (r *Redis) PID() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cmd == nil {
		return 0
	}
	return r.cmd.Process.Pid
}

// Log returns Redis's output (where configuration errors go) and its log
// file.
func (r *Redis) Log() string {
	r.mu.Lock()
	out := r.out.String()
	r.mu.Unlock()
	data, _ := os.ReadFile(r.LogFile)
	return out + string(data)
}

// logTail returns the last n lines of Log.
func (r *Redis) logTail(n int) string {
	lines := strings.Split(strings.TrimRight(r.Log(), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// Do runs one command on a new connection and returns the reply as text:
//
//   - a status or bulk string as is ("OK", "PONG", the value of GET);
//   - an integer in decimal ("1");
//   - a nil bulk string or array as "(nil)";
//   - an error reply as "(error) " and the message ("(error) ERR unknown
//     command 'NOPE', …"); an error reply does not fail the test;
//   - an array as its elements in this format, one per line (nested arrays
//     are flattened), or "(empty array)".
//
// A connection error, or no reply within 5 s (a paused Redis), fails the
// test. Do speaks RESP2 itself, so harness tests do not depend on the Redis
// client library under test.
func (r *Redis) Do(t testing.TB, args ...string) string {
	t.Helper()
	reply, err := redisDo(r.Addr, redisCmdTimeout, args...)
	if err != nil {
		t.Fatalf("harness: %s %s: %s: %v (stopped, killed or paused?)", r.name, r.Addr, strings.Join(args, " "), err)
	}
	return formatRedisReply(reply)
}

// Keys returns the keys matching the glob pattern ("*", "rl:*"), sorted. It
// walks the keyspace with SCAN, never KEYS, like a well-behaved client would.
func (r *Redis) Keys(t testing.TB, pattern string) []string {
	t.Helper()
	c, err := dialRedis(r.Addr, redisDialTimeout)
	if err != nil {
		t.Fatalf("harness: %s %s: %v", r.name, r.Addr, err)
	}
	defer c.Close()
	var keys []string
	cursor := "0"
	for {
		reply, err := c.do(redisCmdTimeout, "SCAN", cursor, "MATCH", pattern, "COUNT", "1000")
		if err != nil {
			t.Fatalf("harness: %s %s: SCAN: %v", r.name, r.Addr, err)
		}
		page, ok := reply.([]any)
		if !ok || len(page) != 2 {
			t.Fatalf("harness: %s %s: SCAN answered %s", r.name, r.Addr, formatRedisReply(reply))
		}
		cursor, _ = page[0].(string)
		batch, _ := page[1].([]any)
		for _, k := range batch {
			if s, ok := k.(string); ok {
				keys = append(keys, s)
			}
		}
		if cursor == "0" || cursor == "" {
			break
		}
	}
	// SCAN may return a key more than once.
	slices.Sort(keys)
	return slices.Compact(keys)
}

// TTL returns the remaining time to live of key, to the millisecond (PTTL),
// or RedisNoExpiry if the key has no expiry, or RedisNoKey if it does not
// exist.
func (r *Redis) TTL(t testing.TB, key string) time.Duration {
	t.Helper()
	reply, err := redisDo(r.Addr, redisCmdTimeout, "PTTL", key)
	if err != nil {
		t.Fatalf("harness: %s %s: PTTL %s: %v", r.name, r.Addr, key, err)
	}
	ms, ok := reply.(int64)
	if !ok {
		t.Fatalf("harness: %s %s: PTTL %s answered %s", r.name, r.Addr, key, formatRedisReply(reply))
	}
	switch ms {
	case -1:
		return RedisNoExpiry
	case -2:
		return RedisNoKey
	}
	return time.Duration(ms) * time.Millisecond
}

// RedisSentinel is a private Redis Sentinel watching one master.
type RedisSentinel struct {
	// Addr is "127.0.0.1:PORT", the sentinel address to give a client.
	Addr string
	// Port is the sentinel's TCP port.
	Port int
	// MasterName is the name the master is monitored under, which clients
	// ask for with SENTINEL get-master-addr-by-name.
	MasterName string
	// Dir holds sentinel.conf (which the sentinel rewrites) and its log.
	Dir string

	srv *Redis
}

// StartRedisSentinel starts a sentinel (redis-server sentinel.conf
// --sentinel) on a free loopback port that monitors master as masterName
// with a quorum of 1, and waits until it names master's address for
// masterName. It is stopped when the test ends.
//
// The sentinel keeps its default timings (the master is subjectively down
// after 30 s); with a single master and no replica it never fails over.
func StartRedisSentinel(t testing.TB, master *Redis, masterName string) *RedisSentinel {
	t.Helper()
	requireBinary(t, redisServerPath, "redis-server")
	if masterName == "" || strings.ContainsAny(masterName, " \t\r\n\"'") {
		t.Fatalf("harness: sentinel master name %q must be one word", masterName)
	}
	r := newRedis(t, "redis-sentinel", "sentinel.conf")
	r.args = []string{"--sentinel"}
	r.writeConfig(t, strings.Join([]string{
		"port " + strconv.Itoa(r.Port),
		"bind 127.0.0.1",
		"protected-mode no",
		"daemonize no",
		"dir " + strconv.Quote(r.Dir),
		"logfile " + strconv.Quote(r.LogFile),
		fmt.Sprintf("sentinel monitor %s 127.0.0.1 %d 1", masterName, master.Port),
	}, "\n")+"\n")
	r.Start(t)
	s := &RedisSentinel{Addr: r.Addr, Port: r.Port, MasterName: masterName, Dir: r.Dir, srv: r}
	want := "127.0.0.1\n" + strconv.Itoa(master.Port)
	pollUntil(t, 10*time.Second, func() (string, bool) {
		reply, err := redisDo(s.Addr, time.Second, "SENTINEL", "get-master-addr-by-name", masterName)
		if err != nil {
			return err.Error(), false
		}
		got := formatRedisReply(reply)
		return got, got == want
	}, func(got string) string {
		return fmt.Sprintf("harness: sentinel %s: get-master-addr-by-name %s = %q, want %q\n%s", s.Addr, masterName, got, want, r.logTail(30))
	})
	return s
}

// Do runs one command on the sentinel ("SENTINEL", "masters") and returns
// the reply in Redis.Do's format.
func (s *RedisSentinel) Do(t testing.TB, args ...string) string {
	t.Helper()
	return s.srv.Do(t, args...)
}

// RedisCluster is a private Redis Cluster of masters only.
type RedisCluster struct {
	// Addrs lists the nodes' "127.0.0.1:PORT" addresses, the seed list for
	// a cluster client.
	Addrs []string
	// Nodes are the servers behind Addrs, in the same order, for Stop,
	// Kill, Pause or Do on one node.
	Nodes []*Redis
}

// StartRedisCluster starts masters (at least 3) cluster-enabled
// redis-servers, joins them with redis-cli --cluster create (no replicas,
// the 16384 slots split evenly), and waits until every node reports
// cluster_state:ok. Each node keeps nodes.conf in its own Dir, and its
// cluster bus on a port of its own (cluster-port), since PORT+10000 may
// exceed 65535 or be taken. cluster-node-timeout is 2 s, so a killed node
// is noticed within a few seconds. The nodes stop when the test ends.
func StartRedisCluster(t testing.TB, masters int) *RedisCluster {
	t.Helper()
	if masters < 3 {
		t.Fatalf("harness: a Redis Cluster needs at least 3 masters, got %d", masters)
	}
	requireBinary(t, redisServerPath, "redis-server")
	requireBinary(t, redisCLIPath, "redis-tools")
	c := &RedisCluster{}
	for range masters {
		n := StartRedis(t, RedisOptions{Config: []string{
			"cluster-enabled yes",
			"cluster-config-file nodes.conf",
			"cluster-port " + strconv.Itoa(FreePort(t)),
			"cluster-node-timeout 2000",
		}})
		c.Nodes = append(c.Nodes, n)
		c.Addrs = append(c.Addrs, n.Addr)
	}
	args := append([]string{"--cluster", "create"}, c.Addrs...)
	args = append(args, "--cluster-replicas", "0", "--cluster-yes")
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, redisCLIPath, args...)
	cmd.Dir = c.Nodes[0].Dir
	// redis-cli keeps no history outside interactive mode; HOME makes sure.
	cmd.Env = append(os.Environ(), "HOME="+c.Nodes[0].Dir, "REDISCLI_HISTFILE=/dev/null")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("harness: redis-cli %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	created := time.Since(start)
	for _, n := range c.Nodes {
		pollUntil(t, 10*time.Second, func() (string, bool) {
			reply, err := redisDo(n.Addr, time.Second, "CLUSTER", "INFO")
			if err != nil {
				return err.Error(), false
			}
			info := formatRedisReply(reply)
			return info, strings.Contains(info, "cluster_state:ok")
		}, func(info string) string {
			return fmt.Sprintf("harness: cluster node %s not ok within 10s:\n%s\n%s", n.Addr, info, n.logTail(30))
		})
	}
	if testing.Verbose() {
		t.Logf("harness: redis cluster %v created in %v, cluster_state:ok on every node after %v",
			c.Addrs, created.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
	}
	return c
}

// Do runs one command on the cluster, starting at the first node and
// following MOVED and ASK redirections as a cluster client would, and
// returns the reply in Redis.Do's format.
func (c *RedisCluster) Do(t testing.TB, args ...string) string {
	t.Helper()
	addr, asking := c.Addrs[0], false
	for range 5 {
		conn, err := dialRedis(addr, redisDialTimeout)
		if err != nil {
			t.Fatalf("harness: cluster node %s: %v", addr, err)
		}
		if asking {
			_, err = conn.do(redisCmdTimeout, "ASKING")
		}
		var reply any
		if err == nil {
			reply, err = conn.do(redisCmdTimeout, args...)
		}
		conn.Close()
		if err != nil {
			t.Fatalf("harness: cluster node %s: %s: %v", addr, strings.Join(args, " "), err)
		}
		e, ok := reply.(redisError)
		if !ok {
			return formatRedisReply(reply)
		}
		// "MOVED 3999 127.0.0.1:6381" or "ASK 3999 127.0.0.1:6381".
		f := strings.Fields(string(e))
		if len(f) != 3 || (f[0] != "MOVED" && f[0] != "ASK") {
			return formatRedisReply(reply)
		}
		addr, asking = f[2], f[0] == "ASK"
	}
	t.Fatalf("harness: cluster: %s: more than 5 redirections", strings.Join(args, " "))
	return ""
}

// redisError is an error reply ("-ERR …"), as distinct from a failure to
// talk to Redis at all.
type redisError string

func (e redisError) Error() string { return string(e) }

// redisConn is the harness's minimal RESP2 client connection.
type redisConn struct {
	net.Conn
	r *bufio.Reader
}

func dialRedis(addr string, timeout time.Duration) (*redisConn, error) {
	conn, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return nil, err
	}
	return &redisConn{Conn: conn, r: bufio.NewReader(conn)}, nil
}

// redisDo runs one command on a new connection to addr, all within timeout,
// and returns the reply: string, int64, nil, redisError or []any. An error
// reply is a reply, not an error.
func redisDo(addr string, timeout time.Duration, args ...string) (any, error) {
	c, err := dialRedis(addr, min(timeout, redisDialTimeout))
	if err != nil {
		return nil, err
	}
	defer c.Close()
	return c.do(timeout, args...)
}

// do sends one command and reads its reply, within timeout.
func (c *redisConn) do(timeout time.Duration, args ...string) (any, error) {
	if len(args) == 0 {
		return nil, errors.New("no command")
	}
	_ = c.SetDeadline(time.Now().Add(timeout))
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	if _, err := io.WriteString(c.Conn, b.String()); err != nil {
		return nil, err
	}
	return readRedisReply(c.r, 0)
}

// readRedisReply reads one RESP2 value. Bulk strings are capped at 64 MiB
// and nesting at 8 levels: a test never needs more, and a garbled stream
// should fail rather than allocate without bound.
func readRedisReply(r *bufio.Reader, depth int) (any, error) {
	if depth > 8 {
		return nil, errors.New("reply nested too deeply")
	}
	line, err := r.ReadString('\n')
	if err != nil {
		return nil, err
	}
	line = strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r")
	if line == "" {
		return nil, errors.New("empty reply line")
	}
	body := line[1:]
	switch line[0] {
	case '+':
		return body, nil
	case '-':
		return redisError(body), nil
	case ':':
		n, err := strconv.ParseInt(body, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("bad integer reply %q", line)
		}
		return n, nil
	case '$':
		n, err := strconv.Atoi(body)
		if err != nil || n < -1 || n > 64<<20 {
			return nil, fmt.Errorf("bad bulk length %q", line)
		}
		if n == -1 {
			return nil, nil
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(r, buf); err != nil {
			return nil, err
		}
		return string(buf[:n]), nil
	case '*':
		n, err := strconv.Atoi(body)
		if err != nil || n < -1 || n > 1<<20 {
			return nil, fmt.Errorf("bad array length %q", line)
		}
		if n == -1 {
			return nil, nil
		}
		arr := make([]any, 0, n)
		for range n {
			v, err := readRedisReply(r, depth+1)
			if err != nil {
				return nil, err
			}
			arr = append(arr, v)
		}
		return arr, nil
	}
	return nil, fmt.Errorf("unknown reply type %q", line)
}

// formatRedisReply renders a reply as Redis.Do documents.
func formatRedisReply(v any) string {
	switch v := v.(type) {
	case nil:
		return "(nil)"
	case string:
		return v
	case int64:
		return strconv.FormatInt(v, 10)
	case redisError:
		return "(error) " + string(v)
	case []any:
		if len(v) == 0 {
			return "(empty array)"
		}
		parts := make([]string, len(v))
		for i, e := range v {
			parts[i] = formatRedisReply(e)
		}
		return strings.Join(parts, "\n")
	}
	return fmt.Sprintf("%v", v)
}
