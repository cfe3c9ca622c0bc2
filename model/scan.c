/* Host launchers of the selective scan (model/scan.h): validate every argument, pick the variant
 * and chunk mapping, set arguments and enqueue the kernels of cl_kernels/scan.cl (CPU and GPU
 * variants) or cl_kernels/scan_fpga.cl (FPGA single work-item variant). C reference:
 * model/scan_ref.c. Nothing is enqueued when an argument is wrong. */
#include "model/scan.h"

#include <stdio.h>
#include <string.h>

#define SCAN_SRC "scan"
#define N1_SRC "scan_n1"
#define FPGA_SRC "scan_fpga"
#define N1_CB 8     /* scan_n1.cl: vector width, */
#define N1_NV 4     /* vectors advanced together, */
#define N1_NWMAX 32 /* vectors per work-item at most, */
#define N1_NWF 128  /* the forward's capacity (whole groups), */
#define N1_PF 16    /* forward prefetch distance (tokens) */
#define FPGA_BUF_FLOATS 16384 /* CHUNK * CH * N bound of the FPGA backward's chunk buffer */
#define DEFAULT_CHUNK 64
#define DEFAULT_CB 16
#define DEFAULT_WG 64
#define RED_WG 64               /* local size of the carry and reduction kernels */
#define MAX_PRIVATE_FLOATS 4096 /* CHUNKMAX * CB bound: the backward keeps 8 such arrays */

/* Resolved tunables and the derived sizes of one call. */
typedef struct plan {
    int B, L, Dc, N, G, cpg, K, chunk, cb, wg, gpu, seq;
    int n1; /* the CPU_N1 variant (scan_n1.cl) */
    int nmax, chunkmax; /* compile-time capacities (program buckets) */
    int nblk_item; /* channel blocks per group as work-items (forward, phase A, CPU backward) */
    int nblk_part; /* dBm/dCm partials per group: CPU blocks or GPU work-groups */
    int nblk_fwd; /* the forward's nblk argument: nblk_item, or -(whole groups per work-item) */
    int kslab, Ls, bslab; /* chunks, tokens and batch elements per backward slab */
    size_t n_st, n_sd, n_q, n_pd, n_p;
} plan;

static int heuristic_cb(int chunk);

static int is_pow2(int x) {
    return x > 0 && (x & (x - 1)) == 0;
}
static int cdiv(int a, int b) {
    return (a + b - 1) / b;
}
/* Program buckets, so that few programs serve every shape: chunk capacity 64, 256 or 1024. */
static int chunk_bucket(int chunk) {
    return chunk <= 64 ? 64 : chunk <= 256 ? 256 : 1024;
}

static climp_status check_tunables(const climp_scan_shape *s) {
    if (s->chunk < 0 || s->chunk > 1024 || s->variant < 0 || s->variant > CLIMP_SCAN_CPU_N1 ||
        (s->cb && s->cb != 1 && s->cb != 2 && s->cb != 4 && s->cb != 8 && s->cb != 16) ||
        (s->wg && (!is_pow2(s->wg) || s->wg > 256)) || s->split < 0 ||
        s->split > CLIMP_SCAN_SPLIT_SEQUENTIAL || s->slab < 0) {
        climp_error_set("scan: bad tunables chunk=%d variant=%d cb=%d wg=%d split=%d", s->chunk,
                        s->variant, s->cb, s->wg, s->split);
        return CLIMP_ERR_INVALID_ARG;
    }
    int chunk = s->chunk ? s->chunk : DEFAULT_CHUNK, cb = s->cb ? s->cb : heuristic_cb(chunk);
    if (s->variant == CLIMP_SCAN_CPU_N1 && (s->N != 1 || chunk > 64)) {
        climp_error_set("scan: the cpu-n1 variant needs N = 1 and chunk <= 64 (N %d, chunk %d)",
                        s->N, chunk);
        return CLIMP_ERR_INVALID_ARG;
    }
    if (s->variant != CLIMP_SCAN_GPU && s->variant != CLIMP_SCAN_FPGA &&
        (long)chunk_bucket(chunk) * cb > MAX_PRIVATE_FLOATS) {
        climp_error_set("scan: chunk %d (capacity %d) x cb %d exceeds %d private floats", chunk,
                        chunk_bucket(chunk), cb, MAX_PRIVATE_FLOATS);
        return CLIMP_ERR_INVALID_ARG;
    }
    return CLIMP_OK;
}

/* The backward's slabs and dBm/dCm partial size for p's block count (see make_plan). */
static void plan_slabs(plan *p, int slab) {
    size_t cap = (size_t)1 << 22, tok = (size_t)p->B * p->L * p->Dc;
    if (tok > cap)
        cap = tok;
    const size_t rows = slab > 0 ? (size_t)slab : cap / (2 * (size_t)p->G * p->nblk_part * p->N);
    const size_t bchunk = (size_t)p->B * p->chunk;
    p->kslab = rows < bchunk ? 1 : (rows / bchunk > (size_t)p->K ? p->K : (int)(rows / bchunk));
    p->bslab = rows >= bchunk ? p->B : (rows / p->chunk < 1 ? 1 : (int)(rows / p->chunk));
    p->Ls = p->kslab * p->chunk;
    p->n_p = (size_t)p->bslab * p->Ls * p->G * p->nblk_part * p->N;
}

/* Sizes for a given variant (gpu 0/1). The backward runs in slabs of (batch elements, chunks)
 * of at most `rows` (batch element, token) rows, by default as many as keep the dBm/dCm partials
 * within max(2^22, B*L*Dc) floats: all of B and as many chunks as fit, or, when one chunk of all
 * of B is already too much, one chunk and as many batch elements as fit. */
