/* `climp tune`, selective scan: variant, chunk, channels per work-item, work-group and chunk
 * mapping per state size (scan.<param>@N<n>), every candidate checked against model/scan_ref.c.
 * Shapes: Mamba-130m, VMamba-T stages 0 and 2, and the tiny towers. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/scan.h"
#include "trainer/tune_internal.h"
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
        h[i] = i < 8 ? tune_rand_host(&seed, n[i], lo[i], hi[i]) : calloc(n[i] ? n[i] : 1, 4);
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
        if (!st && !(j->b[i] = tune_upload(ctx, i < 8 ? h[i] : NULL, n[i]))) st = CLIMP_ERR_DEVICE_OOM;
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
        size_t bad = tune_mismatches(names[i - SB_OUT], got, j->ref[i], j->n[i], 1e-4f * mx, 1e-3f,
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
    else if (cfg[0] == CLIMP_SCAN_CPU_N1) cfg[2] = cfg[3] = cfg[4] = 0; /* fixed by the variant */
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
        if (!s && (!(j->b[SB_ST] = tune_upload(j->ctx, NULL, nst)) ||
                   !(j->b[SB_SCR] = tune_upload(j->ctx, NULL, nscr))))
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
        if ((s = tune_timed(j->ctx, scan_call, j, g->t->quick ? 3 : 5, MIN_SAMPLE(g->t), &med))) {
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

void tune_scan(tuner *t) {
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
    static const space sp = {5, {"variant", "chunk", "cb", "wg", "split"},
                             {{1, 2, 4}, {16, 32, 64, 128, 256}, {1, 2, 4, 8, 16},
                              {16, 32, 64, 128, 256}, {1, 2}}, {3, 5, 5, 5, 2}};
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
        int start[MAXDIM] = {r.variant, r.chunk, r.cb, r.wg, r.split};
        scan_norm(start);
        double tb = s ? INFINITY : tune_descend(t, &se, what, start, best);
        double t_def = -1;
        /* the launcher's own choice won the search: no side-by-side needed */
        if (isfinite(tb) && !memcmp(best, start, sizeof best)) t_def = tb;
        else if (isfinite(tb)) {
            tune_progress(t, "tune %s: default against the best, side by side", what);
            scan_arms arms = {&g, best};
            tune_side_by_side(scan_arm, &arms, t->quick ? 3 : 5, &t_def, &tb);
            if (tb < 0) tb = INFINITY;
            if (t_def < 0) fprintf(stderr, "\ntune %s: the default fails\n", what);
        }
        int tuned = isfinite(tb) && (t_def < 0 || tb < MARGIN * t_def);
        if (!tuned) memcpy(best, start, sizeof best);
        if (isfinite(tb) || t_def >= 0) {
            tune_cfg_text(se.sp, best, best_txt + (tuned ? 0 : 9), sizeof best_txt - 9);
            if (!tuned) memcpy(best_txt, "default: ", 9);
            for (int d = 0; d < se.sp->ndim; d++) {
                char key[64];
                snprintf(key, sizeof key, "scan.%s@%s", se.sp->name[d], cls);
                /* only what differs from the launcher's choice: a pinned split or chunk would
                 * override its per-shape heuristics at shapes not measured here */
                if (tuned && best[d] && best[d] != start[d]) tune_add_key(t, key, best[d]);
            }
        }
        if (s) fprintf(stderr, "tune %s: setup failed: %s\n", what, climp_status_name(s));
        tune_record(t, "scan", cls, &se, t_def, tuned ? tb : t_def, best_txt);
        for (int k = 0; k < nj; k++) scan_free(&jobs[k]);
    }
}
