/* Caption batches, checkpoint folders, retrieval metrics, dataset embedding and the progress
 * line; see trainer/session.h. */
#define _POSIX_C_SOURCE 200809L
#include "trainer/session.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "model/safetensors.h"

/* ------------------------------------------------------------------ text batches */
climp_status climp_text_batch_fill(climp_text_batch *tb, const climp_tokenizer *tok,
                                   char *const *captions, int B) {
    if (tb->cap <= 1) tb->cap = 256;
    int32_t *ids = malloc(sizeof(int32_t) * (size_t)B * tb->cap);
    int32_t *len = malloc(sizeof(int32_t) * (size_t)B);
    if (!ids || !len) {
        free(ids);
        free(len);
        return CLIMP_ERR_HOST_OOM;
    }
    int Lmax = 1;
    for (int b = 0; b < B; b++) {
        size_t n = 0;
        climp_status s = climp_tokenizer_encode(tok, captions[b], CLIMP_TOKENIZER_CSTR, 1,
                                                ids + (size_t)b * tb->cap, tb->cap, &n);
        if (s) {
            free(ids);
            free(len);
            return s;
        }
        if (n > (size_t)tb->cap) {
            /* Cut, keeping the end-of-text token last (pooling reads it). */
            ids[(size_t)b * tb->cap + tb->cap - 1] = climp_tokenizer_eot_id(tok);
            n = (size_t)tb->cap;
            tb->truncated++;
        }
        len[b] = (int32_t)(n ? n : 1);
        if (!n) ids[(size_t)b * tb->cap] = climp_tokenizer_eot_id(tok);
        if (len[b] > Lmax) Lmax = len[b];
    }
    free(tb->tokens);
    free(tb->lengths);
    tb->tokens = malloc(sizeof(int32_t) * (size_t)B * Lmax);
    tb->lengths = len;
    if (!tb->tokens) {
        free(ids);
        return CLIMP_ERR_HOST_OOM;
    }
    int pad = climp_tokenizer_pad_id(tok);
    for (int b = 0; b < B; b++)
        for (int t = 0; t < Lmax; t++)
            tb->tokens[(size_t)b * Lmax + t] = t < len[b] ? ids[(size_t)b * tb->cap + t] : pad;
    free(ids);
    tb->B = B;
    tb->Lmax = Lmax;
    return CLIMP_OK;
}

void climp_text_batch_free(climp_text_batch *tb) {
    free(tb->tokens);
    free(tb->lengths);
    tb->tokens = NULL;
    tb->lengths = NULL;
}

/* ------------------------------------------------------------------ checkpoints */
static int fsync_path(const char *path) {
    int fd = open(path, O_RDONLY);
    if (fd < 0) return -1;
    int r = fsync(fd);
    close(fd);
    return r;
}

static climp_status write_atomic(const char *path, const char *text) {
    char tmp[1200];
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f) {
        climp_error_set("cannot write %s: %s", tmp, strerror(errno));
        return CLIMP_ERR_IO;
    }
    int ok = fputs(text, f) >= 0 && fflush(f) == 0 && fsync(fileno(f)) == 0;
    ok = fclose(f) == 0 && ok;
    if (!ok || rename(tmp, path)) {
        climp_error_set("cannot write %s: %s", path, strerror(errno));
        unlink(tmp);
        return CLIMP_ERR_IO;
    }
    return CLIMP_OK;
}

static void remove_tree(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    char p[1200];
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
        unlink(p);
    }
    closedir(d);
    rmdir(dir);
}

/* Removes ckpt-*.del folders that a killed run left while pruning. */
static void remove_leftovers(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    char names[16][256];
    int n = 0;
    while ((e = readdir(d)) && n < 16) {
        size_t len = strlen(e->d_name);
        if (!strncmp(e->d_name, "ckpt-", 5) && len > 9 && len < 256 &&
            !strcmp(e->d_name + len - 4, ".del"))
            memcpy(names[n++], e->d_name, len + 1);
    }
    closedir(d);
    for (int i = 0; i < n; i++) {
        char p[1300];
        int w = snprintf(p, sizeof(p), "%s/%s", dir, names[i]);
        if (w > 0 && (size_t)w < sizeof(p)) remove_tree(p);
    }
}

