/* Plain-C references of the data-movement ops in model/crossscan.h: cross-scan / cross-merge
 * (VMamba's four scan directions), global average pool, last-token gather. Forward and backward;
 * the kernels in cl_kernels/crossscan.cl are tested against these. */
#include "model/crossscan.h"

#include <math.h>
#include <string.h>

/* Pixel index (h*W + w) that direction k reads at scan position l. */
static size_t scan_pixel(int k, size_t l, int H, int W, size_t L) {
    if (k >= 2)
        l = L - 1 - l;
    if (k == 0 || k == 2)
        return l;                               /* row-major: (l / W, l % W) */
    return (l % (size_t)H) * W + l / (size_t)H; /* column-major: (l % H, l / H) */
}

void climp_cross_scan_forward_ref(float *xs, const float *x, int B, int H, int W, int E) {
    size_t L = (size_t)H * W;
    for (int b = 0; b < B; b++)
        for (size_t l = 0; l < L; l++)
            for (int k = 0; k < 4; k++)
                memcpy(xs + (((size_t)b * L + l) * 4 + k) * E,
                       x + ((size_t)b * L + scan_pixel(k, l, H, W, L)) * E, sizeof(float) * E);
}

void climp_cross_merge_forward_ref(float *y, const float *ys, int B, int H, int W, int E) {
    size_t L = (size_t)H * W;
    for (int b = 0; b < B; b++)
        for (int h = 0; h < H; h++)
            for (int w = 0; w < W; w++) {
                size_t p = (size_t)h * W + w, m = (size_t)w * H + h;
                const float *y0 = ys + (((size_t)b * L + p) * 4 + 0) * E;
                const float *y1 = ys + (((size_t)b * L + m) * 4 + 1) * E;
                const float *y2 = ys + (((size_t)b * L + (L - 1 - p)) * 4 + 2) * E;
                const float *y3 = ys + (((size_t)b * L + (L - 1 - m)) * 4 + 3) * E;
                float *o = y + ((size_t)b * L + p) * E;
                for (int e = 0; e < E; e++)
                    o[e] = y0[e] + y1[e] + y2[e] + y3[e];
            }
}

void climp_cross_scan_backward_ref(float *dx, const float *dxs, int B, int H, int W, int E) {
    climp_cross_merge_forward_ref(dx, dxs, B, H, W, E);
}

void climp_cross_merge_backward_ref(float *dys, const float *dy, int B, int H, int W, int E) {
    climp_cross_scan_forward_ref(dys, dy, B, H, W, E);
}

void climp_avgpool_forward_ref(float *y, const float *x, int B, int L, int C) {
    for (int b = 0; b < B; b++)
        for (int c = 0; c < C; c++) {
            float s = 0.0f;
            for (int l = 0; l < L; l++)
                s += x[((size_t)b * L + l) * C + c];
            y[(size_t)b * C + c] = s / (float)L;
        }
}

void climp_avgpool_backward_ref(float *dx, const float *dy, int B, int L, int C) {
    for (int b = 0; b < B; b++)
        for (int l = 0; l < L; l++)
            for (int c = 0; c < C; c++)
                dx[((size_t)b * L + l) * C + c] = dy[(size_t)b * C + c] / (float)L;
}

void climp_lasttoken_forward_ref(float *out, const float *h, const int32_t *lengths, int B,
                                 int Lmax, int D) {
    for (int b = 0; b < B; b++) {
        int len = lengths[b];
        for (int d = 0; d < D; d++)
            out[(size_t)b * D + d] =
                (len >= 1 && len <= Lmax) ? h[((size_t)b * Lmax + (len - 1)) * D + d] : NAN;
    }
}

void climp_lasttoken_backward_ref(float *dh, const float *dout, const int32_t *lengths, int B,
                                  int Lmax, int D) {
    memset(dh, 0, sizeof(float) * (size_t)B * Lmax * D);
    for (int b = 0; b < B; b++) {
        int len = lengths[b];
        if (len < 1 || len > Lmax)
            continue;
        memcpy(dh + ((size_t)b * Lmax + (len - 1)) * D, dout + (size_t)b * D, sizeof(float) * D);
    }
}
