/* optim_fpga.cl: FPGA-style variants (OpenCL C 1.2) of the AdamW update and the gradient sum of
 * squares of cl_kernels/optim.cl: single work-item kernels (launched as one work-item,
 * reqd_work_group_size(1, 1, 1)) whose loops an FPGA compiler (Intel aoc, AMD v++) pipelines.
 * Selected by model/optim.c when climp_ctx_variant() is "fpga"; math as model/optim.h, C reference
 * model/optim_ref.c (the tests compare against it on the PoCL device). Gradient clipping needs no
 * kernel: the host turns the norm into AdamW's grad_scale (climp_grad_clip_scale).
 *
 * Every buffer is a view: `__global float *p, const ulong p_off`, indexed p[p_off + i].
 *   adamw_swi        one merged run of n parameters (p, g, m, v views of that run), LANES
 *                    elements per pipelined iteration (unrolled lanes, predicated ragged end),
 *                    PyTorch's order as optim.cl (decay, step_size, bc2_sqrt from the host).
 *   grad_sumsq_swi   part[q] = sum of x^2 over [q*chunk, min(n, (q+1)*chunk)) for q < nparts:
 *                    per chunk, blocks of LANES squares summed by a fixed tree, block sums added
 *                    with Kahan compensation into FPGA_II interleaved partials (a shift register:
 *                    the loop-carried chain of one partial has FPGA_II cycles), the partials summed
 *                    in fixed order. The host adds the parts in order in double (as the NDRange
 *                    form): deterministic.
 */
#pragma OPENCL FP_CONTRACT OFF

#ifndef LANES
#define LANES 8 /* elements per pipelined iteration (unrolled lanes): a power of two, 1..64 */
#endif
#ifndef FPGA_II
#define FPGA_II 8 /* interleaved partial sums (>= the latency of the Kahan chain in cycles) */
#endif
#define SWI __kernel __attribute__((reqd_work_group_size(1, 1, 1))) void

SWI adamw_swi(__global float *restrict p_, const ulong p_off, __global const float *restrict g_,
              const ulong g_off, __global float *restrict m_, const ulong m_off,
              __global float *restrict v_, const ulong v_off, const float grad_scale,
              const float decay, const float omb1, const float beta2, const float omb2,
              const float step_size, const float bc2_sqrt, const float eps, const ulong n) {
    __global float *p = p_ + p_off, *m = m_ + m_off, *v = v_ + v_off;
    __global const float *g = g_ + g_off;
    for (ulong i0 = 0; i0 < n; i0 += LANES) {
#pragma unroll
        for (int l = 0; l < LANES; l++) {
            const ulong i = i0 + l;
            if (i < n) {
                const float gi = grad_scale * g[i];
                const float pi = p[i] * decay;
                float mi = m[i];
                mi = mi + omb1 * (gi - mi);
                const float vi = v[i] * beta2 + omb2 * gi * gi;
                const float denom = sqrt(vi) / bc2_sqrt + eps;
                p[i] = pi - step_size * (mi / denom);
                m[i] = mi;
                v[i] = vi;
            }
        }
    }
}

SWI grad_sumsq_swi(__global float *restrict part, const ulong part_off,
                   __global const float *restrict x_, const ulong x_off, const ulong n,
                   const ulong chunk, const int nparts) {
    __global const float *x = x_ + x_off;
    for (int q = 0; q < nparts; q++) {
        const ulong lo = (ulong)q * chunk, hi = min(n, lo + chunk);
        float s[FPGA_II], c[FPGA_II];
#pragma unroll
        for (int j = 0; j < FPGA_II; j++)
            s[j] = c[j] = 0.0f;
        for (ulong i0 = lo; i0 < hi; i0 += LANES) {
            float b[LANES];
#pragma unroll
            for (int l = 0; l < LANES; l++) {
                const ulong i = i0 + l;
                const float xi = i < hi ? x[i] : 0.0f;
                b[l] = xi * xi;
            }
#pragma unroll
            for (int h = LANES / 2; h > 0; h >>= 1) {
#pragma unroll
                for (int l = 0; l < h; l++)
                    b[l] += b[l + h];
            }
            /* Kahan step on the oldest partial, which becomes the newest */
            const float y = b[0] - c[FPGA_II - 1], t = s[FPGA_II - 1] + y;
            const float cn = (t - s[FPGA_II - 1]) - y;
#pragma unroll
            for (int j = FPGA_II - 1; j > 0; j--) {
                s[j] = s[j - 1];
                c[j] = c[j - 1];
            }
            s[0] = t;
            c[0] = cn;
        }
        float tot = 0.0f;
#pragma unroll
        for (int j = 0; j < FPGA_II; j++)
            tot += s[j] - c[j];
        part[part_off + q] = tot;
    }
}
