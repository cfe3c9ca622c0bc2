/* safetensors reader: mmap, validation of the whole (hostile) header, lookup by name, conversion
 * to float32. API and format: model/safetensors.h; the writer is model/safetensors_write.c.
 * Test: tests/test_safetensors.c. */
#define _POSIX_C_SOURCE 200809L
#include "model/safetensors.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "safetensors data is little-endian; this file assumes a little-endian host"
#endif

static const struct { const char *name; size_t size; } k_dtypes[CLIMP_ST_DTYPE_COUNT] = {
    [CLIMP_ST_BOOL] = {"BOOL", 1},    [CLIMP_ST_U8] = {"U8", 1},
    [CLIMP_ST_I8] = {"I8", 1},        [CLIMP_ST_F8_E5M2] = {"F8_E5M2", 1},
    [CLIMP_ST_F8_E4M3] = {"F8_E4M3", 1}, [CLIMP_ST_I16] = {"I16", 2},
    [CLIMP_ST_U16] = {"U16", 2},      [CLIMP_ST_F16] = {"F16", 2},
    [CLIMP_ST_BF16] = {"BF16", 2},    [CLIMP_ST_I32] = {"I32", 4},
    [CLIMP_ST_U32] = {"U32", 4},      [CLIMP_ST_F32] = {"F32", 4},
    [CLIMP_ST_F64] = {"F64", 8},      [CLIMP_ST_I64] = {"I64", 8},
    [CLIMP_ST_U64] = {"U64", 8},
};

const char *climp_st_dtype_name(int dtype) {
    return dtype >= 0 && dtype < CLIMP_ST_DTYPE_COUNT ? k_dtypes[dtype].name : "?";
}
size_t climp_st_dtype_size(int dtype) {
    return dtype >= 0 && dtype < CLIMP_ST_DTYPE_COUNT ? k_dtypes[dtype].size : 0;
}
int climp_st_dtype_from_name(const char *name) {
    for (int i = 0; name && i < CLIMP_ST_DTYPE_COUNT; i++)
        if (strcmp(name, k_dtypes[i].name) == 0) return i;
    return -1;
}

float climp_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h >> 15) << 31, exp = (h >> 10) & 0x1f, man = h & 0x3ff, bits;
    if (exp == 0x1f) {
        bits = sign | 0x7f800000u | (man << 13); /* Inf / NaN (payload kept) */
    } else if (exp == 0) {
        if (man == 0) {
            bits = sign;
        } else { /* subnormal: normalise */
            int e = -1;
            do { man <<= 1; e++; } while (!(man & 0x400));
            bits = sign | ((uint32_t)(127 - 15 - e) << 23) | ((man & 0x3ff) << 13);
        }
    } else {
        bits = sign | ((exp + 127 - 15) << 23) | (man << 13);
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}
float climp_bf16_to_f32(uint16_t h) {
    uint32_t bits = (uint32_t)h << 16;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

/* ================================================================ reader */
typedef struct { char *key, *value; } meta_kv;

struct climp_st_file {
    char *path;
    unsigned char *map;
    size_t map_len;
    size_t data_start, data_len; /* data buffer = map[data_start, data_start + data_len) */
    climp_st_tensor *tensors;    /* sorted by name */
    int n_tensors;
    meta_kv *meta; /* sorted by key */
    int n_meta;
    char *strings; /* one block for all names, keys and values */
};

/* A hostile name made printable for a one-line message: control bytes become '?', long names
 * are cut. */
static const char *printable(const char *s, char buf[100]) {
    size_t i = 0;
    for (; s && s[i] && i < 96; i++) buf[i] = (unsigned char)s[i] < 0x20 ? '?' : s[i];
    if (s && s[i]) { /* cut at a UTF-8 character boundary, then mark the cut */
        i = 93;
        while (i > 0 && ((unsigned char)buf[i] & 0xc0) == 0x80) i--;
        memcpy(buf + i, "...", 3);
        i += 3;
    }
    buf[i] = 0;
    return buf;
}

static int utf8_valid(const unsigned char *s, size_t n) {
    for (size_t i = 0; i < n;) {
        unsigned c = s[i];
        size_t len;
        uint32_t cp, min;
        if (c < 0x80) { i++; continue; }
        if ((c & 0xe0) == 0xc0) { len = 2; cp = c & 0x1f; min = 0x80; }
        else if ((c & 0xf0) == 0xe0) { len = 3; cp = c & 0x0f; min = 0x800; }
        else if ((c & 0xf8) == 0xf0) { len = 4; cp = c & 0x07; min = 0x10000; }
        else return 0;
        if (n - i < len) return 0;
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xc0) != 0x80) return 0;
            cp = (cp << 6) | (s[i + k] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
        i += len;
    }
    return 1;
}

