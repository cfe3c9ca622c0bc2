/* Host launchers of the conv 3x3 stride 2 padding 1 with bias (VMamba stem and downsample,
 * model/conv.h): im2col (cl_kernels/conv.cl) + climp_gemm + bias add forward; dweight by GEMM,
 * dbias by a two-stage fixed-order reduction, dx by GEMM into col then a gather col2im backward.
 * Images go through the GEMMs in passes of as many as the caller's scratch view holds.
 * C references: model/conv_ref.c. */
#include "model/conv.h"
#include "model/conv_util.h"

#include <stdio.h>

#define CONV_SRC "conv"

/* Kernel `name` of cl_kernels/conv.cl built for this op (CONV_OP=3) with VW = *vw (the dbias
 * partials' vector width; the other kernels of the op do not depend on it, so one op call uses
 * one program). When that program has no offline binary, the default build is used and *vw
 * becomes 1. */
static climp_status get_kernel(climp_ctx *ctx, const char *name, int *vw, climp_kernel **k) {
    char defs[32];
    snprintf(defs, sizeof defs, "CONV_OP=3 VW=%d", *vw);
    climp_status s = climp_kernel_get(ctx, CONV_SRC, defs, name, k);
    if (s != CLIMP_ERR_NO_BINARY)
        return s;
    /* binary-only and no binary of this specialisation: the default build (CONV_OP=0 VW=1, what
     * `climp compile-kernels` writes) serves every shape */
    climp_log(CLIMP_LOG_DEBUG, "conv3x3s2: no binary for [%s], using the default build", defs);
    climp_error_clear();
    *vw = 1;
    return climp_kernel_get(ctx, CONV_SRC, NULL, name, k);
}

/* Partial-sum floats of the dbias reduction over all B*Ho*Wo output rows. */
static size_t red_floats(int B, int Ho, int Wo, int Cout) {
    return (size_t)cu_red_parts((size_t)B * Ho * Wo) * (size_t)Cout;
}

size_t climp_conv3x3s2_scratch_floats(int B, int nb, int H, int W, int Cin, int Cout) {
    if (B <= 0 || H <= 0 || W <= 0 || Cin <= 0 || Cout <= 0)
        return 0;
    if (nb < 1)
        nb = 1;
    if (nb > B)
        nb = B;
    int Ho = climp_conv3x3s2_out(H), Wo = climp_conv3x3s2_out(W);
    return red_floats(B, Ho, Wo, Cout) + (size_t)nb * Ho * Wo * (size_t)Cin * 9;
}

/* Shapes: B, H, W, Cin, Cout > 0; the largest tensor (input, output or col of ONE image times
 * B) below INT_MAX elements. */
static climp_status conv_shape(const char *op, int B, int H, int W, int Cin, int Cout) {
    int din[4] = {B, H, W, Cin};
    CU_CHECK(cu_dims(op, 4, din));
    if (Cout <= 0) {
        climp_error_set("%s: Cout = %d (must be > 0)", op, Cout);
        return CLIMP_ERR_SHAPE;
    }
    int Ho = climp_conv3x3s2_out(H), Wo = climp_conv3x3s2_out(W);
    int dout[4] = {B, Ho, Wo, Cout}, dcol[4] = {B, Ho * Wo, Cin, 9};
    CU_CHECK(cu_dims(op, 4, dout));
    CU_CHECK(cu_dims(op, 4, dcol));
    return CLIMP_OK;
}

static climp_status launch_im2col(climp_ctx *ctx, int vw, climp_tview col, climp_tview x, int B,
                                  int H, int W, int Cin) {
    int Ho = climp_conv3x3s2_out(H), Wo = climp_conv3x3s2_out(W);
    if (cu_fpga(ctx))
        return CU_LAUNCH_SWI(ctx, "conv3x3s2_im2col_swi", climp_arg_view(col), climp_arg_view(x),
                             climp_arg_i32(B), climp_arg_i32(H), climp_arg_i32(W),
                             climp_arg_i32(Cin), climp_arg_i32(Ho), climp_arg_i32(Wo));
    climp_kernel *k;
    CLIMP_TRY(get_kernel(ctx, "conv3x3s2_fwd_im2col", &vw, &k));
    size_t gws, lws;
    cu_grid_rows1(ctx, (size_t)B * Ho, &gws, &lws);
    return CLIMP_LAUNCH(ctx, k, 1, &gws, &lws, climp_arg_view(col), climp_arg_view(x),
                        climp_arg_i32(B * Ho), climp_arg_i32(H), climp_arg_i32(W),
                        climp_arg_i32(Cin), climp_arg_i32(Ho), climp_arg_i32(Wo));
}

