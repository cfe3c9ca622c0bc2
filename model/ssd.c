/* Host launchers of the Mamba-2 chunked SSD (model/ssd.h): validate every argument, then enqueue
 * the kernels of cl_kernels/ssd.cl (one program per head dim, state size and chunk length).
 * C reference: model/ssd_ref.c. Nothing is enqueued when an argument is wrong.
 * Forward: cumsum -> C.B per chunk -> chunk end states -> state passing -> outputs.
 * Backward: local dS per chunk -> reverse state passing -> dx (and per-token terms) -> dBm, dCm
 * -> ddt_raw and per-chunk partials -> dA_log, dD, ddt_bias. */
#include "model/ssd.h"

#include <stdio.h>
#include <string.h>

#define SSD_SRC "ssd"
#define DEFAULT_CHUNK 64
#define MAX_CHUNK 256
#define MAX_DIM 256 /* P and N bound (private rows of the kernels) */

/* Sizes of one call. */
typedef struct plan {
    int B, L, H, P, N, G, Q, K;
    size_t nS, ntok, nCB;
} plan;

static plan make_plan(const climp_ssd_shape *s) {
    plan p;
    p.B = s->B, p.L = s->L, p.H = s->H, p.P = s->P, p.N = s->N, p.G = s->G;
    p.Q = s->chunk ? s->chunk : DEFAULT_CHUNK;
    p.K = (p.L + p.Q - 1) / p.Q;
    p.nS = (size_t)p.B * p.K * p.H * p.N * p.P;
    p.ntok = (size_t)p.B * p.H * p.L;
    p.nCB = (size_t)p.B * p.K * p.G * p.Q * p.Q;
    return p;
}

climp_status climp_ssd_check_shape(const climp_ssd_shape *s) {
    if (!s)
        return CLIMP_ERR_INVALID_ARG;
    if (s->chunk < 0 || s->chunk > MAX_CHUNK) {
        climp_error_set("ssd: chunk %d outside 0..%d", s->chunk, MAX_CHUNK);
        return CLIMP_ERR_INVALID_ARG;
    }
    const long E = (long)s->H * s->P;
    if (s->B <= 0 || s->L <= 0 || s->H <= 0 || s->P <= 0 || s->N <= 0 || s->G <= 0 ||
        s->P > MAX_DIM || s->N > MAX_DIM || s->H % s->G || s->ld_x < E || s->ld_dt < s->H ||
        s->ld_y < E || s->ld_dy < 0 || s->ld_dx < 0 || s->ld_ddt < 0 ||
        (s->ld_dy && s->ld_dy < E) || (s->ld_dx && s->ld_dx < E) ||
        (s->ld_ddt && s->ld_ddt < s->H)) {
        climp_error_set("ssd: bad shape B=%d L=%d H=%d P=%d N=%d G=%d ld_x=%d ld_dt=%d ld_y=%d",
                        s->B, s->L, s->H, s->P, s->N, s->G, s->ld_x, s->ld_dt, s->ld_y);
        return CLIMP_ERR_SHAPE;
    }
    /* B/C records (b, l, g) of N floats must not overlap */
    const size_t rec_g = (size_t)(s->G - 1) * s->bc_stride_g + s->N;
    const size_t rec_l = (size_t)(s->L - 1) * s->bc_stride_l + rec_g;
    if ((s->G > 1 && s->bc_stride_g < (size_t)s->N) || (s->L > 1 && s->bc_stride_l < rec_g) ||
        (s->B > 1 && s->bc_stride_b < rec_l)) {
        climp_error_set("ssd: overlapping B/C layout sb=%zu sl=%zu sg=%zu", s->bc_stride_b,
                        s->bc_stride_l, s->bc_stride_g);
        return CLIMP_ERR_SHAPE;
    }
    return CLIMP_OK;
}

size_t climp_ssd_tok_extent(const climp_ssd_shape *s, int width, int ld) {
    return ((size_t)s->B * s->L - 1) * (size_t)ld + (size_t)width;
}

size_t climp_ssd_bc_extent(const climp_ssd_shape *s) {
    return (size_t)(s->B - 1) * s->bc_stride_b + (size_t)(s->L - 1) * s->bc_stride_l +
           (size_t)(s->G - 1) * s->bc_stride_g + (size_t)s->N;
}

