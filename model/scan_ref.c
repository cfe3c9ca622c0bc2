/* Plain-C reference of the selective scan, forward and backward (see model/scan.h for the math
 * and layouts; kernels in cl_kernels/scan.cl, launchers in model/scan.c). Computes in double, one
 * (b, c) row at a time over the whole sequence (no chunking, O(L*N) memory). The float entry
 * points convert to double and back, touching only the elements they define.
 * Also the shape checks and view extents shared with the launchers. */
#include "model/scan.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- shapes */

size_t climp_scan_tok_extent(const climp_scan_shape *s, int ld) {
    return ((size_t)s->B * (size_t)s->L - 1) * (size_t)ld + (size_t)s->Dc;
}

size_t climp_scan_bc_extent(const climp_scan_shape *s) {
    return (size_t)(s->B - 1) * s->bc_stride_b + (size_t)(s->L - 1) * s->bc_stride_l +
           (size_t)(s->G - 1) * s->bc_stride_g + (size_t)s->N;
}

/* B/C elements (b, l, g, n) must map to distinct floats (dBm/dCm are written): sorted by stride,
 * each stride must step over the whole span of the smaller dimensions. */
static int bc_layout_ok(const climp_scan_shape *s) {
    size_t stride[3] = {s->bc_stride_b, s->bc_stride_l, s->bc_stride_g};
    size_t size[3] = {(size_t)s->B, (size_t)s->L, (size_t)s->G};
    for (int i = 0; i < 3; i++)
        for (int j = i + 1; j < 3; j++)
            if (stride[j] < stride[i]) {
                size_t t = stride[i];
                stride[i] = stride[j];
                stride[j] = t;
                t = size[i];
                size[i] = size[j];
                size[j] = t;
            }
    size_t span = (size_t)s->N;
    for (int i = 0; i < 3; i++) {
        if (size[i] == 1)
            continue;
        if (stride[i] < span)
            return 0;
        if (stride[i] > ((size_t)1 << 40) / size[i])
            return 0;
        span += stride[i] * (size[i] - 1);
    }
    return 1;
}

climp_status climp_scan_check_shape(const climp_scan_shape *s) {
    if (!s)
        return CLIMP_ERR_INVALID_ARG;
    if (s->B < 1 || s->L < 1 || s->Dc < 1 || s->N < 1 || s->N > 256 || s->G < 1 ||
        s->Dc % s->G != 0) {
        climp_error_set("scan: bad sizes B=%d L=%d Dc=%d N=%d G=%d (need >= 1, N <= 256, G | Dc)",
                        s->B, s->L, s->Dc, s->N, s->G);
        return CLIMP_ERR_SHAPE;
    }
    /* u, dt, out always; z and the backward strides only when given (0: default) */
    const int lds[8] = {s->ld_u,    s->ld_dt, s->ld_out, s->ld_z,
                        s->ld_dout, s->ld_du, s->ld_ddt, s->ld_dz};
    for (int i = 0; i < 8; i++) {
        if ((i < 3 || lds[i] != 0) && lds[i] < s->Dc)
            goto bad_ld;
        if ((double)s->B * s->L * lds[i] > 1e13)
            goto bad_ld; /* offsets stay exact in 64 bits */
    }
    if (!bc_layout_ok(s)) {
        climp_error_set("scan: B/C strides (b %zu, l %zu, g %zu) overlap for N=%d", s->bc_stride_b,
                        s->bc_stride_l, s->bc_stride_g, s->N);
        return CLIMP_ERR_SHAPE;
    }
    return CLIMP_OK;
bad_ld:
    climp_error_set("scan: token strides must be >= Dc=%d (u %d dt %d out %d z %d dout %d du %d "
                    "ddt %d dz %d)",
                    s->Dc, s->ld_u, s->ld_dt, s->ld_out, s->ld_z, s->ld_dout, s->ld_du, s->ld_ddt,
                    s->ld_dz);
    return CLIMP_ERR_SHAPE;
}

/* ---------------------------------------------------------------- double core */

