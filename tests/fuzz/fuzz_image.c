/* libFuzzer target: the image path of the data loader (trainer/image.c): decode from memory
 * (stb_image JPEG/PNG/BMP/GIF behind the project's size and Huffman-table checks), the random
 * resized crop, and the bilinear resize to (S, S) as normalised floats and as bytes.
 * Invariants: a decoded image has 1 <= w*h <= the pixel limit and all its bytes readable; the same
 * data with a limit of one pixel is refused unless it is 1x1; crops lie inside the image; resized
 * values are finite. Seeds: tests/fuzz/corpus/image/. Run: scripts/fuzz.sh image. */
#include "tests/fuzz/fuzz.h"

#include <math.h>

#include "trainer/data.h"

#define FIMG_MAX_PIXELS (1L << 20)

/* Known bug (reported; trainer/image.c is someone else's): the check that refuses JPEG Huffman
 * tables of more than 256 codes (stb_image 2.27 writes past its table) only looks at data that
 * starts with FF D8, but stb_image skips any number of 0xFF fill bytes before the SOI marker, so
 * FF FF D8 ... reaches the overflow (tests/fuzz/pending/image/jpeg-fill-bytes-dht.jpg). Such
 * inputs are skipped unless CLIMP_FUZZ_ALL=1 until that is fixed. */
static int fimg_known_bug(const uint8_t *d, size_t n) {
    size_t i = 0;
    while (i < n && d[i] == 0xFF)
        i++;
    return !fuzz_all() && i >= 2 && i < n && d[i] == 0xD8;
}

int climp_fuzz_image(const uint8_t *data, size_t size) {
    if (fimg_known_bug(data, size))
        return 0;
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

#ifndef CLIMP_FUZZ_NO_ENTRY
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    return climp_fuzz_image(data, size);
}
#endif
