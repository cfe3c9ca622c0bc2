/* Tests of embedding gather / scatter-add, L2 normalisation and symmetric InfoNCE
 * (model/embed_loss.h): C references against independent double-precision forwards and central
 * finite differences (the loss w.r.t. img, txt and logit_scale, also through L2 normalisation);
 * device ops against the references (N = 1, 7, 32 and a CLIMP-width batch; bad token ids; zero
 * rows); += semantics; invalid arguments (specific error, nothing enqueued); determinism. Then
 * the same checks (smaller sizes) through a second context with kernel_variant "fpga": the single
 * work-item kernels of cl_kernels/embed_loss_fpga.cl. */
#define _POSIX_C_SOURCE 200809L
#include "model/eltwise.h"
#include "model/embed_loss.h"
#include "tests/testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define OFF 3

static climp_tview zeros(climp_ctx *ctx, climp_buffer **b, size_t n) {
    CLIMP_CHECK(climp_buffer_create(ctx, "t", (n + OFF) * sizeof(float), b));
    CLIMP_CHECK(climp_buffer_fill_zero(ctx, *b, 0, (n + OFF) * sizeof(float)));
    return climp_view_sub(climp_buffer_view(*b), OFF, n);
}
static climp_tview put(climp_ctx *ctx, climp_buffer **b, const void *x, size_t n) {
    climp_tview v = zeros(ctx, b, n);
    CLIMP_CHECK(climp_view_write(ctx, v, x, n));
    return v;
}
static float *dup(const float *x, size_t n) {
    float *y = malloc(n * sizeof(float));
    memcpy(y, x, n * sizeof(float));
    return y;
}
static void expect(const char *what, const float *got, const float *want, size_t n, float atol,
                   float rtol) {
    tu_check(tu_compare(what, got, want, n, atol, rtol) == 0, "%s", what);
}

/* ------------------------------------------------------------------ double forwards (FD) */
/* Symmetric InfoNCE of raw (unnormalised when l2 = 1) rows, all in double. */
static double infonce_d(const double *img, const double *txt, double ls, int N, int D, int l2) {
    double *a = malloc((size_t)2 * N * D * sizeof(double)), *b = a + (size_t)N * D;
    double *M = malloc((size_t)N * N * sizeof(double));
    for (int i = 0; i < N; i++) {
        double na = 0, nb = 0;
        for (int d = 0; d < D; d++)
            na += img[i * D + d] * img[i * D + d];
        for (int d = 0; d < D; d++)
            nb += txt[i * D + d] * txt[i * D + d];
        na = l2 ? fmax(sqrt(na), 1e-12) : 1, nb = l2 ? fmax(sqrt(nb), 1e-12) : 1;
        for (int d = 0; d < D; d++)
            a[i * D + d] = img[i * D + d] / na, b[i * D + d] = txt[i * D + d] / nb;
    }
    double s = exp(ls), L = 0;
    for (int i = 0; i < N; i++)
        for (int j = 0; j < N; j++) {
            double acc = 0;
            for (int d = 0; d < D; d++)
                acc += a[i * D + d] * b[j * D + d];
            M[i * N + j] = s * acc;
        }
    for (int k = 0; k < N; k++) {
        double sr = 0, sc = 0;
        for (int t = 0; t < N; t++)
            sr += exp(M[k * N + t]), sc += exp(M[t * N + k]);
        L += log(sr) + log(sc) - 2 * M[k * N + k];
    }
    free(a), free(M);
    return L / (2.0 * N);
}

static double *to_d(const float *x, size_t n) {
    double *d = malloc(n * sizeof(double));
    for (size_t i = 0; i < n; i++)
        d[i] = x[i];
    return d;
}

