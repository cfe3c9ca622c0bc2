/* safetensors writer: header JSON (keys sorted, padded to 8 bytes), atomic write (temp file,
 * fsync, rename, fsync of the folder) and the CRC32 of what was written. API: model/safetensors.h;
 * the reader is model/safetensors.c. Test: tests/test_safetensors.c. */
#define _POSIX_C_SOURCE 200809L
#include "model/safetensors.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

typedef struct { char *key, *value; } meta_kv;

static int cmp_meta_key(const void *a, const void *b) {
    return strcmp(((const meta_kv *)a)->key, ((const meta_kv *)b)->key);
}

typedef struct {
    char *name;
    int dtype, ndim;
    int64_t shape[CLIMP_ST_MAX_DIMS];
    const void *data;
    size_t nbytes;
} w_entry;

struct climp_st_writer {
    w_entry *e;
    int n, cap;
    meta_kv *meta;
    int n_meta, cap_meta;
};

climp_status climp_st_writer_create(climp_st_writer **out) {
    if (!out) return CLIMP_ERR_INVALID_ARG;
    *out = calloc(1, sizeof **out);
    return *out ? CLIMP_OK : CLIMP_ERR_HOST_OOM;
}

void climp_st_writer_free(climp_st_writer *w) {
    if (!w) return;
    for (int i = 0; i < w->n; i++) free(w->e[i].name);
    for (int i = 0; i < w->n_meta; i++) { free(w->meta[i].key); free(w->meta[i].value); }
    free(w->e);
    free(w->meta);
    free(w);
}

static int grow(void **p, int *cap, int need, size_t elem) {
    if (need <= *cap) return 1;
    int nc = *cap ? *cap * 2 : 16;
    void *q = realloc(*p, (size_t)nc * elem);
    if (!q) return 0;
    *p = q;
    *cap = nc;
    return 1;
}

climp_status climp_st_writer_add(climp_st_writer *w, const char *name, int dtype,
                                 const int64_t *shape, int ndim, const void *data) {
    if (!w || !name || !*name || !strcmp(name, "__metadata__") || ndim < 0 ||
        ndim > CLIMP_ST_MAX_DIMS || (ndim && !shape) || !climp_st_dtype_size(dtype)) {
        climp_error_set("safetensors writer: invalid tensor '%s' (name, dtype %d or ndim %d)",
                        name ? name : "(null)", dtype, ndim);
        return CLIMP_ERR_INVALID_ARG;
    }
    uint64_t nbytes = climp_st_dtype_size(dtype);
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0 || (shape[i] && nbytes > (SIZE_MAX >> 1) / (uint64_t)shape[i])) {
            climp_error_set("safetensors writer: tensor '%s': bad dimension %lld", name,
                            (long long)shape[i]);
            return CLIMP_ERR_INVALID_ARG;
        }
        nbytes *= (uint64_t)shape[i];
    }
    for (int i = 0; i < w->n; i++)
        if (!strcmp(w->e[i].name, name)) {
            climp_error_set("safetensors writer: duplicate tensor '%s'", name);
            return CLIMP_ERR_INVALID_ARG;
        }
    if (nbytes && !data) {
        climp_error_set("safetensors writer: tensor '%s' has no data", name);
        return CLIMP_ERR_INVALID_ARG;
    }
    if (!grow((void **)&w->e, &w->cap, w->n + 1, sizeof *w->e)) return CLIMP_ERR_HOST_OOM;
    w_entry *e = &w->e[w->n];
    memset(e, 0, sizeof *e);
    if (!(e->name = strdup(name))) return CLIMP_ERR_HOST_OOM;
    e->dtype = dtype;
    e->ndim = ndim;
    for (int i = 0; i < ndim; i++) e->shape[i] = shape[i];
    e->data = data;
    e->nbytes = (size_t)nbytes;
    w->n++;
    return CLIMP_OK;
}

