/* Plain-C references of the Mamba-2 SSM (model/ssd.h): the sequential recurrence per (b, h) in
 * double, forward and backward (reverse-mode through the stored per-token states of one (b, h)).
 * The float entry points convert to double, run the double code and convert back. */
#include "model/ssd.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static double softplus_d(double v) {
    return v <= 20.0 ? log1p(exp(v)) : v;
}
static double sigmoid_d(double v) {
    return 1.0 / (1.0 + exp(-v));
}

static void *xcalloc(size_t n, size_t sz) {
    void *p = calloc(n ? n : 1, sz);
    if (!p)
        abort();
    return p;
}

/* Offsets of element (b, t) rows and of B/C rows. */
static size_t tok(const climp_ssd_shape *s, int b, int t, int ld) {
    return ((size_t)b * s->L + t) * (size_t)ld;
}
static size_t bcr(const climp_ssd_shape *s, int b, int t, int g) {
    return (size_t)b * s->bc_stride_b + (size_t)t * s->bc_stride_l + (size_t)g * s->bc_stride_g;
}

void climp_ssd_forward_ref_f64(const climp_ssd_shape *s, const double *x, const double *dt_raw,
                               const double *A_log, const double *Bm, const double *Cm,
                               const double *D, const double *dt_bias, double *y) {
    const int P = s->P, N = s->N, hpg = s->H / s->G;
    double *S = xcalloc((size_t)P * N, sizeof(double));
    for (int b = 0; b < s->B; b++)
        for (int h = 0; h < s->H; h++) {
            const int g = h / hpg;
            const double a = -exp(A_log[h]);
            memset(S, 0, (size_t)P * N * sizeof(double));
            for (int t = 0; t < s->L; t++) {
                const double dt = softplus_d(dt_raw[tok(s, b, t, s->ld_dt) + h] + dt_bias[h]);
                const double lam = exp(dt * a);
                const double *xt = x + tok(s, b, t, s->ld_x) + (size_t)h * P;
                const double *Bt = Bm + bcr(s, b, t, g), *Ct = Cm + bcr(s, b, t, g);
                double *yt = y + tok(s, b, t, s->ld_y) + (size_t)h * P;
                for (int p = 0; p < P; p++) {
                    double acc = 0, *Sp = S + (size_t)p * N;
                    for (int n = 0; n < N; n++) {
                        Sp[n] = lam * Sp[n] + dt * xt[p] * Bt[n];
                        acc += Ct[n] * Sp[n];
                    }
                    yt[p] = acc + D[h] * xt[p];
                }
            }
        }
    free(S);
}

/* Reverse mode: with dS the gradient w.r.t. S_t (P x N),
 *   dS += dy_t Cm_t^T;  dCm_t += dS_t-part S_t^T dy_t;  dx_t = D dy_t + dt dS Bm_t;
 *   dBm_t += dt dS^T x_t;  ddt = sum dS .* (x_t Bm_t^T + a lam S_{t-1});  da += sum dS .* dt lam
 *   S_{t-1};  dS = lam dS.   Then ddt_raw = ddt sig(v) (v <= 20, else ddt), dA_log += da a. */
