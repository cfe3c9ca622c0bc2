/* Shared pieces of the libFuzzer targets tests/fuzz/fuzz_*.c: the entry points, a per-process
 * scratch folder the file-based parsers read their input from, and an invariant check that
 * aborts (so libFuzzer and the regression test both see a violated invariant as a crash).
 *
 * Each target defines climp_fuzz_<name>(data, size) and, unless CLIMP_FUZZ_NO_ENTRY is defined,
 * LLVMFuzzerTestOneInput calling it. scripts/fuzz.sh builds one target with clang
 * -fsanitize=fuzzer,address,undefined; tests/test_fuzz_regress.c #includes all five with
 * CLIMP_FUZZ_NO_ENTRY and replays tests/fuzz/corpus/<name>/ and tests/fuzz/regress/<name>/
 * through the same bodies in the normal (and the --sanitize) ctest build. */
#ifndef CLIMP_FUZZ_H
#define CLIMP_FUZZ_H

#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runtime/climp_runtime.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int climp_fuzz_safetensors(const uint8_t *data, size_t size);
int climp_fuzz_tokenizer(const uint8_t *data, size_t size);
int climp_fuzz_tsv(const uint8_t *data, size_t size);
int climp_fuzz_tar(const uint8_t *data, size_t size);
int climp_fuzz_image(const uint8_t *data, size_t size);

/* A violated invariant is a bug even when nothing crashed: print it and abort. */
#define FUZZ_CHECK(cond)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz: invariant failed at %s:%d: %s\n", __FILE__, __LINE__, #cond);   \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

static char fuzz_dir_path[256];

static inline void fuzz_dir_remove(void) {
    static const char *const names[] = {"in.safetensors", "out.safetensors", "out.safetensors.tmp",
                                        "tokenizer.json", "fuzz.tsv",        "fuzz.csv",
                                        "fuzz.tar",       "a.bmp",           "b.bmp"};
    char p[320];
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        snprintf(p, sizeof p, "%s/%s", fuzz_dir_path, names[i]);
        unlink(p);
    }
    rmdir(fuzz_dir_path);
}

/* The scratch folder: $CLIMP_FUZZ_DIR, else /dev/shm (or $TMPDIR, /tmp) climp-fuzz-<pid>, made
 * once and removed at exit. Quiet logging (bad rows and members are logged as warnings). */
static inline const char *fuzz_dir(void) {
    if (fuzz_dir_path[0])
        return fuzz_dir_path;
    climp_log_set_level(CLIMP_LOG_ERROR);
    const char *base = getenv("CLIMP_FUZZ_DIR");
    struct stat st;
    if (!base || !*base)
        base = stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode) ? "/dev/shm" : NULL;
    if (!base)
        base = getenv("TMPDIR");
    if (!base || !*base)
        base = "/tmp";
    snprintf(fuzz_dir_path, sizeof fuzz_dir_path, "%s/climp-fuzz-%ld", base, (long)getpid());
    if (mkdir(fuzz_dir_path, 0700) != 0 && errno != EEXIST) {
        fprintf(stderr, "fuzz: cannot create %s: %s\n", fuzz_dir_path, strerror(errno));
        abort();
    }
    atexit(fuzz_dir_remove);
    return fuzz_dir_path;
}

/* Writes data to <fuzz_dir>/name and puts the full path into path. */
static inline void fuzz_write(const char *name, const void *data, size_t size, char *path,
                              size_t cap) {
    snprintf(path, cap, "%s/%s", fuzz_dir(), name);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0) {
        fprintf(stderr, "fuzz: cannot write %s: %s\n", path, strerror(errno));
        abort();
    }
    const char *p = data;
    for (size_t done = 0; done < size;) {
        ssize_t w = write(fd, p + done, size - done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            fprintf(stderr, "fuzz: write %s failed: %s\n", path, strerror(errno));
            abort();
        }
        done += (size_t)w;
    }
    close(fd);
}

/* CLIMP_FUZZ_ALL=1: do not step around the known, reported bugs that a target otherwise skips
 * so that fuzzing can go past them (their reproducers are in tests/fuzz/pending/<target>/). */
static inline int fuzz_all(void) {
    static int all = -1;
    if (all < 0) {
        const char *e = getenv("CLIMP_FUZZ_ALL");
        all = e && *e && *e != '0';
    }
    return all;
}

/* A refusal must leave a message for the user: every error path sets the detail (clear it with
 * climp_error_clear() before the call); with one_line, the message is also a single line. */
static inline void fuzz_check_detail(climp_status s, int one_line) {
    if (s == CLIMP_OK || s == CLIMP_ERR_HOST_OOM)
        return;
    const char *d = climp_error_detail();
    FUZZ_CHECK(d && d[0]);
    if (one_line)
        FUZZ_CHECK(!strchr(d, '\n') && !strchr(d, '\r'));
}

#endif
