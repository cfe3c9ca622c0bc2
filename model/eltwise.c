/* Host launchers of the element-wise ops (model/eltwise.h, kernels cl_kernels/eltwise.cl, or the
 * single work-item FPGA variants of cl_kernels/eltwise_fpga.cl when climp_ctx_variant() is
 * "fpga"): check every argument, then enqueue. Nothing is enqueued when a check fails. Also the
 * view-checking and FPGA-launch helpers the other model/ launchers share. */
#include "model/eltwise.h"
#include "model/conv_util.h" /* cu_fpga */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SRC "eltwise"
#define DEFS "WG=64"
#define FPGA_SRC "eltwise_fpga"
#define REPEAT_WG 64     /* must equal WG in DEFS */
#define REPEAT_SERIAL 64 /* P up to this sums serially in one work-item per m */

climp_status climp_view_check(climp_tview v, size_t floats, const char *what) {
    if (!v.buf) {
        climp_error_set("%s: view has no buffer", what);
        return CLIMP_ERR_INVALID_ARG;
    }
    size_t cap = climp_buffer_bytes(v.buf) / sizeof(float);
    if (v.off > cap || v.n > cap - v.off) {
        climp_error_set("%s: view [%zu, +%zu) lies outside its buffer of %zu floats", what, v.off,
                        v.n, cap);
        return CLIMP_ERR_BUFFER_TOO_SMALL;
    }
    if (v.n < floats) {
        climp_error_set("%s: view holds %zu floats, needs %zu", what, v.n, floats);
        return CLIMP_ERR_BUFFER_TOO_SMALL;
    }
    return CLIMP_OK;
}

int climp_views_overlap(climp_tview a, size_t na, climp_tview b, size_t nb) {
    return a.buf && a.buf == b.buf && na && nb && a.off < b.off + nb && b.off < a.off + na;
}

size_t climp_strided_span(int rows, int cols, int ld) {
    return (size_t)(rows - 1) * (size_t)ld + (size_t)cols;
}

size_t climp_flat_lws(climp_ctx *ctx, size_t want) {
    size_t mx = climp_ctx_info(ctx)->max_work_group_size;
    size_t l = 1;
    while (l * 2 <= want && l * 2 <= mx)
        l *= 2;
    return l;
}

int climp_ops_cpu_style(climp_ctx *ctx) {
    const char *e = getenv("CLIMP_OPS_VARIANT");
    if (e && !strcmp(e, "cpu"))
        return 1;
    if (e && !strcmp(e, "gpu"))
        return 0;
    return climp_ctx_info(ctx)->is_cpu;
}

int climp_colsum_blocks(int rows, int *rows_per_block) {
    int rpb = (rows + CLIMP_COLSUM_MAX_BLOCKS - 1) / CLIMP_COLSUM_MAX_BLOCKS;
    if (rpb < CLIMP_COLSUM_MIN_ROWS)
        rpb = CLIMP_COLSUM_MIN_ROWS;
    if (rows_per_block)
        *rows_per_block = rpb;
    return rows > 0 ? (rows + rpb - 1) / rpb : 0;
}

climp_status climp_ops_launch_swi(climp_ctx *ctx, const char *source, const char *kname, int nargs,
                                  const climp_karg *args) {
    climp_kernel *k = NULL;
    CLIMP_TRY(climp_kernel_get(ctx, source, CLIMP_OPS_FPGA_DEFINES, kname, &k));
    size_t one = 1;
    return climp_launch(ctx, k, 1, &one, &one, nargs, args);
}

size_t climp_colsum_scratch_floats(int rows, int N) {
    if (rows <= 0 || N <= 0)
        return 0;
    return (size_t)climp_colsum_blocks(rows, NULL) * (size_t)N;
}

/* ------------------------------------------------------------------ flat ops */
#define FLAT_LWS 256          /* work-group size of the flat body kernels */
#define FLAT_CHUNK (1u << 30) /* items per body launch (a multiple of any lws) */

