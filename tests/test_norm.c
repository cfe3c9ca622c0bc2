/* Tests of LayerNorm, RMSNorm and gated RMSNorm (model/norm.h): the C references against an
 * independent double-precision forward and central finite differences; the device kernels
 * against the references on tiny, real (VMamba-T stage 1, Mamba-130m, Mamba2-130m) and awkward
 * shapes (C = 1, primes, rows = 1, many row blocks) with strided gated inputs; += semantics of the
 * weight gradients; invalid arguments (specific error, nothing enqueued); determinism. Then the
 * same checks (smaller shapes) through a second context with kernel_variant "fpga": the single
 * work-item kernels of cl_kernels/norm_fpga.cl.
 * CLIMP_NORM_TIMING=1 prints device vs C reference time and GB/s for the model shapes. */
#define _POSIX_C_SOURCE 200809L
#include "model/eltwise.h"
#include "model/norm.h"
#include "tests/testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define OFF 3 /* device views start this many floats into their buffers */

static climp_tview zeros(climp_ctx *ctx, climp_buffer **b, size_t n) {
    CLIMP_CHECK(climp_buffer_create(ctx, "t", (n + OFF) * sizeof(float), b));
    CLIMP_CHECK(climp_buffer_fill_zero(ctx, *b, 0, (n + OFF) * sizeof(float)));
    return climp_view_sub(climp_buffer_view(*b), OFF, n);
}
static climp_tview put(climp_ctx *ctx, climp_buffer **b, const float *x, size_t n) {
    climp_tview v = zeros(ctx, b, n);
    CLIMP_CHECK(climp_view_write(ctx, v, x, n));
    return v;
}
static float *dup(const float *x, size_t n) {
    float *y = malloc((n ? n : 1) * sizeof(float));
    memcpy(y, x, n * sizeof(float));
    return y;
}
static int close_enough(const char *what, const float *got, const float *want, size_t n, float atol,
                        float rtol) {
    size_t bad = tu_compare(what, got, want, n, atol, rtol);
    tu_check(bad == 0, "%s", what);
    return bad == 0;
}

/* ------------------------------------------------------------------ double forwards (FD) */
/* loss = sum r * op(x); each takes double copies of every input. */
static double ln_loss(const double *x, const double *w, const double *b, const float *r, int R,
                      int C) {
    double L = 0;
    for (int i = 0; i < R; i++) {
        double m = 0, v = 0;
        for (int c = 0; c < C; c++)
            m += x[i * C + c];
        m /= C;
        for (int c = 0; c < C; c++)
            v += (x[i * C + c] - m) * (x[i * C + c] - m);
        double rs = 1.0 / sqrt(v / C + 1e-5);
        for (int c = 0; c < C; c++)
            L += r[i * C + c] * ((x[i * C + c] - m) * rs * w[c] + b[c]);
    }
    return L;
}
static double rms_loss(const double *x, const double *w, const float *r, int R, int C) {
    double L = 0;
    for (int i = 0; i < R; i++) {
        double ss = 0;
        for (int c = 0; c < C; c++)
            ss += x[i * C + c] * x[i * C + c];
        double rs = 1.0 / sqrt(ss / C + 1e-5);
        for (int c = 0; c < C; c++)
            L += r[i * C + c] * x[i * C + c] * rs * w[c];
    }
    return L;
}
static double gated_loss(const double *y, int ldy, const double *z, int ldz, const double *w,
                         const float *r, int R, int E, int G) {
    double L = 0;
    int Cg = E / G;
    for (int i = 0; i < R; i++)
        for (int g = 0; g < G; g++) {
            double ss = 0;
            for (int c = g * Cg; c < (g + 1) * Cg; c++) {
                double zc = z[i * ldz + c], v = y[i * ldy + c] * zc / (1 + exp(-zc));
                ss += v * v;
            }
            double rs = 1.0 / sqrt(ss / Cg + 1e-5);
            for (int c = g * Cg; c < (g + 1) * Cg; c++) {
                double zc = z[i * ldz + c], v = y[i * ldy + c] * zc / (1 + exp(-zc));
                L += r[i * E + c] * v * rs * w[c];
            }
        }
    return L;
}

typedef struct fd_prob { /* the three problems share one evaluator */
    int kind, R, C, G, ldy, ldz;
    double *in[3];
    const float *r;
} fd_prob;

