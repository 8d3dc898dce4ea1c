#!/usr/bin/env bash
# make year-ahead: the test binaries whose outcomes depend on "now" (the end-to-end handler
# tests, follow-up checks, the CLI against moto, the EKS remediation) run again with the
# process clock a year ahead (libfaketime, from Debian's `faketime` package). Every process
# moves together: the tests, the remediator they run, and the moto server they start. A test
# that stamps a calendar date instead of reading the clock fails here, the day it is written,
# not on the day that date passes (issue 21).
#
# The binaries are built first without faketime (cargo must never see a clock from the future:
# its freshness checks compare file times), then run directly.
set -euo pipefail
cd "$(dirname "$0")/../.."

shift_by="${YEAR_AHEAD_SHIFT:-+365d}"
lib=$(ls /usr/lib/*/faketime/libfaketime.so.1 2>/dev/null | head -n 1 || true)
if [ -z "$lib" ]; then
    echo "year-ahead: libfaketime is missing; 'make faketime' installs Debian's faketime package" >&2
    exit 1
fi

# Packages whose tests decide outcomes against the clock.
packages=(e2e-tests remediator-cli remediator-kube remediator-testkit remediator-lambda remediator-aws remediator-sdk remediator-core)
args=()
for p in "${packages[@]}"; do args+=(-p "$p"); done
build_log="${TMPDIR:-/tmp}/year-ahead-build.$$.log"
binaries=$(cargo test --locked "${args[@]}" --no-run --message-format=json 2>"$build_log" \
    | python3 -c '
import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("profile", {}).get("test") and m.get("executable"):
        print(m["executable"], m["manifest_path"].rsplit("/", 1)[0])
')
if [ -z "$binaries" ]; then
    echo "year-ahead: no test binaries were built:" >&2
    tail -n 40 "$build_log" >&2
    exit 1
fi
rm -f "$build_log"

days="${shift_by#+}"
days="${days%d}"
case "$days" in '' | *[!0-9]*) echo "year-ahead: YEAR_AHEAD_SHIFT must read +Nd (days ahead), not $shift_by" >&2; exit 2 ;; esac
expected=$(date -u -d "+$days days" +%Y)
seen=$(LD_PRELOAD="$lib" FAKETIME="$shift_by" FAKETIME_DONT_FAKE_MONOTONIC=1 date -u +%Y)
if [ "$seen" != "$expected" ]; then
    echo "year-ahead: the faked clock reads $seen, expected $expected" >&2
    exit 1
fi
echo "year-ahead: running ${#packages[@]} packages' tests with the clock at $(LD_PRELOAD="$lib" FAKETIME="$shift_by" date -u +%FT%TZ)"

failed=0 passed=0 ran=0
while read -r binary dir; do
    ran=$((ran + 1))
    # The monotonic clock stays real (timers, tokio); the wall clock moves.
    log="${TMPDIR:-/tmp}/year-ahead.$$.log"
    began=$SECONDS
    # REMEDIATOR_EXPECT_YEAR: the test kit's canary test checks that Rust's clock moved too.
    if (cd "$dir" && LD_PRELOAD="$lib" FAKETIME="$shift_by" FAKETIME_DONT_FAKE_MONOTONIC=1 \
        REMEDIATOR_EXPECT_YEAR="$expected" \
        "$binary" --quiet >"$log" 2>&1); then
        passed=$((passed + 1))
        grep -E '^test result' "$log" | sed "s|^|  $(basename "$binary") ($((SECONDS - began)) s): |" || true
    else
        failed=$((failed + 1))
        echo "year-ahead: FAILED $(basename "$binary") ($((SECONDS - began)) s):" >&2
        grep -vE '^(running|$)' "$log" | tail -n 60 >&2 || true
    fi
    rm -f "$log"
done <<<"$binaries"
echo "year-ahead: $ran test binaries, $passed passed, $failed failed (clock $shift_by) in $SECONDS s"
[ "$failed" -eq 0 ]