/* FD of infonce_d w.r.t. every img, txt element and ls, against analytic gradients. */
static void infonce_fd(const char *what, const float *img, const float *txt, float ls, int N, int D,
                       int l2, float loss_scale, const float *gi, const float *gt, float gls) {
    double *a = to_d(img, (size_t)N * D), *b = to_d(txt, (size_t)N * D);
    size_t bad = 0, n = (size_t)N * D;
    double maxg = fabs(gls);
    for (size_t i = 0; i < n; i++)
        maxg = fmax(maxg, fmax(fabs(gi[i]), fabs(gt[i])));
    for (size_t k = 0; k < 2 * n + 1; k++) {
        double *x = k < n ? &a[k] : k < 2 * n ? &b[k - n] : NULL, x0 = x ? *x : ls, h = 1e-6;
        double lp, lm, g = k < n ? gi[k] : k < 2 * n ? gt[k - n] : gls;
        if (x) {
            *x = x0 + h, lp = infonce_d(a, b, ls, N, D, l2);
            *x = x0 - h, lm = infonce_d(a, b, ls, N, D, l2);
            *x = x0;
        } else {
            lp = infonce_d(a, b, x0 + h, N, D, l2);
            lm = infonce_d(a, b, x0 - h, N, D, l2);
        }
        double fd = loss_scale * (lp - lm) / (2 * h);
        if (fabs(fd - g) > 1e-6 * maxg + 1e-5 * fabs(fd)) {
            if (bad < 4)
                fprintf(stderr, "  %s[%zu]: analytic %.9g fd %.9g\n", what, k, g, fd);
            bad++;
        }
    }
    tu_check(bad == 0, "%s vs finite differences (%zu bad of %zu)", what, bad, 2 * n + 1);
    free(a), free(b);
}

static void normalise_rows(float *x, int N, int D) {
    float *nr = malloc(N * sizeof(float));
    climp_l2norm_forward_ref(x, nr, x, N, D);
    free(nr);
}

static void ref_loss_checks(tu_rng *r, int N, int D, float ls, float loss_scale) {
    size_t n = (size_t)N * D;
    float *xi = tu_alloc_rand(r, n, -1, 1), *xt = tu_alloc_rand(r, n, -1, 1);
    float *img = dup(xi, n), *txt = dup(xt, n), *nri = malloc(N * 4), *nrt = malloc(N * 4);
    climp_l2norm_forward_ref(img, nri, xi, N, D);
    climp_l2norm_forward_ref(txt, nrt, xt, N, D);
    double loss = 0;
    CLIMP_CHECK(climp_infonce_forward_ref(&loss, img, txt, ls, N, D));
    double *a = to_d(img, n), *b = to_d(txt, n);
    tu_check(fabs(loss - infonce_d(a, b, ls, N, D, 0)) < 1e-12 * fmax(1, loss),
             "infonce reference loss vs double N=%d", N);
    free(a), free(b);
    float *gi = malloc(n * 4), *gt = malloc(n * 4), gls = 0.25f;
    CLIMP_CHECK(climp_infonce_backward_ref(gi, gt, &gls, img, txt, ls, loss_scale, N, D));
    char what[96];
    snprintf(what, sizeof what, "infonce grads N=%d D=%d ls=%g", N, D, ls);
    infonce_fd(what, img, txt, ls, N, D, 0, loss_scale, gi, gt, gls - 0.25f);
    /* through L2 normalisation: raw features -> normalise -> loss */
    float *dxi = malloc(n * 4), *dxt = malloc(n * 4);
    climp_l2norm_backward_ref(dxi, gi, img, nri, N, D);
    climp_l2norm_backward_ref(dxt, gt, txt, nrt, N, D);
    snprintf(what, sizeof what, "infonce through l2norm N=%d D=%d", N, D);
    infonce_fd(what, xi, xt, ls, N, D, 1, loss_scale, dxi, dxt, gls - 0.25f);
    free(xi), free(xt), free(img), free(txt), free(nri), free(nrt), free(gi), free(gt);
    free(dxi), free(dxt);
}

