package defaults

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/mamori-mail/mamori/internal/corpus"
	"github.com/mamori-mail/mamori/internal/mailfile"
	"github.com/mamori-mail/mamori/rules/check"
	"github.com/mamori-mail/mamori/rules/expr"
	"github.com/mamori-mail/mamori/rules/rulefile"
)

// The default thresholds the scores are set against.
const (
	addHeader = 5.0
	reject    = 15.0
)

// checkSymbols are the symbols of other checks that meta rules may read.
var checkSymbols = []string{
	"BAYES_SPAM", "BAYES_SPAM_99", "BAYES_HAM", "BAYES_HAM_99",
	"SPF_PASS", "SPF_FAIL", "SPF_SOFTFAIL", "SPF_NEUTRAL", "SPF_NONE", "SPF_PERMERROR", "SPF_TEMPERROR",
	"DKIM_PASS", "DKIM_FAIL", "DKIM_NONE", "DKIM_PERMERROR", "DKIM_TEMPERROR",
	"DMARC_PASS", "DMARC_FAIL_REJECT", "DMARC_FAIL_QUARANTINE", "DMARC_FAIL_NONE", "DMARC_NONE",
}

// evaluator scores a message with the default rules alone, as the engine
// would with no other check reporting: every rule's score, then the meta
// rules in dependency order.
type evaluator struct {
	set   *rulefile.Set
	tab   *expr.Table
	metas []meta // in evaluation order
}

type meta struct {
	rule *rulefile.Rule
	prog *expr.Program
	slot int
}

// hit is one symbol a message got.
type hit struct {
	name  string
	score float64
}

func newEvaluator(t testing.TB) *evaluator {
	t.Helper()
	set, err := rulefile.Compile(Sources())
	if err != nil {
		t.Fatalf("compile: %v", err)
	}
	names := make([]string, 0, len(set.Rules)+len(checkSymbols))
	for _, r := range set.Rules {
		names = append(names, r.Name)
	}
	names = append(names, checkSymbols...)
	tab := expr.NewTable(names...)
	byName := map[string]meta{}
	deps := map[string][]string{}
	var errs []string
	for _, r := range set.ByKind(rulefile.KindMeta) {
		p, err := expr.Compile(r.Meta, tab)
		if err != nil {
			errs = append(errs, fmt.Sprintf("%s:%d: %s: %v", r.File, r.Line, r.Name, err))
			continue
		}
		slot, _ := tab.Slot(r.Name)
		byName[r.Name] = meta{rule: r, prog: p, slot: slot}
		deps[r.Name] = p.Deps()
	}
	if len(errs) > 0 {
		t.Fatalf("meta rules:\n%s", strings.Join(errs, "\n"))
	}
	order, err := expr.Order(deps)
	if err != nil {
		t.Fatalf("meta rules: %v", err)
	}
	e := &evaluator{set: set, tab: tab}
	for _, n := range order {
		e.metas = append(e.metas, byName[n])
	}
	return e
}

func (e *evaluator) score(name string, def float64) float64 {
	if v, ok := e.set.Scores[name]; ok {
		return v
	}
	return def
}

// eval returns the message's total and its symbols, highest score first.
func (e *evaluator) eval(in *rulefile.Input) (float64, []hit) {
	present := make([]bool, e.tab.Len())
	scores := make([]float64, e.tab.Len())
	var hits []hit
	for _, h := range e.set.Match(in) {
		s, _ := e.tab.Slot(h.Rule.Name)
		present[s] = true
		scores[s] = e.score(h.Rule.Name, h.Rule.Score)
		hits = append(hits, hit{h.Rule.Name, scores[s]})
	}
	for _, m := range e.metas {
		if m.prog.Eval(present, scores) {
			present[m.slot] = true
			scores[m.slot] = e.score(m.rule.Name, m.rule.Score)
			hits = append(hits, hit{m.rule.Name, scores[m.slot]})
		}
	}
	total := 0.0
	for _, h := range hits {
		total += h.score
	}
	sort.SliceStable(hits, func(i, j int) bool { return hits[i].score > hits[j].score })
	return total, hits
}

func symbols(hs []hit) string {
	var b strings.Builder
	for i, h := range hs {
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%s(%g)", h.name, h.score)
	}
	return b.String()
}

func has(hs []hit, name string) bool {
	for _, h := range hs {
		if h.name == name {
			return true
		}
	}
	return false
}

var limits = mailfile.Limits{MaxHeaders: 1000, MaxHeaderSize: 1 << 20, MaxMessageSize: 1 << 25, SpoolThreshold: 1 << 22}

