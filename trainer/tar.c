/* WebDataset tar shards as img2dataset writes them: brace/comma expansion of the shard pattern,
 * a ustar/GNU/pax header walker that checks every size against the file length, and an index of
 * (shard, offset, size) of the image and text member of every sample, so that sample i can be
 * read at random. Members are grouped by key (the name up to the first dot of its last path
 * component) over consecutive members; a sample needs {key}.jpg|jpeg|png|bmp|gif and
 * {key}.txt ({key}.webp is counted as unsupported). Absolute names and names with a ".."
 * component are skipped. A truncated or corrupt shard is indexed up to the fault and counted.
 * Tests: tests/test_data.c. */
#define _POSIX_C_SOURCE 200809L
#include "trainer/data.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---------------------------------------------------------------- pattern expansion */
typedef struct {
    char **v;
    int n, cap;
} strvec;

static int push_str(strvec *s, char *str) {
    if (!str) return -1;
    if (s->n >= CLIMP_DATA_MAX_SHARDS) return free(str), -2;
    if (s->n == s->cap) {
        int cap = s->cap ? 2 * s->cap : 16;
        char **v = realloc(s->v, sizeof(char *) * (size_t)cap);
        if (!v) return free(str), -1;
        s->v = v;
        s->cap = cap;
    }
    s->v[s->n++] = str;
    return 0;
}

static char *concat3(const char *a, size_t na, const char *b, size_t nb, const char *c) {
    size_t nc = strlen(c);
    char *s = malloc(na + nb + nc + 1);
    if (!s) return NULL;
    memcpy(s, a, na);
    memcpy(s + na, b, nb);
    memcpy(s + na + nb, c, nc + 1);
    return s;
}

static int all_digits(const char *s, size_t n) {
    if (n == 0 || n > 18) return 0;
    for (size_t i = 0; i < n; i++)
        if (!isdigit((unsigned char)s[i])) return 0;
    return 1;
}

/* Expands the first brace group of s, recursing on the results. */
static int expand_one(const char *s, strvec *out, int depth) {
    const char *open_b = strchr(s, '{');
    if (!open_b || depth > 32) return push_str(out, strdup(s));
    int level = 0;
    const char *close_b = NULL;
    for (const char *q = open_b; *q; q++) {
        if (*q == '{') level++;
        else if (*q == '}' && --level == 0) {
            close_b = q;
            break;
        }
    }
    if (!close_b) return push_str(out, strdup(s));
    const char *body = open_b + 1;
    size_t npre = (size_t)(open_b - s);
    const char *dots = strstr(body, "..");
    if (dots && dots < close_b && all_digits(body, (size_t)(dots - body)) &&
        all_digits(dots + 2, (size_t)(close_b - dots - 2))) {
        size_t la = (size_t)(dots - body), lb = (size_t)(close_b - dots - 2);
        long long a = strtoll(body, NULL, 10), b = strtoll(dots + 2, NULL, 10);
        int width = ((body[0] == '0' && la > 1) || (dots[2] == '0' && lb > 1))
                        ? (int)(la > lb ? la : lb) : 0;
        long long step = a <= b ? 1 : -1, count = (a <= b ? b - a : a - b) + 1;
        if (count > CLIMP_DATA_MAX_SHARDS) return -2;
        for (long long v = a, k = 0; k < count; k++, v += step) {
            char num[32];
            int w = snprintf(num, sizeof num, "%0*lld", width, v);
            char *t = concat3(s, npre, num, (size_t)w, close_b + 1);
            if (!t) return -1;
            int rc = expand_one(t, out, depth + 1);
            free(t);
            if (rc) return rc;
        }
        return 0;
    }
    /* alternatives {a,b,c} split at commas outside nested braces */
    const char *alt = body;
    level = 0;
    for (const char *q = body;; q++) {
        if (q == close_b || (*q == ',' && level == 0)) {
            char *t = concat3(s, npre, alt, (size_t)(q - alt), close_b + 1);
            if (!t) return -1;
            int rc = expand_one(t, out, depth + 1);
            free(t);
            if (rc) return rc;
            if (q == close_b) break;
            alt = q + 1;
        } else if (*q == '{') level++;
        else if (*q == '}') level--;
    }
    return 0;
}

