/* TSV/CSV datasets in open_clip's convention: a header row naming the columns, an image-path
 * column (default "filepath") and a caption column (default "title"), paths relative to the
 * file's folder. RFC 4180 quoting (quoted fields, doubled quotes, separators and newlines inside
 * quotes), CRLF, a UTF-8 BOM and blank lines are handled. Rows with too few fields, an empty
 * path, an empty or non-UTF-8 caption are skipped and counted; long captions are truncated at a
 * UTF-8 boundary and counted. Also the UTF-8 helpers used by trainer/tar.c, and
 * climp_data_quote, which makes names taken from files safe to print in a one-line message.
 * Tests: tests/test_data.c, tests/test_fuzz_regress.c. */
#define _POSIX_C_SOURCE 200809L
#include "trainer/data.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int climp_data_utf8_valid(const char *str, size_t n) {
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i];
        if (c == 0) return 0;
        if (c < 0x80) {
            i++;
            continue;
        }
        int more;
        unsigned lo = 0x80, hi = 0xBF;
        if (c >= 0xC2 && c <= 0xDF) more = 1;
        else if (c == 0xE0) more = 2, lo = 0xA0;
        else if ((c >= 0xE1 && c <= 0xEC) || c == 0xEE || c == 0xEF) more = 2;
        else if (c == 0xED) more = 2, hi = 0x9F;
        else if (c == 0xF0) more = 3, lo = 0x90;
        else if (c >= 0xF1 && c <= 0xF3) more = 3;
        else if (c == 0xF4) more = 3, hi = 0x8F;
        else return 0;
        if (n - i <= (size_t)more) return 0;
        if (s[i + 1] < lo || s[i + 1] > hi) return 0;
        for (int k = 2; k <= more; k++)
            if ((s[i + k] & 0xC0) != 0x80) return 0;
        i += (size_t)more + 1;
    }
    return 1;
}

size_t climp_data_utf8_cut(const char *s, size_t n, size_t max) {
    if (n <= max) return n;
    size_t k = max;
    while (k > 0 && ((unsigned char)s[k] & 0xC0) == 0x80) k--;
    return k;
}

/* Bytes of the UTF-8 sequence s[0..] if it is valid and complete, else 0. */
static size_t utf8_unit(const char *s) {
    unsigned c = (unsigned char)s[0];
    size_t k = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 0;
    for (size_t i = 1; i < k; i++)
        if (!s[i]) return 0;
    return k && climp_data_utf8_valid(s, k) ? k : 0;
}

/* Writes the printable form of s into buf while it fits in limit bytes; returns the length
 * written and sets *cut when s did not fit. */
static size_t quote_into(const char *s, char *buf, size_t limit, int *cut) {
    size_t o = 0;
    *cut = 0;
    for (size_t i = 0; s[i];) {
        unsigned char c = (unsigned char)s[i];
        char esc[8];
        size_t k = 1;
        const char *piece = esc;
        if (c == '\n' || c == '\r' || c == '\t') {
            esc[0] = '\\', esc[1] = c == '\n' ? 'n' : c == '\r' ? 'r' : 't', esc[2] = 0;
        } else if (c < 0x20 || c == 0x7F) {
            snprintf(esc, sizeof esc, "\\x%02X", c);
        } else if (c < 0x80) {
            esc[0] = (char)c, esc[1] = 0;
        } else if ((k = utf8_unit(s + i)) != 0) {
            piece = s + i; /* a whole valid character, as it is */
        } else {
            k = 1;
            snprintf(esc, sizeof esc, "\\x%02X", c); /* keeps the message valid UTF-8 */
        }
        size_t len = piece == esc ? strlen(esc) : k;
        if (o + len > limit) {
            *cut = 1;
            break;
        }
        memcpy(buf + o, piece, len);
        o += len;
        i += k;
    }
    return o;
}

const char *climp_data_quote(const char *s, char *buf, size_t size) {
    if (!buf || size == 0) return "";
    if (!s) s = "(null)";
    int cut;
    size_t o = quote_into(s, buf, size - 1, &cut);
    if (cut && size >= 4) {
        o = quote_into(s, buf, size - 4, &cut);
        memcpy(buf + o, "...", 3);
        o += 3;
    }
    buf[o] = 0;
    return buf;
}

/* ---------------------------------------------------------------- record parser */
typedef struct {
    char *p;
    size_t n, cap;
} sbuf;

