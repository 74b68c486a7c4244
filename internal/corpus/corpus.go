// Package corpus reads the labelled development corpus (shared/corpus:
// a .tgz of ham/ and spam/ message files) for benchmarks and accuracy
// runs. The project never needs it to build or pass its tests: callers
// skip when Path finds nothing.
package corpus

import (
	"archive/tar"
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
)

// Message is one corpus file.
type Message struct {
	Name string
	Spam bool
	Data []byte
}

// Path returns the corpus archive: $MAMORI_CORPUS, else
// ../shared/corpus/sa-dev-2002.tgz beside the repository; "" when absent,
// and always "" under the race detector (see underRace), so that the runs
// that use it skip there.
func Path() string {
	if underRace {
		return ""
	}
	if p := os.Getenv("MAMORI_CORPUS"); p != "" {
		return p
	}
	_, file, _, _ := runtime.Caller(0)
	p := filepath.Join(filepath.Dir(file), "..", "..", "..", "shared", "corpus", "sa-dev-2002.tgz")
	if _, err := os.Stat(p); err == nil {
		return p
	}
	return ""
}

// Load reads every message of the archive at path.
func Load(path string) ([]Message, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		return nil, fmt.Errorf("corpus: %w", err)
	}
	tr := tar.NewReader(gz)
	var out []Message
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("corpus: %w", err)
		}
		if h.Typeflag != tar.TypeReg {
			continue
		}
		name := strings.TrimPrefix(h.Name, "./")
		spam := strings.HasPrefix(name, "spam/") || strings.Contains(name, "/spam/")
		ham := strings.HasPrefix(name, "ham/") || strings.Contains(name, "/ham/")
		if !spam && !ham {
			continue
		}
		data, err := io.ReadAll(io.LimitReader(tr, 16<<20))
		if err != nil {
			return nil, fmt.Errorf("corpus: %s: %w", name, err)
		}
		out = append(out, Message{Name: name, Spam: spam, Data: data})
	}
}
