/* Private to the autotuner (trainer/cli_tune.c: search, timing and checking helpers and the
 * command; trainer/tune_gemm.c: GEMM tiles and backend; trainer/tune_scan.c: selective scan). */
#ifndef CLIMP_TUNE_INTERNAL_H
#define CLIMP_TUNE_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "trainer/bench.h"

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

/* Seconds of the default (arm 0) or the best candidate (arm 1); negative on failure. */
typedef double (*arm_fn)(void *user, int arm, char *why, size_t nwhy);

/* Adds (or updates) an entry of the table to write. */
void tune_add_key(tuner *t, const char *key, int v);
/* One progress line on stderr (rewritten in place on a terminal). */
void tune_progress(const tuner *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* "name=value ..." of a candidate. */
void tune_cfg_text(const space *sp, const int *cfg, char *out, size_t n);

/* Evaluates cfg unless tried before; returns its seconds (or -1 when skipped or failed). */
double tune_try_cfg(const tuner *t, search *s, const char *what, int *cfg);

/* Coordinate descent from start: each pass tries every value of each dimension with the others
 * at the best so far. Returns the best seconds (INFINITY when nothing passed) and its cfg. */
double tune_descend(const tuner *t, search *s, const char *what, const int *start, int *best);

/* Median seconds per call over reps samples, after one warm-up call; each sample runs enough
 * calls back to back (waiting for the device after the last) to last >= min_s, so that short
 * kernels are not timed at the resolution of the launch overhead and the machine's noise. */
climp_status tune_timed(climp_ctx *ctx, climp_status (*fn)(void *), void *u, int reps,
                          double min_s, double *median);

/* The default (arm 0) and the best candidate (arm 1) measured again, alternately, `rounds` times
 * each: the decision and the reported speed-up come from these side-by-side medians. */
void tune_side_by_side(arm_fn run, void *user, int rounds, double *t_def, double *t_best);

/* Seeded U(lo, hi) host data and its device copy. */
float *tune_rand_host(uint64_t *seed, size_t n, float lo, float hi);

climp_buffer *tune_upload(climp_ctx *ctx, const float *h, size_t n);

/* Count of |got - ref| > atol + rtol |ref| (NaN counts), the first one described in why. */
size_t tune_mismatches(const char *what, const float *got, const float *ref, size_t n,
                         float atol, float rtol, char *why, size_t nwhy);

void tune_record(tuner *t, const char *op, const char *cls, const search *s, double t_def,
                   double t_best, const char *best);

/* Search every GEMM / scan shape class and add the winners to t's table. */
void tune_gemm(tuner *t);
void tune_scan(tuner *t);

#endif
