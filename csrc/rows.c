/*
 * rows.c - row groups: a linear layer's chains run as one dense kernel for
 * a single row (see pg_rows in program.h).
 *
 * `[sum(wi * xi for wi, xi in zip(wo, x)) for wo in w]` fuses into one
 * chain per neuron, consecutive in the code, whose products all read x[j]
 * at term j; attention's dot products share the query the same way. Chain
 * by chain, each sum waits on its previous term's addition; a group runs
 * several chains per pass instead, so their additions overlap. Every sum
 * still adds its terms in its own left-to-right order, and every slot's
 * grad receives its contributions in the order the chains' steps gave
 * them (see pg_rows_backward), so the bits are the chains' bits.
 */
#include <stdlib.h> /* malloc, calloc, free */
#include "program.h"

// ---------------------------------------------------------------------------
// finding the groups

/* A chain a group can hold: an ADD chain of products only. */
static int groupable(const pg_instr *in) {
    if (in->kind != PG_I_CHAIN || in->sum || in->nterms < 1) return 0;
    for (int32_t j = 0; j < in->nterms; j++)
        if (in->t[2 + 2 * j] < 0) return 0;
    return 1;
}

/* Which factor of every product chains a and b share: 1 (the second), 0
 * (the first), or -1 (neither). */
static int shared_side(const pg_instr *a, const pg_instr *b) {
    if (a->nterms != b->nterms) return -1;
    for (int side = 1; side >= 0; side--) {
        int32_t j = 0;
        while (j < a->nterms && a->t[1 + 2 * j + side] == b->t[1 + 2 * j + side]) j++;
        if (j == a->nterms) return side;
    }
    return -1;
}

enum { FREE = 0, SHARED = 1, OTHER = 2, BASE = 3 };

/* May chain `in` join the group of `head` (shared side s, reading below
 * slot `top`)? Its own factors must be new to the group and its base no
 * other factor (bases may repeat: they are added to chain by chain), so
 * that no slot's grad sees its additions reordered. */
static int joins(const pg_instr *in, const pg_instr *head, int s, int32_t top, const char *mark) {
    if (!groupable(in) || shared_side(head, in) != s) return 0;
    if (in->t[0] >= top || (mark[in->t[0]] != FREE && mark[in->t[0]] != BASE)) return 0;
    for (int32_t j = 0; j < in->nterms; j++) {
        int32_t o = in->t[1 + 2 * j + !s];
        if (o >= top || mark[o] != FREE) return 0;
    }
    return 1;
}

static void mark_chain(const pg_instr *in, int s, char *mark, int on) {
    mark[in->t[0]] = on ? BASE : FREE;
    for (int32_t j = 0; j < in->nterms; j++) {
        mark[in->t[1 + 2 * j + s]] = on ? SHARED : FREE;
        mark[in->t[1 + 2 * j + !s]] = on ? OTHER : FREE;
    }
}

/* The group starting at code[i]: its chain count (1: none), shared side in *s. */
static int32_t group_at(const pg_program *p, int32_t i, int *s, char *mark) {
    const pg_instr *head = &p->code[i];
    int32_t end = i < p->nback ? p->nback : p->ncode, top = head->slot, e = i + 1;
    if (!groupable(head) || e >= end || (*s = shared_side(head, &p->code[e])) < 0) return 1;
    mark_chain(head, *s, mark, 1);
    while (e < end && joins(&p->code[e], head, *s, top, mark)) mark_chain(&p->code[e++], *s, mark, 1);
    for (int32_t c = i; c < e; c++) mark_chain(&p->code[c], *s, mark, 0);
    return e - i;
}

static void fill(pg_rows *g, const pg_instr *code, int s, int32_t *ints) {
    const pg_instr *head = &code[g->first];
    g->shared = ints;
    g->other = ints + g->n;
    g->base = g->other + (int64_t)g->n * g->k;
    g->out = g->base + g->k;
    for (int32_t j = 0; j < g->n; j++) g->shared[j] = head->t[1 + 2 * j + s];
    for (int32_t c = 0; c < g->k; c++) {
        const pg_instr *in = &code[g->first + c];
        for (int32_t j = 0; j < g->n; j++) g->other[(int64_t)j * g->k + c] = in->t[1 + 2 * j + !s];
        g->base[c] = in->t[0];
        g->out[c] = in->slot;
    }
}

/* Two passes: count the groups and their ints, then fill them. A program
 * without groups (or without the memory for them) runs chain by chain. */
