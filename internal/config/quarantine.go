package config

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"

	"github.com/mamori-mail/mamori/internal/quarantine"
)

// Quarantine says where held mail goes.
type Quarantine struct {
	// Mode is hold (the MTA's own quarantine: Postfix's hold queue,
	// Sendmail's qf→hf; released with postsuper -H or sendmail -qQ) or
	// store (a copy in Mamori's quarantine store, written durably before
	// the MTA is told to discard the message; works alike for Postfix and
	// Sendmail, and mamori quarantine lists and releases it).
	Mode string `yaml:"mode"`
	// Postgres is a PostgreSQL connection string (postgres://user@host/db)
	// for a store that several Mamori instances share; empty keeps the
	// store in SQLite under the data directory (quarantine/).
	Postgres string `yaml:"postgres"`
	// PostgresFile reads the connection string from a file (so that the
	// password stays out of the configuration).
	PostgresFile string `yaml:"postgres_file"`
	// Retention is how long entries stay; the daemon purges older ones
	// once an hour. 0 keeps them until deleted.
	Retention Duration `yaml:"retention"`
	// Release sets how released mail is re-injected.
	Release Release `yaml:"release"`
	// Console serves the authenticated web console over the store.
	Console Console `yaml:"console"`
}

// Console is the quarantine web console's listener.
type Console struct {
	// Listen is host:port, or "off" (the default). It needs mode: store.
	Listen string `yaml:"listen"`
	// TLSCert and TLSKey serve it over HTTPS (and mark its cookies
	// Secure); without them it speaks plain HTTP: keep it on loopback
	// behind a TLS-terminating proxy then.
	TLSCert string `yaml:"tls_cert"`
	TLSKey  string `yaml:"tls_key"`
}

// ReleaseOptions returns the release settings for quarantine.Release.
func (q Quarantine) ReleaseOptions() quarantine.ReleaseOptions {
	return quarantine.ReleaseOptions{Relay: q.Release.Relay, Helo: q.Release.Helo, Timeout: q.Release.Timeout.D()}
}

// Release is where and how released mail goes back to the MTA.
type Release struct {
	// Relay is host:port of an SMTP listener of the MTA that does not
	// call Mamori again (Postfix: a master.cf smtpd with
	// -o smtpd_milters= ; see docs/quarantine.md).
	Relay string `yaml:"relay"`
	// Timeout bounds one release's SMTP conversation.
	Timeout Duration `yaml:"timeout"`
	// Helo is the name given in EHLO (default: the host name).
	Helo string `yaml:"helo"`
}

func (q Quarantine) validate(bad func(path, format string, args ...any)) {
	switch q.Mode {
	case "hold", "store":
	default:
		bad("quarantine.mode", "%q: want hold (the MTA's hold queue) or store (Mamori's quarantine store)", q.Mode)
	}
	if q.Postgres != "" && q.PostgresFile != "" {
		bad("quarantine.postgres_file", "set postgres or postgres_file, not both")
	}
	if q.Postgres != "" && !strings.HasPrefix(q.Postgres, "postgres://") && !strings.HasPrefix(q.Postgres, "postgresql://") && !strings.Contains(q.Postgres, "=") {
		bad("quarantine.postgres", "want a URL (postgres://mamori@db.example/mamori) or key=value pairs (host=... dbname=...)")
	}
	if q.Retention < 0 {
		bad("quarantine.retention", "must be 0 (keep) or positive")
	}
	if _, _, err := net.SplitHostPort(q.Release.Relay); err != nil {
		bad("quarantine.release.relay", "%q is not host:port", q.Release.Relay)
	}
	if q.Release.Timeout.D() <= 0 {
		bad("quarantine.release.timeout", "must be positive")
	}
	if c := q.Console; c.Listen != "" && c.Listen != "off" {
		if _, _, err := net.SplitHostPort(c.Listen); err != nil {
			bad("quarantine.console.listen", "%q is not host:port (or off)", c.Listen)
		}
		if q.Mode != "store" {
			bad("quarantine.console.listen", "the console shows Mamori's quarantine store: set quarantine.mode: store")
		}
		if (c.TLSCert == "") != (c.TLSKey == "") {
			bad("quarantine.console.tls_cert", "set both tls_cert and tls_key, or neither")
		}
	}
}

// QuarantineDSN returns the PostgreSQL connection string, reading
// postgres_file if set; "" means the SQLite store.
func (q Quarantine) QuarantineDSN() (string, error) {
	if q.PostgresFile == "" {
		return q.Postgres, nil
	}
	b, err := os.ReadFile(q.PostgresFile)
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(b)), nil
}

// QuarantineDir is where the SQLite store lives under dataDir.
func QuarantineDir(dataDir string) string { return filepath.Join(dataDir, "quarantine") }

// OpenQuarantine opens the quarantine store the configuration names: the
// PostgreSQL one when postgres (or postgres_file) is set, else the SQLite
// one under dataDir. The daemon (mode store) and mamori quarantine share it.
func (c *Config) OpenQuarantine(ctx context.Context, dataDir string) (quarantine.Store, error) {
	dsn, err := c.Quarantine.QuarantineDSN()
	if err != nil {
		return nil, fmt.Errorf("quarantine.postgres_file: %w", err)
	}
	if dsn != "" {
		return quarantine.OpenPostgres(ctx, dsn)
	}
	return quarantine.OpenSQLite(QuarantineDir(dataDir))
}
