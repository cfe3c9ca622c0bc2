/* scan_n1.cl: the selective scan at state size N = 1 (VMamba's d_state 1) on CPU devices, forward
 * and backward: the CLIMP_SCAN_CPU_N1 variant of model/scan.h. Same math, arguments, states and
 * scratch layouts as scan_fwd / scan_bwd of cl_kernels/scan.cl (read its header); the partial
 * sums it writes are reduced by scan.cl's scan_bwd_reduce_bc and scan_bwd_reduce_params. C
 * reference: climp_scan_forward_ref / climp_scan_backward_ref (model/scan_ref.c).
 *
 * Why a variant: at N = 1 a scan step does ~45 vector operations of transcendental math
 * (softplus, exp(delta A)) per vector of channels and one multiply-add of recurrence, so on a CPU
 * the kernel is compute-bound and latency-bound (the exp -> log1p -> exp chain is ~30 operations
 * deep), and its reads are rows of a (B, L, Dc) tensor. What this variant changes:
 *   - memory pattern: a work-item owns nw vectors (up to a whole group of channels: 768 B of a
 *     VMamba-T token row) instead of one, so it streams long row segments rather than 64 B
 *     columns 3 KB apart (each a new page for the hardware prefetcher), and it prefetches the
 *     rows it reads, and those it writes, ahead (__builtin_prefetch where the compiler has it;
 *     PoCL's prefetch() builtin is empty);
 *   - streaming stores for out, du and ddelta_raw (scan_math.clh, NT): no read for ownership of
 *     the output lines. Measured (scripts/bench_ab, 2 x 6 rounds, PoCL 3.1 on a 2-core EPYC) at
 *     the VMamba-T/B stage 0 and 2 shapes: forward 0.95-1.57x (geometric mean 1.09), backward
 *     0.70-1.37x (1.14); the gains are at stage 0, whose tensors do not stay in the caches
 *     anyway, as training batches' do not. The backward takes them only while one tensor fits
 *     the device's cache (its nt argument): beyond that, at VMamba-T stage 0 with 12544 tokens
 *     or more, they made it 1.1-1.57x slower than plain stores;
 *   - instruction-level parallelism: the math runs NV vectors at a time written out statement
 *     by statement (the W-vector macros of scan_math.clh), and in passes over blocks of TB
 *     tokens whose results go to private arrays (L1): the forward computes softplus for the
 *     block, then exp(delta A), the recurrence and the output (measured 1.11-1.17x faster than
 *     a third pass for the recurrence alone); the backward splits its recomputation into three
 *     passes. A pass's iterations are independent and its chain short, so the out-of-order
 *     window holds several of them.
 *
 * Work-item mapping: dim0 = g*nblk + j (block j of group g), dim2 = b (b - b0 in a backward
 * slab), local size (1, 1, 1). The forward may instead get nblk = -gpi: work-item dim0 = i owns
 * the gpi whole groups [i*gpi, (i+1)*gpi), so it reads and writes whole row segments of
 * gpi * Dc/G channels (all of a VMamba row at gpi = G), its passes over a token block walking
 * them group by group with each group's B and C (model/scan.c, n1_rows_ok, has the conditions and
 * the measurements). Group g's cpg = Dc/G channels form vpg = ceil(cpg/CB) vectors;
 * block j owns vectors [j*nw, (j+1)*nw) with nw = NV * ceil(ceil(vpg/nblk) / NV) (the host picks
 * nblk so that nw <= NWMAX); lanes past the group's end load as 0 and are not stored, and a block
 * whose vectors are all whole runs a copy of the body without masks. Every work-item walks all
 * chunks of its range (the sequential split); the backward's chunk states come from the forward
 * (st), and each chunk is recomputed NV vectors at a time.
 * No atomics: every sum runs in a fixed order, so results are bitwise reproducible. */
