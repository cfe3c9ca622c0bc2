/* Mamba-2 chunked SSD tests (model/ssd.h): (a) the C reference forward and backward against the
 * Mamba-1 scan reference (model/scan_ref.c) with per-head values repeated per channel: the two
 * formulations are the same math; (b) the C backward against central finite differences in double;
 * (c) the OpenCL forward and backward against the C reference on tiny, awkward and Mamba-2 shapes
 * (x, Bm, Cm as column slices of one conv-output-like buffer, dx, dBm, dCm written into one such
 * buffer, gaps checked untouched); (d) invalid arguments return their error and enqueue nothing;
 * (e) bitwise run-to-run determinism.
 * CLIMP_SSD_BENCH=1 instead times the SSD against the per-channel scan (as model/mamba.c runs
 * Mamba-2 today) on the device at mamba2-130m shapes, alternating, medians; and the C reference. */
#define _POSIX_C_SOURCE 200809L
#include "model/scan.h"
#include "model/ssd.h"
#include "tests/testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SENTINEL 7.25f

typedef struct spec {
    const char *name;
    int B, L, H, P, N, G, chunk, pad;
} spec;

/* Host problem. xb: conv-output-like buffer (B, L, E + 2GN + pad) holding x, Bm at column E and
 * Cm at column E + GN; the gradient buffer dxb has the same layout. */
typedef struct prob {
    climp_ssd_shape s;
    int E;
    size_t n_xb, n_dt, n_y, n_dy, n_ddt, b_off, c_off, n_bc;
    float *xb, *dt, *A, *D, *bias, *dy, *dA0, *dD0, *db0;
} prob;

typedef struct res {
    float *y, *dxb, *ddt, *dA, *dD, *db;
} res;

static prob make_prob(const spec *sp, uint64_t seed) {
    prob p;
    memset(&p, 0, sizeof p);
    climp_ssd_shape *s = &p.s;
    s->B = sp->B, s->L = sp->L, s->H = sp->H, s->P = sp->P, s->N = sp->N, s->G = sp->G;
    s->chunk = sp->chunk;
    p.E = sp->H * sp->P;
    const int cd = p.E + 2 * sp->G * sp->N + sp->pad;
    s->ld_x = cd, s->ld_dt = sp->H + 1 + sp->pad, s->ld_y = p.E + sp->pad;
    s->ld_dy = p.E, s->ld_dx = 0, s->ld_ddt = sp->H + 2 * sp->pad;
    s->bc_stride_l = (size_t)cd, s->bc_stride_g = (size_t)sp->N, s->bc_stride_b = (size_t)cd * sp->L;
    p.b_off = (size_t)p.E, p.c_off = (size_t)p.E + (size_t)sp->G * sp->N;
    p.n_xb = climp_ssd_tok_extent(s, cd, cd);
    p.n_dt = climp_ssd_tok_extent(s, sp->H, s->ld_dt);
    p.n_y = climp_ssd_tok_extent(s, p.E, s->ld_y);
    p.n_dy = climp_ssd_tok_extent(s, p.E, s->ld_dy);
    p.n_ddt = climp_ssd_tok_extent(s, sp->H, s->ld_ddt);
    p.n_bc = climp_ssd_bc_extent(s);
    tu_rng r;
    tu_rng_seed(&r, seed);
    p.xb = tu_alloc_rand(&r, p.n_xb, -1, 1);
    p.dt = tu_alloc_rand(&r, p.n_dt, -4, 1);
    for (size_t i = 5; i < p.n_dt; i += 97)
        p.dt[i] = tu_uniform(&r, 20.5f, 24); /* softplus linear branch */
    p.A = tu_alloc_rand(&r, (size_t)sp->H, -3, 1);
    p.D = tu_alloc_rand(&r, (size_t)sp->H, -1, 1);
    p.bias = tu_alloc_rand(&r, (size_t)sp->H, -2, 0.5f);
    p.dy = tu_alloc_rand(&r, p.n_dy, -1, 1);
    p.dA0 = tu_alloc_rand(&r, (size_t)sp->H, -1, 1);
    p.dD0 = tu_alloc_rand(&r, (size_t)sp->H, -1, 1);
    p.db0 = tu_alloc_rand(&r, (size_t)sp->H, -1, 1);
    return p;
}

static void free_prob(prob *p) {
    float *all[] = {p->xb, p->dt, p->A, p->D, p->bias, p->dy, p->dA0, p->dD0, p->db0};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        free(all[i]);
}
static void free_res(res *r) {
    free(r->y), free(r->dxb), free(r->ddt), free(r->dA), free(r->dD), free(r->db);
}

