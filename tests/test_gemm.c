/* Tests of the GEMM dispatch (runtime/gemm.c, cl_kernels/gemm.cl) against the plain-C reference
 * (runtime/gemm_ref.c): every available backend, all transposes, awkward sizes, padded leading
 * dimensions, batches with strides, views at offsets, alpha/beta (beta 0 over NaN), the VMamba
 * batched projection, a real model shape, invalid arguments, determinism, the AUTO table and the
 * FPGA single-work-item variant, the tuning table's GEMM keys. CLIMP_GEMM_TIMING=1 instead prints
 * GFLOP/s per backend. */
#define _POSIX_C_SOURCE 200809L
#include "runtime/gemm_ref.h"
#include "tests/testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__has_include)
#if __has_include(<cblas.h>)
#include <cblas.h>
#define TEST_HAVE_CBLAS 1
#endif
#endif

typedef struct gcase {
    int ta, tb, M, N, K, batch;
    int ldx;    /* extra floats per stored row (ld > row length) */
    int sgap;   /* extra floats between batch matrices */
    float alpha, beta;
    int nan_c;  /* beta == 0: fill the C elements with NaN */
    int nan_ab; /* alpha == 0: fill A and B with NaN */
} gcase;

/* Floats one stored matrix set spans (the same formula as the runtime's check). */
static size_t span(size_t rows, size_t cols, size_t ld, size_t batch, size_t stride) {
    return (batch - 1) * stride + (rows - 1) * ld + cols;
}

static void layout(const gcase *c, climp_gemm_desc *d, size_t *sa, size_t *sb, size_t *sc) {
    memset(d, 0, sizeof(*d));
    d->trans_a = c->ta, d->trans_b = c->tb;
    d->M = c->M, d->N = c->N, d->K = c->K;
    d->alpha = c->alpha, d->beta = c->beta;
    d->batch = c->batch;
    int ar = c->ta ? c->K : c->M, ac = c->ta ? c->M : c->K;
    int br = c->tb ? c->N : c->K, bc = c->tb ? c->K : c->N;
    d->lda = ac + c->ldx, d->ldb = bc + c->ldx, d->ldc = c->N + c->ldx;
    d->stride_a = c->batch > 1 ? span(ar, ac, d->lda, 1, 0) + c->sgap : 0;
    d->stride_b = c->batch > 1 ? span(br, bc, d->ldb, 1, 0) + c->sgap : 0;
    d->stride_c = c->batch > 1 ? span(c->M, c->N, d->ldc, 1, 0) + c->sgap : 0;
    *sa = span(ar, ac, d->lda, c->batch, d->stride_a);
    *sb = span(br, bc, d->ldb, c->batch, d->stride_b);
    *sc = span(c->M, c->N, d->ldc, c->batch, d->stride_c);
}

static float tol_abs(const climp_gemm_desc *d) {
    return 1e-6f + 3e-7f * (float)d->K * fabsf(d->alpha);
}

/* Runs one case through backend `be` with A, B, C as views at odd offsets of one buffer, and
 * checks the whole buffer: C elements against the reference, every other float bit-identical. */
