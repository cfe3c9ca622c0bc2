/* Compares values a command wrote against one tensor of a safetensors file, for the shell tests
 * that check the CLI against PyTorch (tests/cli_parity.sh):
 *   test_npycompare GOT EXPECTED.safetensors KEY RTOL [each]
 * GOT is a float32 little-endian .npy file (what `climp embed` writes; its shape must equal the
 * tensor's) or "-": whitespace-separated numbers on stdin (e.g. losses cut from a JSONL log; their
 * count must equal the tensor's element count). KEY is an F32 tensor of EXPECTED. The check is
 * max|got - exp| <= RTOL * max|exp| (max-norm relative), or with "each" |got_i - exp_i| <=
 * RTOL * |exp_i| for every element. Prints every element's relative error (first 16) and the
 * worst; exit 0 when within RTOL, 1 when not, 2 when an input cannot be read or shapes differ.
 * Without arguments (ctest) it tests itself on files it writes to a temporary folder. */
#define _POSIX_C_SOURCE 200809L
#include "model/safetensors.h"
#include "tests/testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_DIMS 8

static int g_quiet; /* the self-test's expected refusals print nothing */

typedef struct values {
    float *x;
    size_t n;
    int ndim; /* -1: a flat list of numbers (no shape to check) */
    int64_t shape[MAX_DIMS];
} values;

/* Reads a float32 little-endian C-order .npy (format 1.x or 2.x). 0 on success. */
static int read_npy(const char *path, values *v) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        if (!g_quiet) fprintf(stderr, "test_npycompare: cannot open %s\n", path);
        return 2;
    }
    unsigned char pre[12];
    int ok = fread(pre, 1, 10, f) == 10 && !memcmp(pre, "\x93NUMPY", 6) &&
             (pre[6] == 1 || pre[6] == 2);
    size_t hl = 0;
    if (ok && pre[6] == 1) {
        hl = pre[8] | (size_t)pre[9] << 8;
    } else if (ok) {
        ok = fread(pre + 10, 1, 2, f) == 2;
        hl = pre[8] | (size_t)pre[9] << 8 | (size_t)pre[10] << 16 | (size_t)pre[11] << 24;
    }
    char *hdr = ok && hl < (1u << 20) ? calloc(hl + 1, 1) : NULL;
    ok = hdr && fread(hdr, 1, hl, f) == hl;
    const char *sh = ok ? strstr(hdr, "'shape': (") : NULL;
    ok = ok && strstr(hdr, "'descr': '<f4'") && strstr(hdr, "'fortran_order': False") && sh;
    v->ndim = 0;
    v->n = 1;
    for (const char *p = sh ? sh + 10 : ""; ok && *p != ')';) {
        char *end;
        long long d = strtoll(p, &end, 10);
        if (end == p || d < 0 || v->ndim == MAX_DIMS) {
            ok = 0;
            break;
        }
        v->shape[v->ndim++] = d;
        v->n *= (size_t)d;
        p = end;
        while (*p == ',' || *p == ' ') p++;
    }
    v->x = ok ? malloc(v->n * sizeof(float) + 4) : NULL;
    ok = v->x && fread(v->x, sizeof(float), v->n, f) == v->n && fgetc(f) == EOF;
    fclose(f);
    free(hdr);
    if (!ok) {
        if (!g_quiet)
            fprintf(stderr, "test_npycompare: %s is not a float32 C-order .npy of the size its header "
                "declares\n", path);
        free(v->x);
        v->x = NULL;
        return 2;
    }
    return 0;
}

/* Whitespace-separated numbers until end of file. 0 on success. */
static int read_numbers(FILE *f, values *v) {
    size_t cap = 16;
    v->x = malloc(cap * sizeof(float));
    v->n = 0;
    v->ndim = -1;
    char tok[64];
    while (v->x && fscanf(f, "%63s", tok) == 1) {
        char *end;
        double d = strtod(tok, &end);
        if (*end || end == tok) {
            if (!g_quiet) fprintf(stderr, "test_npycompare: '%s' is not a number\n", tok);
            free(v->x);
            v->x = NULL;
            return 2;
        }
        if (v->n == cap) {
            float *y = realloc(v->x, (cap *= 2) * sizeof(float));
            if (!y) free(v->x);
            v->x = y;
            if (!y) break;
        }
        v->x[v->n++] = (float)d;
    }
    return v->x ? 0 : 2;
}