/* An exact non-negative integer not above 2^53 (every JSON number is a double in cJSON). */
static int json_uint(const cJSON *j, uint64_t *v) {
    if (!cJSON_IsNumber(j)) return 0;
    double d = j->valuedouble;
    if (!isfinite(d) || d < 0 || d > 9007199254740992.0 || floor(d) != d) return 0;
    *v = (uint64_t)d;
    return 1;
}

/* Number of children of `obj` whose key is `key` (cJSON keeps duplicate keys). */
static int key_count(const cJSON *obj, const char *key) {
    int n = 0;
    for (const cJSON *c = obj->child; c; c = c->next) n += c->string && !strcmp(c->string, key);
    return n;
}

static int cmp_tensor_name(const void *a, const void *b) {
    return strcmp(((const climp_st_tensor *)a)->name, ((const climp_st_tensor *)b)->name);
}
static int cmp_meta_key(const void *a, const void *b) {
    return strcmp(((const meta_kv *)a)->key, ((const meta_kv *)b)->key);
}
static int cmp_tensor_ptr_offset(const void *a, const void *b) {
    const climp_st_tensor *x = *(const climp_st_tensor *const *)a;
    const climp_st_tensor *y = *(const climp_st_tensor *const *)b;
    if (x->offset != y->offset) return x->offset < y->offset ? -1 : 1;
    return x->nbytes < y->nbytes ? -1 : x->nbytes > y->nbytes;
}

static char *arena_put(char **cur, const char *s) {
    size_t n = strlen(s) + 1;
    char *p = *cur;
    memcpy(p, s, n);
    *cur += n;
    return p;
}

#define BAD(...) do { climp_error_set(__VA_ARGS__); return CLIMP_ERR_FORMAT; } while (0)

/* Validates and copies one tensor entry. */
static climp_status parse_tensor(const climp_st_file *f, const cJSON *e, climp_st_tensor *t) {
    char nb[100];
    const char *p = f->path, *nm = printable(e->string, nb);
    if (!cJSON_IsObject(e)) BAD("%s: tensor '%s': entry is not a JSON object", p, nm);
    static const char *const fields[3] = {"dtype", "shape", "data_offsets"};
    for (int k = 0; k < 3; k++) {
        int c = key_count(e, fields[k]);
        if (c == 0) BAD("%s: tensor '%s': missing \"%s\"", p, nm, fields[k]);
        if (c > 1) BAD("%s: tensor '%s': duplicate \"%s\"", p, nm, fields[k]);
    }
    const cJSON *dt = cJSON_GetObjectItemCaseSensitive(e, "dtype");
    const cJSON *sh = cJSON_GetObjectItemCaseSensitive(e, "shape");
    const cJSON *of = cJSON_GetObjectItemCaseSensitive(e, "data_offsets");
    if (!cJSON_IsString(dt)) BAD("%s: tensor '%s': dtype is not a string", p, nm);
    char db[100];
    t->dtype = climp_st_dtype_from_name(dt->valuestring);
    if (t->dtype < 0) BAD("%s: tensor '%s': unknown dtype '%s'", p, nm, printable(dt->valuestring, db));
    if (!cJSON_IsArray(sh)) BAD("%s: tensor '%s': shape is not an array", p, nm);
    int nd = cJSON_GetArraySize(sh);
    if (nd > CLIMP_ST_MAX_DIMS)
        BAD("%s: tensor '%s': shape has %d dimensions, at most %d are supported", p, nm, nd,
            CLIMP_ST_MAX_DIMS);
    t->ndim = nd;
    uint64_t nbytes = k_dtypes[t->dtype].size;
    int i = 0, overflow = 0;
    for (const cJSON *d = sh->child; d; d = d->next, i++) {
        uint64_t v;
        if (!json_uint(d, &v))
            BAD("%s: tensor '%s': shape[%d] is not a non-negative integer", p, nm, i);
        t->shape[i] = (int64_t)v;
        if (v && nbytes > UINT64_MAX / v) overflow = 1;
        else nbytes *= v;
    }
    if (overflow || nbytes > SIZE_MAX)
        BAD("%s: tensor '%s': size of the shape overflows", p, nm);
    if (!cJSON_IsArray(of) || cJSON_GetArraySize(of) != 2)
        BAD("%s: tensor '%s': data_offsets is not an array of two integers", p, nm);
    uint64_t b, en;
    if (!json_uint(of->child, &b) || !json_uint(of->child->next, &en))
        BAD("%s: tensor '%s': data_offsets are not non-negative integers", p, nm);
    if (b > en) BAD("%s: tensor '%s': data_offsets begin %llu > end %llu", p, nm,
                    (unsigned long long)b, (unsigned long long)en);
    if (en > f->data_len)
        BAD("%s: tensor '%s': data_offsets end %llu is past the end of the file (data buffer is "
            "%zu bytes)", p, nm, (unsigned long long)en, f->data_len);
    if (en - b != nbytes)
        BAD("%s: tensor '%s': data_offsets span %llu bytes but %s shape needs %llu", p, nm,
            (unsigned long long)(en - b), k_dtypes[t->dtype].name, (unsigned long long)nbytes);
    t->offset = (size_t)b;
    t->nbytes = (size_t)nbytes;
    return CLIMP_OK;
}

