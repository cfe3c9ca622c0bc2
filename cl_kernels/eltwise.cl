/* eltwise.cl: element-wise ops, forward and backward (C reference: model/eltwise_ref.c).
 *
 * Every buffer is two arguments `__global float *x, const ulong x_off`; x[x_off + i] is element i.
 * Flat ops (n elements), both kernels launched by model/eltwise.c:
 *   <name>       the body: work-item g handles element base + g, with NO bounds check. The host
 *                launches it over exactly floor(n / lws) * lws items (in chunks, each with its
 *                base). CPU OpenCL (PoCL) vectorises a work-group's loop over its work-items only
 *                when the body has no condition: a guard there costs 2-3x (masked stores).
 *   flat_tail    any op for elements base + g < n, guarded: any global size.
 *   silu_fwd/bwd, gelu_fwd/bwd (exact erf form, computed without erf: see ncdf_exp), softplus_fwd
 *   /bwd (threshold 20), add, accumulate (y += alpha x), scale (out = alpha x), clamp_inplace.
 * Row kernels on (rows, N) with row stride ld: 2-D global size (>= N, >= rows).
 *   bias_add_fwd      y[r, c] += bias[c]
 *   copy_cols         dst[r, c] = src[r, c]  (or += with accumulate = 1)
 *   *_rows            CPU variants: 1-D (>= rows), one work-item per row looping over vectors of
 *                     vw columns (vw divides N, resp. cols).
 * Deterministic column sums (bias backward), two stages over fixed row blocks:
 *   colsum_partial    2-D (>= N / vw, nblocks): part[b, c] = sum of dy[r, c] for r in block b, in
 *                     order; vw columns per work-item
 *   colsum_final      1-D (>= N): dst[c] += sum_b part[b, c], b = 0..nblocks-1 in order
 * Repeat (Mamba-2 per-head -> per-channel):
 *   repeat_fwd        1-D (>= M*P): out[m*P + p] = inp[m]
 *   repeat_bwd        1-D (>= M): dinp[m] (=|+=) sum_p dout[m*P + p], p in order
 *   repeat_bwd_wg     one work-group of WG per m: lanes stride p, then a fixed tree.
 */
/* Vector values passed to helper functions make clang warn that AVX-512 would change their ABI
 * (-Wpsabi): meaningless for kernels compiled whole, and PoCL prints the count on every cold
 * compile, so it is silenced here. */
#ifdef __clang__
#pragma clang diagnostic ignored "-Wpsabi"
#endif

#ifndef WG
#define WG 64 /* work-group size of repeat_bwd_wg: a power of two, 1..1024 */
#endif
/* Row and column-sum kernels read vw = 1, 4 or 8 columns at a time: a run-time argument, so one
 * program serves every width; each kernel branches once to its loop for V = 8, 4 or 1, written
 * with VLOAD##V / VSTORE##V / VTYPE##V. */
#define VLOAD1(i, p) ((p)[i])
#define VSTORE1(v, i, p) ((p)[i] = (v))
#define VLOAD4 vload4
#define VSTORE4 vstore4
#define VLOAD8 vload8
#define VSTORE8 vstore8
#define VTYPE1 float
#define VTYPE4 float4
#define VTYPE8 float8

/* ------------------------------------------------------------------ scalar math */
/* The built-in erf and log run element by element on PoCL (50-80 ms per 786k floats); these use
 * only exp, fma, division and selects, which vectorise. No intermediate is subnormal for normal
 * inputs: CPU threads run without flush-to-zero, and a subnormal result costs a microcode assist
 * (5-10x slower kernels). Hence the clamped exp arguments below (EXP_HI): exp(-80) is 1.8e-35,
 * below half an ulp of 1, so 1 + exp(-x) is the same for every x >= 80. MIN_HI keeps NaN (fmin
 * would not). */
#define EXP_HI 80.0f
#define MIN_HI(x) ((x) > EXP_HI ? EXP_HI : (x))

