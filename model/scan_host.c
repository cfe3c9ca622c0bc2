/* The native host path of the d_state-1 selective scan (CLIMP_SCAN_HOST, model/scan_host.h).
 *
 * Why: at N = 1 (VMamba) a scan step is ~45 vector operations of softplus and exp(delta A) per
 * vector of channels and one multiply-add of recurrence, so on a CPU the scan is bound by that
 * arithmetic and by how well the row-strided loads overlap it, not by bandwidth. Like the GEMM,
 * which runs OpenBLAS on the CPU device's own buffers, this path runs native code on the mapped
 * buffers (no copy on host-unified memory), where it controls what an OpenCL kernel cannot:
 * streaming stores, instruction selection (an integer add instead of a multiply for 2^k), and
 * the workspace layout. Measured on a 2-core AMD EPYC (AVX2) against scan_n1.cl on PoCL 3.1:
 * see docs/results/pocl-epyc-2core-2026-11-29/README.md.
 *
 * Same math and the same polynomials as cl_kernels/scan_math.clh (read its header for their
 * accuracy): exp on x <= 0 (degree 6), 2^x on x <= 0 for exp(delta A) with log2(e) folded into A,
 * log1p on [0, 1] (degree 8), softplus(v) = max(v, 0) + log1p(exp(-|v|)); only the clamps differ
 * (exp_neg4, exp2_neg4). Same states layout as the kernels: slot k > 0 of `states` holds the state
 * entering chunk k (the delta sums are not written).
 *
 * Work split: a unit is (batch element b, group g, a range of at most VMAX vectors of 8
 * consecutive channels of g); the ranges depend on the shape and the thread count only, and
 * every sum runs in a fixed order, so results are reproducible. Threads (the device's compute
 * units or $CLIMP_SCAN_THREADS, the calling thread included) take units in turn.
 *   forward: per unit, blocks of TB tokens in two passes, NV vectors at a time written out so
 *     that NV independent chains overlap: softplus into a private block, then exp(delta A), the
 *     recurrence and the output; the rows PF tokens ahead are prefetched; whole aligned output
 *     rows are written with streaming stores (no read for ownership: 1.3-1.4x at VMamba-T
 *     stage 0).
 *   backward: per unit, chunks from the last, three passes over the chunk's rows into a
 *     workspace (L2): delta and sigmoid(v); exp(delta A) and the states from the chunk's entering
 *     state; then, backwards, the adjoint and every gradient. Each pass prefetches what the next
 *     one reads first (pass 1: u, pass 2: dout and the rows written by pass 3, pass 3: dt of the
 *     next chunk). Plain stores: streaming stores were slower here (the lines are often still
 *     cached). dBm / dCm: one lane sum per token per unit into host partials, summed over a
 *     group's units afterwards; dA_log / dD / ddelta_bias: per-chunk sums, summed per (b,
 *     channel), then over b. */
#define _POSIX_C_SOURCE 200809L
#include "model/scan_host.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define HOST_AVX2 1
#include <immintrin.h>
#else
#define HOST_AVX2 0
#endif

#define LANES 8
#define NV 4       /* vectors advanced together */
#define VMAX 32    /* vectors per unit at most */
#define TB 8       /* forward: tokens per block */
#define PF 16      /* forward: prefetch distance in tokens */
#define CHUNKMAX 64
#define MAX_THREADS 64

static int cdiv(int a, int b) { return (a + b - 1) / b; }

/* One call: the mapped pointers (at element 0 of each view) and the work split. */
typedef struct job {
    int B, L, Dc, G, cpg, chunk, K, hz;
    size_t sb, sl, sg;
    const float *u, *dt, *A_log, *Bm, *Cm, *D, *bias, *z, *st_in, *dout;
    float *out, *st, *du, *ddt, *dz;
    int ld_u, ld_dt, ld_z, ld_out, ld_dout, ld_du, ld_ddt, ld_dz;
    int nsub, vsub, nunits;
    float *pB, *pC;          /* backward: [unit][L] lane sums per token */
    float *pdA, *pdD, *pdb;  /* backward: [b][Dc] */
    atomic_int next, done;
} job;

/* The unit split of a shape for nthreads threads: each group's vpg vectors in nsub ranges of
 * vsub vectors (a multiple of NV, at most VMAX), at least 2 units per thread where the group
 * allows. */
static void split_units(job *J, int nthreads) {
    const int vpg = cdiv(J->cpg, LANES);
    int nsub = cdiv(vpg, VMAX);
    const int want = cdiv(2 * nthreads, J->B * J->G), most = cdiv(vpg, NV);
    if (nsub < want) nsub = want < most ? want : most;
    J->vsub = cdiv(cdiv(vpg, nsub), NV) * NV;
    J->nsub = cdiv(vpg, J->vsub);
    J->nunits = J->B * J->G * J->nsub;
}

#if HOST_AVX2
#define TGT __attribute__((target("avx2,fma")))
#define AI __attribute__((always_inline)) inline
typedef __m256 V;
#define FOR_Q _Pragma("GCC unroll 16") for (int q = 0; q < NV; q++)
#define SET1 _mm256_set1_ps
#define FMA _mm256_fmadd_ps
#define MUL _mm256_mul_ps
#define ADD _mm256_add_ps
#define SUB _mm256_sub_ps
#define SIGN_BIT _mm256_castsi256_ps(_mm256_set1_epi32((int)0x80000000u))

