package harness

import (
	"context"
	"errors"
	"fmt"
	"net"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// dnsQuery asks s one question over proto ("udp" or "tcp") with a miekg/dns
// client and fails the test if no answer comes.
func dnsQuery(t *testing.T, s *DNSServer, proto, name string, qtype uint16) *dns.Msg {
	t.Helper()
	q := new(dns.Msg)
	q.SetQuestion(name, qtype)
	return dnsExchange(t, s, proto, q)
}

func dnsExchange(t *testing.T, s *DNSServer, proto string, q *dns.Msg) *dns.Msg {
	t.Helper()
	c := &dns.Client{Net: proto, Timeout: 2 * time.Second}
	resp, _, err := c.Exchange(q, s.Addr)
	if err != nil {
		t.Fatalf("%s %s %s: %v", proto, q.Question[0].Name, dns.TypeToString[q.Question[0].Qtype], err)
	}
	return resp
}

// stdResolver is Go's own resolver sending every query to s.
func stdResolver(s *DNSServer) *net.Resolver {
	return &net.Resolver{
		PreferGo: true,
		Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, s.Addr)
		},
	}
}

// rrStrings renders records as dns.RR.String does, for comparison with
// want lists written in presentation format.
func rrStrings(rrs []dns.RR) []string {
	out := make([]string, len(rrs))
	for i, rr := range rrs {
		out[i] = rr.String()
	}
	return out
}

func parseRRs(t *testing.T, texts []string) []string {
	t.Helper()
	out := make([]string, len(texts))
	for i, text := range texts {
		rr, err := dns.NewRR(text)
		if err != nil {
			t.Fatalf("test data %q: %v", text, err)
		}
		out[i] = rr.String()
	}
	return out
}

const testSOA = "example.test. 3600 IN SOA ns.example.test. hostmaster.example.test. 7 7200 900 1209600 300"

