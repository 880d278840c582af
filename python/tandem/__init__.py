"""Tandem from Python: a thin ctypes wrapper of libtandem.so (the C API of include/tandem.h).

NumPy arrays in, NumPy arrays out::

    import numpy as np, tandem
    model = tandem.Model({
        "model": "hps", "input_shape": [16], "device": "cpu", "lr": 0.01,
        "tasks": [{"name": "digit", "kind": "classification", "classes": 3},
                  {"name": "size", "kind": "regression"}]})
    losses = model.train_epoch(x, [digits, sizes])      # per-task mean losses, np.float32 [T]
    metrics = model.evaluate(x, [digits, sizes])        # {"digit": {"loss": ..., "accuracy": ...}, ...}
    logits, size = model.predict(x)                     # one array per task, [N, ...]

Install it with `pip install ./python` (or the wheel of scripts/make-wheel.sh) after building
libtandem.so with scripts/make-libtandem.sh: the package carries its own copy of the library.

The library is $TANDEM_LIBRARY when that is set (a path to a libtandem.so; an override, so a
wrong path is an error), else the copy inside the installed package, else ../lib/libtandem.so next
to this file (dist/libtandem/python/tandem.py), else dist/libtandem/lib of the repository (this file
run from a source checkout), else the system's library path. `tandem.library_path` says which was
loaded. Every failing call raises tandem.TandemError with the status code and the library's message.
A Model is used by one thread at a time; the library serialises calls internally.
"""

import ctypes
import json
import os

import numpy as np

__all__ = ["TandemError", "Model", "devices", "version", "library_path"]

# The package's version: the version of the libtandem.so it is built with (tandem_version()).
__version__ = "0.2.0"

OK = 0
STATUS_NAMES = {
    0: "TANDEM_OK", 1: "TANDEM_ERROR_NULL_ARGUMENT", 2: "TANDEM_ERROR_INVALID_ARGUMENT",
    3: "TANDEM_ERROR_INVALID_HANDLE", 4: "TANDEM_ERROR_CONFIG", 5: "TANDEM_ERROR_DEVICE",
    6: "TANDEM_ERROR_BUFFER_TOO_SMALL", 7: "TANDEM_ERROR_IO", 8: "TANDEM_ERROR_NOT_READY",
    9: "TANDEM_ERROR_INTERNAL", 10: "TANDEM_ERROR_NUMERIC",
}


class TandemError(RuntimeError):
    """A failed call: `status` is the C status code, `name` its name, the message the library's."""

    def __init__(self, status, message):
        self.status = status
        self.name = STATUS_NAMES.get(status, "TANDEM_UNKNOWN_STATUS")
        super().__init__(f"{self.name}: {message}")


def _candidates():
    here = os.path.dirname(os.path.abspath(__file__))
    yield os.path.join(here, "libtandem.so")                                           # the installed package
    yield os.path.join(here, "..", "lib", "libtandem.so")                              # dist/libtandem/python
    yield os.path.join(here, "..", "..", "dist", "libtandem", "lib", "libtandem.so")   # a source checkout
    yield "libtandem.so"                                                               # the system's path


def _load():
    override = os.environ.get("TANDEM_LIBRARY")
    if override:
        try:
            return ctypes.CDLL(override), override
        except OSError as error:
            raise OSError(f"TANDEM_LIBRARY={override} cannot be loaded: {error}") from None
    errors = []
    for path in _candidates():
        if os.path.sep in path and not os.path.exists(path):
            continue
        try:
            return ctypes.CDLL(path), os.path.normpath(path) if os.path.sep in path else path
        except OSError as error:
            errors.append(f"{path}: {error}")
    raise OSError("libtandem.so not found: install the package with its library (scripts/make-libtandem.sh, then "
                  "pip install ./python), or set TANDEM_LIBRARY to a libtandem.so. " + "; ".join(errors))


_lib, library_path = _load()

_size = ctypes.c_size_t
_sizep = ctypes.POINTER(ctypes.c_size_t)
_floatp = ctypes.POINTER(ctypes.c_float)
_floatpp = ctypes.POINTER(_floatp)
_doublep = ctypes.POINTER(ctypes.c_double)
_handle = ctypes.c_void_p
_int = ctypes.c_int

