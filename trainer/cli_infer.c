/* Inference commands: `climp eval` (retrieval recall@{1,5,10} both ways, zero-shot accuracy),
 * `climp embed` (.npy embeddings of a dataset, or an index of an image folder), `climp search`
 * (top-k images of an index for a text query) and `climp zeroshot` (class probabilities). */
#define _POSIX_C_SOURCE 200809L
#include "trainer/cli.h"
#include "trainer/session.h"

#include "model/safetensors.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

typedef struct infer_opts {
    const char *model, *data, *out, *index, *classes, *json, *tokenizer, *device, *images;
    const char *templates, *csv_sep, *img_key, *cap_key;
    int image_size, batch, top; /* image_size 0: image files at their own size, datasets 64 */
    long limit;
} infer_opts;

typedef struct infer_session {
    climp_ctx *ctx;
    climp_model *model;
    climp_tokenizer *tok;
} infer_session;

static void session_close(infer_session *s) {
    climp_tokenizer_free(s->tok);
    climp_model_destroy(s->model);
    climp_ctx_close(s->ctx);
}

static climp_status session_open(const infer_opts *o, infer_session *se) {
    memset(se, 0, sizeof(*se));
    char file[1200];
    climp_config cfg;
    CLIMP_TRY(climp_ckpt_model_file(o->model, file, sizeof(file)));
    CLIMP_TRY(climp_checkpoint_config(file, &cfg));
    climp_ctx_options co = {0};
    co.device = o->device;
    CLIMP_TRY(climp_ctx_open(&co, &se->ctx));
    CLIMP_TRY(climp_model_create(se->ctx, &cfg, 0, &se->model));
    CLIMP_TRY(climp_model_load(se->model, file));
    /* The tokenizer recorded in the checkpoint, unless --tokenizer overrides it. */
    char tk[1024] = "bytes";
    climp_st_file *f = NULL;
    if (o->tokenizer) {
        snprintf(tk, sizeof(tk), "%s", o->tokenizer);
    } else if (climp_st_open(file, &f) == CLIMP_OK) {
        const char *t = climp_st_metadata(f, "tokenizer");
        if (t) snprintf(tk, sizeof(tk), "%s", t);
        climp_st_close(f);
    }
    CLIMP_TRY(climp_tokenizer_open(tk, &se->tok));
    return CLIMP_OK;
}

static int parse(int argc, char **argv, infer_opts *o, const char *cmd, const char *help,
                 char ***pos, int *npos) {
    memset(o, 0, sizeof(*o));
    o->image_size = 0;
    o->batch = 32;
    o->top = 5;
    *npos = 0;
    *pos = calloc(argc, sizeof(char *));
    for (int i = 1; i < argc; i++) {
        long v;
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            printf("%s", help);
            return 0;
        }
        if (climp_opt_str(argc, argv, &i, "--model", &o->model)) continue;
        if (climp_opt_str(argc, argv, &i, "--data", &o->data)) continue;
        if (climp_opt_str(argc, argv, &i, "--out", &o->out)) continue;
        if (climp_opt_str(argc, argv, &i, "--index", &o->index)) continue;
        if (climp_opt_str(argc, argv, &i, "--images", &o->images)) continue;
        if (climp_opt_str(argc, argv, &i, "--classes", &o->classes)) continue;
        if (climp_opt_str(argc, argv, &i, "--templates", &o->templates)) continue;
        if (climp_opt_str(argc, argv, &i, "--json", &o->json)) continue;
        if (climp_opt_str(argc, argv, &i, "--tokenizer", &o->tokenizer)) continue;
        if (climp_opt_str(argc, argv, &i, "--device", &o->device)) continue;
        if (climp_opt_str(argc, argv, &i, "--csv-separator", &o->csv_sep)) {
            if (!climp_tsv_separator_valid(o->csv_sep)) {
                fprintf(stderr, "climp %s: --csv-separator '%s': give one byte, \"\\t\" or "
                        "\"tab\"\n", cmd, o->csv_sep);
                return 2;
            }
            continue;
        }
        if (climp_opt_str(argc, argv, &i, "--csv-img-key", &o->img_key)) continue;
        if (climp_opt_str(argc, argv, &i, "--csv-caption-key", &o->cap_key)) continue;
        if (climp_opt_int(argc, argv, &i, "--image-size", 8, 4096, &v)) { o->image_size = (int)v; continue; }
        if (climp_opt_int(argc, argv, &i, "--batch-size", 1, 65536, &v)) { o->batch = (int)v; continue; }
        if (climp_opt_int(argc, argv, &i, "--top", 1, 100000, &v)) { o->top = (int)v; continue; }
        if (climp_opt_int(argc, argv, &i, "--limit", 1, 1L << 40, &v)) { o->limit = v; continue; }
        if (argv[i][0] == '-' && argv[i][1] == '-') {
            fprintf(stderr, "climp %s: unknown option '%s' (try --help)\n", cmd, argv[i]);
            return 2;
        }
        (*pos)[(*npos)++] = argv[i];
    }
    if (!o->model) {
        fprintf(stderr, "climp %s: --model CKPT is required\n", cmd);
        return 2;
    }
    return -1;
}

