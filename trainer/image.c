/* Images: decode from memory to 8-bit RGB with the declared size checked before decoding (JPEG
 * with libjpeg-turbo, PNG with libpng, BMP and GIF first frame with stb_image); bilinear resize
 * of a crop box to (S, S) with PyTorch's align_corners=False semantics; torchvision's
 * RandomResizedCrop parameters; ImageNet normalisation to channel-last floats. The one
 * stb_image implementation of the project lives here. Tests: tests/test_image.c. */
#define _POSIX_C_SOURCE 200809L
#include "trainer/data.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <setjmp.h>
#include <stdio.h> /* before jpeglib.h, which needs FILE */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jerror.h>
#include <jpeglib.h>
#include <png.h>

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-but-set-variable"
#pragma GCC diagnostic ignored "-Wunused-variable"
#pragma GCC diagnostic ignored "-Wunused-parameter"
#pragma GCC diagnostic ignored "-Wimplicit-fallthrough"
#pragma GCC diagnostic ignored "-Wtype-limits"
#pragma GCC diagnostic ignored "-Wshadow"
#pragma GCC diagnostic ignored "-Wmissing-prototypes"
#pragma GCC diagnostic ignored "-Wstrict-prototypes"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wunused-function"
#define STB_IMAGE_IMPLEMENTATION
#define STBI_NO_STDIO
#define STBI_FAILURE_USERMSG
/* BMP and GIF only: JPEG and PNG go to libjpeg-turbo and libpng, and TGA has no magic number, so
 * random bytes could "decode". stb's asserts check the data, not its own state: off, as in a
 * release build, so a Debug build does not abort on a corrupt file. */
#define STBI_ONLY_BMP
#define STBI_ONLY_GIF
#define STBI_ASSERT(x) ((void)0)
#define STBI_MALLOC(sz) malloc(sz)
#define STBI_REALLOC(p, sz) realloc(p, sz)
#define STBI_FREE(p) free(p)
#include <stb_image.h>
#pragma GCC diagnostic pop

const float climp_image_mean[3] = {0.485f, 0.456f, 0.406f};
const float climp_image_std[3] = {0.229f, 0.224f, 0.225f};

/* More scans than this in a progressive JPEG is refused: each scan is a pass over the whole
 * coefficient buffer, so thousands of tiny scans make a small file decode for minutes. Real
 * files have about ten. */
#define JPEG_MAX_SCANS 500

