/* `climp bench kernels`: every op family at the models' real shapes through the public launchers
 * (the model/ headers and climp_gemm_with): the selective scan forward and backward (Mamba-130m,
 * Mamba-1.4B, VMamba-T/B stages; short and long L), GEMM on every available backend, convolutions,
 * norms, the InfoNCE loss, AdamW, SiLU and the cross-scan. Per case: time statistics, FLOPs and
 * bytes counted analytically (docs/bench.md lists each formula), GFLOP/s, GB/s, arithmetic
 * intensity, % of the measured peaks and of the roofline bound, the kernels one call launches (one
 * profiled call), and the time of the op's plain-C reference on the same inputs with the speed-up
 * over it (trainer/bench_ref.c). Inputs are seeded random data; results are not checked here (the
 * op tests do that). */
#define _POSIX_C_SOURCE 200809L
#include "trainer/bench.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/conv.h"
#include "model/crossscan.h"
#include "model/eltwise.h"
#include "model/embed_loss.h"
#include "model/norm.h"
#include "model/optim.h"
#include "model/scan.h"

/* ------------------------------------------------------------------ buffers */
#define KB_MAX_BUFS 24
typedef struct kbufs {
    climp_ctx *ctx;
    climp_buffer *b[KB_MAX_BUFS];
    int n;
    uint64_t seed;
} kbufs;

/* A buffer of n floats filled with U(lo, hi) (or zeros when lo == hi == 0). */
static climp_status kb_new(kbufs *k, size_t n, float lo, float hi, climp_tview *out) {
    if (k->n == KB_MAX_BUFS) return CLIMP_ERR_INVALID_ARG;
    climp_buffer *buf = NULL;
    char name[32];
    snprintf(name, sizeof(name), "bench.%d", k->n);
    CLIMP_TRY(climp_buffer_create(k->ctx, name, (n ? n : 1) * sizeof(float), &buf));
    k->b[k->n++] = buf;
    *out = climp_view_sub(climp_buffer_view(buf), 0, n);
    if (lo == 0 && hi == 0) return climp_buffer_fill_zero(k->ctx, buf, 0, (n ? n : 1) * 4);
    float *h = malloc((n ? n : 1) * sizeof(float));
    if (!h) return CLIMP_ERR_HOST_OOM;
    for (size_t i = 0; i < n; i++) {
        k->seed = k->seed * 6364136223846793005ull + 1442695040888963407ull;
        h[i] = lo + (hi - lo) * (float)((k->seed >> 40) * (1.0 / 16777216.0));
    }
    climp_status s = climp_buffer_write(k->ctx, buf, 0, n * sizeof(float), h);
    free(h);
    return s;
}

static void kb_free(kbufs *k) {
    for (int i = 0; i < k->n; i++) climp_buffer_destroy(k->b[i]);
    k->n = 0;
}

/* ------------------------------------------------------------------ reporting */
static int wanted(const climp_bench *b, const char *name, const char *model, const char *shape) {
    const char *f = b->opt.filter;
    return !f || strstr(name, f) || strstr(model, f) || strstr(shape, f);
}

/* Memory-bound cases, paired with the bandwidth of the moment: opt.reps pairs of one call of the
 * case and the fastest of three STREAM triads (climp_bench_triad_now), each pair giving the
 * case's GB/s over the triads'; the median of those ratios (in %) is *pct. On a machine whose
 * bandwidth drifts between runs (a shared host), it says how close to the memory the case runs
 * whatever the phase, where % of the calibrated peak (the best triad ever measured) moves with
 * it. JSON "bw_paired". */
static climp_status bw_paired(climp_bench *b, climp_bench_fn fn, void *user, double bytes,
                              cJSON *o, double *pct) {
    climp_bench_stats r, g;
    memset(&r, 0, sizeof r), memset(&g, 0, sizeof g);
    r.n = g.n = b->opt.reps < 64 ? (b->opt.reps > 0 ? b->opt.reps : 1) : 64;
    for (int i = 0; i < r.n; i++) {
        const double t0 = climp_now_seconds();
        CLIMP_TRY(fn(user));
        CLIMP_TRY(climp_finish(b->ctx));
        const double t = climp_now_seconds() - t0;
        double gbps = 0; /* the fastest of three triads: the bandwidth of the moment */
        for (int q = 0; q < 3; q++) {
            double g1;
            CLIMP_TRY(climp_bench_triad_now(b, &g1));
            if (g1 > gbps) gbps = g1;
        }
        g.samples[i] = gbps;
        r.samples[i] = 100 * bytes / t / (gbps * 1e9);
    }
    climp_bench_stats_finish(&r);
    climp_bench_stats_finish(&g);
    cJSON *p = cJSON_AddObjectToObject(o, "bw_paired");
    climp_json_num(p, "pairs", r.n);
    climp_json_num(p, "pct_of_triad_median", r.median);
    climp_json_num(p, "pct_of_triad_min", r.min);
    climp_json_num(p, "pct_of_triad_max", r.max);
    climp_json_num(p, "triad_gbps_median", g.median);
    climp_json_num(p, "triad_gbps_min", g.min);
    climp_json_num(p, "triad_gbps_max", g.max);
    *pct = r.median;
    return CLIMP_OK;
}

