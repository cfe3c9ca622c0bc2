/* Host launchers of LayerNorm, RMSNorm and gated RMSNorm (model/norm.h, cl_kernels/norm.cl):
 * check every argument, pick the lanes per row, enqueue. Nothing is enqueued when a check fails.
 * Weight gradients: *_bwd_part (per row-block partials into scratch) + colsum_final. When
 * climp_ctx_variant() is "fpga": the single work-item kernels of cl_kernels/norm_fpga.cl instead
 * (weight gradients in one *_bwd_w_swi pass; the scratch view is checked but not used). */
#include "model/norm.h"
#include "model/conv_util.h" /* cu_fpga */

#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "model/eltwise.h"

#define SRC "norm"
#define FPGA_SRC "norm_fpga"
#define PART_LWS 64 /* local size (x) of the partial and final column-sum kernels */

/* The one device decision of this file. CPUs (PoCL runs a work-group's lanes as a loop, and
 * barriers split it): one work-item per row, looping over float8/float4 vectors (VW, the widest
 * that divides the row width), RPG rows per work-group; measured 2-3x faster than one row per
 * work-group or scalar loops for C = 12..192. Other devices: WG lanes per row, a power of two
 * near C/4 (about four columns per lane) in 32..256, capped by the device; scalar columns. */
#define CPU_RPG 64 /* rows per work-group on CPUs */

typedef struct {
    climp_ctx *ctx;
    char defs[48];
    int wg, rpg, vw;
} prog;

static prog prog_for(climp_ctx *ctx, int C) {
    prog p;
    p.ctx = ctx;
    if (climp_ops_cpu_style(ctx)) {
        p.wg = 1;
        p.rpg = CPU_RPG;
        p.vw = C % 8 == 0 ? 8 : C % 4 == 0 ? 4 : 1;
    } else {
        int w = 32;
        while (w < 256 && w * 4 < C)
            w *= 2;
        p.wg = (int)climp_flat_lws(ctx, (size_t)w);
        p.rpg = 1;
        p.vw = 1;
    }
    snprintf(p.defs, sizeof p.defs, "WG=%d RPG=%d", p.wg, p.rpg); /* vw is an argument */
    return p;
}

#define MAX_ARGS 16

/* args followed by vw (every row and partial-sum kernel takes it last). */
static int with_vw(const prog *p, climp_karg *dst, const climp_karg *args, int nargs) {
    memcpy(dst, args, (size_t)nargs * sizeof *dst);
    dst[nargs] = climp_arg_i32(p->vw);
    return nargs + 1;
}

/* 1-D work-groups of rpg rows x wg lanes over n rows (or (row, group) items). */
static climp_status launch_rows(const prog *p, const char *kname, int n, int nargs,
                                const climp_karg *args) {
    climp_kernel *k = NULL;
    CLIMP_TRY(climp_kernel_get(p->ctx, SRC, p->defs, kname, &k));
    climp_karg a[MAX_ARGS];
    int na = with_vw(p, a, args, nargs);
    size_t lws = (size_t)p->wg * (size_t)p->rpg;
    size_t gws = climp_round_up((size_t)n, (size_t)p->rpg) * (size_t)p->wg;
    return climp_launch(p->ctx, k, 1, &gws, &lws, na, a);
}

/* 2-D (vector columns, row blocks) partial sums. */
static climp_status launch_part(const prog *p, const char *kname, int C, int nb, int nargs,
                                const climp_karg *args) {
    climp_kernel *k = NULL;
    CLIMP_TRY(climp_kernel_get(p->ctx, SRC, p->defs, kname, &k));
    climp_karg a[MAX_ARGS];
    int na = with_vw(p, a, args, nargs);
    size_t lx = climp_flat_lws(p->ctx, PART_LWS);
    size_t lws[2] = {lx, 1}, gws[2] = {climp_round_up((size_t)(C / p->vw), lx), (size_t)nb};
    return climp_launch(p->ctx, k, 2, gws, lws, na, a);
}

/* dst (C) += sum over nb blocks of part (nb, C). */
static climp_status launch_final(const prog *p, climp_tview dst, climp_tview part, int C, int nb) {
    climp_kernel *k = NULL;
    CLIMP_TRY(climp_kernel_get(p->ctx, SRC, p->defs, "colsum_final", &k));
    size_t lws = climp_flat_lws(p->ctx, PART_LWS), gws = climp_round_up((size_t)C, lws);
    climp_karg a[] = {climp_arg_view(dst), climp_arg_view(part), climp_arg_i32(C),
                      climp_arg_i32(nb)};
    return climp_launch(p->ctx, k, 1, &gws, &lws, 4, a);
}

