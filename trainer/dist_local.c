/* Several devices in one process (declared in trainer/dist.h), of any vendors: one climp_ctx and
 * one model replica per device, each on its own thread during a step.
 *  - Data parallel (--devices): each batch is split across the replicas in proportion to their
 *    speed (rows per second of a timed training step on each device at start, or given
 *    weights); embeddings meet on the host in a barrier inside the model's gather hook, every
 *    replica computes the global loss and back-propagates its rows (climp_model_step_dist).
 *  - Tower parallel (--vision-device/--text-device): replica 0 runs the vision tower, replica 1
 *    the text tower, concurrently; they swap embeddings at the loss (climp_model_step_split).
 * Gradients are summed on the host into the primary replica (index 0), which alone holds the
 * optimizer; its parameters are then copied to the others, so every replica's parameters are
 * bitwise identical whatever the vendors' arithmetic. */
#define _POSIX_C_SOURCE 200809L
#include "trainer/dist.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define MAX_REPLICAS 16

typedef struct replica {
    climp_local *l;
    int index;
    climp_ctx *ctx; /* owned (NULL for the primary, whose context is the caller's) */
    climp_model *m;
    int offset, rows; /* data parallel: rows [offset, offset + rows) of each batch */
    int towers;       /* CLIMP_TOWER_* this replica runs */
    double rows_per_s; /* measured (0 when weights were given) */
    double weight;     /* given relative speed (0 when measured) */
    climp_batch_in in;
    float loss_scale, loss;
    climp_status status;
    char err[512];
    pthread_t th;
} replica;

struct climp_local {
    int n, batch, towers_mode, Ed;
    replica r[MAX_REPLICAS];
    size_t total, split, logit; /* floats; split: first float of the text range */
    float *sum, *tmp;           /* host gradient / parameter staging (total each) */
    float *gimg, *gtxt;         /* global embeddings (batch, Ed) */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int arrived, broken;
    long gen;
};

/* A barrier that a failing replica can break, so that no thread waits forever. */
static int barrier_wait(climp_local *l) {
    pthread_mutex_lock(&l->mu);
    long g = l->gen;
    if (!l->broken && ++l->arrived == l->n) {
        l->arrived = 0;
        l->gen++;
        pthread_cond_broadcast(&l->cv);
    }
    while (g == l->gen && !l->broken)
        pthread_cond_wait(&l->cv, &l->mu);
    int ok = g != l->gen;
    pthread_mutex_unlock(&l->mu);
    return ok;
}

static void barrier_break(climp_local *l) {
    pthread_mutex_lock(&l->mu);
    l->broken = 1;
    pthread_cond_broadcast(&l->cv);
    pthread_mutex_unlock(&l->mu);
}

/* The gather hook: own rows in, wait for every replica, global arrays out. */
static climp_status gather(void *user, const float *img, const float *txt, int B, int Ed,
                           float *gimg, float *gtxt) {
    replica *r = user;
    climp_local *l = r->l;
    size_t n = (size_t)B * Ed, at = (size_t)r->offset * Ed, N = (size_t)l->batch * Ed;
    if (img)
        memcpy(l->gimg + at, img, n * sizeof(float));
    if (txt)
        memcpy(l->gtxt + at, txt, n * sizeof(float));
    if (!barrier_wait(l)) {
        climp_error_set("another device failed during the step");
        return CLIMP_ERR_INTERRUPTED;
    }
    memcpy(gimg, l->gimg, N * sizeof(float));
    memcpy(gtxt, l->gtxt, N * sizeof(float));
    return CLIMP_OK;
}

static void *replica_main(void *arg) {
    replica *r = arg;
    climp_local *l = r->l;
    if (l->towers_mode) {
        climp_split sp = {r->towers, l->batch, 0, gather, NULL, r};
        r->status = climp_model_step_split(r->m, &r->in, &sp, 1, r->loss_scale, &r->loss);
    } else {
        climp_dist d = {l->batch, r->offset, gather, r};
        r->status = climp_model_step_dist(r->m, &r->in, &d, 1, r->loss_scale, &r->loss);
    }
    if (r->status) {
        snprintf(r->err, sizeof r->err, "%s", climp_error_detail());
        barrier_break(l);
    }
    return NULL;
}

