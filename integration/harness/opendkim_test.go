package harness

import (
	"bytes"
	"net"
	"strings"
	"testing"

	"github.com/emersion/go-msgauth/dkim"
	"github.com/miekg/dns"
)

// dkimTestMessage is a message from domain whose header and body differ
// under simple and relaxed canonicalization (RFC 6376 §3.4): a folded
// header with runs of white space, trailing white space, and empty lines
// at the end of the body.
func dkimTestMessage(domain, subject string) []byte {
	return []byte("From: Someone <someone@" + domain + ">\r\n" +
		"To: Bob <bob@example.net>\r\n" +
		"Subject:   " + subject + "  \r\n" +
		"\tfolded   continuation\r\n" +
		"Date: Tue, 25 Nov 2025 12:00:00 +0000\r\n" +
		"Message-ID: <" + strings.ReplaceAll(subject, "/", ".") + "@" + domain + ">\r\n" +
		"MIME-Version: 1.0\r\n" +
		"Content-Type: text/plain; charset=utf-8\r\n" +
		"\r\n" +
		"Hello   Bob, \t\r\n" +
		".leading dot\r\n" +
		"\r\n" +
		"Grüße\r\n" +
		"\r\n" +
		"\r\n")
}

// dkimTags parses a DKIM-Signature value into its tags, with the folding
// white space removed from each value.
func dkimTags(v string) map[string]string {
	tags := map[string]string{}
	for _, part := range strings.Split(v, ";") {
		k, val, ok := strings.Cut(part, "=")
		if !ok {
			continue
		}
		tags[strings.TrimSpace(k)] = strings.Join(strings.Fields(val), "")
	}
	return tags
}

// TestOpenDKIMSigns sends a message through a Postfix whose milter is a
// signing opendkim, once per canonicalization, and checks that the message
// delivered to the sink carries a signature with the asked c= that
// go-msgauth verifies against the key's record.
func TestOpenDKIMSigns(t *testing.T) {
	t.Parallel()
	const domain, selector = "signer.example.test", "harness"
	key := NewDKIMKey(t, domain, selector)

	// Publish must serve the record as a verifier reads it back.
	d := StartDNS(t)
	key.Publish(t, d)
	resp := dnsQuery(t, d, "tcp", key.RecordName()+".", dns.TypeTXT)
	if len(resp.Answer) != 1 {
		t.Fatalf("published %s: answer %v, want one TXT", key.RecordName(), resp.Answer)
	}
	if txt := resp.Answer[0].(*dns.TXT).Txt; strings.Join(txt, "") != key.TXT || len(txt) < 2 || len(txt[0]) != 255 {
		t.Errorf("published TXT strings of %v bytes do not join to key.TXT (%d bytes)", lens(txt), len(key.TXT))
	}
	lookup := func(name string) ([]string, error) {
		if name == selector+"._domainkey."+domain {
			return []string{key.TXT}, nil
		}
		return nil, &net.DNSError{Err: "no such record", Name: name, IsNotFound: true}
	}

	for _, canon := range []string{"relaxed/relaxed", "simple/simple", "relaxed/simple"} {
		t.Run(strings.ReplaceAll(canon, "/", "-"), func(t *testing.T) {
			t.Parallel()
			odk := StartOpenDKIM(t, OpenDKIMOptions{Key: key, Canonicalization: canon})
			sink := StartSink(t)
			pf := StartPostfix(t, PostfixOptions{Sink: sink, Milter: odk.Milter})

			msg := dkimTestMessage(domain, canon)
			if res := SendMail(pf.SMTPAddr, "client.example.org", "someone@"+domain, []string{"bob@example.net"}, msg); res.Code != 250 {
				t.Fatalf("SendMail = %v, want 250", res)
			}
			got := sink.WaitCount(t, 1, wait)[0]
			sig, ok := got.Header("DKIM-Signature")
			if !ok {
				t.Fatalf("no DKIM-Signature in the delivered message:\n%s\n--- opendkim log ---\n%s", got.Data, odk.Log())
			}
			tags := dkimTags(sig)
			if tags["d"] != domain || tags["s"] != selector || tags["c"] != canon {
				t.Errorf("DKIM-Signature d=%q s=%q c=%q, want d=%s s=%s c=%s\n%s", tags["d"], tags["s"], tags["c"], domain, selector, canon, sig)
			}
			vs, err := dkim.VerifyWithOptions(bytes.NewReader(got.Data), &dkim.VerifyOptions{LookupTXT: lookup})
			if err != nil {
				t.Fatalf("dkim.Verify: %v", err)
			}
			if len(vs) != 1 || vs[0].Err != nil || vs[0].Domain != domain {
				for _, v := range vs {
					t.Logf("verification: d=%s err=%v", v.Domain, v.Err)
				}
				t.Fatalf("%d signatures, want one that passes for %s:\n%s", len(vs), domain, got.Data)
			}
			if testing.Verbose() {
				t.Logf("signed header fields: %v", vs[0].HeaderKeys)
			}
		})
	}
}

// TestOpenDKIMDefaults checks opendkim with the harness's defaults: mail
// from the key's domain is signed with simple/simple, opendkim's default
// canonicalization, and mail from any other domain passes unsigned, so that
// a test can send both through the same instance.
func TestOpenDKIMDefaults(t *testing.T) {
	t.Parallel()
	key := NewDKIMKey(t, "signer.example.test", "harness")
	odk := StartOpenDKIM(t, OpenDKIMOptions{Key: key})
	sink := StartSink(t)
	pf := StartPostfix(t, PostfixOptions{Sink: sink, Milter: odk.Milter})

	for _, domain := range []string{"other.example.test", key.Domain} {
		if res := SendMail(pf.SMTPAddr, "client.example.org", "someone@"+domain, []string{"bob@example.net"}, dkimTestMessage(domain, domain)); res.Code != 250 {
			t.Fatalf("SendMail from %s = %v, want 250", domain, res)
		}
	}
	for _, m := range sink.WaitCount(t, 2, wait) {
		subject, _ := m.Header("Subject")
		sig, signed := m.Header("DKIM-Signature")
		switch {
		case strings.HasPrefix(subject, key.Domain) && !signed:
			t.Errorf("mail from %s was not signed:\n%s", key.Domain, odk.Log())
		case strings.HasPrefix(subject, key.Domain) && dkimTags(sig)["c"] != "simple/simple":
			t.Errorf("default canonicalization: %s, want c=simple/simple", sig)
		case !strings.HasPrefix(subject, key.Domain) && signed:
			t.Errorf("mail from another domain was signed: %s", sig)
		}
	}
}

// TestOpenDKIMConfigError checks that a configuration opendkim refuses
// fails the test with opendkim's own complaint.
func TestOpenDKIMConfigError(t *testing.T) {
	t.Parallel()
	key := NewDKIMKey(t, "signer.example.test", "harness")
	msg := expectFatal(t, func(tb testing.TB) {
		StartOpenDKIM(tb, OpenDKIMOptions{Key: key, Config: []string{"NoSuchSetting yes"}})
	})
	if !strings.Contains(msg, "exited at start") || !strings.Contains(msg, "unrecognized parameter") {
		t.Errorf("Fatalf(%q), want opendkim's exit and its complaint", msg)
	}
}
