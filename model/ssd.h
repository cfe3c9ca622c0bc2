/* Mamba-2 SSM as the chunked state-space-duality (SSD) algorithm, forward and backward.
 * Host launchers: model/ssd.c. Plain-C references: model/ssd_ref.c. Kernels: cl_kernels/ssd.cl.
 * Math: reference/architecture.md section 3.2 step 6 (recurrence), 3.3 (chunked algorithm).
 *
 * Legend: B batch, L tokens, H heads, P head dim, N state size, G groups of B/C (head h uses
 * group h / (H/G)), Q chunk length, K = ceil(L/Q) chunks.
 *
 *   dt_t[h] = softplus(dt_raw_t[h] + dt_bias[h])      softplus(v) = v <= 20 ? log1p(exp(v)) : v
 *   a[h]    = -exp(A_log[h])                          (one scalar per head)
 *   S_t[h][p,n] = exp(dt_t[h] a[h]) S_{t-1}[h][p,n] + dt_t[h] x_t[h,p] Bm_t[g,n],  S_{-1} = 0
 *   y_t[h,p]    = sum_n Cm_t[g,n] S_t[h][p,n] + D[h] x_t[h,p]
 * No gate: Mamba-2 gates in its gated RMSNorm. This is the Mamba-1 scan of model/scan.h with
 * Dc = H*P and dt, A_log, D, dt_bias repeated over the P channels of each head (section 3.2).
 *
 * Layouts (float, channel-last): x, y, dy, dx are (B, L, H*P) with token strides ld_*: element
 * (b, l, h, p) at (b*L + l)*ld + h*P + p. dt_raw, ddt_raw are (B, L, H) with token strides: element
 * (b, l, h) at (b*L + l)*ld + h. Element (b, l, g, n) of Bm / Cm (and dBm / dCm) sits at
 * b*bc_stride_b + l*bc_stride_l + g*bc_stride_g + n. A_log, D, dt_bias, dA_log, dD, ddt_bias (H).
 * Mamba-2 (model/mamba.c): x, Bm, Cm are column slices of the conv output (B, L, E + 2GN): ld_x =
 * bc_stride_l = E + 2GN, bc_stride_g = N, bc_stride_b = L*(E + 2GN); dt_raw is the last H columns
 * of the in_proj output: ld_dt = 2E + 2GN + H.
 */
#ifndef CLIMP_SSD_H
#define CLIMP_SSD_H

#include "runtime/climp_runtime.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct climp_ssd_shape {
    int B, L, H, P, N, G;
    int ld_x, ld_dt, ld_y; /* token strides of x (>= H*P), dt_raw (>= H), y (>= H*P) */
    size_t bc_stride_b, bc_stride_l, bc_stride_g; /* strides of Bm/Cm/dBm/dCm (n stride is 1) */
    /* Backward token strides; 0 means "same as the forward counterpart": dy like y, dx like x,
     * ddt_raw like dt_raw. */
    int ld_dy, ld_dx, ld_ddt;
    /* Tokens per chunk, 1..256 (0: 64). Forward and backward must use the same value. */
    int chunk;
} climp_ssd_shape;

/* Floats of the `states` view the forward writes and the backward reads: the state entering each
 * chunk (B*K*H*N*P), dt and the in-chunk cumulative sum of dt*a per token (2*B*H*L), and C_i.B_j
 * per chunk and group (B*K*G*Q*Q). 0 when the shape is invalid. */
size_t climp_ssd_states_size(const climp_ssd_shape *s);
/* Floats of the backward scratch view. 0 when the shape is invalid. */
size_t climp_ssd_bwd_scratch_size(const climp_ssd_shape *s);

/* y = SSD(x, dt_raw, ...). Writes `states`. Returns CLIMP_ERR_SHAPE / CLIMP_ERR_BUFFER_TOO_SMALL /
 * CLIMP_ERR_INVALID_ARG before enqueuing anything when an argument is wrong. Outputs must not
 * overlap inputs. */
