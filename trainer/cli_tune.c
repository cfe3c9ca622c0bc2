/* `climp tune`: the autotuner. For each op (GEMM, selective scan) and shape class it searches the
 * op's tunables at the models' real shapes (Mamba-130m, VMamba-T and the tiny presets, as in
 * trainer/bench_kernels.c), checks every candidate's output against the C reference
 * (runtime/gemm_ref.c, model/scan_ref.c) with the unit tests' tolerances (a failing candidate is
 * reported and never chosen), times the survivors (one warm-up, median of repetitions), keeps the
 * fastest by coordinate descent and writes the tuning table (runtime/tune.c, climp_tune_save)
 * that every later run on this device and driver uses. Keys: gemm.backend@<class>,
 * gemm.tiled.<param>@<class> (classes: climp_gemm_tune_class), scan.<param>@N<state size>. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "model/scan.h"
#include "runtime/gemm_ref.h"
#include "trainer/bench.h"
#include "trainer/cli.h"

#define MAXDIM 6
#define MAXVALS 8
#define MAXTRIED 160
#define MIN_SAMPLE(t) ((t)->quick ? 0.004 : 0.02) /* seconds per timed sample */
#define MARGIN 0.97 /* a candidate replaces the default only when >= 3% faster (noise) */

typedef struct tuner {
    climp_ctx *ctx;
    int quick, tty;
    cJSON *results;          /* one object per (op, class) */
    char *keys[256];         /* the table to write */
    int vals[256], nkeys;
} tuner;

static void add_key(tuner *t, const char *key, int v) {
    for (int i = 0; i < t->nkeys; i++)
        if (!strcmp(t->keys[i], key)) {
            t->vals[i] = v;
            return;
        }
    if (t->nkeys < 256 && (t->keys[t->nkeys] = strdup(key))) t->vals[t->nkeys++] = v;
}

