/* Split and overlapped training steps (climp_model_step_split, declared at the end of
 * model/climp_model.h): the step of climp_model_step_dist with two more freedoms that the
 * multi-device and MPI trainers need.
 *  - A replica may run one tower only (`--vision-device` / `--text-device`: two replicas on two
 *    devices, each holding the full parameter table, running their towers concurrently). The
 *    gather hook is then an exchange: it receives this replica's embeddings of its tower (the
 *    other pointer is NULL) and fills both global arrays. Each replica computes the loss of the
 *    global batch and its backward (redundantly, an N x N problem) and back-propagates only its
 *    own tower; the logit_scale gradient is computed by every replica: keep it on one.
 *  - A callback after each tower's backward has been enqueued (text first, then vision), so that
 *    the caller can start reducing the gradients of the finished tower while the other tower's
 *    backward runs (MPI overlap). The parameter layout keeps each tower's tensors contiguous:
 *    vision [0, t), text and logit_scale [t, total) (climp_params_build groups by tower).
 * Kernels, order of operations and arena sizing are those of run_step in model/climp.c, so a
 * replica running both towers computes bitwise what climp_model_step_dist computes. */
#define _POSIX_C_SOURCE 200809L
#include "model/embed_loss.h"
#include "model/model_internal.h"

#include <stdlib.h>