/* Measure one case and append its record. */
static void run_case(climp_bench *b, const char *name, const char *model, const char *shape,
                     const char *variant, double flops, double bytes, climp_bench_fn fn,
                     void *user, const climp_bench_ref_case *ref) {
    char item[320];
    snprintf(item, sizeof(item), "%s %s %s [%s]", name, model, shape, variant);
    climp_bench_stats st;
    climp_status s = climp_bench_measure(b, fn, user, 1, &st);
    cJSON *rows = NULL;
    double ev = 0, wall = 0;
    if (!s) s = climp_bench_profile_once(b, fn, user, &rows, &ev, &wall);
    if (s) {
        climp_bench_error(b, "kernels", item, s, 0);
        return;
    }
    const double pf = b->peaks.gflops * 1e9, pb = b->peaks.gbps * 1e9, t = st.median;
    const double ai = bytes > 0 ? flops / bytes : NAN;
    const double bound_s = fmax(flops / pf, bytes / pb);
    cJSON *o = cJSON_CreateObject();
    char key[320];
    snprintf(key, sizeof(key), "%s %s %s", name, model, shape);
    climp_json_str(o, "key", key);
    climp_json_str(o, "name", name);
    climp_json_str(o, "model", model);
    climp_json_str(o, "shape", shape);
    climp_json_str(o, "variant", variant);
    cJSON_AddItemToObject(o, "time", climp_bench_stats_json(&st));
    climp_json_num(o, "flops", flops);
    climp_json_num(o, "bytes", bytes);
    climp_json_num(o, "intensity", ai);
    climp_json_num(o, "gflops", flops / t / 1e9);
    climp_json_num(o, "gbps", bytes / t / 1e9);
    climp_json_num(o, "pct_peak_flops", 100 * flops / t / pf);
    climp_json_num(o, "pct_peak_bw", 100 * bytes / t / pb);
    climp_json_num(o, "roofline_gflops", flops > 0 ? fmin(pf, ai * pb) / 1e9 : NAN);
    climp_json_num(o, "pct_of_roofline", 100 * bound_s / t);
    climp_json_str(o, "bound", flops / pf >= bytes / pb ? "compute" : "memory");
    climp_json_num(o, "event_seconds", ev);
    climp_json_num(o, "profiled_wall_seconds", wall);
    cJSON_AddItemToObject(o, "launches", rows);
    /* Paired with the triad only where the comparison means something: a memory-bound case whose
     * bytes exceed the device's cache and whose single call is long next to a launch (every
     * memory-bound case with --quick, so that the tests run it). */
    const double cache = (double)climp_ctx_info(b->ctx)->global_mem_cache_bytes;
    const int pair = bytes > 0 && bytes / pb >= flops / pf &&
                     (b->opt.quick || (t >= 1e-3 && bytes > cache));
    double now = NAN;
    if (pair && (s = bw_paired(b, fn, user, bytes, o, &now)))
        climp_log(CLIMP_LOG_WARN, "bench: %s: no bandwidth pairing (%s)", item,
                  climp_status_name(s));
    /* The plain-C reference on the same shape and inputs (after the device, so its host copies
     * are the inputs the device used). */
    const double rt = climp_bench_reference(b, name, key, ref, flops, bytes, t, o);
    cJSON_AddItemToArray(b->kernels, o);
    char rms[16] = "-", sp[16] = "-";
    if (isfinite(rt)) {
        snprintf(rms, sizeof(rms), "%.3f", rt * 1e3);
        snprintf(sp, sizeof(sp), "%.2fx", rt / t);
    } else {
        const cJSON *rs = cJSON_GetObjectItem(cJSON_GetObjectItem(o, "reference"), "status");
        if (cJSON_IsString(rs)) snprintf(rms, sizeof(rms), "%.10s", rs->valuestring);
    }
    char nows[16] = "-";
    if (isfinite(now)) snprintf(nows, sizeof(nows), "%.1f%%", now);
    printf("%-16s %-12s %-40s %-14s %10.3f %10s %9s %9.2f %8.2f %7.2f %6.1f%% %8s\n", name,
           model, shape, variant, t * 1e3, rms, sp, flops / t / 1e9, bytes / t / 1e9, ai,
           100 * bound_s / t, nows);
    fflush(stdout);
}

/* ------------------------------------------------------------------ selective scan */
typedef struct scan_case {
    const char *model, *tag;
    int B, L, Dc, N, G, R, z;
} scan_case;

typedef struct scan_run {
    climp_ctx *ctx;
    climp_scan_shape s;
    climp_tview u, dt, A, Bm, Cm, D, bias, z, out, st;
    climp_tview dout, scr, du, ddt, dA, dBm, dCm, dD, dbias, dz;
} scan_run;

