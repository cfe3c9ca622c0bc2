/* Private helpers shared by the launchers of model/conv.c, model/conv3x3s2.c and
 * model/crossscan.c: view validation with a detail line, output/input overlap checks, the
 * chunking of the two-stage fixed-order reductions, the vector width of the loop kernels, the
 * launch shapes (loop kernels: fixed work-groups, bounds tested; row kernels: exact ranges, no
 * bounds tests, a tail launch) and the FPGA-style single-work-item variant (conv_fpga.cl).
 * Not a public API. */
#ifndef CLIMP_CONV_UTIL_H
#define CLIMP_CONV_UTIL_H

#include "runtime/climp_runtime.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

/* Two-stage reductions: rows are cut into P <= RED_MAX_PARTS chunks of at least RED_MIN_ROWS
 * rows; the scratch holds P partial rows. */
#define CU_RED_MIN_ROWS 64
#define CU_RED_MAX_PARTS 256

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

/* Channels per work-item of the vector loop kernels: the widest of 8, 4, 2, 1 dividing n.
 * $CLIMP_CONV_VW (1, 2, 4 or 8, when it divides n) overrides it, for tuning and the tests. */
static inline int cu_vw(int n) {
    const char *env = getenv("CLIMP_CONV_VW");
    int e = env ? atoi(env) : 0;
    if ((e == 1 || e == 2 || e == 4 || e == 8) && n % e == 0)
        return e;
    return n % 8 == 0 ? 8 : n % 4 == 0 ? 4 : n % 2 == 0 ? 2 : 1;
}

/* 2-D launch of a loop kernel (bounds tested, per-item loops) over (n0, n1): work-groups of
 * 4 x 16 items whatever the shape, so PoCL compiles one specialisation per kernel. */
static inline void cu_grid_loop(climp_ctx *ctx, size_t n0, size_t n1, size_t gws[2],
                                size_t lws[2]) {
    size_t l0 = 4, l1 = 16;
    cu_fit_wg(ctx, &l0, &l1);
    lws[0] = l0;
    lws[1] = l1;
    gws[0] = climp_round_up(n0, l0);
    gws[1] = climp_round_up(n1, l1);
}

/* 1-D launch of a loop kernel whose item is one image row (much work per item): work-groups of
 * 8 items. */
static inline void cu_grid_rows1(climp_ctx *ctx, size_t n, size_t *gws, size_t *lws) {
    size_t l = 8, one = 1;
    cu_fit_wg(ctx, &l, &one);
    *lws = l;
    *gws = climp_round_up(n, l);
}

/* Work-items per work-group of the exact-range row kernels (cu_launch_rows): PoCL-like CPU
 * runtimes pay a fixed cost per work-group, so they are big. */
#define CU_ROW_WG_ITEMS 4096

/* Launches a 2-D "row kernel" over exactly (n0, rows) items without bounds tests in the kernel:
 * dimension 0 (channels) has global size n0 and local size l0 = n0 when n0 <= 256 (one vector
 * loop over the whole row: the row's index arithmetic is paid once), else the largest power of
 * two <= 64 dividing n0; dimension 1 runs as whole work-groups of l1 rows (the largest power of
 * two with l0 * l1 <= CU_ROW_WG_ITEMS) over the first floor(rows / l1) * l1 rows, then with
 * local size 1 over the remaining rows. PoCL compiles one specialisation per local size: at most
 * two per kernel and channel count. args[r0_arg] is the kernel's first-row argument (an i32),
 * set to 0 and then to the tail's first row. $CLIMP_CONV_ROW_WG (1..1024) overrides l1, for
 * tuning and the tests. */
static inline climp_status cu_launch_rows(climp_ctx *ctx, climp_kernel *k, size_t n0, size_t rows,
                                          int nargs, climp_karg *args, int r0_arg) {
    size_t maxwg = climp_ctx_info(ctx)->max_work_group_size, cap = CU_ROW_WG_ITEMS;
    if (cap > maxwg)
        cap = maxwg ? maxwg : 1;
    size_t l0 = n0;
    if (l0 > 256 || l0 > cap) {
        l0 = 64;
        while (l0 > 1 && (n0 % l0 || l0 > cap))
            l0 >>= 1;
    }
    size_t l1 = 1;
    while (l0 * l1 * 2 <= cap)
        l1 *= 2;
    const char *env = getenv("CLIMP_CONV_ROW_WG");
    if (env && atoi(env) >= 1 && atoi(env) <= 1024)
        l1 = (size_t)atoi(env);
    while (l1 > 1 && l0 * l1 > cap)
        l1--;
    size_t main_rows = rows / l1 * l1;
    size_t gws[2] = {n0, main_rows}, lws[2] = {l0, l1};
    args[r0_arg] = climp_arg_i32(0);
    if (main_rows)
        CLIMP_TRY(climp_launch(ctx, k, 2, gws, lws, nargs, args));
    if (main_rows == rows)
        return CLIMP_OK;
    gws[1] = rows - main_rows;
    lws[1] = 1;
    args[r0_arg] = climp_arg_i32((int32_t)main_rows);
    return climp_launch(ctx, k, 2, gws, lws, nargs, args);
}

static inline void cu_grid1(climp_ctx *ctx, size_t n, size_t *gws, size_t *lws) {
    size_t maxwg = climp_ctx_info(ctx)->max_work_group_size;
    size_t l = 64;
    while (l > 1 && l > maxwg)
        l >>= 1;
    *lws = l;
    *gws = climp_round_up(n, l);
}

/* The FPGA-style variants (cl_kernels/conv_fpga.cl, one program without defines): single
 * work-item kernels, selected when climp_ctx_variant(ctx) is "fpga". */
#define CU_FPGA_SRC "conv_fpga"

static inline int cu_fpga(const climp_ctx *ctx) {
    return !strcmp(climp_ctx_variant(ctx), "fpga");
}

/* Enqueue single work-item kernel `name` of conv_fpga.cl. */
static inline climp_status cu_launch_swi(climp_ctx *ctx, const char *name, int nargs,
                                         const climp_karg *args) {
    climp_kernel *k;
    CLIMP_TRY(climp_kernel_get(ctx, CU_FPGA_SRC, NULL, name, &k));
    size_t one[1] = {1};
    return climp_launch(ctx, k, 1, one, one, nargs, args);
}
#define CU_LAUNCH_SWI(ctx, name, ...)                                                              \
    cu_launch_swi((ctx), (name), (int)(sizeof((climp_karg[]){__VA_ARGS__}) / sizeof(climp_karg)),  \
                  (climp_karg[]){__VA_ARGS__})

/* Argument checks return their status quietly (the detail is in climp_error_detail()). */
#define CU_CHECK(expr)                                                                             \
    do {                                                                                           \
        climp_status cu_s_ = (expr);                                                               \
        if (cu_s_ != CLIMP_OK)                                                                     \
            return cu_s_;                                                                          \
    } while (0)

#endif
