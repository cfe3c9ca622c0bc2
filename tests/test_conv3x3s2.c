/* Tests of the conv 3x3 stride 2 padding 1 with bias (model/conv.h; VMamba stem and
 * downsample): the C references against a double-precision restatement and central finite
 * differences in double, im2col / col2im references against their definitions and the adjoint
 * identity <im2col(x), c> == <x, col2im(c)>; the im2col / col2im kernels and the full forward /
 * backward (im2col + climp_gemm) against the references at tiny, real (stem 3->48 on 64x64 and
 * 45x71, downsample 96->192 at 56x56) and awkward shapes (H or W = 1, odd sizes, prime
 * channels), with scratch views of one image, several images and the whole batch, dx skipped,
 * at every dbias vector width (CLIMP_CONV_VW), with short row work-groups (CLIMP_CONV_ROW_WG)
 * and in the FPGA-style single-work-item variant (a second context, kernel_variant "fpga");
 * determinism; invalid arguments enqueue nothing. CLIMP_CONV_TIMING=1 prints device vs
 * C-reference time and GFLOP/s. */
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

/* y of §4.3 (Conv2d(Cin, Cout, 3, stride 2, padding 1, bias)) at one output element, double. */
static double conv_at(const double *x, const double *w, const double *bias, int H, int W, int Cin,
                      int b, int oy, int ox, int co) {
    double y = bias[co];
    for (int ci = 0; ci < Cin; ci++)
        for (int ky = 0; ky < 3; ky++)
            for (int kx = 0; kx < 3; kx++) {
                int iy = 2 * oy - 1 + ky, ix = 2 * ox - 1 + kx;
                if (iy >= 0 && iy < H && ix >= 0 && ix < W)
                    y += w[((size_t)co * Cin + ci) * 9 + ky * 3 + kx] *
                         x[(((size_t)b * H + iy) * W + ix) * Cin + ci];
            }
    return y;
}

static double conv_loss(const double *g, const double *x, const double *w, const double *bias,
                        int B, int H, int W, int Cin, int Cout) {
    int Ho = (H + 1) / 2, Wo = (W + 1) / 2; /* = floor((H-1)/2)+1, restated */
    double loss = 0;
    for (int b = 0; b < B; b++)
        for (int oy = 0; oy < Ho; oy++)
            for (int ox = 0; ox < Wo; ox++)
                for (int co = 0; co < Cout; co++)
                    loss += g[(((size_t)b * Ho + oy) * Wo + ox) * Cout + co] *
                            conv_at(x, w, bias, H, W, Cin, b, oy, ox, co);
    return loss;
}

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

