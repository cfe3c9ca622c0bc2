/* Image decode, resize and augmentation (trainer/image.c): PNG, JPEG, BMP, GIF, grey, grey+alpha,
 * RGBA and 16-bit PNG decode to 8-bit RGB; corrupt, empty, zero-size and over-limit images
 * (a hand-made PNG header declaring 20000x20000) refused with a reason; JPEGs made here with
 * libjpeg (grey, CMYK, YCCK, too many progressive scans, truncated, extraneous bytes, 0xFF
 * fill bytes before SOI, a bad Huffman table) and PNGs with libpng or by hand (16-bit grey+alpha
 * and RGBA, palette with tRNS, interlaced, an empty first IDAT, cut inside IDAT); bilinear
 * resize against values from PyTorch F.interpolate(align_corners=False, antialias=False);
 * RandomResizedCrop parameter ranges, determinism and fallback; normalisation. CPU only. */
#define _POSIX_C_SOURCE 200809L
#include "tests/testutil.h"
#include "trainer/data.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include <jpeglib.h>
#include <png.h>

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-but-set-variable"
#pragma GCC diagnostic ignored "-Wunused-variable"
#pragma GCC diagnostic ignored "-Wunused-parameter"
#pragma GCC diagnostic ignored "-Wimplicit-fallthrough"
#pragma GCC diagnostic ignored "-Wshadow"
#pragma GCC diagnostic ignored "-Wmissing-prototypes"
#pragma GCC diagnostic ignored "-Wsign-compare"
#define STB_IMAGE_WRITE_IMPLEMENTATION
#define STBI_WRITE_NO_STDIO
#include <stb_image_write.h>
#pragma GCC diagnostic pop

/* ---------------------------------------------------------------- encoders into memory */
typedef struct { unsigned char *p; size_t n, cap; } mem;

static void mem_put(void *ctx, void *data, int size) {
    mem *m = ctx;
    if (m->n + (size_t)size > m->cap) {
        m->cap = (m->n + (size_t)size) * 2 + 64;
        m->p = realloc(m->p, m->cap);
        if (!m->p) abort();
    }
    memcpy(m->p + m->n, data, (size_t)size);
    m->n += (size_t)size;
}

static mem encode(const char *fmt, int w, int h, int comp, const unsigned char *px) {
    mem m = {0};
    int ok = 0;
    if (!strcmp(fmt, "png")) ok = stbi_write_png_to_func(mem_put, &m, w, h, comp, px, w * comp);
    else if (!strcmp(fmt, "bmp")) ok = stbi_write_bmp_to_func(mem_put, &m, w, h, comp, px);
    if (!ok) {
        fprintf(stderr, "cannot encode %s\n", fmt);
        exit(1);
    }
    return m;
}

/* A PNG chunk with its CRC. */
static void png_chunk(mem *m, const char *type, const unsigned char *data, uint32_t n) {
    unsigned char be[4] = {(unsigned char)(n >> 24), (unsigned char)(n >> 16),
                           (unsigned char)(n >> 8), (unsigned char)n};
    mem_put(m, be, 4);
    mem_put(m, (void *)type, 4);
    if (n) mem_put(m, (void *)data, (int)n);
    uLong crc = crc32(0, (const Bytef *)type, 4);
    if (n) crc = crc32(crc, data, n);
    unsigned char c[4] = {(unsigned char)(crc >> 24), (unsigned char)(crc >> 16),
                          (unsigned char)(crc >> 8), (unsigned char)crc};
    mem_put(m, c, 4);
}

static void png_ihdr(mem *m, uint32_t w, uint32_t h, int depth, int color) {
    unsigned char sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
    mem_put(m, sig, 8);
    unsigned char ih[13] = {(unsigned char)(w >> 24), (unsigned char)(w >> 16),
                            (unsigned char)(w >> 8),  (unsigned char)w,
                            (unsigned char)(h >> 24), (unsigned char)(h >> 16),
                            (unsigned char)(h >> 8),  (unsigned char)h,
                            (unsigned char)depth,     (unsigned char)color, 0, 0, 0};
    png_chunk(m, "IHDR", ih, 13);
}

/* 16-bit RGB PNG written by hand (stb_image_write only writes 8-bit). */
static mem png16(int w, int h, const uint16_t *px) {
    mem m = {0};
    png_ihdr(&m, (uint32_t)w, (uint32_t)h, 16, 2);
    size_t row = 1 + (size_t)w * 6, raw_n = row * (size_t)h;
    unsigned char *raw = calloc(raw_n, 1);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w * 3; x++) {
            uint16_t v = px[y * w * 3 + x];
            raw[y * row + 1 + 2 * x] = (unsigned char)(v >> 8);
            raw[y * row + 2 + 2 * x] = (unsigned char)v;
        }
    uLongf zn = compressBound(raw_n);
    unsigned char *z = malloc(zn);
    if (compress(z, &zn, raw, raw_n) != Z_OK) abort();
    png_chunk(&m, "IDAT", z, (uint32_t)zn);
    png_chunk(&m, "IEND", NULL, 0);
    free(raw);
    free(z);
    return m;
}

/* ---------------------------------------------------------------- decode tests */
/* 16x16 JPEGs (PIL, quality 95, 4:4:4): left half (200, 40, 90), right half (30, 60, 220);
 * baseline and progressive. Embedded because stb_image_write's JPEG encoder trips UBSan. */
