/* Data layer (trainer/synth.c, tsv.c, tar.c, loader.c): the synthetic generator (determinism,
 * well-formed captions, distinct quadrants, colours where claimed), TSV/CSV parsing (quotes,
 * embedded tabs and newlines, CRLF, BOM, blank lines, too few fields, missing columns, relative
 * paths, truncation), WebDataset tar shards written here in ustar format (grouping, brace
 * patterns, truncated archives, oversized members, ../ names, GNU long names, fuzzed shards).
 * The loader is tested in tests/test_loader.c. Writes 8 synthetic samples to
 * /tmp/synth_grid.png. CPU only. */
#define _XOPEN_SOURCE 700
#include "tests/testutil.h"
#include "trainer/data.h"

#include <ftw.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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

static unsigned char *file_bytes(const char *path, size_t *n) {
    uint8_t *d;
    if (climp_data_read_file(path, 0, &d, n)) exit(1);
    return d;
}

static int rm_cb(const char *p, const struct stat *s, int f, struct FTW *w) { return remove(p); }

/* ---------------------------------------------------------------- synthetic */
static void test_synth(void) {
    int sizes[3] = {32, 64, 224};
    int quad_bad = 0, color_bad = 0, cap_bad = 0, det_bad = 0, vis_bad = 0, n2 = 0;
    long color_seen[CLIMP_SYNTH_COLORS] = {0}, shape_seen[CLIMP_SYNTH_SHAPES] = {0};
    uint8_t *a = malloc(224 * 224 * 3), *b = malloc(224 * 224 * 3);
    for (long i = 0; i < 1000; i++) {
        int S = sizes[i % 3];
        climp_synth_scene sc, sc2;
        char c1[256], c2[256];
        climp_synth_scene_make(42, i, S, &sc);
        climp_synth_scene_make(42, i, S, &sc2);
        climp_synth_render(&sc, S, a, c1, sizeof c1);
        climp_synth_render(&sc2, S, b, c2, sizeof c2);
        det_bad += memcmp(a, b, (size_t)S * S * 3) != 0 || strcmp(c1, c2) != 0;
        n2 += sc.n == 2;
        if (sc.n == 2 && sc.obj[0].quadrant == sc.obj[1].quadrant) quad_bad++;
        /* the caption, parsed independently, names every object of the scene in order */
        const char *p = c1;
        for (int k = 0; k < sc.n; k++) {
            const climp_synth_object *o = &sc.obj[k];
            char want[128];
            snprintf(want, sizeof want, "%sa %s %s %s at the %s", k ? " and " : "",
                     o->large ? "large" : "small", climp_synth_color_names[o->color],
                     climp_synth_shape_names[o->shape], climp_synth_quadrant_names[o->quadrant]);
            if (strncmp(p, want, strlen(want))) cap_bad++;
            p += strlen(want) < strlen(p) ? strlen(want) : strlen(p);
            color_seen[o->color]++;
            shape_seen[o->shape]++;
            /* the object is drawn at its centre in its own colour, inside its quadrant */
            const uint8_t *px = a + ((size_t)(int)o->cy * S + (size_t)(int)o->cx) * 3;
            if (memcmp(px, o->rgb, 3) != 0 || !memcmp(px, sc.background, 3)) vis_bad++;
            float h = o->extent / 2, qx = (o->quadrant & 1) * S / 2.0f,
                  qy = (o->quadrant >> 1) * S / 2.0f;
            if (o->cx - h < qx || o->cx + h > qx + S / 2.0f || o->cy - h < qy ||
                o->cy + h > qy + S / 2.0f || o->extent < (o->large ? 0.3f : 0.17f) * S)
                vis_bad++;
            int dom = o->color; /* red, green, blue: that channel dominates by a wide margin */
            if (dom < 3 && !(px[dom] > px[(dom + 1) % 3] + 60 && px[dom] > px[(dom + 2) % 3] + 60))
                color_bad++;
        }
        if (*p) cap_bad++;
    }
    tu_check(det_bad == 0, "synthetic: %d samples not deterministic", det_bad);
    tu_check(quad_bad == 0, "synthetic: %d samples with two objects in one quadrant", quad_bad);
    tu_check(cap_bad == 0, "synthetic: %d malformed captions", cap_bad);
    tu_check(vis_bad == 0, "synthetic: %d objects not visible where claimed", vis_bad);
    tu_check(color_bad == 0, "synthetic: %d red/green/blue objects of the wrong colour", color_bad);
    tu_check(n2 > 400 && n2 < 600, "synthetic: %d of 1000 with two objects", n2);
    for (int c = 0; c < CLIMP_SYNTH_COLORS; c++)
        tu_check(color_seen[c] > 100, "colour %s seen %ld times", climp_synth_color_names[c],
                 color_seen[c]);
    for (int s = 0; s < CLIMP_SYNTH_SHAPES; s++)
        tu_check(shape_seen[s] > 150, "shape %s seen %ld times", climp_synth_shape_names[s],
                 shape_seen[s]);
    tu_check(climp_synth_eval_seed(42) != 42, "eval seed differs from the training seed");

    /* the dataset: exact normalised render without augmentation; crops depend on the epoch */
    climp_data_options o = {0};
    o.spec = "synthetic:500";
    o.seed = 42;
    climp_dataset *ds;
    CLIMP_CHECK(climp_dataset_open(&o, &ds));
    tu_check(climp_dataset_size(ds) == 500 && climp_dataset_image_size(ds) == 64,
             "synthetic:500 size");
    float *x = malloc(sizeof(float) * 64 * 64 * 3), *y = malloc(sizeof(float) * 64 * 64 * 3);
    char cap[256], cap2[256];
    CLIMP_CHECK(climp_dataset_get(ds, 7, 0, 0, x, cap, sizeof cap));
    climp_synth_scene sc;
    climp_synth_scene_make(42, 7, 64, &sc);
    climp_synth_render(&sc, 64, a, cap2, sizeof cap2);
    int off = 0;
    for (int i = 0; i < 64 * 64 * 3; i++) {
        float want = (a[i] / 255.0f - climp_image_mean[i % 3]) / climp_image_std[i % 3];
        off += fabsf(x[i] - want) > 1e-6f;
    }
    tu_check(off == 0 && !strcmp(cap, cap2), "dataset_get = normalised render (%d off)", off);
    CLIMP_CHECK(climp_dataset_get(ds, 7, 3, 1, x, cap, 20));
    CLIMP_CHECK(climp_dataset_get(ds, 7, 3, 1, y, cap, 20));
    tu_check(!memcmp(x, y, sizeof(float) * 64 * 64 * 3) && strlen(cap) == 19,
             "augmented sample deterministic, caption cut to the buffer");
    CLIMP_CHECK(climp_dataset_get(ds, 7, 4, 1, y, cap, sizeof cap));
    tu_check(memcmp(x, y, sizeof(float) * 64 * 64 * 3) != 0, "crop differs across epochs");
    climp_dataset_close(ds);
    o.spec = "synthetic-eval";
    CLIMP_CHECK(climp_dataset_open(&o, &ds));
    CLIMP_CHECK(climp_dataset_get(ds, 7, 0, 0, y, cap2, sizeof cap2));
    tu_check(climp_dataset_size(ds) == 1000 && memcmp(x, y, sizeof(float) * 64 * 64 * 3),
             "synthetic-eval: 1000 pairs, other images");
    climp_dataset_close(ds);
    const char *bad[] = {"synthetic:", "synthetic:0", "synthetic:12x", "nonsense", "synthetic:-3"};
    for (int i = 0; i < 5; i++) {
        o.spec = bad[i];
        tu_check(climp_dataset_open(&o, &ds) == CLIMP_ERR_INVALID_ARG, "spec '%s' refused",
                 bad[i]);
    }

    /* 8 samples as a 4x2 grid, 2x nearest, for people to look at */
    enum { S = 64, Z = 2, G = 4, W = 4 * (S * Z + G) + G, H = 2 * (S * Z + G) + G };
    uint8_t *grid = malloc(W * H * 3);
    memset(grid, 255, W * H * 3);
    FILE *txt = fopen("/tmp/synth_grid.txt", "w");
    for (int k = 0; k < 8; k++) {
        climp_synth_scene_make(42, k, S, &sc);
        climp_synth_render(&sc, S, a, cap, sizeof cap);
        if (txt) fprintf(txt, "%d: %s\n", k, cap);
        int ox = G + (k % 4) * (S * Z + G), oy = G + (k / 4) * (S * Z + G);
        for (int yy = 0; yy < S * Z; yy++)
            for (int xx = 0; xx < S * Z; xx++)
                memcpy(grid + ((size_t)(oy + yy) * W + ox + xx) * 3,
                       a + ((size_t)(yy / Z) * S + xx / Z) * 3, 3);
    }
    if (txt) fclose(txt);
    tu_check(stbi_write_png("/tmp/synth_grid.png", W, H, 3, grid, W * 3) != 0,
             "wrote /tmp/synth_grid.png");
    free(grid);
    free(a);
    free(b);
    free(x);
    free(y);
}

