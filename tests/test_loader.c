/* The prefetching batch loader (trainer/loader.c): identical batches with 0, 1 and 4 worker
 * threads under shuffle and augmentation, bad samples skipped and counted, the identity order and
 * its partial batch dropped, seek/resume from a saved position, an all-bad dataset failing
 * instead of hanging, data-parallel sharding equal to one process, and per-epoch permutations.
 * Uses a TSV dataset with PNGs written here (some missing, corrupt or over the pixel limit) and
 * synthetic data. CPU only. */
#define _XOPEN_SOURCE 700
#include "tests/testutil.h"
#include "trainer/data.h"

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-but-set-variable"
#pragma GCC diagnostic ignored "-Wunused-parameter"
#pragma GCC diagnostic ignored "-Wimplicit-fallthrough"
#pragma GCC diagnostic ignored "-Wshadow"
#pragma GCC diagnostic ignored "-Wmissing-prototypes"
#pragma GCC diagnostic ignored "-Wsign-compare"
#define STB_IMAGE_WRITE_IMPLEMENTATION
#include <stb_image_write.h>
#pragma GCC diagnostic pop

static char g_dir[64];

static const char *in_dir(const char *name) { /* static buffer, rotates over 4 */
    static char buf[4][512];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", g_dir, name);
    return buf[k];
}

static void write_file(const char *path, const void *p, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(p, 1, n, f) != n || fclose(f) != 0) {
        fprintf(stderr, "cannot write %s\n", path);
        exit(1);
    }
}

static void write_png(const char *path, int w, int h, uint8_t r, uint8_t g, uint8_t b) {
    uint8_t *px = malloc((size_t)w * h * 3);
    for (int i = 0; i < w * h; i++) px[3 * i] = r, px[3 * i + 1] = g, px[3 * i + 2] = b;
    if (!stbi_write_png(path, w, h, 3, px, w * 3)) exit(1);
    free(px);
}

static int rm_cb(const char *p, const struct stat *s, int f, struct FTW *w) { return remove(p); }

static uint64_t fnv(uint64_t h, const void *p, size_t n) {
    const unsigned char *c = p;
    for (size_t i = 0; i < n; i++) h = (h ^ c[i]) * 0x100000001B3ull;
    return h;
}

static uint64_t batch_hash(const climp_batch *b) {
    uint64_t h = fnv(0xCBF29CE484222325ull, b->images, sizeof(float) * b->B * b->S * b->S * 3);
    for (int i = 0; i < b->B; i++) h = fnv(h, b->captions[i], strlen(b->captions[i]));
    h = fnv(h, b->indices, sizeof(long) * b->B);
    return fnv(h, &b->epoch, sizeof b->epoch);
}

/* nb batches: a hash of each and the position after it. */
static void run(climp_loader *ld, int nb, uint64_t *hash, int *ep, long *cur) {
    for (int k = 0; k < nb; k++) {
        climp_batch *b;
        climp_status s = climp_loader_next(ld, &b);
        if (s) {
            tu_check(0, "loader_next: %s %s", climp_status_name(s), climp_error_detail());
            return;
        }
        hash[k] = batch_hash(b);
        climp_loader_position(ld, &ep[k], &cur[k]);
    }
}

static climp_dataset *loader_tsv(void) {
    FILE *f = fopen(in_dir("loader.tsv"), "w");
    fprintf(f, "filepath\ttitle\n");
    for (int i = 0; i < 40; i++) {
        char name[32];
        snprintf(name, sizeof name, "img/l%02d.png", i);
        fprintf(f, "%s\tcaption %d\n", name, i);
        if (i == 5) continue; /* missing */
        if (i == 17) write_file(in_dir(name), "\x89PNG garbage", 12);
        else if (i == 18) write_png(in_dir(name), 20, 20, 1, 2, 3); /* over max_pixels */
        else write_png(in_dir(name), 6, 5, (uint8_t)(i * 6), (uint8_t)(255 - i * 6), (uint8_t)i);
    }
    fclose(f);
    climp_data_options o = {0};
    o.spec = in_dir("loader.tsv");
    o.image_size = 12;
    o.max_pixels = 100;
    o.seed = 3;
    climp_dataset *ds;
    CLIMP_CHECK(climp_dataset_open(&o, &ds));
    return ds;
}

