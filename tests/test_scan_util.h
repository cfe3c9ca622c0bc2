/* Shared helpers of the selective scan tests (tests/test_scan.c, tests/test_scan_tune.c): problem
 * generation (random inputs in x_dbl-like or Mamba-2 layouts, strided views, untouched gaps), the C
 * reference run, the device run with sentinel-filled outputs, the comparison against the
 * reference (elementwise and max-norm tolerances), the device-vs-reference and determinism
 * checks. Included by each test (each tests/test_*.c is its own executable), so the functions
 * are static. */
#ifndef CLIMP_TEST_SCAN_UTIL_H
#define CLIMP_TEST_SCAN_UTIL_H
#define _POSIX_C_SOURCE 200809L
#include "model/scan.h"
#include "tests/testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SENTINEL 7.25f

/* A problem: shape plus host data. Bm/Cm live in one "x_dbl"-like buffer xbc at b_off / c_off
 * (xdbl layout: per (token, group) records of R+2N floats; mamba2 layout: the conv output
 * (B, L, Dc + 2GN) with B and C after the Dc channels). */
typedef struct spec {
    const char *name;
    int B, L, Dc, N, G, has_z, R, pad, mamba2;
} spec;

typedef struct prob {
    climp_scan_shape s;
    int has_z;
    size_t n_u, n_dt, n_z, n_out, n_x, b_off, c_off, dn;
    float *u, *dt, *z, *x, *A_log, *D, *bias, *dout, *dA0, *dD0, *db0;
} prob;

static prob make_prob(const spec *sp, uint64_t seed) {
    prob p;
    memset(&p, 0, sizeof p);
    climp_scan_shape *s = &p.s;
    s->B = sp->B, s->L = sp->L, s->Dc = sp->Dc, s->N = sp->N, s->G = sp->G;
    s->ld_u = sp->Dc + sp->pad, s->ld_dt = sp->Dc + 2 * sp->pad, s->ld_out = sp->Dc + sp->pad;
    s->ld_z = sp->has_z ? 2 * sp->Dc : 0; /* z is the second half of xz (B, L, 2Dc) */
    s->ld_dout = sp->Dc, s->ld_ddt = sp->Dc + 3 * sp->pad;
    if (sp->mamba2) {
        const size_t cd = (size_t)sp->Dc + 2 * (size_t)sp->G * sp->N;
        s->bc_stride_g = sp->N, s->bc_stride_l = cd, s->bc_stride_b = cd * sp->L;
        p.b_off = sp->Dc, p.c_off = sp->Dc + (size_t)sp->G * sp->N;
    } else {
        const size_t rec = (size_t)sp->R + 2 * sp->N;
        s->bc_stride_g = rec, s->bc_stride_l = rec * sp->G, s->bc_stride_b = rec * sp->G * sp->L;
        p.b_off = sp->R, p.c_off = sp->R + sp->N;
    }
    p.has_z = sp->has_z;
    p.n_u = climp_scan_tok_extent(s, s->ld_u), p.n_dt = climp_scan_tok_extent(s, s->ld_dt);
    p.n_z = sp->has_z ? climp_scan_tok_extent(s, s->ld_z) : 0;
    p.n_out = climp_scan_tok_extent(s, s->ld_out);
    p.n_x = p.c_off + climp_scan_bc_extent(s);
    p.dn = (size_t)sp->Dc * sp->N;
    tu_rng r;
    tu_rng_seed(&r, seed);
    p.u = tu_alloc_rand(&r, p.n_u, -1, 1);
    p.dt = tu_alloc_rand(&r, p.n_dt, -4, 1);
    for (size_t i = 0; i < p.n_dt; i += 97)
        p.dt[i] = tu_uniform(&r, 20.5f, 24); /* linear branch */
    p.z = tu_alloc_rand(&r, p.n_z, -3, 3);
    p.x = tu_alloc_rand(&r, p.n_x, -1, 1);
    p.A_log = tu_alloc_rand(&r, p.dn, -1, 2.5f);
    p.D = tu_alloc_rand(&r, sp->Dc, -1, 1);
    p.bias = tu_alloc_rand(&r, sp->Dc, -2, 0.5f);
    p.dout = tu_alloc_rand(&r, climp_scan_tok_extent(s, s->ld_dout), -1, 1);
    p.dA0 = tu_alloc_rand(&r, p.dn, -1, 1);
    p.dD0 = tu_alloc_rand(&r, sp->Dc, -1, 1);
    p.db0 = tu_alloc_rand(&r, sp->Dc, -1, 1);
    if (sp->mamba2) { /* per-head dt, A_log, D, bias repeated over the head's 64 channels */
        const int P = 64;
        for (int c = 0; c < sp->Dc; c++) {
            const int h0 = c / P * P;
            for (int n = 0; n < sp->N; n++)
                p.A_log[(size_t)c * sp->N + n] = p.A_log[(size_t)h0 * sp->N];
            p.D[c] = p.D[h0], p.bias[c] = p.bias[h0];
            for (size_t t = 0; t < (size_t)sp->B * sp->L; t++)
                p.dt[t * s->ld_dt + c] = p.dt[t * s->ld_dt + h0];
        }
    }
    return p;
}