static climp_status open_dataset(const infer_opts *o, climp_dataset **ds) {
    climp_data_options d = {0};
    char buf[64];
    const char *spec = o->data;
    if (!strcmp(spec, "synthetic")) spec = "synthetic:1000";
    if (!strncmp(spec, "synthetic", 9)) {
        snprintf(buf, sizeof(buf), "%s", spec);
        spec = buf;
        d.seed = climp_synth_eval_seed(1); /* the held-out set of `climp train --seed 1` */
    }
    d.spec = spec;
    d.csv_separator = o->csv_sep;
    d.img_key = o->img_key;
    d.caption_key = o->cap_key;
    d.image_size = o->image_size ? o->image_size : 64; /* synthetic data is drawn at this size */
    return climp_dataset_open(&d, ds);
}

/* ---------------------------------------------------------------- npy */
static climp_status write_npy(const char *path, const float *x, long rows, int cols) {
    FILE *f = fopen(path, "wb");
    if (!f) {
        climp_error_set("cannot write %s: %s", path, strerror(errno));
        return CLIMP_ERR_IO;
    }
    char hdr[128];
    int n = snprintf(hdr, sizeof(hdr), "{'descr': '<f4', 'fortran_order': False, 'shape': (%ld, %d), }",
                     rows, cols);
    int total = 10 + n + 1, pad = (64 - total % 64) % 64;
    unsigned short hl = (unsigned short)(n + pad + 1);
    fwrite("\x93NUMPY\x01\x00", 1, 8, f);
    fwrite(&hl, 2, 1, f);
    fwrite(hdr, 1, n, f);
    for (int i = 0; i < pad; i++) fputc(' ', f);
    fputc('\n', f);
    size_t cnt = (size_t)rows * cols;
    int ok = fwrite(x, sizeof(float), cnt, f) == cnt;
    ok = fclose(f) == 0 && ok;
    if (!ok) {
        climp_error_set("write error on %s", path);
        return CLIMP_ERR_IO;
    }
    return CLIMP_OK;
}

