package received

import (
	"net/netip"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		in             string
		ip, host, helo string
		by             string
	}{
		// Postfix 3.7, as written on this machine.
		{"from mail.example.net (mail.example.net [192.0.2.10])\n\tby mx.example.org (Postfix) with ESMTPS id 4Xy; Tue, 1 Oct 2024 10:00:00 +0000",
			"192.0.2.10", "mail.example.net", "mail.example.net", "mx.example.org"},
		{"from donaldbae (unknown [203.0.113.5]) by mx.example.org (Postfix) with SMTP id 1",
			"203.0.113.5", "unknown", "donaldbae", "mx.example.org"},
		{"from [203.0.113.5] (unknown [203.0.113.5]) by mx.example.org (Postfix) with ESMTP id 1",
			"203.0.113.5", "unknown", "[203.0.113.5]", "mx.example.org"},
		{"from mx.example.net (mx.example.net [IPv6:2001:db8::25]) by mx.example.org (Postfix) with ESMTPS id 1",
			"2001:db8::25", "mx.example.net", "mx.example.net", "mx.example.org"},
		// Sendmail 8.
		{"from mgci.com (box1.mpowercom.net [208.57.0.10]) by\n    dogma.slashnull.org (8.11.6/8.11.6) with SMTP id g7RL6YZ25820 for\n    <x@example.org>; Tue, 27 Aug 2002 22:06:34 +0100",
			"208.57.0.10", "box1.mpowercom.net", "mgci.com", "dogma.slashnull.org"},
		{"from sbapp3 ([202.106.127.199]) by dogma.slashnull.org (8.11.6/8.11.6) with ESMTP id g8FEeQC19107",
			"202.106.127.199", "unknown", "sbapp3", "dogma.slashnull.org"},
		{"from lugh.tuatha.org (root@lugh.tuatha.org [194.125.145.45]) by dogma.slashnull.org (8.11.6/8.11.6) with ESMTP id g7N9QOZ18236",
			"194.125.145.45", "lugh.tuatha.org", "lugh.tuatha.org", "dogma.slashnull.org"},
		{"from helo.example (host.example.net [198.51.100.7] (may be forged)) by mx.example.org (8.17.1.9/8.17.1.9) with ESMTP id 1",
			"198.51.100.7", "unknown", "helo.example", "mx.example.org"},
		// Exim 4.
		{"from mail.example.net ([192.0.2.10] helo=smtp.example.net) by mx.example.org with esmtps (TLS1.3) (Exim 4.96) id 1",
			"192.0.2.10", "mail.example.net", "smtp.example.net", "mx.example.org"},
		{"from [192.0.2.10] (helo=pc17) by mx.example.org with esmtp (Exim 4.96) id 1",
			"192.0.2.10", "unknown", "pc17", "mx.example.org"},
		{"from mail.example.net ([192.0.2.10]) by mx.example.org with esmtp (Exim 4.96) id 1",
			"192.0.2.10", "mail.example.net", "mail.example.net", "mx.example.org"},
		{"from [203.0.113.5] by mx.example.org with esmtp (Exim 4.96) id 1",
			"203.0.113.5", "unknown", "", "mx.example.org"},
		{"from [203.0.113.5] (port=54321 helo=pc17) by mx.example.org with esmtp (Exim 4.96) id 1",
			"203.0.113.5", "unknown", "pc17", "mx.example.org"},
		{"from [203.0.113.5] (port=54321) by mx.example.org with esmtp (Exim 4.96) id 1",
			"203.0.113.5", "unknown", "", "mx.example.org"},
		{"from mail.example.net ([192.0.2.10]:54321 helo=smtp.example.net) by mx.example.org with esmtp (Exim 4.96) id 1",
			"192.0.2.10", "mail.example.net", "smtp.example.net", "mx.example.org"},
		// qmail.
		{"from unknown (HELO donaldbae) (208.57.45.218) by mgci.com with SMTP; 27 Aug 2002 21:06:31 -0000",
			"208.57.45.218", "unknown", "donaldbae", "mgci.com"},
		{"from unknown (HELO pc17) (bob@203.0.113.5) by mx.example.org with SMTP; 1 Oct 2024 10:00:00 -0000",
			"203.0.113.5", "unknown", "pc17", "mx.example.org"},
		// fetchmail, which verifies no name.
		{"from phobos [127.0.0.1] by localhost with IMAP (fetchmail-5.9.0) for zzzz@localhost (single-drop); Wed, 28 Aug 2002",
			"127.0.0.1", "phobos", "", "localhost"},
		// A HELO name that reads like the by clause.
		{"from by (unknown [203.0.113.5]) by mx.example.org (Postfix) with SMTP id 1",
			"203.0.113.5", "unknown", "by", "mx.example.org"},
	} {
		c, err := Parse(tc.in)
		if err != nil {
			t.Errorf("%q: %v", tc.in, err)
			continue
		}
		want := Client{IP: netip.MustParseAddr(tc.ip), Host: tc.host, Helo: tc.helo, By: tc.by, Verified: !strings.Contains(tc.in, "HELO ")}
		c.ID = "" // TestParseID
		if c != want {
			t.Errorf("%q:\n got %+v\nwant %+v", tc.in, c, want)
		}
	}
}

