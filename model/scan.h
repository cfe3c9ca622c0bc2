/* Selective scan (Mamba-1 form; VMamba and Mamba-2 map onto it), forward and backward.
 * Host launchers: model/scan.c. Plain-C references: model/scan_ref.c. Kernels: cl_kernels/scan.cl.
 * Math: reference/architecture.md section 1.3 step 8 (forward), 1.5 (backward), 3.2 (Mamba-2 as
 * a Mamba-1 scan with per-head values repeated per channel), 4.6 step 7 (VMamba, G = 4).
 *
 * Legend: B batch, L tokens, Dc scan channels (E for Mamba-1, K*E for VMamba, H*P for Mamba-2),
 * N state size (1..256), G groups of B/C (channel c uses group c / (Dc/G)).
 *
 *   delta = softplus(delta_raw + delta_bias)      softplus(v) = v <= 20 ? log1p(exp(v)) : v
 *   A     = -exp(A_log)
 *   s_t[c,n] = exp(delta_t[c] A[c,n]) s_{t-1}[c,n] + delta_t[c] Bm_t[g,n] u_t[c],  s_{-1} = 0
 *   y_t[c]   = sum_n Cm_t[g,n] s_t[c,n] + D[c] u_t[c]
 *   out_t[c] = y_t[c] * silu(z_t[c])   (or y_t[c] when there is no z)
 *
 * Layouts (all float, channel-last, explicit token strides so views can be slices of wider GEMM
 * outputs). Element (b, l, c) of a (B, L, Dc) tensor with token stride ld sits at
 * (b*L + l)*ld + c. Element (b, l, g, n) of Bm / Cm (and dBm / dCm) sits at
 * b*bc_stride_b + l*bc_stride_l + g*bc_stride_g + n from the view's offset.
 * A_log (Dc, N) row-major; D, delta_bias (Dc).
 * Mamba-1: G=1, Bm/Cm are columns R.. and R+N.. of x_dbl (B, L, R+2N): bc_stride_l = R+2N.
 * VMamba:  G=4, x_dbl (B, L, 4, R+2N): bc_stride_g = R+2N, bc_stride_l = 4(R+2N).
 * Mamba-2: per-head dt/A_log/D/dt_bias expanded to per-channel by the caller; Bm/Cm are columns of
 * the conv output.
 */
#ifndef CLIMP_SCAN_H
#define CLIMP_SCAN_H

#include "runtime/climp_runtime.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Kernel variants. CPU: one work-item per (b, block of CB consecutive channels, chunk), walking
 * t with the block as one vector (PoCL and other CPU drivers; the hot exp / log1p are explicit
 * polynomials in cl_kernels/scan.cl, < 3 ulp). GPU: one work-item per (b, channel,
 * chunk), work-groups of consecutive channels, dB/dC reduced across the work-group in local
 * memory. FPGA (cl_kernels/scan_fpga.cl): one single work-item kernel per direction, time the
 * pipelined loop, blocks of cb channels x N states as unrolled lanes, built per (N, cb, chunk);
 * it needs no backward scratch and supports chunk * N <= 16384. CPU_N1 (cl_kernels/scan_n1.cl):
 * the CPU variant specialised for N = 1 (VMamba), only for N = 1 and chunk <= 64 (else
 * CLIMP_ERR_INVALID_ARG): a work-item owns up to 32 vectors of 8 consecutive channels (a whole
 * group where that leaves enough work-items), advances 4 of them through the math together and
 * prefetches the rows it reads next; always the sequential split, cb / wg / split ignored. AUTO
 * picks FPGA when climp_ctx_variant(ctx) is "fpga", else on CPU devices CPU_N1 where it applies
 * and CPU otherwise, and GPU elsewhere. Outputs must not overlap inputs (the FPGA kernels
 * declare their pointers restrict). */
enum {
    CLIMP_SCAN_AUTO = 0,
    CLIMP_SCAN_CPU = 1,
    CLIMP_SCAN_GPU = 2,
    CLIMP_SCAN_FPGA = 3,
    CLIMP_SCAN_CPU_N1 = 4
};
/* Chunk mapping. CHUNKS: every chunk is its own work-item (three passes: local scans, carry
 * propagation over chunk ends, fix-up scans), for few long sequences. SEQUENTIAL: one work-item
 * walks all chunks of its channels (one pass), when (b, channel block) items alone fill the
 * device. AUTO picks SEQUENTIAL when there are >= 4 items per compute unit (CPU) or >= 256
 * (GPU). Results agree to rounding; each is deterministic. */
