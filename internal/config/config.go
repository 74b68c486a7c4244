// Package config loads Mamori's YAML configuration: strict decoding (an
// unknown key is an error), defaults, validation that reports every problem
// at once with file and line, and the build step that turns it into a
// rules.Pipeline. Loading does no network I/O.
package config

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/mamori-mail/mamori/internal/mailfile"
	"github.com/mamori-mail/mamori/internal/resolver"
	"github.com/mamori-mail/mamori/rules/check"
	"gopkg.in/yaml.v3"
)

// Config is the whole configuration file. Every field's comment is its
// operator documentation (docs/configuration.md follows it).
type Config struct {
	// Listen is where the milter listens: inet:127.0.0.1:11332,
	// 127.0.0.1:11332, [::1]:11332 or unix:/run/mamori/milter.sock.
	Listen string `yaml:"listen"`
	// Admin is the HTTP listener for /healthz and /metrics.
	Admin Admin `yaml:"admin"`
	// DataDir holds embedded stores; --data-dir and MAMORI_DATA_DIR override it.
	DataDir string `yaml:"data_dir"`
	// Log sets the daemon's operational log (stderr).
	Log Log `yaml:"log"`
	// Audit sets the per-message audit trail.
	Audit Audit `yaml:"audit"`
	// Limits bound what one session may cost.
	Limits Limits `yaml:"limits"`
	// Thresholds map the total score to an action.
	Thresholds Thresholds `yaml:"thresholds"`
	// Replies are the SMTP replies Mamori gives when a check did not set one.
	Replies Replies `yaml:"replies"`
	// Headers control the headers added to delivered mail.
	Headers Headers `yaml:"headers"`
	// Scores override the score of any symbol by name.
	Scores map[string]float64 `yaml:"scores"`
	// DNS sets the resolver the reputation checks share.
	DNS resolver.Config `yaml:"dns"`
	// Rules sets the rule files: the embedded default set and the
	// operator's own directory (docs/rules.md).
	Rules Rules `yaml:"rules"`
	// Quarantine sets where held mail goes (docs/quarantine.md).
	Quarantine Quarantine `yaml:"quarantine"`
	// Checks configures each check by its registered name. Every check takes
	// enabled, timeout and on_error besides its own settings.
	Checks map[string]yaml.Node `yaml:"checks"`

	// File is the path the configuration came from ("" for the defaults).
	File string `yaml:"-"`
	// Version identifies the configuration's content.
	Version string `yaml:"-"`
	root    *yaml.Node
}

// Admin is the operations HTTP listener.
type Admin struct {
	// Listen is host:port; "off" disables it. Keep it on loopback: /metrics
	// is unauthenticated.
	Listen string `yaml:"listen"`
	// Profiling serves Go's profiler under /debug/pprof/ on the admin
	// listener, for measuring a live daemon (off: it is unauthenticated).
	Profiling bool `yaml:"profiling"`
}

// Log configures the operational log.
type Log struct {
	// Level is debug, info, warn or error.
	Level string `yaml:"level"`
	// Format is text or json.
	Format string `yaml:"format"`
}

// Audit configures the audit trail: one JSON line per message.
type Audit struct {
	// File is a path, or "-" for standard output. Reopened on SIGHUP, so
	// logrotate can move it away.
	File string `yaml:"file"`
}