func TestParseRefuses(t *testing.T) {
	for _, in := range []string{
		"",
		"by localhost with IMAP (fetchmail-5.9.0) for x@localhost (single-drop); Wed, 28 Aug 2002",
		"from nowhere (no address here) by mx.example.org",
		"from x ([999.1.1.1]) by mx.example.org",
		"from x ([fe80::1%eth0]) by mx.example.org",
		// Exchange writes the address without a verified name.
		"from mail.example.net (209.85.166.50) by ex.example.org (10.0.0.5) with Microsoft SMTP Server id 15.2",
	} {
		if c, err := Parse(in); err == nil {
			t.Errorf("%q: parsed as %+v, want an error", in, c)
		}
	}
}

func TestFromHeaders(t *testing.T) {
	ours := []string{"localhost", ".example.org"}
	trace := []string{
		"from localhost (localhost [127.0.0.1]) by mail.example.org (Postfix) with ESMTP id 1",
		"by localhost with IMAP (fetchmail-6.4) for x@localhost (single-drop)",
		"from pop.example.org [198.51.100.3] by localhost with POP3 (fetchmail-6.4) for x@localhost (single-drop)",
		"from relay.example.org (relay.example.org [198.51.100.1]) by mx.example.org (Postfix) with ESMTP id 2",
		"from pc17 (unknown [203.0.113.5]) by relay.example.org (Postfix) with SMTP id 3",
		"from forged.example (forged.example [192.0.2.99]) by pc17 with SMTP",
	}
	c, ok := FromHeaders(trace, ours)
	if !ok || c.IP != netip.MustParseAddr("203.0.113.5") || c.Helo != "pc17" || c.Host != "unknown" {
		t.Fatalf("got %+v %v, want the client relay.example.org took it from", c, ok)
	}
	// A field not written by one of ours ends the search: the sender
	// could have written it.
	if c, ok := FromHeaders(trace[5:], ours); ok {
		t.Errorf("trusted a field written by pc17: %+v", c)
	}
	if _, ok := FromHeaders(nil, ours); ok {
		t.Error("found a client in no fields")
	}
	forged := "from mail.good.example (mail.good.example [198.51.100.1]) by mx.example.org (Postfix) with ESMTP id 0"
	for _, top := range []string{
		// A client without a verified name that greets with our name is
		// not one of our hops.
		"from mx.example.org (unknown [203.0.113.5]) by mx.example.org (Postfix) with ESMTP id 1",
		"from mx.example.org (host.evil.example [203.0.113.5] (may be forged)) by mx.example.org (8.17.1.9/8.17.1.9) with ESMTP id 1",
		"from [203.0.113.5] (helo=mx.example.org) by mx.example.org with esmtp (Exim 4.96) id 1",
		// qmail does not verify the name it writes.
		"from mx.example.org (HELO mx.example.org) (203.0.113.5) by mx.example.org with SMTP",
		// A field of ours the parser cannot read ends the search.
		"from mail.example.net (203.0.113.5) by mx.example.org (10.0.0.5) with Microsoft SMTP Server id 15.2",
	} {
		c, ok := FromHeaders([]string{top, forged}, ours)
		if ok && c.IP == netip.MustParseAddr("198.51.100.1") {
			t.Errorf("under %q: trusted the field below it", top)
		}
		if ok && c.IP != netip.MustParseAddr("203.0.113.5") {
			t.Errorf("under %q: client %+v", top, c)
		}
	}
	// A hop only between our own hosts names no client.
	if c, ok := FromHeaders(trace[:4], ours); ok {
		t.Errorf("took an internal hop for the client: %+v", c)
	}
}

