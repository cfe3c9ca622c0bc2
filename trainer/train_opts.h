/* Options of `climp train` (parsed and validated in trainer/train_opts.c). */
#ifndef CLIMP_TRAIN_OPTS_H
#define CLIMP_TRAIN_OPTS_H

#include <stdint.h>

#define CLIMP_TRAIN_MAX_DEVICES 16

typedef struct train_opts {
    const char *data, *eval_data, *model_config, *init, *tokenizer, *save_dir, *log_jsonl;
    const char *device, *kernel_binaries, *kernel_variant, *csv_sep, *img_key, *cap_key;
    int image_size, batch, accum, warmup, save_every, eval_every, keep, threads, max_text_len;
    int max_nan_steps;
    long steps;
    double epochs;
    float lr, wd, grad_clip;
    uint64_t seed;
    int cosine, shuffle, augment, resume, lock_text, lock_vision, profile, recompute;
    /* Several devices in one process: --devices (data parallel, ndev >= 2, optional relative
     * weights instead of measuring), or --vision-device / --text-device (one per tower). */
    int ndev, nweights;
    const char *devices[CLIMP_TRAIN_MAX_DEVICES];
    double weights[CLIMP_TRAIN_MAX_DEVICES];
    const char *vision_device, *text_device;
    char devices_buf[1024];
} train_opts;

/* Returns -1 to go on, or an exit code (0 after --help, 2 for a usage error). */
int climp_train_parse(int argc, char **argv, train_opts *o);

#endif
