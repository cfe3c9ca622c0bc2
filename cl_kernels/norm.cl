/* norm.cl: LayerNorm, RMSNorm and gated RMSNorm over the last dimension, forward and backward
 * (C reference: model/norm_ref.c; launchers: model/norm.c; math: architecture.md §1.7, §3.2).
 *
 * Every buffer is two arguments `__global float *x, const ulong x_off`; x[x_off + i] is element i.
 * Layouts (row-major, channel-last): inp/out/dinp/dout (rows, C) dense; mean/rstd (rows);
 * weight/bias (C). Gated: y, z, dy, dz (rows, ld) strided with E used columns; out, dout (rows, E)
 * dense; rstd (rows, G); groups of Cg = E/G columns.
 *
 * Work-item mapping:
 *   *_fwd, *_bwd_dx   one work-group of WG per row (gated: per (row, group), group id r*G + g);
 *                     lanes stride the columns, then a fixed tree over the WG lanes.
 *   *_bwd_part        2-D (>= C, nblocks): part[b*C + c] = sum over the rows of block b (in
 *                     order) of the weight-gradient term at column c. LayerNorm writes the bias
 *                     term to part[nblocks*C + b*C + c].
 *   colsum_final      1-D (>= C): dst[c] += sum_b part[b*C + c], b = 0..nblocks-1 in order.
 * Row blocks are b*rows_per_block .. min(rows, (b+1)*rows_per_block) - 1.
 */

#ifndef WG
#define WG 64 /* lanes per row of the *_fwd and *_bwd_dx kernels: a power of two, 1..1024 */
#endif

/* Sum of v over the work-group by a fixed tree; every lane gets the result. */
float wg_sum(float v, __local float *buf) {
    const int l = (int)get_local_id(0);
    buf[l] = v;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int h = WG / 2; h > 0; h >>= 1) {
        if (l < h)
            buf[l] += buf[l + h];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    float s = buf[0];
    barrier(CLK_LOCAL_MEM_FENCE);
    return s;
}

float silu_f(float z) {
    return z / (1.0f + exp(-z));
}

/* ------------------------------------------------------------------ LayerNorm */
__kernel __attribute__((reqd_work_group_size(WG, 1, 1))) void
layernorm_fwd(__global float *out, const ulong out_off, __global float *mean, const ulong mean_off,
              __global float *rstd, const ulong rstd_off, __global const float *inp,
              const ulong inp_off, __global const float *weight, const ulong weight_off,
              __global const float *bias, const ulong bias_off, const int rows, const int C,
              const float eps) {
    __local float buf[WG];
    const int l = (int)get_local_id(0), valid = (int)get_group_id(0) < rows;
    const int r = valid ? (int)get_group_id(0) : 0; /* no early return before barriers */
    __global const float *x = inp + inp_off + (size_t)r * C;
    __global float *y = out + out_off + (size_t)r * C;
    __global const float *w = weight + weight_off, *b = bias + bias_off;
    float s = 0.0f;
    for (int c = l; c < C; c += WG)
        s += x[c];
    const float m = wg_sum(s, buf) / (float)C;
    s = 0.0f;
    for (int c = l; c < C; c += WG) {
        float d = x[c] - m;
        s += d * d;
    }
    const float rs = rsqrt(wg_sum(s, buf) / (float)C + eps);
    for (int c = l; valid && c < C; c += WG)
        y[c] = (x[c] - m) * rs * w[c] + b[c];
    if (valid && l == 0) {
        mean[mean_off + r] = m;
        rstd[rstd_off + r] = rs;
    }
}

__kernel __attribute__((reqd_work_group_size(WG, 1, 1))) void
layernorm_bwd_dx(__global float *dinp, const ulong dinp_off, __global const float *dout,
                 const ulong dout_off, __global const float *inp, const ulong inp_off,
                 __global const float *weight, const ulong weight_off, __global const float *mean,
                 const ulong mean_off, __global const float *rstd, const ulong rstd_off,
                 const int rows, const int C) {
    __local float buf[WG];
    const int l = (int)get_local_id(0), valid = (int)get_group_id(0) < rows;
    const int r = valid ? (int)get_group_id(0) : 0; /* no early return before barriers */
    __global const float *x = inp + inp_off + (size_t)r * C;
    __global const float *dy = dout + dout_off + (size_t)r * C;
    __global const float *w = weight + weight_off;
    __global float *dx = dinp + dinp_off + (size_t)r * C;
    const float m = mean[mean_off + r], rs = rstd[rstd_off + r];
    float sg = 0.0f, sgx = 0.0f;
    for (int c = l; c < C; c += WG) {
        float g = dy[c] * w[c];
        sg += g;
        sgx += g * (x[c] - m) * rs;
    }
    sg = wg_sum(sg, buf) / (float)C;
    sgx = wg_sum(sgx, buf) / (float)C;
    for (int c = l; valid && c < C; c += WG)
        dx[c] = rs * (dy[c] * w[c] - sg - (x[c] - m) * rs * sgx);
}

