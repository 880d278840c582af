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
    for seed in ${SEEDS:-0 1 2}; do
        "$TANDEM" train --model lenet-hps --data multifashion --device "$device" --weighting ew --optimizer adam \
            --lr 0.001 --batch-size 256 --epochs 10 --seed "$seed" --affinity-batches 2 --val-fraction 0 \
            --report "$OUT/multifashion-lenet-hps-$device-seed$seed.json"
    done
done

# MMoE (W1, 14,834 parameters) against the paper's one-layer shared bottom of about the same size
# (14,776), task correlation 0.5, 60,000 training samples, 150 epochs, five seeds.
if want mmoe; then
    for seed in 0 1 2 3 4; do
        for model in mmoe-synth shared-bottom; do
            "$TANDEM" train --model "$model" --data mmoe-synth --correlation 0.5 --device cpu --optimizer adam \
                --lr 0.001 --batch-size 256 --epochs 150 --limit 60000 --seed "$seed" --affinity-batches 0 --val-fraction 0 \
                --report "$OUT/mmoe-synth-$model-seed$seed.json"
        done
    done
fi

# GradNorm against equal weighting on two tasks of very different scale (σ = 1 and 100), on the
# paper's network (four shared 100-unit ReLU layers, one affine layer per task), three seeds.
if want gradnorm; then
    for seed in 0 1 2; do
        for weighting in ew gradnorm; do
            "$TANDEM" train --model gradnorm-mlp --data gradnorm-toy --device cpu --weighting "$weighting" --optimizer adam \
                --lr 0.001 --batch-size 100 --epochs 30 --seed "$seed" --affinity-batches 2 --val-fraction 0 \
                --report "$OUT/gradnorm-toy-$weighting-seed$seed.json"
        done
    done
fi

# SegNet-MTAN on the procedural scenes: segmentation, depth and normals (2,000 training and 500 test
# scenes, about half an hour on two cores).
if want scenes; then
    "$TANDEM" train --model mtan --data scenes --device cpu --optimizer adam --lr 0.001 --batch-size 8 \
        --epochs 4 --seed 0 --affinity-batches 2 --val-fraction 0 --report "$OUT/scenes-mtan-cpu.json"
fi