static void ref_conv(int B, int H, int W, int Cin, int Cout, uint64_t seed) {
    tu_rng r;
    tu_rng_seed(&r, seed);
    int Ho = climp_conv3x3s2_out(H), Wo = climp_conv3x3s2_out(W);
    tu_check(Ho == (H + 1) / 2 && Wo == (W + 1) / 2, "output size H=%d W=%d", H, W);
    size_t nx = (size_t)B * H * W * Cin, ny = (size_t)B * Ho * Wo * Cout,
           nw = (size_t)Cout * Cin * 9;
    size_t nc = (size_t)B * Ho * Wo * Cin * 9;
    float *x = tu_alloc_rand(&r, nx, -1, 1), *w = tu_alloc_rand(&r, nw, -1, 1);
    float *bias = tu_alloc_rand(&r, Cout, -1, 1), *g = tu_alloc_rand(&r, ny, -1, 1);
    float *y = malloc(ny * sizeof(float)), *dx = malloc(nx * sizeof(float));
    float *dw = tu_alloc_rand(&r, nw, -1, 1), *db = tu_alloc_rand(&r, Cout, -1, 1);
    float *dw0 = malloc(nw * sizeof(float)), *db0 = malloc((size_t)Cout * sizeof(float));
    memcpy(dw0, dw, nw * sizeof(float));
    memcpy(db0, db, (size_t)Cout * sizeof(float));
    double *xd = to_d(x, nx), *wd = to_d(w, nw), *bd = to_d(bias, Cout), *gd = to_d(g, ny);
    char what[96];
    snprintf(what, sizeof what, "conv3x3s2 ref B=%d H=%d W=%d Cin=%d Cout=%d", B, H, W, Cin, Cout);

    climp_conv3x3s2_forward_ref(y, x, w, bias, B, H, W, Cin, Cout);
    double *yd = malloc(ny * sizeof(double));
    for (int b = 0; b < B; b++)
        for (int oy = 0; oy < Ho; oy++)
            for (int ox = 0; ox < Wo; ox++)
                for (int co = 0; co < Cout; co++)
                    yd[(((size_t)b * Ho + oy) * Wo + ox) * Cout + co] =
                        conv_at(xd, wd, bd, H, W, Cin, b, oy, ox, co);
    tu_check(cmp_d("conv_fwd_ref", y, yd, ny, 1e-6, 1e-6) == 0, "%s forward", what);

    climp_conv3x3s2_backward_ref(dx, dw, db, g, x, w, B, H, W, Cin, Cout);
    double *fdx = malloc(nx * sizeof(double)), *fdw = malloc(nw * sizeof(double));
    double *fdb = malloc((size_t)Cout * sizeof(double));
    FD_ALL(xd, nx, fdx, conv_loss(gd, xd, wd, bd, B, H, W, Cin, Cout));
    FD_ALL(wd, nw, fdw, conv_loss(gd, xd, wd, bd, B, H, W, Cin, Cout));
    FD_ALL(bd, (size_t)Cout, fdb, conv_loss(gd, xd, wd, bd, B, H, W, Cin, Cout));
    for (size_t i = 0; i < nw; i++)
        dw[i] -= dw0[i];
    for (int i = 0; i < Cout; i++)
        db[i] -= db0[i];
    tu_check(cmp_d("conv_dx_ref_fd", dx, fdx, nx, 1e-5, 1e-5) == 0, "%s dx vs FD", what);
    tu_check(cmp_d("conv_dw_ref_fd", dw, fdw, nw, 1e-5, 1e-5) == 0, "%s dw += vs FD", what);
    tu_check(cmp_d("conv_db_ref_fd", db, fdb, Cout, 1e-5, 1e-5) == 0, "%s dbias += vs FD", what);

    /* im2col from its definition; col2im is its adjoint */
    float *col = malloc(nc * sizeof(float)), *c2 = tu_alloc_rand(&r, nc, -1, 1);
    climp_conv3x3s2_im2col_ref(col, x, B, H, W, Cin);
    size_t bad = 0;
    for (int b = 0; b < B; b++)
        for (int oy = 0; oy < Ho; oy++)
            for (int ox = 0; ox < Wo; ox++)
                for (int j = 0; j < Cin * 9; j++) {
                    int ci = j / 9, iy = 2 * oy - 1 + (j % 9) / 3, ix = 2 * ox - 1 + j % 3;
                    float want = (iy >= 0 && iy < H && ix >= 0 && ix < W)
                                     ? x[(((size_t)b * H + iy) * W + ix) * Cin + ci]
                                     : 0.0f;
                    bad += col[(((size_t)b * Ho + oy) * Wo + ox) * Cin * 9 + j] != want;
                }
    tu_check(bad == 0, "%s im2col vs definition", what);
    climp_conv3x3s2_col2im_ref(dx, c2, B, H, W, Cin);
    double lhs = 0, rhs = 0;
    for (size_t i = 0; i < nc; i++)
        lhs += (double)col[i] * c2[i];
    for (size_t i = 0; i < nx; i++)
        rhs += (double)x[i] * dx[i];
    tu_check(fabs(lhs - rhs) <= 1e-5 * (1 + fabs(lhs)), "%s <im2col(x),c> == <x,col2im(c)>", what);

    free(x), free(w), free(bias), free(g), free(y), free(dx), free(dw), free(db), free(dw0);
    free(db0), free(xd), free(wd), free(bd), free(gd), free(yd), free(fdx), free(fdw), free(fdb);
    free(col), free(c2);
}

/* ---------------------------------------------------------------- device tests */

