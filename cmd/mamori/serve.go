package main

import (
	"context"
	"flag"
	"fmt"
	"io"

	"github.com/mamori-mail/mamori/internal/config"
	"github.com/mamori-mail/mamori/internal/daemon"
	"github.com/mamori-mail/mamori/rules"
)

// commonFlags are shared by serve, check and validate.
func commonFlags(fs *flag.FlagSet, o *daemon.Options) {
	fs.StringVar(&o.ConfigPath, "config", "", "YAML configuration `file` (default: embedded defaults; see docs/configuration.md)")
	fs.StringVar(&o.DataDir, "data-dir", "", "`directory` for embedded stores (default: $MAMORI_DATA_DIR, the config's data_dir, or /var/lib/mamori)")
}

func cmdServe(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o daemon.Options
	commonFlags(fs, &o)
	fs.StringVar(&o.Listen, "listen", "", "milter `address`: inet:127.0.0.1:11332, [::1]:11332 or unix:/run/mamori/milter.sock")
	fs.StringVar(&o.AdminListen, "admin-listen", "", "`host:port` for /healthz and /metrics, or off")
	fs.StringVar(&o.LogLevel, "log-level", "", "debug, info, warn or error")
	fs.Usage = func() {
		fmt.Fprint(stderr, `Usage: mamori serve [flags]

Runs the milter daemon. Attach it to Postfix with
  smtpd_milters = inet:127.0.0.1:11332
  milter_default_action = tempfail
and to Sendmail with
  INPUT_MAIL_FILTER(`+"`mamori', `S=inet:11332@127.0.0.1, F=T, T=C:10s;S:30s;R:60s;E:5m'"+`)

Signals: SIGHUP reloads the configuration (kept unchanged if the new one is
invalid); SIGTERM drains open sessions, then exits.

Flags:
`)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "mamori serve: unexpected argument %q\n", fs.Arg(0))
		return exitUsage
	}
	o.Stderr = stderr
	if err := daemon.Serve(context.Background(), o); err != nil {
		fmt.Fprintf(stderr, "mamori serve: %v\n", err)
		return exitUsage
	}
	return exitOK
}

func cmdValidate(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("validate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o daemon.Options
	commonFlags(fs, &o)
	fs.Usage = func() {
		fmt.Fprint(stderr, "Usage: mamori validate [--config FILE]\n\nLoads the configuration and builds every check, as serve would, without\nserving. Exit 0 when it is valid, 2 with every error (file:line: field: problem).\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	cfg, p, ok := loadPipeline(o, stderr)
	if !ok {
		return exitUsage
	}
	p.Close()
	src := cfg.File
	if src == "" {
		src = "embedded defaults"
	}
	fmt.Fprintf(stdout, "%s: ok (version %s, checks: %v)\n", src, cfg.Version, len(p.Checks()))
	return exitOK
}

// loadPipeline loads the configuration and builds every check as serve
// would (read-only: a tool changes no rate-limit counter), printing every error (file:line: field: problem) on failure.
func loadPipeline(o daemon.Options, stderr io.Writer) (*config.Config, *rules.Pipeline, bool) {
	cfg, err := daemon.LoadConfig(o)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return nil, nil, false
	}
	p, err := cfg.BuildReadOnly(daemon.DataDir(o.DataDir, cfg.DataDir), nil)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return nil, nil, false
	}
	return cfg, p, true
}