/* p 2^k for p in [0.7, 1.5] and k >= -125 (a normal result): k sits in the low mantissa bits
 * of t = x + 1.5 * 2^23 (two's complement), so t's bits shifted to the exponent field are k's,
 * and an integer add scales p. That replaces scan_math.clh's multiply by 2^k: the integer unit
 * is idle here, the multiply-add units are the bottleneck. */
static AI TGT V scale2k(V p, V t) {
    const __m256i k = _mm256_slli_epi32(_mm256_castps_si256(t), 23);
    return _mm256_castsi256_ps(_mm256_add_epi32(_mm256_castps_si256(p), k));
}
/* y = exp(x), x <= 0: scan_math.clh's EXP_NEG (same reduction and polynomial, < 1.4 ulp) but
 * clamped at -86.5 (y >= 2.9e-38, so that k >= -125) instead of -87.33. max(c, x) returns x when
 * x is NaN, so NaN -> NaN. */
static AI TGT void exp_neg4(V *y, const V *x0) {
    V x[NV], t[NV], k[NV], r[NV], p[NV];
    FOR_Q x[q] = _mm256_max_ps(SET1(-86.5f), x0[q]);
    FOR_Q t[q] = FMA(x[q], SET1(1.44269504088896341f), SET1(12582912.0f));
    FOR_Q k[q] = SUB(t[q], SET1(12582912.0f));
    FOR_Q r[q] = _mm256_fnmadd_ps(k[q], SET1(0.693145751953125f), x[q]);
    FOR_Q r[q] = _mm256_fnmadd_ps(k[q], SET1(1.428606765330187045e-06f), r[q]);
    FOR_Q p[q] = FMA(SET1(1.3836848592e-03f), r[q], SET1(8.3748159297e-03f));
    FOR_Q p[q] = FMA(p[q], r[q], SET1(4.1668225530e-02f));
    FOR_Q p[q] = FMA(p[q], r[q], SET1(1.6666420168e-01f));
    FOR_Q p[q] = FMA(p[q], r[q], SET1(4.9999992080e-01f));
    FOR_Q p[q] = FMA(p[q], r[q], SET1(1.0000000363f));
    FOR_Q p[q] = FMA(p[q], r[q], SET1(1.0f));
    FOR_Q y[q] = scale2k(p[q], t[q]);
}
/* y = 2^x, x <= 0: EXP2_NEG (< 1.3 ulp), clamped at -125 (y >= 2^-125) instead of -126. */
static AI TGT void exp2_neg4(V *y, const V *x0) {
    V x[NV], t[NV], r[NV], p[NV];
    FOR_Q x[q] = _mm256_max_ps(SET1(-125.0f), x0[q]);
    FOR_Q t[q] = ADD(x[q], SET1(12582912.0f));
    FOR_Q r[q] = SUB(x[q], SUB(t[q], SET1(12582912.0f)));
    FOR_Q p[q] = FMA(SET1(1.5345814881e-04f), r[q], SET1(1.3399931420e-03f));
    FOR_Q p[q] = FMA(p[q], r[q], SET1(9.6184889480e-03f));
    FOR_Q p[q] = FMA(p[q], r[q], SET1(5.5503287764e-02f));
    FOR_Q p[q] = FMA(p[q], r[q], SET1(2.4022646891e-01f));
    FOR_Q p[q] = FMA(p[q], r[q], SET1(6.9314720574e-01f));
    FOR_Q p[q] = FMA(p[q], r[q], SET1(1.0f));
    FOR_Q y[q] = scale2k(p[q], t[q]);
}
/* y = log1p(x), x in [0, 1]. */
static AI TGT void log1p01_4(V *y, const V *x) {
    V p[NV];
    FOR_Q p[q] = FMA(SET1(5.2326970005e-03f), x[q], SET1(-2.9505253334e-02f));
    FOR_Q p[q] = FMA(p[q], x[q], SET1(7.8225982465e-02f));
    FOR_Q p[q] = FMA(p[q], x[q], SET1(-1.3663249109e-01f));
    FOR_Q p[q] = FMA(p[q], x[q], SET1(1.9106008763e-01f));
    FOR_Q p[q] = FMA(p[q], x[q], SET1(-2.4842982889e-01f));
    FOR_Q p[q] = FMA(p[q], x[q], SET1(3.3319096927e-01f));
    FOR_Q p[q] = FMA(p[q], x[q], SET1(-4.9999493150e-01f));
    FOR_Q p[q] = FMA(p[q], x[q], SET1(9.9999996988e-01f));
    FOR_Q y[q] = MUL(p[q], x[q]);
}
/* max(v, 0) (v NaN -> 0; the log1p term then carries the NaN). */
static AI TGT V relu(V v) {
    return _mm256_max_ps(v, _mm256_setzero_ps());
}
/* sigmoid(z) from e = exp(-|z|): (z >= 0 ? 1 : e) / (1 + e). */
static AI TGT V sigmoid_e(V zv, V e) {
    const V ge = _mm256_cmp_ps(zv, _mm256_setzero_ps(), _CMP_GE_OQ), w = ADD(SET1(1.0f), e);
    V r = _mm256_rcp_ps(w);
    r = MUL(r, _mm256_fnmadd_ps(w, r, SET1(2.0f)));
    return MUL(_mm256_blendv_ps(e, SET1(1.0f), ge), r);
}
static AI TGT V sigmoid1(V zv) {
    V x[NV], e[NV];
    FOR_Q x[q] = _mm256_or_ps(zv, SIGN_BIT);
    exp_neg4(e, x); /* NV - 1 vectors wasted: only on the gated path */
    return sigmoid_e(zv, e[0]);
}
static AI TGT float hsum(V v) {
    __m128 x = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    x = _mm_add_ps(x, _mm_movehl_ps(x, x));
    x = _mm_add_ss(x, _mm_movehdup_ps(x));
    return _mm_cvtss_f32(x);
}

