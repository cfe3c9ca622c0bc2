/* `climp devices` and `climp compile-kernels`, plus the CLI's option-parsing helpers. */
#define _POSIX_C_SOURCE 200809L
#include "trainer/cli.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void climp_report_error(const char *what, climp_status s) {
    const char *d = climp_error_detail();
    fprintf(stderr, "climp: %s: %s%s%s\n", what, climp_status_name(s), d[0] ? ": " : "", d);
}

int climp_opt_str(int argc, char **argv, int *i, const char *name, const char **out) {
    if (strcmp(argv[*i], name)) return 0;
    if (*i + 1 >= argc) {
        fprintf(stderr, "climp: option %s needs a value\n", name);
        exit(2);
    }
    *out = argv[++*i];
    return 1;
}

int climp_opt_int(int argc, char **argv, int *i, const char *name, long lo, long hi, long *out) {
    const char *s;
    if (!climp_opt_str(argc, argv, i, name, &s)) return 0;
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) {
        fprintf(stderr, "climp: option %s: '%s' is not an integer in [%ld, %ld]\n", name, s, lo,
                hi);
        exit(2);
    }
    *out = v;
    return 1;
}

int climp_opt_float(int argc, char **argv, int *i, const char *name, double lo, double hi,
                    double *out) {
    const char *s;
    if (!climp_opt_str(argc, argv, i, name, &s)) return 0;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !isfinite(v) || v < lo || v > hi) {
        fprintf(stderr, "climp: option %s: '%s' is not a number in [%g, %g]\n", name, s, lo, hi);
        exit(2);
    }
    *out = v;
    return 1;
}

static void print_gib(const char *label, uint64_t bytes) {
    printf("    %-22s %.2f GiB\n", label, bytes / 1073741824.0);
}

static cJSON *device_json(const climp_device_info *d) {
    cJSON *o = cJSON_CreateObject();
    char idx[32];
    snprintf(idx, sizeof(idx), "%d:%d", d->platform_index, d->device_index);
    cJSON_AddStringToObject(o, "index", idx);
    cJSON_AddStringToObject(o, "platform", d->platform_name);
    cJSON_AddStringToObject(o, "platform_version", d->platform_version);
    cJSON_AddStringToObject(o, "name", d->name);
    cJSON_AddStringToObject(o, "vendor", d->vendor);
    cJSON_AddStringToObject(o, "type", d->type);
    cJSON_AddStringToObject(o, "driver_version", d->driver_version);
    cJSON_AddStringToObject(o, "device_version", d->device_version);
    cJSON_AddStringToObject(o, "opencl_c_version", d->opencl_c_version);
    cJSON_AddNumberToObject(o, "compute_units", d->compute_units);
    cJSON_AddNumberToObject(o, "clock_mhz", d->clock_mhz);
    cJSON_AddNumberToObject(o, "global_mem_bytes", (double)d->global_mem_bytes);
    cJSON_AddNumberToObject(o, "local_mem_bytes", (double)d->local_mem_bytes);
    cJSON_AddNumberToObject(o, "max_alloc_bytes", (double)d->max_alloc_bytes);
    cJSON_AddNumberToObject(o, "max_work_group_size", (double)d->max_work_group_size);
    cJSON_AddBoolToObject(o, "fp16", d->fp16);
    cJSON_AddBoolToObject(o, "fp64", d->fp64);
    cJSON_AddBoolToObject(o, "subgroups", d->subgroups);
    cJSON_AddBoolToObject(o, "compiler_available", d->compiler_available);
    cJSON_AddBoolToObject(o, "host_unified_memory", d->host_unified_memory);
    cJSON_AddNumberToObject(o, "peak_gflops_estimate", d->peak_gflops);
    cJSON_AddNumberToObject(o, "peak_gbps_estimate", d->peak_gbps);
    cJSON_AddStringToObject(o, "peak_estimate_method", d->peak_note);
    return o;
}