static climp_status scan_fwd(void *p) {
    scan_run *r = p;
    return climp_scan_forward(r->ctx, &r->s, r->u, r->dt, r->A, r->Bm, r->Cm, r->D, r->bias, r->z,
                              r->out, r->st);
}

static climp_status scan_bwd(void *p) {
    scan_run *r = p;
    return climp_scan_backward(r->ctx, &r->s, r->u, r->dt, r->A, r->Bm, r->Cm, r->D, r->bias,
                               r->z, r->st, r->dout, r->scr, r->du, r->ddt, r->dA, r->dBm, r->dCm,
                               r->dD, r->dbias, r->dz);
}

static climp_status scan_setup(kbufs *k, const scan_case *c, scan_run *r) {
    memset(r, 0, sizeof(*r));
    r->ctx = k->ctx;
    const int w = c->R + 2 * c->N; /* x_dbl row per (token, group): dt_in | B | C */
    climp_scan_shape *s = &r->s;
    s->B = c->B, s->L = c->L, s->Dc = c->Dc, s->N = c->N, s->G = c->G;
    s->ld_u = s->ld_dt = s->ld_z = s->ld_out = c->Dc;
    s->bc_stride_g = (size_t)w;
    s->bc_stride_l = (size_t)w * c->G;
    s->bc_stride_b = (size_t)w * c->G * c->L;
    const size_t tok = (size_t)c->B * c->L * c->Dc, xd = s->bc_stride_b * c->B + 2 * c->N;
    const size_t bc = climp_scan_bc_extent(s);
    climp_tview xdbl;
    CLIMP_TRY(kb_new(k, tok, -1, 1, &r->u));
    CLIMP_TRY(kb_new(k, tok, -4, -1, &r->dt)); /* softplus(dt + bias) in ~[0.01, 0.3] */
    CLIMP_TRY(kb_new(k, (size_t)c->Dc * c->N, 0, 2.7f, &r->A));
    CLIMP_TRY(kb_new(k, (size_t)c->Dc, 0.5f, 1.5f, &r->D));
    CLIMP_TRY(kb_new(k, (size_t)c->Dc, -1, 0, &r->bias));
    CLIMP_TRY(kb_new(k, xd, -1, 1, &xdbl));
    r->Bm = climp_view_sub(xdbl, (size_t)c->R, bc);
    r->Cm = climp_view_sub(xdbl, (size_t)c->R + c->N, bc);
    if (c->z) CLIMP_TRY(kb_new(k, tok, -1, 1, &r->z));
    CLIMP_TRY(kb_new(k, tok, 0, 0, &r->out));
    CLIMP_TRY(kb_new(k, climp_scan_states_size(s), 0, 0, &r->st));
    return CLIMP_OK;
}

static climp_status scan_setup_bwd(kbufs *k, const scan_case *c, scan_run *r) {
    const size_t tok = (size_t)c->B * c->L * c->Dc, bc = climp_scan_bc_extent(&r->s);
    const size_t xd = r->s.bc_stride_b * c->B + 2 * c->N;
    climp_tview dxdbl;
    CLIMP_TRY(kb_new(k, tok, -1, 1, &r->dout));
    CLIMP_TRY(kb_new(k, climp_scan_bwd_scratch_size(&r->s), 0, 0, &r->scr));
    CLIMP_TRY(kb_new(k, tok, 0, 0, &r->du));
    CLIMP_TRY(kb_new(k, tok, 0, 0, &r->ddt));
    CLIMP_TRY(kb_new(k, (size_t)c->Dc * c->N, 0, 0, &r->dA));
    CLIMP_TRY(kb_new(k, xd, 0, 0, &dxdbl));
    r->dBm = climp_view_sub(dxdbl, (size_t)c->R, bc);
    r->dCm = climp_view_sub(dxdbl, (size_t)c->R + c->N, bc);
    CLIMP_TRY(kb_new(k, (size_t)c->Dc, 0, 0, &r->dD));
    CLIMP_TRY(kb_new(k, (size_t)c->Dc, 0, 0, &r->dbias));
    if (c->z) CLIMP_TRY(kb_new(k, tok, 0, 0, &r->dz));
    return CLIMP_OK;
}

/* The reference's view of a scan case (bench.h: u dt A Bm Cm D bias z out, then the gradients). */
static climp_bench_ref_case scan_ref(const scan_run *r, climp_bench_ref_kind kind) {
    climp_bench_ref_case c;
    memset(&c, 0, sizeof(c));
    c.kind = kind;
    c.shape = &r->s;
    const climp_tview v[CLIMP_BENCH_REF_VIEWS] = {r->u,  r->dt,  r->A,   r->Bm,  r->Cm,  r->D,
                                                  r->bias, r->z, r->out, r->dout, r->du, r->ddt,
                                                  r->dA, r->dBm, r->dCm, r->dD,  r->dbias, r->dz};
    memcpy(c.v, v, sizeof(v));
    return c;
}