void climp_data_free_strings(char **s, int n) {
    if (!s) return;
    for (int i = 0; i < n; i++) free(s[i]);
    free(s);
}

climp_status climp_expand_pattern(const char *pattern, char ***out, int *n) {
    if (!pattern || !out || !n) return CLIMP_ERR_INVALID_ARG;
    *out = NULL;
    *n = 0;
    strvec v = {0};
    int level = 0, rc = 0;
    const char *item = pattern;
    for (const char *q = pattern;; q++) {
        if (*q == '\0' || (*q == ',' && level == 0)) {
            if (q > item) {
                char *one = strndup(item, (size_t)(q - item));
                rc = one ? expand_one(one, &v, 0) : -1;
                free(one);
                if (rc) break;
            }
            if (*q == '\0') break;
            item = q + 1;
        } else if (*q == '{') level++;
        else if (*q == '}') level--;
    }
    if (rc || v.n == 0) {
        climp_data_free_strings(v.v, v.n);
        if (rc == -1) return CLIMP_ERR_HOST_OOM;
        climp_error_set("'%s': %s", pattern,
                        rc == -2 ? "expands to too many shards" : "names no shard");
        return CLIMP_ERR_INVALID_ARG;
    }
    *out = v.v;
    *n = v.n;
    return CLIMP_OK;
}

/* ---------------------------------------------------------------- header fields */
static int read_at(int fd, uint64_t off, void *buf, size_t n) {
    size_t got = 0;
    while (got < n) {
        ssize_t r = pread(fd, (char *)buf + got, n - got, (off_t)(off + got));
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return -1;
        got += (size_t)r;
    }
    return 0;
}

/* Octal (NUL/space terminated) or GNU base-256 number. Returns -1 if malformed. */
static int parse_num(const unsigned char *f, size_t n, uint64_t *out) {
    uint64_t v = 0;
    if (f[0] & 0x80) {
        if (f[0] == 0xFF) return -1; /* negative */
        v = f[0] & 0x7F;
        for (size_t i = 1; i < n; i++) {
            if (v >> 55) return -1;
            v = (v << 8) | f[i];
        }
        *out = v;
        return 0;
    }
    size_t i = 0;
    while (i < n && (f[i] == ' ' || f[i] == '\0')) i++;
    if (i == n) return *out = 0, 0;
    for (; i < n && f[i] >= '0' && f[i] <= '7'; i++) {
        if (v >> 60) return -1;
        v = (v << 3) | (uint64_t)(f[i] - '0');
    }
    for (; i < n; i++)
        if (f[i] != ' ' && f[i] != '\0') return -1;
    *out = v;
    return 0;
}

static int checksum_ok(const unsigned char *h) {
    uint64_t stored;
    if (parse_num(h + 148, 8, &stored)) return 0;
    long us = 0, ss = 0;
    for (int i = 0; i < 512; i++) {
        int b = (i >= 148 && i < 156) ? ' ' : h[i];
        us += (unsigned char)b;
        ss += (signed char)b;
    }
    return (uint64_t)us == stored || (long)stored == ss;
}

/* Absolute, or any ".." component. */
static int unsafe_name(const char *s) {
    if (s[0] == '/' || s[0] == '\\') return 1;
    for (const char *p = s; *p;) {
        const char *e = strchr(p, '/');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (len == 2 && p[0] == '.' && p[1] == '.') return 1;
        if (!e) break;
        p = e + 1;
    }
    return 0;
}

/* ---------------------------------------------------------------- indexing */
typedef struct {
    char *key;
    size_t key_cap;
    int active, has_img, has_txt, has_webp;
    climp_tar_sample s;
} group;