static void test_loader(void) {
    climp_dataset *ds = loader_tsv();
    enum { NB = 25 };
    uint64_t h[3][NB];
    int ep[3][NB];
    long cur[3][NB], skipped[3];
    int threads[3] = {0, 1, 4};
    for (int t = 0; t < 3; t++) {
        climp_loader *ld;
        CLIMP_CHECK(climp_loader_create(ds, 4, 1, 1, 11, threads[t], &ld));
        run(ld, NB, h[t], ep[t], cur[t]);
        skipped[t] = climp_loader_skipped(ld);
        climp_loader_destroy(ld);
    }
    for (int t = 1; t < 3; t++)
        tu_check(!memcmp(h[0], h[t], sizeof h[0]) && !memcmp(ep[0], ep[t], sizeof ep[0]) &&
                     !memcmp(cur[0], cur[t], sizeof cur[0]) && skipped[0] == skipped[t],
                 "shuffle+augment: %d threads give the batches of 0 threads", threads[t]);
    tu_check(ep[0][NB - 1] >= 2 && skipped[0] >= 6, "25 batches span 3 epochs (%d), %ld skipped",
             ep[0][NB - 1], skipped[0]);

    /* identity order: the good indices in order, skips counted, the partial batch dropped */
    climp_loader *ld;
    CLIMP_CHECK(climp_loader_create(ds, 4, 0, 0, 11, 2, &ld));
    long want = 0;
    int order_bad = 0;
    float *ref = malloc(sizeof(float) * 12 * 12 * 3);
    char cap[64];
    for (int k = 0; k < 10; k++) {
        climp_batch *b;
        CLIMP_CHECK(climp_loader_next(ld, &b));
        for (int j = 0; j < 4; j++) {
            while (want == 5 || want == 17 || want == 18) want++;
            if (k == 9 && j == 0) want = 0; /* 37 good: 9 batches, then epoch 1 */
            order_bad += b->indices[j] != want;
            CLIMP_CHECK(climp_dataset_get(ds, want, 0, 0, ref, cap, sizeof cap));
            order_bad += memcmp(ref, b->images + (size_t)j * 12 * 12 * 3, sizeof(float) * 432) != 0;
            order_bad += strcmp(cap, b->captions[j]) != 0;
            want++;
        }
        order_bad += b->epoch != (k == 9);
        if (k == 8) tu_check(climp_loader_skipped(ld) == 3, "3 skipped in epoch 0");
    }
    tu_check(order_bad == 0, "identity order: %d mismatches", order_bad);
    int e;
    long c;
    climp_loader_position(ld, &e, &c);
    tu_check(e == 1 && c == 4, "position (%d, %ld), want (1, 4)", e, c);
    climp_loader_destroy(ld);
    free(ref);

    /* seek/resume: a fresh loader seeked to a saved position continues identically */
    for (int t = 0; t < 3; t++) {
        CLIMP_CHECK(climp_loader_create(ds, 4, 1, 1, 11, threads[2 - t], &ld));
        int k0 = 3 + 4 * t; /* resume after batch k0 (0-based) */
        CLIMP_CHECK(climp_loader_seek(ld, ep[0][k0], cur[0][k0]));
        uint64_t hh[NB];
        int ee[NB];
        long cc[NB];
        run(ld, NB - k0 - 1, hh, ee, cc);
        tu_check(!memcmp(hh, h[0] + k0 + 1, sizeof(uint64_t) * (NB - k0 - 1)),
                 "resume at (%d, %ld) with %d threads repeats the run", ep[0][k0], cur[0][k0],
                 threads[2 - t]);
        CLIMP_CHECK(climp_loader_seek(ld, 0, 0)); /* and back to the start */
        run(ld, 2, hh, ee, cc);
        tu_check(hh[0] == h[0][0] && hh[1] == h[0][1], "seek (0, 0) restarts");
        tu_check(climp_loader_seek(ld, 0, 41) == CLIMP_ERR_INVALID_ARG, "seek past the end");
        CLIMP_CHECK(climp_loader_seek(ld, 2, 40)); /* exactly the end: the next epoch */
        climp_loader_position(ld, &e, &c);
        tu_check(e == 3 && c == 0, "seek to the end normalises to (3, 0): (%d, %ld)", e, c);
        climp_loader_destroy(ld);
    }
    tu_check(climp_loader_create(ds, 41, 0, 0, 1, 0, &ld) == CLIMP_ERR_INVALID_ARG,
             "batch larger than the dataset refused");
    climp_dataset_close(ds);

    /* a dataset where every image is missing: an error after one epoch, not a hang */
    FILE *f = fopen(in_dir("allbad.tsv"), "w");
    fprintf(f, "filepath\ttitle\nno1.png\ta\nno2.png\tb\nno3.png\tc\n");
    fclose(f);
    climp_data_options o = {0};
    o.spec = in_dir("allbad.tsv");
    CLIMP_CHECK(climp_dataset_open(&o, &ds));
    CLIMP_CHECK(climp_loader_create(ds, 2, 1, 0, 1, 2, &ld));
    climp_batch *b;
    climp_status s = climp_loader_next(ld, &b);
    tu_check(s == CLIMP_ERR_FORMAT && strstr(climp_error_detail(), "no full batch") &&
                 climp_loader_skipped(ld) == 3,
             "all bad: %s '%s'", climp_status_name(s), climp_error_detail());
    climp_loader_destroy(ld);
    climp_dataset_close(ds);
}

