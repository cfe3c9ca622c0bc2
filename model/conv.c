/* Host launchers of the causal depthwise conv1d and the depthwise conv2d 3x3 (model/conv.h):
 * validate every argument, then enqueue the kernels of cl_kernels/conv.cl. The conv 3x3 stride 2
 * launchers are in model/conv3x3s2.c; the C references in model/conv_ref.c. */
#include "model/conv.h"
#include "model/conv_util.h"

#include <stdio.h>

#define CONV_SRC "conv"
#define CONV1D_SEG 64 /* positions per work-item of causal_conv1d_fwd (the kernel's default) */

/* Kernel `name` of cl_kernels/conv.cl for vectors of *vw channels: the causal conv1d kernels
 * for widths up to kw (kw > 0: 1, 2, 4 or 8) or the dwconv ones (kw = 0). One program per
 * distinct (op, VW, KW) holds only that op's kernels and reduce_parts_add. When that program has
 * no offline binary, the default build is used and *vw becomes 1. */
static climp_status get_kernel(climp_ctx *ctx, const char *name, int *vw, int kw,
                               climp_kernel **k) {
    char defs[48];
    if (kw > 0)
        snprintf(defs, sizeof defs, "CONV_OP=1 CONV1D_KW=%d VW=%d", kw, *vw);
    else
        snprintf(defs, sizeof defs, "CONV_OP=2 VW=%d", *vw);
    climp_status s = climp_kernel_get(ctx, CONV_SRC, defs, name, k);
    if (s != CLIMP_ERR_NO_BINARY)
        return s;
    /* binary-only and no binary of this specialisation: the default build (CONV_OP=0 VW=1
     * CONV1D_KW=8, what `climp compile-kernels` writes) serves every shape */
    climp_log(CLIMP_LOG_DEBUG, "conv: no binary for [%s], using the default build", defs);
    climp_error_clear();
    *vw = 1;
    return climp_kernel_get(ctx, CONV_SRC, NULL, name, k);
}

/* Register window length of the conv1d kernels for width K: K rounded up to a power of two. */
static int conv1d_kw(int K) {
    return K <= 1 ? 1 : K <= 2 ? 2 : K <= 4 ? 4 : 8;
}

/* ---------------------------------------------------------------- causal depthwise conv1d */

static climp_status conv1d_shape(const char *op, int B, int L, int C, int K, int ld_x) {
    int d[3] = {B, L, C};
    CU_CHECK(cu_dims(op, 3, d));
    if (K < 1 || K > CLIMP_CONV1D_MAX_K) {
        climp_error_set("%s: K = %d (must be 1..%d)", op, K, CLIMP_CONV1D_MAX_K);
        return CLIMP_ERR_SHAPE;
    }
    if (ld_x < C) {
        climp_error_set("%s: ld_x = %d < C = %d", op, ld_x, C);
        return CLIMP_ERR_SHAPE;
    }
    return CLIMP_OK;
}

/* Floats a (B, L, ld_x) view with C used columns must hold. */
static size_t strided_need(int B, int L, int C, int ld_x) {
    return ((size_t)B * L - 1) * (size_t)ld_x + (size_t)C;
}

size_t climp_causal_conv1d_scratch_floats(int B, int L, int C, int K) {
    if (B <= 0 || L <= 0 || C <= 0 || K <= 0)
        return 0;
    return (size_t)cu_red_parts((size_t)B * L) * ((size_t)C * K + (size_t)C);
}