static plan make_plan(const climp_scan_shape *s, int gpu) {
    plan p;
    memset(&p, 0, sizeof p);
    p.B = s->B, p.L = s->L, p.Dc = s->Dc, p.N = s->N, p.G = s->G, p.cpg = s->Dc / s->G;
    p.chunk = s->chunk ? s->chunk : DEFAULT_CHUNK;
    p.K = cdiv(s->L, p.chunk);
    p.gpu = gpu;
    p.cb = gpu ? 1 : (s->cb ? s->cb : heuristic_cb(p.chunk));
    p.wg = s->wg ? s->wg : DEFAULT_WG;
    p.nblk_item = cdiv(p.cpg, p.cb);
    p.nblk_part = gpu ? cdiv(p.cpg, p.wg) : p.nblk_item;
    p.nblk_fwd = p.nblk_item;
    p.chunkmax = chunk_bucket(p.chunk);
    /* CPU: one state capacity for all N (stack memory); GPU: registers, so 16, 64 or 256 */
    p.nmax = !gpu ? 256 : p.N <= 16 ? 16 : p.N <= 64 ? 64 : 256;
    const size_t bk = (size_t)p.B * p.K, dn = (size_t)p.Dc * p.N;
    p.n_st = bk * dn;
    p.n_sd = bk * p.Dc;
    p.n_q = bk * dn;
    p.n_pd = bk * p.Dc;
    plan_slabs(&p, s->slab);
    return p;
}

size_t climp_scan_states_size(const climp_scan_shape *s) {
    if (climp_scan_check_shape(s) != CLIMP_OK || check_tunables(s) != CLIMP_OK)
        return 0;
    plan p = make_plan(s, 0);
    return p.n_st + p.n_sd;
}

static size_t scratch_of(const plan *p) {
    return p->n_q + 2 * p->n_pd + 2 * p->n_p;
}

size_t climp_scan_bwd_scratch_size(const climp_scan_shape *s) {
    if (climp_scan_check_shape(s) != CLIMP_OK || check_tunables(s) != CLIMP_OK)
        return 0;
    if (s->variant == CLIMP_SCAN_FPGA)
        return 0; /* the FPGA backward keeps everything on chip */
    /* automatic cb / wg: room for every value the tuning table may choose (cb 4..16, wg
     * 16..256), so that a tuned value fits the caller's scratch */
    size_t cpu = 0, gpu = 0;
    for (int w = 4; w <= 256; w *= 2) {
        climp_scan_shape t = *s;
        t.cb = s->cb ? s->cb : w <= 16 ? w : 0;
        t.wg = s->wg ? s->wg : w >= 16 ? w : 0;
        if (t.cb && check_tunables(&t) == CLIMP_OK) {
            const plan pc = make_plan(&t, 0);
            cpu = scratch_of(&pc) > cpu ? scratch_of(&pc) : cpu;
        }
        if (t.wg) {
            const plan pg = make_plan(&t, 1);
            gpu = scratch_of(&pg) > gpu ? scratch_of(&pg) : gpu;
        }
    }
    if (s->variant == CLIMP_SCAN_CPU)
        return cpu;
    if (s->variant == CLIMP_SCAN_GPU)
        return gpu;
    return cpu > gpu ? cpu : gpu;
}

/* Heuristic channels per CPU work-item when cb is 0: 16 (measured on PoCL 3.1 / AVX2 at the
 * Mamba-130m and VMamba-T shapes: the backward 1.2-1.5x faster than 8, the forward equal; 4 is
 * 2x slower), fewer where the backward's private chunk arrays would exceed their bound. Context
 * free, so that the size functions above see it. */
static int heuristic_cb(int chunk) {
    int cb = DEFAULT_CB;
    while (cb > 1 && (long)chunk_bucket(chunk > 0 ? chunk : DEFAULT_CHUNK) * cb > MAX_PRIVATE_FLOATS)
        cb /= 2;
    return cb;
}

static int tune(climp_ctx *ctx, const char *param, int N, int fallback) {
    char key[48];
    snprintf(key, sizeof key, "scan.%s@N%d", param, N);
    return climp_tune_int(ctx, key, fallback);
}

/* Does plan p (variant gpu) fit the states and scratch that the context-free size functions give
 * for the caller's shape s? Tuned values must not outgrow the caller's buffers. */
static int fits(const climp_scan_shape *s, const climp_scan_shape *t, int gpu) {
    const plan p = make_plan(t, gpu);
    return p.n_st + p.n_sd <= climp_scan_states_size(s) &&
           scratch_of(&p) <= climp_scan_bwd_scratch_size(s);
}

/* The shape with every automatic tunable (0 field, AUTO variant / split) resolved: the built-in
 * heuristic, overridden by the tuning table (model/scan.h lists the keys). A tuned value that is
 * invalid, or whose plan would not fit the context-free states / scratch sizes, is ignored. Pure
 * function of (s, device, table): forward and backward resolve alike. */
