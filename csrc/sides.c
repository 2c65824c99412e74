/*
 * sides.c - users' ops in a compiled program: where their sides go.
 *
 * A user's op in microgpt's form whose data and local gradients are Values
 * (recorded by a trace, given to pg_compile_custom) is recomputed from
 * them: data and local gradients are the op's "sides", computed before it
 * and never differentiated. Backward must still visit the graph's own
 * nodes in the sort's order, as eager does (the order decides in which
 * order a node's grad receives its additions, so its bits), so the graph's
 * nodes keep their places: each op's sides go in just before it. A side
 * that needs a node of the graph the sort places after the op cannot go
 * there; that graph is refused (PG_ECUSTOM).
 */
#include <stdlib.h> /* malloc, calloc, free */
#include "program.h"

int pg_customs_init(pg_customs *c, int32_t n, const int32_t *ints, int64_t nints) {
    c->at = NULL;
    c->ints = ints;
    if (n < 0 || nints < 0 || (n > 0 && !ints)) return PG_EINVAL;
    if (n == 0) return PG_OK;
    int64_t pool = pg_pool_count();
    c->at = calloc((size_t)pool + 1, sizeof(int32_t));
    if (!c->at) return PG_ENOMEM;
    int64_t pos = 0;
    for (int32_t j = 0; j < n; j++) {
        if (pos + 2 > nints || !pg_valid(ints[pos]) || pg_nodes[ints[pos]].op != PG_CUSTOM) return PG_EINVAL;
        int32_t nk = pg_nkids_of(&pg_nodes[ints[pos]]);
        if (pos + 2 + nk > nints || !pg_all_valid(1 + nk, ints + pos + 1) || c->at[ints[pos]]) return PG_EINVAL;
        if (pos >= INT32_MAX) return PG_ENOMEM;
        c->at[ints[pos]] = (int32_t)pos + 1;
        pos += 2 + nk;
    }
    return pos == nints ? PG_OK : PG_EINVAL;
}

void pg_customs_free(pg_customs *c) {
    free(c->at);
    c->at = NULL;
}

const int32_t *pg_customs_of(const pg_customs *c, int32_t id) {
    return c && c->at && c->at[id] ? c->ints + c->at[id] - 1 : NULL;
}

/* The i-th node u needs before it: its children, then (a recorded user's
 * op) its data and local gradients; -1 past the last. */
static int32_t needed(const pg_customs *c, int32_t u, int32_t i) {
    const pg_node *n = &pg_nodes[u];
    int32_t nk = pg_nkids_of(n);
    if (i < nk) return pg_kids_of(n)[i];
    const int32_t *e = pg_customs_of(c, u);
    return e && i < 2 * nk + 1 ? e[1 + i - nk] : -1;
}

enum { IN_ROOT = 1, DONE = 2, ON_STACK = 4 };

typedef struct {
    const pg_customs *c;
    char *state;            /* by node id: IN_ROOT | DONE | ON_STACK */
    int32_t *stack, *next;  /* the search: nodes, and the next of what each needs */
    int32_t *out;           /* the order */
    char *real;             /* by place in out: a node of the root's graph */
    int64_t nout;
} search;

/* Put `start` in the order after whatever it needs that is not there yet. */
static int place(search *s, int32_t start) {
    int64_t top = 0;
    s->stack[0] = start;
    s->next[0] = 0;
    s->state[start] |= ON_STACK;
    while (top >= 0) {
        int32_t u = s->stack[top], k = needed(s->c, u, s->next[top]++);
        if (k < 0) {   /* all it needs is placed: place it */
            if (pg_is_custom(pg_nodes[u].op) && !pg_customs_of(s->c, u)) return PG_ECUSTOM;
            s->real[s->nout] = (s->state[u] & IN_ROOT) != 0;
            s->out[s->nout++] = u;
            s->state[u] = (char)((s->state[u] & ~ON_STACK) | DONE);
            top--;
            continue;
        }
        if (pg_nodes[k].op == PG_LEAF || (s->state[k] & DONE)) continue;
        if (s->state[k] & ON_STACK) return PG_EINVAL;   /* a cycle: not a graph a trace makes */
        /* The graph's own nodes that start needs come before it in the sort,
         * so they are placed: this one would move ahead of its place. */
        if (s->state[k] & IN_ROOT) return PG_ECUSTOM;
        s->state[k] |= ON_STACK;
        s->stack[++top] = k;
        s->next[top] = 0;
    }
    return PG_OK;
}

int pg_order_sides(const pg_customs *c, const int32_t *order, int64_t nops, int64_t nroot,
                   int32_t **out, char **real, int64_t *nout) {
    int64_t pool = pg_pool_count();
    search s = {c, calloc((size_t)pool + 1, 1), malloc(((size_t)pool + 1) * sizeof(int32_t)),
                malloc(((size_t)pool + 1) * sizeof(int32_t)), malloc(((size_t)pool + 1) * sizeof(int32_t)),
                malloc((size_t)pool + 1), 0};
    int st = s.state && s.stack && s.next && s.out && s.real ? PG_OK : PG_ENOMEM;
    for (int64_t j = 0; j < nroot && st == PG_OK; j++) s.state[order[j]] = IN_ROOT;
    for (int64_t j = 0; j < nops && st == PG_OK; j++) {
        if (s.state[order[j]] & DONE) continue;
        s.state[order[j]] &= ~IN_ROOT;   /* its own turn: not ahead of it */
        st = place(&s, order[j]);
        if (st == PG_OK && j < nroot) s.real[s.nout - 1] = 1;
    }
    free(s.state);
    free(s.stack);
    free(s.next);
    if (st != PG_OK) {
        free(s.out);
        free(s.real);
        return st;
    }
    *out = s.out;
    *real = s.real;
    *nout = s.nout;
    return PG_OK;
}
