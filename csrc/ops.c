/*
 * ops.c - every op's forward rule and local derivatives, one switch each,
 * and the functions that create op nodes.
 *
 * Forward errors follow Python's float and math module: x / 0 is a
 * ZeroDivisionError, log(-1) a domain error, exp(1000) an overflow; NaN
 * and inf propagate. Derivatives never fail: they follow IEEE arithmetic.
 * (C's pow and log already do: pow(0, -1) is inf, log(-1) NaN.)
 * Each child's gradient is updated as `grad += local * g` with the same
 * `local` expression as pygrad/reference.py, so both engines agree bitwise.
 */
#include <math.h>   /* pow, exp, log, tanh, floor, isnan, isinf, isfinite */
#include <stdlib.h> /* malloc, free */
#include "core.h"

// ---------------------------------------------------------------------------
// forward rules

static int pow_rule(double a, double b, double *out) {
    if (b == 0.0) { *out = 1.0; return PG_OK; }          /* Python: x ** 0 == 1, even NaN */
    if (isnan(a) || isnan(b)) { *out = pow(a, b); return PG_OK; }
    if (a == 0.0 && b < 0.0 && isfinite(b)) return PG_EZERODIV;  /* 0 ** -inf is inf */
    if (a < 0.0 && isfinite(a) && isfinite(b) && b != floor(b)) return PG_EDOMAIN;
    double r = pow(a, b);
    if (isinf(r) && isfinite(a) && isfinite(b)) return PG_EOVERFLOW;
    *out = r;
    return PG_OK;
}

static double sigmoid(double a) {
    /* Split at 0 so that exp() never overflows. */
    if (a >= 0.0) return 1.0 / (1.0 + exp(-a));
    double e = exp(a);
    return e / (1.0 + e);
}

/* Forward value of a unary (b unused) or binary op. */
int pg_forward(int op, double a, double b, double *out) {
    switch (op) {
    case PG_ADD: *out = a + b; return PG_OK;
    case PG_MUL: *out = a * b; return PG_OK;
    case PG_SUB: *out = a - b; return PG_OK;
    case PG_DIV:
        if (b == 0.0) return PG_EZERODIV;
        *out = a / b;
        return PG_OK;
    case PG_POW:
    case PG_POWK: return pow_rule(a, b, out);
    case PG_NEG: *out = -a; return PG_OK;
    case PG_RELU: *out = a < 0.0 ? 0.0 : a; return PG_OK;  /* micrograd's rule */
    case PG_TANH: *out = tanh(a); return PG_OK;
    case PG_EXP:
        *out = exp(a);
        return isinf(*out) && isfinite(a) ? PG_EOVERFLOW : PG_OK;
    case PG_LOG:
        if (isnan(a)) { *out = a; return PG_OK; }
        if (a <= 0.0) return PG_EDOMAIN;
        *out = log(a);
        return PG_OK;
    case PG_SIGMOID: *out = sigmoid(a); return PG_OK;
    default: return PG_EINVAL;
    }
}

// ---------------------------------------------------------------------------
// local derivatives: one step of the reverse sweep, for node n of the node
// array `base` (the core's pool, or a compiled program's slots)

#define KID(i) (base[k[i]])

