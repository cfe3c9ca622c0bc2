/* VMamba vision tower (released v2 models: patch-embed v2, VSS blocks with SS2D v05_noz, MLP,
 * downsample v3, classifier LayerNorm, average pool) plus the vision projection and L2
 * normalisation, forward and backward. architecture.md §4. Activations are channel-last.
 *
 * Legend: B images, H x W input, Hs x Ws grid of a stage (L = Hs*Ws tokens), C stage width,
 * E = ssm_ratio*C inner width, R dt rank, N d_state, K = 4 scan directions, M MLP hidden width,
 * Ed embedding width. */
#define _POSIX_C_SOURCE 200809L
#include "model/conv.h"
#include "model/crossscan.h"
#include "model/eltwise.h"
#include "model/embed_loss.h"
#include "model/model_internal.h"
#include "model/norm.h"
#include "model/scan.h"

#include <string.h>

#define VP "vision_encoder"

static climp_status ln_fwd(climp_model *m, climp_tview out, climp_tview *mean, climp_tview *rstd,
                           climp_tview x, climp_tview w, climp_tview b, int rows, int C) {
    CLIMP_TRY(mdl_alloc(m, rows, mean));
    CLIMP_TRY(mdl_alloc(m, rows, rstd));
    RUN(m, climp_layernorm_forward(m->ctx, out, *mean, *rstd, x, w, b, rows, C));
    return CLIMP_OK;
}

/* dx (=|+=) LN backward; dw, db +=. When accumulate, dx += result (via a temporary). */
static climp_status ln_bwd(climp_model *m, climp_tview dx, int accumulate, climp_tview dw,
                           climp_tview db, climp_tview dout, climp_tview x, climp_tview w,
                           climp_tview mean, climp_tview rstd, int rows, int C) {
    size_t mk = climp_arena_mark(m->arena);
    climp_tview scratch, tmp = dx;
    CLIMP_TRY(mdl_alloc(m, climp_layernorm_scratch_floats(rows, C), &scratch));
    if (accumulate) CLIMP_TRY(mdl_alloc(m, (size_t)rows * C, &tmp));
    RUN(m, climp_layernorm_backward(m->ctx, tmp, dw, db, scratch, dout, x, w, mean, rstd, rows,
                                    C));
    if (accumulate) RUN(m, climp_accumulate(m->ctx, dx, tmp, 1.0f, (size_t)rows * C));
    climp_arena_reset(m->arena, mk);
    return CLIMP_OK;
}

static climp_status conv_fwd(climp_model *m, climp_tview y, climp_tview x, climp_tview w,
                             climp_tview b, int B, int H, int W, int Ci, int Co) {
    size_t mk = climp_arena_mark(m->arena);
    climp_tview scratch;
    CLIMP_TRY(mdl_alloc(m, climp_conv3x3s2_scratch_floats(B, B, H, W, Ci, Co), &scratch));
    RUN(m, climp_conv3x3s2_forward(m->ctx, y, x, w, b, scratch, B, H, W, Ci, Co));
    climp_arena_reset(m->arena, mk);
    return CLIMP_OK;
}

static climp_status conv_bwd(climp_model *m, climp_tview dx, climp_tview dw, climp_tview db,
                             climp_tview dy, climp_tview x, climp_tview w, int B, int H, int W,
                             int Ci, int Co) {
    size_t mk = climp_arena_mark(m->arena);
    climp_tview scratch;
    CLIMP_TRY(mdl_alloc(m, climp_conv3x3s2_scratch_floats(B, B, H, W, Ci, Co), &scratch));
    RUN(m, climp_conv3x3s2_backward(m->ctx, dx, dw, db, dy, x, w, scratch, B, H, W, Ci, Co));
    climp_arena_reset(m->arena, mk);
    return CLIMP_OK;
}

static climp_scan_shape ss2d_scan_shape(int B, int L, int E, int R, int N) {
    climp_scan_shape s;
    memset(&s, 0, sizeof(s));
    s.B = B;
    s.L = L;
    s.Dc = 4 * E;
    s.N = N;
    s.G = 4;
    s.ld_u = s.ld_dt = s.ld_out = 4 * E;
    s.ld_z = 4 * E;
    s.bc_stride_l = (size_t)4 * (R + 2 * N);
    s.bc_stride_b = s.bc_stride_l * L;
    s.bc_stride_g = (size_t)(R + 2 * N);
    return s;
}

