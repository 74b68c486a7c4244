package milter

import (
	"encoding/binary"
	"net"
	"testing"
)

// writeCounter is a net.Conn that counts Write calls.
type writeCounter struct {
	net.Conn
	writes [][]byte
}

func (w *writeCounter) Write(p []byte) (int, error) {
	w.writes = append(w.writes, append([]byte(nil), p...))
	return len(p), nil
}

func frame(code byte, data string) (hdr, payload []byte) {
	hdr = make([]byte, 5)
	binary.BigEndian.PutUint32(hdr, uint32(len(data)+1))
	hdr[4] = code
	return hdr, []byte(data)
}

// TestConnCoalescesReplies checks that a verdict with modifications leaves
// in one write: go-milter writes each frame as header then payload, and a
// header add, a quarantine and the final accept as separate frames; sent as
// they come, each could meet a delayed ACK on the MTA side (MTA-NOTES).
func TestConnCoalescesReplies(t *testing.T) {
	wc := &writeCounter{}
	c := &conn{Conn: wc}
	for _, f := range []struct {
		code byte
		data string
	}{{'h', "X-Spam-Flag\x00 YES\x00"}, {'q', "spam\x00"}, {'a', ""}, {'c', ""}} {
		h, p := frame(f.code, f.data)
		c.Write(h)
		c.Write(p)
	}
	if len(wc.writes) != 2 {
		t.Fatalf("got %d writes, want 2 (modifications with the accept, then continue)", len(wc.writes))
	}
	if n := len(wc.writes[0]); n != 5+len("X-Spam-Flag\x00 YES\x00")+5+len("spam\x00")+5 {
		t.Fatalf("first write %d bytes: must hold both modifications and the accept", n)
	}
}
