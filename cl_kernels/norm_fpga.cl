/* norm_fpga.cl: FPGA-style variants (OpenCL C 1.2) of LayerNorm, RMSNorm and gated RMSNorm of
 * cl_kernels/norm.cl: single work-item kernels (launched as one work-item,
 * reqd_work_group_size(1, 1, 1)) whose loops an FPGA compiler (Intel aoc, AMD v++) pipelines.
 * Selected by model/norm.c when climp_ctx_variant() is "fpga"; math and layouts as
 * model/norm.h, C reference model/norm_ref.c (the tests compare against it on the PoCL device).
 *
 * Every buffer is a view: `__global float *p, const ulong p_off`, indexed p[p_off + i].
 * Row kernels (*_fwd_swi, *_bwd_dx_swi): rows (gated: (row, group) items q = r*G + g) one after
 * another; each pass over a row is a pipelined loop over blocks of LANES columns (a build-time
 * define), the lanes unrolled with a predicate for the ragged end; a row sum adds each block's
 * fixed-tree sum to a shift register of FPGA_II partials (an adder of that latency takes one
 * block per cycle), summed in fixed order at the end. Rows are re-read from global memory per
 * pass (the widths are arguments, so no on-chip row buffer of fixed size is needed).
 * Weight gradients (*_bwd_w_swi): per block of LANES columns, the rows are the pipelined loop with
 * FPGA_II partials per lane; the totals are added to dweight / dbias (no scratch buffer).
 * Everything is summed in a fixed order: deterministic.
 * `restrict` marks the pointers the launchers guarantee disjoint (backward outputs vs inputs);
 * the forwards may run in place (out = inp), so out / inp there are plain (IVDEP for aoc).
 *
 *   layernorm_fwd_swi        out, mean, rstd  <- inp, weight, bias          (rows, C)
 *   layernorm_bwd_dx_swi     dinp <- dout, inp, weight, mean, rstd
 *   layernorm_bwd_w_swi      dweight += sum_r dout xh;  dbias += sum_r dout
 *   rmsnorm_fwd_swi          out, rstd <- inp, weight
 *   rmsnorm_bwd_dx_swi       dinp <- dout, inp, weight, rstd
 *   rmsnorm_bwd_w_swi        dweight += sum_r dout x rstd
 *   gated_rmsnorm_fwd_swi    out (rows, E), rstd (rows, G) <- y, z (strided), weight
 *   gated_rmsnorm_bwd_dx_swi dy, dz (strided) <- dout, y, z, weight, rstd
 *   gated_rmsnorm_bwd_w_swi  dweight += sum_r dout v rstd,  v = y silu(z)
 */

#ifndef LANES
#define LANES 8 /* columns per pipelined iteration (unrolled lanes): a power of two, 1..64 */
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
static float tree_sum(float *v) {
#pragma unroll
    for (int h = LANES / 2; h > 0; h >>= 1) {
#pragma unroll
        for (int l = 0; l < h; l++)
            v[l] += v[l + h];
    }
    return v[0];
}
#define LSR_DECL(s) float s[FPGA_II][LANES] = {{0.0f}}
#define LSR_ADD(s, v)                                                                              \
    do {                                                                                           \
        float n_[LANES];                                                                           \
        _Pragma("unroll") for (int l_ = 0; l_ < LANES; l_++) n_[l_] = s[FPGA_II - 1][l_] + v[l_];  \
        _Pragma("unroll") for (int j_ = FPGA_II - 1; j_ > 0; j_--)                                 \
            _Pragma("unroll") for (int l_ = 0; l_ < LANES; l_++) s[j_][l_] = s[j_ - 1][l_];        \
        _Pragma("unroll") for (int l_ = 0; l_ < LANES; l_++) s[0][l_] = n_[l_];                    \
    } while (0)
static float lsr_sum(float s[FPGA_II][LANES], int l) {
    float t = 0.0f;
#pragma unroll
    for (int j = 0; j < FPGA_II; j++)
        t += s[j][l];
    return t;
}