static void free_prob(prob *p) {
    float *all[] = {p->u,    p->dt,   p->z,   p->x,   p->A_log, p->D,
                    p->bias, p->dout, p->dA0, p->dD0, p->db0};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        free(all[i]);
}

/* ---------------------------------------------------------------- (2) device vs reference */

typedef struct refres {
    float *out, *du, *ddt, *dz, *dx, *dA, *dD, *db;
} refres;

static void free_res(refres *r) {
    free(r->out), free(r->du), free(r->ddt), free(r->dz), free(r->dx), free(r->dA), free(r->dD),
        free(r->db);
}

static size_t tokn(const prob *p, int ld) {
    return ld ? climp_scan_tok_extent(&p->s, ld) : 0;
}

static refres run_ref(const prob *p) {
    const climp_scan_shape *s = &p->s;
    refres r;
    r.out = tu_filled(p->n_out, SENTINEL);
    r.du = tu_filled(tokn(p, s->ld_u), SENTINEL);
    r.ddt = tu_filled(tokn(p, s->ld_ddt), SENTINEL);
    r.dz = tu_filled(p->n_z, SENTINEL);
    r.dx = tu_filled(p->n_x, SENTINEL);
    r.dA = tu_dup(p->dA0, p->dn), r.dD = tu_dup(p->dD0, s->Dc), r.db = tu_dup(p->db0, s->Dc);
    const float *z = p->has_z ? p->z : NULL;
    climp_scan_forward_ref(s, p->u, p->dt, p->A_log, p->x + p->b_off, p->x + p->c_off, p->D,
                           p->bias, z, r.out);
    climp_scan_backward_ref(s, p->u, p->dt, p->A_log, p->x + p->b_off, p->x + p->c_off, p->D,
                            p->bias, z, p->dout, r.du, r.ddt, r.dA, r.dx + p->b_off,
                            r.dx + p->c_off, r.dD, r.db, p->has_z ? r.dz : NULL);
    return r;
}

typedef struct devbufs {
    climp_buffer *u, *dt, *z, *x, *A, *D, *bias, *out, *st, *dout, *scr, *du, *ddt, *dz, *dx, *dA,
        *dD, *db;
    climp_tview Bm, Cm, dB, dC, vz, vdz;
} devbufs;

static climp_tview V(climp_buffer *b) {
    return climp_buffer_view(b);
}

