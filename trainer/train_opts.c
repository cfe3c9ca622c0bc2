/* Parsing and validation of `climp train` options: every value range-checked, one line and exit
 * code 2 for any mistake, before anything is written. */
#define _POSIX_C_SOURCE 200809L
#include "trainer/train_opts.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "model/config.h"
#include "trainer/cli.h"
#include "trainer/data.h"
#include "trainer/dist.h"

static void usage(void) {
    printf(
        "usage: climp train [options]\n\n"
        "Contrastive image-text training (symmetric InfoNCE, AdamW). With no --data it trains on\n"
        "the built-in synthetic shapes data and evaluates on 1,000 held-out pairs.\n\n"
        "data:\n"
        "  --data D             synthetic[:N] | file.tsv | file.csv | \"dir/{00000..00009}.tar\"\n"
        "  --eval-data D        held-out pairs for retrieval (default: synthetic, other seed)\n"
        "  --csv-separator C    TSV/CSV field separator (default tab; comma for .csv)\n"
        "  --csv-img-key K      image path column (default filepath)\n"
        "  --csv-caption-key K  caption column (default title)\n"
        "  --image-size S       images resized to SxS (default 64)\n"
        "  --tokenizer T        bytes | path/to/tokenizer.json (default bytes)\n"
        "  --max-text-len N     tokens per caption, longer ones are cut (default 256)\n"
        "  --threads N          data loader threads (default 2)\n"
        "  --no-shuffle         consecutive rows in file order\n"
        "  --no-augment         no random resized crop\n"
        "model:\n"
        "  --model-config P     preset or config .json (default tiny); presets: %s\n"
        "  --init CKPT          start from a checkpoint (climp or converted release weights)\n"
        "  --lock-text          freeze text_encoder.* (projections stay trainable)\n"
        "  --lock-vision        freeze vision_encoder.*\n"
        "optimisation:\n"
        "  --batch-size B       pairs per micro-batch of this process (default 64)\n"
        "  --accum-steps A      micro-batches per optimizer step (default 1)\n"
        "  --steps N | --epochs E   length of the run (default 800 steps)\n"
        "  --lr LR              peak learning rate (default 1e-3; 3e-3 collapses tiny)\n"
        "  --wd WD              decoupled weight decay (default 0.1)\n"
        "  --warmup W           linear warmup steps (default 40)\n"
        "  --lr-schedule S      cosine | const (default cosine)\n"
        "  --grad-clip C        clip the global gradient norm to C (default off)\n"
        "  --seed S             initialisation, data order and augmentation (default 1)\n"
        "  --max-nan-steps N    stop after N non-finite steps in a row (default 5)\n"
        "checkpoints and logs:\n"
        "  --save-dir DIR       write DIR/ckpt-<step>/ (model, optimizer, state) and DIR/latest\n"
        "  --save-every N       checkpoint every N steps (and at the end)\n"
        "  --keep K             keep the newest K checkpoints (default 3)\n"
        "  --resume             continue exactly from the newest valid checkpoint in --save-dir\n"
        "  --log-jsonl FILE     one JSON object per optimizer step\n"
        "  --eval-every N       retrieval evaluation every N steps\n"
        "device:\n"
        "  --device D           P:D index or name substring (default $CLIMP_DEVICE or 0:0)\n"
        "  --kernel-binaries D  load offline kernel binaries from D (no compilation)\n"
        "  --kernel-variant V   ndrange | fpga (default: fpga on ACCELERATOR devices)\n"
        "  --profile            per-kernel time table at the end\n"
        "  --recompute          keep only block outputs, recompute activations in backward\n"
        "                       (much less memory for about one more forward pass)\n"
        "several devices (one process, any vendors; see `climp devices`):\n"
        "  --devices LIST       data parallel over a comma list of devices (e.g. 0:0,1:0): each\n"
        "                       batch is split in proportion to their speed, measured at start\n"
        "  --device-weights W   comma list of relative speeds instead of measuring (e.g. 3,1)\n"
        "  --vision-device D    run the vision tower on D and the text tower on --text-device,\n"
        "  --text-device D      concurrently; they meet at the loss\n"
        "several processes (MPI%s):\n"
        "  mpirun -np P climp train ...  data parallel over P ranks, each on its --device (or\n"
        "                       $CLIMP_DEVICE: mpirun -np 1 -x CLIMP_DEVICE=0:0 climp train ... :\n"
        "                       -np 1 -x CLIMP_DEVICE=1:0 climp train ...). --batch-size is per\n"
        "                       rank (global batch P x B); rank 0 alone writes logs and\n"
        "                       checkpoints; --resume needs the same P. CLIMP_MPI_OVERLAP=0 stops\n"
        "                       reducing text gradients while the vision backward runs\n",
        climp_config_preset_names(),
        climp_mpi_available() ? ": built in" : ": not built in this binary");
}

