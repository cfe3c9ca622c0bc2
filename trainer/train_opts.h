/* Options of `climp train` (parsed and validated in trainer/train_opts.c). */
#ifndef CLIMP_TRAIN_OPTS_H
#define CLIMP_TRAIN_OPTS_H

#include <stdint.h>

typedef struct train_opts {
    const char *data, *eval_data, *model_config, *init, *tokenizer, *save_dir, *log_jsonl;
    const char *device, *kernel_binaries, *csv_sep, *img_key, *cap_key;
    int image_size, batch, accum, warmup, save_every, eval_every, keep, threads, max_text_len;
    int max_nan_steps;
    long steps;
    double epochs;
    float lr, wd, grad_clip;
    uint64_t seed;
    int cosine, shuffle, augment, resume, lock_text, lock_vision, profile;
} train_opts;

/* Returns -1 to go on, or an exit code (0 after --help, 2 for a usage error). */
int climp_train_parse(int argc, char **argv, train_opts *o);

#endif
