/* The dataset interface (synthetic, TSV/CSV, tar shards behind one get-sample call) and the
 * prefetching batch loader: worker threads decode the items of a ring of slots that follows the
 * sample order (a Feistel permutation per epoch, or the identity); the caller's thread takes
 * finished slots strictly in order, skipping and counting bad samples, so batches do not depend
 * on the thread count. Declared in trainer/data.h; tests in tests/test_data.c. */
#define _POSIX_C_SOURCE 200809L
#include "trainer/data.h"

#include <ctype.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum { KIND_SYNTH, KIND_TSV, KIND_TAR };

struct climp_dataset {
    int kind, S, max_cap;
    uint64_t seed;
    long n, max_pixels;
    climp_tsv *tsv;
    climp_tar_index *tar;
    atomic_long cap_truncated, cap_empty, cap_bad_utf8; /* tar captions, counted when read */
};

static int ends_with(const char *s, const char *suffix) {
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcasecmp(s + a - b, suffix) == 0;
}

/* "synthetic", "synthetic:N", "synthetic-eval[:N]": returns 1 and fills n/eval, 0 if not
 * synthetic, -1 if malformed. */
static int parse_synth(const char *spec, long *n, int *eval) {
    const char *rest;
    if (!strncmp(spec, "synthetic-eval", 14)) rest = spec + 14, *eval = 1;
    else if (!strncmp(spec, "synthetic", 9)) rest = spec + 9, *eval = 0;
    else return 0;
    *n = *eval ? CLIMP_DATA_SYNTH_EVAL_N : CLIMP_DATA_SYNTH_N;
    if (!*rest) return 1;
    if (*rest != ':' || !rest[1]) return -1;
    long v = 0;
    for (const char *p = rest + 1; *p; p++) {
        if (!isdigit((unsigned char)*p) || v > (1L << 40)) return -1;
        v = v * 10 + (*p - '0');
    }
    if (v <= 0) return -1;
    *n = v;
    return 1;
}

climp_status climp_dataset_open(const climp_data_options *opt, climp_dataset **out) {
    if (!opt || !out) return CLIMP_ERR_INVALID_ARG;
    *out = NULL;
    int S = opt->image_size ? opt->image_size : CLIMP_DATA_IMAGE_SIZE;
    if (S < 1 || S > CLIMP_DATA_MAX_IMAGE_SIZE) {
        climp_error_set("image size %d is outside 1..%d", S, CLIMP_DATA_MAX_IMAGE_SIZE);
        return CLIMP_ERR_INVALID_ARG;
    }
    int max_cap = opt->max_caption_bytes > 0 ? opt->max_caption_bytes : CLIMP_DATA_MAX_CAPTION;
    if (max_cap > (1 << 20)) max_cap = 1 << 20; /* tar text members are read up to 1 MiB */
    climp_dataset *ds = calloc(1, sizeof *ds);
    if (!ds) return CLIMP_ERR_HOST_OOM;
    ds->S = S;
    ds->max_cap = max_cap;
    ds->seed = opt->seed;
    ds->max_pixels = opt->max_pixels > 0 ? opt->max_pixels : CLIMP_DATA_MAX_PIXELS;
    atomic_init(&ds->cap_truncated, 0);
    atomic_init(&ds->cap_empty, 0);
    atomic_init(&ds->cap_bad_utf8, 0);
    const char *spec = opt->spec ? opt->spec : "synthetic";
    int eval = 0;
    long n = 0;
    int syn = parse_synth(spec, &n, &eval);
    climp_status s = CLIMP_OK;
    if (syn < 0) {
        climp_error_set("--data '%s': expected synthetic[:N] or synthetic-eval[:N], N > 0", spec);
        s = CLIMP_ERR_INVALID_ARG;
    } else if (syn > 0) {
        ds->kind = KIND_SYNTH;
        ds->n = n;
        if (eval) ds->seed = climp_synth_eval_seed(opt->seed);
    } else if (ends_with(spec, ".tsv") || ends_with(spec, ".csv")) {
        ds->kind = KIND_TSV;
        s = climp_tsv_load(spec, opt->csv_separator, opt->img_key, opt->caption_key, max_cap,
                           &ds->tsv);
        if (!s) ds->n = ds->tsv->n;
    } else if (strstr(spec, ".tar") || strstr(spec, ".TAR")) {
        ds->kind = KIND_TAR;
        s = climp_tar_open(spec, &ds->tar);
        if (!s) ds->n = ds->tar->n;
    } else {
        climp_error_set("--data '%s': expected synthetic[:N], a .tsv/.csv file, or tar shards "
                        "such as dir/{00000..00099}.tar",
                        spec);
        s = CLIMP_ERR_INVALID_ARG;
    }
    if (s) return free(ds), s;
    *out = ds;
    return CLIMP_OK;
}

