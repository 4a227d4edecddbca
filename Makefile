# Targets for developers and CI. The README names `make test` and `make bench`.
SHELL := /bin/bash
GO ?= go

.PHONY: build test bench fuzz image clean

build:
	CGO_ENABLED=0 $(GO) build -o bin/replay ./cmd/replay

test:
	$(GO) test ./...

# Every benchmark of the project; prints a table and writes bench/results.json.
bench:
	set -o pipefail; $(GO) test -run='^$$' -bench=. -timeout=60m ./... 2>&1 | $(GO) run ./bench/report -o bench/results.json

clean:
	rm -rf bin
