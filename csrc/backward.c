/*
 * backward.c - reverse-mode differentiation of the graph below one node.
 *
 * 1. While the graph below the root is a path (each node has at most one
 *    child that is not a leaf: a chain), it is swept as it is walked: the
 *    search below would list it in just that order (pg_sweep_path, ops.c).
 * 2. Below the first node with two such children: an iterative depth-first
 *    topological sort on an explicit stack; expanded nodes are recognised
 *    by a generation mark (no hashing, no clearing). Leaves have no local
 *    step: they are never listed.
 * 3. Every listed node, last first, adds its local derivatives times its
 *    grad into its children.
 * The root's grad is set to 1 before its step. Grads are accumulated,
 * never zeroed, as micrograd does.
 *
 * The sort's scratch (stack and list) grows with the graph being sorted,
 * not with the pool. It is kept for the next sort (repeated backward calls
 * on a big graph pay no allocation) until the pool shrinks (the big graph
 * died) or a sort needs far less of it, so memory follows the graph at
 * hand. Every step checks the cancel hook every few thousand nodes.
 */
#include <stdlib.h> /* realloc, free */
#include "core.h"

/* Stack entries: a node id to expand, or ~id (negative) to list a node
 * whose children are all listed. */
static uint32_t generation = 0;
static int32_t *stack = NULL;   /* pending work                        */
static int32_t *topo = NULL;    /* non-leaf nodes, children first      */
static int64_t stack_cap = 0, topo_cap = 0;

/* Scratch up to this many entries per array is always kept. */
enum { KEEP = 1 << 16 };
static int64_t last_sorted = 0;   /* the last sort's node count */
/* Sorts begun and not yet done: above 1 only when a signal handler, run by
 * the cancel hook in the middle of one, starts another (refused: the
 * scratch is in use). While a sort or its sweep runs, the scratch is not
 * given back, only marked to be. */
static int walks = 0, release_due = 0;

/* Room for `need` entries in *buf, growing geometrically. */
static int reserve(int32_t **buf, int64_t *cap, int64_t need) {
    if (need <= *cap) return PG_OK;
    int64_t want = *cap < 1024 ? 1024 : *cap;
    while (want < need) want *= 2;
    int32_t *p = realloc(*buf, (size_t)want * sizeof(int32_t));
    if (!p) return PG_ENOMEM;
    *buf = p;
    *cap = want;
    return PG_OK;
}

static void release_scratch(void) {
    if (topo_cap <= KEEP && stack_cap <= KEEP) return;
    if (walks > 0) { release_due = 1; return; }
    release_due = 0;
    free(stack);
    free(topo);
    stack = topo = NULL;
    stack_cap = topo_cap = 0;
}

/* After a sort: give the scratch back if it is big and this graph needed
 * under a quarter of it (the graph it was grown for is gone, or not the
 * one in use). */
void pg_topo_done(void) {
    if (--walks > 0) return;
    if (release_due || topo_cap > 4 * last_sorted) release_scratch();
}

static uint32_t next_generation(void) {
    if (++generation > PG_MARK_MAX) { /* wrapped: forget every old mark */
        for (int64_t i = 0; i < pg_pool_count(); i++) pg_nodes[i].mark = 0;
        generation = 1;
    }
    return generation;
}

/* Push child id unless it is a leaf or expanded already. */
static inline int64_t push_new(int32_t *st, int64_t sp, const pg_node *nodes, int32_t id, uint32_t gen) {
    const pg_node *child = &nodes[id];
    if (child->op != PG_LEAF && child->mark != gen) st[sp++] = id;
    return sp;
}

/* Fill topo with the non-leaf nodes below root, each after all of its
 * children; return their count, or -PG_ENOMEM / -PG_EINTR. A node is
 * expanded once (marked then); its ~id entry sits below its children's,
 * so it is listed after them. Children are pushed last-first, so the
 * first child is explored first.
 *
 * This loop is most of backward's cost, so it does its bookkeeping once
 * per PG_CANCEL_EVERY pushes, not per node: `slack` counts down the pushes
 * an expansion may make (a node and its children); when it runs out, the
 * cancel hook is asked and both arrays get room for the next stretch. The
 * stack then grows by at most that much; topo lists at most the ~ids on
 * the stack plus the nodes expanded in the stretch. */
