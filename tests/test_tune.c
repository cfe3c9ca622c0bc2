/* Tests of the tuning table (runtime/tune.c): lookups with fallbacks and the '@' shape-class
 * fallback, entries of another driver or device ignored, an any-driver entry under the exact
 * driver's, $CLIMP_TUNING=off, malformed and hostile files ignored (with a warning, never a
 * crash), climp_tune_set / climp_tune_clear, and climp_tune_save merging into the file (other
 * devices and drivers kept, a corrupt file replaced, no temporary file left behind). */
#define _POSIX_C_SOURCE 200809L
#include "tests/testutil.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char g_dir[256], g_path[300];

static void write_text(const char *text) {
    FILE *f = fopen(g_path, "w");
    tu_check(f != NULL, "create %s", g_path);
    if (!f) return;
    fputs(text, f);
    fclose(f);
}

static char *read_text(void) {
    FILE *f = fopen(g_path, "r");
    if (!f) return NULL;
    char *buf = calloc(1, 1 << 16);
    if (buf) fread(buf, 1, (1 << 16) - 1, f);
    fclose(f);
    return buf;
}

/* A context that reads the table afresh (the table is loaded once per context). */
static climp_ctx *fresh(climp_ctx *old) {
    climp_ctx_close(old);
    climp_ctx *ctx = NULL;
    CLIMP_CHECK(climp_ctx_open(NULL, &ctx));
    return ctx;
}

/* A table with entries for this device (exact driver, any driver, another driver) and another
 * device. */
static void write_table(const climp_device_info *in) {
    char *t = malloc(8192);
    snprintf(t, 8192,
             "{\"version\": 1, \"devices\": ["
             "{\"device\": \"%s\", \"driver\": \"\", \"values\": {\"t.a\": 50, \"t.e\": 13}},"
             "{\"device\": \"%s\", \"driver\": \"%s\", \"values\": {\"t.a\": 5, \"t.b@X\": 7,"
             " \"t.c\": 9, \"t.s\": \"text\", \"t.big\": 1e20, \"t.neg\": -3}},"
             "{\"device\": \"%s\", \"driver\": \"other-driver-0.0\", \"values\": {\"t.a\": 100,"
             " \"t.d\": 11}},"
             "{\"device\": \"some-other-device\", \"driver\": \"%s\", \"values\": {\"t.f\": 1}}]}",
             in->name, in->name, in->driver_version, in->name, in->driver_version);
    write_text(t);
    free(t);
}

static void test_lookup(climp_ctx **pctx) {
    climp_ctx *ctx = *pctx;
    write_table(climp_ctx_info(ctx));
    ctx = fresh(ctx);
    tu_check(climp_tune_int(ctx, "t.a", -1) == 5, "the exact driver's value wins (t.a = %d)",
             climp_tune_int(ctx, "t.a", -1));
    tu_check(climp_tune_int(ctx, "t.e", -1) == 13, "an any-driver entry applies");
    tu_check(climp_tune_int(ctx, "t.d", -1) == -1, "another driver's entry is ignored");
    tu_check(climp_tune_int(ctx, "t.f", -1) == -1, "another device's entry is ignored");
    tu_check(climp_tune_int(ctx, "t.b@X", -1) == 7, "a key with its class");
    tu_check(climp_tune_int(ctx, "t.b@Y", -1) == -1, "another class without a base key");
    tu_check(climp_tune_int(ctx, "t.c@Z", -1) == 9, "a class falls back to the base key");
    tu_check(climp_tune_int(ctx, "t.a@Q", -1) == 5, "... for any base key");
    tu_check(climp_tune_int(ctx, "t.neg", 0) == -3, "negative values");
    tu_check(climp_tune_int(ctx, "t.s", -1) == -1 && climp_tune_int(ctx, "t.big", -1) == -1,
             "non-numbers and out-of-range numbers are ignored");
    tu_check(climp_tune_int(ctx, "no.such", 42) == 42 && climp_tune_int(ctx, NULL, 4) == 4,
             "unknown keys give the fallback");
    int found = 0;
    for (int i = 0; i < climp_tune_count(ctx); i++) {
        int v;
        const char *k = climp_tune_entry(ctx, i, &v);
        found += k && !strcmp(k, "t.c") && v == 9;
    }
    tu_check(found == 1, "climp_tune_entry lists t.c = 9");
    tu_check(climp_tune_entry(ctx, -1, NULL) == NULL &&
                 climp_tune_entry(ctx, climp_tune_count(ctx), NULL) == NULL,
             "entries out of range");
    /* set / clear */
    tu_check(climp_tune_set(ctx, "t.c@Z", 4) == CLIMP_OK && climp_tune_int(ctx, "t.c@Z", -1) == 4,
             "climp_tune_set");
    tu_check(climp_tune_set(ctx, "bad key", 1) == CLIMP_ERR_INVALID_ARG &&
                 climp_tune_set(ctx, "", 1) == CLIMP_ERR_INVALID_ARG &&
                 climp_tune_set(ctx, "q\"uote", 1) == CLIMP_ERR_INVALID_ARG &&
                 climp_tune_set(ctx,
                                "a.very.long.key.of.more.than.sixty.three.characters.is.refused.x",
                                1) == CLIMP_ERR_INVALID_ARG,
             "bad keys are refused");
    climp_tune_clear(ctx);
    tu_check(climp_tune_count(ctx) == 0 && climp_tune_int(ctx, "t.a", -1) == -1, "clear");
    /* off */
    setenv("CLIMP_TUNING", "off", 1);
    ctx = fresh(ctx);
    tu_check(climp_tune_int(ctx, "t.a", -1) == -1 && climp_tune_count(ctx) == 0,
             "CLIMP_TUNING=off ignores the file and the shipped defaults");
    CLIMP_CHECK(climp_tune_set(ctx, "t.a", 8));
    tu_check(climp_tune_int(ctx, "t.a", -1) == 8, "... but not climp_tune_set");
    unsetenv("CLIMP_TUNING");
    *pctx = ctx;
}

