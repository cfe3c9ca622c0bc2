/* Tests of cross-scan / cross-merge, global average pool and last-token gather
 * (model/crossscan.h): the C references against double-precision restatements of the math and
 * central finite differences, the adjoint identity <merge(a), b> == <a, scan(b)>, every kernel
 * against its reference (tiny, VMamba-T stage-0, awkward: H or W = 1, non-square 23x36 and
 * 45x71, prime channels), determinism, invalid arguments that must enqueue nothing.
 * CLIMP_CONV_TIMING=1 also prints device vs C-reference time and GB/s at the real shapes (the
 * tiny model's stages at batch 64, VMamba-T stage 0). */
#define _POSIX_C_SOURCE 200809L
#include "model/crossscan.h"
#include "tests/testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int timing_mode(void) {
    const char *e = getenv("CLIMP_CONV_TIMING");
    return e && *e && strcmp(e, "0") != 0;
}

/* ---------------------------------------------------------------- double restatements */

/* xs[b,l,k,:] straight from the definition in architecture.md §4.6 step 4. */
static void scan_d(double *xs, const double *x, int B, int H, int W, int E) {
    int L = H * W;
    for (int b = 0; b < B; b++)
        for (int l = 0; l < L; l++)
            for (int e = 0; e < E; e++) {
                double v0 = x[(((size_t)b * H + l / W) * W + l % W) * E + e];
                double v1 = x[(((size_t)b * H + l % H) * W + l / H) * E + e];
                int q = L - 1 - l;
                double v2 = x[(((size_t)b * H + q / W) * W + q % W) * E + e];
                double v3 = x[(((size_t)b * H + q % H) * W + q / H) * E + e];
                double *o = xs + ((size_t)b * L + l) * 4 * E + e;
                o[0] = v0, o[E] = v1, o[2 * E] = v2, o[3 * E] = v3;
            }
}

/* y[b,h,w,:] straight from §4.6 step 8. */
static void merge_d(double *y, const double *ys, int B, int H, int W, int E) {
    int L = H * W;
    for (int b = 0; b < B; b++)
        for (int h = 0; h < H; h++)
            for (int w = 0; w < W; w++)
                for (int e = 0; e < E; e++) {
                    int p = h * W + w, m = w * H + h;
#define YS(l, k) ys[(((size_t)b * L + (l)) * 4 + (k)) * E + e]
                    y[(((size_t)b * H + h) * W + w) * E + e] =
                        YS(p, 0) + YS(m, 1) + YS(L - 1 - p, 2) + YS(L - 1 - m, 3);
#undef YS
                }
}

static double *to_d(const float *x, size_t n) {
    double *d = malloc(n * sizeof(double));
    for (size_t i = 0; i < n; i++)
        d[i] = x[i];
    return d;
}

static double dot_fd(const float *a, const float *b, size_t n) {
    double s = 0;
    for (size_t i = 0; i < n; i++)
        s += (double)a[i] * b[i];
    return s;
}

/* Compares float results against double ones: |got - want| <= atol + rtol |want|. */
static size_t cmp_d(const char *what, const float *got, const double *want, size_t n, double atol,
                    double rtol) {
    float *w = malloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++)
        w[i] = (float)want[i];
    size_t bad = tu_compare(what, got, w, n, (float)atol, (float)rtol);
    free(w);
    return bad;
}

/* ---------------------------------------------------------------- CPU reference tests */