static void prefetch_row(const float *p, int count, int write) {
    for (int i = 0; i < count; i += 16) {
        if (write) __builtin_prefetch(p + i, 1, 2);
        else __builtin_prefetch(p + i, 0, 2);
    }
}

/* The unit's channel range and per-channel constants. */
typedef struct unit {
    int b, g, j, c0, cend, nv, nvp; /* nv vectors with lanes, nvp rounded up to NV */
    __m256i mk[VMAX];               /* lane masks (partial ranges) */
    V A[VMAX], A2[VMAX], Dv[VMAX], bv[VMAX];
} unit;

static TGT void unit_setup(const job *J, int id, unit *U) {
    U->j = id % J->nsub;
    U->g = id / J->nsub % J->G;
    U->b = id / J->nsub / J->G;
    U->c0 = U->g * J->cpg + U->j * J->vsub * LANES;
    U->cend = U->c0 + J->vsub * LANES < (U->g + 1) * J->cpg ? U->c0 + J->vsub * LANES
                                                             : (U->g + 1) * J->cpg;
    U->nv = cdiv(U->cend - U->c0, LANES);
    U->nvp = cdiv(U->nv, NV) * NV;
    for (int v = 0; v < U->nvp; v++) {
        float a[LANES], d[LANES], bb[LANES];
        int m[LANES];
        for (int l = 0; l < LANES; l++) {
            const int c = U->c0 + v * LANES + l, in = c < U->cend;
            a[l] = in ? -expf(J->A_log[c]) : -1.0f;
            d[l] = in ? J->D[c] : 0.0f;
            bb[l] = in ? J->bias[c] : 0.0f;
            m[l] = in ? -1 : 0;
        }
        U->A[v] = _mm256_loadu_ps(a);
        U->A2[v] = MUL(U->A[v], SET1(1.44269504088896341f));
        U->Dv[v] = _mm256_loadu_ps(d);
        U->bv[v] = _mm256_loadu_ps(bb);
        U->mk[v] = _mm256_loadu_si256((const __m256i *)m);
    }
}

/* Vector v of the unit at row pointer p (element c0 of a token row): whole in `full` units. */
#define LDV(p, v) (full ? _mm256_loadu_ps((p) + (v) * LANES) : _mm256_maskload_ps((p) + (v) * LANES, U->mk[v]))
#define STV(p, v, x)                                                                           \
    do {                                                                                       \
        if (full) _mm256_storeu_ps((p) + (v) * LANES, (x));                                    \
        else _mm256_maskstore_ps((p) + (v) * LANES, U->mk[v], (x));                            \
    } while (0)

