/* Host launchers of embedding, L2 normalisation and symmetric InfoNCE (model/embed_loss.h,
 * cl_kernels/embed_loss.cl, or the single work-item kernels of cl_kernels/embed_loss_fpga.cl when
 * climp_ctx_variant() is "fpga"): check every argument, then enqueue; nothing is enqueued when a
 * check fails. InfoNCE uses climp_gemm for S = img txt^T and for dimg / dtxt. */
#include "model/embed_loss.h"
#include "model/conv_util.h" /* cu_fpga */

#include <stdio.h>

#include "model/eltwise.h"

#define SRC "embed_loss"
#define FPGA_SRC "embed_loss_fpga"

static climp_status dims_check(climp_ctx *ctx, int a, int b, const char *op) {
    if (!ctx)
        return CLIMP_ERR_INVALID_ARG;
    if (a <= 0 || b <= 0) {
        climp_error_set("%s: sizes %d and %d must be > 0", op, a, b);
        return CLIMP_ERR_SHAPE;
    }
    return CLIMP_OK;
}

/* The program for rows of width D; flat kernels share it. The one device decision here.
 * WG lanes per row (l2norm): 1 on CPUs (as in model/norm.c), else a power of two near D/4 in
 * 32..256. *vw columns per embedding work-item: on CPUs the widest of 8, 4 dividing D, else 1. */
static climp_status kernel_for(climp_ctx *ctx, int D, const char *kname, climp_kernel **k, int *wg,
                               int *vw) {
    int w = 32, v = 1;
    while (w < 256 && w * 4 < D)
        w *= 2;
    if (climp_ops_cpu_style(ctx)) {
        w = 1;
        v = D % 8 == 0 ? 8 : D % 4 == 0 ? 4 : 1;
    }
    *wg = (int)climp_flat_lws(ctx, (size_t)w);
    if (vw)
        *vw = v;
    char defs[32];
    snprintf(defs, sizeof defs, "WG=%d", *wg);
    return climp_kernel_get(ctx, SRC, defs, kname, k);
}

static climp_status launch_1d(climp_ctx *ctx, const char *kname, size_t items, int nargs,
                              const climp_karg *args) {
    climp_kernel *k = NULL;
    int wg = 0;
    CLIMP_TRY(kernel_for(ctx, 1, kname, &k, &wg, NULL));
    size_t lws = climp_flat_lws(ctx, 64), gws = climp_round_up(items, lws);
    return climp_launch(ctx, k, 1, &gws, &lws, nargs, args);
}

/* ------------------------------------------------------------------ embedding */
climp_status climp_embedding_check_ids(const int32_t *ids, int n, int V) {
    if (!ids || n < 0 || V <= 0)
        return CLIMP_ERR_INVALID_ARG;
    for (int i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= V) {
            climp_error_set("token id %d at position %d is outside the vocabulary [0, %d)",
                            (int)ids[i], i, V);
            return CLIMP_ERR_INVALID_ARG;
        }
    return CLIMP_OK;
}

climp_status climp_embedding_forward(climp_ctx *ctx, climp_tview out, climp_tview ids,
                                     climp_tview table, climp_tview bad, int n, int V, int D) {
    CLIMP_TRY(dims_check(ctx, n, D, "embedding"));
    if (V <= 0)
        return CLIMP_ERR_SHAPE;
    CLIMP_TRY(climp_view_check(out, (size_t)n * (size_t)D, "embedding out"));
    CLIMP_TRY(climp_view_check(ids, (size_t)n, "embedding ids"));
    CLIMP_TRY(climp_view_check(table, (size_t)V * (size_t)D, "embedding table"));
    int has_bad = bad.buf != NULL;
    if (has_bad)
        CLIMP_TRY(climp_view_check(bad, 1, "embedding bad-id flag"));
    if (cu_fpga(ctx))
        return CLIMP_OPS_LAUNCH_SWI(ctx, FPGA_SRC, "embed_fwd_swi", climp_arg_view(out),
                                    climp_arg_view(ids), climp_arg_view(table),
                                    climp_arg_view(has_bad ? bad : out), climp_arg_i32(has_bad),
                                    climp_arg_i32(n), climp_arg_i32(V), climp_arg_i32(D));
    climp_kernel *k = NULL;
    int wg = 0, vw = 1;
    CLIMP_TRY(kernel_for(ctx, D, "embed_fwd", &k, &wg, &vw));
    climp_karg a[] = {climp_arg_view(out),    climp_arg_view(ids),
                      climp_arg_view(table),  climp_arg_view(has_bad ? bad : out),
                      climp_arg_i32(has_bad), climp_arg_i32(n),
                      climp_arg_i32(V),       climp_arg_i32(D),
                      climp_arg_i32(vw)};
    size_t lx = climp_flat_lws(ctx, 64);
    size_t lws[2] = {lx, 1}, gws[2] = {climp_round_up((size_t)(D / vw), lx), (size_t)n};
    if (climp_ops_cpu_style(ctx)) { /* one work-item per row */
        lws[0] = 1, lws[1] = lx;
        gws[0] = 1, gws[1] = climp_round_up((size_t)n, lx);
    }
    return climp_launch(ctx, k, 2, gws, lws, 9, a);
}

