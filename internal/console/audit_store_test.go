package console

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/mamori-mail/mamori/internal/audit"
	"github.com/mamori-mail/mamori/internal/quarantine"
)

// The admin records go to the store: a fresh Console on the same store, as
// another instance or after a restart, shows them on /audit.
func TestAuditFromStore(t *testing.T) {
	e := newEnv(t)
	id := e.put("hello", []string{"b@example.org"}, plainMsg)
	c := e.client()
	c.login("operator")
	c.post("/m/"+id+"/release", nil)
	if got := e.state(id); got != quarantine.Released {
		t.Fatalf("state %v after release", got)
	}

	recs, err := e.st.AdminRecords(t.Context(), quarantine.AdminFilter{By: "web:operator"})
	if err != nil {
		t.Fatal(err)
	}
	var rel *quarantine.AdminRecord
	for i := range recs {
		if recs[i].Action == "release" {
			rel = &recs[i]
		}
	}
	if rel == nil || rel.Quarantine != id || rel.Result != "ok" || rel.ClientIP != "127.0.0.1" ||
		rel.Sender != "a@example.net" || len(rel.Recipients) != 1 || rel.Recipients[0] != "b@example.org" {
		t.Fatalf("stored records %+v: no release of %s", recs, id)
	}

	other, err := New(Options{Store: e.st, Accounts: e.st, Audit: audit.New(&syncBuffer{}),
		Release: quarantine.ReleaseOptions{Relay: e.relay.Addr, Helo: "console.test", Timeout: 10 * time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(other)
	t.Cleanup(srv.Close)
	e2 := *e
	e2.srv, e2.c = srv, other
	a := e2.client()
	a.login("admin")
	r := a.get("/audit")
	if r.status != http.StatusOK || !strings.Contains(r.body, "from the quarantine store") {
		t.Fatalf("audit page: %d\n%s", r.status, r.body)
	}
	// The operator's login and release, then the admin's login, newest
	// first.
	release := strings.Index(r.body, `<td>release</td><td>web:operator</td>`)
	login := strings.Index(r.body, `<td>login</td><td>web:operator</td>`)
	adminLogin := strings.Index(r.body, `<td>login</td><td>web:admin</td>`)
	if release < 0 || login < 0 || adminLogin < 0 || !(adminLogin < release && release < login) || !strings.Contains(r.body, id) {
		t.Errorf("audit page lacks the records, newest first (admin login %d, release %d, login %d):\n%s", adminLogin, release, login, r.body)
	}
}

// storeOnly hides the store's admin records.
type storeOnly struct{ quarantine.Store }

// Without a store keeping admin records, /audit shows this process's.
func TestAuditInMemory(t *testing.T) {
	e := newEnv(t)
	c, err := New(Options{Store: storeOnly{e.st}, Accounts: e.st, Audit: audit.New(&syncBuffer{})})
	if err != nil {
		t.Fatal(err)
	}
	e.c, e.srv = c, httptest.NewServer(c)
	t.Cleanup(e.srv.Close)
	a := e.client()
	a.login("admin")
	r := a.get("/audit")
	if r.status != http.StatusOK || !strings.Contains(r.body, "kept in memory only") || !strings.Contains(r.body, "web:admin") {
		t.Errorf("audit page: %d\n%s", r.status, r.body)
	}
}
