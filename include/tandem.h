/*
 * tandem.h: the C API of Tandem, a multi-task training backend (CPU and OpenCL).
 *
 * Link with -ltandem (libtandem.so, built by scripts/make-libtandem.sh on the static Swift runtime:
 * it needs no Swift toolchain at run time, only the system's OpenCL ICD loader, CLBlast and OpenBLAS).
 *
 * CONVENTIONS
 *   - Every function except tandem_version, tandem_last_error and tandem_status_name returns a
 *     tandem_status: TANDEM_OK (0) on success, a positive code on failure. On failure, outputs are
 *     left unchanged (except *length of the JSON functions, see below) and tandem_last_error()
 *     describes what went wrong.
 *   - No argument can crash the library: null pointers, wrong lengths, unknown names, wrong shapes,
 *     out-of-range class labels, freed or foreign handles are all reported as status codes.
 *   - Models are opaque handles (tandem_model *). A handle is a token looked up in the library's
 *     registry of live models, never dereferenced: a freed handle, or any pointer the library did not
 *     hand out, returns TANDEM_ERROR_INVALID_HANDLE. Handles are never reused.
 *   - Host arrays are float32, row-major (C order), passed as a pointer plus its length in ELEMENTS
 *     (not bytes). The library copies what it reads; it keeps no pointer after a call returns.
 *   - JSON outputs: the caller passes (buffer, capacity); *length receives the size needed INCLUDING
 *     the terminating NUL. Pass buffer = NULL and capacity = 0 to ask for the size (returns
 *     TANDEM_OK); a non-null buffer smaller than needed returns TANDEM_ERROR_BUFFER_TOO_SMALL.
 *
 * DATA LAYOUT (a batch of N samples; a model has T tasks)
 *   inputs        N * tandem_model_input_size() floats: each sample has the configured input_shape.
 *   labels[t]     N * tandem_model_label_size(t) floats:
 *                   classification  one class index per sample (0 .. classes-1, or -1 = no label)
 *                   regression      `outputs` values per sample
 *                   segmentation    one class index per pixel [H, W] (-1 = ignored pixel)
 *                   depth           [1, H, W] per sample (0 = no depth)
 *                   normals         [3, H, W] per sample (zero vector = no normal)
 *   masks         NULL (every sample has every label), or an array of T pointers, each NULL (all
 *                 present) or N floats, 1 = this sample has task t's label, 0 = it does not
 *                 (it then contributes nothing to task t's loss, gradient or metrics).
 *   mask_lengths  NULL when masks is NULL, else T lengths (ignored where masks[t] is NULL).
 *   outputs[t]    N * tandem_model_output_size(t) floats written by tandem_predict: logits for
 *                 classification, values for regression, per-pixel log-probabilities, depth, normals.
 *
 * CONFIGURATION (JSON object given to tandem_model_create; unknown keys are an error)
 *   "model"        required: an architecture ("hps", "cross-stitch", "mtan", "mmoe", "cgc", "ple",
 *                  "dselect-k", "ltb", "soft", fitted to the input: an MLP trunk for vectors, conv nets
 *                  for images) or a preset ("lenet-hps",
 *                  "lenet-crossstitch", "mmoe-synth", "mtan-segnet"). "architecture" is an alias.
 *   "input_shape"  required: [D] for vectors, [C, H, W] for images.
 *   "tasks"        required: [{"name": "digit", "kind": "classification", "classes": 10},
 *                             {"name": "size", "kind": "regression", "outputs": 1}, ...]
 *                  kinds: classification (needs classes), regression (outputs, default 1),
 *                  segmentation (needs classes), depth, normals (the last three: mtan on images).
 *                  "auxiliary": true trains a task but leaves it out of Δm and the best-epoch score;
 *                  "adversarial_lambda": λ > 0 makes it adversarial (auxiliary, its head behind a
 *                  gradient reversal layer, λ constant; architectures, not presets). Multi-input training: pass
 *                  each task's samples with the other tasks' masks 0.
 *   "weighting"    "ew" (default), "fixed" (with "weights": [w per task]), "uw", "dwa", "gls", "rlw",
 *                  "imtl-l", "famo", "gradnorm", "pcgrad", "mgda", "imtl-g", "imtl", "gradvac",
 *                  "cagrad", "nash-mtl", "fairgrad", "upgrad", "aligned-mtl", "db-mtl", "moco",
 *                  "stch", "excess-mtl", "graddrop" (README: Loss weightings and gradient methods);
 *                  "weighting_args": {"key": value, ...} sets the method's settings, as
 *                  `--weighting-arg key=value` does (for example {"c": 0.4} for cagrad);
 *                  "rep_grad": true makes gradient methods work on the gradients at the shared
 *                  representation (hps and mmoe models; with mgda: MGDA-UB).
 *   "optimizer"    "adam" (default), "adamw", "sgd"; "lr" (default 1e-3, sgd 0.01); "momentum"
 *                  (sgd, default 0.9); "weight_decay" (default 0, adamw 0.01).
 *   "device"       a selector: "cpu", "opencl", "opencl:N", "gpu", "auto" (default: $TANDEM_DEVICE,
 *                  else "auto").
 *   "seed"         weights, shuffling and sampling seed (default 0).
 *   "batch_size"   samples per step of tandem_train_epoch and tandem_evaluate (default 32).
 *   "grad_clip"    clip the global gradient norm to this before each update (default: no clipping).
 *   "on_nan"       "stop" (default: a step whose loss is not finite returns TANDEM_ERROR_NUMERIC) or
 *                  "skip" (that step's update is skipped; losses and gradients are checked first).
 *   The optimizer, its parameter groups and these settings are built as `tandem train` builds them
 *   from its recipe.
 *   Example: {"model": "hps", "input_shape": [16], "device": "cpu", "optimizer": "adam", "lr": 0.01,
 *             "tasks": [{"name": "a", "kind": "classification", "classes": 3},
 *                       {"name": "b", "kind": "regression"}]}
 *
 * THREAD SAFETY
 *   - Every function may be called from any thread. The library serialises all calls that touch
 *     devices or models with one internal lock: calls from different threads (on the same or on
 *     different models) are safe, but they do not run in parallel.
 *   - tandem_last_error() is per thread: it describes the last call made on the calling thread.
 *   - Freeing a model while another thread uses it is safe (that call either finishes first or
 *     returns TANDEM_ERROR_INVALID_HANDLE), but it is a logic error in the caller.
 *   - Callers must not modify an array while a call that reads it, or write to an output buffer
 *     while a call that fills it, is running.
 */