typedef struct {
    climp_tar_index *t;
    long cap;
    uint32_t keys; /* keys seen in the current shard */
} indexer;

static int finish_group(indexer *ix, group *g) {
    if (!g->active) return 0;
    g->active = 0;
    climp_tar_index *t = ix->t;
    t->stats.rows++;
    g->s.ordinal = ix->keys++;
    if (!(g->has_img && g->has_txt)) {
        if (g->has_webp && g->has_txt) t->stats.samples_webp++;
        else t->stats.samples_incomplete++;
        return 0;
    }
    if (t->n == ix->cap) {
        long cap = ix->cap ? 2 * ix->cap : 1024;
        climp_tar_sample *v = realloc(t->samples, sizeof *v * (size_t)cap);
        if (!v) return -1;
        t->samples = v;
        ix->cap = cap;
    }
    t->samples[t->n++] = g->s;
    return 0;
}

static int start_group(group *g, const char *key, size_t len, uint32_t shard) {
    if (len + 1 > g->key_cap) {
        char *k = realloc(g->key, len + 1);
        if (!k) return -1;
        g->key = k;
        g->key_cap = len + 1;
    }
    memcpy(g->key, key, len);
    g->key[len] = '\0';
    g->active = 1;
    g->has_img = g->has_txt = g->has_webp = 0;
    memset(&g->s, 0, sizeof g->s);
    g->s.shard = shard;
    return 0;
}

static int add_member(indexer *ix, group *g, const char *name, uint64_t off, uint64_t size,
                      uint32_t shard) {
    while (name[0] == '.' && name[1] == '/') name += 2;
    if (unsafe_name(name)) {
        if (++ix->t->stats.members_unsafe <= 5)
            climp_log(CLIMP_LOG_WARN, "tar member '%s' is absolute or leaves the folder; skipped",
                      name);
        return 0;
    }
    const char *base = strrchr(name, '/');
    base = base ? base + 1 : name;
    const char *dot = strchr(base, '.');
    if (!dot || dot == base) return 0; /* no extension, or a hidden file */
    size_t klen = (size_t)(dot - name);
    if (!g->active || strlen(g->key) != klen || memcmp(g->key, name, klen) != 0) {
        if (finish_group(ix, g) || start_group(g, name, klen, shard)) return -1;
    }
    const char *ext = dot + 1;
    uint32_t sz32 = size > (uint64_t)CLIMP_DATA_MAX_FILE_BYTES ? UINT32_MAX : (uint32_t)size;
    if (!strcasecmp(ext, "txt")) {
        if (!g->has_txt) g->s.txt_off = off, g->s.txt_size = sz32, g->has_txt = 1;
    } else if (!strcasecmp(ext, "jpg") || !strcasecmp(ext, "jpeg") || !strcasecmp(ext, "png") ||
               !strcasecmp(ext, "bmp") || !strcasecmp(ext, "gif")) {
        if (!g->has_img) g->s.img_off = off, g->s.img_size = sz32, g->has_img = 1;
    } else if (!strcasecmp(ext, "webp")) {
        g->has_webp = 1;
    }
    return 0;
}

/* Parses pax records for "path" and "size". */
static void parse_pax(const char *d, size_t n, char **path, uint64_t *size, int *has_size) {
    size_t i = 0;
    while (i < n) {
        size_t len = 0, j = i;
        while (j < n && isdigit((unsigned char)d[j]) && len < (1u << 24))
            len = len * 10 + (size_t)(d[j++] - '0');
        /* The record "LEN KEY=VALUE\n" must hold at least the digits, the space and '\n'. */
        if (j >= n || d[j] != ' ' || len == 0 || len > n - i || len < j - i + 2) return;
        const char *kv = d + j + 1, *end = d + i + len - 1; /* end: the '\n' */
        const char *eq = memchr(kv, '=', (size_t)(end - kv));
        if (eq && *end == '\n') {
            size_t klen = (size_t)(eq - kv), vlen = (size_t)(end - eq - 1);
            if (klen == 4 && !memcmp(kv, "path", 4)) {
                free(*path);
                *path = strndup(eq + 1, vlen);
            } else if (klen == 4 && !memcmp(kv, "size", 4) && all_digits(eq + 1, vlen)) {
                *size = strtoull(eq + 1, NULL, 10);
                *has_size = 1;
            }
        }
        i += len;
    }
}