static double fd_eval(const fd_prob *p) {
    if (p->kind == 0)
        return ln_loss(p->in[0], p->in[1], p->in[2], p->r, p->R, p->C);
    if (p->kind == 1)
        return rms_loss(p->in[0], p->in[1], p->r, p->R, p->C);
    return gated_loss(p->in[0], p->ldy, p->in[1], p->ldz, p->in[2], p->r, p->R, p->C, p->G);
}

/* Central differences of input `which` (n values) vs the analytic gradient `grad`. */
static void fd_compare(const char *what, fd_prob *p, int which, size_t n, const float *grad) {
    double *x = p->in[which], maxg = 1e-3;
    for (size_t i = 0; i < n; i++)
        maxg = fmax(maxg, fabs(grad[i]));
    size_t bad = 0;
    for (size_t i = 0; i < n; i++) {
        double x0 = x[i], h = 1e-5;
        x[i] = x0 + h;
        double lp = fd_eval(p);
        x[i] = x0 - h;
        double lm = fd_eval(p);
        x[i] = x0;
        double fd = (lp - lm) / (2 * h);
        if (fabs(fd - grad[i]) > 1e-6 * maxg + 1e-5 * fabs(fd)) {
            if (bad < 4)
                fprintf(stderr, "  %s[%zu]: analytic %.9g fd %.9g\n", what, i, grad[i], fd);
            bad++;
        }
    }
    tu_check(bad == 0, "%s vs finite differences (%zu bad)", what, bad);
}

static double *to_d(const float *x, size_t n) {
    double *d = malloc(n * sizeof(double));
    for (size_t i = 0; i < n; i++)
        d[i] = x[i];
    return d;
}

static void ref_fd_checks(tu_rng *rng) {
    enum { R = 3, C = 7, E = 8, G = 2, LDY = 11, LDZ = 13 };
    float x[R * C], w[C], b[C], r[R * E], y[R * C], mean[R], rstd[R * G];
    float dx[R * C], dw[C] = {0}, db[C] = {0};
    tu_fill(rng, x, R * C, -2, 2);
    tu_fill(rng, w, C, 0.5f, 1.5f);
    tu_fill(rng, b, C, -1, 1);
    tu_fill(rng, r, R * E, -1, 1);
    /* LayerNorm */
    climp_layernorm_forward_ref(y, mean, rstd, x, w, b, R, C);
    climp_layernorm_backward_ref(dx, dw, db, r, x, w, mean, rstd, R, C);
    fd_prob p = {0, R, C, 1, 0, 0, {to_d(x, R * C), to_d(w, C), to_d(b, C)}, r};
    double L = 0;
    for (int i = 0; i < R * C; i++)
        L += (double)r[i] * y[i];
    tu_check(fabs(L - fd_eval(&p)) < 1e-5, "layernorm reference forward vs double");
    fd_compare("layernorm dx", &p, 0, R * C, dx);
    fd_compare("layernorm dw", &p, 1, C, dw);
    fd_compare("layernorm db", &p, 2, C, db);
    for (int i = 0; i < 3; i++)
        free(p.in[i]);
    /* RMSNorm */
    memset(dw, 0, sizeof dw);
    climp_rmsnorm_forward_ref(y, rstd, x, w, R, C);
    climp_rmsnorm_backward_ref(dx, dw, r, x, w, rstd, R, C);
    fd_prob q = {1, R, C, 1, 0, 0, {to_d(x, R * C), to_d(w, C), NULL}, r};
    L = 0;
    for (int i = 0; i < R * C; i++)
        L += (double)r[i] * y[i];
    tu_check(fabs(L - fd_eval(&q)) < 1e-5, "rmsnorm reference forward vs double");
    fd_compare("rmsnorm dx", &q, 0, R * C, dx);
    fd_compare("rmsnorm dw", &q, 1, C, dw);
    free(q.in[0]), free(q.in[1]);
    /* gated RMSNorm, strided y and z, two groups */
    float yy[R * LDY], zz[R * LDZ], wg[E], out[R * E], dyy[R * LDY], dzz[R * LDZ], dwg[E] = {0};
    tu_fill(rng, yy, R * LDY, -2, 2);
    tu_fill(rng, zz, R * LDZ, -3, 3);
    tu_fill(rng, wg, E, 0.5f, 1.5f);
    climp_gated_rmsnorm_forward_ref(out, rstd, yy, LDY, zz, LDZ, wg, R, E, G);
    climp_gated_rmsnorm_backward_ref(dyy, LDY, dzz, LDZ, dwg, r, yy, LDY, zz, LDZ, wg, rstd, R, E,
                                     G);
    fd_prob s = {2, R, E, G, LDY, LDZ, {to_d(yy, R * LDY), to_d(zz, R * LDZ), to_d(wg, E)}, r};
    L = 0;
    for (int i = 0; i < R * E; i++)
        L += (double)r[i] * out[i];
    tu_check(fabs(L - fd_eval(&s)) < 1e-5, "gated rmsnorm reference forward vs double");
    for (int i = 0; i < R; i++) /* the padding columns get no gradient: zero them for the FD */
        for (int c = E; c < LDY; c++)
            dyy[i * LDY + c] = 0;
    for (int i = 0; i < R; i++)
        for (int c = E; c < LDZ; c++)
            dzz[i * LDZ + c] = 0;
    fd_compare("gated dy", &s, 0, (size_t)(R - 1) * LDY + E, dyy);
    fd_compare("gated dz", &s, 1, (size_t)(R - 1) * LDZ + E, dzz);
    fd_compare("gated dw", &s, 2, E, dwg);
    for (int i = 0; i < 3; i++)
        free(s.in[i]);
}

