/* scan.cl: selective scan (Mamba-1 form), forward and backward. Host: model/scan.c; C reference:
 * climp_scan_forward_ref / climp_scan_backward_ref in model/scan_ref.c; math in model/scan.h.
 *
 *   delta = softplus(dt + bias), A = -exp(A_log), s_t = exp(delta A) s_{t-1} + delta Bm_t u_t,
 *   y_t = sum_n Cm_t s_t + D u_t, out_t = y_t * silu(z_t) (has_z) or y_t.
 *
 * Layouts (floats; a view is `ptr, ulong off`): u, dt, z, out, dout, du, ddt, dz are (B, L, Dc)
 * with their token stride ld_*: (b*L + l)*ld + c. Bm, Cm: b*sb + l*sl + g*sg + n. A_log (Dc, N),
 * D and bias (Dc). N (<= NMAX) states; chunks of `chunk` (<= CHUNKMAX) tokens, K = ceil(L/chunk).
 * st (B, K, Dc, N): state entering chunk k (slot 0 unused). sd (B, K, Dc): sum of delta over
 * chunk k. q (B, K, Dc, N): backward carry q_k = exp(delta_{t1} A) ds_{t1} entering chunk k from
 * the right (t1 = first token of chunk k+1), overwritten by dA partials of chunk k.
 * pdd, pdb (B, K, Dc): dD and ddelta_bias partials. pB, pC (nb, G, nblk, Ls, N): dBm / dCm
 * partials of channel block j for batches [b0, b0+nb) and tokens [k0*chunk, +Ls) of one slab.
 *
 * Work-item mapping.
 *   scan_fwd, scan_bwd, scan_bwd_adj: dim0 = g*nblk + j, a block of CB consecutive channels
 *     c0 = g*cpg + j*CB of group g (cpg = Dc/G, nblk = ceil(cpg/CB), the last block may be
 *     partial), one vector lane per channel; dim1 = chunk (or one item walking all chunks of
 *     the launch when seq); dim2 = b (b - b0 in a backward slab). The work-item walks t
 *     itself, so on CPU drivers a work-item streams contiguous channel vectors (no strided
 *     per-channel access, vectorised exp). Local size (1, 1, 1) on CPUs, (wg, 1, 1) on GPUs.
 *   scan_bwd_wg (GPU, CB=1): dim0 = g*nblk*wg + r, channel c = g*cpg + r (r < cpg), work-group
 *     of wg consecutive channels; dBm/dCm summed over the work-group in local memory (red:
 *     2*CHUNKMAX*wg floats), block j = r / wg. Local size (wg, 1, 1).
 *   scan_carry: dim0 = (b*Dc + c)*N + n; sequential over chunks.
 *   scan_bwd_reduce_bc: dim0 = ((b-b0)*nt + token of the slab)*G*nq + g*nq + q, n = 16q..16q+15
 *     (nq = ceil(N/16)); sums blocks j.
 *   scan_bwd_reduce_params: dim0 = c*N + n; sums (b, k) in order over the slots it is given;
 *     n == 0 also does dD, dbias.
 *   These three take any local size (the host uses a fixed one so drivers that specialise
 *   kernels per local size, like PoCL, compile them once).
 * No atomics: every sum runs in a fixed order, so results are bitwise reproducible.
 */
#ifndef NMAX
#define NMAX 256 /* capacity of the private state arrays: the state size N must be <= NMAX */
#endif
#ifndef CB
#define CB 8 /* channels per work-item = vector width: 1, 2, 4, 8 or 16 */
#endif
#ifndef CHUNKMAX
#define CHUNKMAX 64 /* capacity for the chunk length: backward keeps 8 x CHUNKMAX vectors */
#endif
#ifndef GPU
#define GPU 0 /* 1: build scan_bwd_wg (needs CB 1) instead of scan_bwd */
#endif

#include "scan_math.clh"

