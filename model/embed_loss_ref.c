/* Plain-C references of embedding gather / scatter-add, L2 normalisation and the symmetric InfoNCE
 * loss (model/embed_loss.h): the ground truth for cl_kernels/embed_loss.cl. Double throughout. */
#include "model/embed_loss.h"

#include <math.h>
#include <stdlib.h>

/* ------------------------------------------------------------------ embedding */
int climp_embedding_forward_ref(float *out, const int32_t *ids, const float *table, int n, int V,
                                int D) {
    int bad = 0;
    for (int i = 0; i < n; i++) {
        int id = ids[i];
        int ok = id >= 0 && id < V;
        bad += !ok;
        for (int d = 0; d < D; d++)
            out[(size_t)i * D + d] = ok ? table[(size_t)id * D + d] : 0.0f;
    }
    return bad;
}

void climp_embedding_backward_ref(float *dtable, const float *dout, const int32_t *ids, int n,
                                  int V, int D) {
    for (int i = 0; i < n; i++) {
        int id = ids[i];
        if (id < 0 || id >= V)
            continue;
        for (int d = 0; d < D; d++)
            dtable[(size_t)id * D + d] += dout[(size_t)i * D + d];
    }
}

/* ------------------------------------------------------------------ L2 normalise */
void climp_l2norm_forward_ref(float *out, float *norm, const float *inp, int n, int D) {
    for (int i = 0; i < n; i++) {
        const float *x = inp + (size_t)i * D;
        double ss = 0;
        for (int d = 0; d < D; d++)
            ss += (double)x[d] * x[d];
        double nr = sqrt(ss), den = nr > CLIMP_L2NORM_EPS ? nr : CLIMP_L2NORM_EPS;
        for (int d = 0; d < D; d++)
            out[(size_t)i * D + d] = (float)(x[d] / den);
        norm[i] = (float)nr;
    }
}

void climp_l2norm_backward_ref(float *dinp, const float *dout, const float *out, const float *norm,
                               int n, int D) {
    for (int i = 0; i < n; i++) {
        const float *y = out + (size_t)i * D, *dy = dout + (size_t)i * D;
        double nr = norm[i], dot = 0;
        for (int d = 0; d < D; d++)
            dot += (double)y[d] * dy[d];
        for (int d = 0; d < D; d++)
            dinp[(size_t)i * D + d] = (float)(nr > CLIMP_L2NORM_EPS ? (dy[d] - y[d] * dot) / nr
                                                                    : dy[d] / CLIMP_L2NORM_EPS);
    }
}

/* ------------------------------------------------------------------ symmetric InfoNCE */
/* M = s img txt^T (N*N) and the row / column log-sum-exps of M, in double. */
typedef struct {
    double *M, *lse_row, *lse_col;
} logits;

static climp_status logits_compute(logits *L, const float *img, const float *txt, double s, int N,
                                   int D) {
    size_t NN = (size_t)N * N;
    L->M = malloc((NN + 2 * (size_t)N) * sizeof(double));
    if (!L->M)
        return CLIMP_ERR_HOST_OOM;
    L->lse_row = L->M + NN;
    L->lse_col = L->lse_row + N;
    for (int i = 0; i < N; i++)
        for (int j = 0; j < N; j++) {
            double a = 0;
            for (int d = 0; d < D; d++)
                a += (double)img[(size_t)i * D + d] * txt[(size_t)j * D + d];
            L->M[(size_t)i * N + j] = s * a;
        }
    for (int k = 0; k < N; k++) {
        double mr = -INFINITY, mc = -INFINITY, sr = 0, sc = 0;
        for (int t = 0; t < N; t++) {
            mr = fmax(mr, L->M[(size_t)k * N + t]);
            mc = fmax(mc, L->M[(size_t)t * N + k]);
        }
        for (int t = 0; t < N; t++) {
            sr += exp(L->M[(size_t)k * N + t] - mr);
            sc += exp(L->M[(size_t)t * N + k] - mc);
        }
        L->lse_row[k] = mr + log(sr);
        L->lse_col[k] = mc + log(sc);
    }
    return CLIMP_OK;
}

climp_status climp_infonce_forward_ref(double *loss, const float *img, const float *txt,
                                       float logit_scale, int N, int D) {
    logits L;
    climp_status st = logits_compute(&L, img, txt, exp((double)logit_scale), N, D);
    if (st != CLIMP_OK)
        return st;
    double acc = 0;
    for (int i = 0; i < N; i++) {
        double mii = L.M[(size_t)i * N + i];
        acc += (L.lse_row[i] - mii) + (L.lse_col[i] - mii);
    }
    *loss = acc / (2.0 * N);
    free(L.M);
    return CLIMP_OK;
}

climp_status climp_infonce_backward_ref(float *dimg, float *dtxt, float *dlogit_scale,
                                        const float *img, const float *txt, float logit_scale,
                                        float loss_scale, int N, int D) {
    double s = exp((double)logit_scale);
    logits L;
    climp_status st = logits_compute(&L, img, txt, s, N, D);
    if (st != CLIMP_OK)
        return st;
    /* dM, overwriting M after accumulating sum dM * M */
    double dls = 0, k = (double)loss_scale / (2.0 * N);
    for (int i = 0; i < N; i++)
        for (int j = 0; j < N; j++) {
            double m = L.M[(size_t)i * N + j];
            double g = k * (exp(m - L.lse_row[i]) + exp(m - L.lse_col[j]) - (i == j ? 2.0 : 0.0));
            dls += g * m;
            L.M[(size_t)i * N + j] = g;
        }
    *dlogit_scale += (float)dls;
    for (int i = 0; i < N; i++)
        for (int d = 0; d < D; d++) {
            double ai = 0, at = 0;
            for (int j = 0; j < N; j++) {
                ai += L.M[(size_t)i * N + j] * txt[(size_t)j * D + d];
                at += L.M[(size_t)j * N + i] * img[(size_t)j * D + d];
            }
            dimg[(size_t)i * D + d] = (float)(s * ai);
            dtxt[(size_t)i * D + d] = (float)(s * at);
        }
    free(L.M);
    return CLIMP_OK;
}
