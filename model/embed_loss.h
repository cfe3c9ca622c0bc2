/* Embedding gather / scatter-add, L2 normalisation of rows, and the symmetric InfoNCE loss with a
 * learned temperature (open_clip ClipLoss), forward and backward.
 * References: model/embed_loss_ref.c; launchers: model/embed_loss.c; kernels:
 * cl_kernels/embed_loss.cl. Math: reference/architecture.md §5.2.
 *
 * Shape letters: n tokens (or rows), V vocabulary, D width, N batch (pairs).
 *
 * Token ids are int32 stored bit-for-bit in a float view (4-byte units, as the runtime's views
 * count them); kernels read them through a `__global const int *` cast of the same buffer.
 * Bad ids (outside [0, V)) never cause an out-of-bounds access: the forward writes a zero row
 * for them and the backward skips them; when `bad` has a buffer, bad[0] (an int32 in a float
 * view, which the caller zeroes) is set to 1 (an int atomic_or). Hosts that tokenize can also
 * reject ids before upload with climp_embedding_check_ids. */
#ifndef CLIMP_EMBED_LOSS_H
#define CLIMP_EMBED_LOSS_H

#include "runtime/climp_runtime.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CLIMP_L2NORM_EPS 1e-12f

/* ------------------------------------------------------------------ embedding */
/* out[i, :] = table[ids[i], :] (zeros for a bad id). `bad` may be an empty view ({0}). */
climp_status climp_embedding_forward(climp_ctx *ctx, climp_tview out /* (n, D) */,
                                     climp_tview ids /* (n) int32 */,
                                     climp_tview table /* (V, D) */, climp_tview bad /* (1) */,
                                     int n, int V, int D);
/* dtable[ids[i], :] += dout[i, :], tokens in order i = 0..n-1 (one work-item per column d), so
 * repeated ids sum deterministically. Bad ids are skipped. */
climp_status climp_embedding_backward(climp_ctx *ctx, climp_tview dtable /* (V, D) */,
                                      climp_tview dout /* (n, D) */,
                                      climp_tview ids /* (n) int32 */, int n, int V, int D);
/* Host check: CLIMP_OK if every id is in [0, V), else CLIMP_ERR_INVALID_ARG naming the first. */
climp_status climp_embedding_check_ids(const int32_t *ids, int n, int V);

/* ------------------------------------------------------------------ L2 normalise */
/* out = x / max(||x||, 1e-12) per row (F.normalize); saves norm = ||x|| (n). */
climp_status climp_l2norm_forward(climp_ctx *ctx, climp_tview out /* (n, D) */,
                                  climp_tview norm /* (n) */, climp_tview inp /* (n, D) */, int n,
                                  int D);
/* dinp = (dout - out (out . dout)) / ||x||   (||x|| > 1e-12; else dout / 1e-12)  (overwrite) */
climp_status climp_l2norm_backward(climp_ctx *ctx, climp_tview dinp /* (n, D) */,
                                   climp_tview dout /* (n, D) */, climp_tview out /* (n, D) */,
                                   climp_tview norm /* (n) */, int n, int D);

/* ------------------------------------------------------------------ symmetric InfoNCE */
/* s = exp(logit_scale); S = img txt^T; M = s S (logits_per_image; logits_per_text = M^T);
 * loss = 1/2 [CE(M, arange N) + CE(M^T, arange N)], CE with mean reduction.
 * `work` (climp_infonce_work_floats(N)) holds S, row and column log-sum-exps between forward and
 * backward; keep it unchanged in between. img and txt are expected L2-normalised (not checked).
 * loss is a 1-float view; if loss_host is not NULL the loss is also read back (blocking).
 * S and the backward's products go through climp_gemm. */
climp_status climp_infonce_forward(climp_ctx *ctx, climp_tview loss /* (1) */, float *loss_host,
                                   climp_tview work, climp_tview img /* (N, D) */,
                                   climp_tview txt /* (N, D) */, climp_tview logit_scale /* (1) */,
                                   int N, int D);
/* With P = rowsoftmax(M), Q = rowsoftmax(M^T):
 *   dM = (P - I)/(2N) + ((Q - I)/(2N))^T,  times loss_scale
 *   dimg = s dM txt;  dtxt = s dM^T img   (overwrite; must not overlap img, txt, work or each
 *                                           other: CLIMP_ERR_INVALID_ARG)
 *   dlogit_scale += sum dM * M            (accumulate)
 * loss_scale multiplies every gradient (1 for a plain step; 1/A for A accumulation steps). */
climp_status climp_infonce_backward(climp_ctx *ctx, climp_tview dimg /* (N, D) */,
                                    climp_tview dtxt /* (N, D) */,
                                    climp_tview dlogit_scale /* (1) */, climp_tview work,
                                    climp_tview img /* (N, D) */, climp_tview txt /* (N, D) */,
                                    climp_tview logit_scale /* (1) */, float loss_scale, int N,
                                    int D);
/* Floats of `work`: S (N*N), dM scaled by s (N*N), lse_row (N), lse_col (N), row partials (N). */
size_t climp_infonce_work_floats(int N);

/* ------------------------------------------------------------------ plain-C references */
/* ids as int32; bad ids give zero rows / are skipped and make the forward return the count. */
int climp_embedding_forward_ref(float *out, const int32_t *ids, const float *table, int n, int V,
                                int D);
void climp_embedding_backward_ref(float *dtable, const float *dout, const int32_t *ids, int n,
                                  int V, int D);
void climp_l2norm_forward_ref(float *out, float *norm, const float *inp, int n, int D);
void climp_l2norm_backward_ref(float *dinp, const float *dout, const float *out, const float *norm,
                               int n, int D);
/* *loss = the loss, in double throughout. CLIMP_ERR_HOST_OOM if the N*N temporary fails. */
climp_status climp_infonce_forward_ref(double *loss, const float *img, const float *txt,
                                       float logit_scale, int N, int D);
/* dimg, dtxt overwrite; *dlogit_scale += . Double throughout. */
climp_status climp_infonce_backward_ref(float *dimg, float *dtxt, float *dlogit_scale,
                                        const float *img, const float *txt, float logit_scale,
                                        float loss_scale, int N, int D);

#ifdef __cplusplus
}
#endif
#endif
