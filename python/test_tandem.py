"""Tests of the Python wrapper and, through it, the C API. A plain script: exits 1 on any failure.

    pip install ./python                      # once, after scripts/make-libtandem.sh
    python3 python/test_tandem.py [device]    # default cpu

Run from inside python/, Python imports the source folder python/tandem instead of the installed
package (it then finds the library in dist/libtandem/lib); scripts/test-embedding.sh runs a copy
of this file from elsewhere so that the installed package is what is tested.
"""

import os
import sys
import tempfile

import numpy as np

import tandem

DEVICE = sys.argv[1] if len(sys.argv) > 1 else "cpu"
failures = []


def check(condition, message):
    if not condition:
        failures.append(message)
        print("FAIL:", message)


def expect_error(status_name, function, *arguments, **keywords):
    try:
        function(*arguments, **keywords)
    except tandem.TandemError as error:
        check(error.name == status_name and len(str(error)) > len(status_name) + 2,
              f"{function.__name__}: expected {status_name}, got {error}")
        return
    except (ValueError, TypeError) as error:
        check(status_name == "ValueError", f"{function.__name__}: expected {status_name}, got {error!r}")
        return
    check(False, f"{function.__name__}{arguments}: expected {status_name}, no error")


def config(**overrides):
    base = {"model": "hps", "input_shape": [8], "device": DEVICE, "lr": 0.01, "seed": 3, "batch_size": 16,
            "tasks": [{"name": "sign", "kind": "classification", "classes": 2},
                      {"name": "pair", "kind": "regression", "outputs": 2}]}
    base.update(overrides)
    return base


def data(n=128, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, size=(n, 8)).astype(np.float32)
    sign = (x.sum(axis=1) > 0).astype(np.float32)
    pair = np.stack([x[:, 0] * x[:, 1], x[:, 2] - x[:, 3]], axis=1).astype(np.float32)
    return x, [sign, pair]


def test_library():
    print(f"tandem {tandem.__version__} from {tandem.__file__}, library {tandem.library_path}")
    check(tandem.version() == tandem.__version__, f"library {tandem.version()} vs package {tandem.__version__}")


def test_devices():
    devices = tandem.devices()
    check(devices and devices[0]["selector"] == "cpu", f"devices: {devices}")
    check(all({"selector", "name", "kind"} <= set(d) for d in devices), "device fields")


def test_training():
    x, y = data()
    live = tandem.live_models()
    with tandem.Model(config()) as model:
        check(model.tasks == ["sign", "pair"], f"tasks {model.tasks}")
        check(model.info["tasks"][1]["label_shape"] == [2], f"label shape {model.info['tasks'][1]}")
        history = [model.train_epoch(x, y) for _ in range(6)]
        print(f"[{DEVICE}] losses per epoch:", [h.round(4).tolist() for h in history])
        check(np.all(history[-1] < history[0]), f"losses did not decrease: {history[0]} -> {history[-1]}")
        check(model.progress == (6, 6 * 8), f"progress {model.progress}")
        step = model.train_step(x[:16], [y[0][:16], y[1][:16]], masks=[None, np.array([1, 0] * 8, np.float32)])
        check(step.shape == (2,) and np.all(np.isfinite(step)), f"step losses {step}")
        mean = model.end_epoch()
        check(mean.shape == (2,), f"end_epoch {mean}")
        metrics = model.evaluate(x, y)
        check(set(metrics) == {"sign", "pair"} and "accuracy" in metrics["sign"] and "mse" in metrics["pair"], f"metrics {metrics}")
        check(abs(model.metric("pair", "mse") - metrics["pair"]["mse"]) < 1e-12, "metric() agrees with evaluate()")
        logits, pair = model.predict(x)
        check(logits.shape == (128, 2) and pair.shape == (128, 2), f"prediction shapes {logits.shape} {pair.shape}")
        accuracy = float((logits.argmax(axis=1) == y[0]).mean())
        check(abs(accuracy - metrics["sign"]["accuracy"]) < 1e-6, f"predicted accuracy {accuracy} vs {metrics['sign']['accuracy']}")
        # Non-contiguous and float64 inputs are converted.
        logits2, _ = model.predict(np.asfortranarray(x.astype(np.float64)))
        check(np.allclose(logits, logits2, atol=1e-6), "float64 / Fortran-order inputs")

        with tempfile.TemporaryDirectory() as directory:
            path = os.path.join(directory, "model.safetensors")
            model.save(path)
            with tandem.Model(config()) as copy:
                copy.load(path)
                check(copy.progress == model.progress, f"restored progress {copy.progress} vs {model.progress}")
                check(np.array_equal(copy.predict(x)[1], model.predict(x)[1]), "reloaded predictions")
            with tandem.Model(config(tasks=[{"name": "other", "kind": "regression"}])) as other:
                expect_error("TANDEM_ERROR_IO", other.load, path)
            expect_error("TANDEM_ERROR_IO", model.load, os.path.join(directory, "missing.safetensors"))
    check(tandem.live_models() == live, "model freed by the with block")