void climp_dataset_close(climp_dataset *ds) {
    if (!ds) return;
    climp_tsv_free(ds->tsv);
    climp_tar_close(ds->tar);
    free(ds);
}

long climp_dataset_size(const climp_dataset *ds) { return ds ? ds->n : 0; }
int climp_dataset_image_size(const climp_dataset *ds) { return ds ? ds->S : 0; }

const char *climp_dataset_kind(const climp_dataset *ds) {
    if (!ds) return "none";
    return ds->kind == KIND_SYNTH ? "synthetic" : ds->kind == KIND_TSV ? "tsv" : "tar";
}

long climp_dataset_row(const climp_dataset *ds, long i) {
    if (!ds || i < 0 || i >= ds->n) return -1;
    if (ds->kind == KIND_TSV) return ds->tsv->row[i];
    if (ds->kind == KIND_TAR) {
        const climp_tar_sample *s = &ds->tar->samples[i];
        return ds->tar->shard_first_row[s->shard] + (long)s->ordinal;
    }
    return i;
}

void climp_dataset_stats(const climp_dataset *ds, climp_data_stats *out) {
    memset(out, 0, sizeof *out);
    if (!ds) return;
    if (ds->tsv) *out = ds->tsv->stats;
    if (ds->tar) *out = ds->tar->stats;
    if (ds->kind == KIND_SYNTH) out->rows = ds->n;
    out->captions_truncated += atomic_load(&ds->cap_truncated);
    out->captions_empty += atomic_load(&ds->cap_empty);
    out->captions_bad_utf8 += atomic_load(&ds->cap_bad_utf8);
}

static void copy_caption(const char *s, size_t n, char *cap, size_t cap_size) {
    if (!cap || !cap_size) return;
    size_t c = climp_data_utf8_cut(s, n, cap_size - 1);
    memcpy(cap, s, c);
    cap[c] = '\0';
}

static void to_tensor(const climp_dataset *ds, const uint8_t *rgb, int w, int h, long i,
                      int epoch, int augment, float *image) {
    climp_crop crop = {0, 0, w, h};
    if (augment) {
        climp_data_rng r = {climp_data_hash3(climp_data_mix64(ds->seed) ^ CLIMP_RNG_CROP,
                                             (uint64_t)(int64_t)epoch, (uint64_t)i)};
        crop = climp_random_resized_crop(w, h, &r);
    }
    climp_image_resize_normalize(rgb, w, h, crop, ds->S, image);
}

/* A tar caption: surrounding whitespace trimmed, UTF-8 checked, long ones truncated. */
static climp_status tar_caption(climp_dataset *ds, long i, char *t, size_t n, char *cap,
                                size_t cap_size) {
    size_t a = 0;
    while (a < n && isspace((unsigned char)t[a])) a++;
    while (n > a && isspace((unsigned char)t[n - 1])) n--;
    const char *shard = ds->tar->shards[ds->tar->samples[i].shard];
    if (n == a) {
        atomic_fetch_add(&ds->cap_empty, 1);
        climp_error_set("%s: sample %ld has an empty caption", shard, i);
        return CLIMP_ERR_FORMAT;
    }
    size_t len = n - a;
    if (len > (size_t)ds->max_cap) {
        atomic_fetch_add(&ds->cap_truncated, 1);
        len = climp_data_utf8_cut(t + a, len, (size_t)ds->max_cap);
    }
    if (!climp_data_utf8_valid(t + a, len)) {
        atomic_fetch_add(&ds->cap_bad_utf8, 1);
        climp_error_set("%s: sample %ld caption is not valid UTF-8", shard, i);
        return CLIMP_ERR_FORMAT;
    }
    copy_caption(t + a, len, cap, cap_size);
    return CLIMP_OK;
}

