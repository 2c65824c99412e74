/*
 * gradgraph.c - gradients as graphs (create_graph): the reverse sweep of
 * backward.c, but each gradient is built out of op nodes, so it can be
 * differentiated again, to any order.
 *
 * The derivatives are ops.def's, read a second way: this file defines the
 * D_* macros as node builders before expanding ops.def, so `1.0 - out*out`
 * becomes SUB(leaf 1.0, MUL(node, node)). The nodes are visited in
 * backward's order and each child receives `derivative * grad` in
 * backward's order, starting from 0.0, so every gradient node holds the
 * number backward would have added up, bit for bit. Where a built op would
 * raise (1 / 0, log of a negative inside a derivative), the IEEE number the
 * numeric sweep uses becomes a constant of the graph. With grad mode off
 * the same sweep makes leaves: the numbers alone, with no graph.
 */
#define PG_DERIVATIVES_BUILD_GRAPHS
#include <stdlib.h> /* malloc, calloc, free */
#include "core.h"

/* A derivative under construction: the nodes it made, released once the
 * derivative is linked into the gradient (its parents then hold them). */
enum { MADE_MAX = 32, ONE = -2, NONE = -3 };
typedef struct {
    int32_t made[MADE_MAX];
    int n;
    int st;   /* the first error */
} builder;

static int32_t fail(builder *G, int st) {
    if (G->st == PG_OK) G->st = st;
    return -1;
}

static int32_t keep(builder *G, int32_t id) {
    if (id < 0) return fail(G, (int)-id);
    if (G->n == MADE_MAX) { pg_decref(id); return fail(G, PG_ENOMEM); }   /* ops.def's rows are small */
    G->made[G->n++] = id;
    return id;
}

static void release_made(builder *G) {
    while (G->n > 0) pg_decref(G->made[--G->n]);
}

static int is_made(const builder *G, int32_t id) {
    for (int i = 0; i < G->n; i++)
        if (G->made[i] == id) return 1;
    return 0;
}

static double val(int32_t id) { return pg_nodes[id].data; }

static int32_t gk(builder *G, double x) {
    int32_t id = pg_node_alloc();
    if (id >= 0) pg_nodes[id].data = x;
    return keep(G, id);
}

/* A constant: the number 1 as ONE (a derivative of 1 makes its term the
 * grad itself, with no node), any other a leaf. */
static int32_t gconst(builder *G, double x) { return x == 1.0 ? ONE : gk(G, x); }

/* An operand of a built op: ONE becomes a leaf holding 1 there. */
static int32_t operand(builder *G, int32_t x) { return x == ONE ? gk(G, 1.0) : x; }

static int32_t gop2(builder *G, int op, int32_t x, int32_t y) {
    x = operand(G, x);
    y = operand(G, y);
    if (x < 0 || y < 0) return -1;
    int32_t r = pg_build_binary(op, x, y);
    if (r == -PG_EZERODIV && op == PG_DIV) return gk(G, val(x) / val(y));   /* IEEE: inf or NaN */
    return keep(G, r);
}

static int32_t gneg(builder *G, int32_t x) {
    x = operand(G, x);
    return x < 0 ? -1 : keep(G, pg_build_unary(PG_NEG, x));
}

/* d(a ** b)/da = b * a ** (b - 1), 0 where b == 0 (see core.h's dpow_base);
 * a ** k's exponent is a number (powk: a POWK node). */
static int32_t gdpow_base(builder *G, int32_t x, int32_t y, int powk) {
    x = operand(G, x);
    y = operand(G, y);
    if (x < 0 || y < 0) return -1;
    double a = val(x), b = val(y);
    if (b == 0.0) return gk(G, 0.0);
    int32_t p;
    if (powk) {
        p = pg_build_binary_k(PG_POWK, x, b - 1.0, 0);
    } else {
        int32_t e = gop2(G, PG_SUB, y, gk(G, 1.0));
        p = e < 0 ? -PG_EINVAL : pg_build_binary(PG_POW, x, e);
    }
    if (p == -PG_EZERODIV || p == -PG_EDOMAIN || p == -PG_EOVERFLOW) return gk(G, dpow_base(a, b));
    return gop2(G, PG_MUL, y, keep(G, p));
}

