// Package defaults is Mamori's default rule set: the rule files built into
// the binary, for the engine to compile with rulefile.Compile alongside, or
// instead of, an operator's own rules directory.
//
// The files are grouped by what the rules look at, and numbered so that
// they load in a fixed order:
//
//	10-headers.yaml      header fields: forged or odd headers, bulk-mailer fingerprints
//	20-body.yaml         the decoded text: offers, urgency, phishing, advance fee
//	25-body-ja.yaml      the decoded text, Japanese: 未承諾広告, 出会い系, 副業, phishing
//	30-uri.yaml          the hosts the message links to
//	35-rawbody.yaml      the body as received: markup tricks, old bulk HTML
//	40-attachments.yaml  attachment names and types
//	50-structure.yaml    built-in tests of the message's shape
//	90-meta.yaml         combinations of the above and of other checks' symbols
//
// Scores are hand-set on the scale of the default thresholds (5 adds the
// spam header, 15 rejects). A single rule rarely scores above 2.5: it is
// the meta rules that combine weak evidence into a verdict. Negative
// scores mark signs of legitimate mail and are kept small, because spam
// forges them too.
//
// Rule names say what a rule looks at: HDR_ (a header field), TXT_ (the
// decoded text, English), JA_ (the decoded text, Japanese), RAW_ (the raw
// body), LINK_ (linked hosts), ATT_ (attachments), SHAPE_ (built-in
// tests) and MIX_ (meta rules). CTX_ rules record context that meta rules
// read (a List-Id, an In-Reply-To, an unsubscribe link, a free-mail
// sender); they score nothing or a small negative amount, and
// MIX_MANY_SIGNS does not count them.
//
// Each rule may name example messages (under testdata/) that must or must
// not fire it; the package tests run them, and check that none of the
// legitimate commercial messages of testdata/commercial reaches 5, nor
// any of holdout/ (not embedded): commercial mail written by people who
// had not seen the rules, used by no rule and no tuning, to measure how
// the set generalises.
package defaults

import (
	"embed"
	"io/fs"
	"path"
	"sort"

	"github.com/mamori-mail/mamori/rules/rulefile"
)

// files holds the rule files and the example messages their rules name.
//
//go:embed *.yaml testdata
var files embed.FS

// Prefix is prepended to each file's name in Sources, so that errors and
// rule locations read "defaults/20-body.yaml:12: …".
const Prefix = "defaults/"

// Sources returns the default rule files in name order, each named
// Prefix + its file name and marked Base (an operator's file may redefine
// their rules by name), ready for rulefile.Compile.
func Sources() []rulefile.Source {
	names, err := fs.Glob(files, "*.yaml")
	if err != nil {
		// Only a malformed pattern makes Glob fail, and this one is fixed.
		return nil
	}
	sort.Strings(names)
	out := make([]rulefile.Source, 0, len(names))
	for _, n := range names {
		data, err := files.ReadFile(n)
		if err != nil {
			continue // unreachable: the names come from the same FS
		}
		out = append(out, rulefile.Source{Name: path.Join(Prefix, n), Data: data, Base: true})
	}
	return out
}

// FS returns the embedded files: the rule files at the root and the
// example messages under testdata/. A rule's example paths are relative to
// the root, the directory of its rule file.
func FS() fs.FS { return files }