/* ------------------------------------------------------------------ device vs reference */
static void layernorm_case(climp_ctx *ctx, tu_rng *rng, int R, int C) {
    size_t n = (size_t)R * C, ns = climp_layernorm_scratch_floats(R, C);
    float *x = tu_alloc_rand(rng, n, -3, 3), *w = tu_alloc_rand(rng, C, 0.5f, 1.5f);
    float *b = tu_alloc_rand(rng, C, -1, 1), *dy = tu_alloc_rand(rng, n, -1, 1);
    float *dw0 = tu_alloc_rand(rng, C, -1, 1), *db0 = tu_alloc_rand(rng, C, -1, 1);
    float *y = malloc(n * 4), *mean = malloc(R * 4), *rstd = malloc(R * 4), *dx = malloc(n * 4);
    float *dw = dup(dw0, C), *db = dup(db0, C);
    climp_layernorm_forward_ref(y, mean, rstd, x, w, b, R, C);
    climp_layernorm_backward_ref(dx, dw, db, dy, x, w, mean, rstd, R, C);
    climp_buffer *B[11];
    climp_tview vx = put(ctx, &B[0], x, n), vw = put(ctx, &B[1], w, C), vb = put(ctx, &B[2], b, C);
    climp_tview vdy = put(ctx, &B[3], dy, n), vdw = put(ctx, &B[4], dw0, C);
    climp_tview vdb = put(ctx, &B[5], db0, C), vy = zeros(ctx, &B[6], n);
    climp_tview vm = zeros(ctx, &B[7], R), vr = zeros(ctx, &B[8], R);
    climp_tview vdx = zeros(ctx, &B[9], n), vs = zeros(ctx, &B[10], ns);
    CLIMP_CHECK(climp_layernorm_forward(ctx, vy, vm, vr, vx, vw, vb, R, C));
    CLIMP_CHECK(climp_layernorm_backward(ctx, vdx, vdw, vdb, vs, vdy, vx, vw, vm, vr, R, C));
    char t[96];
    float *g;
    snprintf(t, sizeof t, "layernorm y R=%d C=%d", R, C);
    close_enough(t, g = tu_download(ctx, vy, n), y, n, 2e-5f, 2e-5f), free(g);
    snprintf(t, sizeof t, "layernorm mean R=%d C=%d", R, C);
    close_enough(t, g = tu_download(ctx, vm, R), mean, R, 1e-6f, 1e-5f), free(g);
    snprintf(t, sizeof t, "layernorm rstd R=%d C=%d", R, C);
    close_enough(t, g = tu_download(ctx, vr, R), rstd, R, 1e-6f, 1e-5f), free(g);
    snprintf(t, sizeof t, "layernorm dx R=%d C=%d", R, C);
    close_enough(t, g = tu_download(ctx, vdx, n), dx, n, 2e-5f, 2e-5f), free(g);
    float atol = 1e-5f * sqrtf((float)R);
    snprintf(t, sizeof t, "layernorm dw += R=%d C=%d", R, C);
    float *gw = tu_download(ctx, vdw, C), *gb = tu_download(ctx, vdb, C), *gx;
    close_enough(t, gw, dw, C, atol, 1e-5f);
    snprintf(t, sizeof t, "layernorm db += R=%d C=%d", R, C);
    close_enough(t, gb, db, C, atol, 1e-5f);
    /* determinism: the same backward again from the same starting gradients */
    gx = tu_download(ctx, vdx, n);
    CLIMP_CHECK(climp_view_write(ctx, vdw, dw0, C));
    CLIMP_CHECK(climp_view_write(ctx, vdb, db0, C));
    CLIMP_CHECK(climp_view_zero(ctx, vdx));
    CLIMP_CHECK(climp_layernorm_backward(ctx, vdx, vdw, vdb, vs, vdy, vx, vw, vm, vr, R, C));
    float *gw2 = tu_download(ctx, vdw, C), *gb2 = tu_download(ctx, vdb, C);
    float *gx2 = tu_download(ctx, vdx, n);
    tu_check(!memcmp(gw, gw2, C * 4) && !memcmp(gb, gb2, C * 4) && !memcmp(gx, gx2, n * 4),
             "layernorm backward deterministic R=%d C=%d", R, C);
    free(gw), free(gb), free(gx), free(gw2), free(gb2), free(gx2);
    for (int i = 0; i < 11; i++)
        climp_buffer_destroy(B[i]);
    free(x), free(w), free(b), free(dy), free(dw0), free(db0), free(y), free(mean), free(rstd);
    free(dx), free(dw), free(db);
}