static void run_case(climp_ctx *ctx, climp_gemm_backend be, const gcase *c, tu_rng *r) {
    climp_gemm_desc d;
    size_t sa, sb, sc;
    layout(c, &d, &sa, &sb, &sc);
    size_t oa = 3, ob = oa + sa + 7, oc = ob + sb + 11, total = oc + sc + 13;
    float *h = tu_alloc_rand(r, total, -1.0f, 1.0f);
    if (c->nan_ab)
        for (size_t i = oa; i < oc; i++) h[i] = NAN;
    if (c->nan_c)
        for (int b = 0; b < c->batch; b++)
            for (int i = 0; i < c->M; i++)
                for (int j = 0; j < c->N; j++) h[oc + b * d.stride_c + (size_t)i * d.ldc + j] = NAN;
    float *want = malloc(total * sizeof(float));
    memcpy(want, h, total * sizeof(float));
    climp_gemm_ref(&d, want + oa, want + ob, want + oc);
    climp_buffer *buf = tu_upload(ctx, "gemm_case", h, total);
    climp_tview all = climp_buffer_view(buf);
    climp_status s = climp_gemm_with(ctx, be, &d, climp_view_sub(all, oa, sa),
                                     climp_view_sub(all, ob, sb), climp_view_sub(all, oc, sc));
    char what[160];
    snprintf(what, sizeof what, "%s ta=%d tb=%d M=%d N=%d K=%d batch=%d ldx=%d a=%g b=%g%s%s",
             climp_gemm_backend_name(be), c->ta, c->tb, c->M, c->N, c->K, c->batch, c->ldx,
             c->alpha, c->beta, c->nan_c ? " nanC" : "", c->nan_ab ? " nanAB" : "");
    tu_check(s == CLIMP_OK, "%s: %s (%s)", what, climp_status_name(s), climp_error_detail());
    if (s == CLIMP_OK) {
        float *got = tu_download(ctx, all, total);
        size_t bad = tu_compare(what, got + oc, want + oc, sc, tol_abs(&d), 1e-5f);
        int untouched = !memcmp(got, h, oc * sizeof(float)) &&
                        !memcmp(got + oc + sc, h + oc + sc, (total - oc - sc) * sizeof(float));
        tu_check(bad == 0 && untouched, "%s (%zu mismatches, outside C %s)", what, bad,
                 untouched ? "intact" : "CHANGED");
        free(got);
    }
    climp_buffer_destroy(buf);
    free(h);
    free(want);
}

/* All four transposes over awkward sizes, padded ld, batches, alpha/beta and NaN rules. */
static void test_shapes(climp_ctx *ctx, climp_gemm_backend be, tu_rng *r) {
    static const int mnk[][3] = {{1, 1, 1},    {1, 7, 13},   {7, 1, 33},    {13, 33, 1},
                                 {33, 65, 127}, {65, 127, 7}, {127, 13, 65}, {127, 127, 127},
                                 {64, 64, 64},  {65, 33, 17}, {7, 130, 40},  {130, 5, 300},
                                 {130, 129, 33}, {200, 140, 20}, {1, 300, 50}, {260, 1, 70}};
    int n = (int)(sizeof(mnk) / sizeof(mnk[0]));
    for (int t = 0; t < 4; t++) {
        for (int i = 0; i < n; i++) {
            gcase c = {t & 1, t >> 1, mnk[i][0], mnk[i][1], mnk[i][2], 1, 0, 0, 1.0f, 0.0f, 0, 0};
            switch (i % 4) { /* vary the extras along the list */
            case 1: c.ldx = 3, c.alpha = 0.75f, c.beta = 0.5f; break;
            case 2: c.batch = 3, c.sgap = 5, c.beta = 1.0f; break;
            case 3: c.batch = 3, c.ldx = 2, c.sgap = 1, c.alpha = -1.5f, c.nan_c = 1; break;
            default: c.nan_c = 1; break;
            }
            run_case(ctx, be, &c, r);
        }
    }
    /* alpha == 0 reads neither A nor B; beta == 0 reads no C. */
    gcase a0 = {0, 1, 13, 17, 9, 2, 1, 3, 0.0f, 0.5f, 0, 1};
    run_case(ctx, be, &a0, r);
    gcase ab0 = {1, 0, 5, 6, 7, 1, 0, 0, 0.0f, 0.0f, 1, 1};
    run_case(ctx, be, &ab0, r);
}

/* VMamba's x_proj: 4 directions, x (L, 4*E) with direction k at column k*E (lda = 4E, stride E),
 * weights (4, R, E) used transposed, out (L, 4*R) with direction k at column k*R. */
