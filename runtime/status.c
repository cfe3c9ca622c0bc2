/* Status names, error detail, check-macro back ends, logging, clocks and the cache folder.
 * Every OpenCL error code of versions 1.2-3.0, the ICD loader's and common extension codes print
 * by name; the project's own codes (climp_runtime.h) sit in -9000..-9099. */
#define _POSIX_C_SOURCE 200809L
#include "runtime/climp_runtime.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

typedef struct { climp_status code; const char *name; } status_name;

static const status_name k_names[] = {
    {0, "CL_SUCCESS"},
    {-1142, "CL_INVALID_SEMAPHORE_KHR"},
    {-1141, "CL_INVALID_MUTABLE_COMMAND_KHR"},
    {-1140, "CL_INCOMPATIBLE_COMMAND_QUEUE_KHR"},
    {-1139, "CL_INVALID_SYNC_POINT_WAIT_LIST_KHR"},
    {-1138, "CL_INVALID_COMMAND_BUFFER_KHR"},
    {-1121, "CL_CONTEXT_TERMINATED_KHR"},
    {-1108, "CL_COMMAND_TERMINATED_ITSELF_WITH_FAILURE_ARM"},
    {-1097, "CL_ACCELERATOR_TYPE_NOT_SUPPORTED_INTEL"},
    {-1096, "CL_INVALID_ACCELERATOR_DESCRIPTOR_INTEL"},
    {-1095, "CL_INVALID_ACCELERATOR_TYPE_INTEL"},
    {-1094, "CL_INVALID_ACCELERATOR_INTEL"},
    {-1059, "CL_INVALID_PARTITION_NAME_EXT"},
    {-1058, "CL_INVALID_PARTITION_COUNT_EXT"},
    {-1057, "CL_DEVICE_PARTITION_FAILED_EXT"},
    {-1001, "CL_PLATFORM_NOT_FOUND_KHR"},
    {-72, "CL_MAX_SIZE_RESTRICTION_EXCEEDED"},
    {-71, "CL_INVALID_SPEC_ID"},
    {-70, "CL_INVALID_DEVICE_QUEUE"},
    {-69, "CL_INVALID_PIPE_SIZE"},
    {-68, "CL_INVALID_DEVICE_PARTITION_COUNT"},
    {-67, "CL_INVALID_LINKER_OPTIONS"},
    {-66, "CL_INVALID_COMPILER_OPTIONS"},
    {-65, "CL_INVALID_IMAGE_DESCRIPTOR"},
    {-64, "CL_INVALID_PROPERTY"},
    {-63, "CL_INVALID_GLOBAL_WORK_SIZE"},
    {-62, "CL_INVALID_MIP_LEVEL"},
    {-61, "CL_INVALID_BUFFER_SIZE"},
    {-60, "CL_INVALID_GL_OBJECT"},
    {-59, "CL_INVALID_OPERATION"},
    {-58, "CL_INVALID_EVENT"},
    {-57, "CL_INVALID_EVENT_WAIT_LIST"},
    {-56, "CL_INVALID_GLOBAL_OFFSET"},
    {-55, "CL_INVALID_WORK_ITEM_SIZE"},
    {-54, "CL_INVALID_WORK_GROUP_SIZE"},
    {-53, "CL_INVALID_WORK_DIMENSION"},
    {-52, "CL_INVALID_KERNEL_ARGS"},
    {-51, "CL_INVALID_ARG_SIZE"},
    {-50, "CL_INVALID_ARG_VALUE"},
    {-49, "CL_INVALID_ARG_INDEX"},
    {-48, "CL_INVALID_KERNEL"},
    {-47, "CL_INVALID_KERNEL_DEFINITION"},
    {-46, "CL_INVALID_KERNEL_NAME"},
    {-45, "CL_INVALID_PROGRAM_EXECUTABLE"},
    {-44, "CL_INVALID_PROGRAM"},
    {-43, "CL_INVALID_BUILD_OPTIONS"},
    {-42, "CL_INVALID_BINARY"},
    {-41, "CL_INVALID_SAMPLER"},
    {-40, "CL_INVALID_IMAGE_SIZE"},
    {-39, "CL_INVALID_IMAGE_FORMAT_DESCRIPTOR"},
    {-38, "CL_INVALID_MEM_OBJECT"},
    {-37, "CL_INVALID_HOST_PTR"},
    {-36, "CL_INVALID_COMMAND_QUEUE"},
    {-35, "CL_INVALID_QUEUE_PROPERTIES"},
    {-34, "CL_INVALID_CONTEXT"},
    {-33, "CL_INVALID_DEVICE"},
    {-32, "CL_INVALID_PLATFORM"},
    {-31, "CL_INVALID_DEVICE_TYPE"},
    {-30, "CL_INVALID_VALUE"},
    {-19, "CL_KERNEL_ARG_INFO_NOT_AVAILABLE"},
    {-18, "CL_DEVICE_PARTITION_FAILED"},
    {-17, "CL_LINK_PROGRAM_FAILURE"},
    {-16, "CL_LINKER_NOT_AVAILABLE"},
    {-15, "CL_COMPILE_PROGRAM_FAILURE"},
    {-14, "CL_EXEC_STATUS_ERROR_FOR_EVENTS_IN_WAIT_LIST"},
    {-13, "CL_MISALIGNED_SUB_BUFFER_OFFSET"},
    {-12, "CL_MAP_FAILURE"},
    {-11, "CL_BUILD_PROGRAM_FAILURE"},
    {-10, "CL_IMAGE_FORMAT_NOT_SUPPORTED"},
    {-9, "CL_IMAGE_FORMAT_MISMATCH"},
    {-8, "CL_MEM_COPY_OVERLAP"},
    {-7, "CL_PROFILING_INFO_NOT_AVAILABLE"},
    {-6, "CL_OUT_OF_HOST_MEMORY"},
    {-5, "CL_OUT_OF_RESOURCES"},
    {-4, "CL_MEM_OBJECT_ALLOCATION_FAILURE"},
    {-3, "CL_COMPILER_NOT_AVAILABLE"},
    {-2, "CL_DEVICE_NOT_AVAILABLE"},
    {-1, "CL_DEVICE_NOT_FOUND"},
    {CLIMP_ERR_INVALID_ARG, "CLIMP_ERR_INVALID_ARG"},
    {CLIMP_ERR_SHAPE, "CLIMP_ERR_SHAPE"},
    {CLIMP_ERR_BUFFER_TOO_SMALL, "CLIMP_ERR_BUFFER_TOO_SMALL"},
    {CLIMP_ERR_NO_PLATFORM, "CLIMP_ERR_NO_PLATFORM"},
    {CLIMP_ERR_NO_DEVICE, "CLIMP_ERR_NO_DEVICE"},
    {CLIMP_ERR_DEVICE_NOT_FOUND, "CLIMP_ERR_DEVICE_NOT_FOUND"},
    {CLIMP_ERR_HOST_OOM, "CLIMP_ERR_HOST_OOM"},
    {CLIMP_ERR_IO, "CLIMP_ERR_IO"},
    {CLIMP_ERR_FORMAT, "CLIMP_ERR_FORMAT"},
    {CLIMP_ERR_BUILD, "CLIMP_ERR_BUILD"},
    {CLIMP_ERR_NO_BINARY, "CLIMP_ERR_NO_BINARY"},
    {CLIMP_ERR_NO_KERNEL_SOURCE, "CLIMP_ERR_NO_KERNEL_SOURCE"},
    {CLIMP_ERR_UNSUPPORTED, "CLIMP_ERR_UNSUPPORTED"},
    {CLIMP_ERR_NOT_FINITE, "CLIMP_ERR_NOT_FINITE"},
    {CLIMP_ERR_ARENA_FULL, "CLIMP_ERR_ARENA_FULL"},
    {CLIMP_ERR_DEVICE_OOM, "CLIMP_ERR_DEVICE_OOM"},
    {CLIMP_ERR_CORRUPT, "CLIMP_ERR_CORRUPT"},
    {CLIMP_ERR_INTERRUPTED, "CLIMP_ERR_INTERRUPTED"},
    {CLIMP_ERR_USAGE, "CLIMP_ERR_USAGE"},
};

