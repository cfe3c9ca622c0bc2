/* GEMM dispatch: one entry point for batched, strided, row-major SGEMM (climp_gemm in
 * climp_runtime.h) over three backends:
 *   HOSTBLAS  OpenBLAS cblas_sgemm on mapped buffers (CPU devices with host-unified memory, where
 *             mapping returns the buffer's own memory: zero copy),
 *   CLBLAST   CLBlastSgemm / CLBlastSgemmStridedBatched on the context's queue,
 *   TILED     the project's kernels in cl_kernels/gemm.cl: gemm_fwd (local-memory tiles, GPUs),
 *             gemm_fwd_small (skinny shapes), gemm_fwd_vec (explicit vectors, packed panels, CPUs),
 *             gemm_fwd_swi (one work-item, the FPGA variant).
 * The backend per device comes from k_backend_rules, the kernel and tile sizes per device and
 * shape from k_tiled_rules: tables, not vendor ifs. The tuning table (runtime/tune.c, written by
 * `climp tune`) overrides both per shape class: "gemm.backend@<class>" (a climp_gemm_backend) and
 * "gemm.tiled.kernel@<class>" / "gemm.tiled.<param>@<class>" (the kernel ids and parameter names
 * below); $CLIMP_GEMM and $CLIMP_GEMM_TILED_TYPE override the table. Reference semantics:
 * runtime/gemm_ref.c. */
#define _POSIX_C_SOURCE 200809L
#include "runtime/rt_internal.h"

#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef CLIMP_HAVE_CBLAS
#include <cblas.h>
#endif
#ifdef CLIMP_HAVE_CLBLAST
#include <clblast_c.h>
#endif

/* Per-context state behind ctx->gemm_state. */
typedef struct gemm_state {
    int fma;          /* the device has a hardware fma (CL_FP_FMA): kernels use fma(), else mad() */
    int clblast_used; /* CLBlast compiled kernels for this context: clear its cache at close */
    int env_warned;   /* $CLIMP_GEMM named something unusable: warned once */
    int tune_warned;  /* the tuning table held unusable GEMM values: warned once */
} gemm_state;

static gemm_state *state_of(climp_ctx *ctx) {
    pthread_mutex_lock(&ctx->lock);
    if (!ctx->gemm_state) {
        gemm_state *st = calloc(1, sizeof(gemm_state));
        cl_device_fp_config fp = 0;
        if (st && clGetDeviceInfo(ctx->device, CL_DEVICE_SINGLE_FP_CONFIG, sizeof fp, &fp, NULL) ==
                      CL_SUCCESS)
            st->fma = (fp & CL_FP_FMA) != 0;
        ctx->gemm_state = st;
    }
    gemm_state *st = ctx->gemm_state;
    pthread_mutex_unlock(&ctx->lock);
    return st;
}

void rt_gemm_release(climp_ctx *ctx) {
    if (!ctx || !ctx->gemm_state) return;
    gemm_state *st = ctx->gemm_state;
#ifdef CLIMP_HAVE_CLBLAST
    /* CLBlast's program cache holds programs (and so the context) of every context it served;
     * clearing it lets the context go. Other contexts recompile on their next CLBlast call. */
    if (st->clblast_used) CLBlastClearCache();
#endif
    free(st);
    ctx->gemm_state = NULL;
}

/* ---------------------------------------------------------------- names and availability */
static const char *const k_backend_names[] = {"auto", "hostblas", "clblast", "tiled"};

const char *climp_gemm_backend_name(climp_gemm_backend be) {
    if ((int)be < 0 || (int)be > (int)CLIMP_GEMM_TILED) return "invalid";
    return k_backend_names[be];
}

