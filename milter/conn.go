package milter

import (
	"bufio"
	"encoding/binary"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// The modification actions of the milter protocol. They may only come
// before a final reply, so they are held and sent with it in one write.
func isModification(code byte) bool {
	switch code {
	case '+', '-', '2', 'b', 'h', 'm', 'i', 'q', 'e':
		return true
	}
	return false
}

// maxHeld bounds what conn holds back; past it, frames go out at once.
const maxHeld = 1 << 20

// conn adapts a milter connection to what the MTAs measured here need:
//   - go-milter writes a frame's header and payload in two calls, and each
//     modification (add header, quarantine) as its own frame. With delayed
//     ACKs on the MTA side, every extra segment can cost a 40 ms stall
//     (MTA-NOTES). conn holds modification frames and sends them with the
//     final reply in one write.
//   - Sendmail writes each macro packet separately and waits for nothing, so
//     the ACK for our side's data is delayed unless we ask for QUICKACK after
//     every read (Linux clears the flag on its own).
//   - Reads go through a buffer: one system call serves many small frames.
type conn struct {
	net.Conn
	r        *bufio.Reader
	mu       sync.Mutex
	held     []byte
	onClose  func()
	closed   atomic.Bool
	quickack func()
}

func newConn(c net.Conn, onClose func()) *conn {
	cc := &conn{Conn: c, onClose: onClose}
	if tc, ok := c.(*net.TCPConn); ok {
		if raw, err := tc.SyscallConn(); err == nil {
			cc.quickack = func() {
				_ = raw.Control(func(fd uintptr) {
					_ = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, tcpQuickAck, 1)
				})
			}
		}
	}
	cc.r = bufio.NewReaderSize(readerFunc(cc.rawRead), 64<<10)
	return cc
}

// tcpQuickAck is TCP_QUICKACK from linux/tcp.h.
const tcpQuickAck = 12

type readerFunc func([]byte) (int, error)

func (f readerFunc) Read(p []byte) (int, error) { return f(p) }

func (c *conn) rawRead(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 && c.quickack != nil {
		c.quickack()
	}
	return n, err
}

func (c *conn) Read(p []byte) (int, error) { return c.r.Read(p) }

// Write buffers whole frames and sends them when a frame that is not a
// modification completes (a reply the MTA waits for).
func (c *conn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.held = append(c.held, p...)
	flush := len(c.held) > maxHeld
	for off := 0; !flush; {
		if len(c.held)-off < 5 {
			break
		}
		n := int(binary.BigEndian.Uint32(c.held[off:]))
		if len(c.held)-off < 4+n {
			break
		}
		if n > 0 && !isModification(c.held[off+4]) {
			flush = true
		}
		off += 4 + n
	}
	if flush {
		_, err := c.Conn.Write(c.held)
		c.held = c.held[:0]
		if cap(c.held) > 64<<10 {
			c.held = nil
		}
		if err != nil {
			return 0, err
		}
	}
	return len(p), nil
}

func (c *conn) Close() error {
	if c.closed.Swap(true) {
		return nil
	}
	if c.onClose != nil {
		c.onClose()
	}
	return c.Conn.Close()
}

// listener bounds concurrent sessions and wraps each connection.
type listener struct {
	net.Listener
	max     int64
	active  atomic.Int64
	log     *slog.Logger
	lastLog atomic.Int64
}

func (l *listener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if l.active.Add(1) > l.max {
			l.active.Add(-1)
			sessionsRefused.Inc()
			// Closing at once makes the MTA apply milter_default_action now,
			// instead of after its connect timeout; a flood cannot queue up.
			c.Close()
			if now := time.Now().Unix(); l.lastLog.Swap(now) != now {
				l.log.Warn("session limit reached, refusing milter connection", "max_sessions", l.max)
			}
			continue
		}
		sessionsInFlight.Inc()
		return newConn(c, func() {
			l.active.Add(-1)
			sessionsInFlight.Dec()
		}), nil
	}
}
