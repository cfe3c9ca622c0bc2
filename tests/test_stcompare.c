/* Tensor-by-tensor comparison of two safetensors files, for the shell tests of distributed
 * training (tests/cli_mpi.sh, tests/cli_multidev.sh) that must compare weights with a tolerance:
 *   test_stcompare A B RTOL   every tensor of A present in B with the same shape and
 *                             max|a - b| <= RTOL * max|b| (per tensor); prints the worst; exit 1
 *                             otherwise.
 * Without arguments (ctest) it tests itself: a file equals itself, a copy with one value moved
 * by 1e-3 relative fails at 1e-5 and passes at 1e-2, a missing tensor fails. */
#define _POSIX_C_SOURCE 200809L
#include "model/safetensors.h"
#include "tests/testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* 0 when equal within rtol, 1 when not, 2 when a file cannot be read. */
static int compare(const char *pa, const char *pb, double rtol, int verbose) {
    climp_st_file *a = NULL, *b = NULL;
    if (climp_st_open(pa, &a) || climp_st_open(pb, &b)) {
        fprintf(stderr, "test_stcompare: %s\n", climp_error_detail());
        climp_st_close(a);
        return 2;
    }
    int bad = 0;
    double worst = -1;
    const char *worst_name = "(none)";
    if (climp_st_count(a) != climp_st_count(b)) {
        if (verbose)
            printf("tensor counts differ: %d vs %d\n", climp_st_count(a), climp_st_count(b));
        bad = 1;
    }
    for (int i = 0; i < climp_st_count(a); i++) {
        const climp_st_tensor *ta = climp_st_get(a, i), *tb = climp_st_find(b, ta->name);
        if (!tb || tb->ndim != ta->ndim || tb->nbytes != ta->nbytes || ta->dtype != tb->dtype ||
            memcmp(ta->shape, tb->shape, sizeof(int64_t) * (size_t)ta->ndim)) {
            if (verbose)
                printf("%s: missing or of another shape/dtype in %s\n", ta->name, pb);
            bad = 1;
            continue;
        }
        if (ta->dtype != CLIMP_ST_F32) { /* other dtypes (token ids...) must be identical */
            if (memcmp(climp_st_data(a, ta), climp_st_data(b, tb), ta->nbytes)) {
                if (verbose)
                    printf("%s: %s data differ\n", ta->name, climp_st_dtype_name(ta->dtype));
                bad = 1;
            }
            continue;
        }
        size_t n = ta->nbytes / 4;
        float *x = malloc(ta->nbytes + 4), *y = malloc(tb->nbytes + 4);
        memcpy(x, climp_st_data(a, ta), ta->nbytes);
        memcpy(y, climp_st_data(b, tb), tb->nbytes);
        double e = tu_rel_maxnorm(x, y, n);
        free(x);
        free(y);
        if (!(e <= worst))
            worst = e, worst_name = ta->name;
        if (!(e <= rtol)) {
            if (verbose)
                printf("%s: relative max difference %.3g > %.3g\n", ta->name, e, rtol);
            bad = 1;
        }
    }
    if (verbose)
        printf("worst tensor %s: relative max difference %.3g\n", worst_name, worst);
    climp_st_close(a);
    climp_st_close(b);
    return bad;
}

/* A copy of `src` with element 0 of tensor `moved` scaled by (1 + eps) and tensor `drop` left
 * out (NULL: none). */
static void write_copy(const char *src, const char *dst, const char *moved, float eps,
                       const char *drop) {
    climp_st_file *f;
    CLIMP_CHECK(climp_st_open(src, &f));
    climp_st_writer *w;
    CLIMP_CHECK(climp_st_writer_create(&w));
    int n = climp_st_count(f);
    float **keep = calloc((size_t)n, sizeof(float *));
    for (int i = 0; i < n; i++) {
        const climp_st_tensor *t = climp_st_get(f, i);
        if (t->dtype != CLIMP_ST_F32 || (drop && !strcmp(t->name, drop)))
            continue;
        keep[i] = malloc(t->nbytes + 4);
        memcpy(keep[i], climp_st_data(f, t), t->nbytes);
        if (moved && !strcmp(t->name, moved))
            keep[i][0] = keep[i][0] * (1 + eps) + eps;
        CLIMP_CHECK(climp_st_writer_add(w, t->name, CLIMP_ST_F32, t->shape, t->ndim, keep[i]));
    }
    CLIMP_CHECK(climp_st_writer_write(w, dst, NULL));
    climp_st_writer_free(w);
    for (int i = 0; i < n; i++)
        free(keep[i]);
    free(keep);
    climp_st_close(f);
}

int main(int argc, char **argv) {
    if (argc == 4) {
        char *end;
        double rtol = strtod(argv[3], &end);
        if (*end || !(rtol >= 0)) {
            fprintf(stderr, "usage: test_stcompare A.safetensors B.safetensors RTOL\n");
            return 2;
        }
        return compare(argv[1], argv[2], rtol, 1);
    }
    if (argc != 1) {
        fprintf(stderr, "usage: test_stcompare A.safetensors B.safetensors RTOL\n");
        return 2;
    }
    const char *src = "tests/fixtures/climp_mamba1_tiny.safetensors";
    char dir[] = "/tmp/climp-stcompare-XXXXXX", same[64], moved[64], dropped[64];
    tu_check(mkdtemp(dir) != NULL, "temporary folder");
    snprintf(same, sizeof same, "%s/same.safetensors", dir);
    snprintf(moved, sizeof moved, "%s/moved.safetensors", dir);
    snprintf(dropped, sizeof dropped, "%s/dropped.safetensors", dir);
    write_copy(src, same, NULL, 0, NULL);
    write_copy(src, moved, "logit_scale", 1e-3f, NULL);
    write_copy(src, dropped, NULL, 0, "logit_scale");
    tu_check(compare(same, same, 0, 0) == 0, "a file equals itself at tolerance 0");
    tu_check(compare(moved, same, 1e-5, 0) == 1, "1e-3 relative change caught at 1e-5");
    tu_check(compare(moved, same, 1e-2, 0) == 0, "1e-3 relative change passes at 1e-2");
    tu_check(compare(dropped, same, 1, 0) == 1, "a missing tensor is caught");
    tu_check(compare(same, dropped, 1, 0) == 1, "an extra tensor is caught");
    tu_check(compare(same, "/nonexistent.safetensors", 1, 0) == 2, "unreadable file reported");
    remove(same);
    remove(moved);
    remove(dropped);
    remove(dir);
    return tu_finish("test_stcompare");
}