static void rmsnorm_case(climp_ctx *ctx, tu_rng *rng, int R, int C) {
    size_t n = (size_t)R * C, ns = climp_rmsnorm_scratch_floats(R, C);
    float *x = tu_alloc_rand(rng, n, -3, 3), *w = tu_alloc_rand(rng, C, 0.5f, 1.5f);
    float *dy = tu_alloc_rand(rng, n, -1, 1), *dw0 = tu_alloc_rand(rng, C, -1, 1);
    float *y = malloc(n * 4), *rstd = malloc(R * 4), *dx = malloc(n * 4), *dw = dup(dw0, C);
    climp_rmsnorm_forward_ref(y, rstd, x, w, R, C);
    climp_rmsnorm_backward_ref(dx, dw, dy, x, w, rstd, R, C);
    climp_buffer *B[8];
    climp_tview vx = put(ctx, &B[0], x, n), vw = put(ctx, &B[1], w, C);
    climp_tview vdy = put(ctx, &B[2], dy, n), vdw = put(ctx, &B[3], dw0, C);
    climp_tview vy = zeros(ctx, &B[4], n), vr = zeros(ctx, &B[5], R);
    climp_tview vdx = zeros(ctx, &B[6], n), vs = zeros(ctx, &B[7], ns);
    CLIMP_CHECK(climp_rmsnorm_forward(ctx, vy, vr, vx, vw, R, C));
    CLIMP_CHECK(climp_rmsnorm_backward(ctx, vdx, vdw, vs, vdy, vx, vw, vr, R, C));
    char t[96];
    float *g;
    snprintf(t, sizeof t, "rmsnorm y R=%d C=%d", R, C);
    close_enough(t, g = tu_download(ctx, vy, n), y, n, 2e-5f, 2e-5f), free(g);
    snprintf(t, sizeof t, "rmsnorm rstd R=%d C=%d", R, C);
    close_enough(t, g = tu_download(ctx, vr, R), rstd, R, 1e-6f, 1e-5f), free(g);
    snprintf(t, sizeof t, "rmsnorm dx R=%d C=%d", R, C);
    close_enough(t, g = tu_download(ctx, vdx, n), dx, n, 2e-5f, 2e-5f), free(g);
    snprintf(t, sizeof t, "rmsnorm dw += R=%d C=%d", R, C);
    float *gw = tu_download(ctx, vdw, C);
    close_enough(t, gw, dw, C, 1e-5f * sqrtf((float)R), 1e-5f);
    CLIMP_CHECK(climp_view_write(ctx, vdw, dw0, C));
    CLIMP_CHECK(climp_rmsnorm_backward(ctx, vdx, vdw, vs, vdy, vx, vw, vr, R, C));
    float *gw2 = tu_download(ctx, vdw, C);
    tu_check(!memcmp(gw, gw2, C * 4), "rmsnorm backward deterministic R=%d C=%d", R, C);
    free(gw), free(gw2);
    for (int i = 0; i < 8; i++)
        climp_buffer_destroy(B[i]);
    free(x), free(w), free(dy), free(dw0), free(y), free(rstd), free(dx), free(dw);
}

/* y at column 0 of rows of width ldy; z at column zc of rows of width ldz (the in_proj output);
 * dy, dz written into copies of those layouts: untouched columns must stay as they were. */
