package daemon

import (
	"context"
	"strings"
	"time"

	"github.com/mamori-mail/mamori/rules/rulefile"
)

// watchRules looks at the rule directory every rules.watch and signals
// changed, with their hash, once a change has settled: the files'
// contents must be the same on two looks in a row, so that a file caught
// half-written by an editor or a deployment tool is not loaded (it would
// fail, or worse, load a truncated rule list). A rule file that is empty
// must moreover have been so for emptyHold: a truncated file not yet
// written is the usual empty file, and the two looks alone would load it
// whenever the writer stalls for two of them (CI caught it at 20 ms). The
// reload itself is the SIGHUP one: everything is compiled, and swapped
// in only when all of it is valid and is the state signalled.
//
// Polling rather than inotify: it works the same on every file system
// (NFS, bind mounts, configuration management replacing the directory),
// and hashing a few hundred kilobytes of YAML every two seconds is
// nothing.
func (d *Daemon) watchRules(ctx context.Context, loaded string, changed chan<- string) {
	last, pending := loaded, ""
	var (
		empties    string    // the empty files of the last look
		emptySince time.Time // since when exactly those are empty
	)
	for {
		cfg := d.config()
		every, dir := cfg.Rules.Watch.D(), cfg.Rules.Dir
		if every <= 0 || dir == "" {
			every = 5 * time.Second // idle: look again in case a reload turned watching on
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(every):
		}
		if cfg.Rules.Watch.D() <= 0 || dir == "" {
			last, pending = "", ""
			continue
		}
		sum, empty := dirState(dir)
		if empty != empties {
			empties, emptySince = empty, time.Now()
			if empty != "" && sum != last {
				d.log.Info("rule file is empty; it is loaded as empty only if it stays so (delete it to drop its rules at once, or send SIGHUP)", "file", empty, "wait", emptyHold(every))
			}
		}
		switch {
		case last == "":
			last = sum // watching just turned on: this is the loaded state
		case sum == last:
			pending = ""
		case sum != pending:
			pending = sum // changed: wait for it to settle
		case empty != "" && time.Since(emptySince) < emptyHold(every):
			// Settled but for an empty file that may be half-written.
		default:
			select {
			case changed <- sum:
				last, pending = sum, ""
			default:
				// A reload is still running: offer this state again at
				// the next look rather than lose it.
			}
		}
	}
}

// emptyHold is how long a rule file must stay empty before the watcher
// takes it as meant: a second, or three looks when they are slower.
func emptyHold(every time.Duration) time.Duration {
	return max(time.Second, 3*every)
}

// dirSum hashes the rule files of dir as the loader reads them
// (rulefile.ReadDir); an unreadable directory hashes as such, so that its
// return is a change too.
func dirSum(dir string) string {
	sum, _ := dirState(dir)
	return sum
}

// dirState is dirSum, and the names of the rule files that are empty
// ("" when none is).
func dirState(dir string) (sum, empty string) {
	if dir == "" {
		return "", ""
	}
	srcs, err := rulefile.ReadDir(dir)
	if err != nil {
		return "unreadable: " + err.Error(), ""
	}
	var names []string
	for _, src := range srcs {
		if len(src.Data) == 0 {
			names = append(names, src.Name)
		}
	}
	return rulefile.Sum(srcs), strings.Join(names, ", ")
}
