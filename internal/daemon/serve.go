package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/mamori-mail/mamori/internal/audit"
	"github.com/mamori-mail/mamori/internal/config"
	"github.com/mamori-mail/mamori/internal/console"
	"github.com/mamori-mail/mamori/internal/quarantine"
	"github.com/mamori-mail/mamori/milter"
	"github.com/mamori-mail/mamori/rules"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Options are the command-line settings of `mamori serve`; each overrides
// the configuration file.
type Options struct {
	ConfigPath  string
	Listen      string
	AdminListen string
	DataDir     string
	LogLevel    string
	Stderr      io.Writer
	// Ready, when set, is called with the bound addresses once serving.
	Ready func(milterAddr, adminAddr string)
}

// Daemon is a running `mamori serve`.
type Daemon struct {
	opts   Options
	cfg    *config.Config
	log    *slog.Logger
	level  *slog.LevelVar
	audit  *audit.Log
	filter *Filter
	srv    *milter.Server
	admin  *http.Server
	data   string
	// consoleAddr is where the quarantine console listens ("" when off).
	consoleAddr string
	// cfgMu guards cfg against the rule watcher; the main loop, which
	// alone writes it, reads it without.
	cfgMu sync.Mutex
}

// config returns the running configuration.
func (d *Daemon) config() *config.Config {
	d.cfgMu.Lock()
	defer d.cfgMu.Unlock()
	return d.cfg
}

