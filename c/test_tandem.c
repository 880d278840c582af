/*
 * The C API's test: trains a two-task model and checks that both losses decrease, evaluates,
 * predicts, saves and reloads a checkpoint, makes bad-argument calls that must return error codes
 * with messages, uses the library from two threads, and checks that a loop of create/train/free
 * keeps the resident memory flat.
 *
 *   cc -std=c11 -Wall -Wextra -Werror -Iinclude c/test_tandem.c -Ldist/libtandem/lib -ltandem -lpthread -o test_tandem
 *   LD_LIBRARY_PATH=dist/libtandem/lib ./test_tandem [device] [leak-iterations]
 *
 * device: a selector such as cpu or opencl (default cpu); leak-iterations: create/train/free rounds whose
 * resident memory must stay flat (default 40; 0 skips the loop, as scripts/sanitize.sh does, where
 * LeakSanitizer checks for leaks instead). Exit status 0 when every check passes.
 */
#define _POSIX_C_SOURCE 200809L
#include "tandem.h"

#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int failures = 0;
static int checks = 0;

#define CHECK(cond, ...)                                                        \
    do {                                                                        \
        checks++;                                                               \
        if (!(cond)) {                                                          \
            failures++;                                                         \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);                \
            fprintf(stderr, __VA_ARGS__);                                       \
            fprintf(stderr, " [last error: %s]\n", tandem_last_error());        \
        }                                                                       \
    } while (0)

/* A call that must succeed. */
#define OK(call)                                                                \
    do {                                                                        \
        int status_ = (call);                                                   \
        CHECK(status_ == TANDEM_OK, "%s returned %s", #call, tandem_status_name(status_)); \
    } while (0)

/* A call that must fail with `expected` and leave a non-empty message. */
#define EXPECT(expected, call)                                                  \
    do {                                                                        \
        int status_ = (call);                                                   \
        checks++;                                                               \
        if (status_ != (expected) || tandem_last_error()[0] == '\0') {          \
            failures++;                                                         \
            fprintf(stderr, "FAIL %s:%d: %s returned %s, expected %s (message '%s')\n", __FILE__, \
                    __LINE__, #call, tandem_status_name(status_), tandem_status_name(expected), \
                    tandem_last_error());                                       \
        } else if (verbose) {                                                   \
            printf("  ok  %-28s %s\n", tandem_status_name(status_), tandem_last_error()); \
        }                                                                       \
    } while (0)

static int verbose = 0;

enum { D = 16, CLASSES = 3, N = 256, T = 2 };

/* The data: x uniform in [-1, 1]^16; task "digit" is the argmax of three fixed projections, task
 * "size" a fixed linear function of x. A small LCG keeps it reproducible. */
static float inputs[N * D], classes[N], targets[N], mask_half[N];

static uint32_t lcg_state = 12345u;
static float uniform(void) {
    lcg_state = lcg_state * 1664525u + 1013904223u;
    return (float)(lcg_state >> 8) / 16777216.0f * 2.0f - 1.0f;
}

static void make_data(void) {
    float w[CLASSES][D], v[D];
    for (int c = 0; c < CLASSES; c++)
        for (int d = 0; d < D; d++) w[c][d] = uniform();
    for (int d = 0; d < D; d++) v[d] = uniform();
    for (int i = 0; i < N; i++) {
        float best = -1e30f, y = 0;
        int arg = 0;
        for (int d = 0; d < D; d++) inputs[i * D + d] = uniform();
        for (int c = 0; c < CLASSES; c++) {
            float s = 0;
            for (int d = 0; d < D; d++) s += w[c][d] * inputs[i * D + d];
            if (s > best) { best = s; arg = c; }
        }
        for (int d = 0; d < D; d++) y += v[d] * inputs[i * D + d];
        classes[i] = (float)arg;
        targets[i] = 0.5f * y;
        mask_half[i] = (float)(i % 2);
    }
}

static char config[1024];

static void make_config(const char *model, const char *device) {
    snprintf(config, sizeof config,
             "{\"model\": \"%s\", \"input_shape\": [%d], \"device\": \"%s\", \"optimizer\": \"adam\", "
             "\"lr\": 0.01, \"seed\": 7, \"batch_size\": 32, \"weighting\": \"ew\", "
             "\"tasks\": [{\"name\": \"digit\", \"kind\": \"classification\", \"classes\": %d}, "
             "{\"name\": \"size\", \"kind\": \"regression\"}]}",
             model, D, device, CLASSES);
}

static const float *labels[T] = {classes, targets};
static const size_t label_lengths[T] = {N, N};

static long resident_kib(void) {
    long pages_total = 0, pages_resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f) return -1;
    if (fscanf(f, "%ld %ld", &pages_total, &pages_resident) != 2) pages_resident = -1;
    fclose(f);
    return pages_resident < 0 ? -1 : pages_resident * (sysconf(_SC_PAGESIZE) / 1024);
}

/* ---- Training ---------------------------------------------------------------------------------- */

