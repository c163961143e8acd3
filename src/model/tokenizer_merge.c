/*
** The merge engine shared by both BPE flavours: symbols in a doubly linked
** list, candidate pairs in a binary max-heap ordered by score, ties going
** to the pair further left. A popped pair is stale when one of its symbols
** was merged away or grew since the pair was pushed (the sizes no longer add
** up); stale pairs are dropped. After a merge the two new neighbouring pairs
** are looked up and pushed. This is SentencePiece's and llama.cpp's agenda
** algorithm, O(n log n), and gives the same result as rescanning every pair
** for the best one after each merge (llama2.c's loop).
*/
#include <stdlib.h> /* realloc */

#include "core/error.h"
#include "model/tokenizer_internal.h"

/* a ranks before b */
static inline bool pair_before(const qk_tok_pair *a, const qk_tok_pair *b) {
    return a->score > b->score || (a->score == b->score && a->left < b->left);
}

static qk_status heap_push(qk_tok_heap *h, const qk_tok_pair *p) {
    if (h->n == h->cap) {
        size_t cap = h->cap ? h->cap * 2 : 256;
        qk_tok_pair *a = realloc(h->a, cap * sizeof *a);
        if (!a) return qk_error_set(QK_ERR_NOMEM, "tokenizer: out of memory (merge queue)");
        h->a = a;
        h->cap = cap;
    }
    size_t i = h->n++;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!pair_before(p, &h->a[parent])) break;
        h->a[i] = h->a[parent];
        i = parent;
    }
    h->a[i] = *p;
    return QK_OK;
}

static qk_tok_pair heap_pop(qk_tok_heap *h) {
    qk_tok_pair top = h->a[0];
    qk_tok_pair last = h->a[--h->n];
    size_t i = 0, n = h->n;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n) break;
        if (c + 1 < n && pair_before(&h->a[c + 1], &h->a[c])) c++;
        if (!pair_before(&h->a[c], &last)) break;
        h->a[i] = h->a[c];
        i = c;
    }
    if (n > 0) h->a[i] = last;
    return top;
}

static qk_status maybe_push(qk_tok_sym *syms, int32_t l, int32_t r, qk_tok_pair_fn fn,
                            const void *ctx, qk_tok_heap *heap) {
    if (l < 0 || r < 0 || syms[l].freeze || syms[r].freeze) return QK_OK;
    qk_tok_pair p;
    if (!fn(ctx, &syms[l], &syms[r], &p.score, &p.id)) return QK_OK;
    p.left = l;
    p.right = r;
    p.size = syms[l].len + syms[r].len;
    return heap_push(heap, &p);
}

qk_status qk_tok_merge(qk_tok_sym *syms, int32_t n, qk_tok_pair_fn fn, const void *ctx,
                       qk_tok_heap *heap) {
    heap->n = 0;
    qk_status st;
    for (int32_t i = 1; i < n; i++)
        if ((st = maybe_push(syms, i - 1, i, fn, ctx, heap)) != QK_OK) return st;
    while (heap->n > 0) {
        qk_tok_pair p = heap_pop(heap);
        qk_tok_sym *l = &syms[p.left], *r = &syms[p.right];
        if (l->len == 0 || r->len == 0 || l->len + r->len != p.size) continue; /* stale */
        l->len += r->len;
        l->id = p.id;
        l->next = r->next;
        if (r->next >= 0) syms[r->next].prev = p.left;
        r->len = 0;
        if ((st = maybe_push(syms, l->prev, p.left, fn, ctx, heap)) != QK_OK) return st;
        if ((st = maybe_push(syms, p.left, l->next, fn, ctx, heap)) != QK_OK) return st;
    }
    return QK_OK;
}
