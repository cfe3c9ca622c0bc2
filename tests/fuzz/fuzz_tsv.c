/* libFuzzer target: the TSV/CSV dataset parser (trainer/tsv.c) and the dataset layer above it
 * (trainer/loader.c: climp_dataset_open/get with image decode and resize, trainer/image.c). The
 * input is the file: written as fuzz.csv when its first line has a comma and no tab, else as
 * fuzz.tsv. Two small BMP images, a.bmp and b.bmp, sit beside it, so rows naming them decode;
 * only rows whose image path has no '/' are read (the rest could name any file on the system).
 * Invariants: kept rows have a non-empty path and a non-empty, valid UTF-8 caption of at most the
 * configured bytes; a sample's caption is NUL-terminated, valid UTF-8 and fits its buffer; image
 * values are finite; counts agree; every message is one line (names from the file escaped).
 * Seeds: tests/fuzz/corpus/tsv/. Run: scripts/fuzz.sh tsv. */
#include "tests/fuzz/fuzz.h"

#include <math.h>

#include "trainer/data.h"

enum { FTSV_MAX_CAPTION = 48, FTSV_S = 6, FTSV_MAX_ROWS = 64 };

/* A w x h 24-bit BMP (bottom-up, rows padded to 4 bytes) with a simple gradient. */
static size_t ftsv_bmp(uint8_t *b, int w, int h) {
    size_t row = ((size_t)w * 3 + 3) & ~(size_t)3, n = 54 + row * (size_t)h;
    memset(b, 0, n);
    b[0] = 'B', b[1] = 'M';
    b[2] = (uint8_t)n, b[3] = (uint8_t)(n >> 8);
    b[10] = 54, b[14] = 40;
    b[18] = (uint8_t)w, b[22] = (uint8_t)h;
    b[26] = 1, b[28] = 24;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            for (int k = 0; k < 3; k++)
                b[54 + (size_t)y * row + (size_t)x * 3 + k] = (uint8_t)(40 * x + 70 * y + 50 * k);
    return n;
}

static void ftsv_images(void) {
    static int done;
    if (done)
        return;
    uint8_t b[256];
    char path[320];
    fuzz_write("a.bmp", b, ftsv_bmp(b, 3, 2), path, sizeof path);
    fuzz_write("b.bmp", b, ftsv_bmp(b, 1, 1), path, sizeof path);
    done = 1;
}

static int ftsv_is_csv(const uint8_t *data, size_t size) {
    const uint8_t *nl = memchr(data, '\n', size);
    size_t n = nl ? (size_t)(nl - data) : size;
    return memchr(data, ',', n) && !memchr(data, '\t', n);
}

/* The parsed table on its own. */
static void ftsv_check_table(const char *path) {
    climp_tsv *t = NULL;
    climp_error_clear();
    climp_status s = climp_tsv_load(path, NULL, NULL, NULL, FTSV_MAX_CAPTION, &t);
    fuzz_check_detail(s, 1);
    FUZZ_CHECK(s == CLIMP_OK || s == CLIMP_ERR_FORMAT || s == CLIMP_ERR_HOST_OOM);
    if (s)
        return;
    const climp_data_stats *st = &t->stats;
    FUZZ_CHECK(t->n >= 1 && t->n <= st->rows);
    FUZZ_CHECK(st->rows - t->n ==
               st->rows_short + st->rows_no_image + st->captions_empty + st->captions_bad_utf8);
    for (long i = 0; i < t->n; i++) {
        const char *p = t->pool + t->path_off[i], *c = t->pool + t->cap_off[i];
        size_t cl = strlen(c);
        FUZZ_CHECK(p[0] != 0);
        FUZZ_CHECK(cl >= 1 && cl <= FTSV_MAX_CAPTION && climp_data_utf8_valid(c, cl));
        FUZZ_CHECK(t->row[i] >= 0 && t->row[i] < st->rows && (i == 0 || t->row[i] > t->row[i - 1]));
        char buf[64];
        climp_error_clear();
        s = climp_tsv_image_path(t, i, buf, sizeof buf);
        fuzz_check_detail(s, 1);
        FUZZ_CHECK(s == CLIMP_OK || s == CLIMP_ERR_FORMAT);
        if (!s)
            FUZZ_CHECK(strlen(buf) < sizeof buf);
    }
    FUZZ_CHECK(climp_tsv_image_path(t, t->n, (char[8]){0}, 8) == CLIMP_ERR_INVALID_ARG);
    climp_tsv_free(t);
}

/* Samples through the dataset layer, for rows whose image is inside the scratch folder. */
static void ftsv_check_samples(const char *path, size_t size) {
    climp_data_options o = {0};
    o.spec = path;
    o.image_size = FTSV_S;
    o.max_caption_bytes = FTSV_MAX_CAPTION;
    o.max_pixels = 1 << 16;
    o.seed = size;
    climp_dataset *ds = NULL;
    climp_error_clear();
    climp_status s = climp_dataset_open(&o, &ds);
    fuzz_check_detail(s, 1);
    if (s)
        return;
    climp_tsv *t = NULL; /* the same rows, to see their paths */
    FUZZ_CHECK(climp_tsv_load(path, NULL, NULL, NULL, FTSV_MAX_CAPTION, &t) == CLIMP_OK);
    long n = climp_dataset_size(ds);
    FUZZ_CHECK(n == t->n && !strcmp(climp_dataset_kind(ds), "tsv"));
    float img[FTSV_S * FTSV_S * 3];
    char cap[FTSV_MAX_CAPTION + 1];
    for (long i = 0; i < n && i < FTSV_MAX_ROWS; i++) {
        FUZZ_CHECK(climp_dataset_row(ds, i) == t->row[i]);
        if (strchr(t->pool + t->path_off[i], '/'))
            continue;
        size_t cap_size = 1 + (size_t)(i * 7 % FTSV_MAX_CAPTION);
        memset(cap, 0x55, sizeof cap);
        climp_error_clear();
        s = climp_dataset_get(ds, i, (int)(i & 3), (int)(i & 1), img, cap, cap_size);
        fuzz_check_detail(s, 1);
        FUZZ_CHECK(s == CLIMP_OK || s == CLIMP_ERR_FORMAT || s == CLIMP_ERR_IO ||
                   s == CLIMP_ERR_HOST_OOM);
        if (s)
            continue;
        size_t cl = strnlen(cap, cap_size);
        FUZZ_CHECK(cl < cap_size && climp_data_utf8_valid(cap, cl));
        for (int k = 0; k < FTSV_S * FTSV_S * 3; k++)
            FUZZ_CHECK(isfinite(img[k]));
    }
    climp_error_clear();
    s = climp_dataset_get(ds, n, 0, 0, img, cap, sizeof cap);
    FUZZ_CHECK(s == CLIMP_ERR_INVALID_ARG);
    fuzz_check_detail(s, 1);
    climp_data_stats st;
    climp_dataset_stats(ds, &st);
    FUZZ_CHECK(st.rows == t->stats.rows);
    climp_tsv_free(t);
    climp_dataset_close(ds);
}

int climp_fuzz_tsv(const uint8_t *data, size_t size) {
    ftsv_images();
    char path[320];
    fuzz_write(ftsv_is_csv(data, size) ? "fuzz.csv" : "fuzz.tsv", data, size, path, sizeof path);
    ftsv_check_table(path);
    ftsv_check_samples(path, size);
    unlink(path);
    return 0;
}

#ifndef CLIMP_FUZZ_NO_ENTRY
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    return climp_fuzz_tsv(data, size);
}
#endif