static uint32_t be32(const uint8_t *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static uint32_t le16(const uint8_t *p) { return (uint32_t)p[1] << 8 | p[0]; }

static int too_many(long long w, long long h, long max_pixels, const char *what) {
    if ((double)w * (double)h <= (double)max_pixels) return 0;
    climp_error_set("%s: image declares %lldx%lld pixels, above the limit of %ld", what, w, h,
                    max_pixels);
    return 1;
}

/* ---------------------------------------------------------------- JPEG (libjpeg-turbo) */
typedef struct {
    struct jpeg_error_mgr pub; /* first: libjpeg passes &pub as cinfo->err */
    jmp_buf jb;
    char msg[JMSG_LENGTH_MAX];
} jpeg_err;

static void jpeg_fail(j_common_ptr cinfo) {
    jpeg_err *e = (jpeg_err *)cinfo->err;
    e->pub.format_message(cinfo, e->msg);
    longjmp(e->jb, 1);
}

/* Level -1 is a warning. Those about corrupt data (a bad Huffman code, a premature end...) would
 * decode to garbage, so they fail the image. Let through: two about metadata, and extraneous
 * bytes before a marker (JWRN_EXTRANEOUS_DATA: libjpeg skips them and the pixels are intact; it
 * is common in crawled JPEGs, which other decoders accept too). Trace messages (level >= 0) are
 * dropped. */
static void jpeg_message(j_common_ptr cinfo, int level) {
    jpeg_err *e = (jpeg_err *)cinfo->err;
    if (level >= 0) return;
    int code = e->pub.msg_code;
    if (code == JWRN_JFIF_MAJOR || code == JWRN_ADOBE_XFORM || code == JWRN_EXTRANEOUS_DATA)
        return;
    jpeg_fail(cinfo);
}

static void jpeg_progress(j_common_ptr cinfo) {
    j_decompress_ptr d = (j_decompress_ptr)cinfo;
    if (d->input_scan_number > JPEG_MAX_SCANS) {
        jpeg_err *e = (jpeg_err *)cinfo->err;
        snprintf(e->msg, sizeof e->msg, "more than %d progressive scans", JPEG_MAX_SCANS);
        longjmp(e->jb, 1);
    }
}

/* State that must survive a longjmp lives here, outside decode_jpeg's own frame. */
typedef struct {
    struct jpeg_decompress_struct cinfo;
    jpeg_err err;
    struct jpeg_progress_mgr progress;
    uint8_t *rgb;  /* (h, w, 3) result */
    uint8_t *row;  /* one CMYK row */
    int too_big;   /* the header declared more than max_pixels (message already set) */
    int pixels;    /* the header was read: a failure now is corrupt data */
} jpeg_job;

/* Stored CMYK to RGB. Adobe's files (APP14 marker, also the YCCK ones libjpeg turns into CMYK)
 * store the inks inverted, 255 = no ink; others store them plain. */
static void cmyk_row(const uint8_t *src, uint8_t *dst, int w, int inverted) {
    for (int x = 0; x < w; x++, src += 4, dst += 3) {
        unsigned k = inverted ? src[3] : 255u - src[3];
        for (int c = 0; c < 3; c++) {
            unsigned v = inverted ? src[c] : 255u - src[c];
            dst[c] = (uint8_t)((v * k + 127) / 255);
        }
    }
}

static climp_status decode_jpeg(jpeg_job *j, const uint8_t *b, size_t n, long max_pixels,
                                const char *what, climp_image *out) {
    struct jpeg_decompress_struct *ci = &j->cinfo;
    ci->err = jpeg_std_error(&j->err.pub);
    j->err.pub.error_exit = jpeg_fail;
    j->err.pub.emit_message = jpeg_message;
    if (setjmp(j->err.jb)) {
        if (!j->too_big) {
            /* A header that failed after its SOF still gets the size message. */
            if (!too_many((long long)ci->image_width, (long long)ci->image_height, max_pixels,
                          what))
                climp_error_set("%s: %s (JPEG: %s)", what,
                                j->pixels ? "corrupt image" : "not a decodable image", j->err.msg);
        }
        jpeg_destroy_decompress(ci);
        free(j->rgb);
        free(j->row);
        return CLIMP_ERR_FORMAT;
    }
    jpeg_create_decompress(ci);
    jpeg_mem_src(ci, b, (unsigned long)n);
    j->progress.progress_monitor = jpeg_progress;
    ci->progress = &j->progress;
    jpeg_read_header(ci, TRUE);
    long long w = ci->image_width, h = ci->image_height;
    if (too_many(w, h, max_pixels, what)) {
        j->too_big = 1;
        longjmp(j->err.jb, 1);
    }
    j->pixels = 1;
    /* Bounds what the coefficient buffers of a progressive file may take (libjpeg has no
     * backing store, so a larger request is an error). */
    ci->mem->max_memory_to_use = 64L * (long)(w * h) + (64L << 20);
    int cmyk = ci->jpeg_color_space == JCS_CMYK || ci->jpeg_color_space == JCS_YCCK;
    ci->out_color_space = cmyk ? JCS_CMYK : JCS_RGB;
    jpeg_start_decompress(ci);
    if (ci->output_width != (JDIMENSION)w || ci->output_height != (JDIMENSION)h ||
        ci->output_components != (cmyk ? 4 : 3)) {
        snprintf(j->err.msg, sizeof j->err.msg, "unexpected output %ux%u with %d components",
                 ci->output_width, ci->output_height, ci->output_components);
        longjmp(j->err.jb, 1);
    }
    j->rgb = malloc((size_t)w * (size_t)h * 3);
    j->row = cmyk ? malloc((size_t)w * 4) : NULL;
    if (!j->rgb || (cmyk && !j->row)) {
        snprintf(j->err.msg, sizeof j->err.msg, "out of memory for %lldx%lld", w, h);
        longjmp(j->err.jb, 1);
    }
    while (ci->output_scanline < ci->output_height) {
        uint8_t *dst = j->rgb + (size_t)ci->output_scanline * (size_t)w * 3;
        JSAMPROW rows[1] = {cmyk ? j->row : dst};
        if (jpeg_read_scanlines(ci, rows, 1) != 1) {
            snprintf(j->err.msg, sizeof j->err.msg, "no data at row %u", ci->output_scanline);
            longjmp(j->err.jb, 1);
        }
        if (cmyk) cmyk_row(j->row, dst, (int)w, ci->saw_Adobe_marker);
    }
    jpeg_finish_decompress(ci);
    jpeg_destroy_decompress(ci);
    free(j->row);
    out->w = (int)w;
    out->h = (int)h;
    out->rgb = j->rgb;
    return CLIMP_OK;
}

/* ---------------------------------------------------------------- PNG (libpng) */
typedef struct {
    png_structp png;
    png_infop info;
    const uint8_t *data;
    size_t n, pos;
    jmp_buf jb;
    char msg[160];
    uint8_t *rgb;
    png_bytep *rows;
    int too_big, pixels; /* as in jpeg_job */
} png_job;

static void png_fail(png_structp png, png_const_charp m) {
    png_job *j = png_get_error_ptr(png);
    snprintf(j->msg, sizeof j->msg, "%s", m);
    longjmp(j->jb, 1);
}

static void png_warn(png_structp png, png_const_charp m) { (void)png, (void)m; }

static void png_read_mem(png_structp png, png_bytep dst, png_size_t len) {
    png_job *j = png_get_io_ptr(png);
    if (len > j->n - j->pos) png_error(png, "unexpected end of data");
    memcpy(dst, j->data + j->pos, len);
    j->pos += len;
}

static climp_status decode_png(png_job *j, long max_pixels, const char *what,
                               climp_image *out) {
    j->png = png_create_read_struct(PNG_LIBPNG_VER_STRING, j, png_fail, png_warn);
    if (!j->png) {
        climp_error_set("%s: out of memory for the PNG decoder", what);
        return CLIMP_ERR_HOST_OOM;
    }
    if (setjmp(j->jb)) {
        if (!j->too_big)
            climp_error_set("%s: %s (PNG: %s)", what,
                            j->pixels ? "corrupt image" : "not a decodable image", j->msg);
        png_destroy_read_struct(&j->png, &j->info, NULL);
        free(j->rgb);
        free(j->rows);
        return CLIMP_ERR_FORMAT;
    }
    j->info = png_create_info_struct(j->png);
    if (!j->info) png_error(j->png, "out of memory");
    png_set_read_fn(j->png, j, png_read_mem);
    png_set_keep_unknown_chunks(j->png, PNG_HANDLE_CHUNK_NEVER, NULL, 0); /* skip, not store */
    png_read_info(j->png, j->info);
    png_uint_32 w = 0, h = 0;
    int depth = 0, color = 0, interlace = 0;
    png_get_IHDR(j->png, j->info, &w, &h, &depth, &color, &interlace, NULL, NULL);
    if (too_many(w, h, max_pixels, what)) {
        j->too_big = 1;
        longjmp(j->jb, 1);
    }
    j->pixels = 1;
    /* Everything to 8-bit RGB: palette and low-depth grey expanded, grey replicated, alpha
     * (and tRNS) dropped, 16-bit reduced to its high byte; no gamma or colour conversion. */
    if (color == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(j->png);
    if (color == PNG_COLOR_TYPE_GRAY && depth < 8) png_set_expand_gray_1_2_4_to_8(j->png);
    if (depth == 16) png_set_strip_16(j->png);
    if (color & PNG_COLOR_MASK_ALPHA || png_get_valid(j->png, j->info, PNG_INFO_tRNS))
        png_set_strip_alpha(j->png);
    if (!(color & PNG_COLOR_MASK_COLOR)) png_set_gray_to_rgb(j->png);
    png_set_interlace_handling(j->png);
    png_read_update_info(j->png, j->info);
    size_t stride = (size_t)w * 3;
    if (png_get_channels(j->png, j->info) != 3 || png_get_bit_depth(j->png, j->info) != 8 ||
        png_get_rowbytes(j->png, j->info) != stride)
        png_error(j->png, "unexpected pixel layout after conversion");
    j->rgb = malloc(stride * h);
    j->rows = malloc(sizeof *j->rows * h);
    if (!j->rgb || !j->rows) png_error(j->png, "out of memory for the pixels");
    for (png_uint_32 y = 0; y < h; y++) j->rows[y] = j->rgb + (size_t)y * stride;
    png_read_image(j->png, j->rows);
    png_destroy_read_struct(&j->png, &j->info, NULL);
    free(j->rows);
    out->w = (int)w;
    out->h = (int)h;
    out->rgb = j->rgb;
    return CLIMP_OK;
}

/* ---------------------------------------------------------------- BMP, GIF (stb_image) */
/* Declared size from the header alone, for a clear message when stb_image refuses an image as
 * too large to even describe. Returns 0 if the format is not recognised. */
static int sniff_size(const uint8_t *b, size_t n, long long *w, long long *h) {
    if (n >= 10 && !memcmp(b, "GIF8", 4)) {
        *w = le16(b + 6), *h = le16(b + 8);
        return 1;
    }
    if (n >= 26 && b[0] == 'B' && b[1] == 'M') {
        *w = (int32_t)(le16(b + 18) | le16(b + 20) << 16);
        *h = (int32_t)(le16(b + 22) | le16(b + 24) << 16);
        if (*h < 0) *h = -*h; /* top-down bitmap */
        return 1;
    }
    return 0;
}

static climp_status decode_stb(const uint8_t *b, size_t n, long max_pixels, const char *what,
                               climp_image *out) {
    int w = 0, h = 0, comp = 0;
    if (!stbi_info_from_memory(b, (int)n, &w, &h, &comp)) {
        long long sw, sh;
        if (sniff_size(b, n, &sw, &sh) && too_many(sw, sh, max_pixels, what))
            return CLIMP_ERR_FORMAT;
        climp_error_set("%s: not a decodable image (%s)", what, stbi_failure_reason());
        return CLIMP_ERR_FORMAT;
    }
    if (w <= 0 || h <= 0) {
        climp_error_set("%s: image declares a zero size (%dx%d)", what, w, h);
        return CLIMP_ERR_FORMAT;
    }
    if (too_many(w, h, max_pixels, what)) return CLIMP_ERR_FORMAT;
    int w2 = 0, h2 = 0, c2 = 0;
    uint8_t *p = stbi_load_from_memory(b, (int)n, &w2, &h2, &c2, 3);
    if (!p) {
        climp_error_set("%s: corrupt image (%s)", what, stbi_failure_reason());
        return CLIMP_ERR_FORMAT;
    }
    if (w2 != w || h2 != h) {
        free(p);
        climp_error_set("%s: decoded size %dx%d differs from the declared %dx%d", what, w2, h2,
                        w, h);
        return CLIMP_ERR_FORMAT;
    }
    out->w = w;
    out->h = h;
    out->rgb = p;
    return CLIMP_OK;
}

climp_status climp_image_decode(const void *data, size_t n, long max_pixels, const char *what,
                                climp_image *out) {
    if (!out || (!data && n)) return CLIMP_ERR_INVALID_ARG;
    out->w = out->h = 0;
    out->rgb = NULL;
    char name[512]; /* `what` may hold a path from a dataset file: printed on one line */
    what = climp_data_quote(what ? what : "image", name, sizeof name);
    if (max_pixels <= 0) max_pixels = CLIMP_DATA_MAX_PIXELS;
    if (n == 0) {
        climp_error_set("%s: empty image data", what);
        return CLIMP_ERR_FORMAT;
    }
    if (n > (size_t)INT_MAX) {
        climp_error_set("%s: image data of %zu bytes is too large", what, n);
        return CLIMP_ERR_FORMAT;
    }
    const uint8_t *b = data;
    climp_status s;
    if (n >= 2 && b[0] == 0xFF && b[1] == 0xD8) {
        jpeg_job *j = calloc(1, sizeof *j);
        if (!j) return CLIMP_ERR_HOST_OOM;
        s = decode_jpeg(j, b, n, max_pixels, what, out);
        free(j);
    } else if (n >= 8 && !memcmp(b, "\x89PNG\r\n\x1a\n", 8)) {
        /* The IHDR's size, before libpng allocates anything. */
        if (n >= 24 && !memcmp(b + 12, "IHDR", 4) &&
            too_many(be32(b + 16), be32(b + 20), max_pixels, what))
            return CLIMP_ERR_FORMAT;
        png_job *j = calloc(1, sizeof *j);
        if (!j) return CLIMP_ERR_HOST_OOM;
        j->data = b;
        j->n = n;
        s = decode_png(j, max_pixels, what, out);
        free(j);
    } else {
        s = decode_stb(b, n, max_pixels, what, out);
    }
    if (s == CLIMP_OK && (out->w <= 0 || out->h <= 0)) { /* libjpeg/libpng refuse these first */
        climp_image_free(out);
        climp_error_set("%s: image declares a zero size", what);
        return CLIMP_ERR_FORMAT;
    }
    return s;
}

void climp_image_free(climp_image *img) {
    if (!img) return;
    free(img->rgb);
    img->rgb = NULL;
    img->w = img->h = 0;
}

climp_status climp_data_read_file(const char *path, size_t max_bytes, uint8_t **data,
                                  size_t *n) {
    *data = NULL;
    *n = 0;
    if (!max_bytes) max_bytes = (size_t)CLIMP_DATA_MAX_FILE_BYTES;
    char name[512]; /* the path may come from a dataset file: printed on one line */
    climp_data_quote(path, name, sizeof name);
    int fd = open(path, O_RDONLY);
    if (fd < 0) {
        climp_error_set("%s: cannot open (%s)", name, strerror(errno));
        return CLIMP_ERR_IO;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        climp_error_set("%s: not a regular file", name);
        return CLIMP_ERR_IO;
    }
    if (st.st_size < 0 || (uint64_t)st.st_size > (uint64_t)max_bytes) {
        close(fd);
        climp_error_set("%s: file of %lld bytes is larger than the limit of %zu", name,
                        (long long)st.st_size, max_bytes);
        return CLIMP_ERR_FORMAT;
    }
    size_t size = (size_t)st.st_size, got = 0;
    uint8_t *buf = malloc(size ? size : 1);
    if (!buf) {
        close(fd);
        climp_error_set("%s: out of memory for %zu bytes", name, size);
        return CLIMP_ERR_HOST_OOM;
    }
    while (got < size) {
        ssize_t r = read(fd, buf + got, size - got);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) {
            free(buf);
            close(fd);
            climp_error_set("%s: read failed after %zu of %zu bytes (%s)", name, got, size,
                            r < 0 ? strerror(errno) : "unexpected end of file");
            return CLIMP_ERR_IO;
        }
        got += (size_t)r;
    }
    close(fd);
    *data = buf;
    *n = size;
    return CLIMP_OK;
}

/* ---------------------------------------------------------------- crop */
static int randint(climp_data_rng *r, int n) { /* [0, n) like torch.randint(0, n) */
    int k = (int)(climp_data_rng_uniform(r) * n);
    return k < n ? k : n - 1;
}

climp_crop climp_random_resized_crop(int w, int h, climp_data_rng *rng) {
    const double smin = 0.9, smax = 1.0;
    const double lr0 = log(3.0 / 4.0), lr1 = log(4.0 / 3.0);
    double area = (double)w * (double)h;
    for (int t = 0; t < 10; t++) {
        double target = area * (smin + (smax - smin) * climp_data_rng_uniform(rng));
        double aspect = exp(lr0 + (lr1 - lr0) * climp_data_rng_uniform(rng));
        int cw = (int)lround(sqrt(target * aspect));
        int ch = (int)lround(sqrt(target / aspect));
        if (cw > 0 && cw <= w && ch > 0 && ch <= h) {
            climp_crop c;
            c.y = randint(rng, h - ch + 1);
            c.x = randint(rng, w - cw + 1);
            c.w = cw;
            c.h = ch;
            return c;
        }
    }
    /* torchvision's fallback: the central crop clamped to the ratio range */
    double in_ratio = (double)w / (double)h;
    climp_crop c = {0, 0, w, h};
    if (in_ratio < 3.0 / 4.0) {
        c.h = (int)lround(w / (3.0 / 4.0));
        if (c.h > h) c.h = h;
    } else if (in_ratio > 4.0 / 3.0) {
        c.w = (int)lround(h * (4.0 / 3.0));
        if (c.w > w) c.w = w;
    }
    c.x = (w - c.w) / 2;
    c.y = (h - c.h) / 2;
    return c;
}

/* ---------------------------------------------------------------- resize */
/* One output coordinate's two taps and weight (upsample_bilinear2d, align_corners=False). */
typedef struct { int i0, i1; float l1; } tap;

static void taps(int in, int out, int off, tap *t) {
    float scale = (float)in / (float)out;
    for (int d = 0; d < out; d++) {
        float src = scale * ((float)d + 0.5f) - 0.5f;
        if (src < 0) src = 0;
        int i0 = (int)src;
        if (i0 > in - 1) i0 = in - 1;
        int i1 = i0 < in - 1 ? i0 + 1 : i0;
        t[d].i0 = off + i0;
        t[d].i1 = off + i1;
        t[d].l1 = src - (float)i0;
    }
}

/* Resize the crop box to (S, S, 3): normalised floats into outf, or rounded bytes into outu. */
static void norm_coeffs(float mul[3], float add[3]) {
    for (int k = 0; k < 3; k++) {
        mul[k] = 1.0f / (255.0f * climp_image_std[k]);
        add[k] = -climp_image_mean[k] / climp_image_std[k];
    }
}

void climp_image_normalize(const uint8_t *rgb, int w, int h, float *out) {
    float mul[3], add[3];
    norm_coeffs(mul, add);
    size_t n = (size_t)w * (size_t)h * 3;
    for (size_t i = 0; i < n; i++) out[i] = (float)rgb[i] * mul[i % 3] + add[i % 3];
}

static void resize_rows(const uint8_t *rgb, int w, int h, climp_crop c, int S, float *outf,
                        uint8_t *outu) {
    if (c.w <= 0 || c.h <= 0 || c.x < 0 || c.y < 0 || c.x + c.w > w || c.y + c.h > h) {
        c.x = c.y = 0;
        c.w = w;
        c.h = h;
    }
    if (S <= 0 || S > CLIMP_DATA_MAX_IMAGE_SIZE) return; /* refused by climp_dataset_open */
    float mul[3], add[3];
    norm_coeffs(mul, add);
    if (c.x == 0 && c.y == 0 && c.w == S && c.h == S && w == S) { /* identity: no taps needed */
        size_t n = (size_t)S * (size_t)S * 3;
        for (size_t i = 0; i < n; i++) {
            if (outf) outf[i] = (float)rgb[i] * mul[i % 3] + add[i % 3];
            else outu[i] = rgb[i];
        }
        return;
    }
    tap px[CLIMP_DATA_MAX_IMAGE_SIZE], py[CLIMP_DATA_MAX_IMAGE_SIZE];
    taps(c.w, S, c.x, px);
    taps(c.h, S, c.y, py);
    size_t stride = (size_t)w * 3;
    for (int y = 0; y < S; y++) {
        const uint8_t *r0 = rgb + (size_t)py[y].i0 * stride;
        const uint8_t *r1 = rgb + (size_t)py[y].i1 * stride;
        float ly1 = py[y].l1, ly0 = 1.0f - ly1;
        for (int x = 0; x < S; x++) {
            size_t a = (size_t)px[x].i0 * 3, b = (size_t)px[x].i1 * 3;
            float lx1 = px[x].l1, lx0 = 1.0f - lx1;
            size_t o = ((size_t)y * (size_t)S + (size_t)x) * 3;
            for (int k = 0; k < 3; k++) {
                float v = ly0 * (lx0 * r0[a + k] + lx1 * r0[b + k]) +
                          ly1 * (lx0 * r1[a + k] + lx1 * r1[b + k]);
                if (outf) outf[o + k] = v * mul[k] + add[k];
                else outu[o + k] = v <= 0 ? 0 : v >= 255 ? 255 : (uint8_t)lrintf(v);
            }
        }
    }
}

void climp_image_resize_normalize(const uint8_t *rgb, int w, int h, climp_crop crop, int S,
                                  float *out) {
    resize_rows(rgb, w, h, crop, S, out, NULL);
}

void climp_image_resize_u8(const uint8_t *rgb, int w, int h, climp_crop crop, int S,
                           uint8_t *out) {
    resize_rows(rgb, w, h, crop, S, NULL, out);
}