static void ref_cross(int B, int H, int W, int E, uint64_t seed) {
    tu_rng r;
    tu_rng_seed(&r, seed);
    size_t n = (size_t)B * H * W * E, n4 = 4 * n;
    float *x = tu_alloc_rand(&r, n, -1, 1), *ys = tu_alloc_rand(&r, n4, -1, 1);
    float *xs = malloc(n4 * sizeof(float)), *y = malloc(n * sizeof(float));
    double *xd = to_d(x, n), *ysd = to_d(ys, n4);
    double *xsd = malloc(n4 * sizeof(double)), *yd = malloc(n * sizeof(double));
    climp_cross_scan_forward_ref(xs, x, B, H, W, E);
    climp_cross_merge_forward_ref(y, ys, B, H, W, E);
    scan_d(xsd, xd, B, H, W, E);
    merge_d(yd, ysd, B, H, W, E);
    tu_check(cmp_d("scan_ref", xs, xsd, n4, 0, 0) == 0, "scan ref vs definition %dx%dx%dx%d", B, H,
             W, E);
    tu_check(cmp_d("merge_ref", y, yd, n, 1e-6, 1e-6) == 0, "merge ref vs definition %dx%dx%dx%d",
             B, H, W, E);
    /* adjoint: <merge(ys), x> == <ys, scan(x)> */
    double lhs = dot_fd(y, x, n), rhs = dot_fd(ys, xs, n4);
    tu_check(fabs(lhs - rhs) <= 1e-5 * (1 + fabs(lhs)), "adjoint %dx%dx%dx%d: %.9g vs %.9g", B, H,
             W, E, lhs, rhs);
    /* backward refs are the adjoints: FD of the linear loss sum(g * scan(x)) w.r.t. x equals
     * merge(g), evaluated in double on every element */
    float *dx = malloc(n * sizeof(float)), *dys = malloc(n4 * sizeof(float));
    climp_cross_scan_backward_ref(dx, ys, B, H, W, E);  /* g = ys */
    climp_cross_merge_backward_ref(dys, x, B, H, W, E); /* g = x */
    double *fd = malloc(n4 * sizeof(double)), *tmp = malloc(n4 * sizeof(double));
    const double eps = 1e-3;
    for (size_t i = 0; i < n; i++) {
        double s0 = xd[i], lp, lm;
        xd[i] = s0 + eps;
        scan_d(tmp, xd, B, H, W, E);
        lp = 0;
        for (size_t j = 0; j < n4; j++)
            lp += ysd[j] * tmp[j];
        xd[i] = s0 - eps;
        scan_d(tmp, xd, B, H, W, E);
        lm = 0;
        for (size_t j = 0; j < n4; j++)
            lm += ysd[j] * tmp[j];
        xd[i] = s0;
        fd[i] = (lp - lm) / (2 * eps);
    }
    tu_check(cmp_d("scan_bwd_ref_fd", dx, fd, n, 1e-6, 1e-5) == 0, "scan bwd ref vs FD");
    for (size_t i = 0; i < n4; i++) {
        double s0 = ysd[i], lp, lm;
        ysd[i] = s0 + eps;
        merge_d(tmp, ysd, B, H, W, E);
        lp = 0;
        for (size_t j = 0; j < n; j++)
            lp += xd[j] * tmp[j];
        ysd[i] = s0 - eps;
        merge_d(tmp, ysd, B, H, W, E);
        lm = 0;
        for (size_t j = 0; j < n; j++)
            lm += xd[j] * tmp[j];
        ysd[i] = s0;
        fd[i] = (lp - lm) / (2 * eps);
    }
    tu_check(cmp_d("merge_bwd_ref_fd", dys, fd, n4, 1e-6, 1e-5) == 0, "merge bwd ref vs FD");
    free(x), free(ys), free(xs), free(y), free(xd), free(ysd), free(xsd), free(yd);
    free(dx), free(dys), free(fd), free(tmp);
}

