/* Tests of the causal depthwise conv1d and the depthwise conv2d 3x3 (model/conv.h): the C
 * references against double-precision restatements of the math and against central finite
 * differences in double; the kernels against the references at tiny, real (Mamba-130m conv1d,
 * VMamba-T stage-0 dwconv) and awkward shapes (L = 1, L < K, every K in 1..8, strided and offset
 * x, H or W = 1, 45x71, prime channels, enough rows for multi-row reduction chunks, chunks that
 * span sequences, several forward segments), at every vector width (CLIMP_CONV_VW) and in the
 * FPGA-style single-work-item variant (a second context with kernel_variant "fpga"); parameter
 * gradients accumulate, dx overwrites only its columns; determinism (bitwise); invalid arguments
 * enqueue nothing. CLIMP_CONV_TIMING=1 prints device vs C-reference time and GB/s. */
#define _POSIX_C_SOURCE 200809L
#include "model/conv.h"
#include "tests/testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Tolerance of a float sum of n terms of size <= 1 against a double reference. */
static float tol_sum(size_t n) {
    return 1e-5f + 1e-6f * sqrtf((float)n);
}

static double *to_d(const float *x, size_t n) {
    double *d = malloc((n ? n : 1) * sizeof(double));
    for (size_t i = 0; i < n; i++)
        d[i] = x[i];
    return d;
}

static size_t cmp_d(const char *what, const float *got, const double *want, size_t n, double atol,
                    double rtol) {
    float *w = malloc((n ? n : 1) * sizeof(float));
    for (size_t i = 0; i < n; i++)
        w[i] = (float)want[i];
    size_t bad = tu_compare(what, got, w, n, (float)atol, (float)rtol);
    free(w);
    return bad;
}

/* ---------------------------------------------------------------- double restatements */

/* loss = sum_{b,t,c} g[b,t,c] * y[b,t,c] with y the causal conv of §1.3 step 2. */
static double c1_loss(const double *g, const double *x, int ld_x, const double *w,
                      const double *bias, int B, int L, int C, int K) {
    double loss = 0;
    for (int b = 0; b < B; b++)
        for (int t = 0; t < L; t++)
            for (int c = 0; c < C; c++) {
                double y = bias[c];
                for (int k = 0; k < K; k++)
                    if (t + k - (K - 1) >= 0)
                        y += w[c * K + k] * x[((size_t)b * L + t + k - (K - 1)) * ld_x + c];
                loss += g[((size_t)b * L + t) * C + c] * y;
            }
    return loss;
}

static double dw_loss(const double *g, const double *x, const double *w, int B, int H, int W,
                      int C) {
    double loss = 0;
    for (int b = 0; b < B; b++)
        for (int h = 0; h < H; h++)
            for (int v = 0; v < W; v++)
                for (int c = 0; c < C; c++) {
                    double y = 0;
                    for (int ky = 0; ky < 3; ky++)
                        for (int kx = 0; kx < 3; kx++) {
                            int iy = h + ky - 1, ix = v + kx - 1;
                            if (iy >= 0 && iy < H && ix >= 0 && ix < W)
                                y += w[c * 9 + ky * 3 + kx] *
                                     x[(((size_t)b * H + iy) * W + ix) * C + c];
                        }
                    loss += g[(((size_t)b * H + h) * W + v) * C + c] * y;
                }
    return loss;
}

/* Central difference of a loss over one double array, element by element. */
#define FD_EPS 1e-3
#define FD_ALL(arr, n, out, expr)                                                                  \
    for (size_t i_ = 0; i_ < (n); i_++) {                                                          \
        double s_ = (arr)[i_];                                                                     \
        (arr)[i_] = s_ + FD_EPS;                                                                   \
        double lp_ = (expr);                                                                       \
        (arr)[i_] = s_ - FD_EPS;                                                                   \
        double lm_ = (expr);                                                                       \
        (arr)[i_] = s_;                                                                            \
        (out)[i_] = (lp_ - lm_) / (2 * FD_EPS);                                                    \
    }

/* ---------------------------------------------------------------- CPU reference tests */