/* Walks the parsed header: counts, checks every entry, copies names and metadata. */
static climp_status parse_header(climp_st_file *f, const cJSON *root) {
    const char *p = f->path;
    if (!cJSON_IsObject(root)) BAD("%s: safetensors header is not a JSON object", p);
    size_t strbytes = 0;
    int nt = 0, nm = 0;
    for (const cJSON *c = root->child; c; c = c->next) {
        strbytes += strlen(c->string) + 1;
        if (strcmp(c->string, "__metadata__") != 0) { nt++; continue; }
        if (!cJSON_IsObject(c)) BAD("%s: __metadata__ is not a JSON object", p);
        for (const cJSON *m = c->child; m; m = m->next) {
            char kb[100];
            if (!cJSON_IsString(m))
                BAD("%s: __metadata__ value of '%s' is not a string", p, printable(m->string, kb));
            strbytes += strlen(m->string) + strlen(m->valuestring) + 2;
            nm++;
        }
    }
    if (key_count(root, "__metadata__") > 1) BAD("%s: duplicate key '__metadata__'", p);
    f->tensors = calloc((size_t)nt + 1, sizeof *f->tensors);
    f->meta = calloc((size_t)nm + 1, sizeof *f->meta);
    f->strings = malloc(strbytes + 1);
    climp_st_tensor **by_off = malloc(((size_t)nt + 1) * sizeof *by_off);
    climp_status s = CLIMP_OK;
    if (!f->tensors || !f->meta || !f->strings || !by_off) {
        climp_error_set("%s: out of host memory for the header", p);
        free(by_off);
        return CLIMP_ERR_HOST_OOM;
    }
    char *cur = f->strings;
    for (const cJSON *c = root->child; c && s == CLIMP_OK; c = c->next) {
        if (strcmp(c->string, "__metadata__") == 0) {
            for (const cJSON *m = c->child; m; m = m->next) {
                f->meta[f->n_meta].key = arena_put(&cur, m->string);
                f->meta[f->n_meta++].value = arena_put(&cur, m->valuestring);
            }
            continue;
        }
        climp_st_tensor *t = &f->tensors[f->n_tensors];
        s = parse_tensor(f, c, t);
        if (s == CLIMP_OK) { t->name = arena_put(&cur, c->string); f->n_tensors++; }
    }
    if (s == CLIMP_OK) {
        char nb[100];
        qsort(f->tensors, (size_t)f->n_tensors, sizeof *f->tensors, cmp_tensor_name);
        qsort(f->meta, (size_t)f->n_meta, sizeof *f->meta, cmp_meta_key);
        for (int i = 1; i < f->n_tensors && s == CLIMP_OK; i++)
            if (strcmp(f->tensors[i - 1].name, f->tensors[i].name) == 0) {
                climp_error_set("%s: tensor '%s': duplicate key", p, printable(f->tensors[i].name, nb));
                s = CLIMP_ERR_FORMAT;
            }
        for (int i = 1; i < f->n_meta && s == CLIMP_OK; i++)
            if (strcmp(f->meta[i - 1].key, f->meta[i].key) == 0) {
                climp_error_set("%s: __metadata__ has duplicate key '%s'", p, printable(f->meta[i].key, nb));
                s = CLIMP_ERR_FORMAT;
            }
        /* Non-empty byte ranges must not overlap (empty tensors occupy nothing). */
        int n = 0;
        for (int i = 0; i < f->n_tensors; i++)
            if (f->tensors[i].nbytes) by_off[n++] = &f->tensors[i];
        qsort(by_off, (size_t)n, sizeof *by_off, cmp_tensor_ptr_offset);
        for (int i = 1; i < n && s == CLIMP_OK; i++)
            if (by_off[i]->offset < by_off[i - 1]->offset + by_off[i - 1]->nbytes) {
                char nb2[100];
                climp_error_set("%s: tensor '%s': data overlaps tensor '%s'", p,
                                printable(by_off[i]->name, nb), printable(by_off[i - 1]->name, nb2));
                s = CLIMP_ERR_FORMAT;
            }
    }
    free(by_off);
    return s;
}