static res run_ref(const prob *p) {
    const climp_ssd_shape *s = &p->s;
    const size_t H = (size_t)s->H;
    res r = {tu_filled(p->n_y, SENTINEL), tu_filled(p->n_xb, SENTINEL), tu_filled(p->n_ddt, SENTINEL),
             tu_dup(p->dA0, H), tu_dup(p->dD0, H), tu_dup(p->db0, H)};
    climp_ssd_forward_ref(s, p->xb, p->dt, p->A, p->xb + p->b_off, p->xb + p->c_off, p->D,
                          p->bias, r.y);
    climp_ssd_backward_ref(s, p->xb, p->dt, p->A, p->xb + p->b_off, p->xb + p->c_off, p->D,
                           p->bias, p->dy, r.dxb, r.ddt, r.dA, r.dxb + p->b_off,
                           r.dxb + p->c_off, r.dD, r.db);
    return r;
}

/* Max-norm-scaled comparison: |got - ref| <= atol * max|ref| + rtol * |ref|; gaps hold the
 * sentinel in both. */
static int cmp(const char *what, const float *got, const float *ref, size_t n, float atol,
               float rtol) {
    float mx = 0;
    for (size_t i = 0; i < n; i++)
        if (ref[i] != SENTINEL && fabsf(ref[i]) > mx)
            mx = fabsf(ref[i]);
    return tu_compare(what, got, ref, n, atol * (mx > 1e-6f ? mx : 1e-6f), rtol) == 0;
}

/* ---------------------------------------------------------------- (a) SSD ref == scan ref */

static void scan_equiv_check(const spec *sp) {
    prob p = make_prob(sp, 5);
    const climp_ssd_shape *s = &p.s;
    const int E = p.E, N = s->N, P = s->P, H = s->H;
    const size_t BL = (size_t)s->B * s->L;
    climp_scan_shape c;
    memset(&c, 0, sizeof c);
    c.B = s->B, c.L = s->L, c.Dc = E, c.N = N, c.G = s->G;
    c.ld_u = s->ld_x, c.ld_dt = E, c.ld_out = s->ld_y, c.ld_dout = s->ld_dy, c.ld_ddt = E;
    c.bc_stride_b = s->bc_stride_b, c.bc_stride_l = s->bc_stride_l, c.bc_stride_g = s->bc_stride_g;
    float *dte = tu_filled(BL * E, 0), *Ae = tu_filled((size_t)E * N, 0), *De = tu_filled(E, 0);
    float *be = tu_filled(E, 0), *dAe = tu_filled((size_t)E * N, 0), *dDe = tu_filled(E, 0);
    float *dbe = tu_filled(E, 0), *ddte = tu_filled(BL * E, 0);
    for (int ch = 0; ch < E; ch++) {
        const int h = ch / P;
        for (size_t t = 0; t < BL; t++)
            dte[t * E + ch] = p.dt[t * s->ld_dt + h];
        for (int n = 0; n < N; n++)
            Ae[(size_t)ch * N + n] = p.A[h];
        De[ch] = p.D[h], be[ch] = p.bias[h];
    }
    float *yo = tu_filled(p.n_y, SENTINEL), *dxo = tu_filled(p.n_xb, SENTINEL);
    climp_scan_forward_ref(&c, p.xb, dte, Ae, p.xb + p.b_off, p.xb + p.c_off, De, be, NULL, yo);
    climp_scan_backward_ref(&c, p.xb, dte, Ae, p.xb + p.b_off, p.xb + p.c_off, De, be, NULL, p.dy,
                            dxo, ddte, dAe, dxo + p.b_off, dxo + p.c_off, dDe, dbe, NULL);
    /* the SSD reference, with zero-started accumulators */
    for (int h = 0; h < H; h++)
        p.dA0[h] = p.dD0[h] = p.db0[h] = 0;
    res r = run_ref(&p);
    float *ddth = tu_filled(p.n_ddt, SENTINEL), *dAh = tu_filled(H, 0), *dDh = tu_filled(H, 0);
    float *dbh = tu_filled(H, 0);
    for (int h = 0; h < H; h++) {
        for (size_t t = 0; t < BL; t++) {
            double acc = 0;
            for (int q = 0; q < P; q++)
                acc += ddte[t * E + h * P + q];
            ddth[t * s->ld_ddt + h] = (float)acc;
        }
        double a = 0, d = 0, b = 0;
        for (int q = 0; q < P; q++) {
            for (int n = 0; n < N; n++)
                a += dAe[(size_t)(h * P + q) * N + n];
            d += dDe[h * P + q], b += dbe[h * P + q];
        }
        dAh[h] = (float)a, dDh[h] = (float)d, dbh[h] = (float)b;
    }
    int ok = cmp("y ssd-ref vs scan-ref", r.y, yo, p.n_y, 1e-5f, 1e-5f);
    ok &= cmp("dx/dB/dC ssd-ref vs scan-ref", r.dxb, dxo, p.n_xb, 1e-5f, 1e-5f);
    ok &= cmp("ddt_raw ssd-ref vs scan-ref", r.ddt, ddth, p.n_ddt, 1e-5f, 1e-5f);
    ok &= cmp("dA_log ssd-ref vs scan-ref", r.dA, dAh, H, 1e-5f, 1e-5f);
    ok &= cmp("dD ssd-ref vs scan-ref", r.dD, dDh, H, 1e-5f, 1e-5f);
    ok &= cmp("ddt_bias ssd-ref vs scan-ref", r.db, dbh, H, 1e-5f, 1e-5f);
    tu_check(ok, "(a) %s: SSD reference equals the per-channel scan reference", sp->name);
    printf("(a) %-10s ssd ref vs scan ref: %s\n", sp->name, ok ? "same" : "DIFFERENT");
    float *all[] = {dte, Ae, De, be, dAe, dDe, dbe, ddte, yo, dxo, ddth, dAh, dDh, dbh};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        free(all[i]);
    free_res(&r);
    free_prob(&p);
}