enum { CLIMP_SCAN_SPLIT_AUTO = 0, CLIMP_SCAN_SPLIT_CHUNKS = 1, CLIMP_SCAN_SPLIT_SEQUENTIAL = 2 };

typedef struct climp_scan_shape {
    int B, L, Dc, N, G;
    int ld_u, ld_dt, ld_z, ld_out; /* token strides (>= Dc) of u, delta_raw, z, out */
    size_t bc_stride_b, bc_stride_l, bc_stride_g; /* strides of Bm/Cm/dBm/dCm (n stride is 1) */
    /* Backward token strides; 0 means "same as the forward counterpart": dout like out, du like
     * u, ddelta_raw like delta_raw, dz like z. */
    int ld_dout, ld_du, ld_ddt, ld_dz;
    /* Tunables (0 = automatic). The states and scratch sizes depend on them, so forward and
     * backward must be called with the same values (split may differ). chunk: tokens per chunk
     * (1..1024, default 64); variant: CLIMP_SCAN_*; cb: channels per work-item of the CPU
     * variant (1, 2, 4, 8, 16; default 16, or 8 / 4 where chunk > 256 / 1024 would overflow the
     * backward's private arrays), or per block of the FPGA variant (default 16, halved
     * while chunk * cb * N > 16384); wg: work-group size of the GPU variant (power of two
     * 1..256, default 64); split: CLIMP_SCAN_SPLIT_* (how chunks map to work-items);
     * slab: backward (batch element, token) rows per launch of the per-block dBm/dCm partials,
     * in whole chunks: all of B and slab/(B*chunk) chunks, or, when slab < B*chunk, one chunk of
     * slab/chunk batch elements (default: as many as fit max(2^22, B*L*Dc) floats of scratch);
     * rows: the CPU_N1 forward's whole groups per work-item (0: automatic, as many as leave 4
     * work-items per compute unit; 1: blocks within a group; n > 1: n groups where that applies,
     * i.e. n divides G and the groups are whole, a multiple of 32 channels, and n of them at
     * most 1024 channels; ignored otherwise and by the other variants). */
    int chunk, variant, cb, wg, split, slab, rows;
} climp_scan_shape;

/* Tuning table (runtime/climp_runtime.h, climp_tune_int; written by `climp tune`). For each field
 * of climp_scan_shape that is 0 (variant: AUTO, split: AUTO) the launcher looks up, with <n> the
 * state size N (e.g. "scan.cb@N16", "scan.chunk@N1"; the key without "@N<n>" is the fallback):
 *   scan.variant@N<n>  CLIMP_SCAN_CPU (1), CLIMP_SCAN_GPU (2) or CLIMP_SCAN_CPU_N1 (4, N = 1);
 *                      heuristic: CPU_N1 (N = 1) or CPU on CPU devices
 *   scan.chunk@N<n>    tokens per chunk; heuristic 64
 *   scan.cb@N<n>       CPU variant channels per work-item (1, 2, 4, 8, 16); heuristic above
 *   scan.wg@N<n>       GPU variant work-group size; heuristic 64
 *   scan.split@N<n>    CLIMP_SCAN_SPLIT_CHUNKS (1) or _SEQUENTIAL (2); heuristic as above
 * The size functions below have no context, so the launcher applies the tuned chunk / cb / wg
 * together only when they are valid and their plan fits climp_scan_states_size and
 * climp_scan_bwd_scratch_size of the caller's shape (the scratch size leaves room for cb 4..16
 * and wg 16..256; a chunk below 64 fits only where it adds no chunk: ceil(L/chunk) ==
 * ceil(L/64)); otherwise the heuristics apply. Resolution depends only on (shape, device, table),
 * so forward and backward resolve to the same chunk. climp_scan_resolve reports the outcome. */

/* Floats of the `states` view written by forward and read by backward:
 * B*K*Dc*N (state entering each chunk) + B*K*Dc (sum of delta per chunk), K = ceil(L/chunk). */
size_t climp_scan_states_size(const climp_scan_shape *s);
/* Floats of the backward scratch view: chunk carries / dA partials (B*K*Dc*N), dD and
 * ddelta_bias partials (2*B*K*Dc) and dBm/dCm partials per channel block for a slab of tokens.
 * AUTO covers every variant; CLIMP_SCAN_FPGA gives 0 (the view is then not read). */
size_t climp_scan_bwd_scratch_size(const climp_scan_shape *s);
/* The resolved tunables for a context (what 0 fields turn into). */
climp_scan_shape climp_scan_resolve(climp_ctx *ctx, const climp_scan_shape *s);

