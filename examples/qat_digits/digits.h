/*
** The 8x8 handwritten digits shipped by Debian's python3-sklearn
** (sklearn/datasets/data/digits.csv.gz: 1797 lines of 64 pixel values 0..16
** and the label), decompressed by running `gzip -dc` (no zlib needed) and
** parsed here. Pixels are scaled to [0, 1].
*/
#ifndef QK_EXAMPLE_DIGITS_H
#define QK_EXAMPLE_DIGITS_H

#include <stddef.h>
#include <stdint.h>

#define DIGITS_PIXELS 64
#define DIGITS_CLASSES 10

typedef struct digits_set {
    int64_t n;
    float *x;       /* [n, 64], pixel / 16 */
    int32_t *label; /* [n] */
} digits_set;

/* The first existing path among $QK_DIGITS, the Debian locations of
** python3-sklearn; NULL when none exists. */
const char *digits_find(void);
/* Load the CSV (gzip-compressed when the name ends in .gz). Returns 0, or -1
** with a message in err. */
int digits_load(const char *path, digits_set *out, char *err, size_t err_size);
/* Fixed split: sample i goes to the test set when i % 4 == 3 (449 test,
** 1348 train images for the 1797 of the file). */
int digits_split(const digits_set *all, digits_set *train, digits_set *test);
void digits_free(digits_set *set);

#endif
