package harness

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// wait bounds every wait in these tests. Delivery to the sink takes
// milliseconds; the bound only keeps a broken setup from hanging.
const wait = 10 * time.Second

// testMessage returns a message with every header Postfix would otherwise
// add (Date, Message-ID), so that what reaches the sink is exactly the
// message with Postfix's Received header in front. The body has lines that
// need dot-stuffing, 8-bit UTF-8 and a long line, which a lossy relay would
// change.
func testMessage(subject string) []byte {
	return []byte("From: Alice <alice@example.org>\r\n" +
		"To: Bob <bob@example.net>\r\n" +
		"Subject: " + subject + "\r\n" +
		"Date: Tue, 25 Nov 2025 12:00:00 +0000\r\n" +
		"Message-ID: <" + strings.ReplaceAll(subject, " ", ".") + "@example.org>\r\n" +
		"MIME-Version: 1.0\r\n" +
		"Content-Type: text/plain; charset=utf-8\r\n" +
		"Content-Transfer-Encoding: 8bit\r\n" +
		"\r\n" +
		"Hello Bob,\r\n" +
		".leading dot\r\n" +
		"..two dots\r\n" +
		".\r\n" +
		"Grüße, 守り\r\n" +
		strings.Repeat("x", 900) + "\r\n" +
		"\r\n" +
		"-- \r\n" +
		"Alice\r\n")
}

func TestRelayWithoutMilter(t *testing.T) {
	t.Parallel()
	sink := StartSink(t)
	pf := StartPostfix(t, PostfixOptions{Sink: sink})

	msg := testMessage("no milter")
	res := SendMail(pf.SMTPAddr, "client.example.org", "alice@example.org", []string{"bob@example.net", "carol@example.com"}, msg)
	if res.Code != 250 || res.QueueID() == "" {
		t.Fatalf("SendMail = %v, want 250 queued", res)
	}
	got := sink.WaitCount(t, 1, wait)[0]
	// qmgr groups recipients by next hop and domain, so RCPT order is lost.
	if to := slices.Sorted(slices.Values(got.To)); got.From != "alice@example.org" || strings.Join(to, ",") != "bob@example.net,carol@example.com" {
		t.Errorf("envelope = <%s> %v", got.From, got.To)
	}
	// Postfix prepends its Received header and must change nothing else.
	if !bytes.HasPrefix(got.Data, []byte("Received: from client.example.org")) || !bytes.HasSuffix(got.Data, msg) {
		t.Errorf("relayed message is not Received + original:\n%s", got.Data)
	}
	if want := msg[bytes.Index(msg, []byte("\r\n\r\n"))+4:]; !bytes.Equal(got.Body(), want) {
		t.Errorf("body changed:\n got %q\nwant %q", got.Body(), want)
	}
}

func TestMilterAddsHeaderAndRejects(t *testing.T) {
	t.Parallel()
	sink := StartSink(t)
	pf := StartPostfix(t, PostfixOptions{Sink: sink, Milter: startTestMilter(t, false)})

	res := SendMail(pf.SMTPAddr, "client.example.org", "deny@example.com", []string{"bob@example.net"}, testMessage("denied"))
	if res.Code != 550 || res.Enhanced != "5.7.1" || res.Stage != "mail" {
		t.Errorf("denied sender: %v, want mail: 550 5.7.1", res)
	}

	res = SendMail(pf.SMTPAddr, "client.example.org", "alice@example.org", []string{"bob@example.net"}, testMessage("accepted"))
	if res.Code != 250 {
		t.Fatalf("SendMail = %v, want 250", res)
	}
	got := sink.WaitCount(t, 1, wait)[0]
	if !bytes.Contains(got.Data, []byte("\r\nX-Test: yes\r\n")) {
		t.Errorf("X-Test header missing:\n%s", got.Data)
	}

	// Mail submitted with sendmail(1) passes non_smtpd_milters.
	pf.Inject(t, "alice@example.org", []string{"dave@example.net"}, testMessage("injected"))
	msgs := sink.WaitCount(t, 2, wait)
	if v, _ := msgs[1].Header("X-Test"); v != "yes" || msgs[1].To[0] != "dave@example.net" {
		t.Errorf("injected message: to=%v X-Test=%q", msgs[1].To, v)
	}
	if n := len(sink.Messages()); n != 2 {
		t.Errorf("sink has %d messages, want 2 (the denied one must not arrive)", n)
	}
}

func TestQuarantineHoldsAndReleaseDelivers(t *testing.T) {
	t.Parallel()
	sink := StartSink(t)
	pf := StartPostfix(t, PostfixOptions{Sink: sink, Milter: startTestMilter(t, true)})

	res := SendMail(pf.SMTPAddr, "client.example.org", "alice@example.org", []string{"bob@example.net"}, testMessage("quarantined"))
	if res.Code != 250 {
		t.Fatalf("SendMail = %v, want 250 (quarantine still accepts)", res)
	}
	held := pf.WaitHeld(t, 1, wait)
	if e := held[0]; e.ID != res.QueueID() || e.Sender != "alice@example.org" || len(e.Recipients) != 1 || e.Recipients[0] != "bob@example.net" {
		t.Errorf("held entry = %+v, want queue ID %s from alice to bob", e, res.QueueID())
	}
	if n := len(sink.Messages()); n != 0 {
		t.Fatalf("sink got %d messages before release", n)
	}

	pf.Release(t, held[0].ID)
	got := sink.WaitCount(t, 1, wait)[0]
	if v, _ := got.Header("X-Test"); v != "yes" {
		t.Errorf("released copy lost the milter's header:\n%s", got.Data)
	}
	pf.WaitQueueEmpty(t, wait)
}

