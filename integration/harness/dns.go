package harness

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// Limits and defaults of the test DNS server.
const (
	// dnsEDNSSize is the UDP payload size the server states in the OPT
	// record it echoes (RFC 6891 §6.2.5): the DNS flag day 2020 value, the
	// one internal/resolver offers too.
	dnsEDNSSize = 1232
	// dnsMaxUDPPayload is the largest UDP datagram IPv4 can carry; an answer
	// is truncated to it even if a client offers up to 65535 in EDNS0, since
	// the kernel would refuse to send a larger one.
	dnsMaxUDPPayload = 65507
	// dnsWriteTimeout bounds writing one answer to a TCP client that does
	// not read: a stuck client must not keep the server from stopping.
	dnsWriteTimeout = 5 * time.Second
	// dnsMaxChain bounds how many CNAMEs one answer follows, so a CNAME
	// loop in the test data ends.
	dnsMaxChain = 16
	// dnsListenTries is how often StartDNS picks a new UDP port when TCP
	// on the same port is taken.
	dnsListenTries = 10
)

// DNSQuery is one query the DNSServer received.
type DNSQuery struct {
	// Name is the question's name as a lower-case FQDN ("www.example.test."),
	// whatever case the client sent, so tests can compare it directly.
	Name string
	// Type is the question's type (dns.TypeA, dns.TypeTXT, …).
	Type uint16
	// Proto is "udp" or "tcp": a client that got a truncated answer over
	// UDP asks again over TCP, and a test may check that it did.
	Proto string
	// At is when the query arrived, before any delay or behaviour applied.
	At time.Time
}

// dnsBehaviour is how the server treats the queries for one name.
type dnsBehaviour int

const (
	dnsAnswer dnsBehaviour = iota
	dnsServFail
	dnsRefuse
	dnsDrop
)

// DNSServer is an authoritative DNS server run in-process on 127.0.0.1,
// answering from records the test adds and from nothing else: the test
// network has no internet, and a lookup that escaped to a real resolver
// would make a test depend on it. It serves UDP and TCP on the same port,
// as resolv.conf-style configuration expects, and is stopped when the test
// ends.
//
// The server is authoritative for every name: a name without records is
// NXDOMAIN, not a referral. It answers like an authoritative server (RFC
// 1034 §4.3.2, RFC 2308, RFC 6604), which is what both the standard
// library's resolver and miekg/dns-based resolvers such as
// internal/resolver expect:
//
//   - Every answer has the AA flag set. Go's resolver takes a NOERROR
//     answer with no records, no AA and no RA for a lame referral.
//   - The records of the asked type are answered with their TTLs as added.
//     A name with a CNAME and no record of the asked type answers the CNAME
//     and continues at its target, within the server's data, up to 16
//     CNAMEs; the rcode is that of the chain's last name (RFC 6604 §2.1).
//   - A name that has records, or has none but has records below it (an
//     empty non-terminal, RFC 4592 §2.2.2, which RFC 8020 §2 says must not
//     be NXDOMAIN), but none of the asked type answers
//     NOERROR with no records (NODATA). A name with neither answers
//     NXDOMAIN. Both carry an SOA in the authority section, so resolvers
//     can cache the negative answer (RFC 2308 §3): the SOA of the nearest
//     enclosing name that has one added, or a default one (see Add).
//   - Over UDP, an answer larger than 512 bytes, or than the EDNS0 payload
//     size the query offered, is truncated with the TC flag set (RFC 1035
//     §4.2.1, RFC 6891 §6.2.5), so the client asks again over TCP, which
//     gets the whole answer (RFC 7766).
//   - A query with an EDNS0 OPT record gets one back (with the DO bit
//     echoed); a query for an EDNS version other than 0 gets BADVERS (RFC
//     6891 §6.1.3). A query with other than one question gets FORMERR, an
//     opcode other than QUERY gets NOTIMP, and a message with QR set (an
//     answer) is ignored.
//
// The record class is not checked: the data is meant to be IN.
//
// Unlike a real zone, records are matched by exact name: an owner of
// "*.zone.test." is not a wildcard record (RFC 4592). The behaviours
// ServFail, Refuse and Drop do accept that wildcard form.
//
// Each query is answered by a goroutine of its own, both over UDP and over
// TCP (where queries pipelined on one connection may be answered out of
// order, as RFC 7766 §7 allows), so that SetDelay delays concurrent queries
// in parallel.
//
// All methods are safe for concurrent use.
type DNSServer struct {
	// Addr is "127.0.0.1:PORT", where the server listens on both UDP and
	// TCP: the nameserver address to give a resolver.
	Addr string

	pc   net.PacketConn
	ln   net.Listener
	done chan struct{} // closed when the server stops
	wg   sync.WaitGroup

	mu         sync.Mutex
	records    map[string][]dns.RR // by owner name, lower-case FQDN
	behaviours map[string]dnsBehaviour
	delay      time.Duration
	queries    []DNSQuery
	conns      map[net.Conn]struct{}
	serveErr   error // why a listener stopped before the test ended
}