static climp_status read_npy(const char *path, float **x, long *rows, int *cols) {
    uint8_t *buf = NULL;
    size_t n = 0;
    CLIMP_TRY(climp_data_read_file(path, 0, &buf, &n));
    climp_status s = CLIMP_ERR_FORMAT;
    if (n >= 10 && !memcmp(buf, "\x93NUMPY", 6)) {
        size_t hl = buf[8] | (buf[9] << 8);
        if (10 + hl <= n) {
            char hdr[512];
            snprintf(hdr, sizeof(hdr), "%.*s", (int)(hl < 511 ? hl : 511), (char *)buf + 10);
            const char *sh = strstr(hdr, "'shape': (");
            long r = 0;
            int c = 0;
            if (strstr(hdr, "'<f4'") && sh && sscanf(sh + 10, "%ld, %d", &r, &c) == 2 && r >= 0 &&
                c > 0 && (size_t)r * c * 4 == n - 10 - hl) {
                *x = malloc((size_t)r * c * 4 + 4);
                if (*x) {
                    memcpy(*x, buf + 10 + hl, (size_t)r * c * 4);
                    *rows = r;
                    *cols = c;
                    s = CLIMP_OK;
                }
            }
        }
    }
    if (s) climp_error_set("%s is not a float32 2-D .npy file of the expected size", path);
    free(buf);
    return s;
}

/* ---------------------------------------------------------------- eval */
int climp_cmd_eval(int argc, char **argv) {
    infer_opts o;
    char **pos;
    int npos;
    int rc = parse(argc, argv, &o, "eval",
                   "usage: climp eval --model CKPT --data D [--json FILE] [--image-size S]\n"
                   "                  [--batch-size B] [--limit N] [--tokenizer T]\n\n"
                   "Retrieval recall@1/5/10 in both directions (CLIP_benchmark definitions: a\n"
                   "text->image query hits if its own image is among the top k) over the pairs of D\n"
                   "(synthetic[:N] = the held-out synthetic set, TSV/CSV, or tar shards).\n",
                   &pos, &npos);
    free(pos);
    if (rc >= 0) return rc;
    if (!o.data) {
        fprintf(stderr, "climp eval: --data D is required\n");
        return 2;
    }
    infer_session se;
    climp_dataset *ds = NULL;
    float *img = NULL, *txt = NULL;
    long n = 0;
    const char *what = "loading the model";
    climp_status s = session_open(&o, &se);
    if (!s) {
        what = "opening the data";
        s = open_dataset(&o, &ds);
    }
    if (!s) {
        what = "embedding";
        s = climp_embed_dataset(se.model, se.tok, ds, o.limit, o.batch, !o.image_size, &img, &txt,
                                    &n, 1);
    }
    if (!s) {
        climp_recall r;
        climp_recall_compute(img, txt, (int)n, climp_model_config(se.model)->embed_dim, &r);
        printf("retrieval over %ld pairs\n  text->image R@1 %.2f%%  R@5 %.2f%%  R@10 %.2f%%\n"
               "  image->text R@1 %.2f%%  R@5 %.2f%%  R@10 %.2f%%\n",
               n, 100 * r.t2i[0], 100 * r.t2i[1], 100 * r.t2i[2], 100 * r.i2t[0],
               100 * r.i2t[1], 100 * r.i2t[2]);
        if (o.json) {
            FILE *f = fopen(o.json, "w");
            if (!f) {
                climp_error_set("cannot write %s", o.json);
                s = CLIMP_ERR_IO;
                what = "writing JSON";
            } else {
                fprintf(f,
                        "{\"model\": \"%s\", \"data\": \"%s\", \"pairs\": %ld,\n"
                        " \"text_to_image\": {\"recall@1\": %.6f, \"recall@5\": %.6f, "
                        "\"recall@10\": %.6f},\n"
                        " \"image_to_text\": {\"recall@1\": %.6f, \"recall@5\": %.6f, "
                        "\"recall@10\": %.6f}}\n",
                        o.model, o.data, n, r.t2i[0], r.t2i[1], r.t2i[2], r.i2t[0], r.i2t[1],
                        r.i2t[2]);
                fclose(f);
            }
        }
    }
    if (s) climp_report_error(what, s);
    free(img);
    free(txt);
    climp_dataset_close(ds);
    session_close(&se);
    return s ? 1 : 0;
}

/* ---------------------------------------------------------------- images from files */
/* A decoded, normalised image: (h, w, 3) floats. With S > 0 resized to (S, S); with S = 0 at its
 * own size (VMamba has no position embedding: any resolution, square or not, runs). */
