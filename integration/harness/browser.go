package harness

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// ChromiumPath is Debian's chromium, which the browser tests drive.
const ChromiumPath = "/usr/bin/chromium"

// Browser starts a headless Chromium (Debian's, driven over the DevTools
// protocol by chromedp; nothing is downloaded) for the test and returns its
// context, or skips the test when chromium is not installed, unless
// MAMORI_REQUIRE_INTEGRATION is set. The browser ends with the test.
func Browser(t testing.TB) context.Context {
	t.Helper()
	if _, err := os.Stat(ChromiumPath); err != nil {
		if os.Getenv("MAMORI_REQUIRE_INTEGRATION") != "" {
			t.Fatalf("MAMORI_REQUIRE_INTEGRATION is set but %s is missing: apt-get install chromium", ChromiumPath)
		}
		t.Skipf("browser test skipped: %s not found (apt-get install chromium; set MAMORI_REQUIRE_INTEGRATION=1 to make this a failure)", ChromiumPath)
	}
	dir, err := os.MkdirTemp("", "mamori-chromium-")
	if err != nil {
		t.Fatal(err)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(ChromiumPath),
		chromedp.Headless,
		chromedp.DisableGPU,
		chromedp.UserDataDir(dir),
	)
	if os.Geteuid() == 0 {
		opts = append(opts, chromedp.NoSandbox) // Chromium refuses its sandbox as root
	}
	// The whole browser lives under this deadline.
	parent, cancelParent := context.WithTimeout(context.Background(), 2*time.Minute)
	alloc, cancelAlloc := chromedp.NewExecAllocator(parent, opts...)
	ctx, cancelCtx := chromedp.NewContext(alloc)
	t.Cleanup(func() {
		cancelCtx()
		cancelAlloc()
		cancelParent()
		os.RemoveAll(dir) // Chromium may still be writing; best effort
	})
	return ctx
}
