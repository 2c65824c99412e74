/*
 * core.h - the node layout and the helpers shared by the core's .c files.
 * Not part of the public contract (that is pygrad.h).
 *
 * One node is 32 bytes, so two fill a cache line and none straddles one:
 * value, gradient, children, reference count, traversal mark and op.
 * Unary and binary nodes keep their children inline (their count follows
 * from the op); n-ary nodes (PG_SUM, PG_DOT) point to their own array,
 * whose first entry is the count.
 */
#ifndef PYGRAD_CORE_H
#define PYGRAD_CORE_H

#include "pygrad.h"

typedef struct {
    double data;            /* forward value                               */
    union {
        double grad;        /* accumulated d(root)/d(this)                 */
        int32_t next_dead;  /* while being released: the release list      */
    };
    union {
        int32_t pair[2];    /* children of a unary/binary node; [0] links the free list */
        int32_t *many;      /* n-ary: many[0] = count, many[1..count] = children */
    } kids;
    uint32_t refs;          /* Python handles + parents; 0 means free      */
    uint32_t mark : 24;     /* visit generation (wraps; see backward.c)    */
    uint32_t op : 8;        /* enum pg_op                                  */
} pg_node;

#define PG_MARK_MAX 0xFFFFFFu

/* The one pool (nodes.c). Pointers into it are valid until the next
 * pg_node_alloc(), which may move it. */
extern pg_node *pg_nodes;

static inline int pg_is_nary(int op) { return op == PG_SUM || op == PG_DOT; }

/* Children per op, for the ops whose count is fixed. */
static const int8_t pg_arity[PG_NUM_OPS] = {
    [PG_LEAF] = 0, [PG_ADD] = 2, [PG_MUL] = 2, [PG_SUB] = 2, [PG_DIV] = 2,
    [PG_POW] = 2, [PG_POWK] = 2, [PG_NEG] = 1, [PG_RELU] = 1, [PG_TANH] = 1,
    [PG_EXP] = 1, [PG_LOG] = 1, [PG_SIGMOID] = 1,
};

static inline int32_t pg_nkids_of(const pg_node *n) {
    return pg_is_nary(n->op) ? n->kids.many[0] : pg_arity[n->op];
}

static inline const int32_t *pg_kids_of(const pg_node *n) {
    return pg_is_nary(n->op) ? n->kids.many + 1 : n->kids.pair;
}

/* nodes.c */
int32_t pg_node_alloc(void);          /* new leaf, refs = 1; or -PG_ENOMEM */
void pg_node_free(int32_t id);        /* undo pg_node_alloc before use     */
int pg_valid(int32_t id);
void pg_add_kid_bytes(int64_t delta);
void pg_add_edges(int64_t delta);
int64_t pg_edge_count(void);         /* children over all live nodes */
int64_t pg_pool_count(void);          /* ids handed out so far (high water) */

/* ops.c */
int pg_forward(int op, double a, double b, double *out);
int pg_eval(const pg_node *base, pg_node *n);
void pg_local_step(pg_node *base, pg_node *n);
void pg_sweep(pg_node *base, const int32_t *topo, int64_t n);

/* backward.c */
int64_t pg_scratch_bytes(void);
/* The non-leaf nodes below root, children first, in scratch memory valid
 * until the next call; returns their count or -PG_ENOMEM. */
int64_t pg_topo(int32_t root, const int32_t **order);

#endif /* PYGRAD_CORE_H */