static void ref_pool(uint64_t seed) {
    tu_rng r;
    tu_rng_seed(&r, seed);
    const int B = 2, L = 5, C = 3, Lmax = 4, D = 3;
    float x[30], y[6], dy[6], dx[30];
    tu_fill(&r, x, 30, -1, 1);
    tu_fill(&r, dy, 6, -1, 1);
    climp_avgpool_forward_ref(y, x, B, L, C);
    climp_avgpool_backward_ref(dx, dy, B, L, C);
    double yd[6] = {0}, fd[30];
    for (int b = 0; b < B; b++)
        for (int c = 0; c < C; c++) {
            for (int l = 0; l < L; l++)
                yd[b * C + c] += x[(b * L + l) * C + c];
            yd[b * C + c] /= L;
        }
    tu_check(cmp_d("avgpool_ref", y, yd, 6, 1e-6, 1e-6) == 0, "avgpool ref vs definition");
    /* loss = sum_b,c dy[b,c] * mean_l x[b,l,c], central differences in double */
    const double eps = 1e-3;
    for (int i = 0; i < 30; i++) {
        double lpm[2];
        for (int s = 0; s < 2; s++) {
            double xi = x[i] + (s ? -eps : eps), loss = 0;
            for (int b = 0; b < B; b++)
                for (int c = 0; c < C; c++) {
                    double m = 0;
                    for (int l = 0; l < L; l++) {
                        int j = (b * L + l) * C + c;
                        m += j == i ? xi : x[j];
                    }
                    loss += dy[b * C + c] * m / L;
                }
            lpm[s] = loss;
        }
        fd[i] = (lpm[0] - lpm[1]) / (2 * eps);
    }
    tu_check(cmp_d("avgpool_bwd_ref_fd", dx, fd, 30, 1e-6, 1e-5) == 0, "avgpool bwd ref vs FD");

    /* last token: lengths 4 and 2 */
    int32_t len[2] = {4, 2};
    float h[24], out[6], dout[6], dh[24];
    tu_fill(&r, h, 24, -1, 1);
    tu_fill(&r, dout, 6, -1, 1);
    climp_lasttoken_forward_ref(out, h, len, B, Lmax, D);
    climp_lasttoken_backward_ref(dh, dout, len, B, Lmax, D);
    int ok = 1;
    for (int d = 0; d < D; d++)
        ok &= out[d] == h[3 * D + d] && out[D + d] == h[(Lmax + 1) * D + d];
    tu_check(ok, "lasttoken ref picks rows lengths-1");
    for (int i = 0; i < 24; i++) {
        double lpm[2];
        for (int s = 0; s < 2; s++) {
            double loss = 0;
            for (int b = 0; b < B; b++)
                for (int d = 0; d < D; d++) {
                    int j = (b * Lmax + len[b] - 1) * D + d;
                    loss += dout[b * D + d] * (h[j] + (j == i ? (s ? -eps : eps) : 0.0));
                }
            lpm[s] = loss;
        }
        fd[i] = (lpm[0] - lpm[1]) / (2 * eps);
    }
    tu_check(cmp_d("lasttoken_bwd_ref_fd", dh, fd, 24, 1e-6, 1e-5) == 0, "lasttoken bwd ref vs FD");
}

/* ---------------------------------------------------------------- device tests */

/* Runs the four cross ops on the device at one shape; compares to the references; checks that
 * a second run gives the same bits. */