/* Av[n] = -exp(A_log[c, n]) for the nc channels from c0 (A_log at o = A_off + c0*N). */
static void load_A(vec *Av, global const float *A_log, ulong o, int N, int nc) {
    for (int n = 0; n < N; n++) Av[n] = -exp(ldv_s(A_log, o + n, N, nc));
}
/* Forward. mode 0: chunk dim1 from the state in st (phase 3 of the chunk-parallel forward);
 * mode 1 (seq): one work-item walks every chunk, writing st and sd at chunk starts;
 * mode 2: chunk dim1 < K-1 from a zero state, writes its end state to st slot k+1 and its
 * delta sum to sd[k], no output (phase 1). */
kernel void scan_fwd(TOK_ARGS, global float *out, const ulong out_off, const int ld_out,
                     global float *st, const ulong st_off, global float *sd, const ulong sd_off,
                     const int mode) {
    const int gb = get_global_id(0), b = get_global_id(2), cpg = Dc / G;
    if (gb >= G * nblk || b >= B) return;
    const int g = gb / nblk, j = gb % nblk, c0 = g * cpg + j * CB;
    const int nc = min(CB, cpg - j * CB), K = (L + chunk - 1) / chunk;
    vec s[NMAX], Av[NMAX];
    load_A(Av, A_log, A_off + (ulong)c0 * N, N, nc);
    const vec Dv = ldv(D, D_off + c0, nc), bv = ldv(bias, bias_off + c0, nc);
    const int kb = mode == 1 ? 0 : (int)get_global_id(1), ke = mode == 1 ? K : kb + 1;
    const ulong sbase = st_off + ((ulong)b * K * Dc + c0) * N;
    for (int n = 0; n < N; n++)
        s[n] = (mode == 0 && kb > 0) ? ldv_s(st, sbase + (ulong)kb * Dc * N + n, N, nc) : 0.0f;
    for (int k = kb; k < ke; k++) {
        if (mode == 1 && k > 0)
            for (int n = 0; n < N; n++) stv_s(st, sbase + (ulong)k * Dc * N + n, N, s[n], nc);
        vec sdl = 0.0f;
        const int t1 = min(L, (k + 1) * chunk);
        for (int t = k * chunk; t < t1; t++) {
            const ulong tk = (ulong)b * L + t, bc = b * sb + t * sl + g * sg;
            const vec uv = ldv(u, u_off + tk * ld_u + c0, nc);
            const vec dl = softplus_v(ldv(dt, dt_off + tk * ld_dt + c0, nc) + bv);
            const vec du = dl * uv;
            vec y = 0.0f;
            for (int n = 0; n < N; n++) {
                s[n] = exp_neg_v(dl * Av[n]) * s[n] + du * Bm[B_off + bc + n];
                y += Cm[C_off + bc + n] * s[n];
            }
            sdl += dl;
            if (mode == 2) continue;
            y += Dv * uv;
            if (has_z) {
                const vec zv = ldv(z, z_off + tk * ld_z + c0, nc);
                y *= zv * sigmoid_v(zv);
            }
            stv(out, out_off + tk * ld_out + c0, y, nc);
        }
        if (mode == 1 && k + 1 < K) stv(sd, sd_off + ((ulong)b * K + k) * Dc + c0, sdl, nc);
        if (mode == 2) {
            for (int n = 0; n < N; n++) stv_s(st, sbase + (ulong)(k + 1) * Dc * N + n, N, s[n], nc);
            stv(sd, sd_off + ((ulong)b * K + k) * Dc + c0, sdl, nc);
        }
    }
}

/* Carry propagation over chunk ends, sequential in k, in place (x = st or q):
 * forward (rev 0, phase 2): st[k+1] = exp(A sd[k]) st[k] + h_k for k = 1 .. K-2;
 * backward (rev 1, phase B): q_k = w_{k+1} + exp(A sd[k+1]) q_{k+1} for k = K-3 .. 0. */