/* The flat ops in the order of their codes in flat_tail (cl_kernels/eltwise.cl). */
enum {
    OP_SILU_FWD,
    OP_SILU_BWD,
    OP_GELU_FWD,
    OP_GELU_BWD,
    OP_SOFTPLUS_FWD,
    OP_SOFTPLUS_BWD,
    OP_ADD,
    OP_ACCUMULATE,
    OP_SCALE,
    OP_CLAMP
};
static const char *const FLAT_NAMES[] = {"silu_fwd",     "silu_bwd",     "gelu_fwd", "gelu_bwd",
                                         "softplus_fwd", "softplus_bwd", "add",      "accumulate",
                                         "scale",        "clamp_inplace"};
/* Their single work-item FPGA variants (eltwise_fpga.cl): one launch over all n elements. */
static const char *const FLAT_SWI_NAMES[] = {
    "silu_fwd_swi",     "silu_bwd_swi", "gelu_fwd_swi",   "gelu_bwd_swi", "softplus_fwd_swi",
    "softplus_bwd_swi", "add_swi",      "accumulate_swi", "scale_swi",    "clamp_inplace_swi"};

/* out[i] = op(a, b, alpha, beta)[i] for i < n (views already checked; unused ones may repeat
 * another view). The body kernel runs over floor(n / lws) * lws items with no bounds checks, in
 * launches of at most FLAT_CHUNK items; flat_tail (guarded) takes the remaining < lws. */
static climp_status flat_launch(climp_ctx *ctx, int op, size_t n, climp_tview out, climp_tview a,
                                climp_tview b, float alpha, float beta) {
    climp_karg args[] = {climp_arg_view(out),  climp_arg_view(a),   climp_arg_view(b),
                         climp_arg_f32(alpha), climp_arg_f32(beta), climp_arg_u64(0),
                         climp_arg_u64(n),     climp_arg_i32(op)};
    if (cu_fpga(ctx)) {
        args[5] = climp_arg_u64(n);
        return climp_ops_launch_swi(ctx, FPGA_SRC, FLAT_SWI_NAMES[op], 6, args);
    }
    size_t lws = climp_flat_lws(ctx, FLAT_LWS);
    size_t body = n / lws * lws;
    if (body) {
        climp_kernel *k = NULL;
        CLIMP_TRY(climp_kernel_get(ctx, SRC, DEFS, FLAT_NAMES[op], &k));
        for (size_t at = 0; at < body; at += FLAT_CHUNK) {
            size_t gws = body - at < FLAT_CHUNK ? body - at : FLAT_CHUNK;
            args[5] = climp_arg_u64(at);
            CLIMP_TRY(climp_launch(ctx, k, 1, &gws, &lws, 6, args));
        }
    }
    if (body == n)
        return CLIMP_OK;
    climp_kernel *k = NULL;
    CLIMP_TRY(climp_kernel_get(ctx, SRC, DEFS, "flat_tail", &k));
    args[5] = climp_arg_u64(body);
    return climp_launch(ctx, k, 1, &lws, &lws, 8, args);
}

/* A plain 1-D launch of a guarded kernel over `items` work-items (colsum_final, repeat). */
static climp_status guarded_launch(climp_ctx *ctx, const char *kname, size_t items, int nargs,
                                   const climp_karg *args) {
    climp_kernel *k = NULL;
    CLIMP_TRY(climp_kernel_get(ctx, SRC, DEFS, kname, &k));
    size_t lws = climp_flat_lws(ctx, 256);
    size_t gws = climp_round_up(items, lws);
    return climp_launch(ctx, k, 1, &gws, &lws, nargs, args);
}

static climp_status flat_check(climp_ctx *ctx, size_t n) {
    if (!ctx)
        return CLIMP_ERR_INVALID_ARG;
    if (n == 0) {
        climp_error_set("element-wise op on 0 elements");
        return CLIMP_ERR_SHAPE;
    }
    return CLIMP_OK;
}

/* out = f(inp) */
static climp_status unary(climp_ctx *ctx, int op, climp_tview out, climp_tview inp, size_t n) {
    CLIMP_TRY(flat_check(ctx, n));
    CLIMP_TRY(climp_view_check(out, n, "out"));
    CLIMP_TRY(climp_view_check(inp, n, "inp"));
    return flat_launch(ctx, op, n, out, inp, inp, 0.0f, 0.0f);
}