static const unsigned char jpeg_baseline[] = {
    0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10, 0x4a, 0x46, 0x49, 0x46, 0x00, 0x01, 0x01, 0x00, 0x00, 0x01,
    0x00, 0x01, 0x00, 0x00, 0xff, 0xdb, 0x00, 0x43, 0x00, 0x02, 0x01, 0x01, 0x01, 0x01, 0x01, 0x02,
    0x01, 0x01, 0x01, 0x02, 0x02, 0x02, 0x02, 0x02, 0x04, 0x03, 0x02, 0x02, 0x02, 0x02, 0x05, 0x04,
    0x04, 0x03, 0x04, 0x06, 0x05, 0x06, 0x06, 0x06, 0x05, 0x06, 0x06, 0x06, 0x07, 0x09, 0x08, 0x06,
    0x07, 0x09, 0x07, 0x06, 0x06, 0x08, 0x0b, 0x08, 0x09, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x06, 0x08,
    0x0b, 0x0c, 0x0b, 0x0a, 0x0c, 0x09, 0x0a, 0x0a, 0x0a, 0xff, 0xdb, 0x00, 0x43, 0x01, 0x02, 0x02,
    0x02, 0x02, 0x02, 0x02, 0x05, 0x03, 0x03, 0x05, 0x0a, 0x07, 0x06, 0x07, 0x0a, 0x0a, 0x0a, 0x0a,
    0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a,
    0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a,
    0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0xff, 0xc0,
    0x00, 0x11, 0x08, 0x00, 0x10, 0x00, 0x10, 0x03, 0x01, 0x11, 0x00, 0x02, 0x11, 0x01, 0x03, 0x11,
    0x01, 0xff, 0xc4, 0x00, 0x15, 0x00, 0x01, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x07, 0x08, 0xff, 0xc4, 0x00, 0x14, 0x10, 0x01, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff, 0xc4,
    0x00, 0x15, 0x01, 0x01, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x09, 0x04, 0xff, 0xc4, 0x00, 0x14, 0x11, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff, 0xda, 0x00, 0x0c, 0x03,
    0x01, 0x00, 0x02, 0x11, 0x03, 0x11, 0x00, 0x3f, 0x00, 0x9d, 0xd3, 0x93, 0x00, 0xd9, 0x5c, 0x0b,
    0xe6, 0x41, 0x46, 0x68, 0x03, 0x65, 0x70, 0x2f, 0xbf, 0xff, 0xd9};
static const unsigned char jpeg_progressive[] = {
    0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10, 0x4a, 0x46, 0x49, 0x46, 0x00, 0x01, 0x01, 0x00, 0x00, 0x01,
    0x00, 0x01, 0x00, 0x00, 0xff, 0xdb, 0x00, 0x43, 0x00, 0x02, 0x01, 0x01, 0x01, 0x01, 0x01, 0x02,
    0x01, 0x01, 0x01, 0x02, 0x02, 0x02, 0x02, 0x02, 0x04, 0x03, 0x02, 0x02, 0x02, 0x02, 0x05, 0x04,
    0x04, 0x03, 0x04, 0x06, 0x05, 0x06, 0x06, 0x06, 0x05, 0x06, 0x06, 0x06, 0x07, 0x09, 0x08, 0x06,
    0x07, 0x09, 0x07, 0x06, 0x06, 0x08, 0x0b, 0x08, 0x09, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x06, 0x08,
    0x0b, 0x0c, 0x0b, 0x0a, 0x0c, 0x09, 0x0a, 0x0a, 0x0a, 0xff, 0xdb, 0x00, 0x43, 0x01, 0x02, 0x02,
    0x02, 0x02, 0x02, 0x02, 0x05, 0x03, 0x03, 0x05, 0x0a, 0x07, 0x06, 0x07, 0x0a, 0x0a, 0x0a, 0x0a,
    0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a,
    0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a,
    0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0x0a, 0xff, 0xc2,
    0x00, 0x11, 0x08, 0x00, 0x10, 0x00, 0x10, 0x03, 0x01, 0x11, 0x00, 0x02, 0x11, 0x01, 0x03, 0x11,
    0x01, 0xff, 0xc4, 0x00, 0x15, 0x00, 0x01, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x06, 0x07, 0xff, 0xc4, 0x00, 0x15, 0x01, 0x01, 0x01, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x08, 0x03, 0xff,
    0xda, 0x00, 0x0c, 0x03, 0x01, 0x00, 0x02, 0x10, 0x03, 0x10, 0x00, 0x00, 0x01, 0x9d, 0xcd, 0x30,
    0x35, 0x5c, 0x2f, 0x64, 0x51, 0x68, 0x0d, 0x57, 0x0b, 0xff, 0x00, 0xff, 0xc4, 0x00, 0x14, 0x10,
    0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x20, 0xff, 0xda, 0x00, 0x08, 0x01, 0x01, 0x00, 0x01, 0x05, 0x02, 0x1f, 0xff, 0xc4, 0x00, 0x14,
    0x11, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x20, 0xff, 0xda, 0x00, 0x08, 0x01, 0x03, 0x01, 0x01, 0x3f, 0x01, 0x1f, 0xff, 0xc4, 0x00,
    0x14, 0x11, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x20, 0xff, 0xda, 0x00, 0x08, 0x01, 0x02, 0x01, 0x01, 0x3f, 0x01, 0x1f, 0xff, 0xc4,
    0x00, 0x14, 0x10, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x20, 0xff, 0xda, 0x00, 0x08, 0x01, 0x01, 0x00, 0x06, 0x3f, 0x02, 0x1f, 0xff,
    0xc4, 0x00, 0x14, 0x10, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x20, 0xff, 0xda, 0x00, 0x08, 0x01, 0x01, 0x00, 0x01, 0x3f, 0x21, 0x1f,
    0xff, 0xda, 0x00, 0x0c, 0x03, 0x01, 0x00, 0x02, 0x00, 0x03, 0x00, 0x00, 0x00, 0x10, 0x00, 0x0f,
    0xff, 0xc4, 0x00, 0x14, 0x11, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x20, 0xff, 0xda, 0x00, 0x08, 0x01, 0x03, 0x01, 0x01, 0x3f, 0x10,
    0x1f, 0xff, 0xc4, 0x00, 0x14, 0x11, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x20, 0xff, 0xda, 0x00, 0x08, 0x01, 0x02, 0x01, 0x01, 0x3f,
    0x10, 0x1f, 0xff, 0xc4, 0x00, 0x14, 0x10, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x20, 0xff, 0xda, 0x00, 0x08, 0x01, 0x01, 0x00, 0x01,
    0x3f, 0x10, 0x1f, 0xff, 0xd9};

