/* AdamW training optimizer over the contiguous parameter/gradient/moment buffers; see
 * trainer/optimizer.h. */
#define _POSIX_C_SOURCE 200809L
#include "trainer/optimizer.h"

#include "model/eltwise.h"
#include "model/safetensors.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int cmp_seg(const void *a, const void *b) {
    size_t x = ((const climp_adamw_segment *)a)->offset;
    size_t y = ((const climp_adamw_segment *)b)->offset;
    return (x > y) - (x < y);
}

climp_status climp_optimizer_create(climp_model *m, float wd, float clip, int lock_vision,
                                    int lock_text, climp_optimizer **out) {
    climp_optimizer *o = calloc(1, sizeof(*o));
    const climp_param_table *t = climp_model_params(m);
    if (!o || !(o->segs = calloc(t->n, sizeof(*o->segs)))) {
        free(o);
        return CLIMP_ERR_HOST_OOM;
    }
    o->model = m;
    o->beta1 = 0.9;
    o->beta2 = 0.98;
    o->eps = 1e-6;
    o->weight_decay = wd;
    o->grad_clip = clip;
    for (int i = 0; i < t->n; i++) {
        const climp_param *p = &t->p[i];
        if (lock_vision && !strncmp(p->name, "vision_encoder.", 15)) continue;
        if (lock_text && !strncmp(p->name, "text_encoder.", 13)) continue;
        o->segs[o->nseg++] = (climp_adamw_segment){p->offset, p->numel, p->decay};
    }
    qsort(o->segs, o->nseg, sizeof(*o->segs), cmp_seg);
    climp_ctx *ctx = climp_model_ctx(m);
    size_t bytes = t->total * sizeof(float);
    climp_status s = climp_buffer_create(ctx, "adamw.m", bytes, &o->m);
    if (!s) s = climp_buffer_create(ctx, "adamw.v", bytes, &o->v);
    if (!s) s = climp_buffer_create(ctx, "gradnorm.scratch",
                                    climp_grad_norm_scratch_floats() * sizeof(float), &o->scratch);
    if (!s) s = climp_buffer_fill_zero(ctx, o->m, 0, bytes);
    if (!s) s = climp_buffer_fill_zero(ctx, o->v, 0, bytes);
    if (s) {
        climp_optimizer_destroy(o);
        return s;
    }
    *out = o;
    return CLIMP_OK;
}

void climp_optimizer_destroy(climp_optimizer *o) {
    if (!o) return;
    climp_buffer_destroy(o->m);
    climp_buffer_destroy(o->v);
    climp_buffer_destroy(o->scratch);
    free(o->segs);
    free(o);
}

climp_status climp_optimizer_step(climp_optimizer *o, float lr, float grad_scale,
                                  double *grad_norm) {
    climp_model *m = o->model;
    climp_ctx *ctx = climp_model_ctx(m);
    const climp_param_table *t = climp_model_params(m);
    climp_tview g = climp_buffer_view(climp_model_grad_buffer(m));
    double norm = 0;
    CLIMP_TRY(climp_grad_norm(ctx, &norm, g, climp_buffer_view(o->scratch), t->total));
    norm *= grad_scale;
    if (grad_norm) *grad_norm = norm;
    if (!isfinite(norm)) {
        climp_error_set("gradient norm is %g", norm);
        return CLIMP_ERR_NOT_FINITE;
    }
    float scale = grad_scale * climp_grad_clip_scale(norm, o->grad_clip);
    climp_adamw_hparams hp = {lr, o->beta1, o->beta2, o->eps, o->weight_decay, o->step + 1, scale};
    CLIMP_TRY(climp_adamw_update(ctx, climp_buffer_view(climp_model_param_buffer(m)), g,
                                 climp_buffer_view(o->m), climp_buffer_view(o->v), o->segs,
                                 o->nseg, &hp));
    o->step++;
    climp_tview ls = climp_model_param(m, "logit_scale");
    CLIMP_TRY(climp_clamp(ctx, ls, 0.0f, logf(100.0f), 1));
    return CLIMP_OK;
}

