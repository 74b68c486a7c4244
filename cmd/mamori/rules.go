package main

import (
	"flag"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/mamori-mail/mamori/internal/config"
	"github.com/mamori-mail/mamori/internal/daemon"
	"github.com/mamori-mail/mamori/internal/mailfile"
	"github.com/mamori-mail/mamori/rules"
	"github.com/mamori-mail/mamori/rules/defaults"
	"github.com/mamori-mail/mamori/rules/rulefile"
)

const rulesUsage = `Usage: mamori rules lint [flags] [DIR]
       mamori rules test [flags] [DIR]

lint  compiles the rule set as the daemon would load it (the embedded
      default set, then DIR, or the configuration's rules.dir) and reports
      every error as file:line: rules[i] NAME.field: problem, then warnings
      (scores for symbols nothing reports, default rules replaced).
test  runs every rule's examples: each "match" message must fire the rule
      and each "no_match" message must not, judged through every check as
      mamori check judges it.

Exit status: 0 clean (lint) or every example passed (test); 1 errors or
failed examples; 2 bad flags or a configuration that does not load.

Examples:
  mamori rules lint /etc/mamori/rules.d
  mamori rules test --config /etc/mamori/mamori.yaml
  mamori rules lint --no-defaults ./my-rules

Flags:
`

func cmdRules(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || (args[0] != "lint" && args[0] != "test") {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
			fmt.Fprint(stdout, rulesUsage)
			return exitOK
		}
		fmt.Fprint(stderr, rulesUsage)
		return exitUsage
	}
	sub := args[0]
	fset := flag.NewFlagSet("rules "+sub, flag.ContinueOnError)
	fset.SetOutput(stderr)
	var o daemon.Options
	commonFlags(fset, &o)
	noDefaults := fset.Bool("no-defaults", false, "leave out the embedded default rule set (as rules.defaults: false)")
	verbose := fset.Bool("v", false, "test: print every example, not only failures")
	fset.Usage = func() {
		fmt.Fprint(stderr, rulesUsage)
		fset.PrintDefaults()
	}
	if err := fset.Parse(args[1:]); err != nil {
		return exitUsage
	}
	if fset.NArg() > 1 {
		fmt.Fprintln(stderr, "mamori rules: name at most one DIR (see mamori rules -h)")
		return exitUsage
	}
	cfg, err := daemon.LoadConfig(o)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return exitUsage
	}
	if fset.NArg() == 1 {
		cfg.Rules.Dir = fset.Arg(0)
		if st, err := os.Stat(cfg.Rules.Dir); err != nil || !st.IsDir() {
			fmt.Fprintf(stderr, "mamori rules: %s is not a directory\n", cfg.Rules.Dir)
			return exitUsage
		}
	}
	if *noDefaults {
		f := false
		cfg.Rules.Defaults = &f
	}
	p, err := cfg.BuildReadOnly(daemon.DataDir(o.DataDir, cfg.DataDir), nil)
	if err != nil {
		fmt.Fprintln(stderr, err)
		if sub == "lint" {
			return exitFailure
		}
		return exitUsage
	}
	defer p.Close()
	if sub == "lint" {
		return lint(cfg, p, stdout)
	}
	return runExamples(cfg, p, stdout, stderr, *verbose)
}

func lint(cfg *config.Config, p *rules.Pipeline, stdout io.Writer) int {
	set := config.RuleSet(p)
	known := config.KnownSymbols(p)
	var warnings []string
	for _, name := range slices.Sorted(maps.Keys(set.Scores)) {
		if _, ok := slices.BinarySearch(known, name); !ok {
			warnings = append(warnings, fmt.Sprintf("scores: %s: no check or rule reports this symbol (a typo, or a check that is not configured)", name))
		}
	}
	for _, name := range slices.Sorted(maps.Keys(cfg.Scores)) {
		if _, ok := slices.BinarySearch(known, name); !ok {
			warnings = append(warnings, fmt.Sprintf("%s: scores: %s: no check or rule reports this symbol", orDefault(cfg.File, "configuration"), name))
		}
	}
	for _, r := range set.Replaced {
		warnings = append(warnings, "replaces the default rule "+r)
	}
	for _, r := range set.Rules {
		if r.Pattern != nil && !r.Prefiltered() && (r.Kind == rulefile.KindBody || r.Kind == rulefile.KindRawBody || r.Kind == rulefile.KindHeader && r.Header == "ALL") {
			warnings = append(warnings, fmt.Sprintf("%s:%d: %s: the pattern has no literal of 3 or more characters that every match contains, so it runs over every message's text (slow); add one if you can", r.File, r.Line, r.Name))
		}
	}
	if cfg.Rules.Dir != "" {
		srcs, _ := rulefile.ReadDir(cfg.Rules.Dir) // read once already: the build would have failed
		for _, src := range srcs {
			if len(src.Data) == 0 {
				warnings = append(warnings, src.Name+": empty: it adds no rules, and the watcher takes an empty file for one being written until it has stayed empty for a second; delete it, or write a comment in it, to make the intent plain")
			}
		}
	}
	for _, w := range warnings {
		fmt.Fprintln(stdout, "warning:", w)
	}
	var kinds []string
	for _, k := range slices.Sorted(maps.Keys(p.Rules.Kinds)) {
		kinds = append(kinds, fmt.Sprintf("%d %s", p.Rules.Kinds[k], k))
	}
	th := p.Policy.Thresholds
	fmt.Fprintf(stdout, "ok: %d rules (%s) from %d files, version %s; thresholds add_header %s, quarantine %s, reject %s; %d recipient-domain policies\n",
		len(set.Rules), strings.Join(kinds, ", "), len(set.Files), set.Version,
		threshold(th.AddHeader), threshold(th.Quarantine), threshold(th.Reject), len(p.Policy.Domains))
	return exitOK
}