/* An overwritten gradient (n floats) must not share memory with an input the backward reads. */
static climp_status no_alias(climp_tview g, size_t n, climp_tview in, size_t nin,
                             const char *what) {
    if (!climp_views_overlap(g, n, in, nin))
        return CLIMP_OK;
    climp_error_set("%s overlaps an input of the backward", what);
    return CLIMP_ERR_INVALID_ARG;
}

static climp_status shape_check(climp_ctx *ctx, int rows, int C, const char *op) {
    if (!ctx)
        return CLIMP_ERR_INVALID_ARG;
    if (rows <= 0 || C <= 0) {
        climp_error_set("%s: rows %d and C %d must be > 0", op, rows, C);
        return CLIMP_ERR_SHAPE;
    }
    return CLIMP_OK;
}

size_t climp_layernorm_scratch_floats(int rows, int C) {
    return 2 * climp_colsum_scratch_floats(rows, C);
}
size_t climp_rmsnorm_scratch_floats(int rows, int C) {
    return climp_colsum_scratch_floats(rows, C);
}
size_t climp_gated_rmsnorm_scratch_floats(int rows, int E) {
    return climp_colsum_scratch_floats(rows, E);
}

/* ------------------------------------------------------------------ LayerNorm */
climp_status climp_layernorm_forward(climp_ctx *ctx, climp_tview out, climp_tview mean,
                                     climp_tview rstd, climp_tview inp, climp_tview weight,
                                     climp_tview bias, int rows, int C) {
    CLIMP_TRY(shape_check(ctx, rows, C, "layernorm"));
    size_t n = (size_t)rows * (size_t)C;
    CLIMP_TRY(climp_view_check(out, n, "layernorm out"));
    CLIMP_TRY(climp_view_check(mean, (size_t)rows, "layernorm mean"));
    CLIMP_TRY(climp_view_check(rstd, (size_t)rows, "layernorm rstd"));
    CLIMP_TRY(climp_view_check(inp, n, "layernorm inp"));
    CLIMP_TRY(climp_view_check(weight, (size_t)C, "layernorm weight"));
    CLIMP_TRY(climp_view_check(bias, (size_t)C, "layernorm bias"));
    prog p = prog_for(ctx, C);
    climp_karg a[] = {
        climp_arg_view(out), climp_arg_view(mean),   climp_arg_view(rstd),
        climp_arg_view(inp), climp_arg_view(weight), climp_arg_view(bias),
        climp_arg_i32(rows), climp_arg_i32(C),       climp_arg_f32(CLIMP_LAYERNORM_EPS)};
    if (cu_fpga(ctx))
        return climp_ops_launch_swi(ctx, FPGA_SRC, "layernorm_fwd_swi", 9, a);
    return launch_rows(&p, "layernorm_fwd", rows, 9, a);
}