float climp_lr_at(climp_lr_schedule sched, float base, int warmup, int total, int step) {
    if (step < warmup) return base * (float)(step + 1) / (float)warmup;
    if (sched == CLIMP_LR_CONST) return base;
    int e = step - warmup, es = total - warmup;
    if (es <= 0) return base;
    return 0.5f * (1.0f + cosf(3.14159265358979f * (float)e / (float)es)) * base;
}

climp_status climp_optimizer_save(climp_optimizer *o, const char *path, uint32_t *crc) {
    const climp_param_table *t = climp_model_params(o->model);
    climp_ctx *ctx = climp_model_ctx(o->model);
    size_t bytes = t->total * sizeof(float);
    float *hm = malloc(bytes), *hv = malloc(bytes);
    char (*names)[128] = calloc(2 * (size_t)t->n, sizeof(*names));
    climp_st_writer *w = NULL;
    climp_status s = (!hm || !hv || !names) ? CLIMP_ERR_HOST_OOM : CLIMP_OK;
    if (!s) s = climp_buffer_read(ctx, o->m, 0, bytes, hm);
    if (!s) s = climp_buffer_read(ctx, o->v, 0, bytes, hv);
    if (!s) s = climp_st_writer_create(&w);
    for (int i = 0; !s && i < t->n; i++) {
        const climp_param *p = &t->p[i];
        snprintf(names[2 * i], 128, "exp_avg.%s", p->name);
        snprintf(names[2 * i + 1], 128, "exp_avg_sq.%s", p->name);
        s = climp_st_writer_add(w, names[2 * i], CLIMP_ST_F32, p->shape, p->ndim, hm + p->offset);
        if (!s)
            s = climp_st_writer_add(w, names[2 * i + 1], CLIMP_ST_F32, p->shape, p->ndim,
                                    hv + p->offset);
    }
    char step[32];
    snprintf(step, sizeof(step), "%d", o->step);
    if (!s) s = climp_st_writer_set_metadata(w, "step", step);
    if (!s) s = climp_st_writer_set_metadata(w, "optimizer", "adamw");
    if (!s) s = climp_st_writer_write(w, path, crc);
    climp_st_writer_free(w);
    free(names);
    free(hm);
    free(hv);
    return s;
}

climp_status climp_optimizer_load(climp_optimizer *o, const char *path) {
    const climp_param_table *t = climp_model_params(o->model);
    climp_ctx *ctx = climp_model_ctx(o->model);
    size_t bytes = t->total * sizeof(float);
    climp_st_file *f = NULL;
    CLIMP_TRY(climp_st_open(path, &f));
    float *hm = calloc(t->total, sizeof(float)), *hv = calloc(t->total, sizeof(float));
    climp_status s = (!hm || !hv) ? CLIMP_ERR_HOST_OOM : CLIMP_OK;
    char name[160];
    for (int i = 0; !s && i < t->n; i++) {
        const climp_param *p = &t->p[i];
        snprintf(name, sizeof(name), "exp_avg.%s", p->name);
        s = climp_st_read_f32(f, name, p->shape, p->ndim, hm + p->offset);
        snprintf(name, sizeof(name), "exp_avg_sq.%s", p->name);
        if (!s) s = climp_st_read_f32(f, name, p->shape, p->ndim, hv + p->offset);
    }
    const char *step = climp_st_metadata(f, "step");
    if (!s && !step) {
        climp_error_set("%s: no optimizer step in metadata", path);
        s = CLIMP_ERR_FORMAT;
    }
    if (!s) {
        o->step = atoi(step);
        s = climp_buffer_write(ctx, o->m, 0, bytes, hm);
    }
    if (!s) s = climp_buffer_write(ctx, o->v, 0, bytes, hv);
    free(hm);
    free(hv);
    climp_st_close(f);
    return s;
}
