/*
 * rows.c - row groups: a linear layer's chains run as one dense kernel for
 * a single row (see pg_rows in program.h).
 *
 * `[sum(wi * xi for wi, xi in zip(wo, x)) for wo in w]` fuses into one
 * chain per neuron, whose products all read x[j] at term j; attention's
 * dot products share the query the same way. Chain by chain, each sum
 * waits on its previous term's addition; a group runs several chains per
 * pass instead, so their additions overlap. Every sum still adds its terms
 * in its own left-to-right order, and every slot's grad receives its
 * contributions in the order the chains' steps gave them (see
 * pg_rows_backward), so the bits are the chains' bits. A group whose
 * weights are params only it reads runs on a matrix of them (rowmats.c).
 */
#include <stdlib.h> /* malloc, calloc, realloc, free */
#include "program.h"

// ---------------------------------------------------------------------------
// finding the groups
//
// The topological order interleaves a layer's chains with other nodes, so
// a group gathers chains from anywhere after its first one (its head) and
// runs them all at the head's place, forward and backward. That gives the
// chains' own bits when, for each member c:
//  - c reads only slots before the head (they are computed by then);
//  - no instruction between the head and c, other than a member, reads a
//    slot c's step adds into: in the reverse sweep such a reader's step
//    came before c's step and still does (the group's runs at the head);
//  - c's own factors are new to the group and its base is no factor (its
//    own neither: head_ok holds the head to the same), so only the shared
//    slots (and repeated bases) take additions from several members, which
//    the kernel gives in the members' order.
// c's own grad is complete at c's place (its readers come after c), and
// nothing touches it between there and the head.

enum { FREE = 0, SHARED = 1, OTHER = 2, BASE = 3, MEMBER = -2 };

/* Who reads each slot: readers[first[s] .. first[s + 1]), instruction indices ascending. */
typedef struct {
    int32_t *first, *readers;
} reader_index;

/* The slots instruction `in` reads, into *k (n of them); returns n. */
static int32_t reads_of(const pg_program *p, const pg_instr *in, const int32_t **k, int32_t pair[2]) {
    if (in->kind == PG_I_CHAIN) { *k = in->t; return 1 + 2 * in->nterms; }
    if (in->kind == PG_I_GUARD) {
        pair[0] = in->slot;
        pair[1] = in->b;
        *k = pair;
        return 2;
    }
    *k = pg_kids_of(&p->slots[in->slot]);
    return pg_nkids_of(&p->slots[in->slot]);
}

static int index_readers(const pg_program *p, reader_index *r) {
    int64_t edges = 0;
    int32_t pair[2], *fill = NULL;
    const int32_t *k;
    r->first = calloc((size_t)p->nslots + 2, sizeof(int32_t));
    if (!r->first) return PG_ENOMEM;
    for (int32_t i = 0; i < p->ncode; i++)
        for (int32_t j = 0, n = reads_of(p, &p->code[i], &k, pair); j < n; j++)
            if (k[j] >= 0) { r->first[k[j] + 1]++; edges++; }
    for (int32_t s = 0; s < p->nslots; s++) r->first[s + 1] += r->first[s];
    r->readers = malloc((size_t)(edges + 1) * sizeof(int32_t));
    fill = malloc(((size_t)p->nslots + 1) * sizeof(int32_t));
    if (!r->readers || !fill) { free(fill); return PG_ENOMEM; }
    for (int32_t s = 0; s < p->nslots; s++) fill[s] = r->first[s];
    for (int32_t i = 0; i < p->ncode; i++)
        for (int32_t j = 0, n = reads_of(p, &p->code[i], &k, pair); j < n; j++)
            if (k[j] >= 0) r->readers[fill[k[j]]++] = i;
    free(fill);
    return PG_OK;
}

/* Does an instruction in (lo, hi), other than a member, read slot y? */
static int read_between(const pg_program *p, const reader_index *r, int32_t y, int32_t lo, int32_t hi) {
    int32_t a = r->first[y], b = r->first[y + 1];
    while (a < b) {   /* the first reader > lo */
        int32_t mid = a + (b - a) / 2;
        if (r->readers[mid] <= lo) a = mid + 1;
        else b = mid;
    }
    for (; a < r->first[y + 1] && r->readers[a] < hi; a++)
        if (p->code[r->readers[a]].rows != MEMBER) return 1;
    return 0;
}