int climp_gemm_backend_available(climp_ctx *ctx, climp_gemm_backend be) {
    if (!ctx) return 0;
    switch (be) {
    case CLIMP_GEMM_HOSTBLAS:
#ifdef CLIMP_HAVE_CBLAS
        return ctx->info.is_cpu && ctx->info.host_unified_memory;
#else
        return 0;
#endif
    case CLIMP_GEMM_CLBLAST:
#ifdef CLIMP_HAVE_CLBLAST
        /* CLBlast compiles OpenCL source at run time: not in binary-only mode. */
        return ctx->info.compiler_available && !ctx->binary_only;
#else
        return 0;
#endif
    case CLIMP_GEMM_TILED: return 1;
    default: return 0;
    }
}

/* ---------------------------------------------------------------- backend choice */
/* First matching row wins; within a row the first available backend wins. */
typedef struct backend_rule {
    const char *type; /* climp_device_info.type, or NULL for any */
    int fpga;         /* 1: only for the fpga kernel variant, 0: only ndrange, -1: either */
    int unified;      /* 1: only with host-unified memory, -1: either */
    climp_gemm_backend pref[3];
} backend_rule;

static const backend_rule k_backend_rules[] = {
    {NULL, 1, -1, {CLIMP_GEMM_TILED}},                    /* FPGA: gemm_fwd_swi */
    {"CPU", 0, 1, {CLIMP_GEMM_HOSTBLAS, CLIMP_GEMM_TILED}}, /* PoCL & co: zero-copy BLAS */
    {"GPU", 0, -1, {CLIMP_GEMM_CLBLAST, CLIMP_GEMM_TILED}},
    {"ACCELERATOR", -1, -1, {CLIMP_GEMM_TILED}},
    {NULL, -1, -1, {CLIMP_GEMM_TILED}},
};

static climp_gemm_backend from_env(climp_ctx *ctx) {
    const char *e = getenv("CLIMP_GEMM");
    if (!e || !*e) return CLIMP_GEMM_AUTO;
    for (int be = CLIMP_GEMM_HOSTBLAS; be <= CLIMP_GEMM_TILED; be++) {
        if (strcmp(e, k_backend_names[be])) continue;
        if (climp_gemm_backend_available(ctx, (climp_gemm_backend)be)) return (climp_gemm_backend)be;
        break;
    }
    gemm_state *st = state_of(ctx);
    if (st && !st->env_warned) {
        st->env_warned = 1;
        climp_log(CLIMP_LOG_WARN, "CLIMP_GEMM=%s is unknown or not available on %s: ignored", e,
                  ctx->info.name);
    }
    return CLIMP_GEMM_AUTO;
}

const char *climp_gemm_tune_class(const climp_gemm_desc *d) {
    static const char *const names[] = {"S", "M", "L", "St", "Mt", "Lt"};
    if (!d) return "S";
    double mnk = (double)d->M * (double)d->N * (double)d->K;
    int c = mnk < (double)(1 << 24) ? 0 : mnk < (double)(1 << 28) ? 1 : 2;
    return names[c + (d->trans_a ? 3 : 0)];
}

static void tune_warn(climp_ctx *ctx, const char *what, int value) {
    gemm_state *st = state_of(ctx);
    if (st && !st->tune_warned) {
        st->tune_warned = 1;
        climp_log(CLIMP_LOG_WARN, "tuning table (%s): %s = %d is not usable on %s; ignored",
                  climp_tune_path(), what, value, ctx->info.name);
    }
}

