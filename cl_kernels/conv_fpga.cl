/* FPGA-style variants (OpenCL C 1.2) of the convolution and data-movement ops of
 * cl_kernels/conv.cl and cl_kernels/crossscan.cl: single work-item kernels (launched as one
 * work-item, reqd_work_group_size(1, 1, 1)) whose loops an FPGA compiler (Intel aoc, AMD v++)
 * pipelines. Selected by the launchers of model/conv.c, model/conv3x3s2.c and model/crossscan.c
 * when climp_ctx_variant() is "fpga"; math and layouts as model/conv.h and model/crossscan.h;
 * C references: model/conv_ref.c and model/crossscan_ref.c, which the tests compare against on the
 * PoCL device. All of them sit in one program (no shape defines), so an FPGA build of this file
 * is one bitstream for every op.
 *
 * Every buffer is a view: `__global float *p, const ulong p_off`, indexed p[p_off + i].
 * Pipelining: the innermost loops run over channels with no loop-carried dependence (initiation
 * interval 1); the conv taps are fully unrolled loops with a compile-time bound and a predicate.
 * Sums over many terms (dw, dbias, pooling) keep FPGA_II partial sums in a shift register: term i
 * adds to the partial of term i - FPGA_II, so a float adder of that latency still takes one term
 * per cycle, and the partials are summed in fixed order at the end (deterministic). */

#ifndef FPGA_II
#define FPGA_II 8 /* partial sums per pipelined reduction (>= the float-add latency in cycles) */
#endif
#ifndef CONV1D_MAX_K
#define CONV1D_MAX_K 8 /* unroll bound of the causal conv1d taps (the width K is an argument) */
#endif
#define SWI __kernel __attribute__((reqd_work_group_size(1, 1, 1)))

/* Shift-register reduction: SR_DECL(s) declares FPGA_II partial sums, SR_ADD(s, v) adds one term,
 * SR_SUM(s) is their total in fixed order. */
#define SR_DECL(s) float s[FPGA_II] = {0.0f}
#define SR_ADD(s, v)                                                                         \
    do {                                                                                     \
        const float n_ = s[FPGA_II - 1] + (v);                                               \
        _Pragma("unroll") for (int j_ = FPGA_II - 1; j_ > 0; j_--) s[j_] = s[j_ - 1];        \
        s[0] = n_;                                                                           \
    } while (0)
static float sr_sum(const float *s) {
    float t = 0.0f;
#pragma unroll
    for (int j = 0; j < FPGA_II; j++) t += s[j];
    return t;
}

/* ------------------------------------------------------------------ causal depthwise conv1d */

/* y[b,t,c] = bias[c] + sum_k w[c,k] * x[b, t+k-(K-1), c]  (x rows of stride ld_x) */
SWI void causal_conv1d_fwd_swi(__global float *y, const ulong y_off,
                               __global const float *x, const ulong x_off,
                               __global const float *w, const ulong w_off,
                               __global const float *bias, const ulong bias_off,
                               const int B, const int L, const int C, const int K,
                               const int ld_x) {
    for (int r = 0; r < B * L; r++) {
        const int t = r % L;
        __global const float *xr = x + x_off + (ulong)r * ld_x;
        __global float *yr = y + y_off + (ulong)r * C;
        for (int c = 0; c < C; c++) {
            float acc = bias[bias_off + c];
#pragma unroll
            for (int k = 0; k < CONV1D_MAX_K; k++) {
                const int j = k - (K - 1); /* row offset of tap k */
                if (k < K && t + j >= 0) acc += w[w_off + (ulong)c * K + k] * xr[j * ld_x + c];
            }
            yr[c] = acc;
        }
    }
}

/* dx[b,tau,c] = sum_k w[c,k] * dy[b, tau-k+K-1, c] (overwrite, first C columns of stride ld_x);
 * dw[c,k] += sum_{b,t} dy[b,t,c] x[b,t+k-K+1,c];  dbias[c] += sum_{b,t} dy[b,t,c] */
