/* Kernel launch (argument marshalling, view bounds, enqueue) and the profiler: with profiling on,
 * every launch is timed with its OpenCL event and attributed to (kernel, op label). */
#define _POSIX_C_SOURCE 200809L
#include "runtime/rt_internal.h"

#include <stdlib.h>
#include <string.h>

int rt_prof_row_for(climp_ctx *ctx, const char *kernel);
int rt_prof_row_for(climp_ctx *ctx, const char *kernel) {
    const char *label = ctx->label[0] ? ctx->label : "-";
    for (int i = 0; i < ctx->prof_n; i++)
        if (!strcmp(ctx->prof[i].kernel, kernel) && !strcmp(ctx->prof[i].label, label)) return i;
    if (ctx->prof_n == ctx->prof_cap) {
        int cap = ctx->prof_cap ? ctx->prof_cap * 2 : 32;
        rt_prof_row *p = realloc(ctx->prof, cap * sizeof(*p));
        if (!p) return -1;
        ctx->prof = p;
        ctx->prof_cap = cap;
    }
    rt_prof_row *r = &ctx->prof[ctx->prof_n];
    memset(r, 0, sizeof(*r));
    snprintf(r->kernel, sizeof(r->kernel), "%s", kernel);
    snprintf(r->label, sizeof(r->label), "%s", label);
    return ctx->prof_n++;
}

/* Record the time of a finished (or to-be-finished) event on its row. */
static void prof_record(climp_ctx *ctx, const char *kernel, cl_event ev) {
    if (clWaitForEvents(1, &ev) != CL_SUCCESS) return;
    cl_ulong t0 = 0, t1 = 0;
    clGetEventProfilingInfo(ev, CL_PROFILING_COMMAND_START, sizeof(t0), &t0, NULL);
    clGetEventProfilingInfo(ev, CL_PROFILING_COMMAND_END, sizeof(t1), &t1, NULL);
    int i = rt_prof_row_for(ctx, kernel);
    if (i < 0) return;
    ctx->prof[i].calls++;
    ctx->prof[i].seconds += (t1 > t0 ? (double)(t1 - t0) : 0.0) * 1e-9;
}

void rt_prof_add(climp_ctx *ctx, const char *kernel, double seconds) {
    int i = rt_prof_row_for(ctx, kernel);
    if (i < 0) return;
    ctx->prof[i].calls++;
    ctx->prof[i].seconds += seconds;
}

