package harness

import "time"

// SendSome is Send for a transaction in which some recipients may be
// refused: it goes on to DATA when at least one RCPT TO was accepted, as a
// real client does, and returns the refusals beside the final reply.
func (c *SMTPConn) SendSome(from string, to []string, data []byte) (SMTPResult, []SMTPResult) {
	if res := c.cmd("mail", "MAIL FROM:<"+from+">"); !res.OK() {
		c.rset(res)
		return res, nil
	}
	var refused []SMTPResult
	for _, rcpt := range to {
		if res := c.cmd("rcpt", "RCPT TO:<"+rcpt+">"); !res.OK() {
			refused = append(refused, res)
		}
	}
	if len(refused) == len(to) {
		c.rset(refused[0])
		return refused[0], refused
	}
	if res := c.cmd("data", "DATA"); res.Code != 354 {
		c.rset(res)
		return res, refused
	}
	c.conn.SetDeadline(time.Now().Add(c.timeout()))
	if err := writeDotStuffed(c.w, data); err != nil {
		return SMTPResult{Stage: "dot", Err: err}, refused
	}
	if err := c.w.Flush(); err != nil {
		return SMTPResult{Stage: "dot", Err: err}, refused
	}
	return c.reply("dot"), refused
}