func TestAuthenticated(t *testing.T) {
	for in, user := range map[string]string{
		"from laptop (c-203-0-113-5.hsd1.example.net [203.0.113.5]) (Authenticated sender: alice) by mx.example.org (Postfix) with ESMTPSA id 1": "alice",
		"from laptop ([203.0.113.5]) (authenticated bits=0) by mx.example.org (8.17.1.9/8.17.1.9) with ESMTP id 1":                               "",
		"from laptop ([203.0.113.5]) (authenticated as bob bits=0) by mx.example.org (8.17.1.9/8.17.1.9) with ESMTP id 1":                        "bob",
		"from [203.0.113.5] (helo=laptop) by mx.example.org with esmtpsa (TLS1.3) (Exim 4.96) id 1":                                              "",
	} {
		c, err := Parse(in)
		if err != nil || !c.Authenticated || c.User != user {
			t.Errorf("%q: %+v %v, want authenticated as %q", in, c, err, user)
		}
	}
	if c, _ := Parse("from mail.example.net (mail.example.net [192.0.2.10]) by mx.example.org (Postfix) with ESMTPS id 1"); c.Authenticated {
		t.Error("ESMTPS taken for an authenticated submission")
	}
}

func TestTrusted(t *testing.T) {
	list := []string{"mx.example.org", ".corp.example"}
	for name, want := range map[string]bool{
		"mx.example.org": true, "MX.Example.Org.": true, "a.corp.example": true,
		"corp.example": false, "evilmx.example.org": false, "badcorp.example": false,
	} {
		if got := Trusted(name, list); got != want {
			t.Errorf("Trusted(%q) = %v", name, got)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"from a (b [192.0.2.1]) by c",
		"from [192.0.2.1] (helo=x) by c (Exim 4.96)",
		"from unknown (HELO x) (192.0.2.1) by c",
		"from a ((( by c",
		"from a (b [IPv6:2001:db8::1] (may be forged)) by c",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := Parse(s)
		if err != nil {
			return
		}
		if !c.IP.IsValid() || c.IP.Is4In6() || c.Host == "" {
			t.Fatalf("%q: parsed without a usable client: %+v", s, c)
		}
		if len(c.Helo) > maxName || len(c.Host) > maxName || len(c.User) > maxName {
			t.Fatalf("%q: field longer than the bound", s)
		}
	})
}

// The id clause is kept, lower-cased and without angle brackets, for the
// Message-ID test that looks for a relay's queue ID.
func TestParseID(t *testing.T) {
	for in, want := range map[string]string{
		"from a.example (a.example [192.0.2.1]) by mx.example.org (Postfix) with ESMTP id 4XyZ9q0BC3; Tue, 1 Oct 2024 10:00:00 +0000": "4xyz9q0bc3",
		"from a.example (a.example [192.0.2.1]) by mx.example.org (8.11.6/8.11.6) with SMTP id g7RMtDZ29430 for <u@example.org>":      "g7rmtdz29430",
		"from [192.0.2.1] (helo=pc) by mx.example.org with esmtp (Exim 4.96) id 17nndG-0005Q3-00 for u@example.org":                   "17nndg-0005q3-00",
		"from pc ([192.0.2.1]) by smtp.example.net (InterMail vM.4.01) with SMTP id <20020909172053.OAZA9751.smtp@pc> for <u@x>":      "20020909172053.oaza9751.smtp@pc",
		"from a.example (a.example [192.0.2.1]) by mx.example.org (Postfix) with ESMTP; Tue, 1 Oct 2024 10:00:00 +0000":               "",
		"from a.example (comment id FAKE123 here [192.0.2.1]) by mx.example.org (Postfix) with ESMTP id REAL456":                      "real456",
	} {
		c, err := Parse(in)
		if err != nil {
			t.Errorf("%q: %v", in, err)
			continue
		}
		if c.ID != want {
			t.Errorf("%q: ID %q, want %q", in, c.ID, want)
		}
	}
}