static void dev_im2col(climp_ctx *ctx, int B, int H, int W, int Cin, uint64_t seed) {
    tu_rng r;
    tu_rng_seed(&r, seed);
    size_t nx = (size_t)B * H * W * Cin;
    size_t nc = (size_t)B * climp_conv3x3s2_out(H) * climp_conv3x3s2_out(W) * Cin * 9;
    float *x = tu_alloc_rand(&r, nx, -1, 1), *c = tu_alloc_rand(&r, nc, -1, 1);
    float *col_ref = malloc(nc * sizeof(float)), *dx_ref = malloc(nx * sizeof(float));
    climp_conv3x3s2_im2col_ref(col_ref, x, B, H, W, Cin);
    climp_conv3x3s2_col2im_ref(dx_ref, c, B, H, W, Cin);
    float *nan = malloc((nc > nx ? nc : nx) * sizeof(float));
    for (size_t i = 0; i < (nc > nx ? nc : nx); i++)
        nan[i] = NAN;
    climp_buffer *bx = tu_upload(ctx, "i2c_x", x, nx), *bc = tu_upload(ctx, "i2c_c", c, nc);
    climp_buffer *bcol = tu_upload(ctx, "i2c_col", nan, nc),
                 *bdx = tu_upload(ctx, "i2c_dx", nan, nx);
    char what[96];
    snprintf(what, sizeof what, "B=%d H=%d W=%d Cin=%d", B, H, W, Cin);
    CLIMP_CHECK(
        climp_conv3x3s2_im2col(ctx, climp_buffer_view(bcol), climp_buffer_view(bx), B, H, W, Cin));
    CLIMP_CHECK(
        climp_conv3x3s2_col2im(ctx, climp_buffer_view(bdx), climp_buffer_view(bc), B, H, W, Cin));
    float *col = tu_download(ctx, climp_buffer_view(bcol), nc);
    float *dx = tu_download(ctx, climp_buffer_view(bdx), nx);
    tu_check(tu_compare("im2col", col, col_ref, nc, 0, 0) == 0, "im2col %s", what);
    tu_check(tu_compare("col2im", dx, dx_ref, nx, tol_sum(9), 1e-6f) == 0, "col2im %s", what);
    CLIMP_CHECK(
        climp_conv3x3s2_col2im(ctx, climp_buffer_view(bdx), climp_buffer_view(bc), B, H, W, Cin));
    float *dx2 = tu_download(ctx, climp_buffer_view(bdx), nx);
    tu_check(!memcmp(dx, dx2, nx * sizeof(float)), "col2im deterministic %s", what);
    free(x), free(c), free(col_ref), free(dx_ref), free(nan), free(col), free(dx), free(dx2);
    climp_buffer_destroy(bx), climp_buffer_destroy(bc), climp_buffer_destroy(bcol);
    climp_buffer_destroy(bdx);
}

