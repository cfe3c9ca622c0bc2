/* `climp train`: contrastive training on synthetic, TSV/CSV or WebDataset data with AdamW,
 * warmup + cosine/constant schedule, accumulation, clipping, tower locking, atomic CRC-checked
 * checkpoints with exact resume, periodic retrieval evaluation, JSONL logs and a progress bar.
 * Scale-out (trainer/dist.h): under mpirun every rank trains its shard of each global batch and
 * rank 0 alone writes; --devices / --vision-device+--text-device use several devices of this
 * process. The single-device path calls climp_model_step as before. */
#define _POSIX_C_SOURCE 200809L
#include "trainer/cli.h"
#include "trainer/dist.h"
#include "trainer/session.h"
#include "trainer/train_opts.h"

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static volatile sig_atomic_t g_stop;
static void on_signal(int sig) { g_stop = sig; }

static climp_status open_data(const train_opts *o, const char *spec, long limit_synth,
                              uint64_t seed, climp_dataset **out) {
    climp_data_options d = {0};
    char buf[64];
    if (!spec || !strcmp(spec, "synthetic")) {
        snprintf(buf, sizeof(buf), "synthetic:%ld", limit_synth);
        spec = buf;
    }
    d.spec = spec;
    d.csv_separator = o->csv_sep;
    d.img_key = o->img_key;
    d.caption_key = o->cap_key;
    d.image_size = o->image_size;
    d.seed = seed;
    return climp_dataset_open(&d, out);
}

static climp_status evaluate(climp_model *m, const climp_tokenizer *tok, climp_dataset *ev,
                             int batch, climp_recall *r) {
    float *img = NULL, *txt = NULL;
    long n = 0;
    CLIMP_TRY(climp_embed_dataset(m, tok, ev, 0, batch, 0, &img, &txt, &n, 0));
    climp_recall_compute(img, txt, (int)n, climp_model_config(m)->embed_dim, r);
    free(img);
    free(txt);
    return CLIMP_OK;
}

static void print_recall(FILE *f, const char *what, const climp_recall *r) {
    fprintf(f,
            "%s (%d pairs): text->image R@1 %.1f%% R@5 %.1f%% R@10 %.1f%% | image->text R@1 %.1f%% "
            "R@5 %.1f%% R@10 %.1f%%\n",
            what, r->n, 100 * r->t2i[0], 100 * r->t2i[1], 100 * r->t2i[2], 100 * r->i2t[0],
            100 * r->i2t[1], 100 * r->i2t[2]);
}

/* A number as JSON: %.7g, or null for NaN and infinities (JSON has neither). */
static const char *json_num(char *buf, size_t n, double v) {
    if (isfinite(v)) snprintf(buf, n, "%.7g", v);
    else snprintf(buf, n, "null");
    return buf;
}

static void log_eval(FILE *lf, long step, const climp_recall *r) {
    if (!lf) return;
    fprintf(lf,
            "{\"step\": %ld, \"eval\": true, \"eval_pairs\": %d, \"t2i_r1\": %.6f, \"t2i_r5\": "
            "%.6f, \"t2i_r10\": %.6f, \"i2t_r1\": %.6f, \"i2t_r5\": %.6f, \"i2t_r10\": %.6f}\n",
            step, r->n, r->t2i[0], r->t2i[1], r->t2i[2], r->i2t[0], r->i2t[1], r->i2t[2]);
    fflush(lf);
}

/* Model from --init / --resume checkpoint, a preset, or a config file; initialised or loaded. */
static climp_status make_model(climp_ctx *ctx, const train_opts *o, const char *resume_ckpt,
                               climp_model **out) {
    climp_config cfg;
    char model_file[1200] = "";
    if (resume_ckpt) {
        snprintf(model_file, sizeof(model_file), "%s/model.safetensors", resume_ckpt);
    } else if (o->init) {
        CLIMP_TRY(climp_ckpt_model_file(o->init, model_file, sizeof(model_file)));
    }
    if (model_file[0]) {
        CLIMP_TRY(climp_checkpoint_config(model_file, &cfg));
    } else {
        CLIMP_TRY(climp_config_preset(o->model_config, &cfg));
    }
    climp_model *m = NULL;
    CLIMP_TRY(climp_model_create(ctx, &cfg, 1, &m));
    climp_model_set_recompute(m, o->recompute);
    climp_status s;
    if (model_file[0]) {
        s = climp_model_load(m, model_file);
    } else {
        const climp_param_table *t = climp_model_params(m);
        float *host = malloc(t->total * sizeof(float));
        if (!host) {
            climp_model_destroy(m);
            return CLIMP_ERR_HOST_OOM;
        }
        climp_params_init(t, o->seed, host);
        s = climp_model_set_params(m, host);
        free(host);
    }
    if (s) {
        climp_model_destroy(m);
        return s;
    }
    *out = m;
    return CLIMP_OK;
}