_signatures = {
    "tandem_last_error": (ctypes.c_char_p, []),
    "tandem_status_name": (ctypes.c_char_p, [_int]),
    "tandem_version": (ctypes.c_char_p, []),
    "tandem_device_count": (_int, [_sizep]),
    "tandem_device_info_json": (_int, [_size, ctypes.c_char_p, _size, _sizep]),
    "tandem_devices_json": (_int, [ctypes.c_char_p, _size, _sizep]),
    "tandem_model_create": (_int, [ctypes.c_char_p, ctypes.POINTER(_handle)]),
    "tandem_model_free": (_int, [_handle]),
    "tandem_model_live_count": (_int, [_sizep]),
    "tandem_model_info_json": (_int, [_handle, ctypes.c_char_p, _size, _sizep]),
    "tandem_model_task_count": (_int, [_handle, _sizep]),
    "tandem_model_input_size": (_int, [_handle, _sizep]),
    "tandem_model_label_size": (_int, [_handle, _size, _sizep]),
    "tandem_model_output_size": (_int, [_handle, _size, _sizep]),
    "tandem_model_progress": (_int, [_handle, ctypes.POINTER(ctypes.c_int64), ctypes.POINTER(ctypes.c_int64)]),
    "tandem_train_step": (_int, [_handle, _floatp, _size, _size, _floatpp, _sizep, _floatpp, _sizep, _floatp, _size]),
    "tandem_end_epoch": (_int, [_handle, _floatp, _size]),
    "tandem_train_epoch": (_int, [_handle, _floatp, _size, _size, _floatpp, _sizep, _floatpp, _sizep, _floatp, _size]),
    "tandem_evaluate": (_int, [_handle, _floatp, _size, _size, _floatpp, _sizep, _floatpp, _sizep, _doublep, _size]),
    "tandem_metric": (_int, [_handle, _size, ctypes.c_char_p, _doublep]),
    "tandem_metrics_json": (_int, [_handle, ctypes.c_char_p, _size, _sizep]),
    "tandem_predict": (_int, [_handle, _floatp, _size, _size, _floatpp, _sizep]),
    "tandem_save_checkpoint": (_int, [_handle, ctypes.c_char_p]),
    "tandem_load_checkpoint": (_int, [_handle, ctypes.c_char_p]),
}
for _name, (_restype, _argtypes) in _signatures.items():
    _function = getattr(_lib, _name)
    _function.restype = _restype
    _function.argtypes = _argtypes


def _check(status):
    if status != OK:
        raise TandemError(status, _lib.tandem_last_error().decode("utf-8", "replace"))


def _json_call(function, *arguments):
    """Calls a JSON-returning function twice: once for the size, once for the text."""
    length = _size(0)
    _check(function(*arguments, None, 0, ctypes.byref(length)))
    buffer = ctypes.create_string_buffer(length.value)
    _check(function(*arguments, buffer, length.value, ctypes.byref(length)))
    return json.loads(buffer.value.decode("utf-8"))


def version():
    """The library's version string."""
    return _lib.tandem_version().decode()


def devices():
    """Every device as a dict: index, selector, kind, type, name, platform, driver, memory, ..."""
    return _json_call(_lib.tandem_devices_json)


def live_models():
    """The number of models not yet freed (for leak checks)."""
    count = _size(0)
    _check(_lib.tandem_model_live_count(ctypes.byref(count)))
    return count.value


def _floats(array, name):
    """A C-contiguous float32 copy (or the array itself when it already is one)."""
    result = np.ascontiguousarray(array, dtype=np.float32)
    if result.ndim == 0:
        raise ValueError(f"{name} must be an array, not a scalar")
    return result


