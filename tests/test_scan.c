/* Selective scan tests (model/scan.h): (1) the C backward against central finite differences in
 * double on small shapes, every gradient; (2) every OpenCL variant, chunk mapping and chunk length
 * against the C reference on real-model and awkward shapes, forward and backward, including
 * strided views and untouched gaps; (3) bitwise determinism of the backward; (4) invalid
 * arguments return their error and enqueue nothing; (5) the FPGA single work-item variant
 * (cl_kernels/scan_fpga.cl) through a second context opened with kernel_variant "fpga", on the
 * same shapes, block widths and chunk lengths, plus its determinism and its limits.
 * CLIMP_SCAN_BENCH=1 instead times the device against the single-thread C reference side by side
 * (alternating, medians of CLIMP_SCAN_BENCH_REPS, default 5) at the Mamba-130m and VMamba-T
 * stage-0 shapes of `climp bench kernels` (CLIMP_SCAN_BENCH_ONLY=substring picks shapes,
 * CLIMP_SCAN_BENCH_NOREF=1 times the device alone, CLIMP_SCAN_BENCH_CB=4,16 alternates more
 * device configurations with those channel blocks). */
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

static float *dupf(const float *x, size_t n) {
    float *y = malloc((n ? n : 1) * sizeof(float));
    if (!y)
        abort();
    memcpy(y, x, n * sizeof(float));
    return y;
}
static float *filled(size_t n, float v) {
    float *y = malloc((n ? n : 1) * sizeof(float));
    if (!y)
        abort();
    for (size_t i = 0; i < n; i++)
        y[i] = v;
    return y;
}

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

/* ---------------------------------------------------------------- (1) finite differences */

static double *to_d(const float *x, size_t n) {
    double *d = calloc(n ? n : 1, sizeof(double));
    if (!d)
        abort();
    for (size_t i = 0; i < n; i++)
        d[i] = x[i];
    return d;
}

static double fd_loss(const prob *p, double **in, const double *w) {
    double *out = calloc(p->n_out, sizeof(double)), loss = 0;
    climp_scan_forward_ref_f64(&p->s, in[0], in[1], in[2], in[3] + p->b_off, in[3] + p->c_off,
                               in[4], in[5], p->has_z ? in[6] : NULL, out);
    for (size_t t = 0; t < (size_t)p->s.B * p->s.L; t++)
        for (int c = 0; c < p->s.Dc; c++)
            loss += w[t * p->s.ld_dout + c] * out[t * p->s.ld_out + c];
    free(out);
    return loss;
}

/* One finite-difference pass per gradient: input array, its stored gradient, which elements. */
enum { FD_U, FD_DT, FD_A, FD_BM, FD_CM, FD_D, FD_BIAS, FD_Z, FD_COUNT };

