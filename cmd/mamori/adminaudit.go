package main

import (
	"context"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/mamori-mail/mamori/internal/audit"
	"github.com/mamori-mail/mamori/internal/quarantine"
)

// storeAdminRecord writes an admin record to the quarantine store too, when
// it keeps them, so that the console's audit page shows the command line's
// actions. The action is done: a failure is reported on stderr only (the
// audit file has the record).
func storeAdminRecord(st quarantine.Store, r *audit.Record, stderr io.Writer) {
	a, ok := st.(quarantine.AdminAudit)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := a.AddAdminRecord(ctx, quarantine.AdminRecord{Time: r.Time, Action: r.Action, By: r.By, ClientIP: r.ClientIP,
		Quarantine: r.Quarantine, Result: r.Result, Error: r.Error, Sender: r.Sender, Recipients: slices.Clone(r.Recipients),
		MessageID: r.MessageID, QueueID: r.QueueID, Size: r.Size, Score: r.Score, Reason: r.Reason, Config: r.Config, Count: r.Count})
	if err != nil {
		fmt.Fprintf(stderr, "mamori: storing the admin record of %s: %v (it is in the audit file)\n", r.Action, err)
	}
}
