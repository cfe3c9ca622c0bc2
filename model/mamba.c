/* Mamba-1 and Mamba-2 LM backbones as the text tower (pre-norm residual stream, RMSNorm,
 * norm_f), pooled at the last real token, projected and L2-normalised; forward and backward.
 * architecture.md §1 (Mamba-1), §3 (Mamba-2), §5.1 (pooling). Mamba-2's SSM runs as the chunked
 * SSD (model/ssd.h: per-head scalar A, 3-6x faster than the scan on PoCL at mamba2-130m shapes)
 * or, for the FPGA kernel variant and when the tuning key "mamba2.ssd" is 0 (the default on
 * GPUs and accelerators, where the SSD kernels are untuned), on the Mamba-1 scan with per-head
 * values repeated per channel (§3.2). Both give the same math; tests/test_ssd.c proves it.
 *
 * Legend: B captions, L padded length (right padding: causal, so pads never reach real tokens),
 * D d_model, E inner width, N d_state, R dt rank, K conv width, H heads, P head dim, G groups,
 * cd = E + 2GN (Mamba-2 conv width), dip = 2E + 2GN + H (Mamba-2 in_proj width). */
#define _POSIX_C_SOURCE 200809L
#include "model/conv.h"
#include "model/crossscan.h"
#include "model/eltwise.h"
#include "model/embed_loss.h"
#include "model/model_internal.h"
#include "model/norm.h"
#include "model/scan.h"
#include "model/ssd.h"

#include <string.h>

#define TP "text_encoder"

static climp_status rms_bwd_acc(climp_model *m, climp_tview dr, climp_tview dw, climp_tview dhn,
                                climp_tview r, climp_tview w, climp_tview rs, int rows, int D) {
    size_t mk = climp_arena_mark(m->arena);
    climp_tview scratch, tmp;
    CLIMP_TRY(mdl_alloc(m, climp_rmsnorm_scratch_floats(rows, D), &scratch));
    CLIMP_TRY(mdl_alloc(m, (size_t)rows * D, &tmp));
    RUN(m, climp_rmsnorm_backward(m->ctx, tmp, dw, scratch, dhn, r, w, rs, rows, D));
    RUN(m, climp_accumulate(m->ctx, dr, tmp, 1.0f, (size_t)rows * D));
    climp_arena_reset(m->arena, mk);
    return CLIMP_OK;
}

static climp_scan_shape text_scan_shape(const climp_text_config *c, int B, int L) {
    climp_scan_shape s;
    memset(&s, 0, sizeof(s));
    int E = climp_text_inner(c), N = c->d_state;
    s.B = B;
    s.L = L;
    s.Dc = E;
    s.N = N;
    s.ld_dt = s.ld_out = E;
    if (c->arch == CLIMP_TEXT_MAMBA1) {
        int XD = c->dt_rank + 2 * N;
        s.G = 1;
        s.ld_u = E;
        s.ld_z = 2 * E;
        s.bc_stride_l = (size_t)XD;
        s.bc_stride_g = (size_t)N;
    } else {
        int cd = E + 2 * c->ngroups * N;
        s.G = c->ngroups;
        s.ld_u = cd;
        s.ld_z = E;
        s.bc_stride_l = (size_t)cd;
        s.bc_stride_g = (size_t)N;
    }
    s.bc_stride_b = s.bc_stride_l * L;
    return s;
}

/* Whether Mamba-2 layers use the chunked SSD (else the per-channel scan). */
static int use_ssd(climp_model *m) {
    if (!strcmp(climp_ctx_variant(m->ctx), "fpga")) return 0;
    return climp_tune_int(m->ctx, "mamba2.ssd", climp_ctx_info(m->ctx)->is_cpu) != 0;
}

/* The SSD shape of a Mamba-2 layer: x, B, C are column slices of the conv output u (B, L, cd),
 * dt_raw the last H columns of in_proj's output (B, L, dip). */