typedef struct file_image {
    int h, w;
    float *pix;
} file_image;

static climp_status load_image_file(const char *path, int S, file_image *out) {
    uint8_t *data = NULL;
    size_t n = 0;
    out->pix = NULL;
    CLIMP_TRY(climp_data_read_file(path, 0, &data, &n));
    climp_image im = {0};
    climp_status s = climp_image_decode(data, n, 0, path, &im);
    free(data);
    if (s) return s;
    climp_crop whole = {0, 0, im.w, im.h};
    out->h = S ? S : im.h;
    out->w = S ? S : im.w;
    out->pix = malloc(sizeof(float) * (size_t)out->h * out->w * 3);
    if (!out->pix) {
        climp_image_free(&im);
        return CLIMP_ERR_HOST_OOM;
    }
    if (S) {
        climp_image_resize_normalize(im.rgb, im.w, im.h, whole, S, out->pix);
    } else {
        climp_image_normalize(im.rgb, im.w, im.h, out->pix);
    }
    climp_image_free(&im);
    return CLIMP_OK;
}

static int is_image_name(const char *n) {
    const char *d = strrchr(n, '.');
    if (!d) return 0;
    static const char *ext[] = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".JPG", ".JPEG", ".PNG"};
    for (size_t i = 0; i < sizeof(ext) / sizeof(ext[0]); i++)
        if (!strcmp(d, ext[i])) return 1;
    return 0;
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Embeds image files in batches of consecutive images of one size (all of them with S > 0);
 * unreadable files are skipped and counted (the kept paths stay in order). */
static climp_status embed_files(infer_session *se, char **paths, int n, int S, int batch,
                                float *emb, int *kept, char **kept_paths) {
    int Ed = climp_model_config(se->model)->embed_dim, k = 0, bad = 0;
    file_image *im = calloc(batch, sizeof(file_image));
    float *pix = NULL;
    size_t pix_cap = 0;
    if (!im) return CLIMP_ERR_HOST_OOM;
    climp_status s = CLIMP_OK;
    climp_progress pg;
    climp_progress_init(&pg);
    file_image next = {0};
    int have_next = 0;
    for (int i = 0; !s && (i < n || have_next);) {
        int B = 0;
        while (B < batch && (have_next || i < n)) {
            if (!have_next) {
                if (load_image_file(paths[i], S, &next) != CLIMP_OK) {
                    climp_log(CLIMP_LOG_WARN, "skipping %s: %s", paths[i], climp_error_detail());
                    bad++;
                    i++;
                    continue;
                }
                kept_paths[k + B] = paths[i];
                have_next = 1;
                i++;
            }
            if (B && (next.h != im[0].h || next.w != im[0].w)) break; /* another size */
            im[B++] = next;
            have_next = 0;
        }
        if (!B) break;
        size_t one = (size_t)im[0].h * im[0].w * 3;
        if (one * B > pix_cap) {
            free(pix);
            pix_cap = one * B;
            if (!(pix = malloc(sizeof(float) * pix_cap))) s = CLIMP_ERR_HOST_OOM;
        }
        for (int b = 0; !s && b < B; b++) memcpy(pix + one * b, im[b].pix, one * sizeof(float));
        if (!s)
            s = climp_model_embed_images(se->model, B, im[0].h, im[0].w, pix,
                                         emb + (size_t)k * Ed);
        for (int b = 0; b < B; b++) free(im[b].pix);
        k += B;
        if (n > batch) climp_progress_update(&pg, "embed", i, n, 1, "images", NULL);
    }
    if (have_next) free(next.pix);
    if (n > batch) climp_progress_done(&pg);
    if (bad) climp_log(CLIMP_LOG_WARN, "%d image(s) skipped (unreadable)", bad);
    free(pix);
    free(im);
    *kept = k;
    return s;
}