static void ref_conv1d(int B, int L, int C, int K, int ld_x, uint64_t seed) {
    tu_rng r;
    tu_rng_seed(&r, seed);
    size_t nx = (size_t)B * L * ld_x, ny = (size_t)B * L * C;
    float *x = tu_alloc_rand(&r, nx, -1, 1), *w = tu_alloc_rand(&r, (size_t)C * K, -1, 1);
    float *bias = tu_alloc_rand(&r, C, -1, 1), *g = tu_alloc_rand(&r, ny, -1, 1);
    float *y = malloc(ny * sizeof(float));
    float *dx = tu_alloc_rand(&r, nx, -1, 1), *dx0 = malloc(nx * sizeof(float));
    float *dw = tu_alloc_rand(&r, (size_t)C * K, -1, 1),
          *dw0 = malloc((size_t)C * K * sizeof(float));
    float *db = tu_alloc_rand(&r, C, -1, 1), *db0 = malloc((size_t)C * sizeof(float));
    memcpy(dx0, dx, nx * sizeof(float));
    memcpy(dw0, dw, (size_t)C * K * sizeof(float));
    memcpy(db0, db, (size_t)C * sizeof(float));
    double *xd = to_d(x, nx), *wd = to_d(w, (size_t)C * K), *bd = to_d(bias, C), *gd = to_d(g, ny);
    char what[96];
    snprintf(what, sizeof what, "conv1d ref B=%d L=%d C=%d K=%d ld=%d", B, L, C, K, ld_x);

    /* forward vs the double definition: sum_i g_i y_i computed both ways, and y one by one via
     * the loss with a one-hot g */
    climp_causal_conv1d_forward_ref(y, x, ld_x, w, bias, B, L, C, K);
    double *yd = malloc(ny * sizeof(double)), *oh = calloc(ny, sizeof(double));
    for (size_t i = 0; i < ny; i++) {
        oh[i] = 1;
        yd[i] = c1_loss(oh, xd, ld_x, wd, bd, B, L, C, K);
        oh[i] = 0;
    }
    tu_check(cmp_d("conv1d_fwd_ref", y, yd, ny, 1e-6, 1e-5) == 0, "%s forward", what);

    climp_causal_conv1d_backward_ref(dx, dw, db, g, x, ld_x, w, B, L, C, K);
    double *fdx = calloc(nx, sizeof(double)), *fdw = malloc((size_t)C * K * sizeof(double));
    double *fdb = malloc((size_t)C * sizeof(double));
    FD_ALL(xd, nx, fdx, c1_loss(gd, xd, ld_x, wd, bd, B, L, C, K));
    FD_ALL(wd, (size_t)C * K, fdw, c1_loss(gd, xd, ld_x, wd, bd, B, L, C, K));
    FD_ALL(bd, (size_t)C, fdb, c1_loss(gd, xd, ld_x, wd, bd, B, L, C, K));
    /* dx: the first C columns are the gradient, the rest untouched */
    size_t bad = 0;
    for (size_t row = 0; row < (size_t)B * L; row++)
        for (int c = 0; c < ld_x; c++) {
            size_t i = row * ld_x + c;
            if (c < C)
                bad += fabs(dx[i] - fdx[i]) > 1e-5 + 1e-5 * fabs(fdx[i]);
            else
                bad += dx[i] != dx0[i];
        }
    tu_check(bad == 0, "%s dx vs FD (%zu bad)", what, bad);
    for (size_t i = 0; i < (size_t)C * K; i++)
        dw[i] -= dw0[i];
    for (int i = 0; i < C; i++)
        db[i] -= db0[i];
    tu_check(cmp_d("conv1d_dw_ref_fd", dw, fdw, (size_t)C * K, 1e-5, 1e-5) == 0, "%s dw += vs FD",
             what);
    tu_check(cmp_d("conv1d_db_ref_fd", db, fdb, C, 1e-5, 1e-5) == 0, "%s dbias += vs FD", what);
    free(x), free(w), free(bias), free(g), free(y), free(dx), free(dx0), free(dw), free(dw0);
    free(db), free(db0), free(xd), free(wd), free(bd), free(gd), free(yd), free(oh), free(fdx);
    free(fdw), free(fdb);
}

static void ref_dwconv(int B, int H, int W, int C, uint64_t seed) {
    tu_rng r;
    tu_rng_seed(&r, seed);
    size_t n = (size_t)B * H * W * C, nw = (size_t)C * 9;
    float *x = tu_alloc_rand(&r, n, -1, 1), *w = tu_alloc_rand(&r, nw, -1, 1);
    float *g = tu_alloc_rand(&r, n, -1, 1), *y = malloc(n * sizeof(float));
    float *dx = malloc(n * sizeof(float));
    float *dw = tu_alloc_rand(&r, nw, -1, 1), *dw0 = malloc(nw * sizeof(float));
    memcpy(dw0, dw, nw * sizeof(float));
    double *xd = to_d(x, n), *wd = to_d(w, nw), *gd = to_d(g, n);
    char what[96];
    snprintf(what, sizeof what, "dwconv ref B=%d H=%d W=%d C=%d", B, H, W, C);
    climp_dwconv3x3_forward_ref(y, x, w, B, H, W, C);
    double *yd = malloc(n * sizeof(double)), *oh = calloc(n, sizeof(double));
    for (size_t i = 0; i < n; i++) {
        oh[i] = 1;
        yd[i] = dw_loss(oh, xd, wd, B, H, W, C);
        oh[i] = 0;
    }
    tu_check(cmp_d("dwconv_fwd_ref", y, yd, n, 1e-6, 1e-5) == 0, "%s forward", what);
    climp_dwconv3x3_backward_ref(dx, dw, g, x, w, B, H, W, C);
    double *fdx = malloc(n * sizeof(double)), *fdw = malloc(nw * sizeof(double));
    FD_ALL(xd, n, fdx, dw_loss(gd, xd, wd, B, H, W, C));
    FD_ALL(wd, nw, fdw, dw_loss(gd, xd, wd, B, H, W, C));
    for (size_t i = 0; i < nw; i++)
        dw[i] -= dw0[i];
    tu_check(cmp_d("dwconv_dx_ref_fd", dx, fdx, n, 1e-5, 1e-5) == 0, "%s dx vs FD", what);
    tu_check(cmp_d("dwconv_dw_ref_fd", dw, fdw, nw, 1e-5, 1e-5) == 0, "%s dw += vs FD", what);
    free(x), free(w), free(g), free(y), free(dx), free(dw), free(dw0), free(xd), free(wd);
    free(gd), free(yd), free(oh), free(fdx), free(fdw);
}