climp_status climp_layernorm_backward(climp_ctx *ctx, climp_tview dinp, climp_tview dweight,
                                      climp_tview dbias, climp_tview scratch, climp_tview dout,
                                      climp_tview inp, climp_tview weight, climp_tview mean,
                                      climp_tview rstd, int rows, int C) {
    CLIMP_TRY(shape_check(ctx, rows, C, "layernorm backward"));
    size_t n = (size_t)rows * (size_t)C;
    CLIMP_TRY(climp_view_check(dinp, n, "layernorm dinp"));
    CLIMP_TRY(climp_view_check(dweight, (size_t)C, "layernorm dweight"));
    CLIMP_TRY(climp_view_check(dbias, (size_t)C, "layernorm dbias"));
    CLIMP_TRY(
        climp_view_check(scratch, climp_layernorm_scratch_floats(rows, C), "layernorm scratch"));
    CLIMP_TRY(climp_view_check(dout, n, "layernorm dout"));
    CLIMP_TRY(climp_view_check(inp, n, "layernorm inp"));
    CLIMP_TRY(climp_view_check(weight, (size_t)C, "layernorm weight"));
    CLIMP_TRY(climp_view_check(mean, (size_t)rows, "layernorm mean"));
    CLIMP_TRY(climp_view_check(rstd, (size_t)rows, "layernorm rstd"));
    CLIMP_TRY(no_alias(dinp, n, dout, n, "layernorm dinp"));
    CLIMP_TRY(no_alias(dinp, n, inp, n, "layernorm dinp"));
    prog p = prog_for(ctx, C);
    climp_karg a[] = {climp_arg_view(dinp),   climp_arg_view(dout), climp_arg_view(inp),
                      climp_arg_view(weight), climp_arg_view(mean), climp_arg_view(rstd),
                      climp_arg_i32(rows),    climp_arg_i32(C)};
    if (cu_fpga(ctx)) {
        CLIMP_TRY(climp_ops_launch_swi(ctx, FPGA_SRC, "layernorm_bwd_dx_swi", 8, a));
        return CLIMP_OPS_LAUNCH_SWI(ctx, FPGA_SRC, "layernorm_bwd_w_swi", climp_arg_view(dweight),
                                    climp_arg_view(dbias), climp_arg_view(dout),
                                    climp_arg_view(inp), climp_arg_view(mean), climp_arg_view(rstd),
                                    climp_arg_i32(rows), climp_arg_i32(C));
    }
    CLIMP_TRY(launch_rows(&p, "layernorm_bwd_dx", rows, 8, a));
    int rpb = 0, nb = climp_colsum_blocks(rows, &rpb);
    size_t half = (size_t)nb * (size_t)C;
    climp_karg b[] = {climp_arg_view(scratch), climp_arg_view(dout), climp_arg_view(inp),
                      climp_arg_view(mean),    climp_arg_view(rstd), climp_arg_i32(rows),
                      climp_arg_i32(C),        climp_arg_i32(rpb),   climp_arg_i32(nb)};
    CLIMP_TRY(launch_part(&p, "layernorm_bwd_part", C, nb, 9, b));
    CLIMP_TRY(launch_final(&p, dweight, climp_view_sub(scratch, 0, half), C, nb));
    return launch_final(&p, dbias, climp_view_sub(scratch, half, half), C, nb);
}

/* ------------------------------------------------------------------ RMSNorm */
climp_status climp_rmsnorm_forward(climp_ctx *ctx, climp_tview out, climp_tview rstd,
                                   climp_tview inp, climp_tview weight, int rows, int C) {
    CLIMP_TRY(shape_check(ctx, rows, C, "rmsnorm"));
    size_t n = (size_t)rows * (size_t)C;
    CLIMP_TRY(climp_view_check(out, n, "rmsnorm out"));
    CLIMP_TRY(climp_view_check(rstd, (size_t)rows, "rmsnorm rstd"));
    CLIMP_TRY(climp_view_check(inp, n, "rmsnorm inp"));
    CLIMP_TRY(climp_view_check(weight, (size_t)C, "rmsnorm weight"));
    prog p = prog_for(ctx, C);
    climp_karg a[] = {climp_arg_view(out),
                      climp_arg_view(rstd),
                      climp_arg_view(inp),
                      climp_arg_view(weight),
                      climp_arg_i32(rows),
                      climp_arg_i32(C),
                      climp_arg_f32(CLIMP_RMSNORM_EPS)};
    if (cu_fpga(ctx))
        return climp_ops_launch_swi(ctx, FPGA_SRC, "rmsnorm_fwd_swi", 7, a);
    return launch_rows(&p, "rmsnorm_fwd", rows, 7, a);
}