static int cmp_long_desc(const void *a, const void *b) {
    long x = *(const long *)a, y = *(const long *)b;
    return (x < y) - (x > y);
}

/* Steps of the ckpt-<step> folders in dir, newest first. */
static int list_ckpts(const char *dir, long *steps, int max) {
    DIR *d = opendir(dir);
    if (!d) return 0;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < max) {
        char *end;
        if (strncmp(e->d_name, "ckpt-", 5)) continue;
        long s = strtol(e->d_name + 5, &end, 10);
        if (*end == 0 && end != e->d_name + 5) steps[n++] = s;
    }
    closedir(d);
    qsort(steps, n, sizeof(long), cmp_long_desc);
    return n;
}

climp_status climp_ckpt_save(const char *dir, climp_model *m, climp_optimizer *o,
                             const climp_train_state *st, const char *tokenizer, int keep) {
    if (mkdir(dir, 0755) && errno != EEXIST) {
        climp_error_set("cannot create save folder %s: %s", dir, strerror(errno));
        return CLIMP_ERR_IO;
    }
    char tmp[1024], fin[1024], path[1100];
    snprintf(tmp, sizeof(tmp), "%s/ckpt-%ld.tmp", dir, st->step);
    snprintf(fin, sizeof(fin), "%s/ckpt-%ld", dir, st->step);
    remove_tree(tmp);
    if (mkdir(tmp, 0755)) {
        climp_error_set("cannot create %s: %s", tmp, strerror(errno));
        return CLIMP_ERR_IO;
    }
    uint32_t crc_m = 0, crc_o = 0;
    char stepstr[32];
    snprintf(stepstr, sizeof(stepstr), "%ld", st->step);
    const char *meta[] = {"step", stepstr, "tokenizer", tokenizer ? tokenizer : "bytes", NULL};
    snprintf(path, sizeof(path), "%s/model.safetensors", tmp);
    climp_status s = climp_model_save(m, path, meta, &crc_m);
    snprintf(path, sizeof(path), "%s/optimizer.safetensors", tmp);
    if (!s && o) s = climp_optimizer_save(o, path, &crc_o);
    if (!s) {
        cJSON *j = cJSON_CreateObject();
        cJSON_AddNumberToObject(j, "step", (double)st->step);
        cJSON_AddNumberToObject(j, "epoch", st->epoch);
        cJSON_AddNumberToObject(j, "cursor", (double)st->cursor);
        cJSON_AddNumberToObject(j, "skipped", (double)st->skipped);
        cJSON_AddNumberToObject(j, "nan_skips", (double)st->nan_skips);
        cJSON_AddNumberToObject(j, "world_size", st->world > 0 ? st->world : 1);
        if (st->batch > 0) cJSON_AddNumberToObject(j, "batch_size", (double)st->batch);
        char seed[32];
        snprintf(seed, sizeof(seed), "%llu", (unsigned long long)st->seed);
        cJSON_AddStringToObject(j, "seed", seed);
        cJSON_AddNumberToObject(j, "model_crc32", crc_m);
        cJSON_AddNumberToObject(j, "optimizer_crc32", o ? crc_o : 0);
        cJSON_AddBoolToObject(j, "has_optimizer", o != NULL);
        cJSON_AddStringToObject(j, "tokenizer", tokenizer ? tokenizer : "bytes");
        char *txt = cJSON_Print(j);
        cJSON_Delete(j);
        snprintf(path, sizeof(path), "%s/state.json", tmp);
        s = txt ? write_atomic(path, txt) : CLIMP_ERR_HOST_OOM;
        free(txt);
    }
    if (!s) {
        fsync_path(tmp); /* the folder's entries, before it becomes visible */
        remove_tree(fin);
        if (rename(tmp, fin)) {
            climp_error_set("cannot rename %s to %s: %s", tmp, fin, strerror(errno));
            s = CLIMP_ERR_IO;
        }
    }
    if (!s) {
        fsync_path(dir);
        snprintf(path, sizeof(path), "%s/latest", dir);
        char name[64];
        snprintf(name, sizeof(name), "ckpt-%ld\n", st->step);
        s = write_atomic(path, name);
        fsync_path(dir);
    }
    long steps[4096];
    int n = list_ckpts(dir, steps, 4096);
    if (s) {
        remove_tree(tmp); /* the previous checkpoint stays valid: say which one */
        long prev = -1;
        for (int i = 0; i < n && prev < 0; i++)
            if (steps[i] != st->step) prev = steps[i];
        if (prev >= 0)
            climp_error_set("%s; the previous checkpoint %s/ckpt-%ld is intact",
                            climp_error_detail(), dir, prev);
        else
            climp_error_set("%s; no earlier checkpoint exists in %s", climp_error_detail(), dir);
        return s;
    }
    /* Old checkpoints go by an atomic rename first, so a run killed while deleting one never
     * leaves a half-deleted ckpt-<step> behind (leftover *.del folders are removed next time). */
    for (int i = keep > 0 ? keep : n; i < n; i++) {
        char del[1200];
        snprintf(path, sizeof(path), "%s/ckpt-%ld", dir, steps[i]);
        snprintf(del, sizeof(del), "%s.del", path);
        remove_tree(del);
        if (rename(path, del) == 0) remove_tree(del);
    }
    remove_leftovers(dir);
    return CLIMP_OK;
}