/* nb: images per GEMM pass the scratch view is sized for (0: the whole batch). */
static void dev_conv(climp_ctx *ctx, int B, int H, int W, int Cin, int Cout, int nb, int with_dx,
                     uint64_t seed) {
    tu_rng r;
    tu_rng_seed(&r, seed);
    int Ho = climp_conv3x3s2_out(H), Wo = climp_conv3x3s2_out(W), Kc = Cin * 9;
    size_t nx = (size_t)B * H * W * Cin, ny = (size_t)B * Ho * Wo * Cout, nw = (size_t)Cout * Kc;
    float *x = tu_alloc_rand(&r, nx, -1, 1), *w = tu_alloc_rand(&r, nw, -1, 1);
    float *bias = tu_alloc_rand(&r, Cout, -1, 1), *dy = tu_alloc_rand(&r, ny, -1, 1);
    float *dw = tu_alloc_rand(&r, nw, -1, 1), *db = tu_alloc_rand(&r, Cout, -1, 1);
    float *y_ref = malloc(ny * sizeof(float)), *dx_ref = malloc(nx * sizeof(float));
    float *dw_ref = malloc(nw * sizeof(float)), *db_ref = malloc((size_t)Cout * sizeof(float));
    memcpy(dw_ref, dw, nw * sizeof(float));
    memcpy(db_ref, db, (size_t)Cout * sizeof(float));
    climp_conv3x3s2_forward_ref(y_ref, x, w, bias, B, H, W, Cin, Cout);
    climp_conv3x3s2_backward_ref(with_dx ? dx_ref : NULL, dw_ref, db_ref, dy, x, w, B, H, W, Cin,
                                 Cout);
    size_t big = nx > ny ? nx : ny;
    float *nan = malloc(big * sizeof(float));
    for (size_t i = 0; i < big; i++)
        nan[i] = NAN;
    climp_buffer *bx = tu_upload(ctx, "cv_x", x, nx), *bw = tu_upload(ctx, "cv_w", w, nw);
    climp_buffer *bb = tu_upload(ctx, "cv_b", bias, Cout), *bdy = tu_upload(ctx, "cv_dy", dy, ny);
    climp_buffer *bdw = tu_upload(ctx, "cv_dw", dw, nw), *bdb = tu_upload(ctx, "cv_db", db, Cout);
    climp_buffer *by = tu_upload(ctx, "cv_y", nan, ny), *bdx = tu_upload(ctx, "cv_dx", nan, nx);
    climp_buffer *bs = NULL;
    size_t ns = climp_conv3x3s2_scratch_floats(B, nb ? nb : B, H, W, Cin, Cout);
    CLIMP_CHECK(climp_buffer_create(ctx, "cv_s", ns * sizeof(float), &bs));
    climp_tview vdx = with_dx ? climp_buffer_view(bdx) : (climp_tview){NULL, 0, 0};
    char what[112];
    snprintf(what, sizeof what, "conv3x3s2 B=%d H=%d W=%d Cin=%d Cout=%d nb=%d dx=%d", B, H, W, Cin,
             Cout, nb ? nb : B, with_dx);

    CLIMP_CHECK(climp_conv3x3s2_forward(ctx, climp_buffer_view(by), climp_buffer_view(bx),
                                        climp_buffer_view(bw), climp_buffer_view(bb),
                                        climp_buffer_view(bs), B, H, W, Cin, Cout));
    float *y = tu_download(ctx, climp_buffer_view(by), ny);
    tu_check(tu_compare("conv_fwd", y, y_ref, ny, tol_sum((size_t)Kc), 1e-5f) == 0, "%s fwd", what);
    float *first[3] = {NULL, NULL, NULL};
    for (int rep = 0; rep < 2; rep++) {
        CLIMP_CHECK(climp_buffer_write(ctx, bdw, 0, nw * sizeof(float), dw));
        CLIMP_CHECK(climp_buffer_write(ctx, bdb, 0, (size_t)Cout * sizeof(float), db));
        CLIMP_CHECK(climp_conv3x3s2_backward(ctx, vdx, climp_buffer_view(bdw),
                                             climp_buffer_view(bdb), climp_buffer_view(bdy),
                                             climp_buffer_view(bx), climp_buffer_view(bw),
                                             climp_buffer_view(bs), B, H, W, Cin, Cout));
        float *gdx = tu_download(ctx, climp_buffer_view(bdx), nx);
        float *gdw = tu_download(ctx, climp_buffer_view(bdw), nw);
        float *gdb = tu_download(ctx, climp_buffer_view(bdb), Cout);
        if (!rep) {
            if (with_dx)
                tu_check(tu_compare("conv_dx", gdx, dx_ref, nx, tol_sum((size_t)9 * Cout), 1e-5f) ==
                             0,
                         "%s dx", what);
            else
                tu_check(!memcmp(gdx, nan, nx * sizeof(float)), "%s dx untouched when skipped",
                         what);
            tu_check(tu_compare("conv_dw", gdw, dw_ref, nw, tol_sum((size_t)B * Ho * Wo), 1e-5f) ==
                         0,
                     "%s dw", what);
            tu_check(
                tu_compare("conv_db", gdb, db_ref, Cout, tol_sum((size_t)B * Ho * Wo), 1e-5f) == 0,
                "%s dbias", what);
            first[0] = gdx, first[1] = gdw, first[2] = gdb;
        } else {
            tu_check(!memcmp(first[0], gdx, nx * sizeof(float)) &&
                         !memcmp(first[1], gdw, nw * sizeof(float)) &&
                         !memcmp(first[2], gdb, (size_t)Cout * sizeof(float)),
                     "%s backward deterministic", what);
            free(gdx), free(gdw), free(gdb);
        }
    }
    for (int j = 0; j < 3; j++)
        free(first[j]);
    free(y), free(nan), free(x), free(w), free(bias), free(dy), free(dw), free(db), free(y_ref);
    free(dx_ref), free(dw_ref), free(db_ref);
    climp_buffer *all[] = {bx, bw, bb, bdy, bdw, bdb, by, bdx, bs};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        climp_buffer_destroy(all[i]);
}