// Limits protect the daemon against resource exhaustion.
type Limits struct {
	// MaxSessions is the number of concurrent milter connections; beyond it a
	// connection is closed at once and the MTA applies its milter default
	// action (tempfail with the settings in the README).
	MaxSessions int `yaml:"max_sessions"`
	// MaxMessageSize rejects larger messages with 552 5.3.4. Set Postfix's
	// message_size_limit no higher, so the MTA refuses them first.
	MaxMessageSize ByteSize `yaml:"max_message_size"`
	// SpoolThreshold is how much of a body stays in memory; the rest goes to
	// an unlinked temporary file.
	SpoolThreshold ByteSize `yaml:"spool_threshold"`
	// SpoolDir is where bodies spill ("" = the system temporary directory).
	SpoolDir string `yaml:"spool_dir"`
	// MaxHeaders is the number of header fields accepted per message.
	MaxHeaders int `yaml:"max_headers"`
	// MaxHeaderSize is the total size of all header fields.
	MaxHeaderSize ByteSize `yaml:"max_header_size"`
	// MaxRecipients is the number of RCPT TO accepted per message; more get
	// 452 4.5.3 (RFC 5321 §4.5.3.1.10).
	MaxRecipients int `yaml:"max_recipients"`
	// ReadTimeout drops a milter connection silent for this long. Keep it
	// above Postfix's smtpd_timeout (300s), which bounds SMTP client pauses.
	ReadTimeout Duration `yaml:"read_timeout"`
	// MessageTimeout is the time all checks of one message may use, summed
	// over its stages (the client's own pauses do not count). A check still
	// running when it is spent times out and its on_error applies.
	MessageTimeout Duration `yaml:"message_timeout"`
	// DrainTimeout is how long SIGTERM waits for sessions to finish.
	DrainTimeout Duration `yaml:"drain_timeout"`
	// MaxMIMEDepth is how deep content scanners follow nested multiparts and
	// attached messages; deeper parts get the MIME_LIMIT_DEPTH symbol.
	MaxMIMEDepth int `yaml:"max_mime_depth"`
	// MaxMIMEParts is the number of leaf parts content scanners look at;
	// more get MIME_LIMIT_PARTS.
	MaxMIMEParts int `yaml:"max_mime_parts"`
	// MaxDecodedSize caps the decoded bytes of all parts of one message;
	// beyond it MIME_LIMIT_SIZE. Decoded parts above spool_threshold spill
	// to spool_dir.
	MaxDecodedSize ByteSize `yaml:"max_decoded_size"`
}

// Content returns the MIME walk limits for content scanners.
func (l Limits) Content() check.ContentLimits {
	return check.ContentLimits{
		MaxDepth: l.MaxMIMEDepth, MaxParts: l.MaxMIMEParts, MaxDecodedBytes: int64(l.MaxDecodedSize),
		MemoryBytes: int64(l.SpoolThreshold), TempDir: l.SpoolDir,
	}
}

// Thresholds map the total score to an action; 0 turns one off.
type Thresholds struct {
	// AddHeader marks the message as spam in its headers (X-Spam-Flag: YES).
	AddHeader float64 `yaml:"add_header"`
	// Quarantine holds the message.
	Quarantine float64 `yaml:"quarantine"`
	// Reject refuses it at end of DATA.
	Reject float64 `yaml:"reject"`
}

// Replies are SMTP replies: code, enhanced status, text.
type Replies struct {
	// Reject answers score-based rejections.
	Reject string `yaml:"reject"`
	// Tempfail answers failures under on_error: tempfail.
	Tempfail string `yaml:"tempfail"`
}

// Headers control the status headers.
type Headers struct {
	// OnClean adds X-Spam-Flag: NO, X-Spam-Score and X-Mamori-Verdict to
	// clean mail too, so that users and later filters see it was checked.
	OnClean *bool `yaml:"on_clean"`
	// Report adds X-Mamori-Report listing each symbol and its score.
	Report *bool `yaml:"report"`
	// ServerName names this filter in X-Mamori-Report (default: host name).
	ServerName string `yaml:"server_name"`
	// AuthServID is the authserv-id of the Authentication-Results field
	// Mamori adds (RFC 8601), usually the MX host name; incoming fields
	// carrying it are removed, so senders cannot forge them. Default: the
	// host name.
	AuthServID string `yaml:"authserv_id"`
}

// CheckCommon are the settings every check takes.
type CheckCommon struct {
	// Enabled turns the check on or off; checks that need a server are off
	// until configured.
	Enabled *bool `yaml:"enabled"`
	// Timeout bounds one run of the check (default 10s).
	Timeout Duration `yaml:"timeout"`
	// OnError is tempfail or continue: what a failure of the check means.
	OnError string `yaml:"on_error"`
}

