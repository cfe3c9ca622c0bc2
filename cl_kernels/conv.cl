/* Convolution kernels (OpenCL C 1.2), forward and backward. Launchers: model/conv.c and
 * model/conv3x3s2.c; C references: model/conv_ref.c (climp_causal_conv1d_*_ref,
 * climp_dwconv3x3_*_ref, climp_conv3x3s2_*_ref). Math: docs in model/conv.h.
 *
 * Every buffer is a view: two arguments `__global float *p, const ulong p_off`, indexed
 * p[p_off + i]. Layouts are channel-last and row-major:
 *   causal conv1d : x (B, L, ld_x) [first C columns], y / dy (B, L, C), w (C, K), bias (C)
 *   dwconv 3x3    : x, y, dx, dy (B, H, W, C), w (C, 9) as (c, ky, kx); a "line" is one
 *                   image row (b, h) of W pixels
 *   conv 3x3 s2   : x / dx (B, H, W, Cin), col / dcol (B*Ho*Wo, Cin*9) as (ci, ky, kx),
 *                   y / dy (B*Ho*Wo, Cout), bias (Cout)
 * Work-item mapping: 2-D, dimension 0 = channel (fastest in memory, so neighbouring items touch
 * neighbouring addresses), dimension 1 = row / image line / pixel / partial-sum chunk. Items
 * written (c0, r) loop over channels c0, c0 + G0, ... (G0 = global size of dimension 0), so the
 * row's index arithmetic is paid once; the others take one channel each. Every kernel guards its
 * bounds, so any global size that covers the range is valid.
 *
 * Reductions over (b, t) or pixels are two-stage and fixed-order (no atomics): a *_part kernel
 * sums rows [p*rows, (p+1)*rows) of chunk p into part (P, ncol); reduce_parts_add then adds
 * sum_{p=0..P-1} part[p, j] (in p order) to the destination column j. */

#ifndef CONV1D_MAX_K
#define CONV1D_MAX_K 8 /* largest causal conv1d width the private accumulators hold (1..8) */
#endif

/* ------------------------------------------------------------------ causal depthwise conv1d */

/* item (c0, r), r = b*L + t in [0, B*L); channels c0, c0 + G0, ... */
__kernel void causal_conv1d_fwd(__global float *y, const ulong y_off,
                                __global const float *x, const ulong x_off,
                                __global const float *w, const ulong w_off,
                                __global const float *bias, const ulong bias_off,
                                const int BL, const int L, const int C, const int K,
                                const int ld_x) {
    const int r = get_global_id(1);
    if (r >= BL) return;
    const int t = r % L, k0 = max(0, K - 1 - t); /* taps k < k0 reach before t = 0 */
    for (int c = get_global_id(0); c < C; c += get_global_size(0)) {
        float acc = bias[bias_off + c];
        for (int k = k0; k < K; k++)
            acc += w[w_off + (ulong)c * K + k] * x[x_off + (ulong)(r + k - (K - 1)) * ld_x + c];
        y[y_off + (ulong)r * C + c] = acc;
    }
}

/* dx[b,tau,c] = sum_k w[c,k] * dy[b, tau-k+K-1, c]; item (c0, r), r = b*L + tau. */
__kernel void causal_conv1d_bwd_dx(__global float *dx, const ulong dx_off,
                                   __global const float *dy, const ulong dy_off,
                                   __global const float *w, const ulong w_off,
                                   const int BL, const int L, const int C, const int K,
                                   const int ld_x) {
    const int r = get_global_id(1);
    if (r >= BL) return;
    const int tau = r % L, k0 = max(0, tau + K - L); /* taps k < k0 reach past t = L-1 */
    for (int c = get_global_id(0); c < C; c += get_global_size(0)) {
        float acc = 0.0f;
        for (int k = k0; k < K; k++)
            acc += w[w_off + (ulong)c * K + k] * dy[dy_off + (ulong)(r - k + K - 1) * C + c];
        dx[dx_off + (ulong)r * ld_x + c] = acc;
    }
}

