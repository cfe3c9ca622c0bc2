/* Synthetic image-caption pairs: sample i of seed s is a pure function of (s, i). An S x S RGB
 * image on a light, randomly tinted background with one or two objects, each with a colour,
 * shape, size and quadrant (never two in one quadrant), jittered in position, size and hue; the
 * caption names every object ("a large red circle at the top left and a small blue square at
 * the bottom right"). Rasterised with plain coverage tests at pixel centres (no antialiasing).
 * The dataset wrapper lives in trainer/loader.c; tests in tests/test_data.c. */
#include "trainer/data.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

const char *const climp_synth_color_names[CLIMP_SYNTH_COLORS] = {"red",    "green",  "blue",
                                                                 "yellow", "purple", "orange"};
const char *const climp_synth_shape_names[CLIMP_SYNTH_SHAPES] = {"circle", "square", "triangle",
                                                                 "cross"};
const char *const climp_synth_quadrant_names[CLIMP_SYNTH_QUADRANTS] = {
    "top left", "top right", "bottom left", "bottom right"};
const uint8_t climp_synth_palette[CLIMP_SYNTH_COLORS][3] = {
    {220, 30, 30},  /* red */
    {30, 170, 40},  /* green */
    {30, 60, 220},  /* blue */
    {235, 205, 25}, /* yellow */
    {140, 40, 180}, /* purple */
    {245, 130, 20}, /* orange */
};

enum { SHAPE_CIRCLE, SHAPE_SQUARE, SHAPE_TRIANGLE, SHAPE_CROSS };

#define LARGE_FRAC 0.35f  /* side / diameter of a large object, as a fraction of S */
#define SMALL_FRAC 0.20f
#define SIZE_JITTER 0.08f /* relative */
#define POS_JITTER 0.04f  /* fraction of S; with the sizes above objects stay in their quadrant */
#define HUE_JITTER 18.0f  /* per channel, 0..255 units */
#define CROSS_ARM 0.30f   /* half-thickness of a cross bar, as a fraction of the half-extent */

uint64_t climp_synth_eval_seed(uint64_t seed) {
    return climp_data_mix64(seed ^ 0x45564131ull) ^ 0x5EEDull;
}

static float uni(climp_data_rng *r, float lo, float hi) {
    return lo + (hi - lo) * (float)climp_data_rng_uniform(r);
}

static int pick(climp_data_rng *r, int n) {
    int k = (int)(climp_data_rng_uniform(r) * n);
    return k < n ? k : n - 1;
}

static uint8_t clamp_u8(float v) {
    return v <= 0.0f ? 0 : v >= 255.0f ? 255 : (uint8_t)(v + 0.5f);
}

void climp_synth_scene_make(uint64_t seed, long index, int S, climp_synth_scene *sc) {
    climp_data_rng r = {climp_data_hash3(seed, CLIMP_RNG_SYNTH, (uint64_t)index)};
    memset(sc, 0, sizeof *sc);
    float base = uni(&r, 225.0f, 248.0f);
    for (int c = 0; c < 3; c++) sc->background[c] = clamp_u8(base + uni(&r, -10.0f, 10.0f));
    sc->n = climp_data_rng_uniform(&r) < 0.5 ? 1 : 2;
    int q0 = pick(&r, CLIMP_SYNTH_QUADRANTS);
    int q1 = (q0 + 1 + pick(&r, CLIMP_SYNTH_QUADRANTS - 1)) % CLIMP_SYNTH_QUADRANTS;
    for (int k = 0; k < sc->n; k++) {
        climp_synth_object *o = &sc->obj[k];
        o->quadrant = k == 0 ? q0 : q1;
        o->color = pick(&r, CLIMP_SYNTH_COLORS);
        o->shape = pick(&r, CLIMP_SYNTH_SHAPES);
        o->large = pick(&r, 2);
        float frac = o->large ? LARGE_FRAC : SMALL_FRAC;
        o->extent = frac * (float)S * (1.0f + uni(&r, -SIZE_JITTER, SIZE_JITTER));
        float qx = (float)(o->quadrant & 1), qy = (float)(o->quadrant >> 1);
        o->cx = (0.25f + 0.5f * qx + uni(&r, -POS_JITTER, POS_JITTER)) * (float)S;
        o->cy = (0.25f + 0.5f * qy + uni(&r, -POS_JITTER, POS_JITTER)) * (float)S;
        for (int c = 0; c < 3; c++)
            o->rgb[c] = clamp_u8((float)climp_synth_palette[o->color][c] +
                                 uni(&r, -HUE_JITTER, HUE_JITTER));
    }
}

/* Coverage test at offset (dx, dy) from the centre, half-extent h. */
static int inside(int shape, float dx, float dy, float h) {
    float ax = fabsf(dx), ay = fabsf(dy);
    switch (shape) {
    case SHAPE_CIRCLE: return dx * dx + dy * dy <= h * h;
    case SHAPE_SQUARE: return ax <= h && ay <= h;
    case SHAPE_TRIANGLE: return dy >= -h && dy <= h && ax <= 0.5f * (dy + h); /* apex up */
    default: {
        float t = CROSS_ARM * h;
        return (ax <= h && ay <= t) || (ay <= h && ax <= t);
    }
    }
}

static size_t describe(const climp_synth_scene *sc, char *cap, size_t cap_size) {
    char tmp[256];
    size_t len = 0;
    for (int k = 0; k < sc->n; k++) {
        const climp_synth_object *o = &sc->obj[k];
        int w = snprintf(tmp + len, sizeof tmp - len, "%sa %s %s %s at the %s",
                         k ? " and " : "", o->large ? "large" : "small",
                         climp_synth_color_names[o->color], climp_synth_shape_names[o->shape],
                         climp_synth_quadrant_names[o->quadrant]);
        if (w > 0) len += (size_t)w;
    }
    if (cap && cap_size) {
        size_t c = len < cap_size - 1 ? len : cap_size - 1;
        memcpy(cap, tmp, c);
        cap[c] = '\0';
    }
    return len;
}

size_t climp_synth_render(const climp_synth_scene *sc, int S, uint8_t *rgb, char *cap,
                          size_t cap_size) {
    size_t npix = (size_t)S * (size_t)S;
    for (size_t p = 0; p < npix; p++) memcpy(rgb + 3 * p, sc->background, 3);
    for (int k = 0; k < sc->n; k++) {
        const climp_synth_object *o = &sc->obj[k];
        float h = 0.5f * o->extent;
        int x0 = (int)floorf(o->cx - h - 1), x1 = (int)ceilf(o->cx + h + 1);
        int y0 = (int)floorf(o->cy - h - 1), y1 = (int)ceilf(o->cy + h + 1);
        if (x0 < 0) x0 = 0;
        if (y0 < 0) y0 = 0;
        if (x1 > S) x1 = S;
        if (y1 > S) y1 = S;
        for (int y = y0; y < y1; y++)
            for (int x = x0; x < x1; x++)
                if (inside(o->shape, (float)x + 0.5f - o->cx, (float)y + 0.5f - o->cy, h))
                    memcpy(rgb + 3 * ((size_t)y * (size_t)S + (size_t)x), o->rgb, 3);
    }
    return describe(sc, cap, cap_size);
}
