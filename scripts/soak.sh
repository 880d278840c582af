#!/usr/bin/env bash
# Soak run: trains a small model (W1, mmoe-synth) for STEPS steps (default 100,000) on each device,
# saving a checkpoint every epoch and logging with --log-dir, then reads the run log's epoch records
# ("system": steps per second, resident set, the device's tensor and pool bytes) and fails unless
#   - the resident set grows by less than 8 MiB from the end of the warm-up (the first 10% of the
#     epochs) to the end of the run (a leak of 100 bytes per step would add 10 MB over 10^5 steps),
#   - the bytes held by live tensors at each epoch's end stay exactly what they were after the warm-up,
#   - the pool's cache does not grow after the warm-up, and
#   - the last quarter's median steps per second is at least 80% of the warm-up-end quarter's.
#   scripts/soak.sh [STEPS] [DEVICE ...]        devices: default cpu opencl:0
# TANDEM_BIN picks the binary (default: builds and uses .build/release/tandem). Results and the
# per-epoch table go to $OUT (default soak-results/); the summary lines go to stdout.
set -euo pipefail
cd "$(dirname "$0")/.."
steps=${1:-100000}
shift || true
devices=("$@")
[ ${#devices[@]} -gt 0 ] || devices=(cpu opencl:0)
out=${OUT:-soak-results}
mkdir -p "$out"
if [ -z "${TANDEM_BIN:-}" ]; then
    swift build -c release --product tandem 2>&1 | tail -1
    TANDEM_BIN=.build/release/tandem
fi

# mmoe-synth: 10,000 training samples, 10% held out for validation: 9,000 / 50 = 180 steps per epoch.
batch=50
per_epoch=180
epochs=$(( (steps + per_epoch - 1) / per_epoch ))
failed=()
for device in "${devices[@]}"; do
    name=${device//:/-}
    dir="$out/$name"
    rm -rf "$dir"
    mkdir -p "$dir"
    echo "== $device: $epochs epochs of $per_epoch steps (batch $batch)"
    start=$(date +%s)
    "$TANDEM_BIN" train --model mmoe-synth --data mmoe-synth --batch-size "$batch" --epochs "$epochs" \
        --device "$device" --save "$dir/checkpoint.safetensors" --log-dir "$dir/log" > "$dir/train.log" 2>&1 || {
        echo "FAILED: training on $device (see $dir/train.log)"; tail -20 "$dir/train.log"; failed+=("$device"); continue; }
    seconds=$(( $(date +%s) - start ))
    if ! python3 - "$dir/log/metrics.jsonl" "$device" "$steps" "$seconds" > "$dir/summary.txt" <<'EOF'
import json, statistics, sys
path, device, wanted, seconds = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
epochs = [r for r in map(json.loads, open(path)) if r["kind"] == "epoch"]
steps = epochs[-1]["step"]
n = len(epochs)
warm = max(1, n // 10)
quarter = max(1, n // 4)
mib = 1024 * 1024
system = [e["system"] for e in epochs]
resident = [s["resident_bytes"] for s in system]
in_use = [s["device_bytes_in_use"] for s in system]
cached = [s["device_bytes_cached"] for s in system]
speed = [s["steps_per_second"] for s in system]
early_speed = statistics.median(speed[warm:warm + quarter])
late_speed = statistics.median(speed[-quarter:])
growth = resident[-1] - resident[warm - 1]
# Least-squares slope of the resident set over the steps after the warm-up, in bytes per step.
xs = [e["step"] for e in epochs[warm:]]
ys = resident[warm:]
mx, my = statistics.fmean(xs), statistics.fmean(ys)
slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / max(1e-9, sum((x - mx) ** 2 for x in xs))
checks = [
    (steps >= wanted, f"{steps} steps (wanted {wanted})"),
    (growth < 8 * mib, f"resident set {resident[warm - 1] / mib:.1f} MiB after the warm-up, {resident[-1] / mib:.1f} MiB at the end "
                       f"(max {max(resident) / mib:.1f}; growth {growth / mib:+.2f} MiB; trend {slope:+.3f} bytes/step)"),
    (all(b == in_use[warm - 1] for b in in_use[warm:]),
     f"live tensors at epoch ends {in_use[warm - 1] / 1024:.1f} KiB after the warm-up, {min(in_use[warm:]) / 1024:.1f}–{max(in_use[warm:]) / 1024:.1f} KiB after"),
    (max(cached[warm:]) <= cached[warm - 1], f"pool cache {cached[warm - 1] / 1024:.1f} KiB after the warm-up, at most {max(cached[warm:]) / 1024:.1f} KiB after"),
    (late_speed >= 0.8 * early_speed, f"steps/s median {early_speed:.0f} after the warm-up, {late_speed:.0f} in the last quarter ({late_speed / early_speed:.2f}x)"),
]
print(f"{device}: {n} epochs, {steps} steps in {seconds} s")
for ok, text in checks:
    print(("  ok    " if ok else "  FAIL  ") + text)
sys.exit(0 if all(ok for ok, _ in checks) else 1)
EOF
    then
        failed+=("$device")
    fi
    cat "$dir/summary.txt"
done
if [ ${#failed[@]} -gt 0 ]; then echo "soak: failures on ${failed[*]}"; exit 1; fi
echo "soak: flat memory and steady speed on ${devices[*]}"
