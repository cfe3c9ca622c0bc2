/* Trainer data layer (plain C, no OpenCL): datasets of (image, caption) pairs and a prefetching
 * batch loader. Sources: the built-in synthetic generator (trainer/synth.c), TSV/CSV in
 * open_clip's convention (trainer/tsv.c), WebDataset tar shards (trainer/tar.c); image decode,
 * resize and augmentation (trainer/image.c); the dataset interface and worker threads
 * (trainer/loader.c). Tests: tests/test_data.c, tests/test_image.c.
 *
 * Image tensors are float32, channel-last (S, S, 3), RGB, (x/255 - mean) / std with the ImageNet
 * mean and std. All per-sample randomness derives only from (seed, epoch, index), so results do
 * not depend on the number of worker threads. Every file read is treated as hostile: a bad
 * sample is skipped and counted with a reason, never a crash. */
#ifndef CLIMP_DATA_H
#define CLIMP_DATA_H

#include "runtime/climp_runtime.h"
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------- defaults */
#define CLIMP_DATA_IMAGE_SIZE 64                  /* S when options.image_size is 0 */
#define CLIMP_DATA_MAX_IMAGE_SIZE 4096            /* largest S */
#define CLIMP_DATA_SYNTH_N 100000                 /* "synthetic" without :N */
#define CLIMP_DATA_SYNTH_EVAL_N 1000              /* "synthetic-eval" without :N */
#define CLIMP_DATA_MAX_CAPTION 4096               /* bytes; longer captions are truncated */
#define CLIMP_DATA_MAX_PIXELS (8192L * 8192L)     /* declared w*h above this is refused */
#define CLIMP_DATA_MAX_FILE_BYTES (256L << 20)    /* image files / members larger are refused */
#define CLIMP_DATA_MAX_SHARDS 1000000             /* brace expansion limit */

/* ---------------------------------------------------------------- dataset */
typedef struct climp_dataset climp_dataset;

typedef struct climp_data_options {
    /* NULL or "synthetic" or "synthetic:N" (N pairs, default 100000); "synthetic-eval[:N]" (the
     * held-out set: N pairs, default 1000, from climp_synth_eval_seed(seed)); a .tsv/.csv file;
     * or WebDataset tar shards: "dir/{00000..00099}.tar", a plain path, or a comma list. */
    const char *spec;
    const char *csv_separator; /* one byte, "\\t" or "tab"; NULL: tab (comma for *.csv) */
    const char *img_key;       /* NULL: "filepath" */
    const char *caption_key;   /* NULL: "title" */
    int image_size;            /* S; 0: 64 */
    uint64_t seed;             /* synthetic images and augmentation randomness */
    int max_caption_bytes;     /* 0: 4096 */
    long max_pixels;           /* 0: 8192*8192 */
} climp_data_options;

/* Counts gathered while indexing (and, for the *_get fields, while reading samples). */
typedef struct climp_data_stats {
    long rows;                /* data rows / tar samples seen (before skipping) */
    long rows_short;          /* TSV rows with too few fields (skipped) */
    long rows_no_image;       /* TSV rows with an empty image path (skipped) */
    long captions_empty;      /* skipped */
    long captions_bad_utf8;   /* invalid UTF-8 or a NUL byte (skipped) */
    long captions_truncated;  /* longer than max_caption_bytes (kept, cut at a UTF-8 boundary) */
    long members_unsafe;      /* tar names that are absolute or contain ".." (skipped) */
    long samples_webp;        /* tar samples whose only image is .webp (unsupported, skipped) */
    long samples_incomplete;  /* tar keys without an image or without a .txt (skipped) */
    long shards_bad;          /* missing, truncated or corrupt shards (indexed up to the fault) */
} climp_data_stats;

climp_status climp_dataset_open(const climp_data_options *opt, climp_dataset **out);
void climp_dataset_close(climp_dataset *ds); /* NULL ok */
long climp_dataset_size(const climp_dataset *ds);
int climp_dataset_image_size(const climp_dataset *ds);
const char *climp_dataset_kind(const climp_dataset *ds); /* "synthetic", "tsv", "tar" */
/* Source row of sample i: the 0-based data row of the TSV (in file order, counting skipped
 * rows) or the sample's ordinal among all tar keys; i for synthetic data. -1 if out of range. */
