/* embed_loss.cl: embedding gather / scatter-add, L2 normalisation of rows and the symmetric
 * InfoNCE loss (C reference: model/embed_loss_ref.c; launchers: model/embed_loss.c; math:
 * architecture.md §5.2).
 *
 * Every buffer is two arguments `__global float *x, const ulong x_off`; x[x_off + i] is element i.
 * Token ids are int32 stored in a float buffer and read through a `__global const int *` cast.
 *
 *   embed_fwd          2-D (any, >= n): out[i, d] = table[ids[i], d], vw columns d at a time,
 *                      dim 0 striding the D / vw vectors of row i (CPUs: 1 item per row); a bad
 *                      id (outside [0, V)) writes 0 and, if has_bad, sets bad[0] = 1 (atomic_or).
 *   embed_bwd          1-D (>= D / vw): for i = 0..n-1 in order, dtable[ids[i], d] += dout[i, d]
 *                      (bad ids skipped). One work-item owns vw columns: no races, no atomics.
 *                      vw (1, 4 or 8) divides D; the host uses 8 or 4 on CPUs, 1 elsewhere.
 *   l2norm_fwd/bwd     one work-group of WG per row of (n, D); fixed-tree row sums.
 * InfoNCE over S (N, N) = img txt^T (computed by GEMM), s = exp(logit_scale[0]), M = s S:
 *   infonce_lse_rows   1-D (>= N): lse_row[i] = logsumexp_j M[i, j]
 *   infonce_lse_cols   1-D (>= N): lse_col[j] = logsumexp_i M[i, j]
 *   infonce_loss       one work-item: loss[0] = sum_i (lse_row[i] + lse_col[i] - 2 M[i, i]) / 2N
 *   infonce_bwd_rows   1-D (>= N): G[i, j] = s * ls/(2N) (P[i, j] + Q^T[i, j] - 2 delta_ij),
 *                      P = exp(M - lse_row), Q^T = exp(M - lse_col); part[i] = sum_j G S
 *   infonce_bwd_scale  one work-item: dlogit_scale[0] += sum_i part[i], i in order
 */
/* Vector values passed to helper functions make clang warn that AVX-512 would change their ABI
 * (-Wpsabi): meaningless for kernels compiled whole, and PoCL prints the count on every cold
 * compile, so it is silenced here. */
#ifdef __clang__
#pragma clang diagnostic ignored "-Wpsabi"
#endif

#ifndef WG
#define WG 64 /* lanes per row of l2norm_fwd/bwd: a power of two, 1..1024 */
#endif
#define L2_EPS 1e-12f

float wg_sum(float v, __local float *buf) {
    const int l = (int)get_local_id(0);
    buf[l] = v;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int h = WG / 2; h > 0; h >>= 1) {
        if (l < h)
            buf[l] += buf[l + h];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    float s = buf[0];
    barrier(CLK_LOCAL_MEM_FENCE);
    return s;
}

/* ------------------------------------------------------------------ embedding */
/* The embedding kernels move vw = 1, 4 or 8 columns at a time (a run-time argument: one program
 * serves every width); each branches once to its loop for that width. */
#define EMBED_ROW(W, VLOAD, VSTORE, VTYPE)                                                         \
    for (int dv = (int)get_global_id(0); dv < D / W; dv += (int)get_global_size(0))                \
    VSTORE(ok ? VLOAD(dv, t) : (VTYPE)0.0f, dv, o)
#define LOAD1(i, p) ((p)[i])
#define STORE1(v, i, p) ((p)[i] = (v))

__kernel void embed_fwd(__global float *out, const ulong out_off, __global const float *ids_f,
                        const ulong ids_off, __global const float *table, const ulong table_off,
                        __global float *bad_f, const ulong bad_off, const int has_bad, const int n,
                        const int V, const int D, const int vw) {
    const int i = (int)get_global_id(1);
    if (i >= n)
        return;
    const int id = ((__global const int *)ids_f)[ids_off + i];
    const int ok = id >= 0 && id < V;
    __global float *o = out + out_off + (size_t)i * D;
    __global const float *t = table + table_off + (size_t)(ok ? id : 0) * D;
    if (vw == 8)
        EMBED_ROW(8, vload8, vstore8, float8);
    else if (vw == 4)
        EMBED_ROW(4, vload4, vstore4, float4);
    else
        EMBED_ROW(1, LOAD1, STORE1, float);
    if (!ok && has_bad && get_global_id(0) == 0)
        atomic_or((volatile __global int *)bad_f + bad_off, 1);
}

#define EMBED_ADD(VLOAD, VSTORE)                                                                   \
    for (int i = 0; i < n; i++) {                                                                  \
        const int id = ids[i];                                                                     \
        if (id < 0 || id >= V)                                                                     \
            continue;                                                                              \
        __global float *t = dtable + dtable_off + (size_t)id * D;                                  \
        VSTORE(VLOAD(dv, t) + VLOAD(dv, dout + dout_off + (size_t)i * D), dv, t);                  \
    }

__kernel void embed_bwd(__global float *dtable, const ulong dtable_off, __global const float *dout,
                        const ulong dout_off, __global const float *ids_f, const ulong ids_off,
                        const int n, const int V, const int D, const int vw) {
    const int dv = (int)get_global_id(0);
    if (dv >= D / vw)
        return;
    __global const int *ids = (__global const int *)ids_f + ids_off;
    if (vw == 8)
        EMBED_ADD(vload8, vstore8)
    else if (vw == 4)
        EMBED_ADD(vload4, vstore4)
    else
        EMBED_ADD(LOAD1, STORE1)
}