static void test_vmamba_projection(climp_ctx *ctx, climp_gemm_backend be, tu_rng *r) {
    const int L = 49, E = 96, R = 38, D = 4;
    climp_gemm_desc d = {0, 1, L, R, E, 1.0f, 0.0f, D * E, E, D * R, D, E, (size_t)R * E, R};
    size_t na = (size_t)L * D * E, nb = (size_t)D * R * E, nc = (size_t)L * D * R;
    float *ha = tu_alloc_rand(r, na, -1, 1), *hb = tu_alloc_rand(r, nb, -1, 1);
    float *hc = tu_alloc_rand(r, nc, -1, 1), *want = malloc(nc * sizeof(float));
    for (size_t i = 0; i < nc; i++) hc[i] = want[i] = NAN;
    climp_gemm_ref(&d, ha, hb, want);
    climp_buffer *ba = tu_upload(ctx, "x", ha, na), *bb = tu_upload(ctx, "w", hb, nb),
                 *bc = tu_upload(ctx, "y", hc, nc);
    climp_status s = climp_gemm_with(ctx, be, &d, climp_buffer_view(ba), climp_buffer_view(bb),
                                     climp_buffer_view(bc));
    tu_check(s == CLIMP_OK, "vmamba projection %s: %s", climp_gemm_backend_name(be),
             climp_status_name(s));
    float *got = tu_download(ctx, climp_buffer_view(bc), nc);
    tu_check(tu_compare("vmamba x_proj", got, want, nc, tol_abs(&d), 1e-5f) == 0,
             "vmamba projection %s", climp_gemm_backend_name(be));
    free(got), free(ha), free(hb), free(hc), free(want);
    climp_buffer_destroy(ba), climp_buffer_destroy(bb), climp_buffer_destroy(bc);
}

/* A real Linear of the vision tower: y (2*196, 768) = x (2*196, 192) W^T, W (768, 192). */
static void test_real_shape(climp_ctx *ctx, climp_gemm_backend be, tu_rng *r) {
    gcase c = {0, 1, 2 * 196, 768, 192, 1, 0, 0, 1.0f, 0.0f, 1, 0};
    run_case(ctx, be, &c, r);
    gcase g = {1, 0, 192, 768, 2 * 196, 1, 0, 0, 1.0f, 1.0f, 0, 0}; /* dW += x^T dy */
    run_case(ctx, be, &g, r);
}

