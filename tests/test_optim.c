/* Tests of AdamW and the global gradient norm (model/optim.h): the C reference against a
 * hand-computed (double) 3-step sequence with decayed, non-decayed and untouched ranges and a
 * clipping grad_scale; the device update against the reference; segment merging (launch count);
 * the gradient norm against a double sum at awkward sizes; invalid arguments (specific error,
 * nothing enqueued); determinism. Then the same checks through a second context with
 * kernel_variant "fpga" (the single work-item kernels of cl_kernels/optim_fpga.cl).
 * CLIMP_NORM_TIMING=1 times AdamW over 10M floats. */
#define _POSIX_C_SOURCE 200809L
#include "model/eltwise.h"
#include "model/optim.h"
#include "tests/testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static climp_tview put(climp_ctx *ctx, climp_buffer **b, const float *x, size_t n) {
    *b = tu_upload(ctx, "t", x, n);
    return climp_buffer_view(*b);
}

/* Hand-computed AdamW (PyTorch formula) in double, for the elements a segment covers. */
static void adamw_hand(double *p, double *m, double *v, const float *g, int n, const int *decay,
                       const climp_adamw_hparams *hp) {
    double b1 = hp->beta1, b2 = hp->beta2, t = hp->step;
    double bc1 = 1 - pow(b1, t), bc2 = 1 - pow(b2, t);
    for (int i = 0; i < n; i++) {
        if (decay[i] < 0)
            continue; /* not in any segment */
        double gi = (double)hp->grad_scale * g[i];
        if (decay[i])
            p[i] *= 1 - (double)hp->lr * hp->weight_decay;
        m[i] = b1 * m[i] + (1 - b1) * gi;
        v[i] = b2 * v[i] + (1 - b2) * gi * gi;
        p[i] -= hp->lr * (m[i] / bc1) / (sqrt(v[i] / bc2) + hp->eps);
    }
}

static void adamw_sequence(climp_ctx *ctx, tu_rng *r) {
    enum { n = 12 };
    /* [0,3) decay, [3,5) none, [5,7) decay, [7,8) decay (merges), [8,10) untouched, [10,12) none */
    const climp_adamw_segment segs[] = {{0, 3, 1}, {3, 2, 0}, {5, 2, 1},
                                        {7, 1, 1}, {9, 0, 0}, {10, 2, 0}};
    const int nseg = 6, decay[n] = {1, 1, 1, 0, 0, 1, 1, 1, -1, -1, 0, 0};
    float p[n], m[n] = {0}, v[n] = {0}, g[3][n];
    double pd[n], md[n] = {0}, vd[n] = {0};
    tu_fill(r, p, n, -1, 1);
    for (int s = 0; s < 3; s++)
        tu_fill(r, g[s], n, -0.1f, 0.1f);
    g[1][4] = 0.0f; /* a zero gradient */
    for (int i = 0; i < n; i++)
        pd[i] = p[i];
    climp_buffer *B[4];
    climp_tview vp = put(ctx, &B[0], p, n), vg = put(ctx, &B[1], g[0], n);
    climp_tview vm = put(ctx, &B[2], m, n), vv = put(ctx, &B[3], v, n);
    const float p0_8 = p[8], p0_9 = p[9];
    for (int s = 0; s < 3; s++) {
        climp_adamw_hparams hp = {1e-2, 0.9, 0.98, 1e-6, 0.1, s + 1, s == 1 ? 0.5f : 1.0f};
        adamw_hand(pd, md, vd, g[s], n, decay, &hp);
        CLIMP_CHECK(climp_adamw_update_ref(p, g[s], m, v, segs, nseg, &hp));
        CLIMP_CHECK(climp_view_write(ctx, vg, g[s], n));
        long l0 = climp_ctx_counters(ctx).launches;
        CLIMP_CHECK(climp_adamw_update(ctx, vp, vg, vm, vv, segs, nseg, &hp));
        tu_check(climp_ctx_counters(ctx).launches - l0 == 4, "adamw merged runs: 4 launches");
    }
    size_t bad = 0;
    for (int i = 0; i < n; i++) {
        bad += fabs(p[i] - pd[i]) > 1e-6 * (1 + fabs(pd[i]));
        bad += fabs(m[i] - md[i]) > 1e-7 + 1e-5 * fabs(md[i]);
        bad += fabs(v[i] - vd[i]) > 1e-9 + 1e-5 * fabs(vd[i]);
    }
    tu_check(bad == 0, "adamw reference vs hand-computed 3 steps (%zu bad)", bad);
    tu_check(p[8] == p0_8 && p[9] == p0_9 && m[8] == 0 && v[9] == 0,
             "adamw reference leaves uncovered parameters alone");
    float *gp = tu_download(ctx, vp, n), *gm = tu_download(ctx, vm, n);
    float *gv = tu_download(ctx, vv, n);
    tu_check(tu_compare("adamw p", gp, p, n, 1e-7f, 1e-6f) == 0, "adamw device p vs reference");
    tu_check(tu_compare("adamw m", gm, m, n, 1e-9f, 1e-6f) == 0, "adamw device m vs reference");
    tu_check(tu_compare("adamw v", gv, v, n, 1e-12f, 1e-6f) == 0, "adamw device v vs reference");
    tu_check(gp[8] == p0_8 && gp[9] == p0_9 && gm[8] == 0 && gv[9] == 0,
             "adamw device leaves uncovered parameters alone");
    free(gp), free(gm), free(gv);
    for (int i = 0; i < 4; i++)
        climp_buffer_destroy(B[i]);
}

