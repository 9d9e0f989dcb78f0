# imagepipe: every command a newcomer or CI runs. Targets install what they need.
SHELL := bash
.SHELLFLAGS := -euo pipefail -c
GO ?= go
export JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION := 1
FUNCTIONS := api resize

.PHONY: all build test lint bench
all: build

## build: one static linux/arm64 `bootstrap` per Lambda function under bin/
build:
	@for f in $(FUNCTIONS); do \
		echo "build bin/$$f/bootstrap"; \
		CGO_ENABLED=0 GOOS=linux GOARCH=arm64 $(GO) build -tags lambda.norpc -trimpath -ldflags='-s -w' -o bin/$$f/bootstrap ./functions/$$f; \
	done

## test: every test, as CI runs it: vet, all Go tests (browser tests included), the vulnerability scan
test: ensure-chromium
	$(GO) vet ./...
	$(GO) test -count=1 -timeout 30m ./...
	$(MAKE) --no-print-directory vulncheck

## lint: go vet plus staticcheck (pinned in tools/)
lint: staticcheck
	$(GO) vet ./...

## bench: engine benchmarks
bench:
	$(GO) test -run '^$$' -bench . -benchmem ./shared/...

## ---- reliability (issue 6): vulnerability scan, staticcheck, fuzzing, load ----
# The public vulnerability service is unreachable here, so the database is built
# offline from the reports golang.org/x/vulndb ships, with its own cmd/indexdb
# (built inside the downloaded module, whose go.sum pins its dependencies).
VULNDB_VERSION := v0.0.0-20260813214354-9de686e1fb00
VULNDB_SRC = $(shell $(GO) env GOMODCACHE)/golang.org/x/vulndb@$(VULNDB_VERSION)
VULNDB := $(CURDIR)/.cache/vulndb-$(VULNDB_VERSION)
TOOL := $(GO) tool -modfile=$(CURDIR)/tools/go.mod
FUZZTIME ?= 30s

.PHONY: vulndb vulncheck vulncheck-selftest staticcheck

vulndb: $(VULNDB)/index/db.json
$(VULNDB)/index/db.json:
	$(GO) mod download golang.org/x/vulndb@$(VULNDB_VERSION)
	cd $(VULNDB_SRC) && $(GO) build -o $(CURDIR)/.cache/bin/indexdb ./cmd/indexdb
	rm -rf $(VULNDB).tmp
	$(CURDIR)/.cache/bin/indexdb -vulns $(VULNDB_SRC)/data/osv -out $(VULNDB).tmp
	rm -rf $(VULNDB) && mv $(VULNDB).tmp $(VULNDB)

## vulncheck: fail on a vulnerability reachable from our code (offline database)
vulncheck: vulndb
	$(TOOL) govulncheck -db file://$(VULNDB) ./...

## vulncheck-selftest: prove the scan fails on a known-vulnerable call
vulncheck-selftest: vulndb
	tools/vulncheck-selftest.sh $(VULNDB)

## staticcheck: pinned in tools/go.mod
staticcheck:
	$(TOOL) staticcheck ./...
## ---- web: upload page, ops view, browser tests ------------------------------
# The browser tests (web/) drive real Chromium and fail, never skip, without it.
# `test` should depend on ensure-chromium so CI and newcomers get it installed.
CHROMIUM ?= $(shell command -v chromium || command -v chromium-browser || command -v google-chrome || true)
.PHONY: ensure-chromium test-web
## ensure-chromium: install Debian's chromium when missing (needs root and apt-get), or say how
ensure-chromium:
	@if [ -n "$(CHROMIUM)" ]; then echo "chromium: $(CHROMIUM)"; exit 0; fi; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "installing chromium (apt-get install -y chromium)"; \
		DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium \
		|| { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium; }; \
	else \
		echo "chromium is missing and cannot be installed here (needs root and apt-get)." >&2; \
		echo "Install it: sudo apt-get install -y chromium (Debian/Ubuntu), or set CHROMIUM=/path/to/chrome." >&2; \
		exit 1; \
	fi

## test-web: the page, the ops view and their browser tests (-artifacts keeps the screenshots)
test-web: ensure-chromium
	@mkdir -p .test-output
	$(GO) test -count=1 -timeout 10m -artifacts -outputdir "$(CURDIR)/.test-output" ./web/...
	@echo "screenshots: $$(find .test-output/_artifacts -name '*.png' | tr '\n' ' ')"

# Each fuzz target with its package; their seed corpora already run in `make test`.
FUZZ_TARGETS := FuzzProcess:./shared/imagecore FuzzParseBody:./shared/resize FuzzEventKey:./shared/resize FuzzKeys:./shared/manifest

.PHONY: fuzz
## fuzz: run every fuzz target for FUZZTIME (default 30s) each
fuzz:
	@for t in $(FUZZ_TARGETS); do \
		name=$${t%%:*}; pkg=$${t#*:}; \
		echo "fuzz $$name in $$pkg for $(FUZZTIME)"; \
		$(GO) test -run '^$$' -fuzz "^$$name\$$" -fuzztime $(FUZZTIME) $$pkg; \
	done
