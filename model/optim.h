/* Optimizer ops: AdamW (PyTorch torch.optim.AdamW semantics, decoupled weight decay, bias
 * correction) over segments of the one contiguous parameter / gradient / moment layout, and the
 * global gradient L2 norm (deterministic two-stage reduction) used for clipping.
 * References: model/optim_ref.c; launchers: model/optim.c; kernels: cl_kernels/optim.cl. */
#ifndef CLIMP_OPTIM_H
#define CLIMP_OPTIM_H

#include "runtime/climp_runtime.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A run of parameters [offset, offset + count) (floats, relative to the views passed to
 * climp_adamw_update) that is decayed (decay = 1) or not (decay = 0: biases, norms, embeddings,
 * A_log, D, logit_scale). */
typedef struct climp_adamw_segment {
    size_t offset, count;
    int decay;
} climp_adamw_segment;

typedef struct climp_adamw_hparams {
    /* Doubles, as PyTorch's Python floats: 1 - beta2 is formed in double before rounding. */
    double lr;
    double beta1, beta2; /* 0.9, 0.98 in the CLIMP recipe */
    double eps;          /* 1e-6 in the CLIMP recipe (PyTorch default 1e-8) */
    double weight_decay; /* applied to decay = 1 segments only */
    int step;            /* t >= 1: the step being taken (bias corrections 1 - beta^t) */
    float grad_scale;    /* gradients are multiplied by this first (clipping, 1/accum); 1 = off */
} climp_adamw_hparams;

/* One AdamW step, element-wise over every segment, in PyTorch's order:
 *   g = grad_scale * grad
 *   p *= 1 - lr * wd                       (wd = weight_decay if decay, else 0)
 *   m += (1 - beta1) (g - m)               (= beta1 m + (1 - beta1) g)
 *   v  = beta2 v + (1 - beta2) g^2
 *   p -= (lr / (1 - beta1^t)) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
 * params, grads, m, v are views of the same layout (at least max(offset + count) floats).
 * Segments must be sorted and non-overlapping (CLIMP_ERR_INVALID_ARG otherwise); adjacent ones
 * with the same decay flag are merged, so a typical model takes one or two launches. Segments of
 * count 0 are ignored. The bias corrections are computed on the host in double. */
climp_status climp_adamw_update(climp_ctx *ctx, climp_tview params, climp_tview grads,
                                climp_tview m, climp_tview v, const climp_adamw_segment *segs,
                                int nseg, const climp_adamw_hparams *hp);

/* Validation shared by the launcher and the reference: hp ranges (lr, wd >= 0 and finite,
 * 0 <= beta < 1, eps >= 0, step >= 1, finite grad_scale), segments sorted, non-overlapping and
 * inside `limit` floats. Returns CLIMP_OK, CLIMP_ERR_INVALID_ARG or CLIMP_ERR_BUFFER_TOO_SMALL. */
climp_status climp_adamw_check(const climp_adamw_segment *segs, int nseg, size_t limit,
                               const climp_adamw_hparams *hp);
/* Iterates the merged runs: start with *i = 0; each call stores the next run (adjacent segments
 * with the same decay flag joined, empty ones skipped) in *run and returns 1, or returns 0. */
int climp_adamw_next_run(const climp_adamw_segment *segs, int nseg, int *i,
                         climp_adamw_segment *run);

/* Global L2 norm of grads[0, n): partial sums of squares over CLIMP_GRAD_NORM_PARTS fixed
 * contiguous chunks (fixed order in each, a fixed tree across each work-group) into `scratch`
 * (climp_grad_norm_scratch_floats() floats), read back and summed in double in chunk order on
 * the host. Blocking. *sumsq receives the sum of squares (for combining several ranges). */
#define CLIMP_GRAD_NORM_PARTS 256
size_t climp_grad_norm_scratch_floats(void);
climp_status climp_grad_sumsq(climp_ctx *ctx, double *sumsq, climp_tview grads, climp_tview scratch,
                              size_t n);
/* *norm = sqrt(sum of squares). */
climp_status climp_grad_norm(climp_ctx *ctx, double *norm, climp_tview grads, climp_tview scratch,
                             size_t n);
/* Clipping factor for AdamW's grad_scale: min(1, clip / (norm + 1e-6)); 1 when clip <= 0. */
float climp_grad_clip_scale(double norm, float clip);

/* ------------------------------------------------------------------ plain-C references */
/* Same update on host arrays (the segments index them). Same validation as the launcher. */
climp_status climp_adamw_update_ref(float *params, const float *grads, float *m, float *v,
                                    const climp_adamw_segment *segs, int nseg,
                                    const climp_adamw_hparams *hp);
/* Sum of squares in double, in index order. */
double climp_grad_sumsq_ref(const float *grads, size_t n);

#ifdef __cplusplus
}
#endif
#endif
