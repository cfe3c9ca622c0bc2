/* Convolution kernels (OpenCL C 1.2), forward and backward. Launchers: model/conv.c and
 * model/conv3x3s2.c; C references: model/conv_ref.c (climp_causal_conv1d_*_ref,
 * climp_dwconv3x3_*_ref, climp_conv3x3s2_*_ref). Math: docs in model/conv.h. The FPGA-style
 * single-work-item variants are in cl_kernels/conv_fpga.cl.
 *
 * Every buffer is a view: two arguments `__global float *p, const ulong p_off`, indexed
 * p[p_off + i]. Layouts are channel-last and row-major:
 *   causal conv1d : x / dx (B, L, ld_x) [first C columns], y / dy (B, L, C), w (C, K), bias (C)
 *   dwconv 3x3    : x, y, dx, dy (B, H, W, C), w (C, 9) as (c, ky, kx); a "line" is one
 *                   image row (b, h) of W pixels
 *   conv 3x3 s2   : x / dx (B, H, W, Cin), col / dcol (B*Ho*Wo, Cin*9) as (ci, ky, kx),
 *                   y / dy (B*Ho*Wo, Cout), bias (Cout)
 *
 * Two kinds of kernels, for what CPU OpenCL compilers (PoCL) vectorise:
 *  - loop kernels (conv1d, dwconv, dbias partials): each work-item owns VW neighbouring channels
 *    (explicit floatVW vectors, vloadVW / vstoreVW at any float offset) and walks rows with a
 *    sliding window of registers, so every input row is loaded once. Item (cv, s): channels
 *    [cv*VW, cv*VW + VW), s = segment / line group / partial-sum chunk. They test their bounds.
 *  - row kernels (conv3x3s2_fwd_bias): one float per item, item (c, r - r0), and no bounds test;
 *    the launcher (cu_launch_rows in model/conv_util.h) gives dimension 0 the exact global size
 *    and a local size that divides it, and runs dimension 1 as whole work-groups plus a tail
 *    launch from row r0, so the compiler turns each work-group into one vector loop.
 *  im2col / col2im take one image row per item (1-D, bounds tested) and loop over its pixels,
 *  channels and taps.
 * Loops over taps, window slots and vector lanes are `#pragma unroll`ed with compile-time trip
 * counts: PoCL keeps a private array that a loop indexes in memory (one copy per work-item of the
 * work-group); unrolled, the array becomes registers (the conv1d kernels ran 3x faster). 
 * Reductions over (b, t) or pixels are two-stage and fixed-order (no atomics): a *_part kernel
 * sums chunk p of the rows into part (P, ncol); reduce_parts_add then adds
 * sum_{p=0..P-1} part[p, j] (in p order) to the destination column j. */

#ifndef CONV_OP
#define CONV_OP 0 /* kernels built (PoCL compiles all): 1 conv1d, 2 dwconv, 3 conv 3x3 s2, 0 all */
#endif
#define HAS_OP(i) (CONV_OP == 0 || CONV_OP == (i))
#ifndef VW
#define VW 1 /* channels per work-item of the loop kernels: 1, 2, 4 or 8 (divides the count) */
#endif
#ifndef CONV1D_KW
#define CONV1D_KW 8 /* causal conv1d register windows' length: widths K <= KW (1, 2, 4 or 8) */
#endif
#ifndef CONV1D_SEG
#define CONV1D_SEG 64 /* positions per work-item of causal_conv1d_fwd */
#endif
#ifndef DW_LINES
#define DW_LINES 8 /* image lines per work-item of dwconv3x3_fwd (weights loaded once) */
#endif

#if VW == 1
typedef float vf;
#define VLOAD(p) (*(p))
#define VSTORE(v, p) (*(p) = (v))
#else
#define VCAT_(a, b) a##b
#define VCAT(a, b) VCAT_(a, b)
typedef VCAT(float, VW) vf; /* floatVW, loaded and stored with vloadVW / vstoreVW */
#define VLOAD(p) VCAT(vload, VW)(0, p)
#define VSTORE(v, p) VCAT(vstore, VW)(v, 0, p)
#endif

/* Lanes i < VW of p[i * stride] (a column of a row-major weight matrix) as one vector. */
static vf load_strided(__global const float *p, const int stride) {
    float t[VW];
#pragma unroll
    for (int i = 0; i < VW; i++) t[i] = p[i * stride];
    return VLOAD(t);
}

