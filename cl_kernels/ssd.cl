/* ssd.cl: Mamba-2 SSM as the chunked SSD algorithm, forward and backward. Host: model/ssd.c;
 * C reference: climp_ssd_forward_ref / climp_ssd_backward_ref in model/ssd_ref.c; math in
 * model/ssd.h. Per (b, head h, chunk k of QC tokens, Qk = tokens in chunk k), local index i, j:
 *   cum_i = sum_{t <= i} dt_t a,  ec_i = exp(cum_i),  ee_i = exp(cum_end - cum_i)
 *   y_i   = sum_{j <= i} exp(cum_i - cum_j) dt_j (C_i.B_j) x_j + ec_i S_k^T C_i + D x_i
 *   S_{k+1} = ec_end S_k + sum_j ee_j dt_j B_j x_j^T      (S_k: state entering chunk k, N x P)
 *
 * Layouts (floats; a view is `ptr, ulong off`): x, dy, y, dx (B, L, H*PH) with token strides;
 * dt_raw, ddt (B, L, H) with token strides; Bm, Cm, dBm, dCm at b*sb + t*sl + g*sg + n.
 * S, G (B, K, H, NS, PH): state entering chunk k / gradient w.r.t. the state leaving chunk k.
 * Gt, St (B, K, H, PH, NS): G and S transposed. dtv, cum, ec, ee (B, H, L). CB (B, K, G, QC, QC):
 * C_i.B_j. M (B, H, L, QC): row (k*QC + j) holds exp(cum_i - cum_j) (dy_i.x_j) for j <= i < Qk.
 * tk (5, B, H, L): per-token colW, V, Z, ddt_direct, x.dy of the backward. part (3, B, K, H).
 *
 * Work-item mapping (local size 1 except ssd_pass*: each item is a long loop; vectors are
 * explicit, so CPU drivers need no work-group vectorisation). Every kernel is launched with its
 * exact global size; the per-item early returns test the chunk's length once, outside the loops.
 *   ssd_cumsum (h, k, b); ssd_cb (i, k*G + g, b); ssd_state (n, (k-k0)*H + h, b);
 *   ssd_pass_fwd / ssd_pass_bwd (e = n*PH + p, h, b), sequential over chunks;
 *   ssd_out, ssd_bdx (token i or j, k*H + h, b); ssd_bdbc (token t, k*G + g, b);
 *   ssd_bdt (h, k, b); ssd_reduce (h).
 * Rows over PH are PV vectors of VW floats plus PR scalars, over NS NV vectors plus NR scalars,
 * all compile-time: the inner loops carry no bounds tests. No atomics; fixed summation order.
 */
/* Vector values passed to helper functions make clang warn that AVX-512 would change their ABI
 * (-Wpsabi): meaningless for kernels compiled whole, and PoCL prints the count on every cold
 * compile, so it is silenced here. */
#ifdef __clang__
#pragma clang diagnostic ignored "-Wpsabi"
#endif

#ifndef PH
#define PH 64 /* head dim P */
#endif
#ifndef NS
#define NS 128 /* state size N */
#endif
#ifndef QC
#define QC 64 /* chunk length Q */
#endif
#define VW 8
typedef float8 vec;
#define PV (PH / VW)
#define PR (PH % VW)
#define PV1 (PV > 0 ? PV : 1)
#define PR1 (PR > 0 ? PR : 1)
#define NV (NS / VW)
#define NR (NS % VW)
#define NV1 (NV > 0 ? NV : 1)
#define NR1 (NR > 0 ? NR : 1)
#define QV ((QC + VW - 1) / VW)

#define ROW(a) vec a[PV1]; float a##_t[PR1]
#define ROW_ZERO(a)                                                          \
    do {                                                                     \
        for (int v_ = 0; v_ < PV; v_++) a[v_] = 0.0f;                        \
        for (int r_ = 0; r_ < PR; r_++) a##_t[r_] = 0.0f;                    \
    } while (0)
/* a += s * row at global p (PH floats) */
#define ROW_AXPY(a, s, p)                                                    \
    do {                                                                     \
        const float s_ = (s);                                                \
        global const float *p_ = (p);                                        \
        for (int v_ = 0; v_ < PV; v_++) a[v_] += s_ * vload8(v_, p_);        \
        for (int r_ = 0; r_ < PR; r_++) a##_t[r_] += s_ * p_[PV * VW + r_];  \
    } while (0)
