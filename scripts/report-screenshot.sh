#!/usr/bin/env bash
# Regenerates docs/report.png, the README's picture of 'mmtrace report': a synthesized R1 race (its finding's
# witness opened through the page's #open=t0-f0 link) beside the recorded mmwork trace of the shared corpus,
# rendered by headless chromium. Needs chromium (scripts/setup.sh installs it as root) and shared/corpus.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
m="$here/mmtrace"
corpus=""
for dir in "$here" "$here/.." "$here/../.." "$here/../../.."; do
    if [[ -f "$dir/shared/corpus/recorded/trace-cmd/mm_v7_zstd_full.dat" ]]; then
        corpus="$(cd "$dir" && pwd)/shared/corpus/recorded/trace-cmd/mm_v7_zstd_full.dat"
        break
    fi
done
[[ -n "$corpus" ]] || { echo "report-screenshot: shared/corpus/recorded not found above $here" >&2; exit 1; }
command -v chromium >/dev/null || { echo "report-screenshot: chromium not installed (apt-get install chromium)" >&2; exit 1; }
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
"$m" synth r1-pmd -o "$tmp/r1.txt" >/dev/null
"$m" ingest "$tmp/r1.txt" -o "$tmp/r1-pmd" >/dev/null
"$m" replay "$tmp/r1-pmd" --profile v5.13 >/dev/null || [[ $? -eq 1 ]]
"$m" ingest "$corpus" -o "$tmp/mmwork" >/dev/null
"$m" replay "$tmp/mmwork" >/dev/null || [[ $? -eq 1 ]]
"$m" report "$tmp/r1-pmd" "$tmp/mmwork" -o "$tmp/report.html"
chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --window-size=1400,2000 \
    --screenshot="$here/docs/report.png" "file://$tmp/report.html#open=t0-f0" 2>/dev/null
echo "wrote docs/report.png"
