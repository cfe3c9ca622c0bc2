/* chunk_passes.c: memory-only model of the d_state-1 scan backward's four passes per chunk (no
 * math): per chunk of -ch tokens and per group of 4 vectors (32 channels), a pass reading dt, a
 * second reading dt, a third reading u, a reverse pass reading u and dout and writing du, ddelta.
 * Work-items: -split items per batch element, each a contiguous slice of Dc / split channels
 * (split 8 = the shipped kernel's blocks of 12 vectors; split 1 = whole 3 KB rows). -mode: 0 no
 * software prefetch; 1 a cursor that prefetches the next chunk in row order, spread evenly over
 * the passes; 2 the shipped kernel's per-pass column prefetches; 3 a "touch" pass that loads the
 * chunk's rows in order (and prefetches the rows to be written) before the passes; 4 a burst of
 * prefetches of the next chunk at the chunk's start; 5 the cursor with loads instead of prefetches.
 * -nt 1 streaming stores, -hint 0/1/2 prefetch T0/T1/T2. Prints best and mean of 9 runs as % of
 * 20 bytes per element at 31.4 GB/s. Build: gcc -O2 -march=native -pthread chunk_passes.c
 * Figures (medians of alternated runs): shipped pattern (-split 8 -ch 64 -mode 2) 45-51%; whole
 * rows with the touch pass (-split 1 -ch 8 -mode 3) 53-64%; see ../README.md.
 * Read them as rough: a tidier rewrite of this model (prefetches in helper functions, which
 * GCC 12 drops entirely unless they are inlined: its mod/ref analysis sees no side effect) agreed
 * on whole rows (64-65%) and without prefetches (29-31%), but ran the -mode 2 pattern at 24-28%
 * against this file's 34-50% in alternated runs, for a reason not found. */
#define _GNU_SOURCE
#include <immintrin.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
static int B = 8, L = 3136, Dc = 768, NSPLIT = 1, CH = 16, NV = 4, MODE = 1, NT = 0, PFW = 1,
           HINT = 1;