static void dev_cross(climp_ctx *ctx, int B, int H, int W, int E, uint64_t seed) {
    tu_rng r;
    tu_rng_seed(&r, seed);
    size_t n = (size_t)B * H * W * E, n4 = 4 * n;
    float *x = tu_alloc_rand(&r, n, -1, 1), *ys = tu_alloc_rand(&r, n4, -1, 1);
    float *xs_ref = malloc(n4 * sizeof(float)), *y_ref = malloc(n * sizeof(float));
    climp_cross_scan_forward_ref(xs_ref, x, B, H, W, E);
    climp_cross_merge_forward_ref(y_ref, ys, B, H, W, E);
    /* inputs at odd offsets of one buffer, outputs in another */
    size_t ox = 5, oys = ox + n + 3;
    climp_buffer *in = NULL, *out = NULL;
    CLIMP_CHECK(climp_buffer_create(ctx, "cs_in", (oys + n4) * sizeof(float), &in));
    CLIMP_CHECK(climp_buffer_create(ctx, "cs_out", (7 + n4) * sizeof(float), &out));
    CLIMP_CHECK(climp_buffer_write(ctx, in, ox * sizeof(float), n * sizeof(float), x));
    CLIMP_CHECK(climp_buffer_write(ctx, in, oys * sizeof(float), n4 * sizeof(float), ys));
    climp_tview vin = climp_buffer_view(in), vout = climp_buffer_view(out);
    climp_tview vx = climp_view_sub(vin, ox, n), vys = climp_view_sub(vin, oys, n4);
    climp_tview o4 = climp_view_sub(vout, 7, n4), o1 = climp_view_sub(vout, 7, n);
    char what[96];
    float *got, *again;

    CLIMP_CHECK(climp_cross_scan_forward(ctx, o4, vx, B, H, W, E));
    got = tu_download(ctx, o4, n4);
    snprintf(what, sizeof what, "cross_scan_fwd %dx%dx%dx%d", B, H, W, E);
    tu_check(tu_compare(what, got, xs_ref, n4, 0, 0) == 0, "%s", what);
    free(got);
    /* merge backward = scan of dy */
    CLIMP_CHECK(climp_cross_merge_backward(ctx, o4, vx, B, H, W, E));
    got = tu_download(ctx, o4, n4);
    snprintf(what, sizeof what, "cross_merge_bwd %dx%dx%dx%d", B, H, W, E);
    tu_check(tu_compare(what, got, xs_ref, n4, 0, 0) == 0, "%s", what);
    free(got);

    CLIMP_CHECK(climp_cross_merge_forward(ctx, o1, vys, B, H, W, E));
    got = tu_download(ctx, o1, n);
    snprintf(what, sizeof what, "cross_merge_fwd %dx%dx%dx%d", B, H, W, E);
    tu_check(tu_compare(what, got, y_ref, n, 1e-6f, 1e-6f) == 0, "%s", what);
    CLIMP_CHECK(climp_cross_merge_forward(ctx, o1, vys, B, H, W, E));
    again = tu_download(ctx, o1, n);
    tu_check(memcmp(got, again, n * sizeof(float)) == 0, "cross_merge deterministic %s", what);
    free(got), free(again);
    CLIMP_CHECK(climp_cross_scan_backward(ctx, o1, vys, B, H, W, E));
    got = tu_download(ctx, o1, n);
    snprintf(what, sizeof what, "cross_scan_bwd %dx%dx%dx%d", B, H, W, E);
    tu_check(tu_compare(what, got, y_ref, n, 1e-6f, 1e-6f) == 0, "%s", what);
    free(got);

    climp_buffer_destroy(in), climp_buffer_destroy(out);
    free(x), free(ys), free(xs_ref), free(y_ref);
}

static void dev_avgpool(climp_ctx *ctx, int B, int L, int C, uint64_t seed) {
    tu_rng r;
    tu_rng_seed(&r, seed);
    size_t n = (size_t)B * L * C, m = (size_t)B * C;
    float *x = tu_alloc_rand(&r, n, -1, 1), *dy = tu_alloc_rand(&r, m, -1, 1);
    float *y_ref = malloc(m * sizeof(float)), *dx_ref = malloc(n * sizeof(float));
    climp_avgpool_forward_ref(y_ref, x, B, L, C);
    climp_avgpool_backward_ref(dx_ref, dy, B, L, C);
    climp_buffer *bx = tu_upload(ctx, "ap_x", x, n), *bdy = tu_upload(ctx, "ap_dy", dy, m);
    climp_buffer *by = NULL, *bdx = NULL;
    CLIMP_CHECK(climp_buffer_create(ctx, "ap_y", m * sizeof(float), &by));
    CLIMP_CHECK(climp_buffer_create(ctx, "ap_dx", n * sizeof(float), &bdx));
    CLIMP_CHECK(climp_avgpool_forward(ctx, climp_buffer_view(by), climp_buffer_view(bx), B, L, C));
    CLIMP_CHECK(
        climp_avgpool_backward(ctx, climp_buffer_view(bdx), climp_buffer_view(bdy), B, L, C));
    float *y = tu_download(ctx, climp_buffer_view(by), m);
    float *dx = tu_download(ctx, climp_buffer_view(bdx), n);
    char what[80];
    snprintf(what, sizeof what, "avgpool_fwd %dx%dx%d", B, L, C);
    tu_check(tu_compare(what, y, y_ref, m, 1e-6f, 1e-5f) == 0, "%s", what);
    snprintf(what, sizeof what, "avgpool_bwd %dx%dx%d", B, L, C);
    tu_check(tu_compare(what, dx, dx_ref, n, 0, 0) == 0, "%s", what);
    CLIMP_CHECK(climp_avgpool_forward(ctx, climp_buffer_view(by), climp_buffer_view(bx), B, L, C));
    float *y2 = tu_download(ctx, climp_buffer_view(by), m);
    tu_check(memcmp(y, y2, m * sizeof(float)) == 0, "avgpool deterministic %dx%dx%d", B, L, C);
    free(y2), free(y), free(dx), free(x), free(dy), free(y_ref), free(dx_ref);
    climp_buffer_destroy(bx), climp_buffer_destroy(bdy), climp_buffer_destroy(by);
    climp_buffer_destroy(bdx);
}