static void dev_invalid(climp_ctx *ctx) {
    climp_buffer *buf = NULL;
    CLIMP_CHECK(climp_buffer_create(ctx, "inv", 16384 * sizeof(float), &buf));
    climp_tview all = climp_buffer_view(buf), none = {NULL, 0, 0};
    /* B=2 H=5 W=4 Cin=2 Cout=3: x 80, Ho=3 Wo=2, y 36, w 54, col/image 108 */
    size_t ns = climp_conv3x3s2_scratch_floats(2, 1, 5, 4, 2, 3);
    climp_tview x = climp_view_sub(all, 0, 80), y = climp_view_sub(all, 100, 36);
    climp_tview w = climp_view_sub(all, 200, 54), b = climp_view_sub(all, 300, 3);
    climp_tview dx = climp_view_sub(all, 400, 80), dw = climp_view_sub(all, 500, 54);
    climp_tview db = climp_view_sub(all, 600, 3), dy = climp_view_sub(all, 700, 36);
    climp_tview s = climp_view_sub(all, 1000, ns), col = climp_view_sub(all, 2000, 216);
    CLIMP_CHECK(climp_finish(ctx));
    long before = climp_ctx_counters(ctx).launches;
#define EXPECT(call, code) tu_check((call) == (code), "%s -> %s", #call, #code)
    EXPECT(climp_conv3x3s2_forward(ctx, y, x, w, b, s, 2, 5, 4, 2, 0), CLIMP_ERR_SHAPE);
    EXPECT(climp_conv3x3s2_forward(ctx, y, x, w, b, s, 2, 0, 4, 2, 3), CLIMP_ERR_SHAPE);
    EXPECT(climp_conv3x3s2_forward(ctx, y, climp_view_sub(all, 0, 79), w, b, s, 2, 5, 4, 2, 3),
           CLIMP_ERR_BUFFER_TOO_SMALL);
    EXPECT(climp_conv3x3s2_forward(ctx, climp_view_sub(all, 100, 35), x, w, b, s, 2, 5, 4, 2, 3),
           CLIMP_ERR_BUFFER_TOO_SMALL);
    EXPECT(climp_conv3x3s2_forward(ctx, y, x, w, b, climp_view_sub(all, 1000, 107), 2, 5, 4, 2, 3),
           CLIMP_ERR_BUFFER_TOO_SMALL);
    EXPECT(climp_conv3x3s2_forward(ctx, y, x, w, none, s, 2, 5, 4, 2, 3), CLIMP_ERR_INVALID_ARG);
    EXPECT(climp_conv3x3s2_forward(ctx, y, x, w, b, climp_view_sub(all, 50, ns), 2, 5, 4, 2, 3),
           CLIMP_ERR_INVALID_ARG); /* scratch overlaps x */
    EXPECT(climp_conv3x3s2_backward(ctx, dx, dw, db, dy, x, w, climp_view_sub(s, 0, ns - 1), 2, 5,
                                    4, 2, 3),
           CLIMP_ERR_BUFFER_TOO_SMALL);
    EXPECT(climp_conv3x3s2_backward(ctx, dx, dw, db, climp_view_sub(all, 700, 35), x, w, s, 2, 5, 4,
                                    2, 3),
           CLIMP_ERR_BUFFER_TOO_SMALL);
    EXPECT(climp_conv3x3s2_backward(ctx, climp_view_sub(all, 400, 79), dw, db, dy, x, w, s, 2, 5, 4,
                                    2, 3),
           CLIMP_ERR_BUFFER_TOO_SMALL);
    EXPECT(climp_conv3x3s2_backward(ctx, dx, dw, db, dy, x, w, s, 2, 5, 4, -2, 3), CLIMP_ERR_SHAPE);
    EXPECT(climp_conv3x3s2_backward(ctx, dx, dw, dw, dy, x, w, s, 2, 5, 4, 2, 3),
           CLIMP_ERR_INVALID_ARG); /* dbias overlaps dw */
    EXPECT(climp_conv3x3s2_im2col(ctx, climp_view_sub(all, 2000, 215), x, 2, 5, 4, 2),
           CLIMP_ERR_BUFFER_TOO_SMALL);
    EXPECT(climp_conv3x3s2_col2im(ctx, dx, climp_view_sub(all, 2000, 215), 2, 5, 4, 2),
           CLIMP_ERR_BUFFER_TOO_SMALL);
    EXPECT(climp_conv3x3s2_col2im(NULL, dx, col, 2, 5, 4, 2), CLIMP_ERR_INVALID_ARG);
#undef EXPECT
    CLIMP_CHECK(climp_finish(ctx));
    tu_check(climp_ctx_counters(ctx).launches == before, "invalid calls launched nothing");
    CLIMP_CHECK(climp_conv3x3s2_im2col(ctx, col, x, 2, 5, 4, 2));
    tu_check(climp_ctx_counters(ctx).launches == before + 1, "a valid call launches once");
    climp_buffer_destroy(buf);
}

