/*
** quantkit: dispatch to one command per file.
*/
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "commands.h"

static const cli_command COMMANDS[] = {
    {"inspect", "format, architecture, tensors, parameters and bits per weight of a model",
     cmd_inspect},
    {"quantize", "quantize a model to a GGUF file llama.cpp loads (--type q4_k_m ...)",
     cmd_quantize},
    {"eval", "perplexity (and KL divergence to a reference model) on a text", cmd_eval},
    {"compare", "per-tensor MSE, MAE, max error, SQNR and cosine between two models", cmd_compare},
    {"report",
     "HTML report: per-tensor errors, histograms, outliers, perplexity/KL (-o report.html)",
     cmd_report},
    {"calibrate", "activation statistics (imatrix, mean |x|, X^T X) on calibration text",
     cmd_calibrate},
    {"bench", "kernel GB/s next to measured memory bandwidth; quantize and decode speed",
     cmd_bench},
    {"version", "print the version and the kernels this CPU uses", cmd_version},
};
static const size_t N_COMMANDS = sizeof COMMANDS / sizeof COMMANDS[0];

static void print_help(FILE *out) {
    fprintf(out, "usage: quantkit COMMAND [options]\n\ncommands:\n");
    for (size_t i = 0; i < N_COMMANDS; i++)
        fprintf(out, "  %-10s %s\n", COMMANDS[i].name, COMMANDS[i].summary);
    fprintf(out, "\nEvery command takes --threads N, --json and --help.\n");
}

int main(int argc, char **argv) {
    if (argc < 2) {
        print_help(stderr);
        return 2;
    }
    const char *name = argv[1];
    if (strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0 || strcmp(name, "help") == 0) {
        print_help(stdout);
        return 0;
    }
    if (strcmp(name, "--version") == 0) name = "version";
    for (size_t i = 0; i < N_COMMANDS; i++)
        if (strcmp(name, COMMANDS[i].name) == 0) return COMMANDS[i].run(argc - 1, argv + 1);
    fprintf(stderr, "quantkit: error: unknown command '%s' (see quantkit --help)\n", name);
    return 2;
}