static void ref_l2_embed_checks(tu_rng *r) {
    enum { N = 4, D = 5, V = 5, T = 7 };
    float x[N * D], y[N * D], nr[N], dy[N * D], dx[N * D];
    tu_fill(r, x, N * D, -1, 1);
    for (int d = 0; d < D; d++)
        x[3 * D + d] = 1e-14f * (d + 1); /* norm below 1e-12 */
    tu_fill(r, dy, N * D, -1, 1);
    climp_l2norm_forward_ref(y, nr, x, N, D);
    climp_l2norm_backward_ref(dx, dy, y, nr, N, D);
    size_t bad = 0;
    for (int k = 0; k < N * D; k++) {
        int i = k / D;
        double h = i == 3 ? 1e-16 : 1e-6, L[2];
        for (int sgn = 0; sgn < 2; sgn++) {
            double xx[D], ss = 0;
            for (int d = 0; d < D; d++)
                xx[d] = x[i * D + d] + (i * D + d == k ? (sgn ? -h : h) : 0);
            for (int d = 0; d < D; d++)
                ss += xx[d] * xx[d];
            double den = fmax(sqrt(ss), 1e-12);
            L[sgn] = 0;
            for (int d = 0; d < D; d++)
                L[sgn] += dy[i * D + d] * xx[d] / den;
        }
        double fd = (L[0] - L[1]) / (2 * h);
        if (fabs(fd - dx[k]) > 1e-6 * fabs(fd) + 1e-7)
            bad++;
    }
    tu_check(bad == 0, "l2norm reference backward vs finite differences (%zu bad)", bad);
    /* embedding: d/dtable of sum dout * table[ids] */
    int32_t ids[T] = {0, 3, 3, 4, 1, 3, 0};
    float tab[V * D], dout[T * D], dtab[V * D] = {0}, out[T * D];
    tu_fill(r, tab, V * D, -1, 1);
    tu_fill(r, dout, T * D, -1, 1);
    tu_check(climp_embedding_forward_ref(out, ids, tab, T, V, D) == 0, "embedding ref no bad ids");
    climp_embedding_backward_ref(dtab, dout, ids, T, V, D);
    bad = 0;
    for (int k = 0; k < V * D; k++) {
        double lp = 0, lm = 0, h = 1e-3;
        for (int t = 0; t < T; t++)
            for (int d = 0; d < D; d++) {
                double v = tab[ids[t] * D + d], dv = ids[t] * D + d == k ? h : 0;
                lp += dout[t * D + d] * (v + dv), lm += dout[t * D + d] * (v - dv);
            }
        bad += fabs((lp - lm) / (2 * h) - dtab[k]) > 1e-5;
    }
    tu_check(bad == 0, "embedding reference backward vs finite differences (%zu bad)", bad);
}

