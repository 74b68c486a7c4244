package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/mamori-mail/mamori/internal/audit"
	"github.com/mamori-mail/mamori/internal/daemon"
	"github.com/mamori-mail/mamori/internal/quarantine"
	"golang.org/x/sys/unix"
)

const adminUsage = `Usage: mamori admin add-user  [--role viewer|operator|admin] [--domains D,...] LOGIN
       mamori admin passwd    LOGIN
       mamori admin set-role  LOGIN viewer|operator|admin
       mamori admin set-domains LOGIN [D,...]
       mamori admin disable|enable|unlock|delete LOGIN
       mamori admin list      [--json]

Manages the accounts of the quarantine console. They live in the quarantine
store the configuration names (quarantine.postgres, else SQLite under the
data directory), so every instance sharing a PostgreSQL store shares them.

Roles: viewer (list and read), operator (also release and delete), admin
(also manage accounts and read the audit trail). --domains limits an
account to messages whose recipients are all in those domains
(".example.jp" for its subdomains); without it, every domain.

Passwords are read from the terminal without echo (typed twice), or from the
first line of standard input when it is not a terminal (echo "$PW" |
mamori admin passwd alice). At least 12 characters. They are stored as
argon2id hashes. Ten wrong passwords in a row lock an account for 15
minutes; unlock lifts it at once.

Every change writes an audit record (event "admin", action user_add,
user_passwd, user_role, user_domains, user_disable, user_enable,
user_unlock, user_delete; who; the account) to audit.file.

Exit status: 0 done; 1 the change was refused (the account exists, does not
exist, a password too short: the message says which); 2 bad flags, or the
configuration, the store or the audit file could not be opened.

Examples:
  mamori admin add-user --role operator alice
  mamori admin add-user --role viewer --domains city.example.lg.jp,.pref.example.lg.jp bob
  mamori admin unlock alice
  mamori admin list

Flags:
`

func cmdAdmin(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, adminUsage)
		return exitUsage
	}
	sub := args[0]
	if sub == "-h" || sub == "--help" || sub == "help" {
		fmt.Fprint(stdout, adminUsage)
		return exitOK
	}
	fset := flag.NewFlagSet("admin "+sub, flag.ContinueOnError)
	fset.SetOutput(stderr)
	var o daemon.Options
	commonFlags(fset, &o)
	role := fset.String("role", "viewer", "add-user: viewer, operator or admin")
	domains := fset.String("domains", "", "add-user: comma-separated recipient domains the account may see (default: all)")
	asJSON := fset.Bool("json", false, "list: one JSON object per account")
	by := fset.String("by", defaultBy(), "who makes the change, for the audit trail")
	fset.Usage = func() {
		fmt.Fprint(stderr, adminUsage)
		fset.PrintDefaults()
	}
	pos, err := parseInterspersed(fset, args[1:])
	if err != nil {
		return exitUsage
	}
	want := map[string]int{"add-user": 1, "passwd": 1, "set-role": 2, "set-domains": -1, "disable": 1, "enable": 1, "unlock": 1, "delete": 1, "list": 0}
	n, known := want[sub]
	switch {
	case !known:
		fmt.Fprintf(stderr, "mamori admin: unknown command %q (see mamori admin -h)\n", sub)
		return exitUsage
	case n >= 0 && len(pos) != n, n < 0 && (len(pos) < 1 || len(pos) > 2):
		fmt.Fprintf(stderr, "mamori admin %s: wrong arguments (see mamori admin -h)\n", sub)
		return exitUsage
	}
	cfg, err := daemon.LoadConfig(o)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return exitUsage
	}
	ctx := context.Background()
	st, err := cfg.OpenQuarantine(ctx, daemon.DataDir(o.DataDir, cfg.DataDir))
	if err != nil {
		fmt.Fprintf(stderr, "mamori admin: %v\n", err)
		return exitUsage
	}
	defer st.Close()
	acc, ok := st.(quarantine.Accounts)
	if !ok {
		fmt.Fprintln(stderr, "mamori admin: this quarantine store keeps no accounts")
		return exitUsage
	}
	if sub == "list" {
		return listUsers(ctx, acc, *asJSON, stdout, stderr)
	}
	alog, err := openAdminAudit(cfg.Audit.File, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "mamori admin: audit.file: %v (nothing was changed)\n", err)
		return exitUsage
	}
	defer alog.Close()
	arg := func(i int) string {
		if i < len(pos) {
			return pos[i]
		}
		return ""
	}
	login := arg(0)
	var action string
	switch sub {
	case "add-user":
		action = "user_add"
		var r quarantine.Role
		if r, err = quarantine.ParseRole(*role); err == nil {
			var pw string
			if pw, err = readPassword(stdin, stderr, login); err == nil {
				err = acc.AddUser(ctx, login, r, splitList(*domains), pw)
			}
		}
	case "passwd":
		action = "user_passwd"
		var pw string
		if pw, err = readPassword(stdin, stderr, login); err == nil {
			err = acc.SetPassword(ctx, login, pw)
		}
	case "set-role":
		action = "user_role"
		var r quarantine.Role
		if r, err = quarantine.ParseRole(arg(1)); err == nil {
			err = acc.SetRole(ctx, login, r)
		}
	case "set-domains":
		action = "user_domains"
		err = acc.SetDomains(ctx, login, splitList(arg(1)))
	case "disable":
		action, err = "user_disable", acc.DisableUser(ctx, login)
	case "enable":
		action, err = "user_enable", acc.EnableUser(ctx, login)
	case "unlock":
		action, err = "user_unlock", acc.UnlockUser(ctx, login)
	case "delete":
		action, err = "user_delete", acc.DeleteUser(ctx, login)
	}
	rec := &audit.Record{Time: time.Now(), Event: "admin", Action: action, By: *by, Reason: "account " + login, Result: "ok"}
	if err != nil {
		rec.Result, rec.Error = "failed", err.Error()
	}
	alog.Write(rec)
	storeAdminRecord(st, rec, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "mamori admin %s %s: %v\n", sub, login, err)
		if errors.Is(err, errNoPassword) {
			return exitUsage
		}
		return exitFailure
	}
	fmt.Fprintf(stdout, "%s: %s done\n", login, sub)
	return exitOK
}