static unsigned char px8[8 * 6 * 4];

static void fill_pattern(int w, int h, int comp) {
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            for (int c = 0; c < comp; c++)
                px8[(y * w + x) * comp + c] = (unsigned char)((x * 29 + y * 47 + c * 71) & 255);
}

static void expect_decode(const char *tag, mem m, int w, int h, int comp, int tol) {
    climp_image img;
    climp_status s = climp_image_decode(m.p, m.n, 0, tag, &img);
    tu_check(s == CLIMP_OK, "%s: decode failed: %s", tag, climp_error_detail());
    if (s) return;
    tu_check(img.w == w && img.h == h, "%s: size %dx%d, want %dx%d", tag, img.w, img.h, w, h);
    int worst = 0;
    for (int p = 0; p < w * h; p++)
        for (int c = 0; c < 3; c++) {
            int want = comp >= 3 ? px8[p * comp + c] : px8[p * comp]; /* grey is replicated */
            int d = abs(img.rgb[p * 3 + c] - want);
            if (d > worst) worst = d;
        }
    tu_check(worst <= tol, "%s: max pixel error %d > %d", tag, worst, tol);
    climp_image_free(&img);
}

static void expect_refused(const char *tag, const void *data, size_t n, long max_pixels,
                           const char *frag) {
    climp_image img = {1, 1, NULL};
    climp_error_clear();
    climp_status s = climp_image_decode(data, n, max_pixels, tag, &img);
    const char *msg = climp_error_detail();
    tu_check(s == CLIMP_ERR_FORMAT, "%s: status %s, want CLIMP_ERR_FORMAT", tag,
             climp_status_name(s));
    tu_check(img.rgb == NULL && img.w == 0, "%s: output not cleared", tag);
    tu_check(msg && strstr(msg, tag) && (!frag || strstr(msg, frag)),
             "%s: reason '%s' lacks the name or '%s'", tag, msg ? msg : "", frag ? frag : "");
    climp_image_free(&img);
}

