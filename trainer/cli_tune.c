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

#include "trainer/cli.h"
#include "trainer/tune_internal.h"

void tune_add_key(tuner *t, const char *key, int v) {
    for (int i = 0; i < t->nkeys; i++)
        if (!strcmp(t->keys[i], key)) {
            t->vals[i] = v;
            return;
        }
    if (t->nkeys < 256 && (t->keys[t->nkeys] = strdup(key))) t->vals[t->nkeys++] = v;
}

void tune_progress(const tuner *t, const char *fmt, ...) {
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



void tune_cfg_text(const space *sp, const int *cfg, char *out, size_t n) {
    size_t o = 0;
    out[0] = 0;
    for (int d = 0; d < sp->ndim && o < n; d++)
        o += (size_t)snprintf(out + o, n - o, "%s%s=%d", d ? " " : "", sp->name[d], cfg[d]);
}

/* Evaluates cfg unless tried before; returns its seconds (or -1 when skipped or failed). */
double tune_try_cfg(const tuner *t, search *s, const char *what, int *cfg) {
    if (s->norm) s->norm(cfg);
    for (int i = 0; i < s->ntried; i++)
        if (!memcmp(s->tried[i], cfg, sizeof(int) * (size_t)s->sp->ndim)) return -1;
    if (s->ntried == MAXTRIED) return -1;
    memcpy(s->tried[s->ntried++], cfg, sizeof(int) * MAXDIM);
    char txt[160], why[200] = "";
    tune_cfg_text(s->sp, cfg, txt, sizeof txt);
    tune_progress(t, "tune %s: candidate %d: %s", what, s->ntried, txt);
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
double tune_descend(const tuner *t, search *s, const char *what, const int *start, int *best) {
    int cur[MAXDIM] = {0};
    memcpy(cur, start, sizeof(int) * (size_t)s->sp->ndim);
    double tb = tune_try_cfg(t, s, what, cur);
    if (tb < 0) tb = INFINITY;
    memcpy(best, cur, sizeof cur);
    for (int pass = 0; pass < (t->quick ? 1 : 2); pass++) {
        int improved = 0;
        for (int d = 0; d < s->sp->ndim; d++)
            for (int v = 0; v < s->sp->nval[d]; v++) {
                int c[MAXDIM];
                memcpy(c, best, sizeof c);
                c[d] = s->sp->val[d][v];
                double sec = tune_try_cfg(t, s, what, c);
                if (sec >= 0 && sec < tb) tb = sec, memcpy(best, c, sizeof c), improved = 1;
            }
        if (!improved) break;
    }
    return tb;
}

/* Median seconds per call over reps samples, after one warm-up call; each sample runs enough
 * calls back to back (waiting for the device after the last) to last >= min_s, so that short
 * kernels are not timed at the resolution of the launch overhead and the machine's noise. */
climp_status tune_timed(climp_ctx *ctx, climp_status (*fn)(void *), void *u, int reps,
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
void tune_side_by_side(arm_fn run, void *user, int rounds, double *t_def, double *t_best) {
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
float *tune_rand_host(uint64_t *seed, size_t n, float lo, float hi) {
    float *h = malloc((n ? n : 1) * sizeof(float));
    for (size_t i = 0; h && i < n; i++) {
        *seed = *seed * 6364136223846793005ull + 1442695040888963407ull;
        h[i] = lo + (hi - lo) * (float)((*seed >> 40) * (1.0 / 16777216.0));
    }
    return h;
}

climp_buffer *tune_upload(climp_ctx *ctx, const float *h, size_t n) {
    climp_buffer *b = NULL;
    if (climp_buffer_create(ctx, "tune", (n ? n : 1) * sizeof(float), &b)) return NULL;
    climp_status s = h ? climp_buffer_write(ctx, b, 0, n * sizeof(float), h)
                       : climp_buffer_fill_zero(ctx, b, 0, (n ? n : 1) * sizeof(float));
    if (s) climp_buffer_destroy(b), b = NULL;
    return b;
}

/* Count of |got - ref| > atol + rtol |ref| (NaN counts), the first one described in why. */
size_t tune_mismatches(const char *what, const float *got, const float *ref, size_t n,
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

void tune_record(tuner *t, const char *op, const char *cls, const search *s, double t_def,
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
