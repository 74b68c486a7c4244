package harness

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestRedisDoKeysTTL(t *testing.T) {
	t.Parallel()
	start := time.Now()
	r := StartRedis(t, RedisOptions{})
	t.Logf("redis-server answered PING %v after start", time.Since(start).Round(time.Millisecond))

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"SET", "k", "v"}, "OK"},
		{[]string{"GET", "k"}, "v"},
		{[]string{"GET", "missing"}, "(nil)"},
		{[]string{"INCR", "n"}, "1"},
		{[]string{"MGET", "k", "missing"}, "v\n(nil)"},
		{[]string{"LRANGE", "nolist", "0", "-1"}, "(empty array)"},
		{[]string{"SET", "multi", "line 1\r\nline 2"}, "OK"},
		{[]string{"GET", "multi"}, "line 1\r\nline 2"},
		{[]string{"INCR", "k"}, "(error) ERR value is not an integer or out of range"},
	} {
		if got := r.Do(t, tc.args...); got != tc.want {
			t.Errorf("Do(%q) = %q, want %q", tc.args, got, tc.want)
		}
	}

	r.Do(t, "SET", "expiring", "x", "PX", "60000")
	if ttl := r.TTL(t, "expiring"); ttl <= 59*time.Second || ttl > 60*time.Second {
		t.Errorf("TTL(expiring) = %v, want just under 60s", ttl)
	}
	if ttl := r.TTL(t, "k"); ttl != RedisNoExpiry {
		t.Errorf("TTL(k) = %v, want RedisNoExpiry", ttl)
	}
	if ttl := r.TTL(t, "missing"); ttl != RedisNoKey {
		t.Errorf("TTL(missing) = %v, want RedisNoKey", ttl)
	}

	for i := range 2500 { // more than one SCAN page
		r.Do(t, "SET", fmt.Sprintf("rl:%04d", i), "1")
	}
	keys := r.Keys(t, "rl:*")
	if len(keys) != 2500 || keys[0] != "rl:0000" || keys[2499] != "rl:2499" || !slices.IsSorted(keys) {
		t.Errorf("Keys(rl:*) = %d keys from %q to %q", len(keys), keys[0], keys[len(keys)-1])
	}
	if got := r.Keys(t, "[kn]"); !slices.Equal(got, []string{"k", "n"}) {
		t.Errorf("Keys([kn]) = %q", got)
	}
	if got := r.Keys(t, "nothing:*"); len(got) != 0 {
		t.Errorf("Keys(nothing:*) = %q", got)
	}

	// No persistence: a graceful stop leaves only the configuration and the log.
	r.Stop(t)
	ents, err := os.ReadDir(r.Dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if !slices.Equal(names, []string{"redis-server.log", "redis.conf"}) {
		t.Errorf("Dir holds %q after Stop, want only the configuration and the log", names)
	}
}

func TestRedisConfigOverrides(t *testing.T) {
	t.Parallel()
	r := StartRedis(t, RedisOptions{Config: []string{"maxmemory 10mb", "save 3600 1"}})
	if got := r.Do(t, "CONFIG", "GET", "maxmemory"); got != "maxmemory\n10485760" {
		t.Errorf("maxmemory = %q", got)
	}
	if got := r.Do(t, "CONFIG", "GET", "save"); got != "save\n3600 1" {
		t.Errorf("save = %q, want the option's value to replace the harness's", got)
	}

	conf := redisConfig([]string{`save ""`, "appendonly no"}, []string{"SAVE 60 1"})
	if conf != "appendonly no\nSAVE 60 1\n" {
		t.Errorf("redisConfig:\n%s", conf)
	}
}

func TestRedisKillStopStart(t *testing.T) {
	t.Parallel()
	r := StartRedis(t, RedisOptions{})
	r.Do(t, "SET", "k", "v")
	pid := r.PID()

	r.Kill()
	if r.PID() != 0 {
		t.Fatalf("PID() = %d after Kill", r.PID())
	}
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Fatalf("process %d after Kill: %v, want it reaped", pid, err)
	}
	if _, err := redisDo(r.Addr, time.Second, "PING"); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("PING after Kill: %v, want connection refused", err)
	}
	r.Kill() // a second Kill does nothing

	start := time.Now()
	r.Start(t)
	t.Logf("restart after Kill took %v", time.Since(start).Round(time.Millisecond))
	if r.PID() == 0 || r.PID() == pid {
		t.Fatalf("PID() = %d after Start, was %d", r.PID(), pid)
	}
	if got := r.Do(t, "GET", "k"); got != "(nil)" {
		t.Fatalf("GET k after a crash = %q, want (nil): nothing is persisted", got)
	}

	r.Stop(t)
	r.Stop(t) // idempotent
	if _, err := redisDo(r.Addr, time.Second, "PING"); err == nil {
		t.Fatal("PING answered after Stop")
	}
	r.Start(t)
	if got := r.Do(t, "PING"); got != "PONG" {
		t.Fatalf("PING after Stop and Start = %q", got)
	}
}

func TestRedisPauseResume(t *testing.T) {
	t.Parallel()
	r := StartRedis(t, RedisOptions{})
	r.Pause(t)

	// The kernel still accepts the connection; Redis never answers.
	conn, err := net.DialTimeout("tcp", r.Addr, time.Second)
	if err != nil {
		t.Fatalf("dial a paused Redis: %v", err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte("PING\r\n")); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	conn.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	line, err := br.ReadString('\n')
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("PING to a paused Redis = %q, %v; want a timeout", line, err)
	}

	// After Resume the PING sent while paused is answered.
	r.Resume(t)
	conn.SetReadDeadline(time.Now().Add(2 * time.Second))
	if line, err := br.ReadString('\n'); err != nil || line != "+PONG\r\n" {
		t.Fatalf("after Resume: %q, %v; want +PONG", line, err)
	}

	// Stop works on a paused Redis too.
	r.Pause(t)
	start := time.Now()
	r.Stop(t)
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Stop of a paused Redis took %v", d)
	}
}

