/* gemm.cl: the project's own SGEMM, row-major, batched and strided (host: runtime/gemm.c,
 * C reference: climp_gemm_ref in runtime/gemm_ref.c).
 *
 *   C[b] = alpha * op(A[b]) * op(B[b]) + beta * C[b],   b < batch
 *   op(A) (M, K): A stored (M, K) with row stride lda, or (K, M) when TRANS_A
 *   op(B) (K, N): B stored (K, N) with row stride ldb, or (N, K) when TRANS_B
 *   C (M, N) with row stride ldc; batch b starts stride_* floats after batch b-1.
 * beta == 0 never reads C (NaN there does not propagate); alpha == 0 never reads A or B.
 *
 * Every kernel takes the same arguments (a view is `ptr, ulong off`, the runtime convention):
 *   M, N, K, alpha, beta, A, a_off, lda, stride_a, B, b_off, ldb, stride_b, C, c_off, ldc, stride_c,
 *   ta, tb, batch
 * TRANS_A / TRANS_B fix the transposes at compile time (the CPU kernels, whose inner loops depend
 * on them); left at -1 the kernel reads ta / tb, uniform branches outside the inner loop (the GPU
 * and FPGA kernels: one program serves all four transposes). batch is read by gemm_fwd_swi only.
 * Indices inside one matrix are int (the host checks that rows * ld fits); batch offsets ulong.
 * Each output is a sum over k in increasing order: results are bitwise reproducible.
 *
 * Kernels
 *   gemm_fwd       local-memory tiles (TSM x TSK of op(A), TSK x TSN of op(B)) and a WPTM x WPTN
 *                  register block per work-item. Work-group (TSN/WPTN, TSM/WPTM, 1); global
 *                  (ceil(N/TSN)*TSN/WPTN, ceil(M/TSM)*TSM/WPTM, batch). GPUs.
 *   gemm_fwd_small no local memory: each work-item computes a WPTM x WPTN block straight from
 *                  global memory, columns n = group*LSN*WPTN + lid0 + j*LSN. Work-group (LSN, 1, 1);
 *                  global (ceil(N/(LSN*WPTN))*LSN, ceil(M/WPTM), batch). Small or skinny shapes.
 *   gemm_fwd_vec   CPUs: explicit VW-wide vectors, panels packed into private memory, RB blocks
 *                  of MR x NV*VW outputs per work-item. TRANS_A / TRANS_B must be 0 or 1.
 *                  Work-group (1, 1, 1); global (ceil(N/(NV*VW)), ceil(M/(RB*MR)), batch).
 *   gemm_fwd_swi   one work-item, plain loops over b, i, j, k (FPGA single-work-item style);
 *                  the batch is its outer loop.
 * GEMM_KERNEL (1..4 in the order above, 0 = all) compiles only the kernel the host will launch:
 * PoCL compiles every kernel of a program, and an FPGA build should hold one.
 */
/* Vector values passed to helper functions make clang warn that AVX-512 would change their ABI
 * (-Wpsabi): meaningless for kernels compiled whole, and PoCL prints the count on every cold
 * compile, so it is silenced here. */
#ifdef __clang__
#pragma clang diagnostic ignored "-Wpsabi"
#endif

