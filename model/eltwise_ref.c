/* Plain-C references of the element-wise ops (model/eltwise.h): the ground truth the device
 * kernels in cl_kernels/eltwise.cl are tested against. Scalar math in double, stored as float. */
#include "model/eltwise.h"

#include <math.h>

static double sigmoid(double x) {
    return 1.0 / (1.0 + exp(-x));
}

float climp_sigmoidf(float x) {
    return (float)sigmoid(x);
}

void climp_silu_forward_ref(float *out, const float *inp, size_t n) {
    for (size_t i = 0; i < n; i++)
        out[i] = (float)(inp[i] * sigmoid(inp[i]));
}

void climp_silu_backward_ref(float *dinp, const float *dout, const float *inp, size_t n) {
    for (size_t i = 0; i < n; i++) {
        double x = inp[i], s = sigmoid(x);
        dinp[i] = (float)(dout[i] * s * (1.0 + x * (1.0 - s)));
    }
}

void climp_gelu_forward_ref(float *out, const float *inp, size_t n) {
    for (size_t i = 0; i < n; i++) {
        double x = inp[i];
        out[i] = (float)(0.5 * x * erfc(-x * 0.70710678118654752)); /* 1 + erf(t) = erfc(-t) */
    }
}

void climp_gelu_backward_ref(float *dinp, const float *dout, const float *inp, size_t n) {
    const double inv_sqrt_2pi = 0.3989422804014327;
    for (size_t i = 0; i < n; i++) {
        double x = inp[i];
        double cdf = 0.5 * erfc(-x * 0.70710678118654752);
        double pdf = inv_sqrt_2pi * exp(-0.5 * x * x);
        dinp[i] = (float)(dout[i] * (cdf + x * pdf));
    }
}

void climp_softplus_forward_ref(float *out, const float *inp, size_t n) {
    for (size_t i = 0; i < n; i++) {
        double x = inp[i];
        out[i] = (float)(x > 20.0 ? x : log1p(exp(x)));
    }
}

void climp_softplus_backward_ref(float *dinp, const float *dout, const float *inp, size_t n) {
    for (size_t i = 0; i < n; i++) {
        double x = inp[i];
        dinp[i] = (float)(x > 20.0 ? dout[i] : dout[i] * sigmoid(x));
    }
}

void climp_add_ref(float *out, const float *a, const float *b, size_t n) {
    for (size_t i = 0; i < n; i++)
        out[i] = a[i] + b[i];
}

void climp_accumulate_ref(float *y, const float *x, float alpha, size_t n) {
    for (size_t i = 0; i < n; i++)
        y[i] += alpha * x[i];
}

void climp_scale_ref(float *out, const float *x, float alpha, size_t n) {
    for (size_t i = 0; i < n; i++)
        out[i] = alpha * x[i];
}

void climp_clamp_ref(float *y, float lo, float hi, size_t n) {
    for (size_t i = 0; i < n; i++)
        y[i] = fminf(fmaxf(y[i], lo), hi);
}

void climp_bias_add_forward_ref(float *y, int ld_y, const float *bias, int rows, int N) {
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < N; c++)
            y[(size_t)r * ld_y + c] += bias[c];
}

void climp_bias_add_backward_ref(float *dbias, const float *dy, int ld_dy, int rows, int N) {
    for (int c = 0; c < N; c++) {
        double s = 0;
        for (int r = 0; r < rows; r++)
            s += dy[(size_t)r * ld_dy + c];
        dbias[c] += (float)s;
    }
}

void climp_copy_cols_ref(float *dst, int ld_dst, const float *src, int ld_src, int rows, int cols,
                         int accumulate) {
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < cols; c++) {
            float v = src[(size_t)r * ld_src + c];
            float *d = &dst[(size_t)r * ld_dst + c];
            *d = accumulate ? *d + v : v;
        }
}

void climp_repeat_forward_ref(float *out, const float *inp, int M, int P) {
    for (int m = 0; m < M; m++)
        for (int p = 0; p < P; p++)
            out[(size_t)m * P + p] = inp[m];
}

void climp_repeat_backward_ref(float *dinp, const float *dout, int M, int P, int accumulate) {
    for (int m = 0; m < M; m++) {
        double s = 0;
        for (int p = 0; p < P; p++)
            s += dout[(size_t)m * P + p];
        dinp[m] = accumulate ? dinp[m] + (float)s : (float)s;
    }
}
