/* norm.cl: LayerNorm, RMSNorm and gated RMSNorm over the last dimension, forward and backward
 * (C reference: model/norm_ref.c; launchers: model/norm.c; math: architecture.md §1.7, §3.2).
 *
 * Every buffer is two arguments `__global float *x, const ulong x_off`; x[x_off + i] is element i.
 * Layouts (row-major, channel-last): inp/out/dinp/dout (rows, C) dense; mean/rstd (rows);
 * weight/bias (C). Gated: y, z, dy, dz (rows, ld) strided with E used columns; out, dout (rows, E)
 * dense; rstd (rows, G); groups of Cg = E/G columns.
 *
 * Columns are read vw at a time (vload<vw>; the host makes vw divide C, resp. Cg); a "vector
 * column" cv covers columns cv*vw .. cv*vw + vw-1 and CV = C / vw.
 * Work-item mapping:
 *   *_fwd, *_bwd_dx   1-D work-groups of WG * RPG: RPG rows per group (gated: (row, group)
 *                     items q = r*G + g), local id = row-in-group * WG + lane; WG lanes per row
 *                     stride the vector columns, then a fixed tree over the WG lanes. GPUs:
 *                     WG 32..256, RPG 1, vw 1. CPUs: WG 1 (a row is one work-item's loop over
 *                     float8/float4 vectors, no barriers), RPG 64.
 *   *_bwd_part        2-D (>= CV, nblocks): part[b*C + c] = sum over the rows of block b (in
 *                     order) of the weight-gradient term at column c, vw columns per item.
 *                     LayerNorm writes the bias term to part[nblocks*C + b*C + c].
 *   colsum_final      1-D (>= C): dst[c] += sum_b part[b*C + c], b = 0..nblocks-1 in order.
 * Row blocks are b*rows_per_block .. min(rows, (b+1)*rows_per_block) - 1.
 */

#ifndef WG
#define WG 64 /* lanes per row of the *_fwd and *_bwd_dx kernels: a power of two, 1..1024 */
#endif
#ifndef RPG
#define RPG 1 /* rows per work-group of the *_fwd and *_bwd_dx kernels, >= 1 */
#endif
/* Columns are read vw = 1, 4 or 8 at a time, a run-time argument (one program serves every
 * width; PoCL spends seconds per program build): each kernel branches once to its body for
 * V = 8, 4 or 1, written with VTYPE##V, VLOAD##V, VSTORE##V and HSUM##V. */
#define VTYPE1 float
#define VTYPE4 float4
#define VTYPE8 float8
#define VLOAD1(i, p) ((p)[i])
#define VLOAD4 vload4
#define VLOAD8 vload8
#define VSTORE1(v, i, p) ((p)[i] = (v))
#define VSTORE4 vstore4
#define VSTORE8 vstore8
#define HSUM1(v) (v)
#define HSUM4(v) hsum4(v)
#define HSUM8(v) hsum4((v).lo + (v).hi)
#if WG == 1
#define BY_WIDTH(BODY)                                                                             \
    if (vw == 8)                                                                                   \
        BODY(8);                                                                                   \
    else if (vw == 4)                                                                              \
        BODY(4);                                                                                   \
    else                                                                                           \
        BODY(1)
#else /* lanes split each row, with barriers: no branch around them (the host passes vw = 1) */
#define BY_WIDTH(BODY) BODY(1)
#endif

float hsum4(float4 v) {
    return (v.x + v.y) + (v.z + v.w);
}

/* Sum of v over the WG lanes of this row by a fixed tree; every lane gets the result. */
float wg_sum(float v, __local float *buf) {
#if WG == 1
    return v;
#else
    const int l = (int)get_local_id(0) % WG;
    buf += get_local_id(0) / WG * WG;
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
#endif
}

/* silu of any float vector. exp's argument is clamped at -80 (1 + exp(-80) == 1 in fp32): no
 * subnormal intermediates, which CPU threads without flush-to-zero run several times slower. NaN
 * stays NaN through z. */
#define SILU_V(z) ((z) / (1.0f + exp(-fmin((z), 80.0f))))

