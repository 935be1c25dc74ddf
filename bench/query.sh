#!/usr/bin/env bash
# Whole-command `mmtrace query` timings on a generated dataset (no root needed).
#
#   bench/query.sh [OPS]          default 2000000 ops of 'mmtrace synth random' (about as many events)
#
# MMTRACE_BENCH_DIR=DIR keeps the generated dataset in DIR and reuses it; MMTRACE_BENCH_RUNS=N (default 5) runs
# each query N times. MMTRACE_BENCH_CLI="A B" times several builds of the CLI (each a command line, e.g.
# "dotnet /old/mmtrace.dll" and "dotnet /new/mmtrace.dll"), interleaved run by run so a busy phase of this shared
# machine hits both alike; the default is this checkout's Release build. Prints every run's wall seconds and the
# median per query and CLI.
#
# Queries: a one-row query (start-up plus opening the dataset), the named query event_counts (GROUP BY over every
# row), a bound-parameter filter, and a full scan of every column written as CSV to /dev/null (streams every value
# through the result formatter).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ops=${1:-2000000}
runs=${MMTRACE_BENCH_RUNS:-5}
if [[ -n ${MMTRACE_BENCH_DIR:-} ]]; then work="$MMTRACE_BENCH_DIR"; mkdir -p "$work"; else work="$(mktemp -d /tmp/mmtrace-qbench-XXXXXX)"; trap 'rm -rf "$work"' EXIT; fi

if [[ -z ${MMTRACE_BENCH_CLI:-} ]]; then
    dotnet build "$here/src/Cli/Cli.csproj" -c Release -nologo -v quiet -clp:ErrorsOnly >&2
    clis=("dotnet $here/src/Cli/bin/Release/net10.0/mmtrace.dll")
else
    IFS=$'\n' read -r -d '' -a clis < <(printf '%s\0' "$MMTRACE_BENCH_CLI" | tr ';' '\n') || true
fi

first="${clis[0]}"
if [[ ! -s $work/ds/events.parquet || "$(cat "$work/recipe" 2>/dev/null)" != "$ops" ]]; then
    rm -rf "$work/ds" "$work/w.txt"
    $first synth random --cpus 4 --ops "$ops" --seed 3 -o "$work/w.txt" >/dev/null
    $first ingest "$work/w.txt" -o "$work/ds" >/dev/null
    rm -f "$work/w.txt"
    echo "$ops" > "$work/recipe"
fi
rows="$($first query "$work/ds" --sql 'SELECT count(*) FROM events' --format csv | tail -1)"
echo "dataset: $work/ds, $rows events, $(du -h "$work/ds/events.parquet" | cut -f1) events.parquet"

names=(one_row event_counts param_filter full_scan_csv)
run_query() { # cli, query name
    case $2 in
        one_row) $1 query "$work/ds" --sql 'SELECT 1 AS one' --format csv ;;
        event_counts) $1 query "$work/ds" --name event_counts --format csv ;;
        param_filter) $1 query "$work/ds" --name mmap_lock_wait --param min_events=2 --format csv ;;
        full_scan_csv) $1 query "$work/ds" --sql 'SELECT * FROM events' --format csv ;;
    esac
}

declare -A times
for ((r = 1; r <= runs; r++)); do
    for q in "${names[@]}"; do
        for ((c = 0; c < ${#clis[@]}; c++)); do
            start=$(date +%s.%N)
            run_query "${clis[$c]}" "$q" >/dev/null
            end=$(date +%s.%N)
            t=$(echo "$end - $start" | bc)
            times[$q,$c]+="$t "
        done
    done
done
for ((c = 0; c < ${#clis[@]}; c++)); do
    echo "cli $c: ${clis[$c]}"
    for q in "${names[@]}"; do
        median=$(tr ' ' '\n' <<<"${times[$q,$c]}" | grep -v '^$' | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
        printf '  %-14s median %6.3f s   runs: %s\n' "$q" "$median" "${times[$q,$c]}"
    done
done
