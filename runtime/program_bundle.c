/* Kernel bundles in binary-only mode: one offline binary serving many programs (FPGA: one
 * bitstream for every kernel of a run). A binary folder may hold bundle.map: "binary\t<file>"
 * naming one binary (bundle-<key>.bin), then "<source>\t<defines>\t<program key>\t<prefix>" per
 * program that binary serves, its kernels renamed <prefix><kernel> (trainer/bundle.c writes both;
 * docs/fpga.md). Called by runtime/program.c. */
#define _POSIX_C_SOURCE 200809L
#include "runtime/rt_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct bundle_entry {
    char *source, *defines, *prefix;
    uint64_t key;
} bundle_entry;

typedef struct bundle_state {
    char file[256];
    bundle_entry *e;
    int n;
    cl_program prog; /* loaded on the first program it serves; one reference held here */
} bundle_state;

void rt_bundle_free(climp_ctx *ctx) {
    bundle_state *b = ctx->bundle_state;
    if (!b) return;
    for (int i = 0; i < b->n; i++) {
        free(b->e[i].source);
        free(b->e[i].defines);
        free(b->e[i].prefix);
    }
    free(b->e);
    if (b->prog) clReleaseProgram(b->prog);
    free(b);
    ctx->bundle_state = NULL;
}

/* Reads <binary_dir>/bundle.map once per context (no file: an empty bundle). */
static climp_status bundle_read(climp_ctx *ctx, bundle_state **out) {
    if ((*out = ctx->bundle_state)) return CLIMP_OK;
    bundle_state *b = calloc(1, sizeof(*b));
    if (!b) return CLIMP_ERR_HOST_OOM;
    ctx->bundle_state = b;
    char path[1100], line[2048];
    snprintf(path, sizeof(path), "%s/bundle.map", ctx->binary_dir);
    FILE *f = fopen(path, "r");
    *out = b;
    if (!f) return CLIMP_OK;
    climp_status s = CLIMP_OK;
    int cap = 0, lineno = 0;
    while (!s && fgets(line, sizeof(line), f)) {
        lineno++;
        line[strcspn(line, "\r\n")] = 0;
        if (!line[0] || line[0] == '#') continue;
        char *fld[4] = {line, NULL, NULL, NULL};
        int nf = 1;
        for (char *t = line; nf < 4 && (t = strchr(t, '\t')); nf++) *t++ = 0, fld[nf] = t;
        char *end = NULL;
        uint64_t key = nf == 4 ? strtoull(fld[2], &end, 16) : 0;
        if (nf == 2 && !strcmp(fld[0], "binary") && fld[1][0] && !strchr(fld[1], '/')) {
            snprintf(b->file, sizeof(b->file), "%s", fld[1]);
        } else if (nf == 4 && strlen(fld[2]) == 16 && end && !*end && fld[3][0]) {
            if (b->n == cap) {
                bundle_entry *ne = realloc(b->e, (size_t)(cap = cap ? 2 * cap : 16) * sizeof(*ne));
                if (!ne) {
                    s = CLIMP_ERR_HOST_OOM;
                    break;
                }
                b->e = ne;
            }
            bundle_entry *e = &b->e[b->n++];
            e->source = strdup(fld[0]);
            e->defines = strdup(fld[1]);
            e->prefix = strdup(fld[3]);
            e->key = key;
            if (!e->source || !e->defines || !e->prefix) s = CLIMP_ERR_HOST_OOM;
        } else {
            climp_error_set("%s line %d: malformed (expected 'binary<TAB>FILE' or "
                            "'SOURCE<TAB>DEFINES<TAB>KEY<TAB>PREFIX')", path, lineno);
            s = CLIMP_ERR_FORMAT;
        }
    }
    fclose(f);
    if (!s && b->n && !b->file[0]) {
        climp_error_set("%s names no bundle binary (no 'binary' line)", path);
        s = CLIMP_ERR_FORMAT;
    }
    *out = b;
    return s;
}

/* Serves program (source, defines) of text key `key` from the folder's bundle: *out receives a
 * reference to the one bundle program and *prefix its kernel-name prefix; *out stays NULL when the
 * bundle does not list the program (the caller falls back to <source>-<key>.bin). */
climp_status rt_bundle_get(climp_ctx *ctx, const char *source, const char *defines,
                           uint64_t key, cl_program *out, char **prefix) {
    bundle_state *b;
    CLIMP_TRY(bundle_read(ctx, &b));
    const bundle_entry *e = NULL;
    for (int i = 0; i < b->n && !e; i++)
        if (!strcmp(b->e[i].source, source) && !strcmp(b->e[i].defines, defines)) e = &b->e[i];
    if (!e) return CLIMP_OK;
    if (e->key != key) {
        climp_error_set("the kernel bundle in %s was built from other kernel sources: it lists "
                        "'%s' (defines '%s') with key %016llx, this climp builds key %016llx; "
                        "rebuild it with 'climp compile-kernels --bundle' (or "
                        "scripts/fpga/build.sh --bundle) from this climp",
                        ctx->binary_dir, source, defines, (unsigned long long)e->key,
                        (unsigned long long)key);
        return CLIMP_ERR_NO_BINARY;
    }
    if (!b->prog) {
        char path[1400];
        snprintf(path, sizeof(path), "%s/%s", ctx->binary_dir, b->file);
        const char *dash = strrchr(b->file, '-');
        uint64_t bkey = dash ? strtoull(dash + 1, NULL, 16) : 0;
        size_t n = 0;
        unsigned char *bin = rt_read_binary_file(path, bkey, &n);
        climp_status s = bin ? rt_build_from_binary(ctx, bin, n, &b->prog) : CLIMP_ERR_NO_BINARY;
        free(bin);
        if (s) {
            b->prog = NULL;
            climp_error_set("kernel bundle %s (for '%s', defines '%s') %s on device '%s' (%s)",
                            path, source, defines, bin ? "does not load" : "is missing or damaged",
                            ctx->info.name, climp_status_name(s));
            return CLIMP_ERR_NO_BINARY;
        }
        ctx->counters.binary_loads++;
        climp_log(CLIMP_LOG_DEBUG, "loaded kernel bundle %s (%d programs)", path, b->n);
    }
    if (!(*prefix = strdup(e->prefix))) return CLIMP_ERR_HOST_OOM;
    clRetainProgram(b->prog);
    *out = b->prog;
    climp_log(CLIMP_LOG_DEBUG, "program %s [%s] from the kernel bundle (kernels %s*)", source,
              defines, e->prefix);
    return CLIMP_OK;
}