// LoadConfig loads the configuration and applies the command-line
// overrides, so that serve and validate judge the same thing.
func LoadConfig(o Options) (*config.Config, error) {
	cfg, err := config.Load(o.ConfigPath)
	if err != nil {
		return nil, err
	}
	if o.Listen != "" {
		cfg.Listen = o.Listen
	}
	if o.AdminListen != "" {
		cfg.Admin.Listen = o.AdminListen
	}
	if o.LogLevel != "" {
		cfg.Log.Level = o.LogLevel
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return cfg, nil
}

// Serve runs the daemon until ctx ends or SIGTERM/SIGINT, reloading on
// SIGHUP. It returns an error only for a failed start.
func Serve(ctx context.Context, o Options) error {
	if o.Stderr == nil {
		o.Stderr = os.Stderr
	}
	cfg, err := LoadConfig(o)
	if err != nil {
		return err
	}
	d := &Daemon{opts: o, cfg: cfg, level: new(slog.LevelVar)}
	d.level.Set(parseLevel(cfg.Log.Level))
	hopts := &slog.HandlerOptions{Level: d.level}
	if cfg.Log.Format == "json" {
		d.log = slog.New(slog.NewJSONHandler(o.Stderr, hopts))
	} else {
		d.log = slog.New(slog.NewTextHandler(o.Stderr, hopts))
	}
	d.data = DataDir(o.DataDir, cfg.DataDir)
	if err := os.MkdirAll(d.data, 0o750); err != nil {
		d.log.Warn("data directory not usable; embedded stores are unavailable", "data_dir", d.data, "err", err)
	}
	if d.audit, err = audit.Open(cfg.Audit.File); err != nil {
		return err
	}
	defer d.audit.Close()
	// The watcher starts from the rule files as Build compiled them: a
	// file changed during or after the build (even rewritten with the
	// same content, caught empty) is then a change, not "loaded".
	p, err := cfg.Build(d.data, d.log)
	if err != nil {
		return err
	}
	p.Start()
	d.filter = NewFilter(p, d.audit, cfg.Limits.MessageTimeout.D(), d.log)
	configLoaded(cfg, p)
	if cfg.Quarantine.Mode == "store" {
		// Opened once for the daemon's life: a store that cannot open is
		// a failed start, never quarantined mail going anywhere else.
		st, err := cfg.OpenQuarantine(ctx, d.data)
		if err != nil {
			p.Close()
			return fmt.Errorf("quarantine store: %w", err)
		}
		defer st.Close()
		d.filter.SetQuarantine(st)
		pctx, stopPurge := context.WithCancel(ctx)
		defer stopPurge()
		go d.purgeQuarantine(pctx, st)
		if c := cfg.Quarantine.Console; c.Listen != "" && c.Listen != "off" {
			stopConsole, err := d.startConsole(cfg, st)
			if err != nil {
				p.Close()
				return err
			}
			defer stopConsole()
		}
	}

	addr, _ := milter.ParseListen(cfg.Listen)
	ln, err := milter.Listen(addr)
	if err != nil {
		return err
	}
	d.srv = milter.NewServer(d.filter, milterLimits(cfg), d.log)
	serveErr := make(chan error, 2)
	go func() { serveErr <- d.srv.Serve(ln) }()

	adminAddr := ""
	if cfg.Admin.Listen != "off" {
		aln, err := net.Listen("tcp", cfg.Admin.Listen)
		if err != nil {
			d.srv.Close()
			return fmt.Errorf("admin listener: %w", err)
		}
		adminAddr = aln.Addr().String()
		d.admin = &http.Server{Handler: d.adminMux(), ReadHeaderTimeout: 10 * time.Second}
		go func() {
			if err := d.admin.Serve(aln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				serveErr <- err
			}
		}()
	}
	d.log.Info("mamori serving", "listen", ln.Addr().Network()+":"+ln.Addr().String(), "admin", adminAddr,
		"config", cfg.Version, "rules", p.Rules.Version, "checks", checkNames(d.filter.Pipeline()), "data_dir", d.data)
	if o.Ready != nil {
		o.Ready(ln.Addr().String(), adminAddr)
	}

	sig := make(chan os.Signal, 4)
	signal.Notify(sig, syscall.SIGHUP, syscall.SIGTERM, syscall.SIGINT)
	defer signal.Stop(sig)
	wctx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	changed := make(chan string, 1)
	go d.watchRules(wctx, p.Rules.LocalSum, changed)
	for {
		select {
		case sum := <-changed:
			d.log.Info("rule files changed; reloading")
			d.reload(sum)
		case s := <-sig:
			if s == syscall.SIGHUP {
				d.Reload()
				continue
			}
			d.log.Info("shutting down: draining sessions", "signal", s.String(), "drain_timeout", d.cfg.Limits.DrainTimeout.D())
			return d.shutdown()
		case <-ctx.Done():
			return d.shutdown()
		case err := <-serveErr:
			d.shutdown()
			return err
		}
	}
}

func (d *Daemon) shutdown() error {
	ctx, cancel := context.WithTimeout(context.Background(), d.cfg.Limits.DrainTimeout.D())
	defer cancel()
	if d.admin != nil {
		_ = d.admin.Shutdown(ctx)
	}
	if err := d.srv.Shutdown(ctx); err != nil {
		d.log.Warn("drain timed out; closed remaining sessions (the MTA retries them)", "err", err)
	}
	d.filter.Pipeline().Close()
	d.log.Info("mamori stopped")
	return nil
}

// Reload re-reads the configuration and swaps in a new pipeline, or keeps
// the old one and says why (STYLE §5). Settings bound at start (listeners,
// limits) need a restart; a change to them is logged.
func (d *Daemon) Reload() { d.reload("") }

// A reload reads the rule files up to maxReloadReads times, reloadRetry
// apart, to compile them as they were when it began.
const (
	maxReloadReads = 5
	reloadRetry    = 50 * time.Millisecond
)

// reload is Reload for the rule files in the state whose hash (dirSum)
// is want, as the watcher saw them settle; "" takes them as they are. The
// build must have compiled exactly the files the directory held when the
// reload began (the set's LocalSum): a file written meanwhile, even with
// the same content again (an editor's truncate, then write), would
// otherwise be compiled half-written or empty. The build is then tried
// again, a few times; if the directory has moved on from want, the
// watcher signals the newer state and this reload steps aside.
func (d *Daemon) reload(want string) {
	// Reopen first: log rotation sends SIGHUP whatever state the
	// configuration file is in.
	if err := d.audit.Reopen(); err != nil {
		d.log.Error("reopening audit log failed; still writing to the old file", "err", err)
	}
	cfg, err := LoadConfig(d.opts)
	if err == nil {
		var p *rules.Pipeline
		for attempt := 1; ; attempt++ {
			before := dirSum(cfg.Rules.Dir)
			if want != "" && before != want {
				d.log.Info("rule files changed again while reloading; waiting for them to settle")
				return
			}
			if p, err = cfg.Build(d.data, d.log); err != nil || cfg.Rules.Dir == "" || p.Rules.LocalSum == before {
				break
			}
			p.Close()
			if attempt == maxReloadReads {
				d.log.Warn("rule files kept changing while they were read; reload skipped (the watcher reloads once they settle; with rules.watch off, send SIGHUP again)", "tries", attempt)
				return
			}
			time.Sleep(reloadRetry)
		}
		if err == nil {
			p.Start()
			d.filter.Swap(p, cfg.Limits.MessageTimeout.D())
		}
	}
	if err != nil {
		reloadsTotal.WithLabelValues("failure").Inc()
		reloadSuccess.Set(0)
		d.log.Error("reload failed; the previous configuration keeps running", "err", err)
		return
	}
	if cfg.Listen != d.cfg.Listen || cfg.Admin.Listen != d.cfg.Admin.Listen || cfg.Limits != d.cfg.Limits || cfg.Audit.File != d.cfg.Audit.File ||
		cfg.Quarantine.Mode != d.cfg.Quarantine.Mode || cfg.Quarantine.Postgres != d.cfg.Quarantine.Postgres || cfg.Quarantine.PostgresFile != d.cfg.Quarantine.PostgresFile ||
		cfg.Quarantine.Console != d.cfg.Quarantine.Console {
		d.log.Warn("listen, admin, audit.file, limits and the quarantine store and console settings changed; they take effect at the next restart")
	}
	d.level.Set(parseLevel(cfg.Log.Level))
	old := d.cfg
	cfg.Listen, cfg.Admin, cfg.Limits, cfg.Audit = old.Listen, old.Admin, old.Limits, old.Audit
	cfg.Quarantine.Mode, cfg.Quarantine.Postgres, cfg.Quarantine.PostgresFile = old.Quarantine.Mode, old.Quarantine.Postgres, old.Quarantine.PostgresFile
	cfg.Quarantine.Console = old.Quarantine.Console
	d.cfgMu.Lock()
	d.cfg = cfg
	d.cfgMu.Unlock()
	configLoaded(cfg, d.filter.Pipeline())
	reloadsTotal.WithLabelValues("success").Inc()
	d.log.Info("configuration reloaded", "config", cfg.Version, "rules", d.filter.Pipeline().Rules.Version, "checks", checkNames(d.filter.Pipeline()))
}

func configLoaded(cfg *config.Config, p *rules.Pipeline) {
	configInfo.Reset()
	configInfo.WithLabelValues(cfg.Version).Set(1)
	rulesInfo.Reset()
	rulesInfo.WithLabelValues(p.Rules.Version).Set(1)
	rulesLoaded.Reset()
	for k, n := range p.Rules.Kinds {
		rulesLoaded.WithLabelValues(k).Set(float64(n))
	}
	reloadSuccess.Set(1)
	reloadTime.SetToCurrentTime()
}

func checkNames(p *rules.Pipeline) []string {
	var out []string
	for _, e := range p.Checks() {
		out = append(out, e.Check.Name())
	}
	return out
}

func milterLimits(cfg *config.Config) milter.Limits {
	l := cfg.Limits
	return milter.Limits{
		MaxSessions: l.MaxSessions, MaxMessageSize: int64(l.MaxMessageSize), SpoolThreshold: int64(l.SpoolThreshold),
		SpoolDir: l.SpoolDir, MaxHeaders: l.MaxHeaders, MaxHeaderSize: int64(l.MaxHeaderSize),
		MaxRecipients: l.MaxRecipients, ReadTimeout: l.ReadTimeout.D(),
	}
}

func parseLevel(s string) slog.Level {
	var l slog.Level
	_ = l.UnmarshalText([]byte(s))
	return l
}

func (d *Daemon) adminMux() *http.ServeMux {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.Handler())
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		p := d.filter.Pipeline()
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"status": "ok", "config": p.Version, "checks": checkNames(p)})
	})
	if d.cfg.Admin.Profiling {
		mux.HandleFunc("GET /debug/pprof/", pprof.Index)
		mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	}
	return mux
}

