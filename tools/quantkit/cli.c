/*
** Option parsing, errors, progress and formatting for the quantkit tool.
*/
#include "cli.h"

#include <jansson.h>

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

static bool parse_int(const char *text, int64_t *out) {
    char *end;
    errno = 0;
    long long v = strtoll(text, &end, 10);
    if (errno || end == text) return false;
    int64_t mult = 1;
    if (*end == 'k' || *end == 'K')
        mult = 1000, end++;
    else if (*end == 'M')
        mult = 1000000, end++;
    else if (*end == 'G')
        mult = 1000000000, end++;
    if (*end) return false;
    if (v > INT64_MAX / mult || v < INT64_MIN / mult) return false;
    *out = (int64_t)v * mult;
    return true;
}

bool cli_parse_size(const char *text, uint64_t *out) {
    char *end;
    errno = 0;
    double v = strtod(text, &end);
    if (errno || end == text || !(v >= 0) || !isfinite(v)) return false;
    while (*end == ' ') end++;
    double mult = 1;
    if (*end) {
        static const struct {
            const char *suffix;
            double mult;
        } units[] = {{"b", 1},          {"kb", 1e3},          {"k", 1e3},
                     {"mb", 1e6},       {"m", 1e6},           {"gb", 1e9},
                     {"g", 1e9},        {"tb", 1e12},         {"kib", 1024.},
                     {"mib", 1048576.}, {"gib", 1073741824.}, {"tib", 1099511627776.}};
        size_t i;
        for (i = 0; i < sizeof units / sizeof units[0]; i++)
            if (strcasecmp(end, units[i].suffix) == 0) break;
        if (i == sizeof units / sizeof units[0]) return false;
        mult = units[i].mult;
    }
    double bytes = v * mult;
    if (bytes >= 18446744073709551615.0) return false;
    *out = (uint64_t)floor(bytes);
    return true;
}

static const cli_option *find_option(const cli_option *options, size_t n, const char *name,
                                     size_t len) {
    for (size_t i = 0; i < n; i++)
        if (strlen(options[i].name) == len && strncmp(options[i].name, name, len) == 0)
            return &options[i];
    return NULL;
}

bool cli_parse(const char *command, int argc, char **argv, const cli_option *options,
               size_t n_options, cli_common *common, const char **positional, int max_positional,
               int *n_positional) {
    const cli_option common_opts[] = {
        {"json", CLI_FLAG, &common->json, "machine-readable output: one JSON object on stdout"},
        {"threads", CLI_INT, &common->threads, "number of threads (default: all cores)"},
        {"help", CLI_FLAG, &common->help, "show this help"},
    };
    common->json = false;
    common->threads = 0;
    common->help = false;
    *n_positional = 0;
    bool only_positional = false;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (only_positional || arg[0] != '-' || arg[1] == '\0') {
            if (*n_positional >= max_positional) {
                fprintf(stderr, "quantkit %s: error: unexpected argument '%s'\n", command, arg);
                return false;
            }
            positional[(*n_positional)++] = arg;
            continue;
        }
        if (strcmp(arg, "--") == 0) {
            only_positional = true;
            continue;
        }
        if (strcmp(arg, "-h") == 0) {
            common->help = true;
            continue;
        }
        const char *name = arg + (arg[1] == '-' ? 2 : 1);
        /* "-o" is the one short option: the output path */
        if (strcmp(arg, "-o") == 0) name = "output";
        const char *eq = strchr(name, '=');
        size_t len = eq ? (size_t)(eq - name) : strlen(name);
        const cli_option *opt = find_option(options, n_options, name, len);
        if (!opt) opt = find_option(common_opts, 3, name, len);
        if (!opt) {
            fprintf(stderr, "quantkit %s: error: unknown option '%s' (see --help)\n", command, arg);
            return false;
        }
        if (opt->kind == CLI_FLAG) {
            if (eq) {
                fprintf(stderr, "quantkit %s: error: option --%s takes no value\n", command,
                        opt->name);
                return false;
            }
            *(bool *)opt->target = true;
            continue;
        }
        const char *value = eq ? eq + 1 : NULL;
        if (!value) {
            if (i + 1 >= argc) {
                fprintf(stderr, "quantkit %s: error: option --%s needs a value\n", command,
                        opt->name);
                return false;
            }
            value = argv[++i];
        }
        bool ok = true;
        switch (opt->kind) {
        case CLI_STRING:
            *(const char **)opt->target = value;
            break;
        case CLI_INT:
            ok = parse_int(value, (int64_t *)opt->target);
            break;
        case CLI_DOUBLE: {
            char *end;
            errno = 0;
            *(double *)opt->target = strtod(value, &end);
            ok = !errno && end != value && *end == '\0';
            break;
        }
        case CLI_SIZE:
            ok = cli_parse_size(value, (uint64_t *)opt->target);
            break;
        case CLI_STRING_LIST: {
            cli_string_list *list = opt->target;
            if (list->count >= (int)(sizeof list->items / sizeof list->items[0]))
                ok = false;
            else
                list->items[list->count++] = value;
            break;
        }
        case CLI_FLAG:
            break;
        }
        if (!ok) {
            fprintf(stderr, "quantkit %s: error: bad value '%s' for --%s\n", command, value,
                    opt->name);
            return false;
        }
    }
    if (common->threads < 0) {
        fprintf(stderr, "quantkit %s: error: --threads must be >= 0\n", command);
        return false;
    }
    /* without --threads, OpenMP's default stands (OMP_NUM_THREADS or all cores) */
    if (common->threads > 0) qk_threads_set((int)common->threads);
    return true;
}