kernel void scan_carry(const int B, const int L, const int Dc, const int N, const int chunk,
                       global const float *A_log, const ulong A_off, global float *x,
                       const ulong x_off, global const float *sd, const ulong sd_off,
                       const int rev) {
    const int K = (L + chunk - 1) / chunk;
    if (get_global_id(0) >= (size_t)B * Dc * N) return;
    const int i = get_global_id(0) % (Dc * N), b = get_global_id(0) / (Dc * N);
    const float A = -exp(A_log[A_off + i]);
    const ulong base = x_off + (ulong)b * K * Dc * N + i, step = (ulong)Dc * N;
    for (int m = 0; m + 3 <= K; m++) {
        const int src = rev ? K - 2 - m : m + 1, dst = rev ? src - 1 : src + 1;
        x[base + dst * step] +=
            exp(A * sd[sd_off + ((ulong)b * K + src) * Dc + i / N]) * x[base + src * step];
    }
}

/* Backward phase A: the adjoint of chunk k = dim1 + 1 from a zero carry, t walked in reverse:
 * ds_t = g + dy_t Cm_t, g = exp(delta_t A) ds_t; writes g (= the carry into chunk k-1) to q
 * slot k-1. */
kernel void scan_bwd_adj(TOK_ARGS, global const float *dout, const ulong dout_off,
                         const int ld_dout, global float *q, const ulong q_off) {
    const int gb = get_global_id(0), b = get_global_id(2), cpg = Dc / G;
    if (gb >= G * nblk || b >= B) return;
    const int g = gb / nblk, j = gb % nblk, c0 = g * cpg + j * CB;
    const int nc = min(CB, cpg - j * CB), K = (L + chunk - 1) / chunk, k = get_global_id(1) + 1;
    vec gq[NMAX], Av[NMAX];
    load_A(Av, A_log, A_off + (ulong)c0 * N, N, nc);
    for (int n = 0; n < N; n++) gq[n] = 0.0f;
    const vec bv = ldv(bias, bias_off + c0, nc);
    for (int t = min(L, (k + 1) * chunk) - 1; t >= k * chunk; t--) {
        const ulong tk = (ulong)b * L + t, bc = b * sb + t * sl + g * sg;
        const vec dl = softplus_v(ldv(dt, dt_off + tk * ld_dt + c0, nc) + bv);
        vec dy = ldv(dout, dout_off + tk * ld_dout + c0, nc);
        if (has_z) {
            const vec zv = ldv(z, z_off + tk * ld_z + c0, nc);
            dy *= zv * sigmoid_v(zv);
        }
        for (int n = 0; n < N; n++) gq[n] = exp_neg_v(dl * Av[n]) * (gq[n] + dy * Cm[C_off + bc + n]);
    }
    const ulong qb = q_off + (((ulong)b * K + k - 1) * Dc + c0) * N;
    for (int n = 0; n < N; n++) stv_s(q, qb + n, N, gq[n], nc);
}

#define BWD_ARGS                                                                              \
    TOK_ARGS, global const float *dout, const ulong dout_off, const int ld_dout,              \
        global const float *st, const ulong st_off, global float *q, const ulong q_off,       \
        global float *pdd, const ulong pdd_off, global float *pdb, const ulong pdb_off,       \
        global float *pB, const ulong pB_off, global float *pC, const ulong pC_off,           \
        const int Ls, global float *du, const ulong du_off, const int ld_du,                  \
        global float *ddt, const ulong ddt_off, const int ld_ddt, global float *dz,           \
        const ulong dz_off, const int ld_dz, const int k0, const int kc, const int seq,        \
        const int b0
#define BWD_NAMES                                                                             \
    TOK_NAMES, dout, dout_off, ld_dout, st, st_off, q, q_off, pdd, pdd_off, pdb, pdb_off, pB,  \
        pB_off, pC, pC_off, Ls, du, du_off, ld_du, ddt, ddt_off, ld_ddt, dz, dz_off, ld_dz, k0, \
        kc, seq, b0