#ifndef GEMM_KERNEL
#define GEMM_KERNEL 0 /* 0: every kernel; 1..4: only gemm_fwd, _small, _vec, _swi */
#endif
#define HAS_KERNEL(i) (GEMM_KERNEL == 0 || GEMM_KERNEL == (i))
#ifndef TRANS_A
#define TRANS_A -1 /* 1: A is stored (K, M); 0: (M, K); -1: the run-time argument ta decides */
#endif
#ifndef TRANS_B
#define TRANS_B -1 /* 1: B is stored (N, K); 0: (K, N); -1: the run-time argument tb decides */
#endif
#define TA (TRANS_A < 0 ? ta : TRANS_A)
#define TB (TRANS_B < 0 ? tb : TRANS_B)
#ifndef USE_FMA
#define USE_FMA 0 /* 1: the device has hardware fma (the host reads CL_DEVICE_SINGLE_FP_CONFIG) */
#endif
#ifndef VW
#define VW 8 /* gemm_fwd_vec: float vector width (4, 8 or 16) */
#endif
#ifndef MR
#define MR 6 /* gemm_fwd_vec: rows per work-item */
#endif
#ifndef NV
#define NV 2 /* gemm_fwd_vec: vectors per row (NV * VW columns per work-item) */
#endif
#ifndef RB
#define RB 8 /* gemm_fwd_vec: blocks of MR rows per work-item (they share the packed op(B)) */
#endif
#ifndef KC
#define KC 128 /* gemm_fwd_vec: k-depth of the packed panels */
#endif
#ifndef TSM
#define TSM 64 /* gemm_fwd: rows of C per work-group (multiple of WPTM) */
#endif
#ifndef TSN
#define TSN 64 /* gemm_fwd: columns of C per work-group (multiple of WPTN) */
#endif
#ifndef TSK
#define TSK 16 /* gemm_fwd: depth of the k tile held in local memory */
#endif
#ifndef WPTM
#define WPTM 4 /* rows of C per work-item (both NDRange kernels) */
#endif
#ifndef WPTN
#define WPTN 4 /* columns of C per work-item (both NDRange kernels) */
#endif
#ifndef LSN
#define LSN 16 /* gemm_fwd_small: work-group size along N */
#endif
#ifndef LPAD
#define LPAD 1 /* gemm_fwd: padding of local rows against bank conflicts (0 or 1) */
#endif

#define RTSM (TSM / WPTM) /* work-group size along M */
#define RTSN (TSN / WPTN) /* work-group size along N */
#define NTHR (RTSM * RTSN)

#if HAS_KERNEL(1) && (TSM % WPTM != 0 || TSN % WPTN != 0) /* gemm_fwd_small has no TSM/TSN */
#error "TSM must be a multiple of WPTM and TSN of WPTN"
#endif

/* Stored element of op(A) at (row m, col k) and of op(B) at (row k, col n). */
#define A_AT(a, m, k) (a)[TA ? (k) * lda + (m) : (m) * lda + (k)]
#define B_AT(b, k, n) (b)[TB ? (n) * ldb + (k) : (k) * ldb + (n)]

/* C = alpha * acc + beta * C with the "do not read" rules for zeros. */
#define STORE_C(c, m, n, acc)                                                                   \
    do {                                                                                       \
        float r_ = alpha != 0.0f ? alpha * (acc) : 0.0f;                                       \
        if (beta != 0.0f) r_ += beta * (c)[(m) * ldc + (n)];                                   \
        (c)[(m) * ldc + (n)] = r_;                                                             \
    } while (0)

#define GEMM_ARGS                                                                               \
    const int M, const int N, const int K, const float alpha, const float beta,               \
        __global const float *A, const ulong a_off, const int lda, const ulong stride_a,      \
        __global const float *B, const ulong b_off, const int ldb, const ulong stride_b,      \
        __global float *C, const ulong c_off, const int ldc, const ulong stride_c, const int ta, \
        const int tb, const int batch

/* fma where the device has it in hardware, else mad: PoCL does not contract a*b+c by itself. */
#if USE_FMA
#define FMA(a, b, c) fma(a, b, c)
#else
#define FMA(a, b, c) mad(a, b, c)
#endif

