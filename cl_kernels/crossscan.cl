/* Data-movement kernels (OpenCL C 1.2): VMamba cross-scan / cross-merge (4 directions), global
 * average pool and last-token gather, forward and backward. Launchers: model/crossscan.c;
 * C references: model/crossscan_ref.c (climp_cross_scan_forward_ref,
 * climp_cross_merge_forward_ref, climp_avgpool_*_ref, climp_lasttoken_*_ref); math in
 * model/crossscan.h.
 *
 * Every buffer is a view: two arguments `__global float *p, const ulong p_off`, indexed
 * p[p_off + i]. Layouts (channel-last, row-major):
 *   x, y (B, H, W, E) = (B, L, E) with pixel p = h*W + w;  xs, ys (B, L, 4, E)
 *   avgpool: x (B, L, C), y (B, C);  lasttoken: h (B, Lmax, D), out (B, D),
 *   lengths (B) int32 read through a `__global const int *` cast of its float buffer.
 * Work-item mapping: 2-D, dimension 0 = channel, dimension 1 = row (b*L + l, or b; the scan
 * takes (b*L + l)*4 + k, one direction per item). Kernels
 * whose item is written (e0, r) loop over channels e = e0, e0 + G0, ... with G0 the global size of
 * dimension 0 (row index arithmetic is paid once per row; neighbouring items still touch
 * neighbouring addresses); the others take one channel each. Every kernel guards its bounds. The
 * scan is a gather (each work-item copies one (position, direction) row), the merge a gather of
 * four terms summed in direction order, so both are deterministic and need no atomics. */

/* Pixel read by direction k at scan position l (0 <= l < L = H*W). */
static int scan_pixel(const int k, int l, const int H, const int L) {
    if (k >= 2) l = L - 1 - l;
    if (k == 0 || k == 2) return l;
    const int W = L / H;
    return (l % H) * W + l / H;
}

/* xs[b,l,k,e] = x[b, scan_pixel(k, l), e]; item (e0, q = (b*L + l)*4 + k). Also
 * cross_merge's backward. */
__kernel void cross_scan_fwd(__global float *xs, const ulong xs_off,
                             __global const float *x, const ulong x_off,
                             const int BL4, const int H, const int L, const int E) {
    const int q = get_global_id(1);
    if (q >= BL4) return;
    const int r = q >> 2, k = q & 3, l = r % L;
    const ulong src = x_off + (ulong)(r - l + scan_pixel(k, l, H, L)) * E;
    const ulong dst = xs_off + (ulong)q * E;
    for (int e = get_global_id(0); e < E; e += get_global_size(0)) xs[dst + e] = x[src + e];
}

/* y[b,p,e] = ys[b,p,0,e] + ys[b,m,1,e] + ys[b,L-1-p,2,e] + ys[b,L-1-m,3,e] with p = h*W + w,
 * m = w*H + h; item (e0, r = b*L + p). Also cross_scan's backward. */
__kernel void cross_merge_fwd(__global float *y, const ulong y_off,
                              __global const float *ys, const ulong ys_off,
                              const int BL, const int H, const int L, const int E) {
    const int r = get_global_id(1);
    if (r >= BL) return;
    const int W = L / H;
    const int p = r % L, base = r - p;
    const int h = p / W, w = p % W, m = w * H + h;
    const ulong s0 = ys_off + ((ulong)(base + p) * 4 + 0) * E;
    const ulong s1 = ys_off + ((ulong)(base + m) * 4 + 1) * E;
    const ulong s2 = ys_off + ((ulong)(base + L - 1 - p) * 4 + 2) * E;
    const ulong s3 = ys_off + ((ulong)(base + L - 1 - m) * 4 + 3) * E;
    const ulong d = y_off + (ulong)r * E;
    for (int e = get_global_id(0); e < E; e += get_global_size(0)) {
        float s = ys[s0 + e];
        s += ys[s1 + e];
        s += ys[s2 + e];
        s += ys[s3 + e];
        y[d + e] = s;
    }
}

/* y[b,c] = (sum_l x[b,l,c]) / L in l order; item (c, b). */
__kernel void avgpool_fwd(__global float *y, const ulong y_off,
                          __global const float *x, const ulong x_off,
                          const int B, const int L, const int C) {
    const int c = get_global_id(0), b = get_global_id(1);
    if (c >= C || b >= B) return;
    float s = 0.0f;
    for (int l = 0; l < L; l++) s += x[x_off + ((ulong)b * L + l) * C + c];
    y[y_off + (ulong)b * C + c] = s / (float)L;
}

/* dx[b,l,c] = dy[b,c] / L; item (c0, r = b*L + l). */
__kernel void avgpool_bwd(__global float *dx, const ulong dx_off,
                          __global const float *dy, const ulong dy_off,
                          const int BL, const int L, const int C) {
    const int r = get_global_id(1);
    if (r >= BL) return;
    const ulong d = dx_off + (ulong)r * C, s = dy_off + (ulong)(r / L) * C;
    for (int c = get_global_id(0); c < C; c += get_global_size(0)) dx[d + c] = dy[s + c] / (float)L;
}

/* out[b,d] = h[b, len-1, d] for len = lengths[b] in [1, Lmax], else NaN; item (d, b). */
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

/* dh[b,t,d] = (t == lengths[b]-1) ? dout[b,d] : 0; item (d0, r = b*Lmax + t). */
__kernel void lasttoken_bwd(__global float *dh, const ulong dh_off,
                            __global const float *dout, const ulong dout_off,
                            __global const float *lengths_f, const ulong lengths_off,
                            const int BL, const int Lmax, const int D) {
    const int r = get_global_id(1);
    if (r >= BL) return;
    __global const int *lengths = (__global const int *)lengths_f;
    const int b = r / Lmax, t = r % Lmax;
    const int hit = t == lengths[lengths_off + b] - 1;
    const ulong d0 = dh_off + (ulong)r * D, s0 = dout_off + (ulong)b * D;
    for (int d = get_global_id(0); d < D; d += get_global_size(0))
        dh[d0 + d] = hit ? dout[s0 + d] : 0.0f;
}
