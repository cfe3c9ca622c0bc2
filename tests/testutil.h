/* Shared test helpers: device open-or-skip, seeded random data, tolerance comparison that prints
 * the first mismatches and the seed, finite differences. Implementation: tests/testutil.c. */
#ifndef CLIMP_TESTUTIL_H
#define CLIMP_TESTUTIL_H

#include "runtime/climp_runtime.h"
#include <stdint.h>
#include <stddef.h>

#define TEST_SKIP 77

/* Opens the default device ($CLIMP_DEVICE or 0:0); exits 77 (skip) when there is no OpenCL
 * platform or device. Aborts on any other error. */
climp_ctx *tu_open_ctx(void);

/* Deterministic xorshift RNG. */
typedef struct { uint64_t s; } tu_rng;
void tu_rng_seed(tu_rng *r, uint64_t seed);
float tu_uniform(tu_rng *r, float lo, float hi);
void tu_fill(tu_rng *r, float *x, size_t n, float lo, float hi);
float *tu_alloc_rand(tu_rng *r, size_t n, float lo, float hi); /* malloc'ed */
float *tu_filled(size_t n, float v);                            /* malloc'ed, n copies of v */
float *tu_dup(const float *x, size_t n);                        /* malloc'ed copy of x[0..n) */

/* Returns the number of mismatches of |a-b| <= atol + rtol*|ref| (NaN in either is a mismatch);
 * prints up to 8 of them with `what` and the current seed. */
size_t tu_compare(const char *what, const float *got, const float *ref, size_t n, float atol,
                  float rtol);
/* Max-norm relative error: max|a-b| / max(max|ref|, tiny). */
double tu_rel_maxnorm(const float *got, const float *ref, size_t n);

/* Upload host data into a new device buffer; download to a malloc'ed host array. */
climp_buffer *tu_upload(climp_ctx *ctx, const char *name, const float *x, size_t n);
float *tu_download(climp_ctx *ctx, climp_tview v, size_t n);

/* Test bookkeeping: tu_check(cond, fmt...) counts failures; tu_finish() prints the plain summary
 * line ("N passed, M failed") and returns the exit code. */
void tu_check(int cond, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int tu_finish(const char *suite);
extern uint64_t tu_current_seed;

#endif
