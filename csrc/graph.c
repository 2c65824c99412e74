/*
 * graph.c - building the graph: op nodes over existing nodes.
 *
 * Each constructor checks its ids, computes the forward value (ops.c) and
 * only then allocates, so a failed op creates nothing. While grad mode is
 * off (pygrad.no_grad) an op makes a plain leaf holding its value instead.
 */
#include <stdlib.h> /* malloc, free */
#include "core.h"

// ---------------------------------------------------------------------------
// grad mode

/* Off inside pygrad.no_grad(): ops then make leaves holding their value.
 * One flag per thread, as PyTorch's: a no_grad block in one thread must
 * not change what another thread builds. */
static _Thread_local int grad_enabled = 1;

int pg_set_grad_enabled(int on) {
    int was = grad_enabled;
    grad_enabled = on != 0;
    return was;
}

/* What an op makes with grad mode off: a leaf holding its value, marked
 * so that backward() from it says there is no graph. */
static int32_t no_grad_leaf(double v) {
    int32_t id = pg_leaf(v);
    if (id >= 0) pg_mark_no_graph(id);
    return id;
}

// ---------------------------------------------------------------------------
// unary and binary nodes

/* Make node `id` an op node over a (and b, for binary ops), taking a
 * reference to each child. */
static void link2(int32_t id, int op, double value, int32_t a, int32_t b) {
    pg_node *n = &pg_nodes[id];
    n->op = (uint32_t)op;
    n->data = value;
    n->kids.pair[0] = a;
    n->kids.pair[1] = b;
    pg_nodes[a].refs++;
    if (pg_arity[op] == 2) pg_nodes[b].refs++;
    pg_add_edges(pg_arity[op]);
}

static int has_arity(int op, int arity) { return op > 0 && op < PG_NUM_OPS && pg_arity[op] == arity; }

static int32_t unary(int op, int32_t a) {
    if (!has_arity(op, 1) || !pg_valid(a)) return -PG_EINVAL;
    double v;
    int st = pg_forward(op, pg_nodes[a].data, 0.0, &v);
    if (st != PG_OK) return -st;
    if (!grad_enabled) return no_grad_leaf(v);
    int32_t id = pg_node_alloc();
    if (id >= 0) link2(id, op, v, a, 0);
    return id;
}

static int32_t binary(int op, int32_t a, int32_t b) {
    if (!has_arity(op, 2) || !pg_valid(a) || !pg_valid(b)) return -PG_EINVAL;
    double v;
    int st = pg_forward(op, pg_nodes[a].data, pg_nodes[b].data, &v);
    if (st != PG_OK) return -st;
    if (!grad_enabled) return no_grad_leaf(v);
    int32_t id = pg_node_alloc();
    if (id >= 0) link2(id, op, v, a, b);
    return id;
}

static int32_t binary_k(int op, int32_t a, double k, int k_first) {
    if (!has_arity(op, 2) || !pg_valid(a)) return -PG_EINVAL;
    double x = pg_nodes[a].data, v;
    int st = k_first ? pg_forward(op, k, x, &v) : pg_forward(op, x, k, &v);
    if (st != PG_OK) return -st;
    if (!grad_enabled) return no_grad_leaf(v);
    int32_t kid = pg_leaf(k);
    if (kid < 0) return kid;
    int32_t id = pg_node_alloc();
    if (id < 0) { pg_node_free(kid); return id; }
    if (k_first) link2(id, op, v, kid, a);
    else link2(id, op, v, a, kid);
    pg_nodes[kid].refs--; /* the new node is now its only owner */
    return id;
}

/* The core's own builders (gradgraph.c) use these: nothing to note. */
int32_t pg_build_unary(int op, int32_t a) { return unary(op, a); }
int32_t pg_build_binary(int op, int32_t a, int32_t b) { return binary(op, a, b); }
int32_t pg_build_binary_k(int op, int32_t a, double k, int k_first) { return binary_k(op, a, k, k_first); }

/* The public constructors note what they return (see pg_release_unowned). */
int32_t pg_unary(int op, int32_t a) { return pg_made(unary(op, a)); }
int32_t pg_binary(int op, int32_t a, int32_t b) { return pg_made(binary(op, a, b)); }
int32_t pg_binary_k(int op, int32_t a, double k, int k_first) { return pg_made(binary_k(op, a, k, k_first)); }

// ---------------------------------------------------------------------------
// n-ary nodes

/* A new n-ary node of op `op` and value v over kids (checked), or a leaf
 * holding v while grad mode is off. Its child array has room for what
 * pg_many_bytes says (a PG_CUSTOM node's local derivatives, filled by
 * the caller). */
static int32_t link_many(int op, double v, int32_t n, const int32_t *kids) {
    if (!grad_enabled) return no_grad_leaf(v);
    int64_t bytes = pg_many_bytes(op, n);
    int32_t *many = malloc((size_t)bytes);
    if (!many) return -PG_ENOMEM;
    int32_t id = pg_node_alloc();
    if (id < 0) { free(many); return id; }
    pg_node *node = &pg_nodes[id];
    node->op = (uint32_t)op;
    node->data = v;
    node->kids.many = many;
    many[0] = n;
    for (int32_t i = 0; i < n; i++) {
        many[i + 1] = kids[i];
        pg_nodes[kids[i]].refs++;
    }
    pg_add_kid_bytes(bytes);
    pg_add_edges(n);
    return id;
}

/* pg_nary without checking the ids (the caller has). */
int32_t pg_nary_unchecked(int op, int32_t n, const int32_t *kids) {
    double v;
    int st = pg_nary_value(pg_nodes, op, n, kids, &v);
    if (st != PG_OK) return -st;
    return link_many(op, v, n, kids);
}

int32_t pg_nary(int op, int32_t n, const int32_t *kids) {
    if (n < 0 || !kids || !pg_all_valid(n, kids)) return pg_made(-PG_EINVAL);
    return pg_made(pg_nary_unchecked(op, n, kids));
}

/* A user's op: its value and (PG_CUSTOM) derivatives are given. */
static int32_t custom(double data, int32_t n, const int32_t *kids, const double *local) {
    if (n < 1 || !kids || !pg_all_valid(n, kids)) return -PG_EINVAL;
    int op = local ? PG_CUSTOM : PG_HOOK;
    int32_t id = link_many(op, data, n, kids);
    if (id >= 0 && local && pg_nodes[id].op == PG_CUSTOM) {   /* (not a no_grad leaf) */
        double *d = pg_local_grads(&pg_nodes[id]);
        for (int32_t i = 0; i < n; i++) d[i] = local[i];
    }
    return id;
}

int32_t pg_custom(double data, int32_t n, const int32_t *kids, const double *local) {
    return pg_made(custom(data, n, kids, local));
}
