//go:build unix

package main

import (
	"os"
	"path/filepath"
	"syscall"
)

// ownLikeDir gives a file that root just created the owner and group of
// the directory it is in: `sudo mamori learn` into the daemon's data
// directory must leave a database the daemon (its own user, owning that
// directory) can read and write, not a root-owned file with mode 0600 that
// the classifier silently cannot open. Run as anyone else, it does
// nothing.
func ownLikeDir(path string) error {
	if os.Geteuid() != 0 {
		return nil
	}
	fi, err := os.Stat(filepath.Dir(path))
	if err != nil {
		return err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok || st.Uid == 0 && st.Gid == 0 {
		return nil
	}
	return os.Lchown(path, int(st.Uid), int(st.Gid))
}
