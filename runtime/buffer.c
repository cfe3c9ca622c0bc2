/* Device buffers with memory accounting, float views, named blocking transfers, host mapping,
 * and the activation arena (bump allocation with mark/reset and a sizing mode). */
#define _DEFAULT_SOURCE
#include "runtime/rt_internal.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

/* Large buffers of CPU devices live in host memory the runtime allocates itself, on transparent
 * huge pages (madvise; CLIMP_HUGEPAGES=0 leaves every buffer to the driver). A streaming kernel
 * that walks rows a few KB apart touches a new 4 KB page every row or two, so its TLB misses
 * cost: measured (scripts/bench_ab, PoCL 3.1, 2-core EPYC, VMamba-T stage 0 at batch 8, 77 MB
 * per tensor, 8 rounds) the d_state-1 scan backward 1.07x faster paired (an A/A pair 0.99x), the
 * forward 1.16x by the fastest round, the training step of vmamba-t+mamba-130m at batch 32 the
 * same or faster. Each such
 * buffer starts at its own "colour" inside its first huge page: a different offset modulo 4 KB
 * (k x 128 B) and modulo 64 KB and 2 MB (k x 68 KB). Without it every buffer began on a 2 MB
 * boundary, so u[t] and du[t], dt[t] and ddt[t] shared their low 12 address bits and the
 * loads waited on unrelated stores (4K aliasing): the scan backward at batch 1 ran 2.0-2.9x
 * slower; with the colours, as fast as on the driver's memory. */
#define HUGE_PAGE ((size_t)2 << 20)
#define HUGE_MIN ((size_t)16 << 20) /* smaller buffers: the driver's memory (rounding waste) */

static void CL_CALLBACK free_host(cl_mem m, void *p) {
    (void)m;
    free(p);
}

/* Host memory for a buffer of `bytes`, or NULL to let the driver allocate; *at: where the
 * buffer starts in it. */
static void *huge_host(const climp_ctx *ctx, size_t bytes, char **at) {
    static unsigned counter;
    const char *e = getenv("CLIMP_HUGEPAGES");
    if (!ctx->info.is_cpu || !ctx->info.host_unified_memory || bytes < HUGE_MIN ||
        (e && !strcmp(e, "0")))
        return NULL;
    const unsigned k = __atomic_fetch_add(&counter, 1, __ATOMIC_RELAXED);
    const size_t colour = (size_t)(k % 30) * 69632 + (size_t)(k % 32) * 128;
    const size_t sz = (bytes + colour + HUGE_PAGE - 1) / HUGE_PAGE * HUGE_PAGE;
    char *p = aligned_alloc(HUGE_PAGE, sz);
    if (!p) return NULL;
    madvise(p, sz, MADV_HUGEPAGE); /* advice: without it, ordinary pages */
    *at = p + colour;
    return p;
}