func TestMilterDownTempfails(t *testing.T) {
	t.Parallel()
	closed := FreePort(t) // nothing listens here
	pf := StartPostfix(t, PostfixOptions{
		Sink:          StartSink(t),
		Milter:        fmt.Sprintf("inet:127.0.0.1:%d", closed),
		DefaultAction: "tempfail",
	})
	res := SendMail(pf.SMTPAddr, "client.example.org", "alice@example.org", []string{"bob@example.net"}, testMessage("milter down"))
	if res.Code/100 != 4 {
		t.Fatalf("SendMail = %v, want 4xx", res)
	}
	t.Logf("milter down: %v", res)
}

func TestTwoMessagesOnOneConnection(t *testing.T) {
	t.Parallel()
	sink := StartSink(t)
	pf := StartPostfix(t, PostfixOptions{Sink: sink, Milter: startTestMilter(t, false)})

	c := DialSMTP(t, pf.SMTPAddr, "client.example.org")
	for i, from := range []string{"first@example.org", "deny@example.com", "second@example.org"} {
		res := c.Send(from, []string{"bob@example.net"}, testMessage(fmt.Sprintf("message %d", i)))
		want := 250
		if from == "deny@example.com" {
			want = 550 // a reject between two messages must not break the connection
		}
		if res.Code != want {
			t.Errorf("message %d from %s: %v, want %d", i, from, res, want)
		}
	}
	c.Close()
	msgs := sink.WaitCount(t, 2, wait)
	if len(msgs) != 2 || msgs[0].From != "first@example.org" || msgs[1].From != "second@example.org" {
		t.Fatalf("sink got %d messages: %+v", len(msgs), msgs)
	}
	for i, m := range msgs {
		if v, _ := m.Header("X-Test"); v != "yes" {
			t.Errorf("message %d lacks X-Test", i)
		}
	}
}

func TestPostconfReloads(t *testing.T) {
	t.Parallel()
	sink := StartSink(t)
	pf := StartPostfix(t, PostfixOptions{Sink: sink})
	msg := testMessage("size limit")

	// An idle smtpd from this connection must not serve the next one with
	// the old limit.
	if res := SendMail(pf.SMTPAddr, "client.example.org", "alice@example.org", []string{"bob@example.net"}, msg); res.Code != 250 {
		t.Fatalf("before reload: %v", res)
	}
	pf.Postconf(t, map[string]string{"message_size_limit": "1000"})
	res := SendMail(pf.SMTPAddr, "client.example.org", "alice@example.org", []string{"bob@example.net"}, msg)
	if res.Code != 552 || res.Stage != "dot" {
		t.Fatalf("after reload: %v, want 552 at dot", res)
	}
}

func TestParallelInstancesStayApart(t *testing.T) {
	t.Parallel()
	sinkA, sinkB := StartSink(t), StartSink(t)
	pfA := StartPostfix(t, PostfixOptions{Sink: sinkA})
	pfB := StartPostfix(t, PostfixOptions{Sink: sinkB})
	if pfA.SMTPAddr == pfB.SMTPAddr || pfA.Dir == pfB.Dir {
		t.Fatalf("instances share %s / %s", pfA.SMTPAddr, pfA.Dir)
	}
	for _, pf := range []*Postfix{pfA, pfB} {
		if res := SendMail(pf.SMTPAddr, "client.example.org", "alice@example.org", []string{"bob@example.net"}, testMessage(pf.SMTPAddr)); res.Code != 250 {
			t.Fatalf("%s: %v", pf.SMTPAddr, res)
		}
	}
	for _, c := range []struct {
		sink *Sink
		pf   *Postfix
	}{{sinkA, pfA}, {sinkB, pfB}} {
		got := c.sink.WaitCount(t, 1, wait)
		if s, _ := got[0].Header("Subject"); len(got) != 1 || s != c.pf.SMTPAddr {
			t.Errorf("sink for %s got %d messages, first with subject %q", c.pf.SMTPAddr, len(got), s)
		}
	}
}

func TestUnreachableNextHopDefers(t *testing.T) {
	t.Parallel()
	closed := FreePort(t) // nothing listens here
	pf := StartPostfix(t, PostfixOptions{NextHop: fmt.Sprintf("127.0.0.1:%d", closed)})
	res := SendMail(pf.SMTPAddr, "client.example.org", "alice@example.org", []string{"bob@example.net"}, testMessage("stays"))
	if res.Code != 250 {
		t.Fatalf("SendMail = %v", res)
	}
	// The harness retries deferred mail every second (queue_run_delay,
	// minimal_backoff_time 1s), so the message moves between deferred,
	// incoming and active; a delay reason is only ever written by a
	// deferral, so it is the evidence wherever the message sits.
	deadline := time.Now().Add(wait)
	for {
		q := pf.Queue(t)
		if len(q) == 1 && q[0].ID == res.QueueID() && !q[0].Held &&
			strings.Contains(q[0].DelayReasons["bob@example.net"], "Connection refused") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("queue = %+v, want message %s deferred with a reason", q, res.QueueID())
		}
		time.Sleep(25 * time.Millisecond)
	}
}