climp_status climp_rmsnorm_backward(climp_ctx *ctx, climp_tview dinp, climp_tview dweight,
                                    climp_tview scratch, climp_tview dout, climp_tview inp,
                                    climp_tview weight, climp_tview rstd, int rows, int C) {
    CLIMP_TRY(shape_check(ctx, rows, C, "rmsnorm backward"));
    size_t n = (size_t)rows * (size_t)C;
    CLIMP_TRY(climp_view_check(dinp, n, "rmsnorm dinp"));
    CLIMP_TRY(climp_view_check(dweight, (size_t)C, "rmsnorm dweight"));
    CLIMP_TRY(climp_view_check(scratch, climp_rmsnorm_scratch_floats(rows, C), "rmsnorm scratch"));
    CLIMP_TRY(climp_view_check(dout, n, "rmsnorm dout"));
    CLIMP_TRY(climp_view_check(inp, n, "rmsnorm inp"));
    CLIMP_TRY(climp_view_check(weight, (size_t)C, "rmsnorm weight"));
    CLIMP_TRY(climp_view_check(rstd, (size_t)rows, "rmsnorm rstd"));
    CLIMP_TRY(no_alias(dinp, n, dout, n, "rmsnorm dinp"));
    CLIMP_TRY(no_alias(dinp, n, inp, n, "rmsnorm dinp"));
    prog p = prog_for(ctx, C);
    climp_karg a[] = {climp_arg_view(dinp),   climp_arg_view(dout), climp_arg_view(inp),
                      climp_arg_view(weight), climp_arg_view(rstd), climp_arg_i32(rows),
                      climp_arg_i32(C)};
    if (cu_fpga(ctx)) {
        CLIMP_TRY(climp_ops_launch_swi(ctx, FPGA_SRC, "rmsnorm_bwd_dx_swi", 7, a));
        return CLIMP_OPS_LAUNCH_SWI(ctx, FPGA_SRC, "rmsnorm_bwd_w_swi", climp_arg_view(dweight),
                                    climp_arg_view(dout), climp_arg_view(inp), climp_arg_view(rstd),
                                    climp_arg_i32(rows), climp_arg_i32(C));
    }
    CLIMP_TRY(launch_rows(&p, "rmsnorm_bwd_dx", rows, 7, a));
    int rpb = 0, nb = climp_colsum_blocks(rows, &rpb);
    climp_karg b[] = {climp_arg_view(scratch), climp_arg_view(dout), climp_arg_view(inp),
                      climp_arg_view(rstd),    climp_arg_i32(rows),  climp_arg_i32(C),
                      climp_arg_i32(rpb),      climp_arg_i32(nb)};
    CLIMP_TRY(launch_part(&p, "rmsnorm_bwd_part", C, nb, 8, b));
    return launch_final(&p, dweight, scratch, C, nb);
}

/* ------------------------------------------------------------------ gated RMSNorm */
static climp_status gated_check(climp_ctx *ctx, int rows, int E, int G, const int *lds, int nld) {
    CLIMP_TRY(shape_check(ctx, rows, E, "gated rmsnorm"));
    if (G <= 0 || E % G != 0 || rows > INT_MAX / G) {
        climp_error_set("gated rmsnorm: G %d must divide E %d (rows %d)", G, E, rows);
        return CLIMP_ERR_SHAPE;
    }
    for (int i = 0; i < nld; i++)
        if (lds[i] < E) {
            climp_error_set("gated rmsnorm: row stride %d < E %d", lds[i], E);
            return CLIMP_ERR_SHAPE;
        }
    return CLIMP_OK;
}

climp_status climp_gated_rmsnorm_forward(climp_ctx *ctx, climp_tview out, climp_tview rstd,
                                         climp_tview y, int ld_y, climp_tview z, int ld_z,
                                         climp_tview weight, int rows, int E, int G) {
    int lds[2] = {ld_y, ld_z};
    CLIMP_TRY(gated_check(ctx, rows, E, G, lds, 2));
    CLIMP_TRY(climp_view_check(out, (size_t)rows * (size_t)E, "gated rmsnorm out"));
    CLIMP_TRY(climp_view_check(rstd, (size_t)rows * (size_t)G, "gated rmsnorm rstd"));
    CLIMP_TRY(climp_view_check(y, climp_strided_span(rows, E, ld_y), "gated rmsnorm y"));
    CLIMP_TRY(climp_view_check(z, climp_strided_span(rows, E, ld_z), "gated rmsnorm z"));
    CLIMP_TRY(climp_view_check(weight, (size_t)E, "gated rmsnorm weight"));
    prog p = prog_for(ctx, E / G);
    climp_karg a[] = {climp_arg_view(out),
                      climp_arg_view(rstd),
                      climp_arg_view(y),
                      climp_arg_i32(ld_y),
                      climp_arg_view(z),
                      climp_arg_i32(ld_z),
                      climp_arg_view(weight),
                      climp_arg_i32(rows),
                      climp_arg_i32(E),
                      climp_arg_i32(G),
                      climp_arg_f32(CLIMP_RMSNORM_EPS)};
    if (cu_fpga(ctx))
        return climp_ops_launch_swi(ctx, FPGA_SRC, "gated_rmsnorm_fwd_swi", 11, a);
    return launch_rows(&p, "gated_rmsnorm_fwd", rows * G, 11, a);
}