int climp_cmd_devices(int argc, char **argv) {
    int json = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--json")) {
            json = 1;
        } else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            printf("usage: climp devices [--json]\n\n"
                   "Lists every OpenCL device of every platform the ICD loader finds, with the\n"
                   "index to pass to --device (P:D), its capabilities and estimated peaks.\n"
                   "Select a device elsewhere with --device P:D, --device <name substring> or\n"
                   "CLIMP_DEVICE.\n");
            return 0;
        } else {
            fprintf(stderr, "climp devices: unknown option '%s' (try --help)\n", argv[i]);
            return 2;
        }
    }
    climp_device_info *devs = NULL;
    int n = 0;
    climp_status s = climp_devices_list(&devs, &n);
    if (s == CLIMP_ERR_NO_PLATFORM || s == CLIMP_ERR_NO_DEVICE) {
        fprintf(stderr,
                "climp: no OpenCL device found (%s). Hint: install a driver (on Debian: apt-get "
                "install pocl-opencl-icd for the CPU) or check OCL_ICD_VENDORS / "
                "/etc/OpenCL/vendors.\n",
                climp_status_name(s));
        return 1;
    }
    if (s) {
        climp_report_error("listing devices", s);
        return 1;
    }
    if (json) {
        cJSON *arr = cJSON_CreateArray();
        for (int i = 0; i < n; i++) cJSON_AddItemToArray(arr, device_json(&devs[i]));
        char *txt = cJSON_Print(arr);
        printf("%s\n", txt);
        cJSON_free(txt);
        cJSON_Delete(arr);
    } else {
        for (int i = 0; i < n; i++) {
            const climp_device_info *d = &devs[i];
            printf("[%d:%d] %s\n", d->platform_index, d->device_index, d->name);
            printf("    %-22s %s (%s)\n", "platform", d->platform_name, d->platform_version);
            printf("    %-22s %s, %s\n", "vendor, type", d->vendor, d->type);
            printf("    %-22s %s\n", "driver", d->driver_version);
            printf("    %-22s %s / %s\n", "OpenCL", d->device_version, d->opencl_c_version);
            printf("    %-22s %u @ %u MHz\n", "compute units", d->compute_units, d->clock_mhz);
            print_gib("global memory", d->global_mem_bytes);
            printf("    %-22s %.0f KiB\n", "local memory", d->local_mem_bytes / 1024.0);
            print_gib("max allocation", d->max_alloc_bytes);
            printf("    %-22s %zu\n", "max work-group size", d->max_work_group_size);
            printf("    %-22s fp16 %s, fp64 %s, subgroups %s\n", "features", d->fp16 ? "yes" : "no",
                   d->fp64 ? "yes" : "no", d->subgroups ? "yes" : "no");
            printf("    %-22s %s\n", "online compiler", d->compiler_available ? "yes" : "no");
            printf("    %-22s %s\n", "host-unified memory", d->host_unified_memory ? "yes" : "no");
            printf("    %-22s %.0f GFLOP/s fp32, %s GB/s\n", "estimated peak", d->peak_gflops,
                   d->peak_gbps > 0 ? "" : "?");
            if (d->peak_gbps > 0) printf("    %-22s %.0f GB/s\n", "memory bandwidth", d->peak_gbps);
            printf("    %-22s %s\n", "estimate method", d->peak_note);
        }
    }
    free(devs);
    return 0;
}

int climp_cmd_compile_kernels(int argc, char **argv) {
    climp_ctx_options opt = {0};
    const char *out = NULL;
    for (int i = 1; i < argc; i++) {
        if (climp_opt_str(argc, argv, &i, "--device", &opt.device)) continue;
        if (climp_opt_str(argc, argv, &i, "--out", &out)) continue;
        if (climp_opt_str(argc, argv, &i, "--kernel-variant", &opt.kernel_variant)) continue;
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            printf("usage: climp compile-kernels --device D --out DIR [--kernel-variant "
                   "ndrange|fpga]\n\n"
                   "Compiles every kernel program climp uses for device D and writes the program\n"
                   "binaries plus manifest.txt into DIR. Load them with --kernel-binaries DIR (or\n"
                   "CLIMP_KERNEL_BINARIES=DIR): source is then never compiled.\n");
            return 0;
        }
        fprintf(stderr, "climp compile-kernels: unknown option '%s' (try --help)\n", argv[i]);
        return 2;
    }
    if (!out) {
        fprintf(stderr, "climp compile-kernels: --out DIR is required\n");
        return 2;
    }
    climp_ctx *ctx = NULL;
    climp_status s = climp_ctx_open(&opt, &ctx);
    if (s) {
        climp_report_error("opening the device", s);
        return 1;
    }
    s = climp_write_kernel_binaries(ctx, out);
    climp_counters c = climp_ctx_counters(ctx);
    climp_ctx_close(ctx);
    if (s) {
        climp_report_error("compile-kernels", s);
        return 1;
    }
    printf("wrote kernel binaries to %s (%ld compiled from source, %ld from cache)\n", out,
           c.source_compiles, c.binary_loads);
    return 0;
}