static tandem_model *train_model(const char *device) {
    tandem_model *model = NULL;
    make_config("hps", device);
    OK(tandem_model_create(config, &model));
    if (!model) return NULL;

    size_t length = 0;
    OK(tandem_model_info_json(model, NULL, 0, &length));
    char *info = malloc(length);
    OK(tandem_model_info_json(model, info, length, &length));
    printf("model: %s\n", info);
    free(info);

    size_t tasks = 0, input_size = 0, label_size = 0, output_size = 0;
    OK(tandem_model_task_count(model, &tasks));
    OK(tandem_model_input_size(model, &input_size));
    CHECK(tasks == T && input_size == D, "tasks %zu, input size %zu", tasks, input_size);
    OK(tandem_model_label_size(model, 0, &label_size));
    OK(tandem_model_output_size(model, 0, &output_size));
    CHECK(label_size == 1 && output_size == CLASSES, "task 0: label size %zu, output size %zu", label_size, output_size);

    float first[T] = {0}, last[T] = {0};
    const int epochs = 8;
    for (int epoch = 0; epoch < epochs; epoch++) {
        float losses[T];
        OK(tandem_train_epoch(model, inputs, N * D, N, labels, label_lengths, NULL, NULL, losses, T));
        printf("epoch %d  digit %.4f  size %.4f\n", epoch + 1, losses[0], losses[1]);
        if (epoch == 0) memcpy(first, losses, sizeof first);
        memcpy(last, losses, sizeof last);
    }
    CHECK(last[0] < 0.8f * first[0], "digit loss did not decrease: %f -> %f", first[0], last[0]);
    CHECK(last[1] < 0.8f * first[1], "size loss did not decrease: %f -> %f", first[1], last[1]);

    /* A step with a mask: half the samples have no "size" label. */
    const float *masks[T] = {NULL, mask_half};
    const size_t mask_lengths[T] = {0, 32};
    float step_losses[T];
    OK(tandem_train_step(model, inputs, 32 * D, 32, labels, (const size_t[]){32, 32}, masks, mask_lengths, step_losses, T));
    OK(tandem_end_epoch(model, NULL, 0));
    int64_t epoch = -1, step = -1;
    OK(tandem_model_progress(model, &epoch, &step));
    CHECK(epoch == epochs + 1 && step == epochs * (N / 32) + 1, "progress: epoch %lld step %lld", (long long)epoch, (long long)step);
    return model;
}

static void evaluate_and_predict(tandem_model *model) {
    double losses[T];
    OK(tandem_evaluate(model, inputs, N * D, N, labels, label_lengths, NULL, NULL, losses, T));
    double accuracy = -1, mse = -1, loss = -1;
    OK(tandem_metric(model, 0, "accuracy", &accuracy));
    OK(tandem_metric(model, 1, "mse", &mse));
    OK(tandem_metric(model, 1, "loss", &loss));
    printf("evaluation: digit loss %.4f accuracy %.3f, size loss %.4f mse %.4f\n", losses[0], accuracy, losses[1], mse);
    CHECK(accuracy > 0.6, "accuracy %f after training", accuracy);
    CHECK(fabs(loss - losses[1]) < 1e-9, "metric loss %f vs %f", loss, losses[1]);
    size_t length = 0;
    OK(tandem_metrics_json(model, NULL, 0, &length));
    char *json = malloc(length);
    OK(tandem_metrics_json(model, json, length, &length));
    CHECK(strstr(json, "\"accuracy\"") != NULL, "metrics JSON %s", json);
    printf("metrics: %s\n", json);
    free(json);

    float logits[N * CLASSES], values[N];
    float *outputs[T] = {logits, values};
    OK(tandem_predict(model, inputs, N * D, N, outputs, (const size_t[]){N * CLASSES, N}));
    int correct = 0;
    for (int i = 0; i < N; i++) {
        int arg = 0;
        for (int c = 1; c < CLASSES; c++)
            if (logits[i * CLASSES + c] > logits[i * CLASSES + arg]) arg = c;
        correct += arg == (int)classes[i];
    }
    CHECK(fabs((double)correct / N - accuracy) < 1e-6, "predicted accuracy %f vs evaluated %f", (double)correct / N, accuracy);
}

