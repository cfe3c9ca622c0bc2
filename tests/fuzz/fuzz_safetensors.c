/* libFuzzer target: the safetensors reader (model/safetensors.c) on a hostile file, then, for a
 * file it accepts, every tensor read as float32, the metadata, a write/re-read round trip through
 * the writer (model/safetensors_write.c) that must reproduce names, dtypes, shapes, bytes and
 * metadata exactly, and the model configuration read from the file (metadata JSON or inference
 * from names and shapes, model/checkpoint.c + model/config.c). Invariants are checked with
 * FUZZ_CHECK. Seeds: tests/fuzz/corpus/safetensors/. Build and run: scripts/fuzz.sh safetensors. */
#include "tests/fuzz/fuzz.h"

#include "model/climp_model.h"
#include "model/config.h"
#include "model/safetensors.h"

/* dtype size x product(shape), or UINT64_MAX on overflow. */
static uint64_t fst_expected_bytes(const climp_st_tensor *t) {
    uint64_t n = climp_st_dtype_size(t->dtype);
    for (int d = 0; d < t->ndim; d++) {
        uint64_t v = (uint64_t)t->shape[d];
        if (v && n > UINT64_MAX / v)
            return UINT64_MAX;
        n *= v;
    }
    return n;
}

/* Every tensor and metadata entry of a file that opened, against the input bytes. */
static void fst_check_file(const climp_st_file *f, const uint8_t *data, size_t size) {
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--)
        hlen = (hlen << 8) | data[i];
    FUZZ_CHECK(hlen <= size - 8 && hlen <= CLIMP_ST_MAX_HEADER);
    size_t data_len = size - 8 - (size_t)hlen;
    const uint8_t *buf = data + 8 + hlen;
    int n = climp_st_count(f);
    FUZZ_CHECK(n >= 0);
    FUZZ_CHECK(climp_st_get(f, -1) == NULL && climp_st_get(f, n) == NULL);
    for (int i = 0; i < n; i++) {
        const climp_st_tensor *t = climp_st_get(f, i);
        FUZZ_CHECK(t && t->name);
        if (i)
            FUZZ_CHECK(strcmp(climp_st_get(f, i - 1)->name, t->name) < 0);
        FUZZ_CHECK(climp_st_find(f, t->name) == t);
        FUZZ_CHECK(t->dtype >= 0 && t->dtype < CLIMP_ST_DTYPE_COUNT);
        FUZZ_CHECK(t->ndim >= 0 && t->ndim <= CLIMP_ST_MAX_DIMS);
        for (int d = 0; d < t->ndim; d++)
            FUZZ_CHECK(t->shape[d] >= 0);
        FUZZ_CHECK(fst_expected_bytes(t) == (uint64_t)t->nbytes);
        FUZZ_CHECK(t->offset <= data_len && t->nbytes <= data_len - t->offset);
        const uint8_t *p = climp_st_data(f, t);
        FUZZ_CHECK(t->nbytes == 0 || memcmp(p, buf + t->offset, t->nbytes) == 0);
        size_t elems = t->nbytes / climp_st_dtype_size(t->dtype);
        if (elems > ((size_t)1 << 20))
            continue;
        float *dst = malloc((elems ? elems : 1) * sizeof(float));
        if (!dst)
            continue;
        climp_error_clear();
        climp_status s = climp_st_read_f32(f, t->name, t->shape, t->ndim, dst);
        fuzz_check_detail(s, 1);
        int convertible = t->dtype == CLIMP_ST_F32 || t->dtype == CLIMP_ST_F16 ||
                          t->dtype == CLIMP_ST_BF16 || t->dtype == CLIMP_ST_F64;
        FUZZ_CHECK(convertible ? s == CLIMP_OK : s == CLIMP_ERR_UNSUPPORTED);
        if (t->dtype == CLIMP_ST_F32 && elems)
            FUZZ_CHECK(memcmp(dst, p, elems * 4) == 0);
        if (t->ndim < CLIMP_ST_MAX_DIMS) { /* one more dimension of 1: a shape mismatch */
            int64_t sh[CLIMP_ST_MAX_DIMS];
            memcpy(sh, t->shape, sizeof sh);
            sh[t->ndim] = 1;
            climp_error_clear();
            s = climp_st_read_f32(f, t->name, sh, t->ndim + 1, dst);
            fuzz_check_detail(s, 1);
            FUZZ_CHECK(s == CLIMP_ERR_SHAPE);
        }
        free(dst);
    }
    int nm = climp_st_metadata_count(f);
    for (int i = 0; i < nm; i++) {
        const char *k = NULL, *v = NULL;
        climp_st_metadata_at(f, i, &k, &v);
        FUZZ_CHECK(k && v);
        FUZZ_CHECK(climp_st_metadata(f, k) == v);
    }
}

