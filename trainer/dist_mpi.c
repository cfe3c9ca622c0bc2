/* MPI data parallelism for `mpirun -np P climp train` (declared in trainer/dist.h): one model
 * replica per rank on the rank's device, embeddings all-gathered inside the model's gather hook
 * (one MPI_Allgather of each rank's [img | txt] rows, so the loss is the InfoNCE of the global
 * batch and the backward gets this rank's rows), and the contiguous gradient buffer summed with
 * MPI_Allreduce before every optimizer step. With overlap, the last micro-batch of a step goes
 * through climp_model_step_split: when the text backward has been enqueued, the text range of
 * the gradients (text tower, its projection, logit_scale) is read and its MPI_Iallreduce started;
 * the vision backward then runs on the device while MPI_Wait progresses the reduction, and the
 * vision range is reduced last. Without CLIMP_HAVE_MPI every entry point reports
 * CLIMP_ERR_UNSUPPORTED. */
#define _POSIX_C_SOURCE 200809L
#include "trainer/dist.h"

#include <stdlib.h>
#include <string.h>

/* Started by a launcher with more than one process (a single process trains alone, without
 * MPI_Init): Open MPI, MPICH/Intel MPI (PMI), PMIx launchers. CLIMP_MPI=0/1 decides instead. */
int climp_mpi_launched(void) {
    const char *force = getenv("CLIMP_MPI");
    if (force && *force)
        return strcmp(force, "0") != 0;
    static const char *const sizes[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE"};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        const char *v = getenv(sizes[i]);
        if (v)
            return atoi(v) > 1;
    }
    return getenv("PMIX_RANK") != NULL;
}

#ifdef CLIMP_HAVE_MPI
#include <mpi.h>

/* Largest element count of one MPI call (counts are int). */
#define CHUNK ((size_t)1 << 30)
#define MAX_REQ 64

static int g_init;

int climp_mpi_available(void) {
    return 1;
}

static climp_status mpi_fail(const char *call, int rc) {
    char msg[MPI_MAX_ERROR_STRING];
    int len = 0;
    if (MPI_Error_string(rc, msg, &len) != MPI_SUCCESS)
        snprintf(msg, sizeof msg, "error %d", rc);
    climp_error_set("%s failed: %s", call, msg);
    return CLIMP_ERR_IO;
}
#define MPI_TRY(call)                                                                              \
    do {                                                                                           \
        int rc_ = (call);                                                                          \
        if (rc_ != MPI_SUCCESS)                                                                    \
            return mpi_fail(#call, rc_);                                                           \
    } while (0)

climp_status climp_mpi_init(int *rank, int *world) {
    if (!g_init) {
        int already = 0, provided = 0;
        MPI_Initialized(&already);
        if (!already)
            MPI_TRY(MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided));
        MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
        g_init = 1;
    }
    MPI_TRY(MPI_Comm_rank(MPI_COMM_WORLD, rank));
    MPI_TRY(MPI_Comm_size(MPI_COMM_WORLD, world));
    return CLIMP_OK;
}

void climp_mpi_finalize(void) {
    int done = 0;
    if (!g_init)
        return;
    MPI_Finalized(&done);
    if (!done)
        MPI_Finalize();
    g_init = 0;
}

void climp_mpi_abort(int code) {
    if (g_init)
        MPI_Abort(MPI_COMM_WORLD, code);
}

static climp_status reduce_long(long *v, int n, MPI_Op op) {
    MPI_TRY(MPI_Allreduce(MPI_IN_PLACE, v, n, MPI_LONG, op, MPI_COMM_WORLD));
    return CLIMP_OK;
}
climp_status climp_mpi_sum_long(long *v, int n) {
    return reduce_long(v, n, MPI_SUM);
}
climp_status climp_mpi_max_long(long *v, int n) {
    return reduce_long(v, n, MPI_MAX);
}
climp_status climp_mpi_min_long(long *v, int n) {
    return reduce_long(v, n, MPI_MIN);
}