climp_status climp_ssd_forward(climp_ctx *ctx, const climp_ssd_shape *s,
                               climp_tview x,       // (B, L, H*P) stride ld_x
                               climp_tview dt_raw,  // (B, L, H) stride ld_dt
                               climp_tview A_log,   // (H)
                               climp_tview Bm,      // (B, L, G, N) strided
                               climp_tview Cm,      // (B, L, G, N) strided
                               climp_tview D,       // (H)
                               climp_tview dt_bias, // (H)
                               climp_tview y,       // (B, L, H*P) stride ld_y
                               climp_tview states); // climp_ssd_states_size floats

/* Backward of the forward above from its `states` (no per-token states are kept). Overwrites dx,
 * ddt_raw (gradient w.r.t. dt_raw, before the bias), dBm, dCm (summed over the heads of each
 * group, written in Bm's strided layout); accumulates (+=) dA_log, dD, ddt_bias. dx and dBm/dCm
 * may be disjoint column slices of one buffer. Deterministic: no atomics, fixed sum order. */
climp_status climp_ssd_backward(climp_ctx *ctx, const climp_ssd_shape *s, climp_tview x,
                                climp_tview dt_raw, climp_tview A_log, climp_tview Bm,
                                climp_tview Cm, climp_tview D, climp_tview dt_bias,
                                climp_tview states,
                                climp_tview dy,       // (B, L, H*P) stride ld_dy
                                climp_tview scratch,  // climp_ssd_bwd_scratch_size floats
                                climp_tview dx,       // (B, L, H*P) stride ld_dx
                                climp_tview ddt_raw,  // (B, L, H) stride ld_ddt
                                climp_tview dA_log,   // (H) +=
                                climp_tview dBm,      // (B, L, G, N) strided like Bm
                                climp_tview dCm,      // (B, L, G, N) strided like Bm
                                climp_tview dD,       // (H) +=
                                climp_tview ddt_bias); // (H) +=

/* Validates a shape (sizes, strides, chunk, non-overlapping B/C layout). CLIMP_OK or
 * CLIMP_ERR_SHAPE (CLIMP_ERR_INVALID_ARG for a NULL shape or a bad chunk). */
climp_status climp_ssd_check_shape(const climp_ssd_shape *s);

/* Extent in floats of a token tensor with `width` columns and token stride ld, and of the B/C
 * layout: what a view must hold. */
size_t climp_ssd_tok_extent(const climp_ssd_shape *s, int width, int ld);
size_t climp_ssd_bc_extent(const climp_ssd_shape *s);

/* Plain-C references with the same layouts; pointers already offset to element 0. They run the
 * sequential recurrence in double, one (b, h) at a time (the backward keeps the L states of one
 * (b, h)). The backward overwrites dx, ddt_raw, dBm, dCm and adds to dA_log, dD, ddt_bias. */
void climp_ssd_forward_ref(const climp_ssd_shape *s, const float *x, const float *dt_raw,
                           const float *A_log, const float *Bm, const float *Cm, const float *D,
                           const float *dt_bias, float *y);
void climp_ssd_backward_ref(const climp_ssd_shape *s, const float *x, const float *dt_raw,
                            const float *A_log, const float *Bm, const float *Cm, const float *D,
                            const float *dt_bias, const float *dy, float *dx, float *ddt_raw,
                            float *dA_log, float *dBm, float *dCm, float *dD, float *ddt_bias);
/* The same in double precision (used by the finite-difference test). */
void climp_ssd_forward_ref_f64(const climp_ssd_shape *s, const double *x, const double *dt_raw,
                               const double *A_log, const double *Bm, const double *Cm,
                               const double *D, const double *dt_bias, double *y);
void climp_ssd_backward_ref_f64(const climp_ssd_shape *s, const double *x, const double *dt_raw,
                                const double *A_log, const double *Bm, const double *Cm,
                                const double *D, const double *dt_bias, const double *dy,
                                double *dx, double *ddt_raw, double *dA_log, double *dBm,
                                double *dCm, double *dD, double *ddt_bias);

#ifdef __cplusplus
}
#endif
#endif