#ifndef CB
#define CB 8 /* vector width */
#endif
#ifndef NV
#define NV 4 /* vectors advanced together (1..8) */
#endif
#ifndef NWMAX
#define NWMAX 32 /* capacity: vectors per work-item */
#endif
#ifndef NWF
#define NWF 128 /* the forward's capacity: vectors per work-item (whole groups of a row) */
#endif
#ifndef CHUNKMAX
#define CHUNKMAX 64 /* capacity for the chunk length: backward keeps 4 x CHUNKMAX x NV vectors */
#endif
#ifndef PF
#define PF 16 /* forward prefetch distance in tokens (0: no prefetching) */
#endif
#ifndef PFW
#define PFW 1 /* also prefetch the rows to be written (no read-for-ownership stall at the store) */
#endif
#ifndef TB
#define TB 4 /* forward: tokens per block of the passes (bench_ab with streaming stores: 4 is
              1.03-1.22x faster than 8 over 2 x 8 rounds, 2 the same as 4) */
#endif

#include "scan_math.clh"

#if PF > 0 && defined(__has_builtin)
#if __has_builtin(__builtin_prefetch)
#define PREFETCH(p) __builtin_prefetch((p), 0, 2) /* read, into the outer caches */
#define PREFETCHW(p) __builtin_prefetch((p), 1, 2) /* to be written */
#endif
#endif
#ifndef PREFETCH
#define PREFETCH(p) ((void)(p))
#define PREFETCHW(p) ((void)(p))
#endif

/* Lanes of vector v (of the work-item's range starting at c0) inside the group ending at cend. */
static int lanes(int c0, int v, int cend) {
    return clamp(cend - (c0 + v * CB), 0, CB);
}
/* Vector v's load / store: a whole vector when the block is full (full is a constant in each
 * specialised copy of a kernel body, so the masked path is compiled only where it can run). */
#define LD(p, o, v) (full ? VLOAD((p) + (o)) : ldv((p), (o), lanes(c0, (v), cend)))
#define ST(p, o, v, x)                                                                         \
    do {                                                                                       \
        if (full) VSTORE((x), (p) + (o));                                                      \
        else stv((p), (o), (x), lanes(c0, (v), cend));                                         \
    } while (0)
/* ST, or a streaming store when ns (ns implies full and aligned rows). */
#if HAVE_NT
#define STS(p, o, v, x, ns)                                                                    \
    do {                                                                                       \
        if (ns) __builtin_nontemporal_store((x), (global vec *)((p) + (o)));                   \
        else ST(p, o, v, x);                                                                   \
    } while (0)
#else
#define STS(p, o, v, x, ns) ST(p, o, v, x)
#endif
/* Prefetch the lines of `count` floats at p + o (one per 16 floats), to read or to write. */
static void prefetch_row(global const float *p, ulong o, int count) {
    for (int i = 0; i < count; i += 16) PREFETCH(p + o + i);
}
static void prefetchw_row(global float *p, ulong o, int count) {
#if PFW
    for (int i = 0; i < count; i += 16) PREFETCHW(p + o + i);
#endif
}

/* The block geometry shared by both kernels (model/scan.c computes nw the same way), with CAP
 * vectors of capacity. nblk < 0 (forward only): the work-item spans gpi = -nblk whole groups,
 * all their vectors (the host passes it only when every group is whole vectors, a multiple of NV
 * of them, and gpi groups fit CAP): see fwd_body. */
#define BLOCK_SETUP(CAP)                                                                      \
    const int gb = get_global_id(0), cpg = Dc / G, vpg = (cpg + CB - 1) / CB;                \
    const int gpi = nblk < 0 ? -nblk : 1, nb = nblk < 0 ? 1 : nblk;                          \
    const int g = gb / nb * gpi, j = gb % nb;                                                 \
    const int nw = gpi > 1 ? gpi * vpg : (((vpg + nb - 1) / nb + NV - 1) / NV) * NV;         \
    const int c0 = g * cpg + j * nw * CB, cend = (g + gpi) * cpg;                             \
    const int nv = min(nw, (cend - c0 + CB - 1) / CB); /* vectors with lanes */               \
    const int K = (L + chunk - 1) / chunk;                                                    \
    vec Av[CAP], A2v[CAP], Dv[CAP], bv[CAP]; /* A2 = A log2(e): exp(dA) = 2^(d A2) */         \
    for (int v = 0; v < nv; v++) {                                                            \
        const int nc = lanes(c0, v, cend);                                                    \
        Av[v] = -exp(ldv(A_log, A_off + c0 + v * CB, nc));                                    \
        A2v[v] = Av[v] * 1.44269504088896341f;                                                \
        Dv[v] = ldv(D, D_off + c0 + v * CB, nc);                                              \
        bv[v] = ldv(bias, bias_off + c0 + v * CB, nc);                                        \
    }                                                                                         \
    for (int v = nv; v < (nv + NV - 1) / NV * NV; v++) Av[v] = A2v[v] = Dv[v] = bv[v] = 0.0f