climp_gemm_backend climp_gemm_choose(climp_ctx *ctx, const climp_gemm_desc *d) {
    if (!ctx) return CLIMP_GEMM_TILED;
    climp_gemm_backend be = from_env(ctx);
    if (be != CLIMP_GEMM_AUTO) return be;
    if (!ctx->fpga_variant) {
        char key[64];
        snprintf(key, sizeof key, "gemm.backend@%s", climp_gemm_tune_class(d));
        int t = climp_tune_int(ctx, key, CLIMP_GEMM_AUTO);
        if (t >= CLIMP_GEMM_HOSTBLAS && t <= CLIMP_GEMM_TILED &&
            climp_gemm_backend_available(ctx, (climp_gemm_backend)t))
            return (climp_gemm_backend)t;
        if (t != CLIMP_GEMM_AUTO) tune_warn(ctx, key, t);
    }
    for (size_t r = 0; r < sizeof(k_backend_rules) / sizeof(k_backend_rules[0]); r++) {
        const backend_rule *rule = &k_backend_rules[r];
        if (rule->type && strcmp(rule->type, ctx->info.type)) continue;
        if (rule->fpga >= 0 && rule->fpga != ctx->fpga_variant) continue;
        if (rule->unified >= 0 && rule->unified != !!ctx->info.host_unified_memory) continue;
        for (int i = 0; i < 3 && rule->pref[i] != CLIMP_GEMM_AUTO; i++)
            if (climp_gemm_backend_available(ctx, rule->pref[i])) return rule->pref[i];
    }
    return CLIMP_GEMM_TILED;
}

/* ---------------------------------------------------------------- validation */
/* Floats one stored matrix spans from its first element: (batch-1)*stride + (rows-1)*ld + cols.
 * Returns 0 on size_t overflow. */
static size_t span(size_t rows, size_t cols, size_t ld, size_t batch, size_t stride) {
    size_t s = cols;
    if (rows > 1) {
        if (ld > (SIZE_MAX - s) / (rows - 1)) return 0;
        s += (rows - 1) * ld;
    }
    if (batch > 1) {
        if (stride > (SIZE_MAX - s) / (batch - 1)) return 0;
        s += (batch - 1) * stride;
    }
    return s;
}

static climp_status check_view(const char *name, climp_tview v, int rows, int cols, int ld,
                               int batch, size_t stride) {
    if (!v.buf) {
        climp_error_set("gemm: %s has no buffer", name);
        return CLIMP_ERR_INVALID_ARG;
    }
    if (ld < cols) {
        climp_error_set("gemm: ld%s = %d is less than the stored row length %d", name, ld, cols);
        return CLIMP_ERR_SHAPE;
    }
    size_t need = span((size_t)rows, (size_t)cols, (size_t)ld, (size_t)batch, stride);
    size_t have_buf = v.buf->bytes / sizeof(float);
    if (!need || v.n < need || v.off > have_buf || v.n > have_buf - v.off) {
        climp_error_set("gemm: view %s holds %zu floats at offset %zu (buffer '%s', %zu floats); "
                        "the shape needs %zu",
                        name, v.n, v.off, v.buf->name, have_buf, need);
        return CLIMP_ERR_BUFFER_TOO_SMALL;
    }
    return CLIMP_OK;
}

static climp_status validate(climp_ctx *ctx, const climp_gemm_desc *d, climp_tview A,
                             climp_tview B, climp_tview C) {
    if (!ctx || !d) return CLIMP_ERR_INVALID_ARG;
    if ((d->trans_a != 0 && d->trans_a != 1) || (d->trans_b != 0 && d->trans_b != 1)) {
        climp_error_set("gemm: trans_a = %d, trans_b = %d (expected 0 or 1)", d->trans_a,
                        d->trans_b);
        return CLIMP_ERR_INVALID_ARG;
    }
    if (d->M <= 0 || d->N <= 0 || d->K <= 0 || d->batch < 1) {
        climp_error_set("gemm: M=%d N=%d K=%d batch=%d (all must be positive)", d->M, d->N,
                        d->K, d->batch);
        return CLIMP_ERR_SHAPE;
    }
    if (d->batch > 1 && d->stride_c == 0) {
        climp_error_set("gemm: batch %d writes every C to the same place (stride_c = 0)",
                        d->batch);
        return CLIMP_ERR_INVALID_ARG;
    }
    CLIMP_TRY(check_view("A", A, d->trans_a ? d->K : d->M, d->trans_a ? d->M : d->K, d->lda,
                         d->batch, d->stride_a));
    CLIMP_TRY(check_view("B", B, d->trans_b ? d->N : d->K, d->trans_b ? d->K : d->N, d->ldb,
                         d->batch, d->stride_b));
    CLIMP_TRY(check_view("C", C, d->M, d->N, d->ldc, d->batch, d->stride_c));
    if (A.buf->ctx != ctx || B.buf->ctx != ctx || C.buf->ctx != ctx) {
        climp_error_set("gemm: a buffer belongs to another context");
        return CLIMP_ERR_INVALID_ARG;
    }
    return CLIMP_OK;
}

