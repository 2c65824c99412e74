/*
 * ops.c - the rules of every op, made from the list in ops.def: names and
 * arity, the forward value and the local derivatives (one step of the
 * reverse sweep). It works on any array of nodes (the core's pool, or a
 * compiled program's slots) and creates nothing.
 *
 * Forward errors follow Python's float and math module: x / 0 is a
 * ZeroDivisionError, log(-1) a domain error, exp(1000) an overflow; NaN
 * and inf propagate. Derivatives never fail: they follow IEEE arithmetic.
 */
#include <math.h>   /* pow, exp, log, tanh, floor, isnan, isinf, isfinite */
#include "core.h"

// ---------------------------------------------------------------------------
// the op list, for Python (pygrad/_ops.py checks its own against it)

static const char *const names[PG_NUM_OPS] = {
    [PG_LEAF] = "LEAF",
#define OP1(NAME, ...) [PG_##NAME] = #NAME,
#define OP2(NAME, ...) [PG_##NAME] = #NAME,
#define OPK(NAME, ...) [PG_##NAME] = #NAME,
#define OPN(NAME) [PG_##NAME] = #NAME,
#include "ops.def"
#undef OP1
#undef OP2
#undef OPK
#undef OPN
};

int pg_num_ops(void) { return PG_NUM_OPS; }
const char *pg_op_name(int op) { return op >= 0 && op < PG_NUM_OPS ? names[op] : NULL; }
int pg_op_arity(int op) { return op >= 0 && op < PG_NUM_OPS ? pg_arity[op] : -2; }

// ---------------------------------------------------------------------------
// forward rules that can fail (named in ops.def)

static double divide(double a, double b, int *st) {
    if (b == 0.0) { *st = PG_EZERODIV; return 0.0; }
    return a / b;
}

static double power(double a, double b, int *st) {
    if (b == 0.0) return 1.0;                            /* Python: x ** 0 == 1, even NaN */
    if (isnan(a) || isnan(b)) return pow(a, b);
    if (a == 0.0 && b < 0.0 && isfinite(b)) { *st = PG_EZERODIV; return 0.0; }  /* 0 ** -inf is inf */
    if (a < 0.0 && isfinite(a) && isfinite(b) && b != floor(b)) { *st = PG_EDOMAIN; return 0.0; }
    double r = pow(a, b);
    if (isinf(r) && isfinite(a) && isfinite(b)) *st = PG_EOVERFLOW;
    return r;
}

static double exp_rule(double a, int *st) {
    double r = exp(a);
    if (isinf(r) && isfinite(a)) *st = PG_EOVERFLOW;
    return r;
}

static double log_rule(double a, int *st) {
    if (isnan(a)) return a;
    if (a <= 0.0) { *st = PG_EDOMAIN; return 0.0; }
    return log(a);
}

/* Python's math.sqrt(-1), math.sin(inf) and math.cos(inf) raise ValueError. */
static double sqrt_rule(double a, int *st) {
    if (a < 0.0) { *st = PG_EDOMAIN; return 0.0; }
    return sqrt(a);
}

static double sin_rule(double a, int *st) {
    if (isinf(a)) { *st = PG_EDOMAIN; return 0.0; }
    return sin(a);
}

static double cos_rule(double a, int *st) {
    if (isinf(a)) { *st = PG_EDOMAIN; return 0.0; }
    return cos(a);
}

/* Forward value of a unary (b unused) or binary op. */
int pg_forward(int op, double a, double b, double *out) {
    int st = PG_OK;
    double v;
    (void)b;
    switch (op) {
#define OP1(NAME, FWD, DA) case PG_##NAME: v = (FWD); break;
#define OP2(NAME, FWD, DA, DB) case PG_##NAME: v = (FWD); break;
#define OPK(NAME, FWD, DA) case PG_##NAME: v = (FWD); break;
#define OPN(NAME)
#include "ops.def"
#undef OP1
#undef OP2
#undef OPK
#undef OPN
    default: return PG_EINVAL;
    }
    if (st != PG_OK) return st;
    *out = v;
    return PG_OK;
}

/* The n-ary ops' values, added left to right (as Python's loop does). */
int pg_nary_value(const pg_node *base, int op, int32_t n, const int32_t *kids, double *out) {
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
    if (op == PG_SELECT) {
        if (n < 2) return PG_EINVAL;
        int64_t i;
        int st = pg_select_index(base[kids[0]].data, n - 1, &i);
        if (st == PG_OK) *out = base[kids[1 + i]].data;
        return st;
    }
    if (op == PG_MAXDATA) {
        if (n < 1) return PG_EINVAL;
        double acc = base[kids[0]].data;   /* Python's max(): NaN kept only if first */
        for (int32_t i = 1; i < n; i++)
            if (base[kids[i]].data > acc) acc = base[kids[i]].data;
        *out = acc;
        return PG_OK;
    }
    return PG_EINVAL;
}