/* Per-direction projections: a batch of 4 GEMMs over the (B, L, 4, .) layouts. */
static climp_status dir_gemm(climp_model *m, int ta, int tb, int M, int N, int K, float beta,
                             climp_tview A, int lda, size_t sa, climp_tview Bv, int ldb, size_t sb,
                             climp_tview Cv, int ldc, size_t sc) {
    climp_gemm_desc d = {ta, tb, M, N, K, 1.0f, beta, lda, ldb, ldc, 4, sa, sb, sc};
    RUN(m, climp_gemm(m->ctx, &d, A, Bv, Cv));
    return CLIMP_OK;
}

static climp_status vss_forward(climp_model *m, vss_tape *t, climp_tview x, int stage, int j,
                                int B, int Hs, int Ws) {
    const climp_vision_config *v = &m->cfg.vision;
    int C = climp_vision_stage_dim(v, stage), E = climp_vision_inner(v, stage);
    int R = climp_vision_dt_rank(v, stage), N = v->d_state, Mh = (int)(v->mlp_ratio * C);
    int L = Hs * Ws, rows = B * L, XD = R + 2 * N;
    char b[96];
    snprintf(b, sizeof(b), VP ".layers.%d.blocks.%d", stage, j);
    size_t blk_mark = climp_arena_mark(m->arena);
    t->x = x;
    CLIMP_TRY(mdl_alloc(m, (size_t)rows * C, &t->n1));
    CLIMP_TRY(ln_fwd(m, t->n1, &t->m1, &t->r1, x, mdl_p(m, "%s.norm.weight", b),
                     mdl_p(m, "%s.norm.bias", b), rows, C));
    CLIMP_TRY(mdl_alloc(m, (size_t)rows * E, &t->xe));
    CLIMP_TRY(mdl_linear_fwd(m, t->xe, t->n1, C, mdl_p(m, "%s.op.in_proj.weight", b),
                             (climp_tview){0}, rows, E, C, 0.0f));
    CLIMP_TRY(mdl_alloc(m, (size_t)rows * E, &t->xc));
    RUN(m, climp_dwconv3x3_forward(m->ctx, t->xc, t->xe, mdl_p(m, "%s.op.conv2d.weight", b), B,
                                   Hs, Ws, E));
    CLIMP_TRY(mdl_alloc(m, (size_t)rows * 4 * E, &t->xs));
    size_t mk = climp_arena_mark(m->arena);
    climp_tview su;
    CLIMP_TRY(mdl_alloc(m, (size_t)rows * E, &su));
    RUN(m, climp_silu_forward(m->ctx, su, t->xc, (size_t)rows * E));
    RUN(m, climp_cross_scan_forward(m->ctx, t->xs, su, B, Hs, Ws, E));
    climp_arena_reset(m->arena, mk);
    CLIMP_TRY(mdl_alloc(m, (size_t)rows * 4 * XD, &t->xdbl));
    CLIMP_TRY(dir_gemm(m, 0, 1, rows, XD, E, 0.0f, t->xs, 4 * E, E,
                       mdl_p(m, "%s.op.x_proj_weight", b), E, (size_t)XD * E, t->xdbl, 4 * XD,
                       XD));
    CLIMP_TRY(mdl_alloc(m, (size_t)rows * 4 * E, &t->dt));
    CLIMP_TRY(dir_gemm(m, 0, 1, rows, E, R, 0.0f, t->xdbl, 4 * XD, XD,
                       mdl_p(m, "%s.op.dt_projs_weight", b), R, (size_t)E * R, t->dt, 4 * E, E));
    climp_scan_shape ss = ss2d_scan_shape(B, L, E, R, N);
    CLIMP_TRY(mdl_alloc(m, climp_scan_states_size(&ss), &t->states));
    CLIMP_TRY(mdl_alloc(m, (size_t)rows * E, &t->y));
    mk = climp_arena_mark(m->arena);
    climp_tview ys;
    CLIMP_TRY(mdl_alloc(m, (size_t)rows * 4 * E, &ys));
    RUN(m, climp_scan_forward(m->ctx, &ss, t->xs, t->dt, mdl_p(m, "%s.op.A_logs", b),
                              climp_view_sub(t->xdbl, R, t->xdbl.n - R),
                              climp_view_sub(t->xdbl, R + N, t->xdbl.n - R - N),
                              mdl_p(m, "%s.op.Ds", b), mdl_p(m, "%s.op.dt_projs_bias", b),
                              (climp_tview){0}, ys, t->states));
    RUN(m, climp_cross_merge_forward(m->ctx, t->y, ys, B, Hs, Ws, E));
    climp_arena_reset(m->arena, mk);
    CLIMP_TRY(mdl_alloc(m, (size_t)rows * E, &t->yn));
    CLIMP_TRY(ln_fwd(m, t->yn, &t->m2, &t->r2, t->y, mdl_p(m, "%s.op.out_norm.weight", b),
                     mdl_p(m, "%s.op.out_norm.bias", b), rows, E));
    /* x2 = x + out_proj(yn): copy x, then GEMM with beta = 1. */
    if (m->training) {
        CLIMP_TRY(mdl_alloc(m, (size_t)rows * C, &t->x2));
        RUN(m, climp_buffer_copy(m->ctx, x.buf, x.off * 4, t->x2.buf, t->x2.off * 4,
                                 (size_t)rows * C * 4));
    } else {
        t->x2 = x; /* inference: update the stream in place */
    }
    CLIMP_TRY(mdl_linear_fwd(m, t->x2, t->yn, E, mdl_p(m, "%s.op.out_proj.weight", b),
                             (climp_tview){0}, rows, C, E, 1.0f));
    CLIMP_TRY(mdl_alloc(m, (size_t)rows * C, &t->n2));
    CLIMP_TRY(ln_fwd(m, t->n2, &t->m3, &t->r3, t->x2, mdl_p(m, "%s.norm2.weight", b),
                     mdl_p(m, "%s.norm2.bias", b), rows, C));
    CLIMP_TRY(mdl_alloc(m, (size_t)rows * Mh, &t->h));
    CLIMP_TRY(mdl_linear_fwd(m, t->h, t->n2, C, mdl_p(m, "%s.mlp.fc1.weight", b),
                             mdl_p(m, "%s.mlp.fc1.bias", b), rows, Mh, C, 0.0f));
    CLIMP_TRY(mdl_alloc(m, (size_t)rows * Mh, &t->g));
    RUN(m, climp_gelu_forward(m->ctx, t->g, t->h, (size_t)rows * Mh));
    if (m->training) {
        CLIMP_TRY(mdl_alloc(m, (size_t)rows * C, &t->out));
        RUN(m, climp_buffer_copy(m->ctx, t->x2.buf, t->x2.off * 4, t->out.buf, t->out.off * 4,
                                 (size_t)rows * C * 4));
    } else {
        t->out = x;
    }
    CLIMP_TRY(mdl_linear_fwd(m, t->out, t->g, Mh, mdl_p(m, "%s.mlp.fc2.weight", b),
                             mdl_p(m, "%s.mlp.fc2.bias", b), rows, C, Mh, 1.0f));
    if (!m->training) climp_arena_reset(m->arena, blk_mark);
    return CLIMP_OK;
}