static void test_decode(void) {
    int w = 8, h = 6;
    fill_pattern(w, h, 3);
    mem m = encode("png", w, h, 3, px8);
    expect_decode("png rgb", m, w, h, 3, 0);
    /* a truncated PNG: header fine, data cut */
    expect_refused("png truncated", m.p, m.n / 2, 0, "corrupt");
    free(m.p);
    m = encode("bmp", w, h, 3, px8);
    expect_decode("bmp", m, w, h, 3, 0);
    free(m.p);
    fill_pattern(w, h, 1);
    m = encode("png", w, h, 1, px8);
    expect_decode("png grey", m, w, h, 1, 0);
    free(m.p);
    fill_pattern(w, h, 2);
    m = encode("png", w, h, 2, px8); /* grey+alpha: the grey value, alpha dropped */
    expect_decode("png grey+alpha", m, w, h, 2, 0);
    free(m.p);
    fill_pattern(w, h, 4);
    m = encode("png", w, h, 4, px8);
    expect_decode("png rgba", m, w, h, 4, 0);
    free(m.p);
    /* JPEG, baseline and progressive: flat halves survive quality 95 closely */
    climp_image img;
    climp_status s;
    for (int k = 0; k < 2; k++) {
        const unsigned char *jd = k ? jpeg_progressive : jpeg_baseline;
        size_t jn = k ? sizeof jpeg_progressive : sizeof jpeg_baseline;
        const char *tag = k ? "jpeg progressive" : "jpeg baseline";
        s = climp_image_decode(jd, jn, 0, tag, &img);
        tu_check(s == CLIMP_OK && img.w == 16 && img.h == 16, "%s: %s", tag, climp_error_detail());
        if (s) continue;
        int worst = 0;
        for (int p = 0; p < 256; p++) {
            static const int left[3] = {200, 40, 90}, right[3] = {30, 60, 220};
            const int *want = (p % 16) < 8 ? left : right;
            for (int c = 0; c < 3; c++) {
                int d = abs(img.rgb[p * 3 + c] - want[c]);
                worst = d > worst ? d : worst;
            }
        }
        tu_check(worst <= 6, "%s: max error %d", tag, worst);
        climp_image_free(&img);
    }
    expect_refused("jpeg truncated", jpeg_baseline, 40, 0, NULL);
    /* 16-bit PNG -> 8-bit (high byte) */
    uint16_t p16[3 * 3 * 3];
    for (int i = 0; i < 27; i++) p16[i] = (uint16_t)(i * 2400 + 77);
    m = png16(3, 3, p16);
    s = climp_image_decode(m.p, m.n, 0, "png16", &img);
    tu_check(s == CLIMP_OK, "png16: %s", climp_error_detail());
    if (!s) {
        int worst = 0;
        for (int i = 0; i < 27; i++) {
            int d = abs(img.rgb[i] - (p16[i] >> 8));
            worst = d > worst ? d : worst;
        }
        tu_check(worst <= 1, "png16: max error %d against the high byte", worst);
        climp_image_free(&img);
    }
    free(m.p);
    /* GIF, 1x1, palette {red, black}, pixel index 0 */
    static const unsigned char gif[] = {'G', 'I', 'F', '8', '9', 'a', 1, 0, 1, 0, 0x80, 0, 0,
                                        0xFF, 0, 0, 0, 0, 0, ',', 0, 0, 0, 0, 1, 0, 1, 0, 0, 2,
                                        2, 0x44, 0x01, 0, ';'};
    s = climp_image_decode(gif, sizeof gif, 0, "gif", &img);
    tu_check(s == CLIMP_OK && img.w == 1 && img.rgb[0] == 255 && img.rgb[1] == 0 &&
                 img.rgb[2] == 0,
             "gif: status %s, pixel not red", climp_status_name(s));
    if (!s) climp_image_free(&img);

    /* refused */
    unsigned char junk[300];
    tu_rng r;
    tu_rng_seed(&r, 5);
    for (size_t i = 0; i < sizeof junk; i++) junk[i] = (unsigned char)tu_uniform(&r, 0, 256);
    expect_refused("junk", junk, sizeof junk, 0, "not a decodable image");
    expect_refused("empty", junk, 0, 0, "empty");
    mem z = {0};
    png_ihdr(&z, 0, 5, 8, 2);
    png_chunk(&z, "IEND", NULL, 0);
    expect_refused("zero-width", z.p, z.n, 0, NULL);
    free(z.p);
    mem hb = {0};
    png_ihdr(&hb, 20000, 20000, 8, 2);
    unsigned char fake[16] = {0};
    png_chunk(&hb, "IDAT", fake, sizeof fake);
    png_chunk(&hb, "IEND", NULL, 0);
    expect_refused("huge", hb.p, hb.n, 0, "20000x20000");
    free(hb.p);
    static const unsigned char jhuge[] = {0xFF, 0xD8, 0xFF, 0xC0, 0, 17, 8, 0x4E, 0x20, 0x4E, 0x20,
                                          3, 1, 0x22, 0, 2, 0x11, 1, 3, 0x11, 1, 0xFF, 0xD9};
    expect_refused("jpeg huge", jhuge, sizeof jhuge, 0, "20000x20000");
    fill_pattern(8, 6, 3);
    m = encode("png", 8, 6, 3, px8);
    expect_refused("over-limit", m.p, m.n, 47, "above the limit");
    expect_decode("at-limit", m, 8, 6, 3, 0); /* default limit */
    climp_image ok;
    tu_check(climp_image_decode(m.p, m.n, 48, "x", &ok) == CLIMP_OK, "limit 48 = 8x6 allowed");
    climp_image_free(&ok);
    free(m.p);
}

/* ---------------------------------------------------------------- codec edge cases */
/* A JPEG from libjpeg into memory: w x h pixels of `comps` components in colour space cs, stored
 * as jcs (JCS_UNKNOWN: libjpeg's default for cs); levels > 0 asks for a grey progressive file of
 * one DC scan and, per AC coefficient, a first scan at Al = levels - 1 and levels - 1
 * refinements (1 + 63 * levels scans). */
static mem jpeg_encode(int w, int h, int comps, J_COLOR_SPACE cs, J_COLOR_SPACE jcs,
                       const unsigned char *px, int levels) {
    struct jpeg_compress_struct ci;
    struct jpeg_error_mgr err;
    ci.err = jpeg_std_error(&err);
    jpeg_create_compress(&ci);
    unsigned char *buf = NULL;
    unsigned long n = 0;
    jpeg_mem_dest(&ci, &buf, &n);
    ci.image_width = (JDIMENSION)w;
    ci.image_height = (JDIMENSION)h;
    ci.input_components = comps;
    ci.in_color_space = cs;
    jpeg_set_defaults(&ci);
    if (jcs != JCS_UNKNOWN) jpeg_set_colorspace(&ci, jcs);
    for (int c = 0; c < ci.num_components; c++) /* no chroma subsampling: sharp edges stay */
        ci.comp_info[c].h_samp_factor = ci.comp_info[c].v_samp_factor = 1;
    jpeg_set_quality(&ci, 95, TRUE);
    static jpeg_scan_info scans[1 + 63 * 10];
    if (levels) {
        int k = 0;
        scans[k++] = (jpeg_scan_info){1, {0}, 0, 0, 0, 0};
        for (int c = 1; c <= 63; c++)
            for (int a = 0; a < levels; a++)
                scans[k++] = (jpeg_scan_info){1, {0}, c, c, a ? levels - a : 0, levels - 1 - a};
        ci.scan_info = scans;
        ci.num_scans = k;
    }
    jpeg_start_compress(&ci, TRUE);
    while (ci.next_scanline < ci.image_height) {
        JSAMPROW row = (JSAMPROW)px + (size_t)ci.next_scanline * (size_t)w * (size_t)comps;
        jpeg_write_scanlines(&ci, &row, 1);
    }
    jpeg_finish_compress(&ci);
    jpeg_destroy_compress(&ci);
    mem m = {buf, n, n};
    return m;
}