/* How this process takes part in training. */
typedef struct scale {
    int rank, world;     /* MPI_COMM_WORLD (0 and 1 without MPI) */
    climp_mpi_dp *dp;    /* world > 1 */
    climp_local *local;  /* several devices in this process */
} scale;

/* MPI start-up when launched by mpirun; usage errors (exit 2) for combinations not supported. */
static int start_mpi(const train_opts *o, scale *sc, climp_status *s) {
    sc->rank = 0;
    sc->world = 1;
    *s = CLIMP_OK;
    if (!climp_mpi_launched()) return -1;
    if ((*s = climp_mpi_init(&sc->rank, &sc->world))) return 1;
    if (sc->world > 1 && (o->ndev || o->vision_device)) {
        if (sc->rank == 0)
            fprintf(stderr, "climp train: --devices / --vision-device are not supported with "
                    "more than one MPI rank yet\n");
        climp_mpi_finalize();
        return 2;
    }
    if (sc->rank != 0 && climp_log_level() == CLIMP_LOG_INFO) climp_log_set_level(CLIMP_LOG_WARN);
    return -1;
}

/* Every rank must resume from the same checkpoint (the save folder is shared). */
static climp_status agree_on_resume(const scale *sc, long step) {
    if (sc->world == 1) return CLIMP_OK;
    long lo = step, hi = step;
    CLIMP_TRY(climp_mpi_min_long(&lo, 1));
    CLIMP_TRY(climp_mpi_max_long(&hi, 1));
    if (lo != hi) {
        climp_error_set("the ranks found different checkpoints (steps %ld and %ld): --save-dir "
                        "must be one folder that every rank sees",
                        lo, hi);
        return CLIMP_ERR_IO;
    }
    return CLIMP_OK;
}

static climp_status start_devices(const train_opts *o, climp_model *m, int S, scale *sc) {
    if (!o->ndev && !o->vision_device) return CLIMP_OK;
    climp_local_options lo = {0};
    lo.ndev = o->ndev;
    lo.devices = o->devices;
    lo.weights = o->nweights ? o->weights : NULL;
    lo.vision_device = o->vision_device;
    lo.text_device = o->text_device;
    lo.kernel_binaries = o->kernel_binaries;
    lo.kernel_variant = o->kernel_variant;
    lo.profile = o->profile;
    lo.batch = o->batch;
    lo.image_size = S;
    return climp_local_create(&lo, m, &sc->local);
}

/* One micro-batch through whichever engine this process uses. */
static climp_status micro_step(scale *sc, climp_model *m, const climp_batch_in *in,
                               float loss_scale, int last, float *loss) {
    if (sc->dp) return climp_mpi_dp_step(sc->dp, in, loss_scale, last, loss);
    if (sc->local) return climp_local_step(sc->local, in, loss_scale, loss);
    return climp_model_step(m, in, 1, loss_scale, loss, NULL, NULL);
}

