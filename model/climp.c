/* The CLIMP model: creation (parameter, gradient and activation buffers), parameter views by
 * name, linear-layer helpers, one training step (both towers, symmetric InfoNCE, backward into
 * the gradient buffer), tower-only inference. The activation arena is sized by a dry pass that
 * allocates every view without launching anything, so nothing is allocated inside a step. */
#define _POSIX_C_SOURCE 200809L
#include "model/eltwise.h"
#include "model/embed_loss.h"
#include "model/model_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t name_hash(const char *s) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
    return h;
}

static int find_index(const climp_model *m, const char *name) {
    uint64_t h = name_hash(name);
    for (int i = 0; i < m->hash_cap; i++) {
        int slot = m->hash[(h + i) & (m->hash_cap - 1)];
        if (slot < 0) return -1;
        if (!strcmp(m->table.p[slot].name, name)) return slot;
    }
    return -1;
}

static climp_tview view_of(climp_buffer *buf, const climp_param *p) {
    climp_tview v = {buf, p->offset, p->numel};
    return v;
}

static climp_tview pg_view(climp_model *m, int grad, const char *fmt, va_list ap) {
    char name[160];
    vsnprintf(name, sizeof(name), fmt, ap);
    int i = find_index(m, name);
    climp_tview none = {0};
    if (i < 0) {
        climp_log(CLIMP_LOG_ERROR, "internal: no parameter named %s", name);
        return none;
    }
    climp_buffer *b = grad ? m->grads : m->params;
    return b ? view_of(b, &m->table.p[i]) : none;
}

climp_tview mdl_p(climp_model *m, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    climp_tview v = pg_view(m, 0, fmt, ap);
    va_end(ap);
    return v;
}

climp_tview mdl_g(climp_model *m, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    climp_tview v = pg_view(m, 1, fmt, ap);
    va_end(ap);
    return v;
}

climp_tview climp_model_param(climp_model *m, const char *name) { return mdl_p(m, "%s", name); }
climp_tview climp_model_grad(climp_model *m, const char *name) { return mdl_g(m, "%s", name); }

climp_status mdl_alloc(climp_model *m, size_t n, climp_tview *out) {
    return climp_arena_alloc(m->arena, n, out);
}

climp_status mdl_linear_fwd(climp_model *m, climp_tview y, climp_tview x, int ldx, climp_tview W,
                            climp_tview bias, int M, int N, int K, float beta) {
    climp_gemm_desc d = {0, 1, M, N, K, 1.0f, beta, ldx, K, N, 1, 0, 0, 0};
    RUN(m, climp_gemm(m->ctx, &d, x, W, y));
    if (bias.buf) RUN(m, climp_bias_add_forward(m->ctx, y, N, bias, M, N));
    return CLIMP_OK;
}

climp_status mdl_linear_bwd(climp_model *m, climp_tview dx, int lddx, float dx_beta,
                            climp_tview dW, climp_tview dbias, climp_tview dy, climp_tview x,
                            int ldx, climp_tview W, int M, int N, int K) {
    if (dx.buf || m->dry) {
        climp_gemm_desc d = {0, 0, M, K, N, 1.0f, dx_beta, N, K, lddx, 1, 0, 0, 0};
        RUN(m, climp_gemm(m->ctx, &d, dy, W, dx));
    }
    climp_gemm_desc dw = {1, 0, N, K, M, 1.0f, 1.0f, N, ldx, K, 1, 0, 0, 0};
    RUN(m, climp_gemm(m->ctx, &dw, dy, x, dW));
    if (dbias.buf || (m->dry && dbias.n)) {
        size_t mk = climp_arena_mark(m->arena);
        climp_tview scratch;
        CLIMP_TRY(mdl_alloc(m, climp_colsum_scratch_floats(M, N), &scratch));
        RUN(m, climp_bias_add_backward(m->ctx, dbias, scratch, dy, N, M, N));
        climp_arena_reset(m->arena, mk);
    }
    return CLIMP_OK;
}