/* ---------------------------------------------------------------- forward */
static AI TGT void fwd_unit(const job *J, const unit *U, const int full) {
    const int b = U->b, L = J->L, c0 = U->c0, nvp = U->nvp, w = U->nv * LANES;
    V s[VMAX], DL[TB][VMAX];
    for (int v = 0; v < nvp; v++) s[v] = _mm256_setzero_ps();
    const size_t bcb = (size_t)b * J->sb + (size_t)U->g * J->sg;
    /* whole aligned rows: streaming stores (no read for ownership of the output's lines) */
    const int nt_out = full && J->ld_out % LANES == 0 &&
                       ((uintptr_t)(J->out + (size_t)b * L * J->ld_out + c0) & 31) == 0;
    for (int t0 = 0; t0 < L; t0 += TB) {
        const int nt = L - t0 < TB ? L - t0 : TB;
        for (int i = 0; i < nt; i++) { /* pass 1: delta = softplus(dt + bias) */
            const size_t tk = (size_t)b * L + t0 + i;
            if (t0 + i + PF < L) {
                prefetch_row(J->u + (tk + PF) * J->ld_u + c0, w, 0);
                prefetch_row(J->dt + (tk + PF) * J->ld_dt + c0, w, 0);
                if (J->hz) prefetch_row(J->z + (tk + PF) * J->ld_z + c0, w, 0);
                if (!nt_out) prefetch_row(J->out + (tk + PF) * J->ld_out + c0, w, 1);
            }
            const float *dtr = J->dt + tk * J->ld_dt + c0;
            for (int v0 = 0; v0 < nvp; v0 += NV) {
                V x[NV], e[NV], l[NV];
                FOR_Q x[q] = ADD(LDV(dtr, v0 + q), U->bv[v0 + q]);
                FOR_Q e[q] = _mm256_or_ps(x[q], SIGN_BIT);
                exp_neg4(e, e);
                log1p01_4(l, e);
                FOR_Q DL[i][v0 + q] = ADD(relu(x[q]), l[q]);
            }
        }
        for (int i = 0; i < nt; i++) { /* pass 2: exp(delta A), the recurrence, the output */
            const int t = t0 + i;
            const size_t tk = (size_t)b * L + t, bc = bcb + (size_t)t * J->sl;
            const V Bt = SET1(J->Bm[bc]), Ct = SET1(J->Cm[bc]);
            if (t % J->chunk == 0 && t > 0) { /* the state entering chunk t / chunk */
                float *sr = J->st + ((size_t)b * J->K + t / J->chunk) * J->Dc + c0;
                for (int v = 0; v < U->nv; v++) STV(sr, v, s[v]);
            }
            const float *ur = J->u + tk * J->ld_u + c0;
            const float *zr = J->hz ? J->z + tk * J->ld_z + c0 : NULL;
            float *orow = J->out + tk * J->ld_out + c0;
            for (int v0 = 0; v0 < nvp; v0 += NV) {
                V x[NV], a[NV];
                FOR_Q x[q] = MUL(DL[i][v0 + q], U->A2[v0 + q]);
                exp2_neg4(a, x);
                FOR_Q {
                    const int v = v0 + q;
                    const V uv = LDV(ur, v);
                    s[v] = FMA(a[q], s[v], MUL(MUL(DL[i][v], uv), Bt));
                    V y = FMA(Ct, s[v], MUL(U->Dv[v], uv));
                    if (J->hz) {
                        const V zv = LDV(zr, v);
                        y = MUL(y, MUL(zv, sigmoid1(zv)));
                    }
                    if (nt_out) _mm256_stream_ps(orow + v * LANES, y);
                    else STV(orow, v, y);
                }
            }
        }
    }
}

