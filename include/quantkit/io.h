/*
** quantkit io: model files.
**
**   - mapped files (read-only mmap) and atomic output files (temporary file
**     in the destination folder, fsync, rename on commit), used by every
**     reader and writer in quantkit;
**   - the tensor description every reader hands out (qk_io_tensor).
**
** GGUF lives in quantkit/gguf.h. Files are untrusted: readers check every
** length, count, offset, alignment and shape product against the file size
** and for overflow before use, and fail with a message naming the file, the
** tensor or key, and the byte offset. Status conventions of all readers:
**   QK_ERR_BAD_MAGIC     the file is not of the format (or a wrong version word)
**   QK_ERR_TRUNCATED     the file ends inside a fixed-size field or record
**   QK_ERR_OUT_OF_BOUNDS a declared length, count or offset points past the end
**   QK_ERR_OVERLAP       two tensors' data regions overlap
**   QK_ERR_UNKNOWN_TYPE  a dtype / ggml type / value type quantkit does not know
**   QK_ERR_MISALIGNED    a data offset breaks the format's alignment
**   QK_ERR_OVERFLOW      a shape product or size overflows int64 / size_t
**   QK_ERR_SHAPE         a shape inconsistent with the type or the byte range
**   QK_ERR_CORRUPT       anything else malformed (bad JSON, duplicate names ...)
**   QK_ERR_UNSUPPORTED   valid but not handled (GGUF v1, more than 4 dimensions)
**   QK_ERR_IO            the operating system refused (open, read, write, rename)
** All multi-byte values are little-endian; tensor data pointers point into
** the read-only mapping and may be unaligned for their element type.
*/
#ifndef QUANTKIT_IO_H
#define QUANTKIT_IO_H

#include <stdio.h> /* FILE */

#include "quantkit/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------
** Read-only memory-mapped file. The whole file is mapped; an empty file has
** size 0 and a valid (non-NULL, not dereferenceable) data pointer.
*/
typedef struct qk_mapped_file qk_mapped_file;

/* Map `path` read-only. QK_ERR_IO (naming the path and the OS error) when it
** cannot be opened, is not a regular file, or cannot be mapped. */
qk_status qk_mapped_file_open(const char *path, qk_mapped_file **out);
/* Unmap and free; NULL is a no-op. Invalidates every pointer into the file. */
void qk_mapped_file_close(qk_mapped_file *file);
/* First byte of the mapping; borrowed, valid until qk_mapped_file_close. */
const unsigned char *qk_mapped_file_data(const qk_mapped_file *file);
/* Size in bytes. */
size_t qk_mapped_file_size(const qk_mapped_file *file);
/* The path given to qk_mapped_file_open; borrowed, same lifetime. */
const char *qk_mapped_file_path(const qk_mapped_file *file);

/* ------------------------------------------------------------------------
** Atomic output file: every quantkit writer goes through this. Bytes go to a
** new file with a unique name in the destination folder
** (".NAME.qk-tmp-PID-N"); commit flushes, fsyncs, renames it onto `path`
** and fsyncs the folder; abort (or any failure in commit) unlinks it. The
** destination is either untouched or complete, never half-written. Write
** errors are sticky: after one, every later call returns the same status
** and commit fails. Messages name the destination path and the OS error
** (ENOSPC "No space left on device", EFBIG "File too large", ...).
*/
typedef struct qk_atomic_file qk_atomic_file;

/* Create the temporary file next to `path` (mode 0666 minus the umask). */
qk_status qk_atomic_file_open(const char *path, qk_atomic_file **out);
/* Append `n` bytes (buffered). */
qk_status qk_atomic_file_write(qk_atomic_file *file, const void *data, size_t n);
/* Append `n` zero bytes. */
qk_status qk_atomic_file_write_zeros(qk_atomic_file *file, size_t n);
/* Bytes appended so far. */
uint64_t qk_atomic_file_tell(const qk_atomic_file *file);
/* Destination path; borrowed, valid until commit/abort. */
const char *qk_atomic_file_path(const qk_atomic_file *file);
/* Temporary file's path; borrowed, valid until commit/abort. */
const char *qk_atomic_file_temp_path(const qk_atomic_file *file);
/* Flush, fsync, rename into place. Always frees `file`; on failure the
** temporary file is removed and the destination left as it was. */
qk_status qk_atomic_file_commit(qk_atomic_file *file);
/* Remove the temporary file and free; NULL is a no-op. */
void qk_atomic_file_abort(qk_atomic_file *file);

/* ------------------------------------------------------------------------
** One tensor of a file, as every reader describes it. Shapes are outermost
** first (row-major, shape[ndim-1] contiguous), as in qk_tensor_view.
*/
typedef struct qk_io_tensor {
    const char *name;           /* borrowed from the reader */
    qk_type type;               /* element type */
    int32_t ndim;               /* 0 (scalar) .. QK_MAX_DIMS */
    int64_t shape[QK_MAX_DIMS]; /* outermost first; unused entries are 0 */
    uint64_t offset;            /* byte offset of the data in the file */
    size_t nbytes;              /* bytes of the data */
    const void *data;           /* borrowed: points into the reader's mapping */
} qk_io_tensor;

/* Number of elements of a tensor (product of its shape; 1 for ndim 0). */
int64_t qk_io_tensor_numel(const qk_io_tensor *tensor);

#ifdef __cplusplus
}
#endif
#endif /* QUANTKIT_IO_H */