static climp_ssd_shape text_ssd_shape(const climp_text_config *c, int B, int L) {
    climp_ssd_shape s;
    memset(&s, 0, sizeof(s));
    int E = climp_text_inner(c), N = c->d_state, G = c->ngroups, H = climp_text_nheads(c);
    int cd = E + 2 * G * N, dip = 2 * E + 2 * G * N + H;
    s.B = B;
    s.L = L;
    s.H = H;
    s.P = c->headdim;
    s.N = N;
    s.G = G;
    s.ld_x = cd;
    s.ld_dt = dip;
    s.ld_y = E;
    s.bc_stride_l = (size_t)cd;
    s.bc_stride_g = (size_t)N;
    s.bc_stride_b = (size_t)cd * L;
    s.ld_dy = E;
    s.ld_dx = cd;
    s.ld_ddt = dip;
    return s;
}

/* Mamba-2 per-channel expansions of the per-head A_log, D, dt_bias: (E, N), (E), (E). */
static climp_status m2_expand(climp_model *m, const char *b, climp_tview *A, climp_tview *Dx,
                              climp_tview *bias) {
    const climp_text_config *c = &m->cfg.text;
    int E = climp_text_inner(c), N = c->d_state, H = climp_text_nheads(c), P = c->headdim;
    CLIMP_TRY(mdl_alloc(m, (size_t)E * N, A));
    CLIMP_TRY(mdl_alloc(m, (size_t)E, Dx));
    CLIMP_TRY(mdl_alloc(m, (size_t)E, bias));
    RUN(m, climp_repeat_forward(m->ctx, *A, mdl_p(m, "%s.mixer.A_log", b), H, P * N));
    RUN(m, climp_repeat_forward(m->ctx, *Dx, mdl_p(m, "%s.mixer.D", b), H, P));
    RUN(m, climp_repeat_forward(m->ctx, *bias, mdl_p(m, "%s.mixer.dt_bias", b), H, P));
    return CLIMP_OK;
}