climp_status climp_embedding_backward(climp_ctx *ctx, climp_tview dtable, climp_tview dout,
                                      climp_tview ids, int n, int V, int D) {
    CLIMP_TRY(dims_check(ctx, n, D, "embedding backward"));
    if (V <= 0)
        return CLIMP_ERR_SHAPE;
    CLIMP_TRY(climp_view_check(dtable, (size_t)V * (size_t)D, "embedding dtable"));
    CLIMP_TRY(climp_view_check(dout, (size_t)n * (size_t)D, "embedding dout"));
    CLIMP_TRY(climp_view_check(ids, (size_t)n, "embedding ids"));
    if (cu_fpga(ctx))
        return CLIMP_OPS_LAUNCH_SWI(ctx, FPGA_SRC, "embed_bwd_swi", climp_arg_view(dtable),
                                    climp_arg_view(dout), climp_arg_view(ids), climp_arg_i32(n),
                                    climp_arg_i32(V), climp_arg_i32(D));
    climp_kernel *k = NULL;
    int wg = 0, vw = 1;
    CLIMP_TRY(kernel_for(ctx, D, "embed_bwd", &k, &wg, &vw));
    climp_karg a[] = {climp_arg_view(dtable), climp_arg_view(dout), climp_arg_view(ids),
                      climp_arg_i32(n),       climp_arg_i32(V),     climp_arg_i32(D),
                      climp_arg_i32(vw)};
    size_t lws = climp_flat_lws(ctx, 64), gws = climp_round_up((size_t)(D / vw), lws);
    return climp_launch(ctx, k, 1, &gws, &lws, 7, a);
}

/* ------------------------------------------------------------------ L2 normalise */
climp_status climp_l2norm_forward(climp_ctx *ctx, climp_tview out, climp_tview norm,
                                  climp_tview inp, int n, int D) {
    CLIMP_TRY(dims_check(ctx, n, D, "l2norm"));
    CLIMP_TRY(climp_view_check(out, (size_t)n * (size_t)D, "l2norm out"));
    CLIMP_TRY(climp_view_check(norm, (size_t)n, "l2norm norm"));
    CLIMP_TRY(climp_view_check(inp, (size_t)n * (size_t)D, "l2norm inp"));
    if (cu_fpga(ctx))
        return CLIMP_OPS_LAUNCH_SWI(ctx, FPGA_SRC, "l2norm_fwd_swi", climp_arg_view(out),
                                    climp_arg_view(norm), climp_arg_view(inp), climp_arg_i32(n),
                                    climp_arg_i32(D));
    climp_kernel *k = NULL;
    int wg = 0;
    CLIMP_TRY(kernel_for(ctx, D, "l2norm_fwd", &k, &wg, NULL));
    climp_karg a[] = {climp_arg_view(out), climp_arg_view(norm), climp_arg_view(inp),
                      climp_arg_i32(n), climp_arg_i32(D)};
    size_t lws = (size_t)wg, gws = (size_t)n * lws;
    return climp_launch(ctx, k, 1, &gws, &lws, 5, a);
}