/* dx = d(block)/dx given dout (both (B, L, C)); parameter gradients +=. */
static climp_status vss_backward(climp_model *m, vss_tape *t, climp_tview dx, climp_tview dout,
                                 int stage, int j, int B, int Hs, int Ws) {
    const climp_vision_config *v = &m->cfg.vision;
    int C = climp_vision_stage_dim(v, stage), E = climp_vision_inner(v, stage);
    int R = climp_vision_dt_rank(v, stage), N = v->d_state, Mh = (int)(v->mlp_ratio * C);
    int L = Hs * Ws, rows = B * L, XD = R + 2 * N;
    char b[96];
    snprintf(b, sizeof(b), VP ".layers.%d.blocks.%d", stage, j);
    size_t mk = climp_arena_mark(m->arena);
    climp_tview dx2, dg, dh, dn, dE1, dE2, dys, dxs, ddt, dxdbl, scratch;
    /* MLP: out = x2 + fc2(gelu(fc1(norm2(x2)))) */
    CLIMP_TRY(mdl_alloc(m, (size_t)rows * C, &dx2));
    RUN(m, climp_buffer_copy(m->ctx, dout.buf, dout.off * 4, dx2.buf, dx2.off * 4,
                             (size_t)rows * C * 4));
    CLIMP_TRY(mdl_alloc(m, (size_t)rows * Mh, &dg));
    CLIMP_TRY(mdl_linear_bwd(m, dg, Mh, 0.0f, mdl_g(m, "%s.mlp.fc2.weight", b),
                             mdl_g(m, "%s.mlp.fc2.bias", b), dout, t->g, Mh,
                             mdl_p(m, "%s.mlp.fc2.weight", b), rows, C, Mh));
    CLIMP_TRY(mdl_alloc(m, (size_t)rows * Mh, &dh));
    RUN(m, climp_gelu_backward(m->ctx, dh, dg, t->h, (size_t)rows * Mh));
    CLIMP_TRY(mdl_alloc(m, (size_t)rows * C, &dn));
    CLIMP_TRY(mdl_linear_bwd(m, dn, C, 0.0f, mdl_g(m, "%s.mlp.fc1.weight", b),
                             mdl_g(m, "%s.mlp.fc1.bias", b), dh, t->n2, C,
                             mdl_p(m, "%s.mlp.fc1.weight", b), rows, Mh, C));
    CLIMP_TRY(ln_bwd(m, dx2, 1, mdl_g(m, "%s.norm2.weight", b), mdl_g(m, "%s.norm2.bias", b), dn,
                     t->x2, mdl_p(m, "%s.norm2.weight", b), t->m3, t->r3, rows, C));
    /* SS2D: x2 = x + out_proj(out_norm(merge(scan(...)))) */
    CLIMP_TRY(mdl_alloc(m, (size_t)rows * E, &dE1));
    CLIMP_TRY(mdl_linear_bwd(m, dE1, E, 0.0f, mdl_g(m, "%s.op.out_proj.weight", b),
                             (climp_tview){0}, dx2, t->yn, E, mdl_p(m, "%s.op.out_proj.weight", b),
                             rows, C, E));
    CLIMP_TRY(mdl_alloc(m, (size_t)rows * E, &dE2));
    CLIMP_TRY(ln_bwd(m, dE2, 0, mdl_g(m, "%s.op.out_norm.weight", b),
                     mdl_g(m, "%s.op.out_norm.bias", b), dE1, t->y,
                     mdl_p(m, "%s.op.out_norm.weight", b), t->m2, t->r2, rows, E));
    CLIMP_TRY(mdl_alloc(m, (size_t)rows * 4 * E, &dys));
    RUN(m, climp_cross_merge_backward(m->ctx, dys, dE2, B, Hs, Ws, E));
    climp_scan_shape ss = ss2d_scan_shape(B, L, E, R, N);
    CLIMP_TRY(mdl_alloc(m, (size_t)rows * 4 * E, &dxs));
    CLIMP_TRY(mdl_alloc(m, (size_t)rows * 4 * E, &ddt));
    CLIMP_TRY(mdl_alloc(m, (size_t)rows * 4 * XD, &dxdbl));
    CLIMP_TRY(mdl_alloc(m, climp_scan_bwd_scratch_size(&ss), &scratch));
    RUN(m, climp_scan_backward(m->ctx, &ss, t->xs, t->dt, mdl_p(m, "%s.op.A_logs", b),
                               climp_view_sub(t->xdbl, R, t->xdbl.n - R),
                               climp_view_sub(t->xdbl, R + N, t->xdbl.n - R - N),
                               mdl_p(m, "%s.op.Ds", b), mdl_p(m, "%s.op.dt_projs_bias", b),
                               (climp_tview){0}, t->states, dys, scratch, dxs, ddt,
                               mdl_g(m, "%s.op.A_logs", b),
                               climp_view_sub(dxdbl, R, dxdbl.n - R),
                               climp_view_sub(dxdbl, R + N, dxdbl.n - R - N),
                               mdl_g(m, "%s.op.Ds", b), mdl_g(m, "%s.op.dt_projs_bias", b),
                               (climp_tview){0}));
    /* dt_proj per direction: d dts_in = ddt W_k; dW_k += ddt^T dts_in. */
    CLIMP_TRY(dir_gemm(m, 0, 0, rows, R, E, 0.0f, ddt, 4 * E, E,
                       mdl_p(m, "%s.op.dt_projs_weight", b), R, (size_t)E * R, dxdbl, 4 * XD, XD));
    CLIMP_TRY(dir_gemm(m, 1, 0, E, R, rows, 1.0f, ddt, 4 * E, E, t->xdbl, 4 * XD, XD,
                       mdl_g(m, "%s.op.dt_projs_weight", b), R, (size_t)E * R));
    /* x_proj per direction: dxs += dxdbl_k W_k; dW_k += dxdbl_k^T xs_k. */
    CLIMP_TRY(dir_gemm(m, 0, 0, rows, E, XD, 1.0f, dxdbl, 4 * XD, XD,
                       mdl_p(m, "%s.op.x_proj_weight", b), E, (size_t)XD * E, dxs, 4 * E, E));
    CLIMP_TRY(dir_gemm(m, 1, 0, XD, E, rows, 1.0f, dxdbl, 4 * XD, XD, t->xs, 4 * E, E,
                       mdl_g(m, "%s.op.x_proj_weight", b), E, (size_t)XD * E));
    /* cross-scan, silu, depthwise conv, in_proj, norm. dE1/dE2 are reused as (B, L, E). */
    RUN(m, climp_cross_scan_backward(m->ctx, dE1, dxs, B, Hs, Ws, E));
    RUN(m, climp_silu_backward(m->ctx, dE2, dE1, t->xc, (size_t)rows * E));
    climp_tview dws;
    CLIMP_TRY(mdl_alloc(m, climp_dwconv3x3_scratch_floats(B, Hs, Ws, E), &dws));
    RUN(m, climp_dwconv3x3_backward(m->ctx, dE1, mdl_g(m, "%s.op.conv2d.weight", b), dE2, t->xe,
                                    mdl_p(m, "%s.op.conv2d.weight", b), dws, B, Hs, Ws, E));
    CLIMP_TRY(mdl_linear_bwd(m, dn, C, 0.0f, mdl_g(m, "%s.op.in_proj.weight", b),
                             (climp_tview){0}, dE1, t->n1, C,
                             mdl_p(m, "%s.op.in_proj.weight", b), rows, E, C));
    RUN(m, climp_buffer_copy(m->ctx, dx2.buf, dx2.off * 4, dx.buf, dx.off * 4,
                             (size_t)rows * C * 4));
    CLIMP_TRY(ln_bwd(m, dx, 1, mdl_g(m, "%s.norm.weight", b), mdl_g(m, "%s.norm.bias", b), dn,
                     t->x, mdl_p(m, "%s.norm.weight", b), t->m1, t->r1, rows, C));
    climp_arena_reset(m->arena, mk);
    return CLIMP_OK;
}

