/*
 * core.h - the node layout and the helpers shared by the core's .c files.
 * Not part of the public contract (that is pygrad.h).
 *
 * One node is 40 bytes: value, gradient, children, reference count,
 * traversal mark and op. Unary and binary nodes keep their children inline;
 * n-ary nodes (PG_SUM, PG_DOT) keep a pointer to their own child array.
 */
#ifndef PYGRAD_CORE_H
#define PYGRAD_CORE_H

#include "pygrad.h"

typedef struct {
    double data;          /* forward value                                */
    double grad;          /* accumulated d(root)/d(this)                  */
    union {
        int32_t pair[2];  /* children of a unary/binary node; [0] links the free list */
        int32_t *many;    /* children of an n-ary node (malloc'd)         */
    } kids;
    int32_t nkids;
    uint32_t refs;        /* Python handles + parents; 0 means free       */
    uint32_t mark;        /* visit generation; links the release list     */
    int32_t op;           /* enum pg_op                                   */
} pg_node;

/* The one pool (nodes.c). Pointers into it are valid until the next
 * pg_node_alloc(), which may move it. */
extern pg_node *pg_nodes;

static inline int pg_is_nary(int op) { return op == PG_SUM || op == PG_DOT; }

static inline const int32_t *pg_kids_of(const pg_node *n) {
    return pg_is_nary(n->op) ? n->kids.many : n->kids.pair;
}

/* nodes.c */
int32_t pg_node_alloc(void);          /* new leaf, refs = 1; or -PG_ENOMEM */
void pg_node_free(int32_t id);        /* undo pg_node_alloc before use     */
int pg_valid(int32_t id);
void pg_add_kid_bytes(int64_t delta);
int64_t pg_pool_count(void);          /* ids handed out so far (high water) */

/* ops.c */
int pg_forward(int op, double a, double b, double *out);
void pg_local_step(pg_node *n);

/* backward.c */
int64_t pg_scratch_bytes(void);

#endif /* PYGRAD_CORE_H */