/* ---------------------------------------------------------------- timing */

static void timing_one(climp_ctx *ctx, int B, int H, int W, int Cin, int Cout) {
    tu_rng r;
    tu_rng_seed(&r, 5);
    int Ho = climp_conv3x3s2_out(H), Wo = climp_conv3x3s2_out(W);
    size_t nx = (size_t)B * H * W * Cin, ny = (size_t)B * Ho * Wo * Cout,
           nw = (size_t)Cout * Cin * 9;
    float *x = tu_alloc_rand(&r, nx, -1, 1), *w = tu_alloc_rand(&r, nw, -1, 1);
    float *bias = tu_alloc_rand(&r, Cout, -1, 1), *y = tu_alloc_rand(&r, ny, -1, 1);
    float *dx = malloc(nx * sizeof(float)), *dw = calloc(nw, sizeof(float));
    float *db = calloc(Cout, sizeof(float));
    climp_buffer *bx = tu_upload(ctx, "t_x", x, nx), *bw = tu_upload(ctx, "t_w", w, nw);
    climp_buffer *bb = tu_upload(ctx, "t_b", bias, Cout), *by = tu_upload(ctx, "t_y", y, ny);
    climp_buffer *bdx = tu_upload(ctx, "t_dx", x, nx), *bdw = tu_upload(ctx, "t_dw", dw, nw);
    climp_buffer *bdb = tu_upload(ctx, "t_db", db, Cout), *bs = NULL;
    CLIMP_CHECK(climp_buffer_create(
        ctx, "t_s", climp_conv3x3s2_scratch_floats(B, B, H, W, Cin, Cout) * sizeof(float), &bs));
    double flop = 2.0 * ny * Cin * 9, td, tr, t0;
    char name[96];
    int reps = 3;
    CLIMP_CHECK(climp_conv3x3s2_forward(ctx, climp_buffer_view(by), climp_buffer_view(bx),
                                        climp_buffer_view(bw), climp_buffer_view(bb),
                                        climp_buffer_view(bs), B, H, W, Cin, Cout));
    CLIMP_CHECK(climp_finish(ctx));
    t0 = climp_now_seconds();
    for (int i = 0; i < reps; i++)
        CLIMP_CHECK(climp_conv3x3s2_forward(ctx, climp_buffer_view(by), climp_buffer_view(bx),
                                            climp_buffer_view(bw), climp_buffer_view(bb),
                                            climp_buffer_view(bs), B, H, W, Cin, Cout));
    CLIMP_CHECK(climp_finish(ctx));
    td = (climp_now_seconds() - t0) / reps;
    t0 = climp_now_seconds();
    climp_conv3x3s2_forward_ref(y, x, w, bias, B, H, W, Cin, Cout);
    tr = climp_now_seconds() - t0;
    snprintf(name, sizeof name, "conv3x3s2_fwd B=%d %dx%d %d->%d", B, H, W, Cin, Cout);
    printf("timing %-40s device %8.3f ms %7.2f GFLOP/s | C ref %8.3f ms %7.2f GFLOP/s\n", name,
           td * 1e3, flop / td / 1e9, tr * 1e3, flop / tr / 1e9);
    climp_tview vdx = climp_buffer_view(bdx);
    CLIMP_CHECK(climp_conv3x3s2_backward(
        ctx, vdx, climp_buffer_view(bdw), climp_buffer_view(bdb), climp_buffer_view(by),
        climp_buffer_view(bx), climp_buffer_view(bw), climp_buffer_view(bs), B, H, W, Cin, Cout));
    CLIMP_CHECK(climp_finish(ctx));
    t0 = climp_now_seconds();
    for (int i = 0; i < reps; i++)
        CLIMP_CHECK(climp_conv3x3s2_backward(ctx, vdx, climp_buffer_view(bdw),
                                             climp_buffer_view(bdb), climp_buffer_view(by),
                                             climp_buffer_view(bx), climp_buffer_view(bw),
                                             climp_buffer_view(bs), B, H, W, Cin, Cout));
    CLIMP_CHECK(climp_finish(ctx));
    td = (climp_now_seconds() - t0) / reps;
    t0 = climp_now_seconds();
    climp_conv3x3s2_backward_ref(dx, dw, db, y, x, w, B, H, W, Cin, Cout);
    tr = climp_now_seconds() - t0;
    snprintf(name, sizeof name, "conv3x3s2_bwd B=%d %dx%d %d->%d", B, H, W, Cin, Cout);
    printf("timing %-40s device %8.3f ms %7.2f GFLOP/s | C ref %8.3f ms %7.2f GFLOP/s\n", name,
           td * 1e3, 2 * flop / td / 1e9, tr * 1e3, 2 * flop / tr / 1e9);
    free(x), free(w), free(bias), free(y), free(dx), free(dw), free(db);
    climp_buffer *all[] = {bx, bw, bb, by, bdx, bdw, bdb, bs};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        climp_buffer_destroy(all[i]);
}