static char *slurp(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *b = malloc(1 << 16);
    size_t n = b ? fread(b, 1, (1 << 16) - 1, f) : 0;
    fclose(f);
    if (b) b[n] = 0;
    return b;
}

static climp_status verify_ckpt(const char *ck, climp_train_state *st) {
    char path[1200];
    snprintf(path, sizeof(path), "%s/state.json", ck);
    char *txt = slurp(path);
    cJSON *j = txt ? cJSON_Parse(txt) : NULL;
    free(txt);
    if (!j) {
        climp_error_set("%s is missing or not JSON", path);
        return CLIMP_ERR_FORMAT;
    }
    const cJSON *seed = cJSON_GetObjectItem(j, "seed");
    memset(st, 0, sizeof(*st));
    st->step = (long)cJSON_GetNumberValue(cJSON_GetObjectItem(j, "step"));
    st->epoch = (int)cJSON_GetNumberValue(cJSON_GetObjectItem(j, "epoch"));
    st->cursor = (long)cJSON_GetNumberValue(cJSON_GetObjectItem(j, "cursor"));
    st->skipped = (long)cJSON_GetNumberValue(cJSON_GetObjectItem(j, "skipped"));
    st->nan_skips = (long)cJSON_GetNumberValue(cJSON_GetObjectItem(j, "nan_skips"));
    st->seed = cJSON_IsString(seed) ? strtoull(seed->valuestring, NULL, 10) : 0;
    st->world = (int)cJSON_GetNumberValue(cJSON_GetObjectItem(j, "world_size"));
    st->batch = (long)cJSON_GetNumberValue(cJSON_GetObjectItem(j, "batch_size"));
    if (st->world < 0 || st->world > 1000000) st->world = 0; /* NaN casts or absurd values */
    if (st->batch < 0) st->batch = 0;
    uint32_t want_m = (uint32_t)cJSON_GetNumberValue(cJSON_GetObjectItem(j, "model_crc32"));
    uint32_t want_o = (uint32_t)cJSON_GetNumberValue(cJSON_GetObjectItem(j, "optimizer_crc32"));
    int has_o = cJSON_IsTrue(cJSON_GetObjectItem(j, "has_optimizer"));
    cJSON_Delete(j);
    uint32_t crc = 0;
    snprintf(path, sizeof(path), "%s/model.safetensors", ck);
    CLIMP_TRY(climp_file_crc32(path, &crc));
    if (crc != want_m) {
        climp_error_set("%s: CRC32 %08x does not match the recorded %08x (corrupt or truncated)",
                        path, crc, want_m);
        return CLIMP_ERR_CORRUPT;
    }
    if (has_o) {
        snprintf(path, sizeof(path), "%s/optimizer.safetensors", ck);
        CLIMP_TRY(climp_file_crc32(path, &crc));
        if (crc != want_o) {
            climp_error_set("%s: CRC32 %08x does not match the recorded %08x (corrupt or "
                            "truncated)",
                            path, crc, want_o);
            return CLIMP_ERR_CORRUPT;
        }
    }
    return CLIMP_OK;
}