func TestRedisSentinel(t *testing.T) {
	t.Parallel()
	master := StartRedis(t, RedisOptions{})
	start := time.Now()
	s := StartRedisSentinel(t, master, "mamori")
	t.Logf("sentinel ready in %v", time.Since(start).Round(time.Millisecond))
	if s.MasterName != "mamori" || s.Addr != "127.0.0.1:"+strconv.Itoa(s.Port) {
		t.Fatalf("sentinel = %+v", s)
	}
	want := "127.0.0.1\n" + strconv.Itoa(master.Port)
	if got := s.Do(t, "SENTINEL", "get-master-addr-by-name", "mamori"); got != want {
		t.Fatalf("get-master-addr-by-name = %q, want %q", got, want)
	}
	if got := s.Do(t, "SENTINEL", "get-master-addr-by-name", "other"); got != "(nil)" {
		t.Fatalf("get-master-addr-by-name other = %q, want (nil)", got)
	}
}

func TestRedisCluster(t *testing.T) {
	t.Parallel()
	start := time.Now()
	c := StartRedisCluster(t, 3)
	t.Logf("cluster of 3 ok in %v", time.Since(start).Round(time.Millisecond))
	if len(c.Addrs) != 3 || len(c.Nodes) != 3 {
		t.Fatalf("cluster has %d addrs, %d nodes", len(c.Addrs), len(c.Nodes))
	}
	for _, n := range c.Nodes {
		if info := n.Do(t, "CLUSTER", "INFO"); !strings.Contains(info, "cluster_state:ok") || !strings.Contains(info, "cluster_known_nodes:3") {
			t.Fatalf("CLUSTER INFO on %s:\n%s", n.Addr, info)
		}
	}

	// Keys land on different masters; redis-cli -c follows MOVED.
	for _, key := range []string{"a", "b", "c", "d"} {
		out, err := exec.Command(redisCLIPath, "-c", "-p", strconv.Itoa(c.Nodes[0].Port), "SET", key, "v-"+key).CombinedOutput()
		if err != nil || strings.TrimSpace(string(out)) != "OK" {
			t.Fatalf("redis-cli -c SET %s: %q, %v", key, out, err)
		}
		if got := c.Do(t, "GET", key); got != "v-"+key {
			t.Fatalf("cluster GET %s = %q", key, got)
		}
	}
	moved := 0
	for _, n := range c.Nodes {
		if strings.HasPrefix(n.Do(t, "GET", "a"), "(error) MOVED ") {
			moved++
		}
	}
	if moved != 2 {
		t.Fatalf("GET a answered MOVED on %d nodes, want 2 of 3", moved)
	}
}

// TestRedisDiesWithTestProcess starts a test binary that starts Redis and
// then kills itself, and checks that Redis dies too.
func TestRedisDiesWithTestProcess(t *testing.T) {
	if os.Getenv("MAMORI_REDIS_CHILD") != "" {
		r := StartRedis(t, RedisOptions{})
		fmt.Printf("pid=%d\n", r.PID())
		_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
		select {}
	}
	requireBinary(t, redisServerPath, "redis-server")
	t.Parallel()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^TestRedisDiesWithTestProcess$")
	cmd.Env = append(os.Environ(), "MAMORI_REDIS_CHILD=1", "TMPDIR="+t.TempDir())
	out, _ := cmd.Output()
	var pid int
	if _, err := fmt.Sscanf(string(out), "pid=%d", &pid); err != nil || pid <= 0 {
		t.Fatalf("child said %q: %v", out, err)
	}
	pollUntil(t, 5*time.Second, func() (byte, bool) {
		st := procState(pid)
		return st, st == 0 || st == 'Z'
	}, func(st byte) string {
		return fmt.Sprintf("redis-server %d (state %q) outlived the test process", pid, st)
	})
}

func TestRedisReplyFormat(t *testing.T) {
	for _, tc := range []struct{ raw, want string }{
		{"+OK\r\n", "OK"},
		{"-ERR wrong\r\n", "(error) ERR wrong"},
		{":42\r\n", "42"},
		{"$5\r\nhe\r\nl\r\n", "he\r\nl"},
		{"$0\r\n\r\n", ""},
		{"$-1\r\n", "(nil)"},
		{"*-1\r\n", "(nil)"},
		{"*0\r\n", "(empty array)"},
		{"*2\r\n$1\r\na\r\n*2\r\n:1\r\n$-1\r\n", "a\n1\n(nil)"},
	} {
		v, err := readRedisReply(bufio.NewReader(strings.NewReader(tc.raw)), 0)
		if got := formatRedisReply(v); err != nil || got != tc.want {
			t.Errorf("%q = %q, %v; want %q", tc.raw, got, err, tc.want)
		}
	}
	for _, raw := range []string{"", "\r\n", "?x\r\n", "$99999999999\r\n", "$3\r\nab", strings.Repeat("*1\r\n", 20) + ":1\r\n"} {
		if v, err := readRedisReply(bufio.NewReader(strings.NewReader(raw)), 0); err == nil {
			t.Errorf("%q = %v, want an error", raw, v)
		}
	}
}