func threshold(v float64) string {
	if v == 0 {
		return "off"
	}
	return trimFloat(v)
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

// runExamples judges each example message through the whole pipeline,
// so that a meta rule over other checks' symbols is tested as it runs.
func runExamples(cfg *config.Config, p *rules.Pipeline, stdout, stderr io.Writer, verbose bool) int {
	set := config.RuleSet(p)
	f := daemon.NewFilter(p, nil, cfg.Limits.MessageTimeout.D(), nil)
	lim := cfg.Limits.MailLimits()
	verdicts := map[string]map[string]bool{} // example file → symbols
	total, failed := 0, 0
	for _, r := range set.Rules {
		for _, ex := range []struct {
			files []string
			want  bool
		}{{r.Examples.Match, true}, {r.Examples.NoMatch, false}} {
			for _, file := range ex.files {
				total++
				where := exampleName(r, file)
				syms, ok := verdicts[where]
				if !ok {
					var err error
					if syms, err = judgeExample(f, r, file, lim); err != nil {
						failed++
						fmt.Fprintf(stdout, "FAIL %s: %s: %v\n", r.Name, where, err)
						continue
					}
					verdicts[where] = syms
				}
				word := map[bool]string{true: "match", false: "no_match"}[ex.want]
				if syms[r.Name] != ex.want {
					failed++
					var fired []string
					for s := range syms {
						fired = append(fired, s)
					}
					sort.Strings(fired)
					fmt.Fprintf(stdout, "FAIL %s: %s: %s example (%s:%d); the message has %s\n", r.Name, where, word, r.File, r.Line, orDefault(strings.Join(fired, " "), "no symbols"))
				} else if verbose {
					fmt.Fprintf(stdout, "ok   %s: %s: %s\n", r.Name, where, word)
				}
			}
		}
	}
	fmt.Fprintf(stdout, "%d examples, %d failed (rule set %s)\n", total, failed, set.Version)
	if failed > 0 {
		return exitFailure
	}
	if total == 0 {
		fmt.Fprintln(stderr, "mamori rules test: no rule has examples (add examples: {match: [...], no_match: [...]} to a rule)")
	}
	return exitOK
}

// exampleName is where an example file is: relative to its rule file.
func exampleName(r *rulefile.Rule, file string) string {
	if r.Base {
		return path.Join(path.Dir(r.File), file)
	}
	return filepath.Join(filepath.Dir(r.File), file)
}

func judgeExample(f *daemon.Filter, r *rulefile.Rule, file string, lim mailfile.Limits) (map[string]bool, error) {
	var (
		rd  io.ReadCloser
		err error
	)
	if r.Base {
		rd, err = defaults.FS().Open(path.Join(path.Dir(strings.TrimPrefix(r.File, defaults.Prefix)), file))
	} else {
		rd, err = os.Open(filepath.Join(filepath.Dir(r.File), file))
	}
	if err != nil {
		if r.Base {
			err = fmt.Errorf("%w (embedded default set)", fs.ErrNotExist)
		}
		return nil, err
	}
	defer rd.Close()
	res := judge(f, exampleName(r, file), rd, envelope{host: "unknown"}, lim)
	if res.Error != "" {
		return nil, fmt.Errorf("%s", res.Error)
	}
	out := map[string]bool{}
	for _, s := range res.Symbols {
		out[s.Name] = true
	}
	return out, nil
}
