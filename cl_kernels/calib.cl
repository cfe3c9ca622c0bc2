/* Calibration micro-benchmarks for `climp bench` (clpeak-style), host side in
 * trainer/bench_calib.c. They measure what the device actually sustains, so that the suite can
 * report % of MEASURED peak and place kernels under a measured roofline.
 *
 *   calib_fma_vW   peak fp32 FLOP/s. Each work-item runs `iters` iterations of CALIB_CHAINS
 *                  (12) independent chains a_j = a_j * m + c on floatW vectors (mad: one
 *                  multiply-add = 2 FLOPs), so it does iters * 12 * W * 2 FLOPs. Independent
 *                  chains hide the FMA latency inside one work-item: two FMA pipes of latency 4
 *                  need 8 in flight, and 8 chains measured only 2/3 of the peak on a Zen 3 CPU
 *                  with PoCL, 12 reach it; m < 1 keeps the values bounded. The sum of the chains
 *                  is written to out[gid] so nothing is optimised away. W = 1, 2, 4, 8, 16.
 *   calib_copy     dst[i] = src[i] over n4 float4 elements: 2 * 16 * n4 bytes moved.
 *   calib_triad    a[i] = b[i] + s * c[i] over n4 float4 elements (STREAM triad): 3 * 16 * n4
 *                  bytes moved.
 *   calib_empty    does nothing useful (launch latency).
 *
 * Buffers follow the runtime convention (a view is `__global float *x, const ulong x_off`). One
 * work-item per output element; every kernel guards its bounds, so any global size is safe.
 * No C reference: these kernels measure, they do not compute results anyone reads. */
/* Vector values passed to helper functions make clang warn that AVX-512 would change their ABI
 * (-Wpsabi): meaningless for kernels compiled whole, and PoCL prints the count on every cold
 * compile, so it is silenced here. */
#ifdef __clang__
#pragma clang diagnostic ignored "-Wpsabi"
#endif

/* Independent FMA chains per work-item (the host counts FLOPs with the same number). */
#define CALIB_CHAINS 12

#define CALIB_FMA(W, T)                                                                        \
    __kernel void calib_fma_v##W(__global float *out, const ulong out_off, const int n,        \
                                 const int iters, const float seed) {                          \
        const int gid = (int)get_global_id(0);                                                 \
        if (gid >= n) return;                                                                  \
        const T m = (T)(0.999f);                                                               \
        const T c = (T)(1e-3f);                                                                \
        T a0 = (T)(seed + (float)gid * 1e-7f), a1 = a0 + (T)(0.1f), a2 = a0 + (T)(0.2f);        \
        T a3 = a0 + (T)(0.3f), a4 = a0 + (T)(0.4f), a5 = a0 + (T)(0.5f);                       \
        T a6 = a0 + (T)(0.6f), a7 = a0 + (T)(0.7f), a8 = a0 + (T)(0.8f);                       \
        T a9 = a0 + (T)(0.9f), a10 = a0 + (T)(1.0f), a11 = a0 + (T)(1.1f);                     \
        for (int i = 0; i < iters; i++) {                                                      \
            a0 = mad(a0, m, c);                                                                \
            a1 = mad(a1, m, c);                                                                \
            a2 = mad(a2, m, c);                                                                \
            a3 = mad(a3, m, c);                                                                \
            a4 = mad(a4, m, c);                                                                \
            a5 = mad(a5, m, c);                                                                \
            a6 = mad(a6, m, c);                                                                \
            a7 = mad(a7, m, c);                                                                \
            a8 = mad(a8, m, c);                                                                \
            a9 = mad(a9, m, c);                                                                \
            a10 = mad(a10, m, c);                                                              \
            a11 = mad(a11, m, c);                                                              \
        }                                                                                      \
        T s = (((a0 + a1) + (a2 + a3)) + ((a4 + a5) + (a6 + a7))) +                            \
              ((a8 + a9) + (a10 + a11));                                                       \
        out[out_off + gid] = CALIB_HSUM_##W(s);                                                \
    }

#define CALIB_HSUM_1(s) (s)
#define CALIB_HSUM_2(s) ((s).s0 + (s).s1)
#define CALIB_HSUM_4(s) (((s).s0 + (s).s1) + ((s).s2 + (s).s3))
#define CALIB_HSUM_8(s) (CALIB_HSUM_4((s).lo) + CALIB_HSUM_4((s).hi))
#define CALIB_HSUM_16(s) (CALIB_HSUM_8((s).lo) + CALIB_HSUM_8((s).hi))

CALIB_FMA(1, float)
CALIB_FMA(2, float2)
CALIB_FMA(4, float4)
CALIB_FMA(8, float8)
CALIB_FMA(16, float16)

/* dst[i] = src[i], i < n4 (float4 elements; the offsets must be multiples of 4 floats). */
__kernel void calib_copy(__global float *dst, const ulong dst_off, __global const float *src,
                         const ulong src_off, const int n4) {
    const int i = (int)get_global_id(0);
    if (i >= n4) return;
    vstore4(vload4(i, src + src_off), i, dst + dst_off);
}

/* a[i] = b[i] + s * c[i], i < n4 (float4 elements). */
__kernel void calib_triad(__global float *a, const ulong a_off, __global const float *b,
                          const ulong b_off, __global const float *c, const ulong c_off,
                          const float s, const int n4) {
    const int i = (int)get_global_id(0);
    if (i >= n4) return;
    vstore4(vload4(i, b + b_off) + s * vload4(i, c + c_off), i, a + a_off);
}

/* Writes one float when asked to (flag != 0), so the launch cannot be elided. */
__kernel void calib_empty(__global float *out, const ulong out_off, const int flag) {
    if (flag && get_global_id(0) == 0) out[out_off] = 1.0f;
}