/* Same over NS: nrow a (NV vectors + NR scalars) */
#define NROW(a) vec a[NV1]; float a##_t[NR1]
#define NROW_ZERO(a)                                                         \
    do {                                                                     \
        for (int v_ = 0; v_ < NV; v_++) a[v_] = 0.0f;                        \
        for (int r_ = 0; r_ < NR; r_++) a##_t[r_] = 0.0f;                    \
    } while (0)
#define NROW_AXPY(a, s, p)                                                   \
    do {                                                                     \
        const float s_ = (s);                                                \
        global const float *p_ = (p);                                        \
        for (int v_ = 0; v_ < NV; v_++) a[v_] += s_ * vload8(v_, p_);        \
        for (int r_ = 0; r_ < NR; r_++) a##_t[r_] += s_ * p_[NV * VW + r_];  \
    } while (0)

static float hsum(vec v) { /* fixed tree */
    const float4 a = v.lo + v.hi;
    const float2 b = a.lo + a.hi;
    return b.x + b.y;
}
/* dot of two global rows of PH (or NS) floats */
static float dot_p(global const float *a, global const float *b) {
    vec acc = 0.0f;
    float t = 0.0f;
    for (int v = 0; v < PV; v++) acc += vload8(v, a) * vload8(v, b);
    for (int r = 0; r < PR; r++) t += a[PV * VW + r] * b[PV * VW + r];
    return hsum(acc) + t;
}
static float dot_n(global const float *a, global const float *b) {
    vec acc = 0.0f;
    float t = 0.0f;
    for (int v = 0; v < NV; v++) acc += vload8(v, a) * vload8(v, b);
    for (int r = 0; r < NR; r++) t += a[NV * VW + r] * b[NV * VW + r];
    return hsum(acc) + t;
}
/* dot of a private row with a global row */
#define ROW_DOT(out, a, p)                                                   \
    do {                                                                     \
        global const float *q_ = (p);                                        \
        vec d_ = 0.0f;                                                       \
        float t_ = 0.0f;                                                     \
        for (int v_ = 0; v_ < PV; v_++) d_ += a[v_] * vload8(v_, q_);        \
        for (int r_ = 0; r_ < PR; r_++) t_ += a##_t[r_] * q_[PV * VW + r_];  \
        out = hsum(d_) + t_;                                                 \
    } while (0)

/* exp on vectors: x = k ln2 + r, |r| <= ln2/2, degree-7 Taylor of exp(r) (rel. error < 2e-7 on
 * that interval), times 2^k built in the exponent bits. x < -87.3 -> 0; x clamped at 88. */
static vec exp8(vec x) {
    const vec xc = clamp(x, -87.3f, 88.0f);
    const vec k = rint(xc * 1.44269504088896341f);
    const vec r = (xc - k * 0.693145751953125f) - k * 1.428606765330187045e-06f;
    vec p = 1.0f / 5040.0f;
    p = p * r + 1.0f / 720.0f;
    p = p * r + 1.0f / 120.0f;
    p = p * r + 1.0f / 24.0f;
    p = p * r + 1.0f / 6.0f;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    const vec y = p * as_float8((convert_int8(k) + 127) << 23);
    return x < -87.3f ? 0.0f : y;
}
/* e[i] = exp(arg[i]) for i < QC, in vectors */
static void exp_row(float *e, const float *arg) {
    for (int v = 0; v < QV; v++) {
        float t[VW];
        for (int l = 0; l < VW; l++) t[l] = arg[min(v * VW + l, QC - 1)];
        const vec r = exp8(vload8(0, t));
        vstore8(r, 0, t);
        for (int l = 0; l < VW; l++)
            if (v * VW + l < QC) e[v * VW + l] = t[l];
    }
}

#define BC_ARGS                                                                              \
    global const float *Bm, const ulong B_off, global const float *Cm, const ulong C_off,    \
        const ulong sb, const ulong sl, const ulong sg
#define TOKV(name) global float *name, const ulong name##_off

