/* `climp synth`: writes samples of the built-in synthetic image-caption data as PNG files plus a
 * captions.tsv (open_clip layout: filepath, title), for demos, tests and other tools. */
#define _POSIX_C_SOURCE 200809L
#define STB_IMAGE_WRITE_IMPLEMENTATION
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmissing-prototypes"
#pragma GCC diagnostic ignored "-Wshadow"
#pragma GCC diagnostic ignored "-Wunused-parameter"
#pragma GCC diagnostic ignored "-Wunused-function"
#include <stb_image_write.h>
#pragma GCC diagnostic pop

#include "trainer/cli.h"
#include "trainer/data.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int climp_cmd_synth(int argc, char **argv) {
    const char *out = NULL;
    long n = 100, size = 64, seed = 1;
    int eval = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            printf("usage: climp synth --out DIR [--n N] [--image-size S] [--seed S] [--eval]\n\n"
                   "Writes N samples of the synthetic data as DIR/000000.png ... and\n"
                   "DIR/captions.tsv (columns filepath, title). --eval writes the held-out set\n"
                   "that 'climp train --seed S' evaluates on.\n");
            return 0;
        }
        if (climp_opt_str(argc, argv, &i, "--out", &out)) continue;
        if (climp_opt_int(argc, argv, &i, "--n", 1, 100000000L, &n)) continue;
        if (climp_opt_int(argc, argv, &i, "--image-size", 8, 4096, &size)) continue;
        if (climp_opt_int(argc, argv, &i, "--seed", 0, 0x7fffffffL, &seed)) continue;
        if (!strcmp(argv[i], "--eval")) {
            eval = 1;
            continue;
        }
        fprintf(stderr, "climp synth: unknown option '%s' (try --help)\n", argv[i]);
        return 2;
    }
    if (!out) {
        fprintf(stderr, "climp synth: --out DIR is required\n");
        return 2;
    }
    if (mkdir(out, 0755) && errno != EEXIST) {
        fprintf(stderr, "climp synth: cannot create %s: %s\n", out, strerror(errno));
        return 2;
    }
    char path[1200];
    snprintf(path, sizeof(path), "%s/captions.tsv", out);
    FILE *tsv = fopen(path, "w");
    uint8_t *rgb = malloc((size_t)size * size * 3);
    if (!tsv || !rgb) {
        fprintf(stderr, "climp synth: cannot write %s\n", path);
        free(rgb);
        if (tsv) fclose(tsv);
        return 1;
    }
    fprintf(tsv, "filepath\ttitle\n");
    uint64_t s = eval ? climp_synth_eval_seed((uint64_t)seed) : (uint64_t)seed;
    int rc = 0;
    for (long i = 0; i < n && !rc; i++) {
        climp_synth_scene sc;
        char cap[512];
        climp_synth_scene_make(s, i, (int)size, &sc);
        climp_synth_render(&sc, (int)size, rgb, cap, sizeof(cap));
        snprintf(path, sizeof(path), "%s/%06ld.png", out, i);
        if (!stbi_write_png(path, (int)size, (int)size, 3, rgb, (int)size * 3)) {
            fprintf(stderr, "climp synth: cannot write %s\n", path);
            rc = 1;
        }
        fprintf(tsv, "%06ld.png\t%s\n", i, cap);
    }
    free(rgb);
    if (fclose(tsv)) rc = 1;
    if (!rc) fprintf(stderr, "climp synth: %ld samples in %s\n", n, out);
    return rc;
}