/* out = scan(...) gated by silu(z) when z.buf != NULL and z.n > 0. Writes `states`.
 * Returns CLIMP_ERR_SHAPE / CLIMP_ERR_BUFFER_TOO_SMALL / CLIMP_ERR_INVALID_ARG before
 * enqueuing anything when an argument is wrong. */
climp_status climp_scan_forward(climp_ctx *ctx, const climp_scan_shape *s,
                                climp_tview u,          // (B, L, Dc) stride ld_u
                                climp_tview delta_raw,  // (B, L, Dc) stride ld_dt
                                climp_tview A_log,      // (Dc, N)
                                climp_tview Bm,         // (B, L, G, N) strided
                                climp_tview Cm,         // (B, L, G, N) strided
                                climp_tview D,          // (Dc)
                                climp_tview delta_bias, // (Dc)
                                climp_tview z,          // (B, L, Dc) stride ld_z, or empty
                                climp_tview out,        // (B, L, Dc) stride ld_out
                                climp_tview states);    // climp_scan_states_size floats

/* Backward of the forward above, recomputing inside each chunk from `states`.
 * Overwrites du, ddelta_raw (gradient w.r.t. delta_raw, before the bias), dz, dBm, dCm
 * (summed over the channels of each group, written in Bm's strided layout);
 * accumulates (+=) dA_log, dD, ddelta_bias. Deterministic: no atomics, fixed reduction order. */
climp_status climp_scan_backward(climp_ctx *ctx, const climp_scan_shape *s, climp_tview u,
                                 climp_tview delta_raw, climp_tview A_log, climp_tview Bm,
                                 climp_tview Cm, climp_tview D, climp_tview delta_bias,
                                 climp_tview z, climp_tview states,
                                 climp_tview dout,        // (B, L, Dc) stride ld_dout
                                 climp_tview scratch,     // climp_scan_bwd_scratch_size floats
                                 climp_tview du,          // (B, L, Dc) stride ld_du
                                 climp_tview ddelta_raw,  // (B, L, Dc) stride ld_ddt
                                 climp_tview dA_log,      // (Dc, N) +=
                                 climp_tview dBm,         // (B, L, G, N) strided like Bm
                                 climp_tview dCm,         // (B, L, G, N) strided like Bm
                                 climp_tview dD,          // (Dc) +=
                                 climp_tview ddelta_bias, // (Dc) +=
                                 climp_tview dz);         // (B, L, Dc) stride ld_dz, or empty

/* Validates a shape (sizes, strides, non-overlapping B/C layout). CLIMP_OK or CLIMP_ERR_SHAPE. */
climp_status climp_scan_check_shape(const climp_scan_shape *s);

/* Plain-C references with the same layouts; pointers already offset to element 0. z / dz NULL
 * means no gate. They compute in double internally, one (b, c) row at a time, with no chunking
 * and no states. The backward overwrites du, ddelta_raw, dz, dBm, dCm and adds to dA_log, dD,
 * ddelta_bias, like the launcher. */
void climp_scan_forward_ref(const climp_scan_shape *s, const float *u, const float *delta_raw,
                            const float *A_log, const float *Bm, const float *Cm, const float *D,
                            const float *delta_bias, const float *z, float *out);
void climp_scan_backward_ref(const climp_scan_shape *s, const float *u, const float *delta_raw,
                             const float *A_log, const float *Bm, const float *Cm, const float *D,
                             const float *delta_bias, const float *z, const float *dout, float *du,
                             float *ddelta_raw, float *dA_log, float *dBm, float *dCm, float *dD,
                             float *ddelta_bias, float *dz);
/* The same in double precision (used by the finite-difference test). */
void climp_scan_forward_ref_f64(const climp_scan_shape *s, const double *u, const double *delta_raw,
                                const double *A_log, const double *Bm, const double *Cm,
                                const double *D, const double *delta_bias, const double *z,
                                double *out);
void climp_scan_backward_ref_f64(const climp_scan_shape *s, const double *u,
                                 const double *delta_raw, const double *A_log, const double *Bm,
                                 const double *Cm, const double *D, const double *delta_bias,
                                 const double *z, const double *dout, double *du,
                                 double *ddelta_raw, double *dA_log, double *dBm, double *dCm,
                                 double *dD, double *ddelta_bias, double *dz);

/* Extent in floats of a (B, L, Dc) tensor with token stride ld, and of the B/C layout: what a
 * view must hold (tests and callers use these to size buffers). */
size_t climp_scan_tok_extent(const climp_scan_shape *s, int ld);
size_t climp_scan_bc_extent(const climp_scan_shape *s);

#ifdef __cplusplus
}
#endif
#endif