/* ------------------------------------------------------------------ device vs reference */
static void embedding_case(climp_ctx *ctx, tu_rng *r, int n, int V, int D, int with_bad) {
    int32_t *ids = malloc(n * sizeof(int32_t));
    for (int i = 0; i < n; i++)
        ids[i] = (int32_t)(tu_uniform(r, 0, 1) * V) % V;
    if (n > 3 && V > 2)
        ids[1] = ids[n - 1] = V - 1, ids[2] = 0; /* repeats, both ends */
    if (with_bad)
        ids[0] = -1, ids[n / 2] = V, ids[n - 1] = 1 << 30;
    size_t nt = (size_t)V * D, no = (size_t)n * D;
    float *tab = tu_alloc_rand(r, nt, -1, 1), *dout = tu_alloc_rand(r, no, -1, 1);
    float *dt0 = tu_alloc_rand(r, nt, -1, 1), *dt = dup(dt0, nt), *out = malloc(no * 4);
    int nbad = climp_embedding_forward_ref(out, ids, tab, n, V, D);
    climp_embedding_backward_ref(dt, dout, ids, n, V, D);
    tu_check(climp_embedding_check_ids(ids, n, V) == (nbad ? CLIMP_ERR_INVALID_ARG : CLIMP_OK),
             "embedding host id check n=%d bad=%d", n, nbad);
    climp_buffer *B[6];
    climp_tview vid = put(ctx, &B[0], ids, n), vt = put(ctx, &B[1], tab, nt);
    climp_tview vdo = put(ctx, &B[2], dout, no), vdt = put(ctx, &B[3], dt0, nt);
    climp_tview vo = zeros(ctx, &B[4], no), vbad = zeros(ctx, &B[5], 1);
    CLIMP_CHECK(climp_embedding_forward(ctx, vo, vid, vt, vbad, n, V, D));
    CLIMP_CHECK(climp_embedding_backward(ctx, vdt, vdo, vid, n, V, D));
    float *go = tu_download(ctx, vo, no), *gt = tu_download(ctx, vdt, nt);
    int32_t flag = 0;
    CLIMP_CHECK(climp_view_read(ctx, vbad, (float *)&flag, 1));
    tu_check(!memcmp(go, out, no * 4), "embedding fwd n=%d V=%d D=%d", n, V, D);
    tu_check(flag == (nbad > 0), "embedding bad-id flag %d (bad ids %d)", (int)flag, nbad);
    expect("embedding bwd", gt, dt, nt, 1e-6f, 1e-6f);
    CLIMP_CHECK(climp_view_write(ctx, vdt, dt0, nt));
    CLIMP_CHECK(climp_embedding_backward(ctx, vdt, vdo, vid, n, V, D));
    float *gt2 = tu_download(ctx, vdt, nt);
    tu_check(!memcmp(gt, gt2, nt * 4), "embedding bwd deterministic n=%d", n);
    /* without a flag view */
    CLIMP_CHECK(climp_embedding_forward(ctx, vo, vid, vt, (climp_tview){0, 0, 0}, n, V, D));
    free(go);
    go = tu_download(ctx, vo, no);
    tu_check(!memcmp(go, out, no * 4), "embedding fwd without flag n=%d", n);
    for (int i = 0; i < 6; i++)
        climp_buffer_destroy(B[i]);
    free(ids), free(tab), free(dout), free(dt0), free(dt), free(out), free(go), free(gt), free(gt2);
}

static void l2norm_case(climp_ctx *ctx, tu_rng *r, int n, int D) {
    size_t nd = (size_t)n * D;
    float *x = tu_alloc_rand(r, nd, -2, 2), *dy = tu_alloc_rand(r, nd, -1, 1);
    if (n > 2)
        for (int d = 0; d < D; d++)
            x[D + d] = 0.0f; /* a zero row */
    float *y = malloc(nd * 4), *nr = malloc(n * 4), *dx = malloc(nd * 4);
    climp_l2norm_forward_ref(y, nr, x, n, D);
    climp_l2norm_backward_ref(dx, dy, y, nr, n, D);
    climp_buffer *B[5];
    climp_tview vx = put(ctx, &B[0], x, nd), vdy = put(ctx, &B[1], dy, nd);
    climp_tview vy = zeros(ctx, &B[2], nd), vn = zeros(ctx, &B[3], n), vdx = zeros(ctx, &B[4], nd);
    CLIMP_CHECK(climp_l2norm_forward(ctx, vy, vn, vx, n, D));
    CLIMP_CHECK(climp_l2norm_backward(ctx, vdx, vdy, vy, vn, n, D));
    char t[64];
    float *g;
    snprintf(t, sizeof t, "l2norm y n=%d D=%d", n, D);
    expect(t, g = tu_download(ctx, vy, nd), y, nd, 1e-6f, 1e-5f), free(g);
    snprintf(t, sizeof t, "l2norm norm n=%d D=%d", n, D);
    expect(t, g = tu_download(ctx, vn, n), nr, n, 1e-6f, 1e-5f), free(g);
    snprintf(t, sizeof t, "l2norm dx n=%d D=%d", n, D);
    expect(t, g = tu_download(ctx, vdx, nd), dx, nd, 1e-5f, 1e-5f), free(g);
    for (int i = 0; i < 5; i++)
        climp_buffer_destroy(B[i]);
    free(x), free(dy), free(y), free(nr), free(dx);
}