static void gated_case(climp_ctx *ctx, tu_rng *rng, int R, int E, int G, int ldy, int ldz, int zc) {
    size_t ny = (size_t)R * ldy, nz = (size_t)R * ldz;
    size_t n = (size_t)R * E, ns = climp_gated_rmsnorm_scratch_floats(R, E);
    float *y = tu_alloc_rand(rng, ny, -2, 2), *z = tu_alloc_rand(rng, nz, -4, 4);
    float *w = tu_alloc_rand(rng, E, 0.5f, 1.5f), *go = tu_alloc_rand(rng, n, -1, 1);
    float *dw0 = tu_alloc_rand(rng, E, -1, 1), *dw = dup(dw0, E);
    float *out = malloc(n * 4), *rstd = malloc((size_t)R * G * 4);
    float *dyv = tu_alloc_rand(rng, ny, -9, 9), *dzv = tu_alloc_rand(rng, nz, -9, 9);
    float *dyw = dup(dyv, ny), *dzw = dup(dzv, nz);
    climp_gated_rmsnorm_forward_ref(out, rstd, y, ldy, z + zc, ldz, w, R, E, G);
    climp_gated_rmsnorm_backward_ref(dyw, ldy, dzw + zc, ldz, dw, go, y, ldy, z + zc, ldz, w, rstd,
                                     R, E, G);
    climp_buffer *B[9];
    climp_tview vy = put(ctx, &B[0], y, ny), vz = put(ctx, &B[1], z, nz);
    climp_tview vw = put(ctx, &B[2], w, E), vgo = put(ctx, &B[3], go, n);
    climp_tview vdw = put(ctx, &B[4], dw0, E), vdy = put(ctx, &B[5], dyv, ny);
    climp_tview vdz = put(ctx, &B[6], dzv, nz), vo = zeros(ctx, &B[7], n);
    climp_tview vr = zeros(ctx, &B[8], (size_t)R * G);
    climp_buffer *bs;
    climp_tview vs = zeros(ctx, &bs, ns);
    climp_tview vzs = climp_view_sub(vz, zc, nz - zc), vdzs = climp_view_sub(vdz, zc, nz - zc);
    CLIMP_CHECK(climp_gated_rmsnorm_forward(ctx, vo, vr, vy, ldy, vzs, ldz, vw, R, E, G));
    CLIMP_CHECK(climp_gated_rmsnorm_backward(ctx, vdy, ldy, vdzs, ldz, vdw, vs, vgo, vy, ldy, vzs,
                                             ldz, vw, vr, R, E, G));
    char t[128];
    float *g;
    snprintf(t, sizeof t, "gated out R=%d E=%d G=%d", R, E, G);
    close_enough(t, g = tu_download(ctx, vo, n), out, n, 2e-5f, 2e-5f), free(g);
    snprintf(t, sizeof t, "gated rstd R=%d E=%d G=%d", R, E, G);
    close_enough(t, g = tu_download(ctx, vr, (size_t)R * G), rstd, (size_t)R * G, 1e-6f, 1e-5f),
        free(g);
    snprintf(t, sizeof t, "gated dy (whole buffer) R=%d E=%d G=%d", R, E, G);
    close_enough(t, g = tu_download(ctx, vdy, ny), dyw, ny, 2e-5f, 2e-5f), free(g);
    snprintf(t, sizeof t, "gated dz (whole buffer) R=%d E=%d G=%d", R, E, G);
    close_enough(t, g = tu_download(ctx, vdz, nz), dzw, nz, 2e-5f, 2e-5f), free(g);
    snprintf(t, sizeof t, "gated dw += R=%d E=%d G=%d", R, E, G);
    float *gw = tu_download(ctx, vdw, E);
    close_enough(t, gw, dw, E, 1e-5f * sqrtf((float)R), 1e-5f);
    CLIMP_CHECK(climp_view_write(ctx, vdw, dw0, E));
    CLIMP_CHECK(climp_gated_rmsnorm_backward(ctx, vdy, ldy, vdzs, ldz, vdw, vs, vgo, vy, ldy, vzs,
                                             ldz, vw, vr, R, E, G));
    float *gw2 = tu_download(ctx, vdw, E);
    tu_check(!memcmp(gw, gw2, E * 4), "gated backward deterministic R=%d E=%d", R, E);
    free(gw), free(gw2);
    for (int i = 0; i < 9; i++)
        climp_buffer_destroy(B[i]);
    climp_buffer_destroy(bs);
    free(y), free(z), free(w), free(go), free(dw0), free(dw), free(out), free(rstd), free(dyv);
    free(dzv), free(dyw), free(dzw);
}

