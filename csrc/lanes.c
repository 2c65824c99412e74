/*
 * lanes.c - programs run BLOCK rows at a time, for forward_batch and
 * accumulate. Row b of slot s sits in lanes[s * BLOCK + b] (its value) and
 * glanes[s * BLOCK + b] (its grad). Each row's arithmetic is exactly the
 * row-by-row run's (the same rules, sums added in the same order); the
 * rows are only interleaved, so that the long dependent chains of
 * different rows overlap in the CPU.
 *
 * Backward adds into op slots per row, as the row-by-row sweep does. A
 * param's grad is a running sum over the rows: a block adds its rows'
 * contributions into it in row order, where the param is read. That is
 * the row-by-row sum only if a row adds into each param at most once, so
 * accumulate uses lanes only for programs where each param has at most
 * one reader (pg_lanes_grad_ok): an MLP's weights, not `w * w`.
 */
#include <math.h>   /* the derivative expressions of ops.def */
#include <stdlib.h> /* calloc, free */
#include "program.h"

#define LANE(base, slot) ((base) + (int64_t)(slot) * BLOCK)

// ---------------------------------------------------------------------------
// row kernels

/* y[lane] += x[lane] * g[lane], y[lane] += g[lane], y[lane] = x[lane]: the
 * steps of sums and products, for BLOCK rows. The row written never overlaps
 * a row read (grad rows vs value rows, a node vs its children); a child
 * named twice gets two calls, in order. */
#if defined(__GNUC__)
/* Two lanes per instruction: each lane's product and sum round exactly as
 * the scalar ones (IEEE double, no fused multiply-add: -ffp-contract=off). */
typedef double pair __attribute__((vector_size(16), aligned(8), may_alias));
static inline void add_product(double *restrict y, const double *restrict x, const double *restrict g) {
    for (int b = 0; b < BLOCK; b += 2)
        *(pair *)(y + b) = *(const pair *)(y + b) + *(const pair *)(x + b) * *(const pair *)(g + b);
}

static inline void add_lanes(double *restrict y, const double *restrict g) {
    for (int b = 0; b < BLOCK; b += 2) *(pair *)(y + b) = *(const pair *)(y + b) + *(const pair *)(g + b);
}

static inline void copy_lanes(double *restrict y, const double *restrict x) {
    for (int b = 0; b < BLOCK; b += 2) *(pair *)(y + b) = *(const pair *)(x + b);
}
#else
static inline void add_product(double *restrict y, const double *restrict x, const double *restrict g) {
    for (int b = 0; b < BLOCK; b++) y[b] += x[b] * g[b];
}

static inline void add_lanes(double *restrict y, const double *restrict g) {
    for (int b = 0; b < BLOCK; b++) y[b] += g[b];
}

static inline void copy_lanes(double *restrict y, const double *restrict x) {
    for (int b = 0; b < BLOCK; b++) y[b] = x[b];
}
#endif

// ---------------------------------------------------------------------------
// forward

void pg_lanes_load_constants(pg_program *p) {   /* params and constants: every lane */
    for (int32_t s = p->ninputs; s < p->nleaves; s++)
        for (int b = 0; b < BLOCK; b++) LANE(p->lanes, s)[b] = p->slots[s].data;
    pg_layers_load(p);
}

/* Rows [0, nrows) of the block; a short block (the batch's tail) repeats
 * its last row in the rest, which is computed and never read. */
static void load_inputs(pg_program *p, const double *rows, int nrows) {
    for (int32_t s = 0; s < p->ninputs; s++)
        for (int b = 0; b < BLOCK; b++) LANE(p->lanes, s)[b] = rows[(b < nrows ? b : nrows - 1) * p->ninputs + s];
}

/* The sums below keep their BLOCK running totals in a local array (in
 * registers, not in the slot's row in memory, whose store and reload would
 * sit on every step's dependent chain), then write the row once. */
static void nary_forward(const pg_node *n, const double *v, double *restrict o) {
    const int32_t *k = pg_kids_of(n);
    int32_t nk = pg_nkids_of(n), m = nk / 2;
    double acc[BLOCK];
    if (n->op == PG_DOT) {
        copy_lanes(acc, LANE(v, k[2 * m]));
        for (int32_t i = 0; i < m; i++) add_product(acc, LANE(v, k[i]), LANE(v, k[m + i]));   /* acc + w * x */
    } else {
        copy_lanes(acc, LANE(v, k[0]));
        for (int32_t i = 1; i < nk; i++) add_lanes(acc, LANE(v, k[i]));
    }
    copy_lanes(o, acc);
}

