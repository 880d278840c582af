#!/usr/bin/env bash
# libFuzzer targets (Fuzz/*.swift) over Tandem's file readers: every input must decode or throw,
# never crash, hang or allocate without bound. Builds TandemData and its dependencies with
# AddressSanitizer and coverage (in .build-fuzz), links each target, and runs it from the seed
# corpus in Fuzz/corpus/<target> for SECONDS (default 60) seconds each.
#   scripts/fuzz.sh [SECONDS] [TARGET ...]       targets: npy npz safetensors idx json checkpoint config
# A crash leaves its input in $OUT (default fuzz-results/) and the script exits 1.
# FUZZ_RUNS=N stops each target after N inputs and FUZZ_SEED=S fixes libFuzzer's seed (CI sets both,
# so its run is the same every time); without them the run is time-bound and randomly seeded.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(npy npz safetensors idx json checkpoint config)
out=${OUT:-fuzz-results}
mkdir -p "$out"
build=.build-fuzz

# The readers need TandemData; the checkpoint target also the trainer (TandemMTL) on the CPU device;
# the config target TandemMTL (the C API's ModelConfiguration).
echo "== build TandemData, TandemMTL and TandemCPU with -sanitize=fuzzer,address"
for module in TandemData TandemMTL TandemCPU; do
    swift build --build-path "$build" --target "$module" -Xswiftc -sanitize=fuzzer,address 2>&1 | tail -1
done

failed=()
for target in "${targets[@]}"; do
    binary="$out/fuzz-$target"
    modules=(TandemData TandemCore TandemSupport TandemABI)
    libraries=(-lz)
    if [ "$target" = checkpoint ]; then modules+=(TandemMTL TandemDistributed TandemNN TandemCPU); libraries+=(-lopenblas); fi
    if [ "$target" = config ]; then modules+=(TandemMTL TandemDistributed TandemNN); fi
    objects=()
    for module in "${modules[@]}"; do objects+=("$build"/debug/"$module".build/*.o); done
    # ld.gold warns that it cannot export ASan's local helper symbols; harmless.
    swiftc -sanitize=fuzzer,address -parse-as-library "Fuzz/$target.swift" -I "$build/debug/Modules" -I Sources/CZlib \
        -I Sources/CBLAS "${objects[@]}" "${libraries[@]}" -o "$binary" 2>&1 | grep -v "Cannot export local symbol" || true
    corpus="$out/corpus-$target"
    mkdir -p "$corpus"
    if [ -d Fuzz/corpus/"$target" ]; then cp -n Fuzz/corpus/"$target"/* "$corpus"/ 2>/dev/null || true; fi
    # The checkpoint target writes its own seed: a valid checkpoint in the current format.
    if [ "$target" = checkpoint ] && [ ! -f "$corpus/trainer.safetensors" ]; then
        FUZZ_WRITE_SEED="$corpus/trainer.safetensors" "$binary"
    fi
    echo "== $target: $seconds s"
    limits=(-max_total_time="$seconds" -seed="${FUZZ_SEED:-0}")
    [ -z "${FUZZ_RUNS:-}" ] || limits+=(-runs="$FUZZ_RUNS")
    if "$binary" "${limits[@]}" -rss_limit_mb=2048 -timeout=10 -artifact_prefix="$out/$target-" "$corpus" \
        > "$out/$target.log" 2>&1; then
        grep -E "^Done [0-9]+ runs" "$out/$target.log" | tail -1
    else
        echo "FAILED: $target (see $out/$target.log and $out/$target-*)"
        tail -30 "$out/$target.log"
        failed+=("$target")
    fi
done
if [ ${#failed[@]} -gt 0 ]; then echo "fuzz: failures in ${failed[*]}"; exit 1; fi
echo "fuzz: no crash in ${targets[*]}"
