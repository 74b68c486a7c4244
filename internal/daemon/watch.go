package daemon

import (
	"context"
	"crypto/sha256"
	"time"

	"github.com/mamori-mail/mamori/rules/rulefile"
)

// watchRules looks at the rule directory every rules.watch and signals
// changed, with their hash, once a change has settled: the files'
// contents must be the same on two looks in a row, and no rule file may
// be empty, so that a file caught half-written by an editor or a
// deployment tool is not loaded (it would fail, or worse, load a
// truncated rule list). The reload itself is the SIGHUP one: everything is
// compiled, and swapped in only when all of it is valid.
//
// Polling rather than inotify: it works the same on every file system
// (NFS, bind mounts, configuration management replacing the directory),
// and hashing a few hundred kilobytes of YAML every two seconds is
// nothing.
func (d *Daemon) watchRules(ctx context.Context, loaded string, changed chan<- string) {
	last, pending := loaded, ""
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
		switch {
		case last == "":
			last = sum // watching just turned on: this is the loaded state
		case sum == last:
			pending = ""
		case empty != "":
			// An empty rule file is one being rewritten (truncated, not
			// yet written) far more often than one meant to be empty, and
			// loading it would drop its rules until the next look. Wait
			// for content; deleting the file, or SIGHUP, drops its rules.
			if pending != sum {
				d.log.Info("rule file is empty; waiting for its content before reloading (delete it to drop its rules, or send SIGHUP)", "file", empty)
			}
			pending = sum
		case sum != pending:
			pending = sum // changed: wait for it to settle
		default:
			last, pending = sum, ""
			select {
			case changed <- sum:
			default:
			}
		}
	}
}

// dirSum hashes the rule files of dir as the loader reads them
// (rulefile.ReadDir); an unreadable directory hashes as such, so that its
// return is a change too.
func dirSum(dir string) string {
	sum, _ := dirState(dir)
	return sum
}

// dirState is dirSum, and the name of the first rule file that is empty
// ("" when none is).
func dirState(dir string) (sum, empty string) {
	if dir == "" {
		return "", ""
	}
	srcs, err := rulefile.ReadDir(dir)
	if err != nil {
		return "unreadable: " + err.Error(), ""
	}
	h := sha256.New()
	for _, src := range srcs {
		h.Write([]byte(src.Name))
		h.Write([]byte{0})
		h.Write(src.Data)
		h.Write([]byte{0})
		if len(src.Data) == 0 && empty == "" {
			empty = src.Name
		}
	}
	return string(h.Sum(nil)), empty
}
