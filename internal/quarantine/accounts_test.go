package quarantine

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

func init() {
	// New hashes in tests cost 1 MiB and one pass instead of 64 MiB and
	// two: the accounts cases run in parallel on both backends. The
	// production cost is checked by TestPasswordHash.
	argonCost = argonParams{time: 1, memory: 1024, threads: 1, saltLen: 16, keyLen: 32}

	// The accounts cases join the shared table, so that they run against
	// SQLite and PostgreSQL alike.
	storeCases = append(storeCases, []struct {
		name string
		fn   func(t *testing.T, s Store)
	}{
		{"Users", testUsers},
		{"UsersValidation", testUsersValidation},
		{"Authenticate", testAuthenticate},
		{"AuthenticateLockout", testAuthenticateLockout},
		{"AuthenticateSuccessResets", testAuthenticateSuccessResets},
		{"AuthenticateDisabled", testAuthenticateDisabled},
		{"AuthenticateBcrypt", testAuthenticateBcrypt},
		{"AuthenticateConcurrentFailures", testAuthenticateConcurrentFailures},
		{"Sessions", testSessions},
		{"SessionsAbsoluteExpiry", testSessionsAbsoluteExpiry},
		{"SessionsEndAll", testSessionsEndAll},
	}...)
}

const goodPassword = "correct horse battery"

// accts returns s's accounts and their SQL access, for looking at rows.
func accts(t *testing.T, s Store) (Accounts, *acctDB) {
	t.Helper()
	switch s := s.(type) {
	case *SQLite:
		return s, s.accounts()
	case *Postgres:
		return s, s.accounts()
	}
	t.Fatalf("%T has no accounts", s)
	return nil, nil
}

func addUser(t *testing.T, a Accounts, login string, role Role, domains ...string) {
	t.Helper()
	if err := a.AddUser(context.Background(), login, role, domains, goodPassword); err != nil {
		t.Fatalf("AddUser(%s): %v", login, err)
	}
}

func getUser(t *testing.T, a Accounts, login string) *User {
	t.Helper()
	u, err := a.GetUser(context.Background(), login)
	if err != nil {
		t.Fatalf("GetUser(%s): %v", login, err)
	}
	return u
}

func testUsers(t *testing.T, s Store) {
	ctx := context.Background()
	a, _ := accts(t, s)
	before := time.Now().Add(-time.Second)
	addUser(t, a, "Alice@Example.JP", RoleAdmin)
	addUser(t, a, "bob", RoleViewer, "Example.jp", ".example.jp", "example.jp.")
	if err := a.AddUser(ctx, "alice@example.jp", RoleViewer, nil, goodPassword); !errors.Is(err, ErrExists) {
		t.Errorf("AddUser of a taken login: %v, want ErrExists", err)
	}

	u := getUser(t, a, "alice@example.jp")
	if u.Login != "alice@example.jp" || u.Role != RoleAdmin || u.Domains != nil || u.Disabled ||
		u.FailedCount != 0 || !u.LockedUntil.IsZero() || !u.LastLoginAt.IsZero() ||
		u.CreatedAt.Before(before) || !u.UpdatedAt.Equal(u.CreatedAt) {
		t.Errorf("GetUser(alice) = %+v", u)
	}
	if b := getUser(t, a, "BOB"); b.Role != RoleViewer || strings.Join(b.Domains, " ") != ".example.jp example.jp" {
		t.Errorf("GetUser(bob) = %+v, want viewer of .example.jp and example.jp", b)
	}
	if _, err := a.GetUser(ctx, "carol"); !errors.Is(err, ErrNoUser) {
		t.Errorf("GetUser(carol): %v, want ErrNoUser", err)
	}

	if err := a.SetRole(ctx, "bob", RoleOperator); err != nil {
		t.Fatal(err)
	}
	if err := a.SetDomains(ctx, "bob", nil); err != nil {
		t.Fatal(err)
	}
	if b := getUser(t, a, "bob"); b.Role != RoleOperator || b.Domains != nil {
		t.Errorf("after SetRole and SetDomains: %+v", b)
	}
	for _, err := range []error{a.SetRole(ctx, "carol", RoleAdmin), a.SetPassword(ctx, "carol", goodPassword),
		a.DisableUser(ctx, "carol"), a.DeleteUser(ctx, "carol")} {
		if !errors.Is(err, ErrNoUser) {
			t.Errorf("change of an unknown user: %v, want ErrNoUser", err)
		}
	}

	users, err := a.ListUsers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(users) != 2 || users[0].Login != "alice@example.jp" || users[1].Login != "bob" {
		t.Errorf("ListUsers = %+v, want alice and bob", users)
	}
	if err := a.DeleteUser(ctx, "alice@example.jp"); err != nil {
		t.Fatal(err)
	}
	if users, _ := a.ListUsers(ctx); len(users) != 1 {
		t.Errorf("ListUsers after DeleteUser = %+v", users)
	}
}

