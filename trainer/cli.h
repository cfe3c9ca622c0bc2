/* Sub-command entry points of the climp CLI (each returns the process exit code: 0 ok, 1 runtime
 * failure, 2 usage error) and small shared option-parsing helpers. */
#ifndef CLIMP_CLI_H
#define CLIMP_CLI_H

#include "runtime/climp_runtime.h"

int climp_cmd_devices(int argc, char **argv);
int climp_cmd_compile_kernels(int argc, char **argv);
int climp_cmd_train(int argc, char **argv);
int climp_cmd_eval(int argc, char **argv);
int climp_cmd_embed(int argc, char **argv);
int climp_cmd_search(int argc, char **argv);
int climp_cmd_zeroshot(int argc, char **argv);
int climp_cmd_synth(int argc, char **argv);
int climp_cmd_bench(int argc, char **argv);
int climp_cmd_tune(int argc, char **argv);

/* Option helpers: return 1 when argv[*i] is `name` (consuming its value into *out), 0 otherwise;
 * on a missing or malformed value they print one line and exit 2. */
int climp_opt_str(int argc, char **argv, int *i, const char *name, const char **out);
int climp_opt_int(int argc, char **argv, int *i, const char *name, long lo, long hi, long *out);
int climp_opt_float(int argc, char **argv, int *i, const char *name, double lo, double hi,
                    double *out);
/* Print "climp: <what>: <status name>[: detail]" on stderr. */
void climp_report_error(const char *what, climp_status s);

#endif