/* Partial sums of dw and dbias over rows [p*rows, min((p+1)*rows, BL)); item (c, p).
 * part (P, C*K + C): columns [0, C*K) are dw in its (c, k) layout, [C*K, C*K+C) dbias. */
__kernel void causal_conv1d_bwd_dw_part(__global float *part, const ulong part_off,
                                        __global const float *dy, const ulong dy_off,
                                        __global const float *x, const ulong x_off,
                                        const int BL, const int L, const int C, const int K,
                                        const int ld_x, const int rows, const int P) {
    const int c = get_global_id(0), p = get_global_id(1);
    if (c >= C || p >= P) return;
    float acc[CONV1D_MAX_K];
    for (int k = 0; k < CONV1D_MAX_K; k++) acc[k] = 0.0f;
    float db = 0.0f;
    const int r0 = p * rows, r1 = min(r0 + rows, BL);
    for (int r = r0; r < r1; r++) {
        const int t = r % L;
        const float g = dy[dy_off + (ulong)r * C + c];
        db += g;
        for (int k = 0; k < K; k++) {
            const int tau = t + k - (K - 1);
            if (tau >= 0) acc[k] += g * x[x_off + (ulong)(r + k - (K - 1)) * ld_x + c];
        }
    }
    const ulong row = part_off + (ulong)p * ((ulong)C * K + C);
    for (int k = 0; k < K; k++) part[row + (ulong)c * K + k] = acc[k];
    part[row + (ulong)C * K + c] = db;
}

/* ------------------------------------------------------------------ depthwise conv2d 3x3 */
/* One work-item per (channel c, image row line = b*H + h) walks the row left to right with a
 * sliding 3x3 window of registers: three new loads per output pixel, no per-pixel index
 * arithmetic, and neighbouring work-items read neighbouring channels. */

/* Loads column `col` of the three input rows around the current line (zero outside). */
#define DW_LOAD(src, off, col, v0, v1, v2)                                                   \
    do {                                                                                     \
        if ((col) < W) {                                                                     \
            const ulong i_ = (off) + (ulong)(col) * C;                                       \
            v0 = up ? src[i_ - rowstride] : 0.0f;                                            \
            v1 = src[i_];                                                                    \
            v2 = dn ? src[i_ + rowstride] : 0.0f;                                            \
        } else {                                                                             \
            v0 = v1 = v2 = 0.0f;                                                             \
        }                                                                                    \
    } while (0)

/* out[b,h,w,c] = sum_{ky,kx} k[ky*3+kx] * in[b, h+ky-1, w+kx-1, c] with k = w[c] (flip = 0:
 * the forward) or k[j] = w[c, 8-j] (flip = 1: dx from dy, since
 * dx[h,w] = sum w[ky,kx] dy[h-ky+1, w-kx+1]). Item (c, line). */
__kernel void dwconv3x3_fwd(__global float *out, const ulong out_off,
                             __global const float *in, const ulong in_off,
                             __global const float *w, const ulong w_off,
                             const int BH, const int H, const int W, const int C,
                             const int flip) {
    const int c = get_global_id(0), line = get_global_id(1);
    if (c >= C || line >= BH) return;
    float k[9];
    for (int j = 0; j < 9; j++) k[j] = w[w_off + (ulong)c * 9 + (flip ? 8 - j : j)];
    const int h = line % H, up = h > 0, dn = h < H - 1;
    const ulong rowstride = (ulong)W * C;
    const ulong base = in_off + (ulong)line * rowstride + c;
    const ulong obase = out_off + (ulong)line * rowstride + c;
    float l0 = 0.0f, l1 = 0.0f, l2 = 0.0f; /* column w-1 of rows h-1, h, h+1 */
    float m0, m1, m2, r0, r1, r2;          /* columns w and w+1 */
    DW_LOAD(in, base, 0, m0, m1, m2);
    for (int x = 0; x < W; x++) {
        DW_LOAD(in, base, x + 1, r0, r1, r2);
        float acc = k[0] * l0 + k[1] * m0 + k[2] * r0;
        acc += k[3] * l1 + k[4] * m1 + k[5] * r1;
        acc += k[6] * l2 + k[7] * m2 + k[8] * r2;
        out[obase + (ulong)x * C] = acc;
        l0 = m0, l1 = m1, l2 = m2;
        m0 = r0, m1 = r1, m2 = r2;
    }
}