/* Writes every tensor and metadata entry back out and reads the result: it must be identical. */
static void fst_round_trip(const climp_st_file *f) {
    climp_st_writer *w = NULL;
    if (climp_st_writer_create(&w) != CLIMP_OK)
        return;
    int n = climp_st_count(f);
    for (int i = 0; i < n; i++) {
        const climp_st_tensor *t = climp_st_get(f, i);
        climp_status s =
            climp_st_writer_add(w, t->name, t->dtype, t->shape, t->ndim, climp_st_data(f, t));
        /* The writer refuses an empty name, which the format (and the reader) allow. */
        if (s != CLIMP_OK) {
            FUZZ_CHECK(s == CLIMP_ERR_INVALID_ARG && t->name[0] == 0);
            climp_st_writer_free(w);
            return;
        }
    }
    for (int i = 0; i < climp_st_metadata_count(f); i++) {
        const char *k, *v;
        climp_st_metadata_at(f, i, &k, &v);
        FUZZ_CHECK(climp_st_writer_set_metadata(w, k, v) == CLIMP_OK);
    }
    char path[320];
    snprintf(path, sizeof path, "%s/out.safetensors", fuzz_dir());
    uint32_t crc = 0, crc2 = 1;
    FUZZ_CHECK(climp_st_writer_write(w, path, &crc) == CLIMP_OK);
    climp_st_writer_free(w);
    FUZZ_CHECK(climp_file_crc32(path, &crc2) == CLIMP_OK && crc == crc2);
    climp_st_file *g = NULL;
    climp_error_clear();
    climp_status s = climp_st_open(path, &g);
    if (s != CLIMP_OK)
        fprintf(stderr, "fuzz: re-reading the written file: %s\n", climp_error_detail());
    FUZZ_CHECK(s == CLIMP_OK);
    FUZZ_CHECK(climp_st_count(g) == n);
    for (int i = 0; i < n; i++) {
        const climp_st_tensor *a = climp_st_get(f, i), *b = climp_st_get(g, i);
        FUZZ_CHECK(strcmp(a->name, b->name) == 0 && a->dtype == b->dtype && a->ndim == b->ndim);
        FUZZ_CHECK(memcmp(a->shape, b->shape, sizeof(int64_t) * (size_t)a->ndim) == 0);
        FUZZ_CHECK(a->nbytes == b->nbytes);
        FUZZ_CHECK(!a->nbytes || !memcmp(climp_st_data(f, a), climp_st_data(g, b), a->nbytes));
    }
    FUZZ_CHECK(climp_st_metadata_count(g) == climp_st_metadata_count(f));
    for (int i = 0; i < climp_st_metadata_count(f); i++) {
        const char *k, *v, *k2, *v2;
        climp_st_metadata_at(f, i, &k, &v);
        climp_st_metadata_at(g, i, &k2, &v2);
        FUZZ_CHECK(!strcmp(k, k2) && !strcmp(v, v2));
    }
    climp_st_close(g);
}

int climp_fuzz_safetensors(const uint8_t *data, size_t size) {
    char path[320];
    fuzz_write("in.safetensors", data, size, path, sizeof path);
    climp_st_file *f = NULL;
    climp_error_clear();
    climp_status s = climp_st_open(path, &f);
    fuzz_check_detail(s, 1);
    FUZZ_CHECK(s == CLIMP_OK || s == CLIMP_ERR_FORMAT || s == CLIMP_ERR_HOST_OOM);
    FUZZ_CHECK((s == CLIMP_OK) == (f != NULL));
    if (s != CLIMP_OK)
        return 0;
    FUZZ_CHECK(size >= 8);
    fst_check_file(f, data, size);
    fst_round_trip(f);
    climp_st_close(f);
    /* What `climp eval --model` / `--init` do first: the configuration of the checkpoint. */
    climp_config cfg;
    climp_error_clear();
    s = climp_checkpoint_config(path, &cfg);
    fuzz_check_detail(s, 1);
    if (s == CLIMP_OK)
        FUZZ_CHECK(climp_config_validate(&cfg) == CLIMP_OK);
    return 0;
}

#ifndef CLIMP_FUZZ_NO_ENTRY
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    return climp_fuzz_safetensors(data, size);
}
#endif
