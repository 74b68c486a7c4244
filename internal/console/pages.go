package console

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/mamori-mail/mamori/internal/audit"
	"github.com/mamori-mail/mamori/internal/quarantine"
)

// pageSize is the entries a list page shows.
const pageSize = 50

// scanLimit bounds how many entries a scoped account's search reads to
// find those in its domains (the store cannot filter by a scope).
const scanLimit = 20 * quarantine.MaxLimit

// listQuery is the search form as given, to show it back.
type listQuery struct {
	Sender, Rcpt, Text, State, Since, Until, Min string
}

type listData struct {
	Q         listQuery
	States    []quarantine.State
	Err       string
	Entries   []quarantine.Entry
	Total     int
	Page      int
	Pages     int
	Prev      string
	Next      string
	Scanned   bool // the count is of entries in the account's domains
	Partial   bool // ... and stopped at ScanLimit
	ScanLimit int
}

// parseQuery turns the search form into a Filter.
func parseQuery(v url.Values) (listQuery, quarantine.Filter, int, error) {
	q := listQuery{
		Sender: strings.TrimSpace(v.Get("sender")), Rcpt: strings.TrimSpace(v.Get("rcpt")),
		Text: strings.TrimSpace(v.Get("text")), State: v.Get("state"),
		Since: v.Get("since"), Until: v.Get("until"), Min: strings.TrimSpace(v.Get("min")),
	}
	f := quarantine.Filter{Sender: q.Sender, Recipient: q.Rcpt, Text: q.Text}
	var errs []string
	if q.State != "" {
		ok := false
		for _, s := range quarantine.States {
			ok = ok || string(s) == q.State
		}
		if ok {
			f.States = []quarantine.State{quarantine.State(q.State)}
		} else {
			errs = append(errs, "unknown state")
			q.State = ""
		}
	}
	if q.Since != "" {
		t, err := time.Parse("2006-01-02", q.Since)
		if err != nil {
			errs = append(errs, "since: want a date such as 2026-11-01")
		}
		f.From = t
	}
	if q.Until != "" {
		t, err := time.Parse("2006-01-02", q.Until)
		if err != nil {
			errs = append(errs, "until: want a date such as 2026-11-01")
		} else {
			f.To = t.AddDate(0, 0, 1) // the whole day
		}
	}
	if q.Min != "" {
		m, err := strconv.ParseFloat(q.Min, 64)
		if err != nil {
			errs = append(errs, "min score: want a number")
		} else {
			f.MinScore = &m
		}
	}
	page := 1
	if p := v.Get("page"); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 1_000_000 {
			errs = append(errs, "page: want a number from 1")
		} else {
			page = n
		}
	}
	if len(errs) > 0 {
		return q, f, page, errors.New(strings.Join(errs, "; "))
	}
	return q, f, page, nil
}

// list shows one page of the search, newest first.
func (c *Console) list(q *request) {
	v := q.r.URL.Query()
	lq, f, pg, err := parseQuery(v)
	d := &listData{Q: lq, States: quarantine.States, Page: pg, ScanLimit: scanLimit}
	if err != nil {
		d.Err = err.Error()
		d.Pages = 1
		c.page(q, http.StatusOK, "list", "Quarantine", d)
		return
	}
	u := q.sess.User
	if len(u.Domains) == 0 {
		f.Limit, f.Offset = pageSize, (pg-1)*pageSize
		d.Entries, d.Total, err = c.o.Store.List(q.ctx, f)
	} else {
		d.Scanned = true
		d.Entries, d.Total, d.Partial, err = c.scopedList(q, u, f, (pg-1)*pageSize)
	}
	if err != nil {
		c.log.Error("console: list", "err", err, "client_ip", q.ip)
		d.Err = "The quarantine could not be searched (internal error); see the daemon's log."
	}
	d.Pages = max(1, (d.Total+pageSize-1)/pageSize)
	link := func(p int) string {
		w := url.Values{}
		for k, vs := range v {
			if k != "page" && len(vs) > 0 && vs[0] != "" {
				w.Set(k, vs[0])
			}
		}
		w.Set("page", strconv.Itoa(p))
		return "/?" + w.Encode()
	}
	if pg > 1 {
		d.Prev = link(pg - 1)
	}
	if pg < d.Pages {
		d.Next = link(pg + 1)
	}
	c.page(q, http.StatusOK, "list", "Quarantine", d)
}

