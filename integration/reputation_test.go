package integration

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/mamori-mail/mamori/integration/harness"
)

// sendFrom delivers one message as if from client ip: Postfix trusts
// XCLIENT from loopback (smtpd_authorized_xclient_hosts), and hands the
// claimed address to Mamori as the client's.
func sendFrom(t *testing.T, addr, ip, from string, data []byte) harness.SMTPResult {
	t.Helper()
	c := harness.DialSMTP(t, addr, "client.example")
	defer c.Close()
	if r := c.Cmd("XCLIENT ADDR=" + ip + " NAME=[UNAVAILABLE]"); r.Code != 220 {
		t.Fatalf("XCLIENT: %v", r)
	}
	if r := c.Cmd("EHLO client.example"); r.Code != 250 {
		t.Fatalf("EHLO after XCLIENT: %v", r)
	}
	return c.Send(from, []string{"bob@example.org"}, data)
}

// TestPostfixDNSBLAndSPF: blocklist hits, a list's refusal code, SPF and a
// URI blocklist hit, through real Postfix, with every answer from a DNS server the test runs.
func TestPostfixDNSBLAndSPF(t *testing.T) {
	t.Parallel()
	dns := harness.StartDNS(t)
	dns.Add(t,
		"5.113.0.203.bl.test. 60 IN A 127.0.0.2",
		"6.113.0.203.bl.test. 60 IN A 127.0.0.3",
		"7.113.0.203.bl.test. 60 IN A 127.255.255.254",
		`example.net. 60 IN TXT "v=spf1 ip4:203.0.113.0/24 -all"`,
		"evil.example.dbl.test. 60 IN A 127.0.1.2",
	)
	sink := harness.StartSink(t)
	m := harness.StartMamori(t, `
dns:
  nameservers: ["`+dns.Addr+`"]
  timeout: 500ms
checks:
  dnsbl:
    lists:
      - zone: bl.test
        returns:
          - {code: 127.0.0.2, symbol: RBL_TEST_BLOCK, outcome: reject}
          - {code: 127.0.0.3, symbol: RBL_TEST_SCORE, outcome: 3}
  spf: {}
  uribl:
    lists:
      - zone: dbl.test
        returns: [{code: 127.0.1.2, symbol: URIBL_TEST, outcome: 4}]
`)
	pf := harness.StartPostfix(t, harness.PostfixOptions{Milter: m.Milter, DefaultAction: "tempfail", Sink: sink,
		Main: map[string]string{"smtpd_authorized_xclient_hosts": "127.0.0.0/8", "mynetworks": "127.0.0.0/8 203.0.113.0/24 198.51.100.0/24"}})
	audit := func(subject string) map[string]any {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for time.Now().Before(deadline) {
			for _, r := range m.Audit(t) {
				if strings.Contains(stringOf(r["message_id"]), "."+subject+"@") {
					return r
				}
			}
			time.Sleep(50 * time.Millisecond)
		}
		t.Fatalf("no audit record for %q:\n%v", subject, m.Audit(t))
		return nil
	}

	// Listed with a reject outcome: refused at MAIL FROM with Postfix's text.
	r := sendFrom(t, pf.SMTPAddr, "203.0.113.5", "alice@example.net", message("listed"))
	if r.Code != 554 || r.Stage != "mail" || !strings.Contains(r.Text, "Service unavailable; client [203.0.113.5] blocked using bl.test") {
		t.Fatalf("listed client: %v", r)
	}
	// Listed with a score: delivered, scored, SPF passes.
	if r := sendFrom(t, pf.SMTPAddr, "203.0.113.6", "alice@example.net", message("scored")); !r.OK() {
		t.Fatalf("scored client: %v", r)
	}
	rec := audit("scored")
	if s := symbolsOf(rec); !strings.Contains(s, "RBL_TEST_SCORE:203.0.113.6 listed in bl.test (127.0.0.3)") || !strings.Contains(s, "SPF_PASS:example.net") {
		t.Errorf("symbols of the scored message: %s", s)
	}
	// The list refuses (127.255.255.254): an error, never a hit.
	if r := sendFrom(t, pf.SMTPAddr, "203.0.113.7", "alice@example.net", message("refused")); !r.OK() {
		t.Fatalf("client of a refusing list: %v", r)
	}
	// With a single list, its refusal is the check's failure (on_error:
	// continue records DNSBL_FAIL and goes on).
	if s := symbolsOf(audit("refused")); strings.Contains(s, "RBL_TEST") || !strings.Contains(s, "DNSBL_FAIL:") || !strings.Contains(s, "bl.test: list refused the query (answer 127.255.255.254)") {
		t.Errorf("refusal code: %s", s)
	}
	m.WaitLog(t, "blocklist refuses our queries", 5*time.Second)
	// A link to a listed domain, written to dodge a naive extractor.
	link := bytes.Replace(message("linked"), []byte("this is a test."), []byte("see hxxps://shop.evil[.]example/deal"), 1)
	if r := sendFrom(t, pf.SMTPAddr, "203.0.113.8", "alice@example.net", link); !r.OK() {
		t.Fatalf("message with a listed link: %v", r)
	}
	if s := symbolsOf(audit("linked")); !strings.Contains(s, "URIBL_TEST:evil.example listed in dbl.test") {
		t.Errorf("URI blocklist: %s", s)
	}
	// SPF fail from outside the sender's network.
	if r := sendFrom(t, pf.SMTPAddr, "198.51.100.9", "alice@example.net", message("spffail")); !r.OK() {
		t.Fatalf("SPF fail is a score by default: %v", r)
	}
	if s := symbolsOf(audit("spffail")); !strings.Contains(s, "SPF_FAIL:example.net") {
		t.Errorf("SPF fail: %s", s)
	}
	if n := dns.QueryCount("6.113.0.203.bl.test.", 1); n != 1 {
		t.Errorf("bl.test asked %d times for one client", n)
	}
}

