/* The native host path of the d_state-1 selective scan (CLIMP_SCAN_HOST of model/scan.h):
 * C with AVX2 / FMA intrinsics on the buffers of a CPU device with host-unified memory, mapped
 * without a copy (like the host-BLAS GEMM), several threads. Internal to model/scan.c, which
 * validates every argument and resolves the chunk before calling these. Implementation and the
 * reasons for it: model/scan_host.c. */
#ifndef CLIMP_SCAN_HOST_H
#define CLIMP_SCAN_HOST_H

#include "model/scan.h"

/* 1 when this build and this machine can run the path for ctx: an x86-64 build with GCC or
 * Clang, a CPU with AVX2 and FMA, a CPU device with host-unified memory. */
int climp_scan_host_supported(climp_ctx *ctx);

/* s: a validated N = 1 shape with its chunk resolved (1..64). Same contract as
 * climp_scan_forward / climp_scan_backward (states layout included); the backward needs no
 * scratch (its partial sums live in host memory). */
climp_status climp_scan_host_forward(climp_ctx *ctx, const climp_scan_shape *s, climp_tview u,
                                     climp_tview delta_raw, climp_tview A_log, climp_tview Bm,
                                     climp_tview Cm, climp_tview D, climp_tview delta_bias,
                                     climp_tview z, climp_tview out, climp_tview states);
climp_status climp_scan_host_backward(climp_ctx *ctx, const climp_scan_shape *s, climp_tview u,
                                      climp_tview delta_raw, climp_tview A_log, climp_tview Bm,
                                      climp_tview Cm, climp_tview D, climp_tview delta_bias,
                                      climp_tview z, climp_tview states, climp_tview dout,
                                      climp_tview du, climp_tview ddelta_raw, climp_tview dA_log,
                                      climp_tview dBm, climp_tview dCm, climp_tview dD,
                                      climp_tview ddelta_bias, climp_tview dz);

#endif