// DataDir picks the data directory: the flag, then MAMORI_DATA_DIR, then
// the configuration, then /var/lib/mamori for root or the XDG data
// directory for other users.
func DataDir(flag, configured string) string {
	switch {
	case flag != "":
		return flag
	case os.Getenv("MAMORI_DATA_DIR") != "":
		return os.Getenv("MAMORI_DATA_DIR")
	case configured != "":
		return configured
	case os.Geteuid() == 0:
		return "/var/lib/mamori"
	}
	if x := os.Getenv("XDG_DATA_HOME"); x != "" {
		return filepath.Join(x, "mamori")
	}
	if h, err := os.UserHomeDir(); err == nil {
		return filepath.Join(h, ".local", "share", "mamori")
	}
	return filepath.Join(os.TempDir(), "mamori")
}

// adminAuditRetention is how long the store keeps the admins' audit
// records (the audit file keeps them as long as its rotation does).
const adminAuditRetention = 366 * 24 * time.Hour

// purgeQuarantine removes entries older than quarantine.retention, at
// start and then hourly; the retention is read at each run, so a reload
// changes it.
func (d *Daemon) purgeQuarantine(ctx context.Context, st quarantine.Store) {
	t := time.NewTimer(time.Minute)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		t.Reset(time.Hour)
		if aa, ok := st.(quarantine.AdminAudit); ok {
			// The admins' trail outlives the mail it is about: a year.
			if n, err := aa.PurgeAdminRecords(ctx, time.Now().Add(-adminAuditRetention)); err != nil {
				d.log.Warn("purging old admin audit records failed; it runs again in an hour", "err", err)
			} else if n > 0 {
				d.log.Info("admin audit records purged", "removed", n, "older_than", adminAuditRetention)
			}
		}
		keep := d.config().Quarantine.Retention.D()
		if keep <= 0 {
			continue
		}
		pctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
		n, err := st.Purge(pctx, time.Now().Add(-keep))
		cancel()
		quarantinePurged.Add(float64(n))
		if err != nil {
			d.log.Warn("quarantine purge failed; it runs again in an hour", "err", err, "removed", n)
		} else if n > 0 {
			d.log.Info("quarantine purged", "removed", n, "older_than", keep)
		}
	}
}