/* ---------------------------------------------------------------- (b) finite differences */

static double *to_d(const float *x, size_t n) {
    double *d = calloc(n ? n : 1, sizeof(double));
    if (!d)
        abort();
    for (size_t i = 0; i < n; i++)
        d[i] = x[i];
    return d;
}

static double fd_loss(const prob *p, double *const *in, const double *w) {
    const climp_ssd_shape *s = &p->s;
    double *y = calloc(p->n_y, sizeof(double)), loss = 0;
    climp_ssd_forward_ref_f64(s, in[0], in[1], in[2], in[0] + p->b_off, in[0] + p->c_off, in[3],
                              in[4], y);
    for (size_t t = 0; t < (size_t)s->B * s->L; t++)
        for (int c = 0; c < p->E; c++)
            loss += w[t * s->ld_dy + c] * y[t * s->ld_y + c];
    free(y);
    return loss;
}

static void fd_check(const spec *sp) {
    prob p = make_prob(sp, 11);
    const climp_ssd_shape *s = &p.s;
    const size_t H = (size_t)s->H;
    const size_t sz[5] = {p.n_xb, p.n_dt, H, H, H};
    const float *src[5] = {p.xb, p.dt, p.A, p.D, p.bias};
    const char *names[5] = {"dx/dBm/dCm", "ddt_raw", "dA_log", "dD", "ddt_bias"};
    double *in[5], *gr[5], *w = to_d(p.dy, p.n_dy);
    for (int i = 0; i < 5; i++) {
        in[i] = to_d(src[i], sz[i]);
        gr[i] = calloc(i == 1 ? p.n_ddt : sz[i], sizeof(double));
    }
    climp_ssd_backward_ref_f64(s, in[0], in[1], in[2], in[0] + p.b_off, in[0] + p.c_off, in[3],
                               in[4], w, gr[0], gr[1], gr[2], gr[0] + p.b_off, gr[0] + p.c_off,
                               gr[3], gr[4]);
    const size_t own = p.c_off + (size_t)s->G * s->N; /* owned columns of xb rows */
    for (int i = 0; i < 5; i++) {
        double maxerr = 0;
        int checked = 0, bad = 0;
        for (size_t e = 0; e < sz[i]; e++) {
            size_t ge = e;
            if (i == 0 && e % (size_t)s->ld_x >= own)
                continue;
            if (i == 1) {
                if ((int)(e % s->ld_dt) >= s->H)
                    continue;
                ge = e / s->ld_dt * s->ld_ddt + e % s->ld_dt;
            }
            const double x0 = in[i][e], h = 1e-5 * (1 + fabs(x0));
            in[i][e] = x0 + h;
            const double lp = fd_loss(&p, in, w);
            in[i][e] = x0 - h;
            const double lm = fd_loss(&p, in, w);
            in[i][e] = x0;
            const double fd = (lp - lm) / (2 * h), an = gr[i][ge], err = fabs(fd - an);
            maxerr = err > maxerr ? err : maxerr;
            if (err > 1e-7 + 1e-6 * fabs(fd) && bad++ < 4)
                fprintf(stderr, "  fd %s %s[%zu]: fd %.10g analytic %.10g\n", sp->name, names[i],
                        e, fd, an);
            checked++;
        }
        tu_check(bad == 0 && checked > 0, "(b) fd %s %s: %d of %d bad, max err %.2e", sp->name,
                 names[i], bad, checked, maxerr);
        printf("(b) fd %-8s %-11s %4d elements, max |fd - analytic| %.2e\n", sp->name, names[i],
               checked, maxerr);
    }
    for (int i = 0; i < 5; i++)
        free(in[i]), free(gr[i]);
    free(w);
    free_prob(&p);
}