/* dinp = f'(inp) dout */
static climp_status unary_bwd(climp_ctx *ctx, int op, climp_tview dinp, climp_tview dout,
                              climp_tview inp, size_t n) {
    CLIMP_TRY(flat_check(ctx, n));
    CLIMP_TRY(climp_view_check(dinp, n, "dinp"));
    CLIMP_TRY(climp_view_check(dout, n, "dout"));
    CLIMP_TRY(climp_view_check(inp, n, "inp"));
    return flat_launch(ctx, op, n, dinp, dout, inp, 0.0f, 0.0f);
}

climp_status climp_silu_forward(climp_ctx *ctx, climp_tview out, climp_tview inp, size_t n) {
    return unary(ctx, OP_SILU_FWD, out, inp, n);
}
climp_status climp_silu_backward(climp_ctx *ctx, climp_tview dinp, climp_tview dout,
                                 climp_tview inp, size_t n) {
    return unary_bwd(ctx, OP_SILU_BWD, dinp, dout, inp, n);
}
climp_status climp_gelu_forward(climp_ctx *ctx, climp_tview out, climp_tview inp, size_t n) {
    return unary(ctx, OP_GELU_FWD, out, inp, n);
}
climp_status climp_gelu_backward(climp_ctx *ctx, climp_tview dinp, climp_tview dout,
                                 climp_tview inp, size_t n) {
    return unary_bwd(ctx, OP_GELU_BWD, dinp, dout, inp, n);
}
climp_status climp_softplus_forward(climp_ctx *ctx, climp_tview out, climp_tview inp, size_t n) {
    return unary(ctx, OP_SOFTPLUS_FWD, out, inp, n);
}
climp_status climp_softplus_backward(climp_ctx *ctx, climp_tview dinp, climp_tview dout,
                                     climp_tview inp, size_t n) {
    return unary_bwd(ctx, OP_SOFTPLUS_BWD, dinp, dout, inp, n);
}

climp_status climp_add(climp_ctx *ctx, climp_tview out, climp_tview a, climp_tview b, size_t n) {
    CLIMP_TRY(flat_check(ctx, n));
    CLIMP_TRY(climp_view_check(out, n, "out"));
    CLIMP_TRY(climp_view_check(a, n, "a"));
    CLIMP_TRY(climp_view_check(b, n, "b"));
    return flat_launch(ctx, OP_ADD, n, out, a, b, 0.0f, 0.0f);
}

static climp_status axpy_like(climp_ctx *ctx, int op, climp_tview y, climp_tview x, float alpha,
                              size_t n) {
    CLIMP_TRY(flat_check(ctx, n));
    CLIMP_TRY(climp_view_check(y, n, "y"));
    CLIMP_TRY(climp_view_check(x, n, "x"));
    return flat_launch(ctx, op, n, y, x, x, alpha, 0.0f);
}

climp_status climp_accumulate(climp_ctx *ctx, climp_tview y, climp_tview x, float alpha, size_t n) {
    return axpy_like(ctx, OP_ACCUMULATE, y, x, alpha, n);
}

climp_status climp_scale(climp_ctx *ctx, climp_tview out, climp_tview x, float alpha, size_t n) {
    return axpy_like(ctx, OP_SCALE, out, x, alpha, n);
}

climp_status climp_clamp(climp_ctx *ctx, climp_tview y, float lo, float hi, size_t n) {
    CLIMP_TRY(flat_check(ctx, n));
    if (!(lo <= hi)) {
        climp_error_set("clamp: lo %g > hi %g", (double)lo, (double)hi);
        return CLIMP_ERR_INVALID_ARG;
    }
    CLIMP_TRY(climp_view_check(y, n, "y"));
    return flat_launch(ctx, OP_CLAMP, n, y, y, y, lo, hi);
}

/* ------------------------------------------------------------------ row ops */
static climp_status rows_check(climp_ctx *ctx, int rows, int cols, const int *lds, int nld) {
    if (!ctx)
        return CLIMP_ERR_INVALID_ARG;
    if (rows <= 0 || cols <= 0) {
        climp_error_set("row op: rows %d, cols %d must be > 0", rows, cols);
        return CLIMP_ERR_SHAPE;
    }
    for (int i = 0; i < nld; i++)
        if (lds[i] < cols) {
            climp_error_set("row op: row stride %d < cols %d", lds[i], cols);
            return CLIMP_ERR_SHAPE;
        }
    return CLIMP_OK;
}