/* ---------------------------------------------------------------- embed */
int climp_cmd_embed(int argc, char **argv) {
    infer_opts o;
    char **pos;
    int npos;
    int rc = parse(argc, argv, &o, "embed",
                   "usage: climp embed --model CKPT --data D.tsv --out DIR\n"
                   "       climp embed --model CKPT --images FOLDER --out DIR\n\n"
                   "With --data: DIR/image_embeddings.npy and DIR/text_embeddings.npy, float32,\n"
                   "one L2-normalised row per pair in file order. With --images: an index of the\n"
                   "image files of FOLDER (DIR/image_embeddings.npy + DIR/index.tsv) for search.\n"
                   "Options: --image-size S (resize to S x S; default: every image at its own\n"
                   "size, square or not; synthetic data is drawn at 64), --batch-size B,\n"
                   "--tokenizer T, --limit N.\n",
                   &pos, &npos);
    free(pos);
    if (rc >= 0) return rc;
    if (!o.out || (!o.data == !o.images)) {
        fprintf(stderr, "climp embed: give --out DIR and exactly one of --data / --images\n");
        return 2;
    }
    if (mkdir(o.out, 0755) && errno != EEXIST) {
        fprintf(stderr, "climp embed: cannot create %s: %s\n", o.out, strerror(errno));
        return 2;
    }
    infer_session se;
    const char *what = "loading the model";
    climp_status s = session_open(&o, &se);
    char path[1200];
    double t0 = climp_now_seconds();
    long count = 0;
    if (!s && o.data) {
        climp_dataset *ds = NULL;
        float *img = NULL, *txt = NULL;
        what = "opening the data";
        s = open_dataset(&o, &ds);
        if (!s) {
            what = "embedding";
            s = climp_embed_dataset(se.model, se.tok, ds, o.limit, o.batch, !o.image_size, &img,
                                    &txt, &count, 1);
        }
        int Ed = climp_model_config(se.model)->embed_dim;
        snprintf(path, sizeof(path), "%s/image_embeddings.npy", o.out);
        if (!s) s = write_npy(path, img, count, Ed);
        snprintf(path, sizeof(path), "%s/text_embeddings.npy", o.out);
        if (!s) s = write_npy(path, txt, count, Ed);
        free(img);
        free(txt);
        climp_dataset_close(ds);
    } else if (!s) {
        what = "indexing images";
        DIR *d = opendir(o.images);
        char **paths = NULL;
        int n = 0, cap = 0;
        if (!d) {
            climp_error_set("cannot open folder %s: %s", o.images, strerror(errno));
            s = CLIMP_ERR_IO;
        }
        struct dirent *e;
        while (d && (e = readdir(d))) {
            if (!is_image_name(e->d_name)) continue;
            if (n == cap) {
                cap = cap ? cap * 2 : 64;
                paths = realloc(paths, sizeof(char *) * cap);
            }
            size_t len = strlen(o.images) + strlen(e->d_name) + 2;
            paths[n] = malloc(len);
            snprintf(paths[n], len, "%s/%s", o.images, e->d_name);
            n++;
        }
        if (d) closedir(d);
        if (paths) qsort(paths, n, sizeof(char *), cmp_str);
        int Ed = climp_model_config(se.model)->embed_dim, kept = 0;
        float *emb = malloc(sizeof(float) * (size_t)(n ? n : 1) * Ed);
        char **kp = calloc(n ? n : 1, sizeof(char *));
        if (!s) s = embed_files(&se, paths, n, o.image_size, o.batch, emb, &kept, kp);
        snprintf(path, sizeof(path), "%s/image_embeddings.npy", o.out);
        if (!s) s = write_npy(path, emb, kept, Ed);
        snprintf(path, sizeof(path), "%s/index.tsv", o.out);
        FILE *f = s ? NULL : fopen(path, "w");
        if (!s && !f) s = CLIMP_ERR_IO;
        if (f) {
            fprintf(f, "filepath\n");
            for (int i = 0; i < kept; i++) fprintf(f, "%s\n", kp[i]);
            fclose(f);
        }
        count = kept;
        for (int i = 0; i < n; i++) free(paths[i]);
        free(paths);
        free(kp);
        free(emb);
    }
    if (s) {
        climp_report_error(what, s);
    } else {
        double dt = climp_now_seconds() - t0;
        fprintf(stderr, "climp embed: %ld rows in %.2f s (%.1f/s) -> %s\n", count, dt,
                count / (dt > 0 ? dt : 1e-9), o.out);
    }
    session_close(&se);
    return s ? 1 : 0;
}

