/*
 * lanes.c - programs run BLOCK rows at a time, for forward_batch and
 * accumulate. Row b of slot s sits in lanes[s * BLOCK + b] (its value) and
 * glanes[s * BLOCK + b] (its grad). Each row's arithmetic is exactly the
 * row-by-row run's (the same rules, sums added in the same order); the
 * rows are only interleaved, so that the long dependent chains of
 * different rows overlap in the CPU.
 *
 * Backward adds into op slots per row, as the row-by-row sweep does. A
 * param's grad is a running sum over the rows; the block keeps each row's
 * contribution apart, starting from -0.0 (the exact additive identity),
 * and adds the rows into the param in row order at the end. That is the
 * row-by-row sum only if a row adds into each param at most once, so
 * accumulate uses lanes only for programs where each param has at most
 * one reader (pg_lanes_grad_ok): an MLP's weights, not `w * w`.
 */
#include <math.h>   /* the derivative expressions of ops.def */
#include <stdlib.h> /* calloc, free */
#include "program.h"

#define LANE(base, slot) ((base) + (int64_t)(slot) * BLOCK)

// ---------------------------------------------------------------------------
// forward

void pg_lanes_load_constants(pg_program *p) {   /* params and constants: every lane */
    for (int32_t s = p->ninputs; s < p->nleaves; s++)
        for (int b = 0; b < BLOCK; b++) LANE(p->lanes, s)[b] = p->slots[s].data;
}

static void load_inputs(pg_program *p, const double *rows) {
    for (int32_t s = 0; s < p->ninputs; s++)
        for (int b = 0; b < BLOCK; b++) LANE(p->lanes, s)[b] = rows[b * p->ninputs + s];
}

static void nary_forward(const pg_node *n, const double *v, double *restrict o) {
    const int32_t *k = pg_kids_of(n);
    int32_t nk = pg_nkids_of(n), m = nk / 2;
    int dot = n->op == PG_DOT;
    const double *first = LANE(v, k[dot ? 2 * m : 0]);
    for (int b = 0; b < BLOCK; b++) o[b] = first[b];
    for (int32_t i = dot ? 0 : 1; i < (dot ? m : nk); i++) {
        const double *x = LANE(v, k[dot ? m + i : i]);
        if (dot) {
            const double *w = LANE(v, k[i]);
            for (int b = 0; b < BLOCK; b++) o[b] = o[b] + w[b] * x[b];
        } else {
            for (int b = 0; b < BLOCK; b++) o[b] = o[b] + x[b];
        }
    }
}

static void chain_forward(const pg_instr *in, const double *v, double *restrict o) {
    const int32_t *t = in->t;
    const double *first = LANE(v, t[0]);
    for (int b = 0; b < BLOCK; b++) o[b] = first[b];
    for (int32_t i = 0; i < in->nterms; i++) {
        const int32_t *wx = t + 1 + 2 * i;
        const double *w = LANE(v, wx[0]);
        if (wx[1] < 0) {
            for (int b = 0; b < BLOCK; b++) o[b] = o[b] + w[b];
        } else {
            const double *x = LANE(v, wx[1]);
            for (int b = 0; b < BLOCK; b++) o[b] = o[b] + w[b] * x[b];
        }
    }
}

int pg_lanes_forward(pg_program *p, const double *rows, double *out) {
    double *v = p->lanes;
    load_inputs(p, rows);
    for (int32_t i = 0; i < p->ncode; i++) {
        const pg_instr *in = &p->code[i];
        const pg_node *n = &p->slots[in->slot];
        double *o = LANE(v, in->slot);
        if (in->nterms) {
            chain_forward(in, v, o);
            continue;
        }
        if (pg_is_nary(n->op)) {
            nary_forward(n, v, o);
            continue;
        }
        const int32_t *k = pg_kids_of(n);
        const double *a = LANE(v, k[0]);
        const double *b2 = pg_arity[n->op] == 2 ? LANE(v, k[1]) : NULL;
        for (int b = 0; b < BLOCK; b++) {
            int st = pg_forward(n->op, a[b], b2 ? b2[b] : 0.0, &o[b]);
            if (st != PG_OK) return st;
        }
    }
    for (int b = 0; b < BLOCK; b++) out[b] = LANE(v, p->root)[b];
    return PG_OK;
}

// ---------------------------------------------------------------------------
// backward: each kernel is its row-by-row counterpart (ops.c's local step,
// program.c's chain_step) with every statement run for the BLOCK rows

/* One op node's local step, from the rules in ops.def. */
static void op_backward(const pg_node *n, int32_t s, const double *v, double *gr) {
    const int32_t *k = pg_kids_of(n);
    const double *G = LANE(gr, s), *O = LANE(v, s);
    switch (n->op) {
#define OP1(NAME, FWD, DA) case PG_##NAME: { \
        const double *A = LANE(v, k[0]); double *GA = LANE(gr, k[0]); \
        for (int lane = 0; lane < BLOCK; lane++) { \
            double a = A[lane], out = O[lane]; (void)a; (void)out; \
            GA[lane] += (DA) * G[lane]; } \
        break; }
#define OP2(NAME, FWD, DA, DB) case PG_##NAME: { \
        const double *A = LANE(v, k[0]), *B = LANE(v, k[1]); \
        double *GA = LANE(gr, k[0]), *GB = LANE(gr, k[1]); \
        for (int lane = 0; lane < BLOCK; lane++) { \
            double a = A[lane], b = B[lane], out = O[lane]; (void)a; (void)b; (void)out; \
            GA[lane] += (DA) * G[lane]; GB[lane] += (DB) * G[lane]; } \
        break; }
