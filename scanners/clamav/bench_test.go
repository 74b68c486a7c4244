package clamav

import (
	"bytes"
	"context"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/baruwa-enterprise/clamd"
	"github.com/mamori-mail/mamori/integration/harness"
)

// Benchmarks against a real clamd with the harness's three test
// signatures, so they measure the transport and clamd's file handling
// rather than signature matching (the official database makes every scan
// slower by the same per-byte cost for any client).
//
//	go test -run '^$' -bench . -benchtime 3s ./scanners/clamav/

func randomBytes(n int) []byte {
	r := rand.New(rand.NewPCG(1, 2))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// BenchmarkScan100KB is scans per second of a 100 KB attachment, one at a
// time and eight at once.
func BenchmarkScan100KB(b *testing.B) {
	cd := harness.StartClamd(b, harness.ClamdOptions{MaxThreads: 16})
	data := randomBytes(100 << 10)
	for _, conc := range []int{1, 8} {
		b.Run("concurrency="+strconv.Itoa(conc), func(b *testing.B) {
			s, _ := newScanner(b, cd.Address(), Options{MaxConcurrent: conc})
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			var next atomic.Int64
			var wg sync.WaitGroup
			b.ResetTimer()
			start := time.Now()
			for range conc {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for next.Add(1) <= int64(b.N) {
						rep, err := s.Scan(context.Background(), bytes.NewReader(data), int64(len(data)))
						if err != nil || rep.Status != Clean {
							b.Errorf("%+v %v", rep, err)
							return
						}
					}
				}()
			}
			wg.Wait()
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "scans/s")
		})
	}
	// The same one at a time through the harness's minimal client (64 KiB
	// chunks), to separate the library's cost from clamd's.
	b.Run("64KiB-chunks", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		b.ReportAllocs()
		start := time.Now()
		for b.Loop() {
			if reply, err := harness.ClamdRequest("unix", cd.Socket, "INSTREAM", data, time.Minute); err != nil || reply != "stream: OK" {
				b.Fatalf("%q %v", reply, err)
			}
		}
		b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "scans/s")
	})
}

// BenchmarkScan10MB is throughput for one 10 MB part: through the
// library's ScanReader (1 KiB chunks, a flush and an allocation each),
// through Scanner (instream, 64 KiB chunks), and through the harness's
// minimal client, in one run.
func BenchmarkScan10MB(b *testing.B) {
	cd := harness.StartClamd(b, harness.ClamdOptions{})
	data := randomBytes(10 << 20)
	b.Run("library", func(b *testing.B) {
		cl, err := clamd.NewClient("unix", cd.Socket)
		if err != nil {
			b.Fatal(err)
		}
		b.SetBytes(int64(len(data)))
		b.ReportAllocs()
		for b.Loop() {
			if resp, err := cl.ScanReader(context.Background(), bytes.NewReader(data)); err != nil || len(resp) != 1 || resp[0].Status != "OK" {
				b.Fatalf("%v %v", resp, err)
			}
		}
	})
	b.Run("instream", func(b *testing.B) {
		s, _ := newScanner(b, cd.Address(), Options{})
		b.SetBytes(int64(len(data)))
		b.ReportAllocs()
		for b.Loop() {
			if rep, err := s.Scan(context.Background(), bytes.NewReader(data), int64(len(data))); err != nil || rep.Status != Clean {
				b.Fatalf("%+v %v", rep, err)
			}
		}
	})
	b.Run("64KiB-chunks", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		b.ReportAllocs()
		for b.Loop() {
			if reply, err := harness.ClamdRequest("unix", cd.Socket, "INSTREAM", data, time.Minute); err != nil || reply != "stream: OK" {
				b.Fatalf("%q %v", reply, err)
			}
		}
	})
}

// BenchmarkRunMessage is the whole check on a message with a 100 KB
// attachment: MIME walk, decode and one scan per part.
func BenchmarkRunMessage(b *testing.B) {
	cd := harness.StartClamd(b, harness.ClamdOptions{})
	c, _ := build(b, cd.Address(), "")
	raw := mimeMessage(textPart, part{ctype: "application/pdf", filename: "report.pdf", encoding: "base64", content: randomBytes(100 << 10)})
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		m := toMessage(b, raw)
		res, err := c.Run(context.Background(), m, 5)
		m.Done()
		if err != nil || len(res.Symbols) != 0 {
			b.Fatalf("%+v %v", res, err)
		}
	}
}