climp_status climp_causal_conv1d_forward(climp_ctx *ctx, climp_tview y, climp_tview x, int ld_x,
                                         climp_tview w, climp_tview bias, int B, int L, int C,
                                         int K) {
    static const char *op = "causal_conv1d_forward";
    if (!ctx)
        return CLIMP_ERR_INVALID_ARG;
    CU_CHECK(conv1d_shape(op, B, L, C, K, ld_x));
    size_t n_y = (size_t)B * L * C, n_x = strided_need(B, L, C, ld_x);
    size_t n_w = (size_t)C * K, n_b = (size_t)C;
    CU_CHECK(cu_need(op, "y", y, n_y));
    CU_CHECK(cu_need(op, "x", x, n_x));
    CU_CHECK(cu_need(op, "w", w, n_w));
    CU_CHECK(cu_need(op, "bias", bias, n_b));
    CU_CHECK(cu_disjoint(op, "y", y, n_y, "x", x, n_x));
    CU_CHECK(cu_disjoint(op, "y", y, n_y, "w", w, n_w));
    CU_CHECK(cu_disjoint(op, "y", y, n_y, "bias", bias, n_b));

    if (cu_fpga(ctx))
        return CU_LAUNCH_SWI(ctx, "causal_conv1d_fwd_swi", climp_arg_view(y), climp_arg_view(x),
                             climp_arg_view(w), climp_arg_view(bias), climp_arg_i32(B),
                             climp_arg_i32(L), climp_arg_i32(C), climp_arg_i32(K),
                             climp_arg_i32(ld_x));
    climp_kernel *k;
    int vw = cu_vw(C), nseg = (L + CONV1D_SEG - 1) / CONV1D_SEG;
    CLIMP_TRY(get_kernel(ctx, "causal_conv1d_fwd", &vw, conv1d_kw(K), &k));
    size_t gws[2], lws[2];
    cu_grid_loop(ctx, (size_t)(C / vw), (size_t)B * nseg, gws, lws);
    return CLIMP_LAUNCH(ctx, k, 2, gws, lws, climp_arg_view(y), climp_arg_view(x),
                        climp_arg_view(w), climp_arg_view(bias), climp_arg_i32(B), climp_arg_i32(L),
                        climp_arg_i32(C), climp_arg_i32(K), climp_arg_i32(ld_x),
                        climp_arg_i32(nseg));
}

climp_status climp_causal_conv1d_backward(climp_ctx *ctx, climp_tview dx, climp_tview dw,
                                          climp_tview dbias, climp_tview dy, climp_tview x,
                                          int ld_x, climp_tview w, climp_tview scratch, int B,
                                          int L, int C, int K) {
    static const char *op = "causal_conv1d_backward";
    if (!ctx)
        return CLIMP_ERR_INVALID_ARG;
    CU_CHECK(conv1d_shape(op, B, L, C, K, ld_x));
    size_t n_y = (size_t)B * L * C, n_x = strided_need(B, L, C, ld_x);
    size_t n_w = (size_t)C * K, n_b = (size_t)C;
    size_t n_s = climp_causal_conv1d_scratch_floats(B, L, C, K);
    CU_CHECK(cu_need(op, "dx", dx, n_x));
    CU_CHECK(cu_need(op, "dw", dw, n_w));
    CU_CHECK(cu_need(op, "dbias", dbias, n_b));
    CU_CHECK(cu_need(op, "dy", dy, n_y));
    CU_CHECK(cu_need(op, "x", x, n_x));
    CU_CHECK(cu_need(op, "w", w, n_w));
    CU_CHECK(cu_need(op, "scratch", scratch, n_s));
    /* outputs dx, dw, dbias, scratch: disjoint from each other and from the inputs */
    const char *on[4] = {"dx", "dw", "dbias", "scratch"};
    climp_tview ov[4] = {dx, dw, dbias, scratch};
    size_t onn[4] = {n_x, n_w, n_b, n_s};
    const char *in[3] = {"dy", "x", "w"};
    climp_tview iv[3] = {dy, x, w};
    size_t inn[3] = {n_y, n_x, n_w};
    for (int i = 0; i < 4; i++) {
        for (int j = 0; j < 3; j++)
            CU_CHECK(cu_disjoint(op, on[i], ov[i], onn[i], in[j], iv[j], inn[j]));
        for (int j = i + 1; j < 4; j++)
            CU_CHECK(cu_disjoint(op, on[i], ov[i], onn[i], on[j], ov[j], onn[j]));
    }

    if (cu_fpga(ctx)) /* the scratch view is not needed there */
        return CU_LAUNCH_SWI(ctx, "causal_conv1d_bwd_swi", climp_arg_view(dx), climp_arg_view(dw),
                             climp_arg_view(dbias), climp_arg_view(dy), climp_arg_view(x),
                             climp_arg_view(w), climp_arg_i32(B), climp_arg_i32(L),
                             climp_arg_i32(C), climp_arg_i32(K), climp_arg_i32(ld_x));
    /* dx and the per-chunk dw / dbias partials in one pass, then the fixed-order sum */
    climp_kernel *kbwd, *kred;
    int vw = cu_vw(C);
    CLIMP_TRY(get_kernel(ctx, "causal_conv1d_bwd", &vw, conv1d_kw(K), &kbwd));
    CLIMP_TRY(get_kernel(ctx, "reduce_parts_add", &vw, conv1d_kw(K), &kred)); /* same program */
    int rows = cu_red_rows((size_t)B * L), P = cu_red_parts((size_t)B * L);
    size_t gws[2], lws[2];
    cu_grid_loop(ctx, (size_t)(C / vw), (size_t)P, gws, lws);
    CLIMP_TRY(CLIMP_LAUNCH(ctx, kbwd, 2, gws, lws, climp_arg_view(dx), climp_arg_view(scratch),
                           climp_arg_view(dy), climp_arg_view(x), climp_arg_view(w),
                           climp_arg_i32(B * L), climp_arg_i32(L), climp_arg_i32(C),
                           climp_arg_i32(K), climp_arg_i32(ld_x), climp_arg_i32(rows),
                           climp_arg_i32(P)));
    size_t g1, l1;
    int ncol = C * K + C;
    cu_grid1(ctx, (size_t)ncol, &g1, &l1);
    return CLIMP_LAUNCH(ctx, kred, 1, &g1, &l1, climp_arg_view(dw), climp_arg_view(dbias),
                        climp_arg_view(scratch), climp_arg_i32(P), climp_arg_i32(ncol),
                        climp_arg_i32(C * K));
}

