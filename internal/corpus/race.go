//go:build race

package corpus

// underRace: the accuracy and benchmark runs over the corpus take minutes
// under the race detector and exercise no concurrency it could judge.
const underRace = true
