/* `climp bench kernels`: the plain-C reference of every kernel case (model/ *_ref.c,
 * runtime/gemm_ref.c), timed on the same shape and the same inputs as the device (the case's
 * device views copied to host memory after the device measurement), single-threaded: one warm-up
 * call, then --reps samples (calls shorter than the harness's min_sample batched `inner` times per
 * sample, like the device's), median, min, max and raw samples. A per-call budget
 * (--reference-budget, default 30 s; --quick 0.25 s) bounds the cost: the call's time is predicted
 * from the previous case of the same kernel name (seconds per FLOP, or per byte for zero-FLOP
 * kernels), or, for the first one, from a conservative host rate; a case predicted above the
 * budget is skipped (recorded as "skipped"), and one whose warm-up took over a quarter of the
 * budget gets at most 2 samples (1 over the budget). Adds "reference" and "speedup_vs_reference"
 * to each kernel's JSON object (docs/bench.md), and records the compiler and flags the references
 * were built with. */
#define _XOPEN_SOURCE 700 /* readlink */
#include "trainer/bench.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "model/conv.h"
#include "model/crossscan.h"
#include "model/eltwise.h"
#include "model/embed_loss.h"
#include "model/norm.h"
#include "model/optim.h"
#include "model/scan.h"
#include "runtime/gemm_ref.h"
#include "trainer/cli.h"

/* Host rates assumed before any case of a kernel name was measured (conservative for one core of
 * scalar, double-accumulating C; the first case of each name in the suite is its smallest). */
#define REF_DEFAULT_FLOPS 0.25e9
#define REF_DEFAULT_BYTES 1.0e9
#define REF_BUDGET_FULL 30.0
#define REF_BUDGET_QUICK 0.25

static int g_mode = -1;      /* -1 default (on), 0 off, 1 on */
static double g_budget = -1; /* < 0: default */

typedef struct ref_rate {
    char name[32];
    double s_per_unit;
} ref_rate;
static ref_rate g_rates[32];
static int g_nrates;
/* The last measured reference, shared by the next variants of the same case. */
static char g_last_key[320];
static cJSON *g_last_ref;

int climp_bench_ref_option(int argc, char **argv, int *i) {
    double d;
    if (!strcmp(argv[*i], "--reference")) g_mode = 1;
    else if (!strcmp(argv[*i], "--no-reference")) g_mode = 0;
    else if (climp_opt_float(argc, argv, i, "--reference-budget", 0.001, 1e6, &d)) g_budget = d;
    else return 0;
    return 1;
}

int climp_bench_ref_enabled(const climp_bench *b) {
    (void)b;
    return g_mode != 0;
}

double climp_bench_ref_budget(const climp_bench *b) {
    return g_budget > 0 ? g_budget : b->opt.quick ? REF_BUDGET_QUICK : REF_BUDGET_FULL;
}

void climp_bench_ref_reset(void) {
    g_nrates = 0;
    g_last_key[0] = 0;
    cJSON_Delete(g_last_ref);
    g_last_ref = NULL;
}

/* ------------------------------------------------------------------ build description */
typedef struct ref_build {
    int done;
    char compiler[160], build_type[64], flags[512], macros[256], source[1100];
} ref_build;
static ref_build g_build;

/* Value of "KEY:TYPE=value" in a CMakeCache.txt, or "" (returns whether found). */
static int cache_value(FILE *f, const char *key, char *out, size_t n) {
    char line[2048];
    size_t kl = strlen(key);
    out[0] = 0;
    rewind(f);
    while (fgets(line, sizeof(line), f)) {
        if (strncmp(line, key, kl) || line[kl] != ':') continue;
        char *eq = strchr(line + kl, '=');
        if (!eq) continue;
        snprintf(out, n, "%s", eq + 1);
        size_t l = strlen(out);
        while (l && (out[l - 1] == '\n' || out[l - 1] == '\r')) out[--l] = 0;
        return 1;
    }
    return 0;
}

/* Appends s to dst (capacity n), space-separated, truncating. */
static void append(char *dst, size_t n, const char *s) {
    size_t l = strlen(dst);
    if (!*s) return;
    if (l && l + 1 < n) dst[l++] = ' ';
    while (*s && l + 1 < n) dst[l++] = *s++;
    dst[l] = 0;
}