/* d(a ** b)/db = out * log(a), 0 where a == 0 and b >= 0 (core.h's dpow_exponent). */
static int32_t gdpow_exp(builder *G, int32_t x, int32_t y, int32_t o) {
    x = operand(G, x);
    y = operand(G, y);
    o = operand(G, o);
    if (x < 0 || y < 0 || o < 0) return -1;
    double a = val(x), b = val(y);
    if (a == 0.0 && b >= 0.0) return gk(G, 0.0);
    int32_t l = pg_build_unary(PG_LOG, x);
    if (l == -PG_EDOMAIN) return gk(G, dpow_exponent(a, b, val(o)));
    return gop2(G, PG_MUL, o, keep(G, l));
}

/* A unary op of x; where it would raise, fallback(x's value) as a constant. */
static int32_t gunary(builder *G, int op, int32_t x, double (*fallback)(double)) {
    x = operand(G, x);
    if (x < 0) return -1;
    int32_t r = pg_build_unary(op, x);
    if (r == -PG_EDOMAIN || r == -PG_EOVERFLOW || r == -PG_EZERODIV) return gk(G, fallback(val(x)));
    return keep(G, r);
}

#define D_A ka
#define D_B kb
#define D_OUT kout
#define D_K(x) gconst(G, (x))
#define D_ADD(x, y) gop2(G, PG_ADD, (x), (y))
#define D_SUB(x, y) gop2(G, PG_SUB, (x), (y))
#define D_MUL(x, y) gop2(G, PG_MUL, (x), (y))
#define D_DIV(x, y) gop2(G, PG_DIV, (x), (y))
#define D_NEG(x) gneg(G, (x))
#define D_SIN(x) gunary(G, PG_SIN, (x), sin)
#define D_COS(x) gunary(G, PG_COS, (x), cos)
#define D_STEP(c) gconst(G, (double)(c))
#define D_DPOW_BASE(x, y) gdpow_base(G, (x), (y), op == PG_POWK)
#define D_DPOW_EXP(x, y, o) gdpow_exp(G, (x), (y), (o))

/* d node / d child `which`: a node (made by G, or one of the graph's), ONE
 * (the constant 1: the term is the grad itself, as 1.0 * g is g), NONE (no
 * gradient flows), or -1 (G->st says why). */
static int32_t derivative(builder *G, int32_t id, int32_t which) {
    const pg_node *n = &pg_nodes[id];
    int op = n->op;
    if (pg_is_nary(op)) {
        const int32_t *k = pg_kids_of(n);
        int32_t nk = pg_nkids_of(n), m = nk / 2;
        int64_t i = 0;
        switch (op) {
        case PG_SUM: return ONE;
        case PG_DOT: return which < m ? k[m + which] : which < 2 * m ? k[which - m] : ONE;
        case PG_SELECT:
            return which > 0 && pg_select_index(val(k[0]), nk - 1, &i) == PG_OK && which == 1 + i ? ONE : NONE;
        case PG_CUSTOM: return gconst(G, pg_local_grads(n)[which]);   /* microgpt's numbers: constants */
        case PG_HOOK: return fail(G, PG_ECUSTOM);   /* a Python _backward: no derivative as ops */
        default: return NONE;   /* max_data: no gradient */
        }
    }
    int32_t ka = n->kids.pair[0], kb = pg_arity[op] == 2 ? n->kids.pair[1] : ka, kout = id;
    double a = val(ka), b = pg_arity[op] == 2 ? val(kb) : 0.0, out = n->data;
    (void)a, (void)b, (void)out, (void)kout;
    switch (op) {
#define OP1(NAME, FWD, DA) case PG_##NAME: return (DA);
#define OP2(NAME, FWD, DA, DB) case PG_##NAME: return which == 0 ? (DA) : (DB);
#define OPK(NAME, FWD, DA) case PG_##NAME: return which == 0 ? (DA) : NONE;
#define OPN(NAME)
#include "ops.def"
#undef OP1
#undef OP2
#undef OPK
#undef OPN
    default: return NONE;
    }
}

