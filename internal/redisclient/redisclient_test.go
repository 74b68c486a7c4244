package redisclient

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
		want []string // substrings; none means valid
	}{
		{"standalone", Config{Addrs: []string{"127.0.0.1:6379"}}, nil},
		{"sentinel by master_name", Config{Addrs: []string{"a:26379", "b:26379"}, MasterName: "m"}, nil},
		{"cluster", Config{Mode: Cluster, Addrs: []string{"a:7000"}}, nil},
		{"no address", Config{}, []string{"addrs: is required"}},
		{"bad address", Config{Addrs: []string{"redis.example"}}, []string{`"redis.example" is not host:port`}},
		{"two standalone", Config{Addrs: []string{"a:1", "b:1"}}, []string{"standalone mode takes one address"}},
		{"sentinel without name", Config{Mode: Sentinel, Addrs: []string{"a:1"}}, []string{"master_name: is required"}},
		{"name outside sentinel", Config{Mode: Cluster, Addrs: []string{"a:1"}, MasterName: "m"}, []string{"only for sentinel"}},
		{"cluster db", Config{Mode: Cluster, Addrs: []string{"a:1"}, DB: 3}, []string{"only database 0"}},
		{"mode", Config{Mode: "ring", Addrs: []string{"a:1"}}, []string{`"ring" is not a mode`}},
		{"both passwords", Config{Addrs: []string{"a:1"}, Password: "x", PasswordFile: "/f"}, []string{"not both"}},
		{"ca without tls", Config{Addrs: []string{"a:1"}, TLSCAFile: "/ca"}, []string{"need tls: true"}},
		{"negative", Config{Addrs: []string{"a:1"}, DB: -1, PoolSize: -2}, []string{"db: must not be negative", "pool_size: must not be negative"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate(nil, "redis")
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q: %v", w, err)
				}
			}
		})
	}
}

func TestOptions(t *testing.T) {
	dir := t.TempDir()
	pw := filepath.Join(dir, "pw")
	os.WriteFile(pw, []byte("s3cret\r\nignored\n"), 0o600)
	c := Config{Addrs: []string{"127.0.0.1:1"}, PasswordFile: pw, DB: 2}
	o, err := c.Options()
	if err != nil {
		t.Fatal(err)
	}
	if o.Password != "s3cret" || o.DB != 2 || !o.ContextTimeoutEnabled || o.MaxRetries != -1 || o.DialerRetries != 1 || o.IsClusterMode || o.MasterName != "" {
		t.Fatalf("options %+v", o)
	}
	if _, ok := redis.NewUniversalClient(o).(*redis.Client); !ok {
		t.Error("standalone config does not make a plain client")
	}
	s := Config{Addrs: []string{"a:26379"}, MasterName: "m"}
	if o, _ := s.Options(); o.MasterName != "m" {
		t.Errorf("sentinel: %+v", o)
	}
	cl := Config{Mode: Cluster, Addrs: []string{"a:7000"}}
	if o, _ := cl.Options(); !o.IsClusterMode {
		t.Errorf("cluster: %+v", o)
	} else if _, ok := redis.NewUniversalClient(o).(*redis.ClusterClient); !ok {
		t.Error("cluster config with one seed address does not make a cluster client")
	}
	if _, err := (&Config{Addrs: []string{"a:1"}, PasswordFile: filepath.Join(dir, "missing")}).Options(); err == nil {
		t.Error("missing password_file accepted")
	}
	ca := filepath.Join(dir, "ca.pem")
	os.WriteFile(ca, []byte("not a certificate"), 0o644)
	if _, err := (&Config{Addrs: []string{"a:1"}, TLS: true, TLSCAFile: ca}).Options(); err == nil || !strings.Contains(err.Error(), "no PEM certificate") {
		t.Errorf("bad CA file: %v", err)
	}
	if p := (&Config{}).Prefix(); p != DefaultKeyPrefix {
		t.Errorf("default prefix %q", p)
	}
	empty := ""
	if p := (&Config{KeyPrefix: &empty}).Prefix(); p != "" {
		t.Errorf("empty prefix %q", p)
	}
}

// TestNewDoesNoIO: building a client for an address where nothing can
// answer returns at once; go-redis dials on first use.
func TestNewDoesNoIO(t *testing.T) {
	t0 := time.Now()
	c, err := New(&Config{Addrs: []string{"192.0.2.1:6379"}})
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	if d := time.Since(t0); d > 100*time.Millisecond {
		t.Fatalf("New took %s", d)
	}
}
