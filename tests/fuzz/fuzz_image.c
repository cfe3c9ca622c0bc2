/* libFuzzer target: the image path of the data loader (trainer/image.c): decode from memory
 * (libjpeg-turbo JPEG, libpng PNG, stb_image BMP/GIF, each behind the pixel limit), the random
 * resized crop, and the bilinear resize to (S, S) as normalised floats and as bytes.
 * Invariants: a decoded image has 1 <= w*h <= the pixel limit and all its bytes readable; the same
 * data with a limit of one pixel is refused unless it is 1x1; crops lie inside the image; resized
 * values are finite. A PNG is decoded twice: as given and with its chunk CRCs made right.
 * Seeds: tests/fuzz/corpus/image/. Dictionary: tests/fuzz/image.dict. Run: scripts/fuzz.sh image. */
#include "tests/fuzz/fuzz.h"

#include <math.h>
#include <zlib.h>

#include "trainer/data.h"

#define FIMG_MAX_PIXELS (1L << 20)

static int fimg_check(const uint8_t *data, size_t size) {
    climp_image img;
    climp_error_clear();
    climp_status s = climp_image_decode(data, size, FIMG_MAX_PIXELS, "fuzz", &img);
    fuzz_check_detail(s, 1);
    FUZZ_CHECK(s == CLIMP_OK || s == CLIMP_ERR_FORMAT);
    if (s) {
        FUZZ_CHECK(img.rgb == NULL);
        return 0;
    }
    FUZZ_CHECK(img.rgb && img.w >= 1 && img.h >= 1);
    FUZZ_CHECK((long long)img.w * img.h <= FIMG_MAX_PIXELS);
    unsigned sum = 0;
    size_t npix = (size_t)img.w * (size_t)img.h * 3;
    for (size_t i = 0; i < npix; i++)
        sum += img.rgb[i];
    (void)sum;
    /* The pixel limit is enforced before decoding. */
    climp_image tiny;
    climp_error_clear();
    s = climp_image_decode(data, size, 1, "fuzz", &tiny);
    fuzz_check_detail(s, 1);
    FUZZ_CHECK((s == CLIMP_OK) == (img.w == 1 && img.h == 1));
    climp_image_free(&tiny);

    int S = 1 + (int)(size % 13);
    float out[13 * 13 * 3];
    uint8_t out8[13 * 13 * 3];
    climp_crop whole = {0, 0, img.w, img.h};
    climp_image_resize_normalize(img.rgb, img.w, img.h, whole, S, out);
    for (int i = 0; i < S * S * 3; i++)
        FUZZ_CHECK(isfinite(out[i]));
    climp_data_rng r = {size};
    for (int k = 0; k < 3; k++) {
        climp_crop c = climp_random_resized_crop(img.w, img.h, &r);
        FUZZ_CHECK(c.w >= 1 && c.h >= 1 && c.x >= 0 && c.y >= 0);
        FUZZ_CHECK(c.x + c.w <= img.w && c.y + c.h <= img.h);
        climp_image_resize_normalize(img.rgb, img.w, img.h, c, S, out);
        for (int i = 0; i < S * S * 3; i++)
            FUZZ_CHECK(isfinite(out[i]));
    }
    climp_crop outside = {img.w, -1, 5, 5}; /* outside the image: the whole image is used */
    climp_image_resize_u8(img.rgb, img.w, img.h, outside, S, out8);
    climp_image_free(&img);
    FUZZ_CHECK(img.rgb == NULL);
    return 0;
}

/* libFuzzer cannot forge CRCs, and libpng refuses a critical chunk whose CRC is wrong, so a PNG
 * input is also decoded with every complete chunk's CRC recomputed: mutations then reach the
 * chunk parsers and the inflate and filter code behind them. */
static void fimg_fix_png_crcs(uint8_t *b, size_t n) {
    size_t pos = 8;
    while (pos + 12 <= n) {
        uint32_t len = (uint32_t)b[pos] << 24 | (uint32_t)b[pos + 1] << 16 |
                       (uint32_t)b[pos + 2] << 8 | b[pos + 3];
        if (len > n - pos - 12)
            break;
        uLong crc = crc32(0L, b + pos + 4, (uInt)len + 4);
        uint8_t *c = b + pos + 8 + len;
        c[0] = (uint8_t)(crc >> 24), c[1] = (uint8_t)(crc >> 16);
        c[2] = (uint8_t)(crc >> 8), c[3] = (uint8_t)crc;
        pos += 12 + (size_t)len;
    }
}

int climp_fuzz_image(const uint8_t *data, size_t size) {
    fimg_check(data, size);
    if (size > 8 && !memcmp(data, "\x89PNG\r\n\x1a\n", 8)) {
        uint8_t *copy = malloc(size);
        FUZZ_CHECK(copy != NULL);
        memcpy(copy, data, size);
        fimg_fix_png_crcs(copy, size);
        fimg_check(copy, size);
        free(copy);
    }
    return 0;
}

#ifndef CLIMP_FUZZ_NO_ENTRY
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    return climp_fuzz_image(data, size);
}
#endif