/* The inverse: p[i * stride] = lane i of v. */
static void store_strided(__global float *p, const int stride, const vf v) {
    float t[VW];
    VSTORE(v, t);
#pragma unroll
    for (int i = 0; i < VW; i++) p[i * stride] = t[i];
}

/* ------------------------------------------------------------------ causal depthwise conv1d */
#if HAS_OP(1)

/* The conv1d kernels keep windows of KW = CONV1D_KW rows in registers; the width K <= KW is an
 * argument, tap k sitting in window slot KW - K + k (slots below KW - K are skipped). The host
 * builds KW = K rounded up to a power of two, so the usual K = 4 has no idle slots. */
#define KW CONV1D_KW

/* y[b,t,c] = bias[c] + sum_k w[c,k] * x[b, t+k-(K-1), c] (k in order, taps before t = 0 add
 * nothing). Item (cv, s), s = b*nseg + segment: positions [seg*SEG, min(seg*SEG + SEG, L)). The
 * window xw[j] holds x row t+j-(KW-1) (zero before the sequence start). */
__kernel void causal_conv1d_fwd(__global float *y, const ulong y_off,
                                __global const float *x, const ulong x_off,
                                __global const float *w, const ulong w_off,
                                __global const float *bias, const ulong bias_off,
                                const int B, const int L, const int C, const int K,
                                const int ld_x, const int nseg) {
    const int cv = get_global_id(0), s = get_global_id(1);
    if (cv >= C / VW || s >= B * nseg) return;
    const int c = cv * VW, b = s / nseg, t0 = (s - b * nseg) * CONV1D_SEG, k0 = KW - K;
    const int t1 = min(t0 + CONV1D_SEG, L);
    __global const float *xp = x + x_off + (ulong)b * L * ld_x + c; /* row t: xp + t*ld_x */
    __global float *yp = y + y_off + (ulong)b * L * C + c;
    __global const float *wc = w + w_off + (ulong)c * K;
    vf wa[KW], xw[KW];
#pragma unroll
    for (int j = 0; j < KW; j++) {
        const int tau = t0 + j - (KW - 1);
        wa[j] = j >= k0 ? load_strided(wc + (j - k0), K) : (vf)0.0f;
        xw[j] = j >= k0 && j < KW - 1 && tau >= 0 ? VLOAD(xp + (ulong)tau * ld_x) : (vf)0.0f;
    }
    const vf bv = VLOAD(bias + bias_off + c);
    for (int t = t0; t < t1; t++) {
        xw[KW - 1] = VLOAD(xp + (ulong)t * ld_x);
        vf acc = bv;
#pragma unroll
        for (int j = 0; j < KW; j++)
            if (j >= k0) acc += wa[j] * xw[j];
        VSTORE(acc, yp + (ulong)t * C);
#pragma unroll
        for (int j = 0; j < KW - 1; j++) xw[j] = xw[j + 1];
    }
}

/* Backward over rows [p*rows, min((p+1)*rows, BL)) of the flattened (B*L) rows, item (cv, p):
 *   dx[b,tau,c] = sum_k w[c,k] * dy[b, tau-k+K-1, c]   (rows past L add nothing)
 *   part[p, c*K + k] = sum_r dy[r,c] * x[r+k-(K-1), c], part[p, C*K + c] = sum_r dy[r,c]
 * part (P, C*K + C) holds dw in its (c, k) layout and then dbias. Windows (zero outside the
 * sequence of b): xw[j] = x row t+j-(KW-1), gw[j] = dy row t+j. */