/* ---------------------------------------------------------------- depthwise conv2d 3x3 */

/* dw partial sums are taken over chunks of whole image lines (b, h) of W pixels each. */
static int dw_lines(int B, int H, int W) {
    size_t rows = (size_t)cu_red_rows((size_t)B * H * W);
    return (int)((rows + (size_t)W - 1) / (size_t)W);
}
static int dw_parts(int B, int H, int W) {
    int lines = dw_lines(B, H, W);
    return (B * H + lines - 1) / lines;
}

size_t climp_dwconv3x3_scratch_floats(int B, int H, int W, int C) {
    if (B <= 0 || H <= 0 || W <= 0 || C <= 0)
        return 0;
    return (size_t)dw_parts(B, H, W) * (size_t)C * 9;
}

#define DW_LINES 8 /* image lines per work-item of dwconv3x3_fwd (the kernel's default) */

/* out = depthwise 3x3 of in with w (flip = 0) or with w rotated by 180 degrees (flip = 1). */
static climp_status dw_conv(climp_ctx *ctx, climp_tview out, climp_tview in, climp_tview w, int B,
                            int H, int W, int C, int flip) {
    if (cu_fpga(ctx))
        return CU_LAUNCH_SWI(ctx, "dwconv3x3_fwd_swi", climp_arg_view(out), climp_arg_view(in),
                             climp_arg_view(w), climp_arg_i32(B), climp_arg_i32(H),
                             climp_arg_i32(W), climp_arg_i32(C), climp_arg_i32(flip));
    climp_kernel *k;
    int vw = cu_vw(C);
    CLIMP_TRY(get_kernel(ctx, "dwconv3x3_fwd", &vw, 0, &k));
    size_t gws[2], lws[2];
    cu_grid_loop(ctx, (size_t)(C / vw), ((size_t)B * H + DW_LINES - 1) / DW_LINES, gws, lws);
    return CLIMP_LAUNCH(ctx, k, 2, gws, lws, climp_arg_view(out), climp_arg_view(in),
                        climp_arg_view(w), climp_arg_i32(B * H), climp_arg_i32(H), climp_arg_i32(W),
                        climp_arg_i32(C), climp_arg_i32(flip));
}