struct climp_mpi_dp {
    climp_model *m;
    int rank, world, overlap;
    size_t total, split, logit; /* floats; split: first float of the text range */
    float *grad;                /* host copy of the gradient buffer (total) */
    float *send, *recv;         /* all-gather staging */
    size_t gather_cap;          /* floats of send */
    MPI_Request req[MAX_REQ];
    int nreq, reduced;
};

/* Start (nonblocking) or do (blocking) the in-place sum of grad[a, b) over the ranks. */
static climp_status allreduce_range(climp_mpi_dp *dp, size_t a, size_t b, int nonblocking) {
    for (size_t off = a; off < b; off += CHUNK) {
        int n = (int)(b - off < CHUNK ? b - off : CHUNK);
        if (!nonblocking) {
            MPI_TRY(
                MPI_Allreduce(MPI_IN_PLACE, dp->grad + off, n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD));
            continue;
        }
        if (dp->nreq == MAX_REQ) {
            climp_error_set("gradient buffer too large for %d reduction chunks", MAX_REQ);
            return CLIMP_ERR_UNSUPPORTED;
        }
        MPI_TRY(MPI_Iallreduce(MPI_IN_PLACE, dp->grad + off, n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD,
                               &dp->req[dp->nreq++]));
    }
    return CLIMP_OK;
}

/* Gradient range [a, b) to the host; logit_scale's gradient counted on rank 0 only. */
static climp_status read_range(climp_mpi_dp *dp, size_t a, size_t b) {
    climp_ctx *ctx = climp_model_ctx(dp->m);
    CLIMP_TRY(climp_buffer_read(ctx, climp_model_grad_buffer(dp->m), a * sizeof(float),
                                (b - a) * sizeof(float), dp->grad + a));
    if (dp->rank != 0 && dp->logit >= a && dp->logit < b)
        dp->grad[dp->logit] = 0;
    return CLIMP_OK;
}

static climp_status write_back(climp_mpi_dp *dp) {
    return climp_buffer_write(climp_model_ctx(dp->m), climp_model_grad_buffer(dp->m), 0,
                              dp->total * sizeof(float), dp->grad);
}

static climp_status gather(void *user, const float *img, const float *txt, int B, int Ed,
                           float *gimg, float *gtxt) {
    climp_mpi_dp *dp = user;
    size_t n = (size_t)B * Ed;
    if (!img || !txt)
        return CLIMP_ERR_INVALID_ARG;
    if (2 * n > (size_t)0x7fffffff) {
        climp_error_set("embeddings of %d rows are too large for one MPI_Allgather", B);
        return CLIMP_ERR_UNSUPPORTED;
    }
    if (dp->gather_cap < 2 * n) {
        float *s = realloc(dp->send, sizeof(float) * 2 * n);
        if (s)
            dp->send = s;
        float *r = s ? realloc(dp->recv, sizeof(float) * 2 * n * dp->world) : NULL;
        if (!r)
            return CLIMP_ERR_HOST_OOM;
        dp->recv = r;
        dp->gather_cap = 2 * n;
    }
    memcpy(dp->send, img, n * sizeof(float));
    memcpy(dp->send + n, txt, n * sizeof(float));
    MPI_TRY(MPI_Allgather(dp->send, (int)(2 * n), MPI_FLOAT, dp->recv, (int)(2 * n), MPI_FLOAT,
                          MPI_COMM_WORLD));
    for (int r = 0; r < dp->world; r++) {
        memcpy(gimg + (size_t)r * n, dp->recv + (size_t)r * 2 * n, n * sizeof(float));
        memcpy(gtxt + (size_t)r * n, dp->recv + (size_t)r * 2 * n + n, n * sizeof(float));
    }
    return CLIMP_OK;
}

/* Overlap: text gradients final -> start their sum; vision final -> finish everything. */
static climp_status tower_done(void *user, int tower) {
    climp_mpi_dp *dp = user;
    if (tower == CLIMP_TOWER_TEXT) {
        CLIMP_TRY(read_range(dp, dp->split, dp->total));
        return allreduce_range(dp, dp->split, dp->total, 1);
    }
    /* The vision backward is enqueued: the device works on it while MPI_Waitall progresses the
     * text range's reduction. */
    MPI_TRY(MPI_Waitall(dp->nreq, dp->req, MPI_STATUSES_IGNORE));
    dp->nreq = 0;
    CLIMP_TRY(read_range(dp, 0, dp->split));
    CLIMP_TRY(allreduce_range(dp, 0, dp->split, 0));
    CLIMP_TRY(write_back(dp));
    dp->reduced = 1;
    return CLIMP_OK;
}

