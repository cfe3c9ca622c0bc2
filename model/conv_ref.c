/* Plain-C references of the convolutions in model/conv.h: causal depthwise conv1d, depthwise
 * conv2d 3x3, conv 3x3 stride 2 (direct loops, plus im2col / col2im on their own). Forward and
 * backward; the kernels in cl_kernels/conv.cl are tested against these. Sums over (batch,
 * position) are accumulated in double so the reference is the more accurate side. */
#include "model/conv.h"

#include <string.h>

/* ---------------------------------------------------------------- causal depthwise conv1d */

void climp_causal_conv1d_forward_ref(float *y, const float *x, int ld_x, const float *w,
                                     const float *bias, int B, int L, int C, int K) {
    for (int b = 0; b < B; b++)
        for (int t = 0; t < L; t++)
            for (int c = 0; c < C; c++) {
                float acc = bias[c];
                for (int k = 0; k < K; k++) {
                    int tau = t + k - (K - 1);
                    if (tau < 0)
                        continue;
                    acc += w[(size_t)c * K + k] * x[((size_t)b * L + tau) * ld_x + c];
                }
                y[((size_t)b * L + t) * C + c] = acc;
            }
}

void climp_causal_conv1d_backward_ref(float *dx, float *dw, float *dbias, const float *dy,
                                      const float *x, int ld_x, const float *w, int B, int L, int C,
                                      int K) {
    /* dx[b,tau,c] = sum_k w[c,k] * dy[b, tau-k+K-1, c] */
    for (int b = 0; b < B; b++)
        for (int tau = 0; tau < L; tau++)
            for (int c = 0; c < C; c++) {
                float acc = 0.0f;
                for (int k = 0; k < K; k++) {
                    int t = tau - k + K - 1;
                    if (t >= L)
                        continue;
                    acc += w[(size_t)c * K + k] * dy[((size_t)b * L + t) * C + c];
                }
                dx[((size_t)b * L + tau) * ld_x + c] = acc;
            }
    /* dw[c,k] += sum_{b,t} dy[b,t,c] x[b,t+k-K+1,c];  dbias[c] += sum_{b,t} dy[b,t,c] */
    for (int c = 0; c < C; c++) {
        double db = 0.0, acc[CLIMP_CONV1D_MAX_K] = {0};
        for (int b = 0; b < B; b++)
            for (int t = 0; t < L; t++) {
                double g = dy[((size_t)b * L + t) * C + c];
                db += g;
                for (int k = 0; k < K; k++) {
                    int tau = t + k - (K - 1);
                    if (tau >= 0)
                        acc[k] += g * x[((size_t)b * L + tau) * ld_x + c];
                }
            }
        dbias[c] += (float)db;
        for (int k = 0; k < K; k++)
            dw[(size_t)c * K + k] += (float)acc[k];
    }
}

/* ---------------------------------------------------------------- depthwise conv2d 3x3 */

void climp_dwconv3x3_forward_ref(float *y, const float *x, const float *w, int B, int H, int W,
                                 int C) {
    for (int b = 0; b < B; b++)
        for (int h = 0; h < H; h++)
            for (int v = 0; v < W; v++)
                for (int c = 0; c < C; c++) {
                    float acc = 0.0f;
                    for (int ky = 0; ky < 3; ky++)
                        for (int kx = 0; kx < 3; kx++) {
                            int iy = h + ky - 1, ix = v + kx - 1;
                            if (iy < 0 || iy >= H || ix < 0 || ix >= W)
                                continue;
                            acc += w[(size_t)c * 9 + ky * 3 + kx] *
                                   x[(((size_t)b * H + iy) * W + ix) * C + c];
                        }
                    y[(((size_t)b * H + h) * W + v) * C + c] = acc;
                }
}