/* A large random update over many segments at view offsets; device vs reference, twice. */
static void adamw_large(climp_ctx *ctx, tu_rng *r, size_t n) {
    float *p = tu_alloc_rand(r, n + 7, -1, 1), *g = tu_alloc_rand(r, n + 7, -1, 1);
    float *m = tu_alloc_rand(r, n + 7, -0.1f, 0.1f), *v = tu_alloc_rand(r, n + 7, 0, 0.01f);
    climp_adamw_segment segs[40];
    int ns = 0;
    size_t at = 0;
    while (at < n && ns < 39) {
        size_t c = (size_t)tu_uniform(r, 1, (float)(n / 16 + 2));
        if (c > n - at)
            c = n - at;
        segs[ns++] = (climp_adamw_segment){at, c, tu_uniform(r, 0, 1) < 0.5f};
        at += c + (tu_uniform(r, 0, 1) < 0.2f); /* occasional one-float gap */
    }
    if (at < n)
        segs[ns++] = (climp_adamw_segment){at, n - at, 1};
    climp_buffer *B[4];
    climp_tview vp = climp_view_sub(put(ctx, &B[0], p, n + 7), 7, n);
    climp_tview vg = climp_view_sub(put(ctx, &B[1], g, n + 7), 7, n);
    climp_tview vm = climp_view_sub(put(ctx, &B[2], m, n + 7), 7, n);
    climp_tview vv = climp_view_sub(put(ctx, &B[3], v, n + 7), 7, n);
    climp_adamw_hparams hp = {3e-4, 0.9, 0.98, 1e-6, 0.2, 17, 0.8f};
    for (int it = 0; it < 2; it++) {
        CLIMP_CHECK(climp_adamw_update_ref(p + 7, g + 7, m + 7, v + 7, segs, ns, &hp));
        CLIMP_CHECK(climp_adamw_update(ctx, vp, vg, vm, vv, segs, ns, &hp));
        hp.step++;
    }
    float *gp = tu_download(ctx, vp, n), *gm = tu_download(ctx, vm, n);
    float *gv = tu_download(ctx, vv, n);
    tu_check(tu_compare("adamw p", gp, p + 7, n, 1e-7f, 1e-6f) == 0, "adamw large p n=%zu", n);
    tu_check(tu_compare("adamw m", gm, m + 7, n, 1e-9f, 1e-6f) == 0, "adamw large m n=%zu", n);
    tu_check(tu_compare("adamw v", gv, v + 7, n, 1e-12f, 1e-6f) == 0, "adamw large v n=%zu", n);
    free(gp), free(gm), free(gv), free(p), free(g), free(m), free(v);
    for (int i = 0; i < 4; i++)
        climp_buffer_destroy(B[i]);
}

