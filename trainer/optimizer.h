/* The training optimizer: AdamW moments in one buffer each (same layout as the parameters), the
 * no-decay segments from the parameter table, tower locking, global-norm clipping, the learning
 * rate schedule (linear warmup, then cosine or constant, as open_clip), the logit_scale clamp,
 * and saving/loading the moments. Implementation: trainer/optimizer.c. */
#ifndef CLIMP_OPTIMIZER_H
#define CLIMP_OPTIMIZER_H

#include "model/climp_model.h"
#include "model/optim.h"

typedef struct climp_optimizer {
    climp_model *model;
    climp_buffer *m, *v;
    climp_buffer *scratch; /* grad-norm partial sums */
    climp_adamw_segment *segs;
    int nseg;
    int step; /* optimizer steps taken */
    double beta1, beta2, eps, weight_decay; /* doubles, as PyTorch's Python floats */
    float grad_clip;
} climp_optimizer;

/* lock_vision / lock_text freeze vision_encoder.* / text_encoder.* (projections stay trainable). */
climp_status climp_optimizer_create(climp_model *m, float wd, float clip, int lock_vision,
                                    int lock_text, climp_optimizer **out);
void climp_optimizer_destroy(climp_optimizer *o);
/* One update with learning rate lr; the gradients in the model's buffer are scaled by
 * grad_scale first (1/accumulation). Returns the global gradient norm (before clipping) in
 * *grad_norm. Clamps logit_scale to [0, ln 100] afterwards. A non-finite gradient norm skips the
 * update and returns CLIMP_ERR_NOT_FINITE (the parameters and moments are untouched). */
climp_status climp_optimizer_step(climp_optimizer *o, float lr, float grad_scale,
                                  double *grad_norm);
/* Learning rate at step (0-based) for a run of total steps. */
typedef enum { CLIMP_LR_COSINE, CLIMP_LR_CONST } climp_lr_schedule;
float climp_lr_at(climp_lr_schedule sched, float base, int warmup, int total, int step);
/* Moments as safetensors: keys "exp_avg.<name>" and "exp_avg_sq.<name>", step in metadata. */
climp_status climp_optimizer_save(climp_optimizer *o, const char *path, uint32_t *crc);
climp_status climp_optimizer_load(climp_optimizer *o, const char *path);

#endif