SWI void causal_conv1d_bwd_swi(__global float *dx, const ulong dx_off,
                               __global float *dw, const ulong dw_off,
                               __global float *dbias, const ulong dbias_off,
                               __global const float *dy, const ulong dy_off,
                               __global const float *x, const ulong x_off,
                               __global const float *w, const ulong w_off,
                               const int B, const int L, const int C, const int K,
                               const int ld_x) {
    for (int r = 0; r < B * L; r++) {
        const int tau = r % L;
        __global const float *gr = dy + dy_off + (ulong)r * C;
        __global float *dxr = dx + dx_off + (ulong)r * ld_x;
        for (int c = 0; c < C; c++) {
            float acc = 0.0f;
#pragma unroll
            for (int k = 0; k < CONV1D_MAX_K; k++) {
                const int j = K - 1 - k; /* dy row offset of tap k */
                if (k < K && tau + j < L) acc += w[w_off + (ulong)c * K + k] * gr[j * C + c];
            }
            dxr[c] = acc;
        }
    }
    for (int c = 0; c < C; c++) {
        float s[CONV1D_MAX_K + 1][FPGA_II];
        for (int k = 0; k <= CONV1D_MAX_K; k++)
            for (int i = 0; i < FPGA_II; i++) s[k][i] = 0.0f;
        for (int r = 0; r < B * L; r++) {
            const int t = r % L;
            const float g = dy[dy_off + (ulong)r * C + c];
            __global const float *xr = x + x_off + (ulong)r * ld_x + c;
            SR_ADD(s[CONV1D_MAX_K], g);
#pragma unroll
            for (int k = 0; k < CONV1D_MAX_K; k++) {
                const int j = k - (K - 1);
                const float v = k < K && t + j >= 0 ? g * xr[j * ld_x] : 0.0f;
                SR_ADD(s[k], v);
            }
        }
        for (int k = 0; k < K; k++) dw[dw_off + (ulong)c * K + k] += sr_sum(s[k]);
        dbias[dbias_off + c] += sr_sum(s[CONV1D_MAX_K]);
    }
}

/* ------------------------------------------------------------------ depthwise conv2d 3x3 */

/* out[b,h,w,c] = sum_{ky,kx} k[ky*3+kx] * in[b, h+ky-1, w+kx-1, c], k = w[c] (flip = 0) or
 * k[j] = w[c, 8-j] (flip = 1: dx from dy). */
SWI void dwconv3x3_fwd_swi(__global float *out, const ulong out_off,
                           __global const float *in, const ulong in_off,
                           __global const float *w, const ulong w_off,
                           const int B, const int H, const int W, const int C, const int flip) {
    for (int line = 0; line < B * H; line++) {
        const int h = line % H;
        for (int v = 0; v < W; v++) {
            __global float *o = out + out_off + ((ulong)line * W + v) * C;
            __global const float *p = in + in_off + ((ulong)line * W + v) * C;
            for (int c = 0; c < C; c++) {
                float acc = 0.0f;
#pragma unroll
                for (int j = 0; j < 9; j++) {
                    const int dy = j / 3 - 1, dx = j % 3 - 1;
                    if (h + dy >= 0 && h + dy < H && v + dx >= 0 && v + dx < W)
                        acc += w[w_off + (ulong)c * 9 + (flip ? 8 - j : j)] *
                               p[(dy * W + dx) * C + c];
                }
                o[c] = acc;
            }
        }
    }
}

/* dw[c,ky*3+kx] += sum_{b,h,w} dy[b,h,w,c] * x[b, h+ky-1, w+kx-1, c] */
SWI void dwconv3x3_bwd_dw_swi(__global float *dw, const ulong dw_off,
                              __global const float *dy, const ulong dy_off,
                              __global const float *x, const ulong x_off,
                              const int B, const int H, const int W, const int C) {
    for (int c = 0; c < C; c++) {
        float s[9][FPGA_II];
        for (int j = 0; j < 9; j++)
            for (int i = 0; i < FPGA_II; i++) s[j][i] = 0.0f;
        for (int line = 0; line < B * H; line++) {
            const int h = line % H;
            for (int v = 0; v < W; v++) {
                const ulong q = ((ulong)line * W + v) * C + c;
                const float g = dy[dy_off + q];
#pragma unroll
                for (int j = 0; j < 9; j++) {
                    const int ddy = j / 3 - 1, ddx = j % 3 - 1;
                    const int in = h + ddy >= 0 && h + ddy < H && v + ddx >= 0 && v + ddx < W;
                    const float t = in ? g * x[x_off + q + (ddy * W + ddx) * C] : 0.0f;
                    SR_ADD(s[j], t);
                }
            }
        }
        for (int j = 0; j < 9; j++) dw[dw_off + (ulong)c * 9 + j] += sr_sum(s[j]);
    }
}