/* A select's index as Python indexes a list of n: an integral value in
 * [-n, n), negative counting from the end. */
int pg_select_index(double x, int64_t n, int64_t *out) {
    if (!isfinite(x) || x != floor(x)) return PG_ENOTINT;   /* NaN, inf, 1.5 */
    if (x < -(double)n || x >= (double)n) return PG_EINDEX;
    *out = (int64_t)x < 0 ? (int64_t)x + n : (int64_t)x;
    return PG_OK;
}

/* Recompute n->data from its children in `base` (compiled programs). */
int pg_eval(const pg_node *base, pg_node *n) {
    const int32_t *k = pg_kids_of(n);
    if (pg_is_nary(n->op)) return pg_nary_value(base, n->op, pg_nkids_of(n), k, &n->data);
    double b = pg_arity[n->op] == 2 ? base[k[1]].data : 0.0;
    return pg_forward(n->op, base[k[0]].data, b, &n->data);
}

// ---------------------------------------------------------------------------
// local derivatives: one step of the reverse sweep, for node n of the node
// array `base`: each child's grad += d(n)/d(child) * n's grad

#define KID(i) (base[k[i]])

/* Inlined into each sweep (GCC would call it from both, once there are
 * two): a call per node is a fifth of a chain's instructions. */
#if defined(__GNUC__)
#define SWEEP_INLINE static inline __attribute__((always_inline))
#else
#define SWEEP_INLINE static inline
#endif

SWEEP_INLINE void local_step(pg_node *base, pg_node *n) {
    const int32_t *k = pg_kids_of(n);
    const double g = n->grad, out = n->data;
    (void)out;
    switch (n->op) {
#define OP1(NAME, FWD, DA) case PG_##NAME: { \
        double a = KID(0).data; (void)a; \
        KID(0).grad += (DA) * g; break; }
#define OP2(NAME, FWD, DA, DB) case PG_##NAME: { \
        double a = KID(0).data, b = KID(1).data; (void)a; (void)b; \
        KID(0).grad += (DA) * g; KID(1).grad += (DB) * g; break; }
#define OPK(NAME, FWD, DA) case PG_##NAME: { \
        double a = KID(0).data, b = KID(1).data; (void)a; (void)b; \
        KID(0).grad += (DA) * g; break; }
#define OPN(NAME)
#include "ops.def"
#undef OP1
#undef OP2
#undef OPK
#undef OPN
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
    case PG_SELECT: {   /* the forward checked the index */
        int64_t i = 0;
        if (pg_select_index(KID(0).data, pg_nkids_of(n) - 1, &i) == PG_OK) KID(1 + i).grad += g;
        break;
    }
    case PG_CUSTOM: {   /* microgpt's step: child.grad += local_grad * v.grad */
        const double *local = pg_local_grads(n);
        for (int32_t i = 0, nk = pg_nkids_of(n); i < nk; i++) KID(i).grad += local[i] * g;
        break;
    }
    case PG_MAXDATA: break;
    default: break; /* PG_LEAF; PG_HOOK runs in pg_sweep_pool */
    }
}

#undef KID

void pg_local_step(pg_node *base, pg_node *n) { local_step(base, n); }

/* A compiled program's run of op slots (program.c's opruns.c), the rules
 * inlined: their values in order, going on past a failing one (the first
 * failure is returned); and their steps, last first, each node's grad
 * spent (set to 0) after its step. */
int pg_eval_run(pg_node *base, const int32_t *slots, int32_t n) {
    int err = PG_OK;
    for (int32_t i = 0; i < n; i++) {
        int st = pg_eval(base, &base[slots[i]]);
        if (st != PG_OK && err == PG_OK) err = st;
    }
    return err;
}

void pg_step_run(pg_node *base, const int32_t *slots, int32_t n) {
    for (int32_t i = n - 1; i >= 0; i--) {
        pg_node *node = &base[slots[i]];
        local_step(base, node);
        node->grad = 0.0;
    }
}

/* The reverse sweep: topo lists nodes children first, so walk it backwards. */
void pg_sweep(pg_node *base, const int32_t *topo, int64_t n) {
    for (int64_t i = n - 1; i >= 0; i--) local_step(base, &base[topo[i]]);
}

/* The sweep's loads do not depend on its arithmetic, so the memory can be
 * asked for ahead: the node 2 * AHEAD places on (its line came when the
 * sweep is AHEAD places from it), then its children. A random graph's
 * sweep waits on memory at every node without it. */
enum { AHEAD = 8 };
#if defined(__GNUC__) || defined(__clang__)
#define PG_PREFETCH(p) __builtin_prefetch(p)
#else
#define PG_PREFETCH(p) ((void)(p))
#endif