static climp_status launch_col2im(climp_ctx *ctx, int vw, climp_tview dx, climp_tview dcol, int B,
                                  int H, int W, int Cin) {
    int Ho = climp_conv3x3s2_out(H), Wo = climp_conv3x3s2_out(W);
    if (cu_fpga(ctx))
        return CU_LAUNCH_SWI(ctx, "conv3x3s2_col2im_swi", climp_arg_view(dx), climp_arg_view(dcol),
                             climp_arg_i32(B), climp_arg_i32(H), climp_arg_i32(W),
                             climp_arg_i32(Cin), climp_arg_i32(Ho), climp_arg_i32(Wo));
    climp_kernel *k;
    CLIMP_TRY(get_kernel(ctx, "conv3x3s2_bwd_col2im", &vw, &k));
    size_t gws, lws;
    cu_grid_rows1(ctx, (size_t)B * H, &gws, &lws);
    return CLIMP_LAUNCH(ctx, k, 1, &gws, &lws, climp_arg_view(dx), climp_arg_view(dcol),
                        climp_arg_i32(B * H), climp_arg_i32(H), climp_arg_i32(W),
                        climp_arg_i32(Cin), climp_arg_i32(Ho), climp_arg_i32(Wo));
}

climp_status climp_conv3x3s2_im2col(climp_ctx *ctx, climp_tview col, climp_tview x, int B, int H,
                                    int W, int Cin) {
    static const char *op = "conv3x3s2_im2col";
    if (!ctx)
        return CLIMP_ERR_INVALID_ARG;
    CU_CHECK(conv_shape(op, B, H, W, Cin, 1));
    size_t n_x = (size_t)B * H * W * Cin;
    size_t n_c = (size_t)B * climp_conv3x3s2_out(H) * climp_conv3x3s2_out(W) * Cin * 9;
    CU_CHECK(cu_need(op, "col", col, n_c));
    CU_CHECK(cu_need(op, "x", x, n_x));
    CU_CHECK(cu_disjoint(op, "col", col, n_c, "x", x, n_x));
    return launch_im2col(ctx, 1, col, x, B, H, W, Cin);
}

climp_status climp_conv3x3s2_col2im(climp_ctx *ctx, climp_tview dx, climp_tview dcol, int B, int H,
                                    int W, int Cin) {
    static const char *op = "conv3x3s2_col2im";
    if (!ctx)
        return CLIMP_ERR_INVALID_ARG;
    CU_CHECK(conv_shape(op, B, H, W, Cin, 1));
    size_t n_x = (size_t)B * H * W * Cin;
    size_t n_c = (size_t)B * climp_conv3x3s2_out(H) * climp_conv3x3s2_out(W) * Cin * 9;
    CU_CHECK(cu_need(op, "dx", dx, n_x));
    CU_CHECK(cu_need(op, "dcol", dcol, n_c));
    CU_CHECK(cu_disjoint(op, "dx", dx, n_x, "dcol", dcol, n_c));
    return launch_col2im(ctx, 1, dx, dcol, B, H, W, Cin);
}