static climp_status layer_forward(climp_model *m, mamba_tape *t, climp_tview r, int li, int B,
                                  int L, climp_tview *r_next) {
    const climp_text_config *c = &m->cfg.text;
    int D = c->d_model, E = climp_text_inner(c), N = c->d_state, R = c->dt_rank;
    int rows = B * L;
    char b[64];
    snprintf(b, sizeof(b), TP ".layers.%d", li);
    size_t lmark = climp_arena_mark(m->arena);
    t->r = r;
    CLIMP_TRY(mdl_alloc(m, (size_t)rows, &t->rs));
    CLIMP_TRY(mdl_alloc(m, (size_t)rows * D, &t->hn));
    RUN(m, climp_rmsnorm_forward(m->ctx, t->hn, t->rs, r, mdl_p(m, "%s.norm.weight", b), rows, D));
    climp_scan_shape ss = text_scan_shape(c, B, L);
    climp_tview mix; /* mixer output before out_proj: (rows, E) */
    if (c->arch == CLIMP_TEXT_MAMBA1) {
        int XD = R + 2 * N;
        CLIMP_TRY(mdl_alloc(m, (size_t)rows * 2 * E, &t->xz));
        CLIMP_TRY(mdl_linear_fwd(m, t->xz, t->hn, D, mdl_p(m, "%s.mixer.in_proj.weight", b),
                                 (climp_tview){0}, rows, 2 * E, D, 0.0f));
        CLIMP_TRY(mdl_alloc(m, (size_t)rows * E, &t->xc));
        RUN(m, climp_causal_conv1d_forward(m->ctx, t->xc, t->xz, 2 * E,
                                           mdl_p(m, "%s.mixer.conv1d.weight", b),
                                           mdl_p(m, "%s.mixer.conv1d.bias", b), B, L, E,
                                           c->d_conv));
        CLIMP_TRY(mdl_alloc(m, (size_t)rows * E, &t->u));
        RUN(m, climp_silu_forward(m->ctx, t->u, t->xc, (size_t)rows * E));
        CLIMP_TRY(mdl_alloc(m, (size_t)rows * XD, &t->xdbl));
        CLIMP_TRY(mdl_linear_fwd(m, t->xdbl, t->u, E, mdl_p(m, "%s.mixer.x_proj.weight", b),
                                 (climp_tview){0}, rows, XD, E, 0.0f));
        CLIMP_TRY(mdl_alloc(m, (size_t)rows * E, &t->dt));
        CLIMP_TRY(mdl_linear_fwd(m, t->dt, t->xdbl, XD, mdl_p(m, "%s.mixer.dt_proj.weight", b),
                                 (climp_tview){0}, rows, E, R, 0.0f));
        CLIMP_TRY(mdl_alloc(m, climp_scan_states_size(&ss), &t->states));
        CLIMP_TRY(mdl_alloc(m, (size_t)rows * E, &t->y));
        RUN(m, climp_scan_forward(m->ctx, &ss, t->u, t->dt, mdl_p(m, "%s.mixer.A_log", b),
                                  climp_view_sub(t->xdbl, R, t->xdbl.n - R),
                                  climp_view_sub(t->xdbl, R + N, t->xdbl.n - R - N),
                                  mdl_p(m, "%s.mixer.D", b), mdl_p(m, "%s.mixer.dt_proj.bias", b),
                                  climp_view_sub(t->xz, E, t->xz.n - E), t->y, t->states));
        mix = t->y;
    } else {
        int G = c->ngroups, H = climp_text_nheads(c), P = c->headdim, cd = E + 2 * G * N;
        int dip = 2 * E + 2 * G * N + H;
        CLIMP_TRY(mdl_alloc(m, (size_t)rows * dip, &t->xz));
        CLIMP_TRY(mdl_linear_fwd(m, t->xz, t->hn, D, mdl_p(m, "%s.mixer.in_proj.weight", b),
                                 (climp_tview){0}, rows, dip, D, 0.0f));
        CLIMP_TRY(mdl_alloc(m, (size_t)rows * cd, &t->xc));
        RUN(m, climp_causal_conv1d_forward(m->ctx, t->xc, climp_view_sub(t->xz, E, t->xz.n - E),
                                           dip, mdl_p(m, "%s.mixer.conv1d.weight", b),
                                           mdl_p(m, "%s.mixer.conv1d.bias", b), B, L, cd,
                                           c->d_conv));
        CLIMP_TRY(mdl_alloc(m, (size_t)rows * cd, &t->u));
        RUN(m, climp_silu_forward(m->ctx, t->u, t->xc, (size_t)rows * cd));
        if (use_ssd(m)) {
            climp_ssd_shape qs = text_ssd_shape(c, B, L);
            size_t o = (size_t)dip - H;
            t->dt = (climp_tview){0};
            CLIMP_TRY(mdl_alloc(m, climp_ssd_states_size(&qs), &t->states));
            CLIMP_TRY(mdl_alloc(m, (size_t)rows * E, &t->y));
            CLIMP_TRY(mdl_alloc(m, (size_t)rows * G, &t->gs));
            CLIMP_TRY(mdl_alloc(m, (size_t)rows * E, &t->yg));
            RUN(m, climp_ssd_forward(m->ctx, &qs, t->u, climp_view_sub(t->xz, o, t->xz.n - o),
                                     mdl_p(m, "%s.mixer.A_log", b),
                                     climp_view_sub(t->u, E, t->u.n - E),
                                     climp_view_sub(t->u, E + G * N, t->u.n - E - G * N),
                                     mdl_p(m, "%s.mixer.D", b), mdl_p(m, "%s.mixer.dt_bias", b),
                                     t->y, t->states));
            RUN(m, climp_gated_rmsnorm_forward(m->ctx, t->yg, t->gs, t->y, E, t->xz, dip,
                                               mdl_p(m, "%s.mixer.norm.weight", b), rows, E, G));
        } else {
            CLIMP_TRY(mdl_alloc(m, (size_t)rows * E, &t->dt));
            CLIMP_TRY(mdl_alloc(m, climp_scan_states_size(&ss), &t->states));
            CLIMP_TRY(mdl_alloc(m, (size_t)rows * E, &t->y));
            CLIMP_TRY(mdl_alloc(m, (size_t)rows * G, &t->gs));
            CLIMP_TRY(mdl_alloc(m, (size_t)rows * E, &t->yg));
            size_t mk = climp_arena_mark(m->arena);
            climp_tview dth, A, Dx, bias;
            CLIMP_TRY(mdl_alloc(m, (size_t)rows * H, &dth));
            size_t o = (size_t)dip - H;
            RUN(m, climp_copy_cols(m->ctx, dth, H, climp_view_sub(t->xz, o, t->xz.n - o), dip,
                                   rows, H, 0));
            RUN(m, climp_repeat_forward(m->ctx, t->dt, dth, rows * H, P));
            CLIMP_TRY(m2_expand(m, b, &A, &Dx, &bias));
            RUN(m, climp_scan_forward(m->ctx, &ss, t->u, t->dt, A,
                                      climp_view_sub(t->u, E, t->u.n - E),
                                      climp_view_sub(t->u, E + G * N, t->u.n - E - G * N), Dx, bias,
                                      (climp_tview){0}, t->y, t->states));
            RUN(m, climp_gated_rmsnorm_forward(m->ctx, t->yg, t->gs, t->y, E, t->xz, dip,
                                               mdl_p(m, "%s.mixer.norm.weight", b), rows, E, G));
            climp_arena_reset(m->arena, mk);
        }
        mix = t->yg;
    }
    climp_tview rn = r;
    if (m->training) {
        CLIMP_TRY(mdl_alloc(m, (size_t)rows * D, &rn));
        RUN(m, climp_buffer_copy(m->ctx, r.buf, r.off * 4, rn.buf, rn.off * 4,
                                 (size_t)rows * D * 4));
    }
    CLIMP_TRY(mdl_linear_fwd(m, rn, mix, E, mdl_p(m, "%s.mixer.out_proj.weight", b),
                             (climp_tview){0}, rows, D, E, 1.0f));
    if (!m->training) climp_arena_reset(m->arena, lmark);
    *r_next = rn;
    return CLIMP_OK;
}

