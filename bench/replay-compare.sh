#!/usr/bin/env bash
# Replays the same datasets with two builds of mmtrace and says whether what they wrote is the same.
#
#   bench/replay-compare.sh OLD NEW INPUT...
#
# OLD and NEW are mmtrace.dll files (e.g. a copy of main's src/Cli/bin/Release/net10.0 and this tree's). An INPUT
# is a dataset directory (its events are replayed as they are), a trace file or directory (ingested once, by NEW,
# and left out with a note when it is no trace), or `synth:ARGS` (the op trace `mmtrace synth ARGS -o FILE` writes,
# by NEW). Each is replayed with `--keep-ops` and then again without, on fresh copies, by each build; compared:
# the exit code, stdout with the timings taken out, every Parquet file of the run as CSV (`mmtrace query`, all
# columns, in file order) and run.json without its timestamps. Prints one line per input and exits 1 when any
# differs (the differing files are kept in the work dir, which is then printed). MMTRACE_COMPARE_ARGS adds replay
# options to both runs (e.g. `--profile v5.13`), MMTRACE_COMPARE_NEW_ARGS to NEW's only (a check that the script
# sees a difference: `MMTRACE_COMPARE_NEW_ARGS='--profile v5.13' bench/replay-compare.sh A.dll A.dll synth:r1-pmd`).
set -uo pipefail
(($# >= 3)) || { echo "usage: $0 OLD.dll NEW.dll INPUT..." >&2; exit 2; }
old=$1 new=$2; shift 2
work="$(mktemp -d /tmp/replay-compare-XXXXXX)"
status=0

# The run's outputs as text: exit code, summary, each Parquet file as CSV, run.json without times.
dump() { # dll, dataset, out-dir, exit-code, stdout-file
    local dll=$1 ds=$2 out=$3
    mkdir -p "$out"
    echo "exit $4" > "$out/exit"
    # Wall times and rates differ run to run; everything else in the summary must not.
    sed -E 's/[0-9.]+ ?(s|ms)\b//g; s/[0-9.,]+ ?(M |k )?(events|ops)\/s//g' "$5" > "$out/stdout"
    local f rel
    while IFS= read -r f; do
        rel=${f#"$ds"/}
        mkdir -p "$out/$(dirname "$rel")"
        # Large tables (ops.parquet of a 10 M-event trace: 20 M rows) are kept as their line count and SHA-256.
        dotnet "$dll" query "$ds" --raw --format csv --sql "SELECT * FROM read_parquet('$f')" > "$out/$rel.csv" 2>&1
        if (($(stat -c %s "$out/$rel.csv") > 64 << 20)); then
            echo "$(wc -l < "$out/$rel.csv") lines, sha256 $(sha256sum < "$out/$rel.csv" | cut -d' ' -f1)" > "$out/$rel.csv.sum"
            rm "$out/$rel.csv"
        fi
    done < <(find "$ds" -path '*replay=*' -name '*.parquet' | sort; find "$ds" -maxdepth 1 -name 'explorations.parquet')
    while IFS= read -r f; do
        rel=${f#"$ds"/}
        mkdir -p "$out/$(dirname "$rel")"
        grep -vE '"[a-z_]*_at"|"(elapsed|seconds|wall)[a-z_]*"' "$f" > "$out/$rel" || true
    done < <(find "$ds" -path '*replay=*' -name 'run.json' | sort)
}

n=0
for input in "$@"; do
    n=$((n + 1))
    src="$work/src-$n"
    case $input in
        synth:*)
            # shellcheck disable=SC2086
            dotnet "$new" synth ${input#synth:} -o "$work/synth-$n.txt" > /dev/null || { echo "$input: synth failed"; status=1; continue; }
            dotnet "$new" ingest "$work/synth-$n.txt" -o "$src" > /dev/null 2>&1 || { echo "$input: ingest failed"; status=1; continue; } ;;
        *)
            if [[ -f $input/meta.json ]]; then
                cp -r "$input" "$src"
                rm -rf "$src"/replay=* "$src"/*/replay=* "$src/explorations.parquet"
            elif ! dotnet "$new" ingest "$input" -o "$src" > "$work/ingest-$n.txt" 2>&1; then
                echo "$input: not ingested, left out ($(tail -1 "$work/ingest-$n.txt"))"; continue
            fi ;;
    esac
    same=1
    for keep in --keep-ops ""; do
        for side in old new; do
            dll=$old; [[ $side == new ]] && dll=$new
            # The same name on both sides: the summary names the dataset.
            ds="$work/$side/ds-$n"
            rm -rf "$ds"; mkdir -p "$work/$side"; cp -r "$src" "$ds"
            extra=""; [[ $side == new ]] && extra=${MMTRACE_COMPARE_NEW_ARGS:-}
            # shellcheck disable=SC2086
            dotnet "$dll" replay "$ds" $keep ${MMTRACE_COMPARE_ARGS:-} $extra > "$work/out-$n-$side.txt" 2> "$work/err-$n-$side.txt"
            dump "$dll" "$ds" "$work/cmp-$n$keep-$side" $? "$work/out-$n-$side.txt"
            rm -rf "$ds"
        done
        if ! diff -r "$work/cmp-$n$keep-old" "$work/cmp-$n$keep-new" > "$work/diff-$n$keep.txt"; then same=0; fi
    done
    files=$(find "$work/cmp-$n--keep-ops-new" -name '*.csv*' | wc -l)
    if ((same)); then
        echo "$input: same ($files tables, exit $(cut -d' ' -f2 "$work/cmp-$n--keep-ops-new/exit"))"
        rm -rf "$work/cmp-$n"* "$work/diff-$n"* "$src"
    else
        echo "$input: DIFFERENT (see $work/diff-$n*.txt)"; status=1
    fi
done
((status == 0)) && rm -rf "$work" || echo "kept: $work"
exit $status