/* 0 when within rtol, 1 when not, 2 when unreadable or of another shape. */
static int compare(const values *got, const char *st_path, const char *key, double rtol,
                   int each, int verbose) {
    climp_st_file *f = NULL;
    if (climp_st_open(st_path, &f)) {
        fprintf(stderr, "test_npycompare: %s\n", climp_error_detail());
        return 2;
    }
    const climp_st_tensor *t = climp_st_find(f, key);
    size_t n = t ? t->nbytes / 4 : 0;
    int shape_ok = t && t->dtype == CLIMP_ST_F32 && n == got->n &&
                   (got->ndim < 0 || (got->ndim == t->ndim &&
                                      !memcmp(got->shape, t->shape, sizeof(int64_t) * t->ndim)));
    if (!shape_ok) {
        if (verbose)
            fprintf(stderr, "test_npycompare: %s in %s is missing, not F32 or not of the shape of "
                    "the %zu values compared\n", key, st_path, got->n);
        climp_st_close(f);
        return 2;
    }
    float *ref = malloc(n * sizeof(float) + 4);
    memcpy(ref, climp_st_data(f, t), n * sizeof(float));
    climp_st_close(f);
    double refmax = 0, worst = 0;
    for (size_t i = 0; i < n; i++) refmax = fmax(refmax, fabs(ref[i]));
    int bad = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)got->x[i] - ref[i]);
        double e = each ? d / fmax(fabs(ref[i]), 1e-30) : d / fmax(refmax, 1e-30);
        if (!(e <= worst)) worst = e; /* NaN sticks */
        if (!(e <= rtol)) bad = 1;
        if (verbose && i < 16)
            printf("  %s[%zu]: got %.8g expected %.8g rel %.3g\n", key, i, got->x[i], ref[i], e);
    }
    if (verbose)
        printf("%s: %zu values, worst relative error %.3g (%s), tolerance %.3g: %s\n", key, n,
               worst, each ? "per element" : "max-norm", rtol, bad ? "FAIL" : "ok");
    free(ref);
    return bad;
}

/* ------------------------------------------------------------------ self-test */
/* A .npy whose header declares (rows, cols) of descr, followed by count floats. */
static void write_npy(const char *path, const float *x, int rows, int cols, const char *descr,
                      int count) {
    FILE *f = fopen(path, "wb");
    char hdr[128];
    int n = snprintf(hdr, sizeof hdr, "{'descr': '%s', 'fortran_order': False, 'shape': (%d, %d), }",
                     descr, rows, cols);
    int pad = (64 - (10 + n + 1) % 64) % 64;
    unsigned short hl = (unsigned short)(n + pad + 1);
    fwrite("\x93NUMPY\x01\x00", 1, 8, f);
    fputc(hl & 0xff, f);
    fputc(hl >> 8, f);
    fwrite(hdr, 1, (size_t)n, f);
    for (int i = 0; i < pad; i++) fputc(' ', f);
    fputc('\n', f);
    fwrite(x, sizeof(float), (size_t)count, f);
    fclose(f);
}

static int check_npy(const char *npy, const char *st, const char *key, double rtol, int each) {
    values v = {0};
    int r = read_npy(npy, &v);
    if (!r) r = compare(&v, st, key, rtol, each, 0);
    free(v.x);
    return r;
}

static int check_text(const char *text, const char *st, const char *key, double rtol, int each) {
    FILE *f = tmpfile();
    fputs(text, f);
    rewind(f);
    values v = {0};
    int r = read_numbers(f, &v);
    fclose(f);
    if (!r) r = compare(&v, st, key, rtol, each, 0);
    free(v.x);
    return r;
}