#define OPK(NAME, FWD, DA) case PG_##NAME: { \
        const double *A = LANE(v, k[0]), *B = LANE(v, k[1]); double *GA = LANE(gr, k[0]); \
        for (int lane = 0; lane < BLOCK; lane++) { \
            double a = A[lane], b = B[lane], out = O[lane]; (void)a; (void)b; (void)out; \
            GA[lane] += (DA) * G[lane]; } \
        break; }
#define OPN(NAME)
#include "ops.def"
#undef OP1
#undef OP2
#undef OPK
#undef OPN
    case PG_SUM:
        for (int32_t i = 0, nk = pg_nkids_of(n); i < nk; i++) {
            double *GK = LANE(gr, k[i]);
            for (int b = 0; b < BLOCK; b++) GK[b] += G[b];
        }
        break;
    case PG_DOT: {
        int32_t m = pg_nkids_of(n) / 2;
        for (int32_t i = 0; i < m; i++) {
            const double *X = LANE(v, k[m + i]);
            double *GW = LANE(gr, k[i]);
            for (int b = 0; b < BLOCK; b++) GW[b] += X[b] * G[b];
        }
        for (int32_t i = 0; i < m; i++) {
            const double *W = LANE(v, k[i]);
            double *GX = LANE(gr, k[m + i]);
            for (int b = 0; b < BLOCK; b++) GX[b] += W[b] * G[b];
        }
        double *GB = LANE(gr, k[2 * m]);
        for (int b = 0; b < BLOCK; b++) GB[b] += G[b];
        break;
    }
    default: break;   /* select and max_data programs never run in lanes */
    }
}

static void chain_backward(const pg_instr *in, const double *v, double *gr) {
    const int32_t *t = in->t;
    const int32_t last = in->nterms - 1;
    double g[BLOCK], gp[BLOCK];
    for (int b = 0; b < BLOCK; b++) {
        g[b] = LANE(gr, in->slot)[b];
        gp[b] = 0.0 + g[b];
    }
    for (int32_t i = last; i >= 0; i--) {
        const int32_t *wx = t + 1 + 2 * i;
        if (i == 0) {
            double *GB = LANE(gr, t[0]);
            for (int b = 0; b < BLOCK; b++) GB[b] += last == 0 ? g[b] : gp[b];
        }
        double *GW = LANE(gr, wx[0]);
        if (wx[1] < 0) {
            const double *h = i == last ? g : gp;
            for (int b = 0; b < BLOCK; b++) GW[b] += h[b];
            continue;
        }
        const double *W = LANE(v, wx[0]), *X = LANE(v, wx[1]);
        double *GX = LANE(gr, wx[1]);
        for (int b = 0; b < BLOCK; b++) {
            double w = W[b], x = X[b];
            GW[b] += x * gp[b];
            GX[b] += w * gp[b];
        }
    }
}

void pg_lanes_backward(pg_program *p, double scale) {
    double *gr = p->glanes;
    int32_t first = p->ninputs, end = p->ninputs + p->nparams;
    for (int32_t s = 0; s < p->nslots; s++) {
        double zero = s >= first && s < end ? -0.0 : 0.0;
        for (int b = 0; b < BLOCK; b++) LANE(gr, s)[b] = zero;
    }
    for (int b = 0; b < BLOCK; b++) LANE(gr, p->root)[b] = scale;
    for (int32_t i = p->ncode - 1; i >= 0; i--) {
        const pg_instr *in = &p->code[i];
        if (in->nterms) chain_backward(in, p->lanes, gr);
        else op_backward(&p->slots[in->slot], in->slot, p->lanes, gr);
    }
    for (int32_t s = first; s < end; s++)   /* row after row, as the rows' sweeps add */
        for (int b = 0; b < BLOCK; b++) p->slots[s].grad = p->slots[s].grad + LANE(gr, s)[b];
}

/* Whether accumulate may run in lanes: forward can, the root is an op (its
 * grad is set, not added), and no param is read twice in a row. */
int pg_lanes_grad_ok(const pg_program *p) {
    if (!p->blocks || p->root < p->nleaves) return 0;
    int32_t first = p->ninputs, end = p->ninputs + p->nparams;
    int ok = 1;
    char *seen = calloc((size_t)p->nparams + 1, 1);
    if (!seen) return 0;
    for (int32_t i = 0; i < p->ncode && ok; i++) {
        const pg_instr *in = &p->code[i];
        const int32_t *k = in->nterms ? in->t : pg_kids_of(&p->slots[in->slot]);
        int32_t nk = in->nterms ? 1 + 2 * in->nterms : pg_nkids_of(&p->slots[in->slot]);
        for (int32_t j = 0; j < nk && ok; j++) {
            if (k[j] < first || k[j] >= end) continue;
            if (seen[k[j] - first]) ok = 0;
            seen[k[j] - first] = 1;
        }
    }
    free(seen);
    return ok;
}