// StartDNS starts a DNS server with no records on a loopback port free for
// both UDP and TCP, and stops it when the test ends. The port is found by
// listening on UDP port 0 and then binding TCP to the same port, with a new
// UDP port when TCP is taken; a port FreePort handed out is skipped, as
// the process it was meant for may not have bound it yet.
func StartDNS(t testing.TB) *DNSServer {
	t.Helper()
	pc, ln := listenDNS(t)
	s := &DNSServer{
		Addr:       pc.LocalAddr().String(),
		pc:         pc,
		ln:         ln,
		done:       make(chan struct{}),
		records:    map[string][]dns.RR{},
		behaviours: map[string]dnsBehaviour{},
		conns:      map[net.Conn]struct{}{},
	}
	s.wg.Add(2)
	go s.serveUDP()
	go s.serveTCP()
	t.Cleanup(func() {
		s.stop()
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.serveErr != nil {
			t.Errorf("harness: dns %s stopped serving before the test ended: %v", s.Addr, s.serveErr)
		}
	})
	return s
}

// listenDNS binds UDP and TCP on one free port of 127.0.0.1.
func listenDNS(t testing.TB) (net.PacketConn, net.Listener) {
	t.Helper()
	var lastErr error
	for range dnsListenTries {
		pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("harness: dns: listen on udp 127.0.0.1:0: %v", err)
		}
		port := pc.LocalAddr().(*net.UDPAddr).Port
		handedOut.Lock()
		reserved := handedOut.ports[port]
		handedOut.Unlock()
		if reserved {
			pc.Close()
			lastErr = fmt.Errorf("port %d was handed out by FreePort", port)
			continue
		}
		ln, err := net.Listen("tcp4", pc.LocalAddr().String())
		if err == nil {
			return pc, ln
		}
		pc.Close()
		lastErr = err
	}
	t.Fatalf("harness: dns: no port of 127.0.0.1 free for both UDP and TCP after %d tries: %v", dnsListenTries, lastErr)
	return nil, nil
}

// Add adds records given in zone file presentation format, one per
// string, as dns.NewRR parses them:
//
//	s.Add(t, `example.test. 300 IN TXT "v=spf1 -all"`)
//	s.Add(t, "2.0.0.127.zen.test. 300 IN A 127.0.0.2")
//
// Names should be fully qualified (a relative name is taken as relative to
// the root); a record without a TTL gets 3600. A TXT string longer than 255
// bytes is split into 255-byte strings by the parser, as a zone file
// loader would do; a client joins them back (RFC 7208 §3.3). A record
// equal to one already present (same name, type and data) replaces it, so
// adding it again only changes its TTL.
//
// For negative answers the nearest enclosing SOA record added is used.
// Without one, the server makes one up for the name's top-level domain
// ("test." for every name under .test, "arpa." for reverse names):
//
//	test. 60 IN SOA ns.test. hostmaster.test. 1 3600 600 86400 60
//
// An unparsable record fails the test.
func (s *DNSServer) Add(t testing.TB, rrs ...string) {
	t.Helper()
	parsed := make([]dns.RR, 0, len(rrs))
	for _, text := range rrs {
		rr, err := dns.NewRR(text)
		if err != nil {
			t.Fatalf("harness: dns %s: Add %q: %v", s.Addr, text, err)
		}
		if rr == nil {
			t.Fatalf("harness: dns %s: Add %q: no record in it", s.Addr, text)
		}
		if rr.Header().Rrtype == dns.TypeOPT {
			t.Fatalf("harness: dns %s: Add %q: OPT is not a record to serve", s.Addr, text)
		}
		parsed = append(parsed, rr)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, rr := range parsed {
		name := dns.CanonicalName(rr.Header().Name)
		set := s.records[name]
		if i := slices.IndexFunc(set, func(old dns.RR) bool { return dns.IsDuplicate(old, rr) }); i >= 0 {
			set[i] = rr
		} else {
			s.records[name] = append(set, rr)
		}
	}
}

// Remove removes every record of type rrtype owned by name (any case,
// with or without the trailing dot); dns.TypeANY removes all records of
// the name. Removing what is not there fails the test: the name or type
// is then most likely mistyped, and the test would go on checking a
// listing that never changed.
func (s *DNSServer) Remove(t testing.TB, name string, rrtype uint16) {
	t.Helper()
	name = dns.CanonicalName(name)
	s.mu.Lock()
	defer s.mu.Unlock()
	set := s.records[name]
	kept := slices.DeleteFunc(slices.Clone(set), func(rr dns.RR) bool {
		return rrtype == dns.TypeANY || rr.Header().Rrtype == rrtype
	})
	if len(kept) == len(set) {
		t.Fatalf("harness: dns %s: Remove %s %s: no such record", s.Addr, name, dns.TypeToString[rrtype])
	}
	if len(kept) == 0 {
		delete(s.records, name)
	} else {
		s.records[name] = kept
	}
}

// Reset removes every record and behaviour, and the delay, leaving the
// server as StartDNS returned it except for the query log (ResetQueries
// clears that).
func (s *DNSServer) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.records = map[string][]dns.RR{}
	s.behaviours = map[string]dnsBehaviour{}
	s.delay = 0
}

