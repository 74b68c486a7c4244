package harness

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// livePIDs returns the processes, other than this one, for which match
// (given /proc/PID) is true. Zombies are skipped: they hold no ports or
// files, and reaping them is their parent's or init's job (slow in some
// containers).
func livePIDs(match func(procDir string) bool) []int {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var pids []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		dir := filepath.Join("/proc", e.Name())
		if !match(dir) {
			continue
		}
		if stat, err := os.ReadFile(filepath.Join(dir, "stat")); err == nil {
			// The state follows the parenthesised command name.
			if i := bytes.LastIndexByte(stat, ')'); i >= 0 && i+2 < len(stat) && stat[i+2] == 'Z' {
				continue
			}
		}
		pids = append(pids, pid)
	}
	return pids
}

// CPUTime returns the user plus system CPU time the process pid has used,
// from /proc/PID/stat (fields 14 and 15, in clock ticks of 1/100 s).
func CPUTime(pid int) (time.Duration, error) {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	// The command name (field 2) may hold spaces: count from its ")".
	s := string(data)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return 0, fmt.Errorf("harness: short /proc/%d/stat", pid)
	}
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(utime+stime) * 10 * time.Millisecond, nil
}

// PID returns the Mamori process id.
func (m *Mamori) PID() int { return m.cmd.Process.Pid }

// PID returns the clamd process id.
func (c *Clamd) PID() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cmd.Process.Pid
}

// PID returns the clamav-milter process id.
func (m *ClamavMilter) PID() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.cmd.Process.Pid
}

// readSyslog passes each datagram arriving on conn to emit as one line,
// without the trailing NUL or newline and without glibc's "<PRI>" prefix,
// until conn is closed; then it closes done. Daemons that can only log
// through syslog (Sendmail, opendkim) write to it through a /dev/log the
// harness points at conn.
func readSyslog(conn net.Conn, emit func(string), done chan struct{}) {
	defer close(done)
	buf := make([]byte, 64<<10)
	for {
		n, err := conn.Read(buf)
		if err != nil {
			return
		}
		line := strings.TrimRight(string(buf[:n]), "\x00\n")
		if strings.HasPrefix(line, "<") {
			if i := strings.IndexByte(line, '>'); i > 0 {
				line = line[i+1:]
			}
		}
		emit(line)
	}
}
