/*
 * floor.c - what a hand-written C program does for two workloads, with
 * nothing around it: each C-engine time gets a "how far from plain C" ratio.
 * Built at run time with the C core's own flags (read from pygrad/_build.py).
 * 1. backward: one array of 32-byte nodes, recorded from the engines' own
 *    graph builder; an iterative DFS sort visiting children first to last,
 *    as pygrad does, then one reverse sweep: the same sums, the same bits.
 * 2. micrograd's demo step (MLP, hinge loss, L2, SGD) with the arithmetic of
 *    pygrad's compiled step, op for op and in order: the same losses, bitwise.
 * 3. the same step over 8 rows at a time, each row a lane of a vector, as
 *    the compiled program's batched kernels run it: the real limit of a
 *    compiled step. Each lane does a row's arithmetic and the gradients are
 *    added row by row, so the losses stay the same bits.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

/* ---- 1. backward ------------------------------------------------------- */

enum { FL_LEAF = 0, FL_ADD = 1, FL_MUL = 2, FL_RELU = 3 };

typedef struct {
    double data, grad;
    int32_t a, b;   /* children; b = -1 for relu, both -1 for leaves */
    int32_t op;
    uint32_t mark;  /* generation of the last sort that reached it: no pass clears marks */
} fl_node;

_Static_assert(sizeof(fl_node) == 32, "a node is 32 bytes: two per cache line");

typedef struct fl_graph {
    fl_node *nodes;
    int32_t *stack;  /* ids to expand, or ~id to list: at most 3 entries per node */
    int32_t *topo;   /* non-leaf nodes, children first */
    uint32_t gen;
} fl_graph;

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
    g->nodes = malloc((size_t)n * sizeof(fl_node));
    g->stack = malloc((size_t)(3 * n + 1) * sizeof(int32_t));
    g->topo = malloc((size_t)n * sizeof(int32_t));
    if (!g->nodes || !g->stack || !g->topo) {
        fl_graph_free(g);
        return NULL;
    }
    for (int64_t i = 0; i < n; i++)
        g->nodes[i] = (fl_node){data[i], 0.0, a[i], b[i], op[i], 0};
    return g;
}

