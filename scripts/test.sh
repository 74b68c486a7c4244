#!/usr/bin/env bash
# test.sh installs what the tests need (Debian packages, Go modules) and
# runs the whole suite: unit tests, integration tests against real Postfix
# and Sendmail, and a short run of every fuzz target. It is what CI runs.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/usr/local/go/bin:$PATH"

bash scripts/install-test-deps.sh

echo "== gofmt / go vet"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then echo "gofmt needed:"; echo "$unformatted"; exit 1; fi
go vet ./...

echo "== unit and integration tests"
# Integration tests must not skip silently in CI: a missing server is a failure.
MAMORI_REQUIRE_INTEGRATION=1 go test -count=1 -shuffle=on ./...

echo "== race detector on the concurrent core"
go test -count=1 -race ./milter/ ./rules/... ./internal/... ./reputation/... ./scanners/...

echo "== fuzz targets (brief)"
# A count, not a duration: go1.26's fuzz coordinator can report a spurious
# "context deadline exceeded" when a -fuzztime duration runs out
# (golang/go#75804, fixed in go1.27); a count has no deadline to race.
fuzztime=${MAMORI_FUZZTIME:-20000x}
for target in "FuzzParse ./internal/mailfile/" "FuzzIntake ./milter/" "FuzzWalk ./scanners/mimepart/" \
	"FuzzParseMediaType ./scanners/mimepart/" "FuzzGuessCharset ./scanners/mimepart/" "FuzzInspect ./scanners/filetype/" \
	"FuzzParseRecord ./reputation/spf/" "FuzzExtract ./reputation/uribl/" \
	"FuzzCompile ./rules/expr/" "FuzzCompile ./rules/rulefile/" "FuzzPrefilter ./rules/rulefile/" "FuzzScanHTML ./rules/rulefile/" \
	"FuzzTokenize ./reputation/bayes/" "FuzzClean ./internal/quarantine/" "FuzzParse ./internal/received/"; do
	set -- $target
	# Short minimisation: the default (60s) would spend the whole budget shrinking new inputs.
	go test -run '^$' -fuzz "^$1\$" -fuzztime "$fuzztime" -fuzzminimizetime 1s "$2"
done
echo "all tests passed"