static void test_invalid(climp_ctx *ctx) {
    climp_buffer *buf = NULL;
    CLIMP_CHECK(climp_buffer_create(ctx, "inv", 4096 * sizeof(float), &buf));
    CLIMP_CHECK(climp_buffer_fill_zero(ctx, buf, 0, 4096 * sizeof(float)));
    climp_tview v = climp_buffer_view(buf), none = {NULL, 0, 0};
    climp_gemm_desc ok = {0, 0, 8, 8, 8, 1.0f, 0.0f, 8, 8, 8, 1, 0, 0, 0};
    climp_gemm_desc d;
    struct {
        const char *what;
        int field;
        int value;
        climp_status want;
    } cases[] = {
        {"M=0", 0, 0, CLIMP_ERR_SHAPE},         {"N=-1", 1, -1, CLIMP_ERR_SHAPE},
        {"K=0", 2, 0, CLIMP_ERR_SHAPE},         {"batch=0", 3, 0, CLIMP_ERR_SHAPE},
        {"lda<K", 4, 7, CLIMP_ERR_SHAPE},       {"ldb<N", 5, 7, CLIMP_ERR_SHAPE},
        {"ldc<N", 6, 3, CLIMP_ERR_SHAPE},       {"trans_a=2", 7, 2, CLIMP_ERR_INVALID_ARG},
        {"C too small", 8, 70, CLIMP_ERR_BUFFER_TOO_SMALL},
        {"batch 2 with stride_c 0", 9, 2, CLIMP_ERR_INVALID_ARG},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        d = ok;
        climp_tview c = v;
        switch (cases[i].field) {
        case 0: d.M = cases[i].value; break;
        case 1: d.N = cases[i].value; break;
        case 2: d.K = cases[i].value; break;
        case 3: d.batch = cases[i].value; break;
        case 4: d.lda = cases[i].value; break;
        case 5: d.ldb = cases[i].value; break;
        case 6: d.ldc = cases[i].value; break;
        case 7: d.trans_a = cases[i].value; break;
        case 8: c = climp_view_sub(v, 4000, (size_t)cases[i].value - 7); break;
        case 9: d.batch = 2, d.stride_a = d.stride_b = 64; break;
        }
        for (int be = CLIMP_GEMM_AUTO; be <= CLIMP_GEMM_TILED; be++) {
            climp_status s = climp_gemm_with(ctx, (climp_gemm_backend)be, &d, v, v, c);
            tu_check(s == cases[i].want, "invalid %s via %s: got %s want %s", cases[i].what,
                     climp_gemm_backend_name((climp_gemm_backend)be), climp_status_name(s),
                     climp_status_name(cases[i].want));
        }
    }
    /* A view past the end of its buffer, a missing buffer, batch strides beyond the view,
     * a NULL descriptor and a bad backend. */
    climp_tview past = {buf, 4090, 64};
    tu_check(climp_gemm(ctx, &ok, v, v, past) == CLIMP_ERR_BUFFER_TOO_SMALL, "view past end");
    tu_check(climp_gemm(ctx, &ok, none, v, v) == CLIMP_ERR_INVALID_ARG, "A without buffer");
    d = ok, d.batch = 3, d.stride_a = d.stride_b = d.stride_c = 2100;
    tu_check(climp_gemm(ctx, &d, v, v, v) == CLIMP_ERR_BUFFER_TOO_SMALL, "batch past end");
    tu_check(climp_gemm(ctx, NULL, v, v, v) == CLIMP_ERR_INVALID_ARG, "NULL desc");
    tu_check(climp_gemm_with(ctx, (climp_gemm_backend)99, &ok, v, v, v) == CLIMP_ERR_INVALID_ARG,
             "backend 99");
    /* Nothing was enqueued: the buffer is still all zeros. */
    float *got = tu_download(ctx, v, 4096);
    int zeros = 1;
    for (int i = 0; i < 4096; i++) zeros &= got[i] == 0.0f;
    tu_check(zeros, "invalid calls left the buffer untouched");
    free(got);
    climp_buffer_destroy(buf);
}

/* The same call twice gives bitwise the same C (tiled kernel, fixed summation order). */
static void test_determinism(climp_ctx *ctx, tu_rng *r) {
    climp_gemm_desc d = {0, 1, 127, 65, 300, 1.0f, 0.0f, 300, 300, 65, 1, 0, 0, 0};
    float *ha = tu_alloc_rand(r, 127 * 300, -1, 1), *hb = tu_alloc_rand(r, 65 * 300, -1, 1);
    climp_buffer *ba = tu_upload(ctx, "a", ha, 127 * 300), *bb = tu_upload(ctx, "b", hb, 65 * 300);
    climp_buffer *bc = NULL;
    CLIMP_CHECK(climp_buffer_create(ctx, "c", 127 * 65 * sizeof(float), &bc));
    float *out[2];
    for (int t = 0; t < 2; t++) {
        CLIMP_CHECK(climp_gemm_with(ctx, CLIMP_GEMM_TILED, &d, climp_buffer_view(ba),
                                    climp_buffer_view(bb), climp_buffer_view(bc)));
        out[t] = tu_download(ctx, climp_buffer_view(bc), 127 * 65);
    }
    tu_check(!memcmp(out[0], out[1], 127 * 65 * sizeof(float)), "tiled: bitwise repeatable");
    free(out[0]), free(out[1]), free(ha), free(hb);
    climp_buffer_destroy(ba), climp_buffer_destroy(bb), climp_buffer_destroy(bc);
}

