# Conventional targets; scripts/test.sh is the one CI and the README use.
GO ?= go
export PATH := /usr/local/go/bin:$(PATH)

.PHONY: build test test-race check fuzz test-integration fmt bench

build:
	CGO_ENABLED=0 $(GO) build -o bin/mamori ./cmd/mamori

test:
	scripts/test.sh

test-race:
	$(GO) test -race ./milter/ ./rules/... ./internal/... ./reputation/...

check:
	gofmt -l . | (! grep .) && $(GO) vet ./...

fuzz:
	$(GO) test -run '^$$' -fuzz FuzzParse -fuzztime 60s -fuzzminimizetime 5s ./internal/mailfile/
	$(GO) test -run '^$$' -fuzz FuzzIntake -fuzztime 60s -fuzzminimizetime 5s ./milter/
	$(GO) test -run '^$$' -fuzz FuzzWalk -fuzztime 60s -fuzzminimizetime 5s ./scanners/mimepart/
	$(GO) test -run '^$$' -fuzz FuzzParseMediaType -fuzztime 60s -fuzzminimizetime 5s ./scanners/mimepart/
	$(GO) test -run '^$$' -fuzz FuzzInspect -fuzztime 60s -fuzzminimizetime 5s ./scanners/filetype/
	$(GO) test -run '^$$' -fuzz FuzzParseRecord -fuzztime 60s -fuzzminimizetime 5s ./reputation/spf/
	$(GO) test -run '^$$' -fuzz FuzzExtract -fuzztime 60s -fuzzminimizetime 5s ./reputation/uribl/
	$(GO) test -run '^$$' -fuzz FuzzCompile -fuzztime 60s -fuzzminimizetime 5s ./rules/expr/
	$(GO) test -run '^$$' -fuzz FuzzCompile -fuzztime 60s -fuzzminimizetime 5s ./rules/rulefile/
	$(GO) test -run '^$$' -fuzz FuzzPrefilter -fuzztime 60s -fuzzminimizetime 5s ./rules/rulefile/
	$(GO) test -run '^$$' -fuzz FuzzTokenize -fuzztime 60s -fuzzminimizetime 5s ./reputation/bayes/
	$(GO) test -run '^$$' -fuzz FuzzClean -fuzztime 60s -fuzzminimizetime 5s ./internal/quarantine/

test-integration:
	$(GO) test -count=1 ./integration/...

fmt:
	gofmt -w $$(git ls-files '*.go')

bench:
	$(GO) test -run '^$$' -bench . -benchtime 2s ./milter/ ./rules/