static int sbuf_put(sbuf *b, const char *s, size_t n) {
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->n + n + 1) {
            if (cap > SIZE_MAX / 2) return -1;
            cap *= 2;
        }
        char *p = realloc(b->p, cap);
        if (!p) return -1;
        b->p = p;
        b->cap = cap;
    }
    if (n) memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = '\0';
    return 0;
}

typedef struct {
    size_t off, len;
} field;

typedef struct {
    const char *b;
    size_t n, pos;
    char sep;
    long line; /* 1-based line of the next byte */
    sbuf text; /* unescaped fields of the current record */
    field *f;
    int nf, fcap;
    int blank; /* the record was an empty line */
} parser;

static int end_field(parser *p, size_t off) {
    if (p->nf == p->fcap) {
        int cap = p->fcap ? 2 * p->fcap : 16;
        field *f = realloc(p->f, sizeof(field) * (size_t)cap);
        if (!f) return -1;
        p->f = f;
        p->fcap = cap;
    }
    p->f[p->nf].off = off;
    p->f[p->nf].len = p->text.n - off;
    p->nf++;
    return sbuf_put(&p->text, "", 1); /* each field NUL-terminated */
}

/* Parses one record at p->pos. Returns 0, -1 on out of memory, -2 on an unterminated quote
 * (p->line then names the line where the quoted field began). */
static int next_record(parser *p) {
    const char *b = p->b;
    size_t n = p->n;
    p->text.n = 0;
    p->nf = 0;
    int any_quote = 0;
    for (;;) {
        size_t off = p->text.n;
        if (p->pos < n && b[p->pos] == '"') {
            long start_line = p->line;
            any_quote = 1;
            p->pos++;
            for (;;) {
                if (p->pos >= n) {
                    p->line = start_line;
                    return -2;
                }
                size_t q = p->pos;
                while (q < n && b[q] != '"') {
                    if (b[q] == '\n') p->line++;
                    q++;
                }
                if (sbuf_put(&p->text, b + p->pos, q - p->pos)) return -1;
                p->pos = q;
                if (q >= n) continue;
                if (q + 1 < n && b[q + 1] == '"') { /* doubled quote */
                    if (sbuf_put(&p->text, "\"", 1)) return -1;
                    p->pos = q + 2;
                    continue;
                }
                p->pos = q + 1; /* closing quote */
                break;
            }
        }
        /* unquoted text (or stray text after a closing quote, kept literally) */
        size_t q = p->pos;
        while (q < n && b[q] != p->sep && b[q] != '\n' && !(b[q] == '\r' && q + 1 < n &&
                                                                b[q + 1] == '\n'))
            q++;
        if (q == n && q > p->pos && b[q - 1] == '\r') q--; /* CR at end of file */
        if (sbuf_put(&p->text, b + p->pos, q - p->pos)) return -1;
        p->pos = q;
        if (end_field(p, off)) return -1;
        if (p->pos < n && b[p->pos] == p->sep) {
            p->pos++;
            continue;
        }
        if (p->pos < n && b[p->pos] == '\r') p->pos++;
        if (p->pos < n && b[p->pos] == '\n') p->pos++, p->line++;
        else p->pos = n;
        p->blank = p->nf == 1 && p->f[0].len == 0 && !any_quote;
        return 0;
    }
}

/* ---------------------------------------------------------------- loading */
/* "\t" or "tab", "comma", or one byte other than a quote or a line break. */
static int parse_sep_text(const char *sep, char *out) {
    if (!strcmp(sep, "\\t") || !strcasecmp(sep, "tab")) *out = '\t';
    else if (!strcasecmp(sep, "comma")) *out = ',';
    else if (strlen(sep) == 1 && sep[0] != '"' && sep[0] != '\n' && sep[0] != '\r') *out = sep[0];
    else return -1;
    return 0;
}

int climp_tsv_separator_valid(const char *sep) {
    char c;
    return !sep || !*sep || parse_sep_text(sep, &c) == 0;
}

static int parse_sep(const char *sep, const char *path, char *out) {
    if (!sep || !*sep) {
        size_t L = strlen(path);
        *out = (L >= 4 && strcasecmp(path + L - 4, ".csv") == 0) ? ',' : '\t';
        return 0;
    }
    return parse_sep_text(sep, out);
}