// scopedList pages through the entries of f that u may see: it reads the
// store's pages (newest first) and keeps those InScope, up to scanLimit
// entries read. An account scoped to one domain has the store narrow the
// search to that recipient domain first.
func (c *Console) scopedList(q *request, u *quarantine.User, f quarantine.Filter, offset int) ([]quarantine.Entry, int, bool, error) {
	if f.Recipient == "" && len(u.Domains) == 1 && !strings.HasPrefix(u.Domains[0], ".") {
		f.Recipient = "@" + u.Domains[0]
	}
	f.Limit = quarantine.MaxLimit
	var out []quarantine.Entry
	total, read := 0, 0
	for f.Offset = 0; read < scanLimit; f.Offset += f.Limit {
		es, all, err := c.o.Store.List(q.ctx, f)
		if err != nil {
			return nil, 0, false, err
		}
		for _, e := range es {
			if !quarantine.InScope(u, e.Recipients) {
				continue
			}
			if total >= offset && len(out) < pageSize {
				out = append(out, e)
			}
			total++
		}
		read += len(es)
		if len(es) < f.Limit || f.Offset+len(es) >= all {
			return out, total, false, nil
		}
	}
	return out, total, true, nil
}

// entry returns the entry id if the session may see it; an entry out of
// scope is ErrNotFound, as one that does not exist.
func (c *Console) entry(q *request, id string) (*quarantine.Entry, error) {
	e, err := c.o.Store.Get(q.ctx, id)
	if err != nil {
		return nil, err
	}
	if !quarantine.InScope(q.sess.User, e.Recipients) {
		return nil, fmt.Errorf("%w: %s is out of the account's scope", quarantine.ErrNotFound, id)
	}
	return e, nil
}

// entryError answers a failed entry lookup.
func (c *Console) entryError(q *request, err error) {
	if errors.Is(err, quarantine.ErrNotFound) || errors.Is(err, quarantine.ErrBadID) {
		c.notFound(q)
		return
	}
	c.log.Error("console: get entry", "err", err, "client_ip", q.ip)
	c.page(q, http.StatusInternalServerError, "error", "Internal error", "The entry could not be read; see the daemon's log.")
}

type messageData struct {
	E          *quarantine.Entry
	CanAct     bool
	CanRelease bool
	CanDelete  bool
	// CanLearn offers "release and learn as ham" and "confirm as spam".
	CanLearn bool
	Body     *body
	BodyErr  string
}

// message shows one entry and its message, as text.
func (c *Console) message(q *request, id string) {
	e, err := c.entry(q, id)
	if err != nil {
		c.entryError(q, err)
		return
	}
	d := &messageData{E: e}
	if q.sess.User.Role.Can(quarantine.ActionRelease) {
		d.CanRelease = e.State == quarantine.Held || e.State == quarantine.ReleaseFailed
	}
	if q.sess.User.Role.Can(quarantine.ActionDelete) {
		d.CanDelete = e.State != quarantine.Releasing && e.State != quarantine.Deleted
	}
	d.CanLearn = c.o.Learn != nil && d.CanRelease && d.CanDelete
	d.CanAct = d.CanRelease || d.CanDelete
	rec := entryRecord(q, "view", id, e)
	if e.State == quarantine.Deleted {
		d.BodyErr = "The message was deleted; only its entry is kept."
	} else if d.Body, err = c.readBody(q.ctx, id); err != nil {
		c.log.Error("console: read message", "err", err, "quarantine_id", id, "client_ip", q.ip)
		d.BodyErr = "The message could not be read; see the daemon's log."
		rec.Error = err.Error()
	}
	c.record(rec)
	c.page(q, http.StatusOK, "message", "Message "+id, d)
}