/* ---------------------------------------------------------------- HOSTBLAS */
#ifdef CLIMP_HAVE_CBLAS
static climp_status gemm_hostblas(climp_ctx *ctx, const climp_gemm_desc *d, climp_tview A,
                                  climp_tview B, climp_tview C) {
    climp_hostmap m = {0};
    CLIMP_TRY(climp_hostmap_add(&m, A,
                                span(d->trans_a ? d->K : d->M, d->trans_a ? d->M : d->K, d->lda,
                                     d->batch, d->stride_a), 0));
    CLIMP_TRY(climp_hostmap_add(&m, B,
                                span(d->trans_b ? d->N : d->K, d->trans_b ? d->K : d->N, d->ldb,
                                     d->batch, d->stride_b), 0));
    CLIMP_TRY(climp_hostmap_add(&m, C, span(d->M, d->N, d->ldc, d->batch, d->stride_c), 1));
    climp_status s = climp_hostmap_map(ctx, &m, "gemm hostblas");
    if (s == CLIMP_OK) {
        const float *a = climp_hostmap_ptr(&m, A), *b = climp_hostmap_ptr(&m, B);
        float *c = climp_hostmap_ptr(&m, C);
        double t0 = ctx->profile ? climp_now_seconds() : 0;
        for (int i = 0; i < d->batch; i++)
            cblas_sgemm(CblasRowMajor, d->trans_a ? CblasTrans : CblasNoTrans,
                        d->trans_b ? CblasTrans : CblasNoTrans, d->M, d->N, d->K, d->alpha,
                        a + (size_t)i * d->stride_a, d->lda, b + (size_t)i * d->stride_b, d->ldb,
                        d->beta, c + (size_t)i * d->stride_c, d->ldc);
        if (ctx->profile) rt_prof_add(ctx, "gemm_hostblas", climp_now_seconds() - t0);
    }
    const climp_status su = climp_hostmap_unmap(ctx, &m);
    return s ? s : su;
}
#endif

/* ---------------------------------------------------------------- CLBLAST */
#ifdef CLIMP_HAVE_CLBLAST
static const char *clblast_status_name(CLBlastStatusCode st) {
    switch (st) {
    case CLBlastNotImplemented: return "CLBlastNotImplemented";
    case CLBlastInvalidMatrixA: return "CLBlastInvalidMatrixA";
    case CLBlastInvalidMatrixB: return "CLBlastInvalidMatrixB";
    case CLBlastInvalidMatrixC: return "CLBlastInvalidMatrixC";
    case CLBlastInvalidDimension: return "CLBlastInvalidDimension";
    case CLBlastInvalidLeadDimA: return "CLBlastInvalidLeadDimA";
    case CLBlastInvalidLeadDimB: return "CLBlastInvalidLeadDimB";
    case CLBlastInvalidLeadDimC: return "CLBlastInvalidLeadDimC";
    case CLBlastInsufficientMemoryA: return "CLBlastInsufficientMemoryA";
    case CLBlastInsufficientMemoryB: return "CLBlastInsufficientMemoryB";
    case CLBlastInsufficientMemoryC: return "CLBlastInsufficientMemoryC";
    case CLBlastInvalidBatchCount: return "CLBlastInvalidBatchCount";
    case CLBlastInvalidLocalMemUsage: return "CLBlastInvalidLocalMemUsage";
    default: return "another CLBlast status";
    }
}

static climp_status gemm_tiled(climp_ctx *ctx, const climp_gemm_desc *d, climp_tview A,
                               climp_tview B, climp_tview C);

