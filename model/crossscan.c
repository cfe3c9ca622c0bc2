/* Host launchers of cross-scan / cross-merge, global average pool and last-token gather
 * (model/crossscan.h): validate every argument, then enqueue the kernels of
 * cl_kernels/crossscan.cl. C references: model/crossscan_ref.c. */
#include "model/crossscan.h"
#include "model/conv_util.h"

#define CS_SRC "crossscan"
#define CS_DEFINES NULL

static climp_status get_kernel(climp_ctx *ctx, const char *name, climp_kernel **k) {
    return climp_kernel_get(ctx, CS_SRC, CS_DEFINES, name, k);
}

/* ---------------------------------------------------------------- cross-scan / cross-merge */

/* out (B, L, 4, E) <- in (B, H, W, E) when to_xs, else out (B, H, W, E) <- in (B, L, 4, E). */
static climp_status cross(climp_ctx *ctx, const char *op, const char *kname, int to_xs,
                          climp_tview out, climp_tview in, int B, int H, int W, int E) {
    if (!ctx)
        return CLIMP_ERR_INVALID_ARG;
    int d[5] = {B, H, W, E, 4};
    CU_CHECK(cu_dims(op, 5, d));
    size_t n_img = (size_t)B * H * W * E, n_xs = 4 * n_img;
    size_t n_out = to_xs ? n_xs : n_img, n_in = to_xs ? n_img : n_xs;
    CU_CHECK(cu_need(op, to_xs ? "xs" : "y", out, n_out));
    CU_CHECK(cu_need(op, to_xs ? "x" : "ys", in, n_in));
    CU_CHECK(cu_disjoint(op, "output", out, n_out, "input", in, n_in));
    if (cu_fpga(ctx))
        return CU_LAUNCH_SWI(ctx, to_xs ? "cross_scan_swi" : "cross_merge_swi", climp_arg_view(out),
                             climp_arg_view(in), climp_arg_i32(B), climp_arg_i32(H),
                             climp_arg_i32(W), climp_arg_i32(E));
    climp_kernel *k;
    CLIMP_TRY(get_kernel(ctx, kname, &k));
    int L = H * W;
    /* the scan takes one (row, direction) pair per row of items, the merge one row */
    int rows = to_xs ? 4 * B * L : B * L;
    climp_karg a[] = {climp_arg_view(out), climp_arg_view(in), climp_arg_i32(0),
                      climp_arg_i32(H),    climp_arg_i32(L),   climp_arg_i32(E)};
    return cu_launch_rows(ctx, k, (size_t)E, (size_t)rows, 6, a, 2);
}

climp_status climp_cross_scan_forward(climp_ctx *ctx, climp_tview xs, climp_tview x, int B, int H,
                                      int W, int E) {
    return cross(ctx, "cross_scan_forward", "cross_scan_fwd", 1, xs, x, B, H, W, E);
}

climp_status climp_cross_scan_backward(climp_ctx *ctx, climp_tview dx, climp_tview dxs, int B,
                                       int H, int W, int E) {
    return cross(ctx, "cross_scan_backward", "cross_merge_fwd", 0, dx, dxs, B, H, W, E);
}

climp_status climp_cross_merge_forward(climp_ctx *ctx, climp_tview y, climp_tview ys, int B, int H,
                                       int W, int E) {
    return cross(ctx, "cross_merge_forward", "cross_merge_fwd", 0, y, ys, B, H, W, E);
}

climp_status climp_cross_merge_backward(climp_ctx *ctx, climp_tview dys, climp_tview dy, int B,
                                        int H, int W, int E) {
    return cross(ctx, "cross_merge_backward", "cross_scan_fwd", 1, dys, dy, B, H, W, E);
}

/* ---------------------------------------------------------------- global average pool */

climp_status climp_avgpool_forward(climp_ctx *ctx, climp_tview y, climp_tview x, int B, int L,
                                   int C) {
    static const char *op = "avgpool_forward";
    if (!ctx)
        return CLIMP_ERR_INVALID_ARG;
    int d[3] = {B, L, C};
    CU_CHECK(cu_dims(op, 3, d));
    size_t n_x = (size_t)B * L * C, n_y = (size_t)B * C;
    CU_CHECK(cu_need(op, "y", y, n_y));
    CU_CHECK(cu_need(op, "x", x, n_x));
    CU_CHECK(cu_disjoint(op, "y", y, n_y, "x", x, n_x));
    if (cu_fpga(ctx))
        return CU_LAUNCH_SWI(ctx, "avgpool_fwd_swi", climp_arg_view(y), climp_arg_view(x),
                             climp_arg_i32(B), climp_arg_i32(L), climp_arg_i32(C));
    climp_kernel *k;
    CLIMP_TRY(get_kernel(ctx, "avgpool_fwd", &k));
    size_t gws[2], lws[2];
    cu_grid2(ctx, (size_t)C, (size_t)B, gws, lws);
    return CLIMP_LAUNCH(ctx, k, 2, gws, lws, climp_arg_view(y), climp_arg_view(x), climp_arg_i32(B),
                        climp_arg_i32(L), climp_arg_i32(C));
}

