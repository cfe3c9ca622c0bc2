/* Convolutions of the text and vision towers, forward and backward:
 *   - causal depthwise conv1d, width K, with bias (Mamba-1/Mamba-2 mixer, architecture.md §1.3
 *     step 2 and §1.5 "Causal conv"),
 *   - depthwise conv2d 3x3, stride 1, zero padding 1, no bias (VMamba SS2D, §4.6 step 2),
 *   - conv 3x3, stride 2, padding 1, with bias (VMamba stem and downsample, §4.3-4.4), as
 *     im2col + climp_gemm + bias add.
 * Plain-C references: model/conv_ref.c; host launchers: model/conv.c (conv1d, dwconv) and
 * model/conv3x3s2.c; kernels: cl_kernels/conv.cl; tests: tests/test_conv.c, test_conv3x3s2.c.
 *
 * Legend: B batch, L sequence length, C channels, K conv width (taps), H x W input grid,
 * Ho x Wo output grid (Ho = floor((H-1)/2)+1), Cin / Cout input / output channels.
 * Activations are channel-last: sequences (B, L, C), images (B, H, W, C). Weights keep the
 * PyTorch order: conv1d (C, 1, K) stored (C, K); depthwise 3x3 (C, 1, 3, 3) stored (C, 9) as
 * (c, ky, kx); conv 3x3 (Cout, Cin, 3, 3) stored (Cout, Cin*9) as (co, ci, ky, kx).
 *
 * Conventions (docs/CONTRIBUTING-ops.md): parameter gradients accumulate (+=), activation
 * gradients overwrite. Launchers validate every argument before enqueuing anything: a dimension
 * <= 0 or out of its range is CLIMP_ERR_SHAPE, a NULL buffer or an output view overlapping an
 * input view of the same buffer is CLIMP_ERR_INVALID_ARG, a view shorter than its shape needs is
 * CLIMP_ERR_BUFFER_TOO_SMALL. Reductions over (batch, position) are two-stage and fixed-order
 * (per-chunk partial sums into a caller scratch view, then a fixed-order sum of the partials), so
 * results are bitwise reproducible and no float atomics are used. */
#ifndef CLIMP_CONV_H
#define CLIMP_CONV_H

#include "runtime/climp_runtime.h"

#define CLIMP_CONV1D_MAX_K 8

/* ---------------------------------------------------------------- causal depthwise conv1d */
/* y[b,t,c] = bias[c] + sum_{k<K} w[c,k] * x[b, t+k-(K-1), c], x[b, tau<0, c] = 0.
 * x may be a column slice of a wider tensor: row (b,t) starts at x[(b*L+t)*ld_x], ld_x >= C
 * (e.g. the x half of Mamba's (B, L, 2E) in_proj output: x = that view, ld_x = 2E, C = E). */
climp_status climp_causal_conv1d_forward(climp_ctx *ctx,
                                         climp_tview y, // (B, L, C) contiguous
                                         climp_tview x, // (B, L, ld_x), first C columns read
                                         int ld_x,
                                         climp_tview w,    // (C, K)
                                         climp_tview bias, // (C)
                                         int B, int L, int C, int K);
/* Backward of the above, with g = dy:
 *   dx[b,tau,c]  = sum_k w[c,k] * g[b, tau-k+K-1, c]  (terms past L drop; OVERWRITES the first C
 *                  columns of each row of dx, stride ld_x like x; the other columns are untouched)
 *   dw[c,k]     += sum_{b,t} g[b,t,c] * x[b, t+k-K+1, c]
 *   dbias[c]    += sum_{b,t} g[b,t,c]
 * scratch: at least climp_causal_conv1d_scratch_floats(B, L, C, K) floats (partial sums). */
climp_status climp_causal_conv1d_backward(climp_ctx *ctx,
                                          climp_tview dx,    // (B, L, ld_x), first C columns
                                          climp_tview dw,    // (C, K)
                                          climp_tview dbias, // (C)
                                          climp_tview dy,    // (B, L, C)
                                          climp_tview x,     // (B, L, ld_x)
                                          int ld_x,
                                          climp_tview w,       // (C, K)
                                          climp_tview scratch, // see the size function
                                          int B, int L, int C, int K);
size_t climp_causal_conv1d_scratch_floats(int B, int L, int C, int K);

void climp_causal_conv1d_forward_ref(float *y, const float *x, int ld_x, const float *w,
                                     const float *bias, int B, int L, int C, int K);
void climp_causal_conv1d_backward_ref(float *dx, float *dw, float *dbias, const float *dy,
                                      const float *x, int ld_x, const float *w, int B, int L, int C,
                                      int K);

/* ---------------------------------------------------------------- depthwise conv2d 3x3 */
/* y[b,h,w,c] = sum_{ky,kx<3} w[c, ky*3+kx] * x[b, h+ky-1, w+kx-1, c], zero outside the grid. */
climp_status climp_dwconv3x3_forward(climp_ctx *ctx,
                                     climp_tview y, // (B, H, W, C)
                                     climp_tview x, // (B, H, W, C)
                                     climp_tview w, // (C, 9) = (C, 1, 3, 3)
                                     int B, int H, int W, int C);