static void chain_forward(const pg_instr *in, const double *v, double *restrict o) {
    const int32_t *t = in->t;
    double acc[BLOCK];
    copy_lanes(acc, LANE(v, t[0]));
    for (int32_t i = 0; i < in->nterms; i++) {
        const int32_t *wx = t + 1 + 2 * i;
        if (wx[1] < 0) add_lanes(acc, LANE(v, wx[0]));
        else add_product(acc, LANE(v, wx[0]), LANE(v, wx[1]));
    }
    copy_lanes(o, acc);
}

/* The rules that can fail run through ops.c's pg_forward, lane by lane
 * (their names in ops.def resolve to these); all others are ops.def's
 * expressions inlined below, so a block looks its op up once, not per row. */
static double via(int op, double a, double b, int *st) {
    double v = 0.0;
    int s = pg_forward(op, a, b, &v);
    if (s != PG_OK) *st = s;
    return v;
}
static double divide(double a, double b, int *st) { return via(PG_DIV, a, b, st); }
static double power(double a, double b, int *st) { return via(PG_POW, a, b, st); }
static double exp_rule(double a, int *st) { return via(PG_EXP, a, 0.0, st); }
static double log_rule(double a, int *st) { return via(PG_LOG, a, 0.0, st); }
static double sqrt_rule(double a, int *st) { return via(PG_SQRT, a, 0.0, st); }
static double sin_rule(double a, int *st) { return via(PG_SIN, a, 0.0, st); }
static double cos_rule(double a, int *st) { return via(PG_COS, a, 0.0, st); }

/* One unary or binary op's values for BLOCK rows (b is unused by unary rules). */
static int op_forward(int op, const double *A, const double *B, double *restrict o) {
    int st = PG_OK;
    switch (op) {
#define LANES(FWD) \
        for (int lane = 0; lane < BLOCK; lane++) { \
            double a = A[lane], b = B[lane]; (void)a; (void)b; \
            o[lane] = (FWD); } \
        break;
#define OP1(NAME, FWD, DA) case PG_##NAME: LANES(FWD)
#define OP2(NAME, FWD, DA, DB) case PG_##NAME: LANES(FWD)
#define OPK(NAME, FWD, DA) case PG_##NAME: LANES(FWD)
#define OPN(NAME)
#include "ops.def"
#undef OP1
#undef OP2
#undef OPK
#undef OPN
#undef LANES
    default: return PG_EINVAL;
    }
    return st;
}

/* Does guard `in` hold in each of the block's real rows? */
static int guard_lanes(const pg_instr *in, const double *v, int nrows) {
    const double *a = LANE(v, in->slot), *b = in->b >= 0 ? LANE(v, in->b) : NULL;
    for (int lane = 0; lane < nrows; lane++)
        if (!pg_guard_holds(in, a[lane], b ? b[lane] : in->c)) return 0;
    return 1;
}

static int node_forward(const pg_node *n, const double *v, double *restrict o) {
    if (pg_is_nary(n->op)) {
        nary_forward(n, v, o);
        return PG_OK;
    }
    const int32_t *k = pg_kids_of(n);
    const double *a = LANE(v, k[0]);
    return op_forward(n->op, a, pg_arity[n->op] == 2 ? LANE(v, k[1]) : a, o);
}

int pg_lanes_forward(pg_program *p, const double *rows, int nrows, double *out) {
    double *v = p->lanes;
    load_inputs(p, rows, nrows);
    for (int32_t i = 0; i < p->ncode; i++) {
        const pg_instr *in = &p->code[i];
        int st = PG_OK;
        switch (in->kind) {
        case PG_I_OP: st = node_forward(&p->slots[in->slot], v, LANE(v, in->slot)); break;
        case PG_I_CHAIN: chain_forward(in, v, LANE(v, in->slot)); break;
        case PG_I_LAYER:   /* the whole dense layer (layers.c), from its first instruction */
            pg_layer_forward(&p->layers[in->layer], v);
            i = p->layers[in->layer].end - 1;
            break;
        case PG_I_GUARD:   /* a failing block is redone row by row, which names its row */
            if (!guard_lanes(in, v, nrows)) st = PG_EGUARD;
            break;
        case PG_I_CUSTOM: st = PG_EINVAL; break;   /* never: a program with users' ops goes row by row */
        }
        if (st != PG_OK) return st;
    }
    for (int b = 0; b < nrows; b++) out[b] = LANE(v, p->root)[b];
    return PG_OK;
}

