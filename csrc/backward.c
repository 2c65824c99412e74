/*
 * backward.c - reverse-mode differentiation of the graph below one node.
 *
 * 1. An iterative depth-first topological sort from the root: an explicit
 *    stack of (node, next child) frames, children taken in order, visited
 *    nodes recognised by a generation mark (no hashing, no clearing).
 *    Leaves have no local step, so they are marked but never listed.
 * 2. The root's grad is set to 1; then every listed node, last first,
 *    adds its local derivatives times its grad into its children.
 * Grads are accumulated, never zeroed, as micrograd does. The scratch
 * arrays are kept between calls and grow with the pool.
 */
#include <stdlib.h> /* realloc, free */
#include "core.h"

static uint32_t generation = 0;
static int32_t *stack_id = NULL;   /* DFS frames: node ...            */
static int32_t *stack_next = NULL; /* ... and its next child to visit */
static int32_t *topo = NULL;       /* non-leaf nodes, children first  */
static int64_t scratch_cap = 0;

int64_t pg_scratch_bytes(void) { return scratch_cap * 3 * (int64_t)sizeof(int32_t); }

static int ensure_scratch(int64_t need) {
    if (need <= scratch_cap) return PG_OK;
    if (need < 2 * scratch_cap) need = 2 * scratch_cap; /* grow geometrically */
    size_t bytes = (size_t)need * sizeof(int32_t);
    int32_t *a = realloc(stack_id, bytes);
    if (!a) return PG_ENOMEM;
    stack_id = a;
    int32_t *b = realloc(stack_next, bytes);
    if (!b) return PG_ENOMEM;
    stack_next = b;
    int32_t *c = realloc(topo, bytes);
    if (!c) return PG_ENOMEM;
    topo = c;
    scratch_cap = need;
    return PG_OK;
}

static uint32_t next_generation(void) {
    if (++generation == 0) { /* wrapped: forget every old mark */
        for (int64_t i = 0; i < pg_pool_count(); i++) pg_nodes[i].mark = 0;
        generation = 1;
    }
    return generation;
}

/* Fill topo with the non-leaf nodes below root in post-order; return count. */
static int64_t sort(int32_t root, uint32_t gen) {
    int64_t sp = 0, n = 0;
    pg_nodes[root].mark = gen;
    if (pg_nodes[root].nkids == 0) return 0;
    stack_id[0] = root;
    stack_next[0] = 0;
    sp = 1;
    while (sp > 0) {
        pg_node *top = &pg_nodes[stack_id[sp - 1]];
        int32_t i = stack_next[sp - 1];
        if (i == top->nkids) {
            topo[n++] = stack_id[--sp];
            continue;
        }
        stack_next[sp - 1] = i + 1;
        int32_t c = pg_kids_of(top)[i];
        pg_node *child = &pg_nodes[c];
        if (child->mark == gen) continue;
        child->mark = gen;
        if (child->nkids == 0) continue;
        stack_id[sp] = c;
        stack_next[sp] = 0;
        sp++;
    }
    return n;
}

int pg_backward(int32_t root) {
    if (!pg_valid(root)) return PG_EINVAL;
    /* Depth and topo length are both bounded by the number of ids. */
    if (ensure_scratch(pg_pool_count()) != PG_OK) return PG_ENOMEM;
    int64_t n = sort(root, next_generation());
    pg_nodes[root].grad = 1.0;
    for (int64_t i = n - 1; i >= 0; i--) pg_local_step(&pg_nodes[topo[i]]);
    return PG_OK;
}

int pg_backward_node(int32_t id) {
    if (!pg_valid(id)) return PG_EINVAL;
    pg_local_step(&pg_nodes[id]);
    return PG_OK;
}