static int stage_grid(int n, int stage) {
    n = climp_down2(climp_down2(n));
    for (int i = 0; i < stage; i++) n = climp_down2(n);
    return n;
}

climp_status mdl_vision_forward(climp_model *m, int B, int H, int W) {
    vision_tape *t = &m->vt;
    const climp_vision_config *v = &m->cfg.vision;
    int h = v->dims / 2, C0 = v->dims;
    int H1 = climp_down2(H), W1 = climp_down2(W), H2 = climp_down2(H1), W2 = climp_down2(W1);
    size_t r1 = (size_t)B * H1 * W1, r2 = (size_t)B * H2 * W2;
    t->B = B;
    t->H = H;
    t->W = W;
    /* Stem: conv s2 -> LN -> GELU -> conv s2 -> LN. */
    size_t mk = climp_arena_mark(m->arena);
    CLIMP_TRY(mdl_alloc(m, r1 * h, &t->a1));
    CLIMP_TRY(conv_fwd(m, t->a1, t->img, mdl_p(m, VP ".patch_embed.0.weight"),
                       mdl_p(m, VP ".patch_embed.0.bias"), B, H, W, 3, h));
    CLIMP_TRY(mdl_alloc(m, r1 * h, &t->a2));
    CLIMP_TRY(ln_fwd(m, t->a2, &t->m1, &t->r1, t->a1, mdl_p(m, VP ".patch_embed.2.weight"),
                     mdl_p(m, VP ".patch_embed.2.bias"), (int)r1, h));
    CLIMP_TRY(mdl_alloc(m, r1 * h, &t->a3));
    RUN(m, climp_gelu_forward(m->ctx, t->a3, t->a2, r1 * h));
    CLIMP_TRY(mdl_alloc(m, r2 * C0, &t->a4));
    CLIMP_TRY(conv_fwd(m, t->a4, t->a3, mdl_p(m, VP ".patch_embed.5.weight"),
                       mdl_p(m, VP ".patch_embed.5.bias"), B, H1, W1, h, C0));
    climp_tview a5;
    if (!m->training) {
        /* Inference: keep only the stem output; copy it below the released temporaries. */
        climp_tview tmp;
        CLIMP_TRY(mdl_alloc(m, r2 * C0, &tmp));
        CLIMP_TRY(ln_fwd(m, tmp, &t->m2, &t->r2, t->a4, mdl_p(m, VP ".patch_embed.7.weight"),
                         mdl_p(m, VP ".patch_embed.7.bias"), (int)r2, C0));
        climp_arena_reset(m->arena, mk);
        /* The stream is allocated at mk; tmp lies above a1..a4, so the copy cannot overlap. */
        CLIMP_TRY(mdl_alloc(m, r2 * C0, &a5));
        RUN(m, climp_buffer_copy(m->ctx, tmp.buf, tmp.off * 4, a5.buf, a5.off * 4, r2 * C0 * 4));
    } else {
        CLIMP_TRY(mdl_alloc(m, r2 * C0, &a5));
        CLIMP_TRY(ln_fwd(m, a5, &t->m2, &t->r2, t->a4, mdl_p(m, VP ".patch_embed.7.weight"),
                         mdl_p(m, VP ".patch_embed.7.bias"), (int)r2, C0));
    }
    t->a5 = a5;
    climp_tview x = a5;
    int bi = 0;
    for (int i = 0; i < v->n_stages; i++) {
        int Hs = stage_grid(H, i), Ws = stage_grid(W, i), C = climp_vision_stage_dim(v, i);
        for (int j = 0; j < v->depths[i]; j++, bi++) {
            if (m->recompute) {
                /* Keep the output only; the tape is rebuilt before the block's backward. */
                size_t rows = (size_t)B * Hs * Ws;
                climp_tview keep;
                CLIMP_TRY(mdl_alloc(m, rows * C, &keep));
                size_t bm = climp_arena_mark(m->arena);
                CLIMP_TRY(vss_forward(m, &t->blocks[bi], x, i, j, B, Hs, Ws));
                vss_tape *bt = &t->blocks[bi];
                RUN(m, climp_buffer_copy(m->ctx, bt->out.buf, bt->out.off * 4, keep.buf,
                                         keep.off * 4, rows * C * 4));
                climp_arena_reset(m->arena, bm);
                bt->out = keep;
            } else {
                CLIMP_TRY(vss_forward(m, &t->blocks[bi], x, i, j, B, Hs, Ws));
            }
            x = t->blocks[bi].out;
        }
        if (i + 1 < v->n_stages) {
            down_tape *d = &t->down[i];
            int Ho = climp_down2(Hs), Wo = climp_down2(Ws);
            size_t ro = (size_t)B * Ho * Wo;
            d->x = x;
            CLIMP_TRY(mdl_alloc(m, ro * 2 * C, &d->c));
            CLIMP_TRY(conv_fwd(m, d->c, x, mdl_p(m, VP ".layers.%d.downsample.1.weight", i),
                               mdl_p(m, VP ".layers.%d.downsample.1.bias", i), B, Hs, Ws, C,
                               2 * C));
            climp_tview o;
            CLIMP_TRY(mdl_alloc(m, ro * 2 * C, &o));
            CLIMP_TRY(ln_fwd(m, o, &d->m, &d->r, d->c,
                             mdl_p(m, VP ".layers.%d.downsample.3.weight", i),
                             mdl_p(m, VP ".layers.%d.downsample.3.bias", i), (int)ro, 2 * C));
            d->out = o;
            x = o;
        }
    }
    /* Head: LayerNorm, average pool, projection, L2 normalise. */
    int Hl = stage_grid(H, v->n_stages - 1), Wl = stage_grid(W, v->n_stages - 1);
    int Cl = climp_vision_out_dim(v), Ed = m->cfg.embed_dim, rl = B * Hl * Wl;
    t->fn = (climp_tview){0};
    CLIMP_TRY(mdl_alloc(m, (size_t)rl * Cl, &t->fn));
    CLIMP_TRY(ln_fwd(m, t->fn, &t->fm, &t->fr, x, mdl_p(m, VP ".classifier.norm.weight"),
                     mdl_p(m, VP ".classifier.norm.bias"), rl, Cl));
    t->head_in = x;
    CLIMP_TRY(mdl_alloc(m, (size_t)B * Cl, &t->pooled));
    RUN(m, climp_avgpool_forward(m->ctx, t->pooled, t->fn, B, Hl * Wl, Cl));
    CLIMP_TRY(mdl_alloc(m, (size_t)B * Ed, &t->proj));
    CLIMP_TRY(mdl_linear_fwd(m, t->proj, t->pooled, Cl, mdl_p(m, "vision_projection.weight"),
                             mdl_p(m, "vision_projection.bias"), B, Ed, Cl, 0.0f));
    CLIMP_TRY(mdl_alloc(m, (size_t)B, &t->norm));
    CLIMP_TRY(mdl_alloc(m, (size_t)B * Ed, &t->emb));
    RUN(m, climp_l2norm_forward(m->ctx, t->emb, t->norm, t->proj, B, Ed));
    return CLIMP_OK;
}