long climp_dataset_row(const climp_dataset *ds, long i);
void climp_dataset_stats(const climp_dataset *ds, climp_data_stats *out);
/* Sample i: image (S*S*3 floats, channel-last, normalised) and caption (NUL-terminated, copied
 * into cap of size cap_size, cut at a UTF-8 boundary if it does not fit). augment: random
 * resized crop (scale 0.9-1, ratio 3/4-4/3) with randomness from (seed, epoch, i). Returns
 * CLIMP_ERR_FORMAT / CLIMP_ERR_IO for a bad sample (reason via climp_error_detail()),
 * CLIMP_ERR_INVALID_ARG for i out of range. Safe to call from several threads at once. */
climp_status climp_dataset_get(climp_dataset *ds, long i, int epoch, int augment, float *image,
                               char *cap, size_t cap_size);

/* ---------------------------------------------------------------- loader */
/* Prefetching batch loader: worker threads fill batches of B valid samples, in order, for a
 * sample order that is a permutation per epoch derived from (seed, epoch), or the identity with
 * shuffle=0. Bad samples are skipped, counted, and the next position is used, identically for
 * any thread count (threads=0 decodes on the calling thread). A final partial batch of an epoch
 * is dropped. Sharding: rank r of world takes, from each global group of B*world consecutive
 * positions of the order, the r-th slice of B positions (its "stream"); each rank skips bad
 * samples within its own stream, so with no bad samples global batch g is positions
 * [g*B*world, (g+1)*B*world); with world > 1 only full global groups are used (one process also
 * uses the tail, to replace skipped samples). The position (epoch, cursor) counts stream items
 * of this rank (for world=1 the cursor is the next position in the epoch's order), so each rank
 * saves its own. `seed` drives the order only; crops come from the dataset's options.seed.
 * threads is capped at 64; the ring holds B + 4*threads decoded samples. */
typedef struct climp_loader climp_loader;
typedef struct climp_batch {
    int B, S;
    float *images;   /* (B, S, S, 3) */
    char **captions; /* B NUL-terminated strings */
    long *indices;   /* B dataset indices */
    int epoch;       /* epoch the batch came from */
} climp_batch;

climp_status climp_loader_create(climp_dataset *ds, int batch, int shuffle, int augment,
                                 uint64_t seed, int threads, climp_loader **out);
climp_status climp_loader_create_sharded(climp_dataset *ds, int batch, int shuffle, int augment,
                                         uint64_t seed, int threads, int rank, int world,
                                         climp_loader **out);
/* Blocks until the next batch is ready; *batch stays valid until the next call. Fails with
 * CLIMP_ERR_FORMAT when a whole epoch yields no full batch (every sample bad). */
climp_status climp_loader_next(climp_loader *ld, climp_batch **batch);
void climp_loader_position(const climp_loader *ld, int *epoch, long *cursor); /* checkpoints */
climp_status climp_loader_seek(climp_loader *ld, int epoch, long cursor);     /* resume */
long climp_loader_skipped(const climp_loader *ld); /* bad samples consumed (not rewound) */
void climp_loader_destroy(climp_loader *ld);       /* NULL ok */
/* Dataset index at position pos of the epoch's order (pos < size). */
long climp_loader_order(const climp_loader *ld, int epoch, long pos);

/* ---------------------------------------------------------------- randomness */
/* splitmix64 finaliser; a hash of a few words; a tiny generator for per-sample draws. */
static inline uint64_t climp_data_mix64(uint64_t x) {
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}
static inline uint64_t climp_data_hash3(uint64_t a, uint64_t b, uint64_t c) {
    return climp_data_mix64(climp_data_mix64(climp_data_mix64(a) ^ b) ^ c);
}
typedef struct climp_data_rng { uint64_t s; } climp_data_rng;
static inline uint64_t climp_data_rng_next(climp_data_rng *r) {
    r->s += 0x9E3779B97F4A7C15ull;
    uint64_t x = r->s;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}