static void infonce_case(climp_ctx *ctx, tu_rng *r, int N, int D, float ls, float loss_scale) {
    size_t n = (size_t)N * D;
    float *img = tu_alloc_rand(r, n, -1, 1), *txt = tu_alloc_rand(r, n, -1, 1);
    normalise_rows(img, N, D), normalise_rows(txt, N, D);
    double loss = 0;
    float *gi = malloc(n * 4), *gt = malloc(n * 4), gls = 0.5f;
    CLIMP_CHECK(climp_infonce_forward_ref(&loss, img, txt, ls, N, D));
    CLIMP_CHECK(climp_infonce_backward_ref(gi, gt, &gls, img, txt, ls, loss_scale, N, D));
    climp_buffer *B[8];
    climp_tview vi = put(ctx, &B[0], img, n), vt = put(ctx, &B[1], txt, n);
    climp_tview vls = put(ctx, &B[2], &ls, 1), vl = zeros(ctx, &B[3], 1);
    climp_tview vw = zeros(ctx, &B[4], climp_infonce_work_floats(N));
    climp_tview vgi = zeros(ctx, &B[5], n), vgt = zeros(ctx, &B[6], n);
    float half = 0.5f;
    climp_tview vgl = put(ctx, &B[7], &half, 1);
    float lh = -1, lh2 = -1;
    CLIMP_CHECK(climp_infonce_forward(ctx, vl, &lh, vw, vi, vt, vls, N, D));
    CLIMP_CHECK(climp_infonce_backward(ctx, vgi, vgt, vgl, vw, vi, vt, vls, loss_scale, N, D));
    float ld = 0, *ggi = tu_download(ctx, vgi, n), *ggt = tu_download(ctx, vgt, n), ggl = 0;
    CLIMP_CHECK(climp_view_read(ctx, vl, &ld, 1));
    CLIMP_CHECK(climp_view_read(ctx, vgl, &ggl, 1));
    tu_check(ld == lh, "infonce loss view == host copy");
    tu_check(fabs(lh - loss) <= 2e-5 * fmax(1, loss), "infonce loss N=%d D=%d: %.7g vs %.7g", N, D,
             lh, loss);
    /* gradients scale like s/N: compare against the largest magnitude */
    double gmax = 0;
    for (size_t i = 0; i < n; i++)
        gmax = fmax(gmax, fmax(fabs(gi[i]), fabs(gt[i])));
    char t[96];
    snprintf(t, sizeof t, "infonce dimg N=%d D=%d", N, D);
    expect(t, ggi, gi, n, (float)(2e-5 * gmax), 1e-4f);
    snprintf(t, sizeof t, "infonce dtxt N=%d D=%d", N, D);
    expect(t, ggt, gt, n, (float)(2e-5 * gmax), 1e-4f);
    tu_check(fabs(ggl - gls) <= 1e-5 + 1e-4 * fabs(gls - 0.5f),
             "infonce dlogit_scale += N=%d: %.7g vs %.7g", N, ggl, gls);
    /* determinism: the same forward and backward again */
    CLIMP_CHECK(climp_view_write(ctx, vgl, &half, 1));
    CLIMP_CHECK(climp_infonce_forward(ctx, vl, &lh2, vw, vi, vt, vls, N, D));
    CLIMP_CHECK(climp_infonce_backward(ctx, vgi, vgt, vgl, vw, vi, vt, vls, loss_scale, N, D));
    float *g2i = tu_download(ctx, vgi, n), *g2t = tu_download(ctx, vgt, n), g2l = 0;
    CLIMP_CHECK(climp_view_read(ctx, vgl, &g2l, 1));
    tu_check(lh == lh2 && !memcmp(ggi, g2i, n * 4) && !memcmp(ggt, g2t, n * 4) && ggl == g2l,
             "infonce deterministic N=%d", N);
    for (int i = 0; i < 8; i++)
        climp_buffer_destroy(B[i]);
    free(img), free(txt), free(gi), free(gt), free(ggi), free(ggt), free(g2i), free(g2t);
}

