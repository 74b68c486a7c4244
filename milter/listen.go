package milter

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
)

// Addr is a parsed listen specification.
type Addr struct {
	Network string // "tcp" or "unix"
	Address string
}

func (a Addr) String() string {
	if a.Network == "unix" {
		return "unix:" + a.Address
	}
	return "inet:" + a.Address
}

// ParseListen reads the forms operators know from Postfix and Sendmail:
// inet:127.0.0.1:11332, 127.0.0.1:11332, [::1]:11332, inet6:[::1]:11332,
// unix:/run/mamori/milter.sock, local:/path, and Sendmail's inet:11332@127.0.0.1.
func ParseListen(spec string) (Addr, error) {
	s := strings.TrimSpace(spec)
	if s == "" {
		return Addr{}, errors.New("listen address is empty")
	}
	switch {
	case strings.HasPrefix(s, "unix:"), strings.HasPrefix(s, "local:"):
		_, path, _ := strings.Cut(s, ":")
		if !strings.HasPrefix(path, "/") {
			return Addr{}, fmt.Errorf("unix socket path in %q must be absolute", spec)
		}
		return Addr{Network: "unix", Address: path}, nil
	case strings.HasPrefix(s, "inet:"), strings.HasPrefix(s, "inet6:"), strings.HasPrefix(s, "tcp:"):
		_, s, _ = strings.Cut(s, ":")
	}
	if port, host, ok := strings.Cut(s, "@"); ok { // Sendmail: port@host
		s = net.JoinHostPort(strings.Trim(host, "[]"), port)
	}
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return Addr{}, fmt.Errorf("%q is not host:port or unix:/path (%v)", spec, err)
	}
	if host != "" && net.ParseIP(host) == nil && host != "localhost" {
		return Addr{}, fmt.Errorf("listen host %q must be an IP address", host)
	}
	var p int
	if _, err := fmt.Sscanf(port, "%d", &p); err != nil || p < 0 || p > 65535 {
		return Addr{}, fmt.Errorf("listen port %q is not a port number", port)
	}
	return Addr{Network: "tcp", Address: net.JoinHostPort(host, port)}, nil
}

// Listen opens the listener. A stale unix socket from a previous run is
// removed first; a socket some live process still serves is not.
func Listen(a Addr) (net.Listener, error) {
	if a.Network == "unix" {
		if c, err := net.Dial("unix", a.Address); err == nil {
			c.Close()
			return nil, fmt.Errorf("milter: %s is in use by another process", a.Address)
		}
		_ = os.Remove(a.Address)
		ln, err := net.Listen("unix", a.Address)
		if err != nil {
			return nil, fmt.Errorf("milter: %w", err)
		}
		// The MTA runs as another user (postfix); it must be able to connect.
		_ = os.Chmod(a.Address, 0o666)
		return ln, nil
	}
	ln, err := net.Listen("tcp", a.Address)
	if err != nil {
		return nil, fmt.Errorf("milter: %w", err)
	}
	return ln, nil
}
