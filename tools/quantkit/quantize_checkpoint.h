/*
** `quantkit quantize --format gptq|gptq_v2|awq|compressed-tensors`: the
** Hugging Face checkpoint branch of the quantize command.
*/
#ifndef QK_QUANTIZE_CHECKPOINT_H
#define QK_QUANTIZE_CHECKPOINT_H

#include "cli.h"

typedef struct quantize_checkpoint_args {
    const char *in_path, *out_dir;
    const char *format; /* gptq, gptq_v2, awq, compressed-tensors */
    const char *method; /* rtn (default) */
    int64_t bits;       /* 0: the format's default (4) */
    int64_t group;      /* 0: default 128; -1 per channel */
    bool sym;
    const char *tokenizer; /* copied into the folder when given */
    const cli_common *common;
} quantize_checkpoint_args;

/* Runs the branch; returns the exit code. */
int quantize_checkpoint(const quantize_checkpoint_args *a);

#endif
