package harness

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
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
