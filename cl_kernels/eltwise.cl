/* eltwise.cl: element-wise ops, forward and backward (C reference: model/eltwise_ref.c).
 *
 * Every buffer is two arguments `__global float *x, const ulong x_off`; x[x_off + i] is element i.
 * Flat kernels (n elements): one work-item per element, 1-D global size >= n, any local size.
 *   silu_fwd/bwd, gelu_fwd/bwd (exact erf form), softplus_fwd/bwd (threshold 20), add,
 *   accumulate (y += alpha x), scale (out = alpha x), clamp (in place).
 * Row kernels on (rows, N) with row stride ld: 2-D global size (>= N, >= rows).
 *   bias_add_fwd      y[r, c] += bias[c]
 *   copy_cols         dst[r, c] = src[r, c]  (or += with accumulate = 1)
 * Deterministic column sums (bias backward), two stages over fixed row blocks:
 *   colsum_partial    2-D (>= N, nblocks): part[b, c] = sum of dy[r, c] for r in block b, in order
 *   colsum_final      1-D (>= N): dst[c] += sum_b part[b, c], b = 0..nblocks-1 in order
 * Repeat (Mamba-2 per-head -> per-channel):
 *   repeat_fwd        1-D (>= M*P): out[m*P + p] = inp[m]
 *   repeat_bwd        1-D (>= M): dinp[m] (=|+=) sum_p dout[m*P + p], p in order
 *   repeat_bwd_wg     one work-group of WG per m: lanes stride p, then a fixed tree.
 */

#ifndef WG
#define WG 64 /* work-group size of repeat_bwd_wg: a power of two, 1..1024 */
#endif

#define FLAT_ID(n)                                                                                 \
    const size_t i = get_global_id(0);                                                             \
    if (i >= (n))                                                                                  \
    return

__kernel void silu_fwd(__global float *out, const ulong out_off, __global const float *inp,
                       const ulong inp_off, const ulong n) {
    FLAT_ID(n);
    float x = inp[inp_off + i];
    out[out_off + i] = x / (1.0f + exp(-x));
}

__kernel void silu_bwd(__global float *dinp, const ulong dinp_off, __global const float *dout,
                       const ulong dout_off, __global const float *inp, const ulong inp_off,
                       const ulong n) {
    FLAT_ID(n);
    float x = inp[inp_off + i];
    float s = 1.0f / (1.0f + exp(-x));
    dinp[dinp_off + i] = dout[dout_off + i] * s * (1.0f + x * (1.0f - s));
}

__kernel void gelu_fwd(__global float *out, const ulong out_off, __global const float *inp,
                       const ulong inp_off, const ulong n) {
    FLAT_ID(n);
    float x = inp[inp_off + i];
    out[out_off + i] = 0.5f * x * (1.0f + erf(x * M_SQRT1_2_F));
}

__kernel void gelu_bwd(__global float *dinp, const ulong dinp_off, __global const float *dout,
                       const ulong dout_off, __global const float *inp, const ulong inp_off,
                       const ulong n) {
    FLAT_ID(n);
    float x = inp[inp_off + i];
    float cdf = 0.5f * (1.0f + erf(x * M_SQRT1_2_F));
    float pdf = 0.3989422804014327f * exp(-0.5f * x * x);
    dinp[dinp_off + i] = dout[dout_off + i] * (cdf + x * pdf);
}

__kernel void softplus_fwd(__global float *out, const ulong out_off, __global const float *inp,
                           const ulong inp_off, const ulong n) {
    FLAT_ID(n);
    float x = inp[inp_off + i];
    out[out_off + i] = x > 20.0f ? x : log1p(exp(x));
}

__kernel void softplus_bwd(__global float *dinp, const ulong dinp_off, __global const float *dout,
                           const ulong dout_off, __global const float *inp, const ulong inp_off,
                           const ulong n) {
    FLAT_ID(n);
    float x = inp[inp_off + i];
    float g = dout[dout_off + i];
    dinp[dinp_off + i] = x > 20.0f ? g : g / (1.0f + exp(-x));
}

__kernel void add(__global float *out, const ulong out_off, __global const float *a,
                  const ulong a_off, __global const float *b, const ulong b_off, const ulong n) {
    FLAT_ID(n);
    out[out_off + i] = a[a_off + i] + b[b_off + i];
}

__kernel void accumulate(__global float *y, const ulong y_off, __global const float *x,
                         const ulong x_off, const float alpha, const ulong n) {
    FLAT_ID(n);
    y[y_off + i] += alpha * x[x_off + i];
}

__kernel void scale(__global float *out, const ulong out_off, __global const float *x,
                    const ulong x_off, const float alpha, const ulong n) {
    FLAT_ID(n);
    out[out_off + i] = alpha * x[x_off + i];
}

__kernel void clamp_inplace(__global float *y, const ulong y_off, const float lo, const float hi,
                            const ulong n) {
    FLAT_ID(n);
    y[y_off + i] = fmin(fmax(y[y_off + i], lo), hi);
}

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

__kernel void colsum_partial(__global float *part, const ulong part_off, __global const float *dy,
                             const ulong dy_off, const int ld_dy, const int rows, const int N,
                             const int rows_per_block, const int nblocks) {
    const int c = (int)get_global_id(0), b = (int)get_global_id(1);
    if (c >= N || b >= nblocks)
        return;
    const int r0 = b * rows_per_block, r1 = min(rows, r0 + rows_per_block);
    float s = 0.0f;
    for (int r = r0; r < r1; r++)
        s += dy[dy_off + (size_t)r * ld_dy + c];
    part[part_off + (size_t)b * N + c] = s;
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
