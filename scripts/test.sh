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
# The whole log is kept; what is printed drops each passed test's line and the output under it, so failures,
# skipped tests with their reasons (xUnit prints the reason under each [SKIP] at detailed verbosity) and the
# per-project totals are what remain.
dotnet test Pipeline.sln -c Release --no-build -nologo --logger "console;verbosity=detailed" 2>&1 | tee "$log" | awk '
    /^  Passed / { inpassed = 1; next }
    inpassed && (/^ / || /^$/) && !/^  (Skipped|Failed) / { next }
    { inpassed = 0 }
    /^[[:space:]]*$/ || /^A total of/ || /^Test run for/ || /^VSTest/ || /^Starting test/ || /^\/.*\.dll$/ { next }
    { print; fflush() }'
status=${PIPESTATUS[0]}

# Each test project ends with "Total tests: N" and one "Passed: N" / "Failed: N" / "Skipped: N" line per outcome.
read -r passed failed skipped < <(awk '
    /^[[:space:]]+Passed:[[:space:]]+[0-9]+$/  { p += $2 }
    /^[[:space:]]+Failed:[[:space:]]+[0-9]+$/  { f += $2 }
    /^[[:space:]]+Skipped:[[:space:]]+[0-9]+$/ { s += $2 }
    END { print p + 0, f + 0, s + 0 }' "$log")
if [[ $status -ne 0 && $failed -eq 0 ]]; then failed=1; fi
echo "$passed passed, $failed failed, $skipped skipped"
exit $status