/* The row (or (row, group) item) of this work-item; invalid ones (past n) compute on item 0 and
 * write nothing: there is no early return before the barriers. */
#define ROW_ITEM(n)                                                                                \
    __local float buf[RPG * WG];                                                                   \
    const int l = (int)get_local_id(0) % WG;                                                       \
    const int item_ = (int)get_group_id(0) * RPG + (int)get_local_id(0) / WG;                      \
    const int valid = item_ < (n);                                                                 \
    const int item = valid ? item_ : 0

#define ROW_KERNEL __kernel __attribute__((reqd_work_group_size(WG * RPG, 1, 1))) void

/* ------------------------------------------------------------------ LayerNorm */
#define LAYERNORM_FWD(V)                                                                           \
    do {                                                                                           \
        const int r = item, CV = C / V;                                                            \
        __global const float *x = inp + inp_off + (size_t)r * C;                                   \
        __global float *y = out + out_off + (size_t)r * C;                                         \
        __global const float *w = weight + weight_off, *b = bias + bias_off;                       \
        VTYPE##V s = 0.0f;                                                                         \
        for (int c = l; c < CV; c += WG)                                                           \
            s += VLOAD##V(c, x);                                                                   \
        const float m = wg_sum(HSUM##V(s), buf) / (float)C;                                        \
        s = 0.0f;                                                                                  \
        for (int c = l; c < CV; c += WG) {                                                         \
            const VTYPE##V d = VLOAD##V(c, x) - m;                                                 \
            s += d * d;                                                                            \
        }                                                                                          \
        const float rs = rsqrt(wg_sum(HSUM##V(s), buf) / (float)C + eps);                          \
        for (int c = l; valid && c < CV; c += WG)                                                  \
            VSTORE##V((VLOAD##V(c, x) - m) * rs * VLOAD##V(c, w) + VLOAD##V(c, b), c, y);          \
        if (valid && l == 0) {                                                                     \
            mean[mean_off + r] = m;                                                                \
            rstd[rstd_off + r] = rs;                                                               \
        }                                                                                          \
    } while (0)
ROW_KERNEL
layernorm_fwd(__global float *out, const ulong out_off, __global float *mean, const ulong mean_off,
              __global float *rstd, const ulong rstd_off, __global const float *inp,
              const ulong inp_off, __global const float *weight, const ulong weight_off,
              __global const float *bias, const ulong bias_off, const int rows, const int C,
              const float eps, const int vw) {
    ROW_ITEM(rows);
    BY_WIDTH(LAYERNORM_FWD);
}

#define LAYERNORM_BWD_DX(V)                                                                        \
    do {                                                                                           \
        const int r = item, CV = C / V;                                                            \
        __global const float *x = inp + inp_off + (size_t)r * C;                                   \
        __global const float *dy = dout + dout_off + (size_t)r * C;                                \
        __global const float *w = weight + weight_off;                                             \
        __global float *dx = dinp + dinp_off + (size_t)r * C;                                      \
        const float m = mean[mean_off + r], rs = rstd[rstd_off + r];                               \
        VTYPE##V sg = 0.0f, sgx = 0.0f;                                                            \
        for (int c = l; c < CV; c += WG) {                                                         \
            const VTYPE##V g = VLOAD##V(c, dy) * VLOAD##V(c, w);                                   \
            sg += g;                                                                               \
            sgx += g * (VLOAD##V(c, x) - m) * rs;                                                  \
        }                                                                                          \
        const float mg = wg_sum(HSUM##V(sg), buf) / (float)C;                                      \
        const float mgx = wg_sum(HSUM##V(sgx), buf) / (float)C;                                    \
        for (int c = l; valid && c < CV; c += WG) {                                                \
            const VTYPE##V g = VLOAD##V(c, dy) * VLOAD##V(c, w);                                   \
            const VTYPE##V v = rs * (g - mg - (VLOAD##V(c, x) - m) * rs * mgx);                    \
            VSTORE##V(v, c, dx);                                                                   \
        }                                                                                          \
    } while (0)
ROW_KERNEL
layernorm_bwd_dx(__global float *dinp, const ulong dinp_off, __global const float *dout,
                 const ulong dout_off, __global const float *inp, const ulong inp_off,
                 __global const float *weight, const ulong weight_off, __global const float *mean,
                 const ulong mean_off, __global const float *rstd, const ulong rstd_off,
                 const int rows, const int C, const int vw) {
    ROW_ITEM(rows);
    BY_WIDTH(LAYERNORM_BWD_DX);
}

/* Block b's rows r0..r1-1 of column group cv (vw columns); guards for any global size. */
#define PART_ITEM(CV_)                                                                             \
    const int cv = (int)get_global_id(0), b = (int)get_global_id(1);                               \
    if (cv >= (CV_) || b >= nblocks)                                                               \
        return;                                                                                    \
    const int r0 = b * rows_per_block, r1 = min(rows, r0 + rows_per_block)

#define LAYERNORM_BWD_PART(V)                                                                      \
    do {                                                                                           \
        VTYPE##V sw = 0.0f, sb = 0.0f;                                                             \
        for (int r = r0; r < r1; r++) {                                                            \
            __global const float *x = inp + inp_off + (size_t)r * C;                               \
            __global const float *dy = dout + dout_off + (size_t)r * C;                            \
            const VTYPE##V g = VLOAD##V(cv, dy);                                                   \
            sw += g * ((VLOAD##V(cv, x) - mean[mean_off + r]) * rstd[rstd_off + r]);               \
            sb += g;                                                                               \
        }                                                                                          \
        VSTORE##V(sw, cv, part + part_off + (size_t)b * C);                                        \
        VSTORE##V(sb, cv, part + part_off + (size_t)(nblocks + b) * C);                            \
    } while (0)
__kernel void layernorm_bwd_part(__global float *part, const ulong part_off,
                                 __global const float *dout, const ulong dout_off,
                                 __global const float *inp, const ulong inp_off,
                                 __global const float *mean, const ulong mean_off,
                                 __global const float *rstd, const ulong rstd_off, const int rows,
                                 const int C, const int rows_per_block, const int nblocks,
                                 const int vw) {
    PART_ITEM(C / vw);
    BY_WIDTH(LAYERNORM_BWD_PART);
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
#define RMSNORM_FWD(V)                                                                             \
    do {                                                                                           \
        const int r = item, CV = C / V;                                                            \
        __global const float *x = inp + inp_off + (size_t)r * C;                                   \
        __global float *y = out + out_off + (size_t)r * C;                                         \
        __global const float *w = weight + weight_off;                                             \
        VTYPE##V s = 0.0f;                                                                         \
        for (int c = l; c < CV; c += WG) {                                                         \
            const VTYPE##V v = VLOAD##V(c, x);                                                     \
            s += v * v;                                                                            \
        }                                                                                          \
        const float rs = rsqrt(wg_sum(HSUM##V(s), buf) / (float)C + eps);                          \
        for (int c = l; valid && c < CV; c += WG)                                                  \
            VSTORE##V(VLOAD##V(c, x) * rs * VLOAD##V(c, w), c, y);                                 \
        if (valid && l == 0)                                                                       \
            rstd[rstd_off + r] = rs;                                                               \
    } while (0)
ROW_KERNEL
rmsnorm_fwd(__global float *out, const ulong out_off, __global float *rstd, const ulong rstd_off,
            __global const float *inp, const ulong inp_off, __global const float *weight,
            const ulong weight_off, const int rows, const int C, const float eps, const int vw) {
    ROW_ITEM(rows);
    BY_WIDTH(RMSNORM_FWD);
}

#define RMSNORM_BWD_DX(V)                                                                          \
    do {                                                                                           \
        const int r = item, CV = C / V;                                                            \
        __global const float *x = inp + inp_off + (size_t)r * C;                                   \
        __global const float *dy = dout + dout_off + (size_t)r * C;                                \
        __global const float *w = weight + weight_off;                                             \
        __global float *dx = dinp + dinp_off + (size_t)r * C;                                      \
        const float rs = rstd[rstd_off + r];                                                       \
        VTYPE##V s = 0.0f;                                                                         \
        for (int c = l; c < CV; c += WG)                                                           \
            s += VLOAD##V(c, dy) * VLOAD##V(c, w) * VLOAD##V(c, x);                                \
        const float k = rs * rs * wg_sum(HSUM##V(s), buf) / (float)C;                              \
        for (int c = l; valid && c < CV; c += WG) {                                                \
            const VTYPE##V v = rs * (VLOAD##V(c, dy) * VLOAD##V(c, w) - VLOAD##V(c, x) * k);       \
            VSTORE##V(v, c, dx);                                                                   \
        }                                                                                          \
    } while (0)
ROW_KERNEL
rmsnorm_bwd_dx(__global float *dinp, const ulong dinp_off, __global const float *dout,
               const ulong dout_off, __global const float *inp, const ulong inp_off,
               __global const float *weight, const ulong weight_off, __global const float *rstd,
               const ulong rstd_off, const int rows, const int C, const int vw) {
    ROW_ITEM(rows);
    BY_WIDTH(RMSNORM_BWD_DX);
}

#define RMSNORM_BWD_PART(V)                                                                        \
    do {                                                                                           \
        VTYPE##V sw = 0.0f;                                                                        \
        for (int r = r0; r < r1; r++) {                                                            \
            __global const float *x = inp + inp_off + (size_t)r * C;                               \
            __global const float *dy = dout + dout_off + (size_t)r * C;                            \
            sw += VLOAD##V(cv, dy) * (VLOAD##V(cv, x) * rstd[rstd_off + r]);                       \
        }                                                                                          \
        VSTORE##V(sw, cv, part + part_off + (size_t)b * C);                                        \
    } while (0)
__kernel void rmsnorm_bwd_part(__global float *part, const ulong part_off,
                               __global const float *dout, const ulong dout_off,
                               __global const float *inp, const ulong inp_off,
                               __global const float *rstd, const ulong rstd_off, const int rows,
                               const int C, const int rows_per_block, const int nblocks,
                               const int vw) {
    PART_ITEM(C / vw);
    BY_WIDTH(RMSNORM_BWD_PART);
}

/* ------------------------------------------------------------------ gated RMSNorm */
#define GATED_RMSNORM_FWD(V)                                                                       \
    do {                                                                                           \
        const int q = item, r = q / G, g = q % G, Cg = E / G, CV = Cg / V;                         \
        __global const float *yr = y + y_off + (size_t)r * ld_y + g * Cg;                          \
        __global const float *zr = z + z_off + (size_t)r * ld_z + g * Cg;                          \
        __global const float *w = weight + weight_off + g * Cg;                                    \
        __global float *o = out + out_off + (size_t)r * E + g * Cg;                                \
        VTYPE##V s = 0.0f;                                                                         \
        for (int c = l; c < CV; c += WG) {                                                         \
            const VTYPE##V v = VLOAD##V(c, yr) * SILU_V(VLOAD##V(c, zr));                          \
            s += v * v;                                                                            \
        }                                                                                          \
        const float rs = rsqrt(wg_sum(HSUM##V(s), buf) / (float)Cg + eps);                         \
        for (int c = l; valid && c < CV; c += WG)                                                  \
            VSTORE##V(VLOAD##V(c, yr) * SILU_V(VLOAD##V(c, zr)) * rs * VLOAD##V(c, w), c, o);      \
        if (valid && l == 0)                                                                       \
            rstd[rstd_off + q] = rs;                                                               \
    } while (0)
ROW_KERNEL
gated_rmsnorm_fwd(__global float *out, const ulong out_off, __global float *rstd,
                  const ulong rstd_off, __global const float *y, const ulong y_off, const int ld_y,
                  __global const float *z, const ulong z_off, const int ld_z,
                  __global const float *weight, const ulong weight_off, const int rows, const int E,
                  const int G, const float eps, const int vw) {
    ROW_ITEM(rows * G);
    BY_WIDTH(GATED_RMSNORM_FWD);
}

#define GATED_RMSNORM_BWD_DX(V)                                                                    \
    do {                                                                                           \
        const int q = item, r = q / G, g = q % G, Cg = E / G, CV = Cg / V;                         \
        __global const float *yr = y + y_off + (size_t)r * ld_y + g * Cg;                          \
        __global const float *zr = z + z_off + (size_t)r * ld_z + g * Cg;                          \
        __global const float *w = weight + weight_off + g * Cg;                                    \
        __global const float *go = dout + dout_off + (size_t)r * E + g * Cg;                       \
        __global float *dyr = dy + dy_off + (size_t)r * ld_dy + g * Cg;                            \
        __global float *dzr = dz + dz_off + (size_t)r * ld_dz + g * Cg;                            \
        const float rs = rstd[rstd_off + q];                                                       \
        VTYPE##V s = 0.0f;                                                                         \
        for (int c = l; c < CV; c += WG)                                                           \
            s += VLOAD##V(c, go) * VLOAD##V(c, w) * (VLOAD##V(c, yr) * SILU_V(VLOAD##V(c, zr)));   \
        const float k = rs * rs * wg_sum(HSUM##V(s), buf) / (float)Cg;                             \
        for (int c = l; valid && c < CV; c += WG) {                                                \
            const VTYPE##V zc = VLOAD##V(c, zr), e = exp(-fmin(zc, 80.0f)),                        \
                           sg = 1.0f / (1.0f + e);                                                 \
            const VTYPE##V sl = zc * sg;                                                           \
            const VTYPE##V yc = VLOAD##V(c, yr);                                                   \
            const VTYPE##V dv = rs * (VLOAD##V(c, go) * VLOAD##V(c, w) - yc * sl * k);             \
            const VTYPE##V gy = dv * sl;                                                           \
            const VTYPE##V gz = dv * yc * sg * (1.0f + zc * (e * sg)); /* 1 - sg = e sg */         \
            VSTORE##V(gy, c, dyr);                                                                 \
            VSTORE##V(gz, c, dzr);                                                                 \
        }                                                                                          \
    } while (0)
ROW_KERNEL
gated_rmsnorm_bwd_dx(__global float *dy, const ulong dy_off, const int ld_dy, __global float *dz,
                     const ulong dz_off, const int ld_dz, __global const float *dout,
                     const ulong dout_off, __global const float *y, const ulong y_off,
                     const int ld_y, __global const float *z, const ulong z_off, const int ld_z,
                     __global const float *weight, const ulong weight_off,
                     __global const float *rstd, const ulong rstd_off, const int rows, const int E,
                     const int G, const int vw) {
    ROW_ITEM(rows * G);
    BY_WIDTH(GATED_RMSNORM_BWD_DX);
}

#define GATED_RMSNORM_BWD_PART(V)                                                                  \
    do {                                                                                           \
        const int g = cv * V / (E / G); /* V divides E / G: one group per item */                  \
        VTYPE##V sw = 0.0f;                                                                        \
        for (int r = r0; r < r1; r++) {                                                            \
            const VTYPE##V v = VLOAD##V(cv, y + y_off + (size_t)r * ld_y) *                        \
                               SILU_V(VLOAD##V(cv, z + z_off + (size_t)r * ld_z));                 \
            sw += VLOAD##V(cv, dout + dout_off + (size_t)r * E) *                                  \
                  (v * rstd[rstd_off + (size_t)r * G + g]);                                        \
        }                                                                                          \
        VSTORE##V(sw, cv, part + part_off + (size_t)b * E);                                        \
    } while (0)
__kernel void gated_rmsnorm_bwd_part(__global float *part, const ulong part_off,
                                     __global const float *dout, const ulong dout_off,
                                     __global const float *y, const ulong y_off, const int ld_y,
                                     __global const float *z, const ulong z_off, const int ld_z,
                                     __global const float *rstd, const ulong rstd_off,
                                     const int rows, const int E, const int G,
                                     const int rows_per_block, const int nblocks, const int vw) {
    PART_ITEM(E / vw);
    BY_WIDTH(GATED_RMSNORM_BWD_PART);
}