static double softplus_d(double v) {
    return v <= 20.0 ? log1p(exp(v)) : v;
}
static double sigmoid_d(double v) {
    return 1.0 / (1.0 + exp(-v));
}
static size_t tok(const climp_scan_shape *s, int b, int l) {
    return (size_t)b * s->L + l;
}
static size_t bcix(const climp_scan_shape *s, int b, int l, int g) {
    return (size_t)b * s->bc_stride_b + (size_t)l * s->bc_stride_l + (size_t)g * s->bc_stride_g;
}
static int ld_or(int ld, int dflt) {
    return ld ? ld : dflt;
}

void climp_scan_forward_ref_f64(const climp_scan_shape *s, const double *u, const double *delta_raw,
                                const double *A_log, const double *Bm, const double *Cm,
                                const double *D, const double *delta_bias, const double *z,
                                double *out) {
    const int N = s->N, cpg = s->Dc / s->G;
    double *st = malloc(sizeof(double) * 2 * N), *A = st + N;
    if (!st)
        abort();
    for (int b = 0; b < s->B; b++)
        for (int c = 0; c < s->Dc; c++) {
            const int g = c / cpg;
            for (int n = 0; n < N; n++) {
                st[n] = 0;
                A[n] = -exp(A_log[(size_t)c * N + n]);
            }
            for (int l = 0; l < s->L; l++) {
                const size_t t = tok(s, b, l), bc = bcix(s, b, l, g);
                const double dl = softplus_d(delta_raw[t * s->ld_dt + c] + delta_bias[c]);
                const double uu = u[t * s->ld_u + c];
                double y = 0;
                for (int n = 0; n < N; n++) {
                    st[n] = exp(dl * A[n]) * st[n] + dl * Bm[bc + n] * uu;
                    y += Cm[bc + n] * st[n];
                }
                y += D[c] * uu;
                if (z) {
                    const double zz = z[t * s->ld_z + c];
                    y *= zz * sigmoid_d(zz);
                }
                out[t * s->ld_out + c] = y;
            }
        }
    free(st);
}

/* Backward of the forward above (architecture.md 1.5), per (b, c):
 *   dy = dout * silu(z);  dz = dout * y * sig(z) (1 + z (1 - sig(z)))
 *   ds_t = exp(delta_{t+1} A) ds_{t+1} + dy_t Cm_t          (reverse scan, ds_L = 0)
 *   dCm_t += dy_t s_t;  dBm_t += ds_t delta_t u_t;  du_t = D dy_t + sum_n ds_t delta_t Bm_t
 *   ddelta_t = sum_n ds_t (Bm_t u_t + A exp(delta_t A) s_{t-1});  dA += ds_t delta_t exp(..)
 * s_{t-1} ddelta_raw = ddelta * sig(v) (v <= 20);  dA_log += dA * A;  dD += dy u;  dbias +=
 * ddelta_raw */