/* dt = softplus(dt_raw + bias), cum, ec, ee per token of chunk k of head h. */
kernel void ssd_cumsum(const int L, const int H, global const float *dtr, const ulong dtr_off,
                       const int ld_dt, global const float *A_log, const ulong A_off,
                       global const float *bias, const ulong bias_off, TOKV(dtv), TOKV(cum),
                       TOKV(ec), TOKV(ee)) {
    const int h = get_global_id(0), k = get_global_id(1), b = get_global_id(2);
    const float a = -exp(A_log[A_off + h]), bi = bias[bias_off + h];
    const int t0 = k * QC, t1 = min(L, t0 + QC);
    const ulong o = ((ulong)b * H + h) * L;
    float c = 0.0f;
    for (int t = t0; t < t1; t++) {
        const float v = dtr[dtr_off + ((ulong)b * L + t) * ld_dt + h] + bi;
        const float d = v <= 20.0f ? log1p(exp(v)) : v;
        c += d * a;
        dtv[dtv_off + o + t] = d;
        cum[cum_off + o + t] = c;
        ec[ec_off + o + t] = exp(c);
    }
    for (int t = t0; t < t1; t++) ee[ee_off + o + t] = exp(c - cum[cum_off + o + t]);
}

/* CB[i][j] = C_i . B_j for j <= i of chunk k, group g. */
kernel void ssd_cb(const int L, const int G, BC_ARGS, global float *CB, const ulong CB_off) {
    const int i = get_global_id(0), kg = get_global_id(1), b = get_global_id(2);
    const int k = kg / G, g = kg % G, t0 = k * QC;
    if (t0 + i >= L) return;
    const ulong K = (L + QC - 1) / QC, o = CB_off + (((ulong)b * K + k) * G + g) * QC * QC + i * QC;
    global const float *c = Cm + C_off + b * sb + (ulong)(t0 + i) * sl + g * sg;
    for (int j = 0; j <= i; j++)
        CB[o + j] = dot_n(c, Bm + B_off + b * sb + (ulong)(t0 + j) * sl + g * sg);
}

/* out[k][n][:] = sum_t w_t V_t[n] X_t[:] over chunk k = k0 + dim1 / H, head h = dim1 % H.
 * mode 0 (forward end state): w = ee dt, V = Bm, X = x. mode 1 (backward): w = ec, V = Cm, X = dy. */
kernel void ssd_state(const int L, const int H, const int G, const int k0, const int mode,
                      global const float *X, const ulong X_off, const int ld_X,
                      global const float *V, const ulong V_off, const ulong sb, const ulong sl,
                      const ulong sg, global const float *w1, const ulong w1_off,
                      global const float *w2, const ulong w2_off, TOKV(out)) {
    const int n = get_global_id(0), kh = get_global_id(1), b = get_global_id(2);
    const int k = k0 + kh / H, h = kh % H, g = h / (H / G), t0 = k * QC, t1 = min(L, t0 + QC);
    const ulong K = (L + QC - 1) / QC, tb = ((ulong)b * H + h) * L;
    ROW(acc);
    ROW_ZERO(acc);
    global const float *vp = V + V_off + b * sb + g * sg + n;
    global const float *xp = X + X_off + (ulong)b * L * ld_X + (ulong)h * PH;
    for (int t = t0; t < t1; t++) {
        const float w = mode == 0 ? w1[w1_off + tb + t] * w2[w2_off + tb + t] : w1[w1_off + tb + t];
        ROW_AXPY(acc, w * vp[(ulong)t * sl], xp + (ulong)t * ld_X);
    }
    global float *op = out + out_off + ((((ulong)b * K + k) * H + h) * NS + n) * PH;
    for (int v = 0; v < PV; v++) vstore8(acc[v], v, op);
    for (int r = 0; r < PR; r++) op[PV * VW + r] = acc_t[r];
}

/* State passing. TILE (PH and NS multiples of 8): one work-item per 8 x 8 tile (n0.., p0..) of
 * the N x P state, float8 rows, local size 1; else one work-item per element e = n*PH + p. */
#define TILE (PH % 8 == 0 && NS % 8 == 0)
#if TILE
#define PASS_ITEM                                                                            \
    const int it = get_global_id(0), n0 = it / (PH / 8) * 8, p0 = it % (PH / 8) * 8;          \
    const int e0 = n0 * PH + p0
#define RW 8 /* rows per item */
#define LDR(buf, o, r) vload8(0, (buf) + (o) + (r) * PH)
#define STR(v, buf, o, r) vstore8((v), 0, (buf) + (o) + (r) * PH)
typedef float8 rowt;
#else
#define PASS_ITEM const int e0 = get_global_id(0)
#define RW 1
#define LDR(buf, o, r) (buf)[(o)]
#define STR(v, buf, o, r) ((buf)[(o)] = (v))
typedef float rowt;
#endif