static climp_scan_shape resolve_auto(climp_ctx *ctx, const climp_scan_shape *s, int *gpu) {
    const climp_device_info *info = climp_ctx_info(ctx);
    const int N = s->N;
    climp_scan_shape r = *s, h = *s;
    int v = s->variant;
    if (v == CLIMP_SCAN_AUTO) {
        const int n1 = N == 1 && (s->chunk ? s->chunk : DEFAULT_CHUNK) <= 64;
        const int dflt = !info->is_cpu ? CLIMP_SCAN_GPU : n1 ? CLIMP_SCAN_CPU_N1 : CLIMP_SCAN_CPU;
        v = tune(ctx, "variant", N, dflt);
        if (v != CLIMP_SCAN_CPU && v != CLIMP_SCAN_GPU && !(v == CLIMP_SCAN_CPU_N1 && n1))
            v = dflt;
    }
    /* heuristic values first, then each tuned value on top where it is valid and fits */
    h.variant = r.variant = v;
    h.chunk = s->chunk ? s->chunk : DEFAULT_CHUNK;
    h.cb = s->cb ? s->cb : heuristic_cb(h.chunk);
    h.wg = s->wg ? s->wg : DEFAULT_WG;
    r.chunk = s->chunk ? s->chunk : tune(ctx, "chunk", N, h.chunk);
    r.cb = s->cb ? s->cb : tune(ctx, "cb", N, heuristic_cb(r.chunk));
    r.wg = s->wg ? s->wg : tune(ctx, "wg", N, h.wg);
    *gpu = v == CLIMP_SCAN_GPU;
    if (check_tunables(&r) != CLIMP_OK || !fits(s, &r, *gpu)) {
        r = h;
        if (!fits(s, &r, *gpu)) /* only a variant the caller forced can get here */
            r.cb = s->cb, r.chunk = s->chunk, r.wg = s->wg;
    }
    return r;
}

/* Can the CPU_N1 forward give each work-item `gpi` whole groups (rows of gpi * cpg channels)?
 * Every group must be whole vectors, a multiple of NV of them, and gpi groups must fit the
 * kernel's capacity. Measured (scripts/bench_ab, PoCL 3.1, 2-core EPYC, VMamba-T stage 0 at
 * batch 8, 77 MB per tensor): whole rows of 4 groups (8 work-items) 1.27x faster than blocks of
 * 12 vectors (64 work-items; paired over 8 rounds against the previous build, IQR 1.20-1.38;
 * 1.67x in an earlier 6-round run), 2 groups 1.09x: a work-item that reads and writes whole
 * 3 KB rows keeps the memory streams sequential, where blocks read 384 B pieces 3 KB apart.
 * At batch 1 (2 work-items of 2 groups against 8 blocks) the same
 * within noise, so the automatic choice keeps `target` work-items. The backward keeps its
 * blocks: the same whole-row mapping there (prefetching the next chunk's rows whole, in order)
 * measured 0.89-0.99x. */
static int n1_rows_ok(const plan *p, int gpi) {
    const int vpg = p->cpg / N1_CB;
    return gpi > 1 && p->G % gpi == 0 && p->cpg % N1_CB == 0 && vpg % N1_NV == 0 &&
           gpi * vpg <= N1_NWF;
}

/* Turns a CPU plan into the CPU_N1 one (scan_n1.cl) when it fits the caller's buffers: blocks of
 * up to N1_NWMAX vectors, as few per group as still give 4 work-items per compute unit, but at
 * least 2 per group of more than 2 NV vectors (VMamba-T stage 0 at batch 8, beyond the last-level
 * cache: blocks of 12 vectors ran the forward 1.03x and 1.10x faster than whole groups of 24 in
 * two A/B runs whose arms swapped order every round, the backward the same within noise; a
 * shorter prefetch distance with whole groups did not do the same), the sequential split. nw
 * per block follows from nblk by the kernel's formula (BLOCK_SETUP). Returns 0 (p unchanged)
 * when it does not fit. */
static int n1_plan(const climp_device_info *info, const climp_scan_shape *s, plan *p) {
    const int vpg = cdiv(p->cpg, N1_CB);
    const long target = 4L * (info->compute_units ? info->compute_units : 1);
    const long per = (long)p->B * p->G;
    int nblk = (int)((target + per - 1) / per);
    if (nblk < 2 && vpg > 2 * N1_NV) /* a group in two blocks even when the batch gives */
        nblk = 2;                     /* enough work-items: see the function's comment */
    if (nblk > cdiv(vpg, N1_NV))
        nblk = cdiv(vpg, N1_NV);
    if (nblk < cdiv(vpg, N1_NWMAX))
        nblk = cdiv(vpg, N1_NWMAX);
    plan q = *p;
    q.n1 = 1; /* q.cb stays: the reductions come from that scan.cl program */
    q.nblk_item = q.nblk_part = q.nblk_fwd = nblk;
    q.seq = 1;
    /* The forward: whole groups per work-item (s->rows, else as many as still leave `target`
     * work-items), so that each streams whole rows; see n1_rows_ok. */
    if (s->rows > 1 && n1_rows_ok(p, s->rows))
        q.nblk_fwd = -s->rows;
    else if (s->rows == 0)
        for (int gpi = p->G; gpi > 1; gpi--)
            if (n1_rows_ok(p, gpi) && per / gpi >= target) {
                q.nblk_fwd = -gpi;
                break;
            }
    plan_slabs(&q, s->slab);
    if (q.n_st + q.n_sd > climp_scan_states_size(s) ||
        q.n_q + 2 * q.n_pd + 2 * q.n_p > climp_scan_bwd_scratch_size(s))
        return 0;
    *p = q;
    return 1;
}