static inline double climp_data_rng_uniform(climp_data_rng *r) { /* [0, 1) */
    return (double)(climp_data_rng_next(r) >> 11) * (1.0 / 9007199254740992.0);
}
/* Stream tags, so that the synthetic scene, the crop and the order never share draws. */
enum { CLIMP_RNG_SYNTH = 0x53594e, CLIMP_RNG_CROP = 0x435250, CLIMP_RNG_ORDER = 0x4f5244 };

/* ---------------------------------------------------------------- synthetic (synth.c) */
enum { CLIMP_SYNTH_COLORS = 6, CLIMP_SYNTH_SHAPES = 4, CLIMP_SYNTH_QUADRANTS = 4 };
extern const char *const climp_synth_color_names[CLIMP_SYNTH_COLORS];  /* red green blue ... */
extern const char *const climp_synth_shape_names[CLIMP_SYNTH_SHAPES];  /* circle square ... */
extern const char *const climp_synth_quadrant_names[CLIMP_SYNTH_QUADRANTS]; /* top left ... */
extern const uint8_t climp_synth_palette[CLIMP_SYNTH_COLORS][3]; /* before hue jitter */

typedef struct climp_synth_object {
    int color, shape, large, quadrant;
    float cx, cy, extent; /* centre and side/diameter, in pixels */
    uint8_t rgb[3];       /* jittered colour actually drawn */
} climp_synth_object;
typedef struct climp_synth_scene {
    int n; /* 1 or 2 */
    climp_synth_object obj[2];
    uint8_t background[3];
} climp_synth_scene;

/* The scene of sample `index` for `seed`, at size S (a pure function of the three). */
void climp_synth_scene_make(uint64_t seed, long index, int S, climp_synth_scene *scene);
/* Rasterise a scene into rgb (S, S, 3) uint8; writes the caption into cap (may be NULL) and
 * returns its length (bytes needed without the NUL, like snprintf). */
size_t climp_synth_render(const climp_synth_scene *scene, int S, uint8_t *rgb, char *cap,
                          size_t cap_size);
/* Seed of the held-out synthetic evaluation set for a training seed. */
uint64_t climp_synth_eval_seed(uint64_t seed);

/* ---------------------------------------------------------------- images (image.c) */
extern const float climp_image_mean[3]; /* 0.485 0.456 0.406 */
extern const float climp_image_std[3];  /* 0.229 0.224 0.225 */

typedef struct climp_image {
    int w, h;
    uint8_t *rgb; /* (h, w, 3) */
} climp_image;
/* Decode JPEG (baseline, progressive) / PNG (8/16-bit) / BMP / GIF (first frame) from memory to
 * 8-bit RGB (grey is replicated, alpha dropped, 16-bit reduced). Refuses (CLIMP_ERR_FORMAT, reason
 * in the detail) unknown or corrupt data and declared sizes of zero or above max_pixels (0:
 * default) before decoding; `what` names the source in the message. Thread-safe. */
climp_status climp_image_decode(const void *data, size_t n, long max_pixels, const char *what,
                                climp_image *out);
void climp_image_free(climp_image *img); /* frees img->rgb; NULL ok */
/* Whole file into memory (at most max_bytes; 0: CLIMP_DATA_MAX_FILE_BYTES). */
climp_status climp_data_read_file(const char *path, size_t max_bytes, uint8_t **data, size_t *n);

typedef struct climp_crop { int x, y, w, h; } climp_crop; /* pixel box of the source */
/* torchvision RandomResizedCrop.get_params with scale (0.9, 1), ratio (3/4, 4/3), drawing from
 * rng (10 tries, then the central crop fallback). */
climp_crop climp_random_resized_crop(int w, int h, climp_data_rng *rng);
/* Bilinear resize of the crop box of rgb (h, w, 3) to (S, S), align_corners=False half-pixel
 * centres without antialiasing (F.interpolate / torchvision tensor Resize(antialias=False)),
 * then out = (v/255 - mean)/std, channel-last (S, S, 3). S <= CLIMP_DATA_MAX_IMAGE_SIZE; a crop
 * box outside the image means the whole image. */
void climp_image_resize_normalize(const uint8_t *rgb, int w, int h, climp_crop crop, int S,
                                  float *out);
