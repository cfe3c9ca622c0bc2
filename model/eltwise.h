/* Element-wise ops, forward and backward: SiLU, GELU (erf), softplus, add, accumulate, scale,
 * clamp, bias-add on rows and its column-sum backward, a strided copy of a column block, and the
 * repeat / sum-back helpers Mamba-2 needs to expand per-head values to per-channel ones.
 * References: model/eltwise_ref.c; launchers: model/eltwise.c; kernels: cl_kernels/eltwise.cl
 * (FPGA variant: cl_kernels/eltwise_fpga.cl).
 *
 * Shape letters: n elements, R rows, N columns, ld a row stride (floats, >= N), M values to
 * repeat, P copies each. Activation gradients overwrite; parameter gradients accumulate (+=).
 * Flat ops may run in place (out and inp the same view). */
#ifndef CLIMP_ELTWISE_H
#define CLIMP_ELTWISE_H

#include "runtime/climp_runtime.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------ device launchers */
/* out = x * sigmoid(x) */
climp_status climp_silu_forward(climp_ctx *ctx, climp_tview out /* (n) */,
                                climp_tview inp /* (n) */, size_t n);
/* dinp = dout * s * (1 + x (1 - s)),  s = sigmoid(x) */
climp_status climp_silu_backward(climp_ctx *ctx, climp_tview dinp /* (n) */,
                                 climp_tview dout /* (n) */, climp_tview inp /* (n) */, size_t n);
/* out = 0.5 x (1 + erf(x / sqrt 2))  (exact GELU, PyTorch approximate='none') */
climp_status climp_gelu_forward(climp_ctx *ctx, climp_tview out, climp_tview inp, size_t n);
/* dinp = dout * (Phi(x) + x phi(x)) */
climp_status climp_gelu_backward(climp_ctx *ctx, climp_tview dinp, climp_tview dout,
                                 climp_tview inp, size_t n);
/* out = x > 20 ? x : log1p(exp(x))  (PyTorch softplus, beta 1, threshold 20) */
climp_status climp_softplus_forward(climp_ctx *ctx, climp_tview out, climp_tview inp, size_t n);
/* dinp = x > 20 ? dout : dout * sigmoid(x) */
climp_status climp_softplus_backward(climp_ctx *ctx, climp_tview dinp, climp_tview dout,
                                     climp_tview inp, size_t n);
/* out = a + b */
climp_status climp_add(climp_ctx *ctx, climp_tview out, climp_tview a, climp_tview b, size_t n);
/* y += alpha * x */
climp_status climp_accumulate(climp_ctx *ctx, climp_tview y, climp_tview x, float alpha, size_t n);
/* out = alpha * x (in place allowed) */
climp_status climp_scale(climp_ctx *ctx, climp_tview out, climp_tview x, float alpha, size_t n);
/* y = min(max(y, lo), hi) in place (e.g. logit_scale to [0, ln 100] after a step) */
climp_status climp_clamp(climp_ctx *ctx, climp_tview y, float lo, float hi, size_t n);

/* y[r, c] += bias[c] for r < rows, c < N; row stride ld_y. */
climp_status climp_bias_add_forward(climp_ctx *ctx, climp_tview y /* (R, ld_y) */, int ld_y,
                                    climp_tview bias /* (N) */, int rows, int N);
/* dbias[c] += sum_r dy[r, c]. Deterministic two-stage column sum: per row-block partials into
 * `scratch` (climp_colsum_scratch_floats(rows, N) floats), then one fixed-order final pass. */
climp_status climp_bias_add_backward(climp_ctx *ctx, climp_tview dbias /* (N) */,
                                     climp_tview scratch, climp_tview dy /* (R, ld_dy) */,
                                     int ld_dy, int rows, int N);

/* dst[r, c] = src[r, c] (accumulate = 0) or dst[r, c] += src[r, c] (accumulate = 1), for a
 * (rows, cols) block; the views' offsets select the first column, ld_* are the row strides.
 * Used to slice and pack column blocks of GEMM outputs. src and dst must not overlap. */
climp_status climp_copy_cols(climp_ctx *ctx, climp_tview dst, int ld_dst, climp_tview src,
                             int ld_src, int rows, int cols, int accumulate);

/* Repeat each of M values P times: out[m * P + p] = inp[m].
 * Mamba-2: dt (B*L, H) -> (B*L, H*P) is M = B*L*H; a per-head vector (H) -> (H*P*N) is M = H,
 * P = P*N (and (H) -> (H*P) is M = H). */
climp_status climp_repeat_forward(climp_ctx *ctx, climp_tview out /* (M, P) */,
                                  climp_tview inp /* (M) */, int M, int P);