func stringOf(v any) string {
	s, _ := v.(string)
	return s
}

// TestPostfixDMARCAndAuthResults: DMARC through real Postfix with SPF as
// the aligned identity: a failing message under p=reject is refused at end
// of data, under p=quarantine held (as configured), a subdomain without a
// record takes the organizational domain's sp=; passing mail is delivered
// with one Authentication-Results field of ours on top, and a forged one
// claiming our authserv-id is gone while another server's stays.
func TestPostfixDMARCAndAuthResults(t *testing.T) {
	t.Parallel()
	dns := harness.StartDNS(t)
	dns.Add(t,
		`example.net. 60 IN TXT "v=spf1 ip4:203.0.113.0/24 -all"`,
		`_dmarc.example.net. 60 IN TXT "v=DMARC1; p=reject"`,
		`spoof.example. 60 IN TXT "v=spf1 ip4:192.0.2.0/24 -all"`,
		`_dmarc.spoof.example. 60 IN TXT "v=DMARC1; p=reject"`,
		`quar.example. 60 IN TXT "v=spf1 -all"`,
		`_dmarc.quar.example. 60 IN TXT "v=DMARC1; p=quarantine"`,
		`_dmarc.corp.example. 60 IN TXT "v=DMARC1; p=none; sp=reject"`,
	)
	sink := harness.StartSink(t)
	m := harness.StartMamori(t, `
dns:
  nameservers: ["`+dns.Addr+`"]
headers:
  authserv_id: mx.mamori.test
checks:
  spf: {}
  dkim: {}
  dmarc:
    quarantine: quarantine
`)
	pf := harness.StartPostfix(t, harness.PostfixOptions{Milter: m.Milter, DefaultAction: "tempfail", Sink: sink,
		Main: map[string]string{"smtpd_authorized_xclient_hosts": "127.0.0.0/8", "mynetworks": "127.0.0.0/8 203.0.113.0/24 198.51.100.0/24"}})
	withFrom := func(subject, from string, extra ...string) []byte {
		return bytes.Replace(message(subject, extra...), []byte("From: Alice <alice@example.net>"), []byte("From: "+from), 1)
	}

	// p=reject, SPF fails: refused at end of data.
	r := sendFrom(t, pf.SMTPAddr, "198.51.100.9", "ceo@spoof.example", withFrom("spoofed", "CEO <ceo@spoof.example>"))
	if r.Code != 550 || r.Stage != "dot" || !strings.Contains(r.Text, "Message rejected by DMARC policy of spoof.example") {
		t.Fatalf("DMARC p=reject failure: %v", r)
	}
	// A subdomain without a record: the organizational domain's sp=reject.
	r = sendFrom(t, pf.SMTPAddr, "198.51.100.9", "x@mail.corp.example", withFrom("subdomain", "x@mail.corp.example"))
	if r.Code != 550 || !strings.Contains(r.Text, "DMARC policy of mail.corp.example") {
		t.Fatalf("sp=reject through org-domain fallback: %v", r)
	}
	// p=quarantine with quarantine: quarantine → held by Postfix.
	if r := sendFrom(t, pf.SMTPAddr, "198.51.100.9", "x@quar.example", withFrom("quarantined", "x@quar.example")); !r.OK() {
		t.Fatalf("p=quarantine: %v", r)
	}
	pf.WaitHeld(t, 1, 20*time.Second)

	// Aligned SPF pass, with a forged field of ours and another server's.
	if r := sendFrom(t, pf.SMTPAddr, "203.0.113.6", "alice@example.net", withFrom("genuine", "Alice <alice@example.net>",
		"Authentication-Results: mx.mamori.test (trusted); dmarc=pass header.from=spoof.example",
		"Authentication-Results: other.example; spf=pass smtp.mailfrom=example.net")); !r.OK() {
		t.Fatalf("aligned mail: %v", r)
	}
	got := sink.WaitCount(t, 1, 20*time.Second)[0]
	var ours, others []string
	for _, line := range strings.Split(strings.ReplaceAll(string(got.Data), "\r\n\t", " "), "\r\n") {
		if v, ok := strings.CutPrefix(line, "Authentication-Results: "); ok {
			if strings.HasPrefix(v, "mx.mamori.test") {
				ours = append(ours, v)
			} else {
				others = append(others, v)
			}
		}
	}
	if len(ours) != 1 || !strings.Contains(ours[0], "spf=pass smtp.mailfrom=example.net") || !strings.Contains(ours[0], "dkim=none") ||
		!strings.Contains(ours[0], `dmarc=pass reason="p=reject" header.from=example.net`) {
		t.Fatalf("our Authentication-Results: %q\n%s", ours, got.Data)
	}
	if len(others) != 1 || !strings.HasPrefix(others[0], "other.example;") {
		t.Fatalf("other server's field: %q", others)
	}
	if i, j := bytes.Index(got.Data, []byte("Authentication-Results: mx.mamori.test")), bytes.Index(got.Data, []byte("Received:")); i < 0 || j >= 0 && i > j {
		t.Errorf("our field is not on top:\n%s", got.Data)
	}
}

