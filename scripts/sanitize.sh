#!/usr/bin/env bash
# The whole test suite under a sanitizer, and the C API's tests (c/test_tandem.c, which trains from
# two threads at once) under the same sanitizer, on the CPU and on OpenCL:
#   scripts/sanitize.sh address      AddressSanitizer (out-of-bounds, use-after-free, leaks)
#   scripts/sanitize.sh thread       ThreadSanitizer (data races)
#   scripts/sanitize.sh              both, one after the other
# Each sanitizer builds into its own folder (.build-asan, .build-tsan): a first build takes a while.
# Reports from the system's OpenCL, PoCL, CLBlast and OpenBLAS libraries (not built with the sanitizer,
# so their memory and threads are not seen whole) are suppressed by scripts/sanitizers/*.supp, library
# by library; nothing of Tandem's own is. Any report fails the run: the sanitizers halt on the first
# error and the script exits non-zero. Logs go to $OUT (default sanitize-results/).
# SANITIZE_FILTER=REGEX runs only the matching tests (swift test --filter).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
out=${OUT:-sanitize-results}
mkdir -p "$out"
kinds=("$@")
[ ${#kinds[@]} -gt 0 ] || kinds=(address thread)
filter=()
[ -z "${SANITIZE_FILTER:-}" ] || filter=(--filter "$SANITIZE_FILTER")
toolchain=$(dirname "$(readlink -f "$(command -v swift)")")
clang=$toolchain/clang
swiftlib=$toolchain/../lib/swift/linux

for kind in "${kinds[@]}"; do
    case $kind in
        address) build=.build-asan; flag=address
            export ASAN_OPTIONS="halt_on_error=1:abort_on_error=0:detect_leaks=1:detect_stack_use_after_return=0:use_sigaltstack=0"
            export LSAN_OPTIONS="suppressions=$root/scripts/sanitizers/lsan.supp:print_suppressions=0"
            ;;
        thread) build=.build-tsan; flag=thread
            export TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:suppressions=$root/scripts/sanitizers/tsan.supp:print_suppressions=0"
            ;;
        *) echo "sanitize: unknown sanitizer '$kind' (address or thread)" >&2; exit 64 ;;
    esac
    echo "== $kind: build ($build)"
    swift build --build-tests --build-path "$build" --sanitize="$flag" 2>&1 | grep -E "error|warning: |Compiling|Build" | tail -3
    echo "== $kind: swift test"
    if ! swift test --skip-build --build-path "$build" --sanitize="$flag" "${filter[@]}" > "$out/$kind-tests.log" 2>&1; then
        grep -E "ERROR: |WARNING: ThreadSanitizer|SUMMARY|✘|failed" "$out/$kind-tests.log" | head -40
        echo "sanitize: $kind: the test suite failed (see $out/$kind-tests.log)"
        exit 1
    fi
    if grep -qE "ERROR: AddressSanitizer|ERROR: LeakSanitizer|WARNING: ThreadSanitizer" "$out/$kind-tests.log"; then
        echo "sanitize: $kind: reports in $out/$kind-tests.log"; exit 1
    fi
    grep -E "Test run with .* passed|✔ Test run" "$out/$kind-tests.log" | tail -1

    echo "== $kind: the C API's tests (two training threads at once)"
    lib=$build/debug/libCTandem.so
    [ -f "$lib" ] || { echo "sanitize: $lib was not built" >&2; exit 1; }
    # The toolchain's sanitizer runtimes intercept libdispatch, so the C program links it (and the
    # blocks runtime) from the toolchain as the Swift library does.
    "$clang" -std=c11 -g -fsanitize="$flag" -Iinclude c/test_tandem.c -L"$build/debug" -lCTandem \
        -Wl,-rpath,"$root/$build/debug" -L"$swiftlib" -ldispatch -lBlocksRuntime -Wl,-rpath,"$swiftlib" \
        -lpthread -o "$out/test_tandem-$kind" 2>&1 | grep -v "Cannot export local symbol" || true
    for device in cpu opencl; do
        if ! "$out/test_tandem-$kind" "$device" 0 > "$out/$kind-c-$device.log" 2>&1; then
            tail -40 "$out/$kind-c-$device.log"
            echo "sanitize: $kind: c/test_tandem.c on $device failed (see $out/$kind-c-$device.log)"; exit 1
        fi
        tail -1 "$out/$kind-c-$device.log"
    done
done
echo "sanitize: ${kinds[*]}: no reports"