/* Backward phase C for channels c0..c0+nc-1 (block j of group g) of batch b: chunks k0 + dim1
 * (or, when seq, every chunk of [k0, k0+kc) in reverse with the carry kept in registers).
 * Per chunk: recompute delta, dy; for each n recompute s_t (from st) and walk t in reverse with
 * ds_t = carry + dy_t Cm_t; P_t = sum_n ds Bm, Q_t = sum_n ds A exp(delta A) s_{t-1}; then
 * du = D dy + delta P, ddelta = u P + Q, ddt = ddelta sig(v), dz from the recomputed y.
 * red != 0 (scan_bwd_wg, wg work-items) sums dBm/dCm over the work-group in local memory. */
static void bwd_body(BWD_ARGS, const int g, const int j, const int c0, const int nc,
                     local float *red, const int wg) {
    const int K = (L + chunk - 1) / chunk, b = b0 + get_global_id(2);
    vec dlv[CHUNKMAX], duv[CHUNKMAX], dyv[CHUNKMAX], yv[CHUNKMAX], Sv[CHUNKMAX], Abv[CHUNKMAX],
        Pv[CHUNKMAX], Qv[CHUNKMAX], sgv[CHUNKMAX], dzf[CHUNKMAX], gq[NMAX], Av[NMAX];
    load_A(Av, A_log, A_off + (ulong)c0 * N, N, nc);
    const vec Dv = ldv(D, D_off + c0, nc), bv = ldv(bias, bias_off + c0, nc);
    const int kb = seq ? k0 : k0 + (int)get_global_id(1), ke = seq ? k0 + kc : kb + 1;
    const ulong slab0 = (ulong)k0 * chunk;
    if (seq)
        for (int n = 0; n < N; n++)
            gq[n] = ke < K ? ldv_s(q, q_off + (((ulong)b * K + ke - 1) * Dc + c0) * N + n, N, nc)
                           : 0.0f;
    for (int k = ke - 1; k >= kb; k--) {
        const int t0 = k * chunk, nn = min(L, t0 + chunk) - t0;
        const ulong qk = q_off + (((ulong)b * K + k) * Dc + c0) * N;
        vec dDp = 0.0f, dbp = 0.0f;
        for (int i = 0; i < nn; i++) {
            const ulong tk = (ulong)b * L + t0 + i;
            const vec uv = ldv(u, u_off + tk * ld_u + c0, nc);
            const vec dl = softplus_sig_v(ldv(dt, dt_off + tk * ld_dt + c0, nc) + bv, &sgv[i]);
            const vec dov = ldv(dout, dout_off + tk * ld_dout + c0, nc);
            vec dy = dov;
            if (has_z) { /* dz = dout y sig(z) (1 + z (1 - sig(z))): all but y kept in dzf */
                const vec zv = ldv(z, z_off + tk * ld_z + c0, nc), sg = sigmoid_v(zv);
                dy *= zv * sg;
                dzf[i] = dov * sg * (1.0f + zv * (1.0f - sg));
            }
            dlv[i] = dl;
            duv[i] = dl * uv;
            dyv[i] = dy;
            yv[i] = Dv * uv;
            Pv[i] = Qv[i] = 0.0f;
            dDp += dy * uv;
        }
        for (int n = 0; n < N; n++) {
            const vec An = Av[n];
            const vec s0 = k > 0 ? ldv_s(st, st_off + (((ulong)b * K + k) * Dc + c0) * N + n, N, nc)
                                 : 0.0f;
            vec s = s0;
            for (int i = 0; i < nn; i++) {
                const ulong bc = b * sb + (ulong)(t0 + i) * sl + g * sg + n;
                const vec a = exp_neg_v(dlv[i] * An);
                s = a * s + duv[i] * Bm[B_off + bc];
                Sv[i] = s;
                Abv[i] = a;
                yv[i] += Cm[C_off + bc] * s;
            }
            vec gg = seq ? gq[n] : (k + 1 < K ? ldv_s(q, qk + n, N, nc) : 0.0f), dAn = 0.0f;
            const ulong pb = ((((ulong)(b - b0) * G + g) * nblk + j) * Ls + t0 - slab0) * N + n;
            for (int i = nn - 1; i >= 0; i--) {
                const ulong bc = b * sb + (ulong)(t0 + i) * sl + g * sg + n;
                const float Bn = Bm[B_off + bc];
                const vec ds = gg + dyv[i] * Cm[C_off + bc];
                const vec w = ds * (Abv[i] * (i > 0 ? Sv[i - 1] : s0));
                const float vB = hsum(ds * duv[i]), vC = hsum(dyv[i] * Sv[i]);
                if (red) {
                    red[i * wg + get_local_id(0)] = vB;
                    red[(CHUNKMAX + i) * wg + get_local_id(0)] = vC;
                } else {
                    pB[pB_off + pb + (ulong)i * N] = vB;
                    pC[pC_off + pb + (ulong)i * N] = vC;
                }
                Pv[i] += ds * Bn;
                Qv[i] += An * w;
                dAn += dlv[i] * w;
                gg = Abv[i] * ds;
            }
            if (red) {
                barrier(CLK_LOCAL_MEM_FENCE);
                for (int i = get_local_id(0); i < nn; i += wg) {
                    float sB = 0.0f, sC = 0.0f;
                    for (int w = 0; w < wg; w++) {
                        sB += red[i * wg + w];
                        sC += red[(CHUNKMAX + i) * wg + w];
                    }
                    pB[pB_off + pb + (ulong)i * N] = sB;
                    pC[pC_off + pb + (ulong)i * N] = sC;
                }
                barrier(CLK_LOCAL_MEM_FENCE);
            }
            if (seq) gq[n] = gg;
            stv_s(q, qk + n, N, dAn, nc); /* dA partial of chunk k replaces q_k (read above) */
        }
        for (int i = 0; i < nn; i++) {
            const ulong tk = (ulong)b * L + t0 + i;
            const vec uv = ldv(u, u_off + tk * ld_u + c0, nc);
            const vec ddr = (uv * Pv[i] + Qv[i]) * sgv[i];
            stv(du, du_off + tk * ld_du + c0, Dv * dyv[i] + dlv[i] * Pv[i], nc);
            stv(ddt, ddt_off + tk * ld_ddt + c0, ddr, nc);
            dbp += ddr;
            if (has_z)
                stv(dz, dz_off + tk * ld_dz + c0, dzf[i] * yv[i], nc);
        }
        stv(pdd, pdd_off + ((ulong)b * K + k) * Dc + c0, dDp, nc);
        stv(pdb, pdb_off + ((ulong)b * K + k) * Dc + c0, dbp, nc);
    }
    if (seq && kb > 0)
        for (int n = 0; n < N; n++)
            stv_s(q, q_off + (((ulong)b * K + kb - 1) * Dc + c0) * N + n, N, gq[n], nc);
}