/* ------------------------------------------------------------------ conv 3x3 stride 2 pad 1 */

/* col[m, ci*9+ky*3+kx] = x[b, 2oy+ky-1, 2ox+kx-1, ci] or 0, m = (b*Ho + oy)*Wo + ox */
SWI void conv3x3s2_im2col_swi(__global float *col, const ulong col_off,
                              __global const float *x, const ulong x_off,
                              const int B, const int H, const int W, const int Cin,
                              const int Ho, const int Wo) {
    for (int m = 0; m < B * Ho * Wo; m++) {
        const int ox = m % Wo, oy = (m / Wo) % Ho, b = m / (Wo * Ho);
        __global const float *img = x + x_off + (ulong)b * H * W * Cin;
        __global float *dst = col + col_off + (ulong)m * Cin * 9;
        for (int ci = 0; ci < Cin; ci++) {
#pragma unroll
            for (int j = 0; j < 9; j++) {
                const int iy = 2 * oy + j / 3 - 1, ix = 2 * ox + j % 3 - 1;
                const int in = iy >= 0 && iy < H && ix >= 0 && ix < W;
                dst[ci * 9 + j] = in ? img[(iy * W + ix) * Cin + ci] : 0.0f;
            }
        }
    }
}

/* dx[b,iy,ix,ci] = sum over (ky, kx) in order with 2oy+ky-1 = iy, 2ox+kx-1 = ix of
 * dcol[(b*Ho+oy)*Wo+ox, ci*9+ky*3+kx] (overwrite) */
SWI void conv3x3s2_col2im_swi(__global float *dx, const ulong dx_off,
                              __global const float *dcol, const ulong dcol_off,
                              const int B, const int H, const int W, const int Cin,
                              const int Ho, const int Wo) {
    for (int pix = 0; pix < B * H * W; pix++) {
        const int ix = pix % W, iy = (pix / W) % H, b = pix / (W * H);
        __global const float *d = dcol + dcol_off + (ulong)b * Ho * Wo * Cin * 9;
        for (int ci = 0; ci < Cin; ci++) {
            float acc = 0.0f;
#pragma unroll
            for (int j = 0; j < 9; j++) {
                const int vy = iy + 1 - j / 3, vx = ix + 1 - j % 3;
                if (vy >= 0 && !(vy & 1) && (vy >> 1) < Ho && vx >= 0 && !(vx & 1) &&
                    (vx >> 1) < Wo)
                    acc += d[((ulong)(vy >> 1) * Wo + (vx >> 1)) * Cin * 9 + ci * 9 + j];
            }
            dx[dx_off + (ulong)pix * Cin + ci] = acc;
        }
    }
}

/* y[m, co] += bias[co] */
SWI void conv3x3s2_bias_swi(__global float *y, const ulong y_off,
                            __global const float *bias, const ulong bias_off,
                            const int M, const int Cout) {
    for (int m = 0; m < M; m++)
        for (int co = 0; co < Cout; co++) y[y_off + (ulong)m * Cout + co] += bias[bias_off + co];
}

/* dbias[co] += sum_m dy[m, co] */
SWI void conv3x3s2_dbias_swi(__global float *dbias, const ulong dbias_off,
                             __global const float *dy, const ulong dy_off,
                             const int M, const int Cout) {
    for (int co = 0; co < Cout; co++) {
        SR_DECL(s);
        for (int m = 0; m < M; m++) SR_ADD(s, dy[dy_off + (ulong)m * Cout + co]);
        dbias[dbias_off + co] += sr_sum(s);
    }
}

/* ------------------------------------------------------------------ cross-scan, pooling */