/* The plan for this device: AUTO variant, tunables and split resolved. */
static plan device_plan(climp_ctx *ctx, const climp_scan_shape *s) {
    const climp_device_info *info = climp_ctx_info(ctx);
    int gpu = 0;
    const climp_scan_shape r = resolve_auto(ctx, s, &gpu);
    plan p = make_plan(&r, gpu);
    if (r.variant == CLIMP_SCAN_CPU_N1 && n1_plan(info, s, &p))
        return p;
    long items = (long)p.B * p.G * p.nblk_item;
    long target = (long)(info->compute_units ? info->compute_units : 1) * (info->is_cpu ? 4 : 256);
    int split = s->split;
    if (split == CLIMP_SCAN_SPLIT_AUTO) {
        split = items >= target || p.K == 1 ? CLIMP_SCAN_SPLIT_SEQUENTIAL : CLIMP_SCAN_SPLIT_CHUNKS;
        const int t = tune(ctx, "split", s->N, split);
        if (t == CLIMP_SCAN_SPLIT_CHUNKS || t == CLIMP_SCAN_SPLIT_SEQUENTIAL)
            split = t;
    }
    p.seq = split == CLIMP_SCAN_SPLIT_SEQUENTIAL || p.K == 1;
    return p;
}

/* Streaming stores for the CPU_N1 backward's du and ddelta_raw: only while one such tensor fits
 * the device's global memory cache. Measured (scripts/bench_ab, PoCL 3.1 on the 2-core EPYC with
 * a 32 MiB L3, VMamba-T stage 0 shapes, 6 alternating rounds): at 19 MB per tensor (B L = 6272
 * tokens, batch 2 or batch 4 of half length or batch 8 of a quarter) streaming stores were
 * 1.19-1.28x faster than plain ones; at 38.5 MB (12544 tokens, as batch 4 or one sequence of 4x
 * the length) plain stores were 1.37-1.47x faster, and at batch 8 (77 MB) 1.38-1.57x: there the
 * backward with streaming stores fell from ~40% to ~22% of the bandwidth bound, with plain ones
 * it holds ~30% at every size. The forward's single streaming stream keeps them at every size
 * (plain stores 0.64-0.91x). No cache size reported: streaming stores, as before. */
static int bwd_streaming(const climp_device_info *info, const plan *p) {
    const double tensor = (double)p->B * p->L * p->Dc * sizeof(float);
    return !info->global_mem_cache_bytes || tensor <= (double)info->global_mem_cache_bytes;
}

/* FPGA variant: forced by the caller, or AUTO on a context of the "fpga" kernel variant. */
static int use_fpga(climp_ctx *ctx, const climp_scan_shape *s) {
    return s->variant == CLIMP_SCAN_FPGA ||
           (s->variant == CLIMP_SCAN_AUTO && !strcmp(climp_ctx_variant(ctx), "fpga"));
}

/* Channels per block of the FPGA variant: cb (default 16), halved until the backward's chunk
 * buffer (chunk x CH x N floats) fits; 0 when even one channel does not fit. */
static int fpga_ch(const climp_scan_shape *s) {
    const long chunk = s->chunk ? s->chunk : DEFAULT_CHUNK;
    int ch = s->cb ? s->cb : 16;
    while (ch > 1 && chunk * ch * s->N > FPGA_BUF_FLOATS)
        ch /= 2;
    return chunk * ch * s->N > FPGA_BUF_FLOATS ? 0 : ch;
}

climp_scan_shape climp_scan_resolve(climp_ctx *ctx, const climp_scan_shape *s) {
    climp_scan_shape r = *s;
    if (use_fpga(ctx, s)) {
        r.variant = CLIMP_SCAN_FPGA;
        r.chunk = s->chunk ? s->chunk : DEFAULT_CHUNK;
        r.cb = fpga_ch(s);
        r.wg = 1;
        r.split = CLIMP_SCAN_SPLIT_SEQUENTIAL;
        r.slab = 0;
        r.rows = 0;
        return r;
    }
    plan p = device_plan(ctx, s);
    r.chunk = p.chunk;
    r.variant = p.gpu ? CLIMP_SCAN_GPU : p.n1 ? CLIMP_SCAN_CPU_N1 : CLIMP_SCAN_CPU;
    r.cb = p.n1 ? N1_CB : p.cb;
    r.wg = p.wg;
    r.split = p.seq ? CLIMP_SCAN_SPLIT_SEQUENTIAL : CLIMP_SCAN_SPLIT_CHUNKS;
    r.slab = p.Ls * p.bslab;
    r.rows = p.n1 ? (p.nblk_fwd < 0 ? -p.nblk_fwd : 1) : 0;
    return r;
}

/* ---------------------------------------------------------------- validation */

static int present(climp_tview v) {
    return v.buf != NULL && v.n > 0;
}

static climp_status need(climp_tview v, size_t n, const char *what) {
    if (!v.buf) {
        climp_error_set("scan: %s: missing view", what);
        return CLIMP_ERR_INVALID_ARG;
    }
    if (v.n < n) {
        climp_error_set("scan: %s: view holds %zu floats, shape needs %zu", what, v.n, n);
        return CLIMP_ERR_BUFFER_TOO_SMALL;
    }
    return CLIMP_OK;
}

static int ld_or(int ld, int dflt) {
    return ld ? ld : dflt;
}