size_t climp_ssd_states_size(const climp_ssd_shape *s) {
    if (climp_ssd_check_shape(s) != CLIMP_OK)
        return 0;
    const plan p = make_plan(s);
    return p.nS + 4 * p.ntok + p.nCB;
}

size_t climp_ssd_bwd_scratch_size(const climp_ssd_shape *s) {
    if (climp_ssd_check_shape(s) != CLIMP_OK)
        return 0;
    const plan p = make_plan(s);
    return 3 * p.nS + p.ntok * (size_t)p.Q + 5 * p.ntok + 3 * (size_t)p.B * p.K * p.H;
}

/* ---------------------------------------------------------------- validation */

static climp_status need(climp_tview v, size_t n, const char *what) {
    if (!v.buf) {
        climp_error_set("ssd: %s: missing view", what);
        return CLIMP_ERR_INVALID_ARG;
    }
    if (v.n < n) {
        climp_error_set("ssd: %s: view holds %zu floats, shape needs %zu", what, v.n, n);
        return CLIMP_ERR_BUFFER_TOO_SMALL;
    }
    return CLIMP_OK;
}

static climp_status check_inputs(climp_ctx *ctx, const climp_ssd_shape *s, climp_tview x,
                                 climp_tview dt, climp_tview A_log, climp_tview Bm,
                                 climp_tview Cm, climp_tview D, climp_tview bias,
                                 climp_tview states) {
    if (!ctx)
        return CLIMP_ERR_INVALID_ARG;
    CLIMP_TRY(climp_ssd_check_shape(s));
    const size_t bc = climp_ssd_bc_extent(s), H = (size_t)s->H;
    CLIMP_TRY(need(x, climp_ssd_tok_extent(s, s->H * s->P, s->ld_x), "x"));
    CLIMP_TRY(need(dt, climp_ssd_tok_extent(s, s->H, s->ld_dt), "dt_raw"));
    CLIMP_TRY(need(A_log, H, "A_log"));
    CLIMP_TRY(need(Bm, bc, "Bm"));
    CLIMP_TRY(need(Cm, bc, "Cm"));
    CLIMP_TRY(need(D, H, "D"));
    CLIMP_TRY(need(bias, H, "dt_bias"));
    CLIMP_TRY(need(states, climp_ssd_states_size(s), "states"));
    return CLIMP_OK;
}

static climp_status get_kernel(climp_ctx *ctx, const plan *p, const char *name,
                               climp_kernel **k) {
    char defs[64];
    snprintf(defs, sizeof defs, "PH=%d NS=%d QC=%d", p->P, p->N, p->Q);
    return climp_kernel_get(ctx, SSD_SRC, defs, name, k);
}

/* The parts of `states`: S, dtv, cum, ec, ee, CB. */
typedef struct parts {
    climp_tview S, dtv, cum, ec, ee, CB;
} parts;
static parts split_states(const plan *p, climp_tview st) {
    parts r;
    size_t o = 0;
    r.S = climp_view_sub(st, o, p->nS);
    r.dtv = climp_view_sub(st, o += p->nS, p->ntok);
    r.cum = climp_view_sub(st, o += p->ntok, p->ntok);
    r.ec = climp_view_sub(st, o += p->ntok, p->ntok);
    r.ee = climp_view_sub(st, o += p->ntok, p->ntok);
    r.CB = climp_view_sub(st, o += p->ntok, p->nCB);
    return r;
}

/* STATE_ARGS of ssd.cl */
static int state_args(climp_karg *a, const parts *q) {
    int i = 0;
    a[i++] = climp_arg_view(q->S);
    a[i++] = climp_arg_view(q->dtv);
    a[i++] = climp_arg_view(q->cum);
    a[i++] = climp_arg_view(q->ec);
    a[i++] = climp_arg_view(q->ee);
    a[i++] = climp_arg_view(q->CB);
    return i;
}
static int bc_args(climp_karg *a, const climp_ssd_shape *s, climp_tview Bm, climp_tview Cm) {
    a[0] = climp_arg_view(Bm);
    a[1] = climp_arg_view(Cm);
    a[2] = climp_arg_u64(s->bc_stride_b);
    a[3] = climp_arg_u64(s->bc_stride_l);
    a[4] = climp_arg_u64(s->bc_stride_g);
    return 5;
}

