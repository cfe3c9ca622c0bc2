/* safetensors I/O (model/safetensors.c, model/safetensors_write.c): write -> read round trip for
 * every dtype, scalars, empty tensors and metadata; the exact header bytes; F16/BF16/F64 -> F32
 * conversion; CRC32; and every hostile-header case refused with CLIMP_ERR_FORMAT and one line
 * naming the file (and the tensor). CPU only. */
#define _POSIX_C_SOURCE 200809L
#include "model/safetensors.h"
#include "tests/testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char g_dir[64];

static void path_in_dir(char *buf, size_t cap, const char *name) {
    snprintf(buf, cap, "%s/%s", g_dir, name);
}

static void write_bytes(const char *path, const void *p, size_t n) {
    FILE *fp = fopen(path, "wb");
    if (!fp || fwrite(p, 1, n, fp) != n || fclose(fp) != 0) {
        fprintf(stderr, "cannot write %s\n", path);
        exit(1);
    }
}

/* A file whose header length field is `hlen`, followed by `header` and `data_len` zero bytes. */
static void write_st(const char *path, uint64_t hlen, const char *header, size_t data_len) {
    size_t hn = strlen(header), n = 8 + hn + data_len;
    unsigned char *b = calloc(n, 1);
    for (int i = 0; i < 8; i++) b[i] = (unsigned char)(hlen >> (8 * i));
    memcpy(b + 8, header, hn);
    write_bytes(path, b, n);
    free(b);
}

/* Opens `path` expecting `want_status` and a one-line message containing the path and each of
 * up to two fragments. */
static void expect_refused(const char *tag, const char *path, climp_status want_status,
                           const char *frag1, const char *frag2) {
    climp_error_clear();
    climp_st_file *f = (climp_st_file *)1;
    climp_status s = climp_st_open(path, &f);
    const char *msg = climp_error_detail();
    msg = msg ? msg : "";
    tu_check(s == want_status, "%s: status %s, want %s", tag, climp_status_name(s),
             climp_status_name(want_status));
    tu_check(f == NULL, "%s: *out not NULL on failure", tag);
    tu_check(strstr(msg, path) != NULL, "%s: message lacks the file name: '%s'", tag, msg);
    tu_check(!frag1 || strstr(msg, frag1), "%s: message lacks '%s': '%s'", tag, frag1, msg);
    tu_check(!frag2 || strstr(msg, frag2), "%s: message lacks '%s': '%s'", tag, frag2, msg);
    tu_check(strchr(msg, '\n') == NULL, "%s: message is more than one line: '%s'", tag, msg);
    if (s == CLIMP_OK) climp_st_close(f);
}

static void expect_bad_header(const char *tag, const char *header, size_t data_len,
                              const char *frag1, const char *frag2) {
    char path[256], name[80];
    snprintf(name, sizeof name, "bad_%s.safetensors", tag);
    path_in_dir(path, sizeof path, name);
    write_st(path, strlen(header), header, data_len);
    expect_refused(tag, path, CLIMP_ERR_FORMAT, frag1, frag2);
}

