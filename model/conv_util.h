/* Private helpers shared by the launchers of model/conv.c, model/conv3x3s2.c and
 * model/crossscan.c: view validation with a detail line, output/input overlap checks, the 2-D
 * work-group choice and the chunking of the two-stage fixed-order reductions. Not a public API. */
#ifndef CLIMP_CONV_UTIL_H
#define CLIMP_CONV_UTIL_H

#include "runtime/climp_runtime.h"

#include <limits.h>
#include <stdlib.h>

/* Two-stage reductions: rows are cut into P <= RED_MAX_PARTS chunks of at least RED_MIN_ROWS
 * rows; the scratch holds P partial rows. */
#define CU_RED_MIN_ROWS 64
#define CU_RED_MAX_PARTS 256
/* Channel work-items per row on CPU devices for the channel-looping kernels. */
#define CU_CPU_CHAN_ITEMS 32

static inline int cu_red_rows(size_t nrows) {
    size_t r = (nrows + CU_RED_MAX_PARTS - 1) / CU_RED_MAX_PARTS;
    return (int)(r < CU_RED_MIN_ROWS ? CU_RED_MIN_ROWS : r);
}
static inline int cu_red_parts(size_t nrows) {
    size_t rows = (size_t)cu_red_rows(nrows);
    return (int)((nrows + rows - 1) / rows);
}

/* A view that must hold `need` floats: NULL buffer -> INVALID_ARG, short -> BUFFER_TOO_SMALL. */
static inline climp_status cu_need(const char *op, const char *name, climp_tview v, size_t need) {
    if (!v.buf) {
        climp_error_set("%s: %s has no buffer", op, name);
        return CLIMP_ERR_INVALID_ARG;
    }
    if (v.n < need) {
        climp_error_set("%s: %s view has %zu floats, the shape needs %zu", op, name, v.n, need);
        return CLIMP_ERR_BUFFER_TOO_SMALL;
    }
    return CLIMP_OK;
}

/* Output view `o` (first `no` floats) must not share floats with input view `i` (first `ni`). */
static inline climp_status cu_disjoint(const char *op, const char *oname, climp_tview o, size_t no,
                                       const char *iname, climp_tview i, size_t ni) {
    if (!o.buf || o.buf != i.buf || !no || !ni)
        return CLIMP_OK;
    if (o.off < i.off + ni && i.off < o.off + no) {
        climp_error_set("%s: %s overlaps %s in buffer %s", op, oname, iname,
                        climp_buffer_name(o.buf));
        return CLIMP_ERR_INVALID_ARG;
    }
    return CLIMP_OK;
}

/* Every dimension > 0 and the element count (product) below INT_MAX, so kernels may index rows
 * with int and elements with ulong. */
static inline climp_status cu_dims(const char *op, int n, const int *d) {
    size_t prod = 1;
    for (int i = 0; i < n; i++) {
        if (d[i] <= 0) {
            climp_error_set("%s: dimension %d is %d (must be > 0)", op, i, d[i]);
            return CLIMP_ERR_SHAPE;
        }
        prod *= (size_t)d[i];
        if (prod > (size_t)INT_MAX) {
            climp_error_set("%s: shape too large (more than INT_MAX elements)", op);
            return CLIMP_ERR_SHAPE;
        }
    }
    return CLIMP_OK;
}

/* Work-group shapes do not depend on the tensor shape (PoCL compiles one specialisation per
 * kernel and local size, so a fixed shape per kernel keeps JIT time down); the global size is
 * rounded up and the kernels guard their bounds. */
static inline void cu_fit_wg(climp_ctx *ctx, size_t *l0, size_t *l1) {
    size_t maxwg = climp_ctx_info(ctx)->max_work_group_size;
    if (maxwg < 1)
        maxwg = 1;
    while (*l0 > maxwg)
        *l0 >>= 1;
    while (*l0 * *l1 > maxwg && *l1 > 1)
        *l1 >>= 1;
}

/* 2-D launch over (n0, n1), one channel per item in dimension 0: work-groups of 32 channels x 4
 * rows (within the device limit). */
static inline void cu_grid2(climp_ctx *ctx, size_t n0, size_t n1, size_t gws[2], size_t lws[2]) {
    size_t l0 = 32, l1 = 4;
    cu_fit_wg(ctx, &l0, &l1);
    lws[0] = l0;
    lws[1] = l1;
    gws[0] = climp_round_up(n0, l0);
    gws[1] = climp_round_up(n1, l1);
}

/* 2-D launch for kernels that loop over the channel dimension with the stride of its global
 * size: dimension 0 is one work-group wide. CPU devices (PoCL and the like run a work-item as a
 * loop iteration, so per-item index arithmetic is what costs) take CU_CPU_CHAN_ITEMS channel
 * items and loop; other devices take 64 neighbouring channels per row for coalesced access.
 * $CLIMP_CONV_CHAN_ITEMS (1..1024) overrides the count, for tuning and for the tests, which run
 * the kernels at several values. */
static inline void cu_grid2_chanloop(climp_ctx *ctx, size_t n0, size_t n1, size_t gws[2],
                                     size_t lws[2]) {
    (void)n0;
    size_t l0 = climp_ctx_info(ctx)->is_cpu ? CU_CPU_CHAN_ITEMS : 64;
    const char *env = getenv("CLIMP_CONV_CHAN_ITEMS");
    if (env && atoi(env) >= 1 && atoi(env) <= 1024)
        l0 = (size_t)atoi(env);
    size_t l1 = 128 / l0 ? 128 / l0 : 1;
    cu_fit_wg(ctx, &l0, &l1);
    lws[0] = gws[0] = l0;
    lws[1] = l1;
    gws[1] = climp_round_up(n1, l1);
}

static inline void cu_grid1(climp_ctx *ctx, size_t n, size_t *gws, size_t *lws) {
    size_t maxwg = climp_ctx_info(ctx)->max_work_group_size;
    size_t l = 64;
    while (l > 1 && l > maxwg)
        l >>= 1;
    *lws = l;
    *gws = climp_round_up(n, l);
}

/* Argument checks return their status quietly (the detail is in climp_error_detail()). */
#define CU_CHECK(expr)                                                                             \
    do {                                                                                           \
        climp_status cu_s_ = (expr);                                                               \
        if (cu_s_ != CLIMP_OK)                                                                     \
            return cu_s_;                                                                          \
    } while (0)

#endif