climp_status climp_launch(climp_ctx *ctx, climp_kernel *k, int work_dim, const size_t *gws,
                          const size_t *lws, int nargs, const climp_karg *args) {
    if (!ctx || !k || work_dim < 1 || work_dim > 3 || !gws || nargs < 0) return CLIMP_ERR_INVALID_ARG;
    for (int d = 0; d < work_dim; d++)
        if (gws[d] == 0) return CLIMP_OK; /* nothing to do */
    cl_uint ai = 0;
    cl_int err = CL_SUCCESS;
    for (int i = 0; i < nargs && err == CL_SUCCESS; i++) {
        const climp_karg *a = &args[i];
        switch (a->kind) {
        case CLIMP_KARG_VIEW: {
            if (!a->view.buf) {
                /* An absent optional tensor: pass any valid buffer is not possible; use NULL. */
                cl_mem none = NULL;
                err = clSetKernelArg(k->k, ai++, sizeof(cl_mem), &none);
            } else {
                if (a->view.off > a->view.buf->bytes / 4 ||
                    a->view.n > a->view.buf->bytes / 4 - a->view.off) {
                    climp_error_set("kernel %s argument %d: view [%zu, +%zu) outside buffer '%s' "
                                    "(%zu floats)",
                                    k->name, i, a->view.off, a->view.n, a->view.buf->name,
                                    a->view.buf->bytes / 4);
                    return CLIMP_ERR_BUFFER_TOO_SMALL;
                }
                err = clSetKernelArg(k->k, ai++, sizeof(cl_mem), &a->view.buf->mem);
            }
            if (err == CL_SUCCESS) {
                cl_ulong off = a->view.off;
                err = clSetKernelArg(k->k, ai++, sizeof(off), &off);
            }
            break;
        }
        case CLIMP_KARG_I32: {
            cl_int x = a->i32;
            err = clSetKernelArg(k->k, ai++, sizeof(x), &x);
            break;
        }
        case CLIMP_KARG_U64: {
            cl_ulong x = a->u64;
            err = clSetKernelArg(k->k, ai++, sizeof(x), &x);
            break;
        }
        case CLIMP_KARG_F32: {
            cl_float x = a->f32;
            err = clSetKernelArg(k->k, ai++, sizeof(x), &x);
            break;
        }
        case CLIMP_KARG_LOCAL:
            err = clSetKernelArg(k->k, ai++, a->local_bytes, NULL);
            break;
        default:
            return CLIMP_ERR_INVALID_ARG;
        }
    }
    if (err != CL_SUCCESS) {
        climp_error_set("setting argument %u of kernel %s: %s", ai - 1, k->name,
                        climp_status_name(err));
        return err;
    }
    cl_event ev = NULL;
    err = clEnqueueNDRangeKernel(ctx->queue, k->k, (cl_uint)work_dim, NULL, gws, lws, 0, NULL,
                                 ctx->profile ? &ev : NULL);
    if (err != CL_SUCCESS) {
        climp_error_set("enqueue of kernel %s (global %zu x %zu x %zu, local %s) failed: %s",
                        k->name, gws[0], work_dim > 1 ? gws[1] : 1, work_dim > 2 ? gws[2] : 1,
                        lws ? "set" : "auto", climp_status_name(err));
        return err;
    }
    ctx->counters.launches++;
    if (ctx->sync_launches) {
        /* CLIMP_SYNC=1: wait after every launch, so a faulting kernel is the last one logged. */
        climp_log(CLIMP_LOG_DEBUG, "launch %s [%s]", k->name, ctx->label);
        err = clFinish(ctx->queue);
        if (err != CL_SUCCESS) return rt_cl(err, k->name);
    }
    if (ev) {
        prof_record(ctx, k->name, ev);
        clReleaseEvent(ev);
    }
    return CLIMP_OK;
}

void climp_profile_enable(climp_ctx *ctx, int on) { ctx->profile = on; }

void climp_profile_label(climp_ctx *ctx, const char *label) {
    snprintf(ctx->label, sizeof(ctx->label), "%s", label ? label : "");
}

void climp_profile_reset(climp_ctx *ctx) { ctx->prof_n = 0; }

static int by_time_desc(const void *a, const void *b) {
    double x = ((const rt_prof_row *)a)->seconds, y = ((const rt_prof_row *)b)->seconds;
    return (x < y) - (x > y);
}

void climp_profile_print(climp_ctx *ctx, FILE *f) {
    double total = 0;
    for (int i = 0; i < ctx->prof_n; i++) total += ctx->prof[i].seconds;
    qsort(ctx->prof, ctx->prof_n, sizeof(*ctx->prof), by_time_desc);
    fprintf(f, "%-28s %-30s %8s %12s %10s %6s\n", "kernel", "op", "calls", "total ms", "avg us",
            "%");
    for (int i = 0; i < ctx->prof_n; i++) {
        const rt_prof_row *r = &ctx->prof[i];
        fprintf(f, "%-28s %-30s %8ld %12.3f %10.1f %6.1f\n", r->kernel, r->label, r->calls,
                r->seconds * 1e3, r->calls ? r->seconds / r->calls * 1e6 : 0.0,
                total > 0 ? 100.0 * r->seconds / total : 0.0);
    }
    fprintf(f, "%-28s %-30s %8s %12.3f\n", "total", "", "", total * 1e3);
}

climp_status climp_profile_write_json(climp_ctx *ctx, const char *path) {
    FILE *f = fopen(path, "w");
    if (!f) {
        climp_error_set("cannot write profile %s", path);
        return CLIMP_ERR_IO;
    }
    fprintf(f, "{\"device\": \"%s\", \"rows\": [", ctx->info.name);
    for (int i = 0; i < ctx->prof_n; i++) {
        const rt_prof_row *r = &ctx->prof[i];
        fprintf(f, "%s\n  {\"kernel\": \"%s\", \"op\": \"%s\", \"calls\": %ld, \"seconds\": %.9f}",
                i ? "," : "", r->kernel, r->label, r->calls, r->seconds);
    }
    fprintf(f, "\n]}\n");
    return fclose(f) == 0 ? CLIMP_OK : CLIMP_ERR_IO;
}
