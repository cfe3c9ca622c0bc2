/* Host launchers of AdamW and the gradient norm (model/optim.h, cl_kernels/optim.cl, or the
 * single work-item kernels of cl_kernels/optim_fpga.cl when climp_ctx_variant() is "fpga"): check
 * every argument first (nothing is enqueued when a check fails), then one launch per merged
 * segment run (body + tail for NDRange); the norm reads CLIMP_GRAD_NORM_PARTS partials back and
 * sums them in double. */
#include "model/optim.h"
#include "model/conv_util.h" /* cu_fpga */

#include <math.h>
#include <stdio.h>

#include "model/eltwise.h"

#define SRC "optim"
#define FPGA_SRC "optim_fpga"

/* The one place this file looks at the device: CPUs read contiguous runs per lane. */
static climp_status get_kernel(climp_ctx *ctx, const char *kname, climp_kernel **k, int *wg) {
    int w = (int)climp_flat_lws(ctx, 256);
    char defs[48];
    snprintf(defs, sizeof defs, "WG=%d CONTIG=%d", w, climp_ops_cpu_style(ctx));
    if (wg)
        *wg = w;
    return climp_kernel_get(ctx, SRC, defs, kname, k);
}

climp_status climp_adamw_update(climp_ctx *ctx, climp_tview params, climp_tview grads,
                                climp_tview m, climp_tview v, const climp_adamw_segment *segs,
                                int nseg, const climp_adamw_hparams *hp) {
    if (!ctx)
        return CLIMP_ERR_INVALID_ARG;
    CLIMP_TRY(climp_view_check(params, 0, "adamw params"));
    CLIMP_TRY(climp_view_check(grads, 0, "adamw grads"));
    CLIMP_TRY(climp_view_check(m, 0, "adamw m"));
    CLIMP_TRY(climp_view_check(v, 0, "adamw v"));
    size_t limit = params.n;
    if (grads.n < limit)
        limit = grads.n;
    if (m.n < limit)
        limit = m.n;
    if (v.n < limit)
        limit = v.n;
    CLIMP_TRY(climp_adamw_check(segs, nseg, limit, hp));

    double bc1 = 1.0 - pow(hp->beta1, hp->step), bc2 = 1.0 - pow(hp->beta2, hp->step);
    const float step_size = (float)(hp->lr / bc1), bc2_sqrt = (float)sqrt(bc2);
    const float omb1 = (float)(1.0 - hp->beta1), omb2 = (float)(1.0 - hp->beta2);
    const float decay_on = (float)(1.0 - hp->lr * hp->weight_decay);
    climp_adamw_segment run;
    int it = 0;
    if (cu_fpga(ctx)) {
        while (climp_adamw_next_run(segs, nseg, &it, &run))
            CLIMP_TRY(CLIMP_OPS_LAUNCH_SWI(
                ctx, FPGA_SRC, "adamw_swi",
                climp_arg_view(climp_view_sub(params, run.offset, run.count)),
                climp_arg_view(climp_view_sub(grads, run.offset, run.count)),
                climp_arg_view(climp_view_sub(m, run.offset, run.count)),
                climp_arg_view(climp_view_sub(v, run.offset, run.count)),
                climp_arg_f32(hp->grad_scale), climp_arg_f32(run.decay ? decay_on : 1.0f),
                climp_arg_f32(omb1), climp_arg_f32((float)hp->beta2), climp_arg_f32(omb2),
                climp_arg_f32(step_size), climp_arg_f32(bc2_sqrt), climp_arg_f32((float)hp->eps),
                climp_arg_u64(run.count)));
        return CLIMP_OK;
    }
    climp_kernel *body = NULL, *tail = NULL;
    CLIMP_TRY(get_kernel(ctx, "adamw_update", &body, NULL));
    CLIMP_TRY(get_kernel(ctx, "adamw_update_tail", &tail, NULL));
    size_t lws = climp_flat_lws(ctx, 256);
    while (climp_adamw_next_run(segs, nseg, &it, &run)) {
        /* the body over whole work-groups (no bounds checks, base 0), the tail guarded */
        size_t nbody = run.count / lws * lws;
        climp_karg a[] = {climp_arg_view(climp_view_sub(params, run.offset, run.count)),
                          climp_arg_view(climp_view_sub(grads, run.offset, run.count)),
                          climp_arg_view(climp_view_sub(m, run.offset, run.count)),
                          climp_arg_view(climp_view_sub(v, run.offset, run.count)),
                          climp_arg_u64(0),
                          climp_arg_f32(hp->grad_scale),
                          climp_arg_f32(run.decay ? decay_on : 1.0f),
                          climp_arg_f32(omb1),
                          climp_arg_f32((float)hp->beta2),
                          climp_arg_f32(omb2),
                          climp_arg_f32(step_size),
                          climp_arg_f32(bc2_sqrt),
                          climp_arg_f32((float)hp->eps),
                          climp_arg_u64(run.count)};
        if (nbody)
            CLIMP_TRY(climp_launch(ctx, body, 1, &nbody, &lws, 13, a));
        if (nbody < run.count) {
            a[4] = climp_arg_u64(nbody);
            CLIMP_TRY(climp_launch(ctx, tail, 1, &lws, &lws, 14, a));
        }
    }
    return CLIMP_OK;
}