/* Phi(x) = P(N(0,1) <= x) = 0.5 (1 + erf(x / sqrt 2)) and e = exp(-x^2 / 2).
 * Phi(-u) = exp(-u^2/2) K(u) for u >= 0, K(u) = 0.5 erfcx(u / sqrt 2) (a scaled Mills ratio,
 * smooth, 0.5 at 0, ~1/(u sqrt(2 pi)) for large u). K = P/Q, degrees 5/6, fitted for minimal
 * relative error on [0, 13.5] (2.6e-8 with these fp32 coefficients). x^2 = h + l exactly (fma),
 * so exp(-x^2/2) = exp(-h/2)(1 - l/2) keeps the tail's relative accuracy. Phi(x) = 1 - Phi(-x)
 * for x > 0 (no cancellation: Phi(-x) <= 0.5). |x| > 12.5 gives Phi in {0, 1} and e = 0
 * (Phi(-12.5) = 4e-36, and the math stays clear of subnormals). Against double precision
 * (tests/test_eltwise.c, dense sweep): GELU <= 2.6 ulp for |x| < 1 and <= 6 ulp in the far
 * negative tail (where fp32 1 + erf cancels completely); its derivative <= 3 ulp. */
float2 ncdf_exp(float x) {
    const float xc = clamp(x, -12.5f, 12.5f), u = fabs(xc);
    const float h = xc * xc, l = fma(xc, xc, -h);
    float e = exp(-0.5f * h);
    e = fma(e, -0.5f * l, e);
    float p = fma(6.396370591e-04f, u, 9.154994972e-03f);
    p = fma(fma(fma(fma(p, u, 5.998488888e-02f), u, 2.232592553e-01f), u, 4.759848714e-01f), u,
            0.5f);
    float q = fma(1.603348064e-03f, u, 2.294737659e-02f);
    q = fma(fma(fma(fma(fma(q, u, 1.519812495e-01f), u, 5.823239088e-01f), u, 1.342700243e+00f), u,
                1.749854326e+00f),
            u, 1.0f);
    /* near = 0 where |x| > 12.5 (1 for NaN, which propagates through x). A product, not a
     * select around the division: LLVM turns that into a branch, and PoCL then runs the kernel
     * element by element (30x slower). */
    const float near = fabs(x) > 12.5f ? 0.0f : 1.0f;
    const float t = e * (p / q) * near; /* Phi(-|x|) */
    return (float2)(x > 0.0f ? 1.0f - t : t, e * near);
}

/* log1p(z) for z in [0, 1]: s = z / (2 + z) in [0, 1/3], log1p(z) = 2 atanh(s)
 * = 2s + s^3 f(s^2), f a degree-4 fit (relative error 1e-9 before fp32 rounding). */
float log1p_01(float z) {
    const float s = z / (2.0f + z), w = s * s;
    float f = fma(fma(fma(fma(2.325381041e-01f, w, 2.169999629e-01f), w, 2.859281898e-01f), w,
                      3.999969661e-01f),
                  w, 6.666666865e-01f);
    return fma(s * w, f, 2.0f * s);
}

/* ------------------------------------------------------------------ flat ops */
float silu_grad(float x, float g) { /* 1 - s = e s, exact where 1 - s would cancel */
    const float e = exp(-MIN_HI(x)), s = 1.0f / (1.0f + e);
    return g * s * fma(x, e * s, 1.0f);
}
float gelu_grad(float x, float g) {
    const float2 c = ncdf_exp(x); /* Phi + x phi, phi = e / sqrt(2 pi) */
    return g * fma(x * 0.3989422804014327f, c.y, c.x);
}
/* softplus(x) = max(x, 0) + log1p(exp(-|x|)); for x > 20 that is x in fp32, as the reference's
 * threshold. The log1p term is dropped for |x| > EXP_HI (it is under 1.8e-35 there). Its
 * derivative is sigmoid(x) (1 in fp32 above 20). */
float softplus_f(float x) {
    const float a = fabs(x), near = a > EXP_HI ? 0.0f : 1.0f; /* a product: see ncdf_exp */
    return fmax(x, 0.0f) + log1p_01(exp(-MIN_HI(a))) * near;
}

/* Every flat kernel takes (out, a, b, alpha, beta, base) and computes element i of out from
 * o = out, a, b (views, shifted by base in the bodies), alpha and beta; unused ones are ignored.
 * Forwards read x = a; backwards dout = a, x = b; accumulate and clamp read o. */