climp_status climp_l2norm_backward(climp_ctx *ctx, climp_tview dinp, climp_tview dout,
                                   climp_tview out, climp_tview norm, int n, int D) {
    CLIMP_TRY(dims_check(ctx, n, D, "l2norm backward"));
    size_t nd = (size_t)n * (size_t)D;
    CLIMP_TRY(climp_view_check(dinp, nd, "l2norm dinp"));
    CLIMP_TRY(climp_view_check(dout, nd, "l2norm dout"));
    CLIMP_TRY(climp_view_check(out, nd, "l2norm out"));
    CLIMP_TRY(climp_view_check(norm, (size_t)n, "l2norm norm"));
    if (cu_fpga(ctx))
        return CLIMP_OPS_LAUNCH_SWI(ctx, FPGA_SRC, "l2norm_bwd_swi", climp_arg_view(dinp),
                                    climp_arg_view(dout), climp_arg_view(out), climp_arg_view(norm),
                                    climp_arg_i32(n), climp_arg_i32(D));
    climp_kernel *k = NULL;
    int wg = 0;
    CLIMP_TRY(kernel_for(ctx, D, "l2norm_bwd", &k, &wg, NULL));
    climp_karg a[] = {climp_arg_view(dinp), climp_arg_view(dout), climp_arg_view(out),
                      climp_arg_view(norm), climp_arg_i32(n),     climp_arg_i32(D)};
    size_t lws = (size_t)wg, gws = (size_t)n * lws;
    return climp_launch(ctx, k, 1, &gws, &lws, 6, a);
}

/* ------------------------------------------------------------------ symmetric InfoNCE */
size_t climp_infonce_work_floats(int N) {
    if (N <= 0)
        return 0;
    return 2 * (size_t)N * (size_t)N + 3 * (size_t)N;
}

/* Parts of `work`. */
typedef struct {
    climp_tview S, G, lse_row, lse_col, part;
} infonce_work;

static infonce_work work_split(climp_tview w, int N) {
    size_t NN = (size_t)N * (size_t)N;
    infonce_work p;
    p.S = climp_view_sub(w, 0, NN);
    p.G = climp_view_sub(w, NN, NN);
    p.lse_row = climp_view_sub(w, 2 * NN, (size_t)N);
    p.lse_col = climp_view_sub(w, 2 * NN + (size_t)N, (size_t)N);
    p.part = climp_view_sub(w, 2 * NN + 2 * (size_t)N, (size_t)N);
    return p;
}

static climp_status infonce_check(climp_ctx *ctx, climp_tview work, climp_tview img,
                                  climp_tview txt, climp_tview logit_scale, int N, int D) {
    CLIMP_TRY(dims_check(ctx, N, D, "infonce"));
    if (N > 46340) { /* N*N must fit an int for the GEMM */
        climp_error_set("infonce: batch %d too large", N);
        return CLIMP_ERR_SHAPE;
    }
    CLIMP_TRY(climp_view_check(work, climp_infonce_work_floats(N), "infonce work"));
    CLIMP_TRY(climp_view_check(img, (size_t)N * (size_t)D, "infonce img"));
    CLIMP_TRY(climp_view_check(txt, (size_t)N * (size_t)D, "infonce txt"));
    return climp_view_check(logit_scale, 1, "infonce logit_scale");
}

climp_status climp_infonce_forward(climp_ctx *ctx, climp_tview loss, float *loss_host,
                                   climp_tview work, climp_tview img, climp_tview txt,
                                   climp_tview logit_scale, int N, int D) {
    CLIMP_TRY(infonce_check(ctx, work, img, txt, logit_scale, N, D));
    CLIMP_TRY(climp_view_check(loss, 1, "infonce loss"));
    infonce_work w = work_split(work, N);
    climp_gemm_desc g = {0};
    g.trans_b = 1;
    g.M = N;
    g.N = N;
    g.K = D;
    g.alpha = 1.0f;
    g.lda = D;
    g.ldb = D;
    g.ldc = N;
    g.batch = 1;
    CLIMP_TRY(climp_gemm(ctx, &g, img, txt, w.S));
    if (cu_fpga(ctx)) {
        CLIMP_TRY(CLIMP_OPS_LAUNCH_SWI(ctx, FPGA_SRC, "infonce_fwd_swi", climp_arg_view(loss),
                                       climp_arg_view(w.lse_row), climp_arg_view(w.lse_col),
                                       climp_arg_view(w.S), climp_arg_view(logit_scale),
                                       climp_arg_i32(N)));
        if (loss_host)
            CLIMP_TRY(climp_view_read(ctx, loss, loss_host, 1));
        return CLIMP_OK;
    }
    climp_karg r[] = {climp_arg_view(w.lse_row), climp_arg_view(w.S), climp_arg_view(logit_scale),
                      climp_arg_i32(N)};
    CLIMP_TRY(launch_1d(ctx, "infonce_lse_rows", (size_t)N, 4, r));
    climp_karg c[] = {climp_arg_view(w.lse_col), climp_arg_view(w.S), climp_arg_view(logit_scale),
                      climp_arg_i32(N)};
    CLIMP_TRY(launch_1d(ctx, "infonce_lse_cols", (size_t)N, 4, c));
    climp_karg l[] = {climp_arg_view(loss),        climp_arg_view(w.S),
                      climp_arg_view(w.lse_row),   climp_arg_view(w.lse_col),
                      climp_arg_view(logit_scale), climp_arg_i32(N)};
    CLIMP_TRY(launch_1d(ctx, "infonce_loss", 1, 6, l));
    if (loss_host)
        CLIMP_TRY(climp_view_read(ctx, loss, loss_host, 1));
    return CLIMP_OK;
}

