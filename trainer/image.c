/* Images: decode from memory with stb_image (JPEG, PNG, BMP, GIF first frame) to 8-bit RGB
 * with the declared size checked before decoding; bilinear resize of a crop box to (S, S) with
 * PyTorch's align_corners=False semantics; torchvision's RandomResizedCrop parameters; ImageNet
 * normalisation to channel-last floats. The one stb_image implementation of the project lives
 * here. Tests: tests/test_image.c. */
#define _POSIX_C_SOURCE 200809L
#include "trainer/data.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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
/* No TGA: it has no magic number, so random bytes could "decode". */
#define STBI_ONLY_JPEG
#define STBI_ONLY_PNG
#define STBI_ONLY_BMP
#define STBI_ONLY_GIF
#include <stb_image.h>
#pragma GCC diagnostic pop

const float climp_image_mean[3] = {0.485f, 0.456f, 0.406f};
const float climp_image_std[3] = {0.229f, 0.224f, 0.225f};

static uint32_t be16(const uint8_t *p) { return (uint32_t)p[0] << 8 | p[1]; }
static uint32_t be32(const uint8_t *p) { return be16(p) << 16 | be16(p + 2); }
static uint32_t le16(const uint8_t *p) { return (uint32_t)p[1] << 8 | p[0]; }

/* Declared size from the header alone, for a clear message when stb_image refuses an image as
 * too large to even describe. Returns 0 if the format is not recognised. */
static int sniff_size(const uint8_t *b, size_t n, long long *w, long long *h) {
    if (n >= 24 && !memcmp(b, "\x89PNG\r\n\x1a\n", 8) && !memcmp(b + 12, "IHDR", 4)) {
        *w = be32(b + 16), *h = be32(b + 20);
        return 1;
    }
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
    if (n >= 4 && b[0] == 0xFF && b[1] == 0xD8) { /* JPEG: walk the markers to a SOFn */
        size_t i = 2;
        while (i + 9 <= n && b[i] == 0xFF) {
            uint8_t m = b[i + 1];
            if (m >= 0xC0 && m <= 0xCF && m != 0xC4 && m != 0xC8 && m != 0xCC) {
                *h = be16(b + i + 5), *w = be16(b + i + 7);
                return 1;
            }
            i += 2 + be16(b + i + 2);
        }
    }
    return 0;
}

/* stb_image 2.27 writes past its Huffman tables when a JPEG DHT segment declares more than 256
 * codes (fixed upstream in 2.28). stb resynchronises on any 0xFF byte, so check every FF C4 pair
 * in the file, not only well-placed markers, and refuse such files before stb sees them. Bytes
 * past the end read as 0, as in stb. */
static int jpeg_tables_ok(const uint8_t *b, size_t n) {
    for (size_t i = 0; i + 1 < n; i++) {
        if (b[i] != 0xFF || b[i + 1] != 0xC4) continue;
        size_t len = i + 3 < n ? be16(b + i + 2) : 0, p = i + 4, end = i + 2 + len;
        while (p < end && p < n) {
            unsigned count = 0;
            for (size_t k = 1; k <= 16; k++) count += p + k < n ? b[p + k] : 0;
            if (count > 256) return 0;
            p += 17 + count;
        }
    }
    return 1;
}