static void test_choose(climp_ctx *ctx) {
    climp_gemm_desc d = {0, 0, 8, 8, 8, 1.0f, 0.0f, 8, 8, 8, 1, 0, 0, 0};
    const climp_device_info *in = climp_ctx_info(ctx);
    unsetenv("CLIMP_GEMM");
    climp_gemm_backend be = climp_gemm_choose(ctx, &d);
    climp_gemm_backend want = CLIMP_GEMM_TILED;
    if (in->is_cpu && in->host_unified_memory && climp_gemm_backend_available(ctx, CLIMP_GEMM_HOSTBLAS))
        want = CLIMP_GEMM_HOSTBLAS;
    else if (in->is_gpu && climp_gemm_backend_available(ctx, CLIMP_GEMM_CLBLAST))
        want = CLIMP_GEMM_CLBLAST;
    if (!strcmp(climp_ctx_variant(ctx), "fpga")) want = CLIMP_GEMM_TILED;
    tu_check(be == want, "AUTO on %s picks %s (want %s)", in->type, climp_gemm_backend_name(be),
             climp_gemm_backend_name(want));
    setenv("CLIMP_GEMM", "tiled", 1);
    tu_check(climp_gemm_choose(ctx, &d) == CLIMP_GEMM_TILED, "CLIMP_GEMM=tiled wins");
    setenv("CLIMP_GEMM", "no-such-backend", 1);
    int level = climp_log_level();
    climp_log_set_level(CLIMP_LOG_ERROR); /* the expected warning */
    tu_check(climp_gemm_choose(ctx, &d) == be, "unknown CLIMP_GEMM falls back to the table");
    climp_log_set_level(level);
    unsetenv("CLIMP_GEMM");
    tu_check(!strcmp(climp_gemm_backend_name(CLIMP_GEMM_CLBLAST), "clblast") &&
                 climp_gemm_backend_available(ctx, CLIMP_GEMM_TILED) &&
                 !climp_gemm_backend_available(ctx, CLIMP_GEMM_AUTO),
             "names and availability");
}

/* The tuning table steers the tiled kernel and its parameters (keys with and without a shape
 * class) and AUTO's backend; unusable values fall back to the rules; $CLIMP_GEMM still wins.
 * Every configuration is checked against the reference over all transposes. */
static void set_keys(climp_ctx *ctx, const char *cls, const char *const *names, const int *v,
                     int n) {
    char key[64];
    for (int i = 0; i < n; i++) {
        snprintf(key, sizeof key, "gemm.tiled.%s%s%s", names[i], cls ? "@" : "", cls ? cls : "");
        CLIMP_CHECK(climp_tune_set(ctx, key, v[i]));
    }
}

static void tuned_cases(climp_ctx *ctx, tu_rng *r) {
    static const int mnk[][3] = {{33, 65, 127}, {130, 129, 33}, {7, 130, 40}, {1, 300, 50}};
    for (int t = 0; t < 4; t++)
        for (int i = 0; i < 4; i++) {
            gcase c = {t & 1, t >> 1, mnk[i][0], mnk[i][1], mnk[i][2], 1 + (i & 1), i & 2, 3,
                       1.0f, i == 1 ? 0.5f : 0.0f, i == 0, 0};
            run_case(ctx, CLIMP_GEMM_TILED, &c, r);
        }
}