static climp_status gemm_clblast(climp_ctx *ctx, const climp_gemm_desc *d, climp_tview A,
                                 climp_tview B, climp_tview C) {
    gemm_state *st = state_of(ctx);
    if (!st) return CLIMP_ERR_HOST_OOM;
    /* CLBlast computes alpha * (A B) even for alpha == 0 (NaN or Inf in A or B would show);
     * our semantics say A and B are not read then: C = beta * C is the project's kernel. */
    if (d->alpha == 0.0f) return gemm_tiled(ctx, d, A, B, C);
    st->clblast_used = 1;
    cl_command_queue q = ctx->queue;
    const CLBlastTranspose ta = d->trans_a ? CLBlastTransposeYes : CLBlastTransposeNo;
    const CLBlastTranspose tb = d->trans_b ? CLBlastTransposeYes : CLBlastTransposeNo;
    CLBlastStatusCode rc;
    if (d->batch == 1)
        rc = CLBlastSgemm(CLBlastLayoutRowMajor, ta, tb, (size_t)d->M, (size_t)d->N,
                          (size_t)d->K, d->alpha, A.buf->mem, A.off, (size_t)d->lda, B.buf->mem,
                          B.off, (size_t)d->ldb, d->beta, C.buf->mem, C.off, (size_t)d->ldc, &q,
                          NULL);
    else
        rc = CLBlastSgemmStridedBatched(
            CLBlastLayoutRowMajor, ta, tb, (size_t)d->M, (size_t)d->N, (size_t)d->K, d->alpha,
            A.buf->mem, A.off, (size_t)d->lda, d->stride_a, B.buf->mem, B.off, (size_t)d->ldb,
            d->stride_b, d->beta, C.buf->mem, C.off, (size_t)d->ldc, d->stride_c,
            (size_t)d->batch, &q, NULL);
    if (rc == CLBlastSuccess) return CLIMP_OK;
    if (rc < 0 && rc > -1000) return rt_cl((cl_int)rc, "CLBlast SGEMM");
    climp_error_set("CLBlast SGEMM failed: %s (M=%d N=%d K=%d batch=%d)", clblast_status_name(rc),
                    d->M, d->N, d->K, d->batch);
    return CLIMP_ERR_UNSUPPORTED;
}
#endif

/* ---------------------------------------------------------------- TILED */
/* Kernels of cl_kernels/gemm.cl; the id is its GEMM_KERNEL value (only that kernel is built). */
enum { K_FWD = 1, K_SMALL = 2, K_VEC = 3, K_SWI = 4 };
static const char *const k_kernel_names[] = {"", "gemm_fwd", "gemm_fwd_small", "gemm_fwd_vec",
                                             "gemm_fwd_swi"};

/* Kernel and tunables per device type, transpose and shape: the first row that matches wins.
 * p[] by kernel: gemm_fwd {TSM, TSN, TSK, WPTM, WPTN}; gemm_fwd_small {WPTM, WPTN, LSN};
 * gemm_fwd_vec {VW, MR, NV, RB, KC}. CLIMP_GEMM_TIMING=1 tests/test_gemm prints GFLOP/s. */
typedef struct tiled_rule {
    const char *type; /* device type, or NULL for any */
    int trans_a;      /* -1 any, else only for this trans_a */
    int min_mn;       /* smallest min(M, N) the row is for */
    int kernel;
    int p[5];
} tiled_rule;

