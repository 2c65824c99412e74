/*
 * fuse.c - find the sum chains of a program and fuse them (see program.h).
 *
 * A chain is ADD_n(ADD_n-1(... ADD_0(base, T0) ...), Tn) whose inner ADDs
 * each feed only the next; a term Ti that is a MUL feeding only its ADD is
 * fused as a product, any other term as a plain value. Replaying a chain
 * gives the same bits as its nodes did, because:
 *  - forward: acc = base, then acc = acc + w * x (or + t), left to right,
 *    rounding each product and each sum as the nodes did;
 *  - backward: every node of the chain received the top's grad g passed
 *    through as 0.0 + g; the fused step adds the same products into the
 *    same children in the same order as the nodes' steps did;
 *  - the nodes' steps ran at their own places in the reverse sweep, the
 *    fused step runs at the top's. A child that some other node also
 *    updates between those places would see its additions reordered, so
 *    such a chain is left unfused (as is one naming a child twice).
 * A SUM node over products is a chain in one node: its first child is the
 * base and every other child a term, fused as a product where it is a MUL
 * feeding only the SUM. Its step gives every child the SUM's own grad g
 * (a fused MUL's node received 0.0 + g, as in ADD chains).
 */
#include <stdlib.h> /* malloc, calloc, free */
#include "program.h"

typedef struct {
    const pg_node *slots;
    int32_t nleaves, nslots;
    const char *keep;        /* slots that stay instructions: the root, guards' sides */
    int32_t *first, *cons;   /* consumers of slot s: cons[first[s] .. first[s+1]), ascending */
    int32_t *mark;           /* chain generation that last named a slot as a child */
} graph;

static int32_t kid(const graph *g, int32_t s, int i) { return pg_kids_of(&g->slots[s])[i]; }
static int32_t ncons(const graph *g, int32_t s) { return g->first[s + 1] - g->first[s]; }
static int is_op(const graph *g, int32_t s, int op) { return s >= g->nleaves && (int)g->slots[s].op == op; }

/* Every op slot's children, inverted: who reads each slot, in slot order. */
static int index_consumers(graph *g) {
    int32_t n = g->nslots;
    g->first = calloc((size_t)n + 1, sizeof(int32_t));
    int64_t edges = 0;
    if (!g->first) return PG_ENOMEM;
    for (int32_t s = g->nleaves; s < n; s++) {
        const int32_t *k = pg_kids_of(&g->slots[s]);
        for (int32_t i = 0, nk = pg_nkids_of(&g->slots[s]); i < nk; i++) g->first[k[i] + 1]++;
        edges += pg_nkids_of(&g->slots[s]);
    }
    for (int32_t s = 0; s < n; s++) g->first[s + 1] += g->first[s];
    g->cons = malloc((size_t)(edges + 1) * sizeof(int32_t));
    int32_t *fill = malloc((size_t)n * sizeof(int32_t));
    if (!g->cons || !fill) { free(fill); return PG_ENOMEM; }
    for (int32_t s = 0; s < n; s++) fill[s] = g->first[s];
    for (int32_t s = g->nleaves; s < n; s++) {
        const int32_t *k = pg_kids_of(&g->slots[s]);
        for (int32_t i = 0, nk = pg_nkids_of(&g->slots[s]); i < nk; i++) g->cons[fill[k[i]]++] = s;
    }
    free(fill);
    return PG_OK;
}

/* Does any node in slots (after, upto] read y? (its updates to y's grad would
 * fall between the chain's own and the fused step's place in the sweep) */
static int read_between(const graph *g, int32_t y, int32_t after, int32_t upto) {
    int32_t lo = g->first[y], hi = g->first[y + 1];
    while (lo < hi) {   /* the first consumer > after */
        int32_t mid = lo + (hi - lo) / 2;
        if (g->cons[mid] <= after) lo = mid + 1;
        else hi = mid;
    }
    return lo < g->first[y + 1] && g->cons[lo] <= upto;
}

/* A child y of the chain read by the chain at slot `at`: it must be new to
 * the chain, and nothing else may update its grad before the top's step. */
static int child_ok(graph *g, int32_t y, int32_t at, int32_t top, int32_t gen) {
    if (g->mark[y] == gen) return 0;
    g->mark[y] = gen;
    return !read_between(g, y, at, top);
}

static int inner_add(const graph *g, int32_t s) {
    return is_op(g, s, PG_ADD) && ncons(g, s) == 1 && !g->keep[s];
}

static int fused_mul(const graph *g, int32_t s) {
    return is_op(g, s, PG_MUL) && ncons(g, s) == 1 && !g->keep[s];
}

/* One term of a chain, read by node `reader`, into wx: (w, x) if it is a
 * MUL read only there (a fused product, counted in *products), else
 * (term, -1). 0 if one of its values may not be fused (see child_ok). */
static int take_term(graph *g, int32_t term, int32_t reader, int32_t top, int32_t gen, int32_t *wx,
                     int32_t *products) {
    if (!fused_mul(g, term)) {
        wx[0] = term;
        wx[1] = -1;
        return child_ok(g, term, reader, top, gen);
    }
    wx[0] = kid(g, term, 0);
    wx[1] = kid(g, term, 1);
    (*products)++;
    return child_ok(g, wx[0], term, top, gen) && (wx[1] == wx[0] || child_ok(g, wx[1], term, top, gen));
}

/* The chain topped by ADD slot `top`, written to t (base, then (w, x) per
 * term, first term first); its term count, or 0 if it is not to be fused. */
