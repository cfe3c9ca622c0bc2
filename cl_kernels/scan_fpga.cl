/* scan_fpga.cl: FPGA-style (single work-item) selective scan, forward and backward: the same math
 * as cl_kernels/scan.cl (model/scan.h), for FPGA OpenCL compilers (Intel aoc, AMD v++) that
 * pipeline the loops of a kernel launched as one work-item. Host: model/scan.c (selected when
 * climp_ctx_variant() is "fpga", or variant CLIMP_SCAN_FPGA); C reference: climp_scan_forward_ref
 * / climp_scan_backward_ref in model/scan_ref.c, which tests/test_scan.c compares against on the
 * PoCL device.
 *
 *   delta = softplus(dt + bias), A = -exp(A_log), s_t = exp(delta A) s_{t-1} + delta Bm_t u_t,
 *   y_t = sum_n Cm_t s_t + D u_t, out_t = y_t * silu(z_t) (has_z) or y_t.
 *
 * Layouts (floats; a view is `ptr, ulong off`): u, dt, z, out, dout, du, ddt, dz are (B, L, Dc)
 * with their token stride ld_*: (b*L + l)*ld + c. Bm, Cm, dBm, dCm: b*sb + l*sl + g*sg + n (g =
 * c / (Dc/G)). A_log, dA_log (Dc, NS); D, bias, dD, dbias (Dc). st (B, K, Dc, NS), K =
 * ceil(L/CHUNK): the state entering chunk k (slot 0 unused); written by the forward, read by the
 * backward (the (B, K, Dc) delta-sum tail of the `states` view is not used here).
 *
 * Fixed sizes are build-time defines (one program per model state size): NS the state size N
 * exactly, CHUNK the chunk length, CH channels per block (host: CHUNK*CH*NS <= 16384 floats for
 * the backward's chunk buffer). Work-item mapping: one work-item (reqd_work_group_size(1,1,1),
 * global size 1) walks channel blocks (CH consecutive channels of one group), batch elements and
 * time. The lanes (CH channels x NS states) are unrolled (CLIMP_FPGA_UNROLL, below); the time
 * loop is the pipelined loop, whose loop-carried dependence is the recurrence itself (one
 * multiply-add per step: the initiation interval is that latency, as in the sequential-in-time,
 * parallel-in-(D, N) designs of the published Mamba FPGA work). The backward recomputes each
 * chunk's states from st into a private CHUNK x CH x NS buffer (on-chip memory on an FPGA) and
 * walks it in reverse, the adjoint carry and the dA/dD/dbias sums staying in registers. dBm/dCm
 * are summed over the group's channels: the lanes of a block in lane order, blocks in order
 * through global memory (the first block of a group writes, the others add). No atomics, fixed
 * order: bitwise reproducible.
 */

#ifndef NS
#define NS 16 /* state size N: the host builds one program per N (1..256) */
#endif
#ifndef CH
#define CH 8 /* channels per block (unrolled lanes): 1, 2, 4, 8 or 16 */
#endif
#ifndef CHUNK
#define CHUNK 64 /* tokens per chunk (the tunable `chunk`), 1..1024 */
#endif
#define SWI __kernel __attribute__((reqd_work_group_size(1, 1, 1)))
/* The lanes' loops are fully unrolled for FPGA compilers: scripts/fpga/build.sh passes
 * -DCLIMP_FPGA_UNROLL (a compiler option, so the program's identity is unchanged); CPU drivers
 * such as PoCL, where the tests run, get plain loops (the unrolled CH x NS bodies take them
 * minutes to compile). The pragma does not change what is computed. */
#ifdef CLIMP_FPGA_UNROLL
#define UNROLL _Pragma("unroll")
#else
#define UNROLL
#endif

static float softplus1(float v) { return v <= 20.0f ? log1p(exp(v)) : v; }
static float sigmoid1(float v) { return 1.0f / (1.0f + exp(-v)); }

/* Inputs shared by both kernels. */
#define FPGA_IN_ARGS                                                                          \
    const int B, const int L, const int Dc, const int G, __global const float *restrict u,    \
        const ulong u_off, const int ld_u, __global const float *restrict dt,                 \
        const ulong dt_off, const int ld_dt, __global const float *restrict A_log,            \
        const ulong A_off, __global const float *restrict Bm, const ulong B_off,              \
        __global const float *restrict Cm, const ulong C_off, const ulong sb, const ulong sl, \
        const ulong sg, __global const float *restrict D, const ulong D_off,                  \
        __global const float *restrict bias, const ulong bias_off, const int has_z,           \
        __global const float *restrict z, const ulong z_off, const int ld_z

