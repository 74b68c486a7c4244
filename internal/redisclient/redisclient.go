// Package redisclient turns the redis section of a check's configuration
// into a go-redis UniversalClient, with the settings Mamori needs on the
// hot path of every message: context deadlines honoured, no silent retries
// of commands that change state, and few dial attempts, so that a dead
// Redis costs a message milliseconds instead of seconds. The checks that
// share state between Mamori instances (rate limits, later the classifier)
// use it.
package redisclient

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync/atomic"

	"github.com/mamori-mail/mamori/rules/check"
	"github.com/redis/go-redis/v9"
	"gopkg.in/yaml.v3"
)

// Config is a redis section. Every field's comment is its operator
// documentation.
type Config struct {
	// Mode is standalone, sentinel or cluster. Default: sentinel when
	// master_name is set, else standalone.
	Mode string `yaml:"mode"`
	// Addrs are host:port pairs: the server (standalone), the Sentinels
	// (sentinel), or some nodes of the cluster (cluster). Required.
	Addrs []string `yaml:"addrs"`
	// MasterName is the name the Sentinels monitor (sentinel mode).
	MasterName string `yaml:"master_name"`
	// Username and Password authenticate with AUTH (Redis 6 ACL users, or
	// the requirepass password with no username).
	Username string `yaml:"username"`
	Password string `yaml:"password"`
	// PasswordFile reads the password from a file instead (first line),
	// so that mamori.yaml can stay world-readable.
	PasswordFile string `yaml:"password_file"`
	// SentinelPassword authenticates with the Sentinels (sentinel mode).
	SentinelPassword string `yaml:"sentinel_password"`
	// DB is the database number (standalone and sentinel). Default 0.
	DB int `yaml:"db"`
	// TLS connects over TLS (Redis 6 tls-port).
	TLS bool `yaml:"tls"`
	// TLSCAFile verifies the server against these CA certificates instead
	// of the system's.
	TLSCAFile string `yaml:"tls_ca_file"`
	// TLSServerName is the name expected in the server's certificate
	// (default: the host of the address).
	TLSServerName string `yaml:"tls_server_name"`
	// PoolSize is the number of connections per node. Default 10 per CPU.
	PoolSize int `yaml:"pool_size"`
	// KeyPrefix starts every key Mamori writes, so that one Redis can serve
	// several applications. Default "mamori:".
	KeyPrefix *string `yaml:"key_prefix"`
}

// DefaultKeyPrefix starts every key unless key_prefix says otherwise.
const DefaultKeyPrefix = "mamori:"

// Modes.
const (
	Standalone = "standalone"
	Sentinel   = "sentinel"
	Cluster    = "cluster"
)

// Prefix returns the key prefix.
func (c *Config) Prefix() string {
	if c.KeyPrefix == nil {
		return DefaultKeyPrefix
	}
	return *c.KeyPrefix
}

// mode returns the effective mode.
func (c *Config) mode() string {
	if c.Mode != "" {
		return c.Mode
	}
	if c.MasterName != "" {
		return Sentinel
	}
	return Standalone
}

// Validate reports every problem of the section at once, each with its
// line; node is the section's YAML node (nil is allowed) and path its name
// in the configuration, such as "checks.ratelimit.redis".
func (c *Config) Validate(node *yaml.Node, path string) error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, check.Errorf(valueOf(node, key), path+"."+key, format, args...))
	}
	mode := c.mode()
	switch mode {
	case Standalone, Sentinel, Cluster:
	default:
		bad("mode", "%q is not a mode (want standalone, sentinel or cluster)", c.Mode)
	}
	if len(c.Addrs) == 0 {
		bad("addrs", "is required: the Redis server as host:port, e.g. [\"127.0.0.1:6379\"]")
	}
	for _, a := range c.Addrs {
		if _, port, err := net.SplitHostPort(a); err != nil || port == "" {
			bad("addrs", "%q is not host:port", a)
		}
	}
	if mode == Standalone && len(c.Addrs) > 1 {
		bad("addrs", "standalone mode takes one address; for several nodes set mode: cluster, for Sentinels mode: sentinel")
	}
	if mode == Sentinel && c.MasterName == "" {
		bad("master_name", "is required in sentinel mode: the name in the Sentinels' \"sentinel monitor\" line")
	}
	if mode != Sentinel && c.MasterName != "" {
		bad("master_name", "is only for sentinel mode")
	}
	if mode == Cluster && c.DB != 0 {
		bad("db", "Redis Cluster has only database 0")
	}
	if c.DB < 0 {
		bad("db", "must not be negative")
	}
	if c.PoolSize < 0 {
		bad("pool_size", "must not be negative")
	}
	if c.Password != "" && c.PasswordFile != "" {
		bad("password_file", "set password or password_file, not both")
	}
	if (c.TLSCAFile != "" || c.TLSServerName != "") && !c.TLS {
		bad("tls", "tls_ca_file and tls_server_name need tls: true")
	}
	return errors.Join(errs...)
}

