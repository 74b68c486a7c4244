package clamav_test

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/mamori-mail/mamori/scanners/clamav"
)

func ExampleParseAddress() {
	for _, a := range []string{"unix:/run/clamav/clamd.ctl", "tcp:127.0.0.1:3310", "/var/run/clamav/clamd.ctl"} {
		network, address, err := clamav.ParseAddress(a)
		fmt.Println(network, address, err)
	}
	// Output:
	// unix /run/clamav/clamd.ctl <nil>
	// tcp 127.0.0.1:3310 <nil>
	// unix /var/run/clamav/clamd.ctl <nil>
}

// A Scanner on its own, outside the check: scan a file through Debian's
// clamd.
func ExampleScanner() {
	s := clamav.New(clamav.Options{Network: "unix", Address: "/run/clamav/clamd.ctl", ScanTimeout: time.Minute})
	defer s.Close()
	f, err := os.Open("attachment.bin")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer f.Close()
	st, _ := f.Stat()
	rep, err := s.Scan(context.Background(), f, st.Size())
	switch {
	case err != nil:
		fmt.Println("could not scan:", err) // clamd down: try again later
	case rep.Status == clamav.Infected:
		fmt.Println("infected:", rep.Signatures)
	case rep.Status == clamav.Unscanned:
		fmt.Println("not scanned:", rep.Reason)
	default:
		fmt.Println("clean")
	}
}