climp_status climp_model_create(climp_ctx *ctx, const climp_config *cfg, int training,
                                climp_model **out) {
    climp_model *m = calloc(1, sizeof(*m));
    if (!m) return CLIMP_ERR_HOST_OOM;
    m->ctx = ctx;
    m->cfg = *cfg;
    m->training = training;
    climp_status s = climp_params_build(cfg, &m->table);
    if (s) {
        free(m);
        return s;
    }
    m->hash_cap = 1;
    while (m->hash_cap < 2 * m->table.n) m->hash_cap <<= 1;
    m->hash = malloc(sizeof(int) * m->hash_cap);
    for (int i = 0; i < cfg->vision.n_stages; i++) m->nblocks += cfg->vision.depths[i];
    m->vt.blocks = calloc(m->nblocks, sizeof(vss_tape));
    m->tt.layers = calloc(cfg->text.n_layer, sizeof(mamba_tape));
    if (!m->hash || !m->vt.blocks || !m->tt.layers) {
        climp_model_destroy(m);
        return CLIMP_ERR_HOST_OOM;
    }
    for (int i = 0; i < m->hash_cap; i++) m->hash[i] = -1;
    for (int i = 0; i < m->table.n; i++) {
        uint64_t h = name_hash(m->table.p[i].name);
        int k = 0;
        while (m->hash[(h + k) & (m->hash_cap - 1)] >= 0) k++;
        m->hash[(h + k) & (m->hash_cap - 1)] = i;
    }
    size_t bytes = m->table.total * sizeof(float);
    s = climp_buffer_create(ctx, "parameters", bytes, &m->params);
    if (!s && training) s = climp_buffer_create(ctx, "gradients", bytes, &m->grads);
    if (!s) s = climp_arena_create(ctx, "activations", 0, &m->arena);
    if (!s && m->grads) s = climp_model_zero_grads(m);
    if (s) {
        climp_model_destroy(m);
        return s;
    }
    *out = m;
    return CLIMP_OK;
}

void climp_model_destroy(climp_model *m) {
    if (!m) return;
    climp_arena_destroy(m->arena);
    climp_buffer_destroy(m->params);
    climp_buffer_destroy(m->grads);
    climp_params_free(&m->table);
    free(m->hash);
    free(m->vt.blocks);
    free(m->tt.layers);
    free(m);
}

const climp_config *climp_model_config(const climp_model *m) { return &m->cfg; }
const climp_param_table *climp_model_params(const climp_model *m) { return &m->table; }
climp_buffer *climp_model_param_buffer(climp_model *m) { return m->params; }
climp_buffer *climp_model_grad_buffer(climp_model *m) { return m->grads; }
climp_ctx *climp_model_ctx(climp_model *m) { return m->ctx; }
void climp_model_set_recompute(climp_model *m, int on) {
    if (m) m->recompute = on && m->training;
}

int climp_model_recompute(const climp_model *m) { return m ? m->recompute : 0; }

size_t climp_model_activation_bytes(const climp_model *m) {
    return climp_arena_peak_bytes(m->arena);
}

climp_status climp_model_set_params(climp_model *m, const float *host) {
    return climp_buffer_write(m->ctx, m->params, 0, m->table.total * sizeof(float), host);
}

climp_status climp_model_get_params(climp_model *m, float *host) {
    return climp_buffer_read(m->ctx, m->params, 0, m->table.total * sizeof(float), host);
}

climp_status climp_model_zero_grads(climp_model *m) {
    if (!m->grads) return CLIMP_ERR_INVALID_ARG;
    return climp_buffer_fill_zero(m->ctx, m->grads, 0, m->table.total * sizeof(float));
}