static const tiled_rule k_tiled_rules[] = {
    /* PoCL and other CPUs: explicit vectors, packed panels, 6 x 16 register blocks; 8 or 16 of
     * them share a panel of op(B) unless M is small. Measured on PoCL 3.1 / 2-core EPYC. */
    {"CPU", 1, 96, K_VEC, {8, 6, 2, 16, 64}}, /* A^T is packed too: more rows, shallower */
    {"CPU", -1, 48, K_VEC, {8, 6, 2, 8, 128}},
    {"CPU", -1, 1, K_VEC, {8, 6, 2, 1, 128}},
    /* GPUs and the rest: local-memory tiles, 16 x 16 work-items with 8 x 8 (large shapes) or
     * 4 x 4 register blocks; skinny shapes go straight from global memory. */
    {NULL, -1, 128, K_FWD, {128, 128, 16, 8, 8}},
    {NULL, -1, 32, K_FWD, {64, 64, 16, 4, 4}},
    {NULL, -1, 1, K_SMALL, {2, 2, 16}},
};

/* Tuning-table names of each kernel's parameters, in p[] order. */
static const char *const k_param_names[][5] = {
    {0}, {"tsm", "tsn", "tsk", "wptm", "wptn"}, {"wptm", "wptn", "lsn"}, {"vw", "mr", "nv", "rb", "kc"},
};

/* A kernel and its parameters, as launched. */
typedef struct tiled_cfg {
    int kernel;
    int p[5];
} tiled_cfg;

static int in(int v, int lo, int hi) { return v >= lo && v <= hi; }

/* Whether the kernel compiles and launches with these parameters on this device. */
static int cfg_ok(const climp_ctx *ctx, const tiled_cfg *c) {
    const int *p = c->p;
    switch (c->kernel) {
    case K_FWD: {
        if (!in(p[0], 1, 256) || !in(p[1], 1, 256) || !in(p[2], 1, 64) || !in(p[3], 1, 16) ||
            !in(p[4], 1, 16) || p[0] % p[3] || p[1] % p[4])
            return 0;
        size_t wg = (size_t)(p[0] / p[3]) * (size_t)(p[1] / p[4]);
        size_t lmem = (size_t)p[2] * (size_t)(p[0] + p[1] + 2) * sizeof(float);
        return wg <= ctx->info.max_work_group_size && lmem <= ctx->info.local_mem_bytes;
    }
    case K_SMALL:
        return in(p[0], 1, 16) && in(p[1], 1, 16) && p[0] * p[1] <= 64 && p[2] >= 1 &&
               (size_t)p[2] <= ctx->info.max_work_group_size;
    case K_VEC: {
        if ((p[0] != 2 && p[0] != 4 && p[0] != 8 && p[0] != 16) || !in(p[1], 1, 16) ||
            !in(p[2], 1, 4) || !in(p[3], 1, 32) || !in(p[4], 1, 1024))
            return 0;
        /* private floats: packed op(B), packed op(A) (transposed A only), partial sums */
        long cb = (long)p[0] * p[2], rbm = (long)p[3] * p[1];
        return (long)p[4] * (cb + rbm) + rbm * cb <= 16384;
    }
    default: return 0;
    }
}

/* The rule's kernel and parameters, then the tuning table's values for this shape class.
 * $CLIMP_GEMM_TILED_TYPE=GPU|CPU|... looks rows up as if the device were of that type (tests run
 * the GPU kernels on PoCL this way) and then ignores the tuning table. *usable (may be NULL) is 0
 * when the table names tiles this device cannot run (the rule's are used then), else 1. */