climp_status climp_conv3x3s2_forward(climp_ctx *ctx, climp_tview y, climp_tview x, climp_tview w,
                                     climp_tview bias, climp_tview scratch, int B, int H, int W,
                                     int Cin, int Cout) {
    static const char *op = "conv3x3s2_forward";
    if (!ctx)
        return CLIMP_ERR_INVALID_ARG;
    CU_CHECK(conv_shape(op, B, H, W, Cin, Cout));
    int Ho = climp_conv3x3s2_out(H), Wo = climp_conv3x3s2_out(W), M1 = Ho * Wo, Kc = Cin * 9;
    size_t n_y = (size_t)B * M1 * Cout, n_x = (size_t)B * H * W * Cin;
    size_t n_w = (size_t)Cout * Kc, col1 = (size_t)M1 * Kc;
    CU_CHECK(cu_need(op, "y", y, n_y));
    CU_CHECK(cu_need(op, "x", x, n_x));
    CU_CHECK(cu_need(op, "w", w, n_w));
    CU_CHECK(cu_need(op, "bias", bias, (size_t)Cout));
    CU_CHECK(cu_need(op, "scratch", scratch, col1));
    size_t nb = scratch.n / col1;
    if (nb > (size_t)B)
        nb = (size_t)B;
    size_t n_s = nb * col1;
    CU_CHECK(cu_disjoint(op, "y", y, n_y, "x", x, n_x));
    CU_CHECK(cu_disjoint(op, "y", y, n_y, "w", w, n_w));
    CU_CHECK(cu_disjoint(op, "y", y, n_y, "bias", bias, (size_t)Cout));
    CU_CHECK(cu_disjoint(op, "y", y, n_y, "scratch", scratch, n_s));
    CU_CHECK(cu_disjoint(op, "scratch", scratch, n_s, "x", x, n_x));
    CU_CHECK(cu_disjoint(op, "scratch", scratch, n_s, "w", w, n_w));
    CU_CHECK(cu_disjoint(op, "scratch", scratch, n_s, "bias", bias, (size_t)Cout));

    int vw = cu_vw(Cout);
    for (int b0 = 0; b0 < B; b0 += (int)nb) {
        int n = B - b0 < (int)nb ? B - b0 : (int)nb;
        climp_tview col = climp_view_sub(scratch, 0, (size_t)n * col1);
        climp_tview xc = climp_view_sub(x, (size_t)b0 * H * W * Cin, (size_t)n * H * W * Cin);
        climp_tview yc = climp_view_sub(y, (size_t)b0 * M1 * Cout, (size_t)n * M1 * Cout);
        CLIMP_TRY(launch_im2col(ctx, vw, col, xc, n, H, W, Cin));
        /* y (n*M1, Cout) = col (n*M1, Kc) * w^T, w stored (Cout, Kc) */
        climp_gemm_desc g = {0, 1, n * M1, Cout, Kc, 1.0f, 0.0f, Kc, Kc, Cout, 1, 0, 0, 0};
        CLIMP_TRY(climp_gemm(ctx, &g, col, w, yc));
    }
    if (cu_fpga(ctx))
        return CU_LAUNCH_SWI(ctx, "conv3x3s2_bias_swi", climp_arg_view(y), climp_arg_view(bias),
                             climp_arg_i32(B * M1), climp_arg_i32(Cout));
    climp_kernel *kb;
    CLIMP_TRY(get_kernel(ctx, "conv3x3s2_fwd_bias", &vw, &kb));
    climp_karg a[] = {climp_arg_view(y), climp_arg_view(bias), climp_arg_i32(0),
                      climp_arg_i32(Cout)};
    return cu_launch_rows(ctx, kb, (size_t)Cout, (size_t)B * M1, 4, a, 2);
}