// prepare reads one message file into what the rules see. A leading mbox
// "From " line is skipped by mailfile.
func prepare(data []byte) (*rulefile.Input, error) {
	m, err := mailfile.Parse(bytes.NewReader(data), limits)
	if err != nil {
		return nil, err
	}
	defer m.Done()
	return rulefile.Prepare(context.Background(), m, check.ContentLimits{}, rulefile.Limits{})
}

func TestCompiles(t *testing.T) {
	e := newEvaluator(t) // compiles every file and every meta rule, and orders them
	if len(e.set.Rules) == 0 {
		t.Fatal("no rules")
	}
	counts := map[string]int{}
	for _, r := range e.set.Rules {
		counts[r.Kind.String()]++
		if strings.TrimSpace(r.Description) == "" {
			t.Errorf("%s:%d: %s has no description", r.File, r.Line, r.Name)
		}
		if !strings.HasPrefix(r.File, Prefix) {
			t.Errorf("%s: file name lacks the %q prefix", r.File, Prefix)
		}
	}
	t.Logf("%d rules in %d files: %v", len(e.set.Rules), len(e.set.Files), counts)
	for _, s := range checkSymbols {
		for _, r := range e.set.Rules {
			if r.Name == s {
				t.Errorf("rule %s takes the name of a check's symbol", s)
			}
		}
	}
}