void climp_scan_backward_ref_f64(const climp_scan_shape *s, const double *u,
                                 const double *delta_raw, const double *A_log, const double *Bm,
                                 const double *Cm, const double *D, const double *delta_bias,
                                 const double *z, const double *dout, double *du,
                                 double *ddelta_raw, double *dA_log, double *dBm, double *dCm,
                                 double *dD, double *ddelta_bias, double *dz) {
    const int N = s->N, L = s->L, cpg = s->Dc / s->G;
    const int ld_dout = ld_or(s->ld_dout, s->ld_out), ld_du = ld_or(s->ld_du, s->ld_u);
    const int ld_ddt = ld_or(s->ld_ddt, s->ld_dt), ld_dz = ld_or(s->ld_dz, s->ld_z);
    double *S = malloc(sizeof(double) * ((size_t)L * N + 4 * (size_t)N + 3 * (size_t)L));
    if (!S)
        abort();
    double *A = S + (size_t)L * N, *ds = A + N, *dA = ds + N, *dl = dA + N, *ys = dl + L;
    double *dys = ys + L;
    for (int b = 0; b < s->B; b++)
        for (int l = 0; l < L; l++)
            for (int g = 0; g < s->G; g++)
                for (int n = 0; n < N; n++)
                    dBm[bcix(s, b, l, g) + n] = dCm[bcix(s, b, l, g) + n] = 0;
    for (int b = 0; b < s->B; b++)
        for (int c = 0; c < s->Dc; c++) {
            const int g = c / cpg;
            for (int n = 0; n < N; n++) {
                A[n] = -exp(A_log[(size_t)c * N + n]);
                ds[n] = dA[n] = 0;
            }
            /* forward recompute: states, delta, pre-gate y */
            for (int l = 0; l < L; l++) {
                const size_t t = tok(s, b, l), bc = bcix(s, b, l, g);
                const double uu = u[t * s->ld_u + c];
                dl[l] = softplus_d(delta_raw[t * s->ld_dt + c] + delta_bias[c]);
                double y = D[c] * uu;
                for (int n = 0; n < N; n++) {
                    const double prev = l ? S[(size_t)(l - 1) * N + n] : 0.0;
                    S[(size_t)l * N + n] = exp(dl[l] * A[n]) * prev + dl[l] * Bm[bc + n] * uu;
                    y += Cm[bc + n] * S[(size_t)l * N + n];
                }
                ys[l] = y;
                double dy = dout[t * ld_dout + c];
                if (z) {
                    const double zz = z[t * s->ld_z + c], sg = sigmoid_d(zz);
                    dz[t * ld_dz + c] = dy * y * sg * (1 + zz * (1 - sg));
                    dy *= zz * sg;
                }
                dys[l] = dy;
                dD[c] += dy * uu;
            }
            /* reverse scan */
            for (int l = L - 1; l >= 0; l--) {
                const size_t t = tok(s, b, l), bc = bcix(s, b, l, g);
                const double uu = u[t * s->ld_u + c], dy = dys[l];
                double duu = D[c] * dy, ddl = 0;
                for (int n = 0; n < N; n++) {
                    const double a = exp(dl[l] * A[n]);
                    const double prev = l ? S[(size_t)(l - 1) * N + n] : 0.0;
                    const double dsn = ds[n] + dy * Cm[bc + n];
                    dCm[bc + n] += dy * S[(size_t)l * N + n];
                    dBm[bc + n] += dsn * dl[l] * uu;
                    duu += dsn * dl[l] * Bm[bc + n];
                    ddl += dsn * (Bm[bc + n] * uu + A[n] * a * prev);
                    dA[n] += dsn * dl[l] * a * prev;
                    ds[n] = a * dsn;
                }
                const double v = delta_raw[t * s->ld_dt + c] + delta_bias[c];
                const double ddr = v <= 20.0 ? ddl * sigmoid_d(v) : ddl;
                du[t * ld_du + c] = duu;
                ddelta_raw[t * ld_ddt + c] = ddr;
                ddelta_bias[c] += ddr;
            }
            for (int n = 0; n < N; n++)
                dA_log[(size_t)c * N + n] += dA[n] * A[n];
        }
    free(S);
}

/* ---------------------------------------------------------------- float wrappers */

static double *dup_d(const float *x, size_t n) {
    double *d = malloc(sizeof(double) * (n ? n : 1));
    if (!d)
        abort();
    for (size_t i = 0; i < n; i++)
        d[i] = x[i];
    return d;
}
static double *tok_d(const climp_scan_shape *s, const float *x, int ld) {
    return x ? dup_d(x, climp_scan_tok_extent(s, ld)) : NULL;
}
/* Copy back only the (b, l, c) elements of a token tensor. */
static void tok_back(const climp_scan_shape *s, float *dst, const double *src, int ld) {
    if (!dst)
        return;
    for (size_t t = 0; t < (size_t)s->B * s->L; t++)
        for (int c = 0; c < s->Dc; c++)
            dst[t * ld + c] = (float)src[t * ld + c];
}
static void bc_back(const climp_scan_shape *s, float *dst, const double *src) {
    for (int b = 0; b < s->B; b++)
        for (int l = 0; l < s->L; l++)
            for (int g = 0; g < s->G; g++)
                for (int n = 0; n < s->N; n++)
                    dst[bcix(s, b, l, g) + n] = (float)src[bcix(s, b, l, g) + n];
}
static void vec_back(float *dst, const double *src, size_t n) {
    for (size_t i = 0; i < n; i++)
        dst[i] = (float)src[i];
}