/* ---------------------------------------------------------------- backward */
#define WS_SKEW 5 /* vectors */
#define WS_BYTES ((4 * CHUNKMAX * VMAX + 3 * WS_SKEW) * sizeof(V))
/* ws: WS_BYTES of workspace (delta, sigmoid, exp(delta A), states). */
static AI TGT void bwd_unit(const job *J, const unit *U, V *ws, const int full) {
    const int b = U->b, L = J->L, c0 = U->c0, nvp = U->nvp, K = J->K, chunk = J->chunk;
    const int w = U->nv * LANES; /* floats of a row to prefetch */
    V gc[VMAX], s[VMAX], dAp[VMAX], dDp[VMAX], dbp[VMAX]; /* sums of the chunk */
    V tA[VMAX], tD[VMAX], tb[VMAX]; /* sums of the chunk sums (two levels: fp32 over L terms) */
    /* the four arrays start WS_SKEW vectors apart modulo 4 KB, so that a store to one and a
     * load from another at the same [i][v] do not alias in the low 12 address bits */
    V(*DL)[VMAX] = (V(*)[VMAX])ws;
    V(*SG)[VMAX] = (V(*)[VMAX])(ws + CHUNKMAX * VMAX + WS_SKEW);
    V(*AA)[VMAX] = (V(*)[VMAX])(ws + 2 * (CHUNKMAX * VMAX + WS_SKEW));
    V(*S)[VMAX] = (V(*)[VMAX])(ws + 3 * (CHUNKMAX * VMAX + WS_SKEW));
    for (int v = 0; v < nvp; v++)
        gc[v] = tA[v] = tD[v] = tb[v] = _mm256_setzero_ps();
    const size_t bcb = (size_t)b * J->sb + (size_t)U->g * J->sg;
    float *pB = J->pB + ((size_t)(b * J->G + U->g) * J->nsub + U->j) * L;
    float *pC = J->pC + ((size_t)(b * J->G + U->g) * J->nsub + U->j) * L;
    for (int k = K - 1; k >= 0; k--) {
        const int t0 = k * chunk, nn = (L < t0 + chunk ? L : t0 + chunk) - t0;
        /* pass 1: x = dt + bias, e = exp(-|x|), delta = max(x, 0) + log1p(e), sigmoid(x) */
        for (int i = 0; i < nn; i++) {
            const size_t tk = (size_t)b * L + t0 + i;
            prefetch_row(J->u + tk * J->ld_u + c0, w, 0); /* for pass 2 */
            const float *dtr = J->dt + tk * J->ld_dt + c0;
            for (int v0 = 0; v0 < nvp; v0 += NV) {
                V x[NV], e[NV], l[NV];
                FOR_Q x[q] = ADD(LDV(dtr, v0 + q), U->bv[v0 + q]);
                FOR_Q e[q] = _mm256_or_ps(x[q], SIGN_BIT);
                exp_neg4(e, e);
                log1p01_4(l, e);
                FOR_Q {
                    DL[i][v0 + q] = ADD(relu(x[q]), l[q]);
                    SG[i][v0 + q] = sigmoid_e(x[q], e[q]);
                }
            }
        }
        /* pass 2: exp(delta A) and the states from the state entering the chunk */
        const float *str = J->st_in + ((size_t)b * K + k) * J->Dc + c0;
        for (int v = 0; v < nvp; v++)
            s[v] = k > 0 && v < U->nv ? LDV(str, v) : _mm256_setzero_ps();
        for (int i = 0; i < nn; i++) {
            const size_t tk = (size_t)b * L + t0 + i;
            const V Bt = SET1(J->Bm[bcb + (size_t)(t0 + i) * J->sl]);
            const float *ur = J->u + tk * J->ld_u + c0;
            prefetch_row(J->dout + tk * J->ld_dout + c0, w, 0); /* for pass 3 */
            if (J->hz) prefetch_row(J->z + tk * J->ld_z + c0, w, 0);
            prefetch_row(J->du + tk * J->ld_du + c0, w, 1);
            prefetch_row(J->ddt + tk * J->ld_ddt + c0, w, 1);
            for (int v0 = 0; v0 < nvp; v0 += NV) {
                V x[NV], a[NV];
                FOR_Q x[q] = MUL(DL[i][v0 + q], U->A2[v0 + q]);
                exp2_neg4(a, x);
                FOR_Q {
                    const int v = v0 + q;
                    s[v] = FMA(a[q], s[v], MUL(MUL(DL[i][v], LDV(ur, v)), Bt));
                    AA[i][v] = a[q];
                    S[i][v] = s[v];
                }
            }
        }
        /* pass 3, backwards: the adjoint and every gradient */
        for (int v = 0; v < nvp; v++) dAp[v] = dDp[v] = dbp[v] = _mm256_setzero_ps();
        for (int i = nn - 1; i >= 0; i--) {
            const size_t tk = (size_t)b * L + t0 + i, bc = bcb + (size_t)(t0 + i) * J->sl;
            const V Bt = SET1(J->Bm[bc]), Ct = SET1(J->Cm[bc]);
            const float *ur = J->u + tk * J->ld_u + c0, *dor = J->dout + tk * J->ld_dout + c0;
            float *dur = J->du + tk * J->ld_du + c0, *ddr_row = J->ddt + tk * J->ld_ddt + c0;
            const float *str0 = J->st_in + ((size_t)b * K + k) * J->Dc + c0;
            if (k > 0) /* for pass 1 of the next chunk (the first of its rows last) */
                prefetch_row(J->dt + (tk - (size_t)chunk) * J->ld_dt + c0, w, 0);
            V vb = _mm256_setzero_ps(), vc = _mm256_setzero_ps();
            for (int v = 0; v < nvp; v++) {
                const V uv = LDV(ur, v), dov = LDV(dor, v);
                V dy = dov;
                if (J->hz) { /* dz = dout y sig(z) (1 + z (1 - sig(z))) */
                    const V zv = LDV(J->z + tk * J->ld_z + c0, v), sz = sigmoid1(zv);
                    dy = MUL(dy, MUL(zv, sz));
                    const V y = FMA(Ct, S[i][v], MUL(U->Dv[v], uv));
                    const V f = FMA(zv, SUB(SET1(1.0f), sz), SET1(1.0f));
                    STV(J->dz + tk * J->ld_dz + c0, v, MUL(MUL(MUL(dov, sz), f), y));
                }
                const V sp = i > 0 ? S[i - 1][v]
                                   : (k > 0 && v < U->nv ? LDV(str0, v) : _mm256_setzero_ps());
                const V ds = FMA(dy, Ct, gc[v]), wv = MUL(ds, MUL(AA[i][v], sp));
                const V P = MUL(ds, Bt);
                const V ddr = MUL(FMA(uv, P, MUL(U->A[v], wv)), SG[i][v]);
                const V duv = FMA(U->Dv[v], dy, MUL(DL[i][v], P));
                STV(dur, v, duv);
                STV(ddr_row, v, ddr);
                dbp[v] = ADD(dbp[v], ddr);
                dDp[v] = FMA(dy, uv, dDp[v]);
                dAp[v] = FMA(DL[i][v], wv, dAp[v]);
                vb = FMA(ds, MUL(DL[i][v], uv), vb);
                vc = FMA(dy, S[i][v], vc);
                gc[v] = MUL(AA[i][v], ds);
            }
            pB[t0 + i] = hsum(vb);
            pC[t0 + i] = hsum(vc);
        }
        for (int v = 0; v < nvp; v++) {
            tA[v] = ADD(tA[v], dAp[v]);
            tD[v] = ADD(tD[v], dDp[v]);
            tb[v] = ADD(tb[v], dbp[v]);
        }
    }
    float *pa = J->pdA + (size_t)b * J->Dc + c0, *pd = J->pdD + (size_t)b * J->Dc + c0;
    float *pbias = J->pdb + (size_t)b * J->Dc + c0;
    for (int v = 0; v < U->nv; v++) {
        STV(pa, v, tA[v]);
        STV(pd, v, tD[v]);
        STV(pbias, v, tb[v]);
    }
}