/* dr += d layer / dr, given dr holding d r_next on entry (residual: d r = d r_next + ...). */
static climp_status layer_backward(climp_model *m, mamba_tape *t, climp_tview dr, int li, int B,
                                   int L) {
    const climp_text_config *c = &m->cfg.text;
    int D = c->d_model, E = climp_text_inner(c), N = c->d_state, R = c->dt_rank;
    int rows = B * L;
    char b[64];
    snprintf(b, sizeof(b), TP ".layers.%d", li);
    size_t mk = climp_arena_mark(m->arena);
    climp_scan_shape ss = text_scan_shape(c, B, L);
    climp_tview dmix, scratch, dhn, dxz;
    CLIMP_TRY(mdl_alloc(m, (size_t)rows * E, &dmix));
    CLIMP_TRY(mdl_linear_bwd(m, dmix, E, 0.0f, mdl_g(m, "%s.mixer.out_proj.weight", b),
                             (climp_tview){0}, dr,
                             c->arch == CLIMP_TEXT_MAMBA1 ? t->y : t->yg, E,
                             mdl_p(m, "%s.mixer.out_proj.weight", b), rows, D, E));
    int in_w;
    if (c->arch == CLIMP_TEXT_MAMBA1) {
        CLIMP_TRY(mdl_alloc(m, climp_scan_bwd_scratch_size(&ss), &scratch));
        int XD = R + 2 * N;
        in_w = 2 * E;
        climp_tview du, ddt, dxdbl, cs;
        CLIMP_TRY(mdl_alloc(m, (size_t)rows * 2 * E, &dxz));
        CLIMP_TRY(mdl_alloc(m, (size_t)rows * E, &du));
        CLIMP_TRY(mdl_alloc(m, (size_t)rows * E, &ddt));
        CLIMP_TRY(mdl_alloc(m, (size_t)rows * XD, &dxdbl));
        RUN(m, climp_scan_backward(m->ctx, &ss, t->u, t->dt, mdl_p(m, "%s.mixer.A_log", b),
                                   climp_view_sub(t->xdbl, R, t->xdbl.n - R),
                                   climp_view_sub(t->xdbl, R + N, t->xdbl.n - R - N),
                                   mdl_p(m, "%s.mixer.D", b),
                                   mdl_p(m, "%s.mixer.dt_proj.bias", b),
                                   climp_view_sub(t->xz, E, t->xz.n - E), t->states, dmix, scratch,
                                   du, ddt, mdl_g(m, "%s.mixer.A_log", b),
                                   climp_view_sub(dxdbl, R, dxdbl.n - R),
                                   climp_view_sub(dxdbl, R + N, dxdbl.n - R - N),
                                   mdl_g(m, "%s.mixer.D", b), mdl_g(m, "%s.mixer.dt_proj.bias", b),
                                   climp_view_sub(dxz, E, dxz.n - E)));
        /* dt_proj: d dt_in = ddt W (into dxdbl[:, :R]); dW += ddt^T dt_in. */
        climp_gemm_desc d1 = {0, 0, rows, R, E, 1.0f, 0.0f, E, R, XD, 1, 0, 0, 0};
        RUN(m, climp_gemm(m->ctx, &d1, ddt, mdl_p(m, "%s.mixer.dt_proj.weight", b), dxdbl));
        climp_gemm_desc d2 = {1, 0, E, R, rows, 1.0f, 1.0f, E, XD, R, 1, 0, 0, 0};
        RUN(m, climp_gemm(m->ctx, &d2, ddt, t->xdbl, mdl_g(m, "%s.mixer.dt_proj.weight", b)));
        /* x_proj: du += dxdbl W; dW += dxdbl^T u. */
        CLIMP_TRY(mdl_linear_bwd(m, du, E, 1.0f, mdl_g(m, "%s.mixer.x_proj.weight", b),
                                 (climp_tview){0}, dxdbl, t->u, E,
                                 mdl_p(m, "%s.mixer.x_proj.weight", b), rows, XD, E));
        RUN(m, climp_silu_backward(m->ctx, ddt, du, t->xc, (size_t)rows * E)); /* ddt := dxc */
        CLIMP_TRY(mdl_alloc(m, climp_causal_conv1d_scratch_floats(B, L, E, c->d_conv), &cs));
        RUN(m, climp_causal_conv1d_backward(m->ctx, dxz, mdl_g(m, "%s.mixer.conv1d.weight", b),
                                            mdl_g(m, "%s.mixer.conv1d.bias", b), ddt, t->xz,
                                            2 * E, mdl_p(m, "%s.mixer.conv1d.weight", b), cs, B,
                                            L, E, c->d_conv));
    } else {
        int G = c->ngroups, H = climp_text_nheads(c), P = c->headdim, cd = E + 2 * G * N;
        int dip = 2 * E + 2 * G * N + H;
        in_w = dip;
        climp_tview dy, du, ddt, A, Dx, bias, dA, dD, dbias, dth, gsc, cs;
        CLIMP_TRY(mdl_alloc(m, (size_t)rows * dip, &dxz));
        CLIMP_TRY(mdl_alloc(m, (size_t)rows * E, &dy));
        CLIMP_TRY(mdl_alloc(m, climp_gated_rmsnorm_scratch_floats(rows, E), &gsc));
        RUN(m, climp_gated_rmsnorm_backward(m->ctx, dy, E, dxz, dip,
                                            mdl_g(m, "%s.mixer.norm.weight", b), gsc, dmix, t->y,
                                            E, t->xz, dip, mdl_p(m, "%s.mixer.norm.weight", b),
                                            t->gs, rows, E, G));
        CLIMP_TRY(mdl_alloc(m, (size_t)rows * cd, &du));
        if (use_ssd(m)) {
            climp_ssd_shape qs = text_ssd_shape(c, B, L);
            size_t o = (size_t)dip - H;
            CLIMP_TRY(mdl_alloc(m, climp_ssd_bwd_scratch_size(&qs), &scratch));
            RUN(m, climp_ssd_backward(m->ctx, &qs, t->u, climp_view_sub(t->xz, o, t->xz.n - o),
                                      mdl_p(m, "%s.mixer.A_log", b),
                                      climp_view_sub(t->u, E, t->u.n - E),
                                      climp_view_sub(t->u, E + G * N, t->u.n - E - G * N),
                                      mdl_p(m, "%s.mixer.D", b),
                                      mdl_p(m, "%s.mixer.dt_bias", b), t->states, dy, scratch, du,
                                      climp_view_sub(dxz, o, dxz.n - o),
                                      mdl_g(m, "%s.mixer.A_log", b),
                                      climp_view_sub(du, E, du.n - E),
                                      climp_view_sub(du, E + G * N, du.n - E - G * N),
                                      mdl_g(m, "%s.mixer.D", b), mdl_g(m, "%s.mixer.dt_bias", b)));
        } else {
            CLIMP_TRY(mdl_alloc(m, climp_scan_bwd_scratch_size(&ss), &scratch));
            CLIMP_TRY(m2_expand(m, b, &A, &Dx, &bias));
            CLIMP_TRY(mdl_alloc(m, (size_t)E * N, &dA));
            CLIMP_TRY(mdl_alloc(m, (size_t)E, &dD));
            CLIMP_TRY(mdl_alloc(m, (size_t)E, &dbias));
            RUN(m, climp_view_zero(m->ctx, dA));
            RUN(m, climp_view_zero(m->ctx, dD));
            RUN(m, climp_view_zero(m->ctx, dbias));
            CLIMP_TRY(mdl_alloc(m, (size_t)rows * E, &ddt));
            RUN(m, climp_scan_backward(m->ctx, &ss, t->u, t->dt, A,
                                       climp_view_sub(t->u, E, t->u.n - E),
                                       climp_view_sub(t->u, E + G * N, t->u.n - E - G * N), Dx,
                                       bias, (climp_tview){0}, t->states, dy, scratch, du, ddt, dA,
                                       climp_view_sub(du, E, du.n - E),
                                       climp_view_sub(du, E + G * N, du.n - E - G * N), dD, dbias,
                                       (climp_tview){0}));
            RUN(m, climp_repeat_backward(m->ctx, mdl_g(m, "%s.mixer.A_log", b), dA, H, P * N, 1));
            RUN(m, climp_repeat_backward(m->ctx, mdl_g(m, "%s.mixer.D", b), dD, H, P, 1));
            RUN(m, climp_repeat_backward(m->ctx, mdl_g(m, "%s.mixer.dt_bias", b), dbias, H, P, 1));
            CLIMP_TRY(mdl_alloc(m, (size_t)rows * H, &dth));
            RUN(m, climp_repeat_backward(m->ctx, dth, ddt, rows * H, P, 0));
            RUN(m, climp_copy_cols(m->ctx, climp_view_sub(dxz, 2 * E + 2 * G * N,
                                                          dxz.n - 2 * E - 2 * G * N),
                                   dip, dth, H, rows, H, 0));
        }
        climp_tview dxc;
        CLIMP_TRY(mdl_alloc(m, (size_t)rows * cd, &dxc));
        RUN(m, climp_silu_backward(m->ctx, dxc, du, t->xc, (size_t)rows * cd));
        CLIMP_TRY(mdl_alloc(m, climp_causal_conv1d_scratch_floats(B, L, cd, c->d_conv), &cs));
        RUN(m, climp_causal_conv1d_backward(m->ctx, climp_view_sub(dxz, E, dxz.n - E),
                                            mdl_g(m, "%s.mixer.conv1d.weight", b),
                                            mdl_g(m, "%s.mixer.conv1d.bias", b), dxc,
                                            climp_view_sub(t->xz, E, t->xz.n - E), dip,
                                            mdl_p(m, "%s.mixer.conv1d.weight", b), cs, B, L, cd,
                                            c->d_conv));
    }
    CLIMP_TRY(mdl_alloc(m, (size_t)rows * D, &dhn));
    CLIMP_TRY(mdl_linear_bwd(m, dhn, D, 0.0f, mdl_g(m, "%s.mixer.in_proj.weight", b),
                             (climp_tview){0}, dxz, t->hn, D,
                             mdl_p(m, "%s.mixer.in_proj.weight", b), rows, in_w, D));
    CLIMP_TRY(rms_bwd_acc(m, dr, mdl_g(m, "%s.norm.weight", b), dhn, t->r,
                          mdl_p(m, "%s.norm.weight", b), t->rs, rows, D));
    climp_arena_reset(m->arena, mk);
    return CLIMP_OK;
}

