/* Plain-C references of LayerNorm, RMSNorm and gated RMSNorm, forward and backward
 * (model/norm.h): the ground truth for cl_kernels/norm.cl. Reductions accumulate in double;
 * weight gradients are summed over rows in column chunks so no allocation is needed. */
#include "model/norm.h"

#include <math.h>

#define CHUNK 256 /* columns per pass of the weight-gradient sums */

static double silu(double z) {
    return z / (1.0 + exp(-z));
}

/* ------------------------------------------------------------------ LayerNorm */
void climp_layernorm_forward_ref(float *out, float *mean, float *rstd, const float *inp,
                                 const float *weight, const float *bias, int rows, int C) {
    for (int r = 0; r < rows; r++) {
        const float *x = inp + (size_t)r * C;
        double m = 0, v = 0;
        for (int c = 0; c < C; c++)
            m += x[c];
        m /= C;
        for (int c = 0; c < C; c++)
            v += (x[c] - m) * (x[c] - m);
        v /= C;
        double rs = 1.0 / sqrt(v + CLIMP_LAYERNORM_EPS);
        for (int c = 0; c < C; c++)
            out[(size_t)r * C + c] = (float)((x[c] - m) * rs * weight[c] + bias[c]);
        mean[r] = (float)m;
        rstd[r] = (float)rs;
    }
}

void climp_layernorm_backward_ref(float *dinp, float *dweight, float *dbias, const float *dout,
                                  const float *inp, const float *weight, const float *mean,
                                  const float *rstd, int rows, int C) {
    for (int r = 0; r < rows; r++) {
        const float *x = inp + (size_t)r * C, *dy = dout + (size_t)r * C;
        double m = mean[r], rs = rstd[r], sg = 0, sgx = 0;
        for (int c = 0; c < C; c++) {
            double g = (double)dy[c] * weight[c];
            sg += g;
            sgx += g * (x[c] - m) * rs;
        }
        sg /= C;
        sgx /= C;
        for (int c = 0; c < C; c++) {
            double g = (double)dy[c] * weight[c], xh = (x[c] - m) * rs;
            dinp[(size_t)r * C + c] = (float)(rs * (g - sg - xh * sgx));
        }
    }
    for (int c0 = 0; c0 < C; c0 += CHUNK) {
        int c1 = c0 + CHUNK < C ? c0 + CHUNK : C;
        double aw[CHUNK] = {0}, ab[CHUNK] = {0};
        for (int r = 0; r < rows; r++)
            for (int c = c0; c < c1; c++) {
                double dy = dout[(size_t)r * C + c];
                aw[c - c0] += dy * ((inp[(size_t)r * C + c] - (double)mean[r]) * rstd[r]);
                ab[c - c0] += dy;
            }
        for (int c = c0; c < c1; c++) {
            dweight[c] += (float)aw[c - c0];
            dbias[c] += (float)ab[c - c0];
        }
    }
}

/* ------------------------------------------------------------------ RMSNorm */
void climp_rmsnorm_forward_ref(float *out, float *rstd, const float *inp, const float *weight,
                               int rows, int C) {
    for (int r = 0; r < rows; r++) {
        const float *x = inp + (size_t)r * C;
        double ss = 0;
        for (int c = 0; c < C; c++)
            ss += (double)x[c] * x[c];
        double rs = 1.0 / sqrt(ss / C + CLIMP_RMSNORM_EPS);
        for (int c = 0; c < C; c++)
            out[(size_t)r * C + c] = (float)(x[c] * rs * weight[c]);
        rstd[r] = (float)rs;
    }
}

