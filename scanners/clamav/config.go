package clamav

import (
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/mamori-mail/mamori/rules/check"
	"gopkg.in/yaml.v3"
)

// Config is the clamav check's section of the configuration
// (checks.clamav). The common keys enabled, timeout and on_error are the
// engine's; on_error defaults to tempfail for this check.
type Config struct {
	// Address is where clamd listens: "unix:/run/clamav/clamd.ctl" (the
	// LocalSocket of Debian's clamav-daemon), "tcp:127.0.0.1:3310" (its
	// TCPSocket and TCPAddr), or a bare socket path. Default
	// unix:/run/clamav/clamd.ctl.
	Address string `yaml:"address"`
	// ConnectTimeout bounds connecting to clamd. Default 2s.
	ConnectTimeout Duration `yaml:"connect_timeout"`
	// ScanTimeout bounds one scan (one part), from connecting to clamd's
	// answer. Default 30s. The common timeout bounds the whole check.
	ScanTimeout Duration `yaml:"scan_timeout"`
	// MaxConcurrent is how many scans Mamori keeps open at clamd at once,
	// over all messages; more parts wait their turn. Keep it at or below
	// clamd's MaxThreads. Default 8.
	MaxConcurrent int `yaml:"max_concurrent"`
	// MaxSize is the largest part (decoded) sent to clamd, written as
	// bytes or with K, M or G. A larger part is not sent and gets
	// CLAMAV_UNSCANNED. It must not be above clamd's StreamMaxLength
	// (clamd.conf; 25M on Debian): clamd refuses longer streams. Default 25M.
	MaxSize Size `yaml:"max_size"`
	// Outcome is what a virus does: reject, quarantine, tempfail, discard,
	// none (only report the symbol), or a score. Default reject.
	Outcome *check.Outcome `yaml:"outcome"`
	// Unscanned is what a part that could not be scanned because of its
	// size does (CLAMAV_UNSCANNED): an action or a score. Default score 1.
	Unscanned *check.Outcome `yaml:"unscanned"`
	// RejectReply is the SMTP reply when outcome is reject; {signature}
	// becomes the virus name (printable ASCII only). Default
	// "554 5.7.1 Message rejected: malware {signature} found".
	RejectReply string `yaml:"reject_reply"`
	// Mode is how a message goes to clamd. "message" (the default) streams
	// the message as received in one scan, as clamav-milter does, and clamd
	// unpacks it (its ScanMail option, on by default); only when it finds
	// malware are the parts scanned one by one, to name the attachment. A
	// message larger than max_size, and one whose MIME structure is broken,
	// is also scanned part by part, as Mamori decodes it. "parts" always
	// streams each decoded part on its own (more scans per message; use it
	// when clamd runs with ScanMail off).
	Mode string `yaml:"mode"`
	// ScanRawOnAnomaly sends the whole message to clamd as well when the
	// MIME walk found broken structure or hit a limit, so that nothing
	// escapes through a disagreement between Mamori's MIME parser and the
	// mail client's. Default true.
	ScanRawOnAnomaly *bool `yaml:"scan_raw_on_anomaly"`
	// HealthInterval is how often clamd gets a PING in the background, to
	// keep mamori_clamav_up and the log current when no mail flows; 0 turns
	// it off. Default 10s.
	HealthInterval *Duration `yaml:"health_interval"`
}

// Defaults of the settings that Options does not share.
const (
	DefaultAddress        = "unix:/run/clamav/clamd.ctl"
	DefaultRejectReply    = "554 5.7.1 Message rejected: malware {signature} found"
	DefaultHealthInterval = 10 * time.Second
	// maxConcurrentLimit bounds max_concurrent; clamd's own MaxThreads
	// default is 10.
	maxConcurrentLimit = 1024
	// maxSizeLimit is clamd's own ceiling for StreamMaxLength (4 GiB).
	maxSizeLimit = 4 << 30
)

// DefaultUnscanned is the default of unscanned: a score, like amavisd's
// UNCHECKED mark, rather than a refusal, because large mail is common and
// rarely malicious.
var DefaultUnscanned = check.Score(1)

// settings is a validated configuration.
type settings struct {
	opts        Options
	outcome     check.Outcome
	unscanned   check.Outcome
	reply       check.Reply // Text may hold {signature}
	scanRaw     bool
	perPart     bool
	concurrency int
}