__kernel void layernorm_bwd_part(__global float *part, const ulong part_off,
                                 __global const float *dout, const ulong dout_off,
                                 __global const float *inp, const ulong inp_off,
                                 __global const float *mean, const ulong mean_off,
                                 __global const float *rstd, const ulong rstd_off, const int rows,
                                 const int C, const int rows_per_block, const int nblocks) {
    const int c = (int)get_global_id(0), b = (int)get_global_id(1);
    if (c >= C || b >= nblocks)
        return;
    const int r0 = b * rows_per_block, r1 = min(rows, r0 + rows_per_block);
    float sw = 0.0f, sb = 0.0f;
    for (int r = r0; r < r1; r++) {
        const size_t i = (size_t)r * C + c;
        const float dy = dout[dout_off + i];
        sw += dy * ((inp[inp_off + i] - mean[mean_off + r]) * rstd[rstd_off + r]);
        sb += dy;
    }
    part[part_off + (size_t)b * C + c] = sw;
    part[part_off + (size_t)(nblocks + b) * C + c] = sb;
}

__kernel void colsum_final(__global float *dst, const ulong dst_off, __global const float *part,
                           const ulong part_off, const int C, const int nblocks) {
    const int c = (int)get_global_id(0);
    if (c >= C)
        return;
    float s = 0.0f;
    for (int b = 0; b < nblocks; b++)
        s += part[part_off + (size_t)b * C + c];
    dst[dst_off + c] += s;
}

/* ------------------------------------------------------------------ RMSNorm */
__kernel __attribute__((reqd_work_group_size(WG, 1, 1))) void
rmsnorm_fwd(__global float *out, const ulong out_off, __global float *rstd, const ulong rstd_off,
            __global const float *inp, const ulong inp_off, __global const float *weight,
            const ulong weight_off, const int rows, const int C, const float eps) {
    __local float buf[WG];
    const int l = (int)get_local_id(0), valid = (int)get_group_id(0) < rows;
    const int r = valid ? (int)get_group_id(0) : 0; /* no early return before barriers */
    __global const float *x = inp + inp_off + (size_t)r * C;
    __global float *y = out + out_off + (size_t)r * C;
    __global const float *w = weight + weight_off;
    float s = 0.0f;
    for (int c = l; c < C; c += WG)
        s += x[c] * x[c];
    const float rs = rsqrt(wg_sum(s, buf) / (float)C + eps);
    for (int c = l; valid && c < C; c += WG)
        y[c] = x[c] * rs * w[c];
    if (valid && l == 0)
        rstd[rstd_off + r] = rs;
}

__kernel __attribute__((reqd_work_group_size(WG, 1, 1))) void
rmsnorm_bwd_dx(__global float *dinp, const ulong dinp_off, __global const float *dout,
               const ulong dout_off, __global const float *inp, const ulong inp_off,
               __global const float *weight, const ulong weight_off, __global const float *rstd,
               const ulong rstd_off, const int rows, const int C) {
    __local float buf[WG];
    const int l = (int)get_local_id(0), valid = (int)get_group_id(0) < rows;
    const int r = valid ? (int)get_group_id(0) : 0; /* no early return before barriers */
    __global const float *x = inp + inp_off + (size_t)r * C;
    __global const float *dy = dout + dout_off + (size_t)r * C;
    __global const float *w = weight + weight_off;
    __global float *dx = dinp + dinp_off + (size_t)r * C;
    const float rs = rstd[rstd_off + r];
    float s = 0.0f;
    for (int c = l; c < C; c += WG)
        s += dy[c] * w[c] * x[c];
    const float k = rs * rs * wg_sum(s, buf) / (float)C;
    for (int c = l; valid && c < C; c += WG)
        dx[c] = rs * (dy[c] * w[c] - x[c] * k);
}

__kernel void rmsnorm_bwd_part(__global float *part, const ulong part_off,
                               __global const float *dout, const ulong dout_off,
                               __global const float *inp, const ulong inp_off,
                               __global const float *rstd, const ulong rstd_off, const int rows,
                               const int C, const int rows_per_block, const int nblocks) {
    const int c = (int)get_global_id(0), b = (int)get_global_id(1);
    if (c >= C || b >= nblocks)
        return;
    const int r0 = b * rows_per_block, r1 = min(rows, r0 + rows_per_block);
    float sw = 0.0f;
    for (int r = r0; r < r1; r++) {
        const size_t i = (size_t)r * C + c;
        sw += dout[dout_off + i] * (inp[inp_off + i] * rstd[rstd_off + r]);
    }
    part[part_off + (size_t)b * C + c] = sw;
}