// release releases an entry and shows the outcome on its page.
func (c *Console) release(q *request, id string) {
	if !q.sess.User.Role.Can(quarantine.ActionRelease) {
		c.page(q, http.StatusForbidden, "error", "Forbidden", "Your role may not release messages.")
		return
	}
	e, err := c.entry(q, id)
	if err != nil {
		c.entryError(q, err)
		return
	}
	rec := entryRecord(q, "release", id, e)
	rel := c.o.Release
	if c.o.ReleaseFunc != nil {
		rel = c.o.ReleaseFunc()
	}
	_, err = quarantine.Release(q.ctx, c.o.Store, id, q.by(), rel)
	switch {
	case err == nil:
		c.setFlash(q, "Released: the relay accepted the message.", false)
	case errors.Is(err, quarantine.ErrOutcomeUnknown):
		rec.Result, rec.Error = "unknown", err.Error()
		c.setFlash(q, err.Error(), true)
	default:
		rec.Result, rec.Error = "failed", err.Error()
		c.setFlash(q, "Not released: "+err.Error(), true)
	}
	c.record(rec)
	http.Redirect(q.w, q.r, "/m/"+id, http.StatusSeeOther)
}

// delete deletes an entry's message and shows the outcome on its page.
func (c *Console) delete(q *request, id string) {
	if !q.sess.User.Role.Can(quarantine.ActionDelete) {
		c.page(q, http.StatusForbidden, "error", "Forbidden", "Your role may not delete messages.")
		return
	}
	e, err := c.entry(q, id)
	if err != nil {
		c.entryError(q, err)
		return
	}
	rec := entryRecord(q, "delete", id, e)
	if err := c.o.Store.Delete(q.ctx, id, q.by()); err != nil {
		rec.Result, rec.Error = "failed", err.Error()
		c.setFlash(q, "Not deleted: "+err.Error(), true)
	} else {
		c.setFlash(q, "Deleted: the message is gone; its entry is kept.", false)
	}
	c.record(rec)
	http.Redirect(q.w, q.r, "/m/"+id, http.StatusSeeOther)
}

// learn teaches the classifier the entry's message, then releases it (a
// false positive, learned as ham) or deletes it (confirmed spam). Learning
// comes first: a message the classifier could not learn stays where it is.
func (c *Console) learn(q *request, id string, spam bool) {
	if !q.sess.User.Role.Can(quarantine.ActionRelease) || !q.sess.User.Role.Can(quarantine.ActionDelete) {
		c.page(q, http.StatusForbidden, "error", "Forbidden", "Your role may not release or delete messages.")
		return
	}
	e, err := c.entry(q, id)
	if err != nil {
		c.entryError(q, err)
		return
	}
	action, class := "learn_ham", "ham"
	if spam {
		action, class = "learn_spam", "spam"
	}
	rec := entryRecord(q, action, id, e)
	rc, err := c.o.Store.Open(q.ctx, id)
	if err == nil {
		err = c.o.Learn(q.ctx, rc, spam)
		if cerr := rc.Close(); err == nil {
			err = cerr
		}
	}
	c.record(withError(rec, err))
	if err != nil {
		c.setFlash(q, "Not learned (nothing else was done): "+err.Error(), true)
		http.Redirect(q.w, q.r, "/m/"+id, http.StatusSeeOther)
		return
	}
	if spam {
		q.flashPrefix = "Learned as spam. "
		c.delete(q, id)
		return
	}
	q.flashPrefix = "Learned as " + class + ". "
	c.release(q, id)
}

func withError(r *audit.Record, err error) *audit.Record {
	if err != nil {
		r.Result, r.Error = "failed", err.Error()
	}
	return r
}