/* ---------------------------------------------------------------- device */

typedef struct devbufs {
    climp_buffer *xb, *dt, *A, *D, *bias, *y, *st, *dy, *scr, *dxb, *ddt, *dA, *dD, *db;
    climp_tview x, Bm, Cm, dx, dB, dC;
} devbufs;

static climp_tview V(climp_buffer *b) {
    return climp_buffer_view(b);
}

static void dev_setup(climp_ctx *ctx, const prob *p, devbufs *d) {
    const climp_ssd_shape *s = &p->s;
    const size_t H = (size_t)s->H;
    float *sy = tu_filled(p->n_y, SENTINEL), *sx = tu_filled(p->n_xb, SENTINEL);
    float *sd = tu_filled(p->n_ddt, SENTINEL);
    d->xb = tu_upload(ctx, "xb", p->xb, p->n_xb), d->dt = tu_upload(ctx, "dt", p->dt, p->n_dt);
    d->A = tu_upload(ctx, "A", p->A, H), d->D = tu_upload(ctx, "D", p->D, H);
    d->bias = tu_upload(ctx, "bias", p->bias, H), d->y = tu_upload(ctx, "y", sy, p->n_y);
    CLIMP_CHECK(climp_buffer_create(ctx, "st", climp_ssd_states_size(s) * 4, &d->st));
    CLIMP_CHECK(climp_buffer_create(ctx, "scr", climp_ssd_bwd_scratch_size(s) * 4, &d->scr));
    d->dy = tu_upload(ctx, "dy", p->dy, p->n_dy), d->dxb = tu_upload(ctx, "dxb", sx, p->n_xb);
    d->ddt = tu_upload(ctx, "ddt", sd, p->n_ddt), d->dA = tu_upload(ctx, "dA", p->dA0, H);
    d->dD = tu_upload(ctx, "dD", p->dD0, H), d->db = tu_upload(ctx, "db", p->db0, H);
    d->x = climp_view_sub(V(d->xb), 0, p->n_xb);
    d->Bm = climp_view_sub(V(d->xb), p->b_off, p->n_bc);
    d->Cm = climp_view_sub(V(d->xb), p->c_off, p->n_bc);
    d->dx = climp_view_sub(V(d->dxb), 0, p->n_xb);
    d->dB = climp_view_sub(V(d->dxb), p->b_off, p->n_bc);
    d->dC = climp_view_sub(V(d->dxb), p->c_off, p->n_bc);
    free(sy), free(sx), free(sd);
}

static void dev_forward(climp_ctx *ctx, const climp_ssd_shape *s, devbufs *d) {
    CLIMP_CHECK(climp_ssd_forward(ctx, s, d->x, V(d->dt), V(d->A), d->Bm, d->Cm, V(d->D),
                                  V(d->bias), V(d->y), V(d->st)));
}
static void dev_backward(climp_ctx *ctx, const climp_ssd_shape *s, devbufs *d) {
    CLIMP_CHECK(climp_ssd_backward(ctx, s, d->x, V(d->dt), V(d->A), d->Bm, d->Cm, V(d->D),
                                   V(d->bias), V(d->st), V(d->dy), V(d->scr), d->dx, V(d->ddt),
                                   V(d->dA), d->dB, d->dC, V(d->dD), V(d->db)));
}
static void dev_free(devbufs *d) {
    climp_buffer *all[] = {d->xb, d->dt, d->A,   d->D,   d->bias, d->y,  d->st,
                           d->dy, d->scr, d->dxb, d->ddt, d->dA,   d->dD, d->db};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        climp_buffer_destroy(all[i]);
}