/* ---------------------------------------------------------------- TSV */
static void expect_tsv_error(const char *name, const char *content, const char *frag) {
    const char *path = in_dir(name);
    write_file(path, content, strlen(content));
    climp_tsv *t = (climp_tsv *)1;
    climp_error_clear();
    climp_status s = climp_tsv_load(path, NULL, NULL, NULL, 0, &t);
    const char *msg = climp_error_detail();
    tu_check(s == CLIMP_ERR_FORMAT && t == NULL, "%s: status %s", name, climp_status_name(s));
    tu_check(msg && strstr(msg, path) && strstr(msg, frag), "%s: message '%s' lacks '%s'", name,
             msg ? msg : "", frag);
}

static void test_tsv(void) {
    static const char body[] =
        "\xEF\xBB\xBF" "filepath\ttitle\textra\r\n"
        "img/a.png\tfirst caption\tx\r\n"
        "\r\n"
        "img/b.png\t\"quoted\twith tab\"\ty\r\n"
        "img/c.png\t\"multi\nline \"\"quoted\"\" caption\"\tz\n"
        "img/d.png\r\n"
        "\n"
        "/abs/path.png\tabsolute\t\n"
        "\timage missing\tq\n"
        "img/e.png\t\tw\n"
        "img/f.png\tbad \xff utf8\tw\n"
        "img/g.png\tlast no newline";
    const char *path = in_dir("main.tsv");
    write_file(path, body, sizeof body - 1);
    climp_tsv *t;
    climp_status s = climp_tsv_load(path, NULL, NULL, NULL, 0, &t);
    tu_check(s == CLIMP_OK, "main.tsv: %s", climp_error_detail());
    if (s) return;
    const char *caps[] = {"first caption", "quoted\twith tab", "multi\nline \"quoted\" caption",
                          "absolute", "last no newline"};
    long rows[] = {0, 1, 2, 4, 8};
    tu_check(t->n == 5, "main.tsv: %ld rows, want 5", t->n);
    for (long i = 0; i < t->n && i < 5; i++) {
        tu_check(!strcmp(t->pool + t->cap_off[i], caps[i]), "row %ld caption '%s'", i,
                 t->pool + t->cap_off[i]);
        tu_check(t->row[i] == rows[i], "row %ld source row %ld, want %ld", i, t->row[i], rows[i]);
    }
    char buf[600];
    climp_tsv_image_path(t, 0, buf, sizeof buf);
    tu_check(!strcmp(buf, in_dir("img/a.png")), "relative path joined: %s", buf);
    climp_tsv_image_path(t, 3, buf, sizeof buf);
    tu_check(!strcmp(buf, "/abs/path.png"), "absolute path kept: %s", buf);
    const climp_data_stats *st = &t->stats;
    tu_check(st->rows == 9 && st->rows_short == 1 && st->rows_no_image == 1 &&
                 st->captions_empty == 1 && st->captions_bad_utf8 == 1 && !st->captions_truncated,
             "main.tsv stats: rows %ld short %ld noimg %ld empty %ld utf8 %ld", st->rows,
             st->rows_short, st->rows_no_image, st->captions_empty, st->captions_bad_utf8);
    climp_tsv_free(t);

    /* truncation at a UTF-8 boundary: "h\xc3\xa9llo w\xc3\xb6rld" cut to 9 bytes */
    path = in_dir("trunc.tsv");
    const char *tr = "filepath\ttitle\na.png\th\xc3\xa9llo w\xc3\xb6rld\n";
    write_file(path, tr, strlen(tr));
    CLIMP_CHECK(climp_tsv_load(path, "\\t", NULL, NULL, 9, &t));
    tu_check(!strcmp(t->pool + t->cap_off[0], "h\xc3\xa9llo w") && t->stats.captions_truncated == 1,
             "truncated caption '%s'", t->pool + t->cap_off[0]);
    climp_tsv_free(t);
    /* CSV by extension; custom keys; custom separator */
    path = in_dir("data.csv");
    const char *csv = "id,image,caption\n1,x.png,\"a, b\"\n";
    write_file(path, csv, strlen(csv));
    CLIMP_CHECK(climp_tsv_load(path, NULL, "image", "caption", 0, &t));
    tu_check(t->n == 1 && !strcmp(t->pool + t->cap_off[0], "a, b") &&
                 !strcmp(t->pool + t->path_off[0], "x.png"),
             "csv with comma and custom keys");
    climp_tsv_free(t);
    path = in_dir("pipe.tsv");
    write_file(path, "filepath|title\nx.png|p q\n", 25);
    CLIMP_CHECK(climp_tsv_load(path, "|", NULL, NULL, 0, &t));
    tu_check(t->n == 1 && !strcmp(t->pool + t->cap_off[0], "p q"), "separator |");
    climp_tsv_free(t);
    tu_check(climp_tsv_load(path, "ab", NULL, NULL, 0, &t) == CLIMP_ERR_INVALID_ARG,
             "two-byte separator refused");

    expect_tsv_error("nocol.tsv", "path\ttitle\nx.png\tcap\n", "nocol.tsv:1: header has no image "
                                                                "column 'filepath'");
    expect_tsv_error("nocap.tsv", "\n\nfilepath\tcaption\nx.png\tcap\n", ":3: header has no "
                                                                         "caption column 'title'");
    expect_tsv_error("quote.tsv", "filepath\ttitle\nx.png\t\"never closed\nmore\n",
                     ":2: quoted field is never closed");
    expect_tsv_error("empty.tsv", "", "no header row");
    expect_tsv_error("norows.tsv", "filepath\ttitle\nonly-one-field\n", "no usable rows");
    climp_tsv *none;
    tu_check(climp_tsv_load(in_dir("absent.tsv"), NULL, NULL, NULL, 0, &none) == CLIMP_ERR_IO,
             "missing file gives CLIMP_ERR_IO");

    /* hostile: random bytes from a quote/tab/newline-heavy alphabet never crash the parser */
    tu_rng r;
    tu_rng_seed(&r, 99);
    const char alpha[] = "ab\"\"\t\t\n\r \xc3\xa9\xff";
    int fuzz_bad = 0;
    for (int it = 0; it < 300; it++) {
        char txt[200];
        size_t n = (size_t)tu_uniform(&r, 0, 200);
        memcpy(txt, body, n < sizeof body ? n : sizeof body);
        for (size_t k = 0; k < n; k++)
            if (tu_uniform(&r, 0, 1) < 0.2f) txt[k] = alpha[(int)tu_uniform(&r, 0, 11)];
        write_file(in_dir("fuzz.tsv"), txt, n);
        s = climp_tsv_load(in_dir("fuzz.tsv"), NULL, NULL, NULL, 7, &t);
        if (s == CLIMP_OK) {
            for (long i = 0; i < t->n; i++)
                fuzz_bad += strlen(t->pool + t->cap_off[i]) > 7 ||
                            !climp_data_utf8_valid(t->pool + t->cap_off[i],
                                                   strlen(t->pool + t->cap_off[i]));
            climp_tsv_free(t);
        } else if (s != CLIMP_ERR_FORMAT) {
            fuzz_bad++;
        }
    }
    tu_check(fuzz_bad == 0, "fuzzed TSV: %d bad outcomes", fuzz_bad);

    /* through the dataset: images, captions, and the failure of a missing image */
    mkdir(in_dir("img"), 0755);
    write_png(in_dir("img/a.png"), 5, 3, 200, 10, 20);
    climp_data_options o = {0};
    o.spec = in_dir("main.tsv");
    o.image_size = 8;
    climp_dataset *ds;
    CLIMP_CHECK(climp_dataset_open(&o, &ds));
    float img[8 * 8 * 3];
    char cap[64];
    CLIMP_CHECK(climp_dataset_get(ds, 0, 0, 0, img, cap, sizeof cap));
    float want = (200 / 255.0f - climp_image_mean[0]) / climp_image_std[0];
    tu_check(!strcmp(cap, "first caption") && fabsf(img[0] - want) < 1e-6f &&
                 fabsf(img[8 * 8 * 3 - 3] - want) < 1e-6f,
             "tsv dataset sample 0");
    climp_error_clear();
    s = climp_dataset_get(ds, 1, 0, 0, img, cap, sizeof cap);
    tu_check(s == CLIMP_ERR_IO && strstr(climp_error_detail(), "img/b.png"),
             "missing image: %s '%s'", climp_status_name(s), climp_error_detail());
    tu_check(climp_dataset_get(ds, 5, 0, 0, img, cap, 64) == CLIMP_ERR_INVALID_ARG,
             "index out of range");
    tu_check(climp_dataset_row(ds, 4) == 8 && !strcmp(climp_dataset_kind(ds), "tsv"),
             "dataset row / kind");
    climp_dataset_close(ds);
}

