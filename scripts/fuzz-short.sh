#!/usr/bin/env bash
# Runs every fuzz target of the project for a short budget, one target per
# invocation as `go test -fuzz` requires. The budget is a count of inputs
# (default 10000x), not a duration: with a duration, Go's fuzz coordinator
# (up to Go 1.26) can report a spurious "context deadline exceeded" when
# the time runs out while a worker is busy (go.dev/issue/75804).
set -euo pipefail
cd "$(dirname "$0")/.."
fuzztime="${1:-10000x}"
for pkg in $(go list ./...); do
	dir=$(go list -f '{{.Dir}}' "$pkg")
	for target in $(grep -hoE '^func (Fuzz[A-Za-z0-9_]+)\(f \*testing\.F\)' "$dir"/*_test.go 2>/dev/null | sed -E 's/^func (Fuzz[A-Za-z0-9_]+).*/\1/'); do
		echo "fuzz $pkg $target for $fuzztime"
		go test -run='^$' -fuzz="^${target}\$" -fuzztime="$fuzztime" "$pkg"
	done
done