class Model:
    """A multi-task model with its optimizer, loss weighting and device (see tandem.h for the keys
    of `config`, a dict or a JSON string). Free it with close() or a `with` block; it is also freed
    when garbage-collected."""

    def __init__(self, config):
        text = config if isinstance(config, str) else json.dumps(config)
        handle = _handle()
        _check(_lib.tandem_model_create(text.encode("utf-8"), ctypes.byref(handle)))
        self._handle = handle
        self.info = _json_call(_lib.tandem_model_info_json, self._handle)
        self.tasks = [task["name"] for task in self.info["tasks"]]
        self.input_shape = tuple(self.info["input_shape"])
        self._label_sizes = [task["label_size"] for task in self.info["tasks"]]
        self._output_sizes = [task["output_size"] for task in self.info["tasks"]]
        self._output_shapes = [tuple(task["output_shape"]) for task in self.info["tasks"]]

    # -- lifetime --

    def close(self):
        """Frees the model (idempotent)."""
        handle, self._handle = getattr(self, "_handle", None), None
        if handle:
            _check(_lib.tandem_model_free(handle))

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass

    @property
    def handle(self):
        if not self._handle:
            raise TandemError(3, "the model was closed")
        return self._handle

    # -- data --

    def _arguments(self, inputs, labels, masks):
        """The C arguments of a batch; the returned tuple also keeps the arrays alive."""
        x = _floats(inputs, "inputs")
        n = x.shape[0]
        if len(labels) != len(self.tasks):
            raise ValueError(f"{len(labels)} label arrays for {len(self.tasks)} tasks {self.tasks}")
        ys = [_floats(y, f"labels[{t}]") for t, y in enumerate(labels)]
        label_pointers = (_floatp * len(ys))(*[y.ctypes.data_as(_floatp) for y in ys])
        label_lengths = (_size * len(ys))(*[y.size for y in ys])
        keep = [x, ys, label_pointers, label_lengths]
        mask_pointers = mask_lengths = None
        if masks is not None:
            if len(masks) != len(self.tasks):
                raise ValueError(f"{len(masks)} masks for {len(self.tasks)} tasks (use None for a task without one)")
            ms = [None if m is None else _floats(m, f"masks[{t}]") for t, m in enumerate(masks)]
            mask_pointers = (_floatp * len(ms))(*[m.ctypes.data_as(_floatp) if m is not None else _floatp() for m in ms])
            mask_lengths = (_size * len(ms))(*[0 if m is None else m.size for m in ms])
            keep += [ms, mask_pointers, mask_lengths]
        arguments = (x.ctypes.data_as(_floatp), x.size, n, label_pointers, label_lengths, mask_pointers, mask_lengths)
        return arguments, keep

    # -- training --

    def train_step(self, inputs, labels, masks=None):
        """One optimizer step on a batch: inputs [N, *input_shape], one label array per task, optional
        masks (one per task, None or [N] of 1/0). Returns the per-task losses before the update."""
        arguments, keep = self._arguments(inputs, labels, masks)
        losses = np.zeros(len(self.tasks), dtype=np.float32)
        _check(_lib.tandem_train_step(self.handle, *arguments, losses.ctypes.data_as(_floatp), losses.size))
        del keep
        return losses

    def end_epoch(self):
        """Ends an epoch of train_step calls; returns the epoch's mean per-task losses."""
        losses = np.zeros(len(self.tasks), dtype=np.float32)
        _check(_lib.tandem_end_epoch(self.handle, losses.ctypes.data_as(_floatp), losses.size))
        return losses

    def train_epoch(self, inputs, labels, masks=None):
        """One shuffled epoch in batches of the configured batch_size; returns mean per-task losses."""
        arguments, keep = self._arguments(inputs, labels, masks)
        losses = np.zeros(len(self.tasks), dtype=np.float32)
        _check(_lib.tandem_train_epoch(self.handle, *arguments, losses.ctypes.data_as(_floatp), losses.size))
        del keep
        return losses

    def evaluate(self, inputs, labels, masks=None):
        """Per-task loss and metrics without training: {"task": {"loss": x, "accuracy": y, ...}}."""
        arguments, keep = self._arguments(inputs, labels, masks)
        _check(_lib.tandem_evaluate(self.handle, *arguments, None, 0))
        del keep
        return _json_call(_lib.tandem_metrics_json, self.handle)

    def metric(self, task, name):
        """One metric of the last evaluation; `task` is an index or a task name."""
        index = self.tasks.index(task) if isinstance(task, str) else task
        value = ctypes.c_double()
        _check(_lib.tandem_metric(self.handle, index, name.encode(), ctypes.byref(value)))
        return value.value

    def predict(self, inputs):
        """One array per task: [N, classes] logits, [N] or [N, outputs] regression values, ..."""
        x = _floats(inputs, "inputs")
        n = x.shape[0]
        outputs = [np.zeros(n * size, dtype=np.float32) for size in self._output_sizes]
        pointers = (_floatp * len(outputs))(*[o.ctypes.data_as(_floatp) for o in outputs])
        lengths = (_size * len(outputs))(*[o.size for o in outputs])
        _check(_lib.tandem_predict(self.handle, x.ctypes.data_as(_floatp), x.size, n, pointers, lengths))
        # A single value per sample comes back as [N]; anything else as [N, *output_shape].
        return [o if size == 1 else o.reshape((n,) + shape)
                for o, size, shape in zip(outputs, self._output_sizes, self._output_shapes)]

    @property
    def progress(self):
        """(epochs completed, steps completed)."""
        epoch, step = ctypes.c_int64(), ctypes.c_int64()
        _check(_lib.tandem_model_progress(self.handle, ctypes.byref(epoch), ctypes.byref(step)))
        return epoch.value, step.value

    # -- checkpoints --

    def save(self, path):
        """Saves model, optimizer and weighting state and the training position (safetensors)."""
        _check(_lib.tandem_save_checkpoint(self.handle, os.fsencode(path)))

    def load(self, path):
        """Loads a checkpoint saved by save() from a model of the same configuration."""
        _check(_lib.tandem_load_checkpoint(self.handle, os.fsencode(path)))

    def __repr__(self):
        return f"tandem.Model({self.info['model']}, tasks={self.tasks}, device={self.info['device']})"