static int64_t sort(int32_t root, uint32_t gen, int64_t n) {
    pg_node *nodes = pg_nodes;
    int64_t sp = 0, slack = 0;
    if (nodes[root].op == PG_LEAF || nodes[root].mark == gen) return n;
    if (reserve(&stack, &stack_cap, 1) != PG_OK) return -PG_ENOMEM;
    int32_t *st = stack, *out = topo;   /* locals: globals are reloaded after every store */
    st[sp++] = root;
    while (sp > 0) {
        int32_t id = st[--sp];
        if (id < 0) {
            out[n++] = ~id;
            continue;
        }
        /* Expand id, then its first child at once: pushing the first child
         * last and popping it next is the same order, without the trip
         * through the stack (a chain never touches it but for ~ids). */
        while (nodes[id].mark != gen) {
            pg_node *node = &nodes[id];
            node->mark = gen;
            int8_t arity = pg_arity[node->op];
            int32_t nk = arity >= 0 ? arity : node->kids.many[0];
            if ((slack -= nk + 1) < 0) {
                if (pg_cancelled()) return -PG_EINTR;
                nodes = pg_nodes;   /* a signal handler may have grown the pool */
                node = &nodes[id];
                int64_t room = sp + nk + 1 + PG_CANCEL_EVERY;
                if (reserve(&stack, &stack_cap, room) != PG_OK ||
                    reserve(&topo, &topo_cap, n + room) != PG_OK)
                    return -PG_ENOMEM;
                st = stack, out = topo;
                slack = PG_CANCEL_EVERY;
            }
            const int32_t *k = arity >= 0 ? node->kids.pair : node->kids.many + 1;
            st[sp++] = ~id;
            if (nk == 2) sp = push_new(st, sp, nodes, k[1], gen);   /* most nodes: no loop */
            else
                for (int32_t i = nk - 1; i > 0; i--) sp = push_new(st, sp, nodes, k[i], gen);
            if (nk == 0 || nodes[k[0]].op == PG_LEAF) break;
            id = k[0];
        }
    }
    return n;
}

/* Sort below each root in turn, the scratch already taken (walks). */
static int64_t sort_roots(int32_t nroots, const int32_t *roots, const int32_t **order) {
    uint32_t gen = next_generation();
    int64_t n = 0;
    for (int32_t i = 0; i < nroots && n >= 0; i++) n = sort(roots[i], gen, n);
    last_sorted = n < 0 ? 0 : n;
    *order = topo;
    return n;
}

int64_t pg_topo_many(int32_t nroots, const int32_t *roots, const int32_t **order) {
    pg_pool_on_shrink(release_scratch);   /* a dropped big graph gives its scratch back */
    *order = NULL;
    if (++walks > 1) return -PG_EBUSY;    /* (pg_topo_done still follows) */
    return sort_roots(nroots, roots, order);
}

int64_t pg_topo(int32_t root, const int32_t **order) { return pg_topo_many(1, &root, order); }

int pg_backward(int32_t root) {
    if (!pg_valid(root)) return PG_EINVAL;
    if (pg_no_graph(&pg_nodes[root])) return PG_ENOGRAPH;
    pg_pool_on_shrink(release_scratch);
    /* Taken for the whole call: a hook on the path may not start a sort. */
    if (++walks > 1) { pg_topo_done(); return PG_EBUSY; }
    int32_t rest;
    int st = pg_sweep_path(root, &rest);
    if (st == PG_OK && rest >= 0) {
        const int32_t *order;
        int64_t n = sort_roots(1, &rest, &order);
        st = n < 0 ? (int)-n : PG_OK;
        if (st == PG_OK) {
            if (rest == root) pg_nodes[root].grad = 1.0;
            st = pg_sweep_pool(order, n);
        }
    } else
        last_sorted = 0;   /* no scratch needed: a big one is given back */
    pg_topo_done();
    return st;
}

int pg_backward_node(int32_t id) {
    if (!pg_valid(id)) return PG_EINVAL;
    if (pg_nodes[id].op == PG_HOOK) return pg_run_hook(id);
    pg_local_step(pg_nodes, &pg_nodes[id]);
    return PG_OK;
}

/* Bookkeeping, here because this file owns the scratch and sees the pool. */
int pg_stats(pg_stats_t *out) {
    if (!out) return PG_EINVAL;
    pg_pool_stats(out);
    out->pool_bytes += (stack_cap + topo_cap) * (int64_t)sizeof(int32_t);
    return PG_OK;
}