/* Forward, in place: S[k] := state entering chunk k (S[k] held the local end state of chunk k
 * for k < K-1). */
kernel void ssd_pass_fwd(const int L, const int H, global float *S, const ulong S_off,
                         global const float *ec, const ulong ec_off) {
    PASS_ITEM;
    const int h = get_global_id(1), b = get_global_id(2), K = (L + QC - 1) / QC;
    const ulong step = (ulong)H * NS * PH, base = S_off + ((ulong)b * K * H + h) * NS * PH + e0;
    const ulong tb = ec_off + ((ulong)b * H + h) * L;
    rowt run[RW];
    for (int r = 0; r < RW; r++) run[r] = 0.0f;
    for (int k = 0; k < K - 1; k++) {
        const float d = ec[tb + (k + 1) * QC - 1];
        for (int r = 0; r < RW; r++) {
            const rowt loc = LDR(S, base + k * step, r);
            STR(run[r], S, base + k * step, r);
            run[r] = d * run[r] + loc;
        }
    }
    for (int r = 0; r < RW; r++) STR(run[r], S, base + (K - 1) * step, r);
}

#if TILE
/* 8 rows of 8 -> their transpose, written as 8 rows of NS-strided layout at o */
static void st_tr(global float *d, ulong o, const rowt *v) {
    float t[8][8];
    for (int r = 0; r < 8; r++) vstore8(v[r], 0, t[r]);
    for (int c = 0; c < 8; c++) {
        float u[8];
        for (int r = 0; r < 8; r++) u[r] = t[r][c];
        vstore8(vload8(0, u), 0, d + o + (ulong)c * NS);
    }
}
#define TOFF ((ulong)p0 * NS + n0)
#else
static void st_tr(global float *d, ulong o, const rowt *v) { d[o] = v[0]; }
#define TOFF ((ulong)(e0 % PH) * NS + e0 / PH)
#endif

/* Backward: G[k] held the local dS of chunk k (k >= 1); G[k] := gradient w.r.t. the state
 * leaving chunk k (0 for the last); Gt, St get G and S transposed. */
kernel void ssd_pass_bwd(const int L, const int H, global float *Gm, const ulong G_off,
                         global float *Gt, const ulong Gt_off, global const float *S,
                         const ulong S_off, global float *St, const ulong St_off,
                         global const float *ec, const ulong ec_off) {
    PASS_ITEM;
    const int h = get_global_id(1), b = get_global_id(2), K = (L + QC - 1) / QC;
    const ulong step = (ulong)H * NS * PH, bh = ((ulong)b * K * H + h) * NS * PH;
    const ulong base = bh + e0, tbase = bh + TOFF;
    const ulong tb = ec_off + ((ulong)b * H + h) * L;
    rowt run[RW], sv[RW], g[RW];
    for (int r = 0; r < RW; r++) run[r] = 0.0f;
    for (int k = K - 1; k >= 0; k--) { /* run: dS entering chunk k+1 = G[k] */
        const float d = ec[tb + min(L, (k + 1) * QC) - 1];
        for (int r = 0; r < RW; r++) {
            const rowt loc = k > 0 ? LDR(Gm, G_off + base + k * step, r) : 0.0f;
            g[r] = run[r];
            STR(g[r], Gm, G_off + base + k * step, r);
            sv[r] = LDR(S, S_off + base + k * step, r);
            run[r] = d * run[r] + loc;
        }
        st_tr(Gt, Gt_off + tbase + k * step, g);
        st_tr(St, St_off + tbase + k * step, sv);
    }
}

#define STATE_ARGS                                                                           \
    TOKV(S), global const float *dtv, const ulong dtv_off, global const float *cum,          \
        const ulong cum_off, global const float *ec, const ulong ec_off,                     \
        global const float *ee, const ulong ee_off, global const float *CB, const ulong CB_off