static int self_test(void) {
    g_quiet = 1;
    char dir[] = "/tmp/climp-npycompare-XXXXXX", st[96], a[96], b[96], c[96];
    tu_check(mkdtemp(dir) != NULL, "temporary folder");
    snprintf(st, sizeof st, "%s/ref.safetensors", dir);
    snprintf(a, sizeof a, "%s/a.npy", dir);
    snprintf(b, sizeof b, "%s/b.npy", dir);
    snprintf(c, sizeof c, "%s/c.npy", dir);
    float m[3 * 4], l[3] = {2.5f, 1.25f, 0.001f}, moved[3 * 4];
    for (int i = 0; i < 12; i++) m[i] = (float)(i - 5) * 0.25f;
    climp_st_writer *w;
    CLIMP_CHECK(climp_st_writer_create(&w));
    int64_t sm[2] = {3, 4}, sl[1] = {3};
    CLIMP_CHECK(climp_st_writer_add(w, "m", CLIMP_ST_F32, sm, 2, m));
    CLIMP_CHECK(climp_st_writer_add(w, "l", CLIMP_ST_F32, sl, 1, l));
    CLIMP_CHECK(climp_st_writer_write(w, st, NULL));
    climp_st_writer_free(w);
    memcpy(moved, m, sizeof m);
    moved[7] += 1e-3f * 1.5f; /* 1e-3 of the max-norm (max |m| = 1.5) */
    write_npy(a, m, 3, 4, "<f4", 12);
    write_npy(b, moved, 3, 4, "<f4", 12);
    write_npy(c, m, 4, 3, "<f4", 12);
    tu_check(check_npy(a, st, "m", 0, 0) == 0, "identical .npy passes at tolerance 0");
    tu_check(check_npy(b, st, "m", 1e-4, 0) == 1, "1e-3 max-norm change caught at 1e-4");
    tu_check(check_npy(b, st, "m", 1e-2, 0) == 0, "1e-3 max-norm change passes at 1e-2");
    tu_check(check_npy(c, st, "m", 1, 0) == 2, "transposed shape refused");
    tu_check(check_npy(a, st, "l", 1, 0) == 2, "other element count refused");
    tu_check(check_npy(a, st, "nope", 1, 0) == 2, "missing key refused");
    write_npy(c, m, 3, 4, "<f8", 12); /* only the dtype is wrong */
    tu_check(check_npy(c, st, "m", 1, 0) == 2, "float64 .npy refused");
    write_npy(c, m, 3, 3, "<f4", 12); /* header says 9, file holds 12 */
    tu_check(check_npy(c, st, "m", 1, 0) == 2, "size not matching the header refused");
    tu_check(check_text("2.5 1.25\n0.001\n", st, "l", 0, 1) == 0, "numbers from text, exact");
    tu_check(check_text("2.5 1.25 0.0010002", st, "l", 1e-4, 0) == 0,
             "small element within max-norm");
    tu_check(check_text("2.5 1.25 0.0010002", st, "l", 1e-4, 1) == 1,
             "small element caught per element");
    tu_check(check_text("2.5 1.2503 0.001", st, "l", 1e-4, 1) == 1, "2.4e-4 relative caught");
    tu_check(check_text("2.5 1.25", st, "l", 1, 0) == 2, "too few numbers refused");
    tu_check(check_text("2.5 1.25 0.001 7", st, "l", 1, 0) == 2, "too many numbers refused");
    tu_check(check_text("2.5 nan 0.001", st, "l", 1, 0) == 1, "NaN fails");
    tu_check(check_text("2.5 x 0.001", st, "l", 1, 0) == 2, "a word is refused");
    remove(a);
    remove(b);
    remove(c);
    remove(st);
    rmdir(dir);
    return tu_finish("test_npycompare");
}

int main(int argc, char **argv) {
    if (argc == 1) return self_test();
    const char *use = "usage: test_npycompare GOT.npy|- EXPECTED.safetensors KEY RTOL [each]\n";
    char *end = NULL;
    double rtol = argc >= 5 ? strtod(argv[4], &end) : -1;
    int each = argc == 6 && !strcmp(argv[5], "each");
    if ((argc != 5 && !each) || !end || *end || !(rtol >= 0)) {
        fprintf(stderr, "%s", use);
        return 2;
    }
    values v = {0};
    int r = strcmp(argv[1], "-") ? read_npy(argv[1], &v) : read_numbers(stdin, &v);
    if (!r) r = compare(&v, argv[2], argv[3], rtol, each, 1);
    free(v.x);
    return r;
}
