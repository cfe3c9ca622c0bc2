/* Data-movement kernels (OpenCL C 1.2): VMamba cross-scan / cross-merge (4 directions), global
 * average pool and last-token gather, forward and backward. Launchers: model/crossscan.c;
 * C references: model/crossscan_ref.c (climp_cross_scan_forward_ref,
 * climp_cross_merge_forward_ref, climp_avgpool_*_ref, climp_lasttoken_*_ref); math in
 * model/crossscan.h. The FPGA-style single-work-item variants are in cl_kernels/conv_fpga.cl.
 *
 * Every buffer is a view: two arguments `__global float *p, const ulong p_off`, indexed
 * p[p_off + i]. Layouts (channel-last, row-major):
 *   x, y (B, H, W, E) = (B, L, E) with pixel p = h*W + w;  xs, ys (B, L, 4, E)
 *   avgpool: x (B, L, C), y (B, C);  lasttoken: h (B, Lmax, D), out (B, D),
 *   lengths (B) int32 read through a `__global const int *` cast of its float buffer.
 *
 * Work-item mapping of the row kernels (scan, merge, avgpool_bwd, lasttoken_bwd): 2-D, item
 * (e, r - r0): dimension 0 = channel e in [0, E), dimension 1 = row r = r0 + get_global_id(1)
 * ((b*L + l)*4 + k for the scan, b*L + p otherwise). These bodies have no bounds test: PoCL-like
 * CPU compilers turn a branch-free body into one vector loop over the channels of a work-group,
 * and any `if` defeats that. The launcher (model/crossscan.c, cu_launch_rows) makes the ranges
 * exact instead: the global size of dimension 0 is E and its local size divides E; dimension 1
 * runs in two launches, whole work-groups over the first rows and local size 1 over the rest
 * (r0 = the first row of the launch). Row index arithmetic depends on dimension 1 only, so the
 * compiler hoists it out of the channel loop. avgpool_fwd and lasttoken_fwd (one item per output
 * element, small) keep their bounds tests and accept any global size.
 * The scan is a gather (each work-item copies one element of one (position, direction) row), the
 * merge a gather of four terms summed in direction order: deterministic, no atomics. */

/* Pixel read by direction k at scan position l (0 <= l < L = H*W). */
static int scan_pixel(const int k, int l, const int H, const int L) {
    if (k >= 2) l = L - 1 - l;
    if (k == 0 || k == 2) return l;
    const int W = L / H;
    return (l % H) * W + l / H;
}

/* xs[b,l,k,e] = x[b, scan_pixel(k, l), e]; item (e, q - q0), q = (b*L + l)*4 + k. Also
 * cross_merge's backward. */
__kernel void cross_scan_fwd(__global float *xs, const ulong xs_off,
                             __global const float *x, const ulong x_off,
                             const int q0, const int H, const int L, const int E) {
    const int q = q0 + (int)get_global_id(1), e = (int)get_global_id(0);
    const int r = q >> 2, k = q & 3, l = r % L;
    __global const float *src = x + x_off + (ulong)(r - l + scan_pixel(k, l, H, L)) * E;
    __global float *dst = xs + xs_off + (ulong)q * E;
    dst[e] = src[e];
}

/* y[b,p,e] = ys[b,p,0,e] + ys[b,m,1,e] + ys[b,L-1-p,2,e] + ys[b,L-1-m,3,e] with p = h*W + w,
 * m = w*H + h; item (e, r - r0), r = b*L + p. Also cross_scan's backward. */
__kernel void cross_merge_fwd(__global float *y, const ulong y_off,
                              __global const float *ys, const ulong ys_off,
                              const int r0, const int H, const int L, const int E) {
    const int r = r0 + (int)get_global_id(1), e = (int)get_global_id(0);
    const int W = L / H, p = r % L, base = r - p;
    const int h = p / W, w = p - h * W, m = w * H + h;
    __global const float *s = ys + ys_off;
    __global const float *s0 = s + ((ulong)(base + p) * 4 + 0) * E;
    __global const float *s1 = s + ((ulong)(base + m) * 4 + 1) * E;
    __global const float *s2 = s + ((ulong)(base + L - 1 - p) * 4 + 2) * E;
    __global const float *s3 = s + ((ulong)(base + L - 1 - m) * 4 + 3) * E;
    __global float *d = y + y_off + (ulong)r * E;
    float v = s0[e];
    v += s1[e];
    v += s2[e];
    v += s3[e];
    d[e] = v;
}

/* y[b,c] = (sum_l x[b,l,c]) / L in l order; item (c, b), any global size. */
__kernel void avgpool_fwd(__global float *y, const ulong y_off,
                          __global const float *x, const ulong x_off,
                          const int B, const int L, const int C) {
    const int c = get_global_id(0), b = get_global_id(1);
    if (c >= C || b >= B) return;
    __global const float *xb = x + x_off + (ulong)b * L * C + c;
    float s = 0.0f;
    for (int l = 0; l < L; l++) s += xb[(ulong)l * C];
    y[y_off + (ulong)b * C + c] = s / (float)L;
}

/* dx[b,l,c] = dy[b,c] / L; item (c, r - r0), r = b*L + l. */
__kernel void avgpool_bwd(__global float *dx, const ulong dx_off,
                          __global const float *dy, const ulong dy_off,
                          const int r0, const int L, const int C) {
    const int r = r0 + (int)get_global_id(1), c = (int)get_global_id(0);
    __global float *d = dx + dx_off + (ulong)r * C;
    __global const float *s = dy + dy_off + (ulong)(r / L) * C;
    d[c] = s[c] / (float)L;
}

/* out[b,d] = h[b, len-1, d] for len = lengths[b] in [1, Lmax], else NaN; item (d, b), any
 * global size. */
__kernel void lasttoken_fwd(__global float *out, const ulong out_off,
                            __global const float *h, const ulong h_off,
                            __global const float *lengths_f, const ulong lengths_off,
                            const int B, const int Lmax, const int D) {
    const int d = get_global_id(0), b = get_global_id(1);
    if (d >= D || b >= B) return;
    __global const int *lengths = (__global const int *)lengths_f;
    const int len = lengths[lengths_off + b];
    float v = NAN;
    if (len >= 1 && len <= Lmax) v = h[h_off + ((ulong)b * Lmax + (len - 1)) * D + d];
    out[out_off + (ulong)b * D + d] = v;
}

/* dh[b,t,d] = (t == lengths[b]-1) ? dout[b,d] : 0; item (d, r - r0), r = b*Lmax + t. */
__kernel void lasttoken_bwd(__global float *dh, const ulong dh_off,
                            __global const float *dout, const ulong dout_off,
                            __global const float *lengths_f, const ulong lengths_off,
                            const int r0, const int Lmax, const int D) {
    const int r = r0 + (int)get_global_id(1), d = (int)get_global_id(0);
    __global const int *lengths = (__global const int *)lengths_f;
    const int b = r / Lmax, t = r - b * Lmax;
    const float keep = t == lengths[lengths_off + b] - 1 ? 1.0f : 0.0f;
    __global float *o = dh + dh_off + (ulong)r * D;
    __global const float *s = dout + dout_off + (ulong)b * D;
    const float v = s[d];
    o[d] = keep != 0.0f ? v : 0.0f; /* a select, not a multiply: NaN in dout stays in its row */
}