static int64_t sort(fl_graph *g, int32_t root) {
    fl_node *nodes = g->nodes;
    int32_t *stack = g->stack;
    uint32_t gen = ++g->gen;
    int64_t sp = 0, n = 0;
    if (nodes[root].op == FL_LEAF) return 0;
    stack[sp++] = root;
    while (sp > 0) {
        int32_t id = stack[--sp];
        if (id < 0) {                  /* its children are listed: list it */
            g->topo[n++] = ~id;
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

/* root.backward(): grads accumulate, as in micrograd and pygrad. */
void fl_backward(fl_graph *g, int32_t root) {
    fl_node *nodes = g->nodes;
    int64_t n = sort(g, root);
    nodes[root].grad = 1.0;
    for (int64_t i = n - 1; i >= 0; i--) {
        const fl_node *v = &nodes[g->topo[i]];
        fl_node *a = &nodes[v->a];
        double grad = v->grad;
        if (v->op == FL_ADD) {
            a->grad += grad;
            nodes[v->b].grad += grad;
        } else if (v->op == FL_MUL) {
            fl_node *b = &nodes[v->b];
            a->grad += b->data * grad;
            b->grad += a->data * grad;
        } else {
            a->grad += (double)(v->data > 0.0) * grad;
        }
    }
}

double fl_grad(const fl_graph *g, int32_t id) { return g->nodes[id].grad; }

/* ---- 2. micrograd's demo train step ------------------------------------ */
/* params: layer by layer, neuron by neuron, nin weights then the bias
 * (model.parameters() order). X is row-major (n, sizes[0]); y is -1 or +1. */

#define FL_MAX_LAYERS 8
#define FL_MAX_WIDTH 64

typedef double fl_acts[FL_MAX_LAYERS + 1][FL_MAX_WIDTH];

/* act[0] = x; act[l+1] = layer l's outputs (ReLU but the last). Returns the score. */
static double forward_row(int32_t nlayers, const int32_t *sizes, const double *p, const double *x,
                          fl_acts act) {
    for (int32_t i = 0; i < sizes[0]; i++) act[0][i] = x[i];
    for (int32_t l = 0; l < nlayers; l++) {
        int32_t nin = sizes[l];
        for (int32_t k = 0; k < sizes[l + 1]; k++, p += nin + 1) {
            double s = p[nin];            /* b + w0*x0 + w1*x1 + ...: pygrad's order */
            for (int32_t i = 0; i < nin; i++) s = s + p[i] * act[l][i];
            act[l + 1][k] = l < nlayers - 1 && s < 0.0 ? 0.0 : s;
        }
    }
    return act[nlayers][0];
}

/* Add d(row loss)/d(param) into grad, from d(loss)/d(score). Hidden grads
 * are summed over the next layer's neurons last to first: the order of
 * pygrad's reverse sweep. */
static void backward_row(int32_t nlayers, const int32_t *sizes, const double *params, fl_acts act,
                         double gscore, double *grad) {
    int64_t offset[FL_MAX_LAYERS + 1] = {0};
    for (int32_t l = 0; l < nlayers; l++) offset[l + 1] = offset[l] + (int64_t)sizes[l + 1] * (sizes[l] + 1);
    double gout[FL_MAX_WIDTH], gin[FL_MAX_WIDTH];
    gout[0] = gscore;
    for (int32_t l = nlayers - 1; l >= 0; l--) {
        int32_t nin = sizes[l], nout = sizes[l + 1];
        if (l < nlayers - 1)
            for (int32_t k = 0; k < nout; k++) gout[k] = (double)(act[l + 1][k] > 0.0) * gout[k];
        for (int32_t i = 0; i < nin; i++) gin[i] = 0.0;
        for (int32_t k = nout - 1; k >= 0; k--) {
            const double *w = params + offset[l] + (int64_t)k * (nin + 1);
            double *gw = grad + offset[l] + (int64_t)k * (nin + 1), g = gout[k];
            for (int32_t i = 0; i < nin; i++) gw[i] += act[l][i] * g;
            gw[nin] += g;
            if (l > 0)
                for (int32_t i = 0; i < nin; i++) gin[i] += w[i] * g;
        }
        for (int32_t i = 0; i < nin; i++) gout[i] = gin[i];
    }
}

/* Does the net fit the floor's fixed arrays (and end in one score)? */
static int fits(int32_t nlayers, const int32_t *sizes) {
    if (nlayers < 1 || nlayers > FL_MAX_LAYERS || sizes[nlayers] != 1) return 0;
    for (int32_t l = 0; l <= nlayers; l++)
        if (sizes[l] < 1 || sizes[l] > FL_MAX_WIDTH) return 0;
    return 1;
}

/* A row's hinge loss from its score; *gscore = d(mean loss)/d(score),
 * seeded with 1/n as (loss / n).backward() seeds it. */
static double hinge(double y, double score, int64_t n, double *gscore) {
    double v = 1.0 + (-y) * score;
    double loss = v < 0.0 ? 0.0 : v;
    *gscore = (-y) * ((double)(loss > 0.0) * (1.0 / (double)n));
    return loss;
}

/* The step's end, shared by both floors: L2 into the loss and the grads, then SGD. */
static double l2_and_sgd(int64_t np, double *params, double *grad, int64_t n, double data_loss, double alpha,
                         double lr) {
    double sq = params[0] * params[0];
    for (int64_t i = 1; i < np; i++) sq = sq + params[i] * params[i];
    /* the compiled L2 program adds p * alpha twice */
    for (int64_t i = 0; i < np; i++) grad[i] = (grad[i] + params[i] * alpha) + params[i] * alpha;
    for (int64_t i = 0; i < np; i++) params[i] = params[i] - lr * grad[i];
    return data_loss * (1.0 / (double)n) + alpha * sq;
}

/* One step: the loss (mean hinge + alpha * L2) at the current params, then
 * SGD. grad is scratch for np doubles. NaN if the net does not fit. */
double fl_train_step(int32_t nlayers, const int32_t *sizes, int64_t np, double *params, double *grad,
                     int64_t n, const double *X, const double *y, double alpha, double lr) {
    if (!fits(nlayers, sizes)) return NAN;
    fl_acts act;
    double data_loss = 0.0, gscore;
    for (int64_t i = 0; i < np; i++) grad[i] = 0.0;
    for (int64_t r = 0; r < n; r++) {
        data_loss += hinge(y[r], forward_row(nlayers, sizes, params, X + r * sizes[0], act), n, &gscore);
        backward_row(nlayers, sizes, params, act, gscore, grad);
    }
    return l2_and_sgd(np, params, grad, n, data_loss, alpha, lr);
}

/* ---- 3. the demo step over 8-row lanes ---------------------------------- */
/* Row j of a block of 8 is lane j of every activation and gradient: the
 * inner loops run over lanes with nothing between them, which the compiler
 * turns into vector instructions (an AVX clone where the CPU has it, picked
 * at load time, as the C core picks its AVX kernels). */

#define FL_LANES 8

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
#define FL_VECTOR_CLONES __attribute__((target_clones("avx", "default")))
#else
#define FL_VECTOR_CLONES
#endif

typedef double fl_lane_acts[FL_MAX_LAYERS + 1][FL_MAX_WIDTH][FL_LANES];

/* forward_row for rows X[0..m) (m <= 8; missing lanes are zeros). */
FL_VECTOR_CLONES
static void forward_lanes(int32_t nlayers, const int32_t *sizes, const double *p, const double *X, int m,
                          fl_lane_acts act) {
    for (int32_t i = 0; i < sizes[0]; i++)
        for (int j = 0; j < FL_LANES; j++) act[0][i][j] = j < m ? X[j * sizes[0] + i] : 0.0;
    for (int32_t l = 0; l < nlayers; l++) {
        int32_t nin = sizes[l];
        int relu = l < nlayers - 1;
        for (int32_t k = 0; k < sizes[l + 1]; k++, p += nin + 1) {
            double s[FL_LANES];
            for (int j = 0; j < FL_LANES; j++) s[j] = p[nin];
            for (int32_t i = 0; i < nin; i++)
                for (int j = 0; j < FL_LANES; j++) s[j] = s[j] + p[i] * act[l][i][j];
            for (int j = 0; j < FL_LANES; j++) act[l + 1][k][j] = relu && s[j] < 0.0 ? 0.0 : s[j];
        }
    }
}

/* backward_row for m rows at once. Hidden grads run over lanes; weight
 * grads run over a neuron's weights, row after row (from a transposed copy
 * of the inputs), so each one still adds its rows in order. */
FL_VECTOR_CLONES
static void backward_lanes(int32_t nlayers, const int32_t *sizes, const double *params, fl_lane_acts act,
                           const double *gscore, int m, double *grad) {
    int64_t offset[FL_MAX_LAYERS + 1] = {0};
    for (int32_t l = 0; l < nlayers; l++) offset[l + 1] = offset[l] + (int64_t)sizes[l + 1] * (sizes[l] + 1);
    double gout[FL_MAX_WIDTH][FL_LANES], gin[FL_MAX_WIDTH][FL_LANES], xt[FL_LANES][FL_MAX_WIDTH];
    for (int j = 0; j < FL_LANES; j++) gout[0][j] = gscore[j];
    for (int32_t l = nlayers - 1; l >= 0; l--) {
        int32_t nin = sizes[l], nout = sizes[l + 1];
        if (l < nlayers - 1)
            for (int32_t k = 0; k < nout; k++)
                for (int j = 0; j < FL_LANES; j++) gout[k][j] = (double)(act[l + 1][k][j] > 0.0) * gout[k][j];
        for (int32_t i = 0; i < nin; i++)
            for (int j = 0; j < FL_LANES; j++) xt[j][i] = act[l][i][j];
        for (int32_t k = nout - 1; k >= 0; k--) {
            const double *g = gout[k];
            double *gw = grad + offset[l] + (int64_t)k * (nin + 1);
            int32_t i = 0;
            for (; i + FL_LANES <= nin; i += FL_LANES) {   /* 8 weights' sums in registers */
                double s[FL_LANES];
                for (int q = 0; q < FL_LANES; q++) s[q] = gw[i + q];
                for (int j = 0; j < m; j++)
                    for (int q = 0; q < FL_LANES; q++) s[q] += xt[j][i + q] * g[j];
                for (int q = 0; q < FL_LANES; q++) gw[i + q] = s[q];
            }
            for (; i < nin; i++)
                for (int j = 0; j < m; j++) gw[i] += xt[j][i] * g[j];
            for (int j = 0; j < m; j++) gw[nin] += g[j];
        }
        if (l == 0) break;
        for (int32_t i = 0; i < nin; i++) {   /* input i's grads: + w_ki * g_k, k last to first */
            double s[FL_LANES] = {0.0};
            for (int32_t k = nout - 1; k >= 0; k--) {
                double w = params[offset[l] + (int64_t)k * (nin + 1) + i];
                for (int j = 0; j < FL_LANES; j++) s[j] += w * gout[k][j];
            }
            for (int j = 0; j < FL_LANES; j++) gin[i][j] = s[j];
        }
        for (int32_t i = 0; i < nin; i++)
            for (int j = 0; j < FL_LANES; j++) gout[i][j] = gin[i][j];
    }
}

/* fl_train_step, 8 rows at a time: the same losses, the same bits. */
double fl_train_step_lanes(int32_t nlayers, const int32_t *sizes, int64_t np, double *params, double *grad,
                           int64_t n, const double *X, const double *y, double alpha, double lr) {
    if (!fits(nlayers, sizes)) return NAN;
    fl_lane_acts act;           /* 36 KB on the stack */
    double data_loss = 0.0, gscore[FL_LANES];
    for (int64_t i = 0; i < np; i++) grad[i] = 0.0;
    for (int64_t r0 = 0; r0 < n; r0 += FL_LANES) {
        int m = n - r0 < FL_LANES ? (int)(n - r0) : FL_LANES;
        forward_lanes(nlayers, sizes, params, X + r0 * sizes[0], m, act);
        for (int j = 0; j < FL_LANES; j++) gscore[j] = 0.0;
        for (int j = 0; j < m; j++) data_loss += hinge(y[r0 + j], act[nlayers][0][j], n, &gscore[j]);
        backward_lanes(nlayers, sizes, params, act, gscore, m, grad);
    }
    return l2_and_sgd(np, params, grad, n, data_loss, alpha, lr);
}
