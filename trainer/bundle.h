/* Kernel bundles: every program of a run (kernel source + defines) in one OpenCL C file, so an FPGA
 * holds one bitstream. Program i is wrapped with `#define NAME p<i>_NAME` for each identifier its
 * source declares at file scope (kernels, helper functions, file-scope variables, typedef names,
 * struct tags), then its program text exactly as climp builds it, then `#undef` of those renames
 * and of every macro the text defines, and resets of the file-scope pragmas it sets. The runtime
 * serves the programs from the one binary through bundle.map (runtime/program.c; docs/fpga.md). */
#ifndef CLIMP_BUNDLE_H
#define CLIMP_BUNDLE_H

#include "runtime/climp_runtime.h"

/* What one program text declares at file scope, as the wrapping needs it. */
typedef struct climp_bundle_scan {
    char **names; /* identifiers to rename */
    int n_names;
    char **macros; /* every macro the text #defines (prologue included) */
    int n_macros;
    char **resets; /* pragma lines that undo the file-scope pragmas the text sets */
    int n_resets;
} climp_bundle_scan;

/* Scans an OpenCL C program text. Refuses (CLIMP_ERR_UNSUPPORTED, detail set) what it cannot
 * rename safely: file-scope enums, unbalanced braces across #if branches, a file-scope pragma it
 * cannot reset, a name that is also a vector component (x, lo, s0, ...), a file-scope invocation
 * of a macro that pastes or stringizes an argument to be renamed. */
climp_status climp_bundle_scan_text(const char *text, climp_bundle_scan *out);
void climp_bundle_scan_free(climp_bundle_scan *s);

/* The bundle text of n programs (malloc'd into *text); keys[i] receives program i's key (as in
 * `<source>-<key>.bin`), its kernels are prefixed "p<i>_". */
climp_status climp_bundle_text(int n, const char *const *sources, const char *const *defines,
                               char **text, uint64_t *keys);

/* `climp compile-kernels --bundle`: writes DIR/bundle.cl, builds it on the context's device into
 * DIR/bundle-<key>.bin and writes DIR/bundle.map; `file` (cap bytes) receives the binary's name. */
climp_status climp_bundle_write(climp_ctx *ctx, const char *dir, int n, const char *const *sources,
                                const char *const *defines, char *file, size_t cap);

#endif