void climp_scan_forward_ref(const climp_scan_shape *s, const float *u, const float *delta_raw,
                            const float *A_log, const float *Bm, const float *Cm, const float *D,
                            const float *delta_bias, const float *z, float *out) {
    const size_t nbc = climp_scan_bc_extent(s), dn = (size_t)s->Dc * s->N;
    double *du = tok_d(s, u, s->ld_u), *ddt = tok_d(s, delta_raw, s->ld_dt);
    double *dz = tok_d(s, z, s->ld_z), *dout = tok_d(s, out, s->ld_out);
    double *dA = dup_d(A_log, dn), *dB = dup_d(Bm, nbc), *dC = dup_d(Cm, nbc);
    double *dD = dup_d(D, (size_t)s->Dc), *dbias = dup_d(delta_bias, (size_t)s->Dc);
    climp_scan_forward_ref_f64(s, du, ddt, dA, dB, dC, dD, dbias, dz, dout);
    tok_back(s, out, dout, s->ld_out);
    free(du);
    free(ddt);
    free(dz);
    free(dout);
    free(dA);
    free(dB);
    free(dC);
    free(dD);
    free(dbias);
}

void climp_scan_backward_ref(const climp_scan_shape *s, const float *u, const float *delta_raw,
                             const float *A_log, const float *Bm, const float *Cm, const float *D,
                             const float *delta_bias, const float *z, const float *dout, float *du,
                             float *ddelta_raw, float *dA_log, float *dBm, float *dCm, float *dD,
                             float *ddelta_bias, float *dz) {
    const size_t nbc = climp_scan_bc_extent(s), dn = (size_t)s->Dc * s->N, E = (size_t)s->Dc;
    const int ld_dout = ld_or(s->ld_dout, s->ld_out), ld_du = ld_or(s->ld_du, s->ld_u);
    const int ld_ddt = ld_or(s->ld_ddt, s->ld_dt), ld_dz = ld_or(s->ld_dz, s->ld_z);
    const double *zz = NULL;
    double *xu = tok_d(s, u, s->ld_u), *xdt = tok_d(s, delta_raw, s->ld_dt);
    double *xz = z ? tok_d(s, z, s->ld_z) : NULL, *xdout = tok_d(s, dout, ld_dout);
    double *xA = dup_d(A_log, dn), *xB = dup_d(Bm, nbc), *xC = dup_d(Cm, nbc);
    double *xD = dup_d(D, E), *xbias = dup_d(delta_bias, E);
    double *gdu = tok_d(s, du, ld_du), *gddt = tok_d(s, ddelta_raw, ld_ddt);
    double *gdz = z ? tok_d(s, dz, ld_dz) : NULL;
    double *gA = dup_d(dA_log, dn), *gB = dup_d(dBm, nbc), *gC = dup_d(dCm, nbc);
    double *gD = dup_d(dD, E), *gbias = dup_d(ddelta_bias, E);
    zz = xz;
    climp_scan_backward_ref_f64(s, xu, xdt, xA, xB, xC, xD, xbias, zz, xdout, gdu, gddt, gA, gB, gC,
                                gD, gbias, gdz);
    tok_back(s, du, gdu, ld_du);
    tok_back(s, ddelta_raw, gddt, ld_ddt);
    if (z)
        tok_back(s, dz, gdz, ld_dz);
    vec_back(dA_log, gA, dn);
    bc_back(s, dBm, gB);
    bc_back(s, dCm, gC);
    vec_back(dD, gD, E);
    vec_back(ddelta_bias, gbias, E);
    double *all[] = {xu,  xdt,  xz,  xdout, xA, xB, xC, xD,   xbias,
                     gdu, gddt, gdz, gA,    gB, gC, gD, gbias};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        free(all[i]);
}
