/* Plain-C reference of AdamW and the gradient sum of squares (model/optim.h), plus the segment
 * validation and merging the launcher shares. The AdamW reference follows PyTorch's float
 * arithmetic order (torch.optim.AdamW, single-tensor path) step by step. */
#include "model/optim.h"

#include <math.h>

static int is_fin(double x) {
    return isfinite(x) != 0;
}

climp_status climp_adamw_check(const climp_adamw_segment *segs, int nseg, size_t limit,
                               const climp_adamw_hparams *hp) {
    if (!hp || nseg < 0 || (nseg > 0 && !segs))
        return CLIMP_ERR_INVALID_ARG;
    if (!is_fin(hp->lr) || hp->lr < 0 || !is_fin(hp->weight_decay) || hp->weight_decay < 0 ||
        !(hp->beta1 >= 0 && hp->beta1 < 1) || !(hp->beta2 >= 0 && hp->beta2 < 1) ||
        !is_fin(hp->eps) || hp->eps < 0 || hp->step < 1 || !is_fin(hp->grad_scale)) {
        climp_error_set("adamw: bad hyper-parameters (lr %g, betas %g %g, eps %g, wd %g, step %d, "
                        "grad_scale %g)",
                        hp->lr, hp->beta1, hp->beta2, hp->eps, hp->weight_decay, hp->step,
                        (double)hp->grad_scale);
        return CLIMP_ERR_INVALID_ARG;
    }
    size_t end = 0;
    for (int i = 0; i < nseg; i++) {
        const climp_adamw_segment *s = &segs[i];
        if ((s->decay != 0 && s->decay != 1) || s->offset < end) {
            climp_error_set("adamw: segment %d (offset %zu, decay %d) overlaps or is unsorted", i,
                            s->offset, s->decay);
            return CLIMP_ERR_INVALID_ARG;
        }
        if (s->offset > limit || s->count > limit - s->offset) {
            climp_error_set("adamw: segment %d [%zu, +%zu) exceeds %zu floats", i, s->offset,
                            s->count, limit);
            return CLIMP_ERR_BUFFER_TOO_SMALL;
        }
        if (s->count)
            end = s->offset + s->count;
    }
    return CLIMP_OK;
}

int climp_adamw_next_run(const climp_adamw_segment *segs, int nseg, int *i,
                         climp_adamw_segment *run) {
    while (*i < nseg && segs[*i].count == 0)
        (*i)++;
    if (*i >= nseg)
        return 0;
    *run = segs[(*i)++];
    for (; *i < nseg; (*i)++) {
        const climp_adamw_segment *s = &segs[*i];
        if (s->count == 0)
            continue;
        if (s->decay != run->decay || s->offset != run->offset + run->count)
            break;
        run->count += s->count;
    }
    return 1;
}

climp_status climp_adamw_update_ref(float *params, const float *grads, float *m, float *v,
                                    const climp_adamw_segment *segs, int nseg,
                                    const climp_adamw_hparams *hp) {
    climp_status st = climp_adamw_check(segs, nseg, (size_t)-1, hp);
    if (st != CLIMP_OK)
        return st;
    double bc1 = 1.0 - pow(hp->beta1, hp->step), bc2 = 1.0 - pow(hp->beta2, hp->step);
    const float step_size = (float)(hp->lr / bc1), bc2_sqrt = (float)sqrt(bc2);
    const float omb1 = (float)(1.0 - hp->beta1), omb2 = (float)(1.0 - hp->beta2);
    climp_adamw_segment run;
    int it = 0;
    while (climp_adamw_next_run(segs, nseg, &it, &run)) {
        const float decay = run.decay ? (float)(1.0 - hp->lr * hp->weight_decay) : 1.0f;
        const float beta2 = (float)hp->beta2, eps = (float)hp->eps;
        for (size_t k = run.offset; k < run.offset + run.count; k++) {
            float g = hp->grad_scale * grads[k];
            float p = params[k] * decay;
            float mk = m[k] + omb1 * (g - m[k]);
            float vk = v[k] * beta2 + omb2 * g * g;
            float denom = sqrtf(vk) / bc2_sqrt + eps;
            params[k] = p - step_size * (mk / denom);
            m[k] = mk;
            v[k] = vk;
        }
    }
    return CLIMP_OK;
}

double climp_grad_sumsq_ref(const float *grads, size_t n) {
    double s = 0;
    for (size_t i = 0; i < n; i++)
        s += (double)grads[i] * grads[i];
    return s;
}