/* A chain's leading products: its terms before the first plain one. */
static int32_t products(const pg_instr *in) {
    int32_t j = 0;
    while (j < in->nterms && in->t[2 + 2 * j] >= 0) j++;
    return j;
}

/* A chain a group can hold: an ADD chain of products, then maybe plain
 * terms (a residual added to a layer's output joins its chain). */
static int groupable(const pg_instr *in) {
    if (in->kind != PG_I_CHAIN || in->sum || in->rows != -1 || in->side) return 0;   /* (backward skips a side) */
    int32_t np = products(in);
    if (np < 1) return 0;
    for (int32_t j = np; j < in->nterms; j++)
        if (in->t[2 + 2 * j] >= 0) return 0;
    return 1;
}

/* The slot chain `in` reads at term j: its factor on side s, or the plain term. */
static int32_t factor(const pg_instr *in, int32_t j, int s) {
    return in->t[2 + 2 * j] < 0 ? in->t[1 + 2 * j] : in->t[1 + 2 * j + s];
}

/* Do chains a and b have the same terms, reading the same factor on side
 * s of every product? */
static int same_side(const pg_instr *a, const pg_instr *b, int s) {
    int32_t np = products(a);
    if (a->nterms != b->nterms || products(b) != np) return 0;
    for (int32_t j = 0; j < np; j++)
        if (a->t[1 + 2 * j + s] != b->t[1 + 2 * j + s]) return 0;
    return 1;
}

static void mark_chain(const pg_instr *in, int s, char *mark, int on) {
    mark[in->t[0]] = on ? BASE : FREE;
    for (int32_t j = 0, np = products(in); j < in->nterms; j++) {
        if (j < np) mark[in->t[1 + 2 * j + s]] = on ? SHARED : FREE;
        mark[factor(in, j, !s)] = on ? OTHER : FREE;
    }
}

/* One group being gathered: its head, shared side, and the place up to
 * which no non-member reads the shared slots. */
typedef struct {
    int32_t head, s, checked, k;
    char *mark;
    const reader_index *r;
} gather;

/* May chain code[c] join (see the top of this part)? */
static int joins(const pg_program *p, gather *g, int32_t c) {
    const pg_instr *in = &p->code[c], *head = &p->code[g->head];
    int s = g->s;
    int32_t top = head->slot;
    if (!groupable(in) || !same_side(head, in, s)) return 0;
    int32_t base = in->t[0];
    if (base >= top || (g->mark[base] != FREE && g->mark[base] != BASE)) return 0;
    if (read_between(p, g->r, base, g->head, c)) return 0;
    for (int32_t j = 0, np = products(in); j < in->nterms; j++) {
        int32_t o = factor(in, j, !s);
        if (o >= top || o == base || g->mark[o] != FREE || read_between(p, g->r, o, g->head, c)) return 0;
        if (j < np && read_between(p, g->r, in->t[1 + 2 * j + s], g->checked, c)) return 0;
    }
    return 1;
}

/* The head's own slots keep to their roles, as joins holds members to:
 * none of its own factors is a shared factor or its base, and its base is
 * no shared factor (the kernel adds into each role in a loop of its own,
 * so a slot in two roles would get its additions out of order, or lost).
 * Uses mark (all FREE) and leaves it so. */
static int head_ok(const pg_instr *in, int s, char *mark) {
    int32_t np = products(in), base = in->t[0];
    int ok = 1;
    for (int32_t j = 0; j < np; j++) mark[in->t[1 + 2 * j + s]] = SHARED;
    if (mark[base] == SHARED) ok = 0;
    for (int32_t j = 0; j < in->nterms && ok; j++) {
        int32_t o = factor(in, j, !s);
        if (mark[o] == SHARED || o == base) ok = 0;
    }
    for (int32_t j = 0; j < np; j++) mark[in->t[1 + 2 * j + s]] = FREE;
    return ok;
}

/* Gather the group headed by code[i] on shared side s: its members are
 * marked MEMBER (in code[].rows); returns how many. The candidates are the
 * later readers of the head's first shared factor, in the head's region
 * (the root's graph, or the guards' sides after it). */