static void test_bad_files(climp_ctx **pctx) {
    static const char *const bad[] = {
        "{not json",
        "",
        "[1, 2, 3]",
        "{\"version\": 2, \"devices\": []}",
        "{\"version\": 1, \"devices\": {\"device\": 1}}",
        "{\"version\": 1, \"devices\": [1, \"x\", {\"device\": 3, \"values\": 4}, {}]}",
    };
    climp_ctx *ctx = *pctx;
    int level = climp_log_level();
    climp_log_set_level(CLIMP_LOG_ERROR); /* the expected warnings */
    climp_ctx *clean = NULL;
    unlink(g_path);
    clean = fresh(NULL);
    const int base = climp_tune_count(clean); /* the shipped defaults only */
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        write_text(bad[i]);
        ctx = fresh(ctx);
        tu_check(climp_tune_count(ctx) == base && climp_tune_int(ctx, "t.a", -7) == -7,
                 "malformed file %zu ignored", i);
    }
    /* saving over a corrupt file replaces it */
    write_text("{not json");
    ctx = fresh(ctx);
    const char *keys[] = {"t.x@N16", "t.y"};
    const int vals[] = {16, -2};
    tu_check(climp_tune_save(ctx, keys, vals, 2) == CLIMP_OK, "save over a corrupt file");
    tu_check(climp_tune_int(ctx, "t.x@N16", 0) == 16, "the saving context sees its values");
    ctx = fresh(ctx);
    tu_check(climp_tune_int(ctx, "t.x@N16", 0) == 16 && climp_tune_int(ctx, "t.y", 0) == -2,
             "the replaced file loads");
    climp_log_set_level(level);
    climp_ctx_close(clean);
    *pctx = ctx;
}

static void test_merge(climp_ctx **pctx) {
    climp_ctx *ctx = *pctx;
    write_table(climp_ctx_info(ctx));
    ctx = fresh(ctx);
    const char *keys[] = {"t.a", "t.new@X"};
    const int vals[] = {6, 3};
    tu_check(climp_tune_save(ctx, keys, vals, 2) == CLIMP_OK, "save");
    tu_check(climp_tune_save(ctx, NULL, NULL, 0) == CLIMP_OK, "save of nothing");
    const char *badk[] = {"has space"};
    tu_check(climp_tune_save(ctx, badk, vals, 1) == CLIMP_ERR_INVALID_ARG, "save of a bad key");
    ctx = fresh(ctx);
    tu_check(climp_tune_int(ctx, "t.a", -1) == 6 && climp_tune_int(ctx, "t.new@X", -1) == 3,
             "merged values load");
    tu_check(climp_tune_int(ctx, "t.c", -1) == 9 && climp_tune_int(ctx, "t.e", -1) == 13,
             "the device's other values are kept");
    char *text = read_text();
    tu_check(text && strstr(text, "other-driver-0.0") && strstr(text, "some-other-device") &&
                 strstr(text, "\"t.d\""),
             "other drivers' and devices' entries are kept");
    free(text);
    DIR *d = opendir(g_dir);
    int files = 0;
    for (struct dirent *e; d && (e = readdir(d));) files += e->d_name[0] != '.';
    if (d) closedir(d);
    tu_check(files == 1, "no temporary file left (%d files)", files);
    /* into a folder that does not exist yet */
    char sub[400];
    snprintf(sub, sizeof sub, "%s/a/b/tuning.json", g_dir);
    setenv("CLIMP_TUNING_FILE", sub, 1);
    tu_check(!strcmp(climp_tune_path(), sub), "CLIMP_TUNING_FILE names the file");
    tu_check(climp_tune_save(ctx, keys, vals, 2) == CLIMP_OK && access(sub, R_OK) == 0,
             "save creates the folder");
    unlink(sub);
    snprintf(sub, sizeof sub, "%s/a/b", g_dir), rmdir(sub);
    snprintf(sub, sizeof sub, "%s/a", g_dir), rmdir(sub);
    setenv("CLIMP_TUNING_FILE", g_path, 1);
    *pctx = ctx;
}

int main(void) {
    snprintf(g_dir, sizeof g_dir, "/tmp/climp-test-tune-XXXXXX");
    if (!mkdtemp(g_dir)) return 1;
    snprintf(g_path, sizeof g_path, "%s/tuning.json", g_dir);
    setenv("CLIMP_TUNING_FILE", g_path, 1);
    unsetenv("CLIMP_TUNING");
    climp_ctx *ctx = tu_open_ctx();
    tu_check(climp_tune_int(ctx, "t.a", -1) == -1, "no file: fallbacks");
    test_lookup(&ctx);
    test_bad_files(&ctx);
    test_merge(&ctx);
    climp_ctx_close(ctx);
    unlink(g_path);
    rmdir(g_dir);
    return tu_finish("test_tune");
}