void climp_rmsnorm_backward_ref(float *dinp, float *dweight, const float *dout, const float *inp,
                                const float *weight, const float *rstd, int rows, int C) {
    for (int r = 0; r < rows; r++) {
        const float *x = inp + (size_t)r * C, *dy = dout + (size_t)r * C;
        double rs = rstd[r], sgx = 0;
        for (int c = 0; c < C; c++)
            sgx += (double)dy[c] * weight[c] * x[c];
        sgx /= C;
        for (int c = 0; c < C; c++) {
            double g = (double)dy[c] * weight[c];
            dinp[(size_t)r * C + c] = (float)(rs * (g - x[c] * rs * rs * sgx));
        }
    }
    for (int c0 = 0; c0 < C; c0 += CHUNK) {
        int c1 = c0 + CHUNK < C ? c0 + CHUNK : C;
        double aw[CHUNK] = {0};
        for (int r = 0; r < rows; r++)
            for (int c = c0; c < c1; c++)
                aw[c - c0] += (double)dout[(size_t)r * C + c] * inp[(size_t)r * C + c] * rstd[r];
        for (int c = c0; c < c1; c++)
            dweight[c] += (float)aw[c - c0];
    }
}

/* ------------------------------------------------------------------ gated RMSNorm */
void climp_gated_rmsnorm_forward_ref(float *out, float *rstd, const float *y, int ld_y,
                                     const float *z, int ld_z, const float *weight, int rows, int E,
                                     int G) {
    int Cg = E / G;
    for (int r = 0; r < rows; r++)
        for (int g = 0; g < G; g++) {
            const float *yr = y + (size_t)r * ld_y + g * Cg, *zr = z + (size_t)r * ld_z + g * Cg;
            double ss = 0;
            for (int c = 0; c < Cg; c++) {
                double v = yr[c] * silu(zr[c]);
                ss += v * v;
            }
            double rs = 1.0 / sqrt(ss / Cg + CLIMP_RMSNORM_EPS);
            for (int c = 0; c < Cg; c++)
                out[(size_t)r * E + g * Cg + c] =
                    (float)(yr[c] * silu(zr[c]) * rs * weight[g * Cg + c]);
            rstd[(size_t)r * G + g] = (float)rs;
        }
}

void climp_gated_rmsnorm_backward_ref(float *dy, int ld_dy, float *dz, int ld_dz, float *dweight,
                                      const float *dout, const float *y, int ld_y, const float *z,
                                      int ld_z, const float *weight, const float *rstd, int rows,
                                      int E, int G) {
    int Cg = E / G;
    for (int r = 0; r < rows; r++)
        for (int g = 0; g < G; g++) {
            const float *yr = y + (size_t)r * ld_y + g * Cg, *zr = z + (size_t)r * ld_z + g * Cg;
            const float *go = dout + (size_t)r * E + g * Cg, *w = weight + g * Cg;
            double rs = rstd[(size_t)r * G + g], sgv = 0;
            for (int c = 0; c < Cg; c++)
                sgv += (double)go[c] * w[c] * yr[c] * silu(zr[c]);
            sgv /= Cg;
            for (int c = 0; c < Cg; c++) {
                double zc = zr[c], s = 1.0 / (1.0 + exp(-zc)), sl = zc * s;
                double v = yr[c] * sl;
                double dv = rs * ((double)go[c] * w[c] - v * rs * rs * sgv);
                dy[(size_t)r * ld_dy + g * Cg + c] = (float)(dv * sl);
                dz[(size_t)r * ld_dz + g * Cg + c] =
                    (float)(dv * yr[c] * s * (1.0 + zc * (1.0 - s)));
            }
        }
    for (int c0 = 0; c0 < E; c0 += CHUNK) {
        int c1 = c0 + CHUNK < E ? c0 + CHUNK : E;
        double aw[CHUNK] = {0};
        for (int r = 0; r < rows; r++)
            for (int c = c0; c < c1; c++) {
                double v = y[(size_t)r * ld_y + c] * silu(z[(size_t)r * ld_z + c]);
                aw[c - c0] += (double)dout[(size_t)r * E + c] * v * rstd[(size_t)r * G + c / Cg];
            }
        for (int c = c0; c < c1; c++)
            dweight[c] += (float)aw[c - c0];
    }
}
