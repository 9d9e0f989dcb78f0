# imagepipe: every command a newcomer or CI runs. Targets install what they need.
SHELL := bash
.SHELLFLAGS := -euo pipefail -c
GO ?= go
export JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION := 1
FUNCTIONS := api resize

.PHONY: all build test test-arm64 lint bench
all: build

## build: one static linux/arm64 `bootstrap` per Lambda function under bin/
build:
	@for f in $(FUNCTIONS); do \
		echo "build bin/$$f/bootstrap"; \
		CGO_ENABLED=0 GOOS=linux GOARCH=arm64 $(GO) build -tags lambda.norpc,nodynamic -trimpath -ldflags='-s -w' -o bin/$$f/bootstrap ./functions/$$f; \
	done

## test: every test, as CI runs it: vet, all Go tests (browser tests included), the vulnerability scan
test: ensure-chromium ensure-node
	$(GO) vet ./...
	@# infra's TestCfnLint lints the synthesized template with cfn-lint when it is installed.
	@command -v cfn-lint >/dev/null 2>&1 || echo "cfn-lint is not installed: the CloudFormation template will not be linted (pip install cfn-lint)"
	$(GO) test -count=1 -timeout 30m ./...
	$(MAKE) --no-print-directory test-arm64
	$(MAKE) --no-print-directory vulncheck
	$(MAKE) --no-print-directory check-templates

## test-arm64: the image engine's golden outputs and kernel tests as linux/arm64 under qemu (Lambda runs on Graviton; both builds must make the same bytes)
ARM64_TESTS := TestEngineGolden|TestSWAR|TestClamp|TestWeightMagnitudes|TestPlanarJPEGEncoder|TestTransformBlock|TestEncZigzag|TestJPEGDecoder|TestIDCT4
test-arm64:
	@command -v qemu-aarch64 >/dev/null || { echo "installing qemu-user (apt-get install -y qemu-user)"; \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y --no-install-recommends qemu-user \
		|| { $(SUDO) apt-get update && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y --no-install-recommends qemu-user; }; }
	@mkdir -p .cache
	CGO_ENABLED=0 GOOS=linux GOARCH=arm64 $(GO) test -c -tags nodynamic -o .cache/imagecore-arm64.test ./shared/imagecore
	cd shared/imagecore && qemu-aarch64 ../../.cache/imagecore-arm64.test -test.run '$(ARM64_TESTS)'

## lint: go vet plus staticcheck (pinned in tools/)
lint: staticcheck
	$(GO) vet ./...

## bench: engine benchmarks, the side-by-side run against libvips and sharp, and the WebP/AVIF rows (issues 7, 15; targets at the end)
bench: bench-engine bench-compare bench-formats

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

## ---- performance (issue 7): engine benchmarks, side by side with libvips ----
# The 12-20 MP corpus comes from Debian's wallpaper packages at bench time into
# .bench/ (git-ignored), never committed. Results and the command are recorded
# in docs/performance.md.
BENCH_DIR := $(CURDIR)/.bench
BENCH_CORPUS := $(BENCH_DIR)/corpus
BENCH_PKGS := lomiri-wallpapers-16.04 lomiri-wallpapers-20.04
# 12-20 MP photographs from those packages (baseline and progressive JPEG).
BENCH_PHOTOS := Kleiber_by_Lukas_Baubkus.jpg seeding_by_Clements_Engelhardt.jpg \
	Infinite-Sea_by_Aury88.jpg Dragonfly_by_Bolly.jpg sunset_by_Aitzol_Berasategi.jpg
BENCH_RUNS ?= 3
# sharp (libvips), the anchor of issue 15: installed pinned into .bench/sharp,
# a measuring stick only, never a dependency of the functions.
SHARP_VERSION := 0.34.5
SHARP_DIR := $(BENCH_DIR)/sharp
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
# The formats section runs every photo three ways (JPEG only, the default set,
# every format), each in one warm process: a few minutes on the corpus.
BENCH_FORMATS_WARM ?= 3
.PHONY: bench-deps bench-corpus bench-engine bench-compare bench-sharp bench-formats

## bench-deps: vipsthumbnail (Debian libvips-tools) for the comparison
bench-deps:
	@command -v vipsthumbnail >/dev/null || { echo "installing libvips-tools"; \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y --no-install-recommends libvips-tools \
		|| { $(SUDO) apt-get update && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y --no-install-recommends libvips-tools; }; }

