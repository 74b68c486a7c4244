package daemon

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mamori-mail/mamori/internal/config"
	"github.com/mamori-mail/mamori/internal/corpus"
	"github.com/mamori-mail/mamori/internal/mailfile"
	"github.com/mamori-mail/mamori/internal/received"
	"github.com/mamori-mail/mamori/reputation/bayes"
	"github.com/mamori-mail/mamori/rules"
	"github.com/mamori-mail/mamori/rules/check"
	"github.com/mamori-mail/mamori/rules/tune"
)

// The accuracy runs judge the development corpus (shared/corpus, 2,500
// ham and 500 spam) through the whole pipeline with the embedded
// defaults, as `mamori serve` judges mail: the default rule set, meta
// rules, the classifier, the default thresholds. Each message is judged by
// a classifier trained on the nine other folds of a stratified 10-fold
// split, never on itself. They skip without the corpus and under -short.

type labelled struct {
	name string
	// group is "corpus" (the development corpus), or "commercial" and
	// "modern-spam" for the default rule set's own examples
	// (rules/defaults/testdata): legitimate commercial mail of today and
	// spam of today, which the 2002 corpus has none of; or "holdout", the
	// held-out legitimate commercial mail, kept out of the cross-validation.
	group string
	spam  bool
	data  []byte
	id    bayes.Hash
	toks  []bayes.Hash
	// client: its trace fields name the SMTP client (corpusRelays).
	client bool
}

var (
	accOnce sync.Once
	accMsgs []labelled
	accErr  error
)

func loadLabelled(t testing.TB) []labelled {
	t.Helper()
	if testing.Short() {
		t.Skip("accuracy run skipped under -short")
	}
	path := corpus.Path()
	if path == "" {
		t.Skip("corpus not found: set MAMORI_CORPUS to shared/corpus/sa-dev-2002.tgz")
	}
	accOnce.Do(func() {
		msgs, err := corpus.Load(path)
		if err != nil {
			accErr = err
			return
		}
		for i := range msgs {
			msgs[i].Name = "corpus/" + msgs[i].Name
		}
		root := filepath.Join("..", "..", "rules", "defaults", "testdata")
		for _, g := range []struct {
			dir  string
			spam bool
		}{{"commercial", false}, {"spam", true}} {
			files, _ := filepath.Glob(filepath.Join(root, g.dir, "*.eml"))
			if len(files) < 20 {
				accErr = fmt.Errorf("only %d examples in %s", len(files), filepath.Join(root, g.dir))
				return
			}
			for _, f := range files {
				data, err := os.ReadFile(f)
				if err != nil {
					accErr = err
					return
				}
				msgs = append(msgs, corpus.Message{Name: g.dir + "/" + filepath.Base(f), Spam: g.spam, Data: data})
			}
		}
		// The held-out commercial messages (rules/defaults/holdout) were
		// written by people who had not seen the rules, after the rules
		// and scores were done; no tuning or rule writing used them.
		hold, _ := filepath.Glob(filepath.Join("..", "..", "rules", "defaults", "holdout", "*.eml"))
		for _, f := range hold {
			data, err := os.ReadFile(f)
			if err != nil {
				accErr = err
				return
			}
			msgs = append(msgs, corpus.Message{Name: "holdout/" + filepath.Base(f), Data: data})
		}
		tz := &bayes.Tokenizer{}
		for _, c := range msgs {
			m, err := mailfile.Parse(bytes.NewReader(c.Data), accLimits)
			if err != nil {
				accErr = fmt.Errorf("%s: %w", c.Name, err)
				return
			}
			toks, err := tz.Tokenize(context.Background(), m)
			id, err2 := bayes.MessageKey(m)
			_, client := received.FromFields(m.Headers, corpusRelays)
			m.Done()
			if err != nil || err2 != nil {
				accErr = fmt.Errorf("%s: %v %v", c.Name, err, err2)
				return
			}
			group, _, _ := strings.Cut(c.Name, "/")
			if group == "spam" {
				group = "modern-spam"
			}
			accMsgs = append(accMsgs, labelled{name: c.Name, group: group, spam: c.Spam, data: c.Data, id: id, toks: bayes.TokenHashes(toks), client: client})
		}
		// Tar order is arbitrary; sort for reproducible folds.
		sort.Slice(accMsgs, func(i, j int) bool { return accMsgs[i].name < accMsgs[j].name })
	})
	if accErr != nil {
		t.Fatal(accErr)
	}
	return accMsgs
}

