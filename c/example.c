/*
 * The smallest complete use of the C API: a two-task model (hard parameter sharing) trained on
 * data made here, per-task losses per epoch, test metrics, a prediction and a checkpoint.
 *
 *   cc -std=c11 -Idist/libtandem/include c/example.c -Ldist/libtandem/lib -ltandem -lm -o example
 *   LD_LIBRARY_PATH=dist/libtandem/lib ./example [device]       # cpu, opencl, ... (default cpu)
 */
#include <stdio.h>
#include <stdlib.h>

#include "tandem.h"

#define N 512
#define D 10

/* Stops with the library's message when a call fails. */
static void check(int status, const char *what) {
    if (status != TANDEM_OK) {
        fprintf(stderr, "%s failed: %s: %s\n", what, tandem_status_name(status), tandem_last_error());
        exit(1);
    }
}

int main(int argc, char **argv) {
    const char *device = argc > 1 ? argv[1] : "cpu";
    /* Data: 10 inputs; task "bigger" asks whether x0 + x1 > x2 + x3, task "total" wants the sum. */
    static float x[N * D], bigger[N], total[N];
    srand(1);
    for (int i = 0; i < N; i++) {
        total[i] = 0;
        for (int d = 0; d < D; d++) {
            x[i * D + d] = (float)rand() / RAND_MAX * 2 - 1;
            total[i] += x[i * D + d];
        }
        bigger[i] = x[i * D] + x[i * D + 1] > x[i * D + 2] + x[i * D + 3] ? 1.0f : 0.0f;
    }

    char config[512];
    snprintf(config, sizeof config,
             "{\"model\": \"hps\", \"input_shape\": [%d], \"device\": \"%s\", \"lr\": 0.01, \"batch_size\": 32,"
             " \"tasks\": [{\"name\": \"bigger\", \"kind\": \"classification\", \"classes\": 2},"
             "             {\"name\": \"total\", \"kind\": \"regression\"}]}", D, device);
    tandem_model *model = NULL;
    check(tandem_model_create(config, &model), "tandem_model_create");

    const float *labels[2] = {bigger, total};
    const size_t label_lengths[2] = {N, N};
    float first[2] = {0, 0}, losses[2];
    for (int epoch = 1; epoch <= 6; epoch++) {
        check(tandem_train_epoch(model, x, N * D, N, labels, label_lengths, NULL, NULL, losses, 2), "tandem_train_epoch");
        printf("epoch %d  bigger %.4f  total %.4f\n", epoch, losses[0], losses[1]);
        if (epoch == 1) { first[0] = losses[0]; first[1] = losses[1]; }
    }

    double accuracy, mse;
    check(tandem_evaluate(model, x, N * D, N, labels, label_lengths, NULL, NULL, NULL, 0), "tandem_evaluate");
    check(tandem_metric(model, 0, "accuracy", &accuracy), "tandem_metric");
    check(tandem_metric(model, 1, "mse", &mse), "tandem_metric");
    printf("bigger accuracy %.3f, total mse %.4f\n", accuracy, mse);

    float logits[2 * 2], sums[2];
    float *outputs[2] = {logits, sums};
    const size_t output_lengths[2] = {4, 2};
    check(tandem_predict(model, x, 2 * D, 2, outputs, output_lengths), "tandem_predict");
    printf("sample 0: logits (%.2f, %.2f), total %.3f (true %.3f)\n", logits[0], logits[1], sums[0], total[0]);

    check(tandem_save_checkpoint(model, "/tmp/tandem-example.safetensors"), "tandem_save_checkpoint");
    check(tandem_model_free(model), "tandem_model_free");
    int decreased = losses[0] < first[0] && losses[1] < first[1];
    printf("%s\n", decreased ? "per-task losses decreased" : "FAILED: losses did not decrease");
    return decreased ? 0 : 1;
}