/* dinp[m] (=|+=) sum_p dout[m * P + p], summed in order p = 0..P-1 (or by a fixed tree for large
 * P). accumulate = 0 overwrites (activations), 1 adds (parameters such as A_log, D, dt_bias). */
climp_status climp_repeat_backward(climp_ctx *ctx, climp_tview dinp /* (M) */,
                                   climp_tview dout /* (M, P) */, int M, int P, int accumulate);

/* Row blocking shared by every deterministic column reduction (bias, norm weights): rows are cut
 * into climp_colsum_blocks(rows) consecutive blocks of *rows_per_block rows (the last may be
 * shorter). It depends on rows only, so results do not depend on the device. */
#define CLIMP_COLSUM_MAX_BLOCKS 256
#define CLIMP_COLSUM_MIN_ROWS 16
int climp_colsum_blocks(int rows, int *rows_per_block);
/* Scratch (floats) for climp_bias_add_backward. */
size_t climp_colsum_scratch_floats(int rows, int N);

/* ------------------------------------------------------------------ plain-C references */
void climp_silu_forward_ref(float *out, const float *inp, size_t n);
void climp_silu_backward_ref(float *dinp, const float *dout, const float *inp, size_t n);
void climp_gelu_forward_ref(float *out, const float *inp, size_t n);
void climp_gelu_backward_ref(float *dinp, const float *dout, const float *inp, size_t n);
void climp_softplus_forward_ref(float *out, const float *inp, size_t n);
void climp_softplus_backward_ref(float *dinp, const float *dout, const float *inp, size_t n);
void climp_add_ref(float *out, const float *a, const float *b, size_t n);
void climp_accumulate_ref(float *y, const float *x, float alpha, size_t n);
void climp_scale_ref(float *out, const float *x, float alpha, size_t n);
void climp_clamp_ref(float *y, float lo, float hi, size_t n);
void climp_bias_add_forward_ref(float *y, int ld_y, const float *bias, int rows, int N);
void climp_bias_add_backward_ref(float *dbias, const float *dy, int ld_dy, int rows, int N);
void climp_copy_cols_ref(float *dst, int ld_dst, const float *src, int ld_src, int rows, int cols,
                         int accumulate);
void climp_repeat_forward_ref(float *out, const float *inp, int M, int P);
void climp_repeat_backward_ref(float *dinp, const float *dout, int M, int P, int accumulate);

/* Scalar helpers shared by references of other ops (gated RMSNorm). */
float climp_sigmoidf(float x);

/* ------------------------------------------------------------------ launcher helpers */
/* Shared by the model/ launchers: a view must have a buffer (CLIMP_ERR_INVALID_ARG), lie inside
 * it and hold at least `floats` floats (CLIMP_ERR_BUFFER_TOO_SMALL). `what` names it in the
 * error detail. */
climp_status climp_view_check(climp_tview v, size_t floats, const char *what);
/* 1 when the first na floats of a and the first nb floats of b share memory. */
int climp_views_overlap(climp_tview a, size_t na, climp_tview b, size_t nb);
/* Floats a (rows, cols) block with row stride ld spans: (rows - 1) * ld + cols. */
size_t climp_strided_span(int rows, int cols, int ld);
/* A local size for 1-D flat kernels: min(want, device max), a power of two. */
size_t climp_flat_lws(climp_ctx *ctx, size_t want);
/* 1 when the ops should pick their CPU-style variants (serial rows, contiguous runs per lane):
 * $CLIMP_OPS_VARIANT = "cpu" or "gpu" decides, else the device type. Tests use it to run both
 * families on one device. */
int climp_ops_cpu_style(climp_ctx *ctx);

/* The FPGA variants of the ops of model/eltwise.c, norm.c, embed_loss.c and optim.c (selected when
 * climp_ctx_variant(ctx) is "fpga"): single work-item kernels of cl_kernels/<op>_fpga.cl, one
 * program per source, built with these defines (lanes per pipelined iteration, partial sums per
 * pipelined reduction). */
#define CLIMP_OPS_FPGA_DEFINES "LANES=8 FPGA_II=8"
/* Enqueues single work-item kernel `kname` of cl_kernels/<source>.cl (CLIMP_OPS_FPGA_DEFINES). */
climp_status climp_ops_launch_swi(climp_ctx *ctx, const char *source, const char *kname, int nargs,
                                  const climp_karg *args);
#define CLIMP_OPS_LAUNCH_SWI(ctx, source, kname, ...)                                              \
    climp_ops_launch_swi((ctx), (source), (kname),                                                 \
                         (int)(sizeof((climp_karg[]){__VA_ARGS__}) / sizeof(climp_karg)),          \
                         (climp_karg[]){__VA_ARGS__})

#ifdef __cplusplus
}
#endif
#endif