static void checkpoint_round_trip(tandem_model *model, const char *device) {
    char path[256];
    snprintf(path, sizeof path, "/tmp/tandem-c-test-%d.safetensors", (int)getpid());
    OK(tandem_save_checkpoint(model, path));
    tandem_model *copy = NULL;
    make_config("hps", device);
    OK(tandem_model_create(config, &copy));
    OK(tandem_load_checkpoint(copy, path));
    int64_t e1, s1, e2, s2;
    OK(tandem_model_progress(model, &e1, &s1));
    OK(tandem_model_progress(copy, &e2, &s2));
    CHECK(e1 == e2 && s1 == s2, "restored progress %lld/%lld vs %lld/%lld", (long long)e2, (long long)s2, (long long)e1, (long long)s1);
    static float a0[8 * CLASSES], a1[8], b0[8 * CLASSES], b1[8];
    OK(tandem_predict(model, inputs, 8 * D, 8, (float *const[]){a0, a1}, (const size_t[]){8 * CLASSES, 8}));
    OK(tandem_predict(copy, inputs, 8 * D, 8, (float *const[]){b0, b1}, (const size_t[]){8 * CLASSES, 8}));
    CHECK(memcmp(a0, b0, sizeof a0) == 0 && memcmp(a1, b1, sizeof a1) == 0, "reloaded model predicts differently");

    /* A checkpoint of another model (three tasks) does not load, and leaves the model unchanged. */
    tandem_model *other = NULL;
    OK(tandem_model_create("{\"model\": \"hps\", \"input_shape\": [16], \"device\": \"cpu\", \"tasks\": ["
                           "{\"name\": \"a\", \"kind\": \"regression\"}, {\"name\": \"b\", \"kind\": \"regression\"}, "
                           "{\"name\": \"c\", \"kind\": \"regression\"}]}", &other));
    EXPECT(TANDEM_ERROR_IO, tandem_load_checkpoint(other, path));
    OK(tandem_model_free(other));
    OK(tandem_model_free(copy));
    unlink(path);
}

/* ---- Bad arguments ----------------------------------------------------------------------------- */

