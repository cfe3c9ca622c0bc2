/* Runtime self-test kernel: y[i] = a * x[i] + y[i] for i < n (C reference: tests/test_runtime.c,
 * axpy_ref). x, y: (n) floats at offsets x_off, y_off. One work-item per element; any global
 * size (guarded). SCALE2 (0 or 1) is a prologue define used by the cache tests. */
#ifndef SCALE2
#define SCALE2 0 /* when 1, computes 2a*x + y */
#endif

__kernel void selftest_axpy(__global const float *x, const ulong x_off, __global float *y,
                            const ulong y_off, const int n, const float a) {
    int i = get_global_id(0);
    if (i >= n) return;
    float s = SCALE2 ? 2.0f * a : a;
    y[y_off + i] = s * x[x_off + i] + y[y_off + i];
}