/* lengths[b] may be out of range on purpose (0 or Lmax+1): a NaN row forward, zeros backward. */
static void dev_lasttoken(climp_ctx *ctx, int B, int Lmax, int D, const int32_t *lengths,
                          uint64_t seed) {
    tu_rng r;
    tu_rng_seed(&r, seed);
    size_t n = (size_t)B * Lmax * D, m = (size_t)B * D;
    float *h = tu_alloc_rand(&r, n, -1, 1), *dout = tu_alloc_rand(&r, m, -1, 1);
    float *out_ref = malloc(m * sizeof(float)), *dh_ref = malloc(n * sizeof(float));
    climp_lasttoken_forward_ref(out_ref, h, lengths, B, Lmax, D);
    climp_lasttoken_backward_ref(dh_ref, dout, lengths, B, Lmax, D);
    climp_buffer *bh = tu_upload(ctx, "lt_h", h, n), *bdo = tu_upload(ctx, "lt_dout", dout, m);
    climp_buffer *bl = NULL, *bo = NULL, *bdh = NULL;
    CLIMP_CHECK(climp_buffer_create(ctx, "lt_len", (3 + (size_t)B) * 4, &bl));
    CLIMP_CHECK(climp_buffer_write(ctx, bl, 3 * 4, (size_t)B * 4, lengths));
    CLIMP_CHECK(climp_buffer_create(ctx, "lt_out", m * sizeof(float), &bo));
    CLIMP_CHECK(climp_buffer_create(ctx, "lt_dh", n * sizeof(float), &bdh));
    /* dh starts as NaN everywhere: the backward must overwrite all of it */
    float *nan = malloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++)
        nan[i] = NAN;
    CLIMP_CHECK(climp_buffer_write(ctx, bdh, 0, n * sizeof(float), nan));
    climp_tview vlen = climp_view_sub(climp_buffer_view(bl), 3, (size_t)B);
    CLIMP_CHECK(climp_lasttoken_forward(ctx, climp_buffer_view(bo), climp_buffer_view(bh), vlen, B,
                                        Lmax, D));
    CLIMP_CHECK(climp_lasttoken_backward(ctx, climp_buffer_view(bdh), climp_buffer_view(bdo), vlen,
                                         B, Lmax, D));
    float *out = tu_download(ctx, climp_buffer_view(bo), m);
    float *dh = tu_download(ctx, climp_buffer_view(bdh), n);
    int ok = 1;
    for (size_t i = 0; i < m; i++)
        ok &= isnan(out_ref[i]) ? isnan(out[i]) : out[i] == out_ref[i];
    tu_check(ok, "lasttoken_fwd B=%d Lmax=%d D=%d (NaN rows where length is out of range)", B, Lmax,
             D);
    char what[80];
    snprintf(what, sizeof what, "lasttoken_bwd %dx%dx%d", B, Lmax, D);
    tu_check(tu_compare(what, dh, dh_ref, n, 0, 0) == 0, "%s", what);
    free(out), free(dh), free(nan), free(h), free(dout), free(out_ref), free(dh_ref);
    climp_buffer_destroy(bh), climp_buffer_destroy(bdo), climp_buffer_destroy(bl);
    climp_buffer_destroy(bo), climp_buffer_destroy(bdh);
}