static void bench_scan(climp_bench *b) {
    /* Text: B x L captions (short: a batch of 8 captions of 64 tokens; long: one of 2048).
     * Vision: one image at 224, stage 0 (56 x 56 = 3136 positions) and stage 2 (14 x 14). */
    static const scan_case full[] = {
        {"mamba-130m", "short", 8, 64, 1536, 16, 1, 48, 1},
        {"mamba-130m", "long", 1, 2048, 1536, 16, 1, 48, 1},
        {"mamba-1.4b", "short", 8, 64, 4096, 16, 1, 128, 1},
        {"mamba-1.4b", "long", 1, 2048, 4096, 16, 1, 128, 1},
        {"vmamba-t", "stage0@224", 1, 3136, 4 * 192, 1, 4, 6, 0},
        {"vmamba-t", "stage0@224", 8, 3136, 4 * 192, 1, 4, 6, 0},
        {"vmamba-t", "stage2@224", 1, 196, 4 * 768, 1, 4, 24, 0},
        {"vmamba-b", "stage0@224", 1, 3136, 4 * 256, 1, 4, 8, 0},
        {"vmamba-b", "stage2@224", 1, 196, 4 * 1024, 1, 4, 32, 0},
    };
    static const scan_case quick[] = {
        {"tiny-text", "short", 4, 32, 192, 8, 1, 6, 1},
        {"tiny-vision", "stage0@32", 1, 64, 4 * 48, 1, 4, 2, 0},
    };
    const scan_case *cs = b->opt.quick ? quick : full;
    int n = b->opt.quick ? 2 : (int)(sizeof(full) / sizeof(full[0]));
    for (int i = 0; i < n; i++) {
        const scan_case *c = &cs[i];
        char shape[128];
        snprintf(shape, sizeof(shape), "%s B=%d L=%d Dc=%d N=%d G=%d%s", c->tag, c->B, c->L, c->Dc,
                 c->N, c->G, c->z ? " z" : "");
        int want_f = wanted(b, "scan_fwd", c->model, shape);
        int want_b = wanted(b, "scan_bwd", c->model, shape);
        if (!want_f && !want_b) continue;
        kbufs k = {b->ctx, {0}, 0, 1234 + (uint64_t)i};
        scan_run r;
        climp_status s = scan_setup(&k, c, &r);
        const double bld = (double)c->B * c->L * c->Dc, blg = (double)c->B * c->L * c->G;
        const double stf = (double)climp_scan_states_size(&r.s), small = (double)c->Dc * (c->N + 2);
        climp_bench_ref_case ref = scan_ref(&r, CLIMP_BREF_SCAN_FWD);
        if (!s && want_f)
            run_case(b, "scan_fwd", c->model, shape, "auto", bld * (9.0 * c->N + 1 + c->z),
                     4 * (bld * (3 + c->z) + blg * 2 * c->N + small + stf), scan_fwd, &r, &ref);
        if (!s && want_b) {
            /* The backward needs the forward's states. */
            s = scan_setup_bwd(&k, c, &r);
            if (!s) s = scan_fwd(&r);
            ref = scan_ref(&r, CLIMP_BREF_SCAN_BWD);
            if (!s)
                run_case(b, "scan_bwd", c->model, shape, "auto", bld * (25.0 * c->N + 10),
                         4 * (bld * (5 + 2 * c->z) + blg * 4 * c->N + 2 * small + stf), scan_bwd,
                         &r, &ref);
        }
        if (s) climp_bench_error(b, "kernels", shape, s, 0);
        kb_free(&k);
    }
}

/* ------------------------------------------------------------------ GEMM */
typedef struct gemm_case {
    const char *model, *what;
    int M, N, K, ta, tb;
    float beta;
} gemm_case;

typedef struct gemm_run {
    climp_ctx *ctx;
    climp_gemm_backend be;
    climp_gemm_desc d;
    climp_tview A, B, C;
} gemm_run;

static climp_status gemm_call(void *p) {
    gemm_run *r = p;
    return climp_gemm_with(r->ctx, r->be, &r->d, r->A, r->B, r->C);
}