static void test_tuned(climp_ctx *ctx, tu_rng *r) {
    static const char *const vec[] = {"kernel", "vw", "mr", "nv", "rb", "kc"};
    static const char *const fwd[] = {"kernel", "tsm", "tsn", "tsk", "wptm", "wptn"};
    static const char *const small[] = {"kernel", "wptm", "wptn", "lsn"};
    climp_gemm_desc s = {0, 1, 33, 65, 127, 1.0f, 0.0f, 127, 127, 65, 1, 0, 0, 0};
    climp_gemm_desc l = {0, 1, 512, 3072, 768, 1.0f, 0.0f, 768, 768, 3072, 1, 0, 0, 0};
    climp_gemm_desc lt = l;
    lt.trans_a = 1;
    tu_check(!strcmp(climp_gemm_tune_class(&s), "S") && !strcmp(climp_gemm_tune_class(&l), "L") &&
                 !strcmp(climp_gemm_tune_class(&lt), "Lt"),
             "shape classes S, L, Lt");
    climp_tune_clear(ctx);
    unsetenv("CLIMP_GEMM");
    const climp_gemm_backend heur = climp_gemm_choose(ctx, &s);
    /* odd vector kernel parameters for every class (keys without a class) */
    set_keys(ctx, NULL, vec, (const int[]){3, 4, 3, 1, 2, 16}, 6);
    tuned_cases(ctx, r);
    /* the GPU kernels through class keys, the class-less ones still there underneath */
    climp_tune_clear(ctx);
    static const char *const cls[] = {"S", "St"};
    for (int i = 0; i < 2; i++) set_keys(ctx, cls[i], fwd, (const int[]){1, 32, 16, 8, 2, 4}, 6);
    tuned_cases(ctx, r);
    climp_tune_clear(ctx);
    for (int i = 0; i < 2; i++) set_keys(ctx, cls[i], small, (const int[]){2, 3, 2, 8}, 4);
    tuned_cases(ctx, r);
    /* unusable values: vw 3, a work-group larger than any device's, kernel 9 */
    int level = climp_log_level();
    climp_log_set_level(CLIMP_LOG_ERROR); /* the expected warnings */
    climp_tune_clear(ctx);
    set_keys(ctx, NULL, vec, (const int[]){3, 3, 6, 2, 8, 128}, 6);
    tuned_cases(ctx, r);
    climp_tune_clear(ctx);
    set_keys(ctx, NULL, fwd, (const int[]){1, 256, 256, 64, 1, 1}, 6);
    tuned_cases(ctx, r);
    climp_tune_clear(ctx);
    set_keys(ctx, NULL, vec, (const int[]){9}, 1);
    tuned_cases(ctx, r);
    /* climp_gemm_tiled_tuning_usable tells the tuner when the table's tiles would not run: the
     * vec kernel's private-memory bound (kc (vw nv + rb mr) + rb mr vw nv <= 16384) */
    climp_gemm_desc big = {0, 1, 512, 3072, 768, 1, 0, 768, 768, 3072, 1, 0, 0, 0};
    climp_tune_clear(ctx);
    tu_check(climp_gemm_tiled_tuning_usable(ctx, &big), "no table: usable");
    set_keys(ctx, climp_gemm_tune_class(&big), vec, (const int[]){3, 4, 4, 1, 16, 256}, 6);
    tu_check(!climp_gemm_tiled_tuning_usable(ctx, &big), "kc 256 x 68 + 256 floats: not usable");
    climp_tune_clear(ctx);
    set_keys(ctx, climp_gemm_tune_class(&big), vec, (const int[]){3, 4, 4, 1, 16, 128}, 6);
    tu_check(climp_gemm_tiled_tuning_usable(ctx, &big), "kc 128: usable");
    /* the backend per class; unknown values and unavailable backends fall back */
    climp_tune_clear(ctx);
    CLIMP_CHECK(climp_tune_set(ctx, "gemm.backend@S", CLIMP_GEMM_TILED));
    tu_check(climp_gemm_choose(ctx, &s) == CLIMP_GEMM_TILED, "gemm.backend@S = tiled is used");
    tu_check(climp_gemm_choose(ctx, &l) == climp_gemm_choose(ctx, &lt),
             "another class keeps the rules");
    setenv("CLIMP_GEMM", "tiled", 1);
    CLIMP_CHECK(climp_tune_set(ctx, "gemm.backend@S", CLIMP_GEMM_HOSTBLAS));
    tu_check(climp_gemm_choose(ctx, &s) == CLIMP_GEMM_TILED, "$CLIMP_GEMM beats the table");
    unsetenv("CLIMP_GEMM");
    CLIMP_CHECK(climp_tune_set(ctx, "gemm.backend@S", 77));
    tu_check(climp_gemm_choose(ctx, &s) == heur, "an unknown backend in the table is ignored");
    climp_log_set_level(level);
    climp_tune_clear(ctx);
}