static res run_dev(climp_ctx *ctx, const prob *p) {
    devbufs d;
    dev_setup(ctx, p, &d);
    dev_forward(ctx, &p->s, &d);
    dev_backward(ctx, &p->s, &d);
    CLIMP_CHECK(climp_finish(ctx));
    const size_t H = (size_t)p->s.H;
    res r = {tu_download(ctx, V(d.y), p->n_y),     tu_download(ctx, V(d.dxb), p->n_xb),
             tu_download(ctx, V(d.ddt), p->n_ddt), tu_download(ctx, V(d.dA), H),
             tu_download(ctx, V(d.dD), H),         tu_download(ctx, V(d.db), H)};
    dev_free(&d);
    return r;
}

/* fp32 chunked sums against a double reference: |err| <= 1e-4 max|ref| + 1e-3 |ref|, the same
 * bound as the scan test */
static void device_check(climp_ctx *ctx, const spec *sp) {
    prob p = make_prob(sp, 23);
    res r = run_ref(&p), g = run_dev(ctx, &p);
    const size_t H = (size_t)p.s.H;
    const char *names[6] = {"y", "dx/dBm/dCm", "ddt_raw", "dA_log", "dD", "ddt_bias"};
    const float *gv[6] = {g.y, g.dxb, g.ddt, g.dA, g.dD, g.db};
    const float *rv[6] = {r.y, r.dxb, r.ddt, r.dA, r.dD, r.db};
    const size_t n[6] = {p.n_y, p.n_xb, p.n_ddt, H, H, H};
    int ok = 1;
    double worst = 0;
    for (int i = 0; i < 6; i++) {
        char what[96];
        snprintf(what, sizeof what, "%s %s", sp->name, names[i]);
        ok &= cmp(what, gv[i], rv[i], n[i], 1e-4f, 1e-3f);
        const double e = tu_rel_maxnorm(gv[i], rv[i], n[i]);
        worst = e > worst ? e : worst;
    }
    tu_check(ok, "(c) device vs reference %s", sp->name);
    printf("(c) %-12s B=%d L=%d H=%d P=%d N=%d G=%d Q=%d: %s, max-norm rel err %.2e\n", sp->name,
           sp->B, sp->L, sp->H, sp->P, sp->N, sp->G, sp->chunk ? sp->chunk : 64,
           ok ? "ok" : "MISMATCH", worst);
    free_res(&r), free_res(&g);
    free_prob(&p);
}

static void determinism_check(climp_ctx *ctx, const spec *sp) {
    prob p = make_prob(sp, 31);
    res a = run_dev(ctx, &p), b = run_dev(ctx, &p);
    const size_t H = (size_t)p.s.H;
    const int same = !memcmp(a.y, b.y, p.n_y * 4) && !memcmp(a.dxb, b.dxb, p.n_xb * 4) &&
                     !memcmp(a.ddt, b.ddt, p.n_ddt * 4) && !memcmp(a.dA, b.dA, H * 4) &&
                     !memcmp(a.dD, b.dD, H * 4) && !memcmp(a.db, b.db, H * 4);
    tu_check(same, "(e) %s: two runs give bitwise the same outputs", sp->name);
    printf("(e) determinism %s: %s\n", sp->name, same ? "bitwise identical" : "DIFFERENT");
    free_res(&a), free_res(&b);
    free_prob(&p);
}

/* ---------------------------------------------------------------- (d) invalid arguments */