// ServFail makes queries for name answer SERVFAIL, as a broken or
// unreachable zone does: a temporary error for the checks (SPF temperror,
// a DNSBL "could not decide"). name is matched exactly (any case, with or
// without the trailing dot); the form "*.zone.test." matches every name
// below zone.test but not zone.test itself. It replaces any other
// behaviour set for the same name; an exact name takes precedence over a
// wildcard, and a nearer wildcard over a farther one.
func (s *DNSServer) ServFail(name string) { s.setBehaviour(name, dnsServFail) }

// Drop makes queries for name go unanswered, so the client times out, as
// with a nameserver that is down or filtered. name is matched as for
// ServFail.
func (s *DNSServer) Drop(name string) { s.setBehaviour(name, dnsDrop) }

// Refuse makes queries for name answer REFUSED, as a server does that is
// not authoritative for the name and will not recurse (or, for DNSBLs
// such as Spamhaus, one that refuses a resolver it does not serve). name
// is matched as for ServFail.
func (s *DNSServer) Refuse(name string) { s.setBehaviour(name, dnsRefuse) }

// ClearBehaviour undoes ServFail, Drop or Refuse for name (the same string
// form), so a test can check that a check recovers once the DNS does.
func (s *DNSServer) ClearBehaviour(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.behaviours, dns.CanonicalName(name))
}

func (s *DNSServer) setBehaviour(name string, b dnsBehaviour) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.behaviours[dns.CanonicalName(name)] = b
}

// SetDelay makes the server wait d before sending every answer (0, the
// default, answers at once). The wait is per query, so n concurrent
// queries all take about d, not n×d: a benchmark can model a slow network
// without the server becoming the bottleneck. The delay in force when a
// query arrives applies to it.
func (s *DNSServer) SetDelay(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.delay = max(d, 0)
}

// Queries returns the queries received so far, in arrival order, including
// those answered with SERVFAIL or REFUSED or dropped. A query the server
// could not parse, or with other than one question, is not in the log.
func (s *DNSServer) Queries() []DNSQuery {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.queries)
}

// QueryCount returns how many queries for name (any case, with or without
// the trailing dot) and rrtype were received, over UDP and TCP together;
// rrtype 0 (dns.TypeNone) counts queries of every type. A cache test can
// check with it that a second lookup never reached the server.
func (s *DNSServer) QueryCount(name string, rrtype uint16) int {
	name = dns.CanonicalName(name)
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, q := range s.queries {
		if q.Name == name && (rrtype == dns.TypeNone || q.Type == rrtype) {
			n++
		}
	}
	return n
}

// ResetQueries clears the query log.
func (s *DNSServer) ResetQueries() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.queries = nil
}