size_t climp_grad_norm_scratch_floats(void) {
    return CLIMP_GRAD_NORM_PARTS;
}

climp_status climp_grad_sumsq(climp_ctx *ctx, double *sumsq, climp_tview grads, climp_tview scratch,
                              size_t n) {
    if (!ctx || !sumsq)
        return CLIMP_ERR_INVALID_ARG;
    if (n == 0) {
        climp_error_set("grad norm over 0 floats");
        return CLIMP_ERR_SHAPE;
    }
    CLIMP_TRY(climp_view_check(grads, n, "grad norm grads"));
    CLIMP_TRY(climp_view_check(scratch, CLIMP_GRAD_NORM_PARTS, "grad norm scratch"));
    size_t chunk = (n + CLIMP_GRAD_NORM_PARTS - 1) / CLIMP_GRAD_NORM_PARTS;
    climp_karg a[] = {climp_arg_view(scratch), climp_arg_view(grads), climp_arg_u64(n),
                      climp_arg_u64(chunk), climp_arg_i32(CLIMP_GRAD_NORM_PARTS)};
    if (cu_fpga(ctx)) {
        CLIMP_TRY(climp_ops_launch_swi(ctx, FPGA_SRC, "grad_sumsq_swi", 5, a));
    } else {
        climp_kernel *k = NULL;
        int wg = 0;
        CLIMP_TRY(get_kernel(ctx, "grad_sumsq_part", &k, &wg));
        size_t lws = (size_t)wg, gws = (size_t)CLIMP_GRAD_NORM_PARTS * lws;
        CLIMP_TRY(climp_launch(ctx, k, 1, &gws, &lws, 4, a));
    }
    float part[CLIMP_GRAD_NORM_PARTS];
    CLIMP_TRY(climp_view_read(ctx, scratch, part, CLIMP_GRAD_NORM_PARTS));
    double s = 0;
    for (int q = 0; q < CLIMP_GRAD_NORM_PARTS; q++)
        s += part[q];
    *sumsq = s;
    return CLIMP_OK;
}

climp_status climp_grad_norm(climp_ctx *ctx, double *norm, climp_tview grads, climp_tview scratch,
                             size_t n) {
    if (!norm)
        return CLIMP_ERR_INVALID_ARG;
    double s = 0;
    CLIMP_TRY(climp_grad_sumsq(ctx, &s, grads, scratch, n));
    *norm = sqrt(s);
    return CLIMP_OK;
}

float climp_grad_clip_scale(double norm, float clip) {
    if (!(clip > 0))
        return 1.0f;
    double s = clip / (norm + 1e-6);
    return s < 1.0 ? (float)s : 1.0f;
}