static float *dt, *u, *dout, *du, *ddt;
static int nitems, next;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}
static volatile float sink;
static inline void pfr(const void *p) {
    if (HINT == 0)
        _mm_prefetch(p, _MM_HINT_T0);
    else if (HINT == 1)
        _mm_prefetch(p, _MM_HINT_T1);
    else
        _mm_prefetch(p, _MM_HINT_T2);
}
static void item(int it) {
    int W = Dc / NSPLIT, b = it / NSPLIT, c0 = (it % NSPLIT) * W;
    int K = (L + CH - 1) / CH;
    int nvec = W / 8, ngr = nvec / NV, lpr = W / 16; // lines per row
    __m256 acc = _mm256_setzero_ps();
    float *S[5] = {dt, u, dout, du, ddt};
    for (int k = K - 1; k >= 0; k--) {
        int t0 = k * CH, nn = (t0 + CH < L ? CH : L - t0);
        // prefetch cursor over chunk k-1
        int pn = k > 0 ? CH : 0, ns = (PFW && !NT) ? 5 : 3;
        long total = (long)pn * ns * lpr, steps = (long)ngr * 4 * nn,
             per = (total + steps - 1) / steps, cur = 0;
        size_t pbase = ((size_t)b * L + t0 - CH) * Dc + c0;
#define ADV()                                                                                      \
    do {                                                                                           \
        if (MODE == 1 || MODE == 5)                                                                \
            for (long e = 0; e < per && cur < total; e++, cur++) {                                 \
                long r = cur / (ns * lpr), rem = cur % (ns * lpr), s = rem / lpr, l = rem % lpr;   \
                const float *p = S[s] + pbase + (size_t)r * Dc + l * 16;                           \
                if (MODE == 5 && s < 3)                                                            \
                    acc = _mm256_add_ps(acc, _mm256_loadu_ps(p));                                  \
                else if (s < 3)                                                                    \
                    pfr(p);                                                                        \
                else                                                                               \
                    __builtin_prefetch(p, 1, 2);                                                   \
            }                                                                                      \
    } while (0)
        if (MODE == 4 && k > 0)
            for (int i = 0; i < CH; i++) {
                size_t o = ((size_t)b * L + t0 - CH + i) * Dc + c0;
                for (int s2 = 0; s2 < 3; s2++)
                    for (int l = 0; l < W; l += 16)
                        pfr(S[s2] + o + l);
                if (PFW && !NT)
                    for (int s2 = 3; s2 < 5; s2++)
                        for (int l = 0; l < W; l += 16)
                            __builtin_prefetch(S[s2] + o + l, 1, 2);
            }
        if (MODE == 3)
            for (int i = 0; i < nn; i++) {
                size_t o = ((size_t)b * L + t0 + i) * Dc + c0;
                for (int s2 = 0; s2 < 3; s2++)
                    for (int l = 0; l < W; l += 16)
                        acc = _mm256_add_ps(acc, _mm256_loadu_ps(S[s2] + o + l));
                if (PFW && !NT)
                    for (int s2 = 3; s2 < 5; s2++)
                        for (int l = 0; l < W; l += 16)
                            __builtin_prefetch(S[s2] + o + l, 1, 2);
            }
        for (int g = 0; g < ngr; g++) {
            int c = c0 + g * NV * 8;
            for (int i = 0; i < nn; i++) {
                size_t o = ((size_t)b * L + t0 + i) * Dc + c;
                ADV();
                if (MODE == 2 && k > 0)
                    for (int l = 0; l < NV * 8; l += 16)
                        pfr(dt + o - (size_t)CH * Dc + l);
                for (int q = 0; q < NV; q++)
                    acc = _mm256_add_ps(acc, _mm256_loadu_ps(dt + o + q * 8));
            }
            for (int i = 0; i < nn; i++) {
                size_t o = ((size_t)b * L + t0 + i) * Dc + c;
                ADV();
                if (MODE == 2 && k > 0)
                    for (int l = 0; l < NV * 8; l += 16)
                        pfr(u + o - (size_t)CH * Dc + l);
                for (int q = 0; q < NV; q++)
                    acc = _mm256_add_ps(acc, _mm256_loadu_ps(dt + o + q * 8));
            }
            for (int i = 0; i < nn; i++) {
                size_t o = ((size_t)b * L + t0 + i) * Dc + c;
                ADV();
                if (MODE == 2 && k > 0)
                    for (int l = 0; l < NV * 8; l += 16)
                        pfr(dout + o - (size_t)CH * Dc + l);
                for (int q = 0; q < NV; q++)
                    acc = _mm256_add_ps(acc, _mm256_loadu_ps(u + o + q * 8));
            }
            for (int i = nn - 1; i >= 0; i--) {
                size_t o = ((size_t)b * L + t0 + i) * Dc + c;
                ADV();
                if (MODE == 2 && k > 0 && !NT)
                    for (int l = 0; l < NV * 8; l += 16) {
                        __builtin_prefetch(du + o - (size_t)CH * Dc + l, 1, 2);
                        __builtin_prefetch(ddt + o - (size_t)CH * Dc + l, 1, 2);
                    }
                for (int q = 0; q < NV; q++) {
                    __m256 a = _mm256_loadu_ps(u + o + q * 8),
                           d = _mm256_loadu_ps(dout + o + q * 8);
                    __m256 x = _mm256_add_ps(a, d), y = _mm256_mul_ps(a, d);
                    acc = _mm256_add_ps(acc, x);
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
        const char *a = argv[i];
        int v = atoi(argv[i + 1]);
        if (!strcmp(a, "-B"))
            B = v;
        if (!strcmp(a, "-L"))
            L = v;
        if (!strcmp(a, "-split"))
            NSPLIT = v;
        if (!strcmp(a, "-ch"))
            CH = v;
        if (!strcmp(a, "-mode"))
            MODE = v;
        if (!strcmp(a, "-nt"))
            NT = v;
        if (!strcmp(a, "-pfw"))
            PFW = v;
        if (!strcmp(a, "-hint"))
            HINT = v;
    }
    size_t n = (size_t)B * L * Dc;
    float **arr[5] = {&dt, &u, &dout, &du, &ddt};
    for (int a = 0; a < 5; a++) {
        *arr[a] = aligned_alloc(4096, n * 4 + 4096);
        for (size_t i = 0; i < n; i++)
            (*arr[a])[i] = (float)(i % 7);
    }
    nitems = B * NSPLIT;
    double best = 1e9, sum = 0;
    int R = 9;
    for (int r = 0; r < R; r++) {
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
        sum += t;
    }
    printf("B=%d L=%d split=%d ch=%d mode=%d nt=%d hint=%d: best %.2f ms (%.1f%%)  mean %.2f ms "
           "(%.1f%%)\n",
           B, L, NSPLIT, CH, MODE, NT, HINT, best * 1e3, n * 20.0 / best / 1e9 / 31.4 * 100,
           sum / R * 1e3, n * 20.0 / (sum / R) / 1e9 / 31.4 * 100);
    return 0;
}