func testUsersValidation(t *testing.T, s Store) {
	ctx := context.Background()
	a, _ := accts(t, s)
	for _, tc := range []struct {
		name, login string
		role        Role
		domains     []string
		password    string
		want        string
	}{
		{"empty login", "", RoleAdmin, nil, goodPassword, "login"},
		{"long login", strings.Repeat("a", 65), RoleAdmin, nil, goodPassword, "login"},
		{"space in login", "al ice", RoleAdmin, nil, goodPassword, "login"},
		{"slash in login", "../x", RoleAdmin, nil, goodPassword, "login"},
		{"non-ASCII login", "ålice", RoleAdmin, nil, goodPassword, "login"},
		{"short password", "alice", RoleAdmin, nil, "elevenchars", "at least 12"},
		{"short in characters", "alice", RoleAdmin, nil, "ééééééééééé", "at least 12"},
		{"huge password", "alice", RoleAdmin, nil, strings.Repeat("x", 2000), "longer than"},
		{"unknown role", "alice", "root", nil, goodPassword, "role"},
		{"empty role", "alice", "", nil, goodPassword, "role"},
		{"bad domain", "alice", RoleAdmin, []string{"exa mple.jp"}, goodPassword, "domain"},
		{"empty domain", "alice", RoleAdmin, []string{""}, goodPassword, "domain"},
		{"bare dot", "alice", RoleAdmin, []string{"."}, goodPassword, "domain"},
	} {
		err := a.AddUser(ctx, tc.login, tc.role, tc.domains, tc.password)
		if !errors.Is(err, ErrBadAccount) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: AddUser: %v, want ErrBadAccount saying %q", tc.name, err, tc.want)
		}
	}
	if users, _ := a.ListUsers(ctx); len(users) != 0 {
		t.Errorf("refused users were stored: %+v", users)
	}
	addUser(t, a, strings.Repeat("a", 64), RoleViewer)
	addUser(t, a, "a.b_c-d@e.f0", RoleViewer)
	addUser(t, a, "twelve", RoleViewer)
	if err := a.SetPassword(ctx, "twelve", "short"); !errors.Is(err, ErrBadAccount) {
		t.Errorf("SetPassword of a short password: %v", err)
	}
	if err := a.SetRole(ctx, "twelve", "god"); !errors.Is(err, ErrBadAccount) {
		t.Errorf("SetRole(god): %v", err)
	}
}

func testAuthenticate(t *testing.T, s Store) {
	ctx := context.Background()
	a, _ := accts(t, s)
	addUser(t, a, "alice", RoleOperator, "example.jp")
	now := time.Now()
	u, err := a.Authenticate(ctx, "Alice", goodPassword, "192.0.2.1", now)
	if err != nil {
		t.Fatalf("Authenticate: %v", err)
	}
	if u.Login != "alice" || u.Role != RoleOperator || len(u.Domains) != 1 || !u.LastLoginAt.Equal(now.UTC().Truncate(time.Microsecond)) {
		t.Errorf("Authenticate = %+v", u)
	}
	if g := getUser(t, a, "alice"); !g.LastLoginAt.Equal(u.LastLoginAt) {
		t.Errorf("stored LastLoginAt %v, want %v", g.LastLoginAt, u.LastLoginAt)
	}
	_, errWrong := a.Authenticate(ctx, "alice", goodPassword+"!", "192.0.2.1", now)
	_, errUnknown := a.Authenticate(ctx, "mallory", goodPassword, "192.0.2.1", now)
	_, errBadLogin := a.Authenticate(ctx, "../mallory", goodPassword, "192.0.2.1", now)
	for _, err := range []error{errWrong, errUnknown, errBadLogin} {
		if err != ErrBadCredentials { // the very same error: nothing tells them apart
			t.Errorf("Authenticate with a wrong password or login: %v, want ErrBadCredentials itself", err)
		}
	}
	if g := getUser(t, a, "alice"); g.FailedCount != 1 {
		t.Errorf("FailedCount %d after one wrong password, want 1", g.FailedCount)
	}
}