static void bench_gemm(climp_bench *b) {
    /* Linear y = x W^T is {M = tokens, N = out, K = in, trans_b}; its backward dX = dY W and
     * dW += dY^T X. Tokens: 8 captions x 64 (text), one 224 image (vision). */
    static const gemm_case full[] = {
        {"mamba-130m", "in_proj", 512, 3072, 768, 0, 1, 0},
        {"mamba-130m", "in_proj.dX", 512, 768, 3072, 0, 0, 0},
        {"mamba-130m", "in_proj.dW", 3072, 768, 512, 1, 0, 1},
        {"mamba-130m", "x_proj", 512, 80, 1536, 0, 1, 0},
        {"mamba-130m", "dt_proj", 512, 1536, 48, 0, 1, 0},
        {"mamba-130m", "out_proj", 512, 768, 1536, 0, 1, 0},
        {"mamba-1.4b", "in_proj", 512, 8192, 2048, 0, 1, 0},
        {"vmamba-t", "s0.in_proj", 3136, 192, 96, 0, 1, 0},
        {"vmamba-t", "s0.fc1", 3136, 384, 96, 0, 1, 0},
        {"vmamba-t", "s0.fc2", 3136, 96, 384, 0, 1, 0},
        {"vmamba-b", "s2.fc1", 196, 2048, 512, 0, 1, 0},
        {"vmamba-b", "s2.out_proj", 196, 512, 1024, 0, 1, 0},
    };
    static const gemm_case quick[] = {{"tiny-text", "in_proj", 128, 384, 96, 0, 1, 0}};
    const gemm_case *cs = b->opt.quick ? quick : full;
    int n = b->opt.quick ? 1 : (int)(sizeof(full) / sizeof(full[0]));
    for (int i = 0; i < n; i++) {
        const gemm_case *c = &cs[i];
        char shape[128];
        snprintf(shape, sizeof(shape), "%s M=%d N=%d K=%d%s%s", c->what, c->M, c->N, c->K,
                 c->ta ? " At" : "", c->tb ? " Bt" : "");
        if (!wanted(b, "gemm", c->model, shape)) continue;
        kbufs k = {b->ctx, {0}, 0, 99 + (uint64_t)i};
        gemm_run r = {b->ctx, CLIMP_GEMM_AUTO, {0}, {0}, {0}, {0}};
        climp_gemm_desc *d = &r.d;
        d->trans_a = c->ta, d->trans_b = c->tb, d->M = c->M, d->N = c->N, d->K = c->K;
        d->alpha = 1, d->beta = c->beta, d->batch = 1;
        d->lda = c->ta ? c->M : c->K, d->ldb = c->tb ? c->K : c->N, d->ldc = c->N;
        climp_status s = kb_new(&k, (size_t)c->M * c->K, -1, 1, &r.A);
        if (!s) s = kb_new(&k, (size_t)c->K * c->N, -1, 1, &r.B);
        if (!s) s = kb_new(&k, (size_t)c->M * c->N, 0, 0, &r.C);
        const double flops = 2.0 * c->M * c->N * c->K;
        const double bytes = 4.0 * ((double)c->M * c->K + (double)c->K * c->N +
                                    (double)c->M * c->N * (c->beta != 0 ? 2 : 1));
        for (int be = CLIMP_GEMM_HOSTBLAS; !s && be <= CLIMP_GEMM_TILED; be++) {
            if (!b->opt.all_backends && be != (int)climp_gemm_choose(b->ctx, d)) continue;
            if (!climp_gemm_backend_available(b->ctx, (climp_gemm_backend)be)) continue;
            r.be = (climp_gemm_backend)be;
            climp_bench_ref_case ref;
            memset(&ref, 0, sizeof(ref));
            ref.kind = CLIMP_BREF_GEMM;
            ref.shape = &r.d;
            ref.v[0] = r.A, ref.v[1] = r.B, ref.v[2] = r.C;
            run_case(b, "gemm", c->model, shape, climp_gemm_backend_name(r.be), flops, bytes,
                     gemm_call, &r, &ref);
        }
        if (s) climp_bench_error(b, "kernels", shape, s, 0);
        kb_free(&k);
    }
}

/* ------------------------------------------------------------------ other ops */
typedef struct op_run {
    climp_ctx *ctx;
    int kind;
    int B, L, H, W, C, K, Cin, Cout, rows;
    size_t n;
    climp_tview v[12];
    climp_adamw_segment seg;
    climp_adamw_hparams hp;
} op_run;

enum {
    OP_CONV1D_F, OP_CONV1D_B, OP_DW_F, OP_DW_B, OP_C3S2_F, OP_C3S2_B, OP_LN_F, OP_LN_B,
    OP_RMS_F, OP_RMS_B, OP_NCE_F, OP_NCE_B, OP_ADAMW, OP_SILU_F, OP_XSCAN_F
};

