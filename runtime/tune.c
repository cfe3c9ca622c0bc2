/* The tuning table (climp_runtime.h, "tuning table"): kernel tunables per device, read from the
 * JSON file `climp tune` writes, over defaults shipped in this file.
 *
 * File format ($CLIMP_TUNING_FILE, else <cache dir>/tuning.json):
 *   {"version": 1,
 *    "devices": [{"device": "<climp_device_info.name>", "driver": "<driver_version>",
 *                 "values": {"scan.cb@N1": 16, "gemm.tile": 2, ...}}, ...]}
 * The entry whose device name and driver version equal the context's applies; an entry with an
 * empty "driver" matches any driver of that device. Unreadable or malformed files are ignored with
 * one warning (tuning only changes speed, never results). */
#define _POSIX_C_SOURCE 200809L
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/rt_internal.h"

typedef struct tune_entry {
    char key[64];
    int value;
} tune_entry;

typedef struct tune_state {
    int disabled;
    tune_entry *e;
    int n, cap;
} tune_state;

/* Defaults measured on the machines we have, keyed by a substring of the device name. */
typedef struct shipped_row {
    const char *device_substr;
    const char *key;
    int value;
} shipped_row;

static const shipped_row shipped[] = {
    {NULL, NULL, 0},
};

const char *climp_tune_path(void) {
    static char path[1100];
    const char *e = getenv("CLIMP_TUNING_FILE");
    if (e && *e) snprintf(path, sizeof(path), "%s", e);
    else snprintf(path, sizeof(path), "%s/tuning.json", climp_cache_dir());
    return path;
}

static void put(tune_state *st, const char *key, int value) {
    for (int i = 0; i < st->n; i++)
        if (!strcmp(st->e[i].key, key)) {
            st->e[i].value = value;
            return;
        }
    if (strlen(key) >= sizeof(st->e[0].key)) return;
    if (st->n == st->cap) {
        int cap = st->cap ? 2 * st->cap : 16;
        tune_entry *ne = realloc(st->e, (size_t)cap * sizeof(*ne));
        if (!ne) return;
        st->e = ne;
        st->cap = cap;
    }
    snprintf(st->e[st->n].key, sizeof(st->e[0].key), "%s", key);
    st->e[st->n++].value = value;
}

static char *read_all(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *buf = NULL;
    long n = -1;
    if (!fseek(f, 0, SEEK_END)) n = ftell(f);
    if (n >= 0 && n < (16L << 20) && !fseek(f, 0, SEEK_SET) && (buf = malloc((size_t)n + 1))) {
        if (fread(buf, 1, (size_t)n, f) != (size_t)n) {
            free(buf);
            buf = NULL;
        } else {
            buf[n] = 0;
        }
    }
    fclose(f);
    return buf;
}

static void load_file(climp_ctx *ctx, tune_state *st) {
    const char *path = climp_tune_path();
    char *text = read_all(path);
    if (!text) return;
    cJSON *root = cJSON_Parse(text);
    free(text);
    const cJSON *devs = root ? cJSON_GetObjectItemCaseSensitive(root, "devices") : NULL;
    if (!cJSON_IsArray(devs)) {
        climp_log(CLIMP_LOG_WARN, "tuning file %s is not a climp tuning table; ignored", path);
        cJSON_Delete(root);
        return;
    }
    const cJSON *d;
    cJSON_ArrayForEach(d, devs) {
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(d, "device");
        const cJSON *drv = cJSON_GetObjectItemCaseSensitive(d, "driver");
        const cJSON *vals = cJSON_GetObjectItemCaseSensitive(d, "values");
        if (!cJSON_IsString(name) || strcmp(name->valuestring, ctx->info.name)) continue;
        if (cJSON_IsString(drv) && *drv->valuestring &&
            strcmp(drv->valuestring, ctx->info.driver_version))
            continue;
        if (!cJSON_IsObject(vals)) continue;
        const cJSON *v;
        cJSON_ArrayForEach(v, vals) {
            if (cJSON_IsNumber(v) && v->string && v->valuedouble >= -1e9 && v->valuedouble <= 1e9)
                put(st, v->string, (int)v->valuedouble);
        }
    }
    cJSON_Delete(root);
}

static tune_state *state_of(climp_ctx *ctx) {
    if (!ctx) return NULL;
    pthread_mutex_lock(&ctx->lock);
    if (!ctx->tune_state) {
        tune_state *st = calloc(1, sizeof(*st));
        if (st) {
            const char *e = getenv("CLIMP_TUNING");
            st->disabled = e && (!strcmp(e, "off") || !strcmp(e, "0"));
            if (!st->disabled) {
                for (const shipped_row *r = shipped; r->key; r++)
                    if (strstr(ctx->info.name, r->device_substr)) put(st, r->key, r->value);
                load_file(ctx, st);
            }
        }
        ctx->tune_state = st;
    }
    pthread_mutex_unlock(&ctx->lock);
    return ctx->tune_state;
}

void rt_tune_release(climp_ctx *ctx) {
    tune_state *st = ctx ? ctx->tune_state : NULL;
    if (!st) return;
    free(st->e);
    free(st);
    ctx->tune_state = NULL;
}

static const tune_entry *find(const tune_state *st, const char *key) {
    for (int i = 0; i < st->n; i++)
        if (!strcmp(st->e[i].key, key)) return &st->e[i];
    return NULL;
}

int climp_tune_int(climp_ctx *ctx, const char *key, int fallback) {
    tune_state *st = state_of(ctx);
    if (!st || st->disabled || !key) return fallback;
    const tune_entry *e = find(st, key);
    if (!e) {
        const char *at = strchr(key, '@');
        if (at) {
            char base[64];
            size_t n = (size_t)(at - key);
            if (n >= sizeof(base)) return fallback;
            memcpy(base, key, n);
            base[n] = 0;
            e = find(st, base);
        }
    }
    return e ? e->value : fallback;
}

int climp_tune_count(climp_ctx *ctx) {
    tune_state *st = state_of(ctx);
    return st && !st->disabled ? st->n : 0;
}

const char *climp_tune_entry(climp_ctx *ctx, int i, int *value) {
    tune_state *st = state_of(ctx);
    if (!st || st->disabled || i < 0 || i >= st->n) return NULL;
    if (value) *value = st->e[i].value;
    return st->e[i].key;
}