// TestPostfixDKIMFromOpenDKIM: messages signed by Debian's opendkim (a
// signing milter on a first Postfix) in relaxed/relaxed, simple/simple and
// relaxed/simple travel through a second Postfix into Mamori and verify as
// pass; DMARC passes on the aligned signature although SPF fails. The same
// message with one changed body line or header fails DKIM, and then DMARC
// p=reject refuses it.
func TestPostfixDKIMFromOpenDKIM(t *testing.T) {
	t.Parallel()
	const domain = "signer.example"
	dns := harness.StartDNS(t)
	key := harness.NewDKIMKey(t, domain, "mail2026")
	key.Publish(t, dns)
	dns.Add(t,
		`signer.example. 60 IN TXT "v=spf1 ip4:192.0.2.0/24 -all"`,
		`_dmarc.signer.example. 60 IN TXT "v=DMARC1; p=reject"`,
	)
	sink := harness.StartSink(t)
	m := harness.StartMamori(t, `
dns:
  nameservers: ["`+dns.Addr+`"]
headers:
  authserv_id: mx.mamori.test
checks:
  spf: {}
  dkim: {}
  dmarc: {}
`)
	receiver := harness.StartPostfix(t, harness.PostfixOptions{Milter: m.Milter, DefaultAction: "tempfail", Sink: sink,
		Main: map[string]string{"smtpd_authorized_xclient_hosts": "127.0.0.0/8", "mynetworks": "127.0.0.0/8 198.51.100.0/24"}})

	// Folded and spaced header, trailing white space and empty lines at the
	// end of the body: the three canonicalizations differ on all of them.
	msg := []byte("From: Billing <billing@" + domain + ">\r\nTo: bob@example.org\r\n" +
		"Subject: Invoice  for\r\n\tNovember   2026\r\nDate: Wed, 25 Nov 2026 10:00:00 +0000\r\n" +
		"Message-ID: <inv-%s@" + domain + ">\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" +
		"Dear Bob,  \r\nplease find the invoice total below.\r\n\r\nTotal: 12,000 JPY\r\n\r\n\r\n")
	for _, canon := range []string{"relaxed/relaxed", "simple/simple", "relaxed/simple"} {
		t.Run(canon, func(t *testing.T) {
			// Sign: the first Postfix hands the message to opendkim.
			signer := harness.StartOpenDKIM(t, harness.OpenDKIMOptions{Key: key, Canonicalization: canon})
			out := harness.StartSink(t)
			sending := harness.StartPostfix(t, harness.PostfixOptions{Milter: signer.Milter, DefaultAction: "tempfail", Sink: out})
			body := bytes.Replace(msg, []byte("%s"), []byte(strings.ReplaceAll(canon, "/", "-")), 1)
			if r := harness.SendMail(sending.SMTPAddr, "client.example", "billing@"+domain, []string{"bob@example.org"}, body); !r.OK() {
				t.Fatalf("signing Postfix: %v", r)
			}
			signed := out.WaitCount(t, 1, 20*time.Second)[0].Data
			if sig, _ := (harness.SinkMessage{Data: signed}).Header("DKIM-Signature"); !strings.Contains(sig, "c="+canon) {
				t.Fatalf("opendkim did not sign with %s: %q", canon, sig)
			}

			// Verify: through the receiving Postfix into Mamori, from an
			// address outside signer.example's SPF record.
			sink.Reset()
			if r := sendFrom(t, receiver.SMTPAddr, "198.51.100.20", "billing@"+domain, signed); !r.OK() {
				t.Fatalf("signed message refused: %v", r)
			}
			got := sink.WaitCount(t, 1, 20*time.Second)[0]
			ar, _ := got.Header("Authentication-Results")
			for _, want := range []string{"spf=fail smtp.mailfrom=" + domain, "dkim=pass header.d=" + domain, "dmarc=pass", "header.from=" + domain} {
				if !strings.Contains(ar, want) {
					t.Errorf("Authentication-Results lacks %q: %q", want, ar)
				}
			}

			// One changed body line, one changed header: DKIM fails, DMARC
			// (p=reject, SPF failing too) refuses.
			for name, tampered := range map[string][]byte{
				"body":   bytes.Replace(signed, []byte("12,000 JPY"), []byte("120,000 JPY"), 1),
				"header": bytes.Replace(signed, []byte("Invoice  for"), []byte("Invoice  from"), 1),
			} {
				r := sendFrom(t, receiver.SMTPAddr, "198.51.100.20", "billing@"+domain, tampered)
				if r.Code != 550 || !strings.Contains(r.Text, "DMARC policy of "+domain) {
					t.Errorf("%s changed: %v, want the DMARC reject", name, r)
				}
			}
		})
	}
	var passes, fails int
	for _, rec := range m.Audit(t) {
		s := symbolsOf(rec)
		if strings.Contains(s, "DKIM_PASS:d="+domain) {
			passes++
		}
		if strings.Contains(s, "DKIM_FAIL:d="+domain) {
			fails++
		}
	}
	if passes != 3 || fails != 6 {
		t.Errorf("audit: %d DKIM_PASS (want 3), %d DKIM_FAIL (want 6)", passes, fails)
	}
}