static inline void local_step(pg_node *base, pg_node *n) {
    const int32_t *k = pg_kids_of(n);
    const double g = n->grad, out = n->data;
    switch (n->op) {
    case PG_ADD: KID(0).grad += g; KID(1).grad += g; break;
    case PG_MUL: {
        double a = KID(0).data, b = KID(1).data;
        KID(0).grad += b * g;
        KID(1).grad += a * g;
        break;
    }
    case PG_SUB: KID(0).grad += g; KID(1).grad += -1.0 * g; break;
    case PG_DIV: {
        double b = KID(1).data;
        KID(0).grad += (1.0 / b) * g;
        KID(1).grad += (-out / b) * g;
        break;
    }
    case PG_POW: {
        double a = KID(0).data, b = KID(1).data;
        KID(0).grad += (b * pow(a, b - 1.0)) * g;
        KID(1).grad += (out * log(a)) * g;
        break;
    }
    case PG_POWK: {
        double a = KID(0).data, b = KID(1).data;
        KID(0).grad += (b * pow(a, b - 1.0)) * g;
        break;
    }
    case PG_NEG: KID(0).grad += -1.0 * g; break;
    case PG_RELU: KID(0).grad += (double)(out > 0.0) * g; break;
    case PG_TANH: KID(0).grad += (1.0 - out * out) * g; break;
    case PG_EXP: KID(0).grad += out * g; break;
    case PG_LOG: KID(0).grad += (1.0 / KID(0).data) * g; break;
    case PG_SIGMOID: KID(0).grad += (out * (1.0 - out)) * g; break;
    case PG_SUM:
        for (int32_t i = 0, nk = pg_nkids_of(n); i < nk; i++) KID(i).grad += g;
        break;
    case PG_DOT: {
        int32_t m = pg_nkids_of(n) / 2;
        for (int32_t i = 0; i < m; i++) KID(i).grad += KID(m + i).data * g;
        for (int32_t i = 0; i < m; i++) KID(m + i).grad += KID(i).data * g;
        KID(2 * m).grad += g;
        break;
    }
    default: break; /* PG_LEAF */
    }
}

#undef KID

void pg_local_step(pg_node *base, pg_node *n) { local_step(base, n); }

/* The reverse sweep: topo lists nodes children first, so walk it backwards. */
void pg_sweep(pg_node *base, const int32_t *topo, int64_t n) {
    for (int64_t i = n - 1; i >= 0; i--) local_step(base, &base[topo[i]]);
}

// ---------------------------------------------------------------------------
// creating op nodes

/* Off inside pygrad.no_grad(): ops then make leaves holding their value. */
static int grad_enabled = 1;

int pg_set_grad_enabled(int on) {
    int was = grad_enabled;
    grad_enabled = on != 0;
    return was;
}

static int is_unary(int op) { return op >= PG_NEG && op <= PG_SIGMOID; }
static int is_binary(int op) { return op >= PG_ADD && op <= PG_POWK; }

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

int32_t pg_unary(int op, int32_t a) {
    if (!is_unary(op) || !pg_valid(a)) return -PG_EINVAL;
    double v;
    int st = pg_forward(op, pg_nodes[a].data, 0.0, &v);
    if (st != PG_OK) return -st;
    if (!grad_enabled) return pg_leaf(v);
    int32_t id = pg_node_alloc();
    if (id >= 0) link2(id, op, v, a, 0);
    return id;
}

int32_t pg_binary(int op, int32_t a, int32_t b) {
    if (!is_binary(op) || !pg_valid(a) || !pg_valid(b)) return -PG_EINVAL;
    double v;
    int st = pg_forward(op, pg_nodes[a].data, pg_nodes[b].data, &v);
    if (st != PG_OK) return -st;
    if (!grad_enabled) return pg_leaf(v);
    int32_t id = pg_node_alloc();
    if (id >= 0) link2(id, op, v, a, b);
    return id;
}

int32_t pg_binary_k(int op, int32_t a, double k, int k_first) {
    if (!is_binary(op) || !pg_valid(a)) return -PG_EINVAL;
    double x = pg_nodes[a].data, v;
    int st = k_first ? pg_forward(op, k, x, &v) : pg_forward(op, x, k, &v);
    if (st != PG_OK) return -st;
    if (!grad_enabled) return pg_leaf(v);
    int32_t kid = pg_leaf(k);
    if (kid < 0) return kid;
    int32_t id = pg_node_alloc();
    if (id < 0) { pg_node_free(kid); return id; }
    if (k_first) link2(id, op, v, kid, a);
    else link2(id, op, v, a, kid);
    pg_nodes[kid].refs--; /* the new node is now its only owner */
    return id;
}