/* Forward: out (B, L, Dc) stride ld_out, and st at every chunk start k >= 1. */
SWI void scan_fwd_swi(FPGA_IN_ARGS, __global float *restrict out, const ulong out_off,
                      const int ld_out, __global float *restrict st, const ulong st_off) {
    const int cpg = Dc / G, nblk = (cpg + CH - 1) / CH, K = (L + CHUNK - 1) / CHUNK;
    for (int gb = 0; gb < G * nblk; gb++) {
        const int g = gb / nblk, j = gb % nblk, c0 = g * cpg + j * CH;
        const int nc = min(CH, cpg - j * CH);
        float A[CH][NS], Dv[CH], bv[CH];
UNROLL
        for (int ci = 0; ci < CH; ci++) {
            const int c = ci < nc ? c0 + ci : c0; /* idle lanes read a valid channel */
            Dv[ci] = D[D_off + c];
            bv[ci] = bias[bias_off + c];
UNROLL
            for (int n = 0; n < NS; n++) A[ci][n] = -exp(A_log[A_off + (ulong)c * NS + n]);
        }
        for (int b = 0; b < B; b++) {
            float s[CH][NS];
UNROLL
            for (int ci = 0; ci < CH; ci++)
UNROLL
                for (int n = 0; n < NS; n++) s[ci][n] = 0.0f;
            const ulong sbase = st_off + ((ulong)b * K * Dc + c0) * NS;
            for (int t = 0; t < L; t++) { /* the pipelined loop */
                if (t > 0 && t % CHUNK == 0) {
                    const ulong o = sbase + (ulong)(t / CHUNK) * Dc * NS;
UNROLL
                    for (int ci = 0; ci < CH; ci++)
                        if (ci < nc)
UNROLL
                            for (int n = 0; n < NS; n++) st[o + (ulong)ci * NS + n] = s[ci][n];
                }
                const ulong tk = (ulong)b * L + t, bc = b * sb + t * sl + g * sg;
                float Bv[NS], Cv[NS];
UNROLL
                for (int n = 0; n < NS; n++) {
                    Bv[n] = Bm[B_off + bc + n];
                    Cv[n] = Cm[C_off + bc + n];
                }
UNROLL
                for (int ci = 0; ci < CH; ci++) {
                    if (ci >= nc) continue;
                    const float uv = u[u_off + tk * ld_u + c0 + ci];
                    const float dl = softplus1(dt[dt_off + tk * ld_dt + c0 + ci] + bv[ci]);
                    const float du = dl * uv;
                    float y = 0.0f;
UNROLL
                    for (int n = 0; n < NS; n++) {
                        s[ci][n] = exp(dl * A[ci][n]) * s[ci][n] + du * Bv[n];
                        y += Cv[n] * s[ci][n];
                    }
                    y += Dv[ci] * uv;
                    if (has_z) {
                        const float zv = z[z_off + tk * ld_z + c0 + ci];
                        y *= zv * sigmoid1(zv);
                    }
                    out[out_off + tk * ld_out + c0 + ci] = y;
                }
            }
        }
    }
}

/* Backward: overwrites du, ddt (gradient of dt, before the bias), dz, dBm, dCm; adds to dA_log,
 * dD, dbias. Per block and batch element, chunks from the last: recompute the chunk's states
 * from st, then walk it in reverse with ds_t = carry + dy_t Cm_t (carry = exp(delta A) ds of the
 * next token), P = sum_n ds Bm, Q = sum_n ds A exp(delta A) s_{t-1}: du = D dy + delta P,
 * ddelta = u P + Q, ddt = ddelta sigmoid(dt + bias), dz = dout y sig(z) (1 + z (1 - sig(z))). */
