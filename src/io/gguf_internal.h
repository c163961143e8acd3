/*
** Internal to the io layer: what the GGUF writer needs from the reader.
*/
#ifndef QK_IO_GGUF_INTERNAL_H
#define QK_IO_GGUF_INTERNAL_H

#include "quantkit/gguf.h"

/* The encoded value of pair `index` exactly as in the file: from its u32
** type field to the end of the value (borrowed from the mapping). */
qk_status qk_gguf_reader_kv_raw(const qk_gguf_reader *r, int64_t index, const unsigned char **raw,
                                size_t *len);

/* ggml's limit on tensor name length (GGML_MAX_NAME, including the NUL). */
#define QK_GGUF_MAX_NAME 64

#endif
