/*
 * backward.c - the floor for backward: what a hand-written C program does.
 *
 * One graph is one plain array of 32-byte nodes (value, gradient, two
 * child indices, op, visit mark), filled once from arrays that Python
 * recorded while running the benchmark's own graph builders. Backward is
 * the textbook algorithm, with nothing else around it:
 *   1. an iterative depth-first topological sort from the root on an
 *      explicit stack, nodes marked visited with a generation number (so
 *      no pass clears the marks); leaves are never listed;
 *   2. the root's grad set to 1, then one reverse sweep over the sorted
 *      nodes, each adding its local derivatives times its grad into its
 *      children (grads accumulate, as in micrograd and pygrad).
 * The sort visits children first-to-last, as pygrad's does, so on the same
 * graph both sum every gradient in the same order: the same numbers.
 */
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

enum { FL_LEAF = 0, FL_ADD = 1, FL_MUL = 2, FL_RELU = 3 };

typedef struct {
    double data;    /* forward value (recorded by Python)   */
    double grad;    /* accumulated d(root)/d(this)           */
    int32_t a, b;   /* children (b = -1 for unary, both for leaves) */
    int32_t op;
    uint32_t mark;  /* generation of the last sort that reached it */
} fl_node;

_Static_assert(sizeof(fl_node) == 32, "a node is 32 bytes: two per cache line");

struct fl_graph {
    fl_node *nodes;
    int32_t *stack;  /* ids to expand, or ~id to list: at most 3 per node */
    int32_t *topo;   /* non-leaf nodes, children first */
    int64_t n;
    uint32_t gen;
};
typedef struct fl_graph fl_graph;

void fl_graph_free(fl_graph *g) {
    if (!g) return;
    free(g->nodes);
    free(g->stack);
    free(g->topo);
    free(g);
}

fl_graph *fl_graph_new(int64_t n, const int32_t *op, const int32_t *a, const int32_t *b,
                       const double *data) {
    fl_graph *g = calloc(1, sizeof *g);
    if (!g) return NULL;
    g->n = n;
    g->nodes = malloc((size_t)n * sizeof(fl_node));
    g->stack = malloc((size_t)(3 * n + 1) * sizeof(int32_t));
    g->topo = malloc((size_t)n * sizeof(int32_t));
    if (!g->nodes || !g->stack || !g->topo) {
        fl_graph_free(g);
        return NULL;
    }
    for (int64_t i = 0; i < n; i++) {
        fl_node *v = &g->nodes[i];
        v->data = data[i];
        v->grad = 0.0;
        v->a = a[i];
        v->b = b[i];
        v->op = op[i];
        v->mark = 0;
    }
    return g;
}

static int64_t sort(fl_graph *g, int32_t root) {
    fl_node *nodes = g->nodes;
    int32_t *stack = g->stack, *topo = g->topo;
    uint32_t gen = ++g->gen;
    int64_t sp = 0, n = 0;
    if (nodes[root].op == FL_LEAF) return 0;
    stack[sp++] = root;
    while (sp > 0) {
        int32_t id = stack[--sp];
        if (id < 0) {            /* all its children are listed: list it */
            topo[n++] = ~id;
            continue;
        }
        fl_node *v = &nodes[id];
        if (v->mark == gen) continue;
        v->mark = gen;
        stack[sp++] = ~id;
        /* second child pushed first, so the first child is explored first */
        if (v->b >= 0 && nodes[v->b].op != FL_LEAF && nodes[v->b].mark != gen) stack[sp++] = v->b;
        if (nodes[v->a].op != FL_LEAF && nodes[v->a].mark != gen) stack[sp++] = v->a;
    }
    return n;
}

static void sweep(fl_node *nodes, const int32_t *topo, int64_t n) {
    for (int64_t i = n - 1; i >= 0; i--) {
        const fl_node *v = &nodes[topo[i]];
        double g = v->grad;
        fl_node *a = &nodes[v->a];
        switch (v->op) {
        case FL_ADD:
            a->grad += g;
            nodes[v->b].grad += g;
            break;
        case FL_MUL: {
            fl_node *b = &nodes[v->b];
            a->grad += b->data * g;
            b->grad += a->data * g;
            break;
        }
        case FL_RELU:
            a->grad += (double)(v->data > 0.0) * g;
            break;
        }
    }
}

static double seconds(void) {
    struct timespec ts;
    timespec_get(&ts, TIME_UTC);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* root.backward(); split[0], split[1] = seconds spent sorting, sweeping.
 * Returns the number of nodes swept. */
int64_t fl_backward(fl_graph *g, int32_t root, double *split) {
    double t0 = seconds();
    int64_t n = sort(g, root);
    double t1 = seconds();
    g->nodes[root].grad = 1.0;
    sweep(g->nodes, g->topo, n);
    split[0] = t1 - t0;
    split[1] = seconds() - t1;
    return n;
}

void fl_grads(const fl_graph *g, int64_t k, const int32_t *ids, double *out) {
    for (int64_t i = 0; i < k; i++) out[i] = g->nodes[ids[i]].grad;
}