func readFS(t testing.TB, name string) []byte {
	t.Helper()
	data, err := fs.ReadFile(FS(), name)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// exampleInputs caches prepared example messages by path.
type exampleInputs struct {
	mu sync.Mutex
	m  map[string]*rulefile.Input
}

func (c *exampleInputs) get(t testing.TB, name string) *rulefile.Input {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	if in, ok := c.m[name]; ok {
		return in
	}
	in, err := prepare(readFS(t, name))
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if c.m == nil {
		c.m = map[string]*rulefile.Input{}
	}
	c.m[name] = in
	return in
}

func TestExamples(t *testing.T) {
	e := newEvaluator(t)
	var cache exampleInputs
	n := 0
	for _, r := range e.set.Rules {
		ex := r.Examples
		if len(ex.Match)+len(ex.NoMatch) == 0 {
			continue
		}
		n++
		dir := path.Dir(strings.TrimPrefix(r.File, Prefix))
		t.Run(r.Name, func(t *testing.T) {
			for _, want := range []bool{true, false} {
				list := ex.Match
				if !want {
					list = ex.NoMatch
				}
				for _, f := range list {
					_, hs := e.eval(cache.get(t, path.Join(dir, f)))
					if got := has(hs, r.Name); got != want {
						t.Errorf("%s:%d: %s on %s: fired %v, want %v (symbols: %s)", r.File, r.Line, r.Name, f, got, want, symbols(hs))
					}
				}
			}
		})
	}
	t.Logf("%d of %d rules have examples", n, len(e.set.Rules))
}

// dirMessages returns the .eml files of a testdata directory.
func dirMessages(t *testing.T, dir string) []string {
	t.Helper()
	names, err := fs.Glob(FS(), path.Join("testdata", dir, "*.eml"))
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(names)
	return names
}

func TestCommercialNotFlagged(t *testing.T) {
	e := newEvaluator(t)
	names := dirMessages(t, "commercial")
	if len(names) < 40 {
		t.Errorf("%d commercial examples, want at least 40", len(names))
	}
	for _, n := range names {
		in, err := prepare(readFS(t, n))
		if err != nil {
			t.Fatalf("%s: %v", n, err)
		}
		total, hs := e.eval(in)
		if total >= addHeader {
			t.Errorf("%s scores %.2f: %s", n, total, symbols(hs))
		} else if testing.Verbose() && total > 0 {
			t.Logf("%s %.2f: %s", path.Base(n), total, symbols(hs))
		}
	}
}

// TestHoldoutNotFlagged judges the held-out legitimate commercial
// messages (holdout/, not embedded): written by people who had not seen
// the rules, after the rules and their scores were done, and used for
// nothing else, so they measure how the set generalises. None may reach
// the add_header threshold.
func TestHoldoutNotFlagged(t *testing.T) {
	e := newEvaluator(t)
	names, err := filepath.Glob(filepath.Join("holdout", "*.eml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(names) < 25 {
		t.Fatalf("%d held-out examples, want at least 25", len(names))
	}
	worst := 0.0
	for _, n := range names {
		data, err := os.ReadFile(n)
		if err != nil {
			t.Fatal(err)
		}
		in, err := prepare(data)
		if err != nil {
			t.Fatalf("%s: %v", n, err)
		}
		total, hs := e.eval(in)
		worst = max(worst, total)
		if total >= addHeader {
			t.Errorf("%s scores %.2f: %s", n, total, symbols(hs))
		} else if testing.Verbose() && total > 0 {
			t.Logf("%s %.2f: %s", filepath.Base(n), total, symbols(hs))
		}
	}
	t.Logf("%d held-out commercial messages, highest score %.2f", len(names), worst)
}

func TestSpamExamples(t *testing.T) {
	e := newEvaluator(t)
	names := dirMessages(t, "spam")
	if len(names) < 25 {
		t.Errorf("%d spam examples, want at least 25", len(names))
	}
	flagged := 0
	for _, n := range names {
		in, err := prepare(readFS(t, n))
		if err != nil {
			t.Fatalf("%s: %v", n, err)
		}
		total, hs := e.eval(in)
		mark := " "
		if total >= addHeader {
			flagged++
			mark = "*"
		}
		t.Logf("%s %-40s %6.2f %s", mark, path.Base(n), total, symbols(hs))
	}
	t.Logf("spam examples at %g or more: %d of %d", addHeader, flagged, len(names))
	if len(names) > 0 && float64(flagged) < 0.6*float64(len(names)) {
		t.Errorf("only %d of %d spam examples reach %g", flagged, len(names), addHeader)
	}
}

// corpusResult is one corpus message's outcome.
type corpusResult struct {
	name  string
	spam  bool
	total float64
	hits  []hit
	err   error
}

func TestCorpusHits(t *testing.T) {
	p := corpus.Path()
	if p == "" {
		t.Skip("no corpus (set MAMORI_CORPUS or put sa-dev-2002.tgz in ../shared/corpus)")
	}
	msgs, err := corpus.Load(p)
	if err != nil {
		t.Fatal(err)
	}
	e := newEvaluator(t)
	res := make([]corpusResult, len(msgs))
	var wg sync.WaitGroup
	next := make(chan int)
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				m := msgs[i]
				r := corpusResult{name: m.Name, spam: m.Spam}
				in, err := prepare(m.Data)
				if err != nil {
					r.err = err
				} else {
					r.total, r.hits = e.eval(in)
				}
				res[i] = r
			}
		}()
	}
	for i := range msgs {
		next <- i
	}
	close(next)
	wg.Wait()

	type counts struct{ ham, spam int }
	perRule := map[string]*counts{}
	var nHam, nSpam, ham5, ham15, spam5, spam15, failed int
	var flaggedHam []corpusResult
	for _, r := range res {
		if r.err != nil {
			failed++
			t.Logf("%s: %v", r.name, r.err)
			continue
		}
		if r.spam {
			nSpam++
		} else {
			nHam++
		}
		for _, h := range r.hits {
			c := perRule[h.name]
			if c == nil {
				c = &counts{}
				perRule[h.name] = c
			}
			if r.spam {
				c.spam++
			} else {
				c.ham++
			}
		}
		switch {
		case r.spam && r.total >= reject:
			spam15++
			spam5++
		case r.spam && r.total >= addHeader:
			spam5++
		case !r.spam && r.total >= reject:
			ham15++
			ham5++
			flaggedHam = append(flaggedHam, r)
		case !r.spam && r.total >= addHeader:
			ham5++
			flaggedHam = append(flaggedHam, r)
		}
	}

	var names []string
	for _, r := range e.set.Rules {
		names = append(names, r.Name)
	}
	sort.SliceStable(names, func(i, j int) bool {
		a, b := perRule[names[i]], perRule[names[j]]
		if a == nil || b == nil {
			return b == nil && a != nil
		}
		if a.spam != b.spam {
			return a.spam > b.spam
		}
		return a.ham < b.ham
	})
	var b strings.Builder
	fmt.Fprintf(&b, "per-rule hits (spam of %d, ham of %d):\n", nSpam, nHam)
	for _, n := range names {
		c := perRule[n]
		if c == nil {
			c = &counts{}
		}
		fmt.Fprintf(&b, "  %-28s spam %4d  ham %4d\n", n, c.spam, c.ham)
	}
	t.Log(b.String())
	for _, r := range flaggedHam {
		t.Logf("ham %s %.2f: %s", r.name, r.total, symbols(r.hits))
	}
	t.Logf("rules alone: spam >= %g: %d of %d (%.1f%%), >= %g: %d; ham >= %g: %d of %d (%.2f%%), >= %g: %d; unreadable: %d",
		addHeader, spam5, nSpam, pct(spam5, nSpam), reject, spam15, addHeader, ham5, nHam, pct(ham5, nHam), reject, ham15, failed)
	if ham15 > 0 {
		t.Errorf("%d ham messages reach %g", ham15, reject)
	}
	if float64(ham5) > 0.01*float64(nHam) {
		t.Errorf("%d ham messages (%.2f%%) reach %g, more than 1%%", ham5, pct(ham5, nHam), addHeader)
	}
}

