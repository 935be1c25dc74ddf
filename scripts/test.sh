#!/usr/bin/env bash
# The project's test command (README and .ci/run run exactly this).
# Installs what the tests need on a fresh machine, builds, runs every test project and prints
# one closing line: "N passed, N failed, N skipped".
set -uo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$here"

bash scripts/setup.sh || { echo "setup failed" >&2; exit 1; }

log="$(mktemp)"
trap 'rm -f "$log"' EXIT
dotnet build Pipeline.sln -c Release -nologo -v quiet -clp:ErrorsOnly || { echo "0 passed, 1 failed"; exit 1; }
# The whole log is kept and printed (minus blank and banner lines); skipped tests are listed with their reasons.
dotnet test Pipeline.sln -c Release --no-build -nologo 2>&1 | tee "$log" | grep -vE "^\s*$|^A total of|^Test run for|^VSTest|^Starting test"
status=${PIPESTATUS[0]}

passed=0; failed=0; skipped=0
while read -r f p s; do
    failed=$((failed + f)); passed=$((passed + p)); skipped=$((skipped + s))
done < <(sed -nE 's/.*Failed:[[:space:]]*([0-9]+),[[:space:]]*Passed:[[:space:]]*([0-9]+),[[:space:]]*Skipped:[[:space:]]*([0-9]+).*/\1 \2 \3/p' "$log")
if [[ $status -ne 0 && $failed -eq 0 ]]; then failed=1; fi
echo "$passed passed, $failed failed, $skipped skipped"
exit $status