__kernel void causal_conv1d_bwd(__global float *dx, const ulong dx_off,
                                __global float *part, const ulong part_off,
                                __global const float *dy, const ulong dy_off,
                                __global const float *x, const ulong x_off,
                                __global const float *w, const ulong w_off,
                                const int BL, const int L, const int C, const int K,
                                const int ld_x, const int rows, const int P) {
    const int cv = get_global_id(0), p = get_global_id(1);
    if (cv >= C / VW || p >= P) return;
    const int c = cv * VW, r0 = p * rows, r1 = min(r0 + rows, BL), k0 = KW - K;
    __global const float *xp = x + x_off + c, *gp = dy + dy_off + c;
    __global const float *wc = w + w_off + (ulong)c * K;
    __global float *dxp = dx + dx_off + c;
    vf wa[KW], xw[KW], gw[KW], dwa[KW], db = 0.0f;
#pragma unroll
    for (int j = 0; j < KW; j++) {
        wa[j] = j >= k0 ? load_strided(wc + (j - k0), K) : (vf)0.0f;
        dwa[j] = 0.0f;
    }
    int t = r0 % L;
    for (int r = r0; r < r1; r++, t++) {
        if (r == r0 || t == L) { /* (re)fill both windows at a chunk or sequence start */
            if (t == L) t = 0;
#pragma unroll
            for (int j = 0; j < KW - 1; j++) {
                const int i = j - (KW - 1); /* x row r + i, position t + i */
                xw[j] = j >= k0 && t + i >= 0 ? VLOAD(xp + (ulong)(r + i) * ld_x) : (vf)0.0f;
                gw[j] = t + j < L ? VLOAD(gp + (ulong)(r + j) * C) : (vf)0.0f;
            }
        }
        xw[KW - 1] = VLOAD(xp + (ulong)r * ld_x);
        gw[KW - 1] = t + KW - 1 < L ? VLOAD(gp + (ulong)(r + KW - 1) * C) : (vf)0.0f;
        const vf g = gw[0];
        db += g;
        vf acc = 0.0f;
#pragma unroll
        for (int j = 0; j < KW; j++) /* slot j = tap j - k0: dx in k order */
            if (j >= k0) {
                dwa[j] += g * xw[j];
                acc += wa[j] * gw[KW - 1 - j];
            }
        VSTORE(acc, dxp + (ulong)r * ld_x);
#pragma unroll
        for (int j = 0; j < KW - 1; j++) {
            xw[j] = xw[j + 1];
            gw[j] = gw[j + 1];
        }
    }
    __global float *row = part + part_off + (ulong)p * ((ulong)C * K + C);
#pragma unroll
    for (int j = 0; j < KW; j++)
        if (j >= k0) store_strided(row + (ulong)c * K + (j - k0), K, dwa[j]);
    VSTORE(db, row + (ulong)C * K + c);
}

#endif

/* ------------------------------------------------------------------ depthwise conv2d 3x3 */
#if HAS_OP(2)

/* Column v of the three input rows around line `line` (h = line % H; zero outside the image). */
#define DW_COL(p, v, up, dn, a0, a1, a2)                                                      \
    do {                                                                                     \
        __global const float *q_ = (p) + (ulong)(v) * C;                                     \
        a0 = (up) ? VLOAD(q_ - rowstride) : (vf)0.0f;                                        \
        a1 = VLOAD(q_);                                                                      \
        a2 = (dn) ? VLOAD(q_ + rowstride) : (vf)0.0f;                                        \
    } while (0)

/* out[b,h,w,c] = sum_{ky,kx} k[ky*3+kx] * in[b, h+ky-1, w+kx-1, c] with k = w[c] (flip = 0:
 * the forward) or k[j] = w[c, 8-j] (flip = 1: dx from dy, since
 * dx[h,w] = sum w[ky,kx] dy[h-ky+1, w-kx+1]). Item (cv, g): lines [g*DW_LINES, ...), each
 * walked left to right with a sliding 3x3 window (three vector loads per output pixel). */
__kernel void dwconv3x3_fwd(__global float *out, const ulong out_off,
                             __global const float *in, const ulong in_off,
                             __global const float *w, const ulong w_off,
                             const int BH, const int H, const int W, const int C,
                             const int flip) {
    const int cv = get_global_id(0), g = get_global_id(1);
    if (cv >= C / VW || g * DW_LINES >= BH) return;
    const int c = cv * VW;
    vf k[9];
#pragma unroll
    for (int j = 0; j < 9; j++) k[j] = load_strided(w + w_off + (ulong)c * 9 + (flip ? 8 - j : j), 9);
    const ulong rowstride = (ulong)W * C;
    const int lend = min(g * DW_LINES + DW_LINES, BH);
    for (int line = g * DW_LINES; line < lend; line++) {
        const int h = line % H, up = h > 0, dn = h < H - 1;
        __global const float *ip = in + in_off + (ulong)line * rowstride + c;
        __global float *op = out + out_off + (ulong)line * rowstride + c;
        vf l0 = 0.0f, l1 = 0.0f, l2 = 0.0f, m0, m1, m2, r0, r1, r2;
        DW_COL(ip, 0, up, dn, m0, m1, m2);
        for (int v = 0; v < W; v++) {
            if (v + 1 < W)
                DW_COL(ip, v + 1, up, dn, r0, r1, r2);
            else
                r0 = r1 = r2 = 0.0f;
            vf acc = k[0] * l0 + k[1] * m0 + k[2] * r0;
            acc += k[3] * l1 + k[4] * m1 + k[5] * r1;
            acc += k[6] * l2 + k[7] * m2 + k[8] * r2;
            VSTORE(acc, op + (ulong)v * C);
            l0 = m0, l1 = m1, l2 = m2;
            m0 = r0, m1 = r1, m2 = r2;
        }
    }
}

