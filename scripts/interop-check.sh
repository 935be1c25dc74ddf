#!/usr/bin/env bash
# Checks that an engine other than DuckDB reads a dataset root as Hive-partitioned Parquet and agrees with
# `mmtrace query` (docs/scale.md, "Spark / Trino"): counts per trace and event, first/last timestamp, distinct pids,
# and a join of the findings' witness seqs with the events. The engine is Polars (nodejs-polars from the npm
# registry, installed into a temporary directory); Spark itself cannot be fetched on the build machines.
#
#   scripts/interop-check.sh [ROOT]     default: a fresh `mmtrace demo` root
#
# Exits 0 when both tables are identical, 1 when they differ (the diff is printed).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
work="$(mktemp -d /tmp/mmtrace-interop-XXXXXX)"
trap 'rm -rf "$work"' EXIT
mmtrace="$here/mmtrace"
root=${1:-}
if [[ -z $root ]]; then
    root="$work/demo"
    "$mmtrace" demo -o "$root" > /dev/null
fi

(cd "$work" && npm install --silent --no-audit --no-fund nodejs-polars@0.26.1 nodejs-polars-linux-x64-gnu@0.26.1 > /dev/null)
mkdir -p "$work/polars" "$work/duckdb"
NODE_PATH="$work/node_modules" node "$here/scripts/interop/polars-check.js" "$root" "$work/polars"

"$mmtrace" query "$root" --format csv --sql "SELECT trace, event, count(*) AS n, min(ts_ns)::VARCHAR AS ts_min, max(ts_ns)::VARCHAR AS ts_max, count(DISTINCT pid) AS pids FROM events GROUP BY ALL ORDER BY 1, 2" > "$work/duckdb/counts.csv"
"$mmtrace" query "$root" --format csv --sql "SELECT f.trace, count(*) AS n FROM (SELECT trace, unnest(seqs) AS seq FROM findings) f JOIN events e USING (trace, seq) GROUP BY ALL ORDER BY 1" > "$work/duckdb/join.csv"

status=0
for table in counts join; do
    if diff "$work/duckdb/$table.csv" "$work/polars/$table.csv" > "$work/$table.diff"; then
        echo "$table: identical ($(($(wc -l < "$work/duckdb/$table.csv") - 1)) rows)"
    else
        echo "$table: DIFFERENT"; cat "$work/$table.diff"; status=1
    fi
done
exit $status