/* ---------------------------------------------------------------- device tests */

/* x is the column slice [xcol, xcol+C) of a (B, L, ld_x) tensor (ld_x >= xcol + C). */
static void dev_conv1d(climp_ctx *ctx, int B, int L, int C, int K, int ld_x, int xcol,
                       uint64_t seed) {
    tu_rng r;
    tu_rng_seed(&r, seed);
    size_t rows = (size_t)B * L, nx = rows * ld_x, ny = rows * C, nw = (size_t)C * K;
    float *x = tu_alloc_rand(&r, nx, -1, 1), *w = tu_alloc_rand(&r, nw, -1, 1);
    float *bias = tu_alloc_rand(&r, C, -1, 1), *dy = tu_alloc_rand(&r, ny, -1, 1);
    float *dx = tu_alloc_rand(&r, nx, -1, 1); /* the wide gradient: other columns must survive */
    float *dw = tu_alloc_rand(&r, nw, -1, 1), *db = tu_alloc_rand(&r, C, -1, 1);
    float *y_ref = malloc(ny * sizeof(float)), *dx_ref = malloc(nx * sizeof(float));
    float *dw_ref = malloc(nw * sizeof(float)), *db_ref = malloc((size_t)C * sizeof(float));
    memcpy(dx_ref, dx, nx * sizeof(float));
    memcpy(dw_ref, dw, nw * sizeof(float));
    memcpy(db_ref, db, (size_t)C * sizeof(float));
    climp_causal_conv1d_forward_ref(y_ref, x + xcol, ld_x, w, bias, B, L, C, K);
    climp_causal_conv1d_backward_ref(dx_ref + xcol, dw_ref, db_ref, dy, x + xcol, ld_x, w, B, L, C,
                                     K);

    climp_buffer *bx = tu_upload(ctx, "c1_x", x, nx), *bw = tu_upload(ctx, "c1_w", w, nw);
    climp_buffer *bb = tu_upload(ctx, "c1_b", bias, C), *bdy = tu_upload(ctx, "c1_dy", dy, ny);
    climp_buffer *bdx = tu_upload(ctx, "c1_dx", dx, nx), *bdw = tu_upload(ctx, "c1_dw", dw, nw);
    climp_buffer *bdb = tu_upload(ctx, "c1_db", db, C), *by = NULL, *bs = NULL;
    size_t ns = climp_causal_conv1d_scratch_floats(B, L, C, K);
    CLIMP_CHECK(climp_buffer_create(ctx, "c1_y", ny * sizeof(float), &by));
    CLIMP_CHECK(climp_buffer_create(ctx, "c1_s", ns * sizeof(float), &bs));
    climp_tview vx = climp_view_sub(climp_buffer_view(bx), xcol, nx - xcol);
    climp_tview vdx = climp_view_sub(climp_buffer_view(bdx), xcol, nx - xcol);
    char what[112];
    snprintf(what, sizeof what, "conv1d B=%d L=%d C=%d K=%d ld=%d col=%d", B, L, C, K, ld_x, xcol);

    CLIMP_CHECK(climp_causal_conv1d_forward(ctx, climp_buffer_view(by), vx, ld_x,
                                            climp_buffer_view(bw), climp_buffer_view(bb), B, L, C,
                                            K));
    float *y = tu_download(ctx, climp_buffer_view(by), ny);
    tu_check(tu_compare("conv1d_fwd", y, y_ref, ny, tol_sum((size_t)K), 1e-5f) == 0, "%s fwd",
             what);
    CLIMP_CHECK(climp_causal_conv1d_forward(ctx, climp_buffer_view(by), vx, ld_x,
                                            climp_buffer_view(bw), climp_buffer_view(bb), B, L, C,
                                            K));
    float *y2 = tu_download(ctx, climp_buffer_view(by), ny);
    tu_check(memcmp(y, y2, ny * sizeof(float)) == 0, "%s fwd deterministic", what);

    float *first[3] = {NULL, NULL, NULL};
    for (int rep = 0; rep < 2; rep++) {
        if (rep) { /* restore the accumulators and run again: bitwise the same */
            CLIMP_CHECK(climp_buffer_write(ctx, bdw, 0, nw * sizeof(float), dw));
            CLIMP_CHECK(climp_buffer_write(ctx, bdb, 0, (size_t)C * sizeof(float), db));
        }
        CLIMP_CHECK(climp_causal_conv1d_backward(
            ctx, vdx, climp_buffer_view(bdw), climp_buffer_view(bdb), climp_buffer_view(bdy), vx,
            ld_x, climp_buffer_view(bw), climp_buffer_view(bs), B, L, C, K));
        float *gdx = tu_download(ctx, climp_buffer_view(bdx), nx);
        float *gdw = tu_download(ctx, climp_buffer_view(bdw), nw);
        float *gdb = tu_download(ctx, climp_buffer_view(bdb), C);
        if (!rep) {
            size_t bad = 0; /* columns outside [xcol, xcol+C) bit-identical, inside vs ref */
            for (size_t i = 0; i < nx; i++) {
                int c = (int)(i % ld_x) - xcol;
                if (c >= 0 && c < C)
                    bad += !(fabsf(gdx[i] - dx_ref[i]) <= tol_sum(K) + 1e-5f * fabsf(dx_ref[i]));
                else
                    bad += memcmp(&gdx[i], &dx_ref[i], sizeof(float)) != 0;
            }
            tu_check(bad == 0, "%s dx (%zu bad)", what, bad);
            tu_check(tu_compare("conv1d_dw", gdw, dw_ref, nw, tol_sum(rows), 1e-5f) == 0, "%s dw",
                     what);
            tu_check(tu_compare("conv1d_db", gdb, db_ref, C, tol_sum(rows), 1e-5f) == 0, "%s dbias",
                     what);
            first[0] = gdx, first[1] = gdw, first[2] = gdb;
        } else {
            tu_check(!memcmp(first[0], gdx, nx * sizeof(float)) &&
                         !memcmp(first[1], gdw, nw * sizeof(float)) &&
                         !memcmp(first[2], gdb, (size_t)C * sizeof(float)),
                     "%s backward deterministic", what);
            for (int j = 0; j < 3; j++)
                free(first[j]);
            free(gdx), free(gdw), free(gdb);
        }
    }
    free(y), free(y2), free(x), free(w), free(bias), free(dy), free(dx), free(dw), free(db);
    free(y_ref), free(dx_ref), free(dw_ref), free(db_ref);
    climp_buffer *all[] = {bx, bw, bb, bdy, bdx, bdw, bdb, by, bs};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        climp_buffer_destroy(all[i]);
}