void climp_ssd_backward_ref_f64(const climp_ssd_shape *s, const double *x, const double *dt_raw,
                                const double *A_log, const double *Bm, const double *Cm,
                                const double *D, const double *dt_bias, const double *dy,
                                double *dx, double *ddt_raw, double *dA_log, double *dBm,
                                double *dCm, double *dD, double *ddt_bias) {
    const int P = s->P, N = s->N, hpg = s->H / s->G, L = s->L;
    const int ld_dy = s->ld_dy ? s->ld_dy : s->ld_y, ld_dx = s->ld_dx ? s->ld_dx : s->ld_x;
    const int ld_ddt = s->ld_ddt ? s->ld_ddt : s->ld_dt;
    const size_t PN = (size_t)P * N;
    double *St = xcalloc((size_t)(L + 1) * PN, sizeof(double)); /* St[t+1] = S_t, St[0] = 0 */
    double *dS = xcalloc(PN, sizeof(double));
    double *dtv = xcalloc((size_t)L, sizeof(double));
    /* dBm / dCm are sums over heads: zero them first (they share the strided layout) */
    for (int b = 0; b < s->B; b++)
        for (int t = 0; t < L; t++)
            for (int g = 0; g < s->G; g++)
                for (int n = 0; n < N; n++)
                    dBm[bcr(s, b, t, g) + n] = dCm[bcr(s, b, t, g) + n] = 0;
    for (int h = 0; h < s->H; h++) {
        const int g = h / hpg;
        const double a = -exp(A_log[h]);
        double da = 0, dDh = 0, dbias = 0;
        for (int b = 0; b < s->B; b++) {
            for (int t = 0; t < L; t++) {
                const double dt = softplus_d(dt_raw[tok(s, b, t, s->ld_dt) + h] + dt_bias[h]);
                const double lam = exp(dt * a);
                const double *xt = x + tok(s, b, t, s->ld_x) + (size_t)h * P;
                const double *Bt = Bm + bcr(s, b, t, g);
                dtv[t] = dt;
                for (size_t e = 0; e < PN; e++)
                    St[(t + 1) * PN + e] = lam * St[t * PN + e] + dt * xt[e / N] * Bt[e % N];
            }
            memset(dS, 0, PN * sizeof(double));
            for (int t = L - 1; t >= 0; t--) {
                const double dt = dtv[t], lam = exp(dt * a);
                const double v = dt_raw[tok(s, b, t, s->ld_dt) + h] + dt_bias[h];
                const double *xt = x + tok(s, b, t, s->ld_x) + (size_t)h * P;
                const double *dyt = dy + tok(s, b, t, ld_dy) + (size_t)h * P;
                const double *Bt = Bm + bcr(s, b, t, g), *Ct = Cm + bcr(s, b, t, g);
                double *dBt = dBm + bcr(s, b, t, g), *dCt = dCm + bcr(s, b, t, g);
                double *dxt = dx + tok(s, b, t, ld_dx) + (size_t)h * P;
                const double *Sc = St + (size_t)(t + 1) * PN, *Sp = St + (size_t)t * PN;
                double ddt = 0;
                for (int p = 0; p < P; p++) {
                    dDh += dyt[p] * xt[p];
                    double acc = 0;
                    for (int n = 0; n < N; n++) {
                        const size_t e = (size_t)p * N + n;
                        dCt[n] += dyt[p] * Sc[e];
                        dS[e] += dyt[p] * Ct[n];
                        acc += dS[e] * Bt[n];
                        dBt[n] += dt * dS[e] * xt[p];
                        ddt += dS[e] * (xt[p] * Bt[n] + a * lam * Sp[e]);
                        da += dS[e] * dt * lam * Sp[e];
                    }
                    dxt[p] = D[h] * dyt[p] + dt * acc;
                }
                for (size_t e = 0; e < PN; e++)
                    dS[e] *= lam;
                const double ddr = v <= 20.0 ? ddt * sigmoid_d(v) : ddt;
                ddt_raw[tok(s, b, t, ld_ddt) + h] = ddr;
                dbias += ddr;
            }
        }
        dA_log[h] += da * a;
        dD[h] += dDh;
        ddt_bias[h] += dbias;
    }
    free(St), free(dS), free(dtv);
}

/* ---------------------------------------------------------------- float entry points */

static double *to_d(const float *v, size_t n) {
    double *d = xcalloc(n, sizeof(double));
    for (size_t i = 0; i < n; i++)
        d[i] = v[i];
    return d;
}
/* Write back only the elements a tensor owns (token rows of `width` columns, or the B/C
 * records), so that outputs sharing one buffer in disjoint columns do not overwrite each other. */
static void from_tok(const climp_ssd_shape *s, float *v, const double *d, int width, int ld) {
    for (size_t r = 0; r < (size_t)s->B * s->L; r++)
        for (int c = 0; c < width; c++)
            v[r * (size_t)ld + c] = (float)d[r * (size_t)ld + c];
}
static void from_bc(const climp_ssd_shape *s, float *v, const double *d) {
    for (int b = 0; b < s->B; b++)
        for (int t = 0; t < s->L; t++)
            for (int g = 0; g < s->G; g++)
                for (int n = 0; n < s->N; n++)
                    v[bcr(s, b, t, g) + n] = (float)d[bcr(s, b, t, g) + n];
}
static void from_d(float *v, const double *d, size_t n) {
    for (size_t i = 0; i < n; i++)
        v[i] = (float)d[i];
}

