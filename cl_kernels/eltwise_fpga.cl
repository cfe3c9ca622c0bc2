/* eltwise_fpga.cl: FPGA-style variants (OpenCL C 1.2) of the element-wise ops of
 * cl_kernels/eltwise.cl: single work-item kernels (launched as one work-item,
 * reqd_work_group_size(1, 1, 1)) whose loops an FPGA compiler (Intel aoc, AMD v++) pipelines.
 * Selected by model/eltwise.c when climp_ctx_variant() is "fpga"; math as model/eltwise.h,
 * C reference model/eltwise_ref.c (the tests compare against it on the PoCL device).
 *
 * Every buffer is a view: `__global float *p, const ulong p_off`, indexed p[p_off + i].
 * Structure: the pipelined loop walks the data in blocks of LANES elements (a build-time define);
 * the block's LANES lanes are a fully unrolled loop with a predicate for the ragged end, so any n,
 * N, P works with one bitstream. Sums (bias backward, repeat backward) keep FPGA_II partial sums
 * in a shift register (term t adds to the partial of term t - FPGA_II, so an adder of that latency
 * still takes one block per cycle) and add them in fixed order at the end: deterministic.
 *   <op>_swi          flat ops over n elements: silu_fwd/bwd, gelu_fwd/bwd, softplus_fwd/bwd,
 *                     add, accumulate, scale, clamp_inplace (arguments as eltwise.cl's flat
 *                     kernels plus n; in place allowed, hence no `restrict` there: IVDEP tells an
 *                     Intel compiler that element i depends on element i only)
 *   bias_add_fwd_swi  y[r, c] += bias[c]
 *   bias_add_bwd_swi  dbias[c] += sum_r dy[r, c] (rows in order per partial; no scratch)
 *   copy_cols_swi     dst[r, c] (=|+=) src[r, c]
 *   repeat_fwd_swi    out[m*P + p] = inp[m]
 *   repeat_bwd_swi    dinp[m] (=|+=) sum_p dout[m*P + p]
 */

#ifndef LANES
#define LANES 8 /* elements per pipelined iteration (unrolled lanes): a power of two, 1..64 */
#endif
#ifndef FPGA_II
#define FPGA_II 8 /* partial sums per pipelined reduction (>= the float-add latency in cycles) */
#endif
#define SWI __kernel __attribute__((reqd_work_group_size(1, 1, 1))) void
#ifdef INTELFPGA_CL
#define IVDEP _Pragma("ivdep")
#else
#define IVDEP
#endif

/* Shift-register sums of one value per iteration: SR_DECL(s), SR_ADD(s, v), sr_sum(s). */
#define SR_DECL(s) float s[FPGA_II] = {0.0f}
#define SR_ADD(s, v)                                                                               \
    do {                                                                                           \
        const float n_ = s[FPGA_II - 1] + (v);                                                     \
        _Pragma("unroll") for (int j_ = FPGA_II - 1; j_ > 0; j_--) s[j_] = s[j_ - 1];              \
        s[0] = n_;                                                                                 \
    } while (0)
static float sr_sum(const float *s) {
    float t = 0.0f;
#pragma unroll
    for (int j = 0; j < FPGA_II; j++)
        t += s[j];
    return t;
}
/* The LANES values of v summed by a fixed pairwise tree (v is overwritten). */
static float tree_sum(float *v) {
#pragma unroll
    for (int h = LANES / 2; h > 0; h >>= 1) {
#pragma unroll
        for (int l = 0; l < h; l++)
            v[l] += v[l + h];
    }
    return v[0];
}
/* Per-lane shift registers (column sums over rows): LSR_ADD(s, v) adds v[l] to lane l. */
#define LSR_DECL(s) float s[FPGA_II][LANES] = {{0.0f}}
#define LSR_ADD(s, v)                                                                              \
    do {                                                                                           \
        float n_[LANES];                                                                           \
        _Pragma("unroll") for (int l_ = 0; l_ < LANES; l_++) n_[l_] = s[FPGA_II - 1][l_] + v[l_];  \
        _Pragma("unroll") for (int j_ = FPGA_II - 1; j_ > 0; j_--)                                 \
            _Pragma("unroll") for (int l_ = 0; l_ < LANES; l_++) s[j_][l_] = s[j_ - 1][l_];        \
        _Pragma("unroll") for (int l_ = 0; l_ < LANES; l_++) s[0][l_] = n_[l_];                    \
    } while (0)
