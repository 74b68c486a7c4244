package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/mamori-mail/mamori/internal/config"
	"github.com/mamori-mail/mamori/rules/check"
)

var readmeSections = []string{"## Name", "## Description", "## Configuration", "## Examples", "## Metrics", "## Failure modes"}

var yamlBlock = regexp.MustCompile("(?s)```yaml\n(.*?)```")

// TestCheckREADMEs enforces the operator page of every check family: the
// fixed sections, in order, and examples that load as configuration.
func TestCheckREADMEs(t *testing.T) {
	dirs, _ := filepath.Glob("../../reputation/*/check.go")
	more, _ := filepath.Glob("../../scanners/*/check.go")
	dirs = append(dirs, more...)
	if len(dirs) == 0 {
		t.Fatal("no check families found")
	}
	for _, f := range dirs {
		dir := filepath.Dir(f)
		t.Run(filepath.Base(dir), func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join(dir, "README.md"))
			if err != nil {
				t.Fatalf("check family without README.md: %v", err)
			}
			text := string(data)
			pos := -1
			for _, s := range readmeSections {
				i := strings.Index(text, s+"\n")
				if i < 0 || i < pos {
					t.Fatalf("README lacks %q (or it is out of order); sections are %v", s, readmeSections)
				}
				pos = i
			}
			ex := text[strings.Index(text, "## Examples"):strings.Index(text, "## Metrics")]
			blocks := yamlBlock.FindAllStringSubmatch(ex, -1)
			if len(blocks) == 0 {
				t.Fatal("Examples has no yaml block")
			}
			for _, b := range blocks {
				cfg, err := config.Parse([]byte(b[1]))
				if err != nil {
					t.Fatalf("example does not load:\n%s\n%v", b[1], err)
				}
				p, err := cfg.Build(t.TempDir(), nil)
				if err != nil {
					t.Fatalf("example does not build: %v", err)
				}
				p.Close()
			}
		})
	}
	for _, r := range check.Registered() {
		if _, err := os.Stat(filepath.Join("..", "..", "reputation", r.Name, "README.md")); err != nil {
			if _, err2 := os.Stat(filepath.Join("..", "..", "scanners", r.Name, "README.md")); err2 != nil {
				t.Errorf("registered check %q has no README under reputation/ or scanners/", r.Name)
			}
		}
	}
}