/* Inputs of a step, allocated from the arena and (outside the dry pass) uploaded. */
static climp_status upload_inputs(climp_model *m, const climp_batch_in *b) {
    if (b->images) {
        size_t n = (size_t)b->B * b->H * b->W * 3;
        CLIMP_TRY(mdl_alloc(m, n, &m->vt.img));
        RUN(m, climp_view_write(m->ctx, m->vt.img, b->images, n));
    }
    if (b->tokens) {
        size_t n = (size_t)b->B * b->Lmax;
        CLIMP_TRY(climp_embedding_check_ids(b->tokens, (int)n, m->cfg.text.vocab));
        for (int i = 0; i < b->B; i++)
            if (b->lengths[i] < 1 || b->lengths[i] > b->Lmax) {
                climp_error_set("caption %d has length %d outside [1, %d]", i, b->lengths[i],
                                b->Lmax);
                return CLIMP_ERR_INVALID_ARG;
            }
        CLIMP_TRY(mdl_alloc(m, n, &m->tt.ids));
        CLIMP_TRY(mdl_alloc(m, (size_t)b->B, &m->tt.lengths));
        RUN(m, climp_view_write(m->ctx, m->tt.ids, (const float *)(const void *)b->tokens, n));
        RUN(m, climp_view_write(m->ctx, m->tt.lengths, (const float *)(const void *)b->lengths,
                                (size_t)b->B));
    }
    return CLIMP_OK;
}

/* The global batch of a data-parallel step: gather on the host, upload. */
static climp_status gather_global(climp_model *m, const climp_dist *d, int B, climp_tview *gimg,
                                  climp_tview *gtxt) {
    int Ed = m->cfg.embed_dim, N = d->world_batch;
    CLIMP_TRY(mdl_alloc(m, (size_t)N * Ed, gimg));
    CLIMP_TRY(mdl_alloc(m, (size_t)N * Ed, gtxt));
    if (m->dry) return CLIMP_OK;
    size_t nl = (size_t)B * Ed, ng = (size_t)N * Ed;
    float *host = malloc(sizeof(float) * (2 * nl + 2 * ng));
    if (!host) return CLIMP_ERR_HOST_OOM;
    climp_status s = climp_view_read(m->ctx, m->vt.emb, host, nl);
    if (!s) s = climp_view_read(m->ctx, m->tt.emb, host + nl, nl);
    if (!s) s = d->gather(d->user, host, host + nl, B, Ed, host + 2 * nl, host + 2 * nl + ng);
    if (!s) s = climp_view_write(m->ctx, *gimg, host + 2 * nl, ng);
    if (!s) s = climp_view_write(m->ctx, *gtxt, host + 2 * nl + ng, ng);
    free(host);
    return s;
}

static climp_status run_step(climp_model *m, const climp_batch_in *b, const climp_dist *d,
                             int backward, float loss_scale, float *loss) {
    climp_arena_reset(m->arena, 0);
    CLIMP_TRY(upload_inputs(m, b));
    if (b->images) {
        climp_profile_label(m->ctx, "vision.forward");
        CLIMP_TRY(mdl_vision_forward(m, b->B, b->H, b->W));
    }
    if (b->tokens) {
        climp_profile_label(m->ctx, "text.forward");
        CLIMP_TRY(mdl_text_forward(m, b->B, b->Lmax));
    }
    if (!b->images || !b->tokens) return CLIMP_OK;
    int N = b->B, Ed = m->cfg.embed_dim;
    climp_tview scale = mdl_p(m, "logit_scale"), img = m->vt.emb, txt = m->tt.emb;
    climp_profile_label(m->ctx, "loss");
    if (d) {
        N = d->world_batch;
        CLIMP_TRY(gather_global(m, d, b->B, &img, &txt));
    }
    CLIMP_TRY(mdl_alloc(m, 1, &m->loss));
    CLIMP_TRY(mdl_alloc(m, climp_infonce_work_floats(N), &m->work));
    RUN(m, climp_infonce_forward(m->ctx, m->loss, loss, m->work, img, txt, scale, N, Ed));
    if (!backward) return CLIMP_OK;
    climp_tview dimg, dtxt;
    CLIMP_TRY(mdl_alloc(m, (size_t)N * Ed, &dimg));
    CLIMP_TRY(mdl_alloc(m, (size_t)N * Ed, &dtxt));
    RUN(m, climp_infonce_backward(m->ctx, dimg, dtxt, mdl_g(m, "logit_scale"), m->work, img, txt,
                                  scale, loss_scale, N, Ed));
    if (d) {
        /* This replica's rows of the global gradient. */
        dimg = climp_view_sub(dimg, (size_t)d->offset * Ed, (size_t)b->B * Ed);
        dtxt = climp_view_sub(dtxt, (size_t)d->offset * Ed, (size_t)b->B * Ed);
    }
    climp_profile_label(m->ctx, "text.backward");
    CLIMP_TRY(mdl_text_backward(m, dtxt));
    climp_profile_label(m->ctx, "vision.backward");
    CLIMP_TRY(mdl_vision_backward(m, dimg));
    climp_profile_label(m->ctx, NULL);
    return CLIMP_OK;
}