static void png_write_mem(png_structp png, png_bytep data, png_size_t n) {
    mem_put(png_get_io_ptr(png), data, (int)n);
}
static void png_flush_mem(png_structp png) { (void)png; }

/* A PNG from libpng: depth 8 or 16 (16-bit samples big-endian in px), optional palette and tRNS,
 * optional Adam7 interlace. */
static mem png_encode(int w, int h, int depth, int color, int interlace, const unsigned char *px,
                      int row_bytes, const png_color *pal, int npal, const png_byte *trns,
                      int ntrns) {
    mem m = {0};
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png_create_info_struct(png);
    if (!png || !info || setjmp(png_jmpbuf(png))) abort();
    png_set_write_fn(png, &m, png_write_mem, png_flush_mem);
    png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, depth, color,
                 interlace ? PNG_INTERLACE_ADAM7 : PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
                 PNG_FILTER_TYPE_DEFAULT);
    if (pal) png_set_PLTE(png, info, pal, npal);
    if (trns) png_set_tRNS(png, info, trns, ntrns, NULL);
    png_write_info(png, info);
    png_bytep rows[64];
    for (int y = 0; y < h; y++) rows[y] = (png_bytep)px + (size_t)y * (size_t)row_bytes;
    png_write_image(png, rows);
    png_write_end(png, info);
    png_destroy_write_struct(&png, &info);
    return m;
}

/* Decodes and compares every pixel with want (h, w, 3) within tol. */
static void expect_rgb(const char *tag, const void *data, size_t n, int w, int h,
                       const unsigned char *want, int tol) {
    climp_image img;
    climp_status s = climp_image_decode(data, n, 0, tag, &img);
    tu_check(s == CLIMP_OK, "%s: decode failed: %s", tag, climp_error_detail());
    if (s) return;
    tu_check(img.w == w && img.h == h, "%s: size %dx%d, want %dx%d", tag, img.w, img.h, w, h);
    int worst = 0;
    for (int i = 0; img.w == w && img.h == h && i < w * h * 3; i++) {
        int d = abs(img.rgb[i] - want[i]);
        worst = d > worst ? d : worst;
    }
    tu_check(worst <= tol, "%s: max pixel error %d > %d", tag, worst, tol);
    climp_image_free(&img);
}

static void test_jpeg_codec(void) {
    enum { W = 16, H = 16 };
    static unsigned char src[W * H * 4], want[W * H * 3];
    /* grey: left 60, right 180 */
    for (int p = 0; p < W * H; p++) {
        src[p] = (p % W) < 8 ? 60 : 180;
        for (int c = 0; c < 3; c++) want[p * 3 + c] = src[p];
    }
    mem m = jpeg_encode(W, H, 1, JCS_GRAYSCALE, JCS_UNKNOWN, src, 0);
    expect_rgb("jpeg grey", m.p, m.n, W, H, want, 3);
    free(m.p);
    /* CMYK and YCCK with Adobe's marker: inks stored inverted, R = C * K / 255 */
    static const int ink[2][4] = {{250, 120, 40, 255}, {90, 200, 255, 160}};
    for (int p = 0; p < W * H; p++) {
        const int *k = ink[(p % W) >= 8];
        for (int c = 0; c < 4; c++) src[p * 4 + c] = (unsigned char)k[c];
        for (int c = 0; c < 3; c++) want[p * 3 + c] = (unsigned char)((k[c] * k[3] + 127) / 255);
    }
    m = jpeg_encode(W, H, 4, JCS_CMYK, JCS_CMYK, src, 0);
    expect_rgb("jpeg cmyk", m.p, m.n, W, H, want, 6);
    free(m.p);
    m = jpeg_encode(W, H, 4, JCS_CMYK, JCS_YCCK, src, 0);
    expect_rgb("jpeg ycck", m.p, m.n, W, H, want, 6);
    free(m.p);

    /* 631 progressive scans are refused (each is a pass over the image); 1 + 63 scans are not */
    for (int p = 0; p < W * H; p++) src[p] = (p % W) < 8 ? 60 : 180;
    m = jpeg_encode(W, H, 1, JCS_GRAYSCALE, JCS_UNKNOWN, src, 10);
    expect_refused("jpeg 631 scans", m.p, m.n, 0, "progressive scans");
    free(m.p);
    m = jpeg_encode(W, H, 1, JCS_GRAYSCALE, JCS_UNKNOWN, src, 1);
    for (int p = 0; p < W * H; p++)
        for (int c = 0; c < 3; c++) want[p * 3 + c] = src[p];
    expect_rgb("jpeg 64 scans", m.p, m.n, W, H, want, 3);
    free(m.p);

    /* a noisy 48x48 RGB JPEG: whole decodes; cut inside the entropy-coded data is refused
     * (libjpeg's "premature end" warning would give grey rows) */
    enum { N = 48 };
    static unsigned char rgb[N * N * 3];
    tu_rng r;
    tu_rng_seed(&r, 9);
    for (int i = 0; i < N * N * 3; i++) rgb[i] = (unsigned char)tu_uniform(&r, 0, 256);
    m = jpeg_encode(N, N, 3, JCS_RGB, JCS_UNKNOWN, rgb, 0);
    climp_image img;
    climp_status s = climp_image_decode(m.p, m.n, 0, "jpeg noisy", &img);
    tu_check(s == CLIMP_OK && img.w == N, "jpeg noisy: %s", climp_error_detail());
    climp_image_free(&img);
    expect_refused("jpeg cut in scan", m.p, m.n * 3 / 4, 0, "corrupt image (JPEG");
    expect_refused("jpeg no EOI", m.p, m.n - 2, 0, "corrupt image (JPEG");
    free(m.p);

    /* two extraneous bytes between APP0 and DQT: skipped by libjpeg, the pixels are intact, so the
     * image decodes exactly like the file without them (crawled JPEGs often have such bytes) */
    size_t bn = sizeof jpeg_baseline;
    unsigned char *b = malloc(bn + 2);
    memcpy(b, jpeg_baseline, 20);
    b[20] = 0x12, b[21] = 0x34;
    memcpy(b + 22, jpeg_baseline + 20, bn - 20);
    climp_image ja = {0}, jb = {0};
    s = climp_image_decode(jpeg_baseline, bn, 0, "jpeg baseline", &ja);
    climp_status s2 = climp_image_decode(b, bn + 2, 0, "jpeg extraneous", &jb);
    tu_check(s == CLIMP_OK && s2 == CLIMP_OK, "jpeg extraneous bytes decode: %s",
             climp_error_detail());
    tu_check(s == CLIMP_OK && s2 == CLIMP_OK && ja.w == jb.w && ja.h == jb.h &&
                 !memcmp(ja.rgb, jb.rgb, (size_t)ja.w * ja.h * 3),
             "jpeg extraneous bytes: same pixels");
    climp_image_free(&ja);
    climp_image_free(&jb);
    /* 0xFF fill bytes before SOI (stb skipped them; libjpeg wants SOI first) */
    b[0] = 0xFF, b[1] = 0xFF;
    memcpy(b + 2, jpeg_baseline, bn);
    expect_refused("jpeg fill bytes", b, bn + 2, 0, "not a decodable image");
    /* ... with a Huffman table declaring 16 x 255 codes (stb 2.27 wrote past its table): the
     * first DHT's counts are at offset 0xb6 of jpeg_baseline (after FF C4, length, class) */
    tu_check(jpeg_baseline[0xb1] == 0xFF && jpeg_baseline[0xb2] == 0xC4, "DHT offset");
    memset(b + 2 + 0xb6, 0xFF, 16);
    expect_refused("jpeg fill bytes + bad DHT", b, bn + 2, 0, NULL);
    expect_refused("jpeg bad DHT", b + 2, bn, 0, "not a decodable image (JPEG");
    free(b);
}