/* Returns 0 (clean end), 1 (fault: message logged) or -1 (out of memory). */
static int index_shard(indexer *ix, uint32_t shard, const char *path) {
    int fd = open(path, O_RDONLY);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        climp_log(CLIMP_LOG_WARN, "%s: cannot open shard (%s); skipped", path,
                  fd < 0 ? strerror(errno) : "not a regular file");
        if (fd >= 0) close(fd);
        return 1;
    }
    uint64_t fsize = (uint64_t)st.st_size, off = 0;
    unsigned char h[512];
    char *long_name = NULL, *pax_path = NULL;
    uint64_t pax_size = 0;
    int has_pax_size = 0, fault = 0;
    const char *why = NULL;
    group g = {0};
    ix->keys = 0;
    while (off < fsize) {
        if (fsize - off < 512) {
            why = "truncated header";
            break;
        }
        if (read_at(fd, off, h, 512)) {
            why = "read error";
            break;
        }
        int zero = 1;
        for (int i = 0; i < 512 && zero; i++) zero = h[i] == 0;
        if (zero) break; /* end-of-archive marker */
        uint64_t size;
        if (!checksum_ok(h) || parse_num(h + 124, 12, &size)) {
            why = "corrupt header (bad checksum or size field)";
            break;
        }
        char type = (char)h[156];
        int regular = type == '0' || type == '\0' || type == '7';
        if (regular && has_pax_size) size = pax_size;
        uint64_t data = off + 512;
        if (size > fsize - data) {
            why = "member larger than the rest of the archive";
            break;
        }
        uint64_t padded = (size + 511) & ~(uint64_t)511;
        uint64_t next = padded > fsize - data ? fsize : data + padded;
        if (type == 'L' || type == 'x') {
            if (size > (1u << 20)) {
                why = "oversized long-name or pax header";
                break;
            }
            char *buf = malloc((size_t)size + 1);
            if (!buf) {
                fault = -1;
                break;
            }
            if (read_at(fd, data, buf, (size_t)size)) {
                free(buf);
                why = "read error";
                break;
            }
            buf[size] = '\0';
            if (type == 'L') {
                free(long_name);
                long_name = buf;
            } else {
                parse_pax(buf, (size_t)size, &pax_path, &pax_size, &has_pax_size);
                free(buf);
            }
            off = next;
            continue;
        }
        if (regular) {
            char name[512];
            const char *nm = name;
            if (pax_path) nm = pax_path;
            else if (long_name) nm = long_name;
            else {
                char n100[101], p155[156];
                memcpy(n100, h, 100);
                n100[100] = '\0';
                memcpy(p155, h + 345, 155);
                p155[155] = '\0';
                if (!memcmp(h + 257, "ustar\0", 6) && p155[0])
                    snprintf(name, sizeof name, "%s/%s", p155, n100);
                else
                    snprintf(name, sizeof name, "%s", n100);
            }
            if (add_member(ix, &g, nm, data, size, shard)) {
                fault = -1;
                break;
            }
        }
        if (type != 'g') {
            free(long_name);
            free(pax_path);
            long_name = pax_path = NULL;
            has_pax_size = 0;
        }
        off = next;
    }
    close(fd);
    free(long_name);
    free(pax_path);
    if (fault == 0 && finish_group(ix, &g)) fault = -1;
    free(g.key);
    if (fault) return fault;
    if (why) {
        climp_log(CLIMP_LOG_WARN, "%s: %s at offset %llu; shard indexed up to there", path, why,
                  (unsigned long long)off);
        return 1;
    }
    return 0;
}

