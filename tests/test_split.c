/* Split and overlapped steps (climp_model_step_split, model/split.c): with both towers it computes
 * bitwise what climp_model_step_dist computes; one replica per tower gives the single-replica
 * loss and, summed (logit_scale from one), the single-replica gradient; tower_done comes text
 * first, then vision, and the text range is final when it comes; bad arguments are refused. */
#include "model/climp_model.h"
#include "model/safetensors.h"
#include "tests/testutil.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const float *img, *txt; /* global embeddings computed beforehand */
    int N, Ed, offset, bad;
    float tol; /* own rows against the precomputed ones (0: bitwise) */
    /* tower_done bookkeeping */
    climp_model *m;
    int calls[4], order;
    float *text_range; /* gradients [split, total) read when the text tower is done */
    size_t split, total;
} hook_ctx;

/* Global arrays from the precomputed ones; the rows this replica computed must match them
 * (bitwise for the whole batch; a batch of other size may round differently). */
static climp_status gather(void *user, const float *img, const float *txt, int B, int Ed,
                           float *gimg, float *gtxt) {
    hook_ctx *g = user;
    size_t n = (size_t)g->N * Ed, at = (size_t)g->offset * Ed;
    memcpy(gimg, g->img, n * sizeof(float));
    memcpy(gtxt, g->txt, n * sizeof(float));
    for (size_t i = 0; i < (size_t)B * Ed; i++)
        if ((img && !(fabsf(img[i] - g->img[at + i]) <= g->tol)) ||
            (txt && !(fabsf(txt[i] - g->txt[at + i]) <= g->tol)))
            g->bad++;
    return CLIMP_OK;
}

static climp_status tower_done(void *user, int tower) {
    hook_ctx *g = user;
    g->calls[tower]++;
    g->order = g->order * 10 + tower;
    if (tower == CLIMP_TOWER_TEXT)
        return climp_buffer_read(climp_model_ctx(g->m), climp_model_grad_buffer(g->m), g->split * 4,
                                 (g->total - g->split) * 4, g->text_range);
    return CLIMP_OK;
}