/* Every invalid call returns its specific status and enqueues nothing. */
static void dev_invalid(climp_ctx *ctx) {
    climp_buffer *b = NULL;
    CLIMP_CHECK(climp_buffer_create(ctx, "inv", 4096 * sizeof(float), &b));
    climp_tview all = climp_buffer_view(b);
    climp_tview a = climp_view_sub(all, 0, 2048), c = climp_view_sub(all, 2048, 2048);
    climp_tview none = {NULL, 0, 0};
    long before = climp_ctx_counters(ctx).launches;
    /* 2x4x4x8 = 256 floats, xs 1024 */
    tu_check(climp_cross_scan_forward(ctx, c, a, 2, 4, 4, 8) == CLIMP_OK, "valid scan");
    long after_valid = climp_ctx_counters(ctx).launches;
    tu_check(after_valid == before + 1, "a valid call launches once");
    tu_check(climp_cross_scan_forward(ctx, c, a, 0, 4, 4, 8) == CLIMP_ERR_SHAPE, "B=0");
    tu_check(climp_cross_scan_forward(ctx, c, a, 2, -4, 4, 8) == CLIMP_ERR_SHAPE, "H<0");
    tu_check(climp_cross_scan_forward(ctx, climp_view_sub(all, 2048, 1023), a, 2, 4, 4, 8) ==
                 CLIMP_ERR_BUFFER_TOO_SMALL,
             "xs short");
    tu_check(climp_cross_merge_forward(ctx, c, climp_view_sub(all, 0, 1023), 2, 4, 4, 8) ==
                 CLIMP_ERR_BUFFER_TOO_SMALL,
             "ys short");
    tu_check(climp_cross_scan_forward(ctx, none, a, 2, 4, 4, 8) == CLIMP_ERR_INVALID_ARG,
             "NULL xs");
    tu_check(climp_cross_scan_forward(ctx, climp_view_sub(all, 100, 1024), a, 2, 4, 4, 8) ==
                 CLIMP_ERR_INVALID_ARG,
             "xs overlaps x");
    tu_check(climp_cross_scan_forward(NULL, c, a, 2, 4, 4, 8) == CLIMP_ERR_INVALID_ARG, "NULL ctx");
    tu_check(climp_avgpool_forward(ctx, c, a, 2, 1025, 1) == CLIMP_ERR_BUFFER_TOO_SMALL,
             "avgpool x short");
    tu_check(climp_avgpool_backward(ctx, c, a, 2, 8, 0) == CLIMP_ERR_SHAPE, "avgpool C=0");
    tu_check(climp_lasttoken_forward(ctx, c, a, climp_view_sub(all, 4000, 1), 2, 8, 4) ==
                 CLIMP_ERR_BUFFER_TOO_SMALL,
             "lengths short");
    tu_check(climp_lasttoken_backward(ctx, a, c, none, 2, 8, 4) == CLIMP_ERR_INVALID_ARG,
             "lengths NULL");
    tu_check(climp_lasttoken_backward(ctx, climp_view_sub(all, 0, 63), c,
                                      climp_view_sub(all, 4000, 2), 2, 8,
                                      4) == CLIMP_ERR_BUFFER_TOO_SMALL,
             "dh short");
    CLIMP_CHECK(climp_finish(ctx));
    tu_check(climp_ctx_counters(ctx).launches == after_valid, "invalid calls launched nothing");
    climp_buffer_destroy(b);
}

/* ---------------------------------------------------------------- timing */