static void dev_dwconv(climp_ctx *ctx, int B, int H, int W, int C, uint64_t seed) {
    tu_rng r;
    tu_rng_seed(&r, seed);
    size_t n = (size_t)B * H * W * C, nw = (size_t)C * 9;
    float *x = tu_alloc_rand(&r, n, -1, 1), *w = tu_alloc_rand(&r, nw, -1, 1);
    float *dy = tu_alloc_rand(&r, n, -1, 1), *dw = tu_alloc_rand(&r, nw, -1, 1);
    float *y_ref = malloc(n * sizeof(float)), *dx_ref = malloc(n * sizeof(float));
    float *dw_ref = malloc(nw * sizeof(float));
    memcpy(dw_ref, dw, nw * sizeof(float));
    climp_dwconv3x3_forward_ref(y_ref, x, w, B, H, W, C);
    climp_dwconv3x3_backward_ref(dx_ref, dw_ref, dy, x, w, B, H, W, C);
    float *nan = malloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++)
        nan[i] = NAN;
    climp_buffer *bx = tu_upload(ctx, "dw_x", x, n), *bw = tu_upload(ctx, "dw_w", w, nw);
    climp_buffer *bdy = tu_upload(ctx, "dw_dy", dy, n), *bdw = tu_upload(ctx, "dw_dw", dw, nw);
    climp_buffer *by = tu_upload(ctx, "dw_y", nan, n), *bdx = tu_upload(ctx, "dw_dx", nan, n);
    climp_buffer *bs = NULL;
    CLIMP_CHECK(climp_buffer_create(
        ctx, "dw_s", climp_dwconv3x3_scratch_floats(B, H, W, C) * sizeof(float), &bs));
    char what[96];
    snprintf(what, sizeof what, "dwconv B=%d H=%d W=%d C=%d", B, H, W, C);
    CLIMP_CHECK(climp_dwconv3x3_forward(ctx, climp_buffer_view(by), climp_buffer_view(bx),
                                        climp_buffer_view(bw), B, H, W, C));
    float *y = tu_download(ctx, climp_buffer_view(by), n);
    tu_check(tu_compare("dwconv_fwd", y, y_ref, n, tol_sum(9), 1e-5f) == 0, "%s fwd", what);
    float *gdx = NULL, *gdw = NULL;
    for (int rep = 0; rep < 2; rep++) {
        CLIMP_CHECK(climp_buffer_write(ctx, bdw, 0, nw * sizeof(float), dw));
        CLIMP_CHECK(climp_dwconv3x3_backward(
            ctx, climp_buffer_view(bdx), climp_buffer_view(bdw), climp_buffer_view(bdy),
            climp_buffer_view(bx), climp_buffer_view(bw), climp_buffer_view(bs), B, H, W, C));
        float *a = tu_download(ctx, climp_buffer_view(bdx), n);
        float *b = tu_download(ctx, climp_buffer_view(bdw), nw);
        if (!rep) {
            tu_check(tu_compare("dwconv_dx", a, dx_ref, n, tol_sum(9), 1e-5f) == 0, "%s dx", what);
            tu_check(tu_compare("dwconv_dw", b, dw_ref, nw, tol_sum((size_t)B * H * W), 1e-5f) == 0,
                     "%s dw", what);
            gdx = a, gdw = b;
        } else {
            tu_check(!memcmp(a, gdx, n * sizeof(float)) && !memcmp(b, gdw, nw * sizeof(float)),
                     "%s backward deterministic", what);
            free(a), free(b);
        }
    }
    free(gdx), free(gdw), free(y), free(nan), free(x), free(w), free(dy), free(dw), free(y_ref);
    free(dx_ref), free(dw_ref);
    climp_buffer *all[] = {bx, bw, bdy, bdw, by, bdx, bs};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        climp_buffer_destroy(all[i]);
}

