/* Data-movement ops of the vision and text towers, forward and backward:
 *   - cross-scan and cross-merge, the four scan directions of VMamba SS2D (architecture.md §4.6
 *     steps 4 and 8), in channel-last form;
 *   - global average pool over positions (vision pooling before the projection, §4.7);
 *   - last-token gather (text pooling at the last non-padding token).
 * Plain-C references: model/crossscan_ref.c; launchers: model/crossscan.c; kernels:
 * cl_kernels/crossscan.cl; test: tests/test_crossscan.c.
 *
 * Legend: B batch, H x W grid, L = H*W positions (or the sequence length), E channels of the
 * scanned tensor, C channels, D model width, Lmax padded text length, 4 = scan directions.
 *
 * Cross-scan, x (B, H, W, E) -> xs (B, L, 4, E), for l < L:
 *   xs[b,l,0,:] = x[b, l / W, l % W, :]      row-major
 *   xs[b,l,1,:] = x[b, l % H, l / H, :]      column-major
 *   xs[b,l,2,:] = xs[b, L-1-l, 0, :]         reversed row-major
 *   xs[b,l,3,:] = xs[b, L-1-l, 1, :]         reversed column-major
 * so xs viewed as (B, L, 4E) is the selective scan's input with channel k*E + e in direction k.
 * Cross-merge, ys (B, L, 4, E) -> y (B, H, W, E):
 *   y[b,h,w,:] = ys[b,hW+w,0,:] + ys[b,wH+h,1,:] + ys[b,L-1-(hW+w),2,:] + ys[b,L-1-(wH+h),3,:]
 * (summed in that order). Merge is the adjoint of scan, so each one's backward is the other.
 *
 * Conventions as model/conv.h: validate before enqueuing (CLIMP_ERR_SHAPE for a dimension <= 0,
 * CLIMP_ERR_INVALID_ARG for a NULL buffer or an output overlapping an input,
 * CLIMP_ERR_BUFFER_TOO_SMALL for a short view); activation gradients overwrite. */
#ifndef CLIMP_CROSSSCAN_H
#define CLIMP_CROSSSCAN_H

#include "runtime/climp_runtime.h"

/* ---------------------------------------------------------------- cross-scan / cross-merge */
climp_status climp_cross_scan_forward(climp_ctx *ctx,
                                      climp_tview xs, // (B, L, 4, E)
                                      climp_tview x,  // (B, H, W, E)
                                      int B, int H, int W, int E);
/* dx = cross_merge(dxs) */
climp_status climp_cross_scan_backward(climp_ctx *ctx,
                                       climp_tview dx,  // (B, H, W, E), overwritten
                                       climp_tview dxs, // (B, L, 4, E)
                                       int B, int H, int W, int E);
climp_status climp_cross_merge_forward(climp_ctx *ctx,
                                       climp_tview y,  // (B, H, W, E)
                                       climp_tview ys, // (B, L, 4, E)
                                       int B, int H, int W, int E);
/* dys = cross_scan(dy) */
climp_status climp_cross_merge_backward(climp_ctx *ctx,
                                        climp_tview dys, // (B, L, 4, E), overwritten
                                        climp_tview dy,  // (B, H, W, E)
                                        int B, int H, int W, int E);

void climp_cross_scan_forward_ref(float *xs, const float *x, int B, int H, int W, int E);
void climp_cross_merge_forward_ref(float *y, const float *ys, int B, int H, int W, int E);
/* The backward references are the adjoint ops: scan_backward = merge, merge_backward = scan. */
void climp_cross_scan_backward_ref(float *dx, const float *dxs, int B, int H, int W, int E);
void climp_cross_merge_backward_ref(float *dys, const float *dy, int B, int H, int W, int E);

/* ---------------------------------------------------------------- global average pool */
/* y[b,c] = (sum_{l<L} x[b,l,c]) / L, summed in l order. */
climp_status climp_avgpool_forward(climp_ctx *ctx,
                                   climp_tview y, // (B, C)
                                   climp_tview x, // (B, L, C)
                                   int B, int L, int C);
/* dx[b,l,c] = dy[b,c] / L (overwrite). */
climp_status climp_avgpool_backward(climp_ctx *ctx,
                                    climp_tview dx, // (B, L, C)
                                    climp_tview dy, // (B, C)
                                    int B, int L, int C);
void climp_avgpool_forward_ref(float *y, const float *x, int B, int L, int C);
void climp_avgpool_backward_ref(float *dx, const float *dy, int B, int L, int C);

/* ---------------------------------------------------------------- last-token gather */
/* out[b,:] = h[b, lengths[b]-1, :]. lengths holds int32 values stored in the 4-byte units of a
 * float view (write them with climp_buffer_write from an int32_t array). A length outside
 * [1, Lmax] cannot be checked on the host (it lives on the device): its row of out is NaN, so the
 * loss shows it, and its backward rows are zero. */
climp_status climp_lasttoken_forward(climp_ctx *ctx,
                                     climp_tview out,     // (B, D)
                                     climp_tview h,       // (B, Lmax, D)
                                     climp_tview lengths, // (B) int32
                                     int B, int Lmax, int D);
/* dh[b,t,:] = (t == lengths[b]-1) ? dout[b,:] : 0 over the whole (B, Lmax, D) (overwrite). */
climp_status climp_lasttoken_backward(climp_ctx *ctx,
                                      climp_tview dh,      // (B, Lmax, D)
                                      climp_tview dout,    // (B, D)
                                      climp_tview lengths, // (B) int32
                                      int B, int Lmax, int D);
void climp_lasttoken_forward_ref(float *out, const float *h, const int32_t *lengths, int B,
                                 int Lmax, int D);
void climp_lasttoken_backward_ref(float *dh, const float *dout, const int32_t *lengths, int B,
                                  int Lmax, int D);

#endif
