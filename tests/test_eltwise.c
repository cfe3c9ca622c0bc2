/* Tests of the element-wise ops (model/eltwise.h): each device op against its C reference on
 * seeded random data (tiny, awkward and real sizes, views at odd offsets), each C backward against
 * central finite differences of an independent double-precision forward, invalid arguments
 * (specific error, nothing enqueued) and determinism of the column-sum backward. Then the same
 * checks (smaller sizes) through a second context with kernel_variant "fpga": the single work-item
 * kernels of cl_kernels/eltwise_fpga.cl, one launch per op. */
#define _POSIX_C_SOURCE 200809L
#include "model/eltwise.h"
#include "tests/testutil.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define OFF 5 /* every device view starts this many floats into its buffer */

/* A buffer holding OFF junk floats, then x (n), then OFF junk floats; returns the view of x. */
static climp_tview put(climp_ctx *ctx, climp_buffer **b, const float *x, size_t n) {
    float *h = malloc((n + 2 * OFF) * sizeof(float));
    for (size_t i = 0; i < n + 2 * OFF; i++)
        h[i] = -777.0f;
    memcpy(h + OFF, x, n * sizeof(float));
    *b = tu_upload(ctx, "t", h, n + 2 * OFF);
    free(h);
    return climp_view_sub(climp_buffer_view(*b), OFF, n);
}

static float *get(climp_ctx *ctx, climp_tview v, size_t n) {
    return tu_download(ctx, v, n);
}

/* ------------------------------------------------------------------ double forwards for FD */
static double silu_d(double x) {
    return x / (1.0 + exp(-x));
}
static double gelu_d(double x) {
    return 0.5 * x * (1.0 + erf(x / sqrt(2.0)));
}
static double softplus_d(double x) {
    return x > 20.0 ? x : log(1.0 + exp(x));
}

typedef void (*fwd_ref)(float *, const float *, size_t);
typedef void (*bwd_ref)(float *, const float *, const float *, size_t);
typedef climp_status (*fwd_dev)(climp_ctx *, climp_tview, climp_tview, size_t);
typedef climp_status (*bwd_dev)(climp_ctx *, climp_tview, climp_tview, climp_tview, size_t);

/* Magnitude of the terms of each backward (x, dout = 1): where they cancel (the backward's zero)
 * an fp32 result can only be as exact as this scale. */
static double silu_bscale(double x) {
    double s = 1.0 / (1.0 + exp(-x));
    return s * (1.0 + fabs(x) * (1.0 - s));
}
static double gelu_bscale(double x) {
    return 0.5 * (1.0 + erf(x / sqrt(2.0))) +
           fabs(x) * exp(-0.5 * x * x) / sqrt(2.0 * 3.14159265358979323846);
}
static double softplus_bscale(double x) {
    return 1.0 / (1.0 + exp(-x));
}

typedef struct unary_op {
    const char *name;
    double (*f)(double);
    double (*bscale)(double);
    double ulps_f, ulps_b; /* dense-sweep tolerances, ulps of |ref| (forward) or bscale */
    fwd_ref fr;
    bwd_ref br;
    fwd_dev fd;
    bwd_dev bd;
} unary_op;

static const unary_op UNARY[] = {
    {"silu", silu_d, silu_bscale, 4, 5, climp_silu_forward_ref, climp_silu_backward_ref,
     climp_silu_forward, climp_silu_backward},
    {"gelu", gelu_d, gelu_bscale, 8, 4, climp_gelu_forward_ref, climp_gelu_backward_ref,
     climp_gelu_forward, climp_gelu_backward},
    {"softplus", softplus_d, softplus_bscale, 4, 4, climp_softplus_forward_ref,
     climp_softplus_backward_ref, climp_softplus_forward, climp_softplus_backward},
};