/* Split `batch` rows in proportion to w (each replica at least one row; largest remainders). */
static void split_rows(climp_local *l, const double *w) {
    double W = 0;
    int used = 0;
    for (int i = 0; i < l->n; i++)
        W += w[i];
    double frac[MAX_REPLICAS];
    for (int i = 0; i < l->n; i++) {
        double exact = l->batch * w[i] / W;
        l->r[i].rows = (int)floor(exact);
        frac[i] = exact - l->r[i].rows;
        used += l->r[i].rows;
    }
    for (; used < l->batch; used++) {
        int best = 0;
        for (int i = 1; i < l->n; i++)
            if (frac[i] > frac[best])
                best = i;
        l->r[best].rows++;
        frac[best] = -1;
    }
    for (int i = 0; i < l->n; i++)
        while (l->r[i].rows < 1) { /* take a row from the largest share */
            int big = 0;
            for (int j = 1; j < l->n; j++)
                if (l->r[j].rows > l->r[big].rows)
                    big = j;
            l->r[big].rows--;
            l->r[i].rows++;
        }
    for (int i = 0, off = 0; i < l->n; off += l->r[i].rows, i++)
        l->r[i].offset = off;
}

/* The probe's stand-in for the other tower: every embedding the unit vector e_0. */
static climp_status probe_gather(void *user, const float *img, const float *txt, int B, int Ed,
                                 float *gimg, float *gtxt) {
    size_t n = (size_t)B * Ed;
    memset(gimg, 0, n * sizeof(float));
    memset(gtxt, 0, n * sizeof(float));
    for (int i = 0; i < B; i++)
        gimg[(size_t)i * Ed] = gtxt[(size_t)i * Ed] = 1;
    if (img)
        memcpy(gimg, img, n * sizeof(float));
    if (txt)
        memcpy(gtxt, txt, n * sizeof(float));
    return CLIMP_OK;
}

/* A training step on a probe batch of `rows` pairs (deterministic content) through the towers
 * the replica runs: compiles its kernels, sizes its arena, and times it. */
static climp_status probe_step(climp_model *m, int towers, int rows, int S, double *seconds) {
    const climp_config *c = climp_model_config(m);
    int L = 32, V = c->text.vocab < 256 ? c->text.vocab : 256;
    size_t npix = (size_t)rows * S * S * 3;
    float *img = malloc(sizeof(float) * npix);
    int32_t *ids = malloc(sizeof(int32_t) * (size_t)rows * L),
            *len = malloc(sizeof(int32_t) * rows);
    climp_status s = (!img || !ids || !len) ? CLIMP_ERR_HOST_OOM : CLIMP_OK;
    for (size_t i = 0; !s && i < npix; i++)
        img[i] = sinf((float)i * 0.37f);
    for (int i = 0; !s && i < rows * L; i++)
        ids[i] = (i * 7 + 3) % V;
    for (int i = 0; !s && i < rows; i++)
        len[i] = L - i % 5;
    climp_batch_in b = {rows, S, S, img, L, ids, len};
    double t0 = climp_now_seconds();
    float loss = 0;
    climp_split sp = {towers, rows, 0, probe_gather, NULL, NULL};
    if (!s)
        s = climp_model_step_split(m, &b, &sp, 1, 1.0f, &loss); /* reads the loss: waits */
    if (!s)
        s = climp_finish(climp_model_ctx(m));
    *seconds = climp_now_seconds() - t0;
    if (!s)
        s = climp_model_zero_grads(m);
    free(img);
    free(ids);
    free(len);
    return s;
}

/* Compile every kernel (one device at a time) and, for data parallelism, time each device. */
static climp_status warm_up(climp_local *l, const climp_local_options *o) {
    int rows = l->towers_mode ? l->batch : l->batch / l->n;
    double w[MAX_REPLICAS];
    for (int i = 0; i < l->n; i++) {
        double t = 0, best = 1e30;
        replica *r = &l->r[i];
        CLIMP_TRY(probe_step(r->m, r->towers, rows, o->image_size, &t));
        for (int rep = 0; !l->towers_mode && !o->weights && rep < 2; rep++) {
            CLIMP_TRY(probe_step(r->m, r->towers, rows, o->image_size, &t));
            if (t < best)
                best = t;
        }
        r->rows_per_s = best < 1e30 ? rows / best : 0;
        r->weight = o->weights ? o->weights[i] : 0;
        w[i] = o->weights ? o->weights[i] : r->rows_per_s;
    }
    if (!l->towers_mode)
        split_rows(l, w);
    return CLIMP_OK;
}

static climp_status add_replica(climp_local *l, const climp_local_options *o, const char *device,
                                const float *params) {
    replica *r = &l->r[l->n];
    climp_ctx_options co = {0};
    co.device = device;
    co.kernel_binaries = o->kernel_binaries;
    co.kernel_variant = o->kernel_variant;
    co.profile = o->profile;
    CLIMP_TRY(climp_ctx_open(&co, &r->ctx));
    r->l = l;
    r->index = l->n++;
    CLIMP_TRY(climp_model_create(r->ctx, climp_model_config(l->r[0].m), 1, &r->m));
    climp_model_set_recompute(r->m, climp_model_recompute(l->r[0].m));
    return climp_model_set_params(r->m, params);
}