// stop closes the listeners and every TCP connection, abandons delayed
// answers, and waits for every goroutine of the server.
func (s *DNSServer) stop() {
	close(s.done)
	s.pc.Close()
	s.ln.Close()
	s.mu.Lock()
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

func (s *DNSServer) stopped() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

// listenerFailed records why a listener stopped, unless the server was
// being stopped anyway.
func (s *DNSServer) listenerFailed(proto string, err error) {
	if s.stopped() || errors.Is(err, net.ErrClosed) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.serveErr == nil {
		s.serveErr = fmt.Errorf("%s: %w", proto, err)
	}
}

func (s *DNSServer) serveUDP() {
	defer s.wg.Done()
	buf := make([]byte, dns.MaxMsgSize)
	for {
		n, addr, err := s.pc.ReadFrom(buf)
		if err != nil {
			s.listenerFailed("udp", err)
			return
		}
		pkt := slices.Clone(buf[:n])
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.serve(pkt, "udp", func(b []byte) error {
				_, err := s.pc.WriteTo(b, addr)
				return err
			})
		}()
	}
}

func (s *DNSServer) serveTCP() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			s.listenerFailed("tcp", err)
			return
		}
		s.mu.Lock()
		if s.stopped() {
			s.mu.Unlock()
			c.Close()
			return
		}
		s.conns[c] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go s.serveConn(c)
	}
}

// serveConn reads the length-prefixed queries of one TCP connection (RFC
// 1035 §4.2.2) and answers each in a goroutine of its own. When the client
// closes its side, answers still in flight are sent before the connection
// is closed.
func (s *DNSServer) serveConn(c net.Conn) {
	defer s.wg.Done()
	var (
		inflight sync.WaitGroup
		wmu      sync.Mutex // one answer at a time on the connection
	)
	defer func() {
		inflight.Wait()
		c.Close()
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
	}()
	write := func(b []byte) error {
		wmu.Lock()
		defer wmu.Unlock()
		_ = c.SetWriteDeadline(time.Now().Add(dnsWriteTimeout))
		_, err := c.Write(append(binary.BigEndian.AppendUint16(nil, uint16(len(b))), b...))
		return err
	}
	r := bufio.NewReader(c)
	for {
		var l [2]byte
		if _, err := io.ReadFull(r, l[:]); err != nil {
			return
		}
		pkt := make([]byte, binary.BigEndian.Uint16(l[:]))
		if _, err := io.ReadFull(r, pkt); err != nil {
			return
		}
		inflight.Add(1)
		go func() {
			defer inflight.Done()
			s.serve(pkt, "tcp", write)
		}()
	}
}

// serve answers one query message, after the delay, with write. A write
// error means the client went away; there is nobody to tell.
func (s *DNSServer) serve(pkt []byte, proto string, write func([]byte) error) {
	req := new(dns.Msg)
	err := req.Unpack(pkt)
	if len(pkt) < 12 || req.Response {
		// Too short for a header to answer, or an answer: replying to
		// either could start a loop.
		return
	}
	var resp *dns.Msg
	var delay time.Duration
	if err != nil {
		resp = new(dns.Msg)
		resp.SetRcodeFormatError(req)
		resp.Question = nil // what was unpacked of it may be garbage
	} else {
		var drop bool
		resp, delay, drop = s.answer(req, proto)
		if drop {
			return
		}
	}
	size := dns.MaxMsgSize
	if proto == "udp" {
		size = dns.MinMsgSize
		if opt := req.IsEdns0(); opt != nil {
			size = min(max(size, int(opt.UDPSize())), dnsMaxUDPPayload)
		}
	}
	resp.Compress = true
	resp.Truncate(size)
	b, err := resp.Pack()
	if err != nil {
		// Data Add accepted that does not pack; answer what a real server
		// with a broken zone would.
		fail := new(dns.Msg)
		fail.SetRcode(req, dns.RcodeServerFailure)
		if b, err = fail.Pack(); err != nil {
			return
		}
	}
	if delay > 0 {
		timer := time.NewTimer(delay)
		defer timer.Stop()
		select {
		case <-timer.C:
		case <-s.done:
			return
		}
	}
	_ = write(b)
}

