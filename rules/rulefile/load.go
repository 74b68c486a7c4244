package rulefile

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/mamori-mail/mamori/rules/check"
	"gopkg.in/yaml.v3"
)

// Set is every rule of a rule directory, compiled.
type Set struct {
	Rules []*Rule
	// Scores override the score of any symbol, other checks' included
	// (SPF_FAIL: 2), as the files' scores sections say.
	Scores map[string]float64
	// LocalScores are the scores set by files other than the base set's
	// (the operator's own): they override the configuration file's
	// scores section, which in turn overrides the base set's.
	LocalScores map[string]float64
	// Thresholds are the score thresholds the files set; a nil field is
	// left to the configuration file.
	Thresholds Thresholds
	// Policies are thresholds for mail to particular recipient domains.
	Policies []*Policy
	// Replaced lists the rules of the base set (the embedded defaults)
	// that a later file redefined, as "NAME (file:line)".
	Replaced []string
	// Version is a hash of the files' contents, for the metric and the
	// audit record.
	Version string
	Files   []string
	// LocalSum is Sum of the operator's files (the sources not marked
	// Base) exactly as compiled, for a reload to check that it compiled
	// the state it meant to.
	LocalSum string

	byKind [KindMeta + 1][]*Rule
}

// ByKind returns the rules of one kind, in file order.
func (s *Set) ByKind(k Kind) []*Rule { return s.byKind[k] }

// Thresholds map a score to an action; a nil field is not set here, a
// zero one turns the action off.
type Thresholds struct {
	AddHeader  *float64 `yaml:"add_header"`
	Quarantine *float64 `yaml:"quarantine"`
	Reject     *float64 `yaml:"reject"`
}

// Over returns t with the fields o sets replaced.
func (t Thresholds) Over(o Thresholds) Thresholds {
	if o.AddHeader != nil {
		t.AddHeader = o.AddHeader
	}
	if o.Quarantine != nil {
		t.Quarantine = o.Quarantine
	}
	if o.Reject != nil {
		t.Reject = o.Reject
	}
	return t
}

// Policy is the thresholds for mail to some recipient domains.
type Policy struct {
	Name string `yaml:"name"`
	// Domains are recipient domains; ".example.jp" means every subdomain
	// of example.jp (not example.jp itself).
	Domains    []string   `yaml:"recipient_domains"`
	Thresholds Thresholds `yaml:"thresholds"`
	File       string     `yaml:"-"`
	Line       int        `yaml:"-"`
}

// fileDoc is one rule file.
type fileDoc struct {
	Rules      []yaml.Node        `yaml:"rules"`
	Scores     map[string]float64 `yaml:"scores"`
	Thresholds Thresholds         `yaml:"thresholds"`
	Policies   []yaml.Node        `yaml:"policies"`
}

// ruleDoc is a rule as written. Exactly one of Header, Body, RawBody, URI,
// Attachment, AttachmentType, Builtin and Meta is set.
type ruleDoc struct {
	Name           string   `yaml:"name"`
	Description    string   `yaml:"description"`
	Score          *float64 `yaml:"score"`
	Header         string   `yaml:"header"`
	Match          string   `yaml:"match"`
	Exists         bool     `yaml:"exists"`
	Negate         bool     `yaml:"negate"`
	Body           string   `yaml:"body"`
	RawBody        string   `yaml:"rawbody"`
	URI            string   `yaml:"uri"`
	Attachment     string   `yaml:"attachment"`
	AttachmentType string   `yaml:"attachment_type"`
	Builtin        string   `yaml:"builtin"`
	Meta           string   `yaml:"meta"`
	Examples       Examples `yaml:"examples"`
}

var nameRE = regexp.MustCompile(`^[A-Z][A-Z0-9_]{0,63}$`)

// maxPattern bounds a pattern's length; RE2 keeps matching linear, this
// keeps compiled programs small.
const maxPattern = 4096