/* The references are compiled with the project's global C flags (CMake adds only warnings per
 * target), so the predefined macros seen here describe them; the exact flags come from the
 * CMakeCache.txt beside the executable when there is one. */
static const ref_build *build_info(void) {
    ref_build *g = &g_build;
    if (g->done) return g;
    g->done = 1;
#if defined(__clang__)
    snprintf(g->compiler, sizeof(g->compiler), "clang %s", __clang_version__);
#elif defined(__GNUC__)
    snprintf(g->compiler, sizeof(g->compiler), "gcc %s", __VERSION__);
#else
    snprintf(g->compiler, sizeof(g->compiler), "unknown");
#endif
    char *m = g->macros;
    size_t mn = sizeof(g->macros);
#ifdef __OPTIMIZE__
    append(m, mn, "__OPTIMIZE__");
#endif
#ifdef __OPTIMIZE_SIZE__
    append(m, mn, "__OPTIMIZE_SIZE__");
#endif
#ifdef NDEBUG
    append(m, mn, "NDEBUG");
#endif
#ifdef __FAST_MATH__
    append(m, mn, "__FAST_MATH__");
#endif
#ifdef __SSE2__
    append(m, mn, "__SSE2__");
#endif
#ifdef __AVX__
    append(m, mn, "__AVX__");
#endif
#ifdef __AVX2__
    append(m, mn, "__AVX2__");
#endif
#ifdef __FMA__
    append(m, mn, "__FMA__");
#endif
#ifdef __AVX512F__
    append(m, mn, "__AVX512F__");
#endif
#ifdef __ARM_NEON
    append(m, mn, "__ARM_NEON");
#endif
#ifdef __SANITIZE_ADDRESS__
    append(m, mn, "__SANITIZE_ADDRESS__");
#endif
    snprintf(g->flags, sizeof(g->flags), "unknown");
    snprintf(g->build_type, sizeof(g->build_type), "unknown");
    char exe[1024];
    ssize_t l = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (l <= 0) return g;
    exe[l] = 0;
    char *slash = strrchr(exe, '/');
    if (!slash) return g;
    snprintf(slash, sizeof(exe) - (size_t)(slash - exe), "/CMakeCache.txt");
    FILE *f = fopen(exe, "r");
    if (!f) return g;
    char type[64], base[512], per[512], key[96];
    if (cache_value(f, "CMAKE_BUILD_TYPE", type, sizeof(type))) {
        snprintf(g->build_type, sizeof(g->build_type), "%s", type[0] ? type : "(none)");
        cache_value(f, "CMAKE_C_FLAGS", base, sizeof(base));
        char up[64];
        size_t i = 0;
        for (; type[i] && i + 1 < sizeof(up); i++)
            up[i] = (char)(type[i] >= 'a' && type[i] <= 'z' ? type[i] - 32 : type[i]);
        up[i] = 0;
        per[0] = 0;
        if (up[0]) {
            snprintf(key, sizeof(key), "CMAKE_C_FLAGS_%s", up);
            cache_value(f, key, per, sizeof(per));
        }
        g->flags[0] = 0;
        append(g->flags, sizeof(g->flags), base);
        append(g->flags, sizeof(g->flags), per);
        snprintf(g->source, sizeof(g->source), "%s", exe);
    }
    fclose(f);
    return g;
}

static cJSON *build_json(void) {
    const ref_build *g = build_info();
    cJSON *o = cJSON_CreateObject();
    climp_json_str(o, "compiler", g->compiler);
    climp_json_str(o, "build_type", g->build_type);
    climp_json_str(o, "flags", g->flags);
    climp_json_str(o, "macros", g->macros);
    return o;
}

cJSON *climp_bench_ref_settings_json(const climp_bench *b) {
    const ref_build *g = build_info();
    cJSON *o = cJSON_CreateObject();
    cJSON_AddBoolToObject(o, "enabled", climp_bench_ref_enabled(b));
    climp_json_num(o, "budget_s", climp_bench_ref_budget(b));
    cJSON_AddNumberToObject(o, "threads", 1);
    climp_json_str(o, "memory", "host");
    climp_json_str(o, "timing", "one warm-up call, then --reps samples of wall time (short calls "
                                "batched `inner` times per sample); <= 2 samples when the warm-up "
                                "took over a quarter of budget_s, 1 over it; skipped when "
                                "predicted over budget_s");
    cJSON_AddItemToObject(o, "build", build_json());
    climp_json_str(o, "flags_source", g->source[0] ? g->source : "unavailable");
    return o;
}

