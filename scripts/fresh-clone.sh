#!/usr/bin/env bash
# CI check of the "fresh machine" promise: clones this repository (its committed HEAD) into a temporary directory
# that has no shared/ corpus above it, hides Node.js/npm from PATH, and there builds and runs `./mmtrace demo`
# (exit 0 required). With --tests it also runs ./scripts/test.sh in the clone, which must end with
# "N passed, 0 failed, K skipped" (the tests needing third-party samples skip, saying which file is absent).
#
#   scripts/fresh-clone.sh [--tests]      exit 0 when every step passed
#
# NuGet must be reachable (or the packages already in ~/.nuget/packages): the clone restores like any other.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
run_tests=0
[[ ${1:-} == --tests ]] && run_tests=1
work="$(mktemp -d /tmp/mmtrace-fresh-XXXXXX)"
trap 'rm -rf "$work"' EXIT
for dir in "$work" "$work"/..; do
    if [[ -d $dir/shared/corpus ]]; then echo "fresh-clone: $dir/shared/corpus exists; pick another TMPDIR" >&2; exit 2; fi
done
git clone -q "$here" "$work/mmtrace"
# npm and node are shadowed by stubs that fail (they may live in /usr/bin, which cannot leave PATH), so any
# build step that still needed them fails here.
mkdir -p "$work/no-node"
for tool in npm npx node; do
    printf '#!/bin/sh\necho "%s is unavailable in this check" >&2\nexit 127\n' "$tool" > "$work/no-node/$tool"
    chmod +x "$work/no-node/$tool"
done
clean_path="$work/no-node:$PATH"
cd "$work/mmtrace"
if PATH="$clean_path" npm --version >/dev/null 2>&1; then echo "fresh-clone: could not hide npm" >&2; exit 2; fi
echo "fresh-clone: $work/mmtrace (commit $(git rev-parse --short HEAD)), npm and node unavailable, no shared/ corpus" >&2
PATH="$clean_path" ./mmtrace demo -o "$work/demo" >"$work/demo.log" 2>&1 || { cat "$work/demo.log" >&2; echo "fresh-clone: ./mmtrace demo failed" >&2; exit 1; }
echo "fresh-clone: ./mmtrace demo exited 0 ($(grep -c . "$work/demo.log") lines of output)" >&2
if ((run_tests)); then
    PATH="$clean_path" ./scripts/test.sh | tee "$work/test.log" | tail -1
    last="$(tail -1 "$work/test.log")"
    [[ $last =~ ^[0-9]+\ passed,\ 0\ failed,\ [0-9]+\ skipped$ ]] || { echo "fresh-clone: tests did not all pass: $last" >&2; exit 1; }
    grep -E "\[SKIP\]" "$work/test.log" >&2 || true
fi
echo "fresh-clone: ok" >&2