static int nary_value(const pg_node *base, int op, int32_t n, const int32_t *kids, double *out) {
    if (op == PG_SUM) {
        if (n < 1) return PG_EINVAL;
        double acc = base[kids[0]].data;
        for (int32_t i = 1; i < n; i++) acc = acc + base[kids[i]].data;
        *out = acc;
        return PG_OK;
    }
    if (op == PG_DOT) {
        if (n < 1 || n % 2 == 0) return PG_EINVAL;
        int32_t m = n / 2;
        double acc = base[kids[2 * m]].data;
        for (int32_t i = 0; i < m; i++)
            acc = acc + base[kids[i]].data * base[kids[m + i]].data;
        *out = acc;
        return PG_OK;
    }
    return PG_EINVAL;
}

/* Recompute n->data from its children in `base` (compiled programs). */
int pg_eval(const pg_node *base, pg_node *n) {
    const int32_t *k = pg_kids_of(n);
    if (pg_is_nary(n->op)) return nary_value(base, n->op, pg_nkids_of(n), k, &n->data);
    double b = pg_arity[n->op] == 2 ? base[k[1]].data : 0.0;
    return pg_forward(n->op, base[k[0]].data, b, &n->data);
}

/* pg_nary without checking the ids (the caller has). */
static int32_t nary_unchecked(int op, int32_t n, const int32_t *kids) {
    double v;
    int st = nary_value(pg_nodes, op, n, kids, &v);
    if (st != PG_OK) return -st;
    if (!grad_enabled) return pg_leaf(v);
    int32_t *many = malloc((size_t)(n + 1) * sizeof(int32_t));
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
    pg_add_kid_bytes((int64_t)(n + 1) * (int64_t)sizeof(int32_t));
    pg_add_edges(n);
    return id;
}

static int all_valid(int64_t n, const int32_t *ids) {
    for (int64_t i = 0; i < n; i++)
        if (!pg_valid(ids[i])) return 0;
    return 1;
}

int32_t pg_nary(int op, int32_t n, const int32_t *kids) {
    if (n < 0 || !kids || !all_valid(n, kids)) return -PG_EINVAL;
    return nary_unchecked(op, n, kids);
}

/* One neuron: DOT over (w row, x, b), then RELU if asked. */
static int32_t neuron(int32_t nin, const int32_t *w, const int32_t *x, int32_t b,
                      int relu, int32_t *kids) {
    for (int32_t i = 0; i < nin; i++) {
        kids[i] = w[i];
        kids[nin + i] = x[i];
    }
    kids[2 * nin] = b;
    int32_t dot = nary_unchecked(PG_DOT, 2 * nin + 1, kids);
    if (dot < 0 || !relu) return dot;
    int32_t act = pg_unary(PG_RELU, dot);
    pg_decref(dot); /* owned by the RELU node now, or freed on failure */
    return act;
}

int pg_dense(int32_t nout, int32_t nin, const int32_t *w, const int32_t *x,
             const int32_t *b, int relu, int32_t *out) {
    if (nout < 0 || nin < 0 || !w || !x || !b || !out) return PG_EINVAL;
    if (!all_valid((int64_t)nout * nin, w) || !all_valid(nin, x) || !all_valid(nout, b))
        return PG_EINVAL;
    int32_t *kids = malloc((size_t)(2 * nin + 1) * sizeof(int32_t));
    if (!kids) return PG_ENOMEM;
    for (int32_t r = 0; r < nout; r++) {
        out[r] = neuron(nin, w + (int64_t)r * nin, x, b[r], relu, kids);
        if (out[r] < 0) {
            int status = -out[r];
            for (int32_t j = 0; j < r; j++) pg_decref(out[j]);
            free(kids);
            return status;
        }
    }
    free(kids);
    return PG_OK;
}