#ifndef TANDEM_H
#define TANDEM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Status codes returned by every function. */
typedef enum tandem_status {
    TANDEM_OK = 0,
    TANDEM_ERROR_NULL_ARGUMENT = 1,    /* a required pointer was NULL */
    TANDEM_ERROR_INVALID_ARGUMENT = 2, /* a length, count, shape, index or label value is wrong */
    TANDEM_ERROR_INVALID_HANDLE = 3,   /* not a live model handle (freed, or never created) */
    TANDEM_ERROR_CONFIG = 4,           /* malformed JSON, unknown key or name, model that does not fit */
    TANDEM_ERROR_DEVICE = 5,           /* no such device, device failure, out of device memory */
    TANDEM_ERROR_BUFFER_TOO_SMALL = 6, /* an output buffer is too small; *length says how big */
    TANDEM_ERROR_IO = 7,               /* a checkpoint could not be written or read */
    TANDEM_ERROR_NOT_READY = 8,        /* nothing to report yet (metrics before any evaluation) */
    TANDEM_ERROR_INTERNAL = 9,         /* anything else */
    TANDEM_ERROR_NUMERIC = 10          /* a loss or parameter stopped being finite (NaN, infinity): the
                                          message names the task, the step and the first bad tensor */
} tandem_status;

/** A model with its optimizer, loss weighting and device: opaque. */
typedef struct tandem_model tandem_model;

/* ---- Errors and version -------------------------------------------------------------------- */

/** The message of the last failed call on this thread ("" when the last call succeeded). The
 *  string belongs to the library and stays valid until this thread's next call. Never NULL. */
const char *tandem_last_error(void);

/** The name of a status code ("TANDEM_OK", ...), or "TANDEM_UNKNOWN_STATUS". Never NULL. */
const char *tandem_status_name(int status);

/** The library version, e.g. "0.1.0". Never NULL. */
const char *tandem_version(void);

/* ---- Devices ------------------------------------------------------------------------------- */

/** The number of devices: the CPU, then each OpenCL device (PoCL counts as one). */
int tandem_device_count(size_t *count);

/** Device `index` (0 .. count-1) as a JSON object: {"index", "selector", "kind", "type", "name",
 *  "platform", "driver", "compute_units", "global_memory_bytes", "max_work_group_size",
 *  "local_memory_bytes"}. The "selector" is what the configuration's "device" takes. */
int tandem_device_info_json(size_t index, char *buffer, size_t capacity, size_t *length);

/** Every device as a JSON array of the objects of tandem_device_info_json. */
int tandem_devices_json(char *buffer, size_t capacity, size_t *length);

/* ---- Models -------------------------------------------------------------------------------- */

/** Creates a model from a JSON configuration (see CONFIGURATION); *model receives the handle.
 *  The memory of one training step of batch_size samples is estimated first (weights, optimizer
 *  state, activations, gradients, convolution scratch; a dry run that allocates nothing, in
 *  milliseconds): when it exceeds the device's memory, or one buffer exceeds the largest the device
 *  allows, nothing is built and TANDEM_ERROR_DEVICE comes back with the numbers ("mtan on [3, 4096,
 *  4096] with batch 32 needs about ... for a training step (...); cpu (...) has ..."). A later
 *  tandem_train_step of more samples than any step checked so far is estimated the same way before
 *  it runs, and refused with TANDEM_ERROR_DEVICE, the model unchanged. Running out of memory
 *  elsewhere in a call is TANDEM_ERROR_DEVICE naming the op and the tensor's shape. */