// startConsole serves the quarantine web console on its own listener and
// returns the function that stops it.
func (d *Daemon) startConsole(cfg *config.Config, st quarantine.Store) (func(), error) {
	acc, ok := st.(quarantine.Accounts)
	if !ok {
		return nil, errors.New("quarantine console: this store keeps no accounts")
	}
	c := cfg.Quarantine.Console
	h, err := console.New(console.Options{Store: st, Accounts: acc, Audit: d.audit,
		ReleaseFunc: func() quarantine.ReleaseOptions { return d.config().Quarantine.ReleaseOptions() },
		Learn: func(ctx context.Context, msg io.Reader, spam bool) error {
			return learnMessage(ctx, d.config(), d.data, msg, spam)
		},
		SecureCookies: c.TLSCert != "", Log: d.log.With("component", "console")})
	if err != nil {
		return nil, fmt.Errorf("quarantine console: %w", err)
	}
	ln, err := net.Listen("tcp", c.Listen)
	if err != nil {
		return nil, fmt.Errorf("quarantine console listener: %w", err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: time.Minute, WriteTimeout: 5 * time.Minute,
		IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 64 << 10}
	go func() {
		var err error
		if c.TLSCert != "" {
			err = srv.ServeTLS(ln, c.TLSCert, c.TLSKey)
		} else {
			err = srv.Serve(ln)
		}
		if err != nil && !errors.Is(err, http.ErrServerClosed) {
			d.log.Error("quarantine console stopped", "err", err)
		}
	}()
	d.consoleAddr = ln.Addr().String()
	d.log.Info("quarantine console serving", "listen", d.consoleAddr, "tls", c.TLSCert != "")
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	}, nil
}