// Load reads every *.yaml and *.yml file of dir, in name order, and
// compiles them into one Set. Every problem of every file is reported,
// each as a check.ConfigError carrying the file and line.
func Load(dir string) (*Set, error) {
	srcs, err := ReadDir(dir)
	if err != nil {
		return nil, err
	}
	return Compile(srcs)
}

// ReadDir reads the rule files of dir (*.yaml and *.yml, in name order).
// A directory without any is not an error: it adds no rules.
func ReadDir(dir string) ([]Source, error) {
	if _, err := os.Stat(dir); err != nil {
		return nil, fmt.Errorf("rules directory: %w", err)
	}
	var files []string
	for _, pat := range []string{"*.yaml", "*.yml"} {
		m, err := filepath.Glob(filepath.Join(dir, pat))
		if err != nil {
			return nil, err
		}
		for _, f := range m {
			// Hidden files are an editor's or a file manager's, not rules:
			// Emacs's lock link .#50-local.yaml, macOS's ._50-local.yaml.
			if !strings.HasPrefix(filepath.Base(f), ".") {
				files = append(files, f)
			}
		}
	}
	sort.Strings(files)
	srcs := make([]Source, 0, len(files))
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		srcs = append(srcs, Source{Name: f, Data: data})
	}
	return srcs, nil
}

// Source is one rule file's name and content.
type Source struct {
	Name string
	Data []byte
	// Base marks the embedded default set: a later file may redefine one
	// of its rules by name (the new definition replaces it), where two
	// definitions in the operator's own files are an error.
	Base bool
}

// Sum hashes sources' names and contents: equal sums, equal files.
func Sum(srcs []Source) string {
	h := sha256.New()
	for _, src := range srcs {
		h.Write([]byte(src.Name))
		h.Write([]byte{0})
		h.Write(src.Data)
		h.Write([]byte{0})
	}
	return string(h.Sum(nil))
}