/* Upload the inputs; outputs start as the sentinel (gaps must keep it), += outputs as dA0.. */
static void dev_setup(climp_ctx *ctx, const prob *p, const climp_scan_shape *s, devbufs *d) {
    const size_t nu = tokn(p, s->ld_u), nddt = tokn(p, s->ld_ddt), nbc = climp_scan_bc_extent(s);
    float *so = tu_filled(p->n_out, SENTINEL), *sx = tu_filled(p->n_x, SENTINEL);
    float *su = tu_filled(nu, SENTINEL), *sdt = tu_filled(nddt, SENTINEL), *sz = tu_filled(p->n_z, SENTINEL);
    climp_tview none = {NULL, 0, 0};
    d->u = tu_upload(ctx, "u", p->u, p->n_u), d->dt = tu_upload(ctx, "dt", p->dt, p->n_dt);
    d->z = p->has_z ? tu_upload(ctx, "z", p->z, p->n_z) : NULL;
    d->x = tu_upload(ctx, "x", p->x, p->n_x), d->A = tu_upload(ctx, "A", p->A_log, p->dn);
    d->D = tu_upload(ctx, "D", p->D, s->Dc), d->bias = tu_upload(ctx, "b", p->bias, s->Dc);
    d->out = tu_upload(ctx, "out", so, p->n_out);
    CLIMP_CHECK(climp_buffer_create(ctx, "st", climp_scan_states_size(s) * 4, &d->st));
    const size_t nscr = climp_scan_bwd_scratch_size(s); /* 0 for the FPGA variant */
    CLIMP_CHECK(climp_buffer_create(ctx, "scr", (nscr ? nscr : 1) * 4, &d->scr));
    d->dout = tu_upload(ctx, "dout", p->dout, tokn(p, s->ld_dout));
    d->du = tu_upload(ctx, "du", su, nu), d->ddt = tu_upload(ctx, "ddt", sdt, nddt);
    d->dz = p->has_z ? tu_upload(ctx, "dz", sz, p->n_z) : NULL;
    d->dx = tu_upload(ctx, "dx", sx, p->n_x), d->dA = tu_upload(ctx, "dA", p->dA0, p->dn);
    d->dD = tu_upload(ctx, "dD", p->dD0, s->Dc), d->db = tu_upload(ctx, "db", p->db0, s->Dc);
    d->Bm = climp_view_sub(V(d->x), p->b_off, nbc), d->Cm = climp_view_sub(V(d->x), p->c_off, nbc);
    d->dB = climp_view_sub(V(d->dx), p->b_off, nbc),
    d->dC = climp_view_sub(V(d->dx), p->c_off, nbc);
    d->vz = d->z ? V(d->z) : none, d->vdz = d->dz ? V(d->dz) : none;
    free(so), free(sx), free(su), free(sdt), free(sz);
}

static void dev_forward(climp_ctx *ctx, const climp_scan_shape *s, devbufs *d) {
    CLIMP_CHECK(climp_scan_forward(ctx, s, V(d->u), V(d->dt), V(d->A), d->Bm, d->Cm, V(d->D),
                                   V(d->bias), d->vz, V(d->out), V(d->st)));
}

static void dev_backward(climp_ctx *ctx, const climp_scan_shape *s, devbufs *d) {
    CLIMP_CHECK(climp_scan_backward(ctx, s, V(d->u), V(d->dt), V(d->A), d->Bm, d->Cm, V(d->D),
                                    V(d->bias), d->vz, V(d->st), V(d->dout), V(d->scr), V(d->du),
                                    V(d->ddt), V(d->dA), d->dB, d->dC, V(d->dD), V(d->db), d->vdz));
}

static void dev_free(devbufs *d) {
    climp_buffer *all[] = {d->u,    d->dt,  d->z,  d->x,   d->A,  d->D,  d->bias, d->out, d->st,
                           d->dout, d->scr, d->du, d->ddt, d->dz, d->dx, d->dA,   d->dD,  d->db};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        climp_buffer_destroy(all[i]);
}