/* Partial sums of dw over image rows [p*lines, min((p+1)*lines, BH)); item (c, p).
 * dw[c,ky*3+kx] += sum dy[b,h,w,c] * x[b, h+ky-1, w+kx-1, c]; part (P, C*9) in dw's layout. */
__kernel void dwconv3x3_bwd_dw_part(__global float *part, const ulong part_off,
                                    __global const float *dy, const ulong dy_off,
                                    __global const float *x, const ulong x_off,
                                    const int BH, const int H, const int W, const int C,
                                    const int lines, const int P) {
    const int c = get_global_id(0), p = get_global_id(1);
    if (c >= C || p >= P) return;
    float acc[9];
    for (int j = 0; j < 9; j++) acc[j] = 0.0f;
    const ulong rowstride = (ulong)W * C;
    const int r0_ = p * lines, r1_ = min(r0_ + lines, BH);
    for (int line = r0_; line < r1_; line++) {
        const int h = line % H, up = h > 0, dn = h < H - 1;
        const ulong base = x_off + (ulong)line * rowstride + c;
        const ulong gbase = dy_off + (ulong)line * rowstride + c;
        float l0 = 0.0f, l1 = 0.0f, l2 = 0.0f, m0, m1, m2, r0, r1, r2;
        DW_LOAD(x, base, 0, m0, m1, m2);
        for (int v = 0; v < W; v++) {
            DW_LOAD(x, base, v + 1, r0, r1, r2);
            const float g = dy[gbase + (ulong)v * C];
            acc[0] += g * l0, acc[1] += g * m0, acc[2] += g * r0;
            acc[3] += g * l1, acc[4] += g * m1, acc[5] += g * r1;
            acc[6] += g * l2, acc[7] += g * m2, acc[8] += g * r2;
            l0 = m0, l1 = m1, l2 = m2;
            m0 = r0, m1 = r1, m2 = r2;
        }
    }
    const ulong row = part_off + (ulong)p * C * 9 + (ulong)c * 9;
    for (int j = 0; j < 9; j++) part[row + j] = acc[j];
}

/* ------------------------------------------------------------------ conv 3x3 stride 2 pad 1 */

/* col[m, ci*9+ky*3+kx] = x[b, 2oy+ky-1, 2ox+kx-1, ci] or 0; item (j0, m), columns
 * j = j0, j0 + G0, ... of [0, Cin*9), m = (b*Ho + oy)*Wo + ox in [0, B*Ho*Wo). */
__kernel void conv3x3s2_fwd_im2col(__global float *col, const ulong col_off,
                                   __global const float *x, const ulong x_off,
                                   const int M, const int H, const int W, const int Cin,
                                   const int Ho, const int Wo) {
    const int m = get_global_id(1);
    if (m >= M) return;
    const int Kc = Cin * 9;
    const int ox = m % Wo, oy = (m / Wo) % Ho, b = m / (Wo * Ho);
    const int y0 = 2 * oy - 1, x0 = 2 * ox - 1;
    const ulong img = x_off + (ulong)b * H * W * Cin, dst = col_off + (ulong)m * Kc;
    for (int j = get_global_id(0); j < Kc; j += get_global_size(0)) {
        const int ci = j / 9, tap = j - ci * 9, iy = y0 + tap / 3, ix = x0 + tap % 3;
        float v = 0.0f;
        if (iy >= 0 && iy < H && ix >= 0 && ix < W)
            v = x[img + ((ulong)iy * W + ix) * Cin + ci];
        col[dst + j] = v;
    }
}