climp_status climp_conv3x3s2_backward(climp_ctx *ctx, climp_tview dx, climp_tview dw,
                                      climp_tview dbias, climp_tview dy, climp_tview x,
                                      climp_tview w, climp_tview scratch, int B, int H, int W,
                                      int Cin, int Cout) {
    static const char *op = "conv3x3s2_backward";
    if (!ctx)
        return CLIMP_ERR_INVALID_ARG;
    CU_CHECK(conv_shape(op, B, H, W, Cin, Cout));
    int Ho = climp_conv3x3s2_out(H), Wo = climp_conv3x3s2_out(W), M1 = Ho * Wo, Kc = Cin * 9;
    size_t n_y = (size_t)B * M1 * Cout, n_x = (size_t)B * H * W * Cin;
    size_t n_w = (size_t)Cout * Kc, col1 = (size_t)M1 * Kc, n_b = (size_t)Cout;
    size_t red = red_floats(B, Ho, Wo, Cout);
    int has_dx = dx.buf != NULL;
    if (has_dx)
        CU_CHECK(cu_need(op, "dx", dx, n_x));
    CU_CHECK(cu_need(op, "dw", dw, n_w));
    CU_CHECK(cu_need(op, "dbias", dbias, n_b));
    CU_CHECK(cu_need(op, "dy", dy, n_y));
    CU_CHECK(cu_need(op, "x", x, n_x));
    CU_CHECK(cu_need(op, "w", w, n_w));
    CU_CHECK(cu_need(op, "scratch", scratch, red + col1));
    size_t nb = (scratch.n - red) / col1;
    if (nb > (size_t)B)
        nb = (size_t)B;
    size_t n_s = red + nb * col1;
    const char *on[4] = {"dw", "dbias", "scratch", "dx"};
    climp_tview ov[4] = {dw, dbias, scratch, dx};
    size_t onn[4] = {n_w, n_b, n_s, has_dx ? n_x : 0};
    const char *in[3] = {"dy", "x", "w"};
    climp_tview iv[3] = {dy, x, w};
    size_t inn[3] = {n_y, n_x, n_w};
    for (int i = 0; i < 4; i++) {
        for (int j = 0; j < 3; j++)
            CU_CHECK(cu_disjoint(op, on[i], ov[i], onn[i], in[j], iv[j], inn[j]));
        for (int j = i + 1; j < 4; j++)
            CU_CHECK(cu_disjoint(op, on[i], ov[i], onn[i], on[j], ov[j], onn[j]));
    }

    /* dbias += sum over all B*Ho*Wo rows of dy: partials in scratch[0, red), then fixed order */
    int vw = cu_vw(Cout), M = B * M1;
    if (cu_fpga(ctx)) {
        CLIMP_TRY(CU_LAUNCH_SWI(ctx, "conv3x3s2_dbias_swi", climp_arg_view(dbias),
                                climp_arg_view(dy), climp_arg_i32(M), climp_arg_i32(Cout)));
    } else {
        climp_kernel *kpart, *kred;
        CLIMP_TRY(get_kernel(ctx, "conv3x3s2_bwd_dbias_part", &vw, &kpart));
        CLIMP_TRY(get_kernel(ctx, "reduce_parts_add", &vw, &kred));
        int rows = cu_red_rows((size_t)M), P = cu_red_parts((size_t)M);
        climp_tview part = climp_view_sub(scratch, 0, red);
        size_t gws[2], lws[2], g1, l1;
        cu_grid_loop(ctx, (size_t)(Cout / vw), (size_t)P, gws, lws);
        CLIMP_TRY(CLIMP_LAUNCH(ctx, kpart, 2, gws, lws, climp_arg_view(part), climp_arg_view(dy),
                               climp_arg_i32(M), climp_arg_i32(Cout), climp_arg_i32(rows),
                               climp_arg_i32(P)));
        cu_grid1(ctx, (size_t)Cout, &g1, &l1);
        CLIMP_TRY(CLIMP_LAUNCH(ctx, kred, 1, &g1, &l1, climp_arg_view(dbias), climp_arg_view(dbias),
                               climp_arg_view(part), climp_arg_i32(P), climp_arg_i32(Cout),
                               climp_arg_i32(Cout)));
    }

    for (int b0 = 0; b0 < B; b0 += (int)nb) {
        int n = B - b0 < (int)nb ? B - b0 : (int)nb;
        climp_tview col = climp_view_sub(scratch, red, (size_t)n * col1);
        climp_tview xc = climp_view_sub(x, (size_t)b0 * H * W * Cin, (size_t)n * H * W * Cin);
        climp_tview dyc = climp_view_sub(dy, (size_t)b0 * M1 * Cout, (size_t)n * M1 * Cout);
        CLIMP_TRY(launch_im2col(ctx, vw, col, xc, n, H, W, Cin));
        /* dw (Cout, Kc) += dy^T (Cout, n*M1) * col (n*M1, Kc); dy stored (n*M1, Cout) */
        climp_gemm_desc gw = {1, 0, Cout, Kc, n * M1, 1.0f, 1.0f, Cout, Kc, Kc, 1, 0, 0, 0};
        CLIMP_TRY(climp_gemm(ctx, &gw, dyc, col, dw));
        if (!has_dx)
            continue;
        /* dcol (n*M1, Kc) = dy (n*M1, Cout) * w (Cout, Kc), into the same scratch as col */
        climp_gemm_desc gx = {0, 0, n * M1, Kc, Cout, 1.0f, 0.0f, Cout, Kc, Kc, 1, 0, 0, 0};
        CLIMP_TRY(climp_gemm(ctx, &gx, dyc, w, col));
        climp_tview dxc = climp_view_sub(dx, (size_t)b0 * H * W * Cin, (size_t)n * H * W * Cin);
        CLIMP_TRY(launch_col2im(ctx, vw, dxc, col, n, H, W, Cin));
    }
    return CLIMP_OK;
}