func splitList(s string) []string {
	var out []string
	for _, d := range strings.Split(s, ",") {
		if d = strings.TrimSpace(d); d != "" {
			out = append(out, d)
		}
	}
	return out
}

func listUsers(ctx context.Context, acc quarantine.Accounts, asJSON bool, stdout, stderr io.Writer) int {
	users, err := acc.ListUsers(ctx)
	if err != nil {
		fmt.Fprintf(stderr, "mamori admin list: %v\n", err)
		return exitFailure
	}
	now := time.Now()
	if asJSON {
		enc := json.NewEncoder(stdout)
		for _, u := range users {
			_ = enc.Encode(map[string]any{"login": u.Login, "role": u.Role, "domains": u.Domains, "disabled": u.Disabled,
				"locked": u.Locked(now), "failed_logins": u.FailedCount, "last_login": u.LastLoginAt})
		}
		return exitOK
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "LOGIN\tROLE\tDOMAINS\tSTATE\tLAST LOGIN")
	for _, u := range users {
		state := "active"
		switch {
		case u.Disabled:
			state = "disabled"
		case u.Locked(now):
			state = "locked until " + u.LockedUntil.Local().Format(time.DateTime)
		}
		last := "never"
		if !u.LastLoginAt.IsZero() {
			last = u.LastLoginAt.Local().Format(time.DateTime)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", u.Login, u.Role, orDefault(strings.Join(u.Domains, ","), "all"), state, last)
	}
	tw.Flush()
	return exitOK
}

var errNoPassword = errors.New("no password given")

// readPassword reads a new password: typed twice without echo on a
// terminal, else the first line of stdin.
func readPassword(stdin io.Reader, stderr io.Writer, login string) (string, error) {
	f, isFile := stdin.(*os.File)
	if !isFile || !isTerminal(f) {
		line, err := bufio.NewReader(stdin).ReadString('\n')
		if err != nil && line == "" {
			return "", fmt.Errorf("%w: give it on standard input or type it at a terminal", errNoPassword)
		}
		return strings.TrimRight(line, "\r\n"), nil
	}
	first, err := promptNoEcho(f, stderr, "New password for "+login+": ")
	if err != nil {
		return "", err
	}
	second, err := promptNoEcho(f, stderr, "Again: ")
	if err != nil {
		return "", err
	}
	if first != second {
		return "", fmt.Errorf("%w: the two passwords differ", errNoPassword)
	}
	return first, nil
}

// promptNoEcho reads a line from the terminal f with echo off.
func promptNoEcho(f *os.File, stderr io.Writer, prompt string) (string, error) {
	fmt.Fprint(stderr, prompt)
	fd := int(f.Fd())
	old, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		return "", err
	}
	quiet := *old
	quiet.Lflag &^= unix.ECHO
	quiet.Lflag |= unix.ICANON | unix.ISIG
	if err := unix.IoctlSetTermios(fd, unix.TCSETS, &quiet); err != nil {
		return "", err
	}
	defer func() {
		_ = unix.IoctlSetTermios(fd, unix.TCSETS, old)
		fmt.Fprintln(stderr)
	}()
	line, err := bufio.NewReader(f).ReadString('\n')
	if err != nil && line == "" {
		return "", fmt.Errorf("%w: %v", errNoPassword, err)
	}
	return strings.TrimRight(line, "\r\n"), nil
}