// valueOf positions an error at key's value, or at the section when the
// key is missing.
func valueOf(n *yaml.Node, key string) *yaml.Node {
	if v := check.Field(n, key); v != nil {
		return v
	}
	return n
}

// Options returns the go-redis options for c. It reads password_file and
// tls_ca_file (local files; no network).
func (c *Config) Options() (*redis.UniversalOptions, error) {
	o := &redis.UniversalOptions{
		Addrs:            c.Addrs,
		Username:         c.Username,
		Password:         c.Password,
		SentinelPassword: c.SentinelPassword,
		DB:               c.DB,
		PoolSize:         c.PoolSize,
		ClientName:       "mamori",
		IsClusterMode:    c.mode() == Cluster,
		// Deadlines come from the check's context (its timeout), not from
		// go-redis's five-second socket defaults.
		ContextTimeoutEnabled: true,
		// A command is never re-sent: rate-limit scripts are not idempotent,
		// and a retry after a lost answer would charge a message twice.
		MaxRetries: -1,
		// One dial attempt per command: go-redis's default of five with
		// backoff turns a dead server into half a second per message.
		DialerRetries: 1,
		// go-redis issues CLIENT SETINFO on every new connection; servers
		// before 7.2 refuse it, which only costs a round trip, but the
		// refusal would be logged.
		DisableIdentity: true,
	}
	if c.mode() == Sentinel {
		o.MasterName = c.MasterName
	}
	if c.PasswordFile != "" {
		b, err := os.ReadFile(c.PasswordFile)
		if err != nil {
			return nil, fmt.Errorf("redis password_file: %w", err)
		}
		o.Password, _, _ = strings.Cut(string(b), "\n")
		o.Password = strings.TrimRight(o.Password, "\r")
	}
	if c.TLS {
		tc := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: c.TLSServerName}
		if c.TLSCAFile != "" {
			pem, err := os.ReadFile(c.TLSCAFile)
			if err != nil {
				return nil, fmt.Errorf("redis tls_ca_file: %w", err)
			}
			tc.RootCAs = x509.NewCertPool()
			if !tc.RootCAs.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("redis tls_ca_file %s: no PEM certificate in it", c.TLSCAFile)
			}
		}
		o.TLSConfig = tc
	}
	return o, nil
}

// New returns a client for c. It does no I/O besides reading the files c
// names: go-redis connects on first use, and reconnects on its own after the
// server comes back.
func New(c *Config) (redis.UniversalClient, error) {
	o, err := c.Options()
	if err != nil {
		return nil, err
	}
	quietLogger()
	return redis.NewUniversalClient(o), nil
}

var loggerSet atomic.Bool

// quietLogger sends go-redis's own log lines (one per failed dial, among
// others) to the debug level of the default logger: the checks report
// Redis failures themselves, once per change, and a dead Redis must not
// print a line per message on stderr.
func quietLogger() {
	if loggerSet.CompareAndSwap(false, true) {
		redis.SetLogger(slogAdapter{})
	}
}

type slogAdapter struct{}

func (slogAdapter) Printf(ctx context.Context, format string, v ...any) {
	slog.Default().Log(ctx, slog.LevelDebug, "go-redis: "+fmt.Sprintf(format, v...))
}