climp_status climp_st_writer_set_metadata(climp_st_writer *w, const char *key, const char *value) {
    if (!w || !key || !value) return CLIMP_ERR_INVALID_ARG;
    char *v = strdup(value);
    if (!v) return CLIMP_ERR_HOST_OOM;
    for (int i = 0; i < w->n_meta; i++)
        if (!strcmp(w->meta[i].key, key)) {
            free(w->meta[i].value);
            w->meta[i].value = v;
            return CLIMP_OK;
        }
    char *k = strdup(key);
    if (!k || !grow((void **)&w->meta, &w->cap_meta, w->n_meta + 1, sizeof *w->meta)) {
        free(k);
        free(v);
        return CLIMP_ERR_HOST_OOM;
    }
    w->meta[w->n_meta].key = k;
    w->meta[w->n_meta++].value = v;
    return CLIMP_OK;
}

/* Growable text buffer for the JSON header; `oom` sticks once an allocation fails. */
typedef struct { char *p; size_t n, cap; int oom; } sbuf;

static void sb_put(sbuf *b, const char *s, size_t n) {
    if (b->oom) return;
    if (b->n + n + 1 > b->cap) {
        size_t nc = b->cap ? b->cap : 4096;
        while (nc < b->n + n + 1) nc *= 2;
        char *q = realloc(b->p, nc);
        if (!q) { b->oom = 1; return; }
        b->p = q;
        b->cap = nc;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
}
static void sb_str(sbuf *b, const char *s) { sb_put(b, s, strlen(s)); }
static void sb_u64(sbuf *b, uint64_t v) {
    char t[32];
    sb_put(b, t, (size_t)snprintf(t, sizeof t, "%llu", (unsigned long long)v));
}
/* A JSON string literal: quotes, backslashes and control bytes escaped; UTF-8 passed through. */
static void sb_json(sbuf *b, const char *s) {
    sb_put(b, "\"", 1);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        char t[8];
        if (c == '"' || c == '\\') { t[0] = '\\'; t[1] = (char)c; sb_put(b, t, 2); }
        else if (c < 0x20) sb_put(b, t, (size_t)snprintf(t, sizeof t, "\\u%04x", c));
        else sb_put(b, s, 1);
    }
    sb_put(b, "\"", 1);
}

static int cmp_entry_name(const void *a, const void *b) {
    return strcmp(((const w_entry *)a)->name, ((const w_entry *)b)->name);
}

/* Header JSON (padded with spaces to a multiple of 8) for entries already sorted by name. */
static int build_header(climp_st_writer *w, sbuf *b) {
    sb_put(b, "{", 1);
    if (w->n_meta) {
        sb_str(b, "\"__metadata__\":{");
        for (int i = 0; i < w->n_meta; i++) {
            if (i) sb_put(b, ",", 1);
            sb_json(b, w->meta[i].key);
            sb_put(b, ":", 1);
            sb_json(b, w->meta[i].value);
        }
        sb_put(b, "}", 1);
    }
    uint64_t off = 0;
    for (int i = 0; i < w->n; i++) {
        const w_entry *e = &w->e[i];
        if (i || w->n_meta) sb_put(b, ",", 1);
        sb_json(b, e->name);
        sb_str(b, ":{\"dtype\":\"");
        sb_str(b, climp_st_dtype_name(e->dtype));
        sb_str(b, "\",\"shape\":[");
        for (int d = 0; d < e->ndim; d++) {
            if (d) sb_put(b, ",", 1);
            sb_u64(b, (uint64_t)e->shape[d]);
        }
        sb_str(b, "],\"data_offsets\":[");
        sb_u64(b, off);
        sb_put(b, ",", 1);
        off += e->nbytes;
        sb_u64(b, off);
        sb_str(b, "]}");
    }
    sb_put(b, "}", 1);
    while (!b->oom && b->n % 8) sb_put(b, " ", 1);
    return !b->oom;
}

