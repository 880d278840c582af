#!/usr/bin/env bash
# Reproduces the results recorded in the README's "Results" section. Each run writes a JSON report
# into $OUT (default: results/). Runs take from seconds (mmoe-synth) to tens of minutes (lenet-hps on
# PoCL); pass the names of the parts to run, or nothing for all of them:
#   bash scripts/reproduce.sh [multifashion-cpu] [multifashion-opencl] [mmoe] [gradnorm] [scenes]
set -euo pipefail
cd "$(dirname "$0")/.."
TANDEM=${TANDEM:-.build/release/tandem}
OUT=${OUT:-results}
mkdir -p "$OUT"
parts=("$@")
[ ${#parts[@]} -gt 0 ] || parts=(mmoe gradnorm scenes multifashion-cpu multifashion-opencl)
want() { printf '%s\n' "${parts[@]}" | grep -qx "$1"; }

# W2 recipe: lenet-hps, equal weights, Adam lr 1e-3, batch 256, 10 epochs, no augmentation.
for device in cpu opencl; do
    want "multifashion-$device" || continue
    for seed in ${SEEDS:-0}; do
        "$TANDEM" train --model lenet-hps --data multifashion --device "$device" --weighting ew --optimizer adam \
            --lr 0.001 --batch-size 256 --epochs 10 --seed "$seed" --affinity-batches 2 \
            --report "$OUT/multifashion-lenet-hps-$device-seed$seed.json"
    done
done

# MMoE against a shared-bottom model of about the same size (14,834 against 14,850 parameters),
# task correlation 0.5, five seeds.
if want mmoe; then
    for seed in 0 1 2 3 4; do
        for model in mmoe hps; do
            "$TANDEM" train --model "$model" --data mmoe-synth --correlation 0.5 --device cpu --optimizer adam \
                --lr 0.001 --batch-size 256 --epochs 20 --seed "$seed" --affinity-batches 0 \
                --report "$OUT/mmoe-synth-$model-seed$seed.json"
        done
    done
    # With 60,000 training samples, against the paper's one-layer shared bottom too.
    for model in mmoe shared-bottom hps; do
        "$TANDEM" train --model "$model" --data mmoe-synth --correlation 0.5 --device cpu --optimizer adam \
            --lr 0.001 --batch-size 256 --epochs 20 --limit 60000 --seed 0 --affinity-batches 0 \
            --report "$OUT/mmoe-synth-60k-$model.json"
    done
fi

# GradNorm against equal weighting on two tasks of very different scale (σ = 1 and 100).
if want gradnorm; then
    for weighting in ew gradnorm; do
        "$TANDEM" train --model hps --data gradnorm-toy --device cpu --weighting "$weighting" --optimizer adam \
            --lr 0.01 --batch-size 100 --epochs 10 --seed 0 --affinity-batches 2 \
            --report "$OUT/gradnorm-toy-$weighting.json"
    done
fi

# SegNet-MTAN on the procedural scenes: segmentation, depth and normals.
if want scenes; then
    "$TANDEM" train --model mtan --data scenes --device cpu --optimizer adam --lr 0.0001 --batch-size 8 \
        --epochs 3 --limit 400 --seed 0 --affinity-batches 2 --report "$OUT/scenes-mtan-cpu.json"
fi