/* ------------------------------------------------------------------ gated RMSNorm */
__kernel __attribute__((reqd_work_group_size(WG, 1, 1))) void
gated_rmsnorm_fwd(__global float *out, const ulong out_off, __global float *rstd,
                  const ulong rstd_off, __global const float *y, const ulong y_off, const int ld_y,
                  __global const float *z, const ulong z_off, const int ld_z,
                  __global const float *weight, const ulong weight_off, const int rows, const int E,
                  const int G, const float eps) {
    __local float buf[WG];
    const int l = (int)get_local_id(0), valid = (int)get_group_id(0) < rows * G;
    const int q = valid ? (int)get_group_id(0) : 0; /* no early return before barriers */
    const int r = q / G, g = q % G, Cg = E / G;
    __global const float *yr = y + y_off + (size_t)r * ld_y + g * Cg;
    __global const float *zr = z + z_off + (size_t)r * ld_z + g * Cg;
    __global const float *w = weight + weight_off + g * Cg;
    __global float *o = out + out_off + (size_t)r * E + g * Cg;
    float s = 0.0f;
    for (int c = l; c < Cg; c += WG) {
        float v = yr[c] * silu_f(zr[c]);
        s += v * v;
    }
    const float rs = rsqrt(wg_sum(s, buf) / (float)Cg + eps);
    for (int c = l; valid && c < Cg; c += WG)
        o[c] = yr[c] * silu_f(zr[c]) * rs * w[c];
    if (valid && l == 0)
        rstd[rstd_off + q] = rs;
}

__kernel __attribute__((reqd_work_group_size(WG, 1, 1))) void gated_rmsnorm_bwd_dx(
    __global float *dy, const ulong dy_off, const int ld_dy, __global float *dz, const ulong dz_off,
    const int ld_dz, __global const float *dout, const ulong dout_off, __global const float *y,
    const ulong y_off, const int ld_y, __global const float *z, const ulong z_off, const int ld_z,
    __global const float *weight, const ulong weight_off, __global const float *rstd,
    const ulong rstd_off, const int rows, const int E, const int G) {
    __local float buf[WG];
    const int l = (int)get_local_id(0), valid = (int)get_group_id(0) < rows * G;
    const int q = valid ? (int)get_group_id(0) : 0; /* no early return before barriers */
    const int r = q / G, g = q % G, Cg = E / G;
    __global const float *yr = y + y_off + (size_t)r * ld_y + g * Cg;
    __global const float *zr = z + z_off + (size_t)r * ld_z + g * Cg;
    __global const float *w = weight + weight_off + g * Cg;
    __global const float *go = dout + dout_off + (size_t)r * E + g * Cg;
    __global float *dyr = dy + dy_off + (size_t)r * ld_dy + g * Cg;
    __global float *dzr = dz + dz_off + (size_t)r * ld_dz + g * Cg;
    const float rs = rstd[rstd_off + q];
    float s = 0.0f;
    for (int c = l; c < Cg; c += WG)
        s += go[c] * w[c] * (yr[c] * silu_f(zr[c]));
    const float k = rs * rs * wg_sum(s, buf) / (float)Cg;
    for (int c = l; valid && c < Cg; c += WG) {
        const float zc = zr[c], sg = 1.0f / (1.0f + exp(-zc)), sl = zc * sg, yc = yr[c];
        const float dv = rs * (go[c] * w[c] - yc * sl * k);
        dyr[c] = dv * sl;
        dzr[c] = dv * yc * sg * (1.0f + zc * (1.0f - sg));
    }
}

__kernel void gated_rmsnorm_bwd_part(__global float *part, const ulong part_off,
                                     __global const float *dout, const ulong dout_off,
                                     __global const float *y, const ulong y_off, const int ld_y,
                                     __global const float *z, const ulong z_off, const int ld_z,
                                     __global const float *rstd, const ulong rstd_off,
                                     const int rows, const int E, const int G,
                                     const int rows_per_block, const int nblocks) {
    const int c = (int)get_global_id(0), b = (int)get_global_id(1);
    if (c >= E || b >= nblocks)
        return;
    const int r0 = b * rows_per_block, r1 = min(rows, r0 + rows_per_block), g = c / (E / G);
    float sw = 0.0f;
    for (int r = r0; r < r1; r++) {
        const float v = y[y_off + (size_t)r * ld_y + c] * silu_f(z[z_off + (size_t)r * ld_z + c]);
        sw += dout[dout_off + (size_t)r * E + c] * (v * rstd[rstd_off + (size_t)r * G + g]);
    }
    part[part_off + (size_t)b * E + c] = sw;
}