void climp_dwconv3x3_backward_ref(float *dx, float *dw, const float *dy, const float *x,
                                  const float *w, int B, int H, int W, int C) {
    /* dx[b,h,w,c] = sum_{ky,kx} w[c,ky,kx] dy[b, h-ky+1, w-kx+1, c] */
    for (int b = 0; b < B; b++)
        for (int h = 0; h < H; h++)
            for (int v = 0; v < W; v++)
                for (int c = 0; c < C; c++) {
                    float acc = 0.0f;
                    for (int ky = 0; ky < 3; ky++)
                        for (int kx = 0; kx < 3; kx++) {
                            int oy = h - ky + 1, ox = v - kx + 1;
                            if (oy < 0 || oy >= H || ox < 0 || ox >= W)
                                continue;
                            acc += w[(size_t)c * 9 + ky * 3 + kx] *
                                   dy[(((size_t)b * H + oy) * W + ox) * C + c];
                        }
                    dx[(((size_t)b * H + h) * W + v) * C + c] = acc;
                }
    /* dw[c,ky,kx] += sum_{b,h,w} dy[b,h,w,c] x[b, h+ky-1, w+kx-1, c] */
    for (int c = 0; c < C; c++) {
        double acc[9] = {0};
        for (int b = 0; b < B; b++)
            for (int h = 0; h < H; h++)
                for (int v = 0; v < W; v++) {
                    double g = dy[(((size_t)b * H + h) * W + v) * C + c];
                    for (int ky = 0; ky < 3; ky++)
                        for (int kx = 0; kx < 3; kx++) {
                            int iy = h + ky - 1, ix = v + kx - 1;
                            if (iy < 0 || iy >= H || ix < 0 || ix >= W)
                                continue;
                            acc[ky * 3 + kx] += g * x[(((size_t)b * H + iy) * W + ix) * C + c];
                        }
                }
        for (int j = 0; j < 9; j++)
            dw[(size_t)c * 9 + j] += (float)acc[j];
    }
}

/* ---------------------------------------------------------------- conv 3x3 stride 2 pad 1 */

int climp_conv3x3s2_out(int n) {
    return n > 0 ? (n - 1) / 2 + 1 : 0;
}

/* The input pixel tap (ky, kx) of output (oy, ox) reads, or -1 outside the image. */
static long tap_pixel(int b, int oy, int ox, int ky, int kx, int H, int W) {
    int iy = 2 * oy + ky - 1, ix = 2 * ox + kx - 1;
    if (iy < 0 || iy >= H || ix < 0 || ix >= W)
        return -1;
    return ((long)b * H + iy) * W + ix;
}

void climp_conv3x3s2_forward_ref(float *y, const float *x, const float *w, const float *bias, int B,
                                 int H, int W, int Cin, int Cout) {
    int Ho = climp_conv3x3s2_out(H), Wo = climp_conv3x3s2_out(W);
    for (int b = 0; b < B; b++)
        for (int oy = 0; oy < Ho; oy++)
            for (int ox = 0; ox < Wo; ox++)
                for (int co = 0; co < Cout; co++) {
                    double acc = bias[co];
                    const float *wc = w + (size_t)co * Cin * 9;
                    for (int tap = 0; tap < 9; tap++) {
                        long q = tap_pixel(b, oy, ox, tap / 3, tap % 3, H, W);
                        if (q < 0)
                            continue;
                        const float *xp = x + (size_t)q * Cin;
                        for (int ci = 0; ci < Cin; ci++)
                            acc += (double)wc[ci * 9 + tap] * xp[ci];
                    }
                    y[(((size_t)b * Ho + oy) * Wo + ox) * Cout + co] = (float)acc;
                }
}

#define REF_CI_BLOCK 64 /* input channels per pass of the backward's stack accumulators */