static climp_status op_call(void *p) {
    op_run *r = p;
    climp_tview *v = r->v;
    switch (r->kind) {
    case OP_CONV1D_F:
        return climp_causal_conv1d_forward(r->ctx, v[0], v[1], r->C, v[2], v[3], r->B, r->L, r->C,
                                           r->K);
    case OP_CONV1D_B:
        return climp_causal_conv1d_backward(r->ctx, v[4], v[5], v[6], v[0], v[1], r->C, v[2],
                                            v[7], r->B, r->L, r->C, r->K);
    case OP_DW_F: return climp_dwconv3x3_forward(r->ctx, v[0], v[1], v[2], r->B, r->H, r->W, r->C);
    case OP_DW_B:
        return climp_dwconv3x3_backward(r->ctx, v[3], v[4], v[0], v[1], v[2], v[5], r->B, r->H,
                                        r->W, r->C);
    case OP_C3S2_F:
        return climp_conv3x3s2_forward(r->ctx, v[0], v[1], v[2], v[3], v[4], r->B, r->H, r->W,
                                       r->Cin, r->Cout);
    case OP_C3S2_B:
        return climp_conv3x3s2_backward(r->ctx, v[5], v[6], v[7], v[0], v[1], v[2], v[4], r->B,
                                        r->H, r->W, r->Cin, r->Cout);
    case OP_LN_F:
        return climp_layernorm_forward(r->ctx, v[0], v[1], v[2], v[3], v[4], v[5], r->rows, r->C);
    case OP_LN_B:
        return climp_layernorm_backward(r->ctx, v[6], v[7], v[8], v[9], v[10], v[3], v[4], v[1],
                                        v[2], r->rows, r->C);
    case OP_RMS_F: return climp_rmsnorm_forward(r->ctx, v[0], v[1], v[2], v[3], r->rows, r->C);
    case OP_RMS_B:
        return climp_rmsnorm_backward(r->ctx, v[4], v[5], v[6], v[7], v[2], v[3], v[1], r->rows,
                                      r->C);
    case OP_NCE_F:
        return climp_infonce_forward(r->ctx, v[0], NULL, v[1], v[2], v[3], v[4], r->B, r->C);
    case OP_NCE_B:
        return climp_infonce_backward(r->ctx, v[5], v[6], v[7], v[1], v[2], v[3], v[4], 1.0f,
                                      r->B, r->C);
    case OP_ADAMW: return climp_adamw_update(r->ctx, v[0], v[1], v[2], v[3], &r->seg, 1, &r->hp);
    case OP_SILU_F: return climp_silu_forward(r->ctx, v[0], v[1], r->n);
    case OP_XSCAN_F: return climp_cross_scan_forward(r->ctx, v[0], v[1], r->B, r->H, r->W, r->C);
    default: return CLIMP_ERR_INVALID_ARG;
    }
}

/* Allocates v[i] for each size in sz (0-terminated list of float counts; negative = zeros). */
static climp_status op_bufs(kbufs *k, op_run *r, const double *sz, int n) {
    for (int i = 0; i < n; i++) {
        double s = sz[i];
        CLIMP_TRY(kb_new(k, (size_t)fabs(s), s < 0 ? 0 : -1, s < 0 ? 0 : 1, &r->v[i]));
    }
    return CLIMP_OK;
}

static void op_case(climp_bench *b, op_run *r, const char *name, const char *model,
                    const char *shape, const double *sz, int nsz, double flops, double bytes) {
    if (!wanted(b, name, model, shape)) return;
    kbufs k = {b->ctx, {0}, 0, 7 + (uint64_t)r->kind};
    r->ctx = b->ctx;
    climp_status s = op_bufs(&k, r, sz, nsz);
    if (!s && r->kind == OP_NCE_B) { /* the backward reads the forward's work buffer */
        r->kind = OP_NCE_F;
        s = op_call(r);
        r->kind = OP_NCE_B;
    }
    if (!s && r->kind == OP_LN_B) {
        r->kind = OP_LN_F;
        s = op_call(r);
        r->kind = OP_LN_B;
    }
    if (!s && r->kind == OP_RMS_B) {
        r->kind = OP_RMS_F;
        s = op_call(r);
        r->kind = OP_RMS_B;
    }
    /* The references take the same views and sizes (bench_ref.c maps each kind's order). */
    static const climp_bench_ref_kind kinds[] = {
        CLIMP_BREF_CONV1D_F, CLIMP_BREF_CONV1D_B, CLIMP_BREF_DW_F,   CLIMP_BREF_DW_B,
        CLIMP_BREF_C3S2_F,   CLIMP_BREF_C3S2_B,   CLIMP_BREF_LN_F,   CLIMP_BREF_LN_B,
        CLIMP_BREF_RMS_F,    CLIMP_BREF_RMS_B,    CLIMP_BREF_NCE_F,  CLIMP_BREF_NCE_B,
        CLIMP_BREF_ADAMW,    CLIMP_BREF_SILU_F,   CLIMP_BREF_XSCAN_F};
    climp_bench_ref_case ref;
    memset(&ref, 0, sizeof(ref));
    ref.kind = kinds[r->kind];
    ref.B = r->B, ref.L = r->L, ref.H = r->H, ref.W = r->W, ref.C = r->C, ref.K = r->K;
    ref.Cin = r->Cin, ref.Cout = r->Cout, ref.rows = r->rows, ref.n = r->n;
    ref.seg = &r->seg, ref.hp = &r->hp;
    memcpy(ref.v, r->v, sizeof(r->v));
    if (!s) run_case(b, name, model, shape, "auto", flops, bytes, op_call, r, &ref);
    else climp_bench_error(b, "kernels", shape, s, 0);
    kb_free(&k);
}