climp_status climp_buffer_create(climp_ctx *ctx, const char *name, size_t bytes,
                                 climp_buffer **out) {
    if (!ctx || !out || bytes == 0) return CLIMP_ERR_INVALID_ARG;
    *out = NULL;
    if (ctx->info.max_alloc_bytes && bytes > ctx->info.max_alloc_bytes) {
        climp_error_set("allocation '%s' of %zu bytes exceeds the device's largest single "
                        "allocation (%llu bytes; %llu bytes total, %llu in use) on %s; try a "
                        "smaller --batch-size or --recompute",
                        name ? name : "?", bytes, (unsigned long long)ctx->info.max_alloc_bytes,
                        (unsigned long long)ctx->info.global_mem_bytes,
                        (unsigned long long)ctx->mem_current, ctx->info.name);
        return CLIMP_ERR_DEVICE_OOM;
    }
    climp_buffer *b = calloc(1, sizeof(*b));
    if (!b) return CLIMP_ERR_HOST_OOM;
    cl_int err;
    /* CPU devices: back the buffer with host memory so that mapping (host-BLAS GEMM) returns it
     * without a copy or a migration. */
    cl_mem_flags fl = CL_MEM_READ_WRITE;
    char *at = NULL;
    void *host = huge_host(ctx, bytes, &at);
    if (host) fl |= CL_MEM_USE_HOST_PTR;
    else if (ctx->info.is_cpu && ctx->info.host_unified_memory) fl |= CL_MEM_ALLOC_HOST_PTR;
    b->mem = clCreateBuffer(ctx->context, fl, bytes, at, &err);
    if (err == CL_SUCCESS && host &&
        clSetMemObjectDestructorCallback(b->mem, free_host, host) != CL_SUCCESS) {
        clReleaseMemObject(b->mem);
        err = CL_OUT_OF_HOST_MEMORY;
    }
    if (err != CL_SUCCESS) {
        free(host);
        free(b);
        climp_error_set("device allocation '%s' of %zu bytes failed on %s (%llu bytes total, "
                        "%llu in use): %s; try a smaller --batch-size or --recompute",
                        name ? name : "?", bytes, ctx->info.name,
                        (unsigned long long)ctx->info.global_mem_bytes,
                        (unsigned long long)ctx->mem_current, climp_status_name(err));
        return CLIMP_ERR_DEVICE_OOM;
    }
    b->ctx = ctx;
    b->bytes = bytes;
    snprintf(b->name, sizeof(b->name), "%s", name ? name : "buffer");
    pthread_mutex_lock(&ctx->lock);
    ctx->mem_current += bytes;
    if (ctx->mem_current > ctx->mem_peak) ctx->mem_peak = ctx->mem_current;
    pthread_mutex_unlock(&ctx->lock);
    *out = b;
    return CLIMP_OK;
}

void climp_buffer_destroy(climp_buffer *b) {
    if (!b) return;
    pthread_mutex_lock(&b->ctx->lock);
    b->ctx->mem_current -= b->bytes;
    pthread_mutex_unlock(&b->ctx->lock);
    clReleaseMemObject(b->mem);
    free(b);
}

size_t climp_buffer_bytes(const climp_buffer *b) { return b ? b->bytes : 0; }
const char *climp_buffer_name(const climp_buffer *b) { return b ? b->name : "(null)"; }

climp_tview climp_buffer_view(climp_buffer *b) {
    climp_tview v = {b, 0, b ? b->bytes / 4 : 0};
    return v;
}

climp_tview climp_view_sub(climp_tview v, size_t off, size_t n) {
    climp_tview s = {v.buf, v.off + off, n};
    if (off > v.n || n > v.n - off) s.n = 0;
    return s;
}

static climp_status check_range(const climp_buffer *b, size_t off, size_t bytes,
                                 const char *what) {
    if (!b) return CLIMP_ERR_INVALID_ARG;
    if (off > b->bytes || bytes > b->bytes - off) {
        climp_error_set("%s of %zu bytes at offset %zu is outside buffer '%s' (%zu bytes)", what,
                        bytes, off, b->name, b->bytes);
        return CLIMP_ERR_BUFFER_TOO_SMALL;
    }
    return CLIMP_OK;
}

climp_status climp_buffer_write(climp_ctx *ctx, climp_buffer *b, size_t off, size_t bytes,
                                const void *src) {
    CLIMP_TRY(check_range(b, off, bytes, "write"));
    if (!bytes) return CLIMP_OK;
    return rt_cl(clEnqueueWriteBuffer(ctx->queue, b->mem, CL_TRUE, off, bytes, src, 0, NULL, NULL),
                 "clEnqueueWriteBuffer");
}

climp_status climp_buffer_read(climp_ctx *ctx, const climp_buffer *b, size_t off, size_t bytes,
                               void *dst) {
    CLIMP_TRY(check_range(b, off, bytes, "read"));
    if (!bytes) return CLIMP_OK;
    return rt_cl(clEnqueueReadBuffer(ctx->queue, b->mem, CL_TRUE, off, bytes, dst, 0, NULL, NULL),
                 "clEnqueueReadBuffer");
}