// compile applies the defaults and validates, reporting every problem
// with its line. node is the section, for positions (it may be nil).
func (c *Config) compile(node *yaml.Node) (settings, error) {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, check.Errorf(valueNode(node, key), "checks.clamav."+key, format, args...))
	}
	s := settings{
		outcome:   check.Reject,
		unscanned: DefaultUnscanned,
		scanRaw:   c.ScanRawOnAnomaly == nil || *c.ScanRawOnAnomaly,
	}
	switch c.Mode {
	case "", "message":
	case "parts":
		s.perPart = true
	default:
		bad("mode", "%q: want message or parts", c.Mode)
	}
	addr := c.Address
	if addr == "" {
		addr = DefaultAddress
	}
	network, address, err := ParseAddress(addr)
	if err != nil {
		bad("address", "%v", err)
	}
	s.opts = Options{
		Network: network, Address: address,
		ConnectTimeout: DefaultConnectTimeout, ScanTimeout: DefaultScanTimeout,
		MaxConcurrent: DefaultMaxConcurrent, MaxSize: DefaultMaxSize,
		HealthInterval: DefaultHealthInterval,
	}
	positive := func(key string, d Duration, dst *time.Duration) {
		switch {
		case d == 0:
		case d < Duration(time.Millisecond):
			bad(key, "must be at least 1ms")
		default:
			*dst = time.Duration(d)
		}
	}
	positive("connect_timeout", c.ConnectTimeout, &s.opts.ConnectTimeout)
	positive("scan_timeout", c.ScanTimeout, &s.opts.ScanTimeout)
	if c.HealthInterval != nil {
		switch d := time.Duration(*c.HealthInterval); {
		case d == 0:
			s.opts.HealthInterval = 0
		case d < 100*time.Millisecond:
			bad("health_interval", "must be 0 (off) or at least 100ms")
		default:
			s.opts.HealthInterval = d
		}
	}
	switch {
	case c.MaxConcurrent == 0:
	case c.MaxConcurrent < 0 || c.MaxConcurrent > maxConcurrentLimit:
		bad("max_concurrent", "must be between 1 and %d", maxConcurrentLimit)
	default:
		s.opts.MaxConcurrent = c.MaxConcurrent
	}
	switch {
	case c.MaxSize == 0:
	case c.MaxSize > maxSizeLimit:
		bad("max_size", "must be at most 4G (clamd's ceiling for StreamMaxLength)")
	default:
		s.opts.MaxSize = int64(c.MaxSize)
	}
	s.concurrency = s.opts.MaxConcurrent
	if c.Outcome != nil {
		s.outcome = *c.Outcome
	}
	if c.Unscanned != nil {
		s.unscanned = *c.Unscanned
	}
	replyText := c.RejectReply
	if replyText == "" {
		replyText = DefaultRejectReply
	} else if s.outcome.Action != check.ActReject {
		bad("reject_reply", "is only used when outcome is reject (outcome is %s)", s.outcome)
	}
	if r, err := check.ParseReply(replyText); err != nil {
		bad("reject_reply", "%v", err)
	} else if r.Code/100 != 5 {
		bad("reject_reply", "%q must be a 5xx reply", replyText)
	} else {
		s.reply = r
	}
	return s, errors.Join(errs...)
}

// ParseAddress reads clamd's address: "unix:/path", "tcp:host:port", or a
// bare absolute path (a Unix socket). It returns the network ("unix" or
// "tcp") and the address to dial.
func ParseAddress(s string) (network, address string, err error) {
	s = strings.TrimSpace(s)
	switch {
	case strings.HasPrefix(s, "unix:"):
		network, address = "unix", strings.TrimPrefix(s, "unix:")
	case strings.HasPrefix(s, "tcp:"):
		network, address = "tcp", strings.TrimPrefix(s, "tcp:")
	case strings.HasPrefix(s, "/"):
		network, address = "unix", s
	default:
		return "", "", fmt.Errorf("%q: write unix:/run/clamav/clamd.ctl, tcp:127.0.0.1:3310 or an absolute socket path", s)
	}
	if network == "unix" {
		if !filepath.IsAbs(address) {
			return "", "", fmt.Errorf("%q: the socket path must be absolute", s)
		}
		if len(address) > 107 {
			return "", "", fmt.Errorf("%q: a Unix socket path is limited to 107 bytes", s)
		}
		return network, filepath.Clean(address), nil
	}
	host, port, err := net.SplitHostPort(address)
	if err != nil || host == "" {
		return "", "", fmt.Errorf("%q: want tcp:HOST:PORT, such as tcp:127.0.0.1:3310 or tcp:[::1]:3310", s)
	}
	if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
		return "", "", fmt.Errorf("%q: port %q is not a number from 1 to 65535", s, port)
	}
	return network, address, nil
}

// valueNode returns the value node of key in mapping node n, or n.
func valueNode(n *yaml.Node, key string) *yaml.Node {
	if n == nil || n.Kind != yaml.MappingNode {
		return n
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return n
}

// Duration and Size are the configuration units shared by every check.
type (
	Duration = check.Duration
	Size     = check.ByteSize
)