static void test_png_codec(void) {
    enum { W = 5, H = 4 };
    static unsigned char px[W * H * 8], want[W * H * 3];
    /* 16-bit grey+alpha (big-endian samples): grey's high byte, alpha dropped */
    for (int p = 0; p < W * H; p++) {
        unsigned g = (unsigned)(p * 3001 + 517) & 0xFFFF, a = (unsigned)(p * 977) & 0xFFFF;
        px[p * 4] = (unsigned char)(g >> 8), px[p * 4 + 1] = (unsigned char)g;
        px[p * 4 + 2] = (unsigned char)(a >> 8), px[p * 4 + 3] = (unsigned char)a;
        for (int c = 0; c < 3; c++) want[p * 3 + c] = (unsigned char)(g >> 8);
    }
    mem m = png_encode(W, H, 16, PNG_COLOR_TYPE_GRAY_ALPHA, 0, px, W * 4, NULL, 0, NULL, 0);
    expect_rgb("png16 grey+alpha", m.p, m.n, W, H, want, 0);
    free(m.p);
    /* 16-bit RGBA, interlaced */
    for (int p = 0; p < W * H; p++)
        for (int c = 0; c < 4; c++) {
            unsigned v = (unsigned)(p * 4099 + c * 15013) & 0xFFFF;
            px[p * 8 + c * 2] = (unsigned char)(v >> 8), px[p * 8 + c * 2 + 1] = (unsigned char)v;
            if (c < 3) want[p * 3 + c] = (unsigned char)(v >> 8);
        }
    m = png_encode(W, H, 16, PNG_COLOR_TYPE_RGB_ALPHA, 1, px, W * 8, NULL, 0, NULL, 0);
    expect_rgb("png16 rgba interlaced", m.p, m.n, W, H, want, 0);
    free(m.p);
    /* palette with tRNS: the palette colours, transparency ignored */
    static const png_color pal[3] = {{255, 0, 0}, {0, 128, 0}, {10, 20, 250}};
    static const png_byte trns[3] = {0, 128, 255};
    for (int p = 0; p < W * H; p++) {
        px[p] = (unsigned char)(p % 3);
        want[p * 3] = pal[p % 3].red, want[p * 3 + 1] = pal[p % 3].green;
        want[p * 3 + 2] = pal[p % 3].blue;
    }
    m = png_encode(W, H, 8, PNG_COLOR_TYPE_PALETTE, 0, px, W, pal, 3, trns, 3);
    expect_rgb("png palette+tRNS", m.p, m.n, W, H, want, 0);
    free(m.p);

    /* an empty first IDAT (stb 2.27 computed NULL + 0), then the real one */
    for (int p = 0; p < W * H * 3; p++) want[p] = (unsigned char)(p * 11);
    unsigned char raw[H * (1 + W * 3)];
    for (int y = 0; y < H; y++) {
        raw[y * (1 + W * 3)] = 0;
        memcpy(raw + y * (1 + W * 3) + 1, want + y * W * 3, W * 3);
    }
    uLongf zn = compressBound(sizeof raw);
    unsigned char *z = malloc(zn);
    if (compress(z, &zn, raw, sizeof raw) != Z_OK) abort();
    mem e = {0};
    png_ihdr(&e, W, H, 8, 2);
    png_chunk(&e, "IDAT", NULL, 0);
    png_chunk(&e, "IDAT", z, (uint32_t)zn);
    png_chunk(&e, "IEND", NULL, 0);
    expect_rgb("png empty first IDAT", e.p, e.n, W, H, want, 0);
    /* cut inside the IDAT data, and a flipped byte in it (zlib or CRC error) */
    size_t idat = 8 + 25 + 12; /* signature, IHDR, the empty IDAT */
    expect_refused("png cut in IDAT", e.p, idat + 8 + zn / 2, 0, "corrupt image (PNG");
    e.p[idat + 8 + zn / 2] ^= 0x55;
    expect_refused("png bad IDAT", e.p, e.n, 0, "corrupt image (PNG");
    free(e.p);
    free(z);
}