#if !GPU
kernel void scan_bwd(BWD_ARGS) {
    const int gb = get_global_id(0), cpg = Dc / G;
    if (gb >= G * nblk || b0 + (int)get_global_id(2) >= B) return;
    const int g = gb / nblk, j = gb % nblk;
    bwd_body(BWD_NAMES, g, j, g * cpg + j * CB, min(CB, cpg - j * CB), 0, 1);
}
#else
/* GPU variant (CB = 1): one channel per work-item; local size (wg, 1, 1) exactly. */
kernel void scan_bwd_wg(BWD_ARGS, local float *red) {
    const int wg = get_local_size(0), cpg = Dc / G, gid = get_global_id(0);
    const int g = gid / (nblk * wg), r = gid % (nblk * wg);
    if (g >= G || b0 + (int)get_global_id(2) >= B) return; /* whole work-groups: uniform */
    bwd_body(BWD_NAMES, g, r / wg, g * cpg + r, r < cpg ? 1 : 0, red, wg);
}
#endif

/* dBm[b, t, g, n] = sum_j pB[b, g, j, t - slab0, n] (and dCm), j in order. One work-item per
 * (b, token, g, 16 consecutive n): whole vectors per block j, so that a work-item's nblk strided
 * reads cover 16 floats each (one work-item per float walked nblk pages per float). */