static TGT void run_unit(const job *J, int id, V *ws) {
    unit U;
    unit_setup(J, id, &U);
    const int full = (U.cend - U.c0) == U.nvp * LANES;
    if (ws) {
        if (full) bwd_unit(J, &U, ws, 1);
        else bwd_unit(J, &U, ws, 0);
    } else {
        if (full) fwd_unit(J, &U, 1);
        else fwd_unit(J, &U, 0);
    }
}

typedef struct worker_arg {
    job *J;
    int bwd;
} worker_arg;

/* The backward's workspace of the calling thread: allocated on first use and kept (a fresh
 * 256 KB allocation per call is an mmap and 64 page faults). */
static V *thread_ws(void) {
    static _Thread_local V *ws;
    if (!ws) ws = aligned_alloc(sizeof(V), (WS_BYTES + sizeof(V) - 1) / sizeof(V) * sizeof(V));
    return ws;
}

static void work(worker_arg *w) {
    V *ws = w->bwd ? thread_ws() : NULL;
    if (w->bwd && !ws) return; /* the other threads do its share */
    for (int id; (id = atomic_fetch_add(&w->J->next, 1)) < w->J->nunits;) {
        run_unit(w->J, id, ws);
        atomic_fetch_add(&w->J->done, 1);
    }
    _mm_sfence(); /* streaming stores are weakly ordered */
}

/* A process-wide pool of helper threads, started on first use and kept: starting and joining a
 * thread per call cost ~60 us here, a condition-variable wake-up a fraction of it. One call
 * uses the pool at a time; a concurrent call (another context's thread) starts its own threads. */
static struct {
    pthread_mutex_t job, mu;
    pthread_cond_t go, done;
    int n, busy;
    unsigned gen; /* wraps */
    worker_arg *task;
} pool = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER,
          PTHREAD_COND_INITIALIZER, 0, 0, 0, NULL};

static void *pool_main(void *gen0) {
    pthread_mutex_lock(&pool.mu);
    unsigned seen = (unsigned)(uintptr_t)gen0; /* the generation before the job it was started for */
    for (;;) {
        while (pool.gen == seen) pthread_cond_wait(&pool.go, &pool.mu);
        seen = pool.gen;
        worker_arg *w = pool.task;
        pthread_mutex_unlock(&pool.mu);
        work(w);
        pthread_mutex_lock(&pool.mu);
        if (--pool.busy == 0) pthread_cond_signal(&pool.done);
    }
    return NULL;
}

static void *worker(void *p) {
    work(p);
    return NULL;
}

/* Runs w on the calling thread and `helpers` pool threads; 0 if the pool is busy or cannot grow
 * to that size (the caller then starts its own threads). */
static int pool_run(worker_arg *w, int helpers) {
    if (pthread_mutex_trylock(&pool.job) != 0) return 0;
    pthread_mutex_lock(&pool.mu);
    while (pool.n < helpers) {
        pthread_t t;
        if (pthread_create(&t, NULL, pool_main, (void *)(uintptr_t)pool.gen) != 0) break;
        pthread_detach(t);
        pool.n++;
    }
    const int ok = pool.n >= helpers;
    if (ok) {
        pool.task = w;
        pool.busy = pool.n;
        pool.gen++;
        pthread_cond_broadcast(&pool.go);
    }
    pthread_mutex_unlock(&pool.mu);
    if (ok) {
        work(w);
        pthread_mutex_lock(&pool.mu);
        while (pool.busy) pthread_cond_wait(&pool.done, &pool.mu);
        pthread_mutex_unlock(&pool.mu);
    }
    pthread_mutex_unlock(&pool.job);
    return ok;
}
#endif /* HOST_AVX2 */

int climp_scan_host_supported(climp_ctx *ctx) {
#if HOST_AVX2
    const climp_device_info *info = climp_ctx_info(ctx);
    if (!info || !info->is_cpu || !info->host_unified_memory) return 0;
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
    (void)ctx;
    return 0;
#endif
}

static int thread_count(climp_ctx *ctx) {
    const char *e = getenv("CLIMP_SCAN_THREADS");
    if (e && atoi(e) > 0) return atoi(e) > MAX_THREADS ? MAX_THREADS : atoi(e);
    const unsigned cu = climp_ctx_info(ctx)->compute_units;
    return cu < 1 ? 1 : cu > MAX_THREADS ? MAX_THREADS : (int)cu;
}

/* Runs every unit of J on up to nthreads threads (the calling one included); if a thread cannot
 * be started, or cannot allocate its workspace, the others do its share. CLIMP_ERR_HOST_OOM
 * when units were left undone. */
static climp_status run_parallel(job *J, int nthreads, int bwd) {
#if HOST_AVX2
    pthread_t th[MAX_THREADS];
    worker_arg w = {J, bwd};
    atomic_store(&J->next, 0);
    atomic_store(&J->done, 0);
    if (nthreads > J->nunits) nthreads = J->nunits;
    if (nthreads <= 1) {
        work(&w);
    } else if (!pool_run(&w, nthreads - 1)) {
        int started = 0;
        for (int i = 1; i < nthreads; i++)
            if (pthread_create(&th[started], NULL, worker, &w) == 0) started++;
        work(&w);
        for (int i = 0; i < started; i++) pthread_join(th[i], NULL);
    }
    if (atomic_load(&J->done) == J->nunits) return CLIMP_OK;
    climp_error_set("scan: host variant: out of memory for the backward's workspace");
#else
    (void)J, (void)nthreads, (void)bwd;
#endif
    return CLIMP_ERR_HOST_OOM;
}