/* Forward then backward on fresh buffers; results downloaded into r. */
static void run_dev(climp_ctx *ctx, const prob *p, const climp_scan_shape *s, refres *r) {
    devbufs d;
    dev_setup(ctx, p, s, &d);
    dev_forward(ctx, s, &d);
    dev_backward(ctx, s, &d);
    CLIMP_CHECK(climp_finish(ctx));
    r->out = tu_download(ctx, V(d.out), p->n_out);
    r->du = tu_download(ctx, V(d.du), tokn(p, s->ld_u));
    r->ddt = tu_download(ctx, V(d.ddt), tokn(p, s->ld_ddt));
    r->dz = p->has_z ? tu_download(ctx, d.vdz, p->n_z) : tu_filled(0, 0);
    r->dx = tu_download(ctx, V(d.dx), p->n_x);
    r->dA = tu_download(ctx, V(d.dA), p->dn);
    r->dD = tu_download(ctx, V(d.dD), s->Dc);
    r->db = tu_download(ctx, V(d.db), s->Dc);
    dev_free(&d);
}

/* |got - ref| <= ATOL * max|ref| + RTOL * |ref| over the whole arrays (gaps must match exactly:
 * their reference value is the sentinel). Returns the max-norm relative error. */
#define ATOL 1e-4f
#define RTOL 1e-3f
/* and, per tensor, max|got - ref| / max|ref| <= MAXNORM_TOL (fp32 accumulation over up to a few
 * thousand terms; observed <= 6e-7), which catches small systematic errors rtol would hide */
#define MAXNORM_TOL 2e-5
static double cmp(const char *what, const float *got, const float *ref, size_t n, int *fails) {
    float mx = 0;
    for (size_t i = 0; i < n; i++)
        if (ref[i] != SENTINEL && fabsf(ref[i]) > mx)
            mx = fabsf(ref[i]);
    const size_t bad = tu_compare(what, got, ref, n, ATOL * (mx > 1e-6f ? mx : 1e-6f), RTOL);
    *fails += bad != 0;
    return tu_rel_maxnorm(got, ref, n);
}

static double compare_all(const char *tag, const prob *p, const refres *g, const refres *r,
                          int *fails) {
    const climp_scan_shape *s = &p->s;
    const char *names[8] = {"out", "du", "ddelta_raw", "dz", "dx", "dA_log", "dD", "ddelta_bias"};
    const float *gv[8] = {g->out, g->du, g->ddt, g->dz, g->dx, g->dA, g->dD, g->db};
    const float *rv[8] = {r->out, r->du, r->ddt, r->dz, r->dx, r->dA, r->dD, r->db};
    const size_t n[8] = {p->n_out, tokn(p, s->ld_u), tokn(p, s->ld_ddt), p->n_z, p->n_x,
                         p->dn,    (size_t)s->Dc,    (size_t)s->Dc};
    double worst = 0;
    for (int i = 0; i < 8; i++) {
        char w[160];
        snprintf(w, sizeof w, "%s %s", tag, names[i]);
        const double e = cmp(w, gv[i], rv[i], n[i], fails);
        if (getenv("SCAN_TEST_VERBOSE")) printf("  %-60s %.2e\n", w, e);
        if (e > worst)
            worst = e;
    }
    return worst;
}

typedef struct config {
    int variant, cb, wg, split, slab;
} config;

static const char *split_name(int s) {
    return s == CLIMP_SCAN_SPLIT_CHUNKS ? "chunks" : "seq";
}
static const char *variant_name(int v) {
    return v == CLIMP_SCAN_GPU    ? "gpu"
           : v == CLIMP_SCAN_FPGA   ? "fpga"
           : v == CLIMP_SCAN_CPU_N1 ? "cpu-n1"
                                    : "cpu";
}

/* Every config x chunk length of sp against the C reference; rows: the CPU_N1 forward's whole
 * groups per work-item (climp_scan_shape.rows; 0 automatic), checked to be the one used. */