#define SILU_FWD(i) (a[i] / (1.0f + exp(-MIN_HI(a[i]))))
#define SILU_BWD(i) silu_grad(b[i], a[i])
#define GELU_FWD(i) (a[i] * ncdf_exp(a[i]).x)
#define GELU_BWD(i) gelu_grad(b[i], a[i])
#define SOFTPLUS_FWD(i) softplus_f(a[i])
#define SOFTPLUS_BWD(i) (a[i] / (1.0f + exp(-MIN_HI(b[i]))))
#define ADD(i) (a[i] + b[i])
#define ACCUMULATE(i) (o[i] + alpha * a[i])
#define SCALE(i) (alpha * a[i])
#define CLAMP(i) fmin(fmax(o[i], alpha), beta)

#define FLAT_ARGS                                                                                  \
    __global float *out, const ulong out_off, __global const float *a_, const ulong a_off,         \
        __global const float *b_, const ulong b_off, const float alpha, const float beta,          \
        const ulong base
#define FLAT_BODY(name, EXPR)                                                                      \
    __kernel void name(FLAT_ARGS) {                                                                \
        __global float *o = out + out_off + base;                                                  \
        __global const float *a = a_ + a_off + base, *b = b_ + b_off + base;                       \
        const size_t i = get_global_id(0);                                                         \
        o[i] = EXPR(i);                                                                            \
    }

FLAT_BODY(silu_fwd, SILU_FWD)
FLAT_BODY(silu_bwd, SILU_BWD)
FLAT_BODY(gelu_fwd, GELU_FWD)
FLAT_BODY(gelu_bwd, GELU_BWD)
FLAT_BODY(softplus_fwd, SOFTPLUS_FWD)
FLAT_BODY(softplus_bwd, SOFTPLUS_BWD)
FLAT_BODY(add, ADD)
FLAT_BODY(accumulate, ACCUMULATE)
FLAT_BODY(scale, SCALE)
FLAT_BODY(clamp_inplace, CLAMP)

/* The tail of any flat op: element base + g < n of op `op`, numbered as the bodies above
 * (0 silu_fwd .. 9 clamp_inplace; model/eltwise.c uses the same order). One kernel for all
 * tails keeps the program small (PoCL's build time grows with the number of kernels). */
__kernel void flat_tail(FLAT_ARGS, const ulong n, const int op) {
    __global float *o = out + out_off;
    __global const float *a = a_ + a_off, *b = b_ + b_off;
    const size_t i = base + get_global_id(0);
    if (i >= n)
        return;
    switch (op) {
    case 0:
        o[i] = SILU_FWD(i);
        break;
    case 1:
        o[i] = SILU_BWD(i);
        break;
    case 2:
        o[i] = GELU_FWD(i);
        break;
    case 3:
        o[i] = GELU_BWD(i);
        break;
    case 4:
        o[i] = SOFTPLUS_FWD(i);
        break;
    case 5:
        o[i] = SOFTPLUS_BWD(i);
        break;
    case 6:
        o[i] = ADD(i);
        break;
    case 7:
        o[i] = ACCUMULATE(i);
        break;
    case 8:
        o[i] = SCALE(i);
        break;
    default:
        o[i] = CLAMP(i);
        break;
    }
}

/* ------------------------------------------------------------------ rows, column sums, repeat */
__kernel void bias_add_fwd(__global float *y, const ulong y_off, const int ld_y,
                           __global const float *bias, const ulong bias_off, const int rows,
                           const int N) {
    const int c = (int)get_global_id(0), r = (int)get_global_id(1);
    if (c >= N || r >= rows)
        return;
    y[y_off + (size_t)r * ld_y + c] += bias[bias_off + c];
}

__kernel void copy_cols(__global float *dst, const ulong dst_off, const int ld_dst,
                        __global const float *src, const ulong src_off, const int ld_src,
                        const int rows, const int cols, const int accumulate) {
    const int c = (int)get_global_id(0), r = (int)get_global_id(1);
    if (c >= cols || r >= rows)
        return;
    float v = src[src_off + (size_t)r * ld_src + c];
    const size_t d = dst_off + (size_t)r * ld_dst + c;
    dst[d] = accumulate ? dst[d] + v : v;
}

#define BIAS_ROW(V)                                                                                \
    for (int c = 0; c < N / V; c++)                                                                \
    VSTORE##V(VLOAD##V(c, yr) + VLOAD##V(c, bb), c, yr)