/* res = sum over c < n of TERM (an expression of c), blockwise as described above. */
#define ROW_SUM(res, n, TERM)                                                                      \
    do {                                                                                           \
        SR_DECL(rs_);                                                                              \
        for (int c0 = 0; c0 < (n); c0 += LANES) {                                                  \
            float v_[LANES];                                                                       \
            _Pragma("unroll") for (int l_ = 0; l_ < LANES; l_++) {                                 \
                const int c = c0 + l_;                                                             \
                v_[l_] = c < (n) ? (TERM) : 0.0f;                                                  \
            }                                                                                      \
            SR_ADD(rs_, tree_sum(v_));                                                             \
        }                                                                                          \
        res = sr_sum(rs_);                                                                         \
    } while (0)
/* for every column c < n: STMT (a statement using c), LANES columns per iteration. */
#define ROW_FOR(n, STMT)                                                                           \
    IVDEP for (int c0 = 0; c0 < (n); c0 += LANES) {                                                \
        _Pragma("unroll") for (int l_ = 0; l_ < LANES; l_++) {                                     \
            const int c = c0 + l_;                                                                 \
            if (c < (n)) {                                                                         \
                STMT;                                                                              \
            }                                                                                      \
        }                                                                                          \
    }

/* silu(z), exp's argument clamped as in norm.cl (no subnormal intermediates, NaN propagates) */
#define SILU(z) ((z) / (1.0f + exp(-fmin((z), 80.0f))))

/* ------------------------------------------------------------------ LayerNorm */
SWI layernorm_fwd_swi(__global float *out, const ulong out_off, __global float *restrict mean,
                      const ulong mean_off, __global float *restrict rstd, const ulong rstd_off,
                      __global const float *inp, const ulong inp_off,
                      __global const float *restrict weight, const ulong weight_off,
                      __global const float *restrict bias, const ulong bias_off, const int rows,
                      const int C, const float eps) {
    __global const float *w = weight + weight_off, *b = bias + bias_off;
    for (int r = 0; r < rows; r++) {
        __global const float *x = inp + inp_off + (ulong)r * C;
        __global float *y = out + out_off + (ulong)r * C;
        float s, q;
        ROW_SUM(s, C, x[c]);
        const float m = s / (float)C;
        ROW_SUM(q, C, (x[c] - m) * (x[c] - m));
        const float rs = rsqrt(q / (float)C + eps);
        ROW_FOR(C, y[c] = (x[c] - m) * rs * w[c] + b[c]);
        mean[mean_off + r] = m;
        rstd[rstd_off + r] = rs;
    }
}

SWI layernorm_bwd_dx_swi(__global float *restrict dinp, const ulong dinp_off,
                         __global const float *restrict dout, const ulong dout_off,
                         __global const float *restrict inp, const ulong inp_off,
                         __global const float *restrict weight, const ulong weight_off,
                         __global const float *restrict mean, const ulong mean_off,
                         __global const float *restrict rstd, const ulong rstd_off, const int rows,
                         const int C) {
    __global const float *w = weight + weight_off;
    for (int r = 0; r < rows; r++) {
        __global const float *x = inp + inp_off + (ulong)r * C;
        __global const float *dy = dout + dout_off + (ulong)r * C;
        __global float *dx = dinp + dinp_off + (ulong)r * C;
        const float m = mean[mean_off + r], rs = rstd[rstd_off + r];
        SR_DECL(sg);
        SR_DECL(sgx);
        for (int c0 = 0; c0 < C; c0 += LANES) {
            float a[LANES], bx[LANES];
#pragma unroll
            for (int l = 0; l < LANES; l++) {
                const int c = c0 + l;
                const float g = c < C ? dy[c] * w[c] : 0.0f;
                a[l] = g;
                bx[l] = c < C ? g * (x[c] - m) * rs : 0.0f;
            }
            SR_ADD(sg, tree_sum(a));
            SR_ADD(sgx, tree_sum(bx));
        }
        const float mg = sr_sum(sg) / (float)C, mgx = sr_sum(sgx) / (float)C;
        ROW_FOR(C, dx[c] = rs * (dy[c] * w[c] - mg - (x[c] - m) * rs * mgx));
    }
}