void pg_rows_find(pg_program *p) {
    for (int32_t i = 0; i < p->ncode; i++) p->code[i].rows = -1;
    char *mark = calloc((size_t)p->nslots + 1, 1);
    if (!mark) return;
    int32_t ngroups = 0, maxn = 0;
    int64_t nints = 0;
    for (int32_t i = 0, k, s; i < p->ncode; i += k) {
        if ((k = group_at(p, i, &s, mark)) < 2) continue;
        ngroups++;
        nints += (int64_t)p->code[i].nterms * (k + 1) + 2 * k;
        if (p->code[i].nterms > maxn) maxn = p->code[i].nterms;
    }
    p->rows = ngroups ? malloc((size_t)ngroups * sizeof(pg_rows)) : NULL;
    p->row_ints = ngroups ? malloc((size_t)nints * sizeof(int32_t)) : NULL;
    p->row_x = ngroups ? malloc((size_t)maxn * sizeof(double)) : NULL;
    if (!ngroups || !p->rows || !p->row_ints || !p->row_x) {
        free(mark);
        pg_rows_free(p);
        return;
    }
    int32_t *ints = p->row_ints;
    for (int32_t i = 0, k, s; i < p->ncode; i += k) {
        if ((k = group_at(p, i, &s, mark)) < 2) continue;
        pg_rows *g = &p->rows[p->nrowgroups];
        *g = (pg_rows){i, k, p->code[i].nterms, NULL, NULL, NULL, NULL};
        fill(g, p->code, s, ints);
        ints += (int64_t)g->n * (k + 1) + 2 * k;
        for (int32_t c = i; c < i + k; c++) p->code[c].rows = p->nrowgroups;
        p->nrowgroups++;
    }
    free(mark);
}

void pg_rows_free(pg_program *p) {
    free(p->rows);
    free(p->row_ints);
    free(p->row_x);
    p->rows = NULL;
    p->row_ints = NULL;
    p->row_x = NULL;
    p->nrowgroups = 0;
}

// ---------------------------------------------------------------------------
// running one row

/* Chains [c0, c0 + B) forward, each acc = base, then acc + other * x[j]
 * term by term, as chain_value does (a product rounds the same either way
 * round). B is a constant where it is inlined, so acc lives in registers. */
static inline __attribute__((always_inline)) void forward_block(const pg_rows *g, pg_node *v, const double *x,
                                                                int32_t c0, int B) {
    double acc[8];
    for (int b = 0; b < B; b++) acc[b] = v[g->base[c0 + b]].data;
    const int32_t *o = g->other + c0;
    for (int32_t j = 0; j < g->n; j++, o += g->k) {
        double xj = x[j];
        for (int b = 0; b < B; b++) acc[b] = acc[b] + v[o[b]].data * xj;
    }
    for (int b = 0; b < B; b++) v[g->out[c0 + b]].data = acc[b];
}

void pg_rows_forward(const pg_program *p, const pg_rows *g, pg_node *v) {
    double *x = p->row_x;
    for (int32_t j = 0; j < g->n; j++) x[j] = v[g->shared[j]].data;
    int32_t c = 0;
    for (; c + 8 <= g->k; c += 8) forward_block(g, v, x, c, 8);
    for (; c + 4 <= g->k; c += 4) forward_block(g, v, x, c, 4);
    for (; c < g->k; c++) forward_block(g, v, x, c, 1);
}

/* Chains [c0, c0 + B) backward, as chain_step did them one after the
 * other, last first. Each slot's grad gets its additions in that order:
 * a shared x[j] from the chains last to first (inner loop), a chain's own
 * factors once each, the bases chain by chain. Then the chains' grads are
 * spent: back to 0 for the next row. */
static inline __attribute__((always_inline)) void backward_block(const pg_rows *g, pg_node *v, int32_t c0, int B) {
    double gt[8], gp[8];
    for (int b = 0; b < B; b++) {
        gt[b] = v[g->out[c0 + b]].grad;
        gp[b] = 0.0 + gt[b];
    }
    for (int32_t j = g->n - 1; j >= 0; j--) {
        pg_node *X = &v[g->shared[j]];
        const int32_t *o = g->other + (int64_t)j * g->k + c0;
        double xd = X->data, gx = X->grad;
        for (int b = B - 1; b >= 0; b--) {
            pg_node *W = &v[o[b]];
            W->grad += xd * gp[b];
            gx += W->data * gp[b];
        }
        X->grad = gx;
    }
    for (int b = B - 1; b >= 0; b--) {
        v[g->base[c0 + b]].grad += g->n == 1 ? gt[b] : gp[b];
        v[g->out[c0 + b]].grad = 0.0;
    }
}

void pg_rows_backward(const pg_rows *g, pg_node *v) {
    int32_t c = g->k;
    for (; c % 4; c--) backward_block(g, v, c - 1, 1);
    for (; c > 0; c -= 4) backward_block(g, v, c - 4, 4);
}