static void invalid_checks(climp_ctx *ctx) {
    climp_buffer *b;
    CLIMP_CHECK(climp_buffer_create(ctx, "small", 64 * sizeof(float), &b));
    climp_tview v = climp_buffer_view(b), s1 = climp_view_sub(v, 0, 1), none = {0, 0, 0};
    long before = climp_ctx_counters(ctx).launches;
    int32_t ids[3] = {0, 5, 2};
    tu_check(climp_embedding_check_ids(ids, 3, 5) == CLIMP_ERR_INVALID_ARG, "host id check");
    tu_check(climp_embedding_forward(NULL, v, v, v, none, 2, 4, 4) == CLIMP_ERR_INVALID_ARG,
             "embed NULL ctx");
    tu_check(climp_embedding_forward(ctx, v, v, v, none, 2, 0, 4) == CLIMP_ERR_SHAPE, "embed V 0");
    tu_check(climp_embedding_forward(ctx, v, v, v, none, 2, 17, 4) == CLIMP_ERR_BUFFER_TOO_SMALL,
             "embed table small");
    tu_check(climp_embedding_backward(ctx, v, v, s1, 2, 4, 4) == CLIMP_ERR_BUFFER_TOO_SMALL,
             "embed ids small");
    tu_check(climp_l2norm_forward(ctx, v, v, v, 0, 4) == CLIMP_ERR_SHAPE, "l2 n 0");
    tu_check(climp_l2norm_backward(ctx, v, v, v, none, 2, 4) == CLIMP_ERR_INVALID_ARG,
             "l2 no norm");
    tu_check(climp_infonce_forward(ctx, s1, NULL, v, v, v, s1, 8, 4) == CLIMP_ERR_BUFFER_TOO_SMALL,
             "infonce work small");
    tu_check(climp_infonce_forward(ctx, s1, NULL, v, v, v, s1, 2, 0) == CLIMP_ERR_SHAPE,
             "infonce D 0");
    tu_check(climp_infonce_backward(ctx, v, v, none, v, v, v, s1, 1.0f, 2, 4) ==
                 CLIMP_ERR_INVALID_ARG,
             "infonce no dlogit_scale");
    tu_check(climp_infonce_backward(ctx, climp_view_sub(v, 40, 8), climp_view_sub(v, 48, 8), s1,
                                    climp_view_sub(v, 20, 14), climp_view_sub(v, 40, 8),
                                    climp_view_sub(v, 56, 8), s1, 1.0f, 2,
                                    4) == CLIMP_ERR_INVALID_ARG,
             "infonce dimg aliasing img");
    tu_check(climp_ctx_counters(ctx).launches == before, "invalid calls enqueued nothing");
    climp_buffer_destroy(b);
}

/* The FPGA context: the loss part of the InfoNCE forward is one launch after the GEMM (NDRange:
 * three), so the count tells which kernels ran. */
static void fpga_launch_checks(climp_ctx *f, tu_rng *r) {
    enum { N = 3, D = 4 };
    float x[2 * N * D], ls = 1.0f;
    tu_fill(r, x, 2 * N * D, -1, 1);
    climp_buffer *B[4];
    climp_tview vx = put(f, &B[0], x, 2 * N * D), vls = put(f, &B[1], &ls, 1);
    climp_tview vl = zeros(f, &B[2], 1), vw = zeros(f, &B[3], climp_infonce_work_floats(N));
    climp_tview img = climp_view_sub(vx, 0, N * D), txt = climp_view_sub(vx, N * D, N * D);
    climp_gemm_desc g = {0};
    g.trans_b = 1, g.M = N, g.N = N, g.K = D, g.alpha = 1.0f, g.lda = D, g.ldb = D, g.ldc = N;
    g.batch = 1;
    long l0 = climp_ctx_counters(f).launches;
    CLIMP_CHECK(climp_gemm(f, &g, img, txt, vw));
    long l1 = climp_ctx_counters(f).launches;
    CLIMP_CHECK(climp_infonce_forward(f, vl, NULL, vw, img, txt, vls, N, D));
    long l2 = climp_ctx_counters(f).launches;
    tu_check(l2 - l1 == (l1 - l0) + 1, "fpga infonce forward: the GEMM + 1 launch (%ld, GEMM %ld)",
             l2 - l1, l1 - l0);
    for (int i = 0; i < 4; i++)
        climp_buffer_destroy(B[i]);
}