climp_status mdl_vision_backward(climp_model *m, climp_tview demb) {
    vision_tape *t = &m->vt;
    const climp_vision_config *v = &m->cfg.vision;
    int B = t->B, H = t->H, W = t->W, h = v->dims / 2, C0 = v->dims;
    int nS = v->n_stages, Hl = stage_grid(H, nS - 1), Wl = stage_grid(W, nS - 1);
    int Cl = climp_vision_out_dim(v), Ed = m->cfg.embed_dim, rl = B * Hl * Wl;
    int H1 = climp_down2(H), W1 = climp_down2(W), H2 = climp_down2(H1), W2 = climp_down2(W1);
    size_t r1 = (size_t)B * H1 * W1, r2 = (size_t)B * H2 * W2;
    size_t mk = climp_arena_mark(m->arena);
    /* Two ping-pong gradient streams sized for the largest activation. */
    size_t cap = r2 * C0;
    if (r1 * h > cap) cap = r1 * h;
    climp_tview s0, s1, dproj, dpool, tmp;
    CLIMP_TRY(mdl_alloc(m, cap, &s0));
    CLIMP_TRY(mdl_alloc(m, cap, &s1));
    CLIMP_TRY(mdl_alloc(m, (size_t)B * Ed, &dproj));
    RUN(m, climp_l2norm_backward(m->ctx, dproj, demb, t->emb, t->norm, B, Ed));
    CLIMP_TRY(mdl_alloc(m, (size_t)B * Cl, &dpool));
    CLIMP_TRY(mdl_linear_bwd(m, dpool, Cl, 0.0f, mdl_g(m, "vision_projection.weight"),
                             mdl_g(m, "vision_projection.bias"), dproj, t->pooled, Cl,
                             mdl_p(m, "vision_projection.weight"), B, Ed, Cl));
    CLIMP_TRY(mdl_alloc(m, (size_t)rl * Cl, &tmp));
    RUN(m, climp_avgpool_backward(m->ctx, tmp, dpool, B, Hl * Wl, Cl));
    int nb = 0;
    for (int i = 0; i < nS; i++) nb += v->depths[i];
    climp_tview head_in = t->head_in;
    climp_tview dcur = climp_view_sub(s0, 0, (size_t)rl * Cl), dnext;
    CLIMP_TRY(ln_bwd(m, dcur, 0, mdl_g(m, VP ".classifier.norm.weight"),
                     mdl_g(m, VP ".classifier.norm.bias"), tmp, head_in,
                     mdl_p(m, VP ".classifier.norm.weight"), t->fm, t->fr, rl, Cl));
    int flip = 1, bi = nb;
    for (int i = nS - 1; i >= 0; i--) {
        int Hs = stage_grid(H, i), Ws = stage_grid(W, i), C = climp_vision_stage_dim(v, i);
        size_t rs = (size_t)B * Hs * Ws;
        if (i + 1 < nS) {
            /* Downsample: out = LN(conv(x)); dcur is d out (B, Ho, Wo, 2C). */
            down_tape *d = &t->down[i];
            size_t ro = (size_t)B * climp_down2(Hs) * climp_down2(Ws);
            climp_tview dc;
            size_t dm = climp_arena_mark(m->arena);
            CLIMP_TRY(mdl_alloc(m, ro * 2 * C, &dc));
            CLIMP_TRY(ln_bwd(m, dc, 0, mdl_g(m, VP ".layers.%d.downsample.3.weight", i),
                             mdl_g(m, VP ".layers.%d.downsample.3.bias", i), dcur, d->c,
                             mdl_p(m, VP ".layers.%d.downsample.3.weight", i), d->m, d->r,
                             (int)ro, 2 * C));
            dnext = climp_view_sub(flip ? s1 : s0, 0, rs * C);
            CLIMP_TRY(conv_bwd(m, dnext, mdl_g(m, VP ".layers.%d.downsample.1.weight", i),
                               mdl_g(m, VP ".layers.%d.downsample.1.bias", i), dc, d->x,
                               mdl_p(m, VP ".layers.%d.downsample.1.weight", i), B, Hs, Ws, C,
                               2 * C));
            climp_arena_reset(m->arena, dm);
            dcur = dnext;
            flip = !flip;
        }
        for (int j = v->depths[i] - 1; j >= 0; j--) {
            bi--;
            dnext = climp_view_sub(flip ? s1 : s0, 0, rs * C);
            size_t bm = climp_arena_mark(m->arena);
            if (m->recompute) {
                vss_tape *bt = &t->blocks[bi];
                climp_tview keep = bt->out;
                CLIMP_TRY(vss_forward(m, bt, bt->x, i, j, B, Hs, Ws));
                bt->out = keep;
            }
            CLIMP_TRY(vss_backward(m, &t->blocks[bi], dnext, dcur, i, j, B, Hs, Ws));
            climp_arena_reset(m->arena, bm);
            dcur = dnext;
            flip = !flip;
        }
    }
    /* Stem backward: a5 = LN(a4), a4 = conv(a3), a3 = gelu(a2), a2 = LN(a1), a1 = conv(img). */
    climp_tview da4, da3, da2, da1;
    CLIMP_TRY(mdl_alloc(m, r2 * C0, &da4));
    CLIMP_TRY(ln_bwd(m, da4, 0, mdl_g(m, VP ".patch_embed.7.weight"),
                     mdl_g(m, VP ".patch_embed.7.bias"), dcur, t->a4,
                     mdl_p(m, VP ".patch_embed.7.weight"), t->m2, t->r2, (int)r2, C0));
    CLIMP_TRY(mdl_alloc(m, r1 * h, &da3));
    CLIMP_TRY(conv_bwd(m, da3, mdl_g(m, VP ".patch_embed.5.weight"),
                       mdl_g(m, VP ".patch_embed.5.bias"), da4, t->a3,
                       mdl_p(m, VP ".patch_embed.5.weight"), B, H1, W1, h, C0));
    CLIMP_TRY(mdl_alloc(m, r1 * h, &da2));
    RUN(m, climp_gelu_backward(m->ctx, da2, da3, t->a2, r1 * h));
    CLIMP_TRY(mdl_alloc(m, r1 * h, &da1));
    CLIMP_TRY(ln_bwd(m, da1, 0, mdl_g(m, VP ".patch_embed.2.weight"),
                     mdl_g(m, VP ".patch_embed.2.bias"), da2, t->a1,
                     mdl_p(m, VP ".patch_embed.2.weight"), t->m1, t->r1, (int)r1, h));
    CLIMP_TRY(conv_bwd(m, (climp_tview){0}, mdl_g(m, VP ".patch_embed.0.weight"),
                       mdl_g(m, VP ".patch_embed.0.bias"), da1, t->img,
                       mdl_p(m, VP ".patch_embed.0.weight"), B, H, W, 3, h));
    climp_arena_reset(m->arena, mk);
    return CLIMP_OK;
}