/* Columns per vector load of the row and column-sum kernels: on CPUs the widest of 8, 4 that
 * divides the width (PoCL runs the float8 loop of one row per work-item at several times the
 * speed of one work-item per element with a bounds guard); 1 elsewhere. */
static int col_vw(climp_ctx *ctx, int cols) {
    if (!climp_ops_cpu_style(ctx))
        return 1;
    return cols % 8 == 0 ? 8 : cols % 4 == 0 ? 4 : 1;
}

/* 2-D (>= cols / vw, rows) launch. */
static climp_status launch_2d(climp_ctx *ctx, const char *kname, int vw, int cols, int rows,
                              int nargs, const climp_karg *args) {
    climp_kernel *k = NULL;
    CLIMP_TRY(climp_kernel_get(ctx, SRC, DEFS, kname, &k));
    size_t lx = climp_flat_lws(ctx, 64);
    size_t lws[2] = {lx, 1}, gws[2] = {climp_round_up((size_t)(cols / vw), lx), (size_t)rows};
    return climp_launch(ctx, k, 2, gws, lws, nargs, args);
}

/* The CPU form of a row kernel: kname_rows, one work-item per row; args end with vw. */
static climp_status launch_rows(climp_ctx *ctx, const char *kname, int rows, int nargs,
                                const climp_karg *args) {
    climp_kernel *k = NULL;
    char name[48];
    snprintf(name, sizeof name, "%s_rows", kname);
    CLIMP_TRY(climp_kernel_get(ctx, SRC, DEFS, name, &k));
    size_t lws = climp_flat_lws(ctx, 64), gws = climp_round_up((size_t)rows, lws);
    return climp_launch(ctx, k, 1, &gws, &lws, nargs, args);
}

climp_status climp_bias_add_forward(climp_ctx *ctx, climp_tview y, int ld_y, climp_tview bias,
                                    int rows, int N) {
    CLIMP_TRY(rows_check(ctx, rows, N, &ld_y, 1));
    CLIMP_TRY(climp_view_check(y, climp_strided_span(rows, N, ld_y), "y"));
    CLIMP_TRY(climp_view_check(bias, (size_t)N, "bias"));
    climp_karg a[] = {climp_arg_view(y),   climp_arg_i32(ld_y), climp_arg_view(bias),
                      climp_arg_i32(rows), climp_arg_i32(N),    climp_arg_i32(col_vw(ctx, N))};
    if (cu_fpga(ctx))
        return climp_ops_launch_swi(ctx, FPGA_SRC, "bias_add_fwd_swi", 5, a);
    if (climp_ops_cpu_style(ctx))
        return launch_rows(ctx, "bias_add_fwd", rows, 6, a);
    return launch_2d(ctx, "bias_add_fwd", 1, N, rows, 5, a);
}

climp_status climp_bias_add_backward(climp_ctx *ctx, climp_tview dbias, climp_tview scratch,
                                     climp_tview dy, int ld_dy, int rows, int N) {
    CLIMP_TRY(rows_check(ctx, rows, N, &ld_dy, 1));
    CLIMP_TRY(climp_view_check(dbias, (size_t)N, "dbias"));
    CLIMP_TRY(climp_view_check(scratch, climp_colsum_scratch_floats(rows, N), "scratch"));
    CLIMP_TRY(climp_view_check(dy, climp_strided_span(rows, N, ld_dy), "dy"));
    if (cu_fpga(ctx)) /* one pass, no scratch */
        return CLIMP_OPS_LAUNCH_SWI(ctx, FPGA_SRC, "bias_add_bwd_swi", climp_arg_view(dbias),
                                    climp_arg_view(dy), climp_arg_i32(ld_dy), climp_arg_i32(rows),
                                    climp_arg_i32(N));
    int rpb = 0, nb = climp_colsum_blocks(rows, &rpb);
    int vw = col_vw(ctx, N);
    climp_karg p[] = {climp_arg_view(scratch), climp_arg_view(dy), climp_arg_i32(ld_dy),
                      climp_arg_i32(rows),     climp_arg_i32(N),   climp_arg_i32(rpb),
                      climp_arg_i32(nb),       climp_arg_i32(vw)};
    CLIMP_TRY(launch_2d(ctx, "colsum_partial", vw, N, nb, 8, p));
    climp_karg f[] = {climp_arg_view(dbias), climp_arg_view(scratch), climp_arg_i32(N),
                      climp_arg_i32(nb)};
    return guarded_launch(ctx, "colsum_final", (size_t)N, 4, f);
}