/* ---------------------------------------------------------------- search */
static climp_status embed_text(infer_session *se, const char *text, float *emb) {
    climp_text_batch tb = {0};
    char *caps[1] = {(char *)text};
    CLIMP_TRY(climp_text_batch_fill(&tb, se->tok, caps, 1));
    climp_status s = climp_model_embed_texts(se->model, 1, tb.Lmax, tb.tokens, tb.lengths, emb);
    climp_text_batch_free(&tb);
    return s;
}

int climp_cmd_search(int argc, char **argv) {
    infer_opts o;
    char **pos;
    int npos;
    int rc = parse(argc, argv, &o, "search",
                   "usage: climp search --model CKPT --index DIR [--top K] \"a text query\"\n\n"
                   "Prints the K images of an index made by 'climp embed --images' closest to the\n"
                   "query, with cosine similarity.\n",
                   &pos, &npos);
    if (rc >= 0 || !o.index || npos != 1) {
        free(pos);
        if (rc < 0) fprintf(stderr, "climp search: give --index DIR and one query\n");
        return rc >= 0 ? rc : 2;
    }
    const char *query = pos[0];
    free(pos);
    infer_session se;
    const char *what = "loading the model";
    climp_status s = session_open(&o, &se);
    float *idx = NULL, q[4096];
    long rows = 0;
    int cols = 0;
    char path[1200];
    snprintf(path, sizeof(path), "%s/image_embeddings.npy", o.index);
    if (!s) {
        what = "reading the index";
        s = read_npy(path, &idx, &rows, &cols);
    }
    if (!s && cols != climp_model_config(se.model)->embed_dim) {
        climp_error_set("index %s has %d columns but the model embeds to %d", path, cols,
                        climp_model_config(se.model)->embed_dim);
        s = CLIMP_ERR_FORMAT;
    }
    char **names = NULL;
    if (!s) {
        snprintf(path, sizeof(path), "%s/index.tsv", o.index);
        FILE *f = fopen(path, "r");
        names = calloc(rows ? rows : 1, sizeof(char *));
        char line[4096];
        long i = -1;
        while (f && fgets(line, sizeof(line), f) && i < rows) {
            line[strcspn(line, "\r\n")] = 0;
            if (i >= 0) names[i] = strdup(line);
            i++;
        }
        if (f) fclose(f);
        if (i != rows) {
            climp_error_set("%s does not list %ld images", path, rows);
            s = CLIMP_ERR_FORMAT;
        }
    }
    if (!s) {
        what = "embedding the query";
        s = embed_text(&se, query, q);
    }
    if (!s) {
        int top = o.top < rows ? o.top : (int)rows;
        int *used = calloc(rows ? rows : 1, sizeof(int));
        printf("query: %s\n", query);
        for (int k = 0; k < top; k++) {
            long best = -1;
            double bs = -1e30;
            for (long i = 0; i < rows; i++) {
                if (used[i]) continue;
                double d = 0;
                for (int c = 0; c < cols; c++) d += (double)q[c] * idx[(size_t)i * cols + c];
                if (d > bs) {
                    bs = d;
                    best = i;
                }
            }
            used[best] = 1;
            printf("%2d. %.4f  %s\n", k + 1, bs, names[best]);
        }
        free(used);
    }
    if (s) climp_report_error(what, s);
    for (long i = 0; names && i < rows; i++) free(names[i]);
    free(names);
    free(idx);
    session_close(&se);
    return s ? 1 : 0;
}