/* ---------------------------------------------------------------- tar */
static void tar_header(FILE *f, const char *name, uint64_t size, char type) {
    unsigned char h[512] = {0};
    memcpy(h, name, strlen(name) < 100 ? strlen(name) : 100);
    memcpy(h + 100, "0000644", 8);
    memcpy(h + 108, "0001750", 8);
    memcpy(h + 116, "0001750", 8);
    char num[16];
    snprintf(num, sizeof num, "%011llo", (unsigned long long)size);
    memcpy(h + 124, num, 12);
    memcpy(h + 136, "14766756001", 12);
    h[156] = (unsigned char)type;
    memcpy(h + 257, "ustar\0" "00", 8);
    memset(h + 148, ' ', 8);
    unsigned sum = 0;
    for (int i = 0; i < 512; i++) sum += h[i];
    snprintf(num, sizeof num, "%06o", sum);
    memcpy(h + 148, num, 7);
    fwrite(h, 1, 512, f);
}

static void tar_add(FILE *f, const char *name, const void *data, size_t n) {
    static const unsigned char zero[512];
    if (strlen(name) > 100) { /* GNU long name: an 'L' member holding the name */
        tar_header(f, "././@LongLink", strlen(name) + 1, 'L');
        fwrite(name, 1, strlen(name) + 1, f);
        fwrite(zero, 1, (512 - (strlen(name) + 1) % 512) % 512, f);
    }
    tar_header(f, name, n, '0');
    fwrite(data, 1, n, f);
    fwrite(zero, 1, (512 - n % 512) % 512, f);
}