climp_status climp_local_create(const climp_local_options *o, climp_model *primary,
                                climp_local **out) {
    int ndev = o->ndev ? o->ndev : 2;
    if (ndev < 2 || ndev > MAX_REPLICAS || (!o->ndev && (!o->vision_device || !o->text_device))) {
        climp_error_set("need 2 to %d devices", MAX_REPLICAS);
        return CLIMP_ERR_INVALID_ARG;
    }
    if (o->ndev && o->batch < ndev) {
        climp_error_set("a batch of %d pairs cannot be split across %d devices", o->batch, ndev);
        return CLIMP_ERR_INVALID_ARG;
    }
    climp_local *l = calloc(1, sizeof *l);
    if (!l)
        return CLIMP_ERR_HOST_OOM;
    pthread_mutex_init(&l->mu, NULL);
    pthread_cond_init(&l->cv, NULL);
    const climp_param_table *t = climp_model_params(primary);
    l->batch = o->batch;
    l->towers_mode = o->ndev == 0;
    l->Ed = climp_model_config(primary)->embed_dim;
    l->total = t->total;
    l->logit = climp_params_find(t, "logit_scale")->offset;
    l->split = climp_model_tower_split_offset(primary);
    l->r[0] = (replica){.l = l, .index = 0, .m = primary};
    l->n = 1;
    l->sum = malloc(sizeof(float) * l->total);
    l->tmp = malloc(sizeof(float) * l->total);
    l->gimg = malloc(sizeof(float) * (size_t)l->batch * l->Ed);
    l->gtxt = malloc(sizeof(float) * (size_t)l->batch * l->Ed);
    climp_status s = (!l->sum || !l->tmp || !l->gimg || !l->gtxt) ? CLIMP_ERR_HOST_OOM : CLIMP_OK;
    if (!s && l->towers_mode && (!l->split || l->logit < l->split)) {
        climp_error_set("the parameter layout does not separate the towers");
        s = CLIMP_ERR_UNSUPPORTED;
    }
    if (!s)
        s = climp_model_get_params(primary, l->tmp);
    for (int i = 1; !s && i < ndev; i++)
        s = add_replica(l, o, l->towers_mode ? o->text_device : o->devices[i], l->tmp);
    if (!s && l->towers_mode) {
        l->r[0].towers = CLIMP_TOWER_VISION;
        l->r[1].towers = CLIMP_TOWER_TEXT;
        l->r[0].rows = l->r[1].rows = l->batch;
    }
    for (int i = 0; !s && !l->towers_mode && i < l->n; i++)
        l->r[i].towers = CLIMP_TOWER_BOTH;
    if (!s)
        s = warm_up(l, o);
    if (s) {
        climp_local_destroy(l);
        return s;
    }
    *out = l;
    return CLIMP_OK;
}

void climp_local_destroy(climp_local *l) {
    if (!l)
        return;
    for (int i = 1; i < l->n; i++) {
        climp_model_destroy(l->r[i].m);
        climp_ctx_close(l->r[i].ctx);
    }
    pthread_mutex_destroy(&l->mu);
    pthread_cond_destroy(&l->cv);
    free(l->sum);
    free(l->tmp);
    free(l->gimg);
    free(l->gtxt);
    free(l);
}

int climp_local_count(const climp_local *l) {
    return l ? l->n : 0;
}

void climp_local_describe(const climp_local *l, FILE *f) {
    for (int i = 0; i < l->n; i++) {
        const replica *r = &l->r[i];
        const climp_device_info *d = climp_ctx_info(climp_model_ctx(r->m));
        if (l->towers_mode)
            fprintf(f, "  %s tower on [%d:%d] %s\n",
                    r->towers == CLIMP_TOWER_VISION ? "vision" : "text", d->platform_index,
                    d->device_index, d->name);
        else if (r->weight > 0)
            fprintf(f, "  device %d [%d:%d] %s: rows %d..%d of %d (weight %g)\n", i,
                    d->platform_index, d->device_index, d->name, r->offset, r->offset + r->rows - 1,
                    l->batch, r->weight);
        else
            fprintf(f, "  device %d [%d:%d] %s: rows %d..%d of %d (%.1f pairs/s measured)\n", i,
                    d->platform_index, d->device_index, d->name, r->offset, r->offset + r->rows - 1,
                    l->batch, r->rows_per_s);
    }
}

climp_status climp_local_zero_grads(climp_local *l) {
    for (int i = 1; i < l->n; i++)
        CLIMP_TRY(climp_model_zero_grads(l->r[i].m));
    return CLIMP_OK;
}