static void invalid_check(climp_ctx *ctx) {
    const climp_ssd_shape ok = {.B = 2, .L = 9, .H = 2, .P = 3, .N = 2, .G = 1, .ld_x = 10,
                                .ld_dt = 2, .ld_y = 6, .bc_stride_b = 90, .bc_stride_l = 10,
                                .bc_stride_g = 2, .chunk = 4};
    climp_buffer *big = NULL;
    CLIMP_CHECK(climp_buffer_create(ctx, "big", 1 << 16, &big));
    float *before = tu_filled(1 << 14, 3.5f);
    CLIMP_CHECK(climp_view_write(ctx, climp_buffer_view(big), before, 1 << 14));
    climp_tview v = climp_buffer_view(big), small = climp_view_sub(v, 0, 8), none = {NULL, 0, 0};
    const long l0 = climp_ctx_counters(ctx).launches;
    struct {
        const char *what;
        climp_ssd_shape s;
        climp_status want;
    } cases[] = {{"B=0", ok, CLIMP_ERR_SHAPE},          {"G does not divide H", ok, CLIMP_ERR_SHAPE},
                 {"N=257", ok, CLIMP_ERR_SHAPE},        {"ld_x < H*P", ok, CLIMP_ERR_SHAPE},
                 {"ld_dt < H", ok, CLIMP_ERR_SHAPE},    {"B/C strides overlap", ok, CLIMP_ERR_SHAPE},
                 {"chunk 300", ok, CLIMP_ERR_INVALID_ARG}, {"ld_dx < H*P", ok, CLIMP_ERR_SHAPE}};
    cases[0].s.B = 0, cases[1].s.G = 3, cases[2].s.N = 257, cases[3].s.ld_x = 5;
    cases[4].s.ld_dt = 1, cases[5].s.bc_stride_l = 1, cases[6].s.chunk = 300, cases[7].s.ld_dx = 4;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const climp_ssd_shape *s = &cases[i].s;
        const climp_status e = climp_ssd_forward(ctx, s, v, v, v, v, v, v, v, v, v);
        const climp_status e2 =
            climp_ssd_backward(ctx, s, v, v, v, v, v, v, v, v, v, v, v, v, v, v, v, v, v);
        tu_check(e == cases[i].want && e2 == cases[i].want, "(d) %s: forward %s backward %s",
                 cases[i].what, climp_status_name(e), climp_status_name(e2));
    }
    const climp_ssd_shape *s = &ok;
    struct {
        const char *what;
        climp_status got, want;
    } vc[] = {
        {"x too small", climp_ssd_forward(ctx, s, small, v, v, v, v, v, v, v, v),
         CLIMP_ERR_BUFFER_TOO_SMALL},
        {"Cm too small", climp_ssd_forward(ctx, s, v, v, v, v, small, v, v, v, v),
         CLIMP_ERR_BUFFER_TOO_SMALL},
        {"states too small", climp_ssd_forward(ctx, s, v, v, v, v, v, v, v, v, small),
         CLIMP_ERR_BUFFER_TOO_SMALL},
        {"y missing", climp_ssd_forward(ctx, s, v, v, v, v, v, v, v, none, v),
         CLIMP_ERR_INVALID_ARG},
        {"null ctx", climp_ssd_forward(NULL, s, v, v, v, v, v, v, v, v, v), CLIMP_ERR_INVALID_ARG},
        {"scratch too small",
         climp_ssd_backward(ctx, s, v, v, v, v, v, v, v, v, v, small, v, v, v, v, v, v, v),
         CLIMP_ERR_BUFFER_TOO_SMALL},
        {"dCm too small",
         climp_ssd_backward(ctx, s, v, v, v, v, v, v, v, v, v, v, v, v, v, v, small, v, v),
         CLIMP_ERR_BUFFER_TOO_SMALL},
        {"ddt_bias missing",
         climp_ssd_backward(ctx, s, v, v, v, v, v, v, v, v, v, v, v, v, v, v, v, v, none),
         CLIMP_ERR_INVALID_ARG},
    };
    for (size_t i = 0; i < sizeof vc / sizeof vc[0]; i++)
        tu_check(vc[i].got == vc[i].want, "(d) %s: got %s", vc[i].what,
                 climp_status_name(vc[i].got));
    const long l1 = climp_ctx_counters(ctx).launches;
    float *after = tu_download(ctx, v, 1 << 14);
    tu_check(l1 == l0 && !memcmp(before, after, (1 << 14) * sizeof(float)),
             "(d) invalid calls enqueued nothing (%ld launches)", l1 - l0);
    printf("(d) invalid arguments: %zu shape cases, %zu view cases, %ld launches\n",
           sizeof cases / sizeof cases[0], sizeof vc / sizeof vc[0], l1 - l0);
    free(before), free(after);
    climp_buffer_destroy(big);
}

static void ssd_bench(climp_ctx *ctx); /* below */