#define FWD_ARGS                                                                              \
    TOK_ARGS, global float *out, const ulong out_off, const int ld_out, global float *st,     \
        const ulong st_off
#define FWD_NAMES TOK_NAMES, out, out_off, ld_out, st, st_off

/* Forward: arguments of scan.cl's scan_fwd (N must be 1, mode 1: sequential). Writes out and
 * the state entering each chunk k > 0 to st slot k; the delta sums sd are not needed by this
 * variant's backward and are left unwritten. */
__attribute__((always_inline)) static void fwd_body(FWD_ARGS, const int full) {
    const int b = get_global_id(2);
    BLOCK_SETUP(NWF);
    vec s[NWF], DLb[TB * NWF];
    for (int v = 0; v < NWF; v++) s[v] = 0.0f;
    const int vg = gpi > 1 ? vpg : nv; /* vectors per group in this work-item */
    const int ns = HAVE_NT && full && ALIGNED_ROWS(out, out_off + c0, ld_out); /* streaming */
    for (int t0 = 0; t0 < L; t0 += TB) {
        const int nt = min(TB, L - t0);
        for (int i = 0; i < nt; i++) { /* pass 1: delta = softplus(dt + bias) */
            const ulong tk = (ulong)b * L + t0 + i;
            if (t0 + i + PF < L) { /* the rows PF tokens ahead */
                prefetch_row(u, u_off + (tk + PF) * ld_u + c0, nv * CB);
                prefetch_row(dt, dt_off + (tk + PF) * ld_dt + c0, nv * CB);
                if (has_z) prefetch_row(z, z_off + (tk + PF) * ld_z + c0, nv * CB);
                if (!ns) prefetchw_row(out, out_off + (tk + PF) * ld_out + c0, nv * CB);
            }
            for (int v0 = 0; v0 < nv; v0 += NV) {
                vec x[NV], dl[NV];
                REP(NV, x[q] = LD(dt, dt_off + tk * ld_dt + c0 + (v0 + q) * CB, v0 + q) + bv[v0 + q]);
                SOFTPLUS(NV, dl, x);
                REP(NV, DLb[i * NWF + v0 + q] = dl[q]);
            }
        }
        for (int i = 0; i < nt; i++) { /* pass 2: exp(delta A), the recurrence and the output */
            const int t = t0 + i;
            const ulong tk = (ulong)b * L + t;
            if (t % chunk == 0 && t > 0) /* the state entering chunk t / chunk */
                for (int v = 0; v < nv; v++)
                    ST(st, st_off + ((ulong)b * K + t / chunk) * Dc + c0 + v * CB, v, s[v]);
            for (int gi = 0; gi < gpi; gi++) { /* each group's vectors with its B and C */
                const ulong bc = b * sb + (ulong)t * sl + (ulong)(g + gi) * sg;
                const float Bt = Bm[B_off + bc], Ct = Cm[C_off + bc];
                for (int v0 = gi * vg; v0 < min(nv, (gi + 1) * vg); v0 += NV) {
                vec x[NV], a[NV];
                REP(NV, x[q] = DLb[i * NWF + v0 + q] * A2v[v0 + q]);
                EXP2_NEG(NV, a, x);
                REP(NV, {
                    const int v = v0 + q;
                    const vec uv = LD(u, u_off + tk * ld_u + c0 + v * CB, v);
                    s[v] = a[q] * s[v] + DLb[i * NWF + v] * uv * Bt;
                    vec y = Ct * s[v] + Dv[v] * uv;
                    if (has_z) {
                        const vec zv = LD(z, z_off + tk * ld_z + c0 + v * CB, v);
                        y *= zv * sigmoid_v(zv);
                    }
                    STS(out, out_off + tk * ld_out + c0 + v * CB, v, y, ns);
                });
                }
            }
        }
    }
    if (ns) SFENCE();
}