static tiled_cfg tiled_resolve(climp_ctx *ctx, const climp_gemm_desc *d, int *usable) {
    const char *env = getenv("CLIMP_GEMM_TILED_TYPE");
    const char *type = env && *env ? env : ctx->info.type;
    int mn = d->M < d->N ? d->M : d->N;
    size_t n = sizeof(k_tiled_rules) / sizeof(k_tiled_rules[0]);
    const tiled_rule *t = &k_tiled_rules[n - 1];
    for (size_t r = 0; r < n; r++) {
        const tiled_rule *c = &k_tiled_rules[r];
        if (c->type && strcmp(c->type, type)) continue;
        if ((c->trans_a >= 0 && c->trans_a != d->trans_a) || mn < c->min_mn) continue;
        tiled_cfg cfg = {c->kernel, {c->p[0], c->p[1], c->p[2], c->p[3], c->p[4]}};
        if (!cfg_ok(ctx, &cfg)) continue;
        t = c;
        break;
    }
    tiled_cfg rule = {t->kernel, {t->p[0], t->p[1], t->p[2], t->p[3], t->p[4]}};
    if (usable) *usable = 1;
    if (env && *env) return rule;
    const char *cls = climp_gemm_tune_class(d);
    char key[64];
    snprintf(key, sizeof key, "gemm.tiled.kernel@%s", cls);
    tiled_cfg cfg = rule;
    cfg.kernel = climp_tune_int(ctx, key, rule.kernel);
    if (cfg.kernel != rule.kernel) { /* start from the last (most general) row of that kernel */
        for (size_t r = 0; r < n; r++)
            if (k_tiled_rules[r].kernel == cfg.kernel)
                memcpy(cfg.p, k_tiled_rules[r].p, sizeof cfg.p);
    }
    if (!in(cfg.kernel, K_FWD, K_VEC)) {
        if (usable) *usable = 0;
        else tune_warn(ctx, key, cfg.kernel);
        return rule;
    }
    for (int i = 0; i < 5 && k_param_names[cfg.kernel][i]; i++) {
        snprintf(key, sizeof key, "gemm.tiled.%s@%s", k_param_names[cfg.kernel][i], cls);
        cfg.p[i] = climp_tune_int(ctx, key, cfg.p[i]);
    }
    if (cfg_ok(ctx, &cfg)) return cfg;
    if (usable) *usable = 0;
    else tune_warn(ctx, "gemm.tiled parameters", cfg.p[0]);
    return rule;
}

static tiled_cfg tiled_pick(climp_ctx *ctx, const climp_gemm_desc *d) {
    return tiled_resolve(ctx, d, NULL);
}

int climp_gemm_tiled_tuning_usable(climp_ctx *ctx, const climp_gemm_desc *d) {
    int usable = 1;
    if (ctx && d) tiled_resolve(ctx, d, &usable);
    return usable;
}

/* The kernels index inside one matrix with int: each stored matrix must span < 2^31 floats. */
static int fits_int(const climp_gemm_desc *d) {
    size_t sa = span(d->trans_a ? d->K : d->M, d->trans_a ? d->M : d->K, d->lda, 1, 0);
    size_t sb = span(d->trans_b ? d->N : d->K, d->trans_b ? d->K : d->N, d->ldb, 1, 0);
    size_t sc = span(d->M, d->N, d->ldc, 1, 0);
    return sa && sb && sc && sa <= INT_MAX && sb <= INT_MAX && sc <= INT_MAX;
}

static size_t ceil_div(int a, int b) { return (size_t)((a + b - 1) / b); }