#define LSR_SUM(s, l, out)                                                                         \
    do {                                                                                           \
        float t_ = 0.0f;                                                                           \
        _Pragma("unroll") for (int j_ = 0; j_ < FPGA_II; j_++) t_ += s[j_][l];                     \
        out = t_;                                                                                  \
    } while (0)

/* ------------------------------------------------------------------ scalar math */
/* The same formulas as eltwise.cl (see there): exp, fma, division and selects only, clamped exp
 * arguments (no subnormal intermediates), erf through a rational scaled Mills ratio. */
#define EXP_HI 80.0f
#define MIN_HI(x) ((x) > EXP_HI ? EXP_HI : (x))

/* (Phi(x), exp(-x^2/2)) */
static float2 ncdf_exp(float x) {
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
    const float near = fabs(x) > 12.5f ? 0.0f : 1.0f;
    const float t = e * (p / q) * near; /* Phi(-|x|) */
    return (float2)(x > 0.0f ? 1.0f - t : t, e * near);
}

/* log1p(z) for z in [0, 1] by 2 atanh(z / (2 + z)) */
static float log1p_01(float z) {
    const float s = z / (2.0f + z), w = s * s;
    float f = fma(fma(fma(fma(2.325381041e-01f, w, 2.169999629e-01f), w, 2.859281898e-01f), w,
                      3.999969661e-01f),
                  w, 6.666666865e-01f);
    return fma(s * w, f, 2.0f * s);
}

static float silu_grad(float x, float g) {
    const float e = exp(-MIN_HI(x)), s = 1.0f / (1.0f + e);
    return g * s * fma(x, e * s, 1.0f);
}
static float gelu_grad(float x, float g) {
    const float2 c = ncdf_exp(x);
    return g * fma(x * 0.3989422804014327f, c.y, c.x);
}
static float softplus_f(float x) {
    const float a = fabs(x), near = a > EXP_HI ? 0.0f : 1.0f;
    return fmax(x, 0.0f) + log1p_01(exp(-MIN_HI(a))) * near;
}

/* ------------------------------------------------------------------ flat ops */
/* Element i of out from o = out, a, b, alpha, beta (forwards read x = a; backwards dout = a,
 * x = b; accumulate and clamp read o). */
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

#define FLAT_SWI(name, EXPR)                                                                       \
    SWI name(__global float *out, const ulong out_off, __global const float *a_,                   \
             const ulong a_off, __global const float *b_, const ulong b_off, const float alpha,    \
             const float beta, const ulong n) {                                                    \
        __global float *o = out + out_off;                                                         \
        __global const float *a = a_ + a_off, *b = b_ + b_off;                                     \
        IVDEP for (ulong i0 = 0; i0 < n; i0 += LANES) {                                            \
            _Pragma("unroll") for (int l = 0; l < LANES; l++) {                                    \
                const ulong i = i0 + l;                                                            \
                if (i < n)                                                                         \
                    o[i] = EXPR(i);                                                                \
            }                                                                                      \
        }                                                                                          \
    }

FLAT_SWI(silu_fwd_swi, SILU_FWD)
FLAT_SWI(silu_bwd_swi, SILU_BWD)
FLAT_SWI(gelu_fwd_swi, GELU_FWD)
FLAT_SWI(gelu_bwd_swi, GELU_BWD)
FLAT_SWI(softplus_fwd_swi, SOFTPLUS_FWD)
FLAT_SWI(softplus_bwd_swi, SOFTPLUS_BWD)
FLAT_SWI(add_swi, ADD)
FLAT_SWI(accumulate_swi, ACCUMULATE)
FLAT_SWI(scale_swi, SCALE)
FLAT_SWI(clamp_inplace_swi, CLAMP)