/* Gather form of the adjoint: dx[b,iy,ix,ci] = sum over (ky, kx) in order with iy+1-ky and
 * ix+1-kx even, >= 0 and inside the output grid of dcol[(b*Ho+oy)*Wo+ox, ci*9+ky*3+kx];
 * item (ci0, pix), pix = (b*H + iy)*W + ix, channels ci0, ci0 + G0, ... */
__kernel void conv3x3s2_bwd_col2im(__global float *dx, const ulong dx_off,
                                   __global const float *dcol, const ulong dcol_off,
                                   const int BHW, const int H, const int W, const int Cin,
                                   const int Ho, const int Wo) {
    const int pix = get_global_id(1);
    if (pix >= BHW) return;
    const int ix = pix % W, iy = (pix / W) % H, b = pix / (W * H);
    const int Kc = Cin * 9;
    int oy[3], ox[3]; /* output row / column each tap reads, or -1 */
    for (int k = 0; k < 3; k++) {
        const int ny = iy + 1 - k, nx = ix + 1 - k;
        oy[k] = (ny >= 0 && !(ny & 1) && (ny >> 1) < Ho) ? ny >> 1 : -1;
        ox[k] = (nx >= 0 && !(nx & 1) && (nx >> 1) < Wo) ? nx >> 1 : -1;
    }
    for (int ci = get_global_id(0); ci < Cin; ci += get_global_size(0)) {
        float acc = 0.0f;
        for (int ky = 0; ky < 3; ky++) {
            if (oy[ky] < 0) continue;
            for (int kx = 0; kx < 3; kx++) {
                if (ox[kx] < 0) continue;
                const ulong m = ((ulong)b * Ho + oy[ky]) * Wo + ox[kx];
                acc += dcol[dcol_off + m * Kc + ci * 9 + ky * 3 + kx];
            }
        }
        dx[dx_off + (ulong)pix * Cin + ci] = acc;
    }
}

/* y[m, co] += bias[co]; item (co0, m), channels co0, co0 + G0, ... */
__kernel void conv3x3s2_fwd_bias(__global float *y, const ulong y_off,
                                 __global const float *bias, const ulong bias_off,
                                 const int M, const int Cout) {
    const int m = get_global_id(1);
    if (m >= M) return;
    for (int co = get_global_id(0); co < Cout; co += get_global_size(0))
        y[y_off + (ulong)m * Cout + co] += bias[bias_off + co];
}

/* Partial column sums of dy (M, Cout) over rows [p*rows, min((p+1)*rows, M)) into part (P, Cout);
 * item (co, p). */
__kernel void conv3x3s2_bwd_dbias_part(__global float *part, const ulong part_off,
                                       __global const float *dy, const ulong dy_off,
                                       const int M, const int Cout, const int rows,
                                       const int P) {
    const int co = get_global_id(0), p = get_global_id(1);
    if (co >= Cout || p >= P) return;
    const int r0 = p * rows, r1 = min(r0 + rows, M);
    float acc = 0.0f;
    for (int r = r0; r < r1; r++) acc += dy[dy_off + (ulong)r * Cout + co];
    part[part_off + (ulong)p * Cout + co] = acc;
}

/* ------------------------------------------------------------------ shared second stage */

/* For column j of part (P, ncol): s = sum_{p=0..P-1} part[p, j] in p order; then
 * dst_a[j] += s for j < na, else dst_b[j - na] += s. item j (1-D). */
__kernel void reduce_parts_add(__global float *dst_a, const ulong dst_a_off,
                               __global float *dst_b, const ulong dst_b_off,
                               __global const float *part, const ulong part_off,
                               const int P, const int ncol, const int na) {
    const int j = get_global_id(0);
    if (j >= ncol) return;
    float s = 0.0f;
    for (int p = 0; p < P; p++) s += part[part_off + (ulong)p * ncol + j];
    if (j < na)
        dst_a[dst_a_off + j] += s;
    else
        dst_b[dst_b_off + (j - na)] += s;
}