const char *climp_status_name(climp_status s) {
    static _Thread_local char unknown[48];
    for (size_t i = 0; i < sizeof(k_names) / sizeof(k_names[0]); i++)
        if (k_names[i].code == s) return k_names[i].name;
    snprintf(unknown, sizeof(unknown), "UNKNOWN_STATUS(%d)", s);
    return unknown;
}

int climp_status_table(int i, climp_status *code, const char **name) {
    if (i < 0 || (size_t)i >= sizeof(k_names) / sizeof(k_names[0])) return 0;
    *code = k_names[i].code;
    *name = k_names[i].name;
    return 1;
}

static _Thread_local char g_detail[4096];

/* Formats into a scratch buffer first: callers may pass climp_error_detail() itself as an
 * argument to prefix the previous detail (vsnprintf into its own argument is undefined). */
void climp_error_set(const char *fmt, ...) {
    char buf[sizeof(g_detail)];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    memcpy(g_detail, buf, strlen(buf) + 1);
}

const char *climp_error_detail(void) { return g_detail; }
void climp_error_clear(void) { g_detail[0] = 0; }

void climp_trace(climp_status s, const char *expr, const char *file, int line) {
    climp_log(CLIMP_LOG_DEBUG, "%s:%d: %s -> %s", file, line, expr, climp_status_name(s));
}

