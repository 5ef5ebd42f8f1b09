#!/usr/bin/env bash
# Run every libFuzzer harness for SECONDS each, two at a time, from the
# committed seeds; new inputs go to a scratch corpus (pass KEEP=DIR to keep
# them: DIR/NAME/), crashes to ARTIFACTS (default: a scratch dir, printed).
#
#   tests/fuzz/run.sh SECONDS [BUILD_DIR] [NAME...]
#
# BUILD_DIR is a -Dfuzzing=true build (default build-asan). Exits non-zero
# when any harness found a crash, a leak, a sanitizer report or a timeout.
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds=${1:?usage: tests/fuzz/run.sh SECONDS [BUILD_DIR] [NAME...]}
build=${2:-build-asan}
shift $(( $# >= 2 ? 2 : $# ))
names=("$@")
if [ ${#names[@]} -eq 0 ]; then
    names=(config segment reconcile http api ctl)
fi
jobs=${FUZZ_JOBS:-2}

work=${KEEP:-$(mktemp -d "${TMPDIR:-/tmp}/porchlight-fuzz-XXXXXX")}
artifacts=${ARTIFACTS:-$work/artifacts}
mkdir -p "$artifacts"
export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1:strict_string_checks=1:detect_stack_use_after_return=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$PWD/tests/sanitizers/lsan.supp:print_suppressions=0}

one() {
    local name=$1 exe="$build/tests/fuzz/fuzz_$1" seeds="tests/fuzz/corpus/$1"
    local corpus="$work/$name" log="$work/$name.log" dict=()
    mkdir -p "$corpus"
    [ -f "tests/fuzz/$name.dict" ] && dict=(-dict="tests/fuzz/$name.dict")
    local before
    before=$(find "$corpus" "$seeds" -type f | wc -l)
    local rc=0
    "$exe" -max_total_time="$seconds" -timeout=20 -rss_limit_mb=2560 -max_len=65536 \
        -print_final_stats=1 -artifact_prefix="$artifacts/$name-" "${dict[@]}" \
        "$corpus" "$seeds" >"$log" 2>&1 || rc=$?
    local runs
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    printf '%-10s %s  %8s runs in %ss  corpus %s -> %s inputs\n' "$name" \
        "$([ $rc -eq 0 ] && echo ok || echo FAILED)" "${runs:-?}" "$seconds" "$before" \
        "$(( $(find "$corpus" -type f | wc -l) + $(find "$seeds" -type f | wc -l) ))"
    if [ $rc -ne 0 ]; then
        grep -E 'ERROR|SUMMARY|fuzz_[a-z]+: |Test unit written|runtime error' "$log" | head -20 | sed 's/^/    /'
        echo "    full log: $log"
        return 1
    fi
}
export -f one
export build seconds work artifacts

echo "fuzzing ${names[*]} for ${seconds}s each, $jobs at a time (scratch: $work)"
status=0
printf '%s\n' "${names[@]}" | xargs -P "$jobs" -I{} bash -c 'one {}' || status=1
if [ $status -ne 0 ]; then
    echo "fuzz: a harness failed; crashing inputs are in $artifacts (add each to" \
        "tests/fuzz/corpus/NAME/ with its fix)"
elif [ -z "${KEEP:-}" ]; then
    rm -rf "$work"
fi
exit $status