static void bad_arguments(tandem_model *model, const char *device) {
    printf("bad-argument calls:\n");
    tandem_model *m = NULL;
    size_t size = 0, length = 0;
    char small[4];

    CHECK(strcmp(tandem_status_name(12345), "TANDEM_UNKNOWN_STATUS") == 0, "status name of 12345");
    CHECK(strcmp(tandem_status_name(TANDEM_ERROR_CONFIG), "TANDEM_ERROR_CONFIG") == 0, "status name");
    CHECK(tandem_version() != NULL && tandem_version()[0] != '\0', "version");

    /* Devices. */
    EXPECT(TANDEM_ERROR_NULL_ARGUMENT, tandem_device_count(NULL));
    EXPECT(TANDEM_ERROR_INVALID_ARGUMENT, tandem_device_info_json(999, NULL, 0, &length));
    EXPECT(TANDEM_ERROR_INVALID_ARGUMENT, tandem_device_info_json(SIZE_MAX, NULL, 0, &length));
    EXPECT(TANDEM_ERROR_NULL_ARGUMENT, tandem_device_info_json(0, NULL, 0, NULL));
    EXPECT(TANDEM_ERROR_BUFFER_TOO_SMALL, tandem_devices_json(small, sizeof small, &length));
    CHECK(length > sizeof small, "needed length %zu", length);
    EXPECT(TANDEM_ERROR_INVALID_ARGUMENT, tandem_devices_json(NULL, 10, &length));
    EXPECT(TANDEM_ERROR_INVALID_ARGUMENT, tandem_devices_json(small, SIZE_MAX, &length));

    /* Configurations. */
    EXPECT(TANDEM_ERROR_NULL_ARGUMENT, tandem_model_create(NULL, &m));
    EXPECT(TANDEM_ERROR_NULL_ARGUMENT, tandem_model_create("{}", NULL));
    EXPECT(TANDEM_ERROR_CONFIG, tandem_model_create("", &m));
    EXPECT(TANDEM_ERROR_CONFIG, tandem_model_create("{\"model\": \"hps\",", &m));
    EXPECT(TANDEM_ERROR_CONFIG, tandem_model_create("[1, 2, 3]", &m));
    EXPECT(TANDEM_ERROR_CONFIG, tandem_model_create("{\"model\": \"hps\"}", &m));
    EXPECT(TANDEM_ERROR_CONFIG, tandem_model_create("{\"model\": \"nope\", \"input_shape\": [4], \"tasks\": [{\"name\": \"a\", \"kind\": \"regression\"}]}", &m));
    EXPECT(TANDEM_ERROR_CONFIG, tandem_model_create("{\"model\": \"hps\", \"input_shape\": [4], \"tasks\": [{\"name\": \"a\", \"kind\": \"regression\"}], \"colour\": 1}", &m));
    EXPECT(TANDEM_ERROR_CONFIG, tandem_model_create("{\"model\": \"hps\", \"input_shape\": [4], \"tasks\": [{\"name\": \"a\", \"kind\": \"classification\"}]}", &m));
    EXPECT(TANDEM_ERROR_CONFIG, tandem_model_create("{\"model\": \"hps\", \"input_shape\": [4], \"tasks\": [{\"name\": \"a\", \"kind\": \"telepathy\"}]}", &m));
    EXPECT(TANDEM_ERROR_CONFIG, tandem_model_create("{\"model\": \"hps\", \"input_shape\": [-4], \"tasks\": [{\"name\": \"a\", \"kind\": \"regression\"}]}", &m));
    EXPECT(TANDEM_ERROR_CONFIG, tandem_model_create("{\"model\": \"hps\", \"input_shape\": [4.5], \"tasks\": [{\"name\": \"a\", \"kind\": \"regression\"}]}", &m));
    EXPECT(TANDEM_ERROR_CONFIG, tandem_model_create("{\"model\": \"hps\", \"input_shape\": [4], \"tasks\": [{\"name\": \"a\", \"kind\": \"regression\"}, {\"name\": \"a\", \"kind\": \"regression\"}]}", &m));
    EXPECT(TANDEM_ERROR_CONFIG, tandem_model_create("{\"model\": \"hps\", \"input_shape\": [4], \"tasks\": [{\"name\": \"a\", \"kind\": \"regression\"}], \"weighting\": \"fixed\"}", &m));
    EXPECT(TANDEM_ERROR_CONFIG, tandem_model_create("{\"model\": \"hps\", \"input_shape\": [4], \"tasks\": [{\"name\": \"a\", \"kind\": \"regression\"}], \"lr\": -1}", &m));
    EXPECT(TANDEM_ERROR_CONFIG, tandem_model_create("{\"model\": \"lenet-hps\", \"input_shape\": [16], \"tasks\": [{\"name\": \"a\", \"kind\": \"regression\"}]}", &m));
    EXPECT(TANDEM_ERROR_CONFIG, tandem_model_create("{\"model\": \"hps\", \"input_shape\": [4], \"tasks\": [{\"name\": \"a\", \"kind\": \"depth\"}]}", &m));
    /* A preset with fixed heads refuses tasks it does not predict (LeNet heads have 10 classes). */
    EXPECT(TANDEM_ERROR_CONFIG, tandem_model_create("{\"model\": \"lenet-hps\", \"input_shape\": [1, 28, 28], \"device\": \"cpu\", \"tasks\": [{\"name\": \"a\", \"kind\": \"classification\", \"classes\": 3}, {\"name\": \"b\", \"kind\": \"classification\", \"classes\": 10}]}", &m));
    EXPECT(TANDEM_ERROR_CONFIG, tandem_model_create("{\"model\": \"hps\", \"model\": \"hps\"}", &m));
    EXPECT(TANDEM_ERROR_CONFIG, tandem_model_create("{\"model\": \"h\\ud800ps\"}", &m));
    EXPECT(TANDEM_ERROR_DEVICE, tandem_model_create("{\"model\": \"hps\", \"input_shape\": [4], \"device\": \"opencl:99\", \"tasks\": [{\"name\": \"a\", \"kind\": \"regression\"}]}", &m));
    EXPECT(TANDEM_ERROR_DEVICE, tandem_model_create("{\"model\": \"hps\", \"input_shape\": [4], \"device\": \"toaster\", \"tasks\": [{\"name\": \"a\", \"kind\": \"regression\"}]}", &m));
    {
        /* A training step larger than the device is refused at once with the numbers (a dry run
         * that allocates nothing), not an abort on a huge allocation or minutes of work. */
        static const char *const huge[] = {
            "{\"model\": \"mtan\", \"input_shape\": [3, 4096, 4096], \"device\": \"%s\", \"tasks\": [{\"name\": \"a\", \"kind\": \"classification\", \"classes\": 3}]}",
            "{\"model\": \"hps\", \"input_shape\": [1, 4096, 16384], \"device\": \"%s\", \"tasks\": [{\"name\": \"a\", \"kind\": \"regression\"}]}",
        };
        for (size_t i = 0; i < sizeof huge / sizeof huge[0]; i++) {
            char text[512];
            snprintf(text, sizeof text, huge[i], device);
            struct timespec start, end;
            clock_gettime(CLOCK_MONOTONIC, &start);
            EXPECT(TANDEM_ERROR_DEVICE, tandem_model_create(text, &m));
            clock_gettime(CLOCK_MONOTONIC, &end);
            double seconds = (double)(end.tv_sec - start.tv_sec) + 1e-9 * (double)(end.tv_nsec - start.tv_nsec);
            CHECK(strstr(tandem_last_error(), "needs about") && strstr(tandem_last_error(), "for a training step"),
                  "message of an oversized model: %s", tandem_last_error());
            CHECK(seconds < 10, "refusing an oversized model took %.1f s", seconds);
        }
    }
    {
        /* rep_grad: gradients at the shared representation (MGDA-UB with mgda); refused with gradnorm
         * and for a model without one shared representation. */
        char text[512];
        snprintf(text, sizeof text, "{\"model\": \"hps\", \"input_shape\": [6], \"weighting\": \"mgda\", \"rep_grad\": true, \"device\": \"%s\", "
                 "\"tasks\": [{\"name\": \"a\", \"kind\": \"regression\"}, {\"name\": \"b\", \"kind\": \"regression\"}]}", device);
        OK(tandem_model_create(text, &m));
        float inputs[4 * 6] = {0}, a[4] = {1, 2, 3, 4}, b[4] = {-1, 0, 1, 2}, losses[2];
        for (int i = 0; i < 24; i++) inputs[i] = (float)((i * 7) % 5) - 2.0f;
        const float *labels[] = {a, b};
        size_t lengths[] = {4, 4};
        OK(tandem_train_step(m, inputs, 24, 4, labels, lengths, NULL, NULL, losses, 2));
        CHECK(isfinite(losses[0]) && isfinite(losses[1]), "rep_grad step losses %f %f", losses[0], losses[1]);
        OK(tandem_model_free(m));
        m = NULL;
        EXPECT(TANDEM_ERROR_CONFIG, tandem_model_create("{\"model\": \"hps\", \"input_shape\": [6], \"weighting\": \"gradnorm\", \"rep_grad\": true, \"tasks\": [{\"name\": \"a\", \"kind\": \"regression\"}]}", &m));
        EXPECT(TANDEM_ERROR_CONFIG, tandem_model_create("{\"model\": \"cross-stitch\", \"input_shape\": [6], \"rep_grad\": true, \"device\": \"cpu\", \"tasks\": [{\"name\": \"a\", \"kind\": \"regression\"}, {\"name\": \"b\", \"kind\": \"regression\"}]}", &m));
        CHECK(strstr(tandem_last_error(), "rep_grad") != NULL, "message: %s", tandem_last_error());
    }
    {
        /* A model that fits at its batch_size, then a tandem_train_step of far more samples: that
         * step is estimated before it runs and refused with the numbers; the model is unchanged. */
        char text[512];
        snprintf(text, sizeof text, "{\"model\": \"mtan\", \"input_shape\": [3, 256, 256], \"batch_size\": 2, \"device\": \"%s\", "
                 "\"tasks\": [{\"name\": \"a\", \"kind\": \"classification\", \"classes\": 3}]}", device);
        OK(tandem_model_create(text, &m));
        size_t samples = 4096, input = 3 * 256 * 256;
        float *inputs = calloc(samples * input, sizeof(float)), *labels = calloc(samples, sizeof(float));
        CHECK(inputs && labels, "allocating %zu zero inputs", samples);
        const float *label_list[] = {labels};
        size_t label_lengths[] = {samples};
        EXPECT(TANDEM_ERROR_DEVICE, tandem_train_step(m, inputs, samples * input, samples, label_list, label_lengths, NULL, NULL, NULL, 0));
        CHECK(strstr(tandem_last_error(), "with batch 4096") && strstr(tandem_last_error(), "needs about"),
              "message of an oversized step: %s", tandem_last_error());
        char info[4096];
        size_t length = 0;
        OK(tandem_model_info_json(m, info, sizeof info, &length));
        CHECK(strstr(info, "\"step\": 0") || strstr(info, "\"step\":0"), "an oversized step changed the model: %s", info);
        free(inputs);
        free(labels);
        OK(tandem_model_free(m));
        m = NULL;
    }
    {
        /* 100,000 nested arrays must not exhaust the stack. */
        size_t depth = 100000;
        char *deep = malloc(2 * depth + 1);
        memset(deep, '[', depth);
        memset(deep + depth, ']', depth);
        deep[2 * depth] = '\0';
        EXPECT(TANDEM_ERROR_CONFIG, tandem_model_create(deep, &m));
        free(deep);
    }
    CHECK(m == NULL, "a failed create wrote the handle");

    /* Handles. */
    EXPECT(TANDEM_ERROR_NULL_ARGUMENT, tandem_model_free(NULL));
    EXPECT(TANDEM_ERROR_INVALID_HANDLE, tandem_model_free((tandem_model *)(uintptr_t)0x1234));
    EXPECT(TANDEM_ERROR_INVALID_HANDLE, tandem_model_task_count((tandem_model *)&size, &size));
    EXPECT(TANDEM_ERROR_NULL_ARGUMENT, tandem_model_task_count(model, NULL));
    EXPECT(TANDEM_ERROR_INVALID_ARGUMENT, tandem_model_label_size(model, 2, &size));
    EXPECT(TANDEM_ERROR_INVALID_ARGUMENT, tandem_model_output_size(model, SIZE_MAX, &size));
    EXPECT(TANDEM_ERROR_NULL_ARGUMENT, tandem_model_info_json(model, NULL, 0, NULL));
    make_config("hps", device);
    tandem_model *freed = NULL;
    OK(tandem_model_create(config, &freed));
    OK(tandem_model_free(freed));
    EXPECT(TANDEM_ERROR_INVALID_HANDLE, tandem_model_free(freed));
    EXPECT(TANDEM_ERROR_INVALID_HANDLE, tandem_train_step(freed, inputs, N * D, N, labels, label_lengths, NULL, NULL, NULL, 0));

    /* Training arguments. */
    float losses[T];
    EXPECT(TANDEM_ERROR_NULL_ARGUMENT, tandem_train_step(NULL, inputs, N * D, N, labels, label_lengths, NULL, NULL, losses, T));
    EXPECT(TANDEM_ERROR_NULL_ARGUMENT, tandem_train_step(model, NULL, N * D, N, labels, label_lengths, NULL, NULL, losses, T));
    EXPECT(TANDEM_ERROR_INVALID_ARGUMENT, tandem_train_step(model, inputs, N * D - 1, N, labels, label_lengths, NULL, NULL, losses, T));
    EXPECT(TANDEM_ERROR_INVALID_ARGUMENT, tandem_train_step(model, inputs, N * D, 0, labels, label_lengths, NULL, NULL, losses, T));
    EXPECT(TANDEM_ERROR_INVALID_ARGUMENT, tandem_train_step(model, inputs, SIZE_MAX, SIZE_MAX, labels, label_lengths, NULL, NULL, losses, T));
    EXPECT(TANDEM_ERROR_INVALID_ARGUMENT, tandem_train_step(model, inputs, N * D, (size_t)1 << 62, labels, label_lengths, NULL, NULL, losses, T));
    EXPECT(TANDEM_ERROR_NULL_ARGUMENT, tandem_train_step(model, inputs, N * D, N, NULL, label_lengths, NULL, NULL, losses, T));
    EXPECT(TANDEM_ERROR_NULL_ARGUMENT, tandem_train_step(model, inputs, N * D, N, labels, NULL, NULL, NULL, losses, T));
    EXPECT(TANDEM_ERROR_NULL_ARGUMENT, tandem_train_step(model, inputs, N * D, N, (const float *const[]){classes, NULL}, label_lengths, NULL, NULL, losses, T));
    EXPECT(TANDEM_ERROR_INVALID_ARGUMENT, tandem_train_step(model, inputs, N * D, N, labels, (const size_t[]){N, N - 1}, NULL, NULL, losses, T));
    EXPECT(TANDEM_ERROR_INVALID_ARGUMENT, tandem_train_step(model, inputs, N * D, N, labels, label_lengths, NULL, NULL, losses, 1));
    {
        static float bad_classes[N], bad_targets[N];
        memcpy(bad_classes, classes, sizeof classes);
        memcpy(bad_targets, targets, sizeof targets);
        bad_classes[5] = 3;  /* classes are 0..2 */
        EXPECT(TANDEM_ERROR_INVALID_ARGUMENT, tandem_train_step(model, inputs, N * D, N, (const float *const[]){bad_classes, targets}, label_lengths, NULL, NULL, losses, T));
        bad_classes[5] = 0.5f;
        EXPECT(TANDEM_ERROR_INVALID_ARGUMENT, tandem_train_step(model, inputs, N * D, N, (const float *const[]){bad_classes, targets}, label_lengths, NULL, NULL, losses, T));
        bad_classes[5] = NAN;
        EXPECT(TANDEM_ERROR_INVALID_ARGUMENT, tandem_train_step(model, inputs, N * D, N, (const float *const[]){bad_classes, targets}, label_lengths, NULL, NULL, losses, T));
        bad_targets[7] = INFINITY;
        EXPECT(TANDEM_ERROR_INVALID_ARGUMENT, tandem_train_step(model, inputs, N * D, N, (const float *const[]){classes, bad_targets}, label_lengths, NULL, NULL, losses, T));
        static float bad_mask[N];
        bad_mask[3] = 2;
        EXPECT(TANDEM_ERROR_INVALID_ARGUMENT, tandem_train_step(model, inputs, N * D, N, labels, label_lengths, (const float *const[]){bad_mask, NULL}, (const size_t[]){N, 0}, losses, T));
        EXPECT(TANDEM_ERROR_INVALID_ARGUMENT, tandem_train_step(model, inputs, N * D, N, labels, label_lengths, (const float *const[]){mask_half, NULL}, (const size_t[]){N - 1, 0}, losses, T));
        EXPECT(TANDEM_ERROR_NULL_ARGUMENT, tandem_train_step(model, inputs, N * D, N, labels, label_lengths, (const float *const[]){mask_half, NULL}, NULL, losses, T));
    }
    {
        static float nan_inputs[N * D];
        memcpy(nan_inputs, inputs, sizeof nan_inputs);
        nan_inputs[5 * D + 1] = NAN;
        EXPECT(TANDEM_ERROR_INVALID_ARGUMENT, tandem_train_step(model, nan_inputs, N * D, N, labels, label_lengths, NULL, NULL, losses, T));
        CHECK(strstr(tandem_last_error(), "sample 5") != NULL, "NaN input message: %s", tandem_last_error());
    }
    {
        /* Divergence: a huge learning rate makes a loss non-finite within a few steps; "skip" keeps going. */
        for (int skip = 0; skip < 2; skip++) {
            char diverging[512];
            snprintf(diverging, sizeof diverging,
                     "{\"model\": \"hps\", \"input_shape\": [%d], \"device\": \"%s\", \"optimizer\": \"sgd\", \"lr\": 1e29, \"on_nan\": \"%s\", "
                     "\"tasks\": [{\"name\": \"digit\", \"kind\": \"classification\", \"classes\": %d}, {\"name\": \"size\", \"kind\": \"regression\"}]}",
                     D, device, skip ? "skip" : "stop", CLASSES);
            tandem_model *wild = NULL;
            OK(tandem_model_create(diverging, &wild));
            int status = TANDEM_OK;
            for (int i = 0; i < 6 && status == TANDEM_OK; i++)
                status = tandem_train_step(wild, inputs, N * D, N, labels, label_lengths, NULL, NULL, losses, T);
            if (skip) {
                CHECK(status == TANDEM_OK, "on_nan skip: %s (%s)", tandem_status_name(status), tandem_last_error());
            } else {
                CHECK(status == TANDEM_ERROR_NUMERIC, "lr 1e29: %s (%s)", tandem_status_name(status), tandem_last_error());
                CHECK(strstr(tandem_last_error(), "step") != NULL && strstr(tandem_last_error(), "task") != NULL, "message: %s", tandem_last_error());
            }
            OK(tandem_model_free(wild));
        }
    }
    EXPECT(TANDEM_ERROR_INVALID_ARGUMENT, tandem_train_epoch(model, inputs, N * D, N + 1, labels, label_lengths, NULL, NULL, NULL, 0));
    EXPECT(TANDEM_ERROR_INVALID_ARGUMENT, tandem_end_epoch(model, losses, 1));
    EXPECT(TANDEM_ERROR_INVALID_ARGUMENT, tandem_evaluate(model, inputs, N * D, N, labels, (const size_t[]){N + 1, N}, NULL, NULL, NULL, 0));

    /* Metrics and predictions. */
    double value;
    EXPECT(TANDEM_ERROR_INVALID_ARGUMENT, tandem_metric(model, 0, "mse", &value));
    EXPECT(TANDEM_ERROR_INVALID_ARGUMENT, tandem_metric(model, 7, "loss", &value));
    EXPECT(TANDEM_ERROR_NULL_ARGUMENT, tandem_metric(model, 0, NULL, &value));
    EXPECT(TANDEM_ERROR_BUFFER_TOO_SMALL, tandem_metrics_json(model, small, sizeof small, &length));
    make_config("hps", device);
    tandem_model *fresh = NULL;
    OK(tandem_model_create(config, &fresh));
    EXPECT(TANDEM_ERROR_NOT_READY, tandem_metric(fresh, 0, "loss", &value));
    EXPECT(TANDEM_ERROR_NOT_READY, tandem_metrics_json(fresh, NULL, 0, &length));
    OK(tandem_model_free(fresh));
    static float out0[N * CLASSES], out1[N];
    EXPECT(TANDEM_ERROR_INVALID_ARGUMENT, tandem_predict(model, inputs, N * D, N, (float *const[]){out0, out1}, (const size_t[]){N * CLASSES - 1, N}));
    EXPECT(TANDEM_ERROR_NULL_ARGUMENT, tandem_predict(model, inputs, N * D, N, (float *const[]){out0, NULL}, (const size_t[]){N * CLASSES, N}));
    EXPECT(TANDEM_ERROR_NULL_ARGUMENT, tandem_predict(model, inputs, N * D, N, NULL, (const size_t[]){N * CLASSES, N}));
    EXPECT(TANDEM_ERROR_INVALID_ARGUMENT, tandem_predict(model, inputs, 3, N, (float *const[]){out0, out1}, (const size_t[]){N * CLASSES, N}));

    /* Checkpoints. */
    EXPECT(TANDEM_ERROR_NULL_ARGUMENT, tandem_save_checkpoint(model, NULL));
    EXPECT(TANDEM_ERROR_INVALID_ARGUMENT, tandem_save_checkpoint(model, ""));
    EXPECT(TANDEM_ERROR_IO, tandem_save_checkpoint(model, "/nonexistent-dir/x/model.safetensors"));
    EXPECT(TANDEM_ERROR_IO, tandem_load_checkpoint(model, "/nonexistent-dir/model.safetensors"));
    {
        char path[256];
        snprintf(path, sizeof path, "/tmp/tandem-c-garbage-%d.safetensors", (int)getpid());
        FILE *f = fopen(path, "wb");
        if (f) {
            fputs("\xff\xff\xff\xff\xff\xff\xff\x7f not safetensors", f);
            fclose(f);
        }
        EXPECT(TANDEM_ERROR_IO, tandem_load_checkpoint(model, path));
        unlink(path);
    }

    /* A failed call leaves a message; a successful one clears it. */
    OK(tandem_model_task_count(model, &size));
    CHECK(tandem_last_error()[0] == '\0', "message after success: %s", tandem_last_error());
}