climp_status climp_copy_cols(climp_ctx *ctx, climp_tview dst, int ld_dst, climp_tview src,
                             int ld_src, int rows, int cols, int accumulate) {
    int lds[2] = {ld_dst, ld_src};
    CLIMP_TRY(rows_check(ctx, rows, cols, lds, 2));
    if (accumulate != 0 && accumulate != 1)
        return CLIMP_ERR_INVALID_ARG;
    CLIMP_TRY(climp_view_check(dst, climp_strided_span(rows, cols, ld_dst), "dst"));
    CLIMP_TRY(climp_view_check(src, climp_strided_span(rows, cols, ld_src), "src"));
    climp_karg a[] = {climp_arg_view(dst),       climp_arg_i32(ld_dst),
                      climp_arg_view(src),       climp_arg_i32(ld_src),
                      climp_arg_i32(rows),       climp_arg_i32(cols),
                      climp_arg_i32(accumulate), climp_arg_i32(col_vw(ctx, cols))};
    if (cu_fpga(ctx))
        return climp_ops_launch_swi(ctx, FPGA_SRC, "copy_cols_swi", 7, a);
    if (climp_ops_cpu_style(ctx))
        return launch_rows(ctx, "copy_cols", rows, 8, a);
    return launch_2d(ctx, "copy_cols", 1, cols, rows, 7, a);
}

/* ------------------------------------------------------------------ repeat */
static climp_status repeat_check(climp_ctx *ctx, int M, int P) {
    if (!ctx)
        return CLIMP_ERR_INVALID_ARG;
    if (M <= 0 || P <= 0) {
        climp_error_set("repeat: M %d, P %d must be > 0", M, P);
        return CLIMP_ERR_SHAPE;
    }
    return CLIMP_OK;
}

climp_status climp_repeat_forward(climp_ctx *ctx, climp_tview out, climp_tview inp, int M, int P) {
    CLIMP_TRY(repeat_check(ctx, M, P));
    size_t n = (size_t)M * (size_t)P;
    CLIMP_TRY(climp_view_check(out, n, "out"));
    CLIMP_TRY(climp_view_check(inp, (size_t)M, "inp"));
    climp_karg a[] = {climp_arg_view(out), climp_arg_view(inp), climp_arg_i32(M), climp_arg_i32(P)};
    if (cu_fpga(ctx))
        return climp_ops_launch_swi(ctx, FPGA_SRC, "repeat_fwd_swi", 4, a);
    return guarded_launch(ctx, "repeat_fwd", n, 4, a);
}

climp_status climp_repeat_backward(climp_ctx *ctx, climp_tview dinp, climp_tview dout, int M, int P,
                                   int accumulate) {
    CLIMP_TRY(repeat_check(ctx, M, P));
    if (accumulate != 0 && accumulate != 1)
        return CLIMP_ERR_INVALID_ARG;
    CLIMP_TRY(climp_view_check(dinp, (size_t)M, "dinp"));
    CLIMP_TRY(climp_view_check(dout, (size_t)M * (size_t)P, "dout"));
    climp_karg a[] = {climp_arg_view(dinp), climp_arg_view(dout), climp_arg_i32(M),
                      climp_arg_i32(P), climp_arg_i32(accumulate)};
    if (cu_fpga(ctx))
        return climp_ops_launch_swi(ctx, FPGA_SRC, "repeat_bwd_swi", 5, a);
    /* CPUs: always one work-item per m */
    if (P <= REPEAT_SERIAL || climp_ops_cpu_style(ctx) ||
        climp_ctx_info(ctx)->max_work_group_size < REPEAT_WG)
        return guarded_launch(ctx, "repeat_bwd", (size_t)M, 5, a);
    climp_kernel *k = NULL;
    CLIMP_TRY(climp_kernel_get(ctx, SRC, DEFS, "repeat_bwd_wg", &k));
    size_t lws = REPEAT_WG, gws = (size_t)M * REPEAT_WG;
    return climp_launch(ctx, k, 1, &gws, &lws, 5, a);
}