kernel void scan_fwd_n1(FWD_ARGS, global float *sd, const ulong sd_off, const int mode) {
    const int gb = get_global_id(0), cpg = Dc / G, vpg = (cpg + CB - 1) / CB;
    if (nblk < 0) { /* whole groups: every vector is whole (the host's condition) */
        if (gb < G / -nblk && (int)get_global_id(2) < B) fwd_body(FWD_NAMES, 1);
        return;
    }
    if (gb >= G * nblk || (int)get_global_id(2) >= B) return;
    const int nw = (((vpg + nblk - 1) / nblk + NV - 1) / NV) * NV;
    if ((gb % nblk + 1) * nw * CB <= cpg) fwd_body(FWD_NAMES, 1); /* every vector whole */
    else fwd_body(FWD_NAMES, 0);
}

/* Backward: arguments of scan.cl's scan_bwd (N must be 1, seq 1): the chunks of [k0, k0+kc) in
 * reverse, the carry kept in registers and handed between slabs through q like scan_bwd. Per
 * chunk and NV vectors, three forward passes recompute into private arrays exp(-|v|), then
 * delta and its derivative sigmoid(v), then exp(delta A) and the states (from st); a reverse pass
 * forms the adjoint and every gradient. The dBm / dCm contributions of all the block's vectors
 * are summed per token before one lane sum; the dA, dD and ddelta_bias partials over the whole
 * slab, written once into the slot of its last chunk (ke - 1, where its carry was read; the
 * host has scan_bwd_reduce_params read only those slots), not once per chunk. While chunk k
 * is computed, the rows of chunk k-1 (the next one) are prefetched, spread over the four
 * passes: dt in the first, u in the second, dout (and z) in the third, the rows to be written
 * in the reverse pass (unless streaming).
 * All of them in the first pass, as before, was a burst of up to 10 prefetches per token while
 * the other passes left memory idle: spreading them measured 1.18-1.39x faster at VMamba-T and
 * VMamba-B stage 0 (batch 1 and 8) and 1.03-1.18x at stage 2. One more argument after b0: nt,
 * whether du and ddelta_raw may take streaming stores (the host decides by size: see
 * model/scan.c, bwd_streaming). */
#define BWD_ARGS                                                                              \
    TOK_ARGS, global const float *dout, const ulong dout_off, const int ld_dout,              \
        global const float *st, const ulong st_off, global float *q_, const ulong q_off,      \
        global float *pdd, const ulong pdd_off, global float *pdb, const ulong pdb_off,       \
        global float *pB, const ulong pB_off, global float *pC, const ulong pC_off,           \
        const int Ls, global float *du, const ulong du_off, const int ld_du, global float *ddt, \
        const ulong ddt_off, const int ld_ddt, global float *dz, const ulong dz_off,          \
        const int ld_dz, const int k0, const int kc
#define BWD_NAMES                                                                             \
    TOK_NAMES, dout, dout_off, ld_dout, st, st_off, q_, q_off, pdd, pdd_off, pdb, pdb_off, pB, \
        pB_off, pC, pC_off, Ls, du, du_off, ld_du, ddt, ddt_off, ld_ddt, dz, dz_off, ld_dz, k0, \
        kc

