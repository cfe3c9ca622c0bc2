/* embed_loss_fpga.cl: FPGA-style variants (OpenCL C 1.2) of the embedding, L2 normalisation and
 * symmetric InfoNCE kernels of cl_kernels/embed_loss.cl: single work-item kernels (launched as one
 * work-item, reqd_work_group_size(1, 1, 1)) whose loops an FPGA compiler (Intel aoc, AMD v++)
 * pipelines. Selected by model/embed_loss.c when climp_ctx_variant() is "fpga"; math and layouts
 * as model/embed_loss.h, C reference model/embed_loss_ref.c (the tests compare against it on the
 * PoCL device). The InfoNCE products S = img txt^T, dimg and dtxt stay climp_gemm calls (the
 * GEMM has its own FPGA variant).
 *
 * Every buffer is a view: `__global float *p, const ulong p_off`, indexed p[p_off + i]. Token ids
 * are int32 stored in a float buffer and read through a `__global const int *` cast.
 * Loops walk rows in blocks of LANES columns (a build-time define; unrolled lanes with a
 * predicate for the ragged end). Row sums add each block's fixed-tree sum to a shift register of
 * FPGA_II partials, column sums keep FPGA_II partials per lane; all summed in fixed order at the
 * end (deterministic). One work-item needs no atomics: the bad-id flag is a plain store.
 *
 *   embed_fwd_swi      out[i, :] = table[ids[i], :] (0 for a bad id; bad[0] |= 1 if has_bad)
 *   embed_bwd_swi      for i = 0..n-1 in order: dtable[ids[i], :] += dout[i, :] (bad ids skipped)
 *   l2norm_fwd_swi     out = x / max(||x||, 1e-12), norm = ||x|| per row (in place allowed)
 *   l2norm_bwd_swi     dinp = (dout - out (out . dout)) / ||x||  (dout / 1e-12 for ||x|| <= 1e-12)
 *   infonce_fwd_swi    lse_row, lse_col (N), loss[0] from S (N, N) and logit_scale
 *   infonce_bwd_swi    G = s ls/(2N) (P + Q^T - 2I) (N, N); dlogit_scale[0] += sum_ij G/s * M
 */

#ifndef LANES
#define LANES 8 /* columns per pipelined iteration (unrolled lanes): a power of two, 1..64 */
#endif
#ifndef FPGA_II
#define FPGA_II 8 /* partial sums per pipelined reduction (>= the float-add latency in cycles) */
#endif
#define SWI __kernel __attribute__((reqd_work_group_size(1, 1, 1))) void
#ifdef INTELFPGA_CL
#define IVDEP _Pragma("ivdep")
#else
#define IVDEP
#endif
#define L2_EPS 1e-12f

#define SR_DECL(s) float s[FPGA_II] = {0.0f}
#define SR_ADD(s, v)                                                                               \
    do {                                                                                           \
        const float n_ = s[FPGA_II - 1] + (v);                                                     \
        _Pragma("unroll") for (int j_ = FPGA_II - 1; j_ > 0; j_--) s[j_] = s[j_ - 1];              \
        s[0] = n_;                                                                                 \
    } while (0)
static float sr_sum(const float *s) {
    float t = 0.0f;
#pragma unroll
    for (int j = 0; j < FPGA_II; j++)
        t += s[j];
    return t;
}
static float tree_sum(float *v) {
#pragma unroll
    for (int h = LANES / 2; h > 0; h >>= 1) {
#pragma unroll
        for (int l = 0; l < h; l++)
            v[l] += v[l + h];
    }
    return v[0];
}
static float tree_max(float *v) {
#pragma unroll
    for (int h = LANES / 2; h > 0; h >>= 1) {
#pragma unroll
        for (int l = 0; l < h; l++)
            v[l] = fmax(v[l], v[l + h]);
    }
    return v[0];
}
/* res = sum over c < n of TERM (an expression of c). */
#define ROW_SUM(res, n, TERM)                                                                      \
    do {                                                                                           \
        SR_DECL(rs_);                                                                              \
        for (int c0 = 0; c0 < (n); c0 += LANES) {                                                  \
            float v_[LANES];                                                                       \
            _Pragma("unroll") for (int l_ = 0; l_ < LANES; l_++) {                                 \
                const int c = c0 + l_;                                                             \
                v_[l_] = c < (n) ? (TERM) : 0.0f;                                                  \
            }                                                                                      \
            SR_ADD(rs_, tree_sum(v_));                                                             \
        }                                                                                          \
        res = sr_sum(rs_);                                                                         \
    } while (0)