void climp_ssd_forward_ref(const climp_ssd_shape *s, const float *x, const float *dt_raw,
                           const float *A_log, const float *Bm, const float *Cm, const float *D,
                           const float *dt_bias, float *y) {
    const int E = s->H * s->P;
    const size_t nx = climp_ssd_tok_extent(s, E, s->ld_x), ndt = climp_ssd_tok_extent(s, s->H, s->ld_dt);
    const size_t ny = climp_ssd_tok_extent(s, E, s->ld_y), nbc = climp_ssd_bc_extent(s);
    double *xd = to_d(x, nx), *dd = to_d(dt_raw, ndt), *Ad = to_d(A_log, (size_t)s->H);
    double *Bd = to_d(Bm, nbc), *Cd = to_d(Cm, nbc), *Dd = to_d(D, (size_t)s->H);
    double *bd = to_d(dt_bias, (size_t)s->H), *yd = to_d(y, ny);
    climp_ssd_forward_ref_f64(s, xd, dd, Ad, Bd, Cd, Dd, bd, yd);
    from_tok(s, y, yd, E, s->ld_y);
    free(xd), free(dd), free(Ad), free(Bd), free(Cd), free(Dd), free(bd), free(yd);
}

void climp_ssd_backward_ref(const climp_ssd_shape *s, const float *x, const float *dt_raw,
                            const float *A_log, const float *Bm, const float *Cm, const float *D,
                            const float *dt_bias, const float *dy, float *dx, float *ddt_raw,
                            float *dA_log, float *dBm, float *dCm, float *dD, float *ddt_bias) {
    const int E = s->H * s->P, H = s->H;
    const int ld_dy = s->ld_dy ? s->ld_dy : s->ld_y, ld_dx = s->ld_dx ? s->ld_dx : s->ld_x;
    const int ld_ddt = s->ld_ddt ? s->ld_ddt : s->ld_dt;
    const size_t nx = climp_ssd_tok_extent(s, E, s->ld_x), ndt = climp_ssd_tok_extent(s, H, s->ld_dt);
    const size_t ndy = climp_ssd_tok_extent(s, E, ld_dy), ndx = climp_ssd_tok_extent(s, E, ld_dx);
    const size_t nddt = climp_ssd_tok_extent(s, H, ld_ddt), nbc = climp_ssd_bc_extent(s);
    double *xd = to_d(x, nx), *dd = to_d(dt_raw, ndt), *Ad = to_d(A_log, (size_t)H);
    double *Bd = to_d(Bm, nbc), *Cd = to_d(Cm, nbc), *Dd = to_d(D, (size_t)H);
    double *bd = to_d(dt_bias, (size_t)H), *dyd = to_d(dy, ndy), *dxd = to_d(dx, ndx);
    double *dtd = to_d(ddt_raw, nddt), *dAd = to_d(dA_log, (size_t)H), *dBd = to_d(dBm, nbc);
    double *dCd = to_d(dCm, nbc), *dDd = to_d(dD, (size_t)H), *dbd = to_d(ddt_bias, (size_t)H);
    climp_ssd_backward_ref_f64(s, xd, dd, Ad, Bd, Cd, Dd, bd, dyd, dxd, dtd, dAd, dBd, dCd, dDd,
                               dbd);
    from_tok(s, dx, dxd, E, ld_dx), from_tok(s, ddt_raw, dtd, H, ld_ddt);
    from_d(dA_log, dAd, (size_t)H), from_bc(s, dBm, dBd), from_bc(s, dCm, dCd);
    from_d(dD, dDd, (size_t)H);
    from_d(ddt_bias, dbd, (size_t)H);
    double *all[] = {xd, dd, Ad, Bd, Cd, Dd, bd, dyd, dxd, dtd, dAd, dBd, dCd, dDd, dbd};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        free(all[i]);
}