__attribute__((always_inline)) static void bwd_body(BWD_ARGS, const int b0, const int nt,
                                                    const int full) {
    const int b = b0 + get_global_id(2);
    BLOCK_SETUP(NWMAX);
    vec gc[NWMAX]; /* adjoint carry entering each chunk from the right */
    vec accA[NWMAX], accD[NWMAX], accb[NWMAX]; /* dA, dD, ddelta_bias partials of the slab */
    const int ns = HAVE_NT && nt && full && ALIGNED_ROWS(du, du_off + c0, ld_du) &&
                   ALIGNED_ROWS(ddt, ddt_off + c0, ld_ddt);
    vec DL[CHUNKMAX * NV], SG[CHUNKMAX * NV], AA[CHUNKMAX * NV], S[CHUNKMAX * NV];
    vec VB[CHUNKMAX], VC[CHUNKMAX];
    const int ke = k0 + kc;
    const ulong slab0 = (ulong)k0 * chunk;
    for (int v = 0; v < NWMAX; v++) {
        gc[v] = v < nv && ke < K ? ldv(q_, q_off + ((ulong)b * K + ke - 1) * Dc + c0 + v * CB,
                                      lanes(c0, v, cend))
                                 : 0.0f;
        accA[v] = accD[v] = accb[v] = 0.0f;
    }
    for (int k = ke - 1; k >= k0; k--) {
        const int t0 = k * chunk, nn = min(L, t0 + chunk) - t0;
        for (int i = 0; i < nn; i++) VB[i] = VC[i] = 0.0f;
        for (int v0 = 0; v0 < nv; v0 += NV) {
            vec s[NV], s0[NV], gg[NV], dAp[NV], dDp[NV], dbp[NV];
            REP(NV, {
                s0[q] = s[q] = k > 0 ? ldv(st, st_off + ((ulong)b * K + k) * Dc + c0 + (v0 + q) * CB,
                                           lanes(c0, v0 + q, cend))
                                     : 0.0f;
                gg[q] = gc[v0 + q];
                dAp[q] = dDp[q] = dbp[q] = 0.0f;
            });
            for (int i = 0; i < nn; i++) { /* forward through the chunk: e = exp(-|v|) */
                const ulong tk = (ulong)b * L + t0 + i, c = c0 + v0 * CB;
                if (k > 0) prefetch_row(dt, dt_off + (tk - chunk) * ld_dt + c, NV * CB);
                vec x[NV], e[NV];
                REP(NV, x[q] = AS_VEC(AS_UVEC(LD(dt, dt_off + tk * ld_dt + c + q * CB, v0 + q) +
                                               bv[v0 + q]) | 0x80000000u));
                EXP_NEG(NV, e, x);
                REP(NV, SG[i * NV + q] = e[q]);
            }
            for (int i = 0; i < nn; i++) { /* delta = max(v, 0) + log1p(e), its derivative */
                const ulong tk = (ulong)b * L + t0 + i, c = c0 + v0 * CB;
                if (k > 0) prefetch_row(u, u_off + (tk - chunk) * ld_u + c, NV * CB);
                vec x[NV], e[NV], l[NV];
                REP(NV, e[q] = SG[i * NV + q]);
                LOG1P01(NV, l, e);
                REP(NV, {
                    x[q] = LD(dt, dt_off + tk * ld_dt + c + q * CB, v0 + q) + bv[v0 + q];
                    DL[i * NV + q] = (x[q] > 0.0f ? x[q] : 0.0f) + l[q];
                    SG[i * NV + q] = (x[q] >= 0.0f ? 1.0f : e[q]) / (1.0f + e[q]);
                });
            }
            for (int i = 0; i < nn; i++) { /* exp(delta A) and the states */
                const ulong tk = (ulong)b * L + t0 + i, c = c0 + v0 * CB;
                if (k > 0) {
                    prefetch_row(dout, dout_off + (tk - chunk) * ld_dout + c, NV * CB);
                    if (has_z) prefetch_row(z, z_off + (tk - chunk) * ld_z + c, NV * CB);
                }
                const float Bt = Bm[B_off + b * sb + (ulong)(t0 + i) * sl + g * sg];
                vec x[NV], a[NV];
                REP(NV, x[q] = DL[i * NV + q] * A2v[v0 + q]);
                EXP2_NEG(NV, a, x);
                REP(NV, {
                    s[q] = a[q] * s[q] + DL[i * NV + q] * LD(u, u_off + tk * ld_u + c + q * CB, v0 + q) * Bt;
                    AA[i * NV + q] = a[q];
                    S[i * NV + q] = s[q];
                });
            }
            for (int i = nn - 1; i >= 0; i--) { /* the adjoint, backwards */
                const ulong tk = (ulong)b * L + t0 + i, c = c0 + v0 * CB;
                if (k > 0 && !ns) {
                    prefetchw_row(du, du_off + (tk - chunk) * ld_du + c, NV * CB);
                    prefetchw_row(ddt, ddt_off + (tk - chunk) * ld_ddt + c, NV * CB);
                }
                const ulong bc = b * sb + (ulong)(t0 + i) * sl + g * sg;
                const float Bt = Bm[B_off + bc], Ct = Cm[C_off + bc];
                vec vb = 0.0f, vc = 0.0f;
                REP(NV, {
                    const int iq = i * NV + q;
                    const vec uv = LD(u, u_off + tk * ld_u + c + q * CB, v0 + q);
                    const vec dov = LD(dout, dout_off + tk * ld_dout + c + q * CB, v0 + q);
                    vec dy = dov;
                    if (has_z) { /* dz = dout y sig(z) (1 + z (1 - sig(z))) */
                        const vec zv = LD(z, z_off + tk * ld_z + c + q * CB, v0 + q), sz = sigmoid_v(zv);
                        dy *= zv * sz;
                        ST(dz, dz_off + tk * ld_dz + c + q * CB, v0 + q,
                           dov * sz * (1.0f + zv * (1.0f - sz)) * (Ct * S[iq] + Dv[v0 + q] * uv));
                    }
                    const vec sp = i > 0 ? S[iq - NV] : s0[q];
                    const vec ds = gg[q] + dy * Ct, w = ds * (AA[iq] * sp), P = ds * Bt;
                    const vec ddr = (uv * P + Av[v0 + q] * w) * SG[iq];
                    STS(du, du_off + tk * ld_du + c + q * CB, v0 + q, Dv[v0 + q] * dy + DL[iq] * P, ns);
                    STS(ddt, ddt_off + tk * ld_ddt + c + q * CB, v0 + q, ddr, ns);
                    dbp[q] += ddr;
                    dDp[q] += dy * uv;
                    dAp[q] += DL[iq] * w;
                    vb += ds * (DL[iq] * uv);
                    vc += dy * S[iq];
                    gg[q] = AA[iq] * ds;
                });
                VB[i] += vb;
                VC[i] += vc;
            }
            REP(NV, {
                gc[v0 + q] = gg[q];
                accA[v0 + q] += dAp[q];
                accD[v0 + q] += dDp[q];
                accb[v0 + q] += dbp[q];
            });
        }
        const ulong pb = (((ulong)(b - b0) * G + g) * nblk + j) * Ls + t0 - slab0;
        for (int i = 0; i < nn; i++) {
            pB[pB_off + pb + i] = hsum(VB[i]);
            pC[pC_off + pb + i] = hsum(VC[i]);
        }
    }
    for (int v = 0; v < nv; v++) { /* the slab's partials replace the carry read from q_ */
        const int nc = lanes(c0, v, cend);
        const ulong o = ((ulong)b * K + ke - 1) * Dc + c0 + v * CB;
        stv(q_, q_off + o, accA[v], nc);
        stv(pdd, pdd_off + o, accD[v], nc);
        stv(pdb, pdb_off + o, accb[v], nc);
        if (k0 > 0)
            stv(q_, q_off + ((ulong)b * K + k0 - 1) * Dc + c0 + v * CB, gc[v], nc);
    }
    if (ns) SFENCE();
}

kernel void scan_bwd_n1(BWD_ARGS, const int seq, const int b0, const int nt) {
    const int gb = get_global_id(0), cpg = Dc / G, vpg = (cpg + CB - 1) / CB;
    if (gb >= G * nblk || b0 + (int)get_global_id(2) >= B) return;
    const int nw = (((vpg + nblk - 1) / nblk + NV - 1) / NV) * NV;
    if ((gb % nblk + 1) * nw * CB <= cpg) bwd_body(BWD_NAMES, b0, nt, 1); /* every vector whole */
    else bwd_body(BWD_NAMES, b0, nt, 0);
}