/* Partial sums of dw over image lines [p*lines, min((p+1)*lines, BH)); item (cv, p).
 * dw[c,ky*3+kx] += sum dy[b,h,w,c] * x[b, h+ky-1, w+kx-1, c]; part (P, C*9) in dw's layout. */
__kernel void dwconv3x3_bwd_dw_part(__global float *part, const ulong part_off,
                                    __global const float *dy, const ulong dy_off,
                                    __global const float *x, const ulong x_off,
                                    const int BH, const int H, const int W, const int C,
                                    const int lines, const int P) {
    const int cv = get_global_id(0), p = get_global_id(1);
    if (cv >= C / VW || p >= P) return;
    const int c = cv * VW;
    vf acc[9];
#pragma unroll
    for (int j = 0; j < 9; j++) acc[j] = 0.0f;
    const ulong rowstride = (ulong)W * C;
    const int a = p * lines, e = min(a + lines, BH);
    for (int line = a; line < e; line++) {
        const int h = line % H;
        __global const float *gp = dy + dy_off + (ulong)line * rowstride + c;
        /* one input row at a time (a 3-register window), so the nine accumulators, the
         * window and dy fit the vector registers */
#pragma unroll
        for (int ky = 0; ky < 3; ky++) {
            if (h + ky - 1 < 0 || h + ky - 1 >= H) continue;
            __global const float *ip = x + x_off + ((ulong)line + ky - 1) * rowstride + c;
            vf l = 0.0f, m = VLOAD(ip), r;
            for (int v = 0; v < W; v++) {
                r = v + 1 < W ? VLOAD(ip + (ulong)(v + 1) * C) : (vf)0.0f;
                const vf gv = VLOAD(gp + (ulong)v * C);
                acc[ky * 3] += gv * l, acc[ky * 3 + 1] += gv * m, acc[ky * 3 + 2] += gv * r;
                l = m, m = r;
            }
        }
    }
    __global float *row = part + part_off + (ulong)p * C * 9 + (ulong)c * 9;
#pragma unroll
    for (int j = 0; j < 9; j++) store_strided(row + j, 9, acc[j]);
}

#endif

/* ------------------------------------------------------------------ conv 3x3 stride 2 pad 1 */
#if HAS_OP(3)

/* col[m, ci*9+ky*3+kx] = x[b, 2oy+ky-1, 2ox+kx-1, ci] or 0, m = (b*Ho + oy)*Wo + ox; item
 * row = b*Ho + oy in [0, B*Ho) writes the Wo output rows of that image row in order, each
 * channel gathering its nine taps. */
__kernel void conv3x3s2_fwd_im2col(__global float *col, const ulong col_off,
                                   __global const float *x, const ulong x_off,
                                   const int BHo, const int H, const int W, const int Cin,
                                   const int Ho, const int Wo) {
    const int row = get_global_id(0);
    if (row >= BHo) return;
    const int b = row / Ho, oy = row - b * Ho;
    __global const float *img = x + x_off + (ulong)b * H * W * Cin;
    __global float *dst = col + col_off + (ulong)row * Wo * Cin * 9;
    int yoff[3], yok[3];
    for (int ky = 0; ky < 3; ky++) {
        const int iy = 2 * oy + ky - 1;
        yok[ky] = iy >= 0 && iy < H;
        yoff[ky] = yok[ky] ? iy * W * Cin : 0;
    }
    for (int ox = 0; ox < Wo; ox++) {
        int off[9], ok[9]; /* tap offsets into img (0 when outside; then ok is 0) */
        for (int kx = 0; kx < 3; kx++) {
            const int ix = 2 * ox + kx - 1, xok = ix >= 0 && ix < W;
            for (int ky = 0; ky < 3; ky++) {
                ok[ky * 3 + kx] = yok[ky] && xok;
                off[ky * 3 + kx] = yok[ky] && xok ? yoff[ky] + ix * Cin : 0;
            }
        }
        for (int ci = 0; ci < Cin; ci++, dst += 9)
        #pragma unroll
            for (int j = 0; j < 9; j++) {
                const float v = img[off[j] + ci];
                dst[j] = ok[j] ? v : 0.0f;
            }
    }
}