/* Every invalid call returns its specific status and enqueues nothing. */
static void dev_invalid(climp_ctx *ctx) {
    climp_buffer *buf = NULL;
    CLIMP_CHECK(climp_buffer_create(ctx, "inv", 8192 * sizeof(float), &buf));
    climp_tview all = climp_buffer_view(buf), none = {NULL, 0, 0};
    /* conv1d B=2 L=8 C=4 K=4 ld=6: x 94 floats, y 64, w 16, bias 4 */
    climp_tview x = climp_view_sub(all, 0, 100), y = climp_view_sub(all, 100, 64);
    climp_tview w = climp_view_sub(all, 200, 16), b = climp_view_sub(all, 220, 4);
    climp_tview dx = climp_view_sub(all, 300, 100), dw = climp_view_sub(all, 400, 16);
    climp_tview db = climp_view_sub(all, 420, 4), dy = climp_view_sub(all, 500, 64);
    climp_tview s = climp_view_sub(all, 1000, climp_causal_conv1d_scratch_floats(2, 8, 4, 4));
    CLIMP_CHECK(climp_finish(ctx));
    long before = climp_ctx_counters(ctx).launches;
#define EXPECT(call, code) tu_check((call) == (code), "%s -> %s", #call, #code)
    EXPECT(climp_causal_conv1d_forward(ctx, y, x, 6, w, b, 2, 8, 4, 0), CLIMP_ERR_SHAPE);
    EXPECT(climp_causal_conv1d_forward(ctx, y, x, 6, w, b, 2, 8, 4, 9), CLIMP_ERR_SHAPE);
    EXPECT(climp_causal_conv1d_forward(ctx, y, x, 3, w, b, 2, 8, 4, 4), CLIMP_ERR_SHAPE);
    EXPECT(climp_causal_conv1d_forward(ctx, y, x, 6, w, b, 0, 8, 4, 4), CLIMP_ERR_SHAPE);
    EXPECT(climp_causal_conv1d_forward(ctx, y, climp_view_sub(all, 0, 93), 6, w, b, 2, 8, 4, 4),
           CLIMP_ERR_BUFFER_TOO_SMALL);
    EXPECT(climp_causal_conv1d_forward(ctx, climp_view_sub(all, 100, 63), x, 6, w, b, 2, 8, 4, 4),
           CLIMP_ERR_BUFFER_TOO_SMALL);
    EXPECT(climp_causal_conv1d_forward(ctx, y, x, 6, climp_view_sub(all, 200, 15), b, 2, 8, 4, 4),
           CLIMP_ERR_BUFFER_TOO_SMALL);
    EXPECT(climp_causal_conv1d_forward(ctx, y, x, 6, w, none, 2, 8, 4, 4), CLIMP_ERR_INVALID_ARG);
    EXPECT(climp_causal_conv1d_forward(ctx, climp_view_sub(all, 50, 64), x, 6, w, b, 2, 8, 4, 4),
           CLIMP_ERR_INVALID_ARG); /* y overlaps x */
    EXPECT(climp_causal_conv1d_forward(NULL, y, x, 6, w, b, 2, 8, 4, 4), CLIMP_ERR_INVALID_ARG);
    EXPECT(climp_causal_conv1d_backward(ctx, dx, dw, db, dy, x, 6, w, climp_view_sub(s, 0, s.n - 1),
                                        2, 8, 4, 4),
           CLIMP_ERR_BUFFER_TOO_SMALL);
    EXPECT(climp_causal_conv1d_backward(ctx, dx, dw, db, climp_view_sub(all, 500, 63), x, 6, w, s,
                                        2, 8, 4, 4),
           CLIMP_ERR_BUFFER_TOO_SMALL);
    EXPECT(climp_causal_conv1d_backward(ctx, climp_view_sub(all, 300, 93), dw, db, dy, x, 6, w, s,
                                        2, 8, 4, 4),
           CLIMP_ERR_BUFFER_TOO_SMALL);
    EXPECT(climp_causal_conv1d_backward(ctx, dx, dw, db, dy, x, 6, w, s, 2, 8, 7, 4),
           CLIMP_ERR_SHAPE); /* C > ld_x */
    EXPECT(climp_causal_conv1d_backward(ctx, dx, dw, climp_view_sub(all, 410, 4), dy, x, 6, w, s, 2,
                                        8, 4, 4),
           CLIMP_ERR_INVALID_ARG); /* dbias overlaps dw */
    EXPECT(climp_causal_conv1d_backward(ctx, dx, dw, db, dy, x, 6, w, dy, 2, 8, 4, 4),
           CLIMP_ERR_INVALID_ARG); /* scratch is dy */
    /* dwconv B=1 H=4 W=4 C=3: 48 floats */
    climp_tview a = climp_view_sub(all, 2000, 48), c = climp_view_sub(all, 2100, 48);
    climp_tview w9 = climp_view_sub(all, 2200, 27), d9 = climp_view_sub(all, 2300, 27);
    climp_tview s9 = climp_view_sub(all, 3000, climp_dwconv3x3_scratch_floats(1, 4, 4, 3));
    EXPECT(climp_dwconv3x3_forward(ctx, c, a, w9, 1, 4, 0, 3), CLIMP_ERR_SHAPE);
    EXPECT(climp_dwconv3x3_forward(ctx, c, a, climp_view_sub(all, 2200, 26), 1, 4, 4, 3),
           CLIMP_ERR_BUFFER_TOO_SMALL);
    EXPECT(climp_dwconv3x3_forward(ctx, c, climp_view_sub(all, 2000, 47), w9, 1, 4, 4, 3),
           CLIMP_ERR_BUFFER_TOO_SMALL);
    EXPECT(climp_dwconv3x3_forward(ctx, a, a, w9, 1, 4, 4, 3), CLIMP_ERR_INVALID_ARG);
    EXPECT(
        climp_dwconv3x3_backward(ctx, c, d9, a, a, w9, climp_view_sub(s9, 0, s9.n - 1), 1, 4, 4, 3),
        CLIMP_ERR_BUFFER_TOO_SMALL);
    EXPECT(climp_dwconv3x3_backward(ctx, c, d9, a, a, w9, none, 1, 4, 4, 3), CLIMP_ERR_INVALID_ARG);
    EXPECT(climp_dwconv3x3_backward(ctx, c, d9, a, a, w9, s9, 1, 4, 4, -3), CLIMP_ERR_SHAPE);
#undef EXPECT
    CLIMP_CHECK(climp_finish(ctx));
    tu_check(climp_ctx_counters(ctx).launches == before, "invalid calls launched nothing");
    CLIMP_CHECK(climp_dwconv3x3_forward(ctx, c, a, w9, 1, 4, 4, 3));
    tu_check(climp_ctx_counters(ctx).launches == before + 1, "a valid call launches once");
    climp_buffer_destroy(buf);
}