kernel void scan_bwd_reduce_bc(const int nb, const int b0, const int N, const int G,
                               const int nblk, const int Ls, const int t_first, const int nt,
                               global const float *pB, const ulong pB_off,
                               global const float *pC, const ulong pC_off, global float *dB,
                               const ulong dB_off, global float *dC, const ulong dC_off,
                               const ulong sb, const ulong sl, const ulong sg) {
    const int nq = (N + 15) / 16;
    if (get_global_id(0) >= (size_t)nb * nt * G * nq) return;
    const int i = get_global_id(0) % (G * nq), r = get_global_id(0) / (G * nq);
    const int tl = r % nt, b = r / nt, g = i / nq, n0 = i % nq * 16;
    const ulong p = (((ulong)b * G + g) * nblk * Ls + tl) * N + n0, jstep = (ulong)Ls * N;
    const ulong o = (b0 + b) * sb + (ulong)(t_first + tl) * sl + g * sg + n0;
    if (n0 + 16 <= N) {
        float16 sB = 0.0f, sC = 0.0f;
        for (int j = 0; j < nblk; j++) {
            sB += vload16(0, pB + pB_off + p + j * jstep);
            sC += vload16(0, pC + pC_off + p + j * jstep);
        }
        vstore16(sB, 0, dB + dB_off + o);
        vstore16(sC, 0, dC + dC_off + o);
        return;
    }
    for (int n = 0; n < N - n0; n++) {
        float sB = 0.0f, sC = 0.0f;
        for (int j = 0; j < nblk; j++) {
            sB += pB[pB_off + p + j * jstep + n];
            sC += pC[pC_off + p + j * jstep + n];
        }
        dB[dB_off + o + n] = sB;
        dC[dC_off + o + n] = sC;
    }
}

/* dA_log[c, n] += A[c, n] * sum_{b,k} dA partial; for n == 0 also dD[c], ddelta_bias[c]. The
 * partials sit in chunk slots k = k_first, k_first + k_step, ... < K of every b (0, 1: every
 * slot; scan_n1.cl's backward leaves one per slab, in its last chunk's slot). */
kernel void scan_bwd_reduce_params(const int B, const int K, const int k_first, const int k_step,
                                   const int Dc, const int N,
                                   global const float *A_log, const ulong A_off,
                                   global const float *q, const ulong q_off,
                                   global const float *pdd, const ulong pdd_off,
                                   global const float *pdb, const ulong pdb_off,
                                   global float *dA_log, const ulong dA_off, global float *dD,
                                   const ulong dD_off, global float *dbias, const ulong dbias_off) {
    const int i = get_global_id(0);
    if (i >= Dc * N) return;
    float sA = 0.0f, sD = 0.0f, sb = 0.0f;
    for (int b = 0; b < B; b++)
        for (int k = k_first; k < K; k += k_step) sA += q[q_off + ((ulong)b * K + k) * Dc * N + i];
    dA_log[dA_off + i] += sA * -exp(A_log[A_off + i]);
    if (i % N) return;
    const int c = i / N;
    for (int b = 0; b < B; b++)
        for (int k = k_first; k < K; k += k_step) {
            sD += pdd[pdd_off + ((ulong)b * K + k) * Dc + c];
            sb += pdb[pdb_off + ((ulong)b * K + k) * Dc + c];
        }
    dD[dD_off + c] += sD;
    dbias[dbias_off + c] += sb;
}