climp_status climp_buffer_copy(climp_ctx *ctx, const climp_buffer *src, size_t src_off,
                               climp_buffer *dst, size_t dst_off, size_t bytes) {
    CLIMP_TRY(check_range(src, src_off, bytes, "copy source"));
    CLIMP_TRY(check_range(dst, dst_off, bytes, "copy destination"));
    if (!bytes) return CLIMP_OK;
    return rt_cl(clEnqueueCopyBuffer(ctx->queue, src->mem, dst->mem, src_off, dst_off, bytes, 0,
                                     NULL, NULL),
                 "clEnqueueCopyBuffer");
}

climp_status climp_buffer_fill_zero(climp_ctx *ctx, climp_buffer *b, size_t off, size_t bytes) {
    CLIMP_TRY(check_range(b, off, bytes, "fill"));
    if (!bytes) return CLIMP_OK;
    if (off % 4 || bytes % 4) return CLIMP_ERR_INVALID_ARG;
    float zero = 0.0f;
    return rt_cl(clEnqueueFillBuffer(ctx->queue, b->mem, &zero, sizeof(zero), off, bytes, 0, NULL,
                                     NULL),
                 "clEnqueueFillBuffer");
}

climp_status climp_view_write(climp_ctx *ctx, climp_tview v, const float *src, size_t n) {
    if (n > v.n) return CLIMP_ERR_BUFFER_TOO_SMALL;
    return climp_buffer_write(ctx, v.buf, v.off * 4, n * 4, src);
}

climp_status climp_view_read(climp_ctx *ctx, climp_tview v, float *dst, size_t n) {
    if (n > v.n) return CLIMP_ERR_BUFFER_TOO_SMALL;
    return climp_buffer_read(ctx, v.buf, v.off * 4, n * 4, dst);
}

climp_status climp_view_zero(climp_ctx *ctx, climp_tview v) {
    return climp_buffer_fill_zero(ctx, v.buf, v.off * 4, v.n * 4);
}

climp_status climp_hostmap_add(climp_hostmap *m, climp_tview v, size_t n, int write) {
    if (!v.buf) return CLIMP_OK;
    const size_t lo = v.off * sizeof(float), hi = (v.off + n) * sizeof(float);
    for (int i = 0; i < m->n; i++) {
        if (m->r[i].buf != v.buf) continue;
        if (lo < m->r[i].lo) m->r[i].lo = lo;
        if (hi > m->r[i].hi) m->r[i].hi = hi;
        m->r[i].write |= write;
        return CLIMP_OK;
    }
    if (m->n == CLIMP_HOSTMAP_MAX) {
        climp_error_set("host map: more than %d buffers", CLIMP_HOSTMAP_MAX);
        return CLIMP_ERR_INVALID_ARG;
    }
    m->r[m->n++] = (struct climp_hostmap_region){v.buf, lo, hi, write, NULL};
    return CLIMP_OK;
}

/* The maps are enqueued without blocking and waited for once: a blocking map is a round trip
 * through the driver's worker threads each (measured ~50-100 us per map on PoCL 3.1, 2 cores),
 * which a call mapping a dozen buffers would pay a dozen times. */
climp_status climp_hostmap_map(climp_ctx *ctx, climp_hostmap *m, const char *what) {
    char msg[96];
    snprintf(msg, sizeof msg, "clEnqueueMapBuffer (%s)", what ? what : "host map");
    for (m->mapped = 0; m->mapped < m->n; m->mapped++) {
        struct climp_hostmap_region *r = &m->r[m->mapped];
        CLIMP_TRY(check_range(r->buf, r->lo, r->hi - r->lo, "map"));
        cl_int err;
        void *p = clEnqueueMapBuffer(ctx->queue, r->buf->mem, CL_FALSE,
                                     r->write ? CL_MAP_READ | CL_MAP_WRITE : CL_MAP_READ, r->lo,
                                     r->hi > r->lo ? r->hi - r->lo : 4, 0, NULL, NULL, &err);
        if (err != CL_SUCCESS) return rt_cl(err, msg);
        r->ptr = p;
    }
    /* in-order queue: when it is drained, every map (and all work before it) has completed */
    return rt_cl(clFinish(ctx->queue), msg);
}