## bench-sharp: the warm comparison against sharp only (engine vs sharp's decode-once cascade and per-variant pipelines)
bench-sharp: $(SHARP_DIR)/node_modules/sharp/package.json bench-corpus
	@mkdir -p $(BENCH_DIR)/bin
	CGO_ENABLED=0 $(GO) build -trimpath -o $(BENCH_DIR)/bin/imagepipe ./cmd/imagepipe
	$(BENCH_DIR)/bin/imagepipe bench -vips= -runs $(BENCH_RUNS) -procs 1 -scratch $(BENCH_DIR)/out \
		-sharp $(SHARP_DIR) $(BENCH_CORPUS)/*.jpg | tee $(BENCH_DIR)/report-sharp.md

## bench-formats: the WebP and AVIF alternates at one core, warm: encode CPU per variant and format, CPU per photo (JPEG only, default set, every format), WASM compile apart, bytes and SSIM; report in .bench/report-formats.md
bench-formats: bench-corpus
	@mkdir -p $(BENCH_DIR)/bin
	CGO_ENABLED=0 $(GO) build -trimpath -o $(BENCH_DIR)/bin/imagepipe ./cmd/imagepipe
	$(BENCH_DIR)/bin/imagepipe bench -vips= -formats -runs 1 -warm $(BENCH_FORMATS_WARM) -scratch $(BENCH_DIR)/out \
		$(BENCH_CORPUS)/*.jpg | tee $(BENCH_DIR)/report-formats.md
	IMAGEPIPE_PHOTOS=$(BENCH_CORPUS) $(GO) test -run '^$$' -bench 'Alternates' -benchtime 1x -cpu 1 ./shared/imagecore

$(SHARP_DIR)/node_modules/sharp/package.json:
	@command -v node >/dev/null || { echo "node is needed for the sharp comparison (apt-get install -y nodejs npm)" >&2; exit 1; }
	mkdir -p $(SHARP_DIR)
	cd $(SHARP_DIR) && npm install --no-audit --no-fund --no-save --prefix . sharp@$(SHARP_VERSION)

## bench-corpus: fetch the wallpaper packages and keep the 12-20 MP photos
bench-corpus: $(BENCH_CORPUS)/.done
$(BENCH_CORPUS)/.done:
	@mkdir -p $(BENCH_DIR)/pkgs $(BENCH_CORPUS)
	cd $(BENCH_DIR)/pkgs && apt-get download $(BENCH_PKGS) && for d in *.deb; do dpkg -x $$d x; done
	for f in $(BENCH_PHOTOS); do cp $(BENCH_DIR)/pkgs/x/usr/share/backgrounds/$$f $(BENCH_CORPUS)/; done
	@touch $@

## bench-engine: Go benchmarks (engine vs reference, CPU ms per photo) at GOMAXPROCS 1 and 2, and the PSNR check on the corpus
bench-engine: bench-corpus
	IMAGEPIPE_PHOTOS=$(BENCH_CORPUS) $(GO) test -count=1 -run 'TestQualityAgainstReference' ./shared/imagecore
	IMAGEPIPE_PHOTOS=$(BENCH_CORPUS) $(GO) test -run '^$$' -bench 'Process|Reference' -benchtime 3x -cpu 1,2 -benchmem ./shared/imagecore

## bench-compare: imagepipe resize vs -naive vs vipsthumbnail per variant, interleaved; cold start; report in .bench/report.md
bench-compare: bench-deps bench-corpus $(SHARP_DIR)/node_modules/sharp/package.json
	@mkdir -p $(BENCH_DIR)/bin
	CGO_ENABLED=0 $(GO) build -trimpath -o $(BENCH_DIR)/bin/imagepipe ./cmd/imagepipe
	CGO_ENABLED=0 $(GO) build -tags lambda.norpc,nodynamic -trimpath -ldflags='-s -w' -o $(BENCH_DIR)/bin/resize-bootstrap ./functions/resize
	CGO_ENABLED=0 GOOS=linux GOARCH=arm64 $(GO) build -tags lambda.norpc,nodynamic -trimpath -ldflags='-s -w' -o $(BENCH_DIR)/bin/resize-arm64 ./functions/resize
	@echo "resize bootstrap (linux/arm64): $$(stat -c %s $(BENCH_DIR)/bin/resize-arm64) bytes"
	$(BENCH_DIR)/bin/imagepipe bench -runs $(BENCH_RUNS) -procs 1,2 -scratch $(BENCH_DIR)/out \
		-sharp $(SHARP_DIR) -init $(BENCH_DIR)/bin/resize-bootstrap $(BENCH_CORPUS)/*.jpg testdata/images/*.jpg | tee $(BENCH_DIR)/report.md
## ---- infra (issue 4): the CDK app in infra/ --------------------------------
# The CDK CLI is pinned: 2.1034.0 reads the cloud assembly schema (v48) that
# aws-cdk-lib v2.224.0 writes. Pass CLI flags through CDK_ARGS, for example
# make deploy CDK_ARGS="-c alarmEmail=ops@example.com --require-approval never".
# Node 20 is past end-of-life; jsii's banner about it is silenced by major version
# (the DEPRECATED variable above only covers versions still in maintenance).
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
CDK_CLI_VERSION := 2.1034.0
CDK := npx --yes aws-cdk@$(CDK_CLI_VERSION)
CDK_ARGS ?=
.PHONY: synth deploy diff destroy

## synth: write the CloudFormation template and assets to cdk.out/ (offline: no AWS account, no CLI)
synth: ensure-node build
	rm -rf cdk.out
	CDK_OUTDIR=cdk.out $(GO) run ./infra
	@echo "cdk.out/Imagepipe.template.json"

## deploy: deploy the stack with your AWS credentials (cdk bootstrap first, see docs/deploy.md)
deploy: build
	$(CDK) deploy Imagepipe $(CDK_ARGS)

## diff: what deploy would change
diff: build
	$(CDK) diff Imagepipe $(CDK_ARGS)

## destroy: delete the stack (buckets are kept; see docs/deploy.md)
destroy:
	$(CDK) destroy Imagepipe $(CDK_ARGS)
# --- local cloud (issue 3) ---
ADDR ?= 127.0.0.1:8080
DATA_DIR ?= .imagepipe/
# events (issue 14): every ImageReady/ImageFailed/ImageDeleted is POSTed here when set
WEBHOOK_URL ?=
# AUTH=none runs the API open; empty keeps the settings' mode (cognito: local sign-in).
AUTH ?=
.PHONY: dev
## dev: the whole service on this machine: page+API on ADDR, S3 data under DATA_DIR, events to WEBHOOK_URL if set (Ctrl-C stops)
dev:
	$(GO) build -o bin/imagepipe ./cmd/imagepipe
	ADDR='$(ADDR)' DATA_DIR='$(DATA_DIR)' AUTH='$(AUTH)' WEBHOOK_URL='$(WEBHOOK_URL)' exec bin/imagepipe dev

## ---- reliability (issue 6), continued: fuzzing ----
# Each fuzz target with its package; their seed corpora already run in `make test`.
FUZZ_TARGETS := FuzzProcess:./shared/imagecore FuzzICC:./shared/imagecore FuzzParseHEIF:./shared/imagecore FuzzHandle:./shared/hostile FuzzParseBody:./shared/resize FuzzEventKey:./shared/resize FuzzKeys:./shared/manifest

.PHONY: fuzz
## fuzz: run every fuzz target for FUZZTIME (default 30s) each
fuzz:
	@for t in $(FUZZ_TARGETS); do \
		name=$${t%%:*}; pkg=$${t#*:}; \
		echo "fuzz $$name in $$pkg for $(FUZZTIME)"; \
		$(GO) test -run '^$$' -fuzz "^$$name\$$" -fuzztime $(FUZZTIME) $$pkg; \
	done

LOAD_N ?= 60
LOAD_C ?= 8
LOAD_RATE ?= 0
# The scaling table (issue 16): one bounded run per arrival rate and function
# concurrency (resizeMaxConcurrency); LOAD_PHOTOS is a JPEG or a directory of them
# (default testdata/images; .bench/corpus after `make bench-corpus` for 12-20 MP).
LOAD_RATES ?= 2,4,8
LOAD_FC ?= 1,2,4
LOAD_PHOTOS ?=
.PHONY: loadtest
## loadtest: LOAD_N uploads (60) by LOAD_C browsers (8) at each of LOAD_RATES a second (2,4,8) and function concurrencies LOAD_FC (1,2,4), through the local cloud: a table of throughput, upload-to-ready p50/p95/p99, queue age, failures, lost images (must be 0)
loadtest:
	$(GO) test -run '^$$' -bench '^BenchmarkLoad$$' -benchtime 1x -timeout 60m ./localcloud/chaos -args -load.n=$(LOAD_N) -load.c=$(LOAD_C) \
		-load.rate=$(LOAD_RATE) -load.rates=$(LOAD_RATES) -load.fc=$(LOAD_FC) $(if $(LOAD_PHOTOS),-load.photos=$(abspath $(LOAD_PHOTOS)))

## ---- first hour (issue 17): Node.js for the CDK, template checks ----
# The CDK app (infra/, `make synth`, the infra tests in `make test`) runs AWS's
# construct library through jsii, which needs Node.js; npm fetches cfn-guard.
NODE ?= $(shell command -v node || command -v nodejs || true)
.PHONY: ensure-node check-templates
## ensure-node: install Debian's nodejs and npm when node is missing (needs root and apt-get), or say how
ensure-node:
	@if [ -n "$(NODE)" ] && command -v npm >/dev/null; then echo "node: $(NODE) $$($(NODE) --version)"; exit 0; fi; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "installing Node.js (apt-get install -y nodejs npm)"; \
		DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends nodejs npm \
		|| { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends nodejs npm; }; \
	else \
		echo "Node.js is missing and cannot be installed here (needs root and apt-get)." >&2; \
		echo "The CDK app (make synth, the infra tests of make test) needs it: sudo apt-get install -y nodejs npm (Debian/Ubuntu), or Node 20+ from nodejs.org." >&2; \
		exit 1; \
	fi

# cfn-guard comes with AWS's rule sets (Control Tower's proactive controls) in the
# npm package below, pinned, installed once into .cache/. The rule sets are those
# of the services the stack uses; infra/guard-suppressions.json lists each rule
# we accept failing, for which resource, and why.
CFNGUARD_PKG := @cdklabs/cdk-validator-cfnguard@0.0.62
CFNGUARD_DIR := $(CURDIR)/.cache/cfnguard-0.0.62
CFNGUARD_MOD := $(CFNGUARD_DIR)/node_modules/@cdklabs/cdk-validator-cfnguard
CFNGUARD_ARCH := $(shell uname -m | sed 's/arm64/aarch64/')
CFNGUARD := $(CFNGUARD_MOD)/bin/ubuntu/$(CFNGUARD_ARCH)/cfn-guard
CFNGUARD_RULES := apigateway cloudfront cloudwatch identityandaccessmanagement keymanagementservice lambda s3 sqs
TEMPLATE := cdk.out/Imagepipe.template.json
CFN_LINT ?= $(shell command -v cfn-lint || true)

$(CFNGUARD): | ensure-node
	mkdir -p $(CFNGUARD_DIR)
	npm install --no-save --no-audit --no-fund --ignore-scripts --prefix $(CFNGUARD_DIR) $(CFNGUARD_PKG)
	@test -x $@ || { echo "$(CFNGUARD_PKG) has no cfn-guard binary for linux/$(CFNGUARD_ARCH)" >&2; exit 1; }

## check-templates: synthesize, then cfn-lint (no errors; skipped, saying so, when absent) and cfn-guard's AWS rules on the template
check-templates: synth $(CFNGUARD)
	@if [ -n "$(CFN_LINT)" ]; then \
		echo "cfn-lint $$($(CFN_LINT) --version | cut -d' ' -f2) on $(TEMPLATE) (errors fail; warnings shown)"; \
		$(CFN_LINT) --format parseable $(TEMPLATE) | tee .cache/cfn-lint.txt || true; \
		if grep -q ':E[0-9]' .cache/cfn-lint.txt; then echo "cfn-lint found errors" >&2; exit 1; fi; \
	else \
		echo "SKIP cfn-lint: not installed (pip install cfn-lint to check the template with it)"; \
	fi
	cd tools && $(GO) test ./guardcheck && $(GO) run ./guardcheck -guard $(CFNGUARD) -template $(CURDIR)/$(TEMPLATE) \
		-suppressions $(CURDIR)/infra/guard-suppressions.json $(addprefix -rules $(CFNGUARD_MOD)/rules/control-tower/cfn-guard/,$(CFNGUARD_RULES))
