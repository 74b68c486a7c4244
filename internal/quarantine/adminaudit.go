package quarantine

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// AdminAudit keeps the records of admin actions (logins, failed logins,
// views, releases, deletes, user changes) in the store, so that every
// instance sharing it, and every restart, sees the same records. SQLite and
// Postgres implement it.
type AdminAudit interface {
	// AddAdminRecord stores r; its ID is ignored, and a zero Time is now.
	AddAdminRecord(ctx context.Context, r AdminRecord) error
	// AdminRecords returns the records f selects, newest first.
	AdminRecords(ctx context.Context, f AdminFilter) ([]AdminRecord, error)
	// PurgeAdminRecords removes the records older than before and returns
	// how many it removed.
	PurgeAdminRecords(ctx context.Context, before time.Time) (int, error)
}

// AdminRecord is one admin action.
type AdminRecord struct {
	ID       int64 // set by the store
	Time     time.Time
	Action   string // login, login_failed, view, release, delete, user_add, ...
	By       string // a console login, or "cli:<unix user>"
	ClientIP string
	// Quarantine is the ID of the entry acted on, if any.
	Quarantine string
	Result     string // ok, failed or unknown
	Error      string

	// The other fields, kept as a JSON object in the detail column.
	Sender     string
	Recipients []string
	MessageID  string
	QueueID    string
	Size       int64
	Score      float64
	Reason     string
	Config     string
	Count      int
}

// adminDetail is what the detail column holds.
type adminDetail struct {
	Sender     string   `json:"sender,omitempty"`
	Recipients []string `json:"recipients,omitempty"`
	MessageID  string   `json:"message_id,omitempty"`
	QueueID    string   `json:"queue_id,omitempty"`
	Size       int64    `json:"size,omitempty"`
	Score      float64  `json:"score,omitempty"`
	Reason     string   `json:"reason,omitempty"`
	Config     string   `json:"config,omitempty"`
	Count      int      `json:"count,omitempty"`
}

// AdminFilter selects admin records. Empty fields select all.
type AdminFilter struct {
	By     string    // exactly this actor
	Action string    // exactly this action
	Since  time.Time // at or after this time
	// Limit is how many records to return: DefaultAdminLimit when 0,
	// at most MaxAdminLimit.
	Limit int
}

const (
	DefaultAdminLimit = 100
	MaxAdminLimit     = 1000
)

const adminColumns = `id, time, action, "by", client_ip, quarantine_id, result, error, detail`

func (a *acctDB) AddAdminRecord(ctx context.Context, r AdminRecord) error {
	if r.Time.IsZero() {
		r.Time = time.Now()
	}
	detail, err := json.Marshal(adminDetail{r.Sender, r.Recipients, r.MessageID, r.QueueID, r.Size, r.Score, r.Reason, r.Config, r.Count})
	if err != nil {
		return fmt.Errorf("quarantine: admin record: %w", err)
	}
	_, err = a.exec(ctx, `INSERT INTO admin_audit (time, action, "by", client_ip, quarantine_id, result, error, detail)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
		a.t(r.Time), r.Action, r.By, r.ClientIP, r.Quarantine, r.Result, r.Error, string(detail))
	if err != nil {
		return wrapErr("add admin record", err)
	}
	return nil
}

func (a *acctDB) AdminRecords(ctx context.Context, f AdminFilter) ([]AdminRecord, error) {
	limit := f.Limit
	switch {
	case limit <= 0:
		limit = DefaultAdminLimit
	case limit > MaxAdminLimit:
		limit = MaxAdminLimit
	}
	var where []string
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	if f.By != "" {
		where = append(where, `"by" = `+arg(f.By))
	}
	if f.Action != "" {
		where = append(where, `action = `+arg(f.Action))
	}
	if !f.Since.IsZero() {
		where = append(where, `time >= `+arg(a.t(f.Since)))
	}
	q := `SELECT ` + adminColumns + ` FROM admin_audit`
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, ` AND `)
	}
	q += ` ORDER BY time DESC, id DESC LIMIT ` + arg(limit)
	var out []AdminRecord
	err := a.rows(ctx, q, args, func(s scanner) error {
		var r AdminRecord
		var detail string
		t := a.d.timeDest()
		if err := s.Scan(&r.ID, t, &r.Action, &r.By, &r.ClientIP, &r.Quarantine, &r.Result, &r.Error, &detail); err != nil {
			return err
		}
		r.Time = a.d.timeOf(t)
		var d adminDetail
		if detail != "" {
			if err := json.Unmarshal([]byte(detail), &d); err != nil {
				return fmt.Errorf("admin record %d: detail: %w", r.ID, err)
			}
		}
		r.Sender, r.Recipients, r.MessageID, r.QueueID, r.Size, r.Score, r.Reason, r.Config, r.Count =
			d.Sender, d.Recipients, d.MessageID, d.QueueID, d.Size, d.Score, d.Reason, d.Config, d.Count
		out = append(out, r)
		return nil
	})
	if err != nil {
		return nil, wrapErr("list admin records", err)
	}
	return out, nil
}

func (a *acctDB) PurgeAdminRecords(ctx context.Context, before time.Time) (int, error) {
	n, err := a.exec(ctx, `DELETE FROM admin_audit WHERE time < $1`, a.t(before))
	if err != nil {
		return 0, wrapErr("purge admin records", err)
	}
	return int(n), nil
}