climp_status climp_avgpool_backward(climp_ctx *ctx, climp_tview dx, climp_tview dy, int B, int L,
                                    int C) {
    static const char *op = "avgpool_backward";
    if (!ctx)
        return CLIMP_ERR_INVALID_ARG;
    int d[3] = {B, L, C};
    CU_CHECK(cu_dims(op, 3, d));
    size_t n_x = (size_t)B * L * C, n_y = (size_t)B * C;
    CU_CHECK(cu_need(op, "dx", dx, n_x));
    CU_CHECK(cu_need(op, "dy", dy, n_y));
    CU_CHECK(cu_disjoint(op, "dx", dx, n_x, "dy", dy, n_y));
    if (cu_fpga(ctx))
        return CU_LAUNCH_SWI(ctx, "avgpool_bwd_swi", climp_arg_view(dx), climp_arg_view(dy),
                             climp_arg_i32(B), climp_arg_i32(L), climp_arg_i32(C));
    climp_kernel *k;
    CLIMP_TRY(get_kernel(ctx, "avgpool_bwd", &k));
    climp_karg a[] = {climp_arg_view(dx), climp_arg_view(dy), climp_arg_i32(0), climp_arg_i32(L),
                      climp_arg_i32(C)};
    return cu_launch_rows(ctx, k, (size_t)C, (size_t)B * L, 5, a, 2);
}

/* ---------------------------------------------------------------- last-token gather */

static climp_status lasttoken_check(const char *op, climp_tview big, const char *big_name,
                                    climp_tview small, const char *small_name, climp_tview lengths,
                                    int out_is_big, int B, int Lmax, int D) {
    int d[3] = {B, Lmax, D};
    CU_CHECK(cu_dims(op, 3, d));
    size_t n_big = (size_t)B * Lmax * D, n_small = (size_t)B * D;
    CU_CHECK(cu_need(op, big_name, big, n_big));
    CU_CHECK(cu_need(op, small_name, small, n_small));
    CU_CHECK(cu_need(op, "lengths", lengths, (size_t)B));
    if (out_is_big) {
        CU_CHECK(cu_disjoint(op, big_name, big, n_big, small_name, small, n_small));
        CU_CHECK(cu_disjoint(op, big_name, big, n_big, "lengths", lengths, (size_t)B));
    } else {
        CU_CHECK(cu_disjoint(op, small_name, small, n_small, big_name, big, n_big));
        CU_CHECK(cu_disjoint(op, small_name, small, n_small, "lengths", lengths, (size_t)B));
    }
    return CLIMP_OK;
}

climp_status climp_lasttoken_forward(climp_ctx *ctx, climp_tview out, climp_tview h,
                                     climp_tview lengths, int B, int Lmax, int D) {
    static const char *op = "lasttoken_forward";
    if (!ctx)
        return CLIMP_ERR_INVALID_ARG;
    CU_CHECK(lasttoken_check(op, h, "h", out, "out", lengths, 0, B, Lmax, D));
    if (cu_fpga(ctx))
        return CU_LAUNCH_SWI(ctx, "lasttoken_fwd_swi", climp_arg_view(out), climp_arg_view(h),
                             climp_arg_view(lengths), climp_arg_i32(B), climp_arg_i32(Lmax),
                             climp_arg_i32(D));
    climp_kernel *k;
    CLIMP_TRY(get_kernel(ctx, "lasttoken_fwd", &k));
    size_t gws[2], lws[2];
    cu_grid2(ctx, (size_t)D, (size_t)B, gws, lws);
    return CLIMP_LAUNCH(ctx, k, 2, gws, lws, climp_arg_view(out), climp_arg_view(h),
                        climp_arg_view(lengths), climp_arg_i32(B), climp_arg_i32(Lmax),
                        climp_arg_i32(D));
}

climp_status climp_lasttoken_backward(climp_ctx *ctx, climp_tview dh, climp_tview dout,
                                      climp_tview lengths, int B, int Lmax, int D) {
    static const char *op = "lasttoken_backward";
    if (!ctx)
        return CLIMP_ERR_INVALID_ARG;
    CU_CHECK(lasttoken_check(op, dh, "dh", dout, "dout", lengths, 1, B, Lmax, D));
    if (cu_fpga(ctx))
        return CU_LAUNCH_SWI(ctx, "lasttoken_bwd_swi", climp_arg_view(dh), climp_arg_view(dout),
                             climp_arg_view(lengths), climp_arg_i32(B), climp_arg_i32(Lmax),
                             climp_arg_i32(D));
    climp_kernel *k;
    CLIMP_TRY(get_kernel(ctx, "lasttoken_bwd", &k));
    climp_karg a[] = {climp_arg_view(dh), climp_arg_view(dout), climp_arg_view(lengths),
                      climp_arg_i32(0),   climp_arg_i32(Lmax),  climp_arg_i32(D)};
    return cu_launch_rows(ctx, k, (size_t)D, (size_t)B * Lmax, 6, a, 3);
}