SWI layernorm_bwd_w_swi(__global float *restrict dweight, const ulong dweight_off,
                        __global float *restrict dbias, const ulong dbias_off,
                        __global const float *restrict dout, const ulong dout_off,
                        __global const float *restrict inp, const ulong inp_off,
                        __global const float *restrict mean, const ulong mean_off,
                        __global const float *restrict rstd, const ulong rstd_off, const int rows,
                        const int C) {
    for (int c0 = 0; c0 < C; c0 += LANES) {
        LSR_DECL(sw);
        LSR_DECL(sb);
        for (int r = 0; r < rows; r++) {
            __global const float *x = inp + inp_off + (ulong)r * C + c0;
            __global const float *dy = dout + dout_off + (ulong)r * C + c0;
            const float m = mean[mean_off + r], rs = rstd[rstd_off + r];
            float vw[LANES], vb[LANES];
#pragma unroll
            for (int l = 0; l < LANES; l++) {
                const float g = c0 + l < C ? dy[l] : 0.0f;
                vb[l] = g;
                vw[l] = c0 + l < C ? g * ((x[l] - m) * rs) : 0.0f;
            }
            LSR_ADD(sw, vw);
            LSR_ADD(sb, vb);
        }
#pragma unroll
        for (int l = 0; l < LANES; l++)
            if (c0 + l < C) {
                dweight[dweight_off + c0 + l] += lsr_sum(sw, l);
                dbias[dbias_off + c0 + l] += lsr_sum(sb, l);
            }
    }
}

/* ------------------------------------------------------------------ RMSNorm */
SWI rmsnorm_fwd_swi(__global float *out, const ulong out_off, __global float *restrict rstd,
                    const ulong rstd_off, __global const float *inp, const ulong inp_off,
                    __global const float *restrict weight, const ulong weight_off, const int rows,
                    const int C, const float eps) {
    __global const float *w = weight + weight_off;
    for (int r = 0; r < rows; r++) {
        __global const float *x = inp + inp_off + (ulong)r * C;
        __global float *y = out + out_off + (ulong)r * C;
        float q;
        ROW_SUM(q, C, x[c] * x[c]);
        const float rs = rsqrt(q / (float)C + eps);
        ROW_FOR(C, y[c] = x[c] * rs * w[c]);
        rstd[rstd_off + r] = rs;
    }
}

SWI rmsnorm_bwd_dx_swi(__global float *restrict dinp, const ulong dinp_off,
                       __global const float *restrict dout, const ulong dout_off,
                       __global const float *restrict inp, const ulong inp_off,
                       __global const float *restrict weight, const ulong weight_off,
                       __global const float *restrict rstd, const ulong rstd_off, const int rows,
                       const int C) {
    __global const float *w = weight + weight_off;
    for (int r = 0; r < rows; r++) {
        __global const float *x = inp + inp_off + (ulong)r * C;
        __global const float *dy = dout + dout_off + (ulong)r * C;
        __global float *dx = dinp + dinp_off + (ulong)r * C;
        const float rs = rstd[rstd_off + r];
        float s;
        ROW_SUM(s, C, dy[c] * w[c] * x[c]);
        const float k = rs * rs * s / (float)C;
        ROW_FOR(C, dx[c] = rs * (dy[c] * w[c] - x[c] * k));
    }
}

SWI rmsnorm_bwd_w_swi(__global float *restrict dweight, const ulong dweight_off,
                      __global const float *restrict dout, const ulong dout_off,
                      __global const float *restrict inp, const ulong inp_off,
                      __global const float *restrict rstd, const ulong rstd_off, const int rows,
                      const int C) {
    for (int c0 = 0; c0 < C; c0 += LANES) {
        LSR_DECL(sw);
        for (int r = 0; r < rows; r++) {
            __global const float *x = inp + inp_off + (ulong)r * C + c0;
            __global const float *dy = dout + dout_off + (ulong)r * C + c0;
            const float rs = rstd[rstd_off + r];
            float v[LANES];
#pragma unroll
            for (int l = 0; l < LANES; l++)
                v[l] = c0 + l < C ? dy[l] * (x[l] * rs) : 0.0f;
            LSR_ADD(sw, v);
        }
#pragma unroll
        for (int l = 0; l < LANES; l++)
            if (c0 + l < C)
                dweight[dweight_off + c0 + l] += lsr_sum(sw, l);
    }
}

