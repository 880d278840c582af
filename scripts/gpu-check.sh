#!/usr/bin/env bash
# One command on a GPU machine: is Tandem right there, and does the GPU pay off?
#
#   make dist && scp -r dist/tandem node:       # here: the relocatable bundle (this script is inside)
#   ssh node tandem/gpu-check.sh                # there: no Swift toolchain needed, writes gpu-check-*/
#
# It registers the vendor's OpenCL driver when the ICD loader finds none, then runs, each step
# under a time limit so the whole stays inside about 8 minutes:
#   tandem devices; tandem selftest on the GPU; tandem bench of W1–W4 on the CPU and the GPU, with
#   --profile for W2 and W4; a batch sweep of W2; a 10-epoch multifashion lenet-hps run on the GPU
#   and on the CPU; the PyTorch peer (CUDA fp32, TF32 off) when `import torch` works with CUDA.
# Everything goes into one results folder, with summary.md on top. A failing step is recorded and the
# next one runs; the exit status is 1 when any step failed.
#
# Options:
#   --device SELECTOR   the device to check (default: gpu; e.g. opencl:0 for PoCL, name:H200)
#   --quick             a few steps and one short epoch per stage (tests this script without a GPU)
#   --out DIR           the results folder (default: ./gpu-check-YYYYmmdd-HHMMSS)
#   --tandem PATH       the tandem to run (default: the bundle's launcher beside this script, else
#                       .build/release/tandem of the checkout this script is in)
set -uo pipefail
export PATH="${PATH:-/usr/local/bin:/usr/bin:/bin}"
[ -n "$PATH" ] || export PATH=/usr/local/bin:/usr/bin:/bin

here=$(cd "$(dirname "$0")" && pwd)
device=gpu
quick=0
out=""
tandem=""
while [ $# -gt 0 ]; do
    case "$1" in
        --device) device="$2"; shift 2 ;;
        --quick) quick=1; shift ;;
        --out) out="$2"; shift 2 ;;
        --tandem) tandem="$2"; shift 2 ;;
        -h|--help) sed -n '2,25p' "$0"; exit 0 ;;
        *) echo "gpu-check: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
done
if [ -z "$tandem" ]; then
    if [ -x "$here/tandem" ] && [ -d "$here/bin" ]; then tandem="$here/tandem"
    elif [ -x "$here/../.build/release/tandem" ]; then tandem="$here/../.build/release/tandem"
    else echo "gpu-check: no tandem found; build the bundle (make dist) or pass --tandem PATH" >&2; exit 2
    fi
fi
peers="$here/peers"
[ -d "$peers" ] || peers="$here/../Benchmarks/peers"
out="${out:-$PWD/gpu-check-$(date +%Y%m%d-%H%M%S)}"
mkdir -p "$out" || exit 2
out=$(cd "$out" && pwd)
export TANDEM_CACHE_DIR="${TANDEM_CACHE_DIR:-$out/cache}"
export POCL_CACHE_DIR="${POCL_CACHE_DIR:-$out/cache/pocl}"
export HOME="${HOME:-$out}"
# The bundle carries a Fashion-MNIST subset for machines without the Debian package.
if [ -z "${TANDEM_FASHION_MNIST_DIR:-}" ] && [ ! -d /usr/share/datasets/fashion-mnist ] && [ -d "$here/data/fashion-mnist" ]; then
    export TANDEM_FASHION_MNIST_DIR="$here/data/fashion-mnist"
fi

failed=()
log() { echo "== $*" | tee -a "$out/log.txt"; }
# step NAME SECONDS COMMAND...: runs COMMAND with stdout+stderr in NAME.txt, under a time limit.
step() {
    local name="$1" limit="$2"; shift 2
    local start=$SECONDS
    log "$name: $* (limit ${limit}s)"
    timeout --kill-after=10 "$limit" "$@" > "$out/$name.txt" 2>&1
    local status=$?
    echo "   exit $status after $((SECONDS - start))s" | tee -a "$out/log.txt"
    [ $status -eq 0 ] || failed+=("$name (exit $status)")
    return $status
}