static void job_shape(job *J, const climp_scan_shape *s, int hz) {
    memset(J, 0, sizeof *J);
    J->B = s->B, J->L = s->L, J->Dc = s->Dc, J->G = s->G, J->cpg = s->Dc / s->G;
    J->chunk = s->chunk, J->K = cdiv(s->L, s->chunk), J->hz = hz;
    J->sb = s->bc_stride_b, J->sl = s->bc_stride_l, J->sg = s->bc_stride_g;
    J->ld_u = s->ld_u, J->ld_dt = s->ld_dt, J->ld_z = s->ld_z, J->ld_out = s->ld_out;
}

static climp_status unsupported(void) {
    climp_error_set("scan: the host variant needs an x86-64 CPU with AVX2 and FMA and a CPU "
                    "device with host-unified memory");
    return CLIMP_ERR_UNSUPPORTED;
}

climp_status climp_scan_host_forward(climp_ctx *ctx, const climp_scan_shape *s, climp_tview u,
                                     climp_tview delta_raw, climp_tview A_log, climp_tview Bm,
                                     climp_tview Cm, climp_tview D, climp_tview delta_bias,
                                     climp_tview z, climp_tview out, climp_tview states) {
    if (!climp_scan_host_supported(ctx)) return unsupported();
    const int hz = z.buf != NULL && z.n > 0;
    const size_t bc = climp_scan_bc_extent(s);
    climp_hostmap m = {0};
    CLIMP_TRY(climp_hostmap_add(&m, u, climp_scan_tok_extent(s, s->ld_u), 0));
    CLIMP_TRY(climp_hostmap_add(&m, delta_raw, climp_scan_tok_extent(s, s->ld_dt), 0));
    CLIMP_TRY(climp_hostmap_add(&m, A_log, (size_t)s->Dc, 0));
    CLIMP_TRY(climp_hostmap_add(&m, Bm, bc, 0));
    CLIMP_TRY(climp_hostmap_add(&m, Cm, bc, 0));
    CLIMP_TRY(climp_hostmap_add(&m, D, (size_t)s->Dc, 0));
    CLIMP_TRY(climp_hostmap_add(&m, delta_bias, (size_t)s->Dc, 0));
    if (hz) CLIMP_TRY(climp_hostmap_add(&m, z, climp_scan_tok_extent(s, s->ld_z), 0));
    CLIMP_TRY(climp_hostmap_add(&m, out, climp_scan_tok_extent(s, s->ld_out), 1));
    CLIMP_TRY(climp_hostmap_add(&m, states, climp_scan_states_size(s), 1));
    climp_status st = climp_hostmap_map(ctx, &m, "scan host forward");
    if (st == CLIMP_OK) {
        const double t0 = climp_now_seconds();
        job J;
        job_shape(&J, s, hz);
        J.u = climp_hostmap_ptr(&m, u), J.dt = climp_hostmap_ptr(&m, delta_raw);
        J.A_log = climp_hostmap_ptr(&m, A_log), J.Bm = climp_hostmap_ptr(&m, Bm);
        J.Cm = climp_hostmap_ptr(&m, Cm), J.D = climp_hostmap_ptr(&m, D);
        J.bias = climp_hostmap_ptr(&m, delta_bias), J.z = hz ? climp_hostmap_ptr(&m, z) : NULL;
        J.out = climp_hostmap_ptr(&m, out), J.st = climp_hostmap_ptr(&m, states);
        const int nth = thread_count(ctx);
        split_units(&J, nth);
        st = run_parallel(&J, nth, 0);
        climp_profile_host(ctx, "scan_host_fwd", climp_now_seconds() - t0);
    }
    const climp_status su = climp_hostmap_unmap(ctx, &m);
    return st ? st : su;
}

/* The sums over units and batch elements, in a fixed order. */
static void reduce_bwd(const job *J, float *dA_log, float *dBm, float *dCm, float *dD,
                       float *dbias) {
    for (int b = 0; b < J->B; b++)
        for (int g = 0; g < J->G; g++)
            for (int t = 0; t < J->L; t++) {
                float sB = 0.0f, sC = 0.0f;
                for (int j = 0; j < J->nsub; j++) {
                    const size_t o = ((size_t)(b * J->G + g) * J->nsub + j) * J->L + t;
                    sB += J->pB[o];
                    sC += J->pC[o];
                }
                const size_t bc = (size_t)b * J->sb + (size_t)t * J->sl + (size_t)g * J->sg;
                dBm[bc] = sB;
                dCm[bc] = sC;
            }
    for (int c = 0; c < J->Dc; c++) {
        float sA = 0.0f, sD = 0.0f, sb = 0.0f;
        for (int b = 0; b < J->B; b++) {
            sA += J->pdA[(size_t)b * J->Dc + c];
            sD += J->pdD[(size_t)b * J->Dc + c];
            sb += J->pdb[(size_t)b * J->Dc + c];
        }
        dA_log[c] += sA * -expf(J->A_log[c]);
        dD[c] += sD;
        dbias[c] += sb;
    }
}