/* ------------------------------------------------------------------ the reference calls */
/* Which views each kind reads or writes (bit i = v[i]); the others stay NULL on the host. */
static unsigned used_views(const climp_bench_ref_case *rc) {
    switch (rc->kind) {
    case CLIMP_BREF_SCAN_FWD: return 0x1ffu;
    case CLIMP_BREF_SCAN_BWD: return 0x3ffffu & ~0x100u;
    case CLIMP_BREF_GEMM: return 0x7u;
    case CLIMP_BREF_CONV1D_F: return 0xfu;
    case CLIMP_BREF_CONV1D_B: return 0x77u;
    case CLIMP_BREF_DW_F: return 0x7u;
    case CLIMP_BREF_DW_B: return 0x1fu;
    case CLIMP_BREF_C3S2_F: return 0xfu;
    case CLIMP_BREF_C3S2_B: return 0xe7u;
    case CLIMP_BREF_LN_F: return 0x3fu;
    case CLIMP_BREF_LN_B: return 0x5deu;
    case CLIMP_BREF_RMS_F: return 0xfu;
    case CLIMP_BREF_RMS_B: return 0xbeu;
    case CLIMP_BREF_NCE_F: return 0x1cu;
    case CLIMP_BREF_NCE_B: return 0xfcu;
    case CLIMP_BREF_ADAMW: return 0xfu;
    case CLIMP_BREF_SILU_F: return 0x3u;
    case CLIMP_BREF_XSCAN_F: return 0x3u;
    default: return 0;
    }
}

static const char *ref_function(climp_bench_ref_kind k) {
    static const char *const names[] = {
        "", "climp_scan_forward_ref", "climp_scan_backward_ref", "climp_gemm_ref",
        "climp_causal_conv1d_forward_ref", "climp_causal_conv1d_backward_ref",
        "climp_dwconv3x3_forward_ref", "climp_dwconv3x3_backward_ref",
        "climp_conv3x3s2_forward_ref", "climp_conv3x3s2_backward_ref",
        "climp_layernorm_forward_ref", "climp_layernorm_backward_ref",
        "climp_rmsnorm_forward_ref", "climp_rmsnorm_backward_ref", "climp_infonce_forward_ref",
        "climp_infonce_backward_ref", "climp_adamw_update_ref", "climp_silu_forward_ref",
        "climp_cross_scan_forward_ref"};
    return (int)k >= 0 && (size_t)k < sizeof(names) / sizeof(names[0]) ? names[k] : "";
}

/* One call of the reference on the host copies h[]. The view order of each kind is that of the
 * device call in bench_kernels.c (op cases) or of bench.h (scan, GEMM). */
