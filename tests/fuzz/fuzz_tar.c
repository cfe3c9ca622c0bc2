/* libFuzzer target: the WebDataset tar reader (trainer/tar.c: ustar/GNU/pax header walk, member
 * grouping, sample reads) and the dataset layer above it (trainer/loader.c: caption trimming,
 * UTF-8 check and truncation, image decode and resize). The input is one shard, fuzz.tar.
 * Invariants: every indexed member lies inside the file and its bytes are what climp_tar_read
 * returns; counts agree; a sample's caption is NUL-terminated, valid UTF-8, at most the configured
 * bytes and fits its buffer; image values are finite. Seeds: tests/fuzz/corpus/tar/.
 * Run: scripts/fuzz.sh tar. */
#include "tests/fuzz/fuzz.h"

#include <math.h>

#include "trainer/data.h"

enum { FTAR_MAX_CAPTION = 48, FTAR_S = 6, FTAR_MAX_SAMPLES = 64 };

static void ftar_check_index(const char *path, const uint8_t *data, size_t size) {
    climp_tar_index *t = NULL;
    climp_error_clear();
    climp_status s = climp_tar_open(path, &t);
    fuzz_check_detail(s, 1);
    FUZZ_CHECK(s == CLIMP_OK || s == CLIMP_ERR_FORMAT || s == CLIMP_ERR_HOST_OOM);
    if (s)
        return;
    const climp_data_stats *st = &t->stats;
    FUZZ_CHECK(t->n_shards == 1 && t->n >= 1 && t->n <= st->rows);
    FUZZ_CHECK(st->rows - t->n == st->samples_incomplete + st->samples_webp);
    for (long i = 0; i < t->n && i < FTAR_MAX_SAMPLES; i++) {
        const climp_tar_sample *m = &t->samples[i];
        FUZZ_CHECK(m->shard == 0 && (long)m->ordinal < st->rows);
        FUZZ_CHECK(m->img_off <= size && m->img_size <= size - m->img_off);
        FUZZ_CHECK(m->txt_off <= size && m->txt_size <= size - m->txt_off);
        uint8_t *img = NULL;
        char *txt = NULL;
        size_t ni = 0, nt = 0;
        climp_error_clear();
        s = climp_tar_read(t, i, &img, &ni, &txt, &nt);
        fuzz_check_detail(s, 1);
        FUZZ_CHECK(s == CLIMP_OK || s == CLIMP_ERR_HOST_OOM);
        if (s)
            continue;
        FUZZ_CHECK(ni == m->img_size && txt[nt] == 0);
        FUZZ_CHECK(nt == (m->txt_size < (1u << 20) ? m->txt_size : (1u << 20)));
        FUZZ_CHECK(!ni || !memcmp(img, data + m->img_off, ni));
        FUZZ_CHECK(!nt || !memcmp(txt, data + m->txt_off, nt));
        free(img);
        free(txt);
    }
    uint8_t *img;
    char *txt;
    size_t ni, nt;
    FUZZ_CHECK(climp_tar_read(t, t->n, &img, &ni, &txt, &nt) == CLIMP_ERR_INVALID_ARG);
    climp_tar_close(t);
}

static void ftar_check_samples(const char *path, size_t size) {
    climp_data_options o = {0};
    o.spec = path;
    o.image_size = FTAR_S;
    o.max_caption_bytes = FTAR_MAX_CAPTION;
    o.max_pixels = 1 << 16;
    o.seed = size;
    climp_dataset *ds = NULL;
    climp_error_clear();
    climp_status s = climp_dataset_open(&o, &ds);
    fuzz_check_detail(s, 1);
    if (s)
        return;
    FUZZ_CHECK(!strcmp(climp_dataset_kind(ds), "tar"));
    long n = climp_dataset_size(ds), prev = -1;
    float img[FTAR_S * FTAR_S * 3];
    char cap[FTAR_MAX_CAPTION + 8];
    for (long i = 0; i < n && i < FTAR_MAX_SAMPLES; i++) {
        long row = climp_dataset_row(ds, i);
        FUZZ_CHECK(row > prev);
        prev = row;
        size_t cap_size = 1 + (size_t)(i * 11 % (FTAR_MAX_CAPTION + 8));
        memset(cap, 0x55, sizeof cap);
        climp_error_clear();
        s = climp_dataset_get(ds, i, (int)(i & 3), (int)(i & 1), img, cap, cap_size);
        fuzz_check_detail(s, 1);
        FUZZ_CHECK(s == CLIMP_OK || s == CLIMP_ERR_FORMAT || s == CLIMP_ERR_HOST_OOM);
        if (s)
            continue;
        size_t cl = strnlen(cap, cap_size);
        FUZZ_CHECK(cl < cap_size && cl <= FTAR_MAX_CAPTION && climp_data_utf8_valid(cap, cl));
        for (int k = 0; k < FTAR_S * FTAR_S * 3; k++)
            FUZZ_CHECK(isfinite(img[k]));
    }
    climp_dataset_close(ds);
}

int climp_fuzz_tar(const uint8_t *data, size_t size) {
    char path[320];
    fuzz_write("fuzz.tar", data, size, path, sizeof path);
    ftar_check_index(path, data, size);
    ftar_check_samples(path, size);
    unlink(path);
    return 0;
}

#ifndef CLIMP_FUZZ_NO_ENTRY
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    return climp_fuzz_tar(data, size);
}
#endif