/* Comma list into o->devices_buf / out (at most CLIMP_TRAIN_MAX_DEVICES items); 0 if bad. */
static int split_list(train_opts *o, size_t *used, const char *list, const char **out, int *n) {
    size_t len = strlen(list);
    if (*used + len + 1 > sizeof(o->devices_buf)) return 0;
    char *buf = o->devices_buf + *used;
    memcpy(buf, list, len + 1);
    *used += len + 1;
    *n = 0;
    for (char *tok = buf;; tok++) {
        char *comma = strchr(tok, ',');
        if (comma) *comma = 0;
        if (!*tok || *n == CLIMP_TRAIN_MAX_DEVICES) return 0;
        out[(*n)++] = tok;
        if (!comma) return 1;
        tok = comma;
    }
}

static int check_dir_writable(const char *dir) {
    if (mkdir(dir, 0755) && errno != EEXIST) {
        fprintf(stderr, "climp train: cannot create --save-dir %s: %s\n", dir, strerror(errno));
        return 0;
    }
    struct stat sb;
    if (stat(dir, &sb) || !S_ISDIR(sb.st_mode)) {
        fprintf(stderr, "climp train: --save-dir %s is not a folder\n", dir);
        return 0;
    }
    if (access(dir, W_OK)) {
        fprintf(stderr, "climp train: --save-dir %s is not writable: %s\n", dir, strerror(errno));
        return 0;
    }
    return 1;
}