# 1. The machine and its driver.
{
    echo "date: $(date -u)"
    uname -a
    [ -r /etc/os-release ] && grep PRETTY_NAME /etc/os-release
    command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv
    echo "ICD files:"; ls -la /etc/OpenCL/vendors 2>/dev/null
    for f in /etc/OpenCL/vendors/*.icd; do [ -r "$f" ] && echo "$f: $(cat "$f")"; done
    echo "tandem: $tandem"
} > "$out/machine.txt" 2>&1

# 2. The OpenCL driver: register the vendor's library when the loader lists no device of its.
"$tandem" devices --json > "$out/devices-before.json" 2> /dev/null
if ! grep -q '"type": "gpu"' "$out/devices-before.json" 2>/dev/null; then
    for library in libnvidia-opencl.so.1 libamdocl64.so libigdrcl.so; do
        found=$(find /usr/lib /usr/lib64 /usr/local /opt -name "$library*" 2>/dev/null | head -1)
        [ -n "$found" ] || continue
        vendor=${library%%.so*}; vendor=${vendor#lib}
        if mkdir -p /etc/OpenCL/vendors 2>/dev/null && [ -w /etc/OpenCL/vendors ]; then
            echo "$found" > "/etc/OpenCL/vendors/$vendor.icd"
            log "registered $found in /etc/OpenCL/vendors/$vendor.icd"
        else
            mkdir -p "$out/vendors"
            echo "$found" > "$out/vendors/$vendor.icd"
            export OCL_ICD_VENDORS="$out/vendors"
            log "registered $found through OCL_ICD_VENDORS=$out/vendors (no write access to /etc/OpenCL/vendors)"
        fi
    done
fi
step devices 60 "$tandem" devices
"$tandem" devices --json > "$out/devices.json" 2>&1
if ! "$tandem" selftest --help > /dev/null 2>&1; then echo "gpu-check: $tandem does not run" >&2; exit 1; fi

# 3. Every op on the device against the float64 reference.
step selftest 300 "$tandem" selftest --device "$device"

# 4. Throughput, CPU against the device, and where the time goes.
if [ $quick = 1 ]; then bench=(--steps 3 --warmup 1); batches=8,32; epochs=(--epochs 1 --limit 1200 --batch-size 64)
else bench=(); batches=8,16,32,64,128,256,512; epochs=(--epochs 10 --batch-size 256); fi
step bench 200 "$tandem" bench --devices "cpu,$device" "${bench[@]}" --json "$out/bench.json" --chart "$out/bench.svg"
step profile 120 "$tandem" bench --workloads lenet-hps,mtan-segnet --devices "$device" --profile "${bench[@]}"
step batch-sweep 90 "$tandem" bench --batch-sweep lenet-hps --batches "$batches" --devices "cpu,$device" "${bench[@]}" \
    --json "$out/batch-sweep.json"

# 5. A real training run on the device and on the CPU: the same accuracy, and the time each takes.
step train-device 150 "$tandem" train --model lenet-hps --data multifashion --device "$device" --optimizer adam --lr 0.001 \
    "${epochs[@]}" --seed 0 --report "$out/train-device.json"
step train-cpu 150 "$tandem" train --model lenet-hps --data multifashion --device cpu --optimizer adam --lr 0.001 \
    "${epochs[@]}" --seed 0 --report "$out/train-cpu.json"

# 6. The PyTorch peer on CUDA (fp32, TF32 off), where PyTorch sees a GPU.
if command -v python3 >/dev/null && python3 -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)" 2>/dev/null; then
    step pytorch 150 python3 "$peers/pytorch_bench.py" --devices cpu,cuda "${bench[@]}" --json "$out/pytorch.json"
else
    log "pytorch: skipped (no python3 with a CUDA-enabled torch)"
fi

# 7. One page to read first.
{
    echo "# Tandem GPU check: $device"
    echo
    echo '```'; cat "$out/machine.txt"; echo '```'
    echo
    echo '```'; cat "$out/devices.txt"; echo '```'
    echo
    echo "Self-test: $(tail -1 "$out/selftest.txt")"
    echo
    echo '```'; sed -n '1,/^$/p' "$out/bench.txt"; echo '```'
    if command -v python3 >/dev/null; then
        python3 - "$out" <<'PY'
import json, os, sys
out = sys.argv[1]
def load(name):
    try:
        return json.load(open(os.path.join(out, name)))
    except Exception:
        return None
bench, torch = load("bench.json"), load("pytorch.json")
rows = {}
for r in (bench or {}).get("results", []):
    rows.setdefault(r["workload"], {})["tandem " + ("cpu" if r["device"] == "cpu" else "device")] = r["median_ms"]
for r in (torch or {}).get("results", []):
    rows.setdefault(r["workload"], {})["pytorch " + r["device"]] = r["median_ms"]
if rows:
    columns = ["tandem cpu", "tandem device", "pytorch cpu", "pytorch cuda"]
    print("\n| workload (median ms per step) | " + " | ".join(columns) + " | device ÷ cpu | device ÷ pytorch cuda |")
    print("|---" * (len(columns) + 3) + "|")
    for workload, r in rows.items():
        cells = [f"{r[c]:.2f}" if c in r else "-" for c in columns]
        speed = f"{r['tandem cpu'] / r['tandem device']:.2f}×" if "tandem cpu" in r and "tandem device" in r else "-"
        peer = f"{r['pytorch cuda'] / r['tandem device']:.2f}×" if "pytorch cuda" in r and "tandem device" in r else "-"
        print(f"| {workload} | " + " | ".join(cells) + f" | {speed} | {peer} |")
for name in ("train-device", "train-cpu"):
    report = load(name + ".json")
    if not report:
        continue
    final = report.get("test") or report.get("final") or {}
    accuracy = ", ".join(f"{task} {values.get('accuracy', float('nan')):.2%}" for task, values in final.items() if isinstance(values, dict))
    print(f"\n{name}: test accuracy {accuracy}; {report.get('samples_per_second', 0):.0f} samples/s on {report.get('device', '?')}")
PY
    fi
    echo
    if [ ${#failed[@]} -eq 0 ]; then echo "Every step passed."; else printf 'Failed: %s\n' "${failed[@]}"; fi
} > "$out/summary.md" 2>&1
log "results in $out (summary.md first)"
[ ${#failed[@]} -eq 0 ]