static climp_status fail(climp_tsv *t, parser *p, sbuf *pool, climp_status s) {
    free(p->text.p);
    free(p->f);
    free(pool->p);
    if (t) {
        free(t->dir);
        free(t->path_off);
        free(t->cap_off);
        free(t->row);
        free(t);
    }
    return s;
}

static int push_row(climp_tsv *t, long *cap, size_t po, size_t co, long row) {
    if (t->n == *cap) {
        long c = *cap ? 2 * *cap : 1024;
        size_t *a = realloc(t->path_off, sizeof(size_t) * (size_t)c);
        if (!a) return -1;
        t->path_off = a;
        size_t *b = realloc(t->cap_off, sizeof(size_t) * (size_t)c);
        if (!b) return -1;
        t->cap_off = b;
        long *r = realloc(t->row, sizeof(long) * (size_t)c);
        if (!r) return -1;
        t->row = r;
        *cap = c;
    }
    t->path_off[t->n] = po;
    t->cap_off[t->n] = co;
    t->row[t->n] = row;
    t->n++;
    return 0;
}

static void warn_row(long *count, const char *path, long line, const char *what) {
    if (++*count <= 5) climp_log(CLIMP_LOG_WARN, "%s:%ld: %s; row skipped", path, line, what);
}

climp_status climp_tsv_load(const char *path, const char *sep, const char *img_key,
                            const char *cap_key, int max_caption_bytes, climp_tsv **out) {
    if (!path || !out) return CLIMP_ERR_INVALID_ARG;
    *out = NULL;
    if (!img_key) img_key = "filepath";
    if (!cap_key) cap_key = "title";
    size_t maxcap = max_caption_bytes > 0 ? (size_t)max_caption_bytes : CLIMP_DATA_MAX_CAPTION;
    parser p = {0};
    sbuf pool = {0};
    if (parse_sep(sep, path, &p.sep)) {
        climp_error_set("--csv-separator '%s': give one byte, \"\\t\" or \"tab\"", sep);
        return CLIMP_ERR_INVALID_ARG;
    }
    uint8_t *data;
    size_t n;
    climp_status s = climp_data_read_file(path, (size_t)1 << 40, &data, &n);
    if (s) return s;
    p.b = (const char *)data;
    p.n = n;
    p.line = 1;
    if (n >= 3 && !memcmp(data, "\xEF\xBB\xBF", 3)) p.pos = 3;
    climp_tsv *t = calloc(1, sizeof *t);
    if (!t) return free(data), fail(t, &p, &pool, CLIMP_ERR_HOST_OOM);
    const char *slash = strrchr(path, '/');
    t->dir = slash ? strndup(path, (size_t)(slash - path == 0 ? 1 : slash - path)) : strdup(".");
    if (!t->dir) return free(data), fail(t, &p, &pool, CLIMP_ERR_HOST_OOM);

    /* header */
    int rc;
    long header_line;
    do {
        if (p.pos >= n) {
            climp_error_set("%s:%ld: no header row (the file is empty)", path, p.line);
            return free(data), fail(t, &p, &pool, CLIMP_ERR_FORMAT);
        }
        header_line = p.line;
        rc = next_record(&p);
    } while (rc == 0 && p.blank);
    if (rc == -2) {
        climp_error_set("%s:%ld: quoted field is never closed", path, p.line);
        return free(data), fail(t, &p, &pool, CLIMP_ERR_FORMAT);
    }
    if (rc) return free(data), fail(t, &p, &pool, CLIMP_ERR_HOST_OOM);
    int ci = -1, cc = -1;
    for (int k = 0; k < p.nf; k++) {
        const char *name = p.text.p + p.f[k].off;
        if (ci < 0 && !strcmp(name, img_key)) ci = k;
        if (cc < 0 && !strcmp(name, cap_key)) cc = k;
    }
    if (ci < 0 || cc < 0) {
        char cols[512];
        size_t L = 0;
        cols[0] = '\0';
        for (int k = 0; k < p.nf && L + 4 < sizeof cols; k++) {
            char name[96];
            int w = snprintf(cols + L, sizeof cols - L, "%s'%s'", k ? ", " : "",
                             climp_data_quote(p.text.p + p.f[k].off, name, sizeof name));
            if (w > 0) L += (size_t)w;
        }
        climp_error_set("%s:%ld: header has no %s column '%s' (separator %s; columns: %s)", path,
                        header_line, ci < 0 ? "image" : "caption", ci < 0 ? img_key : cap_key,
                        p.sep == '\t' ? "tab" : p.sep == ',' ? "comma" : "custom", cols);
        return free(data), fail(t, &p, &pool, CLIMP_ERR_FORMAT);
    }
    int need = (ci > cc ? ci : cc) + 1;

    /* rows */
    long cap = 0, row = 0;
    climp_data_stats *st = &t->stats;
    while (p.pos < n) {
        long line = p.line;
        rc = next_record(&p);
        if (rc == -2) {
            climp_error_set("%s:%ld: quoted field is never closed", path, p.line);
            return free(data), fail(t, &p, &pool, CLIMP_ERR_FORMAT);
        }
        if (rc) return free(data), fail(t, &p, &pool, CLIMP_ERR_HOST_OOM);
        if (p.blank) continue;
        long r = row++;
        st->rows++;
        if (p.nf < need) {
            char msg[96];
            snprintf(msg, sizeof msg, "%d fields, the header needs %d", p.nf, need);
            warn_row(&st->rows_short, path, line, msg);
            continue;
        }
        const char *ip = p.text.p + p.f[ci].off, *cp = p.text.p + p.f[cc].off;
        size_t il = p.f[ci].len, cl = p.f[cc].len;
        if (il == 0 || memchr(ip, 0, il)) {
            warn_row(&st->rows_no_image, path, line, "empty image path");
            continue;
        }
        if (cl == 0) {
            warn_row(&st->captions_empty, path, line, "empty caption");
            continue;
        }
        if (!climp_data_utf8_valid(cp, cl)) {
            warn_row(&st->captions_bad_utf8, path, line, "caption is not valid UTF-8");
            continue;
        }
        if (cl > maxcap) {
            cl = climp_data_utf8_cut(cp, cl, maxcap);
            st->captions_truncated++;
        }
        size_t po = pool.n;
        if (sbuf_put(&pool, ip, il + 1)) return free(data), fail(t, &p, &pool, CLIMP_ERR_HOST_OOM);
        size_t co = pool.n;
        if (sbuf_put(&pool, cp, cl) || sbuf_put(&pool, "", 1) || push_row(t, &cap, po, co, r))
            return free(data), fail(t, &p, &pool, CLIMP_ERR_HOST_OOM);
    }
    free(data);
    free(p.text.p);
    free(p.f);
    if (t->n == 0) {
        climp_error_set("%s: no usable rows (%ld data rows: %ld with too few fields, %ld without "
                        "image path, %ld empty and %ld non-UTF-8 captions)",
                        path, st->rows, st->rows_short, st->rows_no_image, st->captions_empty,
                        st->captions_bad_utf8);
        p.text.p = NULL;
        p.f = NULL;
        return fail(t, &p, &pool, CLIMP_ERR_FORMAT);
    }
    t->pool = pool.p;
    long skipped = st->rows - t->n;
    if (skipped || st->captions_truncated)
        climp_log(CLIMP_LOG_WARN,
                  "%s: %ld of %ld rows skipped (%ld too few fields, %ld no image path, %ld empty "
                  "caption, %ld non-UTF-8 caption); %ld captions truncated to %zu bytes",
                  path, skipped, st->rows, st->rows_short, st->rows_no_image, st->captions_empty,
                  st->captions_bad_utf8, st->captions_truncated, maxcap);
    *out = t;
    return CLIMP_OK;
}

void climp_tsv_free(climp_tsv *t) {
    if (!t) return;
    free(t->dir);
    free(t->pool);
    free(t->path_off);
    free(t->cap_off);
    free(t->row);
    free(t);
}

climp_status climp_tsv_image_path(const climp_tsv *t, long i, char *buf, size_t size) {
    if (!t || i < 0 || i >= t->n) return CLIMP_ERR_INVALID_ARG;
    const char *rel = t->pool + t->path_off[i];
    int w = rel[0] == '/' ? snprintf(buf, size, "%s", rel)
                          : snprintf(buf, size, "%s/%s", t->dir, rel);
    if (w < 0 || (size_t)w >= size) {
        char qd[256], qr[256];
        climp_error_set("%s/%s: image path too long", climp_data_quote(t->dir, qd, sizeof qd),
                        climp_data_quote(rel, qr, sizeof qr));
        return CLIMP_ERR_FORMAT;
    }
    return CLIMP_OK;
}
