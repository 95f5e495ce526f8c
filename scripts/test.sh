#!/usr/bin/env bash
# Sets up a fresh Debian 12 machine, builds mqttd with tests (warnings are errors) and
# runs every suite: unit (doctest), integration (the real binary driven by paho-mqtt,
# mosquitto-clients and mqttd-bench) and the perf scenario smoke runs. Prints a final
# line "N passed, M failed" and exits non-zero on any failure.
#   scripts/test.sh                      the whole suite (what CI runs)
#   scripts/test.sh --sanitize address   the same under ASan+UBSan (build-asan/)
#   scripts/test.sh --sanitize thread    the same under TSan (build-tsan/)
#   scripts/test.sh --suite unit         one suite only (unit, integration, perf)
set -euo pipefail
cd "$(dirname "$0")/.."

sanitize=none
suites=()
while (($#)); do
  case "$1" in
    --sanitize) sanitize="$2"; shift 2 ;;
    --suite) suites+=(--suite "$2"); shift 2 ;;
    *) echo "test.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done

scripts/setup.sh

build=build-test
buildtype=debugoptimized
if [[ $sanitize == address ]]; then build=build-asan; buildtype=debug; fi
if [[ $sanitize == thread ]]; then build=build-tsan; buildtype=debugoptimized; fi

if [[ ! -f $build/build.ninja ]]; then
  meson setup "$build" --buildtype=$buildtype -Dtests=true -Dbenchmarks=true \
    -Dwerror=true -Dsanitize=$sanitize
fi
ninja -C "$build"

# Sanitizer reports fail the test that produced them (exit code), with the suppressions
# for third-party false positives named and explained in tests/tsan.supp.
export TSAN_OPTIONS="suppressions=$PWD/tests/tsan.supp halt_on_error=1 exitcode=66 ${TSAN_OPTIONS:-}"
export ASAN_OPTIONS="detect_leaks=1 ${ASAN_OPTIONS:-}"
export UBSAN_OPTIONS="print_stacktrace=1 halt_on_error=1 ${UBSAN_OPTIONS:-}"

jobs=$(nproc)
status=0
meson test -C "$build" --print-errorlogs --num-processes "$jobs" "${suites[@]}" || status=$?
/usr/bin/python3 scripts/test_summary.py "$build/meson-logs/testlog.json" || status=1
exit $status