/* NDRange backward of the loss part: G (= s dM) and part per row, then dlogit_scale. */
static climp_status infonce_bwd_ndrange(climp_ctx *ctx, const infonce_work *w,
                                        climp_tview dlogit_scale, climp_tview logit_scale,
                                        float loss_scale, int N) {
    climp_karg r[] = {climp_arg_view(w->G),       climp_arg_view(w->part),
                      climp_arg_view(w->S),       climp_arg_view(w->lse_row),
                      climp_arg_view(w->lse_col), climp_arg_view(logit_scale),
                      climp_arg_f32(loss_scale),  climp_arg_i32(N)};
    CLIMP_TRY(launch_1d(ctx, "infonce_bwd_rows", (size_t)N, 8, r));
    climp_karg s[] = {climp_arg_view(dlogit_scale), climp_arg_view(w->part), climp_arg_i32(N)};
    return launch_1d(ctx, "infonce_bwd_scale", 1, 3, s);
}

climp_status climp_infonce_backward(climp_ctx *ctx, climp_tview dimg, climp_tview dtxt,
                                    climp_tview dlogit_scale, climp_tview work, climp_tview img,
                                    climp_tview txt, climp_tview logit_scale, float loss_scale,
                                    int N, int D) {
    CLIMP_TRY(infonce_check(ctx, work, img, txt, logit_scale, N, D));
    CLIMP_TRY(climp_view_check(dimg, (size_t)N * (size_t)D, "infonce dimg"));
    CLIMP_TRY(climp_view_check(dtxt, (size_t)N * (size_t)D, "infonce dtxt"));
    CLIMP_TRY(climp_view_check(dlogit_scale, 1, "infonce dlogit_scale"));
    size_t n = (size_t)N * (size_t)D, nw = climp_infonce_work_floats(N);
    if (climp_views_overlap(dimg, n, img, n) || climp_views_overlap(dimg, n, txt, n) ||
        climp_views_overlap(dimg, n, work, nw) || climp_views_overlap(dtxt, n, img, n) ||
        climp_views_overlap(dtxt, n, txt, n) || climp_views_overlap(dtxt, n, work, nw) ||
        climp_views_overlap(dtxt, n, dimg, n)) {
        climp_error_set("infonce: dimg / dtxt overlap each other, img, txt or work");
        return CLIMP_ERR_INVALID_ARG;
    }
    infonce_work w = work_split(work, N);
    if (cu_fpga(ctx))
        CLIMP_TRY(CLIMP_OPS_LAUNCH_SWI(
            ctx, FPGA_SRC, "infonce_bwd_swi", climp_arg_view(w.G), climp_arg_view(dlogit_scale),
            climp_arg_view(w.S), climp_arg_view(w.lse_row), climp_arg_view(w.lse_col),
            climp_arg_view(logit_scale), climp_arg_f32(loss_scale), climp_arg_i32(N)));
    else
        CLIMP_TRY(infonce_bwd_ndrange(ctx, &w, dlogit_scale, logit_scale, loss_scale, N));
    /* dimg = G txt, G (N, N) already holds s dM */
    climp_gemm_desc g = {0};
    g.M = N;
    g.N = D;
    g.K = N;
    g.alpha = 1.0f;
    g.lda = N;
    g.ldb = D;
    g.ldc = D;
    g.batch = 1;
    CLIMP_TRY(climp_gemm(ctx, &g, w.G, txt, dimg));
    /* dtxt = G^T img */
    g.trans_a = 1;
    return climp_gemm(ctx, &g, w.G, img, dtxt);
}