/* grads[child] += term, as backward's `grad += term` from 0.0 (-0.0 + 0.0 is 0.0). */
static int accumulate(int32_t *grads, int32_t child, int32_t term) {
    int32_t sum;
    if (grads[child] < 0) {
        if (!(val(term) == 0.0 && signbit(val(term)))) {
            grads[child] = term;
            return PG_OK;
        }
        int32_t zero = pg_node_alloc();
        if (zero < 0) { pg_decref(term); return PG_ENOMEM; }
        sum = pg_build_binary(PG_ADD, zero, term);
        pg_decref(zero);
    } else {
        sum = pg_build_binary(PG_ADD, grads[child], term);
        if (sum >= 0) pg_decref(grads[child]);
    }
    pg_decref(term);
    if (sum < 0) return (int)-sum;
    grads[child] = sum;
    return PG_OK;
}

/* Node id's step: each child's grad += derivative * g. */
static int step(int32_t *grads, int32_t id, int32_t g) {
    int32_t nk = pg_nkids_of(&pg_nodes[id]);
    for (int32_t i = 0; i < nk; i++) {
        builder G = {{0}, 0, PG_OK};
        int32_t d = derivative(&G, id, i), term;
        if (d == NONE) { release_made(&G); continue; }
        int one = d == ONE || (d >= 0 && is_made(&G, d) && pg_nodes[d].op == PG_LEAF && val(d) == 1.0);
        if (d == -1) { release_made(&G); return G.st; }
        if (one) {
            term = g;
            pg_nodes[g].refs++;
        } else {
            term = pg_build_binary(PG_MUL, d, g);
        }
        release_made(&G);
        if (term < 0) return (int)-term;
        int32_t child = pg_kids_of(&pg_nodes[id])[i];
        int st = accumulate(grads, child, term);
        if (st != PG_OK) return st;
    }
    return PG_OK;
}

static void drop_grads(int32_t *grads, const int32_t *order, int64_t n, int32_t root) {
    for (int64_t j = -1; j < n; j++) {
        int32_t id = j < 0 ? root : order[j];
        if (grads[id] >= 0) { pg_decref(grads[id]); grads[id] = -1; }
        if (pg_nodes[id].op == PG_LEAF) continue;
        const int32_t *k = pg_kids_of(&pg_nodes[id]);
        for (int32_t i = 0, nk = pg_nkids_of(&pg_nodes[id]); i < nk; i++)
            if (grads[k[i]] >= 0) { pg_decref(grads[k[i]]); grads[k[i]] = -1; }
    }
}

static int sweep(int32_t *grads, const char *wanted, const int32_t *order, int64_t n) {
    int64_t work = 0;
    for (int64_t j = n - 1; j >= 0; j--) {
        int32_t id = order[j], g = grads[id];
        if (g < 0) continue;
        int st = step(grads, id, g);
        if (st != PG_OK) return st;
        if (!wanted[id]) {   /* complete, and no longer needed */
            pg_decref(g);
            grads[id] = -1;
        }
        work += pg_nkids_of(&pg_nodes[id]);
        if (work >= PG_CANCEL_EVERY) {
            work = 0;
            if (pg_cancelled()) return PG_EINTR;
        }
    }
    return PG_OK;
}

