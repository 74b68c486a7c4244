package clamav

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"io"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Contents that make the fake clamd answer other than "stream: OK".
const (
	fakeVirus  = "FAKE-VIRUS-MARKER"     // stream: Fake.Virus FOUND
	fakeSecond = "FAKE-SECOND-MARKER"    // a second FOUND line (AllMatchScanning)
	fakeError  = "FAKE-ERROR-MARKER"     // stream: Can't allocate memory ERROR
	fakeSilent = "FAKE-SILENT-MARKER"    // closes without answering
	fakeBadSig = "FAKE-UNPRINTABLE-NAME" // a FOUND name with bytes a reply must not carry
)

// fakeClamd is a small clamd speaking the protocol the library uses
// ("nCMD\n", INSTREAM chunks), for unit tests: verdicts, errors, the size
// limit, slowness and a count of concurrent streams.
type fakeClamd struct {
	ln      net.Listener
	Network string
	Addr    string

	// StreamMax makes INSTREAM answer "INSTREAM size limit exceeded" and
	// close once more than this many bytes arrived (0: no limit).
	StreamMax int
	// LateLimit delays that answer until the stream's end, so that the
	// client reads it for sure (real clamd answers at once, and a client
	// still writing gets EPIPE).
	LateLimit bool
	// Delay is waited before answering INSTREAM.
	Delay time.Duration

	mu       sync.Mutex
	streams  [][]byte
	pings    int
	open     int
	maxOpen  int
	wg       sync.WaitGroup
	closing  atomic.Bool
	done     chan struct{}
	accepted atomic.Int64
}

func startFake(t testing.TB, network string) *fakeClamd {
	t.Helper()
	var ln net.Listener
	var err error
	if network == "unix" {
		ln, err = net.Listen("unix", filepath.Join(shortTempDir(t), "clamd.sock"))
	} else {
		ln, err = net.Listen("tcp4", "127.0.0.1:0")
	}
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeClamd{ln: ln, Network: network, Addr: ln.Addr().String(), done: make(chan struct{})}
	f.serve()
	t.Cleanup(f.Close)
	return f
}

// startFakeAt serves on an existing Unix socket path (for a socket that
// appears after the check was built).
func startFakeAt(t testing.TB, path string) *fakeClamd {
	t.Helper()
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeClamd{ln: ln, Network: "unix", Addr: path, done: make(chan struct{})}
	f.serve()
	t.Cleanup(f.Close)
	return f
}

func (f *fakeClamd) serve() {
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		for {
			c, err := f.ln.Accept()
			if err != nil {
				return
			}
			f.accepted.Add(1)
			f.wg.Add(1)
			go func() {
				defer f.wg.Done()
				defer c.Close()
				f.handle(c)
			}()
		}
	}()
}

// Address is the address in the check's configuration syntax.
func (f *fakeClamd) Address() string { return f.Network + ":" + f.Addr }

func (f *fakeClamd) Close() {
	if f.closing.Swap(true) {
		return
	}
	close(f.done)
	f.ln.Close()
	f.wg.Wait()
}

func (f *fakeClamd) handle(c net.Conn) {
	_ = c.SetDeadline(time.Now().Add(20 * time.Second))
	br := bufio.NewReader(c)
	line, err := br.ReadString('\n')
	if err != nil {
		return
	}
	switch strings.TrimSuffix(line, "\n") {
	case "nPING":
		f.mu.Lock()
		f.pings++
		f.mu.Unlock()
		io.WriteString(c, "PONG\n")
	case "nINSTREAM":
		f.instream(c, br)
	default:
		io.WriteString(c, "UNKNOWN COMMAND\n")
	}
}

func (f *fakeClamd) instream(c net.Conn, br *bufio.Reader) {
	f.mu.Lock()
	f.open++
	f.maxOpen = max(f.maxOpen, f.open)
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		f.open--
		f.mu.Unlock()
	}()
	var data []byte
	var hdr [4]byte
	for {
		if _, err := io.ReadFull(br, hdr[:]); err != nil {
			return
		}
		n := binary.BigEndian.Uint32(hdr[:])
		if n == 0 {
			break
		}
		chunk := make([]byte, n)
		if _, err := io.ReadFull(br, chunk); err != nil {
			return
		}
		data = append(data, chunk...)
		if f.StreamMax > 0 && len(data) > f.StreamMax && !f.LateLimit {
			io.WriteString(c, "INSTREAM size limit exceeded. ERROR\n")
			return // close with the rest unread, as clamd does
		}
	}
	if f.StreamMax > 0 && len(data) > f.StreamMax {
		io.WriteString(c, "INSTREAM size limit exceeded. ERROR\n")
		return
	}
	f.mu.Lock()
	f.streams = append(f.streams, data)
	f.mu.Unlock()
	if f.Delay > 0 {
		select {
		case <-time.After(f.Delay):
		case <-f.done:
			return
		}
	}
	switch {
	case bytes.Contains(data, []byte(fakeSilent)):
		return
	case bytes.Contains(data, []byte(fakeError)):
		io.WriteString(c, "stream: Can't allocate memory ERROR\n")
	case bytes.Contains(data, []byte(fakeBadSig)):
		io.WriteString(c, "stream: Bad\x01Name\xff<script> FOUND\n")
	case bytes.Contains(data, []byte(fakeVirus)):
		io.WriteString(c, "stream: Fake.Virus FOUND\n")
		if bytes.Contains(data, []byte(fakeSecond)) {
			io.WriteString(c, "stream: Fake.Second FOUND\n")
		}
	default:
		io.WriteString(c, "stream: OK\n")
	}
}

// Streams returns the INSTREAM payloads received completely.
func (f *fakeClamd) Streams() [][]byte {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([][]byte(nil), f.streams...)
}

func (f *fakeClamd) Pings() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.pings
}

func (f *fakeClamd) MaxOpen() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.maxOpen
}