/* dx[b,h,w,c] = sum_{ky,kx} w[c,ky*3+kx] * dy[b, h-ky+1, w-kx+1, c]   (overwrite)
 * dw[c,ky*3+kx] += sum_{b,h,w} dy[b,h,w,c] * x[b, h+ky-1, w+kx-1, c]
 * scratch: at least climp_dwconv3x3_scratch_floats(B, H, W, C) floats. */
climp_status climp_dwconv3x3_backward(climp_ctx *ctx,
                                      climp_tview dx,      // (B, H, W, C)
                                      climp_tview dw,      // (C, 9)
                                      climp_tview dy,      // (B, H, W, C)
                                      climp_tview x,       // (B, H, W, C)
                                      climp_tview w,       // (C, 9)
                                      climp_tview scratch, // see the size function
                                      int B, int H, int W, int C);
size_t climp_dwconv3x3_scratch_floats(int B, int H, int W, int C);

void climp_dwconv3x3_forward_ref(float *y, const float *x, const float *w, int B, int H, int W,
                                 int C);
void climp_dwconv3x3_backward_ref(float *dx, float *dw, const float *dy, const float *x,
                                  const float *w, int B, int H, int W, int C);

/* ---------------------------------------------------------------- conv 3x3 stride 2 pad 1 */
/* Output size of the stride-2 conv along one axis: floor((n-1)/2)+1. */
int climp_conv3x3s2_out(int n);

/* y[b,oy,ox,co] = bias[co] + sum_{ci,ky,kx} w[co, ci*9+ky*3+kx] * x[b, 2oy+ky-1, 2ox+kx-1, ci].
 * Computed per pass of nb images as col = im2col(x) (nb*Ho*Wo, Cin*9), y = col * w^T (climp_gemm),
 * y += bias. nb = as many images as the scratch view holds (at least one). */
climp_status climp_conv3x3s2_forward(climp_ctx *ctx,
                                     climp_tview y,       // (B, Ho, Wo, Cout)
                                     climp_tview x,       // (B, H, W, Cin)
                                     climp_tview w,       // (Cout, Cin*9)
                                     climp_tview bias,    // (Cout)
                                     climp_tview scratch, // see the size function
                                     int B, int H, int W, int Cin, int Cout);
/* dw    += dy^T * col                       (climp_gemm, beta = 1)
 * dbias += sum over (b, oy, ox) of dy       (two-stage, fixed order)
 * dx     = col2im(dy * w)                   (OVERWRITE; gather form: each input pixel sums its
 *                                            <= 9 contributions in (ky, kx) order, no atomics)
 * dx may have buf == NULL (the stem's input needs no gradient): then it is skipped. */
climp_status climp_conv3x3s2_backward(climp_ctx *ctx,
                                      climp_tview dx,      // (B, H, W, Cin) or buf NULL
                                      climp_tview dw,      // (Cout, Cin*9)
                                      climp_tview dbias,   // (Cout)
                                      climp_tview dy,      // (B, Ho, Wo, Cout)
                                      climp_tview x,       // (B, H, W, Cin)
                                      climp_tview w,       // (Cout, Cin*9)
                                      climp_tview scratch, // see the size function
                                      int B, int H, int W, int Cin, int Cout);
/* Scratch floats for forward and backward with nb images per GEMM pass (1 <= nb <= B):
 * the dbias partial sums for the whole batch plus the col matrix of nb images. nb = B is fastest;
 * nb = 1 is the least memory. A bigger view lets the launcher take more images per pass. */
size_t climp_conv3x3s2_scratch_floats(int B, int nb, int H, int W, int Cin, int Cout);

/* The two data-movement kernels on their own (used by the launchers above; exposed for tests).
 * col[(b*Ho+oy)*Wo+ox, ci*9+ky*3+kx] = x[b, 2oy+ky-1, 2ox+kx-1, ci] (0 outside), and its adjoint
 * dx[b,iy,ix,ci] = sum of dcol over the (oy, ox, ky, kx) with 2oy+ky-1 = iy, 2ox+kx-1 = ix. */
climp_status climp_conv3x3s2_im2col(climp_ctx *ctx,
                                    climp_tview col, // (B*Ho*Wo, Cin*9)
                                    climp_tview x,   // (B, H, W, Cin)
                                    int B, int H, int W, int Cin);
climp_status climp_conv3x3s2_col2im(climp_ctx *ctx,
                                    climp_tview dx,   // (B, H, W, Cin), overwritten
                                    climp_tview dcol, // (B*Ho*Wo, Cin*9)
                                    int B, int H, int W, int Cin);

void climp_conv3x3s2_forward_ref(float *y, const float *x, const float *w, const float *bias, int B,
                                 int H, int W, int Cin, int Cout);
/* dx may be NULL (skipped). */
void climp_conv3x3s2_backward_ref(float *dx, float *dw, float *dbias, const float *dy,
                                  const float *x, const float *w, int B, int H, int W, int Cin,
                                  int Cout);
void climp_conv3x3s2_im2col_ref(float *col, const float *x, int B, int H, int W, int Cin);
void climp_conv3x3s2_col2im_ref(float *dx, const float *dcol, int B, int H, int W, int Cin);

#endif