int pg_grad_graph(int32_t root, int32_t seed, int32_t ninputs, const int32_t *inputs, int32_t *out) {
    if (!pg_valid(root) || (seed != -1 && !pg_valid(seed)) || ninputs < 0) return PG_EINVAL;
    if (ninputs > 0 && (!inputs || !out || !pg_all_valid(ninputs, inputs))) return PG_EINVAL;
    if (pg_no_graph(&pg_nodes[root])) return PG_ENOGRAPH;
    const int32_t *sorted;
    int64_t n = pg_topo(root, &sorted);
    int32_t *order = n > 0 ? malloc((size_t)n * sizeof(int32_t)) : NULL;
    if (n > 0 && order)
        for (int64_t j = 0; j < n; j++) order[j] = sorted[j];
    pg_topo_done();
    if (n < 0) return (int)-n;
    if (n > 0 && !order) return PG_ENOMEM;
    int64_t pool = pg_pool_count();
    int32_t *grads = malloc((size_t)pool * sizeof(int32_t));
    char *wanted = calloc((size_t)pool, 1);
    int st = grads && wanted ? PG_OK : PG_ENOMEM;
    if (st == PG_OK) {
        for (int64_t i = 0; i < pool; i++) grads[i] = -1;
        for (int32_t i = 0; i < ninputs; i++) wanted[inputs[i]] = 1;
        if (seed >= 0) {
            pg_nodes[seed].refs++;
            grads[root] = seed;
        } else {
            grads[root] = pg_node_alloc();
            if (grads[root] < 0) st = PG_ENOMEM;
            else pg_nodes[grads[root]].data = 1.0;
        }
    }
    if (st == PG_OK) st = sweep(grads, wanted, order, n);
    for (int32_t i = 0; i < ninputs && st == PG_OK; i++) {
        int32_t g = grads[inputs[i]];
        if (g >= 0) {
            pg_nodes[g].refs++;
            out[i] = g;
        } else if ((out[i] = pg_node_alloc()) < 0) {   /* not reached: 0 */
            st = PG_ENOMEM;
            while (i-- > 0) pg_decref(out[i]);
        }
    }
    if (grads) drop_grads(grads, order, n, root);
    free(grads);
    free(wanted);
    free(order);
    pg_made(-1);   /* its leaves (grad mode off) were noted: none is the caller's to release */
    return st;
}

/* The numbers alone (create_graph=False): backward's own sweep, run from
 * zeroed grads, with every grad it touches put back afterwards. Several
 * roots give the gradient of sum_i seeds[i] * roots[i] (a root named twice
 * adds its seeds); the sweep's order is the roots' sorts in turn. */
int pg_grad_numbers_many(int32_t nroots, const int32_t *roots, const double *seeds,
                         int32_t ninputs, const int32_t *inputs, double *out) {
    if (nroots < 1 || !seeds || !pg_all_valid(nroots, roots) || ninputs < 0) return PG_EINVAL;
    if (ninputs > 0 && (!inputs || !out || !pg_all_valid(ninputs, inputs))) return PG_EINVAL;
    for (int32_t r = 0; r < nroots; r++)
        if (pg_no_graph(&pg_nodes[roots[r]])) return PG_ENOGRAPH;
    const int32_t *order;
    int64_t n = pg_topo_many(nroots, roots, &order), touched = nroots;
    if (n < 0) { pg_topo_done(); return (int)-n; }
    for (int64_t j = 0; j < n; j++) touched += pg_nkids_of(&pg_nodes[order[j]]);
    int32_t *ids = malloc((size_t)touched * sizeof(int32_t));
    double *saved = malloc((size_t)touched * sizeof(double));
    int st = ids && saved ? PG_OK : PG_ENOMEM;
    if (st == PG_OK) {
        int64_t t = 0;
        for (int32_t r = 0; r < nroots; r++) ids[t++] = roots[r];
        for (int64_t j = 0; j < n; j++) {
            const int32_t *k = pg_kids_of(&pg_nodes[order[j]]);
            for (int32_t i = 0, nk = pg_nkids_of(&pg_nodes[order[j]]); i < nk; i++) ids[t++] = k[i];
        }
        for (int64_t i = 0; i < t; i++) {
            saved[i] = pg_nodes[ids[i]].grad;
            pg_nodes[ids[i]].grad = 0.0;
        }
        for (int32_t r = 0; r < nroots; r++) {   /* backward's `grad = 1` for a root's first seed */
            int first = 1;
            for (int32_t q = 0; q < r && first; q++) first = roots[q] != roots[r];
            if (first) pg_nodes[roots[r]].grad = seeds[r];
            else pg_nodes[roots[r]].grad += seeds[r];
        }
        st = pg_sweep_pool(order, n);
        for (int32_t i = 0; i < ninputs && st == PG_OK; i++) out[i] = pg_canonical(pg_nodes[inputs[i]].grad);
        for (int64_t i = t - 1; i >= 0; i--) pg_nodes[ids[i]].grad = saved[i];
    }
    pg_topo_done();
    free(ids);
    free(saved);
    return st;
}

int pg_grad_numbers(int32_t root, double seed, int32_t ninputs, const int32_t *inputs, double *out) {
    return pg_grad_numbers_many(1, &root, &seed, ninputs, inputs, out);
}