/* The FPGA-style single-work-item kernel, through a context opened with the fpga variant. */
static void test_fpga_variant(tu_rng *r) {
    climp_ctx_options opt = {0};
    opt.kernel_variant = "fpga";
    climp_ctx *f = NULL;
    CLIMP_CHECK(climp_ctx_open(&opt, &f));
    tu_check(climp_gemm_choose(f, NULL) == CLIMP_GEMM_TILED, "fpga variant uses the tiled path");
    for (int t = 0; t < 4; t++) {
        gcase c = {t & 1, t >> 1, 13, 7, 33, 2, 1, 2, 0.5f, t == 0 ? 0.0f : 1.0f, t == 0, 0};
        run_case(f, CLIMP_GEMM_TILED, &c, r);
    }
    climp_ctx_close(f);
}

/* ---------------------------------------------------------------- timing mode */
static double time_backend(climp_ctx *ctx, climp_gemm_backend be, const climp_gemm_desc *d,
                           climp_tview A, climp_tview B, climp_tview C) {
    if (climp_gemm_with(ctx, be, d, A, B, C) != CLIMP_OK) return -1; /* warm-up and JIT */
    CLIMP_CHECK(climp_finish(ctx));
    int reps = 0;
    double t0 = climp_now_seconds(), t = 0;
    do {
        CLIMP_CHECK(climp_gemm_with(ctx, be, d, A, B, C));
        CLIMP_CHECK(climp_finish(ctx));
        reps++;
        t = climp_now_seconds() - t0;
    } while (t < 0.5 && reps < 50);
    return 2.0 * d->M * d->N * d->K * d->batch * reps / t * 1e-9;
}

static void timing(climp_ctx *ctx) {
    static const int shapes[][5] = {{256, 256, 256, 0, 0},   {512, 512, 512, 0, 0},
                                    {1024, 1024, 1024, 0, 0}, {3136, 384, 96, 0, 1},
                                    {3136, 96, 384, 0, 0},    {1024, 3072, 768, 0, 1},
                                    {768, 3072, 1024, 1, 0}};
    tu_rng r;
    tu_rng_seed(&r, 7);
    printf("%-22s %-5s %10s %10s %10s %10s\n", "shape (M,N,K)", "op", "hostblas", "clblast",
           "tiled", "cblas-host");
    for (size_t s = 0; s < sizeof(shapes) / sizeof(shapes[0]); s++) {
        int M = shapes[s][0], N = shapes[s][1], K = shapes[s][2], ta = shapes[s][3],
            tb = shapes[s][4];
        climp_gemm_desc d = {ta, tb, M, N, K, 1.0f, 0.0f, ta ? M : K, tb ? K : N, N, 1, 0, 0, 0};
        float *ha = tu_alloc_rand(&r, (size_t)M * K, -1, 1), *hb = tu_alloc_rand(&r, (size_t)K * N, -1, 1);
        float *hc = tu_alloc_rand(&r, (size_t)M * N, -1, 1);
        climp_buffer *ba = tu_upload(ctx, "a", ha, (size_t)M * K), *bb = tu_upload(ctx, "b", hb, (size_t)K * N),
                     *bc = tu_upload(ctx, "c", hc, (size_t)M * N);
        double g[4] = {-1, -1, -1, -1};
        for (int be = CLIMP_GEMM_HOSTBLAS; be <= CLIMP_GEMM_TILED; be++)
            if (climp_gemm_backend_available(ctx, (climp_gemm_backend)be))
                g[be - 1] = time_backend(ctx, (climp_gemm_backend)be, &d, climp_buffer_view(ba),
                                         climp_buffer_view(bb), climp_buffer_view(bc));
#ifdef TEST_HAVE_CBLAS
        int reps = 0;
        double t0 = climp_now_seconds(), t = 0;
        do {
            cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
                        M, N, K, 1.0f, ha, d.lda, hb, d.ldb, 0.0f, hc, d.ldc);
            reps++;
            t = climp_now_seconds() - t0;
        } while (t < 0.5 && reps < 50);
        g[3] = 2.0 * M * N * K * reps / t * 1e-9;
#endif
        char name[40];
        snprintf(name, sizeof name, "(%d,%d,%d)", M, N, K);
        printf("%-22s %c%c    %10.1f %10.1f %10.1f %10.1f\n", name, ta ? 'T' : 'N', tb ? 'T' : 'N',
               g[0], g[1], g[2], g[3]);
        fflush(stdout);
        free(ha), free(hb), free(hc);
        climp_buffer_destroy(ba), climp_buffer_destroy(bb), climp_buffer_destroy(bc);
    }
    printf("GFLOP/s; -1 = backend not available on %s\n", climp_ctx_info(ctx)->name);
}