climp_status mdl_text_forward(climp_model *m, int B, int L) {
    text_tape *t = &m->tt;
    const climp_text_config *c = &m->cfg.text;
    int D = c->d_model, Ed = m->cfg.embed_dim, rows = B * L;
    t->B = B;
    t->L = L;
    climp_tview r;
    CLIMP_TRY(mdl_alloc(m, (size_t)rows * D, &r));
    RUN(m, climp_embedding_forward(m->ctx, r, t->ids, mdl_p(m, TP ".embeddings.weight"),
                                   (climp_tview){0}, rows, c->vocab, D));
    for (int i = 0; i < c->n_layer; i++) {
        if (!m->recompute) {
            CLIMP_TRY(layer_forward(m, &t->layers[i], r, i, B, L, &r));
            continue;
        }
        /* Keep the residual stream only; the tape is rebuilt before the layer's backward. */
        climp_tview keep, rn;
        CLIMP_TRY(mdl_alloc(m, (size_t)rows * D, &keep));
        size_t lm = climp_arena_mark(m->arena);
        CLIMP_TRY(layer_forward(m, &t->layers[i], r, i, B, L, &rn));
        RUN(m, climp_buffer_copy(m->ctx, rn.buf, rn.off * 4, keep.buf, keep.off * 4,
                                 (size_t)rows * D * 4));
        climp_arena_reset(m->arena, lm);
        r = keep;
    }
    t->rf = r;
    CLIMP_TRY(mdl_alloc(m, (size_t)rows, &t->fs));
    CLIMP_TRY(mdl_alloc(m, (size_t)rows * D, &t->fn));
    RUN(m, climp_rmsnorm_forward(m->ctx, t->fn, t->fs, r, mdl_p(m, TP ".norm_f.weight"), rows, D));
    CLIMP_TRY(mdl_alloc(m, (size_t)B * D, &t->pooled));
    RUN(m, climp_lasttoken_forward(m->ctx, t->pooled, t->fn, t->lengths, B, L, D));
    CLIMP_TRY(mdl_alloc(m, (size_t)B * Ed, &t->proj));
    CLIMP_TRY(mdl_linear_fwd(m, t->proj, t->pooled, D, mdl_p(m, "text_projection.weight"),
                             mdl_p(m, "text_projection.bias"), B, Ed, D, 0.0f));
    CLIMP_TRY(mdl_alloc(m, (size_t)B, &t->norm));
    CLIMP_TRY(mdl_alloc(m, (size_t)B * Ed, &t->emb));
    RUN(m, climp_l2norm_forward(m->ctx, t->emb, t->norm, t->proj, B, Ed));
    return CLIMP_OK;
}