int climp_train_parse(int argc, char **argv, train_opts *o) {
    memset(o, 0, sizeof(*o));
    o->model_config = "tiny";
    o->tokenizer = "bytes";
    o->image_size = 64;
    o->batch = 64;
    o->accum = 1;
    o->steps = 800;
    o->lr = 1e-3f;
    o->wd = 0.1f;
    o->warmup = 40;
    o->cosine = 1;
    o->shuffle = 1;
    o->augment = 1;
    o->keep = 3;
    o->threads = 2;
    o->max_text_len = 256;
    o->max_nan_steps = 5;
    o->seed = 1;
    int have_steps = 0, have_epochs = 0;
    size_t buf_used = 0;
    for (int i = 1; i < argc; i++) {
        long v;
        double d;
        const char *sv;
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage();
            return 0;
        }
        if (climp_opt_str(argc, argv, &i, "--data", &o->data)) continue;
        if (climp_opt_str(argc, argv, &i, "--eval-data", &o->eval_data)) continue;
        if (climp_opt_str(argc, argv, &i, "--csv-separator", &o->csv_sep)) {
            if (!climp_tsv_separator_valid(o->csv_sep)) {
                fprintf(stderr, "climp train: --csv-separator '%s': give one byte, \"\\t\" or "
                        "\"tab\"\n", o->csv_sep);
                return 2;
            }
            continue;
        }
        if (climp_opt_str(argc, argv, &i, "--csv-img-key", &o->img_key)) continue;
        if (climp_opt_str(argc, argv, &i, "--csv-caption-key", &o->cap_key)) continue;
        if (climp_opt_str(argc, argv, &i, "--model-config", &o->model_config)) continue;
        if (climp_opt_str(argc, argv, &i, "--init", &o->init)) continue;
        if (climp_opt_str(argc, argv, &i, "--tokenizer", &o->tokenizer)) continue;
        if (climp_opt_str(argc, argv, &i, "--save-dir", &o->save_dir)) continue;
        if (climp_opt_str(argc, argv, &i, "--log-jsonl", &o->log_jsonl)) continue;
        if (climp_opt_str(argc, argv, &i, "--device", &o->device)) continue;
        if (climp_opt_str(argc, argv, &i, "--kernel-binaries", &o->kernel_binaries)) continue;
        if (climp_opt_str(argc, argv, &i, "--kernel-variant", &o->kernel_variant)) {
            if (strcmp(o->kernel_variant, "ndrange") && strcmp(o->kernel_variant, "fpga")) {
                fprintf(stderr, "climp train: --kernel-variant must be ndrange or fpga\n");
                return 2;
            }
            continue;
        }
        if (climp_opt_int(argc, argv, &i, "--image-size", 8, 4096, &v)) { o->image_size = (int)v; continue; }
        if (climp_opt_int(argc, argv, &i, "--batch-size", 1, 65536, &v)) { o->batch = (int)v; continue; }
        if (climp_opt_int(argc, argv, &i, "--accum-steps", 1, 4096, &v)) { o->accum = (int)v; continue; }
        if (climp_opt_int(argc, argv, &i, "--steps", 1, 1000000000L, &v)) { o->steps = v; have_steps = 1; continue; }
        if (climp_opt_float(argc, argv, &i, "--epochs", 1e-6, 1e6, &d)) { o->epochs = d; have_epochs = 1; continue; }
        if (climp_opt_float(argc, argv, &i, "--lr", 0, 10, &d)) { o->lr = (float)d; continue; }
        if (climp_opt_float(argc, argv, &i, "--wd", 0, 10, &d)) { o->wd = (float)d; continue; }
        if (climp_opt_int(argc, argv, &i, "--warmup", 0, 100000000, &v)) { o->warmup = (int)v; continue; }
        if (climp_opt_float(argc, argv, &i, "--grad-clip", 0, 1e9, &d)) { o->grad_clip = (float)d; continue; }
        if (climp_opt_int(argc, argv, &i, "--seed", 0, 0x7fffffffL, &v)) { o->seed = (uint64_t)v; continue; }
        if (climp_opt_int(argc, argv, &i, "--save-every", 1, 1000000000L, &v)) { o->save_every = (int)v; continue; }
        if (climp_opt_int(argc, argv, &i, "--eval-every", 1, 1000000000L, &v)) { o->eval_every = (int)v; continue; }
        if (climp_opt_int(argc, argv, &i, "--keep", 1, 100000, &v)) { o->keep = (int)v; continue; }
        if (climp_opt_int(argc, argv, &i, "--threads", 1, 256, &v)) { o->threads = (int)v; continue; }
        if (climp_opt_int(argc, argv, &i, "--max-text-len", 2, 1 << 20, &v)) { o->max_text_len = (int)v; continue; }
        if (climp_opt_int(argc, argv, &i, "--max-nan-steps", 1, 1000000, &v)) { o->max_nan_steps = (int)v; continue; }
        if (climp_opt_str(argc, argv, &i, "--lr-schedule", &sv)) {
            if (!strcmp(sv, "cosine")) o->cosine = 1;
            else if (!strcmp(sv, "const")) o->cosine = 0;
            else {
                fprintf(stderr, "climp train: --lr-schedule must be cosine or const\n");
                return 2;
            }
            continue;
        }
        if (climp_opt_str(argc, argv, &i, "--vision-device", &o->vision_device)) continue;
        if (climp_opt_str(argc, argv, &i, "--text-device", &o->text_device)) continue;
        if (climp_opt_str(argc, argv, &i, "--devices", &sv)) {
            if (!split_list(o, &buf_used, sv, o->devices, &o->ndev)) {
                fprintf(stderr, "climp train: --devices wants a comma list of at most %d device "
                        "selectors\n", CLIMP_TRAIN_MAX_DEVICES);
                return 2;
            }
            continue;
        }
        if (climp_opt_str(argc, argv, &i, "--device-weights", &sv)) {
            const char *w[CLIMP_TRAIN_MAX_DEVICES];
            int ok = split_list(o, &buf_used, sv, w, &o->nweights);
            for (int k = 0; ok && k < o->nweights; k++) {
                char *end;
                o->weights[k] = strtod(w[k], &end);
                ok = *end == 0 && o->weights[k] > 0 && o->weights[k] < 1e9;
            }
            if (!ok) {
                fprintf(stderr, "climp train: --device-weights wants a comma list of positive "
                        "numbers\n");
                return 2;
            }
            continue;
        }
        if (!strcmp(argv[i], "--no-shuffle")) { o->shuffle = 0; continue; }
        if (!strcmp(argv[i], "--no-augment")) { o->augment = 0; continue; }
        if (!strcmp(argv[i], "--resume")) { o->resume = 1; continue; }
        if (!strcmp(argv[i], "--lock-text")) { o->lock_text = 1; continue; }
        if (!strcmp(argv[i], "--lock-vision")) { o->lock_vision = 1; continue; }
        if (!strcmp(argv[i], "--profile")) { o->profile = 1; continue; }
        if (!strcmp(argv[i], "--recompute")) { o->recompute = 1; continue; }
        fprintf(stderr, "climp train: unknown option '%s' (try climp train --help)\n", argv[i]);
        return 2;
    }
    if (have_steps && have_epochs) {
        fprintf(stderr, "climp train: give --steps or --epochs, not both\n");
        return 2;
    }
    if (have_epochs) o->steps = 0;
    if (o->resume && !o->save_dir) {
        fprintf(stderr, "climp train: --resume needs --save-dir\n");
        return 2;
    }
    if (o->init && o->resume) {
        fprintf(stderr, "climp train: --init and --resume exclude each other\n");
        return 2;
    }
    const char *clash = NULL;
    if (o->ndev == 1) clash = "--devices needs two devices or more (use --device for one)";
    else if (o->ndev && (o->device || o->vision_device || o->text_device))
        clash = "--devices excludes --device, --vision-device and --text-device";
    else if (!o->vision_device != !o->text_device)
        clash = "--vision-device and --text-device go together";
    else if (o->vision_device && o->device)
        clash = "--vision-device/--text-device exclude --device";
    else if (o->nweights && o->nweights != o->ndev)
        clash = "--device-weights needs one weight per device of --devices";
    if (clash) {
        fprintf(stderr, "climp train: %s\n", clash);
        return 2;
    }
    if (o->save_dir && !check_dir_writable(o->save_dir)) return 2;
    return -1;
}