void climp_conv3x3s2_backward_ref(float *dx, float *dw, float *dbias, const float *dy,
                                  const float *x, const float *w, int B, int H, int W, int Cin,
                                  int Cout) {
    int Ho = climp_conv3x3s2_out(H), Wo = climp_conv3x3s2_out(W);
    size_t M = (size_t)B * Ho * Wo;
    double acc[REF_CI_BLOCK * 9];
    /* dbias[co] += sum_m dy[m,co];  dw[co,ci,ky,kx] += sum_m dy[m,co] x[pixel(m, ky, kx), ci] */
    for (int co = 0; co < Cout; co++) {
        double db = 0.0;
        for (size_t m = 0; m < M; m++)
            db += dy[m * Cout + co];
        dbias[co] += (float)db;
        for (int c0 = 0; c0 < Cin; c0 += REF_CI_BLOCK) {
            int nc = Cin - c0 < REF_CI_BLOCK ? Cin - c0 : REF_CI_BLOCK;
            memset(acc, 0, sizeof acc);
            for (int b = 0; b < B; b++)
                for (int oy = 0; oy < Ho; oy++)
                    for (int ox = 0; ox < Wo; ox++) {
                        double g = dy[(((size_t)b * Ho + oy) * Wo + ox) * Cout + co];
                        for (int tap = 0; tap < 9; tap++) {
                            long q = tap_pixel(b, oy, ox, tap / 3, tap % 3, H, W);
                            if (q < 0)
                                continue;
                            const float *xp = x + (size_t)q * Cin + c0;
                            for (int i = 0; i < nc; i++)
                                acc[i * 9 + tap] += g * xp[i];
                        }
                    }
            for (int i = 0; i < nc * 9; i++)
                dw[((size_t)co * Cin + c0) * 9 + i] += (float)acc[i];
        }
    }
    if (!dx)
        return;
    /* dx[b,iy,ix,ci] = sum over taps with 2oy+ky-1 = iy, 2ox+kx-1 = ix of w[co,ci,ky,kx]
     * dy[b,oy,ox,co] */
    for (int b = 0; b < B; b++)
        for (int iy = 0; iy < H; iy++)
            for (int ix = 0; ix < W; ix++)
                for (int c0 = 0; c0 < Cin; c0 += REF_CI_BLOCK) {
                    int nc = Cin - c0 < REF_CI_BLOCK ? Cin - c0 : REF_CI_BLOCK;
                    memset(acc, 0, sizeof(double) * REF_CI_BLOCK);
                    for (int ky = 0; ky < 3; ky++) {
                        int ny = iy + 1 - ky;
                        if (ny < 0 || ny % 2 || ny / 2 >= Ho)
                            continue;
                        for (int kx = 0; kx < 3; kx++) {
                            int nx = ix + 1 - kx;
                            if (nx < 0 || nx % 2 || nx / 2 >= Wo)
                                continue;
                            const float *g = dy + (((size_t)b * Ho + ny / 2) * Wo + nx / 2) * Cout;
                            for (int co = 0; co < Cout; co++) {
                                const float *wp = w + ((size_t)co * Cin + c0) * 9 + ky * 3 + kx;
                                for (int i = 0; i < nc; i++)
                                    acc[i] += (double)wp[i * 9] * g[co];
                            }
                        }
                    }
                    float *o = dx + (((size_t)b * H + iy) * W + ix) * Cin + c0;
                    for (int i = 0; i < nc; i++)
                        o[i] = (float)acc[i];
                }
}

void climp_conv3x3s2_im2col_ref(float *col, const float *x, int B, int H, int W, int Cin) {
    int Ho = climp_conv3x3s2_out(H), Wo = climp_conv3x3s2_out(W);
    size_t Kc = (size_t)Cin * 9;
    for (int b = 0; b < B; b++)
        for (int oy = 0; oy < Ho; oy++)
            for (int ox = 0; ox < Wo; ox++) {
                float *row = col + (((size_t)b * Ho + oy) * Wo + ox) * Kc;
                for (int ci = 0; ci < Cin; ci++)
                    for (int ky = 0; ky < 3; ky++)
                        for (int kx = 0; kx < 3; kx++) {
                            int iy = 2 * oy + ky - 1, ix = 2 * ox + kx - 1;
                            int in = iy >= 0 && iy < H && ix >= 0 && ix < W;
                            row[ci * 9 + ky * 3 + kx] =
                                in ? x[(((size_t)b * H + iy) * W + ix) * Cin + ci] : 0.0f;
                        }
            }
}

void climp_conv3x3s2_col2im_ref(float *dx, const float *dcol, int B, int H, int W, int Cin) {
    int Ho = climp_conv3x3s2_out(H), Wo = climp_conv3x3s2_out(W);
    size_t Kc = (size_t)Cin * 9;
    memset(dx, 0, sizeof(float) * (size_t)B * H * W * Cin);
    /* scatter form (the kernel gathers; the sum per pixel is over the same <= 9 terms) */
    for (int b = 0; b < B; b++)
        for (int oy = 0; oy < Ho; oy++)
            for (int ox = 0; ox < Wo; ox++) {
                const float *row = dcol + (((size_t)b * Ho + oy) * Wo + ox) * Kc;
                for (int ci = 0; ci < Cin; ci++)
                    for (int ky = 0; ky < 3; ky++)
                        for (int kx = 0; kx < 3; kx++) {
                            int iy = 2 * oy + ky - 1, ix = 2 * ox + kx - 1;
                            if (iy < 0 || iy >= H || ix < 0 || ix >= W)
                                continue;
                            dx[(((size_t)b * H + iy) * W + ix) * Cin + ci] +=
                                row[ci * 9 + ky * 3 + kx];
                        }
            }
}