static void invalid_checks(climp_ctx *ctx) {
    climp_buffer *b;
    CLIMP_CHECK(climp_buffer_create(ctx, "small", 64 * sizeof(float), &b));
    climp_tview v = climp_buffer_view(b), s4 = climp_view_sub(v, 0, 4), none = {0, 0, 0};
    long before = climp_ctx_counters(ctx).launches;
    tu_check(climp_layernorm_forward(NULL, v, v, v, v, v, v, 2, 4) == CLIMP_ERR_INVALID_ARG,
             "ln NULL ctx");
    tu_check(climp_layernorm_forward(ctx, v, v, v, v, v, v, 0, 4) == CLIMP_ERR_SHAPE, "ln rows 0");
    tu_check(climp_layernorm_forward(ctx, v, v, v, v, v, v, 2, -1) == CLIMP_ERR_SHAPE, "ln C<0");
    tu_check(climp_layernorm_forward(ctx, s4, v, v, v, v, v, 2, 4) == CLIMP_ERR_BUFFER_TOO_SMALL,
             "ln out small");
    tu_check(climp_layernorm_forward(ctx, v, v, v, v, v, none, 2, 4) == CLIMP_ERR_INVALID_ARG,
             "ln no bias buffer");
    tu_check(climp_layernorm_backward(ctx, v, v, v, s4, v, v, v, v, v, 32, 2) ==
                 CLIMP_ERR_BUFFER_TOO_SMALL,
             "ln scratch small");
    tu_check(climp_rmsnorm_forward(ctx, v, v, v, s4, 2, 8) == CLIMP_ERR_BUFFER_TOO_SMALL,
             "rms weight small");
    tu_check(climp_rmsnorm_backward(ctx, v, v, v, v, v, v, v, 2, 0) == CLIMP_ERR_SHAPE, "rms C 0");
    tu_check(climp_gated_rmsnorm_forward(ctx, v, v, v, 8, v, 8, v, 2, 8, 3) == CLIMP_ERR_SHAPE,
             "gated G does not divide E");
    tu_check(climp_gated_rmsnorm_forward(ctx, v, v, v, 7, v, 8, v, 2, 8, 1) == CLIMP_ERR_SHAPE,
             "gated ld_y < E");
    tu_check(climp_gated_rmsnorm_forward(ctx, v, v, v, 60, v, 8, v, 2, 8, 1) ==
                 CLIMP_ERR_BUFFER_TOO_SMALL,
             "gated y span");
    tu_check(climp_gated_rmsnorm_backward(ctx, v, 8, v, 4, v, v, v, v, 8, v, 8, v, v, 2, 8, 1) ==
                 CLIMP_ERR_SHAPE,
             "gated ld_dz < E");
    tu_check(climp_rmsnorm_backward(ctx, s4, v, climp_view_sub(v, 32, 32), climp_view_sub(v, 2, 4),
                                    v, v, v, 2, 2) == CLIMP_ERR_INVALID_ARG,
             "rms dinp overlapping dout");
    tu_check(climp_layernorm_backward(ctx, v, climp_view_sub(v, 60, 2), climp_view_sub(v, 62, 2), v,
                                      v, v, v, v, v, 2, 2) == CLIMP_ERR_INVALID_ARG,
             "ln dinp aliasing dout");
    tu_check(climp_ctx_counters(ctx).launches == before, "invalid calls enqueued nothing");
    climp_buffer_destroy(b);
}

/* The FPGA context: a forward is one launch, a backward two (dx, weight sums), where the NDRange
 * ops take 1 and 4 (dx, partials, two final sums), so the count tells which kernels ran. */
static void fpga_launch_checks(climp_ctx *f) {
    enum { R = 20, C = 5 };
    climp_buffer *b;
    CLIMP_CHECK(
        climp_buffer_create(f, "t", (6 * R * C + climp_layernorm_scratch_floats(R, C)) * 4, &b));
    CLIMP_CHECK(climp_buffer_fill_zero(f, b, 0, climp_buffer_bytes(b)));
    climp_tview v = climp_buffer_view(b);
    climp_tview x = climp_view_sub(v, 0, R * C), dy = climp_view_sub(v, R * C, R * C);
    climp_tview dx = climp_view_sub(v, 2 * R * C, R * C), w = climp_view_sub(v, 3 * R * C, C);
    climp_tview dw = climp_view_sub(v, 4 * R * C, C), db = climp_view_sub(v, 4 * R * C + C, C);
    climp_tview mean = climp_view_sub(v, 5 * R * C, R), rstd = climp_view_sub(v, 5 * R * C + R, R);
    climp_tview sc = climp_view_sub(v, 6 * R * C, climp_layernorm_scratch_floats(R, C));
    long l0 = climp_ctx_counters(f).launches;
    CLIMP_CHECK(climp_layernorm_forward(f, dx, mean, rstd, x, w, w, R, C));
    CLIMP_CHECK(climp_layernorm_backward(f, dx, dw, db, sc, dy, x, w, mean, rstd, R, C));
    tu_check(climp_ctx_counters(f).launches - l0 == 3, "fpga layernorm: 1 + 2 launches (%ld)",
             climp_ctx_counters(f).launches - l0);
    climp_buffer_destroy(b);
}

