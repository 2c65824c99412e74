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

#include <math.h>   /* pow, log: the derivatives of ops.def */
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

/* A leaf that an op made while grad mode was off (graph.c): backward from
 * it is an error (PG_ENOGRAPH), not a silent no-op. A leaf's kids are
 * unused while it lives, so kids.pair[1] holds the mark (0 from alloc). */
static inline void pg_mark_no_graph(int32_t id) { pg_nodes[id].kids.pair[1] = 1; }
static inline int pg_no_graph(const pg_node *n) { return n->op == PG_LEAF && n->kids.pair[1] == 1; }

/* Helpers named in ops.def's derivatives (every file that expands them
 * includes this header). The true derivatives of a ** b where IEEE would
 * give NaN, masked as PyTorch does: */
/* d(a ** b)/da is 0 where b == 0 (a ** 0 is the constant 1, also at a = 0). */
static inline double dpow_base(double a, double b) { return b == 0.0 ? 0.0 : b * pow(a, b - 1.0); }
/* d(a ** b)/db is 0 where a == 0 and b >= 0 (0 ** b is constant there). */
static inline double dpow_exponent(double a, double b, double out) {
    return a == 0.0 && b >= 0.0 ? 0.0 : out * log(a);
}

/* ops.def's derivatives as C arithmetic on the doubles a, b, out (see
 * ops.def): each macro is the operator it names, so the numeric sweep
 * computes exactly the expression written there. gradgraph.c gives the
 * same names another meaning before it includes ops.def. */
#ifndef PG_DERIVATIVES_BUILD_GRAPHS
#define D_A a
#define D_B b
#define D_OUT out
#define D_K(x) (x)
#define D_ADD(x, y) ((x) + (y))
#define D_SUB(x, y) ((x) - (y))
#define D_MUL(x, y) ((x) * (y))
#define D_DIV(x, y) ((x) / (y))
#define D_NEG(x) (-(x))
#define D_SIN(x) sin(x)
#define D_COS(x) cos(x)
#define D_STEP(c) ((double)(c))
#define D_DPOW_BASE(x, y) dpow_base(x, y)
#define D_DPOW_EXP(x, y, o) dpow_exponent(x, y, o)
#endif

/* Every NaN that leaves the core (pg_data, pg_grad, compiled outputs) is
 * this one, Python's float("nan"): inside, NaNs keep whatever sign and
 * payload the arithmetic gave them (x86 makes 0 * inf negative, and which
 * operand's NaN a sum passes on depends on the compiler), and the
 * reference engine does the same, so both engines agree to the bit. */
static inline double pg_canonical(double x) { return x == x ? x : (double)NAN; }

/* Children per op (from ops.def): 0 for a leaf, -1 for n-ary ops. */
static const int8_t pg_arity[PG_NUM_OPS] = {
    [PG_LEAF] = 0,
#define OP1(NAME, ...) [PG_##NAME] = 1,
#define OP2(NAME, ...) [PG_##NAME] = 2,
#define OPK(NAME, ...) [PG_##NAME] = 2,
#define OPN(NAME) [PG_##NAME] = -1,
#include "ops.def"
#undef OP1
#undef OP2
#undef OPK
#undef OPN
};

static inline int pg_is_nary(int op) { return pg_arity[op] < 0; }

static inline int32_t pg_nkids_of(const pg_node *n) {
    return pg_is_nary(n->op) ? n->kids.many[0] : pg_arity[n->op];
}

static inline const int32_t *pg_kids_of(const pg_node *n) {
    return pg_is_nary(n->op) ? n->kids.many + 1 : n->kids.pair;
}

/* A user's op (pg_custom): a value and derivatives the core did not compute,
 * so it can be swept but not recomputed (compiled programs refuse it). */
static inline int pg_is_custom(int op) { return op == PG_CUSTOM || op == PG_HOOK; }

/* A PG_CUSTOM node's n local derivatives follow its children in the same
 * array, at an even int32 offset (malloc aligns to 8 bytes or more). */
