/* The CLIMP model on the runtime: parameters, gradients and activations in contiguous buffers,
 * the VMamba vision tower (model/vmamba.c), the Mamba-1/Mamba-2 text tower (model/mamba.c), the
 * heads, the symmetric InfoNCE loss and one forward+backward step (model/climp.c), checkpoints
 * (model/checkpoint.c). Activations are channel-last; images are (B, H, W, 3) normalised. */
#ifndef CLIMP_MODEL_H
#define CLIMP_MODEL_H

#include "model/config.h"
#include "runtime/climp_runtime.h"

typedef struct climp_model climp_model;

/* training = 1 allocates the gradient buffer and keeps activations for backward; 0 is inference
 * (activations of a layer are released once the next layer has consumed them). */
climp_status climp_model_create(climp_ctx *ctx, const climp_config *cfg, int training,
                                climp_model **out);
void climp_model_destroy(climp_model *m);
const climp_config *climp_model_config(const climp_model *m);
const climp_param_table *climp_model_params(const climp_model *m);
climp_buffer *climp_model_param_buffer(climp_model *m);
climp_buffer *climp_model_grad_buffer(climp_model *m); /* NULL in inference mode */
climp_ctx *climp_model_ctx(climp_model *m);
/* View of one parameter (or its gradient) by release key name; {0} if absent. */
climp_tview climp_model_param(climp_model *m, const char *name);
climp_tview climp_model_grad(climp_model *m, const char *name);
/* Upload a host copy of the whole parameter buffer (table->total floats) / download it. */
climp_status climp_model_set_params(climp_model *m, const float *host);
climp_status climp_model_get_params(climp_model *m, float *host);
climp_status climp_model_zero_grads(climp_model *m);
/* Recomputation (training only): keep just each VSS block's and each Mamba layer's output in the
 * forward pass and recompute the block's activations (scan inputs and states, MLP hidden) right
 * before its backward. Activation memory falls from the sum over blocks to the block outputs plus
 * one block's working set, for about one more forward pass of compute. Results are identical. */
void climp_model_set_recompute(climp_model *m, int on);
int climp_model_recompute(const climp_model *m);

/* A batch in host memory. Captions are token ids, right-padded to Lmax with the pad id. */
typedef struct climp_batch_in {
    int B;          /* pairs (or images / captions when one tower runs alone) */
    int H, W;       /* image size */
    const float *images;   /* (B, H, W, 3) normalised, or NULL */
    int Lmax;
    const int32_t *tokens; /* (B, Lmax) or NULL */
    const int32_t *lengths;/* (B): tokens of caption b (>= 1) */
} climp_batch_in;

/* Forward of both towers, loss, and (when grads exist) backward into the gradient buffer
 * (accumulating: call climp_model_zero_grads first). loss_scale multiplies every gradient (1/A
 * for accumulation over A micro-batches). Outputs may be NULL. */
climp_status climp_model_step(climp_model *m, const climp_batch_in *b, int backward,
                              float loss_scale, float *loss, float *img_emb, float *txt_emb);
/* Data parallelism (MPI ranks, or several devices in one process): after the towers' forward,
 * `gather` receives this replica's L2-normalised embeddings (B x Ed each, host memory) and must
 * fill the global ones (world_batch x Ed each) with this replica's rows at [offset, offset + B).
 * The loss is then the InfoNCE of the global batch (identical on every replica) and the backward
 * sends each replica the gradient of its own rows (open_clip's gather-with-grad). Summing the
 * replicas' parameter gradients gives the single-process gradient of the global batch, except
 * logit_scale, whose gradient every replica computes in full: keep it on one replica only. */
typedef climp_status (*climp_gather_fn)(void *user, const float *img, const float *txt, int B,
                                        int Ed, float *global_img, float *global_txt);
typedef struct climp_dist {
    int world_batch;
    int offset;
    climp_gather_fn gather;
    void *user;
} climp_dist;
climp_status climp_model_step_dist(climp_model *m, const climp_batch_in *b, const climp_dist *d,
                                   int backward, float loss_scale, float *loss);

/* Inference of one tower: L2-normalised embeddings (B, embed_dim) into host memory. */
climp_status climp_model_embed_images(climp_model *m, int B, int H, int W, const float *images,
                                      float *emb);
climp_status climp_model_embed_texts(climp_model *m, int B, int Lmax, const int32_t *tokens,
                                     const int32_t *lengths, float *emb);
/* Pooled features before projection (debugging and parity tests). */
climp_status climp_model_last_pooled(climp_model *m, float *img_pooled, float *txt_pooled);
/* Bytes of activation memory the last step used (arena peak). */
size_t climp_model_activation_bytes(const climp_model *m);

/* Checkpoints (safetensors with the release key names; config in __metadata__ "config"). */
climp_status climp_model_load(climp_model *m, const char *path);
/* Same; allow_extra ignores tensors named fixture.*, grad.* and final.* (test fixtures). */
climp_status climp_model_load_opts(climp_model *m, const char *path, int allow_extra);
climp_status climp_model_save(climp_model *m, const char *path, const char *const *meta_kv,
                              uint32_t *crc);
/* Read the config of a checkpoint: from its metadata, else inferred from names and shapes. */
climp_status climp_checkpoint_config(const char *path, climp_config *out);

/* Split and overlapped steps (model/split.c). A replica runs the towers in `towers` on its rows
 * [offset, offset + B) of a global batch of world_batch pairs: with one tower (tower-parallel
 * training, one device per tower) the input of the other tower may be NULL and `gather` receives
 * NULL for it, filling both global arrays from the replicas that own them. Every replica computes
 * the global loss and the gradient of logit_scale (keep it on one). tower_done (may be NULL) is
 * called once the backward of a tower has been enqueued, text first, then vision: the gradients
 * of that tower's range are final once the queue reaches that point (see
 * climp_model_tower_split_offset). With both towers this computes what climp_model_step_dist
 * computes, bitwise. */
enum { CLIMP_TOWER_VISION = 1, CLIMP_TOWER_TEXT = 2, CLIMP_TOWER_BOTH = 3 };
typedef climp_status (*climp_tower_done_fn)(void *user, int tower);
typedef struct climp_split {
    int towers;
    int world_batch;
    int offset;
    climp_gather_fn gather;
    climp_tower_done_fn tower_done;
    void *user;
} climp_split;
climp_status climp_model_step_split(climp_model *m, const climp_batch_in *b, const climp_split *sp,
                                    int backward, float loss_scale, float *loss);
/* Parameters [0, t) are the vision tower's (with its projection), [t, total) the text tower's,
 * its projection and logit_scale; returns t, or 0 if the layout does not split so. */
size_t climp_model_tower_split_offset(const climp_model *m);

#endif