int climp_cmd_train(int argc, char **argv) {
    train_opts o;
    int rc = climp_train_parse(argc, argv, &o);
    if (rc >= 0) return rc;
    scale sc = {0};
    climp_status s;
    rc = start_mpi(&o, &sc, &s);
    if (rc >= 0) {
        if (s) climp_report_error("starting MPI", s);
        return rc;
    }
    climp_ctx *ctx = NULL;
    climp_model *m = NULL;
    climp_optimizer *opt = NULL;
    climp_tokenizer *tok = NULL;
    climp_dataset *ds = NULL, *ev = NULL;
    climp_loader *ld = NULL;
    FILE *lf = NULL;
    climp_text_batch tb = {0};
    const char *what = "opening the device";
    climp_train_state st = {0};
    st.seed = o.seed;
    char resume_dir[1024], *resume_ckpt = NULL;
    climp_ctx_options co = {0};
    co.device = o.ndev ? o.devices[0] : o.vision_device ? o.vision_device : o.device;
    co.profile = o.profile;
    co.kernel_binaries = o.kernel_binaries;
    co.kernel_variant = o.kernel_variant;
    if ((s = climp_ctx_open(&co, &ctx))) goto fail;
    if (o.resume) {
        what = "resuming";
        s = climp_ckpt_find_latest(o.save_dir, resume_dir, sizeof(resume_dir), &st);
        if (s == CLIMP_OK) {
            resume_ckpt = resume_dir;
            climp_log(CLIMP_LOG_INFO, "resuming from %s (step %ld)", resume_dir, st.step);
        } else {
            climp_log(CLIMP_LOG_INFO, "no checkpoint in %s: starting from scratch", o.save_dir);
            st = (climp_train_state){0};
            st.seed = o.seed;
        }
        if ((s = agree_on_resume(&sc, resume_ckpt ? st.step : -1))) goto fail;
        /* The data shards and their order depend on the number of ranks and the batch. */
        if (resume_ckpt && st.world > 0 && st.world != sc.world) {
            climp_error_set("%s was written by a run of %d MPI rank(s); resume it with the same "
                            "number (mpirun -np %d), not %d",
                            resume_dir, st.world, st.world, sc.world);
            s = CLIMP_ERR_INVALID_ARG;
            goto fail;
        }
        if (resume_ckpt && st.batch > 0 && st.batch != o.batch) {
            climp_error_set("%s was written with --batch-size %ld; resume it with the same batch "
                            "size, not %d",
                            resume_dir, st.batch, o.batch);
            s = CLIMP_ERR_INVALID_ARG;
            goto fail;
        }
    }
    st.world = sc.world;
    st.batch = o.batch;
    what = "building the model";
    if ((s = make_model(ctx, &o, resume_ckpt, &m))) goto fail;
    const climp_config *cfg = climp_model_config(m);
    what = "opening the tokenizer";
    if ((s = climp_tokenizer_open(o.tokenizer, &tok))) goto fail;
    if (climp_tokenizer_vocab_size(tok) > cfg->text.vocab) {
        climp_error_set("tokenizer %s has %d ids but the model's embedding has %d rows",
                        o.tokenizer, climp_tokenizer_vocab_size(tok), cfg->text.vocab);
        s = CLIMP_ERR_INVALID_ARG;
        goto fail;
    }
    what = "opening the training data";
    if ((s = open_data(&o, o.data, 1000000, o.seed, &ds))) goto fail;
    if (o.eval_data || !o.data) {
        what = "opening the evaluation data";
        if ((s = open_data(&o, o.eval_data, 1000, climp_synth_eval_seed(o.seed), &ev)))
            goto fail;
    }
    what = "starting the data loader";
    if ((s = climp_loader_create_sharded(ds, o.batch, o.shuffle, o.augment, o.seed, o.threads,
                                         sc.rank, sc.world, &ld)))
        goto fail;
    if (resume_ckpt && (s = climp_loader_seek(ld, st.epoch, st.cursor))) goto fail;
    what = "creating the optimizer";
    if ((s = climp_optimizer_create(m, o.wd, o.grad_clip, o.lock_vision, o.lock_text, &opt)))
        goto fail;
    if (resume_ckpt) {
        char p[1200];
        snprintf(p, sizeof(p), "%s/optimizer.safetensors", resume_ckpt);
        what = "loading the optimizer state";
        if ((s = climp_optimizer_load(opt, p))) goto fail;
    }
    what = "starting the devices";
    if ((s = start_devices(&o, m, climp_dataset_image_size(ds), &sc))) goto fail;
    if (sc.world > 1) {
        const char *ov = getenv("CLIMP_MPI_OVERLAP");
        what = "starting data parallelism";
        if ((s = climp_mpi_dp_create(m, sc.rank, sc.world, !ov || strcmp(ov, "0"), &sc.dp)))
            goto fail;
    }
    long per_step = (long)o.batch * o.accum * sc.world; /* pairs of one optimizer step */
    long total = o.steps > 0 ? o.steps
                             : (long)ceil((double)o.epochs * climp_dataset_size(ds) / per_step);
    if (o.log_jsonl && sc.rank == 0) {
        lf = fopen(o.log_jsonl, resume_ckpt ? "a" : "w");
        if (!lf) {
            climp_error_set("cannot write %s: %s", o.log_jsonl, strerror(errno));
            s = CLIMP_ERR_IO;
            what = "opening the log";
            goto fail;
        }
    }
    const climp_param_table *pt = climp_model_params(m);
    char where[400];
    if (sc.world > 1)
        snprintf(where, sizeof(where), "%d MPI ranks (rank 0 on %s)", sc.world,
                 climp_ctx_info(ctx)->name);
    else if (sc.local)
        snprintf(where, sizeof(where), "%d devices", climp_local_count(sc.local));
    else
        snprintf(where, sizeof(where), "%s", climp_ctx_info(ctx)->name);
    if (sc.rank == 0) {
        fprintf(stderr,
                "climp train: %s (%.2fM parameters) on %s | data %s (%ld pairs, %dx%d) | batch %d "
                "x %d accum%s | %ld steps | lr %g %s warmup %d\n",
                cfg->name, pt->total / 1e6, where, climp_dataset_kind(ds), climp_dataset_size(ds),
                climp_dataset_image_size(ds), climp_dataset_image_size(ds), o.batch, o.accum,
                sc.world > 1 ? " x ranks" : "", total, o.lr, o.cosine ? "cosine" : "const",
                o.warmup);
        if (sc.local) climp_local_describe(sc.local, stderr);
    }
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    climp_progress pg;
    climp_progress_init(&pg);
    int S = climp_dataset_image_size(ds), bad_in_row = 0;
    tb.cap = o.max_text_len;
    float logit_scale = 0;
    long start_step = st.step, base_skipped = st.skipped;
    while (st.step < total && !g_stop) {
        double t0 = climp_now_seconds();
        what = "training";
        if ((s = climp_model_zero_grads(m))) goto fail;
        if (sc.local && (s = climp_local_zero_grads(sc.local))) goto fail;
        double loss_sum = 0;
        int finite = 1;
        for (int a = 0; a < o.accum; a++) {
            climp_batch *b = NULL;
            what = "loading a batch";
            if ((s = climp_loader_next(ld, &b))) goto fail;
            what = "tokenising captions";
            if ((s = climp_text_batch_fill(&tb, tok, b->captions, b->B))) goto fail;
            climp_batch_in in = {b->B, S, S, b->images, tb.Lmax, tb.tokens, tb.lengths};
            float loss = 0;
            what = "training step";
            if ((s = micro_step(&sc, m, &in, 1.0f / o.accum, a == o.accum - 1, &loss)))
                goto fail;
            if (!isfinite(loss)) finite = 0;
            loss_sum += loss;
        }
        what = "summing the gradients";
        if (sc.dp && (s = climp_mpi_dp_reduce(sc.dp))) goto fail;
        if (sc.local && (s = climp_local_reduce(sc.local))) goto fail;
        float lr = climp_lr_at(o.cosine ? CLIMP_LR_COSINE : CLIMP_LR_CONST, o.lr, o.warmup,
                               (int)total, (int)st.step);
        double gnorm = 0;
        if (finite) {
            s = climp_optimizer_step(opt, lr, 1.0f, &gnorm);
            if (s == CLIMP_ERR_NOT_FINITE) finite = 0;
            else if (s) goto fail;
        }
        what = "copying the parameters to the devices";
        if (sc.local && (s = climp_local_broadcast(sc.local))) goto fail;
        climp_loader_position(ld, &st.epoch, &st.cursor);
        long agreed[2] = {climp_loader_skipped(ld), g_stop};
        what = "agreeing across ranks";
        if (sc.world > 1 && ((s = climp_mpi_sum_long(agreed, 1)) ||
                             (s = climp_mpi_max_long(agreed + 1, 1))))
            goto fail;
        st.skipped = base_skipped + agreed[0];
        if (agreed[1]) g_stop = (sig_atomic_t)agreed[1];
        double loss = loss_sum / o.accum, dt = climp_now_seconds() - t0;
        if (!finite) {
            st.nan_skips++;
            climp_log(CLIMP_LOG_WARN, "step %ld: non-finite loss or gradient (loss %g, grad norm "
                      "%g): step skipped (%d in a row)", st.step + 1, loss, gnorm, bad_in_row + 1);
            if (++bad_in_row >= o.max_nan_steps) {
                what = "training";
                climp_error_set("%d steps in a row had a non-finite loss or gradient; stopping "
                                "(the last checkpoint is untouched). Lower --lr or use --grad-clip",
                                bad_in_row);
                s = CLIMP_ERR_NOT_FINITE;
                goto fail;
            }
        } else {
            bad_in_row = 0;
        }
        st.step++;
        climp_view_read(ctx, climp_model_param(m, "logit_scale"), &logit_scale, 1);
        double sps = per_step / (dt > 0 ? dt : 1e-9);
        if (lf) {
            char jl[32], jg[32]; /* JSON has no NaN or Infinity: such values are written null */
            fprintf(lf,
                    "{\"step\": %ld, \"loss\": %s, \"lr\": %.6g, \"logit_scale\": %.7g, "
                    "\"samples_per_s\": %.3f, \"grad_norm\": %s, \"epoch\": %d, "
                    "\"skipped\": %ld, \"finite\": %s}\n",
                    st.step, json_num(jl, sizeof(jl), loss), lr, logit_scale, sps,
                    json_num(jg, sizeof(jg), gnorm), st.epoch, st.skipped,
                    finite ? "true" : "false");
            fflush(lf);
        }
        char extra[96];
        snprintf(extra, sizeof(extra), " loss %.4f", loss);
        if (sc.rank == 0)
            climp_progress_update(&pg, "train", st.step - start_step, total - start_step,
                                  (double)per_step, "samples", extra);
        if (sc.rank != 0) continue; /* the other ranks neither save nor evaluate */
        if (o.save_dir && o.save_every > 0 && st.step % o.save_every == 0 && st.step < total) {
            what = "saving a checkpoint";
            if ((s = climp_ckpt_save(o.save_dir, m, opt, &st, o.tokenizer, o.keep))) goto fail;
        }
        if (ev && o.eval_every > 0 && st.step % o.eval_every == 0 && st.step < total) {
            climp_recall r;
            what = "evaluating";
            if ((s = evaluate(m, tok, ev, o.batch, &r))) goto fail;
            climp_progress_done(&pg);
            char label[64];
            snprintf(label, sizeof(label), "eval at step %ld", st.step);
            print_recall(stderr, label, &r);
            log_eval(lf, st.step, &r);
        }
    }
    if (sc.rank != 0) goto done;
    climp_progress_done(&pg);
    if (g_stop) fprintf(stderr, "climp train: signal %d: saving a checkpoint at step %ld\n",
                        (int)g_stop, st.step);
    if (o.save_dir) {
        what = "saving the final checkpoint";
        if ((s = climp_ckpt_save(o.save_dir, m, opt, &st, o.tokenizer, o.keep))) goto fail;
        fprintf(stderr, "climp train: checkpoint %s/ckpt-%ld\n", o.save_dir, st.step);
    }
    if (ev && !g_stop) {
        climp_recall r;
        what = "evaluating";
        if ((s = evaluate(m, tok, ev, o.batch, &r))) goto fail;
        print_recall(stdout, "held-out retrieval", &r);
        log_eval(lf, st.step, &r);
    }
    if (st.skipped || tb.truncated || st.nan_skips)
        fprintf(stderr, "climp train: %ld bad samples skipped, %ld captions truncated, %ld steps "
                "skipped for non-finite values\n", st.skipped, tb.truncated, st.nan_skips);
    if (o.profile) climp_profile_print(ctx, stderr);
done:
    s = CLIMP_OK;
fail:
    if (s) climp_report_error(what, s);
    if (s && sc.world > 1) climp_mpi_abort(1); /* the other ranks would wait forever */
    climp_mpi_dp_destroy(sc.dp);
    climp_local_destroy(sc.local);
    if (lf) fclose(lf);
    climp_text_batch_free(&tb);
    climp_loader_destroy(ld);
    climp_dataset_close(ds);
    climp_dataset_close(ev);
    climp_tokenizer_free(tok);
    climp_optimizer_destroy(opt);
    climp_model_destroy(m);
    climp_ctx_close(ctx);
    climp_mpi_finalize();
    return s ? 1 : 0;
}