static void device_check_rows(climp_ctx *ctx, const spec *sp, const config *cf, int ncf,
                              const int *chunks, int nch, int rows) {
    prob p = make_prob(sp, 1234 + (uint64_t)sp->L * 7 + sp->Dc);
    refres r = run_ref(&p);
    for (int ci = 0; ci < ncf; ci++)
        for (int k = 0; k < nch; k++) {
            climp_scan_shape s = p.s;
            s.variant = cf[ci].variant, s.cb = cf[ci].cb, s.wg = cf[ci].wg;
            s.split = cf[ci].split, s.chunk = chunks[k], s.slab = cf[ci].slab;
            s.rows = rows;
            climp_scan_shape rs = climp_scan_resolve(ctx, &s);
            char tag[128];
            snprintf(tag, sizeof tag, "%s[%s cb=%d wg=%d %s chunk=%d slab=%d rows=%d]", sp->name,
                     variant_name(rs.variant), rs.cb, rs.wg,
                     split_name(rs.split), rs.chunk, rs.slab, rs.rows);
            if (rows)
                tu_check(rs.rows == rows, "%s: rows %d as asked", tag, rows);
            refres g;
            run_dev(ctx, &p, &s, &g);
            int fails = 0;
            const double e = compare_all(tag, &p, &g, &r, &fails);
            tu_check(fails == 0, "%s matches the reference", tag);
            tu_check(e <= MAXNORM_TOL, "%s max-norm relative error %.2e <= %.0e", tag, e,
                     MAXNORM_TOL);
            printf("%-72s max rel err %.2e\n", tag, e);
            free_res(&g);
        }
    free_res(&r);
    free_prob(&p);
}

static void device_check(climp_ctx *ctx, const spec *sp, const config *cf, int ncf,
                         const int *chunks, int nch) {
    device_check_rows(ctx, sp, cf, ncf, chunks, nch, 0);
}

/* ---------------------------------------------------------------- (3) determinism */

static void determinism_check(climp_ctx *ctx, const spec *sp, const config *cf) {
    prob p = make_prob(sp, 99);
    climp_scan_shape s = p.s;
    s.variant = cf->variant, s.cb = cf->cb, s.wg = cf->wg, s.split = cf->split, s.chunk = 32;
    refres a, b;
    run_dev(ctx, &p, &s, &a);
    run_dev(ctx, &p, &s, &b);
    const int same =
        !memcmp(a.out, b.out, p.n_out * 4) && !memcmp(a.du, b.du, tokn(&p, s.ld_u) * 4) &&
        !memcmp(a.ddt, b.ddt, tokn(&p, s.ld_ddt) * 4) && !memcmp(a.dz, b.dz, p.n_z * 4) &&
        !memcmp(a.dx, b.dx, p.n_x * 4) && !memcmp(a.dA, b.dA, p.dn * 4) &&
        !memcmp(a.dD, b.dD, (size_t)s.Dc * 4) && !memcmp(a.db, b.db, (size_t)s.Dc * 4);
    tu_check(same, "%s variant %d split %d: two backward runs are bitwise equal", sp->name,
             cf->variant, cf->split);
    free_res(&a), free_res(&b), free_prob(&p);
}

/* Awkward shapes: partial channel blocks, one token, odd group counts, chunk boundaries +-1. */
static const spec scan_awkward[] = {
    {"tiny-g2-z", 2, 5, 4, 3, 2, 1, 2, 1, 0}, {"L1", 2, 1, 5, 3, 1, 1, 1, 0, 0},
    {"L7-dc5", 1, 7, 5, 1, 1, 0, 0, 3, 0},    {"L15", 1, 15, 12, 3, 3, 1, 2, 0, 0},
    {"L17", 2, 17, 12, 3, 3, 0, 2, 1, 0},     {"L131-g5", 1, 131, 5, 3, 5, 1, 1, 0, 0},
    {"L65-n3", 1, 65, 20, 3, 2, 1, 3, 0, 0},  {"L63-n1", 2, 63, 20, 1, 1, 1, 0, 2, 0},
};
#define SCAN_NAWKWARD ((int)(sizeof scan_awkward / sizeof scan_awkward[0]))

#endif