static climp_status open_mapped(climp_st_file *f) {
    const char *p = f->path;
    int fd = open(p, O_RDONLY);
    if (fd < 0) {
        climp_error_set("%s: cannot open: %s", p, strerror(errno));
        return CLIMP_ERR_IO;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        climp_error_set("%s: not a regular file", p);
        close(fd);
        return CLIMP_ERR_IO;
    }
    if ((uint64_t)st.st_size < 8) {
        close(fd);
        BAD("%s: file is %lld bytes, shorter than the 8-byte header length", p,
            (long long)st.st_size);
    }
    if ((uint64_t)st.st_size > SIZE_MAX) {
        close(fd);
        BAD("%s: file is too large to map", p);
    }
    f->map_len = (size_t)st.st_size;
    void *m = mmap(NULL, f->map_len, PROT_READ, MAP_PRIVATE, fd, 0);
    int err = errno;
    close(fd);
    if (m == MAP_FAILED) {
        climp_error_set("%s: mmap failed: %s", p, strerror(err));
        return CLIMP_ERR_IO;
    }
    f->map = m;
    return CLIMP_OK;
}

climp_status climp_st_open(const char *path, climp_st_file **out) {
    if (!path || !out) return CLIMP_ERR_INVALID_ARG;
    *out = NULL;
    climp_st_file *f = calloc(1, sizeof *f);
    if (!f || !(f->path = strdup(path))) {
        free(f);
        return CLIMP_ERR_HOST_OOM;
    }
    climp_status s = open_mapped(f);
    char *hdr = NULL;
    cJSON *root = NULL;
    if (s == CLIMP_OK) {
        uint64_t n = 0;
        for (int i = 7; i >= 0; i--) n = (n << 8) | f->map[i];
        if (n > CLIMP_ST_MAX_HEADER) {
            climp_error_set("%s: header length %llu is absurd (limit %llu bytes)", path,
                            (unsigned long long)n, (unsigned long long)CLIMP_ST_MAX_HEADER);
            s = CLIMP_ERR_FORMAT;
        } else if (n > f->map_len - 8) {
            climp_error_set("%s: header length %llu is beyond the end of the file (%zu bytes)",
                            path, (unsigned long long)n, f->map_len);
            s = CLIMP_ERR_FORMAT;
        } else if (!utf8_valid(f->map + 8, (size_t)n) || memchr(f->map + 8, 0, (size_t)n)) {
            climp_error_set("%s: header is not valid UTF-8 text", path);
            s = CLIMP_ERR_FORMAT;
        } else if (!(hdr = malloc((size_t)n + 1))) {
            s = CLIMP_ERR_HOST_OOM;
        } else {
            memcpy(hdr, f->map + 8, (size_t)n);
            hdr[n] = 0;
            f->data_start = 8 + (size_t)n;
            f->data_len = f->map_len - f->data_start;
            const char *end = NULL;
            root = cJSON_ParseWithLengthOpts(hdr, (size_t)n + 1, &end, 1);
            if (!root) {
                climp_error_set("%s: header is not valid JSON (near byte %zu of %llu)", path,
                                end ? (size_t)(end - hdr) : (size_t)0, (unsigned long long)n);
                s = CLIMP_ERR_FORMAT;
            } else {
                s = parse_header(f, root);
            }
        }
    }
    cJSON_Delete(root);
    free(hdr);
    if (s != CLIMP_OK) {
        climp_st_close(f);
        return s;
    }
    *out = f;
    return CLIMP_OK;
}

