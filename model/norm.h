/* Normalisation ops over the last dimension, forward and backward: LayerNorm (VMamba), RMSNorm
 * (Mamba blocks and norm_f) and gated RMSNorm (Mamba-2, norm_before_gate=False).
 * References: model/norm_ref.c; launchers: model/norm.c; kernels: cl_kernels/norm.cl.
 * Math: reference/architecture.md §1.7 and §3.2 step 7.
 *
 * Shape letters: R rows (tokens: B*L or B*H*W), C channels normalised over, E gated width,
 * G groups of the gated norm (each normalises E/G channels), ld a row stride in floats.
 * Layout is channel-last and row-major: element (r, c) is at r*C + c unless a stride is given.
 *
 * Backward: dinp / dy / dz overwrite and must not share memory with the inputs the backward
 * reads (CLIMP_ERR_INVALID_ARG); dweight / dbias accumulate (+=). The weight gradients are
 * deterministic column sums: per row-block partials go into a caller-provided `scratch` view
 * (see the *_scratch_floats functions), then one fixed-order pass adds them to the gradient.
 * Row blocks depend on R only (model/eltwise.h: climp_colsum_blocks), so the same inputs give
 * bitwise the same result on a given device. No float atomics. */
#ifndef CLIMP_NORM_H
#define CLIMP_NORM_H

#include "runtime/climp_runtime.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CLIMP_LAYERNORM_EPS 1e-5f
#define CLIMP_RMSNORM_EPS 1e-5f

/* ------------------------------------------------------------------ LayerNorm */
/* out = (x - mean) * rstd * weight + bias, rstd = 1/sqrt(var + eps), biased variance.
 * Saves mean and rstd (R) for the backward. */
climp_status climp_layernorm_forward(climp_ctx *ctx, climp_tview out /* (R, C) */,
                                     climp_tview mean /* (R) */, climp_tview rstd /* (R) */,
                                     climp_tview inp /* (R, C) */, climp_tview weight /* (C) */,
                                     climp_tview bias /* (C) */, int rows, int C);
/* With xh = (x - mean) rstd, g = dout * weight:
 *   dinp = rstd (g - mean_C(g) - xh mean_C(g xh))   (overwrite)
 *   dweight += sum_R dout * xh;   dbias += sum_R dout */
climp_status climp_layernorm_backward(climp_ctx *ctx, climp_tview dinp /* (R, C) */,
                                      climp_tview dweight /* (C) */, climp_tview dbias /* (C) */,
                                      climp_tview scratch, climp_tview dout /* (R, C) */,
                                      climp_tview inp /* (R, C) */, climp_tview weight /* (C) */,
                                      climp_tview mean /* (R) */, climp_tview rstd /* (R) */,
                                      int rows, int C);
size_t climp_layernorm_scratch_floats(int rows, int C);

/* ------------------------------------------------------------------ RMSNorm */
/* out = x * rstd * weight, rstd = (mean_C(x^2) + eps)^-1/2. Saves rstd (R). */
climp_status climp_rmsnorm_forward(climp_ctx *ctx, climp_tview out /* (R, C) */,
                                   climp_tview rstd /* (R) */, climp_tview inp /* (R, C) */,
                                   climp_tview weight /* (C) */, int rows, int C);
/* With g = dout * weight:  dinp = rstd (g - x rstd^2 mean_C(g x))   (overwrite)
 *   dweight += sum_R dout * x * rstd */
climp_status climp_rmsnorm_backward(climp_ctx *ctx, climp_tview dinp /* (R, C) */,
                                    climp_tview dweight /* (C) */, climp_tview scratch,
                                    climp_tview dout /* (R, C) */, climp_tview inp /* (R, C) */,
                                    climp_tview weight /* (C) */, climp_tview rstd /* (R) */,
                                    int rows, int C);
size_t climp_rmsnorm_scratch_floats(int rows, int C);

/* ------------------------------------------------------------------ gated RMSNorm */
/* Mamba-2 (norm_before_gate=False):  v = y * silu(z);
 *   out = v * rstd * weight,  rstd = (mean_group(v^2) + eps)^-1/2 per (row, group),
 * groups of E/G channels (G = 1: the whole E). y and z are strided: element (r, c) of y is at
 * r*ld_y + c (z: a column slice of the in_proj output, ld_z = its width). out is (R, E) dense.
 * Saves rstd (R, G). */
climp_status climp_gated_rmsnorm_forward(climp_ctx *ctx, climp_tview out /* (R, E) */,
                                         climp_tview rstd /* (R, G) */,
                                         climp_tview y /* (R, ld_y) */, int ld_y,
                                         climp_tview z /* (R, ld_z) */, int ld_z,
                                         climp_tview weight /* (E) */, int rows, int E, int G);
/* With g = dout * weight and per group  dv = rstd (g - v rstd^2 mean_group(g v)):
 *   dy = dv * silu(z);   dz = dv * y * s (1 + z (1 - s)), s = sigmoid(z)   (overwrite, strided)
 *   dweight += sum_R dout * v * rstd */
climp_status climp_gated_rmsnorm_backward(
    climp_ctx *ctx, climp_tview dy /* (R, ld_dy) */, int ld_dy, climp_tview dz /* (R, ld_dz) */,
    int ld_dz, climp_tview dweight /* (E) */, climp_tview scratch, climp_tview dout /* (R, E) */,
    climp_tview y /* (R, ld_y) */, int ld_y, climp_tview z /* (R, ld_z) */, int ld_z,
    climp_tview weight /* (E) */, climp_tview rstd /* (R, G) */, int rows, int E, int G);
size_t climp_gated_rmsnorm_scratch_floats(int rows, int E);

/* ------------------------------------------------------------------ plain-C references */
/* Same math and layouts (accumulation in double). */
void climp_layernorm_forward_ref(float *out, float *mean, float *rstd, const float *inp,
                                 const float *weight, const float *bias, int rows, int C);
void climp_layernorm_backward_ref(float *dinp, float *dweight, float *dbias, const float *dout,
                                  const float *inp, const float *weight, const float *mean,
                                  const float *rstd, int rows, int C);
void climp_rmsnorm_forward_ref(float *out, float *rstd, const float *inp, const float *weight,
                               int rows, int C);
void climp_rmsnorm_backward_ref(float *dinp, float *dweight, const float *dout, const float *inp,
                                const float *weight, const float *rstd, int rows, int C);
void climp_gated_rmsnorm_forward_ref(float *out, float *rstd, const float *y, int ld_y,
                                     const float *z, int ld_z, const float *weight, int rows, int E,
                                     int G);
void climp_gated_rmsnorm_backward_ref(float *dy, int ld_dy, float *dz, int ld_dz, float *dweight,
                                      const float *dout, const float *y, int ld_y, const float *z,
                                      int ld_z, const float *weight, const float *rstd, int rows,
                                      int E, int G);

#ifdef __cplusplus
}
#endif
#endif
