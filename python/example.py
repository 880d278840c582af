"""Trains a two-task model on data made in NumPy and prints the per-task losses of each epoch.

    pip install ./python                      # once, after scripts/make-libtandem.sh
    python3 python/example.py [device]        # device: cpu, opencl, ... (default $TANDEM_DEVICE, else auto)

Task "quadrant" (classification, 4 classes): in which quadrant the first two projections of x fall.
Task "radius" (regression): the distance of those two projections from the origin.
Exits with status 1 if either task's loss does not decrease.
"""

import os
import sys

import numpy as np

import tandem


def make_data(n, rng, projection):
    x = rng.normal(size=(n, 20)).astype(np.float32)
    p = x @ projection                      # [n, 2]
    quadrant = (p[:, 0] > 0).astype(np.float32) * 2 + (p[:, 1] > 0)
    radius = np.sqrt((p ** 2).sum(axis=1)).astype(np.float32)
    return x, [quadrant.astype(np.float32), radius]


def main():
    device = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("TANDEM_DEVICE", "auto")
    rng = np.random.default_rng(0)
    projection = rng.normal(size=(20, 2)).astype(np.float32) / np.sqrt(20)
    x_train, y_train = make_data(1024, rng, projection)
    x_test, y_test = make_data(256, rng, projection)

    config = {
        "model": "hps",                 # shared MLP trunk, one head per task
        "input_shape": [20],
        "tasks": [{"name": "quadrant", "kind": "classification", "classes": 4},
                  {"name": "radius", "kind": "regression"}],
        "weighting": "uw",              # learned uncertainty weighting
        "optimizer": "adam", "lr": 0.003,
        "batch_size": 64, "seed": 1, "device": device,
    }
    print(f"Tandem {tandem.version()} ({tandem.library_path})")
    print("devices:", ", ".join(f"{d['selector']} ({d['name']})" for d in tandem.devices()))
    with tandem.Model(config) as model:
        print(f"{model}: {model.info['parameters']} parameters on {model.info['device_name']}")
        history = []
        for epoch in range(1, 9):
            losses = model.train_epoch(x_train, y_train)
            history.append(losses)
            print(f"epoch {epoch}  " + "  ".join(f"{name} {loss:.4f}" for name, loss in zip(model.tasks, losses)))
        metrics = model.evaluate(x_test, y_test)
        for task, values in metrics.items():
            print(f"test {task}: " + ", ".join(f"{k} {v:.4f}" for k, v in values.items()))
        quadrant_logits, radius = model.predict(x_test[:4])
        print("predicted quadrants", quadrant_logits.argmax(axis=1), "true", y_test[0][:4].astype(int))
        print("predicted radii", np.round(radius, 3), "true", np.round(y_test[1][:4], 3))

    first, last = history[0], history[-1]
    if not np.all(last < first):
        print(f"FAILED: losses did not decrease: {first} -> {last}")
        return 1
    print("per-task losses decreased:", ", ".join(f"{t} {a:.4f} -> {b:.4f}" for t, a, b in zip(config_tasks(config), first, last)))
    return 0


def config_tasks(config):
    return [task["name"] for task in config["tasks"]]


if __name__ == "__main__":
    sys.exit(main())