static void fd_check(const spec *sp) {
    prob p = make_prob(sp, 11);
    const climp_scan_shape *s = &p.s;
    /* inputs: u, dt, A_log, x (holds Bm and Cm), D, bias, z */
    const size_t sz[7] = {p.n_u, p.n_dt, p.dn, p.n_x, (size_t)s->Dc, (size_t)s->Dc, p.n_z};
    const float *src[7] = {p.u, p.dt, p.A_log, p.x, p.D, p.bias, p.z};
    const int input_of[FD_COUNT] = {0, 1, 2, 3, 3, 4, 5, 6};
    const char *names[FD_COUNT] = {"du",  "ddelta_raw", "dA_log",      "dBm",
                                   "dCm", "dD",         "ddelta_bias", "dz"};
    double *in[7], *gr[7], *w = to_d(p.dout, climp_scan_tok_extent(s, s->ld_dout));
    for (int i = 0; i < 7; i++) {
        in[i] = to_d(src[i], sz[i]);
        const size_t ng = i == 1 ? climp_scan_tok_extent(s, s->ld_ddt) : sz[i];
        gr[i] = calloc(ng ? ng : 1, sizeof(double));
    }
    climp_scan_backward_ref_f64(s, in[0], in[1], in[2], in[3] + p.b_off, in[3] + p.c_off, in[4],
                                in[5], p.has_z ? in[6] : NULL, w, gr[0], gr[1], gr[2],
                                gr[3] + p.b_off, gr[3] + p.c_off, gr[4], gr[5],
                                p.has_z ? gr[6] : NULL);
    for (int f = 0; f < (p.has_z ? FD_COUNT : FD_Z); f++) {
        const int i = input_of[f];
        double maxerr = 0;
        int checked = 0, bad = 0;
        for (size_t e = 0; e < sz[i]; e++) {
            size_t ge = e; /* where the gradient of element e is stored */
            if (f == FD_U || f == FD_DT || f == FD_Z) {
                const int ld = f == FD_U ? s->ld_u : f == FD_DT ? s->ld_dt : s->ld_z;
                if ((int)(e % ld) >= s->Dc)
                    continue; /* a gap */
                if (f == FD_DT)
                    ge = e / ld * s->ld_ddt + e % ld;
            }
            if (f == FD_BM || f == FD_CM) { /* only this tensor's part of each record */
                const size_t rec = e % s->bc_stride_g, lo = f == FD_BM ? p.b_off : p.c_off;
                if (rec < lo || rec >= lo + s->N)
                    continue;
            }
            const double x0 = in[i][e], h = 1e-5 * (1 + fabs(x0));
            in[i][e] = x0 + h;
            const double lp = fd_loss(&p, in, w);
            in[i][e] = x0 - h;
            const double lm = fd_loss(&p, in, w);
            in[i][e] = x0;
            const double fd = (lp - lm) / (2 * h), an = gr[i][ge], err = fabs(fd - an);
            if (err > maxerr)
                maxerr = err;
            if (err > 1e-7 + 1e-6 * fabs(fd) && bad++ < 4)
                fprintf(stderr, "  fd %s %s[%zu]: fd %.10g analytic %.10g\n", sp->name, names[f], e,
                        fd, an);
            checked++;
        }
        tu_check(bad == 0 && checked > 0, "finite differences %s %s: %d of %d bad, max err %.2e",
                 sp->name, names[f], bad, checked, maxerr);
        printf("fd %-10s %-12s %4d elements, max |fd - analytic| %.2e\n", sp->name, names[f],
               checked, maxerr);
    }
    for (int i = 0; i < 7; i++)
        free(in[i]), free(gr[i]);
    free(w);
    free_prob(&p);
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
    r.out = filled(p->n_out, SENTINEL);
    r.du = filled(tokn(p, s->ld_u), SENTINEL);
    r.ddt = filled(tokn(p, s->ld_ddt), SENTINEL);
    r.dz = filled(p->n_z, SENTINEL);
    r.dx = filled(p->n_x, SENTINEL);
    r.dA = dupf(p->dA0, p->dn), r.dD = dupf(p->dD0, s->Dc), r.db = dupf(p->db0, s->Dc);
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
    float *so = filled(p->n_out, SENTINEL), *sx = filled(p->n_x, SENTINEL);
    float *su = filled(nu, SENTINEL), *sdt = filled(nddt, SENTINEL), *sz = filled(p->n_z, SENTINEL);
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
    r->dz = p->has_z ? tu_download(ctx, d.vdz, p->n_z) : filled(0, 0);
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
    return v == CLIMP_SCAN_GPU ? "gpu" : v == CLIMP_SCAN_FPGA ? "fpga" : "cpu";
}