/* Gather form of the adjoint: dx[b,iy,ix,ci] = sum over (ky, kx) in order with iy+1-ky and
 * ix+1-kx even, >= 0 and inside the output grid of dcol[(b*Ho+oy)*Wo+ox, ci*9+ky*3+kx]; item
 * row = b*H + iy writes the W pixels of that input row. Along each axis one or two taps
 * qualify, so each pixel sums 1, 2 or 4 terms. */
__kernel void conv3x3s2_bwd_col2im(__global float *dx, const ulong dx_off,
                                   __global const float *dcol, const ulong dcol_off,
                                   const int BH, const int H, const int W, const int Cin,
                                   const int Ho, const int Wo) {
    const int row = get_global_id(0);
    if (row >= BH) return;
    const int b = row / H, iy = row - b * H, Kc = Cin * 9;
    int ky[2], oyv[2], ny = 0; /* qualifying (ky, oy), ky ascending */
    for (int k = 0; k < 3; k++) {
        const int v = iy + 1 - k;
        if (v >= 0 && !(v & 1) && (v >> 1) < Ho) ky[ny] = k, oyv[ny++] = v >> 1;
    }
    __global const float *d = dcol + dcol_off + (ulong)b * Ho * Wo * Kc;
    __global float *out = dx + dx_off + (ulong)row * W * Cin;
    for (int ix = 0; ix < W; ix++, out += Cin) {
        ulong o[4]; /* offsets of the terms in d, (ky, kx) order */
        int n = 0;
        for (int i = 0; i < ny; i++)
            for (int k = 0; k < 3; k++) {
                const int v = ix + 1 - k;
                if (v >= 0 && !(v & 1) && (v >> 1) < Wo)
                    o[n++] = ((ulong)oyv[i] * Wo + (v >> 1)) * Kc + ky[i] * 3 + k;
            }
        if (n == 1)
            for (int ci = 0; ci < Cin; ci++) out[ci] = d[o[0] + ci * 9];
        else if (n == 2)
            for (int ci = 0; ci < Cin; ci++) out[ci] = d[o[0] + ci * 9] + d[o[1] + ci * 9];
        else
            for (int ci = 0; ci < Cin; ci++)
                out[ci] = ((d[o[0] + ci * 9] + d[o[1] + ci * 9]) + d[o[2] + ci * 9]) +
                          d[o[3] + ci * 9];
    }
}

/* y[m, co] += bias[co]; row kernel, item (co, m - m0) (exact range, see the banner). */
__kernel void conv3x3s2_fwd_bias(__global float *y, const ulong y_off,
                                 __global const float *bias, const ulong bias_off,
                                 const int m0, const int Cout) {
    const int co = get_global_id(0), m = m0 + (int)get_global_id(1);
    __global float *yr = y + y_off + (ulong)m * Cout;
    __global const float *bs = bias + bias_off;
    yr[co] += bs[co];
}

/* Partial column sums of dy (M, Cout) over rows [p*rows, min((p+1)*rows, M)) into part (P, Cout);
 * item (cv, p). */
__kernel void conv3x3s2_bwd_dbias_part(__global float *part, const ulong part_off,
                                       __global const float *dy, const ulong dy_off,
                                       const int M, const int Cout, const int rows,
                                       const int P) {
    const int cv = get_global_id(0), p = get_global_id(1);
    if (cv >= Cout / VW || p >= P) return;
    const int c = cv * VW, r0 = p * rows, r1 = min(r0 + rows, M);
    __global const float *g = dy + dy_off + c;
    vf acc = 0.0f;
    for (int r = r0; r < r1; r++) acc += VLOAD(g + (ulong)r * Cout);
    VSTORE(acc, part + part_off + (ulong)p * Cout + c);
}

#endif

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