static climp_status ref_call(const climp_bench_ref_case *r, float *const *h) {
    const climp_scan_shape *s = r->shape;
    double loss;
    switch (r->kind) {
    case CLIMP_BREF_SCAN_FWD:
        climp_scan_forward_ref(s, h[0], h[1], h[2], h[3], h[4], h[5], h[6], h[7], h[8]);
        return CLIMP_OK;
    case CLIMP_BREF_SCAN_BWD:
        climp_scan_backward_ref(s, h[0], h[1], h[2], h[3], h[4], h[5], h[6], h[7], h[9], h[10],
                                h[11], h[12], h[13], h[14], h[15], h[16], h[17]);
        return CLIMP_OK;
    case CLIMP_BREF_GEMM: climp_gemm_ref(r->shape, h[0], h[1], h[2]); return CLIMP_OK;
    case CLIMP_BREF_CONV1D_F:
        climp_causal_conv1d_forward_ref(h[0], h[1], r->C, h[2], h[3], r->B, r->L, r->C, r->K);
        return CLIMP_OK;
    case CLIMP_BREF_CONV1D_B:
        climp_causal_conv1d_backward_ref(h[4], h[5], h[6], h[0], h[1], r->C, h[2], r->B, r->L,
                                         r->C, r->K);
        return CLIMP_OK;
    case CLIMP_BREF_DW_F:
        climp_dwconv3x3_forward_ref(h[0], h[1], h[2], r->B, r->H, r->W, r->C);
        return CLIMP_OK;
    case CLIMP_BREF_DW_B:
        climp_dwconv3x3_backward_ref(h[3], h[4], h[0], h[1], h[2], r->B, r->H, r->W, r->C);
        return CLIMP_OK;
    case CLIMP_BREF_C3S2_F:
        climp_conv3x3s2_forward_ref(h[0], h[1], h[2], h[3], r->B, r->H, r->W, r->Cin, r->Cout);
        return CLIMP_OK;
    case CLIMP_BREF_C3S2_B:
        climp_conv3x3s2_backward_ref(h[5], h[6], h[7], h[0], h[1], h[2], r->B, r->H, r->W, r->Cin,
                                     r->Cout);
        return CLIMP_OK;
    case CLIMP_BREF_LN_F:
        climp_layernorm_forward_ref(h[0], h[1], h[2], h[3], h[4], h[5], r->rows, r->C);
        return CLIMP_OK;
    case CLIMP_BREF_LN_B:
        climp_layernorm_backward_ref(h[6], h[7], h[8], h[10], h[3], h[4], h[1], h[2], r->rows,
                                     r->C);
        return CLIMP_OK;
    case CLIMP_BREF_RMS_F:
        climp_rmsnorm_forward_ref(h[0], h[1], h[2], h[3], r->rows, r->C);
        return CLIMP_OK;
    case CLIMP_BREF_RMS_B:
        climp_rmsnorm_backward_ref(h[4], h[5], h[7], h[2], h[3], h[1], r->rows, r->C);
        return CLIMP_OK;
    case CLIMP_BREF_NCE_F: return climp_infonce_forward_ref(&loss, h[2], h[3], h[4][0], r->B, r->C);
    case CLIMP_BREF_NCE_B:
        return climp_infonce_backward_ref(h[5], h[6], h[7], h[2], h[3], h[4][0], 1.0f, r->B, r->C);
    case CLIMP_BREF_ADAMW: return climp_adamw_update_ref(h[0], h[1], h[2], h[3], r->seg, 1, r->hp);
    case CLIMP_BREF_SILU_F: climp_silu_forward_ref(h[0], h[1], r->n); return CLIMP_OK;
    case CLIMP_BREF_XSCAN_F:
        climp_cross_scan_forward_ref(h[0], h[1], r->B, r->H, r->W, r->C);
        return CLIMP_OK;
    default: return CLIMP_ERR_INVALID_ARG;
    }
}

/* ------------------------------------------------------------------ timing */
static ref_rate *rate_of(const char *name) {
    for (int i = 0; i < g_nrates; i++)
        if (!strcmp(g_rates[i].name, name)) return &g_rates[i];
    return NULL;
}

static double predict(const char *name, double flops, double bytes) {
    const ref_rate *r = rate_of(name);
    const double work = flops > 0 ? flops : bytes;
    if (r) return r->s_per_unit * work;
    return flops > 0 ? flops / REF_DEFAULT_FLOPS : bytes / REF_DEFAULT_BYTES;
}

static void learn(const char *name, double flops, double bytes, double seconds) {
    const double work = flops > 0 ? flops : bytes;
    if (!(work > 0) || !(seconds > 0)) return;
    ref_rate *r = rate_of(name);
    if (!r && g_nrates < (int)(sizeof(g_rates) / sizeof(g_rates[0]))) {
        r = &g_rates[g_nrates++];
        snprintf(r->name, sizeof(r->name), "%s", name);
    }
    if (r) r->s_per_unit = seconds / work;
}

static climp_status ref_measure(climp_bench *b, const climp_bench_ref_case *rc, float *const *h,
                                double budget, climp_bench_stats *st) {
    memset(st, 0, sizeof(*st));
    st->warmup = 1;
    st->inner = 1;
    st->energy_j = NAN;
    double t0 = climp_now_seconds();
    CLIMP_TRY(ref_call(rc, h));
    const double t = climp_now_seconds() - t0;
    if (t < b->min_sample_s) {
        double k = ceil(b->min_sample_s / (t > 1e-7 ? t : 1e-7));
        st->inner = k > 10000 ? 10000 : (int)k;
    }
    int n = b->opt.reps < 64 ? b->opt.reps : 64;
    if (t > budget / 4 && n > 2) n = 2;
    if (t > budget) n = 1;
    st->n = n;
    for (int r = 0; r < n; r++) {
        t0 = climp_now_seconds();
        for (int k = 0; k < st->inner; k++) CLIMP_TRY(ref_call(rc, h));
        st->samples[r] = (climp_now_seconds() - t0) / st->inner;
    }
    climp_bench_stats_finish(st);
    return CLIMP_OK;
}