/* ---- Threads ----------------------------------------------------------------------------------- */

struct thread_job {
    const char *device;
    int status;
    char error[256];
};

static void *thread_main(void *argument) {
    struct thread_job *job = argument;
    char local[1024];
    snprintf(local, sizeof local,
             "{\"model\": \"mmoe\", \"input_shape\": [%d], \"device\": \"%s\", \"lr\": 0.01, "
             "\"tasks\": [{\"name\": \"digit\", \"kind\": \"classification\", \"classes\": %d}, {\"name\": \"size\", \"kind\": \"regression\"}]}",
             D, job->device, CLASSES);
    tandem_model *model = NULL;
    job->status = tandem_model_create(local, &model);
    for (int i = 0; i < 4 && job->status == TANDEM_OK; i++)
        job->status = tandem_train_step(model, inputs, 64 * D, 64, labels, (const size_t[]){64, 64}, NULL, NULL, NULL, 0);
    /* Errors are per thread: this thread's failure does not show in the other's message. */
    if (job->status == TANDEM_OK && tandem_model_task_count(model, NULL) != TANDEM_ERROR_NULL_ARGUMENT) job->status = -1;
    snprintf(job->error, sizeof job->error, "%s", tandem_last_error());
    if (model && tandem_model_free(model) != TANDEM_OK && job->status == TANDEM_OK) job->status = -2;
    return NULL;
}

