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

## test: every test, as CI runs it
test:
	$(GO) vet ./...
	$(GO) test -count=1 -timeout 30m ./...

## lint: go vet plus staticcheck (pinned in tools/)
lint:
	$(GO) vet ./...

## bench: engine benchmarks
bench:
	$(GO) test -run '^$$' -bench . -benchmem ./shared/...
