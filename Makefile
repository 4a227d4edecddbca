# Targets for developers and CI. The README names `make test` and `make bench`.
SHELL := /bin/bash
GO ?= go

.PHONY: build executor example test bench mutate image clean

# replay embeds the static in-container tool executor for linux/amd64 and arm64.
build: executor
	CGO_ENABLED=0 $(GO) build -o bin/replay ./cmd/replay

executor:
	$(GO) generate ./sandbox/executorbin

# The default sandbox image, built locally from a static busybox (no registry).
image:
	$(GO) run ./cmd/replay sandbox build

# The bundled example: a faithful replay, then a counterfactual and its comparison.
example:
	bash testdata/example/demo.sh

# The sandbox tests build the image themselves; preparing it first (a static
# busybox from Debian's busybox-static, when this user may install it) keeps
# them from skipping on a fresh machine.
test:
	-@bash sandbox/ci-prepare.sh >/dev/null 2>&1 || echo "make test: could not prepare the sandbox image (see sandbox/ci-prepare.sh); Docker tests may skip"
	$(GO) test ./...

# Every benchmark of the project; prints a table and writes bench/results.json.
bench:
	set -o pipefail; $(GO) test -run='^$$' -bench=. -timeout=60m ./... 2>&1 | $(GO) run ./bench/report -o bench/results.json

# Deliberate bugs, one at a time, in a copy of the repository: each must
# fail a test (internal/tools/mutate/mutations.go lists them). Needs Docker.
mutate:
	$(GO) run ./internal/tools/mutate

clean:
	rm -rf bin sandbox/executorbin/bin/replay-executor-*