int main(void) {
    if (getenv("CLIMP_SSD_BENCH")) {
        climp_ctx *ctx = tu_open_ctx();
        ssd_bench(ctx);
        if (getenv("CLIMP_PROFILE"))
            climp_profile_print(ctx, stdout); /* per-kernel times with CLIMP_PROFILE=1 */
        climp_ctx_close(ctx);
        return 0;
    }
    const spec eq[] = {{"eq-g2", 2, 9, 4, 3, 5, 2, 0, 1}, {"eq-g1", 1, 13, 2, 4, 3, 1, 0, 0}};
    for (size_t i = 0; i < sizeof eq / sizeof eq[0]; i++)
        scan_equiv_check(&eq[i]);
    const spec fd[] = {{"fd-g2", 2, 5, 2, 3, 2, 2, 0, 1}, {"fd-g1", 1, 6, 3, 2, 3, 1, 0, 0}};
    for (size_t i = 0; i < sizeof fd / sizeof fd[0]; i++)
        fd_check(&fd[i]);

    climp_ctx *ctx = tu_open_ctx();
    const spec dev[] = {
        {"L1", 1, 1, 1, 5, 3, 1, 4, 0},        {"L2-q4", 2, 2, 2, 5, 3, 2, 4, 1},
        {"L7-q4", 2, 7, 2, 5, 3, 2, 4, 0},     {"L4-q4", 1, 4, 1, 5, 3, 1, 4, 2},
        {"L37-q4", 1, 37, 3, 5, 3, 3, 4, 1},   {"L13-q7", 2, 13, 4, 10, 9, 2, 7, 0},
        {"L131-q7", 1, 131, 2, 10, 9, 1, 7, 3}, {"L67-q64", 1, 67, 2, 10, 9, 2, 0, 0},
        {"mamba2", 2, 200, 4, 64, 128, 1, 0, 0},
    };
    for (size_t i = 0; i < sizeof dev / sizeof dev[0]; i++)
        device_check(ctx, &dev[i]);
    determinism_check(ctx, &dev[8]);
    determinism_check(ctx, &dev[6]);
    invalid_check(ctx);
    climp_ctx_close(ctx);
    return tu_finish("test_ssd");
}

/* ---------------------------------------------------------------- bench (CLIMP_SSD_BENCH=1) */

static int cmp_d(const void *a, const void *b) {
    const double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}
static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof(double), cmp_d);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}
static double since(double t0) {
    return climp_now_seconds() - t0;
}

/* The per-channel scan exactly as model/mamba.c runs Mamba-2: Dc = H*P, u and Bm/Cm slices of
 * the conv output, dt/A_log/D/dt_bias repeated per channel, no z. */
typedef struct scanbufs {
    climp_scan_shape c;
    climp_buffer *dt, *A, *D, *b, *out, *st, *scr, *du, *ddt, *dA, *dD, *db;
} scanbufs;

static void scan_setup(climp_ctx *ctx, const prob *p, scanbufs *q) {
    const climp_ssd_shape *s = &p->s;
    const int E = p->E, N = s->N, P = s->P;
    const size_t BL = (size_t)s->B * s->L;
    climp_scan_shape *c = &q->c;
    memset(c, 0, sizeof *c);
    c->B = s->B, c->L = s->L, c->Dc = E, c->N = N, c->G = s->G;
    c->ld_u = s->ld_x, c->ld_dt = E, c->ld_z = E, c->ld_out = E;
    c->bc_stride_b = s->bc_stride_b, c->bc_stride_l = s->bc_stride_l;
    c->bc_stride_g = s->bc_stride_g;
    float *dte = tu_filled(BL * E, 0), *Ae = tu_filled((size_t)E * N, 0), *De = tu_filled(E, 0);
    float *be = tu_filled(E, 0), *z = tu_filled(BL * E > (size_t)E * N ? BL * E : (size_t)E * N, 0);
    for (int ch = 0; ch < E; ch++) {
        for (size_t t = 0; t < BL; t++)
            dte[t * E + ch] = p->dt[t * s->ld_dt + ch / P];
        for (int n = 0; n < N; n++)
            Ae[(size_t)ch * N + n] = p->A[ch / P];
        De[ch] = p->D[ch / P], be[ch] = p->bias[ch / P];
    }
    q->dt = tu_upload(ctx, "sdt", dte, BL * E), q->A = tu_upload(ctx, "sA", Ae, (size_t)E * N);
    q->D = tu_upload(ctx, "sD", De, E), q->b = tu_upload(ctx, "sb", be, E);
    q->out = tu_upload(ctx, "sout", z, BL * E), q->ddt = tu_upload(ctx, "sddt", z, BL * E);
    q->du = tu_upload(ctx, "sdu", p->xb, p->n_xb), q->dA = tu_upload(ctx, "sdA", z, (size_t)E * N);
    q->dD = tu_upload(ctx, "sdD", z, E), q->db = tu_upload(ctx, "sdb", z, E);
    CLIMP_CHECK(climp_buffer_create(ctx, "sst", climp_scan_states_size(c) * 4, &q->st));
    CLIMP_CHECK(climp_buffer_create(ctx, "sscr", climp_scan_bwd_scratch_size(c) * 4, &q->scr));
    free(dte), free(Ae), free(De), free(be), free(z);
}