/* y_i for token i of chunk k, head h. */
kernel void ssd_out(const int L, const int H, const int G, global const float *x,
                    const ulong x_off, const int ld_x, BC_ARGS, global const float *D,
                    const ulong D_off, STATE_ARGS, global float *y, const ulong y_off,
                    const int ld_y) {
    const int i = get_global_id(0), kh = get_global_id(1), b = get_global_id(2);
    const int k = kh / H, h = kh % H, g = h / (H / G), t0 = k * QC;
    if (t0 + i >= L) return;
    const ulong K = (L + QC - 1) / QC, tb = ((ulong)b * H + h) * L + t0;
    global const float *cb = CB + CB_off + (((ulong)b * K + k) * G + g) * QC * QC + i * QC;
    float arg[QC], coef[QC];
    const float ci = cum[cum_off + tb + i];
    for (int j = 0; j < QC; j++) arg[j] = min(ci - cum[cum_off + tb + min(j, i)], 0.0f);
    exp_row(coef, arg);
    global const float *xp = x + x_off + ((ulong)b * L + t0) * ld_x + (ulong)h * PH;
    ROW(acc);
    ROW_ZERO(acc);
    for (int j = 0; j <= i; j++)
        ROW_AXPY(acc, coef[j] * dtv[dtv_off + tb + j] * cb[j], xp + (ulong)j * ld_x);
    if (k > 0) {
        global const float *sp = S + S_off + ((ulong)b * K + k) * H * NS * PH + (ulong)h * NS * PH;
        global const float *cp = Cm + C_off + b * sb + (ulong)(t0 + i) * sl + g * sg;
        const float e = ec[ec_off + tb + i];
        for (int n = 0; n < NS; n++) ROW_AXPY(acc, e * cp[n], sp + (ulong)n * PH);
    }
    ROW_AXPY(acc, D[D_off + h], xp + (ulong)i * ld_x);
    global float *yp = y + y_off + ((ulong)b * L + t0 + i) * ld_y + (ulong)h * PH;
    for (int v = 0; v < PV; v++) vstore8(acc[v], v, yp);
    for (int r = 0; r < PR; r++) yp[PV * VW + r] = acc_t[r];
}

/* ---------------------------------------------------------------- backward */
#define TK(q) tk[tk_off + (ulong)(q) * nt + tb + j]

/* Token j of chunk k, head h: dx_j, the M row of j, and colW, V, Z, ddt_direct, x.dy of j. */
kernel void ssd_bdx(const int L, const int H, const int G, global const float *x,
                    const ulong x_off, const int ld_x, global const float *dy, const ulong dy_off,
                    const int ld_dy, BC_ARGS, global const float *D, const ulong D_off,
                    STATE_ARGS, global const float *Gm, const ulong G_off, TOKV(M), TOKV(tk),
                    global float *dx, const ulong dx_off, const int ld_dx) {
    const int j = get_global_id(0), kh = get_global_id(1), b = get_global_id(2);
    const int k = kh / H, h = kh % H, g = h / (H / G), t0 = k * QC, qk = min(QC, L - t0);
    if (j >= qk) return;
    const int K = (L + QC - 1) / QC;
    const ulong tb = ((ulong)b * H + h) * L + t0, nt = (ulong)get_global_size(2) * H * L;
    global const float *cb = CB + CB_off + (((ulong)b * K + k) * G + g) * QC * QC + j;
    float arg[QC], e[QC];
    const float cj = cum[cum_off + tb + j], dtj = dtv[dtv_off + tb + j];
    for (int i = 0; i < QC; i++) arg[i] = min(cum[cum_off + tb + min(max(i, j), qk - 1)] - cj, 0.0f);
    exp_row(e, arg);
    global const float *xj = x + x_off + ((ulong)b * L + t0 + j) * ld_x + (ulong)h * PH;
    global const float *dyp = dy + dy_off + ((ulong)b * L + t0) * ld_dy + (ulong)h * PH;
    global float *mrow = M + M_off + (tb + j) * QC;
    ROW(acc);
    ROW_ZERO(acc);
    float colw = 0.0f, ddtd = 0.0f, vj = 0.0f, zj = 0.0f;
    for (int i = 0; i < j; i++) mrow[i] = 0.0f;
    for (int i = j; i < qk; i++) {
        global const float *dyi = dyp + (ulong)i * ld_dy;
        const float m = e[i] * dot_p(dyi, xj), c = cb[(ulong)i * QC];
        mrow[i] = m;
        ROW_AXPY(acc, e[i] * c, dyi);
        colw += dtj * c * m;
        ddtd += c * m;
    }
    for (int i = qk; i < QC; i++) mrow[i] = 0.0f;
    const ulong sbh = (((ulong)b * K + k) * H + h) * NS * PH;
    if (k < K - 1) { /* through the chunk's end state: gb = G^T B_j */
        global const float *bp = Bm + B_off + b * sb + (ulong)(t0 + j) * sl + g * sg;
        global const float *gp = Gm + G_off + sbh;
        ROW(gb);
        ROW_ZERO(gb);
        for (int n = 0; n < NS; n++) ROW_AXPY(gb, bp[n], gp + (ulong)n * PH);
        float u;
        ROW_DOT(u, gb, xj);
        const float eej = ee[ee_off + tb + j];
        vj = eej * dtj * u;
        ddtd += eej * u;
        for (int v = 0; v < PV; v++) acc[v] += eej * gb[v];
        for (int r = 0; r < PR; r++) acc_t[r] += eej * gb_t[r];
    }
    global const float *dyj = dyp + (ulong)j * ld_dy;
    if (k > 0) { /* through the chunk's entering state: Z_j = ec_j (S^T C_j) . dy_j */
        global const float *cp = Cm + C_off + b * sb + (ulong)(t0 + j) * sl + g * sg;
        global const float *sp = S + S_off + sbh;
        ROW(cs);
        ROW_ZERO(cs);
        for (int n = 0; n < NS; n++) ROW_AXPY(cs, cp[n], sp + (ulong)n * PH);
        ROW_DOT(zj, cs, dyj);
        zj *= ec[ec_off + tb + j];
    }
    const float Dh = D[D_off + h];
    global float *dxp = dx + dx_off + ((ulong)b * L + t0 + j) * ld_dx + (ulong)h * PH;
    for (int v = 0; v < PV; v++) vstore8(Dh * vload8(v, dyj) + dtj * acc[v], v, dxp);
    for (int r = 0; r < PR; r++) dxp[PV * VW + r] = Dh * dyj[PV * VW + r] + dtj * acc_t[r];
    TK(0) = colw;
    TK(1) = vj;
    TK(2) = zj;
    TK(3) = ddtd;
    TK(4) = dot_p(xj, dyj);
}

