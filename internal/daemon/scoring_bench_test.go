package daemon

import (
	"testing"
)

// BenchmarkCorpusScoring judges the development corpus (3,000 messages
// and the default set's 78 examples) through the whole pipeline, as
// mamori check does, in three configurations measured in the same run:
//
//	baseline     no rules, no classifier: parsing, the MIME walk, the
//	             file-type checks and the policy lists
//	rules        the default rule set (no classifier)
//	rules+bayes  the default rule set and the classifier, trained on the
//	             corpus (bbolt token store)
//
// Each reports msgs/s; the cost of the rules alone is rules minus
// baseline per message (docs/performance.md has the figures as ratios).
func BenchmarkCorpusScoring(b *testing.B) {
	msgs, _ := splitHoldout(loadLabelled(b))
	dir := b.TempDir()
	trainBolt(b, dir, msgs)
	for _, c := range []struct{ name, yml string }{
		{"baseline", "rules: {defaults: false}\nchecks: {bayes: {enabled: false}}"},
		{"rules", "checks: {bayes: {enabled: false}}"},
		{"rules+bayes", ""},
	} {
		b.Run(c.name, func(b *testing.B) {
			f := accPipeline(b, c.yml, dir)
			b.ResetTimer()
			for i := range b.N {
				judgeData(b, f, msgs[i%len(msgs)].data)
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
		})
	}
}