var accLimits = mailfile.Limits{MaxHeaders: 1000, MaxHeaderSize: 1 << 20, MaxMessageSize: 64 << 20, SpoolThreshold: 1 << 20}

// stratifiedFolds assigns each message one of k folds, each group's ham
// and spam spread evenly, with a fixed seed.
func stratifiedFolds(msgs []labelled, k int) []int {
	// MAMORI_FOLD_SEED deals the folds differently, to see how much a
	// figure owes to one deal (docs/rules.md, "Accuracy").
	seed := uint64(2002)
	if s := os.Getenv("MAMORI_FOLD_SEED"); s != "" {
		if n, err := strconv.ParseUint(s, 10, 64); err == nil {
			seed = n
		}
	}
	rng := rand.New(rand.NewPCG(seed, 10))
	fold := make([]int, len(msgs))
	for _, stratum := range []string{"corpus/false", "corpus/true", "commercial/false", "modern-spam/true"} {
		var idx []int
		for i, m := range msgs {
			if fmt.Sprintf("%s/%v", m.group, m.spam) == stratum {
				idx = append(idx, i)
			}
		}
		rng.Shuffle(len(idx), func(a, b int) { idx[a], idx[b] = idx[b], idx[a] })
		for j, i := range idx {
			fold[i] = j % k
		}
	}
	return fold
}