// answer logs the query and builds its answer, and returns the delay to
// apply, or drop when the query is not to be answered.
func (s *DNSServer) answer(req *dns.Msg, proto string) (resp *dns.Msg, delay time.Duration, drop bool) {
	at := time.Now()
	resp = new(dns.Msg)
	opt := req.IsEdns0()
	defer func() {
		if resp != nil && opt != nil {
			resp.SetEdns0(dnsEDNSSize, opt.Do())
		}
	}()
	switch {
	case req.Opcode != dns.OpcodeQuery:
		resp.SetRcode(req, dns.RcodeNotImplemented)
		return resp, 0, false
	case len(req.Question) != 1:
		resp.SetRcodeFormatError(req)
		return resp, 0, false
	}
	q := req.Question[0]
	name := dns.CanonicalName(q.Name)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.queries = append(s.queries, DNSQuery{Name: name, Type: q.Qtype, Proto: proto, At: at})
	delay = s.delay
	switch s.behaviourLocked(name) {
	case dnsDrop:
		return nil, 0, true
	case dnsServFail:
		resp.SetRcode(req, dns.RcodeServerFailure)
	case dnsRefuse:
		resp.SetRcode(req, dns.RcodeRefused)
	default:
		if opt != nil && opt.Version() != 0 {
			resp.SetRcode(req, dns.RcodeBadVers)
			break
		}
		resp.SetReply(req)
		resp.Authoritative = true
		s.resolveLocked(resp, name, q.Qtype)
	}
	return resp, delay, false
}

// behaviourLocked returns the behaviour set for name: its own, or that of
// the nearest "*.ancestor." form.
func (s *DNSServer) behaviourLocked(name string) dnsBehaviour {
	if b, ok := s.behaviours[name]; ok {
		return b
	}
	for _, anc := range ancestors(name)[1:] {
		wild := "*." + anc
		if anc == "." {
			wild = "*."
		}
		if b, ok := s.behaviours[wild]; ok {
			return b
		}
	}
	return dnsAnswer
}

// resolveLocked fills the answer and authority sections and the rcode of
// resp for a query of qtype for name, following CNAMEs (RFC 1034 §4.3.2
// step 3).
func (s *DNSServer) resolveLocked(resp *dns.Msg, name string, qtype uint16) {
	seen := map[string]bool{}
	for range dnsMaxChain + 1 {
		seen[name] = true
		set := s.records[name]
		var match []dns.RR
		var cname *dns.CNAME
		for _, rr := range set {
			switch t := rr.Header().Rrtype; {
			case t == qtype || qtype == dns.TypeANY:
				match = append(match, dns.Copy(rr))
			case t == dns.TypeCNAME:
				cname = rr.(*dns.CNAME)
			}
		}
		if len(match) > 0 {
			resp.Answer = append(resp.Answer, match...)
			return
		}
		if cname == nil {
			if len(set) == 0 && !s.hasBelowLocked(name) {
				resp.Rcode = dns.RcodeNameError
			}
			resp.Ns = []dns.RR{s.soaLocked(name)}
			return
		}
		resp.Answer = append(resp.Answer, dns.Copy(cname))
		name = dns.CanonicalName(cname.Target)
		if seen[name] {
			// A CNAME loop: answer the chain, as BIND does, and let
			// the client give up on it.
			return
		}
	}
}

// hasBelowLocked reports whether some record is owned by a name below name,
// which makes name an empty non-terminal if it has none of its own.
func (s *DNSServer) hasBelowLocked(name string) bool {
	for owner := range s.records {
		if owner != name && dns.IsSubDomain(name, owner) {
			return true
		}
	}
	return false
}

// soaLocked returns the SOA for a negative answer about name, with the TTL
// RFC 2308 §3 asks for: the lesser of the SOA's TTL and its MINIMUM field.
func (s *DNSServer) soaLocked(name string) dns.RR {
	var soa *dns.SOA
	anc := ancestors(name)
search:
	for _, a := range anc {
		for _, rr := range s.records[a] {
			if r, ok := rr.(*dns.SOA); ok {
				soa = dns.Copy(r).(*dns.SOA)
				break search
			}
		}
	}
	if soa == nil {
		// The top-level domain, so the SOA encloses the name and a
		// resolver that checks bailiwick accepts it.
		apex := anc[max(len(anc)-2, 0)]
		soa = &dns.SOA{
			Hdr:     dns.RR_Header{Name: apex, Rrtype: dns.TypeSOA, Class: dns.ClassINET, Ttl: 60},
			Ns:      "ns.test.",
			Mbox:    "hostmaster.test.",
			Serial:  1,
			Refresh: 3600,
			Retry:   600,
			Expire:  86400,
			Minttl:  60,
		}
	}
	soa.Hdr.Ttl = min(soa.Hdr.Ttl, soa.Minttl)
	return soa
}

// ancestors returns name and every name above it, nearest first, ending
// with the root: "a.b.test." gives a.b.test., b.test., test., ".".
func ancestors(name string) []string {
	var names []string
	for _, i := range dns.Split(name) {
		names = append(names, name[i:])
	}
	return append(names, ".")
}