climp_status climp_local_step(climp_local *l, const climp_batch_in *b, float loss_scale,
                              float *loss) {
    if (b->B != l->batch) {
        climp_error_set("batch of %d pairs, the devices were set up for %d", b->B, l->batch);
        return CLIMP_ERR_SHAPE;
    }
    size_t px = (size_t)b->H * b->W * 3;
    for (int i = 0; i < l->n; i++) {
        replica *r = &l->r[i];
        climp_batch_in in = {r->rows, b->H, b->W, NULL, b->Lmax, NULL, NULL};
        if (r->towers & CLIMP_TOWER_VISION)
            in.images = b->images + (size_t)r->offset * px;
        if (r->towers & CLIMP_TOWER_TEXT) {
            in.tokens = b->tokens + (size_t)r->offset * b->Lmax;
            in.lengths = b->lengths + r->offset;
        }
        r->in = in;
        r->loss_scale = loss_scale;
        r->status = CLIMP_OK;
    }
    l->arrived = l->broken = 0;
    int started = 1;
    for (; started < l->n; started++)
        if (pthread_create(&l->r[started].th, NULL, replica_main, &l->r[started])) {
            barrier_break(l);
            break;
        }
    if (started == l->n)
        replica_main(&l->r[0]);
    for (int i = 1; i < started; i++)
        pthread_join(l->r[i].th, NULL);
    if (started < l->n) {
        climp_error_set("cannot start a thread for device %d", started);
        return CLIMP_ERR_HOST_OOM;
    }
    /* Report the failure that broke the barrier, not the replicas it released. */
    for (int pass = 0; pass < 2; pass++)
        for (int i = 0; i < l->n; i++) {
            replica *r = &l->r[i];
            if (r->status && (pass || r->status != CLIMP_ERR_INTERRUPTED)) {
                const climp_device_info *d = climp_ctx_info(climp_model_ctx(r->m));
                climp_error_set("device %d (%s): %s", i, d->name, r->err);
                return r->status;
            }
        }
    if (loss)
        *loss = l->r[0].loss;
    return CLIMP_OK;
}

/* Gradients (or parameters) [a, b) of replica i to host memory. */
static climp_status read_range(climp_local *l, int i, int grads, size_t a, size_t b, float *dst) {
    climp_model *m = l->r[i].m;
    climp_buffer *buf = grads ? climp_model_grad_buffer(m) : climp_model_param_buffer(m);
    return climp_buffer_read(climp_model_ctx(m), buf, a * sizeof(float), (b - a) * sizeof(float),
                             dst + a);
}

climp_status climp_local_reduce(climp_local *l) {
    climp_model *m0 = l->r[0].m;
    climp_buffer *g0 = climp_model_grad_buffer(m0);
    if (l->towers_mode) {
        /* The primary ran the vision tower: its text range is zero but for logit_scale, which
         * it keeps; the text replica's text range is taken as is (exact: x + 0). */
        float keep = 0;
        CLIMP_TRY(climp_buffer_read(climp_model_ctx(m0), g0, l->logit * sizeof(float),
                                    sizeof(float), &keep));
        CLIMP_TRY(read_range(l, 1, 1, l->split, l->total, l->sum));
        l->sum[l->logit] = keep;
        return climp_buffer_write(climp_model_ctx(m0), g0, l->split * sizeof(float),
                                  (l->total - l->split) * sizeof(float), l->sum + l->split);
    }
    CLIMP_TRY(read_range(l, 0, 1, 0, l->total, l->sum));
    for (int i = 1; i < l->n; i++) {
        CLIMP_TRY(read_range(l, i, 1, 0, l->total, l->tmp));
        l->tmp[l->logit] = 0; /* every replica computed the full logit_scale gradient */
        for (size_t k = 0; k < l->total; k++)
            l->sum[k] += l->tmp[k];
    }
    return climp_buffer_write(climp_model_ctx(m0), g0, 0, l->total * sizeof(float), l->sum);
}

climp_status climp_local_broadcast(climp_local *l) {
    /* The text replica of the tower split needs its range only (logit_scale is in it). */
    size_t a = l->towers_mode ? l->split : 0;
    CLIMP_TRY(read_range(l, 0, 0, a, l->total, l->tmp));
    for (int i = 1; i < l->n; i++) {
        climp_model *m = l->r[i].m;
        CLIMP_TRY(climp_buffer_write(climp_model_ctx(m), climp_model_param_buffer(m),
                                     a * sizeof(float), (l->total - a) * sizeof(float),
                                     l->tmp + a));
    }
    return CLIMP_OK;
}