int main(void) {
    tu_rng r;
    tu_rng_seed(&r, 5);
    const float ls0 = 2.6592600f; /* ln(1/0.07) */
    ref_l2_embed_checks(&r);
    ref_loss_checks(&r, 1, 4, ls0, 1.0f);
    ref_loss_checks(&r, 7, 5, ls0, 1.0f);
    ref_loss_checks(&r, 6, 3, 0.3f, 0.25f);

    climp_ctx *ctx = tu_open_ctx();
    for (int pass = 0; pass < 2; pass++) { /* the device's own variants, then the other family */
        if (pass)
            setenv("CLIMP_OPS_VARIANT", climp_ops_cpu_style(ctx) ? "gpu" : "cpu", 1);
        embedding_case(ctx, &r, 1, 1, 1, 0);
        embedding_case(ctx, &r, 37, 50, 13, 1);
        embedding_case(ctx, &r, 29, 11, 12, 1); /* float4 columns on CPUs */
        embedding_case(ctx, &r, 45, 20, 96, 0); /* float8, the tiny text width */
        l2norm_case(ctx, &r, 1, 1);
        l2norm_case(ctx, &r, 7, 5);
        l2norm_case(ctx, &r, 33, 97);
        infonce_case(ctx, &r, 1, 64, ls0, 1.0f);
        infonce_case(ctx, &r, 7, 5, ls0, 1.0f);
        infonce_case(ctx, &r, 32, 64, ls0, 1.0f);
        if (pass)
            continue;
        embedding_case(ctx, &r, 37, 50, 13, 0);
        embedding_case(ctx, &r, 2 * 77, 264, 768, 1); /* bytes tokenizer, Mamba-130m width */
        l2norm_case(ctx, &r, 32, 64);
        l2norm_case(ctx, &r, 33, 768);
        infonce_case(ctx, &r, 32, 64, 4.6051702f, 0.5f); /* the clamp ceiling ln 100, accum. */
        infonce_case(ctx, &r, 97, 768, ls0, 1.0f);
    }
    unsetenv("CLIMP_OPS_VARIANT");
    invalid_checks(ctx);
    climp_ctx_close(ctx);

    /* the FPGA single work-item kernels (cl_kernels/embed_loss_fpga.cl) on the same device */
    climp_ctx_options opt = {0};
    opt.kernel_variant = "fpga";
    climp_ctx *f = NULL;
    CLIMP_CHECK(climp_ctx_open(&opt, &f));
    tu_check(!strcmp(climp_ctx_variant(f), "fpga"), "fpga context selects the fpga variant");
    fpga_launch_checks(f, &r);
    embedding_case(f, &r, 1, 1, 1, 0);
    embedding_case(f, &r, 37, 50, 13, 1);
    embedding_case(f, &r, 29, 11, 12, 1);
    embedding_case(f, &r, 45, 20, 96, 0);
    embedding_case(f, &r, 2 * 77, 264, 768, 1);
    l2norm_case(f, &r, 1, 1);
    l2norm_case(f, &r, 7, 5);
    l2norm_case(f, &r, 33, 97);
    l2norm_case(f, &r, 33, 768);
    infonce_case(f, &r, 1, 64, ls0, 1.0f);
    infonce_case(f, &r, 7, 5, ls0, 1.0f);
    infonce_case(f, &r, 32, 64, ls0, 1.0f);
    infonce_case(f, &r, 32, 64, 4.6051702f, 0.5f);
    infonce_case(f, &r, 37, 96, ls0, 1.0f); /* N not a multiple of the lanes */
    invalid_checks(f);
    climp_ctx_close(f);
    return tu_finish("test_embed_loss");
}
