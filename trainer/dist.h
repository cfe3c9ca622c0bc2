/* Scale-out for `climp train`: MPI data parallelism across processes (trainer/dist_mpi.c, built
 * with CLIMP_HAVE_MPI) and several devices in one process (trainer/dist_local.c): data parallel
 * over a list of devices with a batch split in proportion to their speed, or one device per
 * tower. Both keep every replica's parameters identical and give the loss and gradient of the
 * whole global batch (the model's gather-with-grad hooks, model/climp_model.h). */
#ifndef CLIMP_DIST_H
#define CLIMP_DIST_H

#include <stdio.h>

#include "model/climp_model.h"

/* ------------------------------------------------------------------ MPI (dist_mpi.c) */
/* 1 when built with MPI. */
int climp_mpi_available(void);
/* 1 when this process was started by an MPI launcher (mpirun/mpiexec/srun environment). */
int climp_mpi_launched(void);
/* MPI_Init (once), rank and size of MPI_COMM_WORLD. CLIMP_ERR_UNSUPPORTED without MPI. */
climp_status climp_mpi_init(int *rank, int *world);
void climp_mpi_finalize(void);  /* no-op when not initialised */
void climp_mpi_abort(int code); /* ends every rank (a failing rank must not leave others hung) */
/* In-place all-reduces over MPI_COMM_WORLD. */
climp_status climp_mpi_sum_long(long *v, int n);
climp_status climp_mpi_max_long(long *v, int n);
climp_status climp_mpi_min_long(long *v, int n);
/* The data-parallel gradient exchange of one model replica on each rank. */
typedef struct climp_mpi_dp climp_mpi_dp;
/* overlap: reduce the text tower's gradients while the vision backward runs (the model calls
 * back after each tower; see climp_model_step_split). */
climp_status climp_mpi_dp_create(climp_model *m, int rank, int world, int overlap,
                                 climp_mpi_dp **out);
void climp_mpi_dp_destroy(climp_mpi_dp *dp);
/* One micro-batch of B rows (rank r owns rows [r B, (r + 1) B) of the global batch): forward,
 * all-gathered embeddings, global loss, backward. `last` marks the last micro-batch of an
 * optimizer step: with overlap its gradients are reduced during the backward. */
climp_status climp_mpi_dp_step(climp_mpi_dp *dp, const climp_batch_in *b, float loss_scale,
                               int last, float *loss);
/* Sum the gradient buffers of every rank (logit_scale counted once), unless the last
 * micro-batch already did. Every rank then holds the global gradient. */
climp_status climp_mpi_dp_reduce(climp_mpi_dp *dp);

/* ------------------------------------------------------------------ devices (dist_local.c) */
typedef struct climp_local climp_local;
typedef struct climp_local_options {
    /* Data parallel: ndev device selectors (ndev >= 2), weights (relative speeds; NULL:
     * measured with a timed step on each device). Tower parallel: ndev == 0 and vision_device,
     * text_device set. */
    int ndev;
    const char *const *devices;
    const double *weights;
    const char *vision_device, *text_device;
    const char *kernel_binaries;
    const char *kernel_variant; /* NULL: automatic */
    int profile;
    int batch; /* pairs of every step, split across the devices */
    int image_size;
} climp_local_options;
/* Opens the devices and their replicas. The primary replica (index 0: the first of --devices,
 * or the vision device) is `primary`, already created on its own context by the caller and
 * holding the parameters; the others get a copy. The caller keeps the optimizer on the primary,
 * and calls climp_local_reduce before and climp_local_broadcast after each update. */
climp_status climp_local_create(const climp_local_options *o, climp_model *primary,
                                climp_local **out);
void climp_local_destroy(climp_local *l); /* not the primary */
int climp_local_count(const climp_local *l);
/* One line per replica: device, rows of the batch or tower, measured speed. */
void climp_local_describe(const climp_local *l, FILE *f);
climp_status climp_local_zero_grads(climp_local *l);
/* One micro-batch of o->batch pairs; every replica runs concurrently on its own thread. */
climp_status climp_local_step(climp_local *l, const climp_batch_in *b, float loss_scale,
                              float *loss);
/* Sum of the replicas' gradients (logit_scale from the primary) into the primary's buffer. */
climp_status climp_local_reduce(climp_local *l);
/* The primary's parameters to every other replica. */
climp_status climp_local_broadcast(climp_local *l);

#endif