climp_status climp_ckpt_find_latest(const char *dir, char *path, size_t path_size,
                                    climp_train_state *st) {
    long steps[4096];
    int n = list_ckpts(dir, steps, 4096);
    for (int i = 0; i < n; i++) {
        snprintf(path, path_size, "%s/ckpt-%ld", dir, steps[i]);
        climp_status s = verify_ckpt(path, st);
        if (s == CLIMP_OK) return CLIMP_OK;
        climp_log(CLIMP_LOG_WARN, "skipping checkpoint %s: %s", path, climp_error_detail());
    }
    climp_error_set("no complete checkpoint in %s", dir);
    return CLIMP_ERR_IO;
}

climp_status climp_ckpt_model_file(const char *path, char *out, size_t out_size) {
    struct stat sb;
    if (stat(path, &sb)) {
        climp_error_set("%s: %s", path, strerror(errno));
        return CLIMP_ERR_IO;
    }
    if (!S_ISDIR(sb.st_mode)) {
        snprintf(out, out_size, "%s", path);
        return CLIMP_OK;
    }
    char p[1200];
    snprintf(p, sizeof(p), "%s/model.safetensors", path);
    if (!stat(p, &sb)) {
        snprintf(out, out_size, "%s", p);
        return CLIMP_OK;
    }
    climp_train_state st;
    char ck[1024];
    CLIMP_TRY(climp_ckpt_find_latest(path, ck, sizeof(ck), &st));
    snprintf(out, out_size, "%s/model.safetensors", ck);
    return CLIMP_OK;
}

/* ------------------------------------------------------------------ retrieval */
/* Rank of the positive among n scores (0 = best); ties count against the positive. */
static int rank_of(const float *scores, int n, int pos) {
    int r = 0;
    for (int j = 0; j < n; j++)
        if (j != pos && scores[j] >= scores[pos]) r++;
    return r;
}

void climp_recall_compute(const float *img, const float *txt, int n, int d, climp_recall *r) {
    static const int ks[3] = {1, 5, 10};
    memset(r, 0, sizeof(*r));
    r->n = n;
    float *row = malloc(sizeof(float) * (size_t)n);
    if (!row) return;
    for (int dir = 0; dir < 2; dir++) {
        const float *q = dir == 0 ? txt : img, *c = dir == 0 ? img : txt;
        for (int i = 0; i < n; i++) {
            for (int j = 0; j < n; j++) {
                double s = 0;
                for (int k = 0; k < d; k++) s += (double)q[(size_t)i * d + k] * c[(size_t)j * d + k];
                row[j] = (float)s;
            }
            int rk = rank_of(row, n, i);
            for (int k = 0; k < 3; k++)
                if (rk < ks[k]) (dir == 0 ? r->t2i : r->i2t)[k] += 1.0 / n;
        }
    }
    free(row);
}

/* Native size: the normalised image of sample i into slot b of pix (grown as needed) when the
 * batch is empty (b = 0) or the image has the batch's size (h, w); else *other = 1 and nothing is
 * written (the sample starts the next batch). */
static climp_status get_native(climp_dataset *ds, long i, float **pix, size_t *cap, int b,
                               int *h, int *w, char *caption, int *other) {
    climp_image im;
    *other = 0;
    CLIMP_TRY(climp_dataset_get_rgb(ds, i, &im, caption, 8192));
    if (b && (im.h != *h || im.w != *w)) {
        *other = 1;
        climp_image_free(&im);
        return CLIMP_OK;
    }
    size_t one = (size_t)im.w * im.h * 3, need = one * (size_t)(b + 1);
    if (need > *cap) {
        float *np = realloc(*pix, sizeof(float) * need);
        if (!np) {
            climp_image_free(&im);
            return CLIMP_ERR_HOST_OOM;
        }
        *pix = np;
        *cap = need;
    }
    climp_image_normalize(im.rgb, im.w, im.h, *pix + one * (size_t)b);
    *h = im.h;
    *w = im.w;
    climp_image_free(&im);
    return CLIMP_OK;
}