static void grad_norm_case(climp_ctx *ctx, tu_rng *r, size_t n) {
    float *g = tu_alloc_rand(r, n + 3, -1, 1);
    climp_buffer *bg, *bs;
    climp_tview vg = climp_view_sub(put(ctx, &bg, g, n + 3), 3, n);
    CLIMP_CHECK(climp_buffer_create(ctx, "scratch", climp_grad_norm_scratch_floats() * 4, &bs));
    double want = sqrt(climp_grad_sumsq_ref(g + 3, n)), got = 0, again = 0;
    CLIMP_CHECK(climp_grad_norm(ctx, &got, vg, climp_buffer_view(bs), n));
    CLIMP_CHECK(climp_grad_norm(ctx, &again, vg, climp_buffer_view(bs), n));
    tu_check(fabs(got - want) <= 1e-6 * want, "grad norm n=%zu: %.9g vs %.9g", n, got, want);
    tu_check(got == again, "grad norm deterministic n=%zu", n);
    free(g);
    climp_buffer_destroy(bg), climp_buffer_destroy(bs);
}

static void invalid_checks(climp_ctx *ctx) {
    climp_buffer *b;
    CLIMP_CHECK(climp_buffer_create(ctx, "small", 64 * sizeof(float), &b));
    climp_tview v = climp_buffer_view(b), s8 = climp_view_sub(v, 0, 8), none = {0, 0, 0};
    climp_adamw_hparams hp = {1e-3, 0.9, 0.98, 1e-6, 0.1, 1, 1.0f}, bad = hp;
    climp_adamw_segment ok[1] = {{0, 8, 1}}, over[2] = {{0, 8, 1}, {7, 2, 1}};
    climp_adamw_segment unsorted[2] = {{8, 8, 1}, {0, 8, 0}}, far[1] = {{60, 8, 1}};
    climp_adamw_segment flag[1] = {{0, 8, 2}};
    long before = climp_ctx_counters(ctx).launches;
    tu_check(climp_adamw_update(NULL, v, v, v, v, ok, 1, &hp) == CLIMP_ERR_INVALID_ARG, "NULL ctx");
    tu_check(climp_adamw_update(ctx, v, v, v, v, ok, 1, NULL) == CLIMP_ERR_INVALID_ARG, "NULL hp");
    tu_check(climp_adamw_update(ctx, v, v, v, v, over, 2, &hp) == CLIMP_ERR_INVALID_ARG,
             "overlapping segments");
    tu_check(climp_adamw_update(ctx, v, v, v, v, unsorted, 2, &hp) == CLIMP_ERR_INVALID_ARG,
             "unsorted segments");
    tu_check(climp_adamw_update(ctx, v, v, v, v, flag, 1, &hp) == CLIMP_ERR_INVALID_ARG,
             "decay flag 2");
    tu_check(climp_adamw_update(ctx, v, v, v, v, far, 1, &hp) == CLIMP_ERR_BUFFER_TOO_SMALL,
             "segment past the views");
    tu_check(climp_adamw_update(ctx, v, v, s8, v, far, 1, &hp) == CLIMP_ERR_BUFFER_TOO_SMALL,
             "segment past the m view");
    tu_check(climp_adamw_update(ctx, v, none, v, v, ok, 1, &hp) == CLIMP_ERR_INVALID_ARG,
             "no grads buffer");
    bad.step = 0;
    tu_check(climp_adamw_update(ctx, v, v, v, v, ok, 1, &bad) == CLIMP_ERR_INVALID_ARG, "step 0");
    bad = hp, bad.beta1 = 1.0;
    tu_check(climp_adamw_update(ctx, v, v, v, v, ok, 1, &bad) == CLIMP_ERR_INVALID_ARG, "beta1 1");
    bad = hp, bad.lr = NAN;
    tu_check(climp_adamw_update(ctx, v, v, v, v, ok, 1, &bad) == CLIMP_ERR_INVALID_ARG, "lr NaN");
    double nrm = 0;
    tu_check(climp_grad_norm(ctx, &nrm, v, v, 0) == CLIMP_ERR_SHAPE, "grad norm n 0");
    tu_check(climp_grad_norm(ctx, &nrm, v, s8, 8) == CLIMP_ERR_BUFFER_TOO_SMALL,
             "grad norm scratch small");
    tu_check(climp_grad_norm(ctx, &nrm, s8, v, 9) == CLIMP_ERR_BUFFER_TOO_SMALL,
             "grad norm n > view");
    tu_check(climp_ctx_counters(ctx).launches == before, "invalid calls enqueued nothing");
    /* zero segments and empty segments: valid, nothing to do */
    climp_adamw_segment empty[1] = {{4, 0, 1}};
    tu_check(climp_adamw_update(ctx, v, v, v, v, empty, 1, &hp) == CLIMP_OK &&
                 climp_adamw_update(ctx, v, v, v, v, NULL, 0, &hp) == CLIMP_OK &&
                 climp_ctx_counters(ctx).launches == before,
             "empty segment lists launch nothing");
    climp_buffer_destroy(b);
}