static inline void prefetch_kids(const pg_node *base, const pg_node *n) {
    if (pg_is_nary(n->op)) return;   /* a unary node's pair[1] is no child */
    PG_PREFETCH(&base[n->kids.pair[0]]);
    if (pg_arity[n->op] == 2) PG_PREFETCH(&base[n->kids.pair[1]]);
}

/* One node's turn in a sweep over the pool: its local step, or the user's
 * code for a PG_HOOK node (which may grow the pool: *base is re-read).
 * The cancel budget is counted in children updated: a unary or binary
 * node is counted by the caller, n-ary ones here by their children. */
static inline int take_turn(pg_node **base, int32_t id, int64_t *budget) {
    pg_node *node = &(*base)[id];
    if (pg_is_nary(node->op)) {
        *budget -= node->kids.many[0];
        if (node->op == PG_HOOK) {
            int st = pg_run_hook(id);
            *base = pg_nodes;
            return st;
        }
    }
    local_step(*base, node);
    return PG_OK;
}

/* The sweep over the pool, asking the cancel hook after every
 * PG_CANCEL_EVERY children updated or so (a node with many children counts
 * for many). A signal handler run by the hook may grow the pool: re-read
 * it. The sweep is most of backward's time: a unary or binary node pays one
 * table lookup and one count. */
int pg_sweep_pool(const int32_t *topo, int64_t n) {
    pg_node *base = pg_nodes;
    int64_t budget = PG_CANCEL_EVERY;
    for (int64_t i = n - 1; i >= 0; i--) {
        if (i >= 2 * AHEAD) PG_PREFETCH(&base[topo[i - 2 * AHEAD]]);
        if (i >= AHEAD) prefetch_kids(base, &base[topo[i - AHEAD]]);
        int st = take_turn(&base, topo[i], &budget);
        if (st != PG_OK) return st;
        if ((budget -= 2) <= 0) {
            budget = PG_CANCEL_EVERY;
            if (i > 0 && pg_cancelled()) return PG_EINTR;
            base = pg_nodes;
        }
    }
    return PG_OK;
}

/* The one child of n that is not a leaf (listed twice, as in x * x, it is
 * still one), NO_INNER if all are leaves, BRANCH if there are two. */
enum { NO_INNER = -1, BRANCH = -2 };
static inline int32_t only_inner_kid(const pg_node *base, const pg_node *n) {
    int8_t arity = pg_arity[n->op];
    if (arity == 2) {   /* most nodes: no loop */
        int32_t a = n->kids.pair[0], b = n->kids.pair[1];
        int inner_a = base[a].op != PG_LEAF, inner_b = base[b].op != PG_LEAF;
        if (inner_a && inner_b && a != b) return BRANCH;
        return inner_a ? a : inner_b ? b : NO_INNER;
    }
    int32_t nk = arity >= 0 ? arity : n->kids.many[0];
    const int32_t *k = arity >= 0 ? n->kids.pair : n->kids.many + 1;
    int32_t inner = NO_INNER;
    for (int32_t i = 0; i < nk; i++)
        if (base[k[i]].op != PG_LEAF) {
            if (inner >= 0 && inner != k[i]) return BRANCH;
            inner = k[i];
        }
    return inner;
}

/* The sweep's first part, without a sort (backward.c): while the graph
 * below the root is a path (every node has at most one child that is not
 * a leaf), the depth-first search would only walk down it and list it
 * bottom up, so the sweep's order is the path's, top down, and each node
 * takes its turn as it is reached. *rest is where the path branches (the
 * search takes over there: nothing it lists lies on the path above, as a
 * child is older than its parent, so every step and every sum is the
 * full search's), or -1 where it ended in leaves. A chain needs no sort.
 * The root's grad is set to 1 only if it takes its turn here: a search
 * that follows may still be stopped, and then no grad changed. */
int pg_sweep_path(int32_t root, int32_t *rest) {
    pg_node *base = pg_nodes;
    int64_t budget = PG_CANCEL_EVERY;
    *rest = -1;
    if (base[root].op == PG_LEAF) { base[root].grad = 1.0; return PG_OK; }
    int32_t id = root, next = only_inner_kid(base, &base[root]);
    if (next == BRANCH) { *rest = root; return PG_OK; }
    base[root].grad = 1.0;
    for (;;) {
        int st = take_turn(&base, id, &budget);
        if (st != PG_OK) return st;
        if (next < 0) return PG_OK;
        if ((budget -= 2) <= 0) {
            budget = PG_CANCEL_EVERY;
            if (pg_cancelled()) return PG_EINTR;
            base = pg_nodes;
        }
        id = next;
        next = only_inner_kid(base, &base[id]);
        if (next == BRANCH) { *rest = id; return PG_OK; }
    }
}