/* ------------------------------------------------------------------ rows, column sums, repeat */
SWI bias_add_fwd_swi(__global float *restrict y, const ulong y_off, const int ld_y,
                     __global const float *restrict bias, const ulong bias_off, const int rows,
                     const int N) {
    __global const float *bb = bias + bias_off;
    for (int r = 0; r < rows; r++) {
        __global float *yr = y + y_off + (ulong)r * ld_y;
        for (int c0 = 0; c0 < N; c0 += LANES) {
#pragma unroll
            for (int l = 0; l < LANES; l++)
                if (c0 + l < N)
                    yr[c0 + l] += bb[c0 + l];
        }
    }
}

/* Column block c0..c0+LANES-1: the rows are the pipelined loop, one per-lane partial each. */
SWI bias_add_bwd_swi(__global float *restrict dbias, const ulong dbias_off,
                     __global const float *restrict dy, const ulong dy_off, const int ld_dy,
                     const int rows, const int N) {
    for (int c0 = 0; c0 < N; c0 += LANES) {
        LSR_DECL(s);
        for (int r = 0; r < rows; r++) {
            __global const float *g = dy + dy_off + (ulong)r * ld_dy + c0;
            float v[LANES];
#pragma unroll
            for (int l = 0; l < LANES; l++)
                v[l] = c0 + l < N ? g[l] : 0.0f;
            LSR_ADD(s, v);
        }
#pragma unroll
        for (int l = 0; l < LANES; l++) {
            float t;
            LSR_SUM(s, l, t);
            if (c0 + l < N)
                dbias[dbias_off + c0 + l] += t;
        }
    }
}

SWI copy_cols_swi(__global float *restrict dst, const ulong dst_off, const int ld_dst,
                  __global const float *restrict src, const ulong src_off, const int ld_src,
                  const int rows, const int cols, const int accumulate) {
    for (int r = 0; r < rows; r++) {
        __global float *d = dst + dst_off + (ulong)r * ld_dst;
        __global const float *s = src + src_off + (ulong)r * ld_src;
        for (int c0 = 0; c0 < cols; c0 += LANES) {
#pragma unroll
            for (int l = 0; l < LANES; l++) {
                const int c = c0 + l;
                if (c < cols)
                    d[c] = accumulate ? d[c] + s[c] : s[c];
            }
        }
    }
}

SWI repeat_fwd_swi(__global float *restrict out, const ulong out_off,
                   __global const float *restrict inp, const ulong inp_off, const int M,
                   const int P) {
    for (int m = 0; m < M; m++) {
        const float x = inp[inp_off + m];
        __global float *o = out + out_off + (ulong)m * P;
        for (int p0 = 0; p0 < P; p0 += LANES) {
#pragma unroll
            for (int l = 0; l < LANES; l++)
                if (p0 + l < P)
                    o[p0 + l] = x;
        }
    }
}

SWI repeat_bwd_swi(__global float *restrict dinp, const ulong dinp_off,
                   __global const float *restrict dout, const ulong dout_off, const int M,
                   const int P, const int accumulate) {
    for (int m = 0; m < M; m++) {
        __global const float *d = dout + dout_off + (ulong)m * P;
        SR_DECL(s);
        for (int p0 = 0; p0 < P; p0 += LANES) {
            float v[LANES];
#pragma unroll
            for (int l = 0; l < LANES; l++)
                v[l] = p0 + l < P ? d[p0 + l] : 0.0f;
            SR_ADD(s, tree_sum(v));
        }
        const float t = sr_sum(s);
        dinp[dinp_off + m] = accumulate ? dinp[dinp_off + m] + t : t;
    }
}