static inline int64_t pg_local_offset(int32_t n) { return ((int64_t)n + 2) & ~(int64_t)1; }
static inline int64_t pg_many_bytes(int op, int32_t n) {
    return op == PG_CUSTOM ? pg_local_offset(n) * (int64_t)sizeof(int32_t) + n * (int64_t)sizeof(double)
                           : ((int64_t)n + 1) * (int64_t)sizeof(int32_t);
}
static inline double *pg_local_grads(const pg_node *n) {
    return (double *)(void *)(n->kids.many + pg_local_offset(n->kids.many[0]));
}

/* cancel.c: nonzero when the cancel hook asks long calls to stop. */
int pg_cancelled(void);
/* cancel.c: a PG_HOOK node's step, by the binding's backward hook: PG_OK,
 * or PG_EHOOK when the user's code raised. */
int pg_run_hook(int32_t id);
enum { PG_CANCEL_EVERY = 1 << 14 };   /* nodes or rows between two checks */

/* nodes.c: the pool */
int32_t pg_node_alloc(void);          /* new leaf, refs = 1; or -PG_ENOMEM   */
void pg_node_free(int32_t id);        /* put a node whose refs reached 0 (or
                                         that was never linked) on the free list */
extern int32_t pg_count;   /* ids handed out so far (nodes.c) */
/* A live node's id. Inline: every entry point checks its ids with it (an
 * eager op twice, an optimizer step once per parameter). */
static inline int pg_valid(int32_t id) { return id >= 0 && id < pg_count && pg_nodes[id].refs > 0; }
int pg_all_valid(int64_t n, const int32_t *ids);   /* ids[0..n) all pg_valid */
int32_t pg_made(int32_t id);          /* note what a public constructor returns */
void pg_add_kid_bytes(int64_t delta);
void pg_add_edges(int64_t delta);
int64_t pg_edge_count(void);          /* children over all live nodes */
int64_t pg_pool_count(void);          /* ids handed out so far (high water) */
void pg_pool_stats(pg_stats_t *out);
void pg_pool_on_shrink(void (*fn)(void));   /* run after the pool shrank */  /* pg_stats without the sort's scratch */

/* ops.c: the rules of ops.def */
int pg_forward(int op, double a, double b, double *out);
int pg_nary_value(const pg_node *base, int op, int32_t n, const int32_t *kids, double *out);
int pg_select_index(double x, int64_t n, int64_t *out);
int pg_eval(const pg_node *base, pg_node *n);
void pg_local_step(pg_node *base, pg_node *n);
int pg_eval_run(pg_node *base, const int32_t *slots, int32_t n);    /* compiled programs' runs of ops */
void pg_step_run(pg_node *base, const int32_t *slots, int32_t n);
void pg_sweep(pg_node *base, const int32_t *topo, int64_t n);
/* The pool's sweep, asking the cancel hook now and then: or PG_EINTR. */
int pg_sweep_pool(const int32_t *topo, int64_t n);
/* The sweep down the path below root that a search would walk straight
 * down, with no sort; *rest: where it branches, or -1. PG_OK, PG_EINTR or
 * PG_EHOOK. */
int pg_sweep_path(int32_t root, int32_t *rest);

/* graph.c: op nodes over existing nodes (a new node holds one reference: the caller's) */
int32_t pg_nary_unchecked(int op, int32_t n, const int32_t *kids);
int32_t pg_build_unary(int op, int32_t a);
int32_t pg_build_binary(int op, int32_t a, int32_t b);
int32_t pg_build_binary_k(int op, int32_t a, double k, int k_first);

/* backward.c */
/* The non-leaf nodes below root, children first, in scratch memory valid
 * until pg_topo_done(), which must follow every call; returns their
 * count, or -PG_ENOMEM, -PG_EINTR or -PG_EBUSY. */
int64_t pg_topo(int32_t root, const int32_t **order);
/* The same for several roots: each root's nodes follow the earlier roots' (a node below two roots is listed once). */
int64_t pg_topo_many(int32_t nroots, const int32_t *roots, const int32_t **order);
void pg_topo_done(void);   /* gives back the scratch of a big sort */

#endif /* PYGRAD_CORE_H */