/* C reference forward vs the double formula, C reference backward vs central differences. */
static void unary_ref_checks(const unary_op *op, tu_rng *r) {
    enum { n = 64 };
    float x[n], y[n], dy[n], dx[n];
    tu_fill(r, x, n, -6.0f, 6.0f);
    x[0] = 0.0f, x[1] = 19.5f, x[2] = 20.5f, x[3] = -19.0f, x[4] = 25.0f;
    tu_fill(r, dy, n, -1.0f, 1.0f);
    op->fr(y, x, n);
    op->br(dx, dy, x, n);
    size_t bad_f = 0, bad_b = 0;
    for (int i = 0; i < n; i++) {
        double want = op->f(x[i]);
        if (fabs(y[i] - want) > 1e-7 + 1e-6 * fabs(want))
            bad_f++;
        double h = 1e-4 * fmax(1.0, fabs(x[i]));
        if (fabs(x[i] - 20.0) < 2 * h)
            continue; /* the threshold kink of softplus */
        double fd = dy[i] * (op->f(x[i] + h) - op->f(x[i] - h)) / (2 * h);
        if (fabs(dx[i] - fd) > 1e-6 + 1e-5 * fabs(fd)) {
            if (bad_b < 4)
                fprintf(stderr, "  %s fd x=%g: got %g want %g\n", op->name, x[i], dx[i], fd);
            bad_b++;
        }
    }
    tu_check(bad_f == 0, "%s reference forward vs double formula (%zu bad)", op->name, bad_f);
    tu_check(bad_b == 0, "%s reference backward vs finite differences (%zu bad)", op->name, bad_b);
}

static void unary_dev_checks(climp_ctx *ctx, const unary_op *op, tu_rng *r, size_t n) {
    float *x = tu_alloc_rand(r, n, -8.0f, 8.0f), *dy = tu_alloc_rand(r, n, -1.0f, 1.0f);
    if (n > 4)
        x[0] = 20.0f, x[1] = 20.001f, x[2] = 30.0f, x[3] = -30.0f;
    float *y = malloc(n * sizeof(float)), *dx = malloc(n * sizeof(float));
    op->fr(y, x, n);
    op->br(dx, dy, x, n);
    climp_buffer *bx, *bdy, *bo, *bdx;
    climp_tview vx = put(ctx, &bx, x, n), vdy = put(ctx, &bdy, dy, n);
    climp_tview vo = put(ctx, &bo, x, n), vdx = put(ctx, &bdx, x, n);
    CLIMP_CHECK(op->fd(ctx, vo, vx, n));
    CLIMP_CHECK(op->bd(ctx, vdx, vdy, vx, n));
    float *go = get(ctx, vo, n), *gdx = get(ctx, vdx, n);
    char what[64];
    snprintf(what, sizeof what, "%s fwd n=%zu", op->name, n);
    tu_check(tu_compare(what, go, y, n, 2e-6f, 1e-5f) == 0, "%s", what);
    snprintf(what, sizeof what, "%s bwd n=%zu", op->name, n);
    tu_check(tu_compare(what, gdx, dx, n, 2e-6f, 1e-5f) == 0, "%s", what);
    /* in place: out and inp the same view */
    CLIMP_CHECK(op->fd(ctx, vx, vx, n));
    float *gi = get(ctx, vx, n);
    tu_check(memcmp(gi, go, n * sizeof(float)) == 0, "%s in place n=%zu", op->name, n);
    free(gi), free(go), free(gdx), free(x), free(dy), free(y), free(dx);
    climp_buffer_destroy(bx), climp_buffer_destroy(bdy), climp_buffer_destroy(bo);
    climp_buffer_destroy(bdx);
}

static double ulp_at(double v) {
    float f = fabsf((float)v);
    if (f < FLT_MIN)
        f = FLT_MIN;
    return (double)nextafterf(f, INFINITY) - (double)f;
}

/* Dense sweep of x in [-20, 20] (step 1/256) and +-2^-40..2^5: device forward and backward
 * (dout = 1) within a few ulps of the double-precision C reference (erf, exp, log1p in double;
 * the kernels use no erf or log), results below 1e-30 counting as 0. NaN propagates. */
