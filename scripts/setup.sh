#!/usr/bin/env bash
# Installs what builds and tests need and that a fresh machine may lack. Idempotent.
# - libduckdb.so: fetched by the build itself (npm pack, see src/Storage/Storage.csproj).
# - trace-cmd and perf (live recording tests), a C compiler (test workloads), libzstd (trace.dat v7), tracefs mounted.
# - chromium, chromium-driver and fonts-dejavu-core (the report's browser tests; skipped without them).
set -euo pipefail
need=()
command -v trace-cmd >/dev/null 2>&1 || need+=(trace-cmd)
command -v cc >/dev/null 2>&1 || need+=(gcc)
command -v perf >/dev/null 2>&1 || need+=(linux-perf)
command -v zstd >/dev/null 2>&1 || need+=(zstd)
[[ -e /usr/lib/x86_64-linux-gnu/libzstd.so.1 || -e /lib/x86_64-linux-gnu/libzstd.so.1 ]] || need+=(libzstd1)
command -v npm >/dev/null 2>&1 || need+=(npm)
if [[ ${#need[@]} -gt 0 ]]; then
    if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
        echo "setup: installing ${need[*]}" >&2
        DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
    else
        echo "setup: missing ${need[*]} and cannot install them (need root and apt-get); the tests that need them will skip." >&2
    fi
fi
# The report's browser tests drive Debian's chromium through chromium-driver; fonts-dejavu-core gives the
# charts the font they name. One package at a time, and a failure only means those tests skip.
if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
    browser=()
    command -v chromium >/dev/null 2>&1 || browser+=(chromium)
    command -v chromedriver >/dev/null 2>&1 || browser+=(chromium-driver)
    [[ -e /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ]] || browser+=(fonts-dejavu-core)
    for package in "${browser[@]}"; do
        echo "setup: installing $package (report browser tests)" >&2
        if ! DEBIAN_FRONTEND=noninteractive timeout 900 apt-get install -y -qq --no-install-recommends "$package" >/dev/null 2>&1; then
            DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null 2>&1 || true
            DEBIAN_FRONTEND=noninteractive timeout 900 apt-get install -y -qq --no-install-recommends "$package" >/dev/null 2>&1 \
                || echo "setup: could not install $package; the report's browser tests will skip." >&2
        fi
    done
fi
# Live-recording tests need tracefs; mount it where we may (they skip with a message otherwise).
if [[ ! -e /sys/kernel/tracing/available_events && $(id -u) -eq 0 ]]; then
    mount -t tracefs nodev /sys/kernel/tracing 2>/dev/null || echo "setup: could not mount tracefs; live tests will skip." >&2
fi
exit 0