def test_errors():
    x, y = data(32)
    expect_error("TANDEM_ERROR_CONFIG", tandem.Model, "{not json")
    expect_error("TANDEM_ERROR_CONFIG", tandem.Model, config(model="resnet-9000"))
    expect_error("TANDEM_ERROR_CONFIG", tandem.Model, config(optimiser="adam"))
    expect_error("TANDEM_ERROR_CONFIG", tandem.Model, config(tasks=[]))
    expect_error("TANDEM_ERROR_CONFIG", tandem.Model, config(seed=-1))
    expect_error("TANDEM_ERROR_DEVICE", tandem.Model, config(device="opencl:42"))
    model = tandem.Model(config())
    expect_error("TANDEM_ERROR_INVALID_ARGUMENT", model.train_step, x[:, :7], y)            # wrong input width
    expect_error("TANDEM_ERROR_INVALID_ARGUMENT", model.train_step, x, [y[0][:31], y[1]])   # wrong label count
    expect_error("TANDEM_ERROR_INVALID_ARGUMENT", model.train_step, x, [y[0] + 5, y[1]])    # class out of range
    expect_error("TANDEM_ERROR_INVALID_ARGUMENT", model.train_step, x, [y[0], y[1][:, :1]])  # wrong label shape
    expect_error("TANDEM_ERROR_INVALID_ARGUMENT", model.train_step, x, y, masks=[np.full(32, 0.5), None])
    expect_error("ValueError", model.train_step, x, [y[0]])                                   # one label array short
    expect_error("TANDEM_ERROR_NOT_READY", model.metric, 0, "accuracy")
    model.evaluate(x, y)
    expect_error("TANDEM_ERROR_INVALID_ARGUMENT", model.metric, 0, "bleu")
    expect_error("TANDEM_ERROR_INVALID_ARGUMENT", model.metric, 5, "loss")
    handle = model.handle
    model.close()
    model.close()  # idempotent
    expect_error("TANDEM_ERROR_INVALID_HANDLE", model.predict, x)
    # The raw C API refuses the stale handle too.
    status = tandem._lib.tandem_model_free(handle)
    check(status == 3, f"double free returned {status}")


def test_preset():
    """A preset (LeNet with hard sharing, MultiMNIST-style) on 1×28×28 images; CPU only (kernel builds)."""
    tasks = [{"name": "left", "kind": "classification", "classes": 10},
             {"name": "right", "kind": "classification", "classes": 10}]
    with tandem.Model({"model": "lenet-hps", "input_shape": [1, 28, 28], "device": "cpu", "tasks": tasks}) as model:
        rng = np.random.default_rng(1)
        x = rng.random((8, 1, 28, 28), dtype=np.float32)
        y = [rng.integers(0, 10, 8).astype(np.float32) for _ in range(2)]
        losses = model.train_step(x, y)
        check(np.all(np.isfinite(losses)), f"preset step losses {losses}")
        check(model.predict(x)[0].shape == (8, 10), "preset prediction shape")
    expect_error("TANDEM_ERROR_CONFIG", tandem.Model, {"model": "lenet-hps", "input_shape": [1, 28, 28], "device": "cpu",
                                                       "tasks": [dict(tasks[0], classes=3), tasks[1]]})


def test_many_models():
    x, y = data(32)
    live = tandem.live_models()
    for _ in range(20):
        model = tandem.Model(config(model="mmoe"))
        model.train_step(x, y)
        del model
    check(tandem.live_models() == live, f"{tandem.live_models() - live} models leaked")


for test in (test_library, test_devices, test_training, test_errors, test_preset, test_many_models):
    print("running", test.__name__)
    test()

print(f"{'FAILED' if failures else 'PASSED'}: python/test_tandem.py on {DEVICE} ({len(failures)} failures)")
sys.exit(1 if failures else 0)