func testAuthenticateLockout(t *testing.T, s Store) {
	ctx := context.Background()
	a, _ := accts(t, s)
	addUser(t, a, "alice", RoleAdmin)
	now := time.Now().UTC().Truncate(time.Microsecond)
	for i := range MaxFailedLogins {
		if _, err := a.Authenticate(ctx, "alice", "wrong password "+string(rune('a'+i)), "", now); err != ErrBadCredentials {
			t.Fatalf("wrong password %d: %v", i+1, err)
		}
	}
	u := getUser(t, a, "alice")
	if want := now.Add(LockDuration); !u.LockedUntil.Equal(want) || !u.Locked(now) || u.FailedCount != 0 {
		t.Fatalf("after %d wrong passwords: LockedUntil %v (want %v), FailedCount %d", MaxFailedLogins, u.LockedUntil, want, u.FailedCount)
	}
	later := now.Add(LockDuration - time.Second)
	if _, err := a.Authenticate(ctx, "alice", goodPassword, "", later); !errors.Is(err, ErrLocked) {
		t.Errorf("right password while locked: %v, want ErrLocked", err)
	}
	if _, err := a.Authenticate(ctx, "alice", "wrong again", "", later); !errors.Is(err, ErrLocked) {
		t.Errorf("wrong password while locked: %v, want ErrLocked", err)
	}
	if u := getUser(t, a, "alice"); u.FailedCount != 0 || !u.LockedUntil.Equal(now.Add(LockDuration)) {
		t.Errorf("attempts while locked changed the row: %+v", u)
	}
	if _, err := a.Authenticate(ctx, "alice", goodPassword, "", now.Add(LockDuration)); err != nil {
		t.Errorf("right password once the lock ended: %v", err)
	}

	// UnlockUser and SetPassword lift a lock.
	for range MaxFailedLogins {
		a.Authenticate(ctx, "alice", "wrong password", "", now)
	}
	if _, err := a.Authenticate(ctx, "alice", goodPassword, "", now); !errors.Is(err, ErrLocked) {
		t.Fatalf("relock: %v", err)
	}
	if err := a.UnlockUser(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Authenticate(ctx, "alice", goodPassword, "", now); err != nil {
		t.Errorf("after UnlockUser: %v", err)
	}
	for range MaxFailedLogins {
		a.Authenticate(ctx, "alice", "wrong password", "", now)
	}
	if err := a.SetPassword(ctx, "alice", "a new password!"); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Authenticate(ctx, "alice", "a new password!", "", now); err != nil {
		t.Errorf("after SetPassword: %v", err)
	}
	if _, err := a.Authenticate(ctx, "alice", goodPassword, "", now); err != ErrBadCredentials {
		t.Errorf("old password after SetPassword: %v", err)
	}
}

func testAuthenticateSuccessResets(t *testing.T, s Store) {
	ctx := context.Background()
	a, _ := accts(t, s)
	addUser(t, a, "alice", RoleAdmin)
	now := time.Now()
	for round := range 3 {
		for range MaxFailedLogins - 1 {
			if _, err := a.Authenticate(ctx, "alice", "wrong password", "", now); err != ErrBadCredentials {
				t.Fatalf("round %d: %v", round, err)
			}
		}
		if u := getUser(t, a, "alice"); u.FailedCount != MaxFailedLogins-1 || u.Locked(now) {
			t.Fatalf("round %d: %+v", round, u)
		}
		if _, err := a.Authenticate(ctx, "alice", goodPassword, "", now); err != nil {
			t.Fatalf("round %d: right password: %v", round, err)
		}
		if u := getUser(t, a, "alice"); u.FailedCount != 0 {
			t.Fatalf("round %d: FailedCount %d after a login", round, u.FailedCount)
		}
	}
}

func testAuthenticateDisabled(t *testing.T, s Store) {
	ctx := context.Background()
	a, _ := accts(t, s)
	addUser(t, a, "alice", RoleAdmin)
	if err := a.DisableUser(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	if _, err := a.Authenticate(ctx, "alice", goodPassword, "", now); !errors.Is(err, ErrDisabled) {
		t.Errorf("disabled, right password: %v, want ErrDisabled", err)
	}
	if _, err := a.Authenticate(ctx, "alice", "wrong password", "", now); err != ErrBadCredentials {
		t.Errorf("disabled, wrong password: %v, want ErrBadCredentials (a disabled account says so only to its password)", err)
	}
	if !getUser(t, a, "alice").Disabled {
		t.Error("GetUser: not Disabled")
	}
	if err := a.EnableUser(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Authenticate(ctx, "alice", goodPassword, "", now); err != nil {
		t.Errorf("enabled again: %v", err)
	}
}

func testAuthenticateBcrypt(t *testing.T, s Store) {
	ctx := context.Background()
	a, db := accts(t, s)
	addUser(t, a, "imported", RoleViewer)
	for _, prefix := range []string{"$2a$", "$2b$"} {
		h, err := bcrypt.GenerateFromPassword([]byte("imported password"), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		hash := prefix + string(h[4:])
		if _, err := db.exec(ctx, `UPDATE users SET password_hash = $2 WHERE login = $1`, "imported", hash); err != nil {
			t.Fatal(err)
		}
		now := time.Now()
		if _, err := a.Authenticate(ctx, "imported", "imported passworD", "", now); err != ErrBadCredentials {
			t.Errorf("%s: wrong password: %v", prefix, err)
		}
		if _, err := a.Authenticate(ctx, "imported", "imported password", "", now); err != nil {
			t.Fatalf("%s: right password: %v", prefix, err)
		}
		// The login replaced the bcrypt hash by argon2id.
		_, stored, _ := db.getUser(ctx, "imported")
		if !strings.HasPrefix(stored, "$argon2id$v=19$") {
			t.Errorf("%s: hash after login %q, want it upgraded to argon2id", prefix, stored)
		}
		if _, err := a.Authenticate(ctx, "imported", "imported password", "", now); err != nil {
			t.Errorf("%s: right password after the upgrade: %v", prefix, err)
		}
	}
}

func testAuthenticateConcurrentFailures(t *testing.T, s Store) {
	ctx := context.Background()
	a, _ := accts(t, s)
	addUser(t, a, "alice", RoleAdmin)
	now := time.Now()
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if _, err := a.Authenticate(ctx, "alice", "wrong password", "", now); err != ErrBadCredentials {
				t.Errorf("concurrent wrong password: %v", err)
			}
		})
	}
	wg.Wait()
	if u := getUser(t, a, "alice"); u.FailedCount != 8 {
		t.Errorf("FailedCount %d after 8 concurrent failures, want 8", u.FailedCount)
	}
	// Two more, concurrently: exactly the 10th locks.
	for range 2 {
		wg.Go(func() { a.Authenticate(ctx, "alice", "wrong password", "", now) })
	}
	wg.Wait()
	if u := getUser(t, a, "alice"); !u.Locked(now) {
		t.Errorf("not locked after 10 concurrent failures: %+v", u)
	}
}

func testSessions(t *testing.T, s Store) {
	ctx := context.Background()
	a, db := accts(t, s)
	addUser(t, a, "alice", RoleOperator, "example.jp")
	now := time.Now().UTC().Truncate(time.Microsecond)
	token, csrf, err := a.NewSession(ctx, "alice", "192.0.2.1", now, 0)
	if err != nil {
		t.Fatal(err)
	}
	token2, csrf2, err := a.NewSession(ctx, "alice", "192.0.2.2", now, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(token) != 43 || len(csrf) != 43 || token == token2 || csrf == csrf2 || token == csrf {
		t.Errorf("tokens %q %q, CSRF %q %q: want distinct 43-character base64url strings", token, token2, csrf, csrf2)
	}

	// Only the token's SHA-256 is stored.
	var hashes []string
	err = db.rows(ctx, `SELECT id_hash || ' ' || csrf || ' ' || login || ' ' || client_ip FROM sessions`, nil, func(r scanner) error {
		var row string
		err := r.Scan(&row)
		hashes = append(hashes, row)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(hashes) != 2 {
		t.Fatalf("%d session rows, want 2", len(hashes))
	}
	for _, row := range hashes {
		if strings.Contains(row, token) || strings.Contains(row, token2) {
			t.Errorf("a session row holds a token in clear: %q", row)
		}
	}
	keyed := 0
	for _, row := range hashes {
		if strings.HasPrefix(row, tokenHash(token)+" ") || strings.HasPrefix(row, tokenHash(token2)+" ") {
			keyed++
		}
	}
	if keyed != 2 {
		t.Errorf("session rows %q: want each keyed by its token's SHA-256", hashes)
	}

	at := now.Add(SessionIdle - time.Second)
	sess, err := a.Session(ctx, token, at)
	if err != nil {
		t.Fatalf("Session: %v", err)
	}
	if sess.Login != "alice" || sess.CSRF != csrf || sess.ClientIP != "192.0.2.1" || !sess.CreatedAt.Equal(now) ||
		!sess.ExpiresAt.Equal(now.Add(SessionMaxAge)) || sess.User == nil || sess.User.Role != RoleOperator {
		t.Errorf("Session = %+v", sess)
	}
	// Used just now, so alive for SessionIdle more; token2 was not used.
	at = at.Add(SessionIdle - time.Second)
	if _, err := a.Session(ctx, token, at); err != nil {
		t.Errorf("Session refreshed %v ago: %v", SessionIdle-time.Second, err)
	}
	if _, err := a.Session(ctx, token2, at); !errors.Is(err, ErrNoSession) {
		t.Errorf("Session idle for %v: %v, want ErrNoSession", at.Sub(now), err)
	}
	// A role change shows at the next request.
	if err := a.SetRole(ctx, "alice", RoleViewer); err != nil {
		t.Fatal(err)
	}
	if sess, err := a.Session(ctx, token, at); err != nil || sess.User.Role != RoleViewer {
		t.Errorf("Session after SetRole: %+v, %v", sess, err)
	}
	if err := a.EndSession(ctx, token); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Session(ctx, token, at); !errors.Is(err, ErrNoSession) {
		t.Errorf("Session after EndSession: %v, want ErrNoSession", err)
	}
	if err := a.EndSession(ctx, token); err != nil {
		t.Errorf("EndSession of an ended session: %v", err)
	}
	for _, bad := range []string{"", "x", csrf, tokenHash(token2), strings.Repeat("A", 1000)} {
		if _, err := a.Session(ctx, bad, at); !errors.Is(err, ErrNoSession) {
			t.Errorf("Session(%.20q): %v, want ErrNoSession", bad, err)
		}
	}
	if _, _, err := a.NewSession(ctx, "carol", "", now, 0); !errors.Is(err, ErrNoUser) {
		t.Errorf("NewSession of an unknown user: %v", err)
	}
}

func testSessionsAbsoluteExpiry(t *testing.T, s Store) {
	ctx := context.Background()
	a, _ := accts(t, s)
	addUser(t, a, "alice", RoleViewer)
	now := time.Now().UTC().Truncate(time.Microsecond)
	short, _, err := a.NewSession(ctx, "alice", "", now, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	long, _, err := a.NewSession(ctx, "alice", "", now, 100*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	// Used every 20 minutes, never idle: short ends at 1 h, long at
	// SessionMaxAge, not 100 h.
	for at := now.Add(20 * time.Minute); at.Before(now.Add(SessionMaxAge + time.Hour)); at = at.Add(20 * time.Minute) {
		_, errShort := a.Session(ctx, short, at)
		if wantLive := at.Before(now.Add(time.Hour)); (errShort == nil) != wantLive {
			t.Fatalf("1 h session at +%v: %v", at.Sub(now), errShort)
		}
		sess, errLong := a.Session(ctx, long, at)
		if wantLive := at.Before(now.Add(SessionMaxAge)); (errLong == nil) != wantLive {
			t.Fatalf("100 h session at +%v: %v (SessionMaxAge %v)", at.Sub(now), errLong, SessionMaxAge)
		}
		if errLong == nil && !sess.ExpiresAt.Equal(now.Add(SessionMaxAge)) {
			t.Fatalf("ExpiresAt %v, want %v", sess.ExpiresAt, now.Add(SessionMaxAge))
		}
	}
}

func testSessionsEndAll(t *testing.T, s Store) {
	ctx := context.Background()
	a, _ := accts(t, s)
	addUser(t, a, "alice", RoleAdmin)
	addUser(t, a, "bob", RoleViewer)
	now := time.Now()
	newSession := func(login string) string {
		t.Helper()
		tok, _, err := a.NewSession(ctx, login, "", now, 0)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	live := func(tok string) bool {
		_, err := a.Session(ctx, tok, now)
		return err == nil
	}
	a1, a2, b1 := newSession("alice"), newSession("alice"), newSession("bob")
	if err := a.SetPassword(ctx, "alice", "another good password"); err != nil {
		t.Fatal(err)
	}
	if live(a1) || live(a2) || !live(b1) {
		t.Errorf("after alice's SetPassword: alice's sessions live %v %v (want ended), bob's %v (want live)", live(a1), live(a2), live(b1))
	}
	if err := a.DisableUser(ctx, "bob"); err != nil {
		t.Fatal(err)
	}
	if live(b1) {
		t.Error("a disabled user's session is live")
	}
	if _, _, err := a.NewSession(ctx, "bob", "", now, 0); !errors.Is(err, ErrDisabled) {
		t.Errorf("NewSession of a disabled user: %v, want ErrDisabled", err)
	}
	if err := a.EnableUser(ctx, "bob"); err != nil {
		t.Fatal(err)
	}
	if live(b1) {
		t.Error("EnableUser revived an ended session")
	}
	a3, b2 := newSession("alice"), newSession("bob")
	if err := a.EndSessions(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	if live(a3) || !live(b2) {
		t.Errorf("after EndSessions(alice): alice live %v, bob live %v", live(a3), live(b2))
	}
	if err := a.DeleteUser(ctx, "bob"); err != nil {
		t.Fatal(err)
	}
	if live(b2) {
		t.Error("a deleted user's session is live")
	}
}

func TestRoleCan(t *testing.T) {
	for _, tc := range []struct {
		role                          Role
		read, release, delete, manage bool
	}{
		{RoleViewer, true, false, false, false},
		{RoleOperator, true, true, true, false},
		{RoleAdmin, true, true, true, true},
		{"", false, false, false, false},
		{"root", false, false, false, false},
	} {
		got := [4]bool{tc.role.Can(ActionRead), tc.role.Can(ActionRelease), tc.role.Can(ActionDelete), tc.role.Can(ActionManageUsers)}
		if want := [4]bool{tc.read, tc.release, tc.delete, tc.manage}; got != want {
			t.Errorf("%q: read, release, delete, users = %v, want %v", tc.role, got, want)
		}
		if tc.role.CanRelease() != tc.release || tc.role.CanManageUsers() != tc.manage {
			t.Errorf("%q: CanRelease %v CanManageUsers %v", tc.role, tc.role.CanRelease(), tc.role.CanManageUsers())
		}
	}
	if RoleAdmin.Can("format the disk") {
		t.Error("an unknown action is allowed")
	}
	if r, err := ParseRole(" Operator "); err != nil || r != RoleOperator {
		t.Errorf("ParseRole(Operator) = %q, %v", r, err)
	}
	if _, err := ParseRole("root"); !errors.Is(err, ErrBadAccount) {
		t.Errorf("ParseRole(root): %v", err)
	}
}

func TestInScope(t *testing.T) {
	all := &User{Login: "all"}
	jp := &User{Login: "jp", Domains: []string{"example.jp"}}
	subs := &User{Login: "subs", Domains: []string{".example.jp"}}
	both := &User{Login: "both", Domains: []string{".example.jp", "example.jp", "example.org"}}
	for _, tc := range []struct {
		u     *User
		rcpts []string
		want  bool
	}{
		{all, []string{"a@anything.example"}, true},
		{all, nil, true},
		{nil, []string{"a@example.jp"}, false},
		{jp, []string{"a@example.jp"}, true},
		{jp, []string{"A@EXAMPLE.JP", "<b@example.jp>", " c@example.jp. "}, true},
		{jp, []string{"a@mail.example.jp"}, false},
		{jp, []string{"a@badexample.jp"}, false},
		{jp, []string{"a@example.jp", "b@example.org"}, false}, // every recipient
		{jp, nil, false},
		{jp, []string{""}, false},
		{jp, []string{"example.jp"}, false}, // no domain part
		{subs, []string{"a@mail.example.jp"}, true},
		{subs, []string{"a@a.b.example.jp"}, true},
		{subs, []string{"a@example.jp"}, false},
		{subs, []string{"a@xexample.jp"}, false},
		{both, []string{"a@example.jp", "b@mx.example.jp", "c@example.org"}, true},
		{both, []string{"a@example.jp", "b@example.net"}, false},
	} {
		if got := InScope(tc.u, tc.rcpts); got != tc.want {
			login := "<nil>"
			if tc.u != nil {
				login = tc.u.Login
			}
			t.Errorf("InScope(%s, %q) = %v, want %v", login, tc.rcpts, got, tc.want)
		}
	}
}

func TestPasswordHash(t *testing.T) {
	// The production cost, once.
	h := hashPassword(goodPassword, defaultArgon)
	f := strings.Split(h, "$")
	if len(f) != 6 || f[1] != "argon2id" || f[2] != "v=19" || f[3] != "m=65536,t=2,p=2" || len(f[4]) != 22 || len(f[5]) != 43 {
		t.Errorf("hash %q, want $argon2id$v=19$m=65536,t=2,p=2$<16-byte salt>$<32-byte key>", h)
	}
	if ok, _, err := verifyPassword(h, goodPassword); !ok || err != nil {
		t.Errorf("verify right password: %v, %v", ok, err)
	}
	if ok, _, err := verifyPassword(h, goodPassword+" "); ok || err != nil {
		t.Errorf("verify wrong password: %v, %v", ok, err)
	}
	if h2 := hashPassword(goodPassword, defaultArgon); h2 == h {
		t.Error("two hashes of one password are equal: no salt")
	}
	// Only a hash at argonCost is not replaced at login.
	if _, rehash, _ := verifyPassword(h, goodPassword); !rehash {
		t.Error("a hash at another cost is not marked for rehashing")
	}
	if _, rehash, _ := verifyPassword(hashPassword(goodPassword, argonCost), goodPassword); rehash {
		t.Error("a hash at argonCost is marked for rehashing")
	}
	for _, bad := range []string{
		"", "plain", "$argon2i$v=19$m=65536,t=2,p=2$c2FsdHNhbHRzYWx0$a2V5a2V5a2V5a2V5a2V5a2V5",
		"$argon2id$v=16$m=65536,t=2,p=2$c2FsdHNhbHRzYWx0$a2V5a2V5a2V5a2V5a2V5a2V5",
		"$argon2id$v=19$m=4194304,t=2,p=2$c2FsdHNhbHRzYWx0$a2V5a2V5a2V5a2V5a2V5a2V5", // 4 GiB
		"$argon2id$v=19$m=65536,t=1000,p=2$c2FsdHNhbHRzYWx0$a2V5a2V5a2V5a2V5a2V5a2V5",
		"$argon2id$v=19$m=65536,t=2,p=0$c2FsdHNhbHRzYWx0$a2V5a2V5a2V5a2V5a2V5a2V5",
		"$argon2id$v=19$m=65536,t=2,x=2$c2FsdHNhbHRzYWx0$a2V5a2V5a2V5a2V5a2V5a2V5",
		"$argon2id$v=19$m=65536,t=2,p=2$!!$a2V5a2V5a2V5a2V5a2V5a2V5",
		"$argon2id$v=19$m=65536,t=2,p=2$c2FsdHNhbHRzYWx0$a2V5",
		"$2b$04$short",
	} {
		if ok, _, err := verifyPassword(bad, goodPassword); ok || err == nil {
			t.Errorf("verifyPassword(%q) = %v, %v; want an error", bad, ok, err)
		}
	}
}