int main(void) {
    setenv("CLIMP_TUNING", "off", 1); /* the rules themselves; test_tuned sets its own entries */
    climp_ctx *ctx = tu_open_ctx();
    const char *tm = getenv("CLIMP_GEMM_TIMING");
    if (tm && atoi(tm)) {
        timing(ctx);
        climp_ctx_close(ctx);
        return 0;
    }
    tu_rng r;
    tu_rng_seed(&r, 1234);
    test_invalid(ctx);
    test_choose(ctx);
    for (int be = CLIMP_GEMM_HOSTBLAS; be <= CLIMP_GEMM_TILED; be++) {
        if (!climp_gemm_backend_available(ctx, (climp_gemm_backend)be)) {
            printf("skip %s: not available here\n", climp_gemm_backend_name((climp_gemm_backend)be));
            continue;
        }
        double t0 = climp_now_seconds();
        if (be == CLIMP_GEMM_CLBLAST) {
            /* CLBlast compiles for a long time on first use: a few shapes only. */
            gcase c1 = {0, 0, 33, 65, 127, 1, 3, 0, 1.0f, 0.0f, 1, 0};
            gcase c2 = {1, 1, 13, 7, 33, 3, 2, 5, 0.5f, 1.0f, 0, 0};
            gcase c3 = {0, 1, 13, 17, 9, 2, 1, 3, 0.0f, 0.5f, 0, 1};
            run_case(ctx, CLIMP_GEMM_CLBLAST, &c1, &r);
            run_case(ctx, CLIMP_GEMM_CLBLAST, &c2, &r);
            run_case(ctx, CLIMP_GEMM_CLBLAST, &c3, &r);
        } else {
            test_shapes(ctx, (climp_gemm_backend)be, &r);
            test_vmamba_projection(ctx, (climp_gemm_backend)be, &r);
            test_real_shape(ctx, (climp_gemm_backend)be, &r);
        }
        printf("%s: %.1f s\n", climp_gemm_backend_name((climp_gemm_backend)be),
               climp_now_seconds() - t0);
    }
    /* The tiled kernels another device type would get (gemm_fwd, gemm_fwd_small on GPUs; the
     * vector kernels on CPUs), run here through the table override. */
    const char *other = climp_ctx_info(ctx)->is_cpu ? "GPU" : "CPU";
    double t0 = climp_now_seconds();
    setenv("CLIMP_GEMM_TILED_TYPE", other, 1);
    test_shapes(ctx, CLIMP_GEMM_TILED, &r);
    test_vmamba_projection(ctx, CLIMP_GEMM_TILED, &r);
    test_real_shape(ctx, CLIMP_GEMM_TILED, &r);
    unsetenv("CLIMP_GEMM_TILED_TYPE");
    printf("tiled as on a %s: %.1f s\n", other, climp_now_seconds() - t0);
    test_determinism(ctx, &r);
    t0 = climp_now_seconds();
    test_tuned(ctx, &r);
    printf("tuning table: %.1f s\n", climp_now_seconds() - t0);
    climp_ctx_close(ctx);
    test_fpga_variant(&r);
    return tu_finish("test_gemm");
}
