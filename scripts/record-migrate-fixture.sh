#!/bin/sh
# Records the dataset tests/data/recorded/datasets/migrate_collapse/ (root, tracefs, a C compiler, jq):
# tests/workloads/migcollapse.c as `mmtrace record`'s command with the mm set and migrate:set_migration_pte,
# migrate:remove_migration_pte. Compaction moves the workload's pages only when they sit where its scanners reach, so
# the recording is retried (up to 10 times) until the workload says a page of its range moved. Then the dataset is cut
# with DuckDB, rows unchanged, to the events of the workload's process (compaction runs in the task that writes
# compact_memory, so its migration events and the old pages' frees are the workload's) and meta.json's counts are
# recomputed for the cut. Usage: record-migrate-fixture.sh OUTDIR
set -eu
out=${1:?usage: $0 OUTDIR}
repo=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT INT TERM
cc -O2 -o "$work/migcollapse" "$repo/tests/workloads/migcollapse.c"
events=mm,migrate:set_migration_pte,migrate:remove_migration_pte
tries=0
while :; do
    tries=$((tries + 1))
    rm -rf "$work/full"
    if "$repo/mmtrace" record -o "$work/full" --buffer-kb 65536 --events "$events" -- "$work/migcollapse" > "$work/record.out" 2>&1; then
        break
    fi
    [ "$tries" -lt 10 ] || { cat "$work/record.out"; echo "no page of the range moved in $tries recordings" >&2; exit 1; }
done
head -1 "$work/record.out"
pid=$(sed -n 's/^migcollapse pid=\([0-9]*\) .*/\1/p' "$work/record.out")
rm -rf "$out"
mkdir -p "$out"
"$repo/mmtrace" query "$work/full" --format csv --sql "
    COPY (SELECT * FROM read_parquet('$work/full/events.parquet') WHERE tgid = $pid OR pid = $pid ORDER BY seq)
    TO '$out/events.parquet' (FORMAT parquet, COMPRESSION zstd)" > /dev/null
counts=$("$repo/mmtrace" query "$work/full" --format json --sql "SELECT event, count(*) AS n FROM read_parquet('$out/events.parquet') GROUP BY event ORDER BY event")
jq --argjson counts "$counts" '.trace_id = "migrate_collapse" | .events = ($counts | map(.n) | add) | .event_counts = ($counts | map({(.event): .n}) | add)' \
    "$work/full/meta.json" > "$out/meta.json"
echo "workload pid=$pid after $tries recording(s): $(jq .events "$out/meta.json") events kept of $(jq .events "$work/full/meta.json")"