static void bench_ops(climp_bench *b) {
    const int q = b->opt.quick;
    char sh[128];
    op_run r;
    { /* causal conv1d: Mamba-130m x branch (8 captions x 64 tokens, E = 1536, K = 4) */
        memset(&r, 0, sizeof(r));
        r.B = q ? 4 : 8, r.L = q ? 32 : 64, r.C = q ? 192 : 1536, r.K = 4;
        double t = (double)r.B * r.L * r.C;
        double sz[8] = {t, t, r.C * 4.0, r.C, -t, -r.C * 4.0, -r.C,
                        -(double)climp_causal_conv1d_scratch_floats(r.B, r.L, r.C, r.K)};
        snprintf(sh, sizeof(sh), "B=%d L=%d C=%d K=%d", r.B, r.L, r.C, r.K);
        r.kind = OP_CONV1D_F;
        op_case(b, &r, "conv1d_fwd", q ? "tiny-text" : "mamba-130m", sh, sz, 4, 2 * t * r.K + t,
                4 * (2 * t + 5.0 * r.C));
        r.kind = OP_CONV1D_B;
        op_case(b, &r, "conv1d_bwd", q ? "tiny-text" : "mamba-130m", sh, sz, 8, 4 * t * r.K + t,
                4 * (3 * t + 10.0 * r.C));
    }
    { /* depthwise 3x3: VMamba-T stage 0 at 224 (56 x 56, E = 192) */
        memset(&r, 0, sizeof(r));
        r.B = 1, r.H = r.W = q ? 8 : 56, r.C = q ? 48 : 192;
        double t = (double)r.B * r.H * r.W * r.C;
        double sz[6] = {t, t, r.C * 9.0, -t, -r.C * 9.0,
                        -(double)climp_dwconv3x3_scratch_floats(r.B, r.H, r.W, r.C)};
        snprintf(sh, sizeof(sh), "B=%d H=%d W=%d C=%d", r.B, r.H, r.W, r.C);
        r.kind = OP_DW_F;
        op_case(b, &r, "dwconv3x3_fwd", q ? "tiny-vision" : "vmamba-t", sh, sz, 3, 18 * t,
                4 * (2 * t + 9.0 * r.C));
        r.kind = OP_DW_B;
        op_case(b, &r, "dwconv3x3_bwd", q ? "tiny-vision" : "vmamba-t", sh, sz, 6, 36 * t,
                4 * (3 * t + 18.0 * r.C));
    }
    /* conv 3x3 stride 2: VMamba-T stem (224, 3 -> 48) and first downsample (56, 96 -> 192) */
    for (int which = 0; which < (q ? 1 : 2); which++) {
        memset(&r, 0, sizeof(r));
        r.B = 1, r.H = r.W = q ? 32 : which ? 56 : 224;
        r.Cin = q ? 3 : which ? 96 : 3, r.Cout = q ? 12 : which ? 192 : 48;
        int Ho = climp_conv3x3s2_out(r.H), Wo = climp_conv3x3s2_out(r.W);
        double x = (double)r.B * r.H * r.W * r.Cin, y = (double)r.B * Ho * Wo * r.Cout;
        double w = (double)r.Cout * r.Cin * 9;
        double sz[8] = {y, x, w, r.Cout,
                        -(double)climp_conv3x3s2_scratch_floats(r.B, r.B, r.H, r.W, r.Cin, r.Cout),
                        -x, -w, -r.Cout};
        snprintf(sh, sizeof(sh), "%s B=%d H=%d Cin=%d Cout=%d", which ? "downsample" : "stem",
                 r.B, r.H, r.Cin, r.Cout);
        const char *m = q ? "tiny-vision" : "vmamba-t";
        r.kind = OP_C3S2_F;
        op_case(b, &r, "conv3x3s2_fwd", m, sh, sz, 5, 2 * y * r.Cin * 9 + y,
                4 * (x + w + y + r.Cout));
        r.kind = OP_C3S2_B;
        op_case(b, &r, "conv3x3s2_bwd", m, sh, sz, 8, 4 * y * r.Cin * 9 + y,
                4 * (2 * x + 2 * w + y + 2.0 * r.Cout));
    }
    { /* LayerNorm: VMamba-T stage 0 at 224 (3136 positions x 96) */
        memset(&r, 0, sizeof(r));
        r.rows = q ? 64 : 3136, r.C = q ? 24 : 96;
        double t = (double)r.rows * r.C;
        double sz[11] = {-t, -r.rows, -r.rows, t, r.C, r.C,
                         -t, -r.C, -r.C, -(double)climp_layernorm_scratch_floats(r.rows, r.C), t};
        snprintf(sh, sizeof(sh), "rows=%d C=%d", r.rows, r.C);
        const char *m = q ? "tiny-vision" : "vmamba-t";
        r.kind = OP_LN_F;
        op_case(b, &r, "layernorm_fwd", m, sh, sz, 6, 8 * t, 4 * (2 * t + 2.0 * r.C + 2 * r.rows));
        r.kind = OP_LN_B;
        op_case(b, &r, "layernorm_bwd", m, sh, sz, 11, 13 * t,
                4 * (3 * t + 3.0 * r.C + 2 * r.rows));
    }
    { /* RMSNorm: Mamba-130m, 8 x 64 tokens x 768 */
        memset(&r, 0, sizeof(r));
        r.rows = q ? 128 : 512, r.C = q ? 96 : 768;
        double t = (double)r.rows * r.C;
        double sz[8] = {-t, -r.rows, t, r.C, -t, -r.C,
                        -(double)climp_rmsnorm_scratch_floats(r.rows, r.C), t};
        snprintf(sh, sizeof(sh), "rows=%d C=%d", r.rows, r.C);
        const char *m = q ? "tiny-text" : "mamba-130m";
        r.kind = OP_RMS_F;
        op_case(b, &r, "rmsnorm_fwd", m, sh, sz, 4, 4 * t, 4 * (2 * t + r.C + r.rows));
        r.kind = OP_RMS_B;
        op_case(b, &r, "rmsnorm_bwd", m, sh, sz, 8, 9 * t, 4 * (3 * t + 2.0 * r.C + r.rows));
    }
    { /* symmetric InfoNCE: batch N x embedding D */
        memset(&r, 0, sizeof(r));
        r.B = q ? 8 : 256, r.C = q ? 128 : 512;
        double nd = (double)r.B * r.C, nn = (double)r.B * r.B;
        double sz[8] = {-1, -(double)climp_infonce_work_floats(r.B), nd, nd, 1, -nd, -nd, -1};
        snprintf(sh, sizeof(sh), "N=%d D=%d", r.B, r.C);
        r.kind = OP_NCE_F;
        op_case(b, &r, "infonce_fwd", "clip-loss", sh, sz, 5, 2 * nn * r.C + 6 * nn,
                4 * (2 * nd + 2 * nn));
        r.kind = OP_NCE_B;
        op_case(b, &r, "infonce_bwd", "clip-loss", sh, sz, 8, 4 * nn * r.C + 6 * nn,
                4 * (4 * nd + 3 * nn));
    }
    { /* AdamW over a 16M-parameter segment (one decayed run) */
        memset(&r, 0, sizeof(r));
        r.n = q ? (1u << 20) : (16u << 20);
        double n = (double)r.n;
        double sz[4] = {n, n, -n, -n};
        r.seg.offset = 0, r.seg.count = r.n, r.seg.decay = 1;
        r.hp.lr = 1e-4, r.hp.beta1 = 0.9, r.hp.beta2 = 0.98, r.hp.eps = 1e-6;
        r.hp.weight_decay = 0.1, r.hp.step = 1, r.hp.grad_scale = 1.0f;
        snprintf(sh, sizeof(sh), "n=%zu", r.n);
        r.kind = OP_ADAMW;
        op_case(b, &r, "adamw", "optimizer", sh, sz, 4, 14 * n, 4 * 7 * n);
    }
    { /* SiLU and cross-scan at the sizes where the models apply them */
        memset(&r, 0, sizeof(r));
        r.n = q ? 4 * 32 * 192 : 512 * 1536;
        double n = (double)r.n, sz[2] = {-n, n};
        snprintf(sh, sizeof(sh), "n=%zu", r.n);
        r.kind = OP_SILU_F;
        op_case(b, &r, "silu_fwd", q ? "tiny-text" : "mamba-130m", sh, sz, 2, 4 * n, 8 * n);
        memset(&r, 0, sizeof(r));
        r.B = 1, r.H = r.W = q ? 8 : 56, r.C = q ? 48 : 192;
        double t = (double)r.B * r.H * r.W * r.C, sx[2] = {-4 * t, t};
        snprintf(sh, sizeof(sh), "B=%d H=%d W=%d E=%d", r.B, r.H, r.W, r.C);
        r.kind = OP_XSCAN_F;
        op_case(b, &r, "crossscan_fwd", q ? "tiny-vision" : "vmamba-t", sh, sx, 2, 0, 4 * 5 * t);
    }
}

climp_status climp_bench_kernels(climp_bench *b) {
    printf("\n%-16s %-12s %-40s %-14s %10s %10s %9s %9s %8s %7s %7s %8s\n", "kernel", "model",
           "shape", "variant", "median ms", "ref ms", "speed-up", "GFLOP/s", "GB/s", "AI",
           "%roof", "%bw-now");
    cJSON_AddItemToObject(cJSON_GetObjectItem(b->root, "settings"), "reference",
                          climp_bench_ref_settings_json(b));
    climp_bench_ref_reset();
    bench_scan(b);
    bench_gemm(b);
    bench_ops(b);
    climp_bench_ref_reset();
    return CLIMP_OK;
}