static void unary_sweep_checks(climp_ctx *ctx, const unary_op *op) {
    size_t n = 0, cap = 10241 + 2 * 45 * 16 + 2;
    float *x = malloc(cap * sizeof(float)), *ones = malloc(cap * sizeof(float));
    for (int k = -20 * 256; k <= 20 * 256; k++)
        x[n++] = (float)k / 256.0f;
    for (int e = -40; e < 5; e++)
        for (int k = 0; k < 16; k++) {
            x[n++] = ldexpf(1.0f + (float)k / 16.0f, e);
            x[n++] = -ldexpf(1.0f + (float)k / 16.0f, e);
        }
    x[n++] = NAN;
    x[n++] = -0.0f;
    for (size_t i = 0; i < n; i++)
        ones[i] = 1.0f;
    float *y = malloc(n * sizeof(float)), *dx = malloc(n * sizeof(float));
    op->fr(y, x, n);
    op->br(dx, ones, x, n);
    climp_buffer *bx, *bo, *b1, *bd;
    climp_tview vx = put(ctx, &bx, x, n), vo = put(ctx, &bo, x, n), v1 = put(ctx, &b1, ones, n);
    climp_tview vd = put(ctx, &bd, x, n);
    CLIMP_CHECK(op->fd(ctx, vo, vx, n));
    CLIMP_CHECK(op->bd(ctx, vd, v1, vx, n));
    float *go = get(ctx, vo, n), *gd = get(ctx, vd, n);
    size_t bad_f = 0, bad_b = 0;
    double worst_f = 0, worst_b = 0;
    for (size_t i = 0; i < n; i++) {
        if (isnan(x[i])) {
            bad_f += !isnan(go[i]);
            bad_b += !isnan(gd[i]);
            continue;
        }
        double ef = fabs((double)go[i] - y[i]), eb = fabs((double)gd[i] - dx[i]);
        double uf = ef <= 1e-30 ? 0 : ef / ulp_at(y[i]);
        double ub = eb <= 1e-30 ? 0 : eb / ulp_at(op->bscale(x[i]));
        worst_f = fmax(worst_f, uf), worst_b = fmax(worst_b, ub);
        if (uf > op->ulps_f && bad_f++ < 4)
            fprintf(stderr, "  %s sweep fwd x=%.9g: got %.9g want %.9g (%.1f ulp)\n", op->name,
                    x[i], go[i], y[i], uf);
        if (ub > op->ulps_b && bad_b++ < 4)
            fprintf(stderr, "  %s sweep bwd x=%.9g: got %.9g want %.9g (%.1f ulp)\n", op->name,
                    x[i], gd[i], dx[i], ub);
    }
    tu_check(bad_f == 0, "%s fwd sweep within %g ulp (max %.2f, %zu bad)", op->name, op->ulps_f,
             worst_f, bad_f);
    tu_check(bad_b == 0, "%s bwd sweep within %g ulp (max %.2f, %zu bad)", op->name, op->ulps_b,
             worst_b, bad_b);
    free(x), free(ones), free(y), free(dx), free(go), free(gd);
    climp_buffer_destroy(bx), climp_buffer_destroy(bo), climp_buffer_destroy(b1);
    climp_buffer_destroy(bd);
}

static void binary_checks(climp_ctx *ctx, tu_rng *r, size_t n) {
    float *a = tu_alloc_rand(r, n, -2, 2), *b = tu_alloc_rand(r, n, -2, 2);
    float *want = malloc(n * sizeof(float));
    climp_buffer *ba, *bb, *bo;
    climp_tview va = put(ctx, &ba, a, n), vb = put(ctx, &bb, b, n), vo = put(ctx, &bo, a, n);
    CLIMP_CHECK(climp_add(ctx, vo, va, vb, n));
    climp_add_ref(want, a, b, n);
    float *g = get(ctx, vo, n);
    tu_check(memcmp(g, want, n * sizeof(float)) == 0, "add n=%zu", n);
    free(g);
    CLIMP_CHECK(climp_accumulate(ctx, vo, vb, -0.75f, n));
    climp_accumulate_ref(want, b, -0.75f, n);
    g = get(ctx, vo, n);
    tu_check(tu_compare("accumulate", g, want, n, 1e-6f, 1e-6f) == 0, "accumulate n=%zu", n);
    free(g);
    CLIMP_CHECK(climp_scale(ctx, vo, vo, 3.0f, n));
    climp_scale_ref(want, want, 3.0f, n);
    g = get(ctx, vo, n);
    tu_check(tu_compare("scale", g, want, n, 1e-6f, 1e-6f) == 0, "scale n=%zu", n);
    free(g);
    CLIMP_CHECK(climp_clamp(ctx, vo, -1.0f, 0.5f, n));
    climp_clamp_ref(want, -1.0f, 0.5f, n);
    g = get(ctx, vo, n);
    tu_check(tu_compare("clamp", g, want, n, 1e-6f, 1e-6f) == 0, "clamp n=%zu", n);
    free(g), free(a), free(b), free(want);
    climp_buffer_destroy(ba), climp_buffer_destroy(bb), climp_buffer_destroy(bo);
}