static void time_one(climp_ctx *ctx, const char *name, double bytes, void (*dev_fn)(void *),
                     void (*ref_fn)(void *), void *arg) {
    dev_fn(arg); /* warm-up: compile */
    CLIMP_CHECK(climp_finish(ctx));
    int reps = 5;
    double t0 = climp_now_seconds();
    for (int i = 0; i < reps; i++)
        dev_fn(arg);
    CLIMP_CHECK(climp_finish(ctx));
    double td = (climp_now_seconds() - t0) / reps;
    t0 = climp_now_seconds();
    for (int i = 0; i < 2; i++)
        ref_fn(arg);
    double tr = (climp_now_seconds() - t0) / 2;
    printf("timing %-34s device %8.3f ms %7.2f GB/s | C ref %8.3f ms %7.2f GB/s\n", name, td * 1e3,
           bytes / td / 1e9, tr * 1e3, bytes / tr / 1e9);
}

typedef struct targ {
    climp_ctx *ctx;
    climp_tview a, b;
    float *ha, *hb;
    int B, H, W, E;
} targ;

static void t_scan_dev(void *p) {
    targ *t = p;
    CLIMP_CHECK(climp_cross_scan_forward(t->ctx, t->b, t->a, t->B, t->H, t->W, t->E));
}
static void t_scan_ref(void *p) {
    targ *t = p;
    climp_cross_scan_forward_ref(t->hb, t->ha, t->B, t->H, t->W, t->E);
}
static void t_merge_dev(void *p) {
    targ *t = p;
    CLIMP_CHECK(climp_cross_merge_forward(t->ctx, t->a, t->b, t->B, t->H, t->W, t->E));
}
static void t_merge_ref(void *p) {
    targ *t = p;
    climp_cross_merge_forward_ref(t->ha, t->hb, t->B, t->H, t->W, t->E);
}
static void t_pool_dev(void *p) {
    targ *t = p;
    CLIMP_CHECK(climp_avgpool_forward(t->ctx, t->b, t->a, t->B, t->H * t->W, t->E));
}
static void t_pool_ref(void *p) {
    targ *t = p;
    climp_avgpool_forward_ref(t->hb, t->ha, t->B, t->H * t->W, t->E);
}
static void t_poolb_dev(void *p) {
    targ *t = p;
    CLIMP_CHECK(climp_avgpool_backward(t->ctx, t->a, t->b, t->B, t->H * t->W, t->E));
}
static void t_poolb_ref(void *p) {
    targ *t = p;
    climp_avgpool_backward_ref(t->ha, t->hb, t->B, t->H * t->W, t->E);
}

static void timing_shape(climp_ctx *ctx, int B, int H, int W, int E) {
    targ t = {ctx, {0}, {0}, NULL, NULL, B, H, W, E};
    size_t n = (size_t)B * H * W * E;
    tu_rng r;
    tu_rng_seed(&r, 99);
    t.ha = tu_alloc_rand(&r, n, -1, 1);
    t.hb = tu_alloc_rand(&r, 4 * n, -1, 1);
    climp_buffer *ba = tu_upload(ctx, "t_a", t.ha, n), *bb = tu_upload(ctx, "t_b", t.hb, 4 * n);
    t.a = climp_buffer_view(ba), t.b = climp_buffer_view(bb);
    double bytes = 5.0 * n * sizeof(float);
    char name[64];
    snprintf(name, sizeof name, "cross_scan (%d,%d,%d,%d)", B, H, W, E);
    time_one(ctx, name, bytes, t_scan_dev, t_scan_ref, &t);
    snprintf(name, sizeof name, "cross_merge (%d,%d,%d,%d)", B, H, W, E);
    time_one(ctx, name, bytes, t_merge_dev, t_merge_ref, &t);
    t.E = E / 2; /* avgpool over the grid at the stage width, (B, H*W, E/2) */
    double pb = ((double)B * H * W * t.E + (double)B * t.E) * sizeof(float);
    snprintf(name, sizeof name, "avgpool_fwd (%d,%d,%d)", B, H * W, t.E);
    time_one(ctx, name, pb, t_pool_dev, t_pool_ref, &t);
    snprintf(name, sizeof name, "avgpool_bwd (%d,%d,%d)", B, H * W, t.E);
    time_one(ctx, name, pb, t_poolb_dev, t_poolb_ref, &t);
    free(t.ha), free(t.hb);
    climp_buffer_destroy(ba), climp_buffer_destroy(bb);
}