/* ------------------------------------------------------------------ L2 normalise */
__kernel __attribute__((reqd_work_group_size(WG, 1, 1))) void
l2norm_fwd(__global float *out, const ulong out_off, __global float *norm, const ulong norm_off,
           __global const float *inp, const ulong inp_off, const int n, const int D) {
    __local float buf[WG];
    const int l = (int)get_local_id(0), valid = (int)get_group_id(0) < n;
    const int r = valid ? (int)get_group_id(0) : 0; /* no early return before barriers */
    __global const float *x = inp + inp_off + (size_t)r * D;
    __global float *y = out + out_off + (size_t)r * D;
    float s = 0.0f;
    for (int d = l; d < D; d += WG)
        s += x[d] * x[d];
    const float nr = sqrt(wg_sum(s, buf));
    const float inv = 1.0f / fmax(nr, L2_EPS);
    for (int d = l; valid && d < D; d += WG)
        y[d] = x[d] * inv;
    if (valid && l == 0)
        norm[norm_off + r] = nr;
}

__kernel __attribute__((reqd_work_group_size(WG, 1, 1))) void
l2norm_bwd(__global float *dinp, const ulong dinp_off, __global const float *dout,
           const ulong dout_off, __global const float *out, const ulong out_off,
           __global const float *norm, const ulong norm_off, const int n, const int D) {
    __local float buf[WG];
    const int l = (int)get_local_id(0), valid = (int)get_group_id(0) < n;
    const int r = valid ? (int)get_group_id(0) : 0; /* no early return before barriers */
    __global const float *y = out + out_off + (size_t)r * D;
    __global const float *dy = dout + dout_off + (size_t)r * D;
    __global float *dx = dinp + dinp_off + (size_t)r * D;
    float s = 0.0f;
    for (int d = l; d < D; d += WG)
        s += y[d] * dy[d];
    const float dot = wg_sum(s, buf), nr = norm[norm_off + r];
    if (nr > L2_EPS) {
        const float inv = 1.0f / nr;
        for (int d = l; valid && d < D; d += WG)
            dx[d] = (dy[d] - y[d] * dot) * inv;
    } else {
        for (int d = l; valid && d < D; d += WG)
            dx[d] = dy[d] / L2_EPS;
    }
}

/* ------------------------------------------------------------------ symmetric InfoNCE */
__kernel void infonce_lse_rows(__global float *lse, const ulong lse_off, __global const float *S,
                               const ulong S_off, __global const float *ls, const ulong ls_off,
                               const int N) {
    const int i = (int)get_global_id(0);
    if (i >= N)
        return;
    const float s = exp(ls[ls_off]);
    __global const float *row = S + S_off + (size_t)i * N;
    float m = -INFINITY;
    for (int j = 0; j < N; j++)
        m = fmax(m, s * row[j]);
    float acc = 0.0f;
    for (int j = 0; j < N; j++)
        acc += exp(s * row[j] - m);
    lse[lse_off + i] = m + log(acc);
}

__kernel void infonce_lse_cols(__global float *lse, const ulong lse_off, __global const float *S,
                               const ulong S_off, __global const float *ls, const ulong ls_off,
                               const int N) {
    const int j = (int)get_global_id(0);
    if (j >= N)
        return;
    const float s = exp(ls[ls_off]);
    __global const float *col = S + S_off + j;
    float m = -INFINITY;
    for (int i = 0; i < N; i++)
        m = fmax(m, s * col[(size_t)i * N]);
    float acc = 0.0f;
    for (int i = 0; i < N; i++)
        acc += exp(s * col[(size_t)i * N] - m);
    lse[lse_off + j] = m + log(acc);
}

__kernel void infonce_loss(__global float *loss, const ulong loss_off, __global const float *S,
                           const ulong S_off, __global const float *lse_row,
                           const ulong lse_row_off, __global const float *lse_col,
                           const ulong lse_col_off, __global const float *ls, const ulong ls_off,
                           const int N) {
    if (get_global_id(0) != 0)
        return;
    const float s = exp(ls[ls_off]);
    float acc = 0.0f;
    for (int i = 0; i < N; i++) {
        const float mii = s * S[S_off + (size_t)i * N + i];
        acc += (lse_row[lse_row_off + i] - mii) + (lse_col[lse_col_off + i] - mii);
    }
    loss[loss_off] = acc / (2.0f * (float)N);
}

__kernel void infonce_bwd_rows(__global float *G, const ulong G_off, __global float *part,
                               const ulong part_off, __global const float *S, const ulong S_off,
                               __global const float *lse_row, const ulong lse_row_off,
                               __global const float *lse_col, const ulong lse_col_off,
                               __global const float *ls, const ulong ls_off, const float loss_scale,
                               const int N) {
    const int i = (int)get_global_id(0);
    if (i >= N)
        return;
    const float s = exp(ls[ls_off]), k = loss_scale / (2.0f * (float)N);
    const float lr = lse_row[lse_row_off + i];
    __global const float *Srow = S + S_off + (size_t)i * N;
    __global float *Grow = G + G_off + (size_t)i * N;
    float acc = 0.0f;
    for (int j = 0; j < N; j++) {
        const float sij = Srow[j], m = s * sij;
        const float g =
            k * (exp(m - lr) + exp(m - lse_col[lse_col_off + j]) - (i == j ? 2.0f : 0.0f));
        acc += g * m;
        Grow[j] = s * g;
    }
    part[part_off + i] = acc;
}

__kernel void infonce_bwd_scale(__global float *dls, const ulong dls_off,
                                __global const float *part, const ulong part_off, const int N) {
    if (get_global_id(0) != 0)
        return;
    float acc = 0.0f;
    for (int i = 0; i < N; i++)
        acc += part[part_off + i];
    dls[dls_off] += acc;
}