/* ---------------------------------------------------------------- zero-shot */
static const char *k_templates[] = {"a photo of a {}.", "a picture of a {}.", "an image of a {}.",
                                    "{}"};

int climp_cmd_zeroshot(int argc, char **argv) {
    infer_opts o;
    char **pos;
    int npos;
    int rc = parse(argc, argv, &o, "zeroshot",
                   "usage: climp zeroshot --model CKPT --classes \"cat,dog,...\" IMAGE...\n\n"
                   "Class probabilities per image: each class is embedded with prompt templates\n"
                   "(\"a photo of a {}.\" ...), averaged and re-normalised (CLIP_benchmark), and\n"
                   "scored with the model's learned temperature.\n",
                   &pos, &npos);
    if (rc >= 0 || !o.classes || npos < 1) {
        free(pos);
        if (rc < 0) fprintf(stderr, "climp zeroshot: give --classes and at least one image\n");
        return rc >= 0 ? rc : 2;
    }
    infer_session se;
    const char *what = "loading the model";
    climp_status s = session_open(&o, &se);
    char *list = strdup(o.classes), *names[1024];
    int nc = 0;
    for (char *t = strtok(list, ","); t && nc < 1024; t = strtok(NULL, ",")) names[nc++] = t;
    int Ed = s ? 0 : climp_model_config(se.model)->embed_dim;
    float *cls = calloc((size_t)(nc ? nc : 1) * (Ed ? Ed : 1), sizeof(float));
    float tmp[4096], scale = 0;
    int nt = (int)(sizeof(k_templates) / sizeof(k_templates[0]));
    what = "embedding the classes";
    for (int c = 0; !s && c < nc; c++) {
        for (int t = 0; !s && t < nt; t++) {
            char prompt[1024];
            const char *at = strstr(k_templates[t], "{}");
            snprintf(prompt, sizeof(prompt), "%.*s%s%s", (int)(at - k_templates[t]),
                     k_templates[t], names[c], at + 2);
            s = embed_text(&se, prompt, tmp);
            for (int d = 0; d < Ed; d++) cls[(size_t)c * Ed + d] += tmp[d];
        }
        double nrm = 0;
        for (int d = 0; d < Ed; d++) nrm += (double)cls[(size_t)c * Ed + d] * cls[(size_t)c * Ed + d];
        for (int d = 0; d < Ed; d++) cls[(size_t)c * Ed + d] /= (float)sqrt(nrm > 0 ? nrm : 1);
    }
    if (!s) s = climp_view_read(se.ctx, climp_model_param(se.model, "logit_scale"), &scale, 1);
    for (int i = 0; !s && i < npos; i++) {
        file_image im = {0};
        what = "reading an image";
        s = load_image_file(pos[i], o.image_size, &im);
        if (!s) {
            what = "embedding an image";
            s = climp_model_embed_images(se.model, 1, im.h, im.w, im.pix, tmp);
        }
        free(im.pix);
        if (s) break;
        double logit[1024], mx = -1e30, sum = 0;
        for (int c = 0; c < nc; c++) {
            double d = 0;
            for (int k = 0; k < Ed; k++) d += (double)tmp[k] * cls[(size_t)c * Ed + k];
            logit[c] = exp(scale) * d;
            if (logit[c] > mx) mx = logit[c];
        }
        for (int c = 0; c < nc; c++) sum += exp(logit[c] - mx);
        printf("%s\n", pos[i]);
        for (int c = 0; c < nc; c++) printf("  %-24s %.4f\n", names[c], exp(logit[c] - mx) / sum);
    }
    if (s) climp_report_error(what, s);
    free(cls);
    free(list);
    free(pos);
    session_close(&se);
    return s ? 1 : 0;
}