double climp_bench_reference(climp_bench *b, const char *name, const char *key,
                             const climp_bench_ref_case *rc, double flops, double bytes,
                             double device_median_s, cJSON *o) {
    if (g_last_ref && key && !strcmp(key, g_last_key)) {
        /* Another variant of the case just measured: same reference, same inputs. */
        cJSON *r = cJSON_Duplicate(g_last_ref, 1);
        cJSON_AddItemToObject(o, "reference", r);
        cJSON_AddBoolToObject(r, "shared_with_previous_variant", 1);
        const double m = cJSON_GetObjectItem(cJSON_GetObjectItem(r, "time"), "median")->valuedouble;
        climp_json_num(o, "speedup_vs_reference", device_median_s > 0 ? m / device_median_s : NAN);
        return m;
    }
    g_last_key[0] = 0;
    cJSON *r = cJSON_CreateObject();
    cJSON_AddItemToObject(o, "reference", r);
    const char *fn = rc ? ref_function(rc->kind) : "";
    const double budget = climp_bench_ref_budget(b);
    const double pred = rc && rc->kind ? predict(name, flops, bytes) : NAN;
    const char *status = "ok";
    char reason[256] = "";
    double median = NAN;
    if (!climp_bench_ref_enabled(b)) {
        status = "off";
        snprintf(reason, sizeof(reason), "--no-reference");
    } else if (!fn[0]) {
        status = "unavailable";
        snprintf(reason, sizeof(reason), "no plain-C reference for this case");
    } else if (pred > budget) {
        status = "skipped";
        snprintf(reason, sizeof(reason), "predicted %.3g s per call > --reference-budget %g s",
                 pred, budget);
    }
    climp_json_str(r, "function", fn);
    climp_json_num(r, "predicted_seconds", pred);
    if (strcmp(status, "ok")) {
        climp_json_str(r, "status", status);
        climp_json_str(r, "reason", reason);
        climp_json_num(o, "speedup_vs_reference", NAN);
        return NAN;
    }
    /* Host copies of the views the reference touches (the inputs the device just used). */
    float *h[CLIMP_BENCH_REF_VIEWS] = {0};
    const unsigned used = used_views(rc);
    climp_status s = CLIMP_OK;
    for (int i = 0; i < CLIMP_BENCH_REF_VIEWS && !s; i++) {
        if (!(used >> i & 1u) || !rc->v[i].buf || !rc->v[i].n) continue;
        if (!(h[i] = malloc(rc->v[i].n * sizeof(float)))) s = CLIMP_ERR_HOST_OOM;
        else s = climp_view_read(b->ctx, rc->v[i], h[i], rc->v[i].n);
    }
    climp_bench_stats st;
    if (!s) s = ref_measure(b, rc, h, budget, &st);
    for (int i = 0; i < CLIMP_BENCH_REF_VIEWS; i++) free(h[i]);
    if (s) {
        char item[160];
        snprintf(item, sizeof(item), "%s reference (%s)", name, fn);
        climp_json_str(r, "status", "failed");
        climp_json_str(r, "reason", climp_status_name(s));
        climp_bench_error(b, "kernels", item, s, 0);
        climp_json_num(o, "speedup_vs_reference", NAN);
        return NAN;
    }
    median = st.median;
    learn(name, flops, bytes, median);
    climp_json_str(r, "status", "ok");
    climp_json_str(r, "reason", "");
    cJSON_AddNumberToObject(r, "threads", 1);
    climp_json_str(r, "memory", "host");
    cJSON_AddItemToObject(r, "time", climp_bench_stats_json(&st));
    cJSON_AddItemToObject(r, "build", build_json());
    climp_json_num(o, "speedup_vs_reference",
                   device_median_s > 0 ? median / device_median_s : NAN);
    cJSON_Delete(g_last_ref);
    g_last_ref = cJSON_Duplicate(r, 1);
    if (g_last_ref && key) snprintf(g_last_key, sizeof(g_last_key), "%s", key);
    return median;
}