static void clip_checks(void) {
    tu_check(climp_grad_clip_scale(0.5, 1.0f) == 1.0f, "clip: small norm keeps 1");
    tu_check(fabsf(climp_grad_clip_scale(4.0, 1.0f) - 0.25f) < 1e-6f, "clip: 1/4");
    tu_check(climp_grad_clip_scale(4.0, 0.0f) == 1.0f, "clip off");
}

static void timing(climp_ctx *ctx, tu_rng *r) {
    const size_t n = 10 * 1000 * 1000;
    float *p = tu_alloc_rand(r, n, -1, 1), *g = tu_alloc_rand(r, n, -1, 1);
    float *m = calloc(n, 4), *v = calloc(n, 4);
    climp_buffer *B[5];
    climp_tview vp = put(ctx, &B[0], p, n), vg = put(ctx, &B[1], g, n);
    climp_tview vm = put(ctx, &B[2], m, n), vv = put(ctx, &B[3], v, n);
    CLIMP_CHECK(climp_buffer_create(ctx, "s", climp_grad_norm_scratch_floats() * 4, &B[4]));
    climp_adamw_segment segs[2] = {{0, n / 2, 1}, {n / 2, n - n / 2, 0}};
    climp_adamw_hparams hp = {1e-3, 0.9, 0.98, 1e-6, 0.1, 1, 1.0f};
    const int iters = 10;
    CLIMP_CHECK(climp_adamw_update(ctx, vp, vg, vm, vv, segs, 2, &hp)); /* warm-up (JIT) */
    CLIMP_CHECK(climp_finish(ctx));
    double t0 = climp_now_seconds();
    for (int i = 0; i < iters; i++)
        CLIMP_CHECK(climp_adamw_update(ctx, vp, vg, vm, vv, segs, 2, &hp));
    CLIMP_CHECK(climp_finish(ctx));
    double td = (climp_now_seconds() - t0) / iters;
    t0 = climp_now_seconds();
    for (int i = 0; i < 3; i++)
        CLIMP_CHECK(climp_adamw_update_ref(p, g, m, v, segs, 2, &hp));
    double tr = (climp_now_seconds() - t0) / 3;
    double bytes = 28.0 * n; /* read p, g, m, v; write p, m, v */
    printf("timing adamw n=%zu: device %.3f ms (%.2f GB/s), C ref %.3f ms (%.2f GB/s)\n", n,
           td * 1e3, bytes / td / 1e9, tr * 1e3, bytes / tr / 1e9);
    double nrm = 0;
    CLIMP_CHECK(climp_grad_norm(ctx, &nrm, vg, climp_buffer_view(B[4]), n));
    t0 = climp_now_seconds();
    for (int i = 0; i < iters; i++)
        CLIMP_CHECK(climp_grad_norm(ctx, &nrm, vg, climp_buffer_view(B[4]), n));
    td = (climp_now_seconds() - t0) / iters;
    t0 = climp_now_seconds();
    double s = 0;
    for (int i = 0; i < 3; i++)
        s += climp_grad_sumsq_ref(g, n);
    tr = (climp_now_seconds() - t0) / 3;
    printf("timing grad norm n=%zu: device %.3f ms (%.2f GB/s), C ref %.3f ms (%.2f GB/s)%s\n", n,
           td * 1e3, 4.0 * n / td / 1e9, tr * 1e3, 4.0 * n / tr / 1e9, s > 0 ? "" : " ?");
    for (int i = 0; i < 5; i++)
        climp_buffer_destroy(B[i]);
    free(p), free(g), free(m), free(v);
}