climp_status climp_dataset_get_rgb(climp_dataset *ds, long i, climp_image *img, char *cap,
                                   size_t cap_size) {
    if (!ds || !img || i < 0 || (ds->kind != KIND_SYNTH && i >= ds->n)) {
        climp_error_set("sample %ld is outside the dataset of %ld", i, ds ? ds->n : 0L);
        return CLIMP_ERR_INVALID_ARG;
    }
    memset(img, 0, sizeof(*img));
    int S = ds->S;
    if (ds->kind == KIND_SYNTH) {
        uint8_t *rgb = malloc((size_t)S * (size_t)S * 3);
        if (!rgb) return CLIMP_ERR_HOST_OOM;
        climp_synth_scene sc;
        char text[256];
        climp_synth_scene_make(ds->seed, i, S, &sc);
        size_t len = climp_synth_render(&sc, S, rgb, text, sizeof text);
        copy_caption(text, len < sizeof text ? len : sizeof text - 1, cap, cap_size);
        img->rgb = rgb;
        img->w = img->h = S;
        return CLIMP_OK;
    }
    uint8_t *bytes = NULL;
    size_t nbytes = 0;
    char what[4200];
    climp_status s;
    if (ds->kind == KIND_TSV) {
        s = climp_tsv_image_path(ds->tsv, i, what, sizeof what);
        if (s) return s;
        s = climp_data_read_file(what, 0, &bytes, &nbytes);
        if (s) return s;
        const char *c = ds->tsv->pool + ds->tsv->cap_off[i];
        copy_caption(c, strlen(c), cap, cap_size);
    } else {
        char *txt;
        size_t ntxt;
        s = climp_tar_read(ds->tar, i, &bytes, &nbytes, &txt, &ntxt);
        if (s) return s;
        s = tar_caption(ds, i, txt, ntxt, cap, cap_size);
        free(txt);
        if (s) return free(bytes), s;
        snprintf(what, sizeof what, "%s: sample %ld", ds->tar->shards[ds->tar->samples[i].shard],
                 i);
    }
    s = climp_image_decode(bytes, nbytes, ds->max_pixels, what, img);
    free(bytes);
    return s;
}

climp_status climp_dataset_get(climp_dataset *ds, long i, int epoch, int augment, float *image,
                               char *cap, size_t cap_size) {
    if (!image) {
        climp_error_set("sample %ld: no image buffer", i);
        return CLIMP_ERR_INVALID_ARG;
    }
    climp_image img;
    CLIMP_TRY(climp_dataset_get_rgb(ds, i, &img, cap, cap_size));
    to_tensor(ds, img.rgb, img.w, img.h, i, epoch, augment, image);
    climp_image_free(&img);
    return CLIMP_OK;
}

/* ---------------------------------------------------------------- loader */
enum { SLOT_READY, SLOT_BUSY, SLOT_DONE };

typedef struct {
    int state, epoch;
    long k, index;
    climp_status status;
    char reason[256];
    float *img;
    char *cap;
} slot;

struct climp_loader {
    climp_dataset *ds;
    int B, S, shuffle, augment, rank, world, threads, half_bits;
    uint64_t seed;
    long N, limit; /* positions >= limit are outside every stream */
    size_t img_floats, cap_size;
    int W;
    slot *slots;
    long head_seq, claim_seq, tail_seq; /* next to consume / to claim / to assign */
    int tail_epoch, cons_epoch;         /* stream items (epoch, k) */
    long tail_k, cons_k;
    pthread_mutex_t mu;
    pthread_cond_t cv_work, cv_done;
    pthread_t *th;
    int n_th, stop, paused, busy;
    climp_batch batch;
    int fill, batch_epoch, epoch_from_start;
    long batches_in_epoch, skipped;
};