static climp_status upload(climp_model *m, const climp_batch_in *b, int vision, int text) {
    if (vision) {
        size_t n = (size_t)b->B * b->H * b->W * 3;
        CLIMP_TRY(mdl_alloc(m, n, &m->vt.img));
        RUN(m, climp_view_write(m->ctx, m->vt.img, b->images, n));
    }
    if (text) {
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

/* Own embeddings to the host, the hook, the global ones back to the device. */
static climp_status exchange(climp_model *m, const climp_split *sp, int B, int vision, int text,
                             climp_tview *gimg, climp_tview *gtxt) {
    int Ed = m->cfg.embed_dim, N = sp->world_batch;
    CLIMP_TRY(mdl_alloc(m, (size_t)N * Ed, gimg));
    CLIMP_TRY(mdl_alloc(m, (size_t)N * Ed, gtxt));
    if (m->dry)
        return CLIMP_OK;
    size_t nl = (size_t)B * Ed, ng = (size_t)N * Ed;
    float *host = malloc(sizeof(float) * (2 * nl + 2 * ng));
    if (!host)
        return CLIMP_ERR_HOST_OOM;
    float *img = host, *txt = host + nl, *gi = host + 2 * nl, *gt = gi + ng;
    climp_status s = CLIMP_OK;
    if (vision)
        s = climp_view_read(m->ctx, m->vt.emb, img, nl);
    if (!s && text)
        s = climp_view_read(m->ctx, m->tt.emb, txt, nl);
    if (!s)
        s = sp->gather(sp->user, vision ? img : NULL, text ? txt : NULL, B, Ed, gi, gt);
    if (!s)
        s = climp_view_write(m->ctx, *gimg, gi, ng);
    if (!s)
        s = climp_view_write(m->ctx, *gtxt, gt, ng);
    free(host);
    return s;
}

static climp_status run_split(climp_model *m, const climp_batch_in *b, const climp_split *sp,
                              int backward, float loss_scale, float *loss) {
    int vision = (sp->towers & CLIMP_TOWER_VISION) != 0,
        text = (sp->towers & CLIMP_TOWER_TEXT) != 0;
    int N = sp->world_batch, Ed = m->cfg.embed_dim;
    climp_arena_reset(m->arena, 0);
    CLIMP_TRY(upload(m, b, vision, text));
    if (vision) {
        climp_profile_label(m->ctx, "vision.forward");
        CLIMP_TRY(mdl_vision_forward(m, b->B, b->H, b->W));
    }
    if (text) {
        climp_profile_label(m->ctx, "text.forward");
        CLIMP_TRY(mdl_text_forward(m, b->B, b->Lmax));
    }
    climp_profile_label(m->ctx, "loss");
    climp_tview img, txt, scale = mdl_p(m, "logit_scale");
    CLIMP_TRY(exchange(m, sp, b->B, vision, text, &img, &txt));
    CLIMP_TRY(mdl_alloc(m, 1, &m->loss));
    CLIMP_TRY(mdl_alloc(m, climp_infonce_work_floats(N), &m->work));
    RUN(m, climp_infonce_forward(m->ctx, m->loss, loss, m->work, img, txt, scale, N, Ed));
    if (!backward)
        return CLIMP_OK;
    climp_tview dimg, dtxt;
    CLIMP_TRY(mdl_alloc(m, (size_t)N * Ed, &dimg));
    CLIMP_TRY(mdl_alloc(m, (size_t)N * Ed, &dtxt));
    RUN(m, climp_infonce_backward(m->ctx, dimg, dtxt, mdl_g(m, "logit_scale"), m->work, img, txt,
                                  scale, loss_scale, N, Ed));
    /* This replica's rows of the global gradient. */
    dimg = climp_view_sub(dimg, (size_t)sp->offset * Ed, (size_t)b->B * Ed);
    dtxt = climp_view_sub(dtxt, (size_t)sp->offset * Ed, (size_t)b->B * Ed);
    if (text) {
        climp_profile_label(m->ctx, "text.backward");
        CLIMP_TRY(mdl_text_backward(m, dtxt));
        if (sp->tower_done && !m->dry)
            CLIMP_TRY(sp->tower_done(sp->user, CLIMP_TOWER_TEXT));
    }
    if (vision) {
        climp_profile_label(m->ctx, "vision.backward");
        CLIMP_TRY(mdl_vision_backward(m, dimg));
        if (sp->tower_done && !m->dry)
            CLIMP_TRY(sp->tower_done(sp->user, CLIMP_TOWER_VISION));
    }
    climp_profile_label(m->ctx, NULL);
    return CLIMP_OK;
}

climp_status climp_model_step_split(climp_model *m, const climp_batch_in *b, const climp_split *sp,
                                    int backward, float loss_scale, float *loss) {
    if (!m || !b || !sp || b->B < 1 || !sp->gather || sp->offset < 0 ||
        sp->offset + b->B > sp->world_batch || !(sp->towers & CLIMP_TOWER_BOTH) ||
        (sp->towers & ~CLIMP_TOWER_BOTH) || ((sp->towers & CLIMP_TOWER_VISION) && !b->images) ||
        ((sp->towers & CLIMP_TOWER_TEXT) && (!b->tokens || !b->lengths)))
        return CLIMP_ERR_INVALID_ARG;
    if (backward && !m->training)
        return CLIMP_ERR_INVALID_ARG;
    m->dry = 1;
    climp_arena_set_sizing(m->arena, 1);
    climp_status s = run_split(m, b, sp, backward, loss_scale, NULL);
    climp_arena_set_sizing(m->arena, 0);
    m->dry = 0;
    if (s)
        return s;
    CLIMP_TRY(climp_arena_reserve(m->arena, 0));
    float l = 0;
    CLIMP_TRY(run_split(m, b, sp, backward, loss_scale, &l));
    if (loss)
        *loss = l;
    return CLIMP_OK;
}

size_t climp_model_tower_split_offset(const climp_model *m) {
    const climp_param_table *t = &m->table;
    size_t start1 = t->total, end0 = 0;
    for (int i = 0; i < t->n; i++) {
        const climp_param *p = &t->p[i];
        if (p->tower != 0 && p->offset < start1)
            start1 = p->offset;
        if (p->tower == 0 && p->offset + p->numel > end0)
            end0 = p->offset + p->numel;
    }
    return end0 <= start1 ? start1 : 0;
}