climp_status climp_scan_host_backward(climp_ctx *ctx, const climp_scan_shape *s, climp_tview u,
                                      climp_tview delta_raw, climp_tview A_log, climp_tview Bm,
                                      climp_tview Cm, climp_tview D, climp_tview delta_bias,
                                      climp_tview z, climp_tview states, climp_tview dout,
                                      climp_tview du, climp_tview ddelta_raw, climp_tview dA_log,
                                      climp_tview dBm, climp_tview dCm, climp_tview dD,
                                      climp_tview ddelta_bias, climp_tview dz) {
    if (!climp_scan_host_supported(ctx)) return unsupported();
    const int hz = z.buf != NULL && z.n > 0;
    job J;
    job_shape(&J, s, hz);
    J.ld_dout = s->ld_dout ? s->ld_dout : s->ld_out, J.ld_du = s->ld_du ? s->ld_du : s->ld_u;
    J.ld_ddt = s->ld_ddt ? s->ld_ddt : s->ld_dt, J.ld_dz = s->ld_dz ? s->ld_dz : s->ld_z;
    const int nth = thread_count(ctx);
    split_units(&J, nth);
    const size_t np = (size_t)J.nunits * J.L, nd = (size_t)J.B * J.Dc;
    float *part = malloc((2 * np + 3 * nd) * sizeof(float));
    if (!part) return CLIMP_ERR_HOST_OOM;
    J.pB = part, J.pC = part + np, J.pdA = part + 2 * np, J.pdD = J.pdA + nd, J.pdb = J.pdD + nd;
    const size_t bc = climp_scan_bc_extent(s);
    climp_hostmap m = {0};
    climp_status st = CLIMP_OK;
    const struct {
        climp_tview v;
        size_t n;
        int w;
    } views[] = {
        {u, climp_scan_tok_extent(s, s->ld_u), 0},
        {delta_raw, climp_scan_tok_extent(s, s->ld_dt), 0},
        {A_log, (size_t)s->Dc, 0},
        {Bm, bc, 0},
        {Cm, bc, 0},
        {D, (size_t)s->Dc, 0},
        {delta_bias, (size_t)s->Dc, 0},
        {hz ? z : (climp_tview){0}, hz ? climp_scan_tok_extent(s, s->ld_z) : 0, 0},
        {states, climp_scan_states_size(s), 0},
        {dout, climp_scan_tok_extent(s, J.ld_dout), 0},
        {du, climp_scan_tok_extent(s, J.ld_du), 1},
        {ddelta_raw, climp_scan_tok_extent(s, J.ld_ddt), 1},
        {dA_log, (size_t)s->Dc, 1},
        {dBm, bc, 1},
        {dCm, bc, 1},
        {dD, (size_t)s->Dc, 1},
        {ddelta_bias, (size_t)s->Dc, 1},
        {hz ? dz : (climp_tview){0}, hz ? climp_scan_tok_extent(s, J.ld_dz) : 0, 1},
    };
    for (size_t i = 0; i < sizeof views / sizeof views[0] && st == CLIMP_OK; i++)
        st = climp_hostmap_add(&m, views[i].v, views[i].n, views[i].w);
    if (st == CLIMP_OK) st = climp_hostmap_map(ctx, &m, "scan host backward");
    if (st == CLIMP_OK) {
        const double t0 = climp_now_seconds();
        J.u = climp_hostmap_ptr(&m, u), J.dt = climp_hostmap_ptr(&m, delta_raw);
        J.A_log = climp_hostmap_ptr(&m, A_log), J.Bm = climp_hostmap_ptr(&m, Bm);
        J.Cm = climp_hostmap_ptr(&m, Cm), J.D = climp_hostmap_ptr(&m, D);
        J.bias = climp_hostmap_ptr(&m, delta_bias), J.z = hz ? climp_hostmap_ptr(&m, z) : NULL;
        J.st_in = climp_hostmap_ptr(&m, states), J.dout = climp_hostmap_ptr(&m, dout);
        J.du = climp_hostmap_ptr(&m, du), J.ddt = climp_hostmap_ptr(&m, ddelta_raw);
        J.dz = hz ? climp_hostmap_ptr(&m, dz) : NULL;
        st = run_parallel(&J, nth, 1);
        if (st == CLIMP_OK)
            reduce_bwd(&J, climp_hostmap_ptr(&m, dA_log), climp_hostmap_ptr(&m, dBm),
                   climp_hostmap_ptr(&m, dCm), climp_hostmap_ptr(&m, dD),
                   climp_hostmap_ptr(&m, ddelta_bias));
        climp_profile_host(ctx, "scan_host_bwd", climp_now_seconds() - t0);
    }
    const climp_status su = climp_hostmap_unmap(ctx, &m);
    free(part);
    return st ? st : su;
}