/* Normalisation only, at the image's own size: out (h, w, 3) = (v/255 - mean)/std with the same
 * arithmetic as the resize of a same-size image (so both give bitwise the same floats). */
void climp_image_normalize(const uint8_t *rgb, int w, int h, float *out);
/* Sample i of a dataset decoded at its own size (synthetic: S x S) with its caption, for inference
 * without resizing; free img with climp_image_free. Errors as climp_dataset_get. */
climp_status climp_dataset_get_rgb(climp_dataset *ds, long i, climp_image *img, char *cap,
                                   size_t cap_size);
/* Same resize without normalisation, to uint8 (rounded): previews and tests. */
void climp_image_resize_u8(const uint8_t *rgb, int w, int h, climp_crop crop, int S,
                           uint8_t *out);

/* ---------------------------------------------------------------- TSV / CSV (tsv.c) */
typedef struct climp_tsv {
    char *dir;          /* folder of the file (relative image paths are joined to it) */
    long n;             /* usable rows */
    char *pool;         /* NUL-terminated strings */
    size_t *path_off;   /* (n) offsets into pool */
    size_t *cap_off;    /* (n) */
    long *row;          /* (n) 0-based data row in the file */
    climp_data_stats stats;
} climp_tsv;
/* Parse the whole file. sep: one byte (or NULL: see climp_data_options). Missing key columns
 * give CLIMP_ERR_FORMAT naming the file and line; so does an unterminated quote. */
/* Whether --csv-separator SEP is accepted (NULL or empty: the default by file extension). */
int climp_tsv_separator_valid(const char *sep);
climp_status climp_tsv_load(const char *path, const char *sep, const char *img_key,
                            const char *cap_key, int max_caption_bytes, climp_tsv **out);
void climp_tsv_free(climp_tsv *t);
/* Full image path of row i into buf. */
climp_status climp_tsv_image_path(const climp_tsv *t, long i, char *buf, size_t size);

/* UTF-8 helpers shared by tsv.c and tar.c. */
int climp_data_utf8_valid(const char *s, size_t n);        /* strict; NUL bytes are invalid */
size_t climp_data_utf8_cut(const char *s, size_t n, size_t max); /* longest prefix <= max bytes
                                                              ending on a boundary */
/* s made printable on one line into buf (size > 0; returns buf): newline, CR and tab as \n \r \t,
 * other control bytes and invalid UTF-8 as \xHH, cut with "..." to fit. For names from files. */
const char *climp_data_quote(const char *s, char *buf, size_t size);

/* ---------------------------------------------------------------- tar shards (tar.c) */
typedef struct climp_tar_sample {
    uint64_t img_off, txt_off; /* member data offsets in the shard */
    uint32_t img_size, txt_size;
    uint32_t shard;
    uint32_t ordinal; /* key ordinal within the shard (for climp_dataset_row) */
} climp_tar_sample;
typedef struct climp_tar_index {
    int n_shards;
    char **shards;
    long n;
    climp_tar_sample *samples;
    long *shard_first_row; /* (n_shards) ordinal of the shard's first key over all shards */
    climp_data_stats stats;
} climp_tar_index;
/* Expand "a/{000..012}.tar", "{a,b}.tar", "x.tar,y.tar" (comma list outside braces; nested and
 * several brace groups are fine). *out is an array of malloc'ed strings. */
climp_status climp_expand_pattern(const char *pattern, char ***out, int *n);
void climp_data_free_strings(char **s, int n);
/* Index every shard (ustar with prefix, GNU long names, pax path/size records, base-256 sizes;
 * checksums verified). A missing, truncated or corrupt shard is reported, counted and indexed up
 * to the fault; an empty result is CLIMP_ERR_FORMAT naming the counts. */
climp_status climp_tar_open(const char *pattern, climp_tar_index **out);
void climp_tar_close(climp_tar_index *t);
/* Read sample i's image and text members into malloc'ed buffers (text NUL-terminated, at most
 * the first 1 MiB). Opens the shard per call: thread-safe. */
climp_status climp_tar_read(const climp_tar_index *t, long i, uint8_t **img, size_t *img_n,
                            char **txt, size_t *txt_n);

#ifdef __cplusplus
}
#endif
#endif