/* im2col and col2im alone, GB/s of x plus col. */
static void timing_i2c(climp_ctx *ctx, int B, int H, int W, int Cin) {
    tu_rng r;
    tu_rng_seed(&r, 6);
    size_t nx = (size_t)B * H * W * Cin;
    size_t nc = (size_t)B * climp_conv3x3s2_out(H) * climp_conv3x3s2_out(W) * Cin * 9;
    float *x = tu_alloc_rand(&r, nx, -1, 1), *c = tu_alloc_rand(&r, nc, -1, 1);
    climp_buffer *bx = tu_upload(ctx, "t_x", x, nx), *bc = tu_upload(ctx, "t_c", c, nc);
    double bytes = (double)(nx + nc) * sizeof(float);
    for (int dir = 0; dir < 2; dir++) {
        climp_tview vx = climp_buffer_view(bx), vc = climp_buffer_view(bc);
        int reps = 5;
        CLIMP_CHECK(dir ? climp_conv3x3s2_col2im(ctx, vx, vc, B, H, W, Cin)
                        : climp_conv3x3s2_im2col(ctx, vc, vx, B, H, W, Cin));
        CLIMP_CHECK(climp_finish(ctx));
        double t0 = climp_now_seconds();
        for (int i = 0; i < reps; i++)
            CLIMP_CHECK(dir ? climp_conv3x3s2_col2im(ctx, vx, vc, B, H, W, Cin)
                            : climp_conv3x3s2_im2col(ctx, vc, vx, B, H, W, Cin));
        CLIMP_CHECK(climp_finish(ctx));
        double td = (climp_now_seconds() - t0) / reps;
        t0 = climp_now_seconds();
        if (dir)
            climp_conv3x3s2_col2im_ref(x, c, B, H, W, Cin);
        else
            climp_conv3x3s2_im2col_ref(c, x, B, H, W, Cin);
        double tr = climp_now_seconds() - t0;
        char name[96];
        snprintf(name, sizeof name, "%s B=%d %dx%d Cin=%d", dir ? "col2im" : "im2col", B, H, W,
                 Cin);
        printf("timing %-40s device %8.3f ms %7.2f GB/s    | C ref %8.3f ms %7.2f GB/s\n", name,
               td * 1e3, bytes / td / 1e9, tr * 1e3, bytes / tr / 1e9);
    }
    free(x), free(c);
    climp_buffer_destroy(bx), climp_buffer_destroy(bc);
}

