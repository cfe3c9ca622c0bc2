/* Pieces shared by the trainer and the inference commands: caption tokenisation into padded
 * batches, checkpoint folders (atomic, CRC-checked, keep-last-K, resume), retrieval metrics,
 * embedding whole datasets, and a terminal progress line. */
#ifndef CLIMP_SESSION_H
#define CLIMP_SESSION_H

#include <stdint.h>
#include <stdio.h>

#include "model/climp_model.h"
#include "model/tokenizer.h"
#include "trainer/data.h"
#include "trainer/optimizer.h"

/* ------------------------------------------------------------------ text batches */
typedef struct climp_text_batch {
    int B, Lmax, cap; /* cap: token budget per caption (longer captions are cut, keeping EOT) */
    int32_t *tokens;  /* (B, Lmax) right-padded with the pad id */
    int32_t *lengths; /* (B) */
    long truncated;   /* captions cut so far */
} climp_text_batch;

/* Tokenise B captions (with the end-of-text id appended) into tb (reallocating as needed). */
climp_status climp_text_batch_fill(climp_text_batch *tb, const climp_tokenizer *tok,
                                   char *const *captions, int B);
void climp_text_batch_free(climp_text_batch *tb);

/* ------------------------------------------------------------------ checkpoints */
typedef struct climp_train_state {
    long step;      /* optimizer steps done */
    int epoch;      /* loader position */
    long cursor;
    long skipped;   /* bad samples so far */
    long nan_skips; /* steps skipped for a non-finite loss or gradient */
    uint64_t seed;
    int world;      /* MPI ranks of the run that wrote it (0: not recorded, older checkpoints) */
    long batch;     /* --batch-size (per rank) of that run (0: not recorded) */
} climp_train_state;

/* Writes DIR/ckpt-<step>/{model.safetensors, optimizer.safetensors, state.json} through a
 * temporary folder renamed into place, then DIR/latest; keeps the newest `keep` checkpoints. */
climp_status climp_ckpt_save(const char *dir, climp_model *m, climp_optimizer *o,
                             const climp_train_state *st, const char *tokenizer, int keep);
/* Finds the newest complete checkpoint in DIR whose CRCs verify; fills path (of the ckpt folder)
 * and state. CLIMP_ERR_IO when there is none. Corrupt ones are reported and skipped. */
climp_status climp_ckpt_find_latest(const char *dir, char *path, size_t path_size,
                                    climp_train_state *st);
/* The model file of a checkpoint path: a .safetensors file as is, a ckpt-* folder's
 * model.safetensors, or a save folder's latest checkpoint. */
climp_status climp_ckpt_model_file(const char *path, char *out, size_t out_size);

/* ------------------------------------------------------------------ retrieval */
typedef struct climp_recall {
    int n;
    double t2i[3], i2t[3]; /* recall@1, @5, @10 (fractions) */
} climp_recall;
/* sim = txt img^T (n x n, pair i is the positive of i). CLIP_benchmark definitions. */
void climp_recall_compute(const float *img, const float *txt, int n, int d, climp_recall *r);
/* Embeds up to `limit` pairs of a dataset, without augmentation: images resized to the dataset's
 * size, or with `native` each at its own size (batches of consecutive same-size images). */
climp_status climp_embed_dataset(climp_model *m, const climp_tokenizer *tok, climp_dataset *ds,
                                 long limit, int batch, int native, float **img, float **txt,
                                 long *n, int progress);

/* ------------------------------------------------------------------ progress */
typedef struct climp_progress {
    double t0;
    int tty;
    double last_print;
} climp_progress;
void climp_progress_init(climp_progress *p);
/* Prints "label done/total [extra] rate/s ETA" (a bar on a terminal, a line every few seconds
 * otherwise). */
void climp_progress_update(climp_progress *p, const char *label, long done, long total,
                           double items_per_unit, const char *unit, const char *extra);
void climp_progress_done(climp_progress *p);

#endif
