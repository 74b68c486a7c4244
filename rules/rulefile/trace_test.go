package rulefile

import "testing"

// The Message-ID tests and the MUA test read header fields only; each case
// is a message's header and whether the built-in fires.
func TestTraceBuiltins(t *testing.T) {
	const (
		pf   = "Received: from totalise.co.uk (m114-mp1.dial.example.net [198.51.100.14])\r\n\tby relay.example.org (Postfix) with SMTP id 0BC3770047\r\n\tfor <list@example.org>; Fri, 23 Aug 2002 10:14:42 +0100 (IST)\r\n"
		sm   = "Received: from mgci.example (box5.example.com [203.0.113.14]) by\r\n    mx.example.org (8.11.6/8.11.6) with SMTP id g7RMtDZ29430 for\r\n    <user@example.org>; Tue, 27 Aug 2002 23:55:13 +0100\r\n"
		auth = "Received: from [198.51.100.14] (unknown [198.51.100.14])\r\n\tby smtp.example.org (Postfix) with ESMTPSA id 0BC3770047\r\n\tfor <x@example.net>; Fri, 23 Aug 2002 10:14:42 +0100\r\n"
		lan  = "Received: from printer (printer.lan [192.168.1.20])\r\n\tby mx.example.org (Postfix) with SMTP id 0BC3770047\r\n\tfor <x@example.org>; Fri, 23 Aug 2002 10:14:42 +0100\r\n"
		from = "From: a@example.net\r\n"
	)
	for _, tc := range []struct {
		name, builtin, header string
		want                  bool
	}{
		{"postfix relay wrote it", "msgid_from_relay", pf + from + "Message-Id: <20020823091443.0BC3770047@relay.example.org>\r\n", true},
		{"sendmail relay wrote it", "msgid_from_relay", sm + from + "Message-Id: <200208272255.g7RMtDZ29430@mx.example.org>\r\n", true},
		{"the sender wrote it", "msgid_from_relay", pf + from + "Message-ID: <5f3c8a1b.1c69fb81@mail.example.net>\r\n", false},
		{"an authenticated submission", "msgid_from_relay", auth + from + "Message-Id: <20020823091443.0BC3770047@smtp.example.org>\r\n", false},
		{"a device on the LAN", "msgid_from_relay", lan + from + "Message-Id: <20020823091443.0BC3770047@mx.example.org>\r\n", false},
		{"no Message-ID", "msgid_from_relay", pf + from, false},
		{"a short id is not matched", "msgid_from_relay", "Received: from a.example (a.example [198.51.100.1]) by mx.example.org with SMTP id 12;\r\n\tFri, 23 Aug 2002 10:14:42 +0100\r\n" + from + "Message-ID: <2002.12@a.example>\r\n", false},
		{"the organisation's own relay", "msgid_from_relay", "Received: from pc17.example.org (pc17.example.org [198.51.100.20]) by mx.example.org (8.11.6/8.11.6) with ESMTP id g8DNTx409571;\r\n\tFri, 13 Sep 2002 19:29:59 -0400\r\n" + from + "Message-Id: <200209132329.g8DNTx409571@mx.example.org>\r\n", false},
		{"an id inside a longer number", "msgid_from_relay", "Received: from a.example (a.example [198.51.100.1]) by mx.example.org (Postfix) with SMTP id 1727776;\r\n\tFri, 23 Aug 2002 10:14:42 +0100\r\n" + from + "Message-ID: <1727776800123.42.JavaMail.app@a.example>\r\n", false},
		{"Exim's E in front", "msgid_from_relay", "Received: from [198.51.100.14] (helo=pc) by mx.example.org with smtp (Exim 4.96) id 17nndG-0005Q3-00 for u@example.org;\r\n\tSat, 07 Sep 2002 15:00:46 -0700\r\n" + from + "Message-Id: <E17nndG-0005Q3-00@mx.example.org>\r\n", true},
		{"PHP script", "msmail_without_mimeole", from + "X-Priority: 3\r\nX-MSMail-Priority: Normal\r\nX-Mailer: PHP/8.2.7\r\n", false},
		{"fake Outlook Express", "msmail_without_mimeole", from + "X-Priority: 3 (Normal)\r\nX-Msmail-Priority: Normal\r\nX-Mailer: Microsoft Outlook Express 5.50.4522.1200\r\n", true},
		{"Outlook Express", "msmail_without_mimeole", from + "X-MSMail-Priority: Normal\r\nX-Mailer: Microsoft Outlook Express 6.00.2800.1106\r\nX-MimeOLE: Produced By Microsoft MimeOLE V6.00.2800.1106\r\n", false},
		{"SquirrelMail", "msmail_without_mimeole", from + "X-MSMail-Priority: Normal\r\nX-Mailer: SquirrelMail (version 1.2.7)\r\n", false},
		{"Outlook", "msmail_without_mimeole", from + "X-MSMail-Priority: Normal\r\nThread-Index: AcJKdjFcY9DnK2pxRlSu0hLmWQ1Nxg==\r\n", false},
		{"no priority field", "msmail_without_mimeole", from + "X-Mailer: Mutt\r\n", false},
	} {
		t.Run(tc.builtin+"/"+tc.name, func(t *testing.T) {
			s := compile(t, "rules:\n  - {name: T, builtin: "+tc.builtin+", score: 1}\n")
			h, ok := fired(s, prepare(t, tc.header+"\r\nhi\r\n"))["T"]
			if ok != tc.want {
				t.Errorf("fired %v (%q), want %v", ok, h, tc.want)
			}
		})
	}
}

func TestRandomTagLine(t *testing.T) {
	for line, want := range map[string]bool{
		"4486eyRl1-291l12":        true,
		"  9059Dmel0-270bmbl15  ": true,
		"(g2-ss2)4483ZsiO6-368esUR2641hwjE2-115mHZg9267xWnFl40":         true,
		"5963HgYk7-980lnZG6754dLNm8-294DcnP4174Lcsd2-914QRTr7194Fyjl55": true,
		// Not tags: product and version names, identifiers, keys, words.
		"iPhone-15Pro":                           false,
		"Galaxy-S24Ultra":                        false,
		"GTX-1080Ti":                             false,
		"1080p-60Hz":                             false,
		"Win10-64Bit":                            false,
		"24-7Support":                            false,
		"COVID-19Vaccine":                        false,
		"V1StGXR8-Z5jdHi6B-myT":                  false,
		"sk-proj-Ab3dEf9hIj2kLm5nOp8qRs":         false,
		"550e8400-e29b-41d4-a716-446655440000":   false,
		"3F2504E0-4F89-11D3-9A0C-0305E82C3301":   false,
		"2002-09-21T15:28:32":                    false,
		"iQEzBAEBCAAdFiEE3fEcLk9Zd1x9ZkQ6Xw0vNq": false,
		"Donaudampfschifffahrtsgesellschaft":     false,
		"(note) see 4486eyRl1-291l12":            false,
	} {
		if got := randomTagLine(line) != ""; got != want {
			t.Errorf("%q: %v, want %v", line, got, want)
		}
	}
}
