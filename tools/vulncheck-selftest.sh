#!/usr/bin/env bash
# Proves the offline vulnerability scan can fail: a throwaway module outside the
# repository calls language.Parse of golang.org/x/text v0.3.6 (GO-2021-0113), and
# govulncheck with the same database `make vulncheck` uses must report it.
set -euo pipefail
db=${1:?usage: vulncheck-selftest.sh DB_DIR}
root=$(cd "$(dirname "$0")/.." && pwd)
probe=$(mktemp -d)
trap 'rm -rf "$probe"' EXIT
cat >"$probe/go.mod" <<'MOD'
module example.com/vulnprobe

go 1.26.0

require golang.org/x/text v0.3.6
MOD
cat >"$probe/main.go" <<'SRC'
package main

import (
	"fmt"
	"os"

	"golang.org/x/text/language"
)

func main() { fmt.Println(language.Parse(os.Args[1])) }
SRC
(cd "$probe" && go mod tidy >/dev/null 2>&1)
set +e
out=$(cd "$root" && go tool -modfile=tools/go.mod govulncheck -db "file://$db" -C "$probe" ./... 2>&1)
rc=$?
set -e
if [[ $rc -ne 3 ]] || ! grep -q 'GO-2021-0113' <<<"$out"; then
	echo "$out"
	echo "vulncheck self-test: expected exit 3 naming GO-2021-0113, got exit $rc" >&2
	exit 1
fi
echo "vulncheck self-test: a reachable vulnerability fails the scan (GO-2021-0113, exit 3)"