/* xs[b,l,k,e] = x[b, pixel(k, l), e] (k = 0 row-major, 1 column-major, 2 and 3 reversed) */
SWI void cross_scan_swi(__global float *xs, const ulong xs_off,
                        __global const float *x, const ulong x_off,
                        const int B, const int H, const int W, const int E) {
    const int L = H * W;
    for (int q = 0; q < 4 * B * L; q++) {
        const int k = q & 3, r = q >> 2, b = r / L;
        const int l = k >= 2 ? L - 1 - (r - b * L) : r - b * L;
        const int p = (k & 1) ? (l % H) * W + l / H : l;
        __global const float *src = x + x_off + ((ulong)b * L + p) * E;
        __global float *dst = xs + xs_off + (ulong)q * E;
        for (int e = 0; e < E; e++) dst[e] = src[e];
    }
}

/* y[b,h,w,:] = ys[b,hW+w,0,:] + ys[b,wH+h,1,:] + ys[b,L-1-(hW+w),2,:] + ys[b,L-1-(wH+h),3,:] */
SWI void cross_merge_swi(__global float *y, const ulong y_off,
                         __global const float *ys, const ulong ys_off,
                         const int B, const int H, const int W, const int E) {
    const int L = H * W;
    for (int r = 0; r < B * L; r++) {
        const int b = r / L, p = r - b * L, h = p / W, m = (p % W) * H + h;
        __global const float *s = ys + ys_off + (ulong)b * L * 4 * E;
        __global const float *s0 = s + ((ulong)p * 4 + 0) * E;
        __global const float *s1 = s + ((ulong)m * 4 + 1) * E;
        __global const float *s2 = s + ((ulong)(L - 1 - p) * 4 + 2) * E;
        __global const float *s3 = s + ((ulong)(L - 1 - m) * 4 + 3) * E;
        __global float *d = y + y_off + (ulong)r * E;
        for (int e = 0; e < E; e++) d[e] = s0[e] + s1[e] + s2[e] + s3[e];
    }
}

/* y[b,c] = (sum_l x[b,l,c]) / L */
SWI void avgpool_fwd_swi(__global float *y, const ulong y_off,
                         __global const float *x, const ulong x_off,
                         const int B, const int L, const int C) {
    for (int b = 0; b < B; b++)
        for (int c = 0; c < C; c++) {
            SR_DECL(s);
            for (int l = 0; l < L; l++) SR_ADD(s, x[x_off + ((ulong)b * L + l) * C + c]);
            y[y_off + (ulong)b * C + c] = sr_sum(s) / (float)L;
        }
}

/* dx[b,l,c] = dy[b,c] / L */
SWI void avgpool_bwd_swi(__global float *dx, const ulong dx_off,
                         __global const float *dy, const ulong dy_off,
                         const int B, const int L, const int C) {
    for (int r = 0; r < B * L; r++)
        for (int c = 0; c < C; c++)
            dx[dx_off + (ulong)r * C + c] = dy[dy_off + (ulong)(r / L) * C + c] / (float)L;
}

/* out[b,:] = h[b, lengths[b]-1, :], NaN for a length outside [1, Lmax] */
SWI void lasttoken_fwd_swi(__global float *out, const ulong out_off,
                           __global const float *h, const ulong h_off,
                           __global const float *lengths_f, const ulong lengths_off,
                           const int B, const int Lmax, const int D) {
    __global const int *lengths = (__global const int *)lengths_f;
    for (int b = 0; b < B; b++) {
        const int len = lengths[lengths_off + b], ok = len >= 1 && len <= Lmax;
        __global const float *src = h + h_off + ((ulong)b * Lmax + (ok ? len - 1 : 0)) * D;
        for (int d = 0; d < D; d++) out[out_off + (ulong)b * D + d] = ok ? src[d] : NAN;
    }
}

/* dh[b,t,:] = (t == lengths[b]-1) ? dout[b,:] : 0 */
SWI void lasttoken_bwd_swi(__global float *dh, const ulong dh_off,
                           __global const float *dout, const ulong dout_off,
                           __global const float *lengths_f, const ulong lengths_off,
                           const int B, const int Lmax, const int D) {
    __global const int *lengths = (__global const int *)lengths_f;
    for (int r = 0; r < B * Lmax; r++) {
        const int b = r / Lmax, hit = r - b * Lmax == lengths[lengths_off + b] - 1;
        for (int d = 0; d < D; d++)
            dh[dh_off + (ulong)r * D + d] = hit ? dout[dout_off + (ulong)b * D + d] : 0.0f;
    }
}