static void test_hostile(void) {
    char path[256];
    path_in_dir(path, sizeof path, "short.safetensors");
    write_bytes(path, "\x02\0\0\0\0", 5);
    expect_refused("5-byte file", path, CLIMP_ERR_FORMAT, "shorter", NULL);
    path_in_dir(path, sizeof path, "empty.safetensors");
    write_bytes(path, "", 0);
    expect_refused("empty file", path, CLIMP_ERR_FORMAT, "shorter", NULL);
    path_in_dir(path, sizeof path, "beyond.safetensors");
    write_st(path, 1000, "{}      ", 92);
    expect_refused("length beyond file", path, CLIMP_ERR_FORMAT, "beyond the end", NULL);
    path_in_dir(path, sizeof path, "absurd.safetensors");
    write_st(path, (uint64_t)1 << 40, "{}      ", 0);
    expect_refused("absurd length", path, CLIMP_ERR_FORMAT, "absurd", NULL);
    write_st(path, UINT64_MAX, "{}      ", 0);
    expect_refused("length 2^64-1", path, CLIMP_ERR_FORMAT, "absurd", NULL);
    path_in_dir(path, sizeof path, "missing.safetensors");
    expect_refused("no such file", path, CLIMP_ERR_IO, "cannot open", NULL);
    path_in_dir(path, sizeof path, "nul.safetensors");
    write_bytes(path, "\x08\0\0\0\0\0\0\0{}\0     ", 16);
    expect_refused("NUL in header", path, CLIMP_ERR_FORMAT, "UTF-8", NULL);

    expect_bad_header("notjson", "{not json", 0, "not valid JSON", NULL);
    expect_bad_header("trailing", "{} x", 0, "not valid JSON", NULL);
    expect_bad_header("array", "[1, 2]", 0, "not a JSON object", NULL);
    expect_bad_header("utf8", "{\"w\xff\": {}}", 0, "UTF-8", NULL);
    expect_bad_header("overlong", "{\"w\xc0\xaf\": {}}", 0, "UTF-8", NULL);
    char deep[20001];
    for (int i = 0; i < 10000; i++) { deep[i] = '['; deep[10000 + i] = ']'; }
    deep[20000] = 0;
    expect_bad_header("deep", deep, 0, "not valid JSON", NULL);

    expect_bad_header("entry_not_object", "{\"w\": 3}", 0, "'w'", "not a JSON object");
    expect_bad_header("no_dtype", "{\"w\": {\"shape\": [1], \"data_offsets\": [0, 4]}}", 4,
                      "'w'", "missing \"dtype\"");
    expect_bad_header("no_shape", "{\"w\": {\"dtype\": \"F32\", \"data_offsets\": [0, 4]}}", 4,
                      "'w'", "missing \"shape\"");
    expect_bad_header("no_offsets", "{\"w\": {\"dtype\": \"F32\", \"shape\": [1]}}", 4, "'w'",
                      "missing \"data_offsets\"");
    expect_bad_header("dup_field",
                      "{\"w\": {\"dtype\": \"F32\", \"dtype\": \"F16\", \"shape\": [1], "
                      "\"data_offsets\": [0, 4]}}", 4, "'w'", "duplicate \"dtype\"");
    expect_bad_header("dtype_type", "{\"w\": {\"dtype\": 5, \"shape\": [1], \"data_offsets\": [0, 4]}}",
                      4, "'w'", "dtype is not a string");
    expect_bad_header("dtype_unknown",
                      "{\"w\": {\"dtype\": \"F17\", \"shape\": [1], \"data_offsets\": [0, 4]}}", 4,
                      "'w'", "unknown dtype 'F17'");
    expect_bad_header("shape_type", "{\"w\": {\"dtype\": \"F32\", \"shape\": 1, \"data_offsets\": [0, 4]}}",
                      4, "'w'", "shape is not an array");
    expect_bad_header("shape_neg", "{\"w\": {\"dtype\": \"F32\", \"shape\": [-1], \"data_offsets\": [0, 4]}}",
                      4, "'w'", "shape[0] is not a non-negative integer");
    expect_bad_header("shape_frac",
                      "{\"w\": {\"dtype\": \"F32\", \"shape\": [2, 1.5], \"data_offsets\": [0, 12]}}",
                      12, "'w'", "shape[1] is not a non-negative integer");
    expect_bad_header("shape_huge",
                      "{\"w\": {\"dtype\": \"F32\", \"shape\": [1e300], \"data_offsets\": [0, 4]}}", 4,
                      "'w'", "shape[0] is not");
    expect_bad_header("shape_2p53plus",
                      "{\"w\": {\"dtype\": \"U8\", \"shape\": [9007199254740994], \"data_offsets\": [0, 4]}}",
                      4, "'w'", "shape[0] is not");
    expect_bad_header("shape_string",
                      "{\"w\": {\"dtype\": \"F32\", \"shape\": [\"1\"], \"data_offsets\": [0, 4]}}", 4,
                      "'w'", "shape[0] is not");
    expect_bad_header("shape_inf",
                      "{\"w\": {\"dtype\": \"F32\", \"shape\": [1e999], \"data_offsets\": [0, 4]}}", 4,
                      "'w'", NULL);
    expect_bad_header("shape_overflow",
                      "{\"w\": {\"dtype\": \"F64\", \"shape\": [9007199254740992, 9007199254740992, "
                      "9007199254740992], \"data_offsets\": [0, 8]}}", 8, "'w'", "overflows");
    expect_bad_header("shape_overflow2",
                      "{\"w\": {\"dtype\": \"F64\", \"shape\": [4294967296, 536870912], "
                      "\"data_offsets\": [0, 0]}}", 8, "'w'", "overflows");
    expect_bad_header("too_many_dims",
                      "{\"w\": {\"dtype\": \"U8\", \"shape\": [1,1,1,1,1,1,1,1,1], \"data_offsets\": [0, 1]}}",
                      1, "'w'", "dimensions");
    expect_bad_header("size_mismatch",
                      "{\"w\": {\"dtype\": \"F32\", \"shape\": [3], \"data_offsets\": [0, 8]}}", 12,
                      "'w'", "span 8 bytes but F32 shape needs 12");
    expect_bad_header("past_end", "{\"w\": {\"dtype\": \"F32\", \"shape\": [4], \"data_offsets\": [0, 16]}}",
                      8, "'w'", "past the end");
    expect_bad_header("begin_gt_end",
                      "{\"w\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [8, 4]}}", 8, "'w'",
                      "begin 8 > end 4");
    expect_bad_header("offsets_short", "{\"w\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0]}}",
                      4, "'w'", "data_offsets");
    expect_bad_header("offsets_neg",
                      "{\"w\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [-4, 0]}}", 4, "'w'",
                      "data_offsets");
    expect_bad_header("offsets_type",
                      "{\"w\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": {\"a\": 0}}}", 4,
                      "'w'", "data_offsets");
    expect_bad_header("overlap",
                      "{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]},"
                      " \"b\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [4, 12]}}",
                      12, "'b'", "overlaps tensor 'a'");
    expect_bad_header("overlap_same",
                      "{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]},"
                      " \"b\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]}}",
                      8, "overlaps", NULL);
    expect_bad_header("dup_key",
                      "{\"w\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4]},"
                      " \"w\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [4, 8]}}",
                      8, "'w'", "duplicate key");
    expect_bad_header("dup_key_nul_escape",
                      "{\"w\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4]},"
                      " \"w\\u0000x\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [4, 8]}}",
                      8, "'w'", "duplicate key");
    expect_bad_header("dup_metadata", "{\"__metadata__\": {}, \"__metadata__\": {}}", 0,
                      "duplicate key '__metadata__'", NULL);
    expect_bad_header("dup_metadata_key", "{\"__metadata__\": {\"k\": \"a\", \"k\": \"b\"}}", 0,
                      "duplicate key 'k'", NULL);
    expect_bad_header("metadata_value", "{\"__metadata__\": {\"format\": \"climp\", \"step\": 3}}", 0,
                      "'step'", "not a string");
    expect_bad_header("metadata_type", "{\"__metadata__\": [\"a\"]}", 0,
                      "__metadata__ is not a JSON object", NULL);
    /* A hostile name with a newline still gives one line (printed as '?'). */
    expect_bad_header("newline_name",
                      "{\"bad\\nname\": {\"dtype\": \"X\", \"shape\": [1], \"data_offsets\": [0, 4]}}", 4,
                      "'bad?name'", "unknown dtype");
}

/* Hand-written files that are valid: padding, gaps between tensors, zero tensors. */
static void test_valid_by_hand(void) {
    char path[256];
    path_in_dir(path, sizeof path, "hand.safetensors");
    const char *h = "{\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]},"
                    "\"a\":{\"data_offsets\":[0,4],\"shape\":[],\"dtype\":\"F32\",\"extra\":1},"
                    "\"e\":{\"dtype\":\"BF16\",\"shape\":[0],\"data_offsets\":[4,4]}}   ";
    write_st(path, strlen(h), h, 12);
    climp_st_file *f = NULL;
    climp_status s = climp_st_open(path, &f);
    tu_check(s == CLIMP_OK, "hand-written file refused: %s", climp_error_detail());
    if (s != CLIMP_OK) return;
    tu_check(climp_st_count(f) == 3, "count %d", climp_st_count(f));
    tu_check(!strcmp(climp_st_get(f, 0)->name, "a") && !strcmp(climp_st_get(f, 2)->name, "e"),
             "tensors not in name order");
    const climp_st_tensor *b = climp_st_find(f, "b");
    tu_check(b && b->offset == 8 && b->nbytes == 4 && b->ndim == 1, "tensor b wrong");
    tu_check(climp_st_find(f, "c") == NULL && climp_st_metadata(f, "x") == NULL,
             "absent lookups");
    climp_st_close(f);

    path_in_dir(path, sizeof path, "nothing.safetensors");
    write_st(path, 8, "{}      ", 0);
    s = climp_st_open(path, &f);
    tu_check(s == CLIMP_OK && climp_st_count(f) == 0, "empty header refused");
    climp_st_close(f);
}

static float f16_ref(uint16_t h) { /* independent of the bit-level conversion under test */
    int e = (h >> 10) & 0x1f, m = h & 0x3ff;
    double v = e == 0 ? ldexp(m, -24) : e == 31 ? (m ? NAN : INFINITY) : ldexp(1024 + m, e - 25);
    return (float)((h & 0x8000) ? -v : v);
}

static void test_conversions(void) {
    int bad = 0;
    for (uint32_t h = 0; h < 65536; h++) {
        float got = climp_f16_to_f32((uint16_t)h), ref = f16_ref((uint16_t)h);
        int ok = isnan(ref) ? isnan(got) : (got == ref && signbit(got) == signbit(ref));
        if (!ok && bad++ < 5) printf("f16 0x%04x -> %g, want %g\n", h, got, ref);
    }
    tu_check(bad == 0, "f16 -> f32: %d of 65536 values wrong", bad);
    tu_check(climp_f16_to_f32(0x3c00) == 1.0f && climp_f16_to_f32(0xc000) == -2.0f &&
                 climp_f16_to_f32(0x7bff) == 65504.0f && climp_f16_to_f32(0x0001) == 0x1p-24f,
             "f16 spot values");
    tu_check(climp_bf16_to_f32(0x3f80) == 1.0f && climp_bf16_to_f32(0x4049) == 3.140625f &&
                 climp_bf16_to_f32(0xc2f7) == -123.5f && isinf(climp_bf16_to_f32(0x7f80)),
             "bf16 spot values");
}

/* Writes every dtype, scalars, an empty tensor and metadata; reads everything back. */
static void test_round_trip(void) {
    char path[256], tmp[300];
    path_in_dir(path, sizeof path, "rt.safetensors");
    enum { NT = CLIMP_ST_DTYPE_COUNT };
    unsigned char *bufs[NT];
    int64_t shape23[2] = {2, 3}, shape_empty[2] = {0, 3};
    climp_st_writer *w = NULL;
    CLIMP_CHECK(climp_st_writer_create(&w));
    for (int d = 0; d < NT; d++) {
        size_t n = 6 * climp_st_dtype_size(d);
        bufs[d] = malloc(n);
        for (size_t i = 0; i < n; i++) bufs[d][i] = (unsigned char)(i * 7 + (size_t)d * 13 + 1);
        char name[32];
        snprintf(name, sizeof name, "t.%s", climp_st_dtype_name(d));
        CLIMP_CHECK(climp_st_writer_add(w, name, d, shape23, 2, bufs[d]));
    }
    float scalar = 2.5f, vals[4] = {1.0f, -0.5f, 3.25f, 1e-3f};
    uint16_t half[4] = {0x3c00, 0xb800, 0x4280, 0x1419}, bf[4] = {0x3f80, 0xbf00, 0x4050, 0x3a83};
    double dbl[4] = {1.0, -0.5, 3.25, 1e-3};
    int64_t s4[1] = {4}, s22[2] = {2, 2};
    uint8_t u8_scalar = 200;
    CLIMP_CHECK(climp_st_writer_add(w, "logit_scale", CLIMP_ST_F32, NULL, 0, &scalar));
    CLIMP_CHECK(climp_st_writer_add(w, "u8_scalar", CLIMP_ST_U8, NULL, 0, &u8_scalar));
    CLIMP_CHECK(climp_st_writer_add(w, "empty", CLIMP_ST_F32, shape_empty, 2, NULL));
    CLIMP_CHECK(climp_st_writer_add(w, "vals.f32", CLIMP_ST_F32, s4, 1, vals));
    CLIMP_CHECK(climp_st_writer_add(w, "vals.f16", CLIMP_ST_F16, s4, 1, half));
    CLIMP_CHECK(climp_st_writer_add(w, "vals.bf16", CLIMP_ST_BF16, s22, 2, bf));
    CLIMP_CHECK(climp_st_writer_add(w, "vals.f64", CLIMP_ST_F64, s4, 1, dbl));
    CLIMP_CHECK(climp_st_writer_add(w, "na\"me\\\xc3\xbc\n", CLIMP_ST_F32, NULL, 0, &scalar));
    CLIMP_CHECK(climp_st_writer_set_metadata(w, "format", "pt"));
    CLIMP_CHECK(climp_st_writer_set_metadata(w, "config", "{\"d\": 4}\n\"quoted\" \xc3\xa9"));
    CLIMP_CHECK(climp_st_writer_set_metadata(w, "format", "climp"));
    tu_check(climp_st_writer_add(w, "vals.f32", CLIMP_ST_F32, s4, 1, vals) == CLIMP_ERR_INVALID_ARG,
             "duplicate name accepted by the writer");
    tu_check(climp_st_writer_add(w, "__metadata__", CLIMP_ST_F32, NULL, 0, &scalar) ==
                 CLIMP_ERR_INVALID_ARG, "__metadata__ accepted as a tensor name");
    int64_t neg[1] = {-2};
    tu_check(climp_st_writer_add(w, "neg", CLIMP_ST_F32, neg, 1, vals) == CLIMP_ERR_INVALID_ARG,
             "negative dimension accepted");
    tu_check(climp_st_writer_add(w, "dt", 99, s4, 1, vals) == CLIMP_ERR_INVALID_ARG,
             "bad dtype accepted");
    write_st(path, 8, "{}      ", 0); /* an older file: replaced atomically */
    uint32_t crc = 0, crc2 = 1;
    CLIMP_CHECK(climp_st_writer_write(w, path, &crc));
    climp_st_writer_free(w);
    CLIMP_CHECK(climp_file_crc32(path, &crc2));
    tu_check(crc == crc2, "writer CRC %08x != file CRC %08x", crc, crc2);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    tu_check(access(tmp, F_OK) != 0, "temporary file left behind");

    climp_st_file *f = NULL;
    climp_status s = climp_st_open(path, &f);
    tu_check(s == CLIMP_OK, "round-trip file refused: %s", climp_error_detail());
    if (s != CLIMP_OK) return;
    tu_check(climp_st_count(f) == NT + 8, "count %d, want %d", climp_st_count(f), NT + 8);
    for (int i = 1; i < climp_st_count(f); i++)
        tu_check(strcmp(climp_st_get(f, i - 1)->name, climp_st_get(f, i)->name) < 0,
                 "tensors not sorted at %d", i);
    for (int d = 0; d < NT; d++) {
        char name[32];
        snprintf(name, sizeof name, "t.%s", climp_st_dtype_name(d));
        const climp_st_tensor *t = climp_st_find(f, name);
        tu_check(t && t->dtype == d && t->ndim == 2 && t->shape[0] == 2 && t->shape[1] == 3 &&
                     t->nbytes == 6 * climp_st_dtype_size(d) &&
                     !memcmp(climp_st_data(f, t), bufs[d], t->nbytes),
                 "round trip of %s", name);
        free(bufs[d]);
    }
    const climp_st_tensor *t = climp_st_find(f, "empty");
    tu_check(t && t->nbytes == 0 && t->ndim == 2 && t->shape[0] == 0 && t->shape[1] == 3,
             "empty tensor");
    t = climp_st_find(f, "u8_scalar");
    tu_check(t && t->ndim == 0 && t->nbytes == 1 && *(const uint8_t *)climp_st_data(f, t) == 200,
             "U8 scalar");
    tu_check(climp_st_find(f, "na\"me\\\xc3\xbc\n") != NULL, "escaped name lost");
    tu_check(!strcmp(climp_st_metadata(f, "format") ? climp_st_metadata(f, "format") : "", "climp"),
             "metadata format");
    const char *cfg = climp_st_metadata(f, "config");
    tu_check(cfg && !strcmp(cfg, "{\"d\": 4}\n\"quoted\" \xc3\xa9"), "metadata config");
    tu_check(climp_st_metadata_count(f) == 2, "metadata count");

    float out[4], ls = 0;
    CLIMP_CHECK(climp_st_read_f32(f, "logit_scale", NULL, 0, &ls));
    tu_check(ls == 2.5f, "scalar read %g", ls);
    CLIMP_CHECK(climp_st_read_f32(f, "empty", shape_empty, 2, NULL));
    const char *names[4] = {"vals.f32", "vals.f16", "vals.f64", "vals.bf16"};
    const float want_bf[4] = {1.0f, -0.5f, 3.25f, 0x1.06p-10f};
    for (int k = 0; k < 4; k++) {
        memset(out, 0, sizeof out);
        CLIMP_CHECK(climp_st_read_f32(f, names[k], k == 3 ? s22 : s4, k == 3 ? 2 : 1, out));
        for (int i = 0; i < 4; i++) {
            float want = k == 3 ? want_bf[i] : k == 1 ? f16_ref(half[i]) : vals[i];
            tu_check(out[i] == want, "%s[%d] = %.9g, want %.9g", names[k], i, out[i], want);
        }
    }
    tu_check(fabsf(out[3] - 1e-3f) < 1e-5f && fabsf(f16_ref(half[3]) - 1e-3f) < 1e-6f,
             "bf16/f16 near 1e-3");
    climp_error_clear();
    s = climp_st_read_f32(f, "vals.f16", s22, 2, out);
    tu_check(s == CLIMP_ERR_SHAPE && strstr(climp_error_detail(), path) &&
                 strstr(climp_error_detail(), "'vals.f16' has shape (4), expected (2, 2)"),
             "shape mismatch: %s", climp_error_detail());
    s = climp_st_read_f32(f, "nope", s4, 1, out);
    tu_check(s == CLIMP_ERR_FORMAT && strstr(climp_error_detail(), path) &&
                 strstr(climp_error_detail(), "'nope' not found"), "missing tensor");
    s = climp_st_read_f32(f, "t.I32", shape23, 2, out);
    tu_check(s == CLIMP_ERR_UNSUPPORTED && strstr(climp_error_detail(), "'t.I32'"),
             "I32 read as float");
    climp_st_close(f);
}

/* The exact bytes the Python `safetensors` package writes for the same content. */
static void test_header_bytes(void) {
    char path[256];
    path_in_dir(path, sizeof path, "exact.safetensors");
    climp_st_writer *w = NULL;
    CLIMP_CHECK(climp_st_writer_create(&w));
    float one = 1.0f, two[2] = {2.0f, 3.0f};
    int64_t s1[1] = {1}, s2[2] = {1, 2};
    CLIMP_CHECK(climp_st_writer_add(w, "z", CLIMP_ST_F32, s2, 2, two));
    CLIMP_CHECK(climp_st_writer_add(w, "a", CLIMP_ST_F32, s1, 1, &one));
    CLIMP_CHECK(climp_st_writer_set_metadata(w, "format", "climp"));
    CLIMP_CHECK(climp_st_writer_write(w, path, NULL));
    climp_st_writer_free(w);
    const char *want = "{\"__metadata__\":{\"format\":\"climp\"},"
                       "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                       "\"z\":{\"dtype\":\"F32\",\"shape\":[1,2],\"data_offsets\":[4,12]}}";
    size_t wn = strlen(want), padded = (wn + 7) / 8 * 8;
    unsigned char buf[512];
    FILE *fp = fopen(path, "rb");
    size_t n = fp ? fread(buf, 1, sizeof buf, fp) : 0;
    if (fp) fclose(fp);
    uint64_t hl = 0;
    for (int i = 7; i >= 0; i--) hl = (hl << 8) | buf[i];
    int ok = n == 8 + padded + 12 && hl == padded && !memcmp(buf + 8, want, wn);
    for (size_t i = wn; ok && i < padded; i++) ok = buf[8 + i] == ' ';
    float back[3];
    if (ok) memcpy(back, buf + 8 + padded, 12);
    tu_check(ok && back[0] == 1.0f && back[1] == 2.0f && back[2] == 3.0f,
             "header bytes differ from the Python layout: got %.*s", (int)(n > 8 ? n - 8 : 0),
             (const char *)buf + 8);

    w = NULL;
    CLIMP_CHECK(climp_st_writer_create(&w));
    CLIMP_CHECK(climp_st_writer_add(w, "a", CLIMP_ST_F32, s1, 1, &one));
    path_in_dir(path, sizeof path, "no_such_dir/x.safetensors");
    climp_error_clear();
    tu_check(climp_st_writer_write(w, path, NULL) == CLIMP_ERR_IO &&
                 strstr(climp_error_detail(), path), "write into a missing folder");
    climp_st_writer_free(w);
}

static void remove_dir(void) {
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", g_dir);
}

int main(void) {
    snprintf(g_dir, sizeof g_dir, "/tmp/climp_st_XXXXXX");
    if (!mkdtemp(g_dir)) {
        perror("mkdtemp");
        return 1;
    }
    test_conversions();
    test_round_trip();
    test_header_bytes();
    test_valid_by_hand();
    test_hostile();
    remove_dir();
    return tu_finish("test_safetensors");
}
