#!/usr/bin/env bash
# Whole-command replay benchmark on a trace recorded on this machine (needs what bench/ingest.sh needs).
#
#   bench/replay.sh [PAGES ROUNDS]      default 4096 320  (about 10.5 M events; 4096 32 gives about 1 M)
#
# Records (or reuses, with MMTRACE_BENCH_DIR=DIR) the mm workload through bench/ingest.sh, ingests its
# trace.dat once, then times MMTRACE_BENCH_RUNS (default 3) runs of
#   mmtrace replay DATASET                (findings, exposure windows, mremaps; no ops.parquet)
#   mmtrace replay DATASET --keep-ops     (the same plus ops.parquet)
# reporting events/s (events in the dataset / wall time), CPU seconds (user + sys) and events per CPU-second, peak
# RSS (GNU time) and the load average at the end of the run. Run it at two sizes to see
# that peak RSS does not grow with the trace. Nothing large is committed.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
pages=${1:-4096}
rounds=${2:-320}
if [[ -n ${MMTRACE_BENCH_DIR:-} ]]; then work="$MMTRACE_BENCH_DIR"; keep=1; mkdir -p "$work"; else work="$(mktemp -d /tmp/mmtrace-bench-XXXXXX)"; keep=0; fi
cleanup() { if ((keep)); then rm -rf "$work"/ds-replay "$work"/replay-out.txt; else rm -rf "$work"; fi; }
trap cleanup EXIT

# Records the workload (and builds the CLI); no ingest timings.
MMTRACE_BENCH_DIR="$work" MMTRACE_BENCH_RUNS=0 "$here/bench/ingest.sh" "$pages" "$rounds" > /dev/null
mmtrace="dotnet $here/src/Cli/bin/Release/net10.0/mmtrace.dll"
$mmtrace ingest "$work/trace.dat" -o "$work/ds-replay" > /dev/null
events=$($mmtrace query "$work/ds-replay" --sql "SELECT count(*) FROM events" --format csv | tail -1)

run() { # name, command...
    local name=$1; shift
    local out; out=$( { /usr/bin/time -f "TIME %e %U %S %M" "$@" > "$work/replay-out.txt"; } 2>&1 | grep '^TIME' )
    local secs cpu rss
    read -r secs cpu rss < <(echo "$out" | awk '{print $2, $3 + $4, $5}')
    # Wall time depends on what else runs on the box; CPU seconds (user + sys, every thread) much less so.
    printf '%-34s %8s s %12s events %6s M ev/s %8s CPU-s %6s M ev/CPU-s %6s MiB peak RSS  load %s\n' "$name" "$secs" "$events" \
        "$(awk -v e="$events" -v s="$secs" 'BEGIN{printf "%.2f", e/s/1e6}')" "$cpu" \
        "$(awk -v e="$events" -v s="$cpu" 'BEGIN{printf "%.2f", e/s/1e6}')" "$((rss / 1024))" "$(cut -d' ' -f1 /proc/loadavg)"
}
echo "machine: $(lscpu | grep 'Model name' | sed 's/.*: *//'), $(nproc) cores; kernel $(uname -r); $(date -u +%F)"
echo "  $events events in $(stat -c %s "$work/trace.dat") bytes of trace.dat ($pages pages x $rounds rounds)"
for ((r = 1; r <= ${MMTRACE_BENCH_RUNS:-3}; r++)); do
    echo "run $r"
    # replay exits 1 when it reports findings; that is not a failure here.
    run "replay (latest)"            $mmtrace replay "$work/ds-replay" || true
    run "replay (latest) --keep-ops" $mmtrace replay "$work/ds-replay" --keep-ops || true
done
grep -E '^trace |tracepoint events' "$work/replay-out.txt" | sed 's/^/  /'