/* ---------------------------------------------------------------- resize */
/* Values from PyTorch: F.interpolate(t, (S, S), mode="bilinear", align_corners=False,
 * antialias=False) of the 7x5 image v(x, y, c) = (37x + 11y + 53c) mod 256, channel-last. */
static const float ref_s3[] = {
    28.33333f, 81.33333f, 134.33333f, 114.66666f, 167.66667f, 220.66667f, 200.99998f, 168.66670f,
    50.99999f, 46.66666f, 99.66666f, 152.66666f, 133.00000f, 186.00000f, 239.00000f, 219.33331f,
    16.33334f, 69.33332f, 65.00000f, 118.00000f, 171.00000f, 151.33333f, 204.33333f, 86.66671f,
    180.77782f, 34.66666f, 87.66666f};
static const float ref_s4[] = {
    15.25000f,  68.25000f,  121.25000f, 80.00000f,  133.00000f, 186.00000f, 144.75000f,
    197.75000f, 222.75000f, 209.50000f, 102.50000f, 59.50000f,  29.00000f,  82.00000f,
    135.00000f, 93.75000f,  146.75000f, 199.75000f, 158.50000f, 211.50000f, 40.50000f,
    223.25000f, 80.25000f,  73.25000f,  42.75000f,  95.75000f,  148.75000f, 107.50000f,
    160.50000f, 213.50000f, 172.25000f, 225.25000f, 54.25000f,  237.00000f, 34.00000f,
    87.00000f,  56.50000f,  109.50000f, 162.50000f, 121.25000f, 174.25000f, 199.25000f,
    186.00000f, 239.00000f, 40.00000f,  110.75000f, 47.75000f,  100.75000f};
/* The same for the crop x=1, y=1, w=5, h=3 (torchvision resized_crop) to 4x4. */
static const float ref_crop4[] = {
    52.62500f,  105.62500f, 158.62500f, 98.87500f,  151.87500f, 204.87500f, 145.12500f,
    198.12500f, 91.12500f,  191.37500f, 244.37500f, 41.37500f,  59.50000f,  112.50000f,
    165.50000f, 105.75000f, 158.75000f, 211.75000f, 152.00000f, 205.00000f, 98.00000f,
    198.25000f, 111.25000f, 48.25000f,  67.75000f,  120.75000f, 173.75000f, 114.00000f,
    167.00000f, 220.00000f, 160.25000f, 213.25000f, 106.25000f, 206.50000f, 35.50000f,
    56.50000f,  74.62500f,  127.62500f, 180.62500f, 120.87500f, 173.87500f, 226.87500f,
    167.12500f, 220.12500f, 113.12500f, 213.37500f, 42.37500f,  63.37500f};
/* Upsampling to 9x9: the first row (9 pixels). */
static const float ref_s9_row0[] = {
    0.00000f,   53.00000f,  106.00000f, 24.66667f,  77.66666f,  130.66667f, 53.44445f,
    106.44444f, 159.44444f, 82.22222f,  135.22223f, 188.22223f, 111.00000f, 164.00000f,
    217.00000f, 139.77779f, 192.77779f, 245.77779f, 168.55556f, 221.55556f, 132.33331f,
    197.33334f, 164.99998f, 47.33334f,  222.00000f, 19.00000f,  72.00000f};

static void check_resize(const char *tag, const uint8_t *src, climp_crop crop, int S,
                         const float *ref, size_t nref) {
    float *out = malloc(sizeof(float) * (size_t)S * S * 3);
    float *want = malloc(sizeof(float) * nref);
    climp_image_resize_normalize(src, 7, 5, crop, S, out);
    for (size_t i = 0; i < nref; i++) {
        int c = (int)(i % 3);
        want[i] = (ref[i] / 255.0f - climp_image_mean[c]) / climp_image_std[c];
    }
    tu_check(tu_compare(tag, out, want, nref, 2e-5f, 1e-5f) == 0, "%s matches PyTorch", tag);
    free(out);
    free(want);
}