climp_status mdl_text_backward(climp_model *m, climp_tview demb) {
    text_tape *t = &m->tt;
    const climp_text_config *c = &m->cfg.text;
    int D = c->d_model, Ed = m->cfg.embed_dim, B = t->B, L = t->L, rows = B * L;
    size_t mk = climp_arena_mark(m->arena);
    climp_tview dproj, dpool, dfn, dr;
    CLIMP_TRY(mdl_alloc(m, (size_t)B * Ed, &dproj));
    RUN(m, climp_l2norm_backward(m->ctx, dproj, demb, t->emb, t->norm, B, Ed));
    CLIMP_TRY(mdl_alloc(m, (size_t)B * D, &dpool));
    CLIMP_TRY(mdl_linear_bwd(m, dpool, D, 0.0f, mdl_g(m, "text_projection.weight"),
                             mdl_g(m, "text_projection.bias"), dproj, t->pooled, D,
                             mdl_p(m, "text_projection.weight"), B, Ed, D));
    CLIMP_TRY(mdl_alloc(m, (size_t)rows * D, &dfn));
    RUN(m, climp_lasttoken_backward(m->ctx, dfn, dpool, t->lengths, B, L, D));
    CLIMP_TRY(mdl_alloc(m, (size_t)rows * D, &dr));
    RUN(m, climp_view_zero(m->ctx, dr));
    CLIMP_TRY(rms_bwd_acc(m, dr, mdl_g(m, TP ".norm_f.weight"), dfn, t->rf,
                          mdl_p(m, TP ".norm_f.weight"), t->fs, rows, D));
    for (int i = c->n_layer - 1; i >= 0; i--) {
        size_t lm = climp_arena_mark(m->arena);
        if (m->recompute) {
            climp_tview rn;
            CLIMP_TRY(layer_forward(m, &t->layers[i], t->layers[i].r, i, B, L, &rn));
        }
        CLIMP_TRY(layer_backward(m, &t->layers[i], dr, i, B, L));
        climp_arena_reset(m->arena, lm);
    }
    RUN(m, climp_embedding_backward(m->ctx, mdl_g(m, TP ".embeddings.weight"), dr, t->ids, rows,
                                    c->vocab, D));
    climp_arena_reset(m->arena, mk);
    return CLIMP_OK;
}