/* Checks common to forward and backward: shape, tunables, inputs. */
static climp_status check_inputs(climp_ctx *ctx, const climp_scan_shape *s, climp_tview u,
                                 climp_tview dt, climp_tview A_log, climp_tview Bm, climp_tview Cm,
                                 climp_tview D, climp_tview bias, climp_tview z,
                                 climp_tview states) {
    if (!ctx)
        return CLIMP_ERR_INVALID_ARG;
    CLIMP_TRY(climp_scan_check_shape(s));
    CLIMP_TRY(check_tunables(s));
    if (present(z) && s->ld_z < s->Dc) {
        climp_error_set("scan: z given with ld_z %d < Dc %d", s->ld_z, s->Dc);
        return CLIMP_ERR_SHAPE;
    }
    const size_t dn = (size_t)s->Dc * s->N, bc = climp_scan_bc_extent(s);
    CLIMP_TRY(need(u, climp_scan_tok_extent(s, s->ld_u), "u"));
    CLIMP_TRY(need(dt, climp_scan_tok_extent(s, s->ld_dt), "delta_raw"));
    CLIMP_TRY(need(A_log, dn, "A_log"));
    CLIMP_TRY(need(Bm, bc, "Bm"));
    CLIMP_TRY(need(Cm, bc, "Cm"));
    CLIMP_TRY(need(D, (size_t)s->Dc, "D"));
    CLIMP_TRY(need(bias, (size_t)s->Dc, "delta_bias"));
    if (present(z))
        CLIMP_TRY(need(z, climp_scan_tok_extent(s, s->ld_z), "z"));
    CLIMP_TRY(need(states, climp_scan_states_size(s), "states"));
    return CLIMP_OK;
}

/* Kernel `name` of scan.cl for plan p; for a CPU_N1 plan, scan_fwd / scan_bwd come from
 * scan_n1.cl (scan_fwd_n1 / scan_bwd_n1) and the reductions from scan.cl's CPU program. */
static climp_status get_kernel(climp_ctx *ctx, const plan *p, const char *name, climp_kernel **k) {
    char defs[96], n1name[32];
    if (p->n1 && (!strcmp(name, "scan_fwd") || !strcmp(name, "scan_bwd"))) {
        snprintf(defs, sizeof defs, "CB=%d NV=%d NWMAX=%d NWF=%d CHUNKMAX=64 PF=%d", N1_CB, N1_NV,
                 N1_NWMAX, N1_NWF, N1_PF);
        snprintf(n1name, sizeof n1name, "%s_n1", name);
        return climp_kernel_get(ctx, N1_SRC, defs, n1name, k);
    }
    snprintf(defs, sizeof defs, "NMAX=%d CB=%d CHUNKMAX=%d GPU=%d", p->nmax, p->cb, p->chunkmax,
             p->gpu);
    return climp_kernel_get(ctx, SCAN_SRC, defs, name, k);
}

/* The TOK_ARGS block of scan.cl (views count as one here, two in the kernel). */
static int tok_args(climp_karg *a, const plan *p, const climp_scan_shape *s, climp_tview u,
                    climp_tview dt, climp_tview A_log, climp_tview Bm, climp_tview Cm,
                    climp_tview D, climp_tview bias, climp_tview z) {
    int i = 0, hz = present(z);
    a[i++] = climp_arg_i32(p->B);
    a[i++] = climp_arg_i32(p->L);
    a[i++] = climp_arg_i32(p->Dc);
    a[i++] = climp_arg_i32(p->N);
    a[i++] = climp_arg_i32(p->G);
    a[i++] = climp_arg_i32(p->nblk_item);
    a[i++] = climp_arg_i32(p->chunk);
    a[i++] = climp_arg_view(u);
    a[i++] = climp_arg_i32(s->ld_u);
    a[i++] = climp_arg_view(dt);
    a[i++] = climp_arg_i32(s->ld_dt);
    a[i++] = climp_arg_view(A_log);
    a[i++] = climp_arg_view(Bm);
    a[i++] = climp_arg_view(Cm);
    a[i++] = climp_arg_u64(s->bc_stride_b);
    a[i++] = climp_arg_u64(s->bc_stride_l);
    a[i++] = climp_arg_u64(s->bc_stride_g);
    a[i++] = climp_arg_view(D);
    a[i++] = climp_arg_view(bias);
    a[i++] = climp_arg_i32(hz);
    a[i++] = climp_arg_view(hz ? z : u); /* any valid buffer when there is no gate */
    a[i++] = climp_arg_i32(hz ? s->ld_z : s->ld_u);
    return i;
}

/* Geometry of scan_fwd / scan_bwd_adj / scan_bwd: (channel blocks, chunks, B). CPU: work-groups
 * of one work-item (each is long); GPU: wg consecutive channels. dim1 is set by the caller. */
static void item_geometry(const plan *p, size_t gws[3], size_t lws[3]) {
    const size_t items = (size_t)p->G * p->nblk_item;
    gws[0] = p->gpu ? climp_round_up(items, (size_t)p->wg) : items;
    gws[1] = 1;
    gws[2] = (size_t)p->B;
    lws[0] = p->gpu ? (size_t)p->wg : 1;
    lws[1] = lws[2] = 1;
}

/* 1-D geometry of the carry and reduction kernels: a fixed local size, n rounded up. */
static void flat_geometry(climp_ctx *ctx, size_t n, size_t *gws, size_t *lws) {
    size_t wg = RED_WG, mx = climp_ctx_info(ctx)->max_work_group_size;
    if (mx && wg > mx)
        wg = mx;
    *lws = wg;
    *gws = climp_round_up(n, wg);
}

/* ---------------------------------------------------------------- FPGA variant */