/* The tiny model's VSS stages at batch 64, then VMamba-T stage 0. */
static void timing(climp_ctx *ctx) {
    timing_shape(ctx, 64, 16, 16, 48);
    timing_shape(ctx, 64, 8, 8, 96);
    timing_shape(ctx, 64, 4, 4, 192);
    timing_shape(ctx, 2, 56, 56, 192);
}

int main(void) {
    /* CPU-only: references vs definitions, FD and the adjoint identity */
    ref_cross(1, 2, 3, 2, 1);
    ref_cross(2, 3, 2, 3, 2);
    ref_cross(1, 1, 4, 2, 3);
    ref_cross(1, 5, 1, 1, 4);
    ref_pool(5);

    climp_ctx *ctx = tu_open_ctx();
    static const int shapes[][4] = {
        {1, 2, 3, 4}, {2, 56, 56, 192}, {1, 1, 1, 5},   {1, 1, 7, 7},
        {2, 7, 1, 5}, {1, 23, 36, 7},   {2, 45, 71, 5}, {3, 4, 4, 1},
    };
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
        dev_cross(ctx, shapes[i][0], shapes[i][1], shapes[i][2], shapes[i][3], 100 + i);
    dev_avgpool(ctx, 2, 49, 768, 200);
    dev_avgpool(ctx, 2, 3136, 96, 201);
    dev_avgpool(ctx, 1, 1, 5, 202);
    dev_avgpool(ctx, 3, 7, 1, 203);
    static const int32_t len4[4] = {1, 77, 30, 5};
    dev_lasttoken(ctx, 4, 77, 768, len4, 300);
    static const int32_t len1[3] = {1, 1, 1};
    dev_lasttoken(ctx, 3, 1, 7, len1, 301);
    static const int32_t lenbad[3] = {0, 6, 3}; /* Lmax = 5: rows 0 and 1 out of range */
    dev_lasttoken(ctx, 3, 5, 3, lenbad, 302);
    /* the row kernels with short work-groups: whole groups plus a tail launch */
    static const char *rwg[] = {"1", "3", "64"};
    for (int i = 0; i < 3; i++) {
        setenv("CLIMP_CONV_ROW_WG", rwg[i], 1);
        dev_cross(ctx, 2, 5, 7, 70, 400 + i);
        dev_cross(ctx, 1, 6, 4, 48, 403 + i);
        dev_avgpool(ctx, 2, 9, 70, 410 + i);
        dev_lasttoken(ctx, 3, 5, 70, lenbad, 420 + i);
    }
    unsetenv("CLIMP_CONV_ROW_WG");
    dev_invalid(ctx);
    if (timing_mode())
        timing(ctx);
    climp_ctx_close(ctx);

    /* the FPGA-style single-work-item kernels (cl_kernels/conv_fpga.cl), second context */
    climp_ctx_options opt = {0};
    opt.kernel_variant = "fpga";
    climp_ctx *f = NULL;
    CLIMP_CHECK(climp_ctx_open(&opt, &f));
    tu_check(!strcmp(climp_ctx_variant(f), "fpga"), "fpga context selects the fpga variant");
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
        if (shapes[i][0] * shapes[i][1] * shapes[i][2] * shapes[i][3] < 100000)
            dev_cross(f, shapes[i][0], shapes[i][1], shapes[i][2], shapes[i][3], 500 + i);
    dev_avgpool(f, 2, 49, 76, 510);
    dev_avgpool(f, 3, 7, 1, 511);
    dev_lasttoken(f, 4, 77, 68, len4, 520);
    dev_lasttoken(f, 3, 5, 3, lenbad, 521);
    dev_invalid(f);
    climp_ctx_close(f);
    return tu_finish("test_crossscan");
}