/* The FPGA context updates a run of 300 floats in one launch (NDRange: body + tail). */
static void fpga_launch_check(climp_ctx *f, tu_rng *r) {
    enum { n = 300 };
    float x[4 * n];
    tu_fill(r, x, 4 * n, 0, 1);
    climp_buffer *b;
    climp_tview v = put(f, &b, x, 4 * n);
    climp_adamw_segment seg = {0, n, 1};
    climp_adamw_hparams hp = {1e-3, 0.9, 0.98, 1e-6, 0.1, 1, 1.0f};
    long l0 = climp_ctx_counters(f).launches;
    CLIMP_CHECK(climp_adamw_update(f, climp_view_sub(v, 0, n), climp_view_sub(v, n, n),
                                   climp_view_sub(v, 2 * n, n), climp_view_sub(v, 3 * n, n), &seg,
                                   1, &hp));
    tu_check(climp_ctx_counters(f).launches - l0 == 1, "fpga adamw: one launch per run");
    climp_buffer_destroy(b);
}

int main(void) {
    tu_rng r;
    tu_rng_seed(&r, 3);
    clip_checks();
    climp_ctx *ctx = tu_open_ctx();
    const char *tm = getenv("CLIMP_NORM_TIMING");
    if (tm && tm[0] == '1') {
        timing(ctx, &r);
        climp_ctx_close(ctx);
        return tu_finish("test_optim timing");
    }
    adamw_sequence(ctx, &r);
    adamw_large(ctx, &r, 1);
    adamw_large(ctx, &r, 1000);
    adamw_large(ctx, &r, 300007);
    const size_t sizes[] = {1, 255, 256, 257, 65537, 1000003};
    for (int pass = 0; pass < 2; pass++) { /* the device's own variant, then the other one */
        if (pass)
            setenv("CLIMP_OPS_VARIANT", climp_ops_cpu_style(ctx) ? "gpu" : "cpu", 1);
        for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
            grad_norm_case(ctx, &r, sizes[i]);
    }
    unsetenv("CLIMP_OPS_VARIANT");
    invalid_checks(ctx);
    climp_ctx_close(ctx);

    /* the FPGA single work-item kernels (cl_kernels/optim_fpga.cl) on the same device: one
     * launch per merged run (adamw_sequence checks 4), one for the norm */
    climp_ctx_options opt = {0};
    opt.kernel_variant = "fpga";
    climp_ctx *f = NULL;
    CLIMP_CHECK(climp_ctx_open(&opt, &f));
    tu_check(!strcmp(climp_ctx_variant(f), "fpga"), "fpga context selects the fpga variant");
    fpga_launch_check(f, &r);
    adamw_sequence(f, &r);
    adamw_large(f, &r, 1);
    adamw_large(f, &r, 1000);
    adamw_large(f, &r, 300007);
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
        grad_norm_case(f, &r, sizes[i]);
    invalid_checks(f);
    climp_ctx_close(f);
    return tu_finish("test_optim");
}