/* Position of stream item k of this rank in the epoch's order; -1 past the stream's end. */
static long stream_pos(const climp_loader *ld, long k) {
    long g = k / ld->B, j = k % ld->B;
    if (g > (ld->limit - 1) / ((long)ld->B * ld->world)) return -1;
    long pos = g * ld->B * ld->world + (long)ld->rank * ld->B + j;
    return pos < ld->limit ? pos : -1;
}

static void advance(const climp_loader *ld, int *epoch, long *k) {
    if (stream_pos(ld, *k + 1) < 0) {
        ++*epoch;
        *k = 0;
    } else {
        ++*k;
    }
}

long climp_loader_order(const climp_loader *ld, int epoch, long pos) {
    if (!ld->shuffle) return pos;
    /* Balanced Feistel network on 2*half_bits bits with cycle walking into [0, N). */
    uint64_t key = climp_data_hash3(climp_data_mix64(ld->seed) ^ CLIMP_RNG_ORDER,
                                    (uint64_t)(int64_t)epoch, 0);
    int h = ld->half_bits;
    uint64_t mask = ((uint64_t)1 << h) - 1, v = (uint64_t)pos;
    do {
        uint64_t L = v >> h, R = v & mask;
        for (uint64_t r = 0; r < 6; r++) {
            uint64_t F = climp_data_hash3(key, r, R) & mask, t = L ^ F;
            L = R;
            R = t;
        }
        v = (L << h) | R;
    } while (v >= (uint64_t)ld->N);
    return (long)v;
}

static void assign(climp_loader *ld, slot *s) {
    s->epoch = ld->tail_epoch;
    s->k = ld->tail_k;
    s->index = climp_loader_order(ld, s->epoch, stream_pos(ld, s->k));
    s->state = SLOT_READY;
    advance(ld, &ld->tail_epoch, &ld->tail_k);
    ld->tail_seq++;
}

static void process(climp_loader *ld, slot *s) {
    s->status = climp_dataset_get(ld->ds, s->index, s->epoch, ld->augment, s->img, s->cap,
                                  ld->cap_size);
    if (s->status) snprintf(s->reason, sizeof s->reason, "%s", climp_error_detail());
}

static void *worker(void *arg) {
    climp_loader *ld = arg;
    pthread_mutex_lock(&ld->mu);
    for (;;) {
        while (!ld->stop && (ld->paused || ld->claim_seq >= ld->tail_seq))
            pthread_cond_wait(&ld->cv_work, &ld->mu);
        if (ld->stop) break;
        slot *s = &ld->slots[ld->claim_seq++ % ld->W];
        s->state = SLOT_BUSY;
        ld->busy++;
        pthread_mutex_unlock(&ld->mu);
        process(ld, s);
        pthread_mutex_lock(&ld->mu);
        s->state = SLOT_DONE;
        ld->busy--;
        pthread_cond_broadcast(&ld->cv_done);
    }
    pthread_mutex_unlock(&ld->mu);
    return NULL;
}

/* Called with the lock held and no worker busy. */
static void reset_ring(climp_loader *ld, int epoch, long k) {
    ld->head_seq = ld->claim_seq = ld->tail_seq = 0;
    ld->tail_epoch = ld->cons_epoch = epoch;
    ld->tail_k = ld->cons_k = k;
    for (int i = 0; i < ld->W; i++) assign(ld, &ld->slots[i]);
    ld->fill = 0;
    ld->batch_epoch = epoch;
    ld->epoch_from_start = k == 0;
    ld->batches_in_epoch = 0;
}