/* ------------------------------------------------------------------ timing */
static double time_dev(climp_ctx *ctx, int which, climp_tview *v, int R, int C, int iters) {
    double t0 = 0;
    for (int it = -1; it < iters; it++) { /* iteration -1 warms up (JIT) */
        if (it == 0) {
            CLIMP_CHECK(climp_finish(ctx));
            t0 = climp_now_seconds();
        }
        if (which == 0)
            CLIMP_CHECK(climp_layernorm_forward(ctx, v[0], v[1], v[2], v[3], v[4], v[5], R, C));
        if (which == 1)
            CLIMP_CHECK(climp_layernorm_backward(ctx, v[6], v[7], v[8], v[9], v[0], v[3], v[4],
                                                 v[1], v[2], R, C));
        if (which == 2)
            CLIMP_CHECK(climp_rmsnorm_forward(ctx, v[0], v[2], v[3], v[4], R, C));
        if (which == 3)
            CLIMP_CHECK(
                climp_rmsnorm_backward(ctx, v[6], v[7], v[9], v[0], v[3], v[4], v[2], R, C));
    }
    CLIMP_CHECK(climp_finish(ctx));
    return (climp_now_seconds() - t0) / iters;
}

static void timing(climp_ctx *ctx, tu_rng *rng, int R, int C, int rms) {
    size_t n = (size_t)R * C;
    float *x = tu_alloc_rand(rng, n, -2, 2), *w = tu_alloc_rand(rng, C, 0.5f, 1.5f);
    float *y = malloc(n * 4), *st = malloc(2 * R * 4), *dx = malloc(n * 4);
    float *dw = calloc(2 * C, 4);
    climp_buffer *B[10];
    climp_tview v[10];
    v[0] = put(ctx, &B[0], x, n), v[1] = zeros(ctx, &B[1], R), v[2] = zeros(ctx, &B[2], R);
    v[3] = put(ctx, &B[3], x, n), v[4] = put(ctx, &B[4], w, C), v[5] = put(ctx, &B[5], w, C);
    v[6] = zeros(ctx, &B[6], n), v[7] = zeros(ctx, &B[7], C), v[8] = zeros(ctx, &B[8], C);
    v[9] = zeros(ctx, &B[9], climp_layernorm_scratch_floats(R, C));
    const int iters = 20;
    double f = time_dev(ctx, rms ? 2 : 0, v, R, C, iters);
    double b = time_dev(ctx, rms ? 3 : 1, v, R, C, iters);
    double t0 = climp_now_seconds();
    for (int it = 0; it < 5; it++) {
        if (rms)
            climp_rmsnorm_forward_ref(y, st, x, w, R, C);
        else
            climp_layernorm_forward_ref(y, st, st + R, x, w, w, R, C);
    }
    double rf = (climp_now_seconds() - t0) / 5;
    t0 = climp_now_seconds();
    for (int it = 0; it < 5; it++) {
        if (rms)
            climp_rmsnorm_backward_ref(dx, dw, x, x, w, st, R, C);
        else
            climp_layernorm_backward_ref(dx, dw, dw + C, x, x, w, st, st + R, R, C);
    }
    double rb = (climp_now_seconds() - t0) / 5;
    /* minimum traffic: forward reads x, writes y; backward reads dy, x, writes dx */
    double fb = 2.0 * n * 4, bb = 3.0 * n * 4;
    const char *op = rms ? "rmsnorm" : "layernorm";
    printf("timing %-9s R=%d C=%d fwd: device %.3f ms (%.2f GB/s), C ref %.3f ms (%.2f GB/s)\n", op,
           R, C, f * 1e3, fb / f / 1e9, rf * 1e3, fb / rf / 1e9);
    printf("timing %-9s R=%d C=%d bwd: device %.3f ms (%.2f GB/s), C ref %.3f ms (%.2f GB/s)\n", op,
           R, C, b * 1e3, bb / b / 1e9, rb * 1e3, bb / rb / 1e9);
    for (int i = 0; i < 10; i++)
        climp_buffer_destroy(B[i]);
    free(x), free(w), free(y), free(st), free(dx), free(dw);
}

