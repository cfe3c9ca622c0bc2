/* `climp tune`, GEMM: the tiled kernel's tile parameters per shape class (gemm.tiled.<param>@<class>)
 * and the backend per class (gemm.backend@<class>), every candidate checked against
 * runtime/gemm_ref.c. Shapes: the GEMMs of Mamba-130m, VMamba-T and tiny. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/gemm_ref.h"
#include "trainer/tune_internal.h"
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
        size_t bad = s ? 0 : tune_mismatches("C", got, j->ref, j->nc, 1e-6f + 3e-7f * (float)j->d.K,
                                        1e-5f, why, nwhy);
        free(got);
        double med = 0;
        if (!s && !bad) s = tune_timed(j->ctx, gemm_call, j, g->t->quick ? 3 : 5, MIN_SAMPLE(g->t), &med);
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
    /* A candidate the device cannot run would silently time the rule's tiles instead. */
    for (int i = 0; i < g->njobs; i++)
        if (!climp_gemm_tiled_tuning_usable(g->t->ctx, &g->jobs[i].d)) {
            snprintf(why, nwhy, "not usable on this device (private/local memory or work-group "
                     "limits)");
            return -1;
        }
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
        float *ha = tune_rand_host(&seed, (size_t)d.M * d.K, -1, 1);
        float *hb = tune_rand_host(&seed, (size_t)d.K * d.N, -1, 1);
        j->ref = malloc(j->nc * sizeof(float));
        if (!ha || !hb || !j->ref) s = CLIMP_ERR_HOST_OOM;
        if (!s) climp_gemm_ref(&d, ha, hb, j->ref);
        if (!s && (!(j->a = tune_upload(ctx, ha, (size_t)d.M * d.K)) ||
                   !(j->b = tune_upload(ctx, hb, (size_t)d.K * d.N)) || !(j->c = tune_upload(ctx, NULL, j->nc))))
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
    double tb = !s && nj ? tune_descend(t, &se, what, info->is_cpu ? vec_start : fwd_start, best)
                         : INFINITY;
    const int rounds = t->quick ? 3 : 5;
    if (isfinite(tb)) {
        tune_progress(t, "tune %s: default against the best, side by side", what);
        gemm_arms arms = {&g, best, CLIMP_GEMM_TILED, CLIMP_GEMM_TILED};
        tune_side_by_side(gemm_arm, &arms, rounds, &t_def, &tb);
        if (tb < 0) tb = INFINITY;
        if (t_def < 0) fprintf(stderr, "\ntune %s: the default fails\n", what);
    }
    int tiled_tuned = isfinite(tb) && (t_def < 0 || tb < MARGIN * t_def);
    if (tiled_tuned) {
        tune_cfg_text(g.sp, best, best_txt, sizeof best_txt);
        climp_tune_clear(ctx);
        gemm_set(&g, best);
        for (int i = 0; i < climp_tune_count(ctx); i++) {
            int v;
            const char *k = climp_tune_entry(ctx, i, &v);
            tune_add_key(t, k, v);
        }
    }
    if (nj) tune_record(t, "gemm.tiled", cls, &se, t_def, tiled_tuned ? tb : t_def, best_txt);
    /* The backend: the default (AUTO, untuned) against every backend with the tuned tiles. */
    search sb = {NULL, NULL, NULL, NULL, {{0}}, 0, 0, cJSON_CreateArray()};
    double b_def = -1, b_best = INFINITY;
    int b_be = 0;
    if (!s && nj) {
        climp_tune_clear(ctx);
        tune_progress(t, "tune gemm.backend @%s: default", cls);
        climp_gemm_backend auto_be = climp_gemm_choose(ctx, &jobs[0].d);
        b_def = gemm_time(&g, CLIMP_GEMM_AUTO, why, sizeof why);
        for (int be = CLIMP_GEMM_HOSTBLAS; be <= CLIMP_GEMM_TILED; be++) {
            if (!climp_gemm_backend_available(ctx, (climp_gemm_backend)be)) continue;
            /* quick: AUTO's backend against the project's kernel only */
            if (t->quick && be != (int)auto_be && be != CLIMP_GEMM_TILED) continue;
            climp_tune_clear(ctx);
            if (tiled_tuned) gemm_set(&g, best);
            tune_progress(t, "tune gemm.backend @%s: %s", cls, climp_gemm_backend_name(be));
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
            tune_progress(t, "tune gemm.backend @%s: default against the best, side by side", cls);
            gemm_arms arms = {&g, tiled_tuned ? best : NULL, CLIMP_GEMM_AUTO,
                              (climp_gemm_backend)b_be};
            tune_side_by_side(gemm_arm, &arms, rounds, &b_def, &b_best);
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
    if (b_be) tune_add_key(t, key, b_be);
    if (nj) tune_record(t, "gemm.backend", cls, &sb, b_def, b_be ? b_best : b_def,
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

void tune_gemm(tuner *t) {
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
