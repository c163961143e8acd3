/*
** quantkit version: library version and the instruction set in use.
*/
#include <stdio.h>

#include "cli.h"
#include "commands.h"

int cmd_version(int argc, char **argv) {
    cli_common common;
    const char *positional[1];
    int n_positional;
    if (!cli_parse("version", argc, argv, NULL, 0, &common, positional, 0, &n_positional)) return 2;
    if (common.help) {
        cli_usage("version", "", NULL, 0);
        return 0;
    }
    const char *isa = qk_isa_name(qk_isa_get());
    if (common.json)
        printf("{\"version\": \"%s\", \"isa\": \"%s\", \"threads\": %d}\n", qk_version(), isa,
               qk_threads_get());
    else
        printf("quantkit %s (kernels: %s, threads: %d)\n", qk_version(), isa, qk_threads_get());
    return 0;
}
