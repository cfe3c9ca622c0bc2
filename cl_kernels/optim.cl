/* optim.cl: AdamW update and the gradient sum of squares (C reference: model/optim_ref.c;
 * launchers: model/optim.c).
 *
 * Every buffer is two arguments `__global float *x, const ulong x_off`; x[x_off + i] is element i.
 *   adamw_update      one work-item per parameter of one merged run (p, g, m, v are views of
 *                     that run): element base + g for work-item g, NO bounds check; the host
 *                     launches exactly floor(n / lws) * lws items (PoCL vectorises a work-group's
 *                     loop only when the body has no condition).
 *   adamw_update_tail the same for elements base + g < n, guarded: any global size.
 *                     PyTorch's order: g = grad_scale grad; p *= decay;
 *                     m += (1-b1)(g - m); v = b2 v + (1-b2) g^2;
 *                     p -= step_size * m / (sqrt(v) / bc2_sqrt + eps).
 *                     decay = 1 - lr wd, step_size = lr / (1 - b1^t), bc2_sqrt = sqrt(1 - b2^t),
 *                     all computed on the host in double.
 *   grad_sumsq_part   NPARTS work-groups of WG: group q sums x^2 over the chunk
 *                     [q*chunk, min(n, (q+1)*chunk)), each lane a fixed subsequence in order
 *                     (blocks of BLOCK summed plainly, block sums with Kahan compensation;
 *                     CONTIG=0: lanes interleave, coalesced on GPUs;
 *                     CONTIG=1: each lane a contiguous run, for CPUs), then a fixed tree:
 *                     part[q]. The host adds the parts in order in double.
 */
#pragma OPENCL FP_CONTRACT OFF

#ifndef WG
#define WG 256 /* lanes of grad_sumsq_part: a power of two, 1..1024 */
#endif
#ifndef BLOCK
#define BLOCK 16 /* elements summed plainly before each compensated addition, >= 1 */
#endif
#ifndef CONTIG
#define CONTIG 0 /* 1: each lane of grad_sumsq_part reads a contiguous run (CPU devices) */
#endif

/* One AdamW step of element i of p, g, m, v. */
#define ADAMW_STEP(i)                                                                              \
    do {                                                                                           \
        const float gi = grad_scale * g[i];                                                        \
        const float pi = p[i] * decay;                                                             \
        float mi = m[i];                                                                           \
        mi = mi + omb1 * (gi - mi);                                                                \
        const float vi = v[i] * beta2 + omb2 * gi * gi;                                            \
        const float denom = sqrt(vi) / bc2_sqrt + eps;                                             \
        p[i] = pi - step_size * (mi / denom);                                                      \
        m[i] = mi;                                                                                 \
        v[i] = vi;                                                                                 \
    } while (0)

__kernel void adamw_update(__global float *p_, const ulong p_off, __global const float *g_,
                           const ulong g_off, __global float *m_, const ulong m_off,
                           __global float *v_, const ulong v_off, const ulong base,
                           const float grad_scale, const float decay, const float omb1,
                           const float beta2, const float omb2, const float step_size,
                           const float bc2_sqrt, const float eps) {
    __global float *p = p_ + p_off + base, *m = m_ + m_off + base, *v = v_ + v_off + base;
    __global const float *g = g_ + g_off + base;
    const size_t i = get_global_id(0);
    ADAMW_STEP(i);
}

__kernel void adamw_update_tail(__global float *p_, const ulong p_off, __global const float *g_,
                                const ulong g_off, __global float *m_, const ulong m_off,
                                __global float *v_, const ulong v_off, const ulong base,
                                const float grad_scale, const float decay, const float omb1,
                                const float beta2, const float omb2, const float step_size,
                                const float bc2_sqrt, const float eps, const ulong n) {
    __global float *p = p_ + p_off, *m = m_ + m_off, *v = v_ + v_off;
    __global const float *g = g_ + g_off;
    const size_t i = base + get_global_id(0);
    if (i < n)
        ADAMW_STEP(i);
}

__kernel __attribute__((reqd_work_group_size(WG, 1, 1))) void
grad_sumsq_part(__global float *part, const ulong part_off, __global const float *x,
                const ulong x_off, const ulong n, const ulong chunk) {
    __local float buf[WG];
    const size_t q = get_group_id(0);
    const int l = (int)get_local_id(0);
    const size_t lo = q * chunk, hi = min(n, lo + chunk);
    /* The lane's elements are first, first + step, ... < last; blocks of BLOCK are summed plainly,
     * block sums are added with Kahan compensation (short dependency chains, small error). */
#if CONTIG
    const size_t sub = (hi > lo ? hi - lo + WG - 1 : 0) / WG, step = 1;
    const size_t first = lo + (size_t)l * sub, last = min(hi, first + sub);
#else
    const size_t step = WG, first = lo + (size_t)l, last = hi;
#endif
    float s = 0.0f, c = 0.0f;
    for (size_t i = first; i < last;) {
        float b = 0.0f;
        for (int k = 0; k < BLOCK && i < last; k++, i += step) {
            const float xi = x[x_off + i];
            b += xi * xi;
        }
        const float y = b - c, t = s + y;
        c = (t - s) - y;
        s = t;
    }
    buf[l] = s;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int h = WG / 2; h > 0; h >>= 1) {
        if (l < h)
            buf[l] += buf[l + h];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    if (l == 0)
        part[part_off + q] = buf[0];
}