// Compile compiles rule files given as sources (Load reads them from a
// directory; the default set is embedded).
func Compile(srcs []Source) (*Set, error) {
	s := &Set{Scores: map[string]float64{}, LocalScores: map[string]float64{}}
	var local []Source
	for _, src := range srcs {
		if !src.Base {
			local = append(local, src)
		}
	}
	s.LocalSum = Sum(local)
	h := sha256.New()
	var errs []error
	seen := map[string]*Rule{}
	policies := map[string]*Policy{}
	for _, src := range srcs {
		s.Files = append(s.Files, src.Name)
		h.Write([]byte(src.Name))
		h.Write([]byte{0})
		h.Write(src.Data)
		errs = append(errs, s.compileFile(src, seen, policies)...)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	// Replaced base rules left holes; rebuild the lists in file order.
	kept := s.Rules[:0]
	for _, r := range s.Rules {
		if seen[r.Name] == r {
			kept = append(kept, r)
		}
	}
	s.Rules = kept
	s.byKind = [KindMeta + 1][]*Rule{}
	for _, r := range s.Rules {
		s.byKind[r.Kind] = append(s.byKind[r.Kind], r)
	}
	s.Version = hex.EncodeToString(h.Sum(nil))[:12]
	return s, nil
}

// Rule returns the rule called name, or nil.
func (s *Set) Rule(name string) *Rule {
	for _, r := range s.Rules {
		if r.Name == name {
			return r
		}
	}
	return nil
}

func (s *Set) compileFile(src Source, seen map[string]*Rule, policies map[string]*Policy) []error {
	var doc yaml.Node
	if err := yaml.Unmarshal(src.Data, &doc); err != nil {
		ce := check.LineError(err.Error(), "")
		ce.File = src.Name
		return []error{ce}
	}
	if len(doc.Content) == 0 {
		return nil
	}
	root := doc.Content[0]
	// Rules are decoded one by one, so that an unknown key in one rule
	// does not hide the problems of the others.
	var fd fileDoc
	if err := check.DecodeStrict(root, &fd, ""); err != nil {
		return []error{check.InFile(err, src.Name)}
	}
	var errs []error
	bad := func(n *yaml.Node, path, format string, args ...any) {
		errs = append(errs, check.InFile(check.Errorf(n, path, format, args...), src.Name))
	}
	for name, v := range fd.Scores {
		if !nameRE.MatchString(name) {
			bad(check.Field(check.Field(root, "scores"), name), "scores."+name, "%q is not a symbol name (upper-case letters, digits, _)", name)
			continue
		}
		s.Scores[name] = v
		if !src.Base {
			s.LocalScores[name] = v
		}
	}
	if th := fd.Thresholds; th != (Thresholds{}) {
		for key, v := range map[string]*float64{"add_header": th.AddHeader, "quarantine": th.Quarantine, "reject": th.Reject} {
			if v != nil && *v < 0 {
				bad(check.Field(check.Field(root, "thresholds"), key), "thresholds."+key, "must be 0 (off) or more")
			}
		}
		s.Thresholds = s.Thresholds.Over(th)
	}
	for i := range fd.Policies {
		errs = append(errs, s.compilePolicy(src, &fd.Policies[i], i, policies)...)
	}
	for i := range fd.Rules {
		n := &fd.Rules[i]
		path := fmt.Sprintf("rules[%d]", i)
		var rd ruleDoc
		if err := check.DecodeStrict(n, &rd, path); err != nil {
			errs = append(errs, check.InFile(err, src.Name))
			continue
		}
		if rd.Name != "" {
			path += " " + rd.Name
		}
		r, problems := rd.compile(n)
		for _, p := range problems {
			bad(p.node, path+p.field, "%s", p.msg)
		}
		if len(problems) > 0 {
			continue
		}
		r.File, r.Line, r.Base = src.Name, n.Line, src.Base
		if prev, dup := seen[r.Name]; dup {
			if !prev.Base || src.Base {
				bad(check.Field(n, "name"), path, "rule %s is defined twice (first at %s:%d)", r.Name, prev.File, prev.Line)
				continue
			}
			s.Replaced = append(s.Replaced, fmt.Sprintf("%s (%s:%d)", r.Name, r.File, r.Line))
			// The base set's score for the rule it replaced (the tuned
			// one) does not carry over: the operator's rule comes with
			// its own, unless an operator's scores section names it.
			if _, local := s.LocalScores[r.Name]; !local {
				delete(s.Scores, r.Name)
			}
		}
		seen[r.Name] = r
		s.Rules = append(s.Rules, r)
	}
	return errs
}

func (s *Set) compilePolicy(src Source, n *yaml.Node, i int, policies map[string]*Policy) []error {
	path := fmt.Sprintf("policies[%d]", i)
	var p Policy
	if err := check.DecodeStrict(n, &p, path); err != nil {
		return []error{check.InFile(err, src.Name)}
	}
	p.File, p.Line = src.Name, n.Line
	var errs []error
	bad := func(key, format string, args ...any) {
		node := check.Field(n, key)
		if node == nil {
			node = n
		}
		errs = append(errs, check.InFile(check.Errorf(node, path+"."+key, format, args...), src.Name))
	}
	if p.Name == "" {
		bad("name", "is required (it names the policy in logs and the audit record)")
	} else if prev, dup := policies[p.Name]; dup {
		bad("name", "policy %s is defined twice (first at %s:%d)", p.Name, prev.File, prev.Line)
	}
	if len(p.Domains) == 0 {
		bad("recipient_domains", "list at least one domain (example.jp, or .example.jp for its subdomains)")
	}
	for j, d := range p.Domains {
		d = strings.ToLower(strings.TrimSpace(d))
		if strings.TrimPrefix(d, ".") == "" || strings.ContainsAny(d, "@ \t/") {
			bad("recipient_domains", "entry %d: %q is not a domain", j, p.Domains[j])
		}
		p.Domains[j] = d
	}
	if p.Thresholds == (Thresholds{}) {
		bad("thresholds", "set at least one of add_header, quarantine, reject")
	}
	if len(errs) == 0 {
		policies[p.Name] = &p
		s.Policies = append(s.Policies, &p)
	}
	return errs
}

type problem struct {
	node  *yaml.Node
	field string
	msg   string
}

func (rd *ruleDoc) compile(n *yaml.Node) (*Rule, []problem) {
	var ps []problem
	bad := func(key, format string, args ...any) {
		node := check.Field(n, key)
		if node == nil {
			node = n
		}
		field := ""
		if key != "" {
			field = "." + key
		}
		ps = append(ps, problem{node, field, fmt.Sprintf(format, args...)})
	}
	r := &Rule{Name: rd.Name, Description: rd.Description, Header: normalizeHeader(rd.Header), Exists: rd.Exists, Negate: rd.Negate, Examples: rd.Examples}
	if !nameRE.MatchString(rd.Name) {
		bad("name", "%q: a rule name is upper-case letters, digits and _ (at most 64), such as SUBJ_FREE_MONEY", rd.Name)
	}
	if rd.Score == nil {
		bad("score", "is required (a number; negative for signs of legitimate mail)")
	} else {
		r.Score = *rd.Score
	}
	kinds := map[string]string{"header": rd.Header, "body": rd.Body, "rawbody": rd.RawBody, "uri": rd.URI,
		"attachment": rd.Attachment, "attachment_type": rd.AttachmentType, "builtin": rd.Builtin, "meta": rd.Meta}
	var set []string
	for k, v := range kinds {
		if v != "" {
			set = append(set, k)
		}
	}
	sort.Strings(set)
	if len(set) != 1 {
		what := "none"
		if len(set) > 1 {
			what = strings.Join(set, ", ")
		}
		bad("", "set exactly one of header, body, rawbody, uri, attachment, attachment_type, builtin, meta (found %s)", what)
		return r, ps
	}
	pattern := ""
	switch set[0] {
	case "header":
		r.Kind, pattern = KindHeader, rd.Match
		switch {
		case rd.Exists && rd.Match != "":
			bad("match", "a header rule takes match or exists: true, not both")
		case !rd.Exists && rd.Match == "":
			bad("match", "a header rule needs match (a pattern) or exists: true")
		case rd.Exists && r.Header == "ALL":
			bad("exists", "exists needs a header name, not ALL")
		}
	case "body":
		r.Kind, pattern = KindBody, rd.Body
	case "rawbody":
		r.Kind, pattern = KindRawBody, rd.RawBody
	case "uri":
		r.Kind, pattern = KindURI, rd.URI
	case "attachment":
		r.Kind, pattern = KindAttachment, rd.Attachment
	case "attachment_type":
		r.Kind, pattern = KindAttachmentType, rd.AttachmentType
	case "builtin":
		r.Kind, r.Builtin = KindBuiltin, rd.Builtin
		if _, ok := builtins[rd.Builtin]; !ok {
			bad("builtin", "%q is not a built-in test (known: %s)", rd.Builtin, strings.Join(builtinNames(), ", "))
		}
	case "meta":
		r.Kind, r.Meta = KindMeta, rd.Meta
		if mn := check.Field(n, "meta"); mn != nil {
			// A block scalar's text starts on the line after "meta: |".
			r.MetaLine = mn.Line
			if mn.Style&(yaml.LiteralStyle|yaml.FoldedStyle) != 0 {
				r.MetaLine++
			}
		}
	}
	if set[0] != "header" && rd.Match != "" {
		bad("match", "match belongs to header rules; for %s rules the pattern is the value of %s", set[0], set[0])
	}
	if set[0] != "header" && rd.Exists {
		bad("exists", "exists belongs to header rules")
	}
	if set[0] != "header" && rd.Negate {
		bad("negate", "negate belongs to header rules; to fire when a %s rule does not match, write a meta rule: !NAME", set[0])
	}
	if pattern != "" {
		key := set[0]
		if set[0] == "header" {
			key = "match"
		}
		if len(pattern) > maxPattern {
			bad(key, "pattern longer than %d bytes", maxPattern)
		} else if re, err := regexp.Compile(pattern); err != nil {
			bad(key, "%v", err)
		} else {
			r.Pattern, r.atoms = re, atomsFor(pattern)
		}
	}
	return r, ps
}
