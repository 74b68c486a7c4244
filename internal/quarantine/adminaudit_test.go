package quarantine

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"
)

func init() {
	storeCases = append(storeCases, []struct {
		name string
		fn   func(t *testing.T, s Store)
	}{
		{"AdminRecords", testAdminRecords},
		{"AdminRecordsLimit", testAdminRecordsLimit},
	}...)
}

func adminAudit(t *testing.T, s Store) AdminAudit {
	t.Helper()
	a, ok := s.(AdminAudit)
	if !ok {
		t.Fatalf("%T does not keep admin records", s)
	}
	return a
}

func testAdminRecords(t *testing.T, s Store) {
	ctx := context.Background()
	a := adminAudit(t, s)
	if recs, err := a.AdminRecords(ctx, AdminFilter{}); err != nil || len(recs) != 0 {
		t.Fatalf("AdminRecords of an empty store = %v, %v", recs, err)
	}
	t0 := time.Date(2025, 3, 1, 12, 0, 0, 123456789, time.UTC)
	release := AdminRecord{Time: t0.Add(2 * time.Minute), Action: "release", By: "alice", ClientIP: "192.0.2.1",
		Quarantine: "0123456789abcdef", Result: "ok", Sender: "s@example.jp", Recipients: []string{"a@example.jp", "b@example.jp"},
		MessageID: "<m@x>", QueueID: "Q1", Size: 1234, Score: 7.5, Reason: "spam", Config: "c1"}
	for _, r := range []AdminRecord{
		{Time: t0, Action: "login", By: "alice", ClientIP: "192.0.2.1", Result: "ok"},
		{Time: t0.Add(time.Minute), Action: "login_failed", By: "bob", ClientIP: "192.0.2.2", Result: "failed", Error: "wrong password"},
		release,
		{Time: t0.Add(3 * time.Minute), Action: "purge", By: "cli:root", Result: "ok", Count: 3},
	} {
		if err := a.AddAdminRecord(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	actions := func(f AdminFilter) []string {
		t.Helper()
		recs, err := a.AdminRecords(ctx, f)
		if err != nil {
			t.Fatalf("AdminRecords(%+v): %v", f, err)
		}
		var out []string
		for _, r := range recs {
			out = append(out, r.Action)
		}
		return out
	}
	for _, tc := range []struct {
		f    AdminFilter
		want []string
	}{
		{AdminFilter{}, []string{"purge", "release", "login_failed", "login"}},
		{AdminFilter{By: "alice"}, []string{"release", "login"}},
		{AdminFilter{Action: "login_failed"}, []string{"login_failed"}},
		{AdminFilter{By: "alice", Action: "login"}, []string{"login"}},
		{AdminFilter{Since: t0.Add(time.Minute)}, []string{"purge", "release", "login_failed"}},
		{AdminFilter{Limit: 2}, []string{"purge", "release"}},
		{AdminFilter{By: "carol"}, nil},
	} {
		if got := actions(tc.f); !slices.Equal(got, tc.want) {
			t.Errorf("AdminRecords(%+v) = %v, want %v", tc.f, got, tc.want)
		}
	}

	recs, err := a.AdminRecords(ctx, AdminFilter{Action: "release"})
	if err != nil || len(recs) != 1 {
		t.Fatalf("AdminRecords(release) = %v, %v", recs, err)
	}
	got := recs[0]
	if got.ID == 0 {
		t.Error("the record has no ID")
	}
	want := release
	want.ID, want.Time = got.ID, release.Time.Truncate(time.Microsecond)
	if !got.Time.Equal(want.Time) {
		t.Errorf("time %v, want %v", got.Time, want.Time)
	}
	got.Time = want.Time
	if fmt.Sprintf("%+v", got) != fmt.Sprintf("%+v", want) {
		t.Errorf("release record:\n got %+v\nwant %+v", got, want)
	}
	if recs, _ := a.AdminRecords(ctx, AdminFilter{Action: "purge"}); len(recs) != 1 || recs[0].Count != 3 || recs[0].Recipients != nil {
		t.Errorf("purge record = %+v", recs)
	}

	n, err := a.PurgeAdminRecords(ctx, t0.Add(2*time.Minute))
	if err != nil || n != 2 {
		t.Errorf("PurgeAdminRecords = %d, %v; want 2", n, err)
	}
	if got := actions(AdminFilter{}); !slices.Equal(got, []string{"purge", "release"}) {
		t.Errorf("after PurgeAdminRecords: %v", got)
	}
}

func testAdminRecordsLimit(t *testing.T, s Store) {
	ctx := context.Background()
	a := adminAudit(t, s)
	t0 := time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)
	for i := range MaxAdminLimit + 5 {
		// Two records share each time: the later added comes first.
		if err := a.AddAdminRecord(ctx, AdminRecord{Time: t0.Add(time.Duration(i/2) * time.Second), Action: "view",
			By: "alice", Quarantine: fmt.Sprint(i), Result: "ok"}); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct{ limit, want int }{{0, DefaultAdminLimit}, {-1, DefaultAdminLimit}, {7, 7}, {MaxAdminLimit + 1, MaxAdminLimit}} {
		recs, err := a.AdminRecords(ctx, AdminFilter{Limit: tc.limit})
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) != tc.want {
			t.Errorf("Limit %d: %d records, want %d", tc.limit, len(recs), tc.want)
		}
		for i, r := range recs {
			if want := fmt.Sprint(MaxAdminLimit + 4 - i); r.Quarantine != want {
				t.Fatalf("Limit %d: record %d is %s, want %s (newest first)", tc.limit, i, r.Quarantine, want)
			}
		}
	}
}
