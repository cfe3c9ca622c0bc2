/* Replays the fuzz seeds (tests/fuzz/corpus/<target>/) and every crash the fuzzers found
 * (tests/fuzz/regress/<target>/) through the bodies of the libFuzzer targets, compiled here into
 * an ordinary test (the targets are #included with CLIMP_FUZZ_NO_ENTRY), so the normal and the
 * sanitizer builds both check them on every ctest run. A failed invariant aborts (a crash).
 * Also checks the one-line messages of the hostile seed files, naming the file and the tensor,
 * and climp_data_quote (trainer/tsv.c), which keeps names from files on one line. */
#define _POSIX_C_SOURCE 200809L
#define CLIMP_FUZZ_NO_ENTRY 1
#include "tests/fuzz/fuzz_image.c"
#include "tests/fuzz/fuzz_safetensors.c"
#include "tests/fuzz/fuzz_tar.c"
#include "tests/fuzz/fuzz_tokenizer.c"
#include "tests/fuzz/fuzz_tsv.c"

#include <dirent.h>

#include "tests/testutil.h"

static const char *root(void) {
    const char *r = getenv("CLIMP_SOURCE_DIR");
    return r && *r ? r : ".";
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static uint8_t *slurp(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 1 << 16, len = 0;
    uint8_t *b = malloc(cap);
    size_t r;
    while (b && (r = fread(b + len, 1, cap - len, f)) > 0) {
        len += r;
        if (len == cap) {
            uint8_t *nb = realloc(b, cap *= 2);
            if (!nb)
                free(b);
            b = nb;
        }
    }
    fclose(f);
    *n = len;
    return b;
}

/* Runs fn over every regular file of dir in name order; returns how many. */
static int replay_dir(const char *dir, int (*fn)(const uint8_t *, size_t)) {
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    char *names[4096];
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < 4096)
        if (e->d_name[0] != '.')
            names[n++] = strdup(e->d_name);
    closedir(d);
    qsort(names, (size_t)n, sizeof names[0], cmp_str);
    int done = 0;
    for (int i = 0; i < n; i++) {
        char path[2048];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        size_t len = 0;
        uint8_t *data = slurp(path, &len);
        if (data) {
            fprintf(stderr, "  %s\n", path);
            fn(data, len);
            free(data);
            done++;
        }
        free(names[i]);
    }
    return done;
}

/* A hostile seed is refused with CLIMP_ERR_FORMAT and a message containing `want`. */
static void expect_refused(const char *file, const char *want) {
    char path[2048];
    snprintf(path, sizeof path, "%s/tests/fuzz/corpus/safetensors/%s", root(), file);
    climp_st_file *f = NULL;
    climp_error_clear();
    climp_status s = climp_st_open(path, &f);
    const char *d = climp_error_detail();
    tu_check(s == CLIMP_ERR_FORMAT && strstr(d, want) && strstr(d, file),
             "%s refused naming the file and '%s' (got %s: %s)", file, want, climp_status_name(s),
             d);
    climp_st_close(f);
}

static void expect_quote(const char *in, size_t size, const char *want) {
    char buf[64];
    const char *got = climp_data_quote(in, buf, size);
    tu_check(got == buf && !strcmp(got, want) && strlen(got) < size,
             "climp_data_quote(size %zu) gave '%s', want '%s'", size, got, want);
}

static void test_quote(void) {
    expect_quote("a\nb\tc\r\x01\x7f|", 64, "a\\nb\\tc\\r\\x01\\x7F|");
    expect_quote("caf\xc3\xa9 \xff\xc3", 64, "caf\xc3\xa9 \\xFF\\xC3"); /* bad UTF-8 escaped */
    expect_quote("0123456789abcde", 16, "0123456789abcde");             /* fits exactly */
    expect_quote("0123456789abcdef", 16, "0123456789ab...");
    expect_quote("\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9", 8, "\xc3\xa9\xc3\xa9..."); /* whole chars */
    expect_quote("\n\n\n\n", 8, "\\n\\n..."); /* whole escapes */
    expect_quote("abc", 1, "");
    /* the fuzz finding: a quoted header field with a newline, named in the error */
    char path[2048];
    snprintf(path, sizeof path, "%s/tests/fuzz/regress/tsv/header-newline.tsv", root());
    climp_tsv *t = NULL;
    climp_status s = climp_tsv_load(path, NULL, NULL, NULL, 0, &t);
    const char *d = climp_error_detail();
    tu_check(s == CLIMP_ERR_FORMAT && !strchr(d, '\n') && strstr(d, "'a', 'multi\\nline'"),
             "header-newline.tsv: one-line message naming the escaped column (got %s: %s)",
             climp_status_name(s), d);
    climp_tsv_free(t);
}

int main(void) {
    static const struct {
        const char *name;
        int (*fn)(const uint8_t *, size_t);
    } targets[] = {{"safetensors", climp_fuzz_safetensors},
                   {"tokenizer", climp_fuzz_tokenizer},
                   {"tsv", climp_fuzz_tsv},
                   {"tar", climp_fuzz_tar},
                   {"image", climp_fuzz_image}};
    for (size_t t = 0; t < sizeof targets / sizeof targets[0]; t++) {
        char dir[1024];
        snprintf(dir, sizeof dir, "%s/tests/fuzz/corpus/%s", root(), targets[t].name);
        int seeds = replay_dir(dir, targets[t].fn);
        snprintf(dir, sizeof dir, "%s/tests/fuzz/regress/%s", root(), targets[t].name);
        int crashes = replay_dir(dir, targets[t].fn);
        printf("%s: %d seeds and %d regression inputs replayed\n", targets[t].name, seeds, crashes);
        tu_check(seeds > 0, "%s: seed corpus found", targets[t].name);
    }

    expect_refused("bad-header-beyond-file.safetensors", "beyond the end of the file");
    expect_refused("bad-header-absurd.safetensors", "is absurd");
    expect_refused("bad-short.safetensors", "shorter than the 8-byte header");
    expect_refused("bad-json.safetensors", "not valid JSON");
    expect_refused("bad-offsets-past-end.safetensors", "tensor 'a': data_offsets end 16 is past");
    expect_refused("bad-overlap.safetensors", "tensor 'b': data overlaps tensor 'a'");
    expect_refused("bad-size-mismatch.safetensors", "tensor 'a': data_offsets span 8 bytes");
    expect_refused("bad-dtype.safetensors", "tensor 'a': unknown dtype 'F31'");
    expect_refused("bad-duplicate.safetensors", "tensor 'a': duplicate key");
    expect_refused("bad-negative-dim.safetensors", "tensor 'a': shape[0]");
    expect_refused("bad-utf8.safetensors", "not valid UTF-8");

    test_quote();

    /* A message that quotes the previous one (climp_error_set with climp_error_detail() as an
     * argument) must not be garbled. */
    char path[2048];
    snprintf(path, sizeof path, "%s/tests/fuzz/corpus/safetensors/valid-dtypes.safetensors",
             root());
    climp_config cfg;
    climp_status s = climp_checkpoint_config(path, &cfg);
    const char *d = climp_error_detail();
    tu_check(s == CLIMP_ERR_FORMAT &&
                 strstr(d, "cannot infer the model configuration: no "
                           "vision_encoder.patch_embed.5.weight") &&
                 strstr(d, path) == d && !strstr(d + 1, path),
             "a file without the model's tensors: clear message (got: %s)", d);
    return tu_finish("fuzz_regress");
}
