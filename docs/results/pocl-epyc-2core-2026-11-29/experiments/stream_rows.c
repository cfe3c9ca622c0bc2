/* stream_rows.c: memory-only ceiling of the d_state-1 scan backward's traffic on a CPU (no math).
 * Three read streams (dt, u, dout) and two written ones (du, ddelta) of (B, L, Dc) floats, walked
 * like the backward: work-items of (batch element, group, block) taken by 2 threads, chunks of
 * -ch tokens from the last, inside a chunk column segments of -seg vectors (8 floats) over the
 * chunk's tokens in reverse; -pf 1 prefetches the next chunk's segments, -nt 1 uses streaming
 * stores, -G 1 -nblk 1 -seg 96 walks whole 3 KB rows (the sequential best case).
 * Prints the best of 7 runs as % of 20 bytes per element at 31.4 GB/s (the calibrated peak).
 * Build: gcc -O2 -march=native -pthread stream_rows.c -o stream_rows
 * Figures (2-core EPYC VM, 2026-11-29): whole rows 67-70% (plain stores), 74% (streaming);
 * 384 B segments with prefetch 47%, 128 B segments 41%; see ../README.md, "A fourth session". */
#define _GNU_SOURCE
#include <immintrin.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
static int B = 8, L = 3136, Dc = 768, G = 4, NBLK = 2, CH = 64, SEG = 4, PFON = 1, NT = 0,
           PASSES = 1;
static float *dt, *u, *dout, *du, *ddt;
static int nitems, next;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}
static volatile float sink;
static void item(int it) {
    int cpg = Dc / G, b = it / (G * NBLK), gb = it % (G * NBLK), g = gb / NBLK, j = gb % NBLK;
    int nwv = cpg / 8 / NBLK; // vectors per item
    int c0 = g * cpg + j * nwv * 8;
    int K = (L + CH - 1) / CH;
    __m256 acc = _mm256_setzero_ps();
    for (int k = K - 1; k >= 0; k--) {
        int t0 = k * CH, nn = (t0 + CH < L ? CH : L - t0);
        for (int v0 = 0; v0 < nwv; v0 += SEG) {
            int sv = (v0 + SEG <= nwv ? SEG : nwv - v0);
            for (int pass = 0; pass < PASSES; pass++)
                for (int i = nn - 1; i >= 0; i--) {
                    size_t tk = (size_t)b * L + t0 + i, o = tk * Dc + c0 + v0 * 8;
                    if (PFON && k > 0 && pass == 0)
                        for (int l = 0; l < sv * 8; l += 16) {
                            size_t po = o - (size_t)CH * Dc + l;
                            _mm_prefetch((const char *)(dt + po), _MM_HINT_T1);
                            _mm_prefetch((const char *)(u + po), _MM_HINT_T1);
                            _mm_prefetch((const char *)(dout + po), _MM_HINT_T1);
                            if (!NT) {
                                __builtin_prefetch(du + po, 1, 2);
                                __builtin_prefetch(ddt + po, 1, 2);
                            }
                        }
                    for (int q = 0; q < sv; q++) {
                        __m256 a = _mm256_loadu_ps(dt + o + q * 8),
                               c = _mm256_loadu_ps(u + o + q * 8),
                               d = _mm256_loadu_ps(dout + o + q * 8);
                        __m256 x = _mm256_fmadd_ps(a, c, d), y = _mm256_mul_ps(a, d);
                        acc = _mm256_add_ps(acc, x);
                        if (pass == PASSES - 1) {
                            if (NT) {
                                _mm256_stream_ps(du + o + q * 8, x);
                                _mm256_stream_ps(ddt + o + q * 8, y);
                            } else {
                                _mm256_storeu_ps(du + o + q * 8, x);
                                _mm256_storeu_ps(ddt + o + q * 8, y);
                            }
                        }
                    }
                }
        }
    }
    float f[8];
    _mm256_storeu_ps(f, acc);
    sink += f[0];
}
static void *worker(void *a) {
    (void)a;
    for (;;) {
        pthread_mutex_lock(&mu);
        int it = next++;
        pthread_mutex_unlock(&mu);
        if (it >= nitems)
            break;
        item(it);
    }
    if (NT)
        _mm_sfence();
    return NULL;
}
int main(int argc, char **argv) {
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "-B"))
            B = atoi(argv[i + 1]);
        if (!strcmp(argv[i], "-nblk"))
            NBLK = atoi(argv[i + 1]);
        if (!strcmp(argv[i], "-seg"))
            SEG = atoi(argv[i + 1]);
        if (!strcmp(argv[i], "-pf"))
            PFON = atoi(argv[i + 1]);
        if (!strcmp(argv[i], "-nt"))
            NT = atoi(argv[i + 1]);
        if (!strcmp(argv[i], "-passes"))
            PASSES = atoi(argv[i + 1]);
        if (!strcmp(argv[i], "-G"))
            G = atoi(argv[i + 1]);
        if (!strcmp(argv[i], "-ch"))
            CH = atoi(argv[i + 1]);
    }
    size_t n = (size_t)B * L * Dc;
    float **arr[5] = {&dt, &u, &dout, &du, &ddt};
    for (int a = 0; a < 5; a++) {
        *arr[a] = aligned_alloc(4096, n * 4 + 4096);
        memset(*arr[a], 0, n * 4);
        for (size_t i = 0; i < n; i++)
            (*arr[a])[i] = (float)(i % 7);
    }
    nitems = B * G * NBLK;
    double best = 1e9;
    for (int r = 0; r < 7; r++) {
        next = 0;
        double t = now();
        pthread_t th[2];
        for (int i = 0; i < 2; i++)
            pthread_create(&th[i], 0, worker, 0);
        for (int i = 0; i < 2; i++)
            pthread_join(th[i], 0);
        t = now() - t;
        if (t < best)
            best = t;
    }
    printf("B=%d nblk=%d seg=%d pf=%d nt=%d passes=%d ch=%d: best %.2f ms  %.1f GB/s (20 B/elem)  "
           "%.1f%% of 31.4\n",
           B, NBLK, SEG, PFON, NT, PASSES, CH, best * 1e3, n * 20.0 / best / 1e9,
           n * 20.0 / best / 1e9 / 31.4 * 100);
    return 0;
}