climp_status climp_embed_dataset(climp_model *m, const climp_tokenizer *tok, climp_dataset *ds,
                                 long limit, int batch, int native, float **img_out,
                                 float **txt_out, long *n, int progress) {
    long total = climp_dataset_size(ds);
    if (limit > 0 && limit < total) total = limit;
    int S = climp_dataset_image_size(ds), Ed = climp_model_config(m)->embed_dim;
    float *img = malloc(sizeof(float) * (size_t)(total ? total : 1) * Ed);
    float *txt = malloc(sizeof(float) * (size_t)(total ? total : 1) * Ed);
    size_t pix_cap = native ? 0 : (size_t)batch * S * S * 3;
    float *pix = native ? NULL : malloc(sizeof(float) * pix_cap);
    char **caps = calloc(batch, sizeof(char *));
    climp_status s = (!img || !txt || (!pix && !native) || !caps) ? CLIMP_ERR_HOST_OOM : CLIMP_OK;
    for (int b = 0; !s && b < batch; b++)
        if (!(caps[b] = malloc(8192))) s = CLIMP_ERR_HOST_OOM;
    climp_text_batch tb = {0};
    climp_progress pg;
    climp_progress_init(&pg);
    long done = 0, skipped = 0;
    /* Native sizes: a batch holds consecutive samples of one size; a sample of another size ends
     * the batch and is read again as the first of the next one. */
    for (long i = 0; !s && i < total;) {
        int B = 0, H = S, W = S, other = 0;
        while (B < batch && i < total) {
            climp_status g;
            if (native) g = get_native(ds, i, &pix, &pix_cap, B, &H, &W, caps[B], &other);
            else g = climp_dataset_get(ds, i, 0, 0, pix + (size_t)B * S * S * 3, caps[B], 8192);
            if (g != CLIMP_OK) {
                skipped++;
                climp_log(CLIMP_LOG_WARN, "skipping sample %ld: %s", i, climp_error_detail());
                i++;
                continue;
            }
            if (other) break; /* not consumed: starts the next batch */
            B++;
            i++;
        }
        if (!B) break;
        s = climp_text_batch_fill(&tb, tok, caps, B);
        if (!s) s = climp_model_embed_images(m, B, H, W, pix, img + (size_t)done * Ed);
        if (!s)
            s = climp_model_embed_texts(m, B, tb.Lmax, tb.tokens, tb.lengths,
                                        txt + (size_t)done * Ed);
        done += B;
        if (progress) climp_progress_update(&pg, "embed", i, total, (double)B, "pairs", NULL);
    }
    if (progress) climp_progress_done(&pg);
    if (skipped) climp_log(CLIMP_LOG_WARN, "%ld samples skipped (unreadable)", skipped);
    climp_text_batch_free(&tb);
    for (int b = 0; caps && b < batch; b++) free(caps[b]);
    free(caps);
    free(pix);
    if (s) {
        free(img);
        free(txt);
        return s;
    }
    *img_out = img;
    *txt_out = txt;
    *n = done;
    return CLIMP_OK;
}

/* ------------------------------------------------------------------ progress */
void climp_progress_init(climp_progress *p) {
    p->t0 = climp_now_seconds();
    p->tty = isatty(fileno(stderr));
    p->last_print = 0;
}

void climp_progress_update(climp_progress *p, const char *label, long done, long total,
                           double items_per_unit, const char *unit, const char *extra) {
    double now = climp_now_seconds(), el = now - p->t0;
    if (!p->tty && now - p->last_print < 10.0 && done < total) return;
    if (p->tty && now - p->last_print < 0.1 && done < total) return;
    p->last_print = now;
    double rate = el > 0 ? done * items_per_unit / el : 0;
    double eta = done > 0 ? el / done * (total - done) : 0;
    char bar[32] = "";
    if (p->tty) {
        int w = 20, f = total > 0 ? (int)(w * (double)done / total) : 0;
        for (int i = 0; i < w; i++) bar[i] = i < f ? '#' : '.';
        bar[w] = 0;
    }
    fprintf(stderr, "%s%s %s%s%s %ld/%ld %s%s %.1f %s/s ETA %d:%02d%s", p->tty ? "\r" : "",
            label, p->tty ? "[" : "", bar, p->tty ? "]" : "", done, total, extra ? extra : "",
            extra ? " |" : "", rate, unit, (int)(eta / 60), (int)eta % 60, p->tty ? "\033[K" : "\n");
    fflush(stderr);
}

void climp_progress_done(climp_progress *p) {
    if (p->tty) fputc('\n', stderr);
}