/* dBm_t (mode 0) or dCm_t (mode 1) of token t of chunk k, group g, summed over its heads. */
kernel void ssd_bdbc(const int L, const int H, const int G, const int mode,
                     global const float *x, const ulong x_off, const int ld_x,
                     global const float *dy, const ulong dy_off, const int ld_dy, BC_ARGS,
                     STATE_ARGS, global const float *Gt, const ulong Gt_off, global const float *St,
                     const ulong St_off, global const float *M, const ulong M_off,
                     global float *dB, const ulong dB_off, global float *dC, const ulong dC_off) {
    const int t = get_global_id(0), kg = get_global_id(1), b = get_global_id(2);
    const int k = kg / G, g = kg % G, t0 = k * QC, qk = min(QC, L - t0), hpg = H / G;
    if (t >= qk) return;
    const int K = (L + QC - 1) / QC;
    float cf[QC];
    for (int i = 0; i < QC; i++) cf[i] = 0.0f;
    NROW(acc);
    NROW_ZERO(acc);
    for (int h = g * hpg; h < (g + 1) * hpg; h++) {
        const ulong tb = ((ulong)b * H + h) * L + t0;
        const ulong sbh = (((ulong)b * K + k) * H + h) * NS * PH;
        if (mode == 0) {
            const float dtt = dtv[dtv_off + tb + t];
            global const float *mr = M + M_off + (tb + t) * QC;
            for (int i = t; i < qk; i++) cf[i] += dtt * mr[i];
            if (k < K - 1) {
                global const float *xp = x + x_off + ((ulong)b * L + t0 + t) * ld_x + (ulong)h * PH;
                global const float *gp = Gt + Gt_off + sbh;
                const float s = dtt * ee[ee_off + tb + t];
                for (int p = 0; p < PH; p++) NROW_AXPY(acc, s * xp[p], gp + (ulong)p * NS);
            }
        } else {
            for (int j = 0; j <= t; j++) cf[j] += dtv[dtv_off + tb + j] * M[M_off + (tb + j) * QC + t];
            if (k > 0) {
                global const float *yp = dy + dy_off + ((ulong)b * L + t0 + t) * ld_dy + (ulong)h * PH;
                global const float *sp = St + St_off + sbh;
                const float s = ec[ec_off + tb + t];
                for (int p = 0; p < PH; p++) NROW_AXPY(acc, s * yp[p], sp + (ulong)p * NS);
            }
        }
    }
    global const float *src = (mode == 0 ? Cm + C_off : Bm + B_off) + b * sb + g * sg;
    const int i0 = mode == 0 ? t : 0, i1 = mode == 0 ? qk : t + 1;
    for (int i = i0; i < i1; i++) NROW_AXPY(acc, cf[i], src + (ulong)(t0 + i) * sl);
    global float *op = (mode == 0 ? dB + dB_off : dC + dC_off) + b * sb + (ulong)(t0 + t) * sl + g * sg;
    for (int v = 0; v < NV; v++) vstore8(acc[v], v, op);
    for (int r = 0; r < NR; r++) op[NV * VW + r] = acc_t[r];
}