climp_status climp_mpi_dp_create(climp_model *m, int rank, int world, int overlap,
                                 climp_mpi_dp **out) {
    const climp_param_table *t = climp_model_params(m);
    const climp_param *ls = climp_params_find(t, "logit_scale");
    if (!ls || !climp_model_grad_buffer(m))
        return CLIMP_ERR_INVALID_ARG;
    climp_mpi_dp *dp = calloc(1, sizeof *dp);
    if (!dp || !(dp->grad = malloc(sizeof(float) * t->total))) {
        free(dp);
        return CLIMP_ERR_HOST_OOM;
    }
    dp->m = m;
    dp->rank = rank;
    dp->world = world;
    dp->total = t->total;
    dp->logit = ls->offset;
    dp->split = climp_model_tower_split_offset(m);
    dp->overlap = overlap && dp->split > 0 && dp->logit >= dp->split;
    *out = dp;
    return CLIMP_OK;
}

void climp_mpi_dp_destroy(climp_mpi_dp *dp) {
    if (!dp)
        return;
    if (dp->nreq)
        MPI_Waitall(dp->nreq, dp->req, MPI_STATUSES_IGNORE);
    free(dp->grad);
    free(dp->send);
    free(dp->recv);
    free(dp);
}

climp_status climp_mpi_dp_step(climp_mpi_dp *dp, const climp_batch_in *b, float loss_scale,
                               int last, float *loss) {
    dp->reduced = 0;
    if (dp->overlap && last) {
        climp_split sp = {CLIMP_TOWER_BOTH, b->B * dp->world, b->B * dp->rank,
                          gather,           tower_done,       dp};
        return climp_model_step_split(dp->m, b, &sp, 1, loss_scale, loss);
    }
    climp_dist d = {b->B * dp->world, b->B * dp->rank, gather, dp};
    return climp_model_step_dist(dp->m, b, &d, 1, loss_scale, loss);
}

climp_status climp_mpi_dp_reduce(climp_mpi_dp *dp) {
    if (dp->reduced) {
        dp->reduced = 0;
        return CLIMP_OK;
    }
    CLIMP_TRY(read_range(dp, 0, dp->total));
    CLIMP_TRY(allreduce_range(dp, 0, dp->total, 0));
    return write_back(dp);
}

#else /* !CLIMP_HAVE_MPI */

static climp_status no_mpi(void) {
    climp_error_set("this climp was built without MPI (install openmpi-bin libopenmpi-dev and "
                    "rebuild)");
    return CLIMP_ERR_UNSUPPORTED;
}
int climp_mpi_available(void) {
    return 0;
}
climp_status climp_mpi_init(int *rank, int *world) {
    *rank = 0;
    *world = 1;
    return no_mpi();
}
void climp_mpi_finalize(void) {}
void climp_mpi_abort(int code) {
    (void)code;
}
climp_status climp_mpi_sum_long(long *v, int n) {
    return no_mpi();
}
climp_status climp_mpi_max_long(long *v, int n) {
    return no_mpi();
}
climp_status climp_mpi_min_long(long *v, int n) {
    return no_mpi();
}
climp_status climp_mpi_dp_create(climp_model *m, int rank, int world, int overlap,
                                 climp_mpi_dp **out) {
    return no_mpi();
}
void climp_mpi_dp_destroy(climp_mpi_dp *dp) {
    (void)dp;
}
climp_status climp_mpi_dp_step(climp_mpi_dp *dp, const climp_batch_in *b, float loss_scale,
                               int last, float *loss) {
    return no_mpi();
}
climp_status climp_mpi_dp_reduce(climp_mpi_dp *dp) {
    return no_mpi();
}

#endif
