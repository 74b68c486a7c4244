package clamav

import (
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"syscall"
	"testing"
	"testing/iotest"

	"github.com/baruwa-enterprise/clamd"
	"github.com/mamori-mail/mamori/integration/harness"
	"github.com/mamori-mail/mamori/rules/check"
)

// Tests against a real clamd (Debian's clamav-daemon) with the harness's
// test signatures. They skip when clamd is not installed, unless
// MAMORI_REQUIRE_INTEGRATION=1.

func zipOf(t testing.TB, name string, content []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	w, err := zw.Create(name)
	if err != nil {
		t.Fatal(err)
	}
	w.Write(content)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// japaneseMarker is a message whose attachment has an RFC 2231 encoded
// Japanese file name (請求書.doc, "invoice") and carries the test marker.
func japaneseMarker() []byte {
	return []byte("From: a@example.org\r\nTo: b@example.net\r\nSubject: =?UTF-8?B?6KuL5rGC5pu4?=\r\n" +
		"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n" +
		"--b1\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n請求書を送ります。\r\n" +
		"--b1\r\nContent-Type: application/msword\r\n" +
		"Content-Disposition: attachment; filename*=UTF-8''%E8%AB%8B%E6%B1%82%E6%9B%B8.doc\r\n" +
		"Content-Transfer-Encoding: base64\r\n\r\n" +
		base64Lines([]byte("\xd0\xcf\x11\xe0 document body "+harness.Marker+" more body")) + "\r\n--b1--\r\n")
}

// mislabelled declares base64 for a part that is plain text: Mamori's
// decoder turns it into garbage (and notes an encoding anomaly), so the
// part scan cannot see EICAR; the raw scan does.
func mislabelled() []byte {
	return []byte("From: a@example.org\r\nTo: b@example.net\r\nSubject: x\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n" +
		"--b1\r\nContent-Type: text/plain\r\n\r\nhello\r\n" +
		"--b1\r\nContent-Type: application/octet-stream; name=\"x.com\"\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
		string(harness.EICAR()) + "\r\n--b1--\r\n")
}

func TestRealClamd(t *testing.T) {
	cd := harness.StartClamd(t, harness.ClamdOptions{TCP: true})
	eicarName := harness.EICARSignature + ".UNOFFICIAL"
	for _, tc := range []struct {
		name    string
		tcp     bool
		extra   string
		msg     []byte
		symbols string
		reply   string
	}{
		{name: "EICAR attachment", msg: mimeMessage(textPart, part{ctype: "application/octet-stream", filename: "eicar.com", encoding: "base64", content: harness.EICAR()}),
			symbols: "CLAMAV_VIRUS(" + eicarName + " in eicar.com)", reply: "554 5.7.1 Message rejected: malware " + eicarName + " found"},
		{name: "EICAR attachment over TCP", tcp: true, msg: mimeMessage(textPart, part{ctype: "application/octet-stream", filename: "eicar.com", encoding: "base64", content: harness.EICAR()}),
			symbols: "CLAMAV_VIRUS(" + eicarName + " in eicar.com)"},
		{name: "EICAR in a zip", msg: mimeMessage(textPart, part{ctype: "application/zip", filename: "invoice.zip", encoding: "base64", content: zipOf(t, "invoice.pdf.com", harness.EICAR())}),
			symbols: "CLAMAV_VIRUS(" + eicarName + " in invoice.zip)"},
		{name: "marker in a Japanese-named document", msg: japaneseMarker(),
			symbols: "CLAMAV_VIRUS(" + harness.MarkerSignature + ".UNOFFICIAL in 請求書.doc)"},
		{name: "clean parts", msg: mimeMessage(textPart, part{ctype: "application/zip", filename: "ok.zip", encoding: "base64", content: zipOf(t, "a.txt", []byte("fine"))}), symbols: ""},
		{name: "oversized part", extra: "max_size: 1K", msg: mimeMessage(textPart, part{ctype: "application/octet-stream", filename: "big.bin", encoding: "base64", content: bytes.Repeat([]byte("A"), 4096)}),
			symbols: "CLAMAV_UNSCANNED(big.bin (4096 bytes, over max_size 1024))"},
		{name: "mislabelled encoding caught by the raw scan", msg: mislabelled(), symbols: "CLAMAV_VIRUS(" + eicarName + " in the whole message)"},
		{name: "mislabelled encoding missed without the raw scan", extra: "mode: parts\nscan_raw_on_anomaly: false", msg: mislabelled(), symbols: ""},
	} {
		for _, mode := range []string{"message", "parts"} {
			if strings.Contains(tc.extra, "mode:") && !strings.Contains(tc.extra, "mode: "+mode) {
				continue
			}
			t.Run(tc.name+"/"+mode, func(t *testing.T) {
				addr := cd.Address()
				if tc.tcp {
					addr = "tcp:" + cd.TCPAddr
				}
				extra := tc.extra
				if !strings.Contains(extra, "mode:") {
					extra += "\nmode: " + mode
				}
				c, _ := build(t, addr, extra)
				res, err := run(t, c, tc.msg)
				if err != nil {
					t.Fatal(err)
				}
				if got := symbols(res); got != tc.symbols {
					t.Fatalf("symbols = %s\n      want %s", got, tc.symbols)
				}
				if tc.reply != "" && (res.Decision == nil || res.Decision.Reply.String() != tc.reply) {
					t.Fatalf("decision = %+v, want reply %q", res.Decision, tc.reply)
				}
			})
		}
	}
}

// TestRealClamdDownAndBack: with clamd stopped the check returns an error
// (the engine tempfails the message); once clamd is back the same check
// scans again, and the outage is logged once.
func TestRealClamdDownAndBack(t *testing.T) {
	cd := harness.StartClamd(t, harness.ClamdOptions{})
	c, logs := build(t, cd.Address(), "health_interval: 100ms")
	eicar := mimeMessage(part{ctype: "application/octet-stream", filename: "eicar.com", encoding: "base64", content: harness.EICAR()})
	if res, err := run(t, c, eicar); err != nil || res.Decision == nil {
		t.Fatalf("before the outage: %+v, %v", res, err)
	}
	cd.Stop(t)
	for range 3 {
		if _, err := run(t, c, eicar); !errors.Is(err, ErrUnavailable) {
			t.Fatalf("clamd stopped: err = %v, want ErrUnavailable", err)
		}
	}
	if c.Scanner().Up() || metricValue(upGauge) != 0 {
		t.Fatal("clamd down but reported up")
	}
	cd.Start(t)
	res, err := run(t, c, eicar)
	if err != nil || res.Decision == nil || res.Decision.Action != check.ActReject {
		t.Fatalf("clamd back: %+v, %v", res, err)
	}
	if w, i := logs.count(slog.LevelWarn, "unreachable"), logs.count(slog.LevelInfo, "reachable again"); w != 1 || i != 1 {
		t.Fatalf("%d warnings, %d recoveries logged; want 1 and 1", w, i)
	}
}

// TestLibrarySizeLimitIsBrokenPipe (limitation a): clamd with
// StreamMaxLength 1M answers a longer stream with "INSTREAM size limit
// exceeded" and closes. The library sees that answer only when the stream
// ends right after the limit; for 8 MB it reports the broken pipe of its
// next write and the answer is lost.
func TestLibrarySizeLimitIsBrokenPipe(t *testing.T) {
	cd := harness.StartClamd(t, harness.ClamdOptions{StreamMaxLength: "1M"})
	cl, err := clamd.NewClient("unix", cd.Socket)
	if err != nil {
		t.Fatal(err)
	}
	_, err = cl.ScanReader(context.Background(), bytes.NewReader(make([]byte, 8<<20)))
	t.Logf("library, 8 MB into StreamMaxLength 1M: %v", err)
	if err == nil || strings.Contains(err.Error(), "size limit") {
		t.Fatalf("library returned %v: it reads clamd's answer now; the PING inference can go", err)
	}
	if !errors.Is(err, syscall.EPIPE) && !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("library returned %v, want EPIPE or ECONNRESET", err)
	}
	_, err = cl.ScanReader(context.Background(), bytes.NewReader(make([]byte, 1<<20+100)))
	t.Logf("library, 1 MiB + 100 bytes: %v", err)

	// Scanner with max_size above StreamMaxLength: a defined outcome and
	// a warning, not an error (clamd is fine).
	s, logs := newScanner(t, cd.Address(), Options{MaxSize: 25 << 20})
	for _, n := range []int{1<<20 + 100, 8 << 20} {
		rep, err := s.Scan(context.Background(), bytes.NewReader(make([]byte, n)), int64(n))
		if err != nil || rep.Status != Unscanned {
			t.Fatalf("Scanner, %d bytes: %+v, %v; want unscanned", n, rep, err)
		}
		t.Logf("Scanner, %d bytes: unscanned: %s", n, rep.Reason)
	}
	if logs.count(slog.LevelWarn, "StreamMaxLength") != 1 {
		t.Fatal("no StreamMaxLength warning")
	}
	// With max_size at StreamMaxLength the part is never sent.
	c, _ := build(t, cd.Address(), "max_size: 1M")
	res, err := run(t, c, mimeMessage(part{ctype: "application/octet-stream", filename: "big.iso", encoding: "base64", content: make([]byte, 8<<20)}))
	if err != nil || symbols(res) != "CLAMAV_UNSCANNED(big.iso (8388608 bytes, over max_size 1048576))" {
		t.Fatalf("check: %s, %v", symbols(res), err)
	}
}

// TestLibraryDropsDataReturnedWithEOFRealClamd is limitation (e) against
// the real clamd: EICAR handed over with io.EOF in the same Read passes.
func TestLibraryDropsDataReturnedWithEOFRealClamd(t *testing.T) {
	cd := harness.StartClamd(t, harness.ClamdOptions{})
	cl, err := clamd.NewClient("unix", cd.Socket)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := cl.ScanReader(context.Background(), iotest.DataErrReader(bytes.NewReader(harness.EICAR())))
	if err != nil || len(resp) != 1 || resp[0].Status != "OK" {
		t.Fatalf("library: %v %v; the defect is fixed", resp, err)
	}
	t.Logf("library: EICAR via a data+EOF reader: %q", resp[0].Raw)
	s, _ := newScanner(t, cd.Address(), Options{})
	rep, err := s.Scan(context.Background(), iotest.DataErrReader(bytes.NewReader(harness.EICAR())), 68)
	if err != nil || rep.Status != Infected {
		t.Fatalf("Scanner: %+v, %v", rep, err)
	}
}