climp_status climp_image_decode(const void *data, size_t n, long max_pixels, const char *what,
                                climp_image *out) {
    if (!out || (!data && n)) return CLIMP_ERR_INVALID_ARG;
    out->w = out->h = 0;
    out->rgb = NULL;
    if (!what) what = "image";
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
    if (n >= 2 && b[0] == 0xFF && b[1] == 0xD8 && !jpeg_tables_ok(b, n)) {
        climp_error_set("%s: corrupt JPEG (a Huffman table declares more than 256 codes)", what);
        return CLIMP_ERR_FORMAT;
    }
    int w = 0, h = 0, comp = 0;
    if (!stbi_info_from_memory(data, (int)n, &w, &h, &comp)) {
        long long sw, sh;
        if (sniff_size(data, n, &sw, &sh) && (double)sw * (double)sh > (double)max_pixels) {
            climp_error_set("%s: image declares %lldx%lld pixels, above the limit of %ld", what,
                            sw, sh, max_pixels);
            return CLIMP_ERR_FORMAT;
        }
        climp_error_set("%s: not a decodable image (%s)", what, stbi_failure_reason());
        return CLIMP_ERR_FORMAT;
    }
    if (w <= 0 || h <= 0) {
        climp_error_set("%s: image declares a zero size (%dx%d)", what, w, h);
        return CLIMP_ERR_FORMAT;
    }
    if ((long long)w * (long long)h > (long long)max_pixels) {
        climp_error_set("%s: image declares %dx%d pixels, above the limit of %ld", what, w, h,
                        max_pixels);
        return CLIMP_ERR_FORMAT;
    }
    int w2 = 0, h2 = 0, c2 = 0;
    uint8_t *p = stbi_load_from_memory(data, (int)n, &w2, &h2, &c2, 3);
    if (!p) {
        climp_error_set("%s: corrupt image (%s)", what, stbi_failure_reason());
        return CLIMP_ERR_FORMAT;
    }
    if (w2 != w || h2 != h) {
        stbi_image_free(p);
        climp_error_set("%s: decoded size %dx%d differs from the declared %dx%d", what, w2, h2,
                        w, h);
        return CLIMP_ERR_FORMAT;
    }
    out->w = w;
    out->h = h;
    out->rgb = p;
    return CLIMP_OK;
}

void climp_image_free(climp_image *img) {
    if (!img) return;
    stbi_image_free(img->rgb);
    img->rgb = NULL;
    img->w = img->h = 0;
}

climp_status climp_data_read_file(const char *path, size_t max_bytes, uint8_t **data,
                                  size_t *n) {
    *data = NULL;
    *n = 0;
    if (!max_bytes) max_bytes = (size_t)CLIMP_DATA_MAX_FILE_BYTES;
    int fd = open(path, O_RDONLY);
    if (fd < 0) {
        climp_error_set("%s: cannot open (%s)", path, strerror(errno));
        return CLIMP_ERR_IO;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        climp_error_set("%s: not a regular file", path);
        return CLIMP_ERR_IO;
    }
    if (st.st_size < 0 || (uint64_t)st.st_size > (uint64_t)max_bytes) {
        close(fd);
        climp_error_set("%s: file of %lld bytes is larger than the limit of %zu", path,
                        (long long)st.st_size, max_bytes);
        return CLIMP_ERR_FORMAT;
    }
    size_t size = (size_t)st.st_size, got = 0;
    uint8_t *buf = malloc(size ? size : 1);
    if (!buf) {
        close(fd);
        climp_error_set("%s: out of memory for %zu bytes", path, size);
        return CLIMP_ERR_HOST_OOM;
    }
    while (got < size) {
        ssize_t r = read(fd, buf + got, size - got);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) {
            free(buf);
            close(fd);
            climp_error_set("%s: read failed after %zu of %zu bytes (%s)", path, got, size,
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
static void resize_rows(const uint8_t *rgb, int w, int h, climp_crop c, int S, float *outf,
                        uint8_t *outu) {
    if (c.w <= 0 || c.h <= 0 || c.x < 0 || c.y < 0 || c.x + c.w > w || c.y + c.h > h) {
        c.x = c.y = 0;
        c.w = w;
        c.h = h;
    }
    if (S <= 0 || S > CLIMP_DATA_MAX_IMAGE_SIZE) return; /* refused by climp_dataset_open */
    float mul[3], add[3];
    for (int k = 0; k < 3; k++) {
        mul[k] = 1.0f / (255.0f * climp_image_std[k]);
        add[k] = -climp_image_mean[k] / climp_image_std[k];
    }
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