static void threads(const char *device) {
    pthread_t ids[2];
    struct thread_job jobs[2] = {{device, 0, ""}, {device, 0, ""}};
    for (int i = 0; i < 2; i++) pthread_create(&ids[i], NULL, thread_main, &jobs[i]);
    for (int i = 0; i < 2; i++) pthread_join(ids[i], NULL);
    for (int i = 0; i < 2; i++) {
        CHECK(jobs[i].status == TANDEM_OK, "thread %d: status %d", i, jobs[i].status);
        CHECK(strstr(jobs[i].error, "'count' is NULL") != NULL, "thread %d's message: %s", i, jobs[i].error);
    }
    printf("two threads trained two models\n");
}

/* ---- Memory ------------------------------------------------------------------------------------ */

static void leak_loop(const char *device, int iterations) {
    if (iterations == 0) {
        /* Under a sanitizer (scripts/sanitize.sh) the resident set says nothing: LeakSanitizer checks instead. */
        printf("memory: no create/free loop (leak-iterations 0)\n");
        return;
    }
    make_config("hps", device);
    long before = 0;
    int warmup = 5;
    for (int i = 0; i < warmup + iterations; i++) {
        if (i == warmup) before = resident_kib();
        tandem_model *model = NULL;
        int status = tandem_model_create(config, &model);
        for (int s = 0; s < 2 && status == TANDEM_OK; s++)
            status = tandem_train_step(model, inputs, 64 * D, 64, labels, (const size_t[]){64, 64}, NULL, NULL, NULL, 0);
        if (status == TANDEM_OK) status = tandem_evaluate(model, inputs, 64 * D, 64, labels, (const size_t[]){64, 64}, NULL, NULL, NULL, 0);
        /* Failing calls must not leak either. */
        tandem_train_step(model, inputs, 1, 64, labels, (const size_t[]){64, 64}, NULL, NULL, NULL, 0);
        tandem_model_create("{\"model\": 1}", &model);
        if (status == TANDEM_OK) status = tandem_model_free(model);
        CHECK(status == TANDEM_OK, "iteration %d: %s", i, tandem_status_name(status));
        if (status != TANDEM_OK) return;
    }
    long after = resident_kib();
    size_t live = 99;
    OK(tandem_model_live_count(&live));
    long growth = after - before;
    printf("memory: %d create/train/evaluate/free iterations, resident %ld KiB -> %ld KiB (%+ld KiB), live models %zu\n",
           iterations, before, after, growth, live);
    /* Flat: under 64 KiB per iteration on average, and at most 8 MiB in all (allocator noise). */
    CHECK(growth < 8192 && growth < 64L * iterations + 1024, "resident memory grew by %ld KiB over %d iterations", growth, iterations);
}