/* One program per (N, CH, chunk): fixed loop bounds for the FPGA compiler. */
static climp_status fpga_kernel(climp_ctx *ctx, const climp_scan_shape *s, const char *name,
                                climp_kernel **k) {
    const int ch = fpga_ch(s), chunk = s->chunk ? s->chunk : DEFAULT_CHUNK;
    if (!ch) {
        climp_error_set("scan: FPGA variant: chunk %d x N %d exceeds the %d-float chunk buffer; "
                        "use a smaller chunk",
                        chunk, s->N, FPGA_BUF_FLOATS);
        return CLIMP_ERR_UNSUPPORTED;
    }
    char defs[64];
    snprintf(defs, sizeof defs, "NS=%d CH=%d CHUNK=%d", s->N, ch, chunk);
    return climp_kernel_get(ctx, FPGA_SRC, defs, name, k);
}

/* The FPGA_IN_ARGS block of scan_fpga.cl (views count as one here, two in the kernel). */
static int fpga_in_args(climp_karg *a, const climp_scan_shape *s, climp_tview u, climp_tview dt,
                        climp_tview A_log, climp_tview Bm, climp_tview Cm, climp_tview D,
                        climp_tview bias, climp_tview z) {
    int i = 0, hz = present(z);
    a[i++] = climp_arg_i32(s->B);
    a[i++] = climp_arg_i32(s->L);
    a[i++] = climp_arg_i32(s->Dc);
    a[i++] = climp_arg_i32(s->G);
    a[i++] = climp_arg_view(u);
    a[i++] = climp_arg_i32(s->ld_u);
    a[i++] = climp_arg_view(dt);
    a[i++] = climp_arg_i32(s->ld_dt);
    a[i++] = climp_arg_view(A_log);
    a[i++] = climp_arg_view(Bm);
    a[i++] = climp_arg_view(Cm);
    a[i++] = climp_arg_u64(s->bc_stride_b);
    a[i++] = climp_arg_u64(s->bc_stride_l);
    a[i++] = climp_arg_u64(s->bc_stride_g);
    a[i++] = climp_arg_view(D);
    a[i++] = climp_arg_view(bias);
    a[i++] = climp_arg_i32(hz);
    a[i++] = climp_arg_view(hz ? z : u); /* any valid buffer when there is no gate */
    a[i++] = climp_arg_i32(hz ? s->ld_z : s->ld_u);
    return i;
}

static const size_t k_one[1] = {1};

/* ---------------------------------------------------------------- forward */

climp_status climp_scan_forward(climp_ctx *ctx, const climp_scan_shape *s, climp_tview u,
                                climp_tview delta_raw, climp_tview A_log, climp_tview Bm,
                                climp_tview Cm, climp_tview D, climp_tview delta_bias,
                                climp_tview z, climp_tview out, climp_tview states) {
    CLIMP_TRY(check_inputs(ctx, s, u, delta_raw, A_log, Bm, Cm, D, delta_bias, z, states));
    CLIMP_TRY(need(out, climp_scan_tok_extent(s, s->ld_out), "out"));
    if (use_fpga(ctx, s)) {
        climp_kernel *k = NULL;
        CLIMP_TRY(fpga_kernel(ctx, s, "scan_fwd_swi", &k));
        climp_karg a[32];
        int n = fpga_in_args(a, s, u, delta_raw, A_log, Bm, Cm, D, delta_bias, z);
        a[n++] = climp_arg_view(out);
        a[n++] = climp_arg_i32(s->ld_out);
        a[n++] = climp_arg_view(states);
        return climp_launch(ctx, k, 1, k_one, k_one, n, a);
    }
    const plan p = device_plan(ctx, s);
    climp_kernel *kf = NULL, *kc = NULL;
    CLIMP_TRY(get_kernel(ctx, &p, "scan_fwd", &kf));
    if (!p.seq && p.K > 1)
        CLIMP_TRY(get_kernel(ctx, &p, "scan_carry", &kc));
    climp_tview st = climp_view_sub(states, 0, p.n_st), sd = climp_view_sub(states, p.n_st, p.n_sd);
    climp_karg a[40];
    int n = tok_args(a, &p, s, u, delta_raw, A_log, Bm, Cm, D, delta_bias, z);
    a[n++] = climp_arg_view(out);
    a[n++] = climp_arg_i32(s->ld_out);
    a[n++] = climp_arg_view(st);
    a[n++] = climp_arg_view(sd);
    const int imode = n++;
    size_t gws[3], lws[3];
    item_geometry(&p, gws, lws);
    if (p.nblk_fwd < 0) { /* whole groups per work-item: tok_args' nblk (a[5]) */
        a[5] = climp_arg_i32(p.nblk_fwd);
        gws[0] = (size_t)(p.G / -p.nblk_fwd);
    }
    if (p.seq || p.K == 1) {
        a[imode] = climp_arg_i32(1);
        return climp_launch(ctx, kf, 3, gws, lws, n, a);
    }
    a[imode] = climp_arg_i32(2); /* local chunk-end states of chunks 0..K-2 */
    gws[1] = (size_t)p.K - 1;
    CLIMP_TRY(climp_launch(ctx, kf, 3, gws, lws, n, a));
    size_t gc, lc;
    flat_geometry(ctx, (size_t)p.B * p.Dc * p.N, &gc, &lc);
    CLIMP_TRY(CLIMP_LAUNCH(ctx, kc, 1, &gc, &lc, climp_arg_i32(p.B), climp_arg_i32(p.L),
                           climp_arg_i32(p.Dc), climp_arg_i32(p.N), climp_arg_i32(p.chunk),
                           climp_arg_view(A_log), climp_arg_view(st), climp_arg_view(sd),
                           climp_arg_i32(0)));
    a[imode] = climp_arg_i32(0); /* every chunk from its true initial state */
    gws[1] = (size_t)p.K;
    return climp_launch(ctx, kf, 3, gws, lws, n, a);
}

