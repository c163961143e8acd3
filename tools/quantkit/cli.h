/*
** Shared pieces of the quantkit command-line tool: the command table,
** option parsing, error reporting, progress bar and JSON output. Commands
** live one per file (cmd_<name>.c) and use the public API only.
*/
#ifndef QK_CLI_H
#define QK_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "quantkit/quantkit.h"

/* One subcommand: `quantkit NAME ...`. run() gets argv with argv[0] = NAME
** and returns the process exit code. */
typedef struct cli_command {
    const char *name;
    const char *summary;
    int (*run)(int argc, char **argv);
} cli_command;

/* Option kinds. Values are parsed from "--name VALUE" or "--name=VALUE". */
typedef enum cli_option_kind {
    CLI_FLAG,       /* bool*, set to true */
    CLI_STRING,     /* const char** */
    CLI_INT,        /* int64_t* (accepts k/M/G suffixes as powers of 1000 for counts) */
    CLI_DOUBLE,     /* double* */
    CLI_SIZE,       /* uint64_t* bytes: "2.5GB", "300MiB", "123456" */
    CLI_STRING_LIST /* cli_string_list*: the option may repeat */
} cli_option_kind;

typedef struct cli_string_list {
    const char *items[64];
    int count;
} cli_string_list;

typedef struct cli_option {
    const char *name; /* without the leading "--" */
    cli_option_kind kind;
    void *target;
    const char *help;
} cli_option;

/* Options every command takes. */
typedef struct cli_common {
    bool json;
    int64_t threads; /* 0 = all cores */
    bool help;
} cli_common;

/* Parse argv[1..]: options from `options` plus the common ones (--json,
** --threads N, --help); everything else is positional (up to
** max_positional). On error prints one line to stderr and returns false. */
bool cli_parse(const char *command, int argc, char **argv, const cli_option *options,
               size_t n_options, cli_common *common, const char **positional, int max_positional,
               int *n_positional);

/* Print usage: "usage: quantkit CMD SYNOPSIS" and the option list. */
void cli_usage(const char *command, const char *synopsis, const cli_option *options,
               size_t n_options);

/* Print "quantkit CMD: error: <message>" on stderr, where the message is
** qk_last_error() (or the status text when empty), and return exit code 1. */
int cli_fail_status(const char *command, qk_status status);
/* Same with an explicit printf-style message. */
int cli_fail(const char *command, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Progress bar on stderr, shown only when stderr is a terminal, the
** command is not in --json mode, and the work lasts over a second. */
typedef struct cli_progress {
    const char *label;
    double start;
    double last_draw;
    uint64_t total;
    bool enabled;
    bool drawn;
} cli_progress;
void cli_progress_begin(cli_progress *p, const char *label, uint64_t total, bool json);
void cli_progress_update(cli_progress *p, uint64_t done);
void cli_progress_end(cli_progress *p);

/* Read a whole file into a NUL-terminated malloc'ed buffer. */
bool cli_read_file(const char *path, char **out, size_t *out_len);

/* Print one JSON object (jansson json_t*) on stdout as a single line and
** release it. */
void cli_json_print(void *object);

/* Human-readable byte count ("4.13 MiB") into buf. */
const char *cli_format_bytes(uint64_t bytes, char *buf, size_t size);
/* Parse a byte size ("2.5GB" = 2.5e9, "300MiB" = 300*2^20, "1234"). */
bool cli_parse_size(const char *text, uint64_t *out);

#endif