/* ---------------------------------------------------------------- timing */

static void report(const char *name, double bytes, double td, double tr) {
    printf("timing %-40s device %8.3f ms %7.2f GB/s | C ref %8.3f ms %7.2f GB/s\n", name, td * 1e3,
           bytes / td / 1e9, tr * 1e3, bytes / tr / 1e9);
}

#define TIME_DEV(ctx, reps, out, call)                                                             \
    do {                                                                                           \
        CLIMP_CHECK(call);                                                                         \
        CLIMP_CHECK(climp_finish(ctx));                                                            \
        double t0_ = climp_now_seconds();                                                          \
        for (int i_ = 0; i_ < (reps); i_++)                                                        \
            CLIMP_CHECK(call);                                                                     \
        CLIMP_CHECK(climp_finish(ctx));                                                            \
        (out) = (climp_now_seconds() - t0_) / (reps);                                              \
    } while (0)
#define TIME_REF(reps, out, call)                                                                  \
    do {                                                                                           \
        double t0_ = climp_now_seconds();                                                          \
        for (int i_ = 0; i_ < (reps); i_++)                                                        \
            call;                                                                                  \
        (out) = (climp_now_seconds() - t0_) / (reps);                                              \
    } while (0)

/* Causal conv1d with x the first C columns of a (B, L, 2C) tensor (Mamba's in_proj output). */
static void timing_conv1d(climp_ctx *ctx, int B, int L, int C, int K) {
    tu_rng r;
    tu_rng_seed(&r, 7);
    const int ld = 2 * C;
    size_t nx = (size_t)B * L * ld, ny = (size_t)B * L * C,
           ns = climp_causal_conv1d_scratch_floats(B, L, C, K);
    float *x = tu_alloc_rand(&r, nx, -1, 1), *w = tu_alloc_rand(&r, (size_t)C * K, -1, 1);
    float *y = tu_alloc_rand(&r, ny, -1, 1), *bb = tu_alloc_rand(&r, C, -1, 1);
    float *dwh = calloc((size_t)C * K, sizeof(float)), *dbh = calloc(C, sizeof(float));
    climp_buffer *bx = tu_upload(ctx, "t_x", x, nx), *bdx = tu_upload(ctx, "t_dx", x, nx);
    climp_buffer *by = tu_upload(ctx, "t_y", y, ny), *bw = tu_upload(ctx, "t_w", w, (size_t)C * K);
    climp_buffer *bdw = tu_upload(ctx, "t_dw", w, (size_t)C * K),
                 *bb_ = tu_upload(ctx, "t_b", bb, C);
    climp_buffer *bdb = tu_upload(ctx, "t_db", bb, C), *bdy = tu_upload(ctx, "t_dy", y, ny),
                 *bs = NULL;
    CLIMP_CHECK(climp_buffer_create(ctx, "t_s", ns * sizeof(float), &bs));
    double td, tr;
    char name[64];
    TIME_DEV(ctx, 10, td,
             climp_causal_conv1d_forward(ctx, climp_buffer_view(by), climp_buffer_view(bx), ld,
                                         climp_buffer_view(bw), climp_buffer_view(bb_), B, L, C,
                                         K));
    TIME_REF(3, tr, climp_causal_conv1d_forward_ref(y, x, ld, w, bb, B, L, C, K));
    snprintf(name, sizeof name, "causal_conv1d_fwd (%d,%d,%d) K=%d", B, L, C, K);
    report(name, 2.0 * ny * sizeof(float), td, tr);
    TIME_DEV(ctx, 10, td,
             climp_causal_conv1d_backward(ctx, climp_buffer_view(bdx), climp_buffer_view(bdw),
                                          climp_buffer_view(bdb), climp_buffer_view(bdy),
                                          climp_buffer_view(bx), ld, climp_buffer_view(bw),
                                          climp_buffer_view(bs), B, L, C, K));
    TIME_REF(3, tr, climp_causal_conv1d_backward_ref(x, dwh, dbh, y, x, ld, w, B, L, C, K));
    snprintf(name, sizeof name, "causal_conv1d_bwd (%d,%d,%d) K=%d", B, L, C, K);
    report(name, 3.0 * ny * sizeof(float), td, tr);
    free(x), free(w), free(y), free(bb), free(dwh), free(dbh);
    climp_buffer *all[] = {bx, bdx, by, bw, bdw, bb_, bdb, bdy, bs};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        climp_buffer_destroy(all[i]);
}

