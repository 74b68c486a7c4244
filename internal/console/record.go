package console

import (
	"net/http"
	"slices"
	"sync"

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

// record writes an admin record to the audit log and keeps it for /audit.
func (c *Console) record(rec *audit.Record) {
	rec.Event = "admin"
	if rec.Time.IsZero() {
		rec.Time = c.now()
	}
	c.o.Audit.Write(rec)
	kept := *rec
	kept.Recipients = slices.Clone(rec.Recipients)
	c.recent.add(kept)
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

// auditPage shows the kept records, to admins.
func (c *Console) auditPage(q *request) {
	if !q.sess.User.Role.CanManageUsers() {
		c.page(q, http.StatusForbidden, "error", "Forbidden", "The audit page is for admins.")
		return
	}
	c.page(q, http.StatusOK, "audit", "Audit", struct {
		Keep    int
		Records []audit.Record
	}{auditKeep, c.recent.newest()})
}
