#!/usr/bin/env bash
# Installs the tools the tests use and that a fresh machine may lack. Idempotent. Nothing here is needed to build:
# the .NET SDK restores every library from NuGet (DuckDB comes with DuckDB.NET.Data.Full).
# - trace-cmd and perf (live recording tests), a C compiler (test workloads), zstd and libzstd (trace.dat v7),
#   tracefs mounted.
# Each package is installed on its own, so one the distribution lacks (perf is `linux-perf` on Debian,
# `linux-tools-common` + `linux-tools-$(uname -r)` on Ubuntu) only skips the tests that need it.
set -uo pipefail
install() { # command-or-file, then candidate packages (the first that installs wins)
    local what=$1
    shift
    if [[ $what == /* ]]; then [[ -e $what ]] && return 0; else command -v "$what" >/dev/null 2>&1 && return 0; fi
    if [[ $(id -u) -ne 0 ]] || ! command -v apt-get >/dev/null 2>&1; then
        echo "setup: $what is missing and cannot be installed here (needs root and apt-get); the tests that need it will skip." >&2
        return 0
    fi
    if [[ -z ${updated:-} ]]; then
        DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null 2>&1 || echo "setup: apt-get update failed; trying the package lists at hand." >&2
        updated=1
    fi
    local package
    for package in "$@"; do
        if DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $package >/dev/null 2>&1; then
            echo "setup: installed $package" >&2
            return 0
        fi
    done
    echo "setup: could not install $what (tried: $*); the tests that need it will skip." >&2
}
install trace-cmd trace-cmd
install cc gcc
install perf linux-perf "linux-tools-common linux-tools-$(uname -r)"
install zstd zstd
zstd_lib=/usr/lib/$(uname -m)-linux-gnu/libzstd.so.1
[[ -e /lib/$(uname -m)-linux-gnu/libzstd.so.1 ]] || install "$zstd_lib" libzstd1
# The report's browser tests drive Debian's chromium through chromium-driver; fonts-dejavu-core gives the
# charts the font they name. A failure only means those tests skip.
install chromium chromium
install chromedriver chromium-driver
install /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf fonts-dejavu-core
# Live-recording tests need tracefs; mount it where we may (they skip with a message otherwise).
if [[ ! -e /sys/kernel/tracing/available_events && $(id -u) -eq 0 ]]; then
    mount -t tracefs nodev /sys/kernel/tracing 2>/dev/null || echo "setup: could not mount tracefs; live tests will skip." >&2
fi
exit 0