/* for every column c < n: STMT, LANES columns per iteration */
#define ROW_FOR(n, STMT)                                                                           \
    IVDEP for (int c0 = 0; c0 < (n); c0 += LANES) {                                                \
        _Pragma("unroll") for (int l_ = 0; l_ < LANES; l_++) {                                     \
            const int c = c0 + l_;                                                                 \
            if (c < (n)) {                                                                         \
                STMT;                                                                              \
            }                                                                                      \
        }                                                                                          \
    }

/* ------------------------------------------------------------------ embedding */
SWI embed_fwd_swi(__global float *restrict out, const ulong out_off,
                  __global const float *restrict ids_f, const ulong ids_off,
                  __global const float *restrict table, const ulong table_off, __global float *bad_f,
                  const ulong bad_off, const int has_bad, const int n, const int V, const int D) {
    __global const int *ids = (__global const int *)ids_f + ids_off;
    int bad = 0;
    for (int i = 0; i < n; i++) {
        const int id = ids[i];
        const int ok = id >= 0 && id < V;
        bad |= !ok;
        __global float *o = out + out_off + (ulong)i * D;
        __global const float *t = table + table_off + (ulong)(ok ? id : 0) * D;
        ROW_FOR(D, o[c] = ok ? t[c] : 0.0f);
    }
    if (bad && has_bad)
        ((__global int *)bad_f)[bad_off] |= 1;
}

/* Tokens in order: a repeated id adds in token order, like the reference. */
SWI embed_bwd_swi(__global float *restrict dtable, const ulong dtable_off,
                  __global const float *restrict dout, const ulong dout_off,
                  __global const float *restrict ids_f, const ulong ids_off, const int n,
                  const int V, const int D) {
    __global const int *ids = (__global const int *)ids_f + ids_off;
    for (int i = 0; i < n; i++) {
        const int id = ids[i];
        if (id < 0 || id >= V)
            continue;
        __global float *t = dtable + dtable_off + (ulong)id * D;
        __global const float *g = dout + dout_off + (ulong)i * D;
        ROW_FOR(D, t[c] += g[c]);
    }
}

/* ------------------------------------------------------------------ L2 normalise */
SWI l2norm_fwd_swi(__global float *out, const ulong out_off, __global float *restrict norm,
                   const ulong norm_off, __global const float *inp, const ulong inp_off,
                   const int n, const int D) {
    for (int r = 0; r < n; r++) {
        __global const float *x = inp + inp_off + (ulong)r * D;
        __global float *y = out + out_off + (ulong)r * D;
        float s;
        ROW_SUM(s, D, x[c] * x[c]);
        const float nr = sqrt(s), inv = 1.0f / fmax(nr, L2_EPS);
        ROW_FOR(D, y[c] = x[c] * inv);
        norm[norm_off + r] = nr;
    }
}

SWI l2norm_bwd_swi(__global float *dinp, const ulong dinp_off, __global const float *dout,
                   const ulong dout_off, __global const float *restrict out, const ulong out_off,
                   __global const float *restrict norm, const ulong norm_off, const int n,
                   const int D) {
    for (int r = 0; r < n; r++) {
        __global const float *y = out + out_off + (ulong)r * D;
        __global const float *dy = dout + dout_off + (ulong)r * D;
        __global float *dx = dinp + dinp_off + (ulong)r * D;
        float dot;
        ROW_SUM(dot, D, y[c] * dy[c]);
        const float nr = norm[norm_off + r];
        const int big = nr > L2_EPS;
        const float inv = big ? 1.0f / nr : 0.0f;
        ROW_FOR(D, dx[c] = big ? (dy[c] - y[c] * dot) * inv : dy[c] / L2_EPS);
    }
}

/* ------------------------------------------------------------------ symmetric InfoNCE */
/* s = exp(logit_scale), M = s S. lse_row[i] = logsumexp_j M[i, j] (row blocks);
 * lse_col[j] = logsumexp_i M[i, j] (column blocks, rows pipelined, LANES columns per pass);
 * loss[0] = sum_i (lse_row[i] - M[i, i]) + (lse_col[i] - M[i, i]), over 2N. */