/* bias add forward/backward on (rows, N) with row stride ld; the padding columns must stay. */
static void bias_checks(climp_ctx *ctx, tu_rng *r, int rows, int N, int ld) {
    size_t span = climp_strided_span(rows, N, ld);
    float *y = tu_alloc_rand(r, span, -1, 1), *bias = tu_alloc_rand(r, N, -1, 1);
    float *db = tu_alloc_rand(r, N, -1, 1), *want = malloc(span * sizeof(float));
    float *dbw = malloc(N * sizeof(float));
    memcpy(want, y, span * sizeof(float));
    memcpy(dbw, db, N * sizeof(float));
    climp_bias_add_forward_ref(want, ld, bias, rows, N);
    climp_bias_add_backward_ref(dbw, y, ld, rows, N);
    climp_buffer *by, *bb, *bdb, *bs;
    climp_tview vy = put(ctx, &by, y, span), vb = put(ctx, &bb, bias, N);
    climp_tview vdb = put(ctx, &bdb, db, N);
    size_t ns = climp_colsum_scratch_floats(rows, N);
    CLIMP_CHECK(climp_buffer_create(ctx, "scratch", ns * sizeof(float), &bs));
    /* backward first (dy = y before the add), then the forward in place */
    CLIMP_CHECK(climp_bias_add_backward(ctx, vdb, climp_buffer_view(bs), vy, ld, rows, N));
    float *g1 = get(ctx, vdb, N);
    tu_check(tu_compare("bias bwd", g1, dbw, N, 1e-5f, 1e-5f) == 0, "bias bwd %dx%d ld %d", rows, N,
             ld);
    CLIMP_CHECK(climp_view_write(ctx, vdb, db, N));
    CLIMP_CHECK(climp_bias_add_backward(ctx, vdb, climp_buffer_view(bs), vy, ld, rows, N));
    float *g2 = get(ctx, vdb, N);
    tu_check(memcmp(g1, g2, N * sizeof(float)) == 0, "bias bwd deterministic %dx%d", rows, N);
    CLIMP_CHECK(climp_bias_add_forward(ctx, vy, ld, vb, rows, N));
    float *gy = get(ctx, vy, span);
    tu_check(memcmp(gy, want, span * sizeof(float)) == 0, "bias fwd %dx%d ld %d", rows, N, ld);
    free(y), free(bias), free(db), free(want), free(dbw), free(g1), free(g2), free(gy);
    climp_buffer_destroy(by), climp_buffer_destroy(bb), climp_buffer_destroy(bdb);
    climp_buffer_destroy(bs);
}

static void copy_checks(climp_ctx *ctx, tu_rng *r, int rows, int cols, int ld_d, int ld_s,
                        int acc) {
    size_t sd = climp_strided_span(rows, cols, ld_d), ss = climp_strided_span(rows, cols, ld_s);
    float *d = tu_alloc_rand(r, sd, -1, 1), *s = tu_alloc_rand(r, ss, -1, 1);
    float *want = malloc(sd * sizeof(float));
    memcpy(want, d, sd * sizeof(float));
    climp_copy_cols_ref(want, ld_d, s, ld_s, rows, cols, acc);
    climp_buffer *bd, *bs;
    climp_tview vd = put(ctx, &bd, d, sd), vs = put(ctx, &bs, s, ss);
    CLIMP_CHECK(climp_copy_cols(ctx, vd, ld_d, vs, ld_s, rows, cols, acc));
    float *g = get(ctx, climp_buffer_view(bd), sd + 2 * OFF);
    int ok = memcmp(g + OFF, want, sd * sizeof(float)) == 0;
    for (int i = 0; i < OFF; i++)
        ok &= g[i] == -777.0f && g[OFF + sd + i] == -777.0f;
    tu_check(ok, "copy_cols %dx%d ld %d<-%d acc %d", rows, cols, ld_d, ld_s, acc);
    free(d), free(s), free(want), free(g);
    climp_buffer_destroy(bd), climp_buffer_destroy(bs);
}