int main(void) {
    climp_ctx *ctx = tu_open_ctx();
    const char *path = "tests/fixtures/climp_mamba1_tiny.safetensors";
    climp_config cfg;
    CLIMP_CHECK(climp_checkpoint_config(path, &cfg));
    climp_st_file *f;
    CLIMP_CHECK(climp_st_open(path, &f));
    const climp_st_tensor *ti = climp_st_find(f, "fixture.images");
    const climp_st_tensor *tt = climp_st_find(f, "fixture.token_ids");
    int B = (int)ti->shape[0], H = (int)ti->shape[2], W = (int)ti->shape[3], L = (int)tt->shape[1];
    int Ed = cfg.embed_dim;
    const float *chw = climp_st_data(f, ti);
    float *img = malloc(sizeof(float) * B * H * W * 3);
    for (int b = 0; b < B; b++)
        for (int c = 0; c < 3; c++)
            for (int p = 0; p < H * W; p++)
                memcpy(&img[((size_t)b * H * W + p) * 3 + c], &chw[((size_t)b * 3 + c) * H * W + p],
                       4);
    int32_t *ids = malloc(sizeof(int32_t) * B * L), *len = malloc(sizeof(int32_t) * B);
    memcpy(ids, climp_st_data(f, tt), sizeof(int32_t) * B * L);
    memcpy(len, climp_st_data(f, climp_st_find(f, "fixture.lengths")), sizeof(int32_t) * B);

    climp_model *m = NULL;
    CLIMP_CHECK(climp_model_create(ctx, &cfg, 1, &m));
    CLIMP_CHECK(climp_model_load_opts(m, path, 1));
    const climp_param_table *t = climp_model_params(m);
    size_t P = t->total, split = climp_model_tower_split_offset(m);
    const climp_param *ls = climp_params_find(t, "logit_scale");
    tu_check(split > 0 && split < P && ls->offset >= split, "tower split offset %zu of %zu", split,
             P);
    for (int i = 0; i < t->n; i++)
        tu_check((t->p[i].offset < split) == (t->p[i].tower == 0), "%s on the wrong side of %zu",
                 t->p[i].name, split);

    /* Reference: the whole batch on one replica. */
    float loss1 = 0, *ie = malloc(sizeof(float) * B * Ed), *te = malloc(sizeof(float) * B * Ed);
    climp_batch_in all = {B, H, W, img, L, ids, len};
    CLIMP_CHECK(climp_model_zero_grads(m));
    CLIMP_CHECK(climp_model_step(m, &all, 1, 0.5f, &loss1, ie, te));
    float *g1 = malloc(P * 4), *g = malloc(P * 4), *gsum = calloc(P, 4), *tr = malloc(P * 4);
    CLIMP_CHECK(climp_buffer_read(ctx, climp_model_grad_buffer(m), 0, P * 4, g1));

    /* Both towers, rows [1, B) of the batch, against climp_model_step_dist: bitwise. */
    climp_batch_in part = {B - 1, H, W, img + (size_t)H * W * 3, L, ids + L, len + 1};
    hook_ctx hc = {ie, te, B, Ed, 1, 0, 1e-6f, m, {0}, 0, tr, split, P};
    climp_dist d = {B, 1, gather, &hc};
    float ld = 0, lsp = 0;
    CLIMP_CHECK(climp_model_zero_grads(m));
    CLIMP_CHECK(climp_model_step_dist(m, &part, &d, 1, 0.5f, &ld));
    CLIMP_CHECK(climp_buffer_read(ctx, climp_model_grad_buffer(m), 0, P * 4, g));
    climp_split sp = {CLIMP_TOWER_BOTH, B, 1, gather, tower_done, &hc};
    CLIMP_CHECK(climp_model_zero_grads(m));
    CLIMP_CHECK(climp_model_step_split(m, &part, &sp, 1, 0.5f, &lsp));
    CLIMP_CHECK(climp_buffer_read(ctx, climp_model_grad_buffer(m), 0, P * 4, gsum));
    tu_check(ld == lsp, "both towers: loss %.9g vs step_dist %.9g", lsp, ld);
    tu_check(!memcmp(g, gsum, P * 4), "both towers: gradients differ from step_dist");
    tu_check(hc.bad == 0, "both towers: %d own embedding values differ from the full batch",
             hc.bad);
    tu_check(hc.calls[CLIMP_TOWER_TEXT] == 1 && hc.calls[CLIMP_TOWER_VISION] == 1 &&
                 hc.order == CLIMP_TOWER_TEXT * 10 + CLIMP_TOWER_VISION,
             "tower_done calls text %d vision %d order %d", hc.calls[CLIMP_TOWER_TEXT],
             hc.calls[CLIMP_TOWER_VISION], hc.order);
    tu_check(!memcmp(tr, gsum + split, (P - split) * 4),
             "text range not final when tower_done(text) came");

    /* One replica per tower (inputs of the other tower absent), whole batch each. */
    memset(gsum, 0, P * 4);
    float lt[2] = {0, 0};
    for (int r = 0; r < 2; r++) {
        int tower = r == 0 ? CLIMP_TOWER_VISION : CLIMP_TOWER_TEXT;
        climp_batch_in one = {B, H, W, NULL, L, NULL, NULL};
        if (tower == CLIMP_TOWER_VISION)
            one.images = img;
        else
            one.tokens = ids, one.lengths = len;
        hook_ctx h = {ie, te, B, Ed, 0, 0, 0, m, {0}, 0, tr, split, P};
        climp_split s1 = {tower, B, 0, gather, NULL, &h};
        CLIMP_CHECK(climp_model_zero_grads(m));
        tu_check(climp_model_step_split(m, &one, &s1, 1, 0.5f, &lt[r]) == CLIMP_OK,
                 "tower %d step: %s", tower, climp_error_detail());
        tu_check(h.bad == 0, "tower %d: own embeddings differ from the full batch", tower);
        CLIMP_CHECK(climp_buffer_read(ctx, climp_model_grad_buffer(m), 0, P * 4, g));
        if (r > 0)
            g[ls->offset] = 0;
        for (size_t i = 0; i < P; i++)
            gsum[i] += g[i];
    }
    tu_check(lt[0] == loss1 && lt[1] == loss1, "tower losses %.9g %.9g vs %.9g", lt[0], lt[1],
             loss1);
    double worst = 0;
    for (int i = 0; i < t->n; i++) {
        double e = tu_rel_maxnorm(gsum + t->p[i].offset, g1 + t->p[i].offset, t->p[i].numel);
        tu_check(e <= 1e-6, "%s: tower-split gradient rel %.3g", t->p[i].name, e);
        if (e > worst)
            worst = e;
    }
    printf("test_split: towers on two replicas vs one: worst gradient rel %.2e\n", worst);

    /* Refused: no tower, an unknown bit, missing input of a tower, rows past the batch. */
    hook_ctx h = {ie, te, B, Ed, 0, 0, 0, m, {0}, 0, tr, split, P};
    climp_batch_in vis = {B, H, W, img, L, NULL, NULL};
    climp_split bad[4] = {{0, B, 0, gather, NULL, &h},
                          {4 | CLIMP_TOWER_VISION, B, 0, gather, NULL, &h},
                          {CLIMP_TOWER_TEXT, B, 0, gather, NULL, &h},
                          {CLIMP_TOWER_VISION, B, 1, gather, NULL, &h}};
    for (int i = 0; i < 4; i++)
        tu_check(climp_model_step_split(m, &vis, &bad[i], 1, 1.0f, NULL) == CLIMP_ERR_INVALID_ARG,
                 "bad split %d refused", i);
    free(img);
    free(ids);
    free(len);
    free(ie);
    free(te);
    free(g1);
    free(g);
    free(gsum);
    free(tr);
    climp_st_close(f);
    climp_model_destroy(m);
    climp_ctx_close(ctx);
    return tu_finish("test_split");
}