climp_status climp_gated_rmsnorm_backward(climp_ctx *ctx, climp_tview dy, int ld_dy, climp_tview dz,
                                          int ld_dz, climp_tview dweight, climp_tview scratch,
                                          climp_tview dout, climp_tview y, int ld_y, climp_tview z,
                                          int ld_z, climp_tview weight, climp_tview rstd, int rows,
                                          int E, int G) {
    int lds[4] = {ld_dy, ld_dz, ld_y, ld_z};
    CLIMP_TRY(gated_check(ctx, rows, E, G, lds, 4));
    CLIMP_TRY(climp_view_check(dy, climp_strided_span(rows, E, ld_dy), "gated rmsnorm dy"));
    CLIMP_TRY(climp_view_check(dz, climp_strided_span(rows, E, ld_dz), "gated rmsnorm dz"));
    CLIMP_TRY(climp_view_check(dweight, (size_t)E, "gated rmsnorm dweight"));
    CLIMP_TRY(climp_view_check(scratch, climp_gated_rmsnorm_scratch_floats(rows, E),
                               "gated rmsnorm scratch"));
    CLIMP_TRY(climp_view_check(dout, (size_t)rows * (size_t)E, "gated rmsnorm dout"));
    CLIMP_TRY(climp_view_check(y, climp_strided_span(rows, E, ld_y), "gated rmsnorm y"));
    CLIMP_TRY(climp_view_check(z, climp_strided_span(rows, E, ld_z), "gated rmsnorm z"));
    CLIMP_TRY(climp_view_check(weight, (size_t)E, "gated rmsnorm weight"));
    CLIMP_TRY(climp_view_check(rstd, (size_t)rows * (size_t)G, "gated rmsnorm rstd"));
    size_t sdy = climp_strided_span(rows, E, ld_dy), sdz = climp_strided_span(rows, E, ld_dz);
    size_t sy = climp_strided_span(rows, E, ld_y), sz = climp_strided_span(rows, E, ld_z);
    size_t no = (size_t)rows * (size_t)E;
    CLIMP_TRY(no_alias(dy, sdy, dout, no, "gated rmsnorm dy"));
    CLIMP_TRY(no_alias(dy, sdy, y, sy, "gated rmsnorm dy"));
    CLIMP_TRY(no_alias(dy, sdy, z, sz, "gated rmsnorm dy"));
    CLIMP_TRY(no_alias(dz, sdz, dout, no, "gated rmsnorm dz"));
    CLIMP_TRY(no_alias(dz, sdz, y, sy, "gated rmsnorm dz"));
    CLIMP_TRY(no_alias(dz, sdz, z, sz, "gated rmsnorm dz"));
    prog p = prog_for(ctx, E / G);
    climp_karg a[] = {climp_arg_view(dy),     climp_arg_i32(ld_dy), climp_arg_view(dz),
                      climp_arg_i32(ld_dz),   climp_arg_view(dout), climp_arg_view(y),
                      climp_arg_i32(ld_y),    climp_arg_view(z),    climp_arg_i32(ld_z),
                      climp_arg_view(weight), climp_arg_view(rstd), climp_arg_i32(rows),
                      climp_arg_i32(E),       climp_arg_i32(G)};
    if (cu_fpga(ctx)) {
        CLIMP_TRY(climp_ops_launch_swi(ctx, FPGA_SRC, "gated_rmsnorm_bwd_dx_swi", 14, a));
        return CLIMP_OPS_LAUNCH_SWI(
            ctx, FPGA_SRC, "gated_rmsnorm_bwd_w_swi", climp_arg_view(dweight), climp_arg_view(dout),
            climp_arg_view(y), climp_arg_i32(ld_y), climp_arg_view(z), climp_arg_i32(ld_z),
            climp_arg_view(rstd), climp_arg_i32(rows), climp_arg_i32(E), climp_arg_i32(G));
    }
    CLIMP_TRY(launch_rows(&p, "gated_rmsnorm_bwd_dx", rows * G, 14, a));
    int rpb = 0, nb = climp_colsum_blocks(rows, &rpb);
    climp_karg b[] = {climp_arg_view(scratch), climp_arg_view(dout), climp_arg_view(y),
                      climp_arg_i32(ld_y),     climp_arg_view(z),    climp_arg_i32(ld_z),
                      climp_arg_view(rstd),    climp_arg_i32(rows),  climp_arg_i32(E),
                      climp_arg_i32(G),        climp_arg_i32(rpb),   climp_arg_i32(nb)};
    CLIMP_TRY(launch_part(&p, "gated_rmsnorm_bwd_part", E, nb, 12, b));
    return launch_final(&p, dweight, scratch, E, nb);
}