SWI infonce_fwd_swi(__global float *restrict loss, const ulong loss_off,
                    __global float *restrict lse_row, const ulong lse_row_off,
                    __global float *restrict lse_col, const ulong lse_col_off,
                    __global const float *restrict S, const ulong S_off,
                    __global const float *restrict ls, const ulong ls_off, const int N) {
    const float s = exp(ls[ls_off]);
    for (int i = 0; i < N; i++) {
        __global const float *row = S + S_off + (ulong)i * N;
        float m = -INFINITY;
        for (int j0 = 0; j0 < N; j0 += LANES) {
            float v[LANES];
#pragma unroll
            for (int l = 0; l < LANES; l++)
                v[l] = j0 + l < N ? s * row[j0 + l] : -INFINITY;
            m = fmax(m, tree_max(v));
        }
        float acc;
        ROW_SUM(acc, N, exp(s * row[c] - m));
        lse_row[lse_row_off + i] = m + log(acc);
    }
    for (int j0 = 0; j0 < N; j0 += LANES) {
        float m[LANES];
#pragma unroll
        for (int l = 0; l < LANES; l++)
            m[l] = -INFINITY;
        for (int i = 0; i < N; i++) {
            __global const float *row = S + S_off + (ulong)i * N + j0;
#pragma unroll
            for (int l = 0; l < LANES; l++)
                if (j0 + l < N)
                    m[l] = fmax(m[l], s * row[l]);
        }
        float acc[FPGA_II][LANES];
#pragma unroll
        for (int k = 0; k < FPGA_II; k++)
#pragma unroll
            for (int l = 0; l < LANES; l++)
                acc[k][l] = 0.0f;
        for (int i = 0; i < N; i++) {
            __global const float *row = S + S_off + (ulong)i * N + j0;
            float n_[LANES];
#pragma unroll
            for (int l = 0; l < LANES; l++)
                n_[l] = acc[FPGA_II - 1][l] + (j0 + l < N ? exp(s * row[l] - m[l]) : 0.0f);
#pragma unroll
            for (int k = FPGA_II - 1; k > 0; k--)
#pragma unroll
                for (int l = 0; l < LANES; l++)
                    acc[k][l] = acc[k - 1][l];
#pragma unroll
            for (int l = 0; l < LANES; l++)
                acc[0][l] = n_[l];
        }
#pragma unroll
        for (int l = 0; l < LANES; l++) {
            float t = 0.0f;
#pragma unroll
            for (int k = 0; k < FPGA_II; k++)
                t += acc[k][l];
            if (j0 + l < N)
                lse_col[lse_col_off + j0 + l] = m[l] + log(t);
        }
    }
    SR_DECL(tot);
    for (int i = 0; i < N; i++) {
        const float mii = s * S[S_off + (ulong)i * N + i];
        SR_ADD(tot, (lse_row[lse_row_off + i] - mii) + (lse_col[lse_col_off + i] - mii));
    }
    loss[loss_off] = sr_sum(tot) / (2.0f * (float)N);
}

/* G[i, j] = s k (exp(M - lse_row[i]) + exp(M - lse_col[j]) - 2 delta_ij), k = ls/(2N);
 * dlogit_scale[0] += sum_i sum_j (G[i, j] / s) M[i, j], rows in order. */
SWI infonce_bwd_swi(__global float *restrict G, const ulong G_off, __global float *restrict dls,
                    const ulong dls_off, __global const float *restrict S, const ulong S_off,
                    __global const float *restrict lse_row, const ulong lse_row_off,
                    __global const float *restrict lse_col, const ulong lse_col_off,
                    __global const float *restrict ls, const ulong ls_off, const float loss_scale,
                    const int N) {
    const float s = exp(ls[ls_off]), k = loss_scale / (2.0f * (float)N);
    __global const float *lc = lse_col + lse_col_off;
    SR_DECL(tot);
    for (int i = 0; i < N; i++) {
        const float lr = lse_row[lse_row_off + i];
        __global const float *Srow = S + S_off + (ulong)i * N;
        __global float *Grow = G + G_off + (ulong)i * N;
        SR_DECL(racc);
        for (int j0 = 0; j0 < N; j0 += LANES) {
            float v[LANES];
#pragma unroll
            for (int l = 0; l < LANES; l++) {
                const int j = j0 + l;
                v[l] = 0.0f;
                if (j < N) {
                    const float m = s * Srow[j];
                    const float g = k * (exp(m - lr) + exp(m - lc[j]) - (i == j ? 2.0f : 0.0f));
                    v[l] = g * m;
                    Grow[j] = s * g;
                }
            }
            SR_ADD(racc, tree_sum(v));
        }
        SR_ADD(tot, sr_sum(racc));
    }
    dls[dls_off] += sr_sum(tot);
}
