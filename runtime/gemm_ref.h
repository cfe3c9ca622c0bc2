/* Plain-C reference SGEMM with exactly the semantics of climp_gemm (runtime/climp_runtime.h):
 * row-major, batched, strided, C[b] = alpha * op(A[b]) * op(B[b]) + beta * C[b].
 * beta == 0 never reads C; alpha == 0 never reads A or B. Accumulates in double, in k order.
 * Used by tests/test_gemm.c and by any op test that needs a matmul. Implementation: gemm_ref.c. */
#ifndef CLIMP_GEMM_REF_H
#define CLIMP_GEMM_REF_H

#include "runtime/climp_runtime.h"

/* A, B, C point at the first float of batch 0 (the view's offset already applied). */
void climp_gemm_ref(const climp_gemm_desc *d, const float *A, const float *B, float *C);

#endif