static void progress(const tuner *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void progress(const tuner *t, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char line[200];
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (t->tty) fprintf(stderr, "\r%-100.100s", line);
    else fprintf(stderr, "%s\n", line);
    fflush(stderr);
}

/* ------------------------------------------------------------------ search */
/* A space: named dimensions with candidate values; a candidate is one value per dimension. */
typedef struct space {
    int ndim;
    const char *name[MAXDIM];
    int val[MAXDIM][MAXVALS], nval[MAXDIM];
} space;

/* Seconds of one candidate (summed over the class's shapes), or a negative number when it failed
 * the reference check or could not run (reason in `why`). */
typedef double (*eval_fn)(void *user, const int *cfg, char *why, size_t nwhy);

typedef struct search {
    const space *sp;
    eval_fn eval;
    void *user;
    void (*norm)(int *cfg); /* canonical form (irrelevant dimensions fixed), or NULL */
    int tried[MAXTRIED][MAXDIM], ntried, nfailed;
    cJSON *cands;
} search;

static void cfg_text(const space *sp, const int *cfg, char *out, size_t n) {
    size_t o = 0;
    out[0] = 0;
    for (int d = 0; d < sp->ndim && o < n; d++)
        o += (size_t)snprintf(out + o, n - o, "%s%s=%d", d ? " " : "", sp->name[d], cfg[d]);
}

/* Evaluates cfg unless tried before; returns its seconds (or -1 when skipped or failed). */
static double try_cfg(const tuner *t, search *s, const char *what, int *cfg) {
    if (s->norm) s->norm(cfg);
    for (int i = 0; i < s->ntried; i++)
        if (!memcmp(s->tried[i], cfg, sizeof(int) * (size_t)s->sp->ndim)) return -1;
    if (s->ntried == MAXTRIED) return -1;
    memcpy(s->tried[s->ntried++], cfg, sizeof(int) * MAXDIM);
    char txt[160], why[200] = "";
    cfg_text(s->sp, cfg, txt, sizeof txt);
    progress(t, "tune %s: candidate %d: %s", what, s->ntried, txt);
    double sec = s->eval(s->user, cfg, why, sizeof why);
    cJSON *c = cJSON_CreateObject();
    climp_json_str(c, "params", txt);
    climp_json_num(c, "ms", sec >= 0 ? sec * 1e3 : NAN);
    if (sec < 0) {
        s->nfailed++;
        climp_json_str(c, "failed", why);
        if (t->tty) fputc('\n', stderr);
        fprintf(stderr, "tune %s: candidate %s rejected: %s\n", what, txt, why);
    }
    cJSON_AddItemToArray(s->cands, c);
    return sec;
}

/* Coordinate descent from start: each pass tries every value of each dimension with the others
 * at the best so far. Returns the best seconds (INFINITY when nothing passed) and its cfg. */
static double descend(const tuner *t, search *s, const char *what, const int *start, int *best) {
    int cur[MAXDIM] = {0};
    memcpy(cur, start, sizeof(int) * (size_t)s->sp->ndim);
    double tb = try_cfg(t, s, what, cur);
    if (tb < 0) tb = INFINITY;
    memcpy(best, cur, sizeof cur);
    for (int pass = 0; pass < (t->quick ? 1 : 2); pass++) {
        int improved = 0;
        for (int d = 0; d < s->sp->ndim; d++)
            for (int v = 0; v < s->sp->nval[d]; v++) {
                int c[MAXDIM];
                memcpy(c, best, sizeof c);
                c[d] = s->sp->val[d][v];
                double sec = try_cfg(t, s, what, c);
                if (sec >= 0 && sec < tb) tb = sec, memcpy(best, c, sizeof c), improved = 1;
            }
        if (!improved) break;
    }
    return tb;
}

/* Median seconds per call over reps samples, after one warm-up call; each sample runs enough
 * calls back to back (waiting for the device after the last) to last >= min_s, so that short
 * kernels are not timed at the resolution of the launch overhead and the machine's noise. */
static climp_status timed(climp_ctx *ctx, climp_status (*fn)(void *), void *u, int reps,
                          double min_s, double *median) {
    double t0 = climp_now_seconds(), ts[16];
    CLIMP_TRY(fn(u));
    CLIMP_TRY(climp_finish(ctx));
    double one = climp_now_seconds() - t0;
    int calls = one > 0 && one < min_s ? (int)(min_s / one) + 1 : 1;
    if (calls > 1000) calls = 1000;
    if (one > 0.5 && reps > 3) reps = 3;
    for (int r = 0; r < reps && r < 16; r++) {
        t0 = climp_now_seconds();
        for (int c = 0; c < calls; c++) CLIMP_TRY(fn(u));
        CLIMP_TRY(climp_finish(ctx));
        ts[r] = (climp_now_seconds() - t0) / calls;
    }
    for (int i = 1; i < reps; i++) /* insertion sort */
        for (int j = i; j > 0 && ts[j] < ts[j - 1]; j--) {
            double x = ts[j];
            ts[j] = ts[j - 1], ts[j - 1] = x;
        }
    *median = ts[reps / 2];
    return CLIMP_OK;
}

/* The default (arm 0) and the best candidate (arm 1) measured again, alternately, `rounds` times
 * each: the decision and the reported speed-up come from these side-by-side medians. */
typedef double (*arm_fn)(void *user, int arm, char *why, size_t nwhy);
static void side_by_side(arm_fn run, void *user, int rounds, double *t_def, double *t_best) {
    double a[2][9];
    char why[200];
    int n = 0;
    for (; n < rounds && n < 9; n++) /* order A B B A A B ...: drifts hit both arms alike */
        for (int k = 0; k < 2; k++) {
            const int arm = k ^ (n & 1);
            a[arm][n] = run(user, arm, why, sizeof why);
        }
    for (int arm = 0; arm < 2; arm++) {
        for (int i = 1; i < n; i++)
            for (int j = i; j > 0 && a[arm][j] < a[arm][j - 1]; j--) {
                double x = a[arm][j];
                a[arm][j] = a[arm][j - 1], a[arm][j - 1] = x;
            }
        *(arm ? t_best : t_def) = a[arm][0] < 0 ? -1 : a[arm][n / 2];
    }
}

/* Seeded U(lo, hi) host data and its device copy. */
static float *rand_host(uint64_t *seed, size_t n, float lo, float hi) {
    float *h = malloc((n ? n : 1) * sizeof(float));
    for (size_t i = 0; h && i < n; i++) {
        *seed = *seed * 6364136223846793005ull + 1442695040888963407ull;
        h[i] = lo + (hi - lo) * (float)((*seed >> 40) * (1.0 / 16777216.0));
    }
    return h;
}

static climp_buffer *upload(climp_ctx *ctx, const float *h, size_t n) {
    climp_buffer *b = NULL;
    if (climp_buffer_create(ctx, "tune", (n ? n : 1) * sizeof(float), &b)) return NULL;
    climp_status s = h ? climp_buffer_write(ctx, b, 0, n * sizeof(float), h)
                       : climp_buffer_fill_zero(ctx, b, 0, (n ? n : 1) * sizeof(float));
    if (s) climp_buffer_destroy(b), b = NULL;
    return b;
}

/* Count of |got - ref| > atol + rtol |ref| (NaN counts), the first one described in why. */
static size_t mismatches(const char *what, const float *got, const float *ref, size_t n,
                         float atol, float rtol, char *why, size_t nwhy) {
    size_t bad = 0;
    for (size_t i = 0; i < n; i++) {
        float d = fabsf(got[i] - ref[i]);
        if (d <= atol + rtol * fabsf(ref[i]) && !isnan(got[i])) continue;
        if (!bad++)
            snprintf(why, nwhy, "%s[%zu] = %g, reference %g", what, i, (double)got[i],
                     (double)ref[i]);
    }
    return bad;
}

static void record(tuner *t, const char *op, const char *cls, const search *s, double t_def,
                   double t_best, const char *best) {
    cJSON *o = cJSON_CreateObject();
    climp_json_str(o, "op", op);
    climp_json_str(o, "class", cls);
    cJSON_AddNumberToObject(o, "tried", s->ntried);
    cJSON_AddNumberToObject(o, "failed", s->nfailed);
    climp_json_num(o, "default_ms", t_def * 1e3);
    climp_json_num(o, "best_ms", t_best * 1e3);
    climp_json_num(o, "speedup", t_def / t_best);
    climp_json_str(o, "best", best);
    cJSON_AddItemToObject(o, "candidates", s->cands);
    cJSON_AddItemToArray(t->results, o);
}

/* ------------------------------------------------------------------ GEMM */
typedef struct gemm_case {
    const char *model, *what;
    int M, N, K, ta, tb;
} gemm_case;

typedef struct gemm_job {
    climp_ctx *ctx;
    climp_gemm_backend be;
    climp_gemm_desc d;
    climp_buffer *a, *b, *c;
    float *ref;
    size_t nc;
} gemm_job;

typedef struct gemm_class {
    tuner *t;
    const char *cls;
    int kernel; /* tiled kernel id of the space (cl_kernels/gemm.cl GEMM_KERNEL) */
    const space *sp;
    gemm_job *jobs;
    int njobs;
} gemm_class;

static climp_status gemm_call(void *p) {
    gemm_job *j = p;
    return climp_gemm_with(j->ctx, j->be, &j->d, climp_buffer_view(j->a), climp_buffer_view(j->b),
                           climp_buffer_view(j->c));
}

/* Seconds for every job of the class with backend be, checked; negative on failure. */
static double gemm_time(gemm_class *g, climp_gemm_backend be, char *why, size_t nwhy) {
    double total = 0;
    for (int i = 0; i < g->njobs; i++) {
        gemm_job *j = &g->jobs[i];
        j->be = be;
        climp_status s = climp_view_zero(j->ctx, climp_buffer_view(j->c));
        if (!s) s = gemm_call(j);
        float *got = malloc(j->nc * sizeof(float));
        if (!s) s = got ? climp_view_read(j->ctx, climp_buffer_view(j->c), got, j->nc)
                        : CLIMP_ERR_HOST_OOM;
        /* tests/test_gemm.c: |got - ref| <= 1e-6 + 3e-7 K + 1e-5 |ref| */
        size_t bad = s ? 0 : mismatches("C", got, j->ref, j->nc, 1e-6f + 3e-7f * (float)j->d.K,
                                        1e-5f, why, nwhy);
        free(got);
        double med = 0;
        if (!s && !bad) s = timed(j->ctx, gemm_call, j, g->t->quick ? 3 : 5, MIN_SAMPLE(g->t), &med);
        if (s) snprintf(why, nwhy, "%s (%s)", climp_status_name(s), climp_error_detail());
        if (s || bad) return -1;
        total += med;
    }
    return total;
}

static const char *const k_vec_names[] = {"vw", "mr", "nv", "rb", "kc"};
static const char *const k_fwd_names[] = {"tsm", "tsn", "tsk", "wptm", "wptn"};
static const char *const k_small_names[] = {"wptm", "wptn", "lsn"};

static void gemm_set(gemm_class *g, const int *cfg) {
    char key[64];
    const char *const *names = g->kernel == 3 ? k_vec_names : g->kernel == 1 ? k_fwd_names
                                                                             : k_small_names;
    snprintf(key, sizeof key, "gemm.tiled.kernel@%s", g->cls);
    climp_tune_set(g->t->ctx, key, g->kernel);
    for (int d = 0; d < g->sp->ndim; d++) {
        snprintf(key, sizeof key, "gemm.tiled.%s@%s", names[d], g->cls);
        climp_tune_set(g->t->ctx, key, cfg[d]);
    }
}

static double gemm_eval(void *user, const int *cfg, char *why, size_t nwhy) {
    gemm_class *g = user;
    climp_tune_clear(g->t->ctx);
    gemm_set(g, cfg);
    return gemm_time(g, CLIMP_GEMM_TILED, why, nwhy);
}

/* Side-by-side arms: 0 the default (no table: AUTO, or the rule's tiles), 1 the best. */
typedef struct gemm_arms {
    gemm_class *g;
    const int *best; /* tuned tiles, or NULL */
    climp_gemm_backend be0, be1;
} gemm_arms;

static double gemm_arm(void *user, int arm, char *why, size_t nwhy) {
    gemm_arms *a = user;
    climp_tune_clear(a->g->t->ctx);
    if (arm && a->best) gemm_set(a->g, a->best);
    return gemm_time(a->g, arm ? a->be1 : a->be0, why, nwhy);
}

static void gemm_tune_class(tuner *t, const char *cls, const gemm_case *cs, int n) {
    climp_ctx *ctx = t->ctx;
    gemm_job jobs[8];
    int nj = 0;
    uint64_t seed = 99;
    climp_status s = CLIMP_OK;
    for (int i = 0; i < n && nj < 8; i++) {
        climp_gemm_desc d = {.trans_a = cs[i].ta, .trans_b = cs[i].tb, .M = cs[i].M,
                             .N = cs[i].N, .K = cs[i].K, .alpha = 1, .beta = 0, .batch = 1};
        if (strcmp(climp_gemm_tune_class(&d), cls)) continue;
        d.lda = d.trans_a ? d.M : d.K, d.ldb = d.trans_b ? d.K : d.N, d.ldc = d.N;
        gemm_job *j = &jobs[nj++];
        memset(j, 0, sizeof *j);
        j->ctx = ctx, j->d = d, j->nc = (size_t)d.M * d.N;
        float *ha = rand_host(&seed, (size_t)d.M * d.K, -1, 1);
        float *hb = rand_host(&seed, (size_t)d.K * d.N, -1, 1);
        j->ref = malloc(j->nc * sizeof(float));
        if (!ha || !hb || !j->ref) s = CLIMP_ERR_HOST_OOM;
        if (!s) climp_gemm_ref(&d, ha, hb, j->ref);
        if (!s && (!(j->a = upload(ctx, ha, (size_t)d.M * d.K)) ||
                   !(j->b = upload(ctx, hb, (size_t)d.K * d.N)) || !(j->c = upload(ctx, NULL, j->nc))))
            s = CLIMP_ERR_DEVICE_OOM;
        free(ha);
        free(hb);
    }
    const climp_device_info *info = climp_ctx_info(ctx);
    /* Search spaces: CPUs the vector kernel, other devices the local-memory tiles. */
    static const space vec = {5, {"vw", "mr", "nv", "rb", "kc"},
                              {{4, 8, 16}, {4, 6, 8}, {1, 2, 4}, {1, 2, 4, 8, 16}, {64, 128, 256}},
                              {3, 3, 3, 5, 3}};
    static const space vecq = {5, {"vw", "mr", "nv", "rb", "kc"},
                               {{8, 16}, {6}, {1, 2}, {1, 8, 16}, {64, 128}}, {2, 1, 2, 3, 2}};
    static const space fwd = {5, {"tsm", "tsn", "tsk", "wptm", "wptn"},
                              {{32, 64, 128}, {32, 64, 128}, {8, 16, 32}, {2, 4, 8}, {2, 4, 8}},
                              {3, 3, 3, 3, 3}};
    static const int vec_start[] = {8, 6, 2, 8, 128}, fwd_start[] = {64, 64, 16, 4, 4};
    gemm_class g = {t, cls, info->is_cpu ? 3 : 1, info->is_cpu ? (t->quick ? &vecq : &vec) : &fwd,
                    jobs, nj};
    char what[64], why[200] = "", best_txt[160] = "default";
    snprintf(what, sizeof what, "gemm.tiled @%s", cls);
    search se = {g.sp, gemm_eval, &g, NULL, {{0}}, 0, 0, cJSON_CreateArray()};
    double t_def = -1;
    int best[MAXDIM];
    double tb = !s && nj ? descend(t, &se, what, info->is_cpu ? vec_start : fwd_start, best)
                         : INFINITY;
    const int rounds = t->quick ? 3 : 5;
    if (isfinite(tb)) {
        progress(t, "tune %s: default against the best, side by side", what);
        gemm_arms arms = {&g, best, CLIMP_GEMM_TILED, CLIMP_GEMM_TILED};
        side_by_side(gemm_arm, &arms, rounds, &t_def, &tb);
        if (tb < 0) tb = INFINITY;
        if (t_def < 0) fprintf(stderr, "\ntune %s: the default fails\n", what);
    }
    int tiled_tuned = isfinite(tb) && (t_def < 0 || tb < MARGIN * t_def);
    if (tiled_tuned) {
        cfg_text(g.sp, best, best_txt, sizeof best_txt);
        climp_tune_clear(ctx);
        gemm_set(&g, best);
        for (int i = 0; i < climp_tune_count(ctx); i++) {
            int v;
            const char *k = climp_tune_entry(ctx, i, &v);
            add_key(t, k, v);
        }
    }
    if (nj) record(t, "gemm.tiled", cls, &se, t_def, tiled_tuned ? tb : t_def, best_txt);
    /* The backend: the default (AUTO, untuned) against every backend with the tuned tiles. */
    search sb = {NULL, NULL, NULL, NULL, {{0}}, 0, 0, cJSON_CreateArray()};
    double b_def = -1, b_best = INFINITY;
    int b_be = 0;
    if (!s && nj) {
        climp_tune_clear(ctx);
        progress(t, "tune gemm.backend @%s: default", cls);
        climp_gemm_backend auto_be = climp_gemm_choose(ctx, &jobs[0].d);
        b_def = gemm_time(&g, CLIMP_GEMM_AUTO, why, sizeof why);
        for (int be = CLIMP_GEMM_HOSTBLAS; be <= CLIMP_GEMM_TILED; be++) {
            if (!climp_gemm_backend_available(ctx, (climp_gemm_backend)be)) continue;
            /* quick: AUTO's backend against the project's kernel only */
            if (t->quick && be != (int)auto_be && be != CLIMP_GEMM_TILED) continue;
            climp_tune_clear(ctx);
            if (tiled_tuned) gemm_set(&g, best);
            progress(t, "tune gemm.backend @%s: %s", cls, climp_gemm_backend_name(be));
            double sec = gemm_time(&g, (climp_gemm_backend)be, why, sizeof why);
            cJSON *c = cJSON_CreateObject();
            climp_json_str(c, "params", climp_gemm_backend_name(be));
            climp_json_num(c, "ms", sec >= 0 ? sec * 1e3 : NAN);
            if (sec < 0) climp_json_str(c, "failed", why), sb.nfailed++;
            cJSON_AddItemToArray(sb.cands, c);
            sb.ntried++;
            if (sec >= 0 && sec < b_best) b_best = sec, b_be = be;
        }
        if (b_be && (b_be != (int)auto_be || b_be == CLIMP_GEMM_TILED)) {
            progress(t, "tune gemm.backend @%s: default against the best, side by side", cls);
            gemm_arms arms = {&g, tiled_tuned ? best : NULL, CLIMP_GEMM_AUTO,
                              (climp_gemm_backend)b_be};
            side_by_side(gemm_arm, &arms, rounds, &b_def, &b_best);
        }
        /* another backend than AUTO's only when measurably faster; the entry is written either
         * way (the table records what was measured) */
        if (b_be && b_be != (int)auto_be &&
            (b_best < 0 || (b_def >= 0 && b_best >= MARGIN * b_def)))
            b_be = (int)auto_be;
        /* the same backend in both arms (tiled ones differ by the tuned tiles) */
        if (b_be == (int)auto_be && b_be != CLIMP_GEMM_TILED) b_best = b_def;
    }
    char key[64];
    snprintf(key, sizeof key, "gemm.backend@%s", cls);
    if (b_be) add_key(t, key, b_be);
    if (nj) record(t, "gemm.backend", cls, &sb, b_def, b_be ? b_best : b_def,
                   b_be ? climp_gemm_backend_name((climp_gemm_backend)b_be) : "default");
    else cJSON_Delete(sb.cands), cJSON_Delete(se.cands);
    if (s) fprintf(stderr, "tune gemm @%s: setup failed: %s\n", cls, climp_status_name(s));
    for (int i = 0; i < nj; i++) {
        climp_buffer_destroy(jobs[i].a);
        climp_buffer_destroy(jobs[i].b);
        climp_buffer_destroy(jobs[i].c);
        free(jobs[i].ref);
    }
    climp_tune_clear(ctx);
}

static void tune_gemm(tuner *t) {
    /* Linear y = x W^T is {M tokens, N out, K in, Bt}; dX = dY W; dW = dY^T X (At). */
    static const gemm_case full[] = {
        {"mamba-130m", "in_proj", 512, 3072, 768, 0, 1},
        {"mamba-130m", "out_proj", 512, 768, 1536, 0, 1},
        {"mamba-130m", "in_proj.dX", 512, 768, 3072, 0, 0},
        {"mamba-130m", "in_proj.dW", 3072, 768, 512, 1, 0},
        {"mamba-130m", "x_proj", 512, 80, 1536, 0, 1},
        {"vmamba-t", "s0.in_proj", 3136, 192, 96, 0, 1},
        {"vmamba-t", "s0.fc2", 3136, 96, 384, 0, 1},
        {"vmamba-t", "s0.fc1.dW", 384, 96, 3136, 1, 0},
        {"tiny-text", "in_proj", 128, 384, 96, 0, 1},
        {"tiny-text", "out_proj", 128, 96, 192, 0, 1},
        {"tiny-text", "in_proj.dW", 384, 96, 128, 1, 0},
    };
    static const char *const classes[] = {"S", "St", "M", "Mt", "L", "Lt"};
    const gemm_case *cs = t->quick ? full + 8 : full;
    int n = t->quick ? 3 : (int)(sizeof full / sizeof full[0]);
    for (int c = 0; c < 6; c++) gemm_tune_class(t, classes[c], cs, n);
}

/* ------------------------------------------------------------------ selective scan */
typedef struct scan_case {
    const char *model, *tag;
    int B, L, Dc, N, G, R, z;
} scan_case;

enum { SB_U, SB_DT, SB_A, SB_D, SB_BIAS, SB_X, SB_Z, SB_DOUT, SB_OUT, SB_DU, SB_DDT, SB_DZ,
       SB_DX, SB_DA, SB_DD, SB_DBIAS, SB_ST, SB_SCR, SB_COUNT };

typedef struct scan_job {
    climp_ctx *ctx;
    climp_scan_shape s; /* tunables set per candidate */
    int R, z;
    size_t n[SB_COUNT];
    climp_buffer *b[SB_COUNT];
    float *ref[SB_COUNT]; /* reference outputs (SB_OUT .. SB_DBIAS) */
} scan_job;

static climp_tview sv(const scan_job *j, int i) { return climp_buffer_view(j->b[i]); }

static climp_status scan_call(void *p) {
    scan_job *j = p;
    const climp_scan_shape *s = &j->s;
    climp_tview x = sv(j, SB_X), dx = sv(j, SB_DX), none = {0};
    const size_t bc = climp_scan_bc_extent(s);
    climp_tview Bm = climp_view_sub(x, (size_t)j->R, bc), Cm = climp_view_sub(x, (size_t)j->R + s->N, bc);
    climp_tview z = j->z ? sv(j, SB_Z) : none, dz = j->z ? sv(j, SB_DZ) : none;
    CLIMP_TRY(climp_scan_forward(j->ctx, s, sv(j, SB_U), sv(j, SB_DT), sv(j, SB_A), Bm, Cm,
                                 sv(j, SB_D), sv(j, SB_BIAS), z, sv(j, SB_OUT), sv(j, SB_ST)));
    return climp_scan_backward(j->ctx, s, sv(j, SB_U), sv(j, SB_DT), sv(j, SB_A), Bm, Cm,
                               sv(j, SB_D), sv(j, SB_BIAS), z, sv(j, SB_ST), sv(j, SB_DOUT),
                               sv(j, SB_SCR), sv(j, SB_DU), sv(j, SB_DDT), sv(j, SB_DA),
                               climp_view_sub(dx, (size_t)j->R, bc),
                               climp_view_sub(dx, (size_t)j->R + s->N, bc), sv(j, SB_DD),
                               sv(j, SB_DBIAS), dz);
}

/* Inputs as in trainer/bench_kernels.c, the reference forward and backward in host memory. */
static climp_status scan_setup(climp_ctx *ctx, const scan_case *c, scan_job *j, uint64_t seed) {
    memset(j, 0, sizeof *j);
    j->ctx = ctx, j->R = c->R, j->z = c->z;
    climp_scan_shape *s = &j->s;
    const int w = c->R + 2 * c->N;
    s->B = c->B, s->L = c->L, s->Dc = c->Dc, s->N = c->N, s->G = c->G;
    s->ld_u = s->ld_dt = s->ld_z = s->ld_out = c->Dc;
    s->bc_stride_g = (size_t)w, s->bc_stride_l = (size_t)w * c->G;
    s->bc_stride_b = (size_t)w * c->G * c->L;
    const size_t tok = (size_t)c->B * c->L * c->Dc, dn = (size_t)c->Dc * c->N;
    const size_t xd = (size_t)c->R + c->N + climp_scan_bc_extent(s);
    const size_t n[SB_COUNT] = {tok, tok, dn, c->Dc, c->Dc, xd, tok, tok,
                                tok, tok, tok, tok, xd, dn, c->Dc, c->Dc, 0, 0};
    const float lo[8] = {-1, -4, 0, 0.5f, -1, -1, -1, -1}, hi[8] = {1, -1, 2.7f, 1.5f, 0, 1, 1, 1};
    float *h[SB_COUNT] = {0};
    climp_status st = CLIMP_OK;
    for (int i = 0; i < SB_COUNT - 2; i++) {
        j->n[i] = n[i];
        h[i] = i < 8 ? rand_host(&seed, n[i], lo[i], hi[i]) : calloc(n[i] ? n[i] : 1, 4);
        if (!h[i]) st = CLIMP_ERR_HOST_OOM;
    }
    if (!st) {
        const float *x = h[SB_X];
        float *dx = h[SB_DX];
        climp_scan_forward_ref(s, h[SB_U], h[SB_DT], h[SB_A], x + c->R, x + c->R + c->N, h[SB_D],
                               h[SB_BIAS], c->z ? h[SB_Z] : NULL, h[SB_OUT]);
        climp_scan_backward_ref(s, h[SB_U], h[SB_DT], h[SB_A], x + c->R, x + c->R + c->N,
                                h[SB_D], h[SB_BIAS], c->z ? h[SB_Z] : NULL, h[SB_DOUT], h[SB_DU],
                                h[SB_DDT], h[SB_DA], dx + c->R, dx + c->R + c->N, h[SB_DD],
                                h[SB_DBIAS], c->z ? h[SB_DZ] : NULL);
    }
    for (int i = 0; i < SB_COUNT - 2; i++) {
        if (!st && !(j->b[i] = upload(ctx, i < 8 ? h[i] : NULL, n[i]))) st = CLIMP_ERR_DEVICE_OOM;
        if (i >= SB_OUT) j->ref[i] = h[i];
        else free(h[i]);
    }
    return st;
}

static void scan_free(scan_job *j) {
    for (int i = 0; i < SB_COUNT; i++) climp_buffer_destroy(j->b[i]), free(j->ref[i]);
}

/* Every output against the reference with tests/test_scan.c's tolerances: per element
 * atol = 1e-4 max|ref|, rtol = 1e-3, and per tensor max|got - ref| / max|ref| <= 2e-5. */
static int scan_check(scan_job *j, char *why, size_t nwhy) {
    static const char *const names[] = {"out", "du", "ddelta_raw", "dz", "dx_dbl", "dA_log", "dD",
                                        "ddelta_bias"};
    for (int i = SB_OUT; i <= SB_DBIAS; i++) {
        if (i == SB_DZ && !j->z) continue;
        float *got = malloc(j->n[i] * sizeof(float));
        if (!got || climp_view_read(j->ctx, sv(j, i), got, j->n[i])) {
            free(got);
            snprintf(why, nwhy, "cannot read %s", names[i - SB_OUT]);
            return 0;
        }
        float mx = 1e-6f, md = 0;
        for (size_t k = 0; k < j->n[i]; k++) mx = fmaxf(mx, fabsf(j->ref[i][k]));
        for (size_t k = 0; k < j->n[i]; k++) md = fmaxf(md, fabsf(got[k] - j->ref[i][k]));
        size_t bad = mismatches(names[i - SB_OUT], got, j->ref[i], j->n[i], 1e-4f * mx, 1e-3f,
                                why, nwhy);
        free(got);
        if (!bad && !(md / mx <= 2e-5f))
            snprintf(why, nwhy, "%s: max error %.3g of max |ref| (> 2e-5)", names[i - SB_OUT],
                     (double)(md / mx)), bad = 1;
        if (bad) return 0;
    }
    return 1;
}

typedef struct scan_class {
    tuner *t;
    scan_job *jobs;
    int njobs;
} scan_class;

/* cfg: variant, chunk, cb, wg, split (climp_scan_shape's tunables; 0 = automatic). */
static void scan_norm(int *cfg) {
    if (cfg[0] == CLIMP_SCAN_GPU) cfg[2] = 0;     /* cb is the CPU variant's */
    else if (cfg[0] == CLIMP_SCAN_CPU) cfg[3] = 0; /* wg the GPU variant's */
}

static double scan_eval(void *user, const int *cfg, char *why, size_t nwhy) {
    scan_class *g = user;
    double total = 0;
    for (int i = 0; i < g->njobs; i++) {
        scan_job *j = &g->jobs[i];
        j->s.variant = cfg[0], j->s.chunk = cfg[1], j->s.cb = cfg[2], j->s.wg = cfg[3];
        j->s.split = cfg[4];
        climp_buffer_destroy(j->b[SB_ST]), climp_buffer_destroy(j->b[SB_SCR]);
        j->b[SB_ST] = j->b[SB_SCR] = NULL;
        size_t nst = climp_scan_states_size(&j->s), nscr = climp_scan_bwd_scratch_size(&j->s);
        climp_status s = nst ? CLIMP_OK : CLIMP_ERR_INVALID_ARG;
        if (!s && (!(j->b[SB_ST] = upload(j->ctx, NULL, nst)) ||
                   !(j->b[SB_SCR] = upload(j->ctx, NULL, nscr))))
            s = CLIMP_ERR_DEVICE_OOM;
        for (int k = SB_DA; !s && k <= SB_DBIAS; k++) s = climp_view_zero(j->ctx, sv(j, k));
        if (!s) s = scan_call(j);
        if (!s) s = climp_finish(j->ctx);
        if (s) {
            snprintf(why, nwhy, "%s (%s)", climp_status_name(s), climp_error_detail());
            return -1;
        }
        if (!scan_check(j, why, nwhy)) return -1;
        double med;
        if ((s = timed(j->ctx, scan_call, j, g->t->quick ? 3 : 5, MIN_SAMPLE(g->t), &med))) {
            snprintf(why, nwhy, "%s (%s)", climp_status_name(s), climp_error_detail());
            return -1;
        }
        total += med;
    }
    return total;
}

typedef struct scan_arms {
    scan_class *g;
    const int *best;
} scan_arms;

static double scan_arm(void *user, int arm, char *why, size_t nwhy) {
    scan_arms *a = user;
    static const int zero[MAXDIM] = {0};
    return scan_eval(a->g, arm ? a->best : zero, why, nwhy);
}

static void tune_scan(tuner *t) {
    /* Text: 8 captions x 64 tokens; vision: one 224 image, stages 0 and 2 (bench_kernels.c). */
    static const scan_case full[] = {
        {"mamba-130m", "short", 8, 64, 1536, 16, 1, 48, 1},
        {"vmamba-t", "stage0@224", 1, 3136, 4 * 192, 1, 4, 6, 0},
        {"vmamba-t", "stage2@224", 1, 196, 4 * 768, 1, 4, 24, 0},
    };
    static const scan_case quick[] = {
        {"tiny-text", "short", 4, 32, 192, 8, 1, 6, 1},
        {"tiny-vision", "stage0@32", 1, 64, 4 * 48, 1, 4, 2, 0},
    };
    const scan_case *cs = t->quick ? quick : full;
    const int n = t->quick ? 2 : 3;
    const climp_device_info *info = climp_ctx_info(t->ctx);
    static const space sp = {5, {"variant", "chunk", "cb", "wg", "split"},
                             {{1, 2}, {16, 32, 64, 128, 256}, {1, 2, 4, 8, 16}, {16, 32, 64, 128, 256},
                              {1, 2}}, {2, 5, 5, 5, 2}};
    static const space spq = {5, {"variant", "chunk", "cb", "wg", "split"},
                              {{1}, {32, 64}, {4, 8, 16}, {64}, {1, 2}}, {1, 2, 3, 1, 2}};
    int done[8] = {0};
    for (int c = 0; c < n; c++) {
        if (done[c]) continue;
        scan_job jobs[4];
        memset(jobs, 0, sizeof jobs);
        int nj = 0;
        climp_status s = CLIMP_OK;
        for (int k = c; k < n; k++)
            if (cs[k].N == cs[c].N && !done[k]) {
                done[k] = 1;
                if (!s) s = scan_setup(t->ctx, &cs[k], &jobs[nj], 1234 + (uint64_t)k);
                nj++;
            }
        char cls[16], what[48], best_txt[160] = "default";
        snprintf(cls, sizeof cls, "N%d", cs[c].N);
        snprintf(what, sizeof what, "scan @%s", cls);
        scan_class g = {t, jobs, nj};
        search se = {t->quick ? &spq : &sp, scan_eval, &g, scan_norm, {{0}}, 0, 0,
                     cJSON_CreateArray()};
        climp_tune_clear(t->ctx);
        int best[MAXDIM];
        /* start from what the launcher resolves for the first shape */
        climp_scan_shape r = climp_scan_resolve(t->ctx, &jobs[0].s);
        int start[MAXDIM] = {info->is_cpu ? CLIMP_SCAN_CPU : CLIMP_SCAN_GPU, r.chunk, r.cb, r.wg,
                             r.split};
        scan_norm(start);
        double tb = s ? INFINITY : descend(t, &se, what, start, best);
        double t_def = -1;
        /* the launcher's own choice won the search: no side-by-side needed */
        if (isfinite(tb) && !memcmp(best, start, sizeof best)) t_def = tb;
        else if (isfinite(tb)) {
            progress(t, "tune %s: default against the best, side by side", what);
            scan_arms arms = {&g, best};
            side_by_side(scan_arm, &arms, t->quick ? 3 : 5, &t_def, &tb);
            if (tb < 0) tb = INFINITY;
            if (t_def < 0) fprintf(stderr, "\ntune %s: the default fails\n", what);
        }
        int tuned = isfinite(tb) && (t_def < 0 || tb < MARGIN * t_def);
        if (!tuned) memcpy(best, start, sizeof best);
        if (isfinite(tb) || t_def >= 0) {
            cfg_text(se.sp, best, best_txt + (tuned ? 0 : 9), sizeof best_txt - 9);
            if (!tuned) memcpy(best_txt, "default: ", 9);
            for (int d = 0; d < se.sp->ndim; d++) {
                char key[64];
                snprintf(key, sizeof key, "scan.%s@%s", se.sp->name[d], cls);
                /* only what differs from the launcher's choice: a pinned split or chunk would
                 * override its per-shape heuristics at shapes not measured here */
                if (tuned && best[d] && best[d] != start[d]) add_key(t, key, best[d]);
            }
        }
        if (s) fprintf(stderr, "tune %s: setup failed: %s\n", what, climp_status_name(s));
        record(t, "scan", cls, &se, t_def, tuned ? tb : t_def, best_txt);
        for (int k = 0; k < nj; k++) scan_free(&jobs[k]);
    }
}

/* ------------------------------------------------------------------ command */
static int usage(FILE *f, int rc) {
    fprintf(f, "usage: climp tune [--device D] [--quick] [--ops gemm,scan] [--json FILE] "
               "[--dry-run]\n");
    if (f == stdout)
        printf("\nSearches the kernel tunables at the models' shapes, checks every candidate "
               "against the C reference,\ntimes the survivors and writes the fastest to the "
               "tuning table (%s,\n$CLIMP_TUNING_FILE overrides), keyed by device and driver; "
               "every later run uses it\n($CLIMP_TUNING=off ignores it).\n\n"
               "  --device D   P:D index or name substring (default $CLIMP_DEVICE or 0:0)\n"
               "  --quick      the tiny models' shapes and small spaces (< 1 minute)\n"
               "  --ops LIST   comma-separated subset of gemm,scan (default all)\n"
               "  --json FILE  every candidate, its time or why it was rejected, the table\n"
               "  --dry-run    search and report, write no table\n",
               climp_tune_path());
    return rc;
}

int climp_cmd_tune(int argc, char **argv) {
    const char *device = NULL, *json = NULL, *ops = "gemm,scan";
    int quick = 0, dry = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) return usage(stdout, 0);
        if (!strcmp(argv[i], "--quick")) quick = 1;
        else if (!strcmp(argv[i], "--dry-run")) dry = 1;
        else if (climp_opt_str(argc, argv, &i, "--device", &device)) continue;
        else if (climp_opt_str(argc, argv, &i, "--json", &json)) continue;
        else if (climp_opt_str(argc, argv, &i, "--ops", &ops)) continue;
        else {
            fprintf(stderr, "climp tune: unknown option '%s'\n", argv[i]);
            return 2;
        }
    }
    int want_gemm = 0, want_scan = 0;
    for (const char *p = ops; *p;) {
        size_t l = strcspn(p, ",");
        if (l == 4 && !strncmp(p, "gemm", 4)) want_gemm = 1;
        else if (l == 4 && !strncmp(p, "scan", 4)) want_scan = 1;
        else {
            fprintf(stderr, "climp tune: --ops: unknown op '%.*s' (known: gemm, scan)\n", (int)l,
                    p);
            return 2;
        }
        p += l + (p[l] == ',');
    }
    /* The tuner times the kernels itself: overrides would hide what it measures. */
    static const char *const env[] = {"CLIMP_GEMM", "CLIMP_GEMM_TILED_TYPE"};
    for (int i = 0; i < 2; i++)
        if (getenv(env[i])) {
            fprintf(stderr, "climp tune: ignoring $%s while tuning\n", env[i]);
            unsetenv(env[i]);
        }
    climp_ctx_options co = {0};
    co.device = device;
    tuner t = {0};
    climp_status s = climp_ctx_open(&co, &t.ctx);
    if (s) {
        climp_report_error("opening the device", s);
        return 1;
    }
    const climp_device_info *info = climp_ctx_info(t.ctx);
    t.quick = quick, t.tty = isatty(fileno(stderr)), t.results = cJSON_CreateArray();
    fprintf(stderr, "tuning %s (driver %s)%s\n", info->name, info->driver_version,
            quick ? ", quick" : "");
    const double t0 = climp_now_seconds();
    if (want_gemm) tune_gemm(&t);
    if (want_scan) tune_scan(&t);
    if (t.tty) fputc('\n', stderr);
    printf("%-14s %-6s %6s %7s %11s %11s %8s  %s\n", "op", "class", "tried", "failed",
           "default ms", "best ms", "speedup", "best");
    const cJSON *r;
    cJSON_ArrayForEach(r, t.results) {
        printf("%-14s %-6s %6d %7d %11.3f %11.3f %7.2fx  %s\n",
               cJSON_GetObjectItem(r, "op")->valuestring,
               cJSON_GetObjectItem(r, "class")->valuestring,
               cJSON_GetObjectItem(r, "tried")->valueint,
               cJSON_GetObjectItem(r, "failed")->valueint,
               cJSON_GetObjectItem(r, "default_ms")->valuedouble,
               cJSON_GetObjectItem(r, "best_ms")->valuedouble,
               cJSON_GetObjectItem(r, "speedup")->valuedouble,
               cJSON_GetObjectItem(r, "best")->valuestring);
    }
    int rc = 0;
    if (!dry) {
        s = climp_tune_save(t.ctx, (const char *const *)t.keys, t.vals, t.nkeys);
        if (s) climp_report_error("writing the tuning table", s), rc = 1;
        else printf("wrote %d entries for %s to %s\n", t.nkeys, info->name, climp_tune_path());
    } else {
        printf("dry run: %d entries not written\n", t.nkeys);
    }
    printf("tuning took %.1f s\n", climp_now_seconds() - t0);
    if (json) {
        cJSON *root = cJSON_CreateObject();
        climp_json_str(root, "schema", "climp-tune");
        climp_json_str(root, "device", info->name);
        climp_json_str(root, "driver", info->driver_version);
        cJSON_AddBoolToObject(root, "quick", quick);
        cJSON_AddBoolToObject(root, "written", !dry && !rc);
        climp_json_str(root, "table_file", climp_tune_path());
        cJSON *tab = cJSON_CreateObject();
        for (int i = 0; i < t.nkeys; i++) cJSON_AddNumberToObject(tab, t.keys[i], t.vals[i]);
        cJSON_AddItemToObject(root, "table", tab);
        cJSON_AddItemToObject(root, "results", t.results);
        t.results = NULL;
        char *text = cJSON_Print(root);
        FILE *f = text ? fopen(json, "w") : NULL;
        int bad = !f || fputs(text, f) < 0;
        if ((f && fclose(f)) || bad) {
            fprintf(stderr, "climp tune: cannot write %s\n", json);
            rc = 1;
        }
        free(text);
        cJSON_Delete(root);
    }
    cJSON_Delete(t.results);
    for (int i = 0; i < t.nkeys; i++) free(t.keys[i]);
    climp_ctx_close(t.ctx);
    return rc;
}
