package spool

import (
	"bytes"
	"io"
	"os"
	"testing"
)

func TestSpool(t *testing.T) {
	for _, tc := range []struct {
		name      string
		threshold int64
		chunks    int
		onDisk    bool
	}{
		{"memory", 1 << 20, 3, false},
		{"spills", 100, 3, true},
		{"exact threshold stays in memory", 3 * 64, 3, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			s := New(tc.threshold, dir)
			var want bytes.Buffer
			for i := 0; i < tc.chunks; i++ {
				chunk := bytes.Repeat([]byte{byte('a' + i)}, 64)
				want.Write(chunk)
				if _, err := s.Write(chunk); err != nil {
					t.Fatal(err)
				}
			}
			if s.OnDisk() != tc.onDisk {
				t.Fatalf("OnDisk = %v, want %v", s.OnDisk(), tc.onDisk)
			}
			got, err := io.ReadAll(io.NewSectionReader(s, 0, s.Size()))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want.Bytes()) {
				t.Fatalf("read back %q, want %q", got, want.Bytes())
			}
			p := make([]byte, 10)
			if n, err := s.ReadAt(p, s.Size()-5); n != 5 || err != io.EOF {
				t.Fatalf("short ReadAt at end = %d, %v; want 5, EOF", n, err)
			}
			// The spill file is unlinked at once: nothing may stay in dir.
			if ents, _ := os.ReadDir(dir); len(ents) != 0 {
				t.Fatalf("spool left %d files in its directory", len(ents))
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			if _, err := s.ReadAt(p, 0); err != ErrClosed {
				t.Fatalf("ReadAt after Close = %v, want ErrClosed", err)
			}
			if _, err := s.Write(p); err != ErrClosed {
				t.Fatalf("Write after Close = %v, want ErrClosed", err)
			}
		})
	}
}

// TestSpoolChunkBoundaries writes in odd sizes across the memory chunks and
// reads back at every kind of offset.
func TestSpoolChunkBoundaries(t *testing.T) {
	s := New(1<<20, t.TempDir())
	defer s.Close()
	var want []byte
	for i := 0; len(want) < 3*chunkSize+123; i++ {
		p := bytes.Repeat([]byte{byte(i)}, 1+i*97%5000)
		want = append(want, p...)
		if _, err := s.Write(p); err != nil {
			t.Fatal(err)
		}
	}
	for _, off := range []int64{0, 1, chunkSize - 1, chunkSize, chunkSize + 1, 2*chunkSize - 3, int64(len(want)) - 1} {
		for _, n := range []int{1, 7, chunkSize, 2*chunkSize + 5} {
			p := make([]byte, n)
			k, err := s.ReadAt(p, off)
			end := min(int(off)+n, len(want))
			if !bytes.Equal(p[:k], want[off:end]) || k != end-int(off) || (end < int(off)+n) != (err == io.EOF) {
				t.Fatalf("ReadAt(%d bytes at %d) = %d, %v", n, off, k, err)
			}
		}
	}
}