func pct(n, of int) float64 {
	if of == 0 {
		return 0
	}
	return 100 * float64(n) / float64(of)
}

// TestRecipientsManyOrgsExemptions checks MIX_RCPTS_MANY_ORGS on a new
// message to four outside organisations, and its exemptions: a meeting
// invitation, a reply, a list post.
func TestRecipientsManyOrgsExemptions(t *testing.T) {
	e := newEvaluator(t)
	const head = "From: Chair <chair@x.example>\r\nTo: a@one.example, b@two.example, c@three.example, d@four.example\r\nSubject: Steering group\r\n"
	for _, tc := range []struct {
		name, msg string
		want      bool
	}{
		{"a new message", head + "\r\nHello all.\r\n", true},
		{"a meeting invitation", head + "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nPlease join.\r\n" +
			"--b\r\nContent-Type: text/calendar; method=REQUEST; charset=utf-8\r\n\r\nBEGIN:VCALENDAR\r\nMETHOD:REQUEST\r\nEND:VCALENDAR\r\n--b--\r\n", false},
		{"a reply", head + "In-Reply-To: <1@x.example>\r\n\r\nAgreed.\r\n", false},
		{"a list post", head + "List-Id: <steering.x.example>\r\n\r\nHello all.\r\n", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in, err := prepare([]byte(tc.msg))
			if err != nil {
				t.Fatal(err)
			}
			_, hs := e.eval(in)
			if got := has(hs, "MIX_RCPTS_MANY_ORGS"); got != tc.want {
				t.Errorf("MIX_RCPTS_MANY_ORGS %v, want %v: %s", got, tc.want, symbols(hs))
			}
		})
	}
}

// TestUnsubscribeTextLanguages: the unsubscribe helper reads the usual
// wording of the languages bulk mail comes in, so that
// MIX_OPTOUT_WITHOUT_HEADER is not an English and Japanese test only, and
// not words that merely look alike.
func TestUnsubscribeTextLanguages(t *testing.T) {
	e := newEvaluator(t)
	for _, tc := range []struct {
		text string
		want bool
	}{
		{"Solltest Du an unserem Newsletter kein Interesse\r\nmehr haben, dann trage Dich bitte aus unter: http://x.example/n", true},
		{"Newsletter abbestellen: http://x.example/n", true},
		{"Pour vous désabonner, cliquez ici.", true},
		{"Si no desea recibir más correos, puede darse de baja aquí.", true},
		{"Para cancelar a inscrição, descadastre-se aqui.", true},
		{"Per disiscriverti clicca qui.", true},
		{"Wilt u zich afmelden voor onze nieuwsbrief? Klik hier.", true},
		{"如需退订，请回复此邮件。", true},
		{"수신거부를 원하시면 클릭하세요.", true},
		// Look-alikes that are not unsubscribing.
		{"Bitte melden Sie sich bis Freitag an. Der Wettbewerb wird im Mai ausgetragen.", false},
		{"Nous avons bien reçu votre inscription au séminaire.", false},
		{"La reunión se celebrará el lunes; los detalles están abajo.", false},
		// A review's look-alikes: holding a tournament, delivering
		// papers, signing up, writing an invoice, leaving a meeting,
		// logging out, ending a contract.
		{"Wir werden das Turnier im Mai austragen.", false},
		{"Suche Schüler zum Zeitungen austragen, zwei Stunden pro Woche.", false},
		{"Bitte tragen Sie sich in die Liste ein, die Teilnehmer kommen aus ganz Deutschland.", false},
		{"Kunnen jullie de factuur uitschrijven voor vrijdag?", false},
		{"Ik moet me afmelden voor de vergadering van morgen.", false},
		{"Klicken Sie auf Abmelden, um die Sitzung zu beenden.", false},
		{"Hay que dar de baja el contrato del teléfono antes del lunes.", false},
	} {
		msg := "From: a@x.example\r\nSubject: news\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n" + tc.text + "\r\n"
		in, err := prepare([]byte(msg))
		if err != nil {
			t.Fatal(err)
		}
		_, hs := e.eval(in)
		if got := has(hs, "CTX_UNSUBSCRIBE_TEXT"); got != tc.want {
			t.Errorf("%q: CTX_UNSUBSCRIBE_TEXT %v, want %v", tc.text, got, tc.want)
		}
	}
}
