// Command mamori is the Mamori mail filter: a milter for Postfix and
// Sendmail, and the tools to check messages and configurations offline.
package main

import (
	"fmt"
	"io"
	"os"
)

// Exit codes scripts can rely on.
const (
	exitOK      = 0 // done; for check: every file was judged
	exitFailure = 1 // some work failed (a file could not be read)
	exitUsage   = 2 // bad flags or a configuration that does not load
)

var version = "dev"

const usage = `mamori - mail content-security filter (milter) for Postfix and Sendmail

Usage:
  mamori serve    [flags]           run the milter daemon
  mamori check    [flags] FILE|DIR  judge message files offline, as the daemon would
  mamori validate [flags]           load the configuration fully without serving
  mamori learn    [flags] FILE|DIR  teach the Bayes classifier spam (--spam) or ham (--ham)
  mamori rules    lint|test [DIR]   check rule files; run the rules' example messages
  mamori quarantine list|show|release|delete|purge
                                    the quarantine store (quarantine.mode: store)
  mamori admin    add-user|passwd|list|...  accounts of the quarantine console
  mamori version                    print the version

Run "mamori COMMAND -h" for the flags of a command.

Start here:
  mamori serve                      embedded defaults: milter on inet:127.0.0.1:11332,
                                    /healthz and /metrics on 127.0.0.1:11334
  mamori check --json mail.eml      one JSON verdict per message
  mamori check --explain mail.eml   why: each symbol, its score, rule and matched text
  mamori learn --ham ~/Maildir      learn your mail as ham; the daemon need not stop

Docs: docs/README.md (English), docs/ja/README.md (日本語).
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	switch args[0] {
	case "serve":
		return cmdServe(args[1:], stderr)
	case "check":
		return cmdCheck(args[1:], stdin, stdout, stderr)
	case "validate":
		return cmdValidate(args[1:], stdout, stderr)
	case "learn":
		return cmdLearn(args[1:], stdin, stdout, stderr)
	case "rules":
		return cmdRules(args[1:], stdout, stderr)
	case "admin":
		return cmdAdmin(args[1:], stdin, stdout, stderr)
	case "quarantine":
		return cmdQuarantine(args[1:], stdout, stderr)
	case "version", "--version":
		fmt.Fprintln(stdout, "mamori", version)
		return exitOK
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return exitOK
	}
	fmt.Fprintf(stderr, "mamori: unknown command %q\n\n%s", args[0], usage)
	return exitUsage
}