static void repeat_checks(climp_ctx *ctx, tu_rng *r, int M, int P) {
    size_t n = (size_t)M * P;
    float *x = tu_alloc_rand(r, M, -1, 1), *dy = tu_alloc_rand(r, n, -1, 1);
    float *y = malloc(n * sizeof(float)), *dx = malloc(M * sizeof(float));
    float *dxa = malloc(M * sizeof(float));
    climp_repeat_forward_ref(y, x, M, P);
    climp_repeat_backward_ref(dx, dy, M, P, 0);
    memcpy(dxa, x, M * sizeof(float));
    climp_repeat_backward_ref(dxa, dy, M, P, 1);
    climp_buffer *bx, *bdy, *bo, *bdx;
    climp_tview vx = put(ctx, &bx, x, M), vdy = put(ctx, &bdy, dy, n);
    climp_tview vo = put(ctx, &bo, dy, n), vdx = put(ctx, &bdx, x, M);
    CLIMP_CHECK(climp_repeat_forward(ctx, vo, vx, M, P));
    float *g = get(ctx, vo, n);
    tu_check(memcmp(g, y, n * sizeof(float)) == 0, "repeat fwd M=%d P=%d", M, P);
    free(g);
    CLIMP_CHECK(climp_repeat_backward(ctx, vdx, vdy, M, P, 1)); /* vdx holds x: accumulate */
    g = get(ctx, vdx, M);
    tu_check(tu_compare("repeat bwd acc", g, dxa, M, 1e-5f, 1e-5f) == 0, "repeat bwd += M=%d P=%d",
             M, P);
    free(g);
    CLIMP_CHECK(climp_repeat_backward(ctx, vdx, vdy, M, P, 0));
    g = get(ctx, vdx, M);
    tu_check(tu_compare("repeat bwd", g, dx, M, 1e-5f, 1e-5f) == 0, "repeat bwd M=%d P=%d", M, P);
    free(g), free(x), free(dy), free(y), free(dx), free(dxa);
    climp_buffer_destroy(bx), climp_buffer_destroy(bdy), climp_buffer_destroy(bo);
    climp_buffer_destroy(bdx);
}

/* Linear ops: the reference backward equals the FD of sum(dy * forward) in double. */
static void linear_fd_checks(tu_rng *r) {
    enum { rows = 5, N = 3, ld = 4, M = 4, P = 3 };
    float dy[rows * ld], db[N] = {0}, drep[M] = {0}, dyr[M * P];
    tu_fill(r, dy, rows * ld, -1, 1);
    tu_fill(r, dyr, M * P, -1, 1);
    climp_bias_add_backward_ref(db, dy, ld, rows, N);
    climp_repeat_backward_ref(drep, dyr, M, P, 0);
    int bad = 0;
    for (int c = 0; c < N; c++) { /* L(b) = sum_r dy[r,c] (y[r,c] + b[c]): dL/db[c] by FD */
        double h = 1e-3, lp = 0, lm = 0;
        for (int q = 0; q < rows; q++) {
            lp += dy[q * ld + c] * (0.3 + h);
            lm += dy[q * ld + c] * (0.3 - h);
        }
        bad += fabs((lp - lm) / (2 * h) - db[c]) > 1e-5;
    }
    for (int m = 0; m < M; m++) { /* L(x) = sum_p dyr[m,p] x[m] */
        double h = 1e-3, lp = 0, lm = 0;
        for (int p = 0; p < P; p++) {
            lp += dyr[m * P + p] * (0.7 + h);
            lm += dyr[m * P + p] * (0.7 - h);
        }
        bad += fabs((lp - lm) / (2 * h) - drep[m]) > 1e-5;
    }
    tu_check(bad == 0, "bias/repeat reference backward vs finite differences");
}

