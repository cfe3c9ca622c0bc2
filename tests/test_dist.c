/* Data-parallel step (climp_model_step_dist): a batch split over two replicas gives the loss of
 * the whole batch, and the replicas' gradients sum to the single-replica gradient (logit_scale
 * kept from one replica), as the MPI and multi-device trainers rely on. */
#include "tests/testutil.h"
#include "model/climp_model.h"
#include "model/safetensors.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const float *img, *txt; /* global embeddings computed beforehand */
    int N, Ed, offset;
} gather_ctx;

static climp_status gather(void *user, const float *img, const float *txt, int B, int Ed,
                           float *gimg, float *gtxt) {
    gather_ctx *g = user;
    size_t n = (size_t)g->N * Ed;
    memcpy(gimg, g->img, n * sizeof(float));
    memcpy(gtxt, g->txt, n * sizeof(float));
    /* This replica's rows must be what it computed. */
    for (size_t i = 0; i < (size_t)B * Ed; i++)
        if (fabsf(img[i] - g->img[(size_t)g->offset * Ed + i]) > 1e-6f ||
            fabsf(txt[i] - g->txt[(size_t)g->offset * Ed + i]) > 1e-6f)
            return CLIMP_ERR_SHAPE;
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
    /* Images to channel-last. */
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
    size_t P = t->total;
    /* Whole batch on one replica. */
    float loss1 = 0, *ie = malloc(sizeof(float) * B * Ed), *te = malloc(sizeof(float) * B * Ed);
    climp_batch_in all = {B, H, W, img, L, ids, len};
    CLIMP_CHECK(climp_model_zero_grads(m));
    CLIMP_CHECK(climp_model_step(m, &all, 1, 1.0f, &loss1, ie, te));
    float *g1 = malloc(P * 4), *gsum = calloc(P, 4), *g = malloc(P * 4);
    CLIMP_CHECK(climp_buffer_read(ctx, climp_model_grad_buffer(m), 0, P * 4, g1));
    /* Two replicas: rows [0, 2) and [2, 3). */
    int split[3] = {0, 2, B};
    const climp_param *ls = climp_params_find(t, "logit_scale");
    for (int r = 0; r < 2; r++) {
        int off = split[r], Br = split[r + 1] - split[r];
        climp_batch_in part = {Br, H, W, img + (size_t)off * H * W * 3, L, ids + (size_t)off * L,
                               len + off};
        gather_ctx gc = {ie, te, B, Ed, off};
        climp_dist d = {B, off, gather, &gc};
        float loss = 0;
        CLIMP_CHECK(climp_model_zero_grads(m));
        tu_check(climp_model_step_dist(m, &part, &d, 1, 1.0f, &loss) == CLIMP_OK,
                 "replica %d step: %s", r, climp_error_detail());
        tu_check(fabsf(loss - loss1) <= 1e-6f * fabsf(loss1), "replica %d loss %.8f vs %.8f", r,
                 loss, loss1);
        CLIMP_CHECK(climp_buffer_read(ctx, climp_model_grad_buffer(m), 0, P * 4, g));
        if (r > 0) g[ls->offset] = 0; /* logit_scale from replica 0 only */
        for (size_t i = 0; i < P; i++) gsum[i] += g[i];
    }
    double worst = 0;
    for (int i = 0; i < t->n; i++) {
        double e = tu_rel_maxnorm(gsum + t->p[i].offset, g1 + t->p[i].offset, t->p[i].numel);
        tu_check(e <= 1e-5, "%s: summed replica gradient rel %.3g", t->p[i].name, e);
        if (e > worst) worst = e;
    }
    printf("test_dist: 2 replicas vs 1: worst gradient rel %.2e\n", worst);
    /* Bad offsets are refused. */
    climp_batch_in part = {2, H, W, img, L, ids, len};
    gather_ctx gc = {ie, te, B, Ed, 2};
    climp_dist bad = {B, 2, gather, &gc};
    tu_check(climp_model_step_dist(m, &part, &bad, 1, 1.0f, NULL) == CLIMP_ERR_INVALID_ARG,
             "rows past the global batch refused");
    free(img); free(ids); free(len); free(ie); free(te); free(g1); free(gsum); free(g);
    climp_st_close(f);
    climp_model_destroy(m);
    climp_ctx_close(ctx);
    return tu_finish("test_dist");
}