void climp_st_close(climp_st_file *f) {
    if (!f) return;
    if (f->map) munmap(f->map, f->map_len);
    free(f->tensors);
    free(f->meta);
    free(f->strings);
    free(f->path);
    free(f);
}

const char *climp_st_path(const climp_st_file *f) { return f->path; }
int climp_st_count(const climp_st_file *f) { return f->n_tensors; }
const climp_st_tensor *climp_st_get(const climp_st_file *f, int i) {
    return i >= 0 && i < f->n_tensors ? &f->tensors[i] : NULL;
}
const climp_st_tensor *climp_st_find(const climp_st_file *f, const char *name) {
    climp_st_tensor key = {.name = name};
    return name ? bsearch(&key, f->tensors, (size_t)f->n_tensors, sizeof key, cmp_tensor_name)
                : NULL;
}
const void *climp_st_data(const climp_st_file *f, const climp_st_tensor *t) {
    return f->map + f->data_start + t->offset;
}
const char *climp_st_metadata(const climp_st_file *f, const char *key) {
    meta_kv k = {.key = (char *)key};
    const meta_kv *m =
        key ? bsearch(&k, f->meta, (size_t)f->n_meta, sizeof k, cmp_meta_key) : NULL;
    return m ? m->value : NULL;
}
int climp_st_metadata_count(const climp_st_file *f) { return f->n_meta; }
void climp_st_metadata_at(const climp_st_file *f, int i, const char **key, const char **value) {
    int ok = i >= 0 && i < f->n_meta;
    if (key) *key = ok ? f->meta[i].key : NULL;
    if (value) *value = ok ? f->meta[i].value : NULL;
}

static void shape_str(const int64_t *shape, int ndim, char *buf, size_t cap) {
    size_t n = (size_t)snprintf(buf, cap, "(");
    for (int i = 0; i < ndim && n < cap; i++)
        n += (size_t)snprintf(buf + n, cap - n, "%s%lld", i ? ", " : "", (long long)shape[i]);
    if (n < cap) snprintf(buf + n, cap - n, ")");
}

climp_status climp_st_read_f32(const climp_st_file *f, const char *name, const int64_t *shape,
                               int ndim, float *dst) {
    if (!f || !name || (ndim && !shape) || ndim < 0 || ndim > CLIMP_ST_MAX_DIMS)
        return CLIMP_ERR_INVALID_ARG;
    char nb[100];
    const climp_st_tensor *t = climp_st_find(f, name);
    if (!t) BAD("%s: tensor '%s' not found", f->path, printable(name, nb));
    int same = t->ndim == ndim;
    for (int i = 0; same && i < ndim; i++) same = t->shape[i] == shape[i];
    if (!same) {
        char have[200], want[200];
        shape_str(t->shape, t->ndim, have, sizeof have);
        shape_str(shape, ndim, want, sizeof want);
        climp_error_set("%s: tensor '%s' has shape %s, expected %s", f->path, printable(name, nb),
                        have, want);
        return CLIMP_ERR_SHAPE;
    }
    size_t n = t->nbytes / k_dtypes[t->dtype].size;
    if (n && !dst) return CLIMP_ERR_INVALID_ARG;
    const unsigned char *src = climp_st_data(f, t);
    switch (t->dtype) {
    case CLIMP_ST_F32:
        if (n) memcpy(dst, src, n * 4);
        break;
    case CLIMP_ST_F16:
    case CLIMP_ST_BF16:
        for (size_t i = 0; i < n; i++) {
            uint16_t h = (uint16_t)(src[2 * i] | (src[2 * i + 1] << 8));
            dst[i] = t->dtype == CLIMP_ST_F16 ? climp_f16_to_f32(h) : climp_bf16_to_f32(h);
        }
        break;
    case CLIMP_ST_F64:
        for (size_t i = 0; i < n; i++) {
            double d;
            memcpy(&d, src + 8 * i, 8);
            dst[i] = (float)d;
        }
        break;
    default:
        climp_error_set("%s: tensor '%s' has dtype %s, which cannot be read as float32", f->path,
                        printable(name, nb), k_dtypes[t->dtype].name);
        return CLIMP_ERR_UNSUPPORTED;
    }
    return CLIMP_OK;
}