/* Each failing call returns its specific error and enqueues nothing. */
static void invalid_checks(climp_ctx *ctx) {
    climp_buffer *b;
    CLIMP_CHECK(climp_buffer_create(ctx, "small", 16 * sizeof(float), &b));
    climp_tview v = climp_buffer_view(b), none = {0, 0, 0};
    climp_tview outside = {b, 10, 10}; /* extends past the buffer */
    long before = climp_ctx_counters(ctx).launches;
    tu_check(climp_silu_forward(NULL, v, v, 4) == CLIMP_ERR_INVALID_ARG, "NULL ctx");
    tu_check(climp_silu_forward(ctx, v, v, 0) == CLIMP_ERR_SHAPE, "n = 0");
    tu_check(climp_gelu_forward(ctx, v, v, 17) == CLIMP_ERR_BUFFER_TOO_SMALL, "n > view");
    tu_check(climp_gelu_backward(ctx, v, none, v, 4) == CLIMP_ERR_INVALID_ARG, "no buffer");
    tu_check(climp_add(ctx, outside, v, v, 4) == CLIMP_ERR_BUFFER_TOO_SMALL, "view outside");
    tu_check(climp_clamp(ctx, v, 1.0f, 0.0f, 4) == CLIMP_ERR_INVALID_ARG, "clamp lo > hi");
    tu_check(climp_bias_add_forward(ctx, v, 3, v, 2, 4) == CLIMP_ERR_SHAPE, "ld < N");
    tu_check(climp_bias_add_forward(ctx, v, 4, v, 0, 4) == CLIMP_ERR_SHAPE, "rows 0");
    tu_check(climp_bias_add_forward(ctx, v, 8, v, 3, 4) == CLIMP_ERR_BUFFER_TOO_SMALL, "bias span");
    tu_check(climp_bias_add_backward(ctx, v, climp_view_sub(v, 0, 0), v, 4, 2, 4) ==
                 CLIMP_ERR_BUFFER_TOO_SMALL,
             "bias scratch");
    tu_check(climp_copy_cols(ctx, v, 4, v, 2, 2, 3, 0) == CLIMP_ERR_SHAPE, "copy ld_src < cols");
    tu_check(climp_copy_cols(ctx, v, 4, v, 4, 2, 3, 2) == CLIMP_ERR_INVALID_ARG, "copy flag");
    tu_check(climp_repeat_forward(ctx, v, v, 4, 5) == CLIMP_ERR_BUFFER_TOO_SMALL, "repeat out");
    tu_check(climp_repeat_backward(ctx, v, v, 0, 5, 0) == CLIMP_ERR_SHAPE, "repeat M 0");
    tu_check(climp_ctx_counters(ctx).launches == before, "invalid calls enqueued nothing");
    climp_buffer_destroy(b);
}

/* The FPGA context runs each op as one single work-item launch (NDRange: body + tail, partials +
 * final sum), so the counts tell which kernels ran. */
static void fpga_launch_checks(climp_ctx *f, tu_rng *r) {
    enum { n = 257, rows = 40, N = 9 };
    float *x = tu_alloc_rand(r, n + rows * N, -1, 1);
    climp_buffer *b, *bs;
    climp_tview v = put(f, &b, x, n + rows * N);
    CLIMP_CHECK(climp_buffer_create(f, "s", climp_colsum_scratch_floats(rows, N) * 4, &bs));
    long l0 = climp_ctx_counters(f).launches;
    CLIMP_CHECK(climp_silu_forward(f, climp_view_sub(v, 0, n), climp_view_sub(v, 0, n), n));
    CLIMP_CHECK(climp_bias_add_backward(f, climp_view_sub(v, 0, N), climp_buffer_view(bs),
                                        climp_view_sub(v, n, rows * N), N, rows, N));
    CLIMP_CHECK(climp_repeat_backward(f, climp_view_sub(v, 0, 3), climp_view_sub(v, n, 3 * 100), 3,
                                      100, 0));
    tu_check(climp_ctx_counters(f).launches - l0 == 3, "fpga: one launch per op (%ld)",
             climp_ctx_counters(f).launches - l0);
    free(x);
    climp_buffer_destroy(b), climp_buffer_destroy(bs);
}