static void test_loader_synth(void) {
    climp_data_options o = {0};
    o.spec = "synthetic:26";
    o.image_size = 16;
    o.seed = 9;
    climp_dataset *ds;
    CLIMP_CHECK(climp_dataset_open(&o, &ds));
    /* sharded: ranks 0 and 1 with B=3 make the global batches of one process with B=6 */
    climp_loader *one, *r0, *r1;
    CLIMP_CHECK(climp_loader_create(ds, 6, 0, 0, 5, 1, &one));
    CLIMP_CHECK(climp_loader_create_sharded(ds, 3, 0, 0, 5, 2, 0, 2, &r0));
    CLIMP_CHECK(climp_loader_create_sharded(ds, 3, 0, 0, 5, 0, 1, 2, &r1));
    int bad = 0;
    size_t half = sizeof(float) * 3 * 16 * 16 * 3;
    for (int k = 0; k < 7; k++) {
        climp_batch *a, *b0, *b1;
        CLIMP_CHECK(climp_loader_next(one, &a));
        CLIMP_CHECK(climp_loader_next(r0, &b0));
        CLIMP_CHECK(climp_loader_next(r1, &b1));
        for (int j = 0; j < 3; j++) {
            bad += a->indices[j] != b0->indices[j] || a->indices[3 + j] != b1->indices[j];
            bad += a->indices[j] != (k % 4) * 6 + j; /* 26 = 4 batches of 6 + 2 dropped */
        }
        bad += memcmp(a->images, b0->images, half) || memcmp((char *)a->images + half, b1->images,
                                                             half);
    }
    tu_check(bad == 0, "2 ranks x B=3 = 1 process x B=6 (%d mismatches)", bad);
    climp_loader_destroy(one);
    climp_loader_destroy(r0);
    climp_loader_destroy(r1);
    /* permutations: each epoch's order is a permutation, epochs differ; identity without shuffle */
    long ns[] = {1, 2, 3, 26};
    for (int t = 0; t < 4; t++) {
        o.spec = "synthetic";
        climp_dataset *big;
        char spec[32];
        snprintf(spec, sizeof spec, "synthetic:%ld", t == 3 ? 1000L : ns[t]);
        o.spec = spec;
        CLIMP_CHECK(climp_dataset_open(&o, &big));
        long N = climp_dataset_size(big);
        climp_loader *ld, *id;
        CLIMP_CHECK(climp_loader_create(big, 1, 1, 0, 77, 0, &ld));
        CLIMP_CHECK(climp_loader_create(big, 1, 0, 0, 77, 0, &id));
        char *seen = calloc((size_t)N, 1);
        int perm_bad = 0, same = 0;
        for (int epoch = 0; epoch < 3; epoch++) {
            memset(seen, 0, (size_t)N);
            for (long p = 0; p < N; p++) {
                long i = climp_loader_order(ld, epoch, p);
                if (i < 0 || i >= N || seen[i]++) perm_bad++;
                if (epoch == 1) same += i == climp_loader_order(ld, 0, p);
                perm_bad += climp_loader_order(id, epoch, p) != p;
            }
        }
        tu_check(perm_bad == 0, "N=%ld: order is a permutation (%d bad)", N, perm_bad);
        if (N == 1000) tu_check(same < 20, "epochs 0 and 1 share %d of 1000 positions", same);
        free(seen);
        climp_loader_destroy(ld);
        climp_loader_destroy(id);
        climp_dataset_close(big);
    }
    /* N=10, B=4: [0..3] [4..7], then epoch 1 */
    o.spec = "synthetic:10";
    climp_dataset *ten;
    CLIMP_CHECK(climp_dataset_open(&o, &ten));
    climp_loader *ld;
    CLIMP_CHECK(climp_loader_create(ten, 4, 0, 0, 1, 0, &ld));
    int drop_bad = 0;
    for (int k = 0; k < 3; k++) {
        climp_batch *b;
        CLIMP_CHECK(climp_loader_next(ld, &b));
        drop_bad += b->indices[0] != (k == 1 ? 4 : 0) || b->epoch != (k == 2);
    }
    tu_check(drop_bad == 0 && climp_loader_skipped(ld) == 0, "partial batch dropped");
    climp_loader_destroy(ld);
    climp_dataset_close(ten);
    climp_dataset_close(ds);
}

int main(void) {
    climp_log_set_level(CLIMP_LOG_ERROR);
    snprintf(g_dir, sizeof g_dir, "/tmp/climp_loader_XXXXXX");
    if (!mkdtemp(g_dir)) return 1;
    mkdir(in_dir("img"), 0755);
    test_loader();
    test_loader_synth();
    nftw(g_dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
    return tu_finish("test_loader");
}