/* Size the arena with a dry pass, then run for real. */
static climp_status sized_step(climp_model *m, const climp_batch_in *b, const climp_dist *d,
                               int backward, float loss_scale, float *loss) {
    if (backward && !m->training) return CLIMP_ERR_INVALID_ARG;
    m->dry = 1;
    climp_arena_set_sizing(m->arena, 1);
    climp_status s = run_step(m, b, d, backward, loss_scale, NULL);
    climp_arena_set_sizing(m->arena, 0);
    m->dry = 0;
    if (s) return s;
    CLIMP_TRY(climp_arena_reserve(m->arena, 0));
    return run_step(m, b, d, backward, loss_scale, loss);
}

climp_status climp_model_step_dist(climp_model *m, const climp_batch_in *b, const climp_dist *d,
                                   int backward, float loss_scale, float *loss) {
    if (!b || b->B < 1 || !b->images || !b->tokens || !d || !d->gather || d->offset < 0 ||
        d->offset + b->B > d->world_batch)
        return CLIMP_ERR_INVALID_ARG;
    float l = 0;
    CLIMP_TRY(sized_step(m, b, d, backward, loss_scale, &l));
    if (loss) *loss = l;
    return CLIMP_OK;
}

climp_status climp_model_step(climp_model *m, const climp_batch_in *b, int backward,
                              float loss_scale, float *loss, float *img_emb, float *txt_emb) {
    if (!b || b->B < 1 || !b->images || !b->tokens) return CLIMP_ERR_INVALID_ARG;
    float l = 0;
    CLIMP_TRY(sized_step(m, b, NULL, backward, loss_scale, &l));
    if (loss) *loss = l;
    size_t n = (size_t)b->B * m->cfg.embed_dim;
    if (img_emb) CLIMP_TRY(climp_view_read(m->ctx, m->vt.emb, img_emb, n));
    if (txt_emb) CLIMP_TRY(climp_view_read(m->ctx, m->tt.emb, txt_emb, n));
    return CLIMP_OK;
}

climp_status climp_model_embed_images(climp_model *m, int B, int H, int W, const float *images,
                                      float *emb) {
    climp_batch_in b = {B, H, W, images, 0, NULL, NULL};
    if (B < 1 || H < 1 || W < 1 || !images) return CLIMP_ERR_INVALID_ARG;
    CLIMP_TRY(sized_step(m, &b, NULL, 0, 1.0f, NULL));
    return climp_view_read(m->ctx, m->vt.emb, emb, (size_t)B * m->cfg.embed_dim);
}

climp_status climp_model_embed_texts(climp_model *m, int B, int Lmax, const int32_t *tokens,
                                     const int32_t *lengths, float *emb) {
    climp_batch_in b = {B, 0, 0, NULL, Lmax, tokens, lengths};
    if (B < 1 || Lmax < 1 || !tokens || !lengths) return CLIMP_ERR_INVALID_ARG;
    CLIMP_TRY(sized_step(m, &b, NULL, 0, 1.0f, NULL));
    return climp_view_read(m->ctx, m->tt.emb, emb, (size_t)B * m->cfg.embed_dim);
}

climp_status climp_model_last_pooled(climp_model *m, float *img_pooled, float *txt_pooled) {
    if (img_pooled && m->vt.pooled.buf)
        CLIMP_TRY(climp_view_read(m->ctx, m->vt.pooled, img_pooled, m->vt.pooled.n));
    if (txt_pooled && m->tt.pooled.buf)
        CLIMP_TRY(climp_view_read(m->ctx, m->tt.pooled, txt_pooled, m->tt.pooled.n));
    return CLIMP_OK;
}