func TestDNSAnswers(t *testing.T) {
	t.Parallel()
	s := StartDNS(t)
	s.Add(t,
		testSOA,
		"www.example.test. 300 IN A 192.0.2.1",
		"www.example.test. 300 IN A 192.0.2.2",
		"www.example.test. 600 IN AAAA 2001:db8::1",
		`example.test. 300 IN TXT "v=spf1 ip4:192.0.2.0/24 -all"`,
		"example.test. 300 IN MX 10 mx1.example.test.",
		"example.test. 300 IN MX 20 mx2.example.test.",
		"1.2.0.192.in-addr.arpa. 300 IN PTR www.example.test.",
		"alias.example.test. 120 IN CNAME alias2.example.test.",
		"alias2.example.test. 120 IN CNAME www.example.test.",
		"dangling.example.test. 120 IN CNAME gone.example.test.",
		"2.0.0.127.zen.test. 300 IN A 127.0.0.2",
		"sel._domainkey.deep.ent.example.test. 300 IN TXT \"v=DKIM1; p=\"",
	)
	const soa = "example.test. 300 IN SOA ns.example.test. hostmaster.example.test. 7 7200 900 1209600 300"
	const defaultSOA = "test. 60 IN SOA ns.test. hostmaster.test. 1 3600 600 86400 60"
	for _, tc := range []struct {
		name   string
		qtype  uint16
		rcode  int
		answer []string
		ns     []string
	}{
		{"www.example.test.", dns.TypeA, dns.RcodeSuccess, []string{
			"www.example.test. 300 IN A 192.0.2.1", "www.example.test. 300 IN A 192.0.2.2"}, nil},
		{"WWW.Example.TEST.", dns.TypeAAAA, dns.RcodeSuccess, []string{"www.example.test. 600 IN AAAA 2001:db8::1"}, nil},
		{"example.test.", dns.TypeTXT, dns.RcodeSuccess, []string{`example.test. 300 IN TXT "v=spf1 ip4:192.0.2.0/24 -all"`}, nil},
		{"example.test.", dns.TypeMX, dns.RcodeSuccess, []string{
			"example.test. 300 IN MX 10 mx1.example.test.", "example.test. 300 IN MX 20 mx2.example.test."}, nil},
		{"1.2.0.192.in-addr.arpa.", dns.TypePTR, dns.RcodeSuccess, []string{"1.2.0.192.in-addr.arpa. 300 IN PTR www.example.test."}, nil},
		{"2.0.0.127.zen.test.", dns.TypeA, dns.RcodeSuccess, []string{"2.0.0.127.zen.test. 300 IN A 127.0.0.2"}, nil},
		// A CNAME chain is followed within the data.
		{"alias.example.test.", dns.TypeA, dns.RcodeSuccess, []string{
			"alias.example.test. 120 IN CNAME alias2.example.test.",
			"alias2.example.test. 120 IN CNAME www.example.test.",
			"www.example.test. 300 IN A 192.0.2.1", "www.example.test. 300 IN A 192.0.2.2"}, nil},
		// Asked for the CNAME itself, only it is answered.
		{"alias.example.test.", dns.TypeCNAME, dns.RcodeSuccess, []string{"alias.example.test. 120 IN CNAME alias2.example.test."}, nil},
		// A chain ending in NODATA or NXDOMAIN takes the last name's rcode.
		{"alias.example.test.", dns.TypeTXT, dns.RcodeSuccess, []string{
			"alias.example.test. 120 IN CNAME alias2.example.test.",
			"alias2.example.test. 120 IN CNAME www.example.test."}, []string{soa}},
		{"dangling.example.test.", dns.TypeA, dns.RcodeNameError, []string{
			"dangling.example.test. 120 IN CNAME gone.example.test."}, []string{soa}},
		// NODATA: the name exists, the type does not.
		{"www.example.test.", dns.TypeTXT, dns.RcodeSuccess, nil, []string{soa}},
		{"example.test.", dns.TypeA, dns.RcodeSuccess, nil, []string{soa}},
		// NXDOMAIN, under an added SOA and under the default one.
		{"nope.example.test.", dns.TypeA, dns.RcodeNameError, nil, []string{soa}},
		{"1.0.0.127.zen.test.", dns.TypeA, dns.RcodeNameError, nil, []string{defaultSOA}},
		{"nothing.test.", dns.TypeTXT, dns.RcodeNameError, nil, []string{defaultSOA}},
		{"3.2.0.192.in-addr.arpa.", dns.TypePTR, dns.RcodeNameError, nil, []string{
			"arpa. 60 IN SOA ns.test. hostmaster.test. 1 3600 600 86400 60"}},
		// Empty non-terminals are NODATA, not NXDOMAIN.
		{"_domainkey.deep.ent.example.test.", dns.TypeTXT, dns.RcodeSuccess, nil, []string{soa}},
		{"ent.example.test.", dns.TypeA, dns.RcodeSuccess, nil, []string{soa}},
		{"0.127.zen.test.", dns.TypeA, dns.RcodeSuccess, nil, []string{defaultSOA}},
	} {
		for _, proto := range []string{"udp", "tcp"} {
			t.Run(fmt.Sprintf("%s/%s/%s", proto, tc.name, dns.TypeToString[tc.qtype]), func(t *testing.T) {
				resp := dnsQuery(t, s, proto, tc.name, tc.qtype)
				if resp.Rcode != tc.rcode || !resp.Authoritative || resp.Truncated {
					t.Errorf("rcode %s aa=%v tc=%v, want %s aa=true tc=false",
						dns.RcodeToString[resp.Rcode], resp.Authoritative, resp.Truncated, dns.RcodeToString[tc.rcode])
				}
				if len(resp.Question) != 1 || resp.Question[0].Name != tc.name {
					t.Errorf("question %v, want %s echoed as sent", resp.Question, tc.name)
				}
				if got, want := rrStrings(resp.Answer), parseRRs(t, tc.answer); !slices.Equal(got, want) {
					t.Errorf("answer:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
				}
				if got, want := rrStrings(resp.Ns), parseRRs(t, tc.ns); !slices.Equal(got, want) {
					t.Errorf("authority:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
				}
			})
		}
	}
}

func TestDNSLongTXT(t *testing.T) {
	t.Parallel()
	s := StartDNS(t)
	long := strings.Repeat("k", 300)
	s.Add(t, fmt.Sprintf(`sel._domainkey.example.test. 300 IN TXT "v=DKIM1; p=%s"`, long))
	resp := dnsQuery(t, s, "udp", "sel._domainkey.example.test.", dns.TypeTXT)
	if len(resp.Answer) != 1 {
		t.Fatalf("answer %v, want one TXT", resp.Answer)
	}
	txt := resp.Answer[0].(*dns.TXT).Txt
	if len(txt) != 2 || len(txt[0]) != 255 || strings.Join(txt, "") != "v=DKIM1; p="+long {
		t.Errorf("TXT strings of %v bytes, want 255 and 56 joining to the record", lens(txt))
	}
	got, err := stdResolver(s).LookupTXT(t.Context(), "sel._domainkey.example.test.")
	if err != nil || len(got) != 1 || got[0] != "v=DKIM1; p="+long {
		t.Errorf("net.Resolver.LookupTXT = %d records %v, %v; want the joined record", len(got), lens(got), err)
	}
}

func lens(ss []string) []int {
	n := make([]int, len(ss))
	for i, s := range ss {
		n[i] = len(s)
	}
	return n
}

func TestDNSTruncation(t *testing.T) {
	t.Parallel()
	s := StartDNS(t)
	const n = 30 // about 2 KB of TXT: more than 512 and than Go's EDNS0 1232
	for i := range n {
		s.Add(t, fmt.Sprintf(`big.example.test. 300 IN TXT "record %02d %s"`, i, strings.Repeat("x", 50)))
	}

	udp := dnsQuery(t, s, "udp", "big.example.test.", dns.TypeTXT)
	if !udp.Truncated || len(udp.Answer) >= n {
		t.Errorf("udp: tc=%v with %d records, want tc=true and fewer than %d", udp.Truncated, len(udp.Answer), n)
	}
	udp.Compress = true // as sent: Len counts uncompressed otherwise
	if l := udp.Len(); l > dns.MinMsgSize {
		t.Errorf("udp answer is %d bytes, more than %d", l, dns.MinMsgSize)
	}
	tcp := dnsQuery(t, s, "tcp", "big.example.test.", dns.TypeTXT)
	if tcp.Truncated || len(tcp.Answer) != n {
		t.Errorf("tcp: tc=%v with %d records, want tc=false and %d", tcp.Truncated, len(tcp.Answer), n)
	}
	// A client offering a large enough EDNS0 payload gets it all over UDP.
	q := new(dns.Msg)
	q.SetQuestion("big.example.test.", dns.TypeTXT)
	q.SetEdns0(4096, false)
	edns := dnsExchange(t, s, "udp", q)
	if edns.Truncated || len(edns.Answer) != n || edns.IsEdns0() == nil {
		t.Errorf("udp with EDNS0 4096: tc=%v with %d records, opt %v; want tc=false, %d and an OPT",
			edns.Truncated, len(edns.Answer), edns.IsEdns0(), n)
	}

	// Go's resolver offers 1232 bytes, gets TC, and asks again over TCP.
	s.ResetQueries()
	got, err := stdResolver(s).LookupTXT(t.Context(), "big.example.test.")
	if err != nil || len(got) != n {
		t.Errorf("net.Resolver.LookupTXT = %d records, %v; want %d", len(got), err, n)
	}
	var protos []string
	for _, q := range s.Queries() {
		protos = append(protos, q.Proto)
	}
	if !slices.Equal(protos, []string{"udp", "tcp"}) {
		t.Errorf("net.Resolver asked over %v, want udp then tcp", protos)
	}
}

func TestDNSStdlibResolver(t *testing.T) {
	t.Parallel()
	s := StartDNS(t)
	s.Add(t,
		"www.example.test. 300 IN A 192.0.2.1",
		"www.example.test. 300 IN AAAA 2001:db8::1",
		"v4only.example.test. 300 IN A 192.0.2.9",
		"alias.example.test. 300 IN CNAME www.example.test.",
		`example.test. 300 IN TXT "v=spf1 -all"`,
		`example.test. 300 IN TXT "google-site-verification=x"`,
		"example.test. 300 IN MX 20 mx2.example.test.",
		"example.test. 300 IN MX 10 mx1.example.test.",
	)
	r := stdResolver(s)
	ctx := t.Context()

	addrs, err := r.LookupHost(ctx, "www.example.test.")
	slices.Sort(addrs)
	if err != nil || !slices.Equal(addrs, []string{"192.0.2.1", "2001:db8::1"}) {
		t.Errorf("LookupHost(www) = %v, %v", addrs, err)
	}
	// AAAA is NODATA: the A record alone comes back, with no error.
	addrs, err = r.LookupHost(ctx, "v4only.example.test.")
	if err != nil || !slices.Equal(addrs, []string{"192.0.2.9"}) {
		t.Errorf("LookupHost(v4only) = %v, %v", addrs, err)
	}
	ips, err := r.LookupIP(ctx, "ip4", "alias.example.test.")
	if err != nil || len(ips) != 1 || !ips[0].Equal(net.ParseIP("192.0.2.1")) {
		t.Errorf("LookupIP(alias) = %v, %v", ips, err)
	}
	cname, err := r.LookupCNAME(ctx, "alias.example.test.")
	if err != nil || cname != "www.example.test." {
		t.Errorf("LookupCNAME(alias) = %q, %v", cname, err)
	}
	txts, err := r.LookupTXT(ctx, "example.test.")
	slices.Sort(txts)
	if err != nil || !slices.Equal(txts, []string{"google-site-verification=x", "v=spf1 -all"}) {
		t.Errorf("LookupTXT = %q, %v", txts, err)
	}
	mxs, err := r.LookupMX(ctx, "example.test.")
	if err != nil || len(mxs) != 2 || mxs[0].Host != "mx1.example.test." || mxs[0].Pref != 10 || mxs[1].Host != "mx2.example.test." {
		t.Errorf("LookupMX = %v, %v", mxs, err)
	}
	for _, tc := range []struct {
		what string
		err  error
	}{
		{"NXDOMAIN", func() error { _, err := r.LookupHost(ctx, "nope.example.test."); return err }()},
		{"NODATA", func() error { _, err := r.LookupTXT(ctx, "www.example.test."); return err }()},
	} {
		var de *net.DNSError
		if !errors.As(tc.err, &de) || !de.IsNotFound {
			t.Errorf("%s: err = %v, want a *net.DNSError with IsNotFound", tc.what, tc.err)
		}
	}
}

func TestDNSBehaviours(t *testing.T) {
	t.Parallel()
	s := StartDNS(t)
	s.Add(t,
		"1.bl.test. 300 IN A 127.0.0.2",
		"ok.bl.test. 300 IN A 127.0.0.2",
		"www.example.test. 300 IN A 192.0.2.1",
	)
	s.ServFail("broken.example.test") // no trailing dot, any case
	s.Refuse("Refused.Example.Test.")
	s.ServFail("*.bl.test.")
	s.Refuse("ok.bl.test.") // an exact name wins over the wildcard
	for _, tc := range []struct {
		name  string
		rcode int
	}{
		{"BROKEN.example.test.", dns.RcodeServerFailure},
		{"refused.example.test.", dns.RcodeRefused},
		{"1.bl.test.", dns.RcodeServerFailure},
		{"a.b.c.bl.test.", dns.RcodeServerFailure},
		{"ok.bl.test.", dns.RcodeRefused},
		{"bl.test.", dns.RcodeSuccess}, // the wildcard is only below
		{"www.example.test.", dns.RcodeSuccess},
	} {
		for _, proto := range []string{"udp", "tcp"} {
			if resp := dnsQuery(t, s, proto, tc.name, dns.TypeA); resp.Rcode != tc.rcode {
				t.Errorf("%s %s: %s, want %s", proto, tc.name, dns.RcodeToString[resp.Rcode], dns.RcodeToString[tc.rcode])
			}
		}
	}
	// Go's resolver takes SERVFAIL as temporary, not as "not found".
	_, err := stdResolver(s).LookupTXT(t.Context(), "broken.example.test.")
	var de *net.DNSError
	if !errors.As(err, &de) || de.IsNotFound {
		t.Errorf("net.Resolver on SERVFAIL: %v, want a DNS error that is not IsNotFound", err)
	}

	s.ClearBehaviour("*.bl.test.")
	if resp := dnsQuery(t, s, "udp", "1.bl.test.", dns.TypeA); resp.Rcode != dns.RcodeSuccess || len(resp.Answer) != 1 {
		t.Errorf("after ClearBehaviour: %s with %d records", dns.RcodeToString[resp.Rcode], len(resp.Answer))
	}

	s.Drop("www.example.test.")
	for _, proto := range []string{"udp", "tcp"} {
		q := new(dns.Msg)
		q.SetQuestion("www.example.test.", dns.TypeA)
		c := &dns.Client{Net: proto, Timeout: 200 * time.Millisecond}
		start := time.Now()
		resp, _, err := c.Exchange(q, s.Addr)
		var ne net.Error
		if !errors.As(err, &ne) || !ne.Timeout() {
			t.Errorf("%s to a dropped name: %v, %v; want a timeout", proto, resp, err)
		}
		if d := time.Since(start); d < 190*time.Millisecond {
			t.Errorf("%s to a dropped name failed after %v, before the timeout", proto, d)
		}
	}
	if n := s.QueryCount("www.example.test.", dns.TypeA); n != 2+2 {
		t.Errorf("QueryCount(www, A) = %d, want 4: dropped queries are logged too", n)
	}
}

func TestDNSDelayParallel(t *testing.T) {
	t.Parallel()
	s := StartDNS(t)
	s.Add(t, "www.example.test. 300 IN A 192.0.2.1")
	const delay = 50 * time.Millisecond
	s.SetDelay(delay)

	const n = 20
	start := time.Now()
	var wg sync.WaitGroup
	took := make([]time.Duration, n)
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			q := new(dns.Msg)
			q.SetQuestion("www.example.test.", dns.TypeA)
			c := &dns.Client{Net: "udp", Timeout: 2 * time.Second}
			t0 := time.Now()
			var resp *dns.Msg
			resp, _, errs[i] = c.Exchange(q, s.Addr)
			took[i] = time.Since(t0)
			if errs[i] == nil && len(resp.Answer) != 1 {
				errs[i] = fmt.Errorf("answer %v", resp.Answer)
			}
		})
	}
	wg.Wait()
	total := time.Since(start)
	t.Logf("%d concurrent queries with a %v delay took %v", n, delay, total.Round(time.Millisecond))
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	if total > 300*time.Millisecond {
		t.Errorf("%d concurrent queries took %v, want well under %v: delays are serialised", n, total, n*delay)
	}
	if d := slices.Min(took); d < delay {
		t.Errorf("fastest query took %v, less than the %v delay", d, delay)
	}

	// Queries pipelined on one TCP connection are delayed in parallel too.
	conn, err := dns.Dial("tcp", s.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(2 * time.Second))
	start = time.Now()
	for i := range 10 {
		q := new(dns.Msg)
		q.SetQuestion(fmt.Sprintf("q%d.example.test.", i), dns.TypeA)
		if err := conn.WriteMsg(q); err != nil {
			t.Fatal(err)
		}
	}
	for range 10 {
		resp, err := conn.ReadMsg()
		if err != nil {
			t.Fatal(err)
		}
		if resp.Rcode != dns.RcodeNameError {
			t.Errorf("%v: %s, want NXDOMAIN", resp.Question, dns.RcodeToString[resp.Rcode])
		}
	}
	if total := time.Since(start); total < delay || total > 300*time.Millisecond {
		t.Errorf("10 pipelined TCP queries took %v, want between %v and 300ms", total, delay)
	}

	s.SetDelay(0)
	start = time.Now()
	dnsQuery(t, s, "udp", "www.example.test.", dns.TypeA)
	if d := time.Since(start); d >= delay {
		t.Errorf("query after SetDelay(0) took %v", d)
	}
}

