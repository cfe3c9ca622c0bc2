/* Shared test helpers; see tests/testutil.h. */
#include "tests/testutil.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

uint64_t tu_current_seed;
static int n_pass, n_fail;

climp_ctx *tu_open_ctx(void) {
    climp_ctx *ctx = NULL;
    climp_ctx_options opt = {0};
    climp_status s = climp_ctx_open(&opt, &ctx);
    if (s == CLIMP_ERR_NO_PLATFORM || s == CLIMP_ERR_NO_DEVICE) {
        fprintf(stderr, "skip: no OpenCL device (%s)\n", climp_status_name(s));
        exit(TEST_SKIP);
    }
    CLIMP_CHECK(s);
    return ctx;
}

void tu_rng_seed(tu_rng *r, uint64_t seed) {
    tu_current_seed = seed;
    r->s = seed * 0x9E3779B97F4A7C15ull + 0x1234567ull;
    if (!r->s) r->s = 1;
}

static uint64_t next(tu_rng *r) {
    uint64_t x = r->s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return r->s = x;
}

float tu_uniform(tu_rng *r, float lo, float hi) {
    double u = (double)(next(r) >> 11) / 9007199254740992.0;
    return (float)(lo + (hi - lo) * u);
}

void tu_fill(tu_rng *r, float *x, size_t n, float lo, float hi) {
    for (size_t i = 0; i < n; i++) x[i] = tu_uniform(r, lo, hi);
}

float *tu_alloc_rand(tu_rng *r, size_t n, float lo, float hi) {
    float *x = malloc((n ? n : 1) * sizeof(float));
    if (!x) abort();
    tu_fill(r, x, n, lo, hi);
    return x;
}

float *tu_filled(size_t n, float v) {
    float *x = malloc((n ? n : 1) * sizeof(float));
    if (!x) abort();
    for (size_t i = 0; i < n; i++) x[i] = v;
    return x;
}

float *tu_dup(const float *x, size_t n) {
    float *y = tu_filled(n, 0);
    memcpy(y, x, n * sizeof(float));
    return y;
}

size_t tu_compare(const char *what, const float *got, const float *ref, size_t n, float atol,
                  float rtol) {
    size_t bad = 0;
    for (size_t i = 0; i < n; i++) {
        float a = got[i], b = ref[i];
        int ok = !isnan(a) && !isnan(b) && fabsf(a - b) <= atol + rtol * fabsf(b);
        if (isinf(b) && a == b) ok = 1;
        if (!ok) {
            if (bad < 8)
                fprintf(stderr, "  mismatch %s[%zu]: got %.9g want %.9g (seed %llu)\n", what, i,
                        a, b, (unsigned long long)tu_current_seed);
            bad++;
        }
    }
    if (bad) fprintf(stderr, "  %s: %zu of %zu mismatches\n", what, bad, n);
    return bad;
}

double tu_rel_maxnorm(const float *got, const float *ref, size_t n) {
    double md = 0, mr = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)got[i] - ref[i]);
        if (isnan(got[i]) || isnan(ref[i])) return INFINITY;
        if (d > md) md = d;
        if (fabs(ref[i]) > mr) mr = fabs(ref[i]);
    }
    return md / (mr > 1e-30 ? mr : 1e-30);
}

climp_buffer *tu_upload(climp_ctx *ctx, const char *name, const float *x, size_t n) {
    climp_buffer *b = NULL;
    CLIMP_CHECK(climp_buffer_create(ctx, name, (n ? n : 1) * sizeof(float), &b));
    if (n) CLIMP_CHECK(climp_buffer_write(ctx, b, 0, n * sizeof(float), x));
    return b;
}

float *tu_download(climp_ctx *ctx, climp_tview v, size_t n) {
    float *x = malloc((n ? n : 1) * sizeof(float));
    if (!x) abort();
    if (n) CLIMP_CHECK(climp_view_read(ctx, v, x, n));
    return x;
}

void tu_check(int cond, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    if (cond) {
        n_pass++;
    } else {
        n_fail++;
        fprintf(stderr, "FAIL: ");
        vfprintf(stderr, fmt, ap);
        fprintf(stderr, " (seed %llu)\n", (unsigned long long)tu_current_seed);
    }
    va_end(ap);
}

int tu_finish(const char *suite) {
    printf("%s: %d passed, %d failed\n", suite, n_pass, n_fail);
    return n_fail ? 1 : 0;
}