int main(int argc, char **argv) {
    const char *device = argc > 1 ? argv[1] : "cpu";
    int iterations = argc > 2 ? atoi(argv[2]) : 40;
    verbose = getenv("TANDEM_TEST_VERBOSE") != NULL;
    make_data();

    printf("Tandem %s, C API test on '%s'\n", tandem_version(), device);
    size_t count = 0, length = 0;
    OK(tandem_device_count(&count));
    OK(tandem_devices_json(NULL, 0, &length));
    char *devices = malloc(length);
    OK(tandem_devices_json(devices, length, &length));
    printf("%zu devices: %s\n", count, devices);
    free(devices);

    tandem_model *model = train_model(device);
    if (!model) {
        fprintf(stderr, "FAIL: could not create the model: %s\n", tandem_last_error());
        return 1;
    }
    evaluate_and_predict(model);
    checkpoint_round_trip(model, device);
    bad_arguments(model, device);
    threads(device);
    OK(tandem_model_free(model));
    leak_loop(device, iterations);
    size_t live = 99;
    OK(tandem_model_live_count(&live));
    CHECK(live == 0, "%zu models still live", live);

    printf("%s: %d checks, %d failures\n", failures ? "FAILED" : "PASSED", checks, failures);
    return failures ? 1 : 0;
}