static void tar_add_png(FILE *f, const char *name, uint8_t r, uint8_t g, uint8_t b) {
    write_png(in_dir("tmp.png"), 4, 4, r, g, b);
    size_t n;
    unsigned char *d = file_bytes(in_dir("tmp.png"), &n);
    tar_add(f, name, d, n);
    free(d);
}

static climp_tar_index *open_tar(const char *pattern, long want_n, long want_bad) {
    climp_tar_index *t = NULL;
    climp_status s = climp_tar_open(pattern, &t);
    tu_check(s == CLIMP_OK, "tar %s: %s %s", pattern, climp_status_name(s), climp_error_detail());
    if (s) return NULL;
    tu_check(t->n == want_n && t->stats.shards_bad == want_bad,
             "tar %s: %ld samples (want %ld), %ld bad shards (want %ld)", pattern, t->n, want_n,
             t->stats.shards_bad, want_bad);
    return t;
}

/* Hostile input: mutated and truncated copies of a shard never crash; every sample read gives
 * OK or a clean error. (Run under CLIMP_SANITIZE for the full value.) */
static void fuzz_tar(const char *good) {
    size_t len;
    unsigned char *orig = file_bytes(good, &len), *d = malloc(len);
    tu_rng r;
    tu_rng_seed(&r, 1234);
    int bad = 0, opened = 0;
    for (int it = 0; it < 300; it++) {
        memcpy(d, orig, len);
        size_t n = len;
        int flips = 1 + (int)tu_uniform(&r, 0, 8);
        for (int k = 0; k < flips; k++) {
            size_t at = (size_t)tu_uniform(&r, 0, (float)len);
            if (it % 2 == 0) at = (at / 512) * 512 + (size_t)tu_uniform(&r, 100, 160); /* header */
            if (at < len) d[at] = (unsigned char)tu_uniform(&r, 0, 256);
        }
        if (it % 3 == 0) n = (size_t)tu_uniform(&r, 0, (float)len);
        write_file(in_dir("fuzz.tar"), d, n);
        climp_data_options o = {0};
        o.spec = in_dir("fuzz.tar");
        o.image_size = 4;
        climp_dataset *ds;
        climp_status s = climp_dataset_open(&o, &ds);
        if (s != CLIMP_OK && s != CLIMP_ERR_FORMAT) bad++;
        if (s) continue;
        opened++;
        for (long i = 0; i < climp_dataset_size(ds); i++) {
            float img[48];
            char cap[16];
            s = climp_dataset_get(ds, i, 0, 1, img, cap, sizeof cap);
            if (s != CLIMP_OK && s != CLIMP_ERR_FORMAT && s != CLIMP_ERR_IO) bad++;
        }
        climp_dataset_close(ds);
    }
    tu_check(bad == 0 && opened > 50, "fuzzed shards: %d unexpected statuses, %d opened", bad,
             opened);
    free(orig);
    free(d);
}