static void timing_dwconv(climp_ctx *ctx, int B, int H, int W, int C) {
    tu_rng r;
    tu_rng_seed(&r, 8);
    size_t n = (size_t)B * H * W * C, ns = climp_dwconv3x3_scratch_floats(B, H, W, C);
    float *x = tu_alloc_rand(&r, n, -1, 1), *y = tu_alloc_rand(&r, n, -1, 1);
    float *w = tu_alloc_rand(&r, (size_t)C * 9, -1, 1), *dwh = calloc((size_t)C * 9, sizeof(float));
    climp_buffer *bx = tu_upload(ctx, "t_x", x, n), *by = tu_upload(ctx, "t_y", y, n);
    climp_buffer *bdx = tu_upload(ctx, "t_dx", y, n), *bw = tu_upload(ctx, "t_w", w, (size_t)C * 9);
    climp_buffer *bdw = tu_upload(ctx, "t_dw", w, (size_t)C * 9), *bs = NULL;
    CLIMP_CHECK(climp_buffer_create(ctx, "t_s", ns * sizeof(float), &bs));
    double td, tr;
    char name[64];
    TIME_DEV(ctx, 5, td,
             climp_dwconv3x3_forward(ctx, climp_buffer_view(by), climp_buffer_view(bx),
                                     climp_buffer_view(bw), B, H, W, C));
    TIME_REF(2, tr, climp_dwconv3x3_forward_ref(y, x, w, B, H, W, C));
    snprintf(name, sizeof name, "dwconv3x3_fwd (%d,%d,%d,%d)", B, H, W, C);
    report(name, 2.0 * n * sizeof(float), td, tr);
    TIME_DEV(ctx, 5, td,
             climp_dwconv3x3_backward(ctx, climp_buffer_view(bdx), climp_buffer_view(bdw),
                                      climp_buffer_view(by), climp_buffer_view(bx),
                                      climp_buffer_view(bw), climp_buffer_view(bs), B, H, W, C));
    TIME_REF(2, tr, climp_dwconv3x3_backward_ref(y, dwh, x, x, w, B, H, W, C));
    snprintf(name, sizeof name, "dwconv3x3_bwd (%d,%d,%d,%d)", B, H, W, C);
    report(name, 3.0 * n * sizeof(float), td, tr);
    free(x), free(y), free(w), free(dwh);
    climp_buffer *all[] = {bx, by, bdx, bw, bdw, bs};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        climp_buffer_destroy(all[i]);
}

