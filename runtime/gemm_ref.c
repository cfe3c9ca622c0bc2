/* Plain-C reference SGEMM (see gemm_ref.h). Slow and obvious on purpose: the oracle every GEMM
 * backend (runtime/gemm.c, cl_kernels/gemm.cl) is tested against in tests/test_gemm.c. */
#include "runtime/gemm_ref.h"

void climp_gemm_ref(const climp_gemm_desc *d, const float *A, const float *B, float *C) {
    for (int b = 0; b < d->batch; b++) {
        const float *a = A + (size_t)b * d->stride_a;
        const float *bm = B + (size_t)b * d->stride_b;
        float *c = C + (size_t)b * d->stride_c;
        for (int i = 0; i < d->M; i++) {
            for (int j = 0; j < d->N; j++) {
                double acc = 0.0;
                if (d->alpha != 0.0f) {
                    for (int k = 0; k < d->K; k++) {
                        float av = d->trans_a ? a[(size_t)k * d->lda + i] : a[(size_t)i * d->lda + k];
                        float bv = d->trans_b ? bm[(size_t)j * d->ldb + k] : bm[(size_t)k * d->ldb + j];
                        acc += (double)av * (double)bv;
                    }
                    acc *= d->alpha;
                }
                float *cp = &c[(size_t)i * d->ldc + j];
                *cp = (float)(d->beta != 0.0f ? acc + (double)d->beta * *cp : acc);
            }
        }
    }
}