int tandem_model_create(const char *config_json, tandem_model **model);

/** Frees a model and everything it holds (device buffers return to the device's pool). */
int tandem_model_free(tandem_model *model);

/** The number of live models (for leak checks). */
int tandem_model_live_count(size_t *count);

/** The model as JSON: {"model", "device", "device_name", "parameters", "input_shape", "batch_size",
 *  "epoch", "step", "tasks": [{"name", "kind", "classes"?, "outputs"?, "label_shape", "label_size",
 *  "output_shape", "output_size"}]}. */
int tandem_model_info_json(tandem_model *model, char *buffer, size_t capacity, size_t *length);

/** The number of tasks, T. */
int tandem_model_task_count(tandem_model *model, size_t *count);

/** Floats per input sample (the product of input_shape). */
int tandem_model_input_size(tandem_model *model, size_t *size);

/** Floats per sample of task `task`'s labels. */
int tandem_model_label_size(tandem_model *model, size_t task, size_t *size);

/** Floats per sample of task `task`'s prediction. */
int tandem_model_output_size(tandem_model *model, size_t task, size_t *size);

/** Epochs and steps completed (restored by tandem_load_checkpoint). Either pointer may be NULL. */
int tandem_model_progress(tandem_model *model, int64_t *epoch, int64_t *step);

/* ---- Training and evaluation (see DATA LAYOUT) --------------------------------------------- */

/** One optimizer step on one batch of `samples` samples. `losses` (may be NULL, else at least T
 *  floats) receives each task's loss on the batch, before the update. */
int tandem_train_step(tandem_model *model,
                      const float *inputs, size_t inputs_length, size_t samples,
                      const float *const *labels, const size_t *label_lengths,
                      const float *const *masks, const size_t *mask_lengths,
                      float *losses, size_t losses_length);

/** Ends an epoch of tandem_train_step calls: updates epoch-level weighting (DWA) and the epoch
 *  counter. `mean_losses` (may be NULL, else at least T floats) receives the epoch's mean losses. */
int tandem_end_epoch(tandem_model *model, float *mean_losses, size_t losses_length);

/** One epoch over a data set of `samples` samples: shuffled (from the seed and the epoch number)
 *  into batches of the configured batch_size, one step each, then tandem_end_epoch. `mean_losses`
 *  (may be NULL) receives each task's mean training loss over the epoch. */
int tandem_train_epoch(tandem_model *model,
                       const float *inputs, size_t inputs_length, size_t samples,
                       const float *const *labels, const size_t *label_lengths,
                       const float *const *masks, const size_t *mask_lengths,
                       float *mean_losses, size_t losses_length);

/** Evaluates without training (evaluation mode, batches of batch_size): `losses` (may be NULL, else
 *  at least T doubles) receives each task's mean loss; the metrics are kept for tandem_metric and
 *  tandem_metrics_json until the next evaluation. */
int tandem_evaluate(tandem_model *model,
                    const float *inputs, size_t inputs_length, size_t samples,
                    const float *const *labels, const size_t *label_lengths,
                    const float *const *masks, const size_t *mask_lengths,
                    double *losses, size_t losses_length);

/** One metric of task `task` from the last tandem_evaluate: "loss" and, by kind, "accuracy"
 *  (classification); "mse", "mae" (regression); "miou", "pixel_accuracy" (segmentation);
 *  "abs_err", "rel_err" (depth); angle statistics (normals). tandem_metrics_json lists them all. */
int tandem_metric(tandem_model *model, size_t task, const char *name, double *value);

/** The last evaluation as JSON: {"<task>": {"loss": x, "<metric>": y, ...}, ...}. */
int tandem_metrics_json(tandem_model *model, char *buffer, size_t capacity, size_t *length);

/** Predicts `samples` samples in evaluation mode: outputs[t] (outputs_lengths[t] floats, at least
 *  samples * tandem_model_output_size(t)) receives task t's predictions. */
int tandem_predict(tandem_model *model,
                   const float *inputs, size_t inputs_length, size_t samples,
                   float *const *outputs, const size_t *outputs_lengths);

/* ---- Checkpoints --------------------------------------------------------------------------- */

/** Saves the model, optimizer and weighting state and the training position (safetensors,
 *  written atomically). */
int tandem_save_checkpoint(tandem_model *model, const char *path);

/** Loads a checkpoint written by tandem_save_checkpoint for a model of the same configuration
 *  (or a model-only safetensors file of the same structure: weights only). On error the model is unchanged. */
int tandem_load_checkpoint(tandem_model *model, const char *path);

#ifdef __cplusplus
}
#endif

#endif /* TANDEM_H */