int main(void) {
    tu_rng r;
    tu_rng_seed(&r, 11);
    for (size_t i = 0; i < sizeof UNARY / sizeof UNARY[0]; i++)
        unary_ref_checks(&UNARY[i], &r);
    linear_fd_checks(&r);

    climp_ctx *ctx = tu_open_ctx();
    const size_t sizes[] = {1, 7, 257, 4096, 100003}; /* tail only, body only, both */
    for (size_t i = 0; i < sizeof UNARY / sizeof UNARY[0]; i++) {
        for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++)
            unary_dev_checks(ctx, &UNARY[i], &r, sizes[s]);
        unary_sweep_checks(ctx, &UNARY[i]);
    }
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++)
        binary_checks(ctx, &r, sizes[s]);
    for (int pass = 0; pass < 2; pass++) { /* per-row vector loops (CPU) and 2-D items (GPU) */
        setenv("CLIMP_OPS_VARIANT", pass ? "gpu" : "cpu", 1);
        bias_checks(ctx, &r, 1, 1, 1);
        bias_checks(ctx, &r, 5, 13, 16);
        bias_checks(ctx, &r, 300, 97, 101);
        bias_checks(ctx, &r, 2 * 77, 768, 768); /* text projection rows x width (float8) */
        bias_checks(ctx, &r, 4099, 3, 5);       /* many blocks, narrow */
        bias_checks(ctx, &r, 37, 12, 20);       /* float4 */
        copy_checks(ctx, &r, 1, 1, 1, 1, 0);
        copy_checks(ctx, &r, 7, 5, 9, 23, 0);
        copy_checks(ctx, &r, 64, 96, 96, 3 * 96 + 8, 1);
        copy_checks(ctx, &r, 9, 12, 16, 29, 0);
        copy_checks(ctx, &r, 9, 12, 13, 12, 1);
    }
    unsetenv("CLIMP_OPS_VARIANT");
    repeat_checks(ctx, &r, 1, 1);
    repeat_checks(ctx, &r, 6, 3);
    repeat_checks(ctx, &r, 2 * 7 * 24, 64); /* dt (B*L, H) -> (B*L, H*P) */
    for (int pass = 0; pass < 2; pass++) {  /* serial and work-group sums whatever the device */
        setenv("CLIMP_OPS_VARIANT", pass ? "gpu" : "cpu", 1);
        repeat_checks(ctx, &r, 24, 64 * 16); /* A (H) -> (H, P*N) */
        repeat_checks(ctx, &r, 5, 4099);
    }
    unsetenv("CLIMP_OPS_VARIANT");
    invalid_checks(ctx);
    climp_ctx_close(ctx);

    /* the FPGA single work-item kernels (cl_kernels/eltwise_fpga.cl) on the same device */
    climp_ctx_options opt = {0};
    opt.kernel_variant = "fpga";
    climp_ctx *f = NULL;
    CLIMP_CHECK(climp_ctx_open(&opt, &f));
    tu_check(!strcmp(climp_ctx_variant(f), "fpga"), "fpga context selects the fpga variant");
    fpga_launch_checks(f, &r);
    const size_t fsizes[] = {1, 7, 257, 4099}; /* shorter than, equal to, past a block of lanes */
    for (size_t i = 0; i < sizeof UNARY / sizeof UNARY[0]; i++) {
        for (size_t s = 0; s < sizeof fsizes / sizeof fsizes[0]; s++)
            unary_dev_checks(f, &UNARY[i], &r, fsizes[s]);
        unary_sweep_checks(f, &UNARY[i]);
    }
    for (size_t s = 0; s < sizeof fsizes / sizeof fsizes[0]; s++)
        binary_checks(f, &r, fsizes[s]);
    bias_checks(f, &r, 1, 1, 1);
    bias_checks(f, &r, 5, 13, 16);
    bias_checks(f, &r, 300, 97, 101);
    bias_checks(f, &r, 4099, 3, 5);
    bias_checks(f, &r, 37, 16, 20); /* whole blocks of lanes */
    copy_checks(f, &r, 1, 1, 1, 1, 0);
    copy_checks(f, &r, 7, 5, 9, 23, 0);
    copy_checks(f, &r, 64, 96, 96, 3 * 96 + 8, 1);
    copy_checks(f, &r, 9, 12, 13, 12, 1);
    repeat_checks(f, &r, 1, 1);
    repeat_checks(f, &r, 6, 3);
    repeat_checks(f, &r, 24, 64 * 16);
    repeat_checks(f, &r, 5, 4099);
    invalid_checks(f);
    climp_ctx_close(f);
    return tu_finish("test_eltwise");
}