static int32_t chain_at(graph *g, int32_t top, int32_t *t, int32_t gen) {
    int32_t n = 0, cur = top, products = 0;
    while (1) {   /* count the terms: down the first children */
        n++;
        if (!inner_add(g, kid(g, cur, 0))) break;
        cur = kid(g, cur, 0);
    }
    int32_t base = kid(g, cur, 0);
    if (!child_ok(g, base, cur, top, gen)) return 0;
    t[0] = base;
    cur = top;
    for (int32_t i = n - 1; i >= 0; i--, cur = kid(g, cur, 0))
        if (!take_term(g, kid(g, cur, 1), cur, top, gen, t + 1 + 2 * i, &products)) return 0;
    return n >= 2 || products ? n : 0;
}

/* The SUM node at `top` as a chain: its first child the base, each other
 * child a term (fused as a product if it is a MUL read only here). Its
 * term count, or 0 if it is not to be fused (no product to fuse). */
static int32_t sum_chain_at(graph *g, int32_t top, int32_t *t, int32_t gen) {
    const int32_t *k = pg_kids_of(&g->slots[top]);
    int32_t n = pg_nkids_of(&g->slots[top]) - 1, products = 0;
    if (n < 1 || !child_ok(g, k[0], top, top, gen)) return 0;
    t[0] = k[0];
    for (int32_t i = 0; i < n; i++)
        if (!take_term(g, k[1 + i], top, top, gen, t + 1 + 2 * i, &products)) return 0;
    return products ? n : 0;
}

/* The ADD slots that top a chain: not the inner ADD of a longer one; and SUMs. */
static int is_top(const graph *g, int32_t s) {
    if (is_op(g, s, PG_SUM)) return 1;
    if (!is_op(g, s, PG_ADD)) return 0;
    if (!inner_add(g, s)) return 1;
    int32_t reader = g->cons[g->first[s]];
    return !(is_op(g, reader, PG_ADD) && kid(g, reader, 0) == s);
}

static void absorb(const graph *g, int32_t top, int32_t n, char *absorbed) {
    if (is_op(g, top, PG_SUM)) {   /* its fused products */
        for (int32_t i = 1; i <= n; i++)
            if (fused_mul(g, kid(g, top, i))) absorbed[kid(g, top, i)] = 1;
        return;
    }
    int32_t cur = top;
    for (int32_t i = 0; i < n; i++, cur = kid(g, cur, 0)) {
        if (cur != top) absorbed[cur] = 1;
        if (fused_mul(g, kid(g, cur, 1))) absorbed[kid(g, cur, 1)] = 1;
    }
}

static int emit(graph *g, pg_instr *code, int32_t *ncode, int32_t *t, char *absorbed) {
    int32_t *chain_of = malloc((size_t)g->nslots * sizeof(int32_t)), *next = t, gen = 0;
    if (!chain_of) return PG_ENOMEM;
    for (int32_t s = g->nleaves; s < g->nslots; s++) {
        if ((s - g->nleaves) % PG_CANCEL_EVERY == PG_CANCEL_EVERY - 1 && pg_cancelled()) {   /* Ctrl-C */
            free(chain_of);
            return PG_EINTR;
        }
        chain_of[s] = 0;
        if (!is_top(g, s)) continue;
        int32_t n = is_op(g, s, PG_SUM) ? sum_chain_at(g, s, next, ++gen) : chain_at(g, s, next, ++gen);
        if (!n) continue;
        chain_of[s] = n;
        absorb(g, s, n, absorbed);
        next += 1 + 2 * n;
    }
    next = t;
    *ncode = 0;
    for (int32_t s = g->nleaves; s < g->nslots; s++) {
        if (absorbed[s]) continue;
        pg_instr *in = &code[(*ncode)++];
        *in = (pg_instr){0};
        in->kind = chain_of[s] ? PG_I_CHAIN : PG_I_OP;
        in->layer = -1;
        in->slot = s;
        in->nterms = chain_of[s];
        in->t = chain_of[s] ? next : NULL;
        in->sum = chain_of[s] && is_op(g, s, PG_SUM);
        next += chain_of[s] ? 1 + 2 * chain_of[s] : 0;
    }
    free(chain_of);
    return PG_OK;
}

int pg_fuse(const pg_node *slots, int32_t nleaves, int32_t nslots, const char *keep,
            pg_instr **code, int32_t *ncode, int32_t **terms) {
    graph g = {slots, nleaves, nslots, keep, NULL, NULL, NULL};
    int32_t nops = nslots - nleaves;
    /* An ADD chain of n terms takes 1 + 2n ints and has n ADDs: 3 ints per
     * op; a SUM chain 1 + 2n for its n + 1 children: 2 per child. */
    int64_t nterms = (int64_t)nops * 3 + 1;
    for (int32_t s = nleaves; s < nslots; s++)
        if (slots[s].op == PG_SUM) nterms += 2 * (int64_t)pg_nkids_of(&slots[s]);
    *code = malloc(((size_t)nops + 1) * sizeof(pg_instr));
    *terms = malloc((size_t)nterms * sizeof(int32_t));
    g.mark = calloc((size_t)nslots + 1, sizeof(int32_t));
    char *absorbed = calloc((size_t)nslots + 1, 1);
    int st = *code && *terms && g.mark && absorbed ? index_consumers(&g) : PG_ENOMEM;
    if (st == PG_OK && pg_cancelled()) st = PG_EINTR;
    if (st == PG_OK) st = emit(&g, *code, ncode, *terms, absorbed);
    free(g.first);
    free(g.cons);
    free(g.mark);
    free(absorbed);
    if (st != PG_OK) {
        free(*code);
        free(*terms);
        *code = NULL;
        *terms = NULL;
    }
    return st;
}