static void test_tar(void) {
    char **v;
    int n;
    CLIMP_CHECK(climp_expand_pattern("d/{00000..00002}.tar", &v, &n));
    tu_check(n == 3 && !strcmp(v[0], "d/00000.tar") && !strcmp(v[2], "d/00002.tar"),
             "numeric range with padding");
    climp_data_free_strings(v, n);
    CLIMP_CHECK(climp_expand_pattern("{a,b}{1..2}.tar,z.tar,{3..1}", &v, &n));
    tu_check(n == 8 && !strcmp(v[0], "a1.tar") && !strcmp(v[3], "b2.tar") &&
                 !strcmp(v[4], "z.tar") && !strcmp(v[5], "3") && !strcmp(v[7], "1"),
             "alternatives, comma list, descending range (%d)", n);
    climp_data_free_strings(v, n);
    tu_check(climp_expand_pattern("x/{0..99999999}.tar", &v, &n) == CLIMP_ERR_INVALID_ARG,
             "huge range refused");

    FILE *f = fopen(in_dir("shard-00.tar"), "wb");
    tar_add_png(f, "000000.png", 255, 0, 0);
    tar_add(f, "000000.txt", "a red square\n", 13);
    tar_add(f, "000000.json", "{}", 2);
    tar_add(f, "000001.txt", "  green  ", 9);
    tar_add_png(f, "000001.png", 0, 255, 0);
    long cut = ftell(f) + 512 + 20; /* inside the next png */
    tar_add_png(f, "sub/000002.png", 0, 0, 255);
    tar_add(f, "sub/000002.txt", "blue one", 8);
    static const unsigned char zero[1024];
    fwrite(zero, 1, 1024, f);
    fclose(f);
    f = fopen(in_dir("shard-01.tar"), "wb");
    tar_add(f, "000003.webp", "RIFF", 4);
    tar_add(f, "000003.txt", "webp", 4);
    tar_add_png(f, "000004.png", 1, 2, 3);
    tar_add(f, "../evil.png", "x", 1);
    tar_add(f, "a/../../evil.txt", "x", 1);
    tar_add(f, "/etc/x.png", "x", 1);
    tar_add_png(f, "./000005.png", 9, 9, 9);
    tar_add(f, "./000005.txt", "five", 4);
    char longname[200];
    memset(longname, 'd', 150);
    strcpy(longname + 150, "/000006.png");
    tar_add_png(f, longname, 7, 7, 7);
    strcpy(longname + 150, "/000006.txt");
    tar_add(f, longname, "long name", 9);
    tar_header(f, "PaxHeaders.0/x", 19, 'x'); /* a pax header renaming the next member */
    fwrite("19 path=000007.png\n", 1, 19, f);
    fwrite(zero, 1, 512 - 19, f);
    tar_add_png(f, "renamed-by-pax.png", 5, 5, 5);
    tar_add(f, "000007.txt", "pax", 3);
    fclose(f); /* no end-of-archive blocks: fine */

    climp_data_options o = {0};
    char pattern[256];
    snprintf(pattern, sizeof pattern, "%s/shard-{00..01}.tar", g_dir);
    o.spec = pattern;
    o.image_size = 4;
    climp_dataset *ds;
    climp_status s = climp_dataset_open(&o, &ds);
    tu_check(s == CLIMP_OK, "tar dataset: %s", climp_error_detail());
    if (s) return;
    climp_data_stats st;
    climp_dataset_stats(ds, &st);
    tu_check(climp_dataset_size(ds) == 6 && st.rows == 8 && st.samples_webp == 1 &&
                 st.samples_incomplete == 1 && st.members_unsafe == 3 && st.shards_bad == 0,
             "tar stats: n %ld keys %ld webp %ld incomplete %ld unsafe %ld bad %ld",
             climp_dataset_size(ds), st.rows, st.samples_webp, st.samples_incomplete,
             st.members_unsafe, st.shards_bad);
    const char *caps[] = {"a red square", "green", "blue one", "five", "long name", "pax"};
    uint8_t red[] = {255, 0, 0, 9, 7, 5}, green[] = {0, 255, 0, 9, 7, 5};
    long rows[] = {0, 1, 2, 5, 6, 7};
    for (long i = 0; i < 6 && i < climp_dataset_size(ds); i++) {
        float img[4 * 4 * 3];
        char cap[32];
        s = climp_dataset_get(ds, i, 0, 0, img, cap, sizeof cap);
        float r = (red[i] / 255.0f - climp_image_mean[0]) / climp_image_std[0];
        float g = (green[i] / 255.0f - climp_image_mean[1]) / climp_image_std[1];
        tu_check(s == CLIMP_OK && !strcmp(cap, caps[i]) && fabsf(img[0] - r) < 1e-6f &&
                     fabsf(img[1] - g) < 1e-6f,
                 "tar sample %ld: %s caption '%s'", i, climp_status_name(s), cap);
        tu_check(climp_dataset_row(ds, i) == rows[i], "tar row of %ld = %ld", i,
                 climp_dataset_row(ds, i));
    }
    climp_dataset_close(ds);

    /* a truncated copy of shard 0, a member larger than the archive, a bad checksum */
    size_t len;
    unsigned char *d = file_bytes(in_dir("shard-00.tar"), &len);
    write_file(in_dir("trunc.tar"), d, (size_t)cut);
    climp_tar_index *t = open_tar(in_dir("trunc.tar"), 2, 1);
    climp_tar_close(t);
    f = fopen(in_dir("big.tar"), "wb");
    tar_add_png(f, "k0.png", 1, 1, 1);
    tar_add(f, "k0.txt", "zero", 4);
    tar_header(f, "k1.png", 1ull << 30, '0');
    fwrite(d, 1, 600, f);
    fclose(f);
    t = open_tar(in_dir("big.tar"), 1, 1);
    climp_tar_close(t);
    d[5] = 'X'; /* first header's name changes: the checksum no longer matches */
    write_file(in_dir("cksum.tar"), d, len);
    climp_error_clear();
    s = climp_tar_open(in_dir("cksum.tar"), &t);
    tu_check(s == CLIMP_ERR_FORMAT && strstr(climp_error_detail(), "1 bad"),
             "corrupt first header: %s '%s'", climp_status_name(s), climp_error_detail());
    free(d);
    fuzz_tar(in_dir("shard-00.tar"));
    climp_tar_index *none = (climp_tar_index *)1;
    snprintf(pattern, sizeof pattern, "%s/none-{0..2}.tar", g_dir);
    climp_error_clear();
    s = climp_tar_open(pattern, &none);
    tu_check(s == CLIMP_ERR_FORMAT && none == NULL && strstr(climp_error_detail(), "3 bad"),
             "all shards missing: %s '%s'", climp_status_name(s), climp_error_detail());
}

int main(void) {
    climp_log_set_level(CLIMP_LOG_ERROR);
    snprintf(g_dir, sizeof g_dir, "/tmp/climp_data_XXXXXX");
    if (!mkdtemp(g_dir)) return 1;
    test_synth();
    test_tsv();
    test_tar();
    nftw(g_dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
    printf("synthetic grid: /tmp/synth_grid.png (captions in /tmp/synth_grid.txt)\n");
    return tu_finish("test_data");
}
