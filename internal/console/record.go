package console

import (
	"context"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/mamori-mail/mamori/internal/audit"
	"github.com/mamori-mail/mamori/internal/quarantine"
)

// auditKeep is how many of its admin records the console keeps in memory
// for the /audit page.
const auditKeep = 1000

// recent is a ring of the last admin records.
type recent struct {
	mu   sync.Mutex
	recs []audit.Record
	next int
	n    int
}

func newRecent(n int) *recent { return &recent{recs: make([]audit.Record, n)} }

func (r *recent) add(rec audit.Record) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.recs[r.next] = rec
	r.next = (r.next + 1) % len(r.recs)
	r.n = min(r.n+1, len(r.recs))
}

// newest returns the records, newest first.
func (r *recent) newest() []audit.Record {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]audit.Record, 0, r.n)
	for i := 1; i <= r.n; i++ {
		out = append(out, r.recs[(r.next-i+len(r.recs))%len(r.recs)])
	}
	return out
}

// storeTimeout bounds the writing and reading of the admin records in
// the store.
const storeTimeout = 5 * time.Second

// adminAudit returns the store's admin records, if it keeps them.
func (c *Console) adminAudit() (quarantine.AdminAudit, bool) {
	a, ok := c.o.Store.(quarantine.AdminAudit)
	return a, ok
}

// record writes an admin record to the audit log and keeps it for /audit:
// in the store when it keeps admin records (shared by every instance and
// kept across restarts), and in memory. The action is already done: a
// failure to store the record is logged, and the audit log has it.
func (c *Console) record(rec *audit.Record) {
	rec.Event = "admin"
	if rec.Time.IsZero() {
		rec.Time = c.now()
	}
	c.o.Audit.Write(rec)
	kept := *rec
	kept.Recipients = slices.Clone(rec.Recipients)
	c.recent.add(kept)
	if a, ok := c.adminAudit(); ok {
		ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
		defer cancel()
		if err := a.AddAdminRecord(ctx, toAdminRecord(rec)); err != nil {
			c.log.Error("console: storing an admin record", "err", err, "action", rec.Action, "by", rec.By)
		}
	}
}

// toAdminRecord converts an admin audit record for the store.
func toAdminRecord(r *audit.Record) quarantine.AdminRecord {
	return quarantine.AdminRecord{Time: r.Time, Action: r.Action, By: r.By, ClientIP: r.ClientIP, Quarantine: r.Quarantine,
		Result: r.Result, Error: r.Error, Sender: r.Sender, Recipients: slices.Clone(r.Recipients), MessageID: r.MessageID,
		QueueID: r.QueueID, Size: r.Size, Score: r.Score, Reason: r.Reason, Config: r.Config, Count: r.Count}
}

// fromAdminRecord converts a stored admin record back, for /audit.
func fromAdminRecord(r quarantine.AdminRecord) audit.Record {
	return audit.Record{Time: r.Time, Event: "admin", Action: r.Action, By: r.By, ClientIP: r.ClientIP, Quarantine: r.Quarantine,
		Result: r.Result, Error: r.Error, Sender: r.Sender, Recipients: r.Recipients, MessageID: r.MessageID,
		QueueID: r.QueueID, Size: r.Size, Score: r.Score, Reason: r.Reason, Config: r.Config, Count: r.Count}
}

// entryRecord is an admin record about e.
func entryRecord(q *request, action string, id string, e *quarantine.Entry) *audit.Record {
	r := &audit.Record{Action: action, By: q.by(), ClientIP: q.ip, Quarantine: id, Result: "ok"}
	if e != nil {
		r.Sender, r.Recipients, r.MessageID, r.Size, r.Score, r.Reason = e.Sender, e.Recipients, e.MessageID, e.Size, e.Score, e.Reason
		r.QueueID, r.Config = e.QueueID, e.Config
	}
	return r
}

// auditPage shows the kept records, to admins: the store's when it keeps
// them, else this process's.
func (c *Console) auditPage(q *request) {
	if !q.sess.User.Role.CanManageUsers() {
		c.page(q, http.StatusForbidden, "error", "Forbidden", "The audit page is for admins.")
		return
	}
	data := struct {
		Keep    int
		Stored  bool
		Records []audit.Record
	}{Keep: auditKeep}
	if a, ok := c.adminAudit(); ok {
		recs, err := a.AdminRecords(q.ctx, quarantine.AdminFilter{Limit: auditKeep})
		if err != nil {
			c.log.Error("console: reading the admin records", "err", err, "client_ip", q.ip)
			c.page(q, http.StatusInternalServerError, "error", "Internal error", "The audit records could not be read; see the daemon's log.")
			return
		}
		data.Stored = true
		for _, r := range recs {
			data.Records = append(data.Records, fromAdminRecord(r))
		}
	} else {
		data.Records = c.recent.newest()
	}
	c.page(q, http.StatusOK, "audit", "Audit", data)
}