static climp_status gemm_tiled(climp_ctx *ctx, const climp_gemm_desc *d, climp_tview A,
                               climp_tview B, climp_tview C) {
    if (!fits_int(d)) {
        climp_error_set("gemm tiled: a matrix spans 2^31 floats or more (M=%d N=%d K=%d)", d->M,
                        d->N, d->K);
        return CLIMP_ERR_UNSUPPORTED;
    }
    gemm_state *st = state_of(ctx);
    if (!st) return CLIMP_ERR_HOST_OOM;
    tiled_cfg cfg = {K_SWI, {0}};
    char defs[200];
    size_t gws[3] = {1, 1, (size_t)d->batch}, lws[3] = {1, 1, 1};
    if (ctx->fpga_variant) gws[2] = 1;
    else cfg = tiled_pick(ctx, d);
    const int kid = cfg.kernel, *p = cfg.p;
    int n = snprintf(defs, sizeof defs, "GEMM_KERNEL=%d USE_FMA=%d", kid, st->fma);
    /* The CPU kernels are specialised per transpose; the others read ta / tb at run time. */
    if (kid == K_VEC)
        n += snprintf(defs + n, sizeof defs - (size_t)n, " TRANS_A=%d TRANS_B=%d", d->trans_a,
                      d->trans_b);
    switch (kid) {
    case K_FWD:
        snprintf(defs + n, sizeof defs - (size_t)n, " TSM=%d TSN=%d TSK=%d WPTM=%d WPTN=%d", p[0],
                 p[1], p[2], p[3], p[4]);
        lws[0] = (size_t)(p[1] / p[4]), lws[1] = (size_t)(p[0] / p[3]);
        gws[0] = ceil_div(d->N, p[1]) * lws[0], gws[1] = ceil_div(d->M, p[0]) * lws[1];
        break;
    case K_SMALL:
        snprintf(defs + n, sizeof defs - (size_t)n, " WPTM=%d WPTN=%d LSN=%d", p[0], p[1], p[2]);
        lws[0] = (size_t)p[2];
        gws[0] = ceil_div(d->N, p[2] * p[1]) * lws[0], gws[1] = ceil_div(d->M, p[0]);
        break;
    case K_VEC:
        snprintf(defs + n, sizeof defs - (size_t)n, " VW=%d MR=%d NV=%d RB=%d KC=%d", p[0], p[1],
                 p[2], p[3], p[4]);
        gws[0] = ceil_div(d->N, p[0] * p[2]), gws[1] = ceil_div(d->M, p[1] * p[3]);
        break;
    default: break;
    }
    climp_kernel *k = NULL;
    CLIMP_TRY(climp_kernel_get(ctx, "gemm", defs, k_kernel_names[kid], &k));
    climp_karg args[] = {
        climp_arg_i32(d->M),       climp_arg_i32(d->N),        climp_arg_i32(d->K),
        climp_arg_f32(d->alpha),   climp_arg_f32(d->beta),     climp_arg_view(A),
        climp_arg_i32(d->lda),     climp_arg_u64(d->stride_a), climp_arg_view(B),
        climp_arg_i32(d->ldb),     climp_arg_u64(d->stride_b), climp_arg_view(C),
        climp_arg_i32(d->ldc),     climp_arg_u64(d->stride_c), climp_arg_i32(d->trans_a),
        climp_arg_i32(d->trans_b), climp_arg_i32(d->batch),
    };
    return climp_launch(ctx, k, 3, gws, lws, (int)(sizeof(args) / sizeof(args[0])), args);
}

/* ---------------------------------------------------------------- entry points */
climp_status climp_gemm_with(climp_ctx *ctx, climp_gemm_backend be, const climp_gemm_desc *d,
                             climp_tview A, climp_tview B, climp_tview C) {
    if ((int)be < (int)CLIMP_GEMM_AUTO || (int)be > (int)CLIMP_GEMM_TILED) {
        climp_error_set("gemm: backend %d is not a climp_gemm_backend", (int)be);
        return CLIMP_ERR_INVALID_ARG;
    }
    CLIMP_TRY(validate(ctx, d, A, B, C));
    if (be == CLIMP_GEMM_AUTO) be = climp_gemm_choose(ctx, d);
    if (!climp_gemm_backend_available(ctx, be)) {
        climp_error_set("gemm backend %s is not available on %s", climp_gemm_backend_name(be),
                        ctx->info.name);
        return CLIMP_ERR_UNSUPPORTED;
    }
    switch (be) {
#ifdef CLIMP_HAVE_CBLAS
    case CLIMP_GEMM_HOSTBLAS: return gemm_hostblas(ctx, d, A, B, C);
#endif
#ifdef CLIMP_HAVE_CLBLAST
    case CLIMP_GEMM_CLBLAST: return gemm_clblast(ctx, d, A, B, C);
#endif
    default: return gemm_tiled(ctx, d, A, B, C);
    }
}

climp_status climp_gemm(climp_ctx *ctx, const climp_gemm_desc *d, climp_tview A, climp_tview B,
                        climp_tview C) {
    return climp_gemm_with(ctx, CLIMP_GEMM_AUTO, d, A, B, C);
}