int main(void) {
    ref_conv(2, 5, 4, 2, 3, 1);
    ref_conv(1, 1, 1, 1, 2, 2);
    ref_conv(1, 2, 3, 3, 1, 3);
    ref_conv(1, 7, 1, 2, 2, 4);
    ref_conv(1, 6, 6, 1, 2, 5);

    climp_ctx *ctx = tu_open_ctx();
    dev_im2col(ctx, 2, 5, 4, 2, 100);
    dev_im2col(ctx, 1, 1, 1, 5, 101);
    dev_im2col(ctx, 2, 45, 71, 3, 102);
    dev_im2col(ctx, 1, 8, 9, 7, 103);
    dev_im2col(ctx, 2, 56, 56, 96, 104);
    dev_invalid(ctx);
    dev_conv(ctx, 2, 5, 4, 2, 3, 0, 1, 200);
    dev_conv(ctx, 3, 7, 9, 5, 7, 2, 1, 201); /* passes of 2 + 1 images */
    dev_conv(ctx, 3, 7, 9, 5, 7, 1, 0, 202); /* one image per pass, no dx */
    dev_conv(ctx, 1, 1, 1, 5, 7, 0, 1, 203);
    dev_conv(ctx, 2, 1, 9, 3, 5, 0, 1, 204);
    dev_conv(ctx, 2, 9, 1, 7, 5, 1, 1, 205);
    dev_conv(ctx, 2, 64, 64, 3, 48, 0, 1, 206); /* stem on 64x64 */
    dev_conv(ctx, 2, 45, 71, 3, 48, 0, 0, 207); /* stem on 45x71, input needs no gradient */
    dev_conv(ctx, 2, 45, 71, 3, 48, 1, 1, 208);
    dev_conv(ctx, 2, 56, 56, 96, 192, 0, 1, 209); /* VMamba-T downsample 0 */
    /* the dbias partials at every vector width, the bias row kernel with short work-groups
     * (whole groups plus a tail launch) */
    static const char *vw[] = {"1", "2", "4"};
    for (int i = 0; i < 3; i++) {
        setenv("CLIMP_CONV_VW", vw[i], 1);
        dev_conv(ctx, 2, 9, 7, 11, 8, 1, 1, 220 + i);
    }
    unsetenv("CLIMP_CONV_VW");
    setenv("CLIMP_CONV_ROW_WG", "3", 1);
    dev_conv(ctx, 2, 9, 7, 5, 16, 0, 1, 225);
    dev_conv(ctx, 1, 5, 3, 2, 24, 0, 1, 226);
    unsetenv("CLIMP_CONV_ROW_WG");
    const char *tm = getenv("CLIMP_CONV_TIMING");
    if (tm && *tm && strcmp(tm, "0")) {
        static const int tiny[][3] = {{64, 3, 12}, {32, 12, 24}, {16, 24, 48}, {8, 48, 96}};
        for (int i = 0; i < 4; i++) { /* the tiny model at batch 64: stem, downsamples */
            timing_i2c(ctx, 64, tiny[i][0], tiny[i][0], tiny[i][1]);
            timing_one(ctx, 64, tiny[i][0], tiny[i][0], tiny[i][1], tiny[i][2]);
        }
        timing_i2c(ctx, 2, 56, 56, 96);
        timing_one(ctx, 2, 64, 64, 3, 48);
        timing_one(ctx, 2, 224, 224, 3, 48);
        timing_one(ctx, 2, 56, 56, 96, 192);
    }
    climp_ctx_close(ctx);

    /* the FPGA-style single-work-item kernels (cl_kernels/conv_fpga.cl) with the single
     * work-item GEMM, through a second context with kernel_variant "fpga" */
    climp_ctx_options opt = {0};
    opt.kernel_variant = "fpga";
    climp_ctx *f = NULL;
    CLIMP_CHECK(climp_ctx_open(&opt, &f));
    tu_check(!strcmp(climp_ctx_variant(f), "fpga"), "fpga context selects the fpga variant");
    dev_im2col(f, 2, 5, 4, 2, 300);
    dev_im2col(f, 1, 8, 9, 7, 301);
    dev_conv(f, 2, 5, 4, 2, 3, 0, 1, 310);
    dev_conv(f, 3, 7, 9, 5, 7, 2, 1, 311);
    dev_conv(f, 2, 9, 1, 7, 5, 1, 0, 312);
    dev_conv(f, 1, 12, 10, 3, 8, 0, 1, 313);
    climp_ctx_close(f);
    return tu_finish("test_conv3x3s2");
}