func TestDNSQueryLog(t *testing.T) {
	t.Parallel()
	s := StartDNS(t)
	s.Add(t, "www.example.test. 300 IN A 192.0.2.1")
	before := time.Now()
	dnsQuery(t, s, "udp", "WWW.Example.Test.", dns.TypeA)
	dnsQuery(t, s, "tcp", "www.example.test.", dns.TypeTXT)
	dnsQuery(t, s, "udp", "nope.example.test.", dns.TypeMX)
	after := time.Now()

	got := s.Queries()
	want := []DNSQuery{
		{Name: "www.example.test.", Type: dns.TypeA, Proto: "udp"},
		{Name: "www.example.test.", Type: dns.TypeTXT, Proto: "tcp"},
		{Name: "nope.example.test.", Type: dns.TypeMX, Proto: "udp"},
	}
	if len(got) != len(want) {
		t.Fatalf("Queries() = %+v, want %+v", got, want)
	}
	for i := range got {
		at := got[i].At
		if at.Before(before) || at.After(after) || (i > 0 && at.Before(got[i-1].At)) {
			t.Errorf("query %d at %v, want in order between %v and %v", i, at, before, after)
		}
		got[i].At = time.Time{}
		if got[i] != want[i] {
			t.Errorf("query %d = %+v, want %+v", i, got[i], want[i])
		}
	}
	for _, tc := range []struct {
		name  string
		qtype uint16
		want  int
	}{
		{"www.example.test.", dns.TypeA, 1},
		{"WWW.example.test", dns.TypeTXT, 1},
		{"www.example.test.", dns.TypeNone, 2},
		{"www.example.test.", dns.TypeMX, 0},
		{"nope.example.test.", dns.TypeMX, 1},
	} {
		if n := s.QueryCount(tc.name, tc.qtype); n != tc.want {
			t.Errorf("QueryCount(%s, %s) = %d, want %d", tc.name, dns.TypeToString[tc.qtype], n, tc.want)
		}
	}
	s.ResetQueries()
	if q := s.Queries(); len(q) != 0 {
		t.Errorf("Queries() after ResetQueries = %+v", q)
	}
}