static const size_t one3[3] = {1, 1, 1};

/* Geometry of the pass kernels (dim0): 8 x 8 tiles of local size 1 when P and N are multiples
 * of 8 (the TILE case of ssd.cl), else one element per work-item in work-groups of the largest
 * power of two <= 64 dividing N*P. */
static void pass_geom(const plan *p, size_t *g0, size_t *l0) {
    if (p->P % 8 == 0 && p->N % 8 == 0) {
        *g0 = (size_t)(p->N / 8) * (p->P / 8), *l0 = 1;
        return;
    }
    size_t wg = 64;
    while ((size_t)p->N * p->P % wg)
        wg /= 2;
    *g0 = (size_t)p->N * p->P, *l0 = wg;
}

/* ---------------------------------------------------------------- forward */

climp_status climp_ssd_forward(climp_ctx *ctx, const climp_ssd_shape *s, climp_tview x,
                               climp_tview dt_raw, climp_tview A_log, climp_tview Bm,
                               climp_tview Cm, climp_tview D, climp_tview dt_bias, climp_tview y,
                               climp_tview states) {
    CLIMP_TRY(check_inputs(ctx, s, x, dt_raw, A_log, Bm, Cm, D, dt_bias, states));
    CLIMP_TRY(need(y, climp_ssd_tok_extent(s, s->H * s->P, s->ld_y), "y"));
    const plan p = make_plan(s);
    climp_kernel *kcs, *kcb, *kst, *kps, *kout;
    CLIMP_TRY(get_kernel(ctx, &p, "ssd_cumsum", &kcs));
    CLIMP_TRY(get_kernel(ctx, &p, "ssd_cb", &kcb));
    CLIMP_TRY(get_kernel(ctx, &p, "ssd_state", &kst));
    CLIMP_TRY(get_kernel(ctx, &p, "ssd_pass_fwd", &kps));
    CLIMP_TRY(get_kernel(ctx, &p, "ssd_out", &kout));
    const parts q = split_states(&p, states);
    const size_t B = (size_t)p.B, K = (size_t)p.K, H = (size_t)p.H, G = (size_t)p.G;
    const size_t g_cs[3] = {H, K, B}, g_cb[3] = {(size_t)p.Q, K * G, B};
    CLIMP_TRY(CLIMP_LAUNCH(ctx, kcs, 3, g_cs, one3, climp_arg_i32(p.L), climp_arg_i32(p.H),
                           climp_arg_view(dt_raw), climp_arg_i32(s->ld_dt), climp_arg_view(A_log),
                           climp_arg_view(dt_bias), climp_arg_view(q.dtv), climp_arg_view(q.cum),
                           climp_arg_view(q.ec), climp_arg_view(q.ee)));
    climp_karg a[48];
    int n = 0;
    a[n++] = climp_arg_i32(p.L);
    a[n++] = climp_arg_i32(p.G);
    n += bc_args(a + n, s, Bm, Cm);
    a[n++] = climp_arg_view(q.CB);
    CLIMP_TRY(climp_launch(ctx, kcb, 3, g_cb, one3, n, a));
    if (p.K > 1) {
        const size_t g_st[3] = {(size_t)p.N, (K - 1) * H, B};
        CLIMP_TRY(CLIMP_LAUNCH(ctx, kst, 3, g_st, one3, climp_arg_i32(p.L), climp_arg_i32(p.H),
                               climp_arg_i32(p.G), climp_arg_i32(0), climp_arg_i32(0),
                               climp_arg_view(x), climp_arg_i32(s->ld_x), climp_arg_view(Bm),
                               climp_arg_u64(s->bc_stride_b), climp_arg_u64(s->bc_stride_l),
                               climp_arg_u64(s->bc_stride_g), climp_arg_view(q.ee),
                               climp_arg_view(q.dtv), climp_arg_view(q.S)));
        size_t g_ps[3] = {0, H, B}, l_ps[3] = {1, 1, 1};
        pass_geom(&p, &g_ps[0], &l_ps[0]);
        CLIMP_TRY(CLIMP_LAUNCH(ctx, kps, 3, g_ps, l_ps, climp_arg_i32(p.L), climp_arg_i32(p.H),
                               climp_arg_view(q.S), climp_arg_view(q.ec)));
    }
    n = 0;
    a[n++] = climp_arg_i32(p.L);
    a[n++] = climp_arg_i32(p.H);
    a[n++] = climp_arg_i32(p.G);
    a[n++] = climp_arg_view(x);
    a[n++] = climp_arg_i32(s->ld_x);
    n += bc_args(a + n, s, Bm, Cm);
    a[n++] = climp_arg_view(D);
    n += state_args(a + n, &q);
    a[n++] = climp_arg_view(y);
    a[n++] = climp_arg_i32(s->ld_y);
    const size_t g_out[3] = {(size_t)p.Q, K * H, B};
    return climp_launch(ctx, kout, 3, g_out, one3, n, a);
}