// trainBolt writes a token database learned from msgs into dir.
func trainBolt(t testing.TB, dir string, msgs []labelled) {
	t.Helper()
	db, err := bayes.OpenBolt(filepath.Join(dir, bayes.DefaultFile), bayes.BoltOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var batch []bayes.Learning
	for i, m := range msgs {
		class := bayes.Ham
		if m.spam {
			class = bayes.Spam
		}
		batch = append(batch, bayes.Learning{ID: m.id, Class: class, Tokens: m.toks})
		if len(batch) == 200 || i == len(msgs)-1 {
			if _, err := db.Learn(context.Background(), time.Unix(1_700_000_000, 0), batch); err != nil {
				t.Fatal(err)
			}
			batch = batch[:0]
		}
	}
}

// corpusRelays are the hosts of the sites that collected the corpus: the
// mail servers, forwarders and fetchmail hops that wrote the newest
// Received fields (SpamAssassin's trusted_networks for this corpus). The
// first field they wrote about another host names the SMTP client the
// site's milter would have seen; everything below it the sender could
// have written. Read from the corpus's trace fields, not from its labels.
var corpusRelays = []string{
	"localhost", "jalapeno", "phobos", "jmason.org", "zzzzason.org", ".spamassassin.taint.org",
	"spamassassin.taint.org", ".netnoteinc.com", "dogma.slashnull.org", "webnote.net", "mail.webnote.net",
	"lerami.lerctr.org",
}

// judgeData runs one message through f with a fixed envelope and the SMTP
// client as the receiving site's own Received field records it (none for
// messages without one: the examples, mail generated on the site).
func judgeData(t testing.TB, f *Filter, data []byte) rules.Verdict {
	t.Helper()
	m, err := mailfile.Parse(bytes.NewReader(data), accLimits)
	if err != nil {
		t.Fatal(err)
	}
	m.Sender = "sender@example.net"
	m.Recipients = []string{"user@example.org"}
	if c, ok := received.FromFields(m.Headers, corpusRelays); ok {
		c.Apply(m)
	}
	return f.CheckMessage(m)
}

// clientCounts counts the corpus messages of each class that have a
// client read from their trace fields.
func clientCounts(msgs []labelled) (ham, spam int) {
	for _, l := range msgs {
		switch {
		case l.group != "corpus" || !l.client:
		case l.spam:
			spam++
		default:
			ham++
		}
	}
	return ham, spam
}

func accPipeline(t testing.TB, yml, dataDir string) *Filter {
	t.Helper()
	cfg, err := config.Parse([]byte(yml))
	if err != nil {
		t.Fatal(err)
	}
	p, err := cfg.BuildReadOnly(dataDir, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return NewFilter(p, nil, time.Minute, nil)
}

type tally struct {
	name                          string
	spam, spamFlagged, spamReject int
	ham, hamFlagged, hamReject    int
	// hamRefused counts ham a check refused by policy (an attachment
	// type), apart from the score's rejections.
	hamRefused             int
	flaggedHam, missedSpam []string
}

func describe(m labelled, v rules.Verdict) string {
	var top []string
	for i, s := range v.Symbols {
		if i == 8 {
			break
		}
		top = append(top, fmt.Sprintf("%s(%s)", s.Name, formatFloat(s.Score)))
	}
	return fmt.Sprintf("%s %s score %s: %s", m.name, v.Action, formatFloat(v.Score), strings.Join(top, " "))
}

func (ty *tally) add(m labelled, v rules.Verdict) {
	flagged := v.Action >= check.ActAddHeader
	if m.spam {
		ty.spam++
		if flagged {
			ty.spamFlagged++
		} else {
			ty.missedSpam = append(ty.missedSpam, describe(m, v))
		}
		if v.Action == check.ActReject {
			ty.spamReject++
		}
		return
	}
	ty.ham++
	if flagged {
		ty.hamFlagged++
		ty.flaggedHam = append(ty.flaggedHam, describe(m, v))
	}
	switch {
	case v.Action == check.ActReject && v.Decider != "":
		ty.hamRefused++
	case v.Action == check.ActReject:
		ty.hamReject++
	}
}

func formatFloat(f float64) string {
	return strings.TrimRight(strings.TrimRight(fmt.Sprintf("%.2f", f), "0"), ".")
}

func (ty *tally) String() string {
	if ty.spam == 0 {
		return fmt.Sprintf("%-34s ham flagged %d/%d, ham rejected %d", ty.name, ty.hamFlagged, ty.ham, ty.hamReject+ty.hamRefused)
	}
	if ty.ham == 0 {
		return fmt.Sprintf("%-34s spam flagged %d/%d (%.1f%%), spam rejected %d", ty.name, ty.spamFlagged, ty.spam, 100*float64(ty.spamFlagged)/float64(ty.spam), ty.spamReject)
	}
	return fmt.Sprintf("%-34s spam flagged %d/%d (%.2f%%), spam rejected %d; ham flagged %d/%d (%.2f%%), ham rejected by score %d, refused by attachment policy %d",
		ty.name, ty.spamFlagged, ty.spam, 100*float64(ty.spamFlagged)/float64(ty.spam), ty.spamReject,
		ty.hamFlagged, ty.ham, 100*float64(ty.hamFlagged)/float64(ty.ham), ty.hamReject, ty.hamRefused)
}

// TestCorpusAccuracy is the 10-fold cross-validation of the default
// configuration, rules alone and rules plus classifier, at the scores
// that ship. Those scores were tuned on this corpus (rules/tune), so it
// also cross-validates the tuning itself, settings chosen and scores
// fitted on nine folds judging the tenth. The targets are the issue's,
// for that tuned cross-validation of the configuration that ships (rules
// plus classifier): at least 99% of spam flagged, at most 5 of 2,500 ham
// flagged, no ham rejected. MAMORI_FOLD_SEED deals the folds otherwise.
//
// MAMORI_TUNE=write refits the scores on the whole corpus and rewrites
// rules/defaults/95-scores.yaml.
func TestCorpusAccuracy(t *testing.T) {
	msgs, holdout := splitHoldout(loadLabelled(t))
	const k = 10
	fold := stratifiedFolds(msgs, k)
	rulesOnly := accPipeline(t, "checks: {bayes: {enabled: false}}", t.TempDir())
	alone, both := newReport("rules alone"), newReport("rules + classifier")
	aloneV, bothV := make([]rules.Verdict, len(msgs)), make([]rules.Verdict, len(msgs))
	for f := range k {
		var train []labelled
		for i, m := range msgs {
			if fold[i] != f {
				train = append(train, m)
			}
		}
		dir := t.TempDir()
		trainBolt(t, dir, train)
		full := accPipeline(t, "", dir)
		for i, m := range msgs {
			if fold[i] != f {
				continue
			}
			aloneV[i], bothV[i] = judgeData(t, rulesOnly, m.data), judgeData(t, full, m.data)
			alone.add(m, aloneV[i])
			both.add(m, bothV[i])
		}
	}
	ch, cs := clientCounts(msgs)
	t.Logf("SMTP client read from the collecting site's Received field: %d corpus ham, %d corpus spam", ch, cs)
	t.Log("at the scores that ship (the classifier cross-validated; the scores were fitted on all folds):")
	logTallies(t, alone, both)

	params := tunables(t, rulesOnly.Pipeline())
	samplesAlone, samplesBoth := toSamples(msgs, aloneV, params), toSamples(msgs, bothV, params)
	talone, tboth := newReport("rules alone"), newReport("rules + classifier")
	for f := range k {
		// Nested: the tuning's settings are chosen by a cross-validation
		// of its own over the nine folds, as MAMORI_TUNE=write chooses
		// them over all ten; the tenth fold plays no part in either.
		var train []tune.Sample
		var inner []int
		for i := range msgs {
			if fold[i] != f {
				train = append(train, samplesBoth[i].Sample)
				inner = append(inner, fold[i]-btoi(fold[i] > f))
			}
		}
		o, _ := tune.Select(train, inner, k-1, params, tune.Grid, hamWeight)
		t.Logf("fold %d: tuning with a ham costing %v spam, margin %v", f, o.HamCost, o.Margin)
		w := tune.Fit(train, params, o)
		for i, m := range msgs {
			if fold[i] == f {
				talone.add(m, samplesAlone[i].verdict(w))
				tboth.add(m, samplesBoth[i].verdict(w))
			}
		}
	}
	t.Log("scores tuned on nine folds, judging the tenth:")
	logTallies(t, talone, tboth)
	// The target is 99% of spam flagged with at most 5 ham; the
	// test pins what the default set achieves (a floor against
	// regressions, below every deal of the folds measured) and says
	// whether this deal meets the target. Other deals: docs/rules.md,
	// "Accuracy".
	c, com := tboth.groups["corpus"], tboth.groups["commercial"]
	if c.spamFlagged*100 >= c.spam*99 && c.hamFlagged <= 5 {
		t.Log("target met by this deal of the folds: at least 99% of spam flagged, at most 5 of 2,500 ham")
	} else {
		t.Log("target not met by this deal of the folds: want at least 99% of spam flagged with at most 5 of 2,500 ham")
	}
	if c.spamFlagged*100 < c.spam*98 || c.hamFlagged > 5 || c.hamReject > 0 || talone.groups["corpus"].hamReject > 0 {
		t.Errorf("below the floor (98%% of spam, at most 5 ham flagged, no ham rejected by score): %v", c)
	}
	if com.hamFlagged > 3 || com.hamReject > 0 || talone.groups["commercial"].hamFlagged > 0 {
		t.Errorf("legitimate commercial mail flagged: %v; %v", com, talone.groups["commercial"])
	}
	// The held-out messages are judged as a site would judge them after
	// learning everything else: the classifier trained on all of the
	// above, the scores that ship.
	dir := t.TempDir()
	trainBolt(t, dir, msgs)
	full := accPipeline(t, "", dir)
	held := newReport("rules + classifier")
	for _, m := range holdout {
		v := judgeData(t, full, m.data)
		held.add(m, v)
		t.Logf("  held out: %s", describe(m, v))
	}
	h := held.groups["holdout"]
	t.Log(h)
	if h.hamFlagged > 0 {
		t.Errorf("held-out legitimate commercial mail flagged: %v", h)
	}
	if os.Getenv("MAMORI_TUNE") == "write" {
		all := make([]tune.Sample, len(msgs))
		for i := range msgs {
			all[i] = samplesBoth[i].Sample
		}
		o, _ := tune.Select(all, fold, k, params, tune.Grid, hamWeight)
		writeScores(t, tune.Fit(all, params, o), o, params, samplesBoth)
	}
}

// splitHoldout separates the held-out messages from the rest.
func splitHoldout(all []labelled) (rest, holdout []labelled) {
	for _, m := range all {
		if m.group == "holdout" {
			holdout = append(holdout, m)
		} else {
			rest = append(rest, m)
		}
	}
	return rest, holdout
}

// report holds one configuration's tallies, by group.
type report struct {
	name   string
	groups map[string]*tally
}

func newReport(name string) *report {
	r := &report{name: name, groups: map[string]*tally{}}
	for _, g := range []string{"corpus", "commercial", "modern-spam", "holdout"} {
		r.groups[g] = &tally{name: name + ", " + g}
	}
	return r
}

func (r *report) add(m labelled, v rules.Verdict) { r.groups[m.group].add(m, v) }

func logTallies(t *testing.T, reports ...*report) {
	t.Helper()
	var tallies []*tally
	for _, r := range reports {
		tallies = append(tallies, r.groups["corpus"], r.groups["commercial"], r.groups["modern-spam"])
	}
	for _, ty := range tallies {
		t.Log(ty)
		for _, h := range ty.flaggedHam {
			t.Log("  ham flagged:", h)
		}
		if testing.Verbose() && os.Getenv("MAMORI_ACCURACY_MISSED") != "" {
			for _, h := range ty.missedSpam {
				t.Log("  spam missed:", h)
			}
		}
	}
}

// hamWeight is what a flagged ham costs, in missed spam, when the tuning's
// settings are chosen (tune.Select): the λ = 9 of Androutsopoulos et al.
// (2000), the middle of the three costs (1, 9, 999) the spam-filtering
// literature weighs a false positive by.
const hamWeight = 9

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// tunables are the scores tuning may move: every rule and meta rule of
// the default set, and the classifier's bands. Each starts from (and is
// pulled towards) the score its author wrote, never the tuned one.
func tunables(t *testing.T, p *rules.Pipeline) []tune.Param {
	t.Helper()
	var out []tune.Param
	add := func(name string, prior float64) {
		lo, hi := tune.Bounds(prior)
		out = append(out, tune.Param{Name: name, Prior: prior, Lo: lo, Hi: hi})
	}
	for _, r := range config.RuleSet(p).Rules {
		add(r.Name, r.Score)
	}
	for _, b := range bayes.DefaultBands {
		add(b.Symbol, b.Score)
		// The classifier never flags a message on its own: it knows only
		// the mail it was taught, and a genre it has not seen (the
		// newsletters of 2026, to a classifier taught 2002's mailing
		// lists) can look like spam to it. A rule must agree.
		p := &out[len(out)-1]
		p.Hi = min(p.Hi, 4)
	}
	return out
}

// sample is a judged message as tuning sees it: the symbols it got, the
// score of the symbols tuning does not move, and any check's decision.
type sample struct {
	tune.Sample
	decision check.Action // a check's own decision (an attachment refused), or ActNone
	syms     []check.Symbol
}

func toSamples(msgs []labelled, vs []rules.Verdict, params []tune.Param) []sample {
	tunable := map[string]bool{}
	for _, p := range params {
		tunable[p.Name] = true
	}
	out := make([]sample, len(msgs))
	for i, v := range vs {
		s := sample{Sample: tune.Sample{Spam: msgs[i].spam}, syms: v.Symbols}
		for _, sym := range v.Symbols {
			if tunable[sym.Name] {
				s.Symbols = append(s.Symbols, sym.Name)
			} else {
				s.Fixed += sym.Score
			}
		}
		if v.Decider != "" {
			s.decision = v.Action
			s.Decided = v.Action >= check.ActAddHeader
		}
		out[i] = s
	}
	return out
}

// verdict judges s under scores with the default thresholds (5, 15).
func (s sample) verdict(scores map[string]float64) rules.Verdict {
	v := rules.Verdict{Score: tune.Score(s.Sample, scores), Action: check.ActAccept}
	switch {
	case v.Score >= 15:
		v.Action = check.ActReject
	case v.Score >= 5:
		v.Action = check.ActAddHeader
	}
	if s.decision > v.Action {
		v.Action, v.Decider = s.decision, "check"
	}
	for _, sym := range s.syms {
		if w, ok := scores[sym.Name]; ok {
			sym.Score = w
		}
		v.Symbols = append(v.Symbols, sym)
	}
	sort.SliceStable(v.Symbols, func(i, j int) bool { return math.Abs(v.Symbols[i].Score) > math.Abs(v.Symbols[j].Score) })
	return v
}

// writeScores writes the fitted scores, with each rule's hits, for the
// default set to load after the rule files.
func writeScores(t *testing.T, w map[string]float64, o tune.Options, params []tune.Param, samples []sample) {
	t.Helper()
	hits := map[string][2]int{}
	spam, ham := 0, 0
	for _, s := range samples {
		if s.Spam {
			spam++
		} else {
			ham++
		}
		for _, n := range s.Symbols {
			h := hits[n]
			if s.Spam {
				h[0]++
			} else {
				h[1]++
			}
			hits[n] = h
		}
	}
	var b strings.Builder
	b.WriteString(`# Scores of the default rule set, tuned on the development corpus (the
# SpamAssassin public corpus of 2002: 2,500 ham, 500 spam) by rules/tune:
#
#   MAMORI_TUNE=write go test ./internal/daemon -run TestCorpusAccuracy
#
# Generated; do not edit. Each rule keeps the score its author wrote in its
# own file (the prior the tuning starts from and is pulled towards); this
# file, loaded after them, sets the tuned one. To change a score, write it
# under scores: in your own rules directory, which loads after this file.
# Rules that fired on no corpus message keep their authors' scores and are
# not listed. The comment after each score: author's score, and the hits
# on spam and ham.
`)
	fmt.Fprintf(&b, "#\n# Tuning settings chosen by 10-fold cross-validation (tune.Select, a ham\n# flagged costing %v spam missed): a ham costs %v spam in the fit, margin %v.\nscores:\n", hamWeight, o.HamCost, o.Margin)
	for _, p := range params {
		h := hits[p.Name]
		if h == [2]int{} {
			continue
		}
		fmt.Fprintf(&b, "  %s: %s # was %s; spam %d/%d, ham %d/%d\n", p.Name, formatFloat(w[p.Name]), formatFloat(p.Prior), h[0], spam, h[1], ham)
	}
	if err := os.WriteFile(filepath.Join("..", "..", "rules", "defaults", "95-scores.yaml"), []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Log("wrote rules/defaults/95-scores.yaml")
}

// TestExamplesOutOfTheBox judges the default rule set's own examples
// with the embedded defaults as they ship, the classifier not yet trained
// (it stays silent until it has learned 200 of each): no legitimate
// commercial message may be flagged.
func TestExamplesOutOfTheBox(t *testing.T) {
	msgs := loadLabelled(t)
	f := accPipeline(t, "", t.TempDir())
	r := newReport("rules alone, out of the box")
	for _, m := range msgs {
		if m.group != "corpus" {
			v := judgeData(t, f, m.data)
			r.add(m, v)
			if !m.spam && v.Action >= check.ActAddHeader {
				t.Errorf("%s", describe(m, v))
			}
		}
	}
	t.Log(r.groups["commercial"])
	t.Log(r.groups["modern-spam"])
	t.Log(r.groups["holdout"])
}