#if HAS_KERNEL(1)
__kernel __attribute__((reqd_work_group_size(RTSN, RTSM, 1))) void gemm_fwd(GEMM_ARGS) {
    const int tx = get_local_id(0), ty = get_local_id(1);
    const int tid = ty * RTSN + tx;
    const int m0 = get_group_id(1) * TSM, n0 = get_group_id(0) * TSN;
    const ulong bi = get_global_id(2);
    __global const float *a = A + a_off + bi * stride_a;
    __global const float *b = B + b_off + bi * stride_b;
    __global float *c = C + c_off + bi * stride_c;

    __local float As[TSK][TSM + LPAD];
    __local float Bs[TSK][TSN + LPAD];
    float acc[WPTM][WPTN];
    #pragma unroll
    for (int i = 0; i < WPTM; i++)
        #pragma unroll
        for (int j = 0; j < WPTN; j++) acc[i][j] = 0.0f;
    const int kt_n = alpha != 0.0f ? (K + TSK - 1) / TSK : 0;

    for (int kt = 0; kt < kt_n; kt++) {
        const int k0 = kt * TSK;
        /* op(A) tile: consecutive work-items read consecutive stored addresses. */
        for (int l = tid; l < TSM * TSK; l += NTHR) {
            const int kk = TA ? l / TSM : l % TSK, mm = TA ? l % TSM : l / TSK;
            const int gm = m0 + mm, gk = k0 + kk;
            As[kk][mm] = (gm < M && gk < K) ? A_AT(a, gm, gk) : 0.0f;
        }
        for (int l = tid; l < TSN * TSK; l += NTHR) {
            const int kk = TB ? l % TSK : l / TSN, nn = TB ? l / TSK : l % TSN;
            const int gn = n0 + nn, gk = k0 + kk;
            Bs[kk][nn] = (gn < N && gk < K) ? B_AT(b, gk, gn) : 0.0f;
        }
        barrier(CLK_LOCAL_MEM_FENCE);
        for (int kk = 0; kk < TSK; kk++) { /* GPU compilers unroll this; PoCL need not */
            float breg[WPTN];
            #pragma unroll
            for (int j = 0; j < WPTN; j++) breg[j] = Bs[kk][tx + j * RTSN];
            #pragma unroll
            for (int i = 0; i < WPTM; i++) {
                const float av = As[kk][ty + i * RTSM];
                #pragma unroll
                for (int j = 0; j < WPTN; j++) acc[i][j] = FMA(av, breg[j], acc[i][j]);
            }
        }
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    #pragma unroll
    for (int i = 0; i < WPTM; i++) {
        const int gm = m0 + ty + i * RTSM;
        #pragma unroll
        for (int j = 0; j < WPTN; j++) {
            const int gn = n0 + tx + j * RTSN;
            if (gm < M && gn < N) STORE_C(c, gm, gn, acc[i][j]);
        }
    }
}

#endif

#if HAS_KERNEL(2)
__kernel void gemm_fwd_small(GEMM_ARGS) {
    const int lx = get_local_id(0);
    const int nb = get_group_id(0) * (LSN * WPTN) + lx;
    const int mb = get_global_id(1) * WPTM;
    const ulong bi = get_global_id(2);
    if (mb >= M) return;
    __global const float *a = A + a_off + bi * stride_a;
    __global const float *b = B + b_off + bi * stride_b;
    __global float *c = C + c_off + bi * stride_c;

    /* Out-of-range rows and columns read a clamped (valid) address; their results are dropped
     * at the store, so the k loop carries no guards. */
    int rows[WPTM], cols[WPTN];
    #pragma unroll
    for (int i = 0; i < WPTM; i++) rows[i] = min(mb + i, M - 1);
    #pragma unroll
    for (int j = 0; j < WPTN; j++) cols[j] = min(nb + j * LSN, N - 1);
    float acc[WPTM][WPTN];
    #pragma unroll
    for (int i = 0; i < WPTM; i++)
        #pragma unroll
        for (int j = 0; j < WPTN; j++) acc[i][j] = 0.0f;
    const int kn = alpha != 0.0f ? K : 0;
    for (int k = 0; k < kn; k++) {
        float bv[WPTN];
        #pragma unroll
        for (int j = 0; j < WPTN; j++) bv[j] = B_AT(b, k, cols[j]);
        #pragma unroll
        for (int i = 0; i < WPTM; i++) {
            const float av = A_AT(a, rows[i], k);
            #pragma unroll
            for (int j = 0; j < WPTN; j++) acc[i][j] = FMA(av, bv[j], acc[i][j]);
        }
    }
    #pragma unroll
    for (int i = 0; i < WPTM; i++) {
        const int gm = mb + i;
        #pragma unroll
        for (int j = 0; j < WPTN; j++) {
            const int gn = nb + j * LSN;
            if (gm < M && gn < N) STORE_C(c, gm, gn, acc[i][j]);
        }
    }
}

#endif

/* CPU kernel: explicit float vectors (PoCL does not vectorise across work-items once a kernel has
 * an inner loop) and panels packed into private memory, so that the inner loop walks contiguous
 * memory whatever ld is (a k-loop striding by ldb thrashes L1 sets and the TLB). */
#define FV_(n) float##n
#define FV(n) FV_(n)
#define floatv FV(VW)
#define VL_(n) vload##n
#define VL(n) VL_(n)
#define vloadv VL(VW)
#define VS_(n) vstore##n
#define VS(n) VS_(n)
#define vstorev VS(VW)
#define CB (NV * VW) /* columns of a work-item */
#define RBM (RB * MR) /* rows of a work-item */

#if HAS_KERNEL(3)
/* One work-item (no barriers: PoCL would spill the accumulators at every one) owns CB columns and
 * RB blocks of MR rows. Per KC-deep slice of k it packs op(B) (KC x CB, k-major) and, when A is
 * transposed, op(A) (KC x RB*MR, k-major) into private memory, then runs an MR x CB outer-product
 * micro-kernel over each row block: per k, NV vector loads of op(B) and MR broadcasts of op(A).
 * Untransposed A rows are read in place (MR sequential streams). Partial sums of the row blocks
 * wait in `part` between slices. Out-of-range rows and columns are clamped or zero and never
 * stored. */
__kernel __attribute__((reqd_work_group_size(1, 1, 1))) void gemm_fwd_vec(GEMM_ARGS) {
    const int n0 = get_global_id(0) * CB, mg = get_global_id(1) * RBM;
    const ulong bi = get_global_id(2);
    if (n0 >= N || mg >= M) return;
    __global const float *a = A + a_off + bi * stride_a;
    __global const float *b = B + b_off + bi * stride_b;
    __global float *c = C + c_off + bi * stride_c;
    float Bp[KC * CB];
#if TRANS_A
    float Ap[KC * RBM];
#endif
    floatv part[RB][MR][NV];
    for (int rb = 0; rb < RB; rb++)
        #pragma unroll
        for (int i = 0; i < MR; i++)
            #pragma unroll
            for (int v = 0; v < NV; v++) part[rb][i][v] = (floatv)(0.0f);
    const int kn = alpha != 0.0f ? K : 0;
    for (int k0 = 0; k0 < kn; k0 += KC) {
        const int kc = min(KC, kn - k0);
#if TRANS_B /* B stored (N, K): rows n are contiguous in k; the pack transposes */
        for (int n = 0; n < CB; n++) {
            __global const float *src = b + min(n0 + n, N - 1) * ldb + k0;
            for (int kk = 0; kk < kc; kk++) Bp[kk * CB + n] = src[kk];
        }
#else
        if (n0 + CB <= N) {
            for (int kk = 0; kk < kc; kk++)
                #pragma unroll
                for (int v = 0; v < NV; v++)
                    vstorev(vloadv(0, b + (k0 + kk) * ldb + n0 + v * VW), 0, Bp + kk * CB + v * VW);
        } else {
            for (int kk = 0; kk < kc; kk++)
                for (int n = 0; n < CB; n++)
                    Bp[kk * CB + n] = b[(k0 + kk) * ldb + min(n0 + n, N - 1)];
        }
#endif
#if TRANS_A /* A stored (K, M): rows k are contiguous in m */
        if (RBM % VW == 0 && mg + RBM <= M) {
            for (int kk = 0; kk < kc; kk++)
                for (int r = 0; r < RBM; r += VW)
                    vstorev(vloadv(0, a + (k0 + kk) * lda + mg + r), 0, Ap + kk * RBM + r);
        } else {
            for (int kk = 0; kk < kc; kk++)
                for (int r = 0; r < RBM; r++)
                    Ap[kk * RBM + r] = a[(k0 + kk) * lda + min(mg + r, M - 1)];
        }
#endif
        for (int rb = 0; rb < RB && mg + rb * MR < M; rb++) {
            const int m0 = mg + rb * MR;
#if !TRANS_A
            __global const float *ar[MR];
            #pragma unroll
            for (int i = 0; i < MR; i++) ar[i] = a + min(m0 + i, M - 1) * lda + k0;
#endif
            floatv acc[MR][NV];
            #pragma unroll
            for (int i = 0; i < MR; i++)
                #pragma unroll
                for (int v = 0; v < NV; v++) acc[i][v] = part[rb][i][v];
            for (int kk = 0; kk < kc; kk++) {
                floatv bv[NV];
                #pragma unroll
                for (int v = 0; v < NV; v++) bv[v] = vloadv(0, Bp + kk * CB + v * VW);
                #pragma unroll
                for (int i = 0; i < MR; i++) {
#if TRANS_A
                    const floatv av = (floatv)(Ap[kk * RBM + rb * MR + i]);
#else
                    const floatv av = (floatv)(ar[i][kk]);
#endif
                    #pragma unroll
                    for (int v = 0; v < NV; v++) acc[i][v] = FMA(av, bv[v], acc[i][v]);
                }
            }
            #pragma unroll
            for (int i = 0; i < MR; i++)
                #pragma unroll
                for (int v = 0; v < NV; v++) part[rb][i][v] = acc[i][v];
        }
    }
    for (int rb = 0; rb < RB; rb++) {
        for (int i = 0; i < MR && mg + rb * MR + i < M; i++) {
            const int m = mg + rb * MR + i;
            #pragma unroll
            for (int v = 0; v < NV; v++) {
                const int n = n0 + v * VW;
                if (n + VW <= N) {
                    __global float *cp = c + m * ldc + n;
                    floatv r = alpha != 0.0f ? alpha * part[rb][i][v] : (floatv)(0.0f);
                    if (beta != 0.0f) r = FMA((floatv)(beta), vloadv(0, cp), r);
                    vstorev(r, 0, cp);
                } else {
                    float t[VW];
                    vstorev(part[rb][i][v], 0, t);
                    for (int l = 0; l < VW && n + l < N; l++) STORE_C(c, m, n + l, t[l]);
                }
            }
        }
    }
}
#endif

#if HAS_KERNEL(4)
__kernel __attribute__((reqd_work_group_size(1, 1, 1))) void gemm_fwd_swi(GEMM_ARGS) {
    const int sam = TA ? 1 : lda, sak = TA ? lda : 1; /* op(A)[m][k] = a[m*sam + k*sak] */
    const int sbk = TB ? 1 : ldb, sbn = TB ? ldb : 1; /* op(B)[k][n] = b[k*sbk + n*sbn] */
    for (int bi = 0; bi < batch; bi++) {
        __global const float *a = A + a_off + (ulong)bi * stride_a;
        __global const float *b = B + b_off + (ulong)bi * stride_b;
        __global float *c = C + c_off + (ulong)bi * stride_c;
        for (int i = 0; i < M; i++) {
            for (int j = 0; j < N; j++) {
                float acc = 0.0f;
                if (alpha != 0.0f)
                    for (int k = 0; k < K; k++) acc = FMA(a[i * sam + k * sak], b[k * sbk + j * sbn], acc);
                STORE_C(c, i, j, acc);
            }
        }
    }
}

#endif
