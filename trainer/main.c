/* climp: the command-line entry point. Sub-commands dispatch to trainer/cli_*.c. */
#define _POSIX_C_SOURCE 200809L
#include "trainer/cli.h"

#include <stdio.h>
#include <string.h>

static const struct {
    const char *name;
    int (*fn)(int, char **);
    const char *help;
} k_commands[] = {
    {"devices", climp_cmd_devices, "list OpenCL devices (--json)"},
    {"train", climp_cmd_train, "contrastive training (synthetic, TSV/CSV or tar shards)"},
    {"eval", climp_cmd_eval, "retrieval recall@1/5/10 of a checkpoint on pairs (--json)"},
    {"embed", climp_cmd_embed, "embeddings of a dataset (.npy) or an image folder index"},
    {"search", climp_cmd_search, "top-k images of an index for a text query"},
    {"zeroshot", climp_cmd_zeroshot, "zero-shot class probabilities of images"},
    {"synth", climp_cmd_synth, "write synthetic image-caption samples as PNG + TSV"},
    {"compile-kernels", climp_cmd_compile_kernels, "write offline kernel binaries for a device"},
    {"bench", climp_cmd_bench, "benchmarks: kernels, train, infer, scaling (--json, --quick)"},
    {"tune", climp_cmd_tune, "search kernel tunables, write the per-device tuning table"},
};

static void usage(FILE *f) {
    fprintf(f, "usage: climp <command> [options]   (climp <command> --help for details)\n\n"
               "commands:\n");
    for (size_t i = 0; i < sizeof(k_commands) / sizeof(k_commands[0]); i++)
        fprintf(f, "  %-16s %s\n", k_commands[i].name, k_commands[i].help);
}

int main(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") ||
        !strcmp(argv[1], "help")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    for (size_t i = 0; i < sizeof(k_commands) / sizeof(k_commands[0]); i++)
        if (!strcmp(argv[1], k_commands[i].name)) return k_commands[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "climp: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return 2;
}