func TestDNSRemoveReset(t *testing.T) {
	t.Parallel()
	s := StartDNS(t)
	s.Add(t,
		"www.example.test. 300 IN A 192.0.2.1",
		"www.example.test. 300 IN A 192.0.2.2",
		`www.example.test. 300 IN TXT "t"`,
		"other.example.test. 300 IN A 192.0.2.3",
	)
	// Adding a record again replaces it rather than answering it twice.
	s.Add(t, "www.example.test. 60 IN A 192.0.2.1")
	if resp := dnsQuery(t, s, "udp", "www.example.test.", dns.TypeA); !slices.Equal(rrStrings(resp.Answer),
		parseRRs(t, []string{"www.example.test. 60 IN A 192.0.2.1", "www.example.test. 300 IN A 192.0.2.2"})) {
		t.Errorf("after re-adding: %v", resp.Answer)
	}

	s.Remove(t, "WWW.example.test", dns.TypeA)
	resp := dnsQuery(t, s, "udp", "www.example.test.", dns.TypeA)
	if resp.Rcode != dns.RcodeSuccess || len(resp.Answer) != 0 || len(resp.Ns) != 1 {
		t.Errorf("A after Remove(A): %s answer %v ns %v, want NODATA (the TXT remains)", dns.RcodeToString[resp.Rcode], resp.Answer, resp.Ns)
	}
	s.Remove(t, "www.example.test.", dns.TypeTXT)
	if resp := dnsQuery(t, s, "udp", "www.example.test.", dns.TypeA); resp.Rcode != dns.RcodeNameError {
		t.Errorf("after removing every record: %s, want NXDOMAIN", dns.RcodeToString[resp.Rcode])
	}

	s.ServFail("other.example.test.")
	s.SetDelay(time.Second)
	s.Reset()
	start := time.Now()
	if resp := dnsQuery(t, s, "udp", "other.example.test.", dns.TypeA); resp.Rcode != dns.RcodeNameError {
		t.Errorf("after Reset: %s, want NXDOMAIN (no records, no SERVFAIL)", dns.RcodeToString[resp.Rcode])
	}
	if d := time.Since(start); d > 500*time.Millisecond {
		t.Errorf("query after Reset took %v: the delay stayed", d)
	}
	if n := s.QueryCount("other.example.test.", dns.TypeA); n != 1 {
		t.Errorf("Reset cleared the query log: QueryCount = %d", n)
	}
}