climp_status climp_loader_create_sharded(climp_dataset *ds, int batch, int shuffle, int augment,
                                         uint64_t seed, int threads, int rank, int world,
                                         climp_loader **out) {
    if (!ds || !out || batch < 1 || threads < 0 || world < 1 || rank < 0 || rank >= world)
        return CLIMP_ERR_INVALID_ARG;
    *out = NULL;
    long N = climp_dataset_size(ds);
    if (N < (long)batch * world) {
        climp_error_set("dataset of %ld samples is smaller than one global batch of %d x %d", N,
                        batch, world);
        return CLIMP_ERR_INVALID_ARG;
    }
    climp_loader *ld = calloc(1, sizeof *ld);
    if (!ld) return CLIMP_ERR_HOST_OOM;
    ld->ds = ds;
    ld->B = batch;
    ld->S = climp_dataset_image_size(ds);
    ld->shuffle = shuffle;
    ld->augment = augment;
    ld->seed = seed;
    ld->rank = rank;
    ld->world = world;
    ld->N = N;
    /* one process keeps the tail (to replace skipped samples); ranks use full global groups */
    ld->limit = world == 1 ? N : N / ((long)batch * world) * batch * world;
    while (((uint64_t)1 << (2 * ld->half_bits)) < (uint64_t)N) ld->half_bits++;
    if (ld->half_bits < 1) ld->half_bits = 1;
    ld->threads = threads > 64 ? 64 : threads;
    ld->img_floats = (size_t)ld->S * (size_t)ld->S * 3;
    ld->cap_size = (size_t)ds->max_cap + 1;
    if (ds->kind == KIND_SYNTH) ld->cap_size = 256;
    ld->W = ld->threads ? batch + 4 * ld->threads : 1;
    ld->slots = calloc((size_t)ld->W, sizeof(slot));
    ld->batch.images = malloc(sizeof(float) * ld->img_floats * (size_t)batch);
    ld->batch.captions = calloc((size_t)batch, sizeof(char *));
    ld->batch.indices = calloc((size_t)batch, sizeof(long));
    char *capbuf = malloc(ld->cap_size * (size_t)batch);
    int ok = ld->slots && ld->batch.images && ld->batch.captions && ld->batch.indices && capbuf;
    for (int i = 0; ok && i < ld->W; i++) {
        ld->slots[i].img = malloc(sizeof(float) * ld->img_floats);
        ld->slots[i].cap = malloc(ld->cap_size);
        ok = ld->slots[i].img && ld->slots[i].cap;
    }
    for (int b = 0; ok && b < batch; b++) ld->batch.captions[b] = capbuf + ld->cap_size * b;
    if (!ok) {
        free(capbuf);
        climp_loader_destroy(ld);
        return CLIMP_ERR_HOST_OOM;
    }
    ld->batch.B = batch;
    ld->batch.S = ld->S;
    pthread_mutex_init(&ld->mu, NULL);
    pthread_cond_init(&ld->cv_work, NULL);
    pthread_cond_init(&ld->cv_done, NULL);
    reset_ring(ld, 0, 0);
    ld->th = calloc((size_t)(ld->threads ? ld->threads : 1), sizeof(pthread_t));
    if (!ld->th) return climp_loader_destroy(ld), CLIMP_ERR_HOST_OOM;
    for (int t = 0; t < ld->threads; t++) {
        if (pthread_create(&ld->th[t], NULL, worker, ld) != 0) {
            climp_loader_destroy(ld);
            climp_error_set("cannot start data loader thread %d of %d", t + 1, threads);
            return CLIMP_ERR_HOST_OOM;
        }
        ld->n_th++;
    }
    *out = ld;
    return CLIMP_OK;
}

climp_status climp_loader_create(climp_dataset *ds, int batch, int shuffle, int augment,
                                 uint64_t seed, int threads, climp_loader **out) {
    return climp_loader_create_sharded(ds, batch, shuffle, augment, seed, threads, 0, 1, out);
}