SWI void scan_bwd_swi(FPGA_IN_ARGS, __global const float *restrict st, const ulong st_off,
                      __global const float *restrict dout, const ulong dout_off,
                      const int ld_dout, __global float *restrict dU, const ulong du_off,
                      const int ld_du, __global float *restrict ddt, const ulong ddt_off,
                      const int ld_ddt, __global float *restrict dz, const ulong dz_off,
                      const int ld_dz, __global float *restrict dA_log, const ulong dA_off,
                      __global float *restrict dB, const ulong dB_off,
                      __global float *restrict dC, const ulong dC_off,
                      __global float *restrict dD, const ulong dD_off,
                      __global float *restrict dbias, const ulong dbias_off) {
    const int cpg = Dc / G, nblk = (cpg + CH - 1) / CH, K = (L + CHUNK - 1) / CHUNK;
    float S[CHUNK][CH][NS]; /* the states of one chunk */
    for (int gb = 0; gb < G * nblk; gb++) {
        const int g = gb / nblk, j = gb % nblk, c0 = g * cpg + j * CH;
        const int nc = min(CH, cpg - j * CH);
        float A[CH][NS], Dv[CH], bv[CH], dAs[CH][NS], dDs[CH], dbs[CH];
UNROLL
        for (int ci = 0; ci < CH; ci++) {
            const int c = ci < nc ? c0 + ci : c0;
            Dv[ci] = D[D_off + c];
            bv[ci] = bias[bias_off + c];
            dDs[ci] = dbs[ci] = 0.0f;
UNROLL
            for (int n = 0; n < NS; n++) {
                A[ci][n] = -exp(A_log[A_off + (ulong)c * NS + n]);
                dAs[ci][n] = 0.0f;
            }
        }
        for (int b = 0; b < B; b++) {
            float carry[CH][NS], s0[CH][NS];
UNROLL
            for (int ci = 0; ci < CH; ci++)
UNROLL
                for (int n = 0; n < NS; n++) carry[ci][n] = 0.0f;
            for (int k = K - 1; k >= 0; k--) {
                const int t0 = k * CHUNK, nn = min(L, t0 + CHUNK) - t0;
                const ulong so = st_off + (((ulong)b * K + k) * Dc + c0) * NS;
UNROLL
                for (int ci = 0; ci < CH; ci++)
UNROLL
                    for (int n = 0; n < NS; n++)
                        s0[ci][n] = k > 0 && ci < nc ? st[so + (ulong)ci * NS + n] : 0.0f;
                for (int i = 0; i < nn; i++) { /* recompute the chunk's states */
                    const ulong tk = (ulong)b * L + t0 + i, bc = b * sb + (t0 + i) * sl + g * sg;
UNROLL
                    for (int ci = 0; ci < CH; ci++) {
                        const int c = ci < nc ? c0 + ci : c0;
                        const float dl = softplus1(dt[dt_off + tk * ld_dt + c] + bv[ci]);
                        const float du = dl * u[u_off + tk * ld_u + c];
UNROLL
                        for (int n = 0; n < NS; n++) {
                            const float sp = i > 0 ? S[i - 1][ci][n] : s0[ci][n];
                            S[i][ci][n] = exp(dl * A[ci][n]) * sp + du * Bm[B_off + bc + n];
                        }
                    }
                }
                for (int i = nn - 1; i >= 0; i--) { /* the adjoint, in reverse */
                    const ulong tk = (ulong)b * L + t0 + i, bc = b * sb + (t0 + i) * sl + g * sg;
                    float Bv[NS], Cv[NS], dBs[NS], dCs[NS];
UNROLL
                    for (int n = 0; n < NS; n++) {
                        Bv[n] = Bm[B_off + bc + n];
                        Cv[n] = Cm[C_off + bc + n];
                        dBs[n] = dCs[n] = 0.0f;
                    }
UNROLL
                    for (int ci = 0; ci < CH; ci++) {
                        if (ci >= nc) continue;
                        const int c = c0 + ci;
                        const float uv = u[u_off + tk * ld_u + c];
                        const float v = dt[dt_off + tk * ld_dt + c] + bv[ci], dl = softplus1(v);
                        const float dov = dout[dout_off + tk * ld_dout + c];
                        const float zv = has_z ? z[z_off + tk * ld_z + c] : 0.0f;
                        const float sgz = sigmoid1(zv), dy = has_z ? dov * zv * sgz : dov;
                        float P = 0.0f, Q = 0.0f, y = Dv[ci] * uv;
UNROLL
                        for (int n = 0; n < NS; n++) {
                            const float sp = i > 0 ? S[i - 1][ci][n] : s0[ci][n];
                            const float a = exp(dl * A[ci][n]);
                            const float ds = carry[ci][n] + dy * Cv[n], w = ds * (a * sp);
                            P += ds * Bv[n];
                            Q += A[ci][n] * w;
                            dAs[ci][n] += dl * w;
                            dBs[n] += ds * (dl * uv);
                            dCs[n] += dy * S[i][ci][n];
                            y += Cv[n] * S[i][ci][n];
                            carry[ci][n] = a * ds;
                        }
                        const float dd = uv * P + Q, ddr = v <= 20.0f ? dd * sigmoid1(v) : dd;
                        dU[du_off + tk * ld_du + c] = Dv[ci] * dy + dl * P;
                        ddt[ddt_off + tk * ld_ddt + c] = ddr;
                        dDs[ci] += dy * uv;
                        dbs[ci] += ddr;
                        if (has_z)
                            dz[dz_off + tk * ld_dz + c] =
                                dov * y * sgz * (1.0f + zv * (1.0f - sgz));
                    }
UNROLL
                    for (int n = 0; n < NS; n++) { /* block j of group g: write or add */
                        const ulong o = bc + n;
                        dB[dB_off + o] = (j ? dB[dB_off + o] : 0.0f) + dBs[n];
                        dC[dC_off + o] = (j ? dC[dC_off + o] : 0.0f) + dCs[n];
                    }
                }
            }
        }
UNROLL
        for (int ci = 0; ci < CH; ci++) {
            if (ci >= nc) continue;
            const int c = c0 + ci;
UNROLL
            for (int n = 0; n < NS; n++)
                dA_log[dA_off + (ulong)c * NS + n] += A[ci][n] * dAs[ci][n];
            dD[dD_off + c] += dDs[ci];
            dbias[dbias_off + c] += dbs[ci];
        }
    }
}