/* Chunk k of head h: d cum, its reverse cumsum d(dt a), ddt_raw, and the (b, k) partials of
 * dA_log (before the factor a), dD and ddt_bias. */
kernel void ssd_bdt(const int L, const int H, const int G, global const float *dtr,
                    const ulong dtr_off, const int ld_dt, global const float *A_log,
                    const ulong A_off, global const float *bias, const ulong bias_off,
                    STATE_ARGS, global const float *Gm, const ulong G_off,
                    global const float *M, const ulong M_off, global const float *tk,
                    const ulong tk_off, global float *ddt, const ulong ddt_off, const int ld_ddt,
                    global float *part, const ulong part_off) {
    const int h = get_global_id(0), k = get_global_id(1), b = get_global_id(2);
    const int g = h / (H / G), t0 = k * QC, qk = min(QC, L - t0), K = (L + QC - 1) / QC;
    const int B = get_global_size(2);
    const ulong tb = ((ulong)b * H + h) * L + t0, nt = (ulong)B * H * L;
    global const float *cb = CB + CB_off + (((ulong)b * K + k) * G + g) * QC * QC;
    float dc[QC], vs = 0.0f;
    for (int i = 0; i < qk; i++) {
        float rw = 0.0f;
        for (int j = 0; j <= i; j++)
            rw += dtv[dtv_off + tb + j] * cb[i * QC + j] * M[M_off + (tb + j) * QC + i];
        const int j = i;
        dc[i] = rw - TK(0) + TK(2) - TK(1);
        vs += TK(1);
    }
    float gs = 0.0f;
    if (k > 0 && k < K - 1) {
        const ulong sbh = (((ulong)b * K + k) * H + h) * NS * PH;
        for (int n = 0; n < NS; n++) gs += dot_p(Gm + G_off + sbh + (ulong)n * PH, S + S_off + sbh + (ulong)n * PH);
        gs *= ec[ec_off + tb + qk - 1];
    }
    dc[qk - 1] += vs + gs;
    const float a = -exp(A_log[A_off + h]), bi = bias[bias_off + h];
    float dl = 0.0f, da = 0.0f, dd = 0.0f, db = 0.0f;
    for (int j = qk - 1; j >= 0; j--) {
        dl += dc[j];
        const float d = TK(3) + a * dl, v = dtr[dtr_off + ((ulong)b * L + t0 + j) * ld_dt + h] + bi;
        const float r = v <= 20.0f ? d / (1.0f + exp(-v)) : d;
        ddt[ddt_off + ((ulong)b * L + t0 + j) * ld_ddt + h] = r;
        da += dtv[dtv_off + tb + j] * dl;
        dd += TK(4);
        db += r;
    }
    const ulong po = part_off + ((ulong)b * K + k) * H + h, np = (ulong)B * K * H;
    part[po] = da;
    part[po + np] = dd;
    part[po + 2 * np] = db;
}

/* dA_log[h] += a sum da, dD[h] += sum, ddt_bias[h] += sum over (b, k) in order. */
kernel void ssd_reduce(const int BK, const int H, global const float *A_log, const ulong A_off,
                       global const float *part, const ulong part_off, global float *dA,
                       const ulong dA_off, global float *dD, const ulong dD_off,
                       global float *dbias, const ulong dbias_off) {
    const int h = get_global_id(0);
    const ulong np = (ulong)BK * H;
    float s0 = 0.0f, s1 = 0.0f, s2 = 0.0f;
    for (int i = 0; i < BK; i++) {
        const ulong o = part_off + (ulong)i * H + h;
        s0 += part[o];
        s1 += part[o + np];
        s2 += part[o + 2 * np];
    }
    dA[dA_off + h] += s0 * -exp(A_log[A_off + h]);
    dD[dD_off + h] += s1;
    dbias[dbias_off + h] += s2;
}