static int32_t gather_group(pg_program *p, gather *g) {
    const pg_instr *head = &p->code[g->head];
    int32_t y = head->t[1 + g->s], end = g->head < p->nback ? p->nback : p->ncode;
    g->checked = g->head;
    g->k = 0;
    if (!head_ok(head, g->s, g->mark)) return 0;
    g->k = 1;
    mark_chain(head, g->s, g->mark, 1);
    p->code[g->head].rows = MEMBER;
    for (int32_t a = g->r->first[y]; a < g->r->first[y + 1]; a++) {
        int32_t c = g->r->readers[a];
        if (c <= g->checked || c >= end || !joins(p, g, c)) continue;
        mark_chain(&p->code[c], g->s, g->mark, 1);
        p->code[c].rows = MEMBER;
        g->checked = c;
        g->k++;
    }
    return g->k;
}

/* Unmark the members of the group being gathered, naming them `id`
 * (-1: no group) and writing them into out (if not NULL). */
static void settle(pg_program *p, gather *g, int32_t id, int32_t *out) {
    for (int32_t c = g->head, n = 0; n < g->k; c++) {
        if (p->code[c].rows != MEMBER) continue;
        mark_chain(&p->code[c], g->s, g->mark, 0);
        p->code[c].rows = id;
        if (out) out[n] = c;
        n++;
    }
}

static void fill(pg_rows *g, const pg_instr *code, const int32_t *members, int s, int32_t *ints) {
    const pg_instr *head = &code[g->first];
    g->shared = ints;
    g->other = ints + g->n;
    g->base = g->other + (int64_t)g->n * g->k;
    g->out = g->base + g->k;
    for (int32_t j = 0; j < g->n; j++) g->shared[j] = j < g->np ? head->t[1 + 2 * j + s] : -1;
    for (int32_t c = 0; c < g->k; c++) {
        const pg_instr *in = &code[members[c]];
        for (int32_t j = 0; j < g->n; j++) g->other[(int64_t)j * g->k + c] = factor(in, j, !s);
        g->base[c] = in->t[0];
        g->out[c] = in->slot;
    }
}

/* Room for one more group in p->rows (cap of them allocated). */
static int grow(pg_program *p, int32_t *cap) {
    if (p->nrowgroups < *cap) return PG_OK;
    int32_t n = *cap ? 2 * *cap : 16;
    pg_rows *rows = realloc(p->rows, (size_t)n * sizeof(pg_rows));
    if (!rows) return PG_ENOMEM;
    p->rows = rows;
    *cap = n;
    return PG_OK;
}

/* Each group's slot lists get their own block (rows keep pointers into it). */
static int add_group(pg_program *p, gather *g, int32_t *cap, int32_t *members) {
    const pg_instr *head = &p->code[g->head];
    int64_t nints = (int64_t)head->nterms * (g->k + 1) + 2 * (int64_t)g->k;
    int32_t *ints = malloc((size_t)nints * sizeof(int32_t));
    double *x = head->nterms > p->row_n ? malloc((size_t)head->nterms * sizeof(double)) : NULL;
    if (!ints || grow(p, cap) != PG_OK || (head->nterms > p->row_n && !x)) {
        free(ints);
        free(x);
        return PG_ENOMEM;
    }
    if (x) {
        free(p->row_x);
        p->row_x = x;
        p->row_n = head->nterms;
    }
    settle(p, g, p->nrowgroups, members);
    pg_rows *rg = &p->rows[p->nrowgroups++];
    *rg = (pg_rows){g->head, g->k, head->nterms, products(head), NULL, NULL, NULL, NULL, -1, NULL};
    fill(rg, p->code, members, g->s, ints);
    return PG_OK;
}

/* Groups of two chains or more. A program without them (or without the
 * memory for them) runs chain by chain. */