static void device_check(climp_ctx *ctx, const spec *sp, const config *cf, int ncf,
                         const int *chunks, int nch) {
    prob p = make_prob(sp, 1234 + (uint64_t)sp->L * 7 + sp->Dc);
    refres r = run_ref(&p);
    for (int ci = 0; ci < ncf; ci++)
        for (int k = 0; k < nch; k++) {
            climp_scan_shape s = p.s;
            s.variant = cf[ci].variant, s.cb = cf[ci].cb, s.wg = cf[ci].wg;
            s.split = cf[ci].split, s.chunk = chunks[k], s.slab = cf[ci].slab;
            climp_scan_shape rs = climp_scan_resolve(ctx, &s);
            char tag[128];
            snprintf(tag, sizeof tag, "%s[%s cb=%d wg=%d %s chunk=%d slab=%d]", sp->name,
                     variant_name(rs.variant), rs.cb, rs.wg,
                     split_name(rs.split), rs.chunk, rs.slab);
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

/* ---------------------------------------------------------------- (4) invalid arguments */

static void invalid_check(climp_ctx *ctx) {
    const climp_scan_shape ok = {.B = 2,
                                 .L = 9,
                                 .Dc = 6,
                                 .N = 3,
                                 .G = 2,
                                 .ld_u = 6,
                                 .ld_dt = 6,
                                 .ld_z = 6,
                                 .ld_out = 6,
                                 .bc_stride_b = 54,
                                 .bc_stride_l = 6,
                                 .bc_stride_g = 3,
                                 .chunk = 4};
    climp_buffer *big = NULL;
    CLIMP_CHECK(climp_buffer_create(ctx, "big", 1 << 16, &big));
    climp_tview v = climp_buffer_view(big), small = climp_view_sub(v, 0, 8), none = {NULL, 0, 0};
    const long before = climp_ctx_counters(ctx).launches;
    struct {
        const char *what;
        climp_scan_shape s;
        int fwd_err;
    } cases[] = {{"B=0", ok, CLIMP_ERR_SHAPE},
                 {"G does not divide Dc", ok, CLIMP_ERR_SHAPE},
                 {"N=257", ok, CLIMP_ERR_SHAPE},
                 {"ld_u < Dc", ok, CLIMP_ERR_SHAPE},
                 {"B/C strides overlap", ok, CLIMP_ERR_SHAPE},
                 {"chunk 2000", ok, CLIMP_ERR_INVALID_ARG},
                 {"cb 3", ok, CLIMP_ERR_INVALID_ARG},
                 {"ld_z < Dc with z", ok, CLIMP_ERR_SHAPE}};
    cases[0].s.B = 0, cases[1].s.G = 4, cases[2].s.N = 257, cases[3].s.ld_u = 5;
    cases[4].s.bc_stride_g = 2, cases[5].s.chunk = 2000, cases[6].s.cb = 3, cases[7].s.ld_z = 5;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const climp_scan_shape *s = &cases[i].s;
        climp_status e = climp_scan_forward(ctx, s, v, v, v, v, v, v, v, v, v, v);
        climp_status e2 =
            climp_scan_backward(ctx, s, v, v, v, v, v, v, v, v, v, v, v, v, v, v, v, v, v, v, v);
        tu_check(e == cases[i].fwd_err && e2 == cases[i].fwd_err, "%s: forward %s backward %s",
                 cases[i].what, climp_status_name(e), climp_status_name(e2));
    }
    /* views too small / missing, on the valid shape */
    const climp_scan_shape *s = &ok;
    struct {
        const char *what;
        climp_status got, want;
    } vc[] = {
        {"u too small", climp_scan_forward(ctx, s, small, v, v, v, v, v, v, v, v, v),
         CLIMP_ERR_BUFFER_TOO_SMALL},
        {"Cm too small", climp_scan_forward(ctx, s, v, v, v, v, small, v, v, v, v, v),
         CLIMP_ERR_BUFFER_TOO_SMALL},
        {"states too small", climp_scan_forward(ctx, s, v, v, v, v, v, v, v, v, v, small),
         CLIMP_ERR_BUFFER_TOO_SMALL},
        {"out missing", climp_scan_forward(ctx, s, v, v, v, v, v, v, v, none, none, v),
         CLIMP_ERR_INVALID_ARG},
        {"scratch too small",
         climp_scan_backward(ctx, s, v, v, v, v, v, v, v, none, v, v, small, v, v, v, v, v, v, v,
                             none),
         CLIMP_ERR_BUFFER_TOO_SMALL},
        {"dCm too small",
         climp_scan_backward(ctx, s, v, v, v, v, v, v, v, none, v, v, v, v, v, v, v, small, v, v,
                             none),
         CLIMP_ERR_BUFFER_TOO_SMALL},
        {"dz missing with z",
         climp_scan_backward(ctx, s, v, v, v, v, v, v, v, v, v, v, v, v, v, v, v, v, v, v, none),
         CLIMP_ERR_INVALID_ARG},
    };
    for (size_t i = 0; i < sizeof vc / sizeof vc[0]; i++)
        tu_check(vc[i].got == vc[i].want, "%s: got %s want %s", vc[i].what,
                 climp_status_name(vc[i].got), climp_status_name(vc[i].want));
    tu_check(climp_ctx_counters(ctx).launches == before, "invalid calls enqueued nothing (%ld)",
             climp_ctx_counters(ctx).launches - before);
    tu_check(climp_scan_states_size(&cases[0].s) == 0, "states size of a bad shape is 0");
    climp_buffer_destroy(big);
}

/* ---------------------------------------------------------------- (5) FPGA variant */

static void fpga_checks(climp_ctx *ctx, const spec *awkward, int nawk) {
    climp_ctx_options fo = {0};
    fo.kernel_variant = "fpga";
    climp_ctx *f = NULL;
    CLIMP_CHECK(climp_ctx_open(&fo, &f));
    tu_check(!strcmp(climp_ctx_variant(f), "fpga"), "fpga context selects the fpga variant");
    /* AUTO on the fpga context; blocks of 16 (default), 4 and 1 channels */
    const config fa[] = {{CLIMP_SCAN_AUTO, 0, 0, 0, 0},
                         {CLIMP_SCAN_AUTO, 4, 0, 0, 0},
                         {CLIMP_SCAN_AUTO, 1, 0, 0, 0}};
    /* few distinct programs (N, CH, chunk): a CPU driver compiles each one for several s */
    const int ch2[] = {16, 64}, ch1[] = {64}, ch0[] = {0}, ch7[] = {7}, ch16[] = {16};
    for (int i = 0; i < nawk; i++) {
        device_check(f, &awkward[i], fa, 1, ch2, 2);
        device_check(f, &awkward[i], &fa[1], 1, ch16, 1);
    }
    device_check(f, &awkward[4], &fa[2], 1, ch7, 1);
    const spec m130 = {"mamba-130m", 2, 64, 1536, 16, 1, 1, 96, 0, 0};
    const spec m2 = {"mamba2", 2, 100, 128, 128, 1, 0, 0, 0, 1};
    const spec vm = {"vmamba-14x14", 2, 196, 384, 1, 4, 0, 6, 0, 0};
    const spec longl = {"L4099", 1, 4099, 8, 3, 1, 1, 1, 0, 0};
    device_check(f, &m130, fa, 1, ch1, 1);
    device_check(f, &m2, fa, 1, ch2, 2); /* N 128: 8 and 2 channels per block */
    device_check(f, &vm, fa, 1, ch1, 1);
    device_check(f, &longl, fa, 1, ch0, 1);
    climp_scan_shape probe = {.B = 1, .L = 8, .Dc = 32, .N = 16, .G = 1};
    climp_scan_shape r = climp_scan_resolve(f, &probe);
    tu_check(r.variant == CLIMP_SCAN_FPGA && r.cb == 16 && r.chunk == 64,
             "fpga context resolves AUTO to the FPGA variant (variant %d cb %d chunk %d)",
             r.variant, r.cb, r.chunk);
    probe.N = 256;
    r = climp_scan_resolve(f, &probe);
    tu_check(r.cb == 1, "N 256 at chunk 64: one channel per block (cb %d)", r.cb);
    determinism_check(f, &m130, &fa[0]);
    /* the FPGA variant forced on the ordinary context (no backward scratch needed) */
    const config forced[] = {{CLIMP_SCAN_FPGA, 0, 0, 0, 0}};
    device_check(ctx, &awkward[3], forced, 1, ch2, 2);
    probe.variant = CLIMP_SCAN_FPGA;
    tu_check(climp_scan_bwd_scratch_size(&probe) == 0, "FPGA variant needs no scratch");
    /* beyond the chunk buffer: unsupported, nothing enqueued */
    climp_scan_shape big = {.B = 1, .L = 9, .Dc = 2, .N = 32, .G = 1, .ld_u = 2, .ld_dt = 2,
                            .cb = 1, .ld_out = 2, .bc_stride_b = 9 * 64, .bc_stride_l = 64,
                            .bc_stride_g = 64, .chunk = 1024};
    climp_buffer *buf = NULL;
    CLIMP_CHECK(climp_buffer_create(f, "big", 1 << 18, &buf));
    climp_tview v = climp_buffer_view(buf), none = {NULL, 0, 0};
    const long before = climp_ctx_counters(f).launches;
    climp_status e = climp_scan_forward(f, &big, v, v, v, v, v, v, v, none, v, v);
    climp_status e2 = climp_scan_backward(f, &big, v, v, v, v, v, v, v, none, v, v, none, v, v, v,
                                          v, v, v, v, none);
    tu_check(e == CLIMP_ERR_UNSUPPORTED && e2 == CLIMP_ERR_UNSUPPORTED,
             "chunk 1024 x N 32 is unsupported by the FPGA variant (%s, %s)",
             climp_status_name(e), climp_status_name(e2));
    tu_check(climp_ctx_counters(f).launches == before, "nothing enqueued");
    climp_buffer_destroy(buf);
    climp_ctx_close(f);
}

/* ---------------------------------------------------------------- (6) tuning table */

/* The launcher's automatic tunables come from the tuning table ("scan.<param>@N<n>", model/scan.h)
 * over its heuristics: tuned values apply (and compute the right result in buffers sized without a
 * context), the class-less key is the fallback, invalid or non-fitting values are ignored. */
static void tuning_check(climp_ctx *ctx, const spec *sp) {
    const int cpu = climp_ctx_info(ctx)->is_cpu;
    prob q = make_prob(sp, 1);
    const climp_scan_shape s = q.s;
    climp_tune_clear(ctx);
    climp_scan_shape r = climp_scan_resolve(ctx, &s);
    tu_check(r.chunk == 64 && (!cpu || (r.variant == CLIMP_SCAN_CPU && r.cb == 16)),
             "heuristics: chunk %d cb %d", r.chunk, r.cb);
    CLIMP_CHECK(climp_tune_set(ctx, "scan.cb@N3", 8));
    CLIMP_CHECK(climp_tune_set(ctx, "scan.chunk@N3", 48)); /* as many chunks as 64: fits */
    CLIMP_CHECK(climp_tune_set(ctx, "scan.split@N3", CLIMP_SCAN_SPLIT_CHUNKS));
    CLIMP_CHECK(climp_tune_set(ctx, "scan.cb@N1", 4)); /* another class: not used */
    r = climp_scan_resolve(ctx, &s);
    tu_check(r.chunk == 48 && r.split == CLIMP_SCAN_SPLIT_CHUNKS && (!cpu || r.cb == 8),
             "tuned: chunk %d split %d cb %d", r.chunk, r.split, r.cb);
    const config autocf[] = {{CLIMP_SCAN_AUTO, 0, 0, CLIMP_SCAN_SPLIT_AUTO, 0}};
    const int ch0[] = {0};
    device_check(ctx, sp, autocf, 1, ch0, 1); /* the tuned launch against the reference */
    climp_tune_clear(ctx);
    CLIMP_CHECK(climp_tune_set(ctx, "scan.cb", 4));
    r = climp_scan_resolve(ctx, &s);
    tu_check(!cpu || r.cb == 4, "class-less key: cb %d", r.cb);
    climp_tune_clear(ctx);
    CLIMP_CHECK(climp_tune_set(ctx, "scan.cb@N3", 3));     /* invalid */
    CLIMP_CHECK(climp_tune_set(ctx, "scan.chunk@N3", 16)); /* more chunks: states would not fit */
    CLIMP_CHECK(climp_tune_set(ctx, "scan.split@N3", 7));  /* invalid */
    r = climp_scan_resolve(ctx, &s);
    tu_check(r.chunk == 64 && (!cpu || r.cb == 16), "ignored: chunk %d cb %d", r.chunk, r.cb);
    climp_tune_clear(ctx);
    CLIMP_CHECK(climp_tune_set(ctx, "scan.variant@N3", CLIMP_SCAN_GPU));
    r = climp_scan_resolve(ctx, &s);
    tu_check(r.variant == CLIMP_SCAN_GPU, "tuned variant %d", r.variant);
    climp_tune_clear(ctx);
    free_prob(&q);
}

/* ---------------------------------------------------------------- bench (CLIMP_SCAN_BENCH=1) */

/* Wall and process CPU seconds (PoCL's worker threads are in this process, so CPU time is what
 * the work cost, whatever else the machine is doing). */
typedef struct stamp {
    double wall, cpu;
} stamp;
static stamp stamp_now(void) {
    return (stamp){climp_now_seconds(), (double)clock() / CLOCKS_PER_SEC};
}
static stamp stamp_since(stamp a) {
    stamp b = stamp_now();
    return (stamp){b.wall - a.wall, b.cpu - a.cpu};
}
static int cmp_dbl(const void *a, const void *b) {
    const double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}
static double median(double *x, int n) {
    qsort(x, (size_t)n, sizeof *x, cmp_dbl);
    return n % 2 ? x[n / 2] : 0.5 * (x[n / 2 - 1] + x[n / 2]);
}

#define BENCH_MAXREPS 64
#define BENCH_MAXCF 4
/* Side by side: per repetition the C reference forward, the device forward, the reference
 * backward, the device backward (each device call ends with climp_finish), alternating so that
 * load from other processes hits both alike; medians of wall and process CPU time. ncb > 0 adds
 * device configurations with cb = cbs[i] (A/B comparisons in one process). */
static void bench(climp_ctx *ctx, const spec *sp, int reps, int with_ref, const int *cbs, int ncb) {
    prob p = make_prob(sp, 5);
    const climp_scan_shape *s0 = &p.s;
    const float *z = p.has_z ? p.z : NULL;
    refres r = {filled(p.n_out, 0), filled(tokn(&p, s0->ld_u), 0), filled(tokn(&p, s0->ld_ddt), 0),
                filled(p.n_z, 0),   filled(p.n_x, 0),              dupf(p.dA0, p.dn),
                dupf(p.dD0, s0->Dc), dupf(p.db0, s0->Dc)};
    const int ncf = 1 + ncb;
    climp_scan_shape cs[BENCH_MAXCF];
    devbufs d[BENCH_MAXCF];
    for (int c = 0; c < ncf; c++) {
        cs[c] = p.s;
        cs[c].cb = c ? cbs[c - 1] : 0;
        dev_setup(ctx, &p, &cs[c], &d[c]);
        dev_forward(ctx, &cs[c], &d[c]); /* warm-up (compiles) */
        dev_backward(ctx, &cs[c], &d[c]);
    }
    CLIMP_CHECK(climp_finish(ctx));
    /* [config][ref fwd, dev fwd, ref bwd, dev bwd: wall then cpu][rep] */
    static double t[BENCH_MAXCF][8][BENCH_MAXREPS];
    for (int i = 0; i < reps; i++)
        for (int c = 0; c < ncf; c++) {
            const climp_scan_shape *s = &cs[c];
            stamp a = stamp_now(), e;
            if (with_ref && c == 0) /* the reference once per repetition */
                climp_scan_forward_ref(s, p.u, p.dt, p.A_log, p.x + p.b_off, p.x + p.c_off, p.D,
                                       p.bias, z, r.out);
            e = stamp_since(a), t[c][0][i] = e.wall, t[c][4][i] = e.cpu, a = stamp_now();
            dev_forward(ctx, s, &d[c]);
            CLIMP_CHECK(climp_finish(ctx));
            e = stamp_since(a), t[c][1][i] = e.wall, t[c][5][i] = e.cpu, a = stamp_now();
            if (with_ref && c == 0)
                climp_scan_backward_ref(s, p.u, p.dt, p.A_log, p.x + p.b_off, p.x + p.c_off, p.D,
                                        p.bias, z, p.dout, r.du, r.ddt, r.dA, r.dx + p.b_off,
                                        r.dx + p.c_off, r.dD, r.db, p.has_z ? r.dz : NULL);
            e = stamp_since(a), t[c][2][i] = e.wall, t[c][6][i] = e.cpu, a = stamp_now();
            dev_backward(ctx, s, &d[c]);
            CLIMP_CHECK(climp_finish(ctx));
            e = stamp_since(a), t[c][3][i] = e.wall, t[c][7][i] = e.cpu;
        }
    for (int c = 0; c < ncf; c++) {
        double m[8];
        for (int k = 0; k < 8; k++) /* reference times: those of config 0 */
            m[k] = 1e3 * median(t[k % 2 ? c : 0][k], reps);
        const climp_scan_shape rs = climp_scan_resolve(ctx, &cs[c]);
        printf("%s B=%d L=%d Dc=%d N=%d G=%d%s [%s cb=%d chunk=%d %s], medians of %d\n", sp->name,
               sp->B, sp->L, sp->Dc, sp->N, sp->G, sp->has_z ? " z" : "", variant_name(rs.variant),
               rs.cb, rs.chunk, split_name(rs.split), reps);
        const char *dir[2] = {"forward ", "backward"};
        for (int k = 0; k < 2; k++)
            printf("  %s ref %8.2f ms (%8.2f cpu-ms)  device %8.2f ms (%8.2f cpu-ms)  ref/device "
                   "wall %5.1fx cpu %5.1fx\n",
                   dir[k], m[2 * k], m[4 + 2 * k], m[2 * k + 1], m[5 + 2 * k],
                   m[2 * k] / m[2 * k + 1], m[4 + 2 * k] / m[5 + 2 * k]);
        dev_free(&d[c]);
    }
    fflush(stdout);
    free_res(&r);
    free_prob(&p);
}

int main(void) {
    const spec fd1 = {"fd-g2-z", 2, 6, 4, 3, 2, 1, 2, 1, 0};
    const spec fd2 = {"fd-g1", 1, 7, 3, 2, 1, 0, 1, 2, 0};
    const spec fd3 = {"fd-n1-g3", 2, 4, 3, 1, 3, 1, 0, 0, 0};
    if (getenv("CLIMP_SCAN_BENCH")) { /* the real shapes of `climp bench kernels` */
        climp_ctx *ctx = tu_open_ctx();
        const char *e = getenv("CLIMP_SCAN_BENCH_REPS"), *only = getenv("CLIMP_SCAN_BENCH_ONLY");
        int reps = e ? atoi(e) : 5;
        reps = reps < 1 ? 1 : reps > BENCH_MAXREPS ? BENCH_MAXREPS : reps;
        int cbs[BENCH_MAXCF], ncb = 0; /* CLIMP_SCAN_BENCH_CB=4,16: more configurations */
        for (const char *c = getenv("CLIMP_SCAN_BENCH_CB"); c && *c && ncb < BENCH_MAXCF - 1;) {
            cbs[ncb++] = atoi(c);
            c = strchr(c, ',');
            c = c ? c + 1 : NULL;
        }
        const spec bs[] = {{"mamba-130m-short", 8, 64, 1536, 16, 1, 1, 48, 0, 0},
                           {"mamba-130m-long", 1, 2048, 1536, 16, 1, 1, 48, 0, 0},
                           {"vmamba-t-stage0", 1, 3136, 768, 1, 4, 0, 6, 0, 0}};
        for (size_t i = 0; i < sizeof bs / sizeof bs[0]; i++)
            if (!only || strstr(bs[i].name, only))
                bench(ctx, &bs[i], reps, !getenv("CLIMP_SCAN_BENCH_NOREF"), cbs, ncb);
        climp_ctx_close(ctx);
        return 0;
    }
    fd_check(&fd1);
    fd_check(&fd2);
    fd_check(&fd3);

    climp_ctx *ctx = tu_open_ctx();
    /* slab 32: backward in launches of 2 chunks of 16 (or 1 of 64) tokens */
    const config all[] = {{CLIMP_SCAN_CPU, 8, 0, CLIMP_SCAN_SPLIT_CHUNKS, 0},
                          {CLIMP_SCAN_CPU, 8, 0, CLIMP_SCAN_SPLIT_SEQUENTIAL, 0},
                          {CLIMP_SCAN_CPU, 8, 0, CLIMP_SCAN_SPLIT_CHUNKS, 32},
                          {CLIMP_SCAN_CPU, 8, 0, CLIMP_SCAN_SPLIT_SEQUENTIAL, 32},
                          {CLIMP_SCAN_GPU, 0, 4, CLIMP_SCAN_SPLIT_CHUNKS, 32},
                          {CLIMP_SCAN_GPU, 0, 0, CLIMP_SCAN_SPLIT_SEQUENTIAL, 0}};
    const int nall = sizeof all / sizeof all[0];
    const int ch2[] = {16, 64};
    const spec awkward[] = {
        {"tiny-g2-z", 2, 5, 4, 3, 2, 1, 2, 1, 0}, {"L1", 2, 1, 5, 3, 1, 1, 1, 0, 0},
        {"L7-dc5", 1, 7, 5, 1, 1, 0, 0, 3, 0},    {"L15", 1, 15, 12, 3, 3, 1, 2, 0, 0},
        {"L17", 2, 17, 12, 3, 3, 0, 2, 1, 0},     {"L131-g5", 1, 131, 5, 3, 5, 1, 1, 0, 0},
        {"L65-n3", 1, 65, 20, 3, 2, 1, 3, 0, 0},  {"L63-n1", 2, 63, 20, 1, 1, 1, 0, 2, 0},
    };
    /* The default CPU width (cb 8) and the GPU variant always; CLIMP_SCAN_FULL=1 also tries cb
     * 1, 2, 4 and 16 (each is one more program build, several seconds on a CPU driver). */
    const config widths[] = {{CLIMP_SCAN_CPU, 1, 0, CLIMP_SCAN_SPLIT_SEQUENTIAL, 32},
                             {CLIMP_SCAN_CPU, 2, 0, CLIMP_SCAN_SPLIT_CHUNKS, 32},
                             {CLIMP_SCAN_CPU, 4, 0, CLIMP_SCAN_SPLIT_SEQUENTIAL, 0},
                             {CLIMP_SCAN_CPU, 16, 0, CLIMP_SCAN_SPLIT_CHUNKS, 0}};
    const int full = getenv("CLIMP_SCAN_FULL") != NULL;
    for (size_t i = 0; i < sizeof awkward / sizeof awkward[0]; i++) {
        device_check(ctx, &awkward[i], all, nall, ch2, 2);
        if (full)
            device_check(ctx, &awkward[i], widths, 3, ch2, 2);
    }
    const spec m130 = {"mamba-130m", 2, 64, 1536, 16, 1, 1, 96, 0, 0};
    const spec m2 = {"mamba2", 2, 300, 128, 128, 1, 0, 0, 0, 1};
    const spec vm = {"vmamba-s0", 1, 3136, 768, 1, 4, 0, 6, 0, 0};
    const config two[] = {{CLIMP_SCAN_CPU, 8, 0, CLIMP_SCAN_SPLIT_CHUNKS, 0},
                          {CLIMP_SCAN_CPU, 8, 0, CLIMP_SCAN_SPLIT_SEQUENTIAL, 128}};
    const config gpu1[] = {{CLIMP_SCAN_GPU, 0, 0, CLIMP_SCAN_SPLIT_CHUNKS, 0}};
    const int ch1[] = {64};
    device_check(ctx, &m130, two, 2, ch2, 2);
    device_check(ctx, &m130, gpu1, 1, ch1, 1);
    device_check(ctx, &m2, two, 2, ch2, 2);
    device_check(ctx, &vm, two, 2, ch2, 2);
    device_check(ctx, &vm, gpu1, 1, ch1, 1);
    /* automatic variant, split and chunk; one long sequence (many chunks, the default slab) */
    const config autocf[] = {{CLIMP_SCAN_AUTO, 0, 0, CLIMP_SCAN_SPLIT_AUTO, 0}};
    const int ch0[] = {0};
    const spec longl = {"L65537", 1, 65537, 8, 2, 1, 1, 1, 0, 0};
    device_check(ctx, &m130, autocf, 1, ch0, 1);
    device_check(ctx, &longl, autocf, 1, ch0, 1);
    device_check(ctx, &longl, &two[1], 1, ch1, 1);
    if (full) { /* the largest chunk capacities (private arrays of 4096 floats) */
        const config big[] = {{CLIMP_SCAN_CPU, 4, 0, CLIMP_SCAN_SPLIT_CHUNKS, 0},
                              {CLIMP_SCAN_CPU, 16, 0, CLIMP_SCAN_SPLIT_SEQUENTIAL, 0}};
        const int ch1024[] = {1024}, ch256[] = {256};
        device_check(ctx, &longl, &big[0], 1, ch1024, 1);
        device_check(ctx, &longl, &big[1], 1, ch256, 1);
    }

    device_check(ctx, &vm, autocf, 1, ch0, 1);
    const spec n20 = {"n20-g2", 2, 40, 8, 20, 2, 1, 2, 0, 0}; /* dB/dC sums: 16 lanes + 4 */
    device_check(ctx, &n20, autocf, 1, ch2, 2);
    determinism_check(ctx, &m130, &autocf[0]);
    tuning_check(ctx, &awkward[5]);
    determinism_check(ctx, &awkward[5], &all[4]);
    invalid_check(ctx);
    fpga_checks(ctx, awkward, (int)(sizeof awkward / sizeof awkward[0]));
    climp_ctx_close(ctx);
    return tu_finish("test_scan");
}