/* ---------------------------------------------------------------- backward */

climp_status climp_scan_backward(climp_ctx *ctx, const climp_scan_shape *s, climp_tview u,
                                 climp_tview delta_raw, climp_tview A_log, climp_tview Bm,
                                 climp_tview Cm, climp_tview D, climp_tview delta_bias,
                                 climp_tview z, climp_tview states, climp_tview dout,
                                 climp_tview scratch, climp_tview du, climp_tview ddelta_raw,
                                 climp_tview dA_log, climp_tview dBm, climp_tview dCm,
                                 climp_tview dD, climp_tview ddelta_bias, climp_tview dz) {
    CLIMP_TRY(check_inputs(ctx, s, u, delta_raw, A_log, Bm, Cm, D, delta_bias, z, states));
    const int hz = present(z);
    const int ld_dout = ld_or(s->ld_dout, s->ld_out), ld_du = ld_or(s->ld_du, s->ld_u);
    const int ld_ddt = ld_or(s->ld_ddt, s->ld_dt), ld_dz = ld_or(s->ld_dz, s->ld_z);
    if (hz && ld_dz < s->Dc)
        return CLIMP_ERR_SHAPE;
    const size_t bc = climp_scan_bc_extent(s), dn = (size_t)s->Dc * s->N;
    CLIMP_TRY(need(dout, climp_scan_tok_extent(s, ld_dout), "dout"));
    const int fpga = use_fpga(ctx, s);
    if (!fpga) /* the FPGA variant needs no scratch */
        CLIMP_TRY(need(scratch, climp_scan_bwd_scratch_size(s), "scratch"));
    CLIMP_TRY(need(du, climp_scan_tok_extent(s, ld_du), "du"));
    CLIMP_TRY(need(ddelta_raw, climp_scan_tok_extent(s, ld_ddt), "ddelta_raw"));
    CLIMP_TRY(need(dA_log, dn, "dA_log"));
    CLIMP_TRY(need(dBm, bc, "dBm"));
    CLIMP_TRY(need(dCm, bc, "dCm"));
    CLIMP_TRY(need(dD, (size_t)s->Dc, "dD"));
    CLIMP_TRY(need(ddelta_bias, (size_t)s->Dc, "ddelta_bias"));
    if (hz)
        CLIMP_TRY(need(dz, climp_scan_tok_extent(s, ld_dz), "dz"));
    if (fpga) {
        climp_kernel *k = NULL;
        CLIMP_TRY(fpga_kernel(ctx, s, "scan_bwd_swi", &k));
        climp_karg a[48];
        int n = fpga_in_args(a, s, u, delta_raw, A_log, Bm, Cm, D, delta_bias, z);
        a[n++] = climp_arg_view(states);
        a[n++] = climp_arg_view(dout);
        a[n++] = climp_arg_i32(ld_dout);
        a[n++] = climp_arg_view(du);
        a[n++] = climp_arg_i32(ld_du);
        a[n++] = climp_arg_view(ddelta_raw);
        a[n++] = climp_arg_i32(ld_ddt);
        a[n++] = climp_arg_view(hz ? dz : du); /* never written without a gate */
        a[n++] = climp_arg_i32(hz ? ld_dz : ld_du);
        a[n++] = climp_arg_view(dA_log);
        a[n++] = climp_arg_view(dBm);
        a[n++] = climp_arg_view(dCm);
        a[n++] = climp_arg_view(dD);
        a[n++] = climp_arg_view(ddelta_bias);
        return climp_launch(ctx, k, 1, k_one, k_one, n, a);
    }
    const plan p = device_plan(ctx, s);
    const climp_device_info *info = climp_ctx_info(ctx);
    if (p.gpu && ((size_t)p.wg > info->max_work_group_size ||
                  (uint64_t)2 * p.chunkmax * p.wg * sizeof(float) > info->local_mem_bytes)) {
        climp_error_set("scan: GPU variant wg=%d chunk=%d does not fit this device", p.wg, p.chunk);
        return CLIMP_ERR_UNSUPPORTED;
    }
    climp_kernel *kb = NULL, *ka = NULL, *kcar = NULL, *krbc = NULL, *krp = NULL;
    CLIMP_TRY(get_kernel(ctx, &p, p.gpu ? "scan_bwd_wg" : "scan_bwd", &kb));
    CLIMP_TRY(get_kernel(ctx, &p, "scan_bwd_reduce_bc", &krbc));
    CLIMP_TRY(get_kernel(ctx, &p, "scan_bwd_reduce_params", &krp));
    if (!p.seq && p.K > 1) {
        CLIMP_TRY(get_kernel(ctx, &p, "scan_bwd_adj", &ka));
        CLIMP_TRY(get_kernel(ctx, &p, "scan_carry", &kcar));
    }
    climp_tview st = climp_view_sub(states, 0, p.n_st), sd = climp_view_sub(states, p.n_st, p.n_sd);
    size_t o = 0;
    climp_tview q = climp_view_sub(scratch, o, p.n_q);
    climp_tview pdd = climp_view_sub(scratch, o += p.n_q, p.n_pd);
    climp_tview pdb = climp_view_sub(scratch, o += p.n_pd, p.n_pd);
    climp_tview pB = climp_view_sub(scratch, o += p.n_pd, p.n_p);
    climp_tview pC = climp_view_sub(scratch, o += p.n_p, p.n_p);
    climp_karg a[80];
    int n = tok_args(a, &p, s, u, delta_raw, A_log, Bm, Cm, D, delta_bias, z);
    a[n++] = climp_arg_view(dout);
    a[n++] = climp_arg_i32(ld_dout);
    const int ntok = n;
    if (ka) { /* phases A and B: chunk carries of the adjoint */
        a[n++] = climp_arg_view(q);
        size_t g3[3], l3[3], gc, lc;
        item_geometry(&p, g3, l3);
        g3[1] = (size_t)p.K - 1;
        CLIMP_TRY(climp_launch(ctx, ka, 3, g3, l3, n, a));
        flat_geometry(ctx, (size_t)p.B * p.Dc * p.N, &gc, &lc);
        CLIMP_TRY(CLIMP_LAUNCH(ctx, kcar, 1, &gc, &lc, climp_arg_i32(p.B), climp_arg_i32(p.L),
                               climp_arg_i32(p.Dc), climp_arg_i32(p.N), climp_arg_i32(p.chunk),
                               climp_arg_view(A_log), climp_arg_view(q), climp_arg_view(sd),
                               climp_arg_i32(1)));
    }
    n = ntok;
    a[5] = climp_arg_i32(p.nblk_part); /* scan_bwd_wg: blocks of wg channels per group */
    a[n++] = climp_arg_view(st);
    a[n++] = climp_arg_view(q);
    a[n++] = climp_arg_view(pdd);
    a[n++] = climp_arg_view(pdb);
    a[n++] = climp_arg_view(pB);
    a[n++] = climp_arg_view(pC);
    a[n++] = climp_arg_i32(p.Ls);
    a[n++] = climp_arg_view(du);
    a[n++] = climp_arg_i32(ld_du);
    a[n++] = climp_arg_view(ddelta_raw);
    a[n++] = climp_arg_i32(ld_ddt);
    a[n++] = climp_arg_view(hz ? dz : du);
    a[n++] = climp_arg_i32(hz ? ld_dz : ld_du);
    const int ik0 = n++, ikc = n++;
    a[n++] = climp_arg_i32(p.seq);
    const int ib0 = n++;
    if (p.n1)
        a[n++] = climp_arg_i32(bwd_streaming(climp_ctx_info(ctx), &p));
    if (p.gpu)
        a[n++] = climp_arg_local((size_t)2 * p.chunkmax * p.wg * sizeof(float));
    /* Slabs: chunks from the last to the first (in sequential mode a slab hands its carry to the
     * next one through q), each for batch elements [b0, b0 + nb). */
    for (int b0 = 0; b0 < p.B; b0 += p.bslab)
        for (int ke = p.K; ke > 0; ke -= p.kslab) {
            const int k0 = ke - p.kslab > 0 ? ke - p.kslab : 0, kc = ke - k0;
            const int nb = p.B - b0 < p.bslab ? p.B - b0 : p.bslab;
            a[ik0] = climp_arg_i32(k0);
            a[ikc] = climp_arg_i32(kc);
            a[ib0] = climp_arg_i32(b0);
            size_t gws[3] = {(size_t)p.G * p.nblk_item, p.seq ? 1 : (size_t)kc, (size_t)nb};
            size_t lw[3] = {1, 1, 1};
            if (p.gpu) {
                gws[0] = (size_t)p.G * p.nblk_part * p.wg;
                lw[0] = (size_t)p.wg;
            }
            CLIMP_TRY(climp_launch(ctx, kb, 3, gws, lw, n, a));
            const int t_first = k0 * p.chunk,
                      nt = (ke * p.chunk < p.L ? ke * p.chunk : p.L) - t_first;
            size_t gr, lr;
            flat_geometry(ctx, (size_t)nb * nt * p.G * ((p.N + 15) / 16), &gr, &lr);
            CLIMP_TRY(CLIMP_LAUNCH(
                ctx, krbc, 1, &gr, &lr, climp_arg_i32(nb), climp_arg_i32(b0), climp_arg_i32(p.N),
                climp_arg_i32(p.G), climp_arg_i32(p.nblk_part), climp_arg_i32(p.Ls),
                climp_arg_i32(t_first), climp_arg_i32(nt), climp_arg_view(pB), climp_arg_view(pC),
                climp_arg_view(dBm), climp_arg_view(dCm), climp_arg_u64(s->bc_stride_b),
                climp_arg_u64(s->bc_stride_l), climp_arg_u64(s->bc_stride_g)));
        }
    size_t gp, lp;
    flat_geometry(ctx, dn, &gp, &lp);
    /* CPU_N1 leaves one dA / dD / dbias partial per slab, in the slot of the slab's last chunk
     * (slabs end at chunks K-1, K-1-kslab, ...); the other variants one per chunk */
    const int k_first = p.n1 ? (p.K - 1) % p.kslab : 0, k_step = p.n1 ? p.kslab : 1;
    return CLIMP_LAUNCH(ctx, krp, 1, &gp, &lp, climp_arg_i32(p.B), climp_arg_i32(p.K),
                        climp_arg_i32(k_first), climp_arg_i32(k_step), climp_arg_i32(p.Dc),
                        climp_arg_i32(p.N), climp_arg_view(A_log), climp_arg_view(q),
                        climp_arg_view(pdd), climp_arg_view(pdb), climp_arg_view(dA_log),
                        climp_arg_view(dD), climp_arg_view(ddelta_bias));
}