/* ------------------------------------------------------------------ gated RMSNorm */
SWI gated_rmsnorm_fwd_swi(__global float *out, const ulong out_off, __global float *restrict rstd,
                          const ulong rstd_off, __global const float *y, const ulong y_off,
                          const int ld_y, __global const float *z, const ulong z_off,
                          const int ld_z, __global const float *restrict weight,
                          const ulong weight_off, const int rows, const int E, const int G,
                          const float eps) {
    const int Cg = E / G;
    for (int q = 0; q < rows * G; q++) {
        const int r = q / G, g = q % G;
        __global const float *yr = y + y_off + (ulong)r * ld_y + g * Cg;
        __global const float *zr = z + z_off + (ulong)r * ld_z + g * Cg;
        __global const float *w = weight + weight_off + g * Cg;
        __global float *o = out + out_off + (ulong)r * E + g * Cg;
        float s;
        ROW_SUM(s, Cg, (yr[c] * SILU(zr[c])) * (yr[c] * SILU(zr[c])));
        const float rs = rsqrt(s / (float)Cg + eps);
        ROW_FOR(Cg, o[c] = yr[c] * SILU(zr[c]) * rs * w[c]);
        rstd[rstd_off + q] = rs;
    }
}

SWI gated_rmsnorm_bwd_dx_swi(__global float *restrict dy, const ulong dy_off, const int ld_dy,
                             __global float *restrict dz, const ulong dz_off, const int ld_dz,
                             __global const float *restrict dout, const ulong dout_off,
                             __global const float *restrict y, const ulong y_off, const int ld_y,
                             __global const float *restrict z, const ulong z_off, const int ld_z,
                             __global const float *restrict weight, const ulong weight_off,
                             __global const float *restrict rstd, const ulong rstd_off,
                             const int rows, const int E, const int G) {
    const int Cg = E / G;
    for (int q = 0; q < rows * G; q++) {
        const int r = q / G, g = q % G;
        __global const float *yr = y + y_off + (ulong)r * ld_y + g * Cg;
        __global const float *zr = z + z_off + (ulong)r * ld_z + g * Cg;
        __global const float *w = weight + weight_off + g * Cg;
        __global const float *go = dout + dout_off + (ulong)r * E + g * Cg;
        __global float *dyr = dy + dy_off + (ulong)r * ld_dy + g * Cg;
        __global float *dzr = dz + dz_off + (ulong)r * ld_dz + g * Cg;
        const float rs = rstd[rstd_off + q];
        float s;
        ROW_SUM(s, Cg, go[c] * w[c] * (yr[c] * SILU(zr[c])));
        const float k = rs * rs * s / (float)Cg;
        for (int c0 = 0; c0 < Cg; c0 += LANES) {
#pragma unroll
            for (int l = 0; l < LANES; l++) {
                const int c = c0 + l;
                if (c < Cg) {
                    const float zc = zr[c], e = exp(-fmin(zc, 80.0f)), sg = 1.0f / (1.0f + e);
                    const float sl = zc * sg, yc = yr[c];
                    const float dv = rs * (go[c] * w[c] - yc * sl * k);
                    dyr[c] = dv * sl;
                    dzr[c] = dv * yc * sg * (1.0f + zc * (e * sg)); /* 1 - sg = e sg */
                }
            }
        }
    }
}

SWI gated_rmsnorm_bwd_w_swi(__global float *restrict dweight, const ulong dweight_off,
                            __global const float *restrict dout, const ulong dout_off,
                            __global const float *restrict y, const ulong y_off, const int ld_y,
                            __global const float *restrict z, const ulong z_off, const int ld_z,
                            __global const float *restrict rstd, const ulong rstd_off,
                            const int rows, const int E, const int G) {
    const int Cg = E / G;
    for (int c0 = 0; c0 < E; c0 += LANES) {
        LSR_DECL(sw);
        for (int r = 0; r < rows; r++) {
            __global const float *yr = y + y_off + (ulong)r * ld_y + c0;
            __global const float *zr = z + z_off + (ulong)r * ld_z + c0;
            __global const float *go = dout + dout_off + (ulong)r * E + c0;
            float v[LANES];
#pragma unroll
            for (int l = 0; l < LANES; l++) {
                const int c = c0 + l;
                v[l] = c < E ? go[l] * (yr[l] * SILU(zr[l]) * rstd[rstd_off + (ulong)r * G + c / Cg])
                             : 0.0f;
            }
            LSR_ADD(sw, v);
        }
#pragma unroll
        for (int l = 0; l < LANES; l++)
            if (c0 + l < E)
                dweight[dweight_off + c0 + l] += lsr_sum(sw, l);
    }
}