void pg_rows_find(pg_program *p) {
    for (int32_t i = 0; i < p->ncode; i++) p->code[i].rows = -1;
    reader_index r = {NULL, NULL};
    char *mark = calloc((size_t)p->nslots + 1, 1);
    int32_t *members = malloc(((size_t)p->ncode + 1) * sizeof(int32_t)), cap = 0;
    int st = mark && members ? index_readers(p, &r) : PG_ENOMEM;
    for (int32_t i = 0; i < p->ncode && st == PG_OK; i++) {
        for (int s = 1; s >= 0 && groupable(&p->code[i]); s--) {
            gather g = {i, s, i, 1, mark, &r};
            if (gather_group(p, &g) < 2) {
                settle(p, &g, -1, NULL);
                continue;
            }
            st = add_group(p, &g, &cap, members);
            if (st != PG_OK) settle(p, &g, -1, NULL);
        }
    }
    if (st == PG_OK && p->nrowgroups) pg_rowmats_find(p, r.first);
    free(r.first);
    free(r.readers);
    free(mark);
    free(members);
    if (st == PG_OK) return;
    pg_rows_free(p);
    for (int32_t i = 0; i < p->ncode; i++) p->code[i].rows = -1;
}

void pg_rows_free(pg_program *p) {
    pg_rowmats_free(p);
    for (int32_t i = 0; i < p->nrowgroups; i++) free(p->rows[i].shared);
    free(p->rows);
    free(p->row_x);
    p->rows = NULL;
    p->row_x = NULL;
    p->row_n = 0;
    p->nrowgroups = 0;
}

// ---------------------------------------------------------------------------
// running one row

/* A fused chain's value with its sum reordered (exact == 0): four partial
 * sums, so four additions are in flight instead of one. */
double pg_rows_chain_fast(const pg_node *v, const pg_instr *in) {
    const int32_t *t = in->t + 1;
    double acc[4] = {v[in->t[0]].data, 0.0, 0.0, 0.0};
    int32_t j = 0;
    for (; j + 4 <= in->nterms; j += 4, t += 8)
        for (int b = 0; b < 4; b++)
            acc[b] += t[2 * b + 1] < 0 ? v[t[2 * b]].data : v[t[2 * b]].data * v[t[2 * b + 1]].data;
    for (; j < in->nterms; j++, t += 2) acc[0] += t[1] < 0 ? v[t[0]].data : v[t[0]].data * v[t[1]].data;
    return (acc[0] + acc[1]) + (acc[2] + acc[3]);
}

/* Chains [c0, c0 + B) forward, each acc = base, then acc + other * x[j]
 * term by term, as chain_value does (a product rounds the same either way
 * round). B is a constant where it is inlined, so acc lives in registers. */
static inline __attribute__((always_inline)) void forward_block(const pg_rows *g, pg_node *v, const double *x,
                                                                int32_t c0, int B) {
    double acc[8];
    for (int b = 0; b < B; b++) acc[b] = v[g->base[c0 + b]].data;
    const int32_t *o = g->other + c0;
    for (int32_t j = 0; j < g->np; j++, o += g->k) {
        double xj = x[j];
        for (int b = 0; b < B; b++) acc[b] = acc[b] + v[o[b]].data * xj;
    }
    for (int32_t j = g->np; j < g->n; j++, o += g->k)
        for (int b = 0; b < B; b++) acc[b] = acc[b] + v[o[b]].data;
    for (int b = 0; b < B; b++) v[g->out[c0 + b]].data = acc[b];
}

void pg_rows_forward(const pg_program *p, const pg_rows *g, pg_node *v) {
    if (g->matrix >= 0) {
        pg_rowmat_forward(p, g, v);
        return;
    }
    double *x = p->row_x;
    for (int32_t j = 0; j < g->np; j++) x[j] = v[g->shared[j]].data;
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
    for (int32_t j = g->n - 1; j >= g->np; j--) {   /* plain terms: an ADD's grad */
        const int32_t *o = g->other + (int64_t)j * g->k + c0;
        for (int b = B - 1; b >= 0; b--) v[o[b]].grad += j == g->n - 1 ? gt[b] : gp[b];
    }
    for (int32_t j = g->np - 1; j >= 0; j--) {
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

void pg_rows_backward(const pg_program *p, const pg_rows *g, pg_node *v) {
    if (g->matrix >= 0) {
        pg_rowmat_backward(p, g, v);
        return;
    }
    int32_t c = g->k;
    for (; c % 4; c--) backward_block(g, v, c - 1, 1);
    for (; c > 0; c -= 4) backward_block(g, v, c - 4, 4);
}