float *climp_hostmap_ptr(const climp_hostmap *m, climp_tview v) {
    for (int i = 0; i < m->mapped; i++)
        if (m->r[i].buf == v.buf && v.buf)
            return (float *)(m->r[i].ptr + (v.off * sizeof(float) - m->r[i].lo));
    return NULL;
}

climp_status climp_hostmap_unmap(climp_ctx *ctx, climp_hostmap *m) {
    climp_status s = CLIMP_OK;
    for (int i = 0; i < m->mapped; i++) {
        cl_int err = clEnqueueUnmapMemObject(ctx->queue, m->r[i].buf->mem, m->r[i].ptr, 0, NULL,
                                             NULL);
        if (err != CL_SUCCESS && s == CLIMP_OK) s = rt_cl(err, "clEnqueueUnmapMemObject");
    }
    m->mapped = 0;
    return s;
}

uint64_t climp_ctx_mem_current(const climp_ctx *ctx) { return ctx->mem_current; }
uint64_t climp_ctx_mem_peak(const climp_ctx *ctx) { return ctx->mem_peak; }
void climp_ctx_mem_reset_peak(climp_ctx *ctx) { ctx->mem_peak = ctx->mem_current; }

/* ------------------------------------------------------------------ arena */
struct climp_arena {
    climp_ctx *ctx;
    climp_buffer *buf; /* NULL in sizing mode */
    char name[64];
    size_t cap, used, peak; /* floats */
    int sizing;
};

void climp_arena_set_sizing(climp_arena *a, int on) { a->sizing = on; }

#define ARENA_ALIGN 64 /* floats (256 bytes): keeps every view aligned for vector loads */

climp_status climp_arena_create(climp_ctx *ctx, const char *name, size_t bytes,
                                climp_arena **out) {
    climp_arena *a = calloc(1, sizeof(*a));
    if (!a) return CLIMP_ERR_HOST_OOM;
    a->ctx = ctx;
    snprintf(a->name, sizeof(a->name), "%s", name ? name : "arena");
    if (bytes) {
        climp_status s = climp_arena_reserve(a, bytes);
        if (s) {
            free(a);
            return s;
        }
    }
    *out = a;
    return CLIMP_OK;
}

void climp_arena_destroy(climp_arena *a) {
    if (!a) return;
    climp_buffer_destroy(a->buf);
    free(a);
}

climp_status climp_arena_alloc(climp_arena *a, size_t n, climp_tview *out) {
    size_t start = climp_round_up(a->used, ARENA_ALIGN);
    size_t need = start + (n ? n : 1);
    if (need > a->peak) a->peak = need;
    if (a->sizing) {
        a->used = need;
        out->buf = NULL;
        out->off = start;
        out->n = n;
        return CLIMP_OK;
    }
    if (!a->buf || need > a->cap) {
        climp_error_set("arena '%s' is full: %zu floats asked, %zu of %zu in use", a->name, n,
                        a->used, a->cap);
        return CLIMP_ERR_ARENA_FULL;
    }
    a->used = need;
    out->buf = a->buf;
    out->off = start;
    out->n = n;
    return CLIMP_OK;
}

size_t climp_arena_mark(const climp_arena *a) { return a->used; }
void climp_arena_reset(climp_arena *a, size_t mark) { a->used = mark < a->used ? mark : a->used; }
size_t climp_arena_peak_bytes(const climp_arena *a) { return a->peak * 4; }
size_t climp_arena_capacity_bytes(const climp_arena *a) { return a->cap * 4; }

climp_status climp_arena_reserve(climp_arena *a, size_t bytes) {
    size_t want = bytes / 4 > a->peak ? bytes / 4 : a->peak;
    want = climp_round_up(want ? want : 1, ARENA_ALIGN);
    if (a->buf && a->cap >= want) return CLIMP_OK;
    climp_buffer_destroy(a->buf);
    a->buf = NULL;
    a->cap = 0;
    CLIMP_TRY(climp_buffer_create(a->ctx, a->name, want * 4, &a->buf));
    a->cap = want;
    a->used = 0;
    return CLIMP_OK;
}