static void scan_fwd(climp_ctx *ctx, const prob *p, devbufs *d, scanbufs *q) {
    (void)p;
    CLIMP_CHECK(climp_scan_forward(ctx, &q->c, d->x, V(q->dt), V(q->A), d->Bm, d->Cm, V(q->D),
                                   V(q->b), (climp_tview){0}, V(q->out), V(q->st)));
}
static void scan_bwd(climp_ctx *ctx, const prob *p, devbufs *d, scanbufs *q) {
    climp_tview du = V(q->du);
    CLIMP_CHECK(climp_scan_backward(
        ctx, &q->c, d->x, V(q->dt), V(q->A), d->Bm, d->Cm, V(q->D), V(q->b), (climp_tview){0},
        V(q->st), V(d->dy), V(q->scr), du, V(q->ddt), V(q->dA), climp_view_sub(du, p->b_off, p->n_bc),
        climp_view_sub(du, p->c_off, p->n_bc), V(q->dD), V(q->db), (climp_tview){0}));
}

static void ssd_bench(climp_ctx *ctx) {
    const char *re = getenv("CLIMP_SSD_BENCH_REPS"), *only = getenv("CLIMP_SSD_BENCH_ONLY");
    const int reps = re && atoi(re) > 0 ? atoi(re) : 7;
    const spec shapes[] = {{"m2-130m B4 L256", 4, 256, 24, 64, 128, 1, 0, 0},
                           {"m2-130m B1 L2048", 1, 2048, 24, 64, 128, 1, 0, 0},
                           {"m2-130m B1 L256", 1, 256, 24, 64, 128, 1, 0, 0}};
    printf("device: %s; %d reps after one warm-up, medians, climp_finish around each call\n",
           climp_ctx_info(ctx)->name, reps);
    for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
        const spec *sp = &shapes[si];
        if (only && !strstr(sp->name, only))
            continue;
        prob p = make_prob(sp, 7);
        devbufs d;
        scanbufs q;
        dev_setup(ctx, &p, &d);
        scan_setup(ctx, &p, &q);
        dev_forward(ctx, &p.s, &d), dev_backward(ctx, &p.s, &d);
        scan_fwd(ctx, &p, &d, &q), scan_bwd(ctx, &p, &d, &q);
        CLIMP_CHECK(climp_finish(ctx));
        double tf[64], tb[64], sf[64], sb[64];
        const int n = reps < 64 ? reps : 64;
        for (int r = 0; r < n; r++) {
            double t = climp_now_seconds();
            dev_forward(ctx, &p.s, &d);
            CLIMP_CHECK(climp_finish(ctx));
            tf[r] = since(t), t = climp_now_seconds();
            scan_fwd(ctx, &p, &d, &q);
            CLIMP_CHECK(climp_finish(ctx));
            sf[r] = since(t), t = climp_now_seconds();
            dev_backward(ctx, &p.s, &d);
            CLIMP_CHECK(climp_finish(ctx));
            tb[r] = since(t), t = climp_now_seconds();
            scan_bwd(ctx, &p, &d, &q);
            CLIMP_CHECK(climp_finish(ctx));
            sb[r] = since(t);
        }
        const double mtf = median(tf, n), mtb = median(tb, n), msf = median(sf, n);
        const double msb = median(sb, n);
        printf("%-17s SSD fwd %8.1f ms bwd %8.1f ms | scan fwd %8.1f ms bwd %8.1f ms | "
               "scan/SSD: fwd %.2fx bwd %.2fx fwd+bwd %.2fx\n",
               sp->name, 1e3 * mtf, 1e3 * mtb, 1e3 * msf, 1e3 * msb, msf / mtf, msb / mtb,
               (msf + msb) / (mtf + mtb));
        fflush(stdout);
        if (getenv("CLIMP_SSD_BENCH_REF") && si == 0) {
            res r;
            double t = climp_now_seconds();
            r.y = tu_filled(p.n_y, 0);
            climp_ssd_forward_ref(&p.s, p.xb, p.dt, p.A, p.xb + p.b_off, p.xb + p.c_off, p.D,
                                  p.bias, r.y);
            const double rf = since(t);
            free(r.y);
            t = climp_now_seconds();
            r = run_ref(&p);
            const double rb = since(t) - rf;
            printf("%-17s C reference (1 thread, double): fwd %.1f ms bwd %.1f ms; ref/SSD-device "
                   "fwd %.1fx bwd %.1fx\n",
                   sp->name, 1e3 * rf, 1e3 * rb, rf / mtf, rb / mtb);
            free_res(&r);
        }
        climp_buffer *all[] = {q.dt, q.A,   q.D,  q.b,   q.out, q.st,
                               q.scr, q.du, q.ddt, q.dA, q.dD,  q.db};
        for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
            climp_buffer_destroy(all[i]);
        dev_free(&d);
        free_prob(&p);
    }
}