// Defaults returns the embedded default configuration.
func Defaults() *Config {
	t, f := true, true
	host, _ := os.Hostname()
	return &Config{
		Listen: "inet:127.0.0.1:11332",
		Admin:  Admin{Listen: "127.0.0.1:11334"},
		Log:    Log{Level: "info", Format: "text"},
		Audit:  Audit{File: "-"},
		Limits: Limits{
			MaxSessions:    512,
			MaxMessageSize: 100 << 20,
			SpoolThreshold: 1 << 20,
			MaxHeaders:     1000,
			MaxHeaderSize:  1 << 20,
			MaxRecipients:  1000,
			MaxMIMEDepth:   16,
			MaxMIMEParts:   500,
			MaxDecodedSize: 200 << 20,
			ReadTimeout:    Duration(6 * time.Minute),
			MessageTimeout: Duration(60 * time.Second),
			DrainTimeout:   Duration(30 * time.Second),
		},
		Thresholds: Thresholds{AddHeader: 5, Reject: 15},
		Replies: Replies{
			Reject:   "550 5.7.1 Message rejected as spam",
			Tempfail: "451 4.7.1 Temporary failure, please try again later",
		},
		Headers: Headers{OnClean: &t, Report: &f, ServerName: host, AuthServID: host},
		Quarantine: Quarantine{Mode: "hold", Retention: Duration(30 * 24 * time.Hour),
			Release: Release{Relay: "127.0.0.1:10025", Timeout: Duration(60 * time.Second)},
			Console: Console{Listen: "off"}},
		Rules: Rules{Watch: Duration(2 * time.Second), Timeout: Duration(10 * time.Second), OnError: "continue",
			MaxText: 256 << 10, MaxRaw: 256 << 10},
		Version: "defaults",
	}
}

// Load reads the configuration at path over the defaults. An empty path
// returns the defaults. Every problem is reported, each with file and line.
func Load(path string) (*Config, error) {
	c := Defaults()
	if path == "" {
		return c, c.Validate()
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	if err := c.parse(data); err != nil {
		return nil, prefixFile(path, err)
	}
	c.File = path
	sum := sha256.Sum256(data)
	c.Version = hex.EncodeToString(sum[:6])
	if err := c.Validate(); err != nil {
		return nil, prefixFile(path, err)
	}
	return c, nil
}

// Parse reads configuration text over the defaults (for tests and tools).
func Parse(data []byte) (*Config, error) {
	c := Defaults()
	if err := c.parse(data); err != nil {
		return nil, err
	}
	sum := sha256.Sum256(data)
	c.Version = hex.EncodeToString(sum[:6])
	return c, c.Validate()
}

func (c *Config) parse(data []byte) error {
	var root yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&root); err != nil {
		if errors.Is(err, io.EOF) {
			return nil // an empty file means the defaults
		}
		return check.LineError(err.Error(), "")
	}
	c.root = &root
	return check.DecodeStrict(&root, c, "")
}

// FileError is a configuration error tied to a file.
type FileError struct {
	File string
	Err  error
}

func (e *FileError) Error() string {
	var lines []string
	errs := check.Errors(e.Err)
	sort.SliceStable(errs, func(i, j int) bool { return lineOf(errs[i]) < lineOf(errs[j]) })
	for _, err := range errs {
		var ce *check.ConfigError
		if errors.As(err, &ce) && ce.File != "" {
			lines = append(lines, ce.Error())
		} else if errors.As(err, &ce) && ce.Line > 0 {
			msg := ce.Msg
			if ce.Path != "" {
				msg = ce.Path + ": " + msg
			}
			lines = append(lines, fmt.Sprintf("%s:%d: %s", e.File, ce.Line, msg))
		} else {
			lines = append(lines, fmt.Sprintf("%s: %v", e.File, err))
		}
	}
	return strings.Join(lines, "\n")
}

func (e *FileError) Unwrap() error { return e.Err }

func lineOf(err error) int {
	var ce *check.ConfigError
	if errors.As(err, &ce) {
		return ce.Line
	}
	return 0
}

func prefixFile(path string, err error) error {
	if err == nil {
		return nil
	}
	return &FileError{File: path, Err: err}
}

// node returns the value node at a dotted path of mapping keys, or nil, so
// that validation errors can name a line.
func (c *Config) node(keys ...string) *yaml.Node {
	n := c.root
	if n == nil {
		return nil
	}
	if n.Kind == yaml.DocumentNode && len(n.Content) == 1 {
		n = n.Content[0]
	}
	for _, k := range keys {
		if n.Kind != yaml.MappingNode {
			return nil
		}
		var next *yaml.Node
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == k {
				next = n.Content[i+1]
			}
		}
		if next == nil {
			return nil
		}
		n = next
	}
	return n
}

// MailLimits are the limits for reading a message file (mamori check,
// learn, rules test, the console's learning), the daemon's own.
func (l Limits) MailLimits() mailfile.Limits {
	return mailfile.Limits{
		MaxHeaders: l.MaxHeaders, MaxHeaderSize: int64(l.MaxHeaderSize),
		MaxMessageSize: int64(l.MaxMessageSize), SpoolThreshold: int64(l.SpoolThreshold),
		SpoolDir: l.SpoolDir,
	}
}