// fatalTB records the first Fatalf and ends the goroutine, as testing.T
// does, so a test can check that a helper fails the test.
type fatalTB struct {
	testing.TB
	msg string
}

func (f *fatalTB) Helper() {}

func (f *fatalTB) Fatalf(format string, args ...any) {
	f.msg = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func expectFatal(t *testing.T, call func(testing.TB)) string {
	t.Helper()
	f := &fatalTB{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		call(f)
	}()
	<-done
	return f.msg
}

func TestDNSFatal(t *testing.T) {
	t.Parallel()
	s := StartDNS(t)
	for _, tc := range []struct {
		what string
		call func(testing.TB)
		want string
	}{
		{"bad RR", func(tb testing.TB) { s.Add(tb, "www.example.test. 300 IN A not-an-ip") }, `Add "www.example.test. 300 IN A not-an-ip"`},
		{"empty RR", func(tb testing.TB) { s.Add(tb, "; just a comment") }, "no record"},
		{"remove missing", func(tb testing.TB) { s.Remove(tb, "nope.example.test.", dns.TypeA) }, "Remove nope.example.test. A: no such record"},
	} {
		if msg := expectFatal(t, tc.call); !strings.Contains(msg, tc.want) {
			t.Errorf("%s: Fatalf(%q), want it to contain %q", tc.what, msg, tc.want)
		}
	}
	if n := len(s.Queries()); n != 0 {
		t.Errorf("%d queries", n)
	}
}

func TestDNSProtocol(t *testing.T) {
	t.Parallel()
	s := StartDNS(t)
	s.Add(t, "www.example.test. 300 IN A 192.0.2.1")

	// EDNS0 is echoed, DO bit included.
	q := new(dns.Msg)
	q.SetQuestion("www.example.test.", dns.TypeA)
	q.SetEdns0(4096, true)
	resp := dnsExchange(t, s, "udp", q)
	if opt := resp.IsEdns0(); opt == nil || !opt.Do() || opt.Version() != 0 || len(resp.Answer) != 1 {
		t.Errorf("EDNS0 query: opt %v, %d answers; want an OPT with DO and the A record", opt, len(resp.Answer))
	}
	if resp := dnsQuery(t, s, "udp", "www.example.test.", dns.TypeA); resp.IsEdns0() != nil {
		t.Errorf("plain query got an OPT back: %v", resp.IsEdns0())
	}

	// An EDNS version the server does not know gets BADVERS (RFC 6891 §6.1.3).
	q = new(dns.Msg)
	q.SetQuestion("www.example.test.", dns.TypeA)
	q.SetEdns0(1232, false)
	q.IsEdns0().SetVersion(1)
	if resp := dnsExchange(t, s, "udp", q); resp.Rcode != dns.RcodeBadVers || resp.IsEdns0() == nil {
		t.Errorf("EDNS version 1: %s, opt %v; want BADVERS with an OPT", dns.RcodeToString[resp.Rcode], resp.IsEdns0())
	}

	// Two questions: FORMERR.
	q = new(dns.Msg)
	q.SetQuestion("www.example.test.", dns.TypeA)
	q.Question = append(q.Question, dns.Question{Name: "www.example.test.", Qtype: dns.TypeAAAA, Qclass: dns.ClassINET})
	for _, proto := range []string{"udp", "tcp"} {
		if resp := dnsExchange(t, s, proto, q); resp.Rcode != dns.RcodeFormatError {
			t.Errorf("%s with two questions: %s, want FORMERR", proto, dns.RcodeToString[resp.Rcode])
		}
	}

	// Another opcode: NOTIMP.
	q = new(dns.Msg)
	q.SetNotify("example.test.")
	if resp := dnsExchange(t, s, "udp", q); resp.Rcode != dns.RcodeNotImplemented {
		t.Errorf("NOTIFY: %s, want NOTIMP", dns.RcodeToString[resp.Rcode])
	}
}