/* ---------------------------------------------------------------- backward */

climp_status climp_ssd_backward(climp_ctx *ctx, const climp_ssd_shape *s, climp_tview x,
                                climp_tview dt_raw, climp_tview A_log, climp_tview Bm,
                                climp_tview Cm, climp_tview D, climp_tview dt_bias,
                                climp_tview states, climp_tview dy, climp_tview scratch,
                                climp_tview dx, climp_tview ddt_raw, climp_tview dA_log,
                                climp_tview dBm, climp_tview dCm, climp_tview dD,
                                climp_tview ddt_bias) {
    CLIMP_TRY(check_inputs(ctx, s, x, dt_raw, A_log, Bm, Cm, D, dt_bias, states));
    const int E = s->H * s->P;
    const int ld_dy = s->ld_dy ? s->ld_dy : s->ld_y, ld_dx = s->ld_dx ? s->ld_dx : s->ld_x;
    const int ld_ddt = s->ld_ddt ? s->ld_ddt : s->ld_dt;
    const size_t bc = climp_ssd_bc_extent(s), Hs = (size_t)s->H;
    CLIMP_TRY(need(dy, climp_ssd_tok_extent(s, E, ld_dy), "dy"));
    CLIMP_TRY(need(scratch, climp_ssd_bwd_scratch_size(s), "scratch"));
    CLIMP_TRY(need(dx, climp_ssd_tok_extent(s, E, ld_dx), "dx"));
    CLIMP_TRY(need(ddt_raw, climp_ssd_tok_extent(s, s->H, ld_ddt), "ddt_raw"));
    CLIMP_TRY(need(dA_log, Hs, "dA_log"));
    CLIMP_TRY(need(dBm, bc, "dBm"));
    CLIMP_TRY(need(dCm, bc, "dCm"));
    CLIMP_TRY(need(dD, Hs, "dD"));
    CLIMP_TRY(need(ddt_bias, Hs, "ddt_bias"));
    const plan p = make_plan(s);
    climp_kernel *kst, *kps, *kdx, *kbc, *kdt, *kred;
    CLIMP_TRY(get_kernel(ctx, &p, "ssd_state", &kst));
    CLIMP_TRY(get_kernel(ctx, &p, "ssd_pass_bwd", &kps));
    CLIMP_TRY(get_kernel(ctx, &p, "ssd_bdx", &kdx));
    CLIMP_TRY(get_kernel(ctx, &p, "ssd_bdbc", &kbc));
    CLIMP_TRY(get_kernel(ctx, &p, "ssd_bdt", &kdt));
    CLIMP_TRY(get_kernel(ctx, &p, "ssd_reduce", &kred));
    const parts q = split_states(&p, states);
    const size_t B = (size_t)p.B, K = (size_t)p.K, H = (size_t)p.H, G = (size_t)p.G;
    size_t o = 0;
    const climp_tview Gm = climp_view_sub(scratch, o, p.nS);
    const climp_tview Gt = climp_view_sub(scratch, o += p.nS, p.nS);
    const climp_tview St = climp_view_sub(scratch, o += p.nS, p.nS);
    const climp_tview M = climp_view_sub(scratch, o += p.nS, p.ntok * (size_t)p.Q);
    const climp_tview tk = climp_view_sub(scratch, o += p.ntok * (size_t)p.Q, 5 * p.ntok);
    const climp_tview part = climp_view_sub(scratch, o += 5 * p.ntok, 3 * B * K * H);
    if (p.K > 1) {
        const size_t g_st[3] = {(size_t)p.N, (K - 1) * H, B};
        CLIMP_TRY(CLIMP_LAUNCH(ctx, kst, 3, g_st, one3, climp_arg_i32(p.L), climp_arg_i32(p.H),
                               climp_arg_i32(p.G), climp_arg_i32(1), climp_arg_i32(1),
                               climp_arg_view(dy), climp_arg_i32(ld_dy), climp_arg_view(Cm),
                               climp_arg_u64(s->bc_stride_b), climp_arg_u64(s->bc_stride_l),
                               climp_arg_u64(s->bc_stride_g), climp_arg_view(q.ec),
                               climp_arg_view(q.ec), climp_arg_view(Gm)));
        size_t g_ps[3] = {0, H, B}, l_ps[3] = {1, 1, 1};
        pass_geom(&p, &g_ps[0], &l_ps[0]);
        CLIMP_TRY(CLIMP_LAUNCH(ctx, kps, 3, g_ps, l_ps, climp_arg_i32(p.L), climp_arg_i32(p.H),
                               climp_arg_view(Gm), climp_arg_view(Gt), climp_arg_view(q.S),
                               climp_arg_view(St), climp_arg_view(q.ec)));
    }
    climp_karg a[64];
    int n = 0;
    a[n++] = climp_arg_i32(p.L);
    a[n++] = climp_arg_i32(p.H);
    a[n++] = climp_arg_i32(p.G);
    a[n++] = climp_arg_view(x);
    a[n++] = climp_arg_i32(s->ld_x);
    a[n++] = climp_arg_view(dy);
    a[n++] = climp_arg_i32(ld_dy);
    n += bc_args(a + n, s, Bm, Cm);
    a[n++] = climp_arg_view(D);
    n += state_args(a + n, &q);
    a[n++] = climp_arg_view(Gm);
    a[n++] = climp_arg_view(M);
    a[n++] = climp_arg_view(tk);
    a[n++] = climp_arg_view(dx);
    a[n++] = climp_arg_i32(ld_dx);
    const size_t g_dx[3] = {(size_t)p.Q, K * H, B}, g_bc[3] = {(size_t)p.Q, K * G, B};
    CLIMP_TRY(climp_launch(ctx, kdx, 3, g_dx, one3, n, a));
    for (int mode = 0; mode < 2; mode++) {
        n = 0;
        a[n++] = climp_arg_i32(p.L);
        a[n++] = climp_arg_i32(p.H);
        a[n++] = climp_arg_i32(p.G);
        a[n++] = climp_arg_i32(mode);
        a[n++] = climp_arg_view(x);
        a[n++] = climp_arg_i32(s->ld_x);
        a[n++] = climp_arg_view(dy);
        a[n++] = climp_arg_i32(ld_dy);
        n += bc_args(a + n, s, Bm, Cm);
        n += state_args(a + n, &q);
        a[n++] = climp_arg_view(Gt);
        a[n++] = climp_arg_view(St);
        a[n++] = climp_arg_view(M);
        a[n++] = climp_arg_view(dBm);
        a[n++] = climp_arg_view(dCm);
        CLIMP_TRY(climp_launch(ctx, kbc, 3, g_bc, one3, n, a));
    }
    n = 0;
    a[n++] = climp_arg_i32(p.L);
    a[n++] = climp_arg_i32(p.H);
    a[n++] = climp_arg_i32(p.G);
    a[n++] = climp_arg_view(dt_raw);
    a[n++] = climp_arg_i32(s->ld_dt);
    a[n++] = climp_arg_view(A_log);
    a[n++] = climp_arg_view(dt_bias);
    n += state_args(a + n, &q);
    a[n++] = climp_arg_view(Gm);
    a[n++] = climp_arg_view(M);
    a[n++] = climp_arg_view(tk);
    a[n++] = climp_arg_view(ddt_raw);
    a[n++] = climp_arg_i32(ld_ddt);
    a[n++] = climp_arg_view(part);
    const size_t g_dt[3] = {H, K, B}, g_red[1] = {H}, l_red[1] = {1};
    CLIMP_TRY(climp_launch(ctx, kdt, 3, g_dt, one3, n, a));
    return CLIMP_LAUNCH(ctx, kred, 1, g_red, l_red, climp_arg_i32(p.B * p.K), climp_arg_i32(p.H),
                        climp_arg_view(A_log), climp_arg_view(part), climp_arg_view(dA_log),
                        climp_arg_view(dD), climp_arg_view(ddt_bias));
}