__kernel void bias_add_fwd_rows(__global float *y, const ulong y_off, const int ld_y,
                                __global const float *bias, const ulong bias_off, const int rows,
                                const int N, const int vw) {
    const int r = (int)get_global_id(0);
    if (r >= rows)
        return;
    __global float *yr = y + y_off + (size_t)r * ld_y;
    __global const float *bb = bias + bias_off;
    if (vw == 8)
        BIAS_ROW(8);
    else if (vw == 4)
        BIAS_ROW(4);
    else
        BIAS_ROW(1);
}

#define COPY_ROW(V)                                                                                \
    for (int c = 0; c < cols / V; c++)                                                             \
    VSTORE##V(accumulate ? VLOAD##V(c, d) + VLOAD##V(c, s) : VLOAD##V(c, s), c, d)
__kernel void copy_cols_rows(__global float *dst, const ulong dst_off, const int ld_dst,
                             __global const float *src, const ulong src_off, const int ld_src,
                             const int rows, const int cols, const int accumulate, const int vw) {
    const int r = (int)get_global_id(0);
    if (r >= rows)
        return;
    __global float *d = dst + dst_off + (size_t)r * ld_dst;
    __global const float *s = src + src_off + (size_t)r * ld_src;
    if (vw == 8)
        COPY_ROW(8);
    else if (vw == 4)
        COPY_ROW(4);
    else
        COPY_ROW(1);
}

#define COLSUM(V)                                                                                  \
    do {                                                                                           \
        VTYPE##V s = 0.0f;                                                                         \
        for (int r = r0; r < r1; r++)                                                              \
            s += VLOAD##V(cv, dy + dy_off + (size_t)r * ld_dy);                                    \
        VSTORE##V(s, cv, part + part_off + (size_t)b * N);                                         \
    } while (0)
__kernel void colsum_partial(__global float *part, const ulong part_off, __global const float *dy,
                             const ulong dy_off, const int ld_dy, const int rows, const int N,
                             const int rows_per_block, const int nblocks, const int vw) {
    const int cv = (int)get_global_id(0), b = (int)get_global_id(1);
    if (cv >= N / vw || b >= nblocks)
        return;
    const int r0 = b * rows_per_block, r1 = min(rows, r0 + rows_per_block);
    if (vw == 8)
        COLSUM(8);
    else if (vw == 4)
        COLSUM(4);
    else
        COLSUM(1);
}

__kernel void colsum_final(__global float *dst, const ulong dst_off, __global const float *part,
                           const ulong part_off, const int N, const int nblocks) {
    const int c = (int)get_global_id(0);
    if (c >= N)
        return;
    float s = 0.0f;
    for (int b = 0; b < nblocks; b++)
        s += part[part_off + (size_t)b * N + c];
    dst[dst_off + c] += s;
}

__kernel void repeat_fwd(__global float *out, const ulong out_off, __global const float *inp,
                         const ulong inp_off, const int M, const int P) {
    const size_t i = get_global_id(0);
    if (i >= (size_t)M * (size_t)P)
        return;
    out[out_off + i] = inp[inp_off + i / (size_t)P];
}

__kernel void repeat_bwd(__global float *dinp, const ulong dinp_off, __global const float *dout,
                         const ulong dout_off, const int M, const int P, const int accumulate) {
    const int m = (int)get_global_id(0);
    if (m >= M)
        return;
    __global const float *d = dout + dout_off + (size_t)m * P;
    float s = 0.0f;
    for (int p = 0; p < P; p++)
        s += d[p];
    dinp[dinp_off + m] = accumulate ? dinp[dinp_off + m] + s : s;
}

__kernel __attribute__((reqd_work_group_size(WG, 1, 1))) void
repeat_bwd_wg(__global float *dinp, const ulong dinp_off, __global const float *dout,
              const ulong dout_off, const int M, const int P, const int accumulate) {
    __local float buf[WG];
    const int l = (int)get_local_id(0), valid = (int)get_group_id(0) < M;
    const int m = valid ? (int)get_group_id(0) : 0; /* no early return before barriers */
    __global const float *d = dout + dout_off + (size_t)m * P;
    float s = 0.0f;
    for (int p = l; p < P; p += WG)
        s += d[p];
    buf[l] = s;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int h = WG / 2; h > 0; h >>= 1) {
        if (l < h)
            buf[l] += buf[l + h];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    if (valid && l == 0)
        dinp[dinp_off + m] = accumulate ? dinp[dinp_off + m] + buf[0] : buf[0];
}