int main(void) {
    tu_rng rng;
    tu_rng_seed(&rng, 7);
    ref_fd_checks(&rng);

    climp_ctx *ctx = tu_open_ctx();
    const char *tm = getenv("CLIMP_NORM_TIMING");
    if (tm && tm[0] == '1') {
        timing(ctx, &rng, 2 * 3136, 96, 0);
        timing(ctx, &rng, 2048, 768, 1);
        climp_ctx_close(ctx);
        return tu_finish("test_norm timing");
    }
    /* pass 0: the device's own kernel variants, every shape; pass 1: the other family
     * (work-group trees vs serial rows) on the tiny and awkward shapes */
    for (int pass = 0; pass < 2; pass++) {
        if (pass)
            setenv("CLIMP_OPS_VARIANT", climp_ops_cpu_style(ctx) ? "gpu" : "cpu", 1);
        tu_rng_seed(&rng, 8 + pass);
        layernorm_case(ctx, &rng, 1, 1);
        layernorm_case(ctx, &rng, 3, 7);
        layernorm_case(ctx, &rng, 33, 1);
        layernorm_case(ctx, &rng, 5, 97);
        layernorm_case(ctx, &rng, 4111, 13); /* many row blocks, ragged last block */
        layernorm_case(ctx, &rng, 130, 12);  /* float4 rows on CPUs, rows not a multiple of 64 */
        layernorm_case(ctx, &rng, 67, 40);   /* float8 rows on CPUs */
        rmsnorm_case(ctx, &rng, 1, 1);
        rmsnorm_case(ctx, &rng, 67, 20);
        rmsnorm_case(ctx, &rng, 7, 97);
        rmsnorm_case(ctx, &rng, 300, 1);
        gated_case(ctx, &rng, 1, 1, 1, 1, 1, 0);
        gated_case(ctx, &rng, 5, 12, 3, 12, 40, 7);
        gated_case(ctx, &rng, 9, 97, 1, 101, 97, 0);
        gated_case(ctx, &rng, 33, 256, 8, 260, 700, 100);
        if (pass)
            continue;
        layernorm_case(ctx, &rng, 1, 768);
        layernorm_case(ctx, &rng, 2 * 3136, 96); /* VMamba-T stage 1, batch 2 */
        rmsnorm_case(ctx, &rng, 128, 768);       /* Mamba-130m */
        rmsnorm_case(ctx, &rng, 2, 2049);
        gated_case(ctx, &rng, 64, 1536, 1, 1536, 3352, 0); /* Mamba2-130m, z inside in_proj out */
    }
    unsetenv("CLIMP_OPS_VARIANT");
    invalid_checks(ctx);
    climp_ctx_close(ctx);

    /* the FPGA single work-item kernels (cl_kernels/norm_fpga.cl) on the same device */
    climp_ctx_options opt = {0};
    opt.kernel_variant = "fpga";
    climp_ctx *f = NULL;
    CLIMP_CHECK(climp_ctx_open(&opt, &f));
    tu_check(!strcmp(climp_ctx_variant(f), "fpga"), "fpga context selects the fpga variant");
    fpga_launch_checks(f);
    tu_rng_seed(&rng, 10);
    layernorm_case(f, &rng, 1, 1);
    layernorm_case(f, &rng, 3, 7);
    layernorm_case(f, &rng, 33, 1);
    layernorm_case(f, &rng, 5, 97);
    layernorm_case(f, &rng, 4111, 13); /* many rows, a ragged block of lanes */
    layernorm_case(f, &rng, 67, 40);   /* whole blocks of lanes */
    layernorm_case(f, &rng, 2 * 64, 96);
    rmsnorm_case(f, &rng, 1, 1);
    rmsnorm_case(f, &rng, 67, 20);
    rmsnorm_case(f, &rng, 7, 97);
    rmsnorm_case(f, &rng, 300, 1);
    rmsnorm_case(f, &rng, 16, 768);
    gated_case(f, &rng, 1, 1, 1, 1, 1, 0);
    gated_case(f, &rng, 5, 12, 3, 12, 40, 7);
    gated_case(f, &rng, 9, 97, 1, 101, 97, 0);
    gated_case(f, &rng, 33, 256, 8, 260, 700, 100);
    gated_case(f, &rng, 8, 1536, 1, 1536, 3352, 0);
    invalid_checks(f);
    climp_ctx_close(f);
    return tu_finish("test_norm");
}
