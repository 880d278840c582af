#!/usr/bin/env bash
# Every Tandem kernel under Oclgrind (an OpenCL device simulator that reports out-of-bounds accesses,
# data races, reads of uninitialised memory, barrier divergence and invalid API use).
#
#   scripts/oclgrind-check.sh [full]        selftest and training steps, both kernel kinds, both GEMMs
#   scripts/oclgrind-check.sh ci            the subset .ci/run runs (a few minutes)
#   scripts/oclgrind-check.sh probe KIND    a deliberately faulty kernel (out-of-bounds, data-race,
#                                           uninitialized): must be reported, so this exits 1
#
# Each run is `oclgrind [checks] tandem selftest --device opencl:0 ...` with Oclgrind's messages in
# a log of their own; a run passes when tandem exits 0 and the log is empty (Oclgrind itself never
# changes the exit status). Runs and their times are listed at the end; the exit status is 1 when
# any run failed. Environment:
#   TANDEM_BIN            the tandem to run (default: .build/release/tandem of this checkout)
#   OCLGRIND_CHECK_DIR    where the logs go (default: a new folder under /tmp)
#
# Every run has TANDEM_OPENCL_POOL=off: each tensor gets a buffer of exactly its size that is never
# reused, so an access past a tensor's end is outside its buffer and a read of memory nothing wrote
# is seen as such. Oclgrind presents itself as a GPU, so runs get the element-wise kernel kind and
# CLBlast by default; TANDEM_OPENCL_ROW_KERNELS=1 and TANDEM_OPENCL_GEMM=tiled select the CPU-device
# kind and the tiled GEMM. Uninitialised-value runs build every program with -cl-opt-disable: at
# Oclgrind 21.10's default optimisation LLVM emits `freeze`, which its uninitialised-value checker
# cannot interpret (fixed after 21.10); they are slower, so they cover the training steps.
set -uo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
mode="${1:-full}"
tandem="${TANDEM_BIN:-$root/.build/release/tandem}"
command -v oclgrind >/dev/null || { echo "oclgrind-check: oclgrind is not installed (Debian package oclgrind; scripts/install-deps.sh installs it)" >&2; exit 2; }
[ -x "$tandem" ] || { echo "oclgrind-check: no tandem at $tandem (swift build -c release --product tandem, or set TANDEM_BIN)" >&2; exit 2; }
out="${OCLGRIND_CHECK_DIR:-$(mktemp -d /tmp/oclgrind-check.XXXXXX)}"
mkdir -p "$out" || exit 2

failed=0
summary=()

# check NAME CHECKS ENV -- TANDEM-ARGUMENTS: one run under Oclgrind; CHECKS is a space-separated
# list of Oclgrind options, ENV space-separated NAME=VALUE pairs.
check() {
    local name="$1" checks="$2" environment="$3"
    shift 4
    local log="$out/$name.log" output="$out/$name.out"
    # A program cache of its own per run: binaries built with other options (or by another Oclgrind
    # run's -cl-opt-disable, which Tandem's cache key cannot see) must not be loaded.
    local cache="$out/cache-$name"
    rm -rf "$cache" "$log"
    local start end status
    start=$(date +%s.%N)
    # shellcheck disable=SC2086
    env TANDEM_CACHE_DIR="$cache" TANDEM_OPENCL_POOL=off SWIFT_BACKTRACE=enable=yes,preset=full,threads=crashed $environment \
        oclgrind $checks --log "$log" "$tandem" selftest --device opencl:0 "$@" >"$output" 2>&1
    status=$?
    end=$(date +%s.%N)
    local seconds result
    seconds=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.0f", b - a }')
    if [ "$status" -eq 0 ] && [ ! -s "$log" ]; then
        result="pass"
    else
        result="FAIL (exit $status, $(grep -c . "$log" 2>/dev/null || echo 0) log lines)"
        if [ "$status" -ne 0 ] && grep -q " passed, 0 failed" "$output"; then result="$result: every check passed, then the process crashed"; fi
        failed=1
        echo "---- $name: tandem exited $status; Oclgrind's log $log:" >&2
        head -40 "$log" >&2 2>/dev/null
        echo "---- the end of tandem's output ($output):" >&2
        tail -15 "$output" >&2
    fi
    rm -rf "$cache"
    summary+=("$(printf '%-34s %6ss  %s' "$name" "$seconds" "$result")")
    echo "$(printf '%-34s %6ss  %s' "$name" "$seconds" "$result")"
}

memory="--check-api"
races="--check-api --data-races"
uninit="--check-api --uninitialized"
elements="TANDEM_OPENCL_ROW_KERNELS=0 TANDEM_OPENCL_GEMM=clblast"
elements_tiled="TANDEM_OPENCL_ROW_KERNELS=0 TANDEM_OPENCL_GEMM=tiled"
rows="TANDEM_OPENCL_ROW_KERNELS=1 TANDEM_OPENCL_GEMM=tiled"
unoptimised="OCLGRIND_BUILD_OPTIONS=-cl-opt-disable"

echo "Oclgrind check ($mode) of $tandem; logs in $out"
case "$mode" in
    full)
        # Every kernel the selftest reaches, with our GEMM under the race detector and CLBlast under
        # the memory checker (CLBlast's own kernels are not ours to race-check; our buffers,
        # offsets and leading dimensions in its calls are).
        check ops-elements-tiled "$races" "$elements_tiled" -- --checks ops
        check ops-rows-tiled "$races" "$rows" -- --checks ops
        check ops-elements-clblast "$memory" "$elements" -- --checks ops
        # One training step of W1–W4 at tiny shapes, compared with the CPU.
        check steps-elements-tiled "$races" "$elements_tiled" -- --checks steps
        check steps-rows-tiled "$races" "$rows" -- --checks steps
        check steps-elements-clblast "$memory" "$elements" -- --checks steps
        # Reads of memory nothing wrote (unoptimised programs, see above).
        check steps-uninitialized-elements "$uninit" "$elements $unoptimised" -- --checks steps
        check steps-uninitialized-rows "$uninit" "$rows $unoptimised" -- --checks steps
        check ops-uninitialized-elements "$uninit" "$elements_tiled $unoptimised" -- --checks ops
        ;;
    ci)
        check ops-elements-tiled "$races" "$elements_tiled" -- --checks ops
        check steps-rows-tiled "$memory" "$rows" -- --checks steps
        check steps-elements-clblast "$memory" "$elements" -- --checks steps --workloads mmoe-synth,lenet-hps,lenet-crossstitch
        check steps-uninitialized-rows "$uninit" "$rows $unoptimised" -- --checks steps --workloads mmoe-synth,lenet-hps
        ;;
    probe)
        kind="${2:-}"
        case "$kind" in
            out-of-bounds) flags="$memory" ;;
            data-race) flags="$races" ;;
            uninitialized) flags="$uninit" ;;
            *) echo "oclgrind-check: probe takes out-of-bounds, data-race or uninitialized" >&2; exit 2 ;;
        esac
        environment=""
        [ "$kind" = uninitialized ] && environment="$unoptimised"
        check "probe-$kind" "$flags" "$environment" -- --checker-probe "$kind"
        ;;
    *)
        echo "oclgrind-check: unknown mode '$mode' (full, ci or probe KIND)" >&2
        exit 2
        ;;
esac

echo
echo "Oclgrind check ($mode): $([ $failed -eq 0 ] && echo "no reports" || echo "FAILED")"
printf '%s\n' "${summary[@]}"
exit $failed