climp_status climp_dwconv3x3_forward(climp_ctx *ctx, climp_tview y, climp_tview x, climp_tview w,
                                     int B, int H, int W, int C) {
    static const char *op = "dwconv3x3_forward";
    if (!ctx)
        return CLIMP_ERR_INVALID_ARG;
    int d[4] = {B, H, W, C};
    CU_CHECK(cu_dims(op, 4, d));
    size_t n = (size_t)B * H * W * C, n_w = (size_t)C * 9;
    CU_CHECK(cu_need(op, "y", y, n));
    CU_CHECK(cu_need(op, "x", x, n));
    CU_CHECK(cu_need(op, "w", w, n_w));
    CU_CHECK(cu_disjoint(op, "y", y, n, "x", x, n));
    CU_CHECK(cu_disjoint(op, "y", y, n, "w", w, n_w));
    return dw_conv(ctx, y, x, w, B, H, W, C, 0);
}

climp_status climp_dwconv3x3_backward(climp_ctx *ctx, climp_tview dx, climp_tview dw,
                                      climp_tview dy, climp_tview x, climp_tview w,
                                      climp_tview scratch, int B, int H, int W, int C) {
    static const char *op = "dwconv3x3_backward";
    if (!ctx)
        return CLIMP_ERR_INVALID_ARG;
    int d[4] = {B, H, W, C};
    CU_CHECK(cu_dims(op, 4, d));
    size_t n = (size_t)B * H * W * C, n_w = (size_t)C * 9;
    size_t n_s = climp_dwconv3x3_scratch_floats(B, H, W, C);
    CU_CHECK(cu_need(op, "dx", dx, n));
    CU_CHECK(cu_need(op, "dw", dw, n_w));
    CU_CHECK(cu_need(op, "dy", dy, n));
    CU_CHECK(cu_need(op, "x", x, n));
    CU_CHECK(cu_need(op, "w", w, n_w));
    CU_CHECK(cu_need(op, "scratch", scratch, n_s));
    const char *on[3] = {"dx", "dw", "scratch"};
    climp_tview ov[3] = {dx, dw, scratch};
    size_t onn[3] = {n, n_w, n_s};
    const char *in[3] = {"dy", "x", "w"};
    climp_tview iv[3] = {dy, x, w};
    size_t inn[3] = {n, n, n_w};
    for (int i = 0; i < 3; i++) {
        for (int j = 0; j < 3; j++)
            CU_CHECK(cu_disjoint(op, on[i], ov[i], onn[i], in[j], iv[j], inn[j]));
        for (int j = i + 1; j < 3; j++)
            CU_CHECK(cu_disjoint(op, on[i], ov[i], onn[i], on[j], ov[j], onn[j]));
    }

    if (cu_fpga(ctx)) {
        CLIMP_TRY(dw_conv(ctx, dx, dy, w, B, H, W, C, 1));
        return CU_LAUNCH_SWI(ctx, "dwconv3x3_bwd_dw_swi", climp_arg_view(dw), climp_arg_view(dy),
                             climp_arg_view(x), climp_arg_i32(B), climp_arg_i32(H),
                             climp_arg_i32(W), climp_arg_i32(C));
    }
    climp_kernel *kpart, *kred;
    int vw = cu_vw(C);
    CLIMP_TRY(get_kernel(ctx, "dwconv3x3_bwd_dw_part", &vw, 0, &kpart));
    CLIMP_TRY(get_kernel(ctx, "reduce_parts_add", &vw, 0, &kred)); /* same program */
    CLIMP_TRY(dw_conv(ctx, dx, dy, w, B, H, W, C, 1));
    int lines = dw_lines(B, H, W), P = dw_parts(B, H, W);
    size_t gws[2], lws[2];
    cu_grid_loop(ctx, (size_t)(C / vw), (size_t)P, gws, lws);
    CLIMP_TRY(CLIMP_LAUNCH(ctx, kpart, 2, gws, lws, climp_arg_view(scratch), climp_arg_view(dy),
                           climp_arg_view(x), climp_arg_i32(B * H), climp_arg_i32(H),
                           climp_arg_i32(W), climp_arg_i32(C), climp_arg_i32(lines),
                           climp_arg_i32(P)));
    size_t g1, l1;
    int ncol = C * 9;
    cu_grid1(ctx, (size_t)ncol, &g1, &l1);
    return CLIMP_LAUNCH(ctx, kred, 1, &g1, &l1, climp_arg_view(dw), climp_arg_view(dw),
                        climp_arg_view(scratch), climp_arg_i32(P), climp_arg_i32(ncol),
                        climp_arg_i32(ncol));
}