void cli_usage(const char *command, const char *synopsis, const cli_option *options,
               size_t n_options) {
    printf("usage: quantkit %s %s\n\noptions:\n", command, synopsis);
    for (size_t i = 0; i < n_options; i++) {
        const char *arg = options[i].kind == CLI_FLAG ? "" : " VALUE";
        printf("  --%s%s\n      %s\n", options[i].name, arg, options[i].help);
    }
    printf("  --threads N\n      number of threads (default: all cores)\n"
           "  --json\n      machine-readable output: one JSON object on stdout\n");
}

int cli_fail_status(const char *command, qk_status status) {
    const char *msg = qk_last_error();
    if (!msg || !msg[0]) msg = qk_status_str(status);
    fprintf(stderr, "quantkit %s: error: %s\n", command, msg);
    return 1;
}

int cli_fail(const char *command, const char *fmt, ...) {
    va_list args;
    fprintf(stderr, "quantkit %s: error: ", command);
    va_start(args, fmt);
    vfprintf(stderr, fmt, args);
    va_end(args);
    fputc('\n', stderr);
    return 1;
}

void cli_progress_begin(cli_progress *p, const char *label, uint64_t total, bool json) {
    p->label = label;
    p->total = total;
    p->start = qk_time_seconds();
    p->last_draw = 0;
    p->enabled = !json && isatty(STDERR_FILENO);
    p->drawn = false;
}

void cli_progress_update(cli_progress *p, uint64_t done) {
    if (!p->enabled) return;
    double now = qk_time_seconds();
    /* appear only for work lasting over a second; redraw at most 10x/s */
    if (now - p->start < 1.0 || now - p->last_draw < 0.1) return;
    p->last_draw = now;
    p->drawn = true;
    double frac = p->total ? (double)done / (double)p->total : 0.0;
    if (frac > 1) frac = 1;
    int width = 30, filled = (int)(frac * width);
    char bar[32];
    for (int i = 0; i < width; i++) bar[i] = i < filled ? '#' : '.';
    bar[width] = '\0';
    double elapsed = now - p->start;
    double eta = frac > 0 ? elapsed * (1 - frac) / frac : 0;
    fprintf(stderr, "\r%-12s [%s] %5.1f%%  %6.1fs  eta %5.1fs ", p->label, bar, 100 * frac, elapsed,
            eta);
    fflush(stderr);
}

void cli_progress_end(cli_progress *p) {
    if (p->enabled && p->drawn) {
        fprintf(stderr, "\r%*s\r", 80, "");
        fflush(stderr);
    }
}

const char *cli_format_bytes(uint64_t bytes, char *buf, size_t size) {
    const char *units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double v = (double)bytes;
    int u = 0;
    while (v >= 1024 && u < 4) v /= 1024, u++;
    if (u == 0)
        snprintf(buf, size, "%llu B", (unsigned long long)bytes);
    else
        snprintf(buf, size, "%.2f %s", v, units[u]);
    return buf;
}

bool cli_read_file(const char *path, char **out, size_t *out_len) {
    FILE *f = fopen(path, "rb");
    if (!f) return false;
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap);
    while (buf) {
        size_t n = fread(buf + len, 1, cap - len - 1, f);
        len += n;
        if (n == 0) break;
        if (cap - len - 1 == 0) {
            char *bigger = realloc(buf, cap * 2);
            if (!bigger) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = bigger;
            cap *= 2;
        }
    }
    bool ok = buf && !ferror(f);
    fclose(f);
    if (!ok) {
        free(buf);
        return false;
    }
    buf[len] = '\0';
    *out = buf;
    *out_len = len;
    return true;
}

void cli_json_print(void *object) {
    json_t *o = object;
    json_dumpf(o, stdout, JSON_COMPACT | JSON_REAL_PRECISION(10));
    fputc('\n', stdout);
    fflush(stdout);
    json_decref(o);
}