// ---------------------------------------------------------------------------
// backward: each kernel is its row-by-row counterpart (ops.c's local step,
// program.c's chain_step) with every statement run for the BLOCK rows

/* Where a kernel's grad contributions go. An op slot's rows each take
 * theirs (row b's in glanes[s * BLOCK + b]); a param's grad is one running
 * sum over the rows, so its block's contributions are added into it in row
 * order right away, as the row-by-row sweeps add them. That is their order
 * only because a row adds into each param once (pg_lanes_grad_ok). */
typedef struct {
    double *gr;           /* the op slots' grad rows */
    const double *v;      /* every slot's value rows */
    pg_node *slots;       /* the params' running grads */
    int32_t first, end;   /* the param slots */
    int rows;             /* the block's real rows (a tail block has fewer) */
} sweep;

static inline int is_param(const sweep *w, int32_t s) { return s >= w->first && s < w->end; }

/* Slot s's grad += c, row by row. */
static inline void take(const sweep *w, int32_t s, const double *restrict c) {
    if (!is_param(w, s)) {
        add_lanes(LANE(w->gr, s), c);
        return;
    }
    double sum = w->slots[s].grad;
    for (int b = 0; b < w->rows; b++) sum = sum + c[b];
    w->slots[s].grad = sum;
}

/* Slot s's grad += x * g, row by row (a product's step, or a dot's). */
static inline void take_product(const sweep *w, int32_t s, const double *restrict x, const double *restrict g) {
    if (!is_param(w, s)) {
        add_product(LANE(w->gr, s), x, g);
        return;
    }
    double sum = w->slots[s].grad;
    for (int b = 0; b < w->rows; b++) sum = sum + x[b] * g[b];
    w->slots[s].grad = sum;
}

/* take_product for four params at once (ws), their x's rows xs: the four
 * running sums are independent, so their chains interleave in the CPU. */
enum { GROUP = 4 };
static inline void take_products_of_params(const sweep *w, const int32_t *ws, const int32_t *xs,
                                           const double *restrict g) {
    double sum[GROUP];
    const double *x[GROUP];
    for (int j = 0; j < GROUP; j++) {
        sum[j] = w->slots[ws[j]].grad;
        x[j] = LANE(w->v, xs[j]);
    }
    for (int b = 0; b < w->rows; b++)
        for (int j = 0; j < GROUP; j++) sum[j] = sum[j] + x[j][b] * g[b];
    for (int j = 0; j < GROUP; j++) w->slots[ws[j]].grad = sum[j];
}

/* A dot's step into its weights k[0..m) (x's in k[m..2m)): params four at a time. */
static void dot_weights(const sweep *w, const int32_t *k, int32_t m, const double *G) {
    int32_t i = 0;
    while (i < m) {
        if (i + GROUP <= m && is_param(w, k[i]) && is_param(w, k[i + GROUP - 1])
            && k[i + GROUP - 1] - k[i] == GROUP - 1) {   /* consecutive params */
            take_products_of_params(w, k + i, k + m + i, G);
            i += GROUP;
            continue;
        }
        take_product(w, k[i], LANE(w->v, k[m + i]), G);
        i++;
    }
}

/* Child `which`'s step for a rule DERIV of a, b and out (one lane each):
 * each row adds what the row-by-row step adds, DERIV * g. */
#define CHILD_STEP(which, DERIV) do { \
        double c_[BLOCK]; \
        for (int lane = 0; lane < BLOCK; lane++) { \
            double a = A[lane], b = B[lane], out = O[lane]; (void)a; (void)b; (void)out; \
            c_[lane] = (DERIV) * G[lane]; } \
        take(w, k[which], c_); \
    } while (0)

/* One op node's local step, from the rules in ops.def. */
static void op_backward(const sweep *w, const pg_node *n, int32_t s) {
    const int32_t *k = pg_kids_of(n);
    const double *G = LANE(w->gr, s), *O = LANE(w->v, s);
    const double *A = pg_arity[n->op] >= 1 ? LANE(w->v, k[0]) : O;
    const double *B = pg_arity[n->op] == 2 ? LANE(w->v, k[1]) : O;   /* unary: b unused */
    switch (n->op) {
#define OP1(NAME, FWD, DA) case PG_##NAME: CHILD_STEP(0, DA); break;
#define OP2(NAME, FWD, DA, DB) case PG_##NAME: CHILD_STEP(0, DA); CHILD_STEP(1, DB); break;
#define OPK(NAME, FWD, DA) case PG_##NAME: CHILD_STEP(0, DA); break;
#define OPN(NAME)
#include "ops.def"
#undef OP1
#undef OP2
#undef OPK
#undef OPN
#undef CHILD_STEP
    case PG_SUM:
        for (int32_t i = 0, nk = pg_nkids_of(n); i < nk; i++) take(w, k[i], G);
        break;
    case PG_DOT: {
        int32_t m = pg_nkids_of(n) / 2;
        dot_weights(w, k, m, G);
        for (int32_t i = 0; i < m; i++) take_product(w, k[m + i], LANE(w->v, k[i]), G);
        take(w, k[2 * m], G);
        break;
    }
    default: break;   /* select and max_data programs never run in lanes */
    }
}