climp_status climp_tar_open(const char *pattern, climp_tar_index **out) {
    if (!pattern || !out) return CLIMP_ERR_INVALID_ARG;
    *out = NULL;
    climp_tar_index *t = calloc(1, sizeof *t);
    if (!t) return CLIMP_ERR_HOST_OOM;
    climp_status s = climp_expand_pattern(pattern, &t->shards, &t->n_shards);
    if (s) return free(t), s;
    t->shard_first_row = calloc((size_t)t->n_shards, sizeof(long));
    if (!t->shard_first_row) return climp_tar_close(t), CLIMP_ERR_HOST_OOM;
    indexer ix = {t, 0, 0};
    for (int i = 0; i < t->n_shards; i++) {
        t->shard_first_row[i] = t->stats.rows;
        int rc = index_shard(&ix, (uint32_t)i, t->shards[i]);
        if (rc < 0) return climp_tar_close(t), CLIMP_ERR_HOST_OOM;
        if (rc > 0) t->stats.shards_bad++;
    }
    const climp_data_stats *st = &t->stats;
    if (t->n == 0) {
        climp_error_set("'%s': no usable samples in %d shard(s) (%ld bad shards, %ld keys: %ld "
                        "incomplete, %ld webp-only; %ld unsafe member names)",
                        pattern, t->n_shards, st->shards_bad, st->rows, st->samples_incomplete,
                        st->samples_webp, st->members_unsafe);
        climp_tar_close(t);
        return CLIMP_ERR_FORMAT;
    }
    if (st->shards_bad || st->samples_incomplete || st->samples_webp || st->members_unsafe)
        climp_log(CLIMP_LOG_WARN,
                  "'%s': %ld samples from %d shards; skipped: %ld bad shards, %ld incomplete "
                  "samples, %ld webp-only (unsupported), %ld unsafe member names",
                  pattern, t->n, t->n_shards, st->shards_bad, st->samples_incomplete,
                  st->samples_webp, st->members_unsafe);
    *out = t;
    return CLIMP_OK;
}

void climp_tar_close(climp_tar_index *t) {
    if (!t) return;
    climp_data_free_strings(t->shards, t->n_shards);
    free(t->samples);
    free(t->shard_first_row);
    free(t);
}

climp_status climp_tar_read(const climp_tar_index *t, long i, uint8_t **img, size_t *img_n,
                            char **txt, size_t *txt_n) {
    if (!t || i < 0 || i >= t->n) return CLIMP_ERR_INVALID_ARG;
    *img = NULL;
    *txt = NULL;
    *img_n = *txt_n = 0;
    const climp_tar_sample *s = &t->samples[i];
    const char *path = t->shards[s->shard];
    if (s->img_size == UINT32_MAX) {
        climp_error_set("%s: image member of sample %ld is larger than %ld bytes", path, i,
                        (long)CLIMP_DATA_MAX_FILE_BYTES);
        return CLIMP_ERR_FORMAT;
    }
    size_t tn = s->txt_size < (1u << 20) ? s->txt_size : (1u << 20);
    int fd = open(path, O_RDONLY);
    if (fd < 0) {
        climp_error_set("%s: cannot open shard (%s)", path, strerror(errno));
        return CLIMP_ERR_IO;
    }
    uint8_t *a = malloc(s->img_size ? s->img_size : 1);
    char *b = malloc(tn + 1);
    if (!a || !b) {
        close(fd);
        free(a);
        free(b);
        return CLIMP_ERR_HOST_OOM;
    }
    if (read_at(fd, s->img_off, a, s->img_size) || read_at(fd, s->txt_off, b, tn)) {
        close(fd);
        free(a);
        free(b);
        climp_error_set("%s: cannot read sample %ld (the shard changed or is unreadable)", path,
                        i);
        return CLIMP_ERR_IO;
    }
    close(fd);
    b[tn] = '\0';
    *img = a;
    *img_n = s->img_size;
    *txt = b;
    *txt_n = tn;
    return CLIMP_OK;
}