void climp_die(climp_status s, const char *expr, const char *file, int line) {
    fprintf(stderr, "climp: fatal: %s failed with %s at %s:%d%s%s\n", expr, climp_status_name(s),
            file, line, g_detail[0] ? ": " : "", g_detail);
    exit(1);
}

static int g_level = -1;

int climp_log_level(void) {
    if (g_level < 0) {
        const char *e = getenv("CLIMP_LOG");
        g_level = CLIMP_LOG_INFO;
        if (e && !strcmp(e, "debug")) g_level = CLIMP_LOG_DEBUG;
        if (e && !strcmp(e, "warn")) g_level = CLIMP_LOG_WARN;
        if (e && !strcmp(e, "error")) g_level = CLIMP_LOG_ERROR;
    }
    return g_level;
}

void climp_log_set_level(int level) { g_level = level; }

void climp_log(int level, const char *fmt, ...) {
    static const char *tags[] = {"error", "warning", "info", "debug"};
    if (level > climp_log_level()) return;
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "climp: %s: ", tags[level < 0 ? 0 : level > 3 ? 3 : level]);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

double climp_now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

char *climp_read_file(const char *path, size_t max_bytes, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *buf = NULL;
    long n = -1;
    if (!fseek(f, 0, SEEK_END)) n = ftell(f);
    if (n >= 0 && (!max_bytes || (size_t)n <= max_bytes) && !fseek(f, 0, SEEK_SET) &&
        (buf = malloc((size_t)n + 1))) {
        if (fread(buf, 1, (size_t)n, f) != (size_t)n) {
            free(buf);
            buf = NULL;
        } else {
            buf[n] = 0;
            if (len) *len = (size_t)n;
        }
    }
    fclose(f);
    return buf;
}

const char *climp_cache_dir(void) {
    static char dir[1024];
    const char *e = getenv("CLIMP_CACHE_DIR");
    if (e && *e) {
        snprintf(dir, sizeof(dir), "%s", e);
    } else if ((e = getenv("XDG_CACHE_HOME")) && *e) {
        snprintf(dir, sizeof(dir), "%s/climp", e);
    } else {
        const char *home = getenv("HOME");
        snprintf(dir, sizeof(dir), "%s/.cache/climp", home && *home ? home : "/tmp");
    }
    return dir;
}