climp_status climp_loader_next(climp_loader *ld, climp_batch **batch) {
    if (!ld || !batch) return CLIMP_ERR_INVALID_ARG;
    *batch = NULL;
    size_t img_bytes = sizeof(float) * ld->img_floats;
    pthread_mutex_lock(&ld->mu);
    while (ld->fill < ld->B) {
        slot *s = &ld->slots[ld->head_seq % ld->W];
        if (ld->n_th == 0) {
            if (s->state == SLOT_READY) {
                ld->claim_seq++;
                process(ld, s);
                s->state = SLOT_DONE;
            }
        } else {
            while (s->state != SLOT_DONE) pthread_cond_wait(&ld->cv_done, &ld->mu);
        }
        if (s->epoch != ld->batch_epoch) { /* the epoch ended: drop the partial batch */
            if (ld->epoch_from_start && ld->batches_in_epoch == 0) {
                pthread_mutex_unlock(&ld->mu);
                climp_error_set("epoch %d gave no full batch of %d (%ld samples skipped so far; "
                                "last reason: %s)",
                                ld->batch_epoch, ld->B, ld->skipped, s->reason);
                return CLIMP_ERR_FORMAT;
            }
            ld->fill = 0;
            ld->batch_epoch = s->epoch;
            ld->epoch_from_start = 1;
            ld->batches_in_epoch = 0;
        }
        pthread_mutex_unlock(&ld->mu);
        if (s->status == CLIMP_OK) {
            int f = ld->fill++;
            memcpy(ld->batch.images + ld->img_floats * (size_t)f, s->img, img_bytes);
            memcpy(ld->batch.captions[f], s->cap, strlen(s->cap) + 1);
            ld->batch.indices[f] = s->index;
        } else {
            ld->skipped++;
            if (ld->skipped <= 10)
                climp_log(CLIMP_LOG_WARN, "skipped sample %ld: %s%s", s->index, s->reason,
                          ld->skipped == 10 ? " (further skips are only counted)" : "");
        }
        pthread_mutex_lock(&ld->mu);
        advance(ld, &ld->cons_epoch, &ld->cons_k);
        assign(ld, s);
        ld->head_seq++;
        pthread_cond_signal(&ld->cv_work);
    }
    ld->fill = 0;
    ld->batches_in_epoch++;
    ld->batch.epoch = ld->batch_epoch;
    pthread_mutex_unlock(&ld->mu);
    *batch = &ld->batch;
    return CLIMP_OK;
}

void climp_loader_position(const climp_loader *ld, int *epoch, long *cursor) {
    if (epoch) *epoch = ld ? ld->cons_epoch : 0;
    if (cursor) *cursor = ld ? ld->cons_k : 0;
}

climp_status climp_loader_seek(climp_loader *ld, int epoch, long cursor) {
    if (!ld || epoch < 0 || cursor < 0) return CLIMP_ERR_INVALID_ARG;
    if (cursor > 0 && stream_pos(ld, cursor) < 0) {
        if (stream_pos(ld, cursor - 1) < 0) {
            climp_error_set("loader position %ld is past the end of the epoch", cursor);
            return CLIMP_ERR_INVALID_ARG;
        }
        epoch++; /* exactly at the end: the next epoch's start */
        cursor = 0;
    }
    pthread_mutex_lock(&ld->mu);
    ld->paused = 1;
    while (ld->busy > 0) pthread_cond_wait(&ld->cv_done, &ld->mu);
    reset_ring(ld, epoch, cursor);
    ld->paused = 0;
    pthread_cond_broadcast(&ld->cv_work);
    pthread_mutex_unlock(&ld->mu);
    return CLIMP_OK;
}

long climp_loader_skipped(const climp_loader *ld) { return ld ? ld->skipped : 0; }

void climp_loader_destroy(climp_loader *ld) {
    if (!ld) return;
    if (ld->n_th) {
        pthread_mutex_lock(&ld->mu);
        ld->stop = 1;
        pthread_cond_broadcast(&ld->cv_work);
        pthread_mutex_unlock(&ld->mu);
        for (int t = 0; t < ld->n_th; t++) pthread_join(ld->th[t], NULL);
    }
    if (ld->th) {
        pthread_mutex_destroy(&ld->mu);
        pthread_cond_destroy(&ld->cv_work);
        pthread_cond_destroy(&ld->cv_done);
    }
    for (int i = 0; ld->slots && i < ld->W; i++) {
        free(ld->slots[i].img);
        free(ld->slots[i].cap);
    }
    free(ld->slots);
    if (ld->batch.captions) free(ld->batch.captions[0]);
    free(ld->batch.captions);
    free(ld->batch.images);
    free(ld->batch.indices);
    free(ld->th);
    free(ld);
}