/* The tiny model (text conv1d at batch 64, the VSS stages' dwconv), Mamba-130m and VMamba-T. */
static void timing(climp_ctx *ctx) {
    timing_conv1d(ctx, 64, 60, 192, 4);
    timing_conv1d(ctx, 2, 64, 1536, 4);
    timing_dwconv(ctx, 64, 16, 16, 48);
    timing_dwconv(ctx, 64, 8, 8, 96);
    timing_dwconv(ctx, 64, 4, 4, 192);
    timing_dwconv(ctx, 2, 56, 56, 192);
}

int main(void) {
    /* CPU-only: references vs the double definitions and central finite differences */
    ref_conv1d(2, 5, 3, 4, 7, 1);
    ref_conv1d(1, 2, 2, 4, 2, 2); /* L < K */
    ref_conv1d(1, 1, 1, 1, 1, 3);
    ref_conv1d(2, 6, 3, 8, 3, 4);
    ref_conv1d(1, 7, 5, 2, 9, 5);
    ref_dwconv(2, 3, 4, 3, 10);
    ref_dwconv(1, 1, 1, 2, 11);
    ref_dwconv(1, 1, 5, 2, 12);
    ref_dwconv(1, 4, 1, 1, 13);
    ref_dwconv(1, 5, 6, 2, 14);

    climp_ctx *ctx = tu_open_ctx();
    dev_conv1d(ctx, 2, 5, 3, 4, 7, 0, 100);
    dev_conv1d(ctx, 2, 64, 1536, 4, 3072, 0, 101); /* Mamba-130m: x half of (B, L, 2E) */
    dev_conv1d(ctx, 1, 33, 7, 4, 20, 5, 102);      /* a column slice at an offset */
    dev_conv1d(ctx, 3, 1, 5, 4, 5, 0, 103);        /* L = 1 */
    dev_conv1d(ctx, 2, 3, 7, 4, 7, 0, 104);        /* L < K */
    for (int K = 1; K <= CLIMP_CONV1D_MAX_K; K++)
        dev_conv1d(ctx, 2, 9, 5, K, 6, 1, 110 + K);
    dev_conv1d(ctx, 3, 6007, 5, 4, 5, 0, 120); /* > 64*256 rows: longer reduction chunks */
    dev_dwconv(ctx, 2, 3, 4, 3, 200);
    dev_dwconv(ctx, 2, 56, 56, 192, 201); /* VMamba-T stage 0 */
    dev_dwconv(ctx, 1, 1, 1, 5, 202);
    dev_dwconv(ctx, 1, 1, 9, 7, 203);
    dev_dwconv(ctx, 1, 9, 1, 7, 204);
    dev_dwconv(ctx, 1, 45, 71, 5, 205);
    dev_dwconv(ctx, 2, 23, 36, 7, 206);
    dev_conv1d(ctx, 20, 7, 16, 4, 40, 3, 105);   /* reduction chunks span several sequences */
    dev_conv1d(ctx, 70, 1, 16, 3, 16, 0, 106);   /* L = 1: every row its own sequence */
    dev_conv1d(ctx, 2, 130, 24, 4, 48, 24, 107); /* several forward segments per sequence */
    /* the vector loop kernels at every vector width (the default is the widest that divides) */
    static const char *vw[] = {"1", "2", "4"};
    for (int i = 0; i < 3; i++) {
        setenv("CLIMP_CONV_VW", vw[i], 1);
        dev_conv1d(ctx, 2, 5, 8, 4, 9, 1, 130 + i);
        dev_conv1d(ctx, 3, 70, 16, 3, 33, 17, 133 + i);
        dev_dwconv(ctx, 2, 9, 5, 24, 230 + i);
    }
    unsetenv("CLIMP_CONV_VW");
    dev_invalid(ctx);
    const char *tm = getenv("CLIMP_CONV_TIMING");
    if (tm && *tm && strcmp(tm, "0"))
        timing(ctx);
    climp_ctx_close(ctx);

    /* the FPGA-style single-work-item kernels (cl_kernels/conv_fpga.cl) on the same device */
    climp_ctx_options opt = {0};
    opt.kernel_variant = "fpga";
    climp_ctx *f = NULL;
    CLIMP_CHECK(climp_ctx_open(&opt, &f));
    tu_check(!strcmp(climp_ctx_variant(f), "fpga"), "fpga context selects the fpga variant");
    dev_conv1d(f, 2, 5, 3, 4, 7, 0, 300);
    dev_conv1d(f, 1, 33, 7, 4, 20, 5, 301);
    dev_conv1d(f, 2, 3, 7, 4, 7, 0, 302); /* L < K */
    for (int K = 1; K <= CLIMP_CONV1D_MAX_K; K++)
        dev_conv1d(f, 2, 9, 5, K, 6, 1, 310 + K);
    dev_dwconv(f, 2, 3, 4, 3, 320);
    dev_dwconv(f, 1, 1, 1, 5, 321);
    dev_dwconv(f, 1, 9, 1, 7, 322);
    dev_dwconv(f, 2, 11, 13, 16, 323);
    dev_invalid(f);
    climp_ctx_close(f);
    return tu_finish("test_conv");
}