/* fwrite + running CRC (zlib takes at most UINT_MAX bytes per call). */
static int put_crc(FILE *fp, const void *p, size_t n, uLong *crc) {
    const unsigned char *c = p;
    for (size_t done = 0; done < n;) {
        size_t k = n - done < ((size_t)1 << 30) ? n - done : ((size_t)1 << 30);
        if (fwrite(c + done, 1, k, fp) != k) return 0;
        *crc = crc32(*crc, c + done, (uInt)k);
        done += k;
    }
    return 1;
}

static void fsync_parent_dir(const char *path) {
    char *dir = strdup(path);
    if (!dir) return;
    char *slash = strrchr(dir, '/');
    const char *d = slash ? (slash == dir ? "/" : (*slash = 0, dir)) : ".";
    int fd = open(d, O_RDONLY);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
    free(dir);
}

climp_status climp_st_writer_write(climp_st_writer *w, const char *path, uint32_t *crc) {
    if (!w || !path) return CLIMP_ERR_INVALID_ARG;
    if (w->n > 1) qsort(w->e, (size_t)w->n, sizeof *w->e, cmp_entry_name);
    if (w->n_meta > 1) qsort(w->meta, (size_t)w->n_meta, sizeof *w->meta, cmp_meta_key);
    sbuf hb = {0};
    size_t plen = strlen(path);
    char *tmp = malloc(plen + 5);
    if (!tmp || !build_header(w, &hb)) {
        free(tmp);
        free(hb.p);
        return CLIMP_ERR_HOST_OOM;
    }
    memcpy(tmp, path, plen);
    memcpy(tmp + plen, ".tmp", 5);
    unsigned char len8[8];
    for (int i = 0; i < 8; i++) len8[i] = (unsigned char)((uint64_t)hb.n >> (8 * i));
    uLong c = crc32(0L, Z_NULL, 0);
    const char *what = "open";
    FILE *fp = fopen(tmp, "wb");
    int ok = fp != NULL;
    if (ok) {
        what = "write";
        ok = put_crc(fp, len8, 8, &c) && put_crc(fp, hb.p, hb.n, &c);
        for (int i = 0; ok && i < w->n; i++) ok = put_crc(fp, w->e[i].data, w->e[i].nbytes, &c);
        if (ok) { what = "flush"; ok = fflush(fp) == 0; }
        if (ok) { what = "fsync"; ok = fsync(fileno(fp)) == 0; }
        if (fclose(fp) != 0 && ok) { what = "close"; ok = 0; }
    }
    if (ok) { what = "rename"; ok = rename(tmp, path) == 0; }
    if (!ok) {
        climp_error_set("%s: cannot %s %s: %s", path, what, tmp, strerror(errno));
        if (fp) unlink(tmp);
    } else {
        fsync_parent_dir(path);
        if (crc) *crc = (uint32_t)c;
    }
    free(tmp);
    free(hb.p);
    return ok ? CLIMP_OK : CLIMP_ERR_IO;
}

climp_status climp_file_crc32(const char *path, uint32_t *crc) {
    if (!path || !crc) return CLIMP_ERR_INVALID_ARG;
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        climp_error_set("%s: cannot open: %s", path, strerror(errno));
        return CLIMP_ERR_IO;
    }
    unsigned char *buf = malloc(1 << 20);
    if (!buf) {
        fclose(fp);
        return CLIMP_ERR_HOST_OOM;
    }
    uLong c = crc32(0L, Z_NULL, 0);
    size_t n;
    while ((n = fread(buf, 1, 1 << 20, fp)) > 0) c = crc32(c, buf, (uInt)n);
    int bad = ferror(fp);
    fclose(fp);
    free(buf);
    if (bad) {
        climp_error_set("%s: read error", path);
        return CLIMP_ERR_IO;
    }
    *crc = (uint32_t)c;
    return CLIMP_OK;
}