static void test_resize(void) {
    uint8_t src[5 * 7 * 3];
    for (int y = 0; y < 5; y++)
        for (int x = 0; x < 7; x++)
            for (int c = 0; c < 3; c++) src[(y * 7 + x) * 3 + c] = (uint8_t)((37 * x + 11 * y + 53 * c) % 256);
    climp_crop full = {0, 0, 7, 5};
    check_resize("resize 7x5->3", src, full, 3, ref_s3, 27);
    check_resize("resize 7x5->4", src, full, 4, ref_s4, 48);
    check_resize("resize 7x5->9 row 0", src, full, 9, ref_s9_row0, 27);
    climp_crop c = {1, 1, 5, 3};
    check_resize("crop (1,1,5,3)->4", src, c, 4, ref_crop4, 48);
    /* a box outside the image means the whole image */
    climp_crop bad = {3, 0, 7, 5};
    check_resize("bad box -> full", src, bad, 4, ref_s4, 48);
    /* identity and normalisation: S == size is exact */
    float id[5 * 5 * 3];
    climp_crop sq = {1, 0, 5, 5};
    climp_image_resize_normalize(src, 7, 5, sq, 5, id);
    int bad_n = 0;
    for (int y = 0; y < 5; y++)
        for (int x = 0; x < 5; x++)
            for (int k = 0; k < 3; k++) {
                float v = src[(y * 7 + x + 1) * 3 + k];
                float want = (v / 255.0f - climp_image_mean[k]) / climp_image_std[k];
                if (fabsf(id[(y * 5 + x) * 3 + k] - want) > 1e-6f) bad_n++;
            }
    tu_check(bad_n == 0, "identity resize + normalise exact (%d off)", bad_n);
    uint8_t u[4 * 4 * 3];
    climp_image_resize_u8(src, 7, 5, full, 4, u);
    int worst = 0;
    for (int i = 0; i < 48; i++) {
        int d = abs((int)u[i] - (int)lrintf(ref_s4[i]));
        worst = d > worst ? d : worst;
    }
    tu_check(worst <= 1, "u8 resize rounds the PyTorch values (worst %d)", worst);
}

static void test_crop(void) {
    int sizes[][2] = {{64, 64}, {640, 480}, {100, 300}, {33, 17}, {5, 5}};
    for (int t = 0; t < 5; t++) {
        int w = sizes[t][0], h = sizes[t][1];
        int bad = 0;
        double amin = 2, amax = 0;
        for (uint64_t k = 0; k < 2000; k++) {
            climp_data_rng r = {climp_data_hash3(7, (uint64_t)t, k)};
            climp_crop c = climp_random_resized_crop(w, h, &r);
            if (c.x < 0 || c.y < 0 || c.w < 1 || c.h < 1 || c.x + c.w > w || c.y + c.h > h) bad++;
            double a = (double)c.w * c.h / ((double)w * h);
            amin = a < amin ? a : amin;
            amax = a > amax ? a : amax;
            climp_data_rng r2 = {climp_data_hash3(7, (uint64_t)t, k)};
            climp_crop c2 = climp_random_resized_crop(w, h, &r2);
            if (memcmp(&c, &c2, sizeof c)) bad++;
        }
        tu_check(bad == 0, "crop %dx%d: %d crops outside the image or not deterministic", w, h,
                 bad);
        if (w >= 64 && w * 3 <= h * 4 && h * 3 <= w * 4)
            tu_check(amin > 0.87 && amax <= 1.0, "crop %dx%d: area fraction %.3f..%.3f", w, h,
                     amin, amax);
    }
    climp_data_rng r = {1};
    climp_crop c = climp_random_resized_crop(100, 1, &r); /* every try fails: central fallback */
    tu_check(c.w == 1 && c.h == 1 && c.x == 49 && c.y == 0, "fallback crop (%d,%d,%d,%d)", c.x,
             c.y, c.w, c.h);
    c = climp_random_resized_crop(1, 100, &r);
    tu_check(c.w == 1 && c.h == 1 && c.x == 0 && c.y == 49, "fallback crop tall (%d,%d,%d,%d)",
             c.x, c.y, c.w, c.h);
}

/* Mutated PNG/JPEG/BMP bytes never crash the decoder: each gives an image or a clean refusal. */
static void test_fuzz(void) {
    fill_pattern(8, 6, 3);
    mem png = encode("png", 8, 6, 3, px8), bmp = encode("bmp", 8, 6, 3, px8);
    const unsigned char *src[3] = {png.p, jpeg_progressive, bmp.p};
    size_t len[3] = {png.n, sizeof jpeg_progressive, bmp.n};
    unsigned char buf[1024];
    tu_rng r;
    tu_rng_seed(&r, 77);
    int bad = 0;
    for (int it = 0; it < 600; it++) {
        int k = it % 3;
        size_t n = len[k] < sizeof buf ? len[k] : sizeof buf;
        memcpy(buf, src[k], n);
        int flips = 1 + (int)tu_uniform(&r, 0, 4);
        for (int f = 0; f < flips; f++)
            buf[(size_t)tu_uniform(&r, 0, (float)n)] = (unsigned char)tu_uniform(&r, 0, 256);
        if (it % 4 == 0) n = (size_t)tu_uniform(&r, 1, (float)n);
        climp_image img;
        climp_status s = climp_image_decode(buf, n, 4096, "fuzz", &img);
        if (s == CLIMP_OK) {
            bad += img.w < 1 || img.h < 1 || (long)img.w * img.h > 4096;
            climp_image_free(&img);
        } else if (s != CLIMP_ERR_FORMAT) {
            bad++;
        }
    }
    tu_check(bad == 0, "fuzzed images: %d bad outcomes", bad);
    free(png.p);
    free(bmp.p);
}

int main(void) {
    climp_log_set_level(CLIMP_LOG_ERROR);
    test_decode();
    test_jpeg_codec();
    test_png_codec();
    test_resize();
    test_crop();
    test_fuzz();
    return tu_finish("test_image");
}
