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
    # Wall times and rates differ run to run, and each side's dataset has its own path (named in the hint to query
    # the findings that were not drawn); everything else in the summary must not.
    sed -E "s#$ds#DATASET#g" "$5" | sed -E 's/[0-9.]+ ?(s|ms)\b//g; s/[0-9.,]+ ?(M |k )?(events|ops)\/s//g' > "$out/stdout"
    local f rel script="$out.sql"
    : > "$script"
    # One query run per side for all the small tables (each `mmtrace query` is a process start); a large table
    # (ops.parquet of a 10 M-event trace: 20 M rows) is kept as its CSV's line count and SHA-256.
    while IFS= read -r f; do
        rel=${f#"$ds"/}
        if (($(stat -c %s "$f") > 16 << 20)); then
            dotnet "$dll" query "$ds" --raw --format csv --sql "SELECT * FROM read_parquet('$f')" > "$out/big.csv" 2>&1
            echo "$(wc -l < "$out/big.csv") lines, sha256 $(sha256sum < "$out/big.csv" | cut -d' ' -f1)" > "$out/$(echo "$rel" | tr / _).sum"
            rm "$out/big.csv"
        else
            printf "SELECT '%s' AS file;\nSELECT * FROM read_parquet('%s');\n" "$rel" "$f" >> "$script"
        fi
    done < <(find "$ds" -path '*replay=*' -name '*.parquet' | sort; find "$ds" -maxdepth 1 -name 'explorations.parquet')
    dotnet "$dll" query "$ds" --raw --format csv < "$script" > "$out/tables.csv" 2>&1
    rm "$script"
    while IFS= read -r f; do
        rel=${f#"$ds"/}
        mkdir -p "$out/$(dirname "$rel")"
        grep -vE '"[a-z_]*_at"|"(elapsed|seconds|wall)[a-z_]*"' "$f" > "$out/$rel" || true
    done < <(find "$ds" -path '*replay=*' -name 'run.json' | sort)
}

n=0
declare -A seen
for input in "$@"; do
    n=$((n + 1))
    src="$work/src-$n"
    if [[ -f $input ]]; then
        # The same file under two names (a corpus and the tests' copy of it) is compared once.
        sum=$(sha256sum < "$input" | cut -d' ' -f1)
        if [[ -n ${seen[$sum]:-} ]]; then echo "$input: the same file as ${seen[$sum]}"; continue; fi
        seen[$sum]=$input
    fi
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
    files=$(($(grep -c "^file$" "$work/cmp-$n--keep-ops-new/tables.csv") + $(find "$work/cmp-$n--keep-ops-new" -name '*.sum' | wc -l)))
    if ((same)); then
        echo "$input: same ($files tables, exit $(cut -d' ' -f2 "$work/cmp-$n--keep-ops-new/exit"))"
        rm -rf "$work/cmp-$n"* "$work/diff-$n"* "$src"
    else
        echo "$input: DIFFERENT (see $work/diff-$n*.txt)"; status=1
    fi
done
((status == 0)) && rm -rf "$work" || echo "kept: $work"
exit $status