static void chain_backward(const sweep *w, const pg_instr *in) {
    const int32_t *t = in->t;
    const int32_t last = in->nterms - 1;
    double g[BLOCK], gp[BLOCK];
    for (int b = 0; b < BLOCK; b++) {
        g[b] = LANE(w->gr, in->slot)[b];
        gp[b] = 0.0 + g[b];
    }
    for (int32_t i = last; i >= 0; i--) {
        const int32_t *wx = t + 1 + 2 * i;
        if (i == 0) take(w, t[0], last == 0 || in->sum ? g : gp);
        if (wx[1] < 0) {
            take(w, wx[0], i == last || in->sum ? g : gp);
            continue;
        }
        take_product(w, wx[0], LANE(w->v, wx[1]), gp);   /* the MUL's step: w, then x */
        take_product(w, wx[1], LANE(w->v, wx[0]), gp);
    }
}

/* Only programs whose instructions after the root's are guards run
 * backward in lanes (pg_lanes_grad_ok). */
void pg_lanes_backward(pg_program *p, double scale, int nrows) {
    sweep w = {p->glanes, p->lanes, p->slots, p->ninputs, p->ninputs + p->nparams, nrows};
    for (int64_t i = (int64_t)p->nleaves * BLOCK; i < (int64_t)p->nslots * BLOCK; i++) w.gr[i] = 0.0;
    for (int b = 0; b < BLOCK; b++) LANE(w.gr, p->root)[b] = scale;
    for (int32_t i = p->nback - 1; i >= 0; i--) {
        const pg_instr *in = &p->code[i];
        switch (in->kind) {
        case PG_I_OP: op_backward(&w, &p->slots[in->slot], in->slot); break;
        case PG_I_CHAIN: chain_backward(&w, in); break;
        case PG_I_LAYER: {   /* the whole layer, from its last instruction */
            const pg_layer *L = &p->layers[in->layer];
            pg_layer_backward(L, w.gr, w.v, w.slots, w.first, w.end, nrows);
            i = L->first;
            break;
        }
        case PG_I_GUARD: break;   /* nothing to differentiate */
        case PG_I_CUSTOM: break;  /* never (see pg_lanes_forward) */
        }
    }
}

/* The leaves' grad rows: inputs' and constants' are written, never read
 * (params' are not used: they add into their running sums). */
void pg_lanes_clear_grads(pg_program *p) {
    for (int64_t i = 0; i < (int64_t)p->nleaves * BLOCK; i++) p->glanes[i] = 0.0;
}

/* Whether accumulate may run in lanes: forward can, the root is an op (its
 * grad is set, not added), and no param is read twice in a row. */
int pg_lanes_grad_ok(const pg_program *p) {
    if (!p->blocks || p->root < p->nleaves) return 0;
    for (int32_t i = p->nback; i < p->ncode; i++)   /* a guard's side computed outside the root's graph */
        if (p->code[i].kind != PG_I_GUARD) return 0;
    int32_t first = p->ninputs, end = p->ninputs + p->nparams;
    int ok = 1;
    char *seen = calloc((size_t)p->nparams + 1, 1);
    if (!seen) return 0;
    for (int32_t i = 0; i < p->nback && ok; i++) {
        const pg_instr *in = &p->code[i];
        const int32_t *k = in->kind == PG_I_CHAIN ? in->t : pg_kids_of(&p->slots[in->slot]);
        int32_t nk = in->kind == PG_I_CHAIN ? 1 + 2 * in->nterms : pg_nkids_of(&p->slots[in->slot]);
        for (int32_t j = 0; j < nk && ok; j++) {
            if (k[j] < first || k[j] >= end) continue;
            if (seen[k[j] - first]) ok = 0;
            seen[k[j] - first] = 1;
        }
    }
    free(seen);
    return ok;
}
