/*
 * program.c - compiled graphs: flatten once, replay on many rows.
 *
 * A program is its own array of pg_node slots: the leaves first (inputs,
 * then params, then constants), then every op node in topological order,
 * with children renamed to slot indices. So the forward rule (pg_eval) and
 * the local derivatives (pg_local_step) of ops.c run on it unchanged, and a
 * replay gives the eager engine's numbers. Sum chains run fused (fuse.c),
 * with the same numbers. No Python runs per row or per node, and the GIL
 * is held throughout (see pygrad.h).
 */
#include <stdlib.h> /* malloc, calloc, free */
#include "program.h"

// ---------------------------------------------------------------------------
// building

void pg_program_free(pg_program *p) {
    if (!p) return;
    if (p->slots) {
        for (int32_t s = p->nleaves; s < p->nslots; s++)
            if (pg_is_nary(p->slots[s].op)) free(p->slots[s].kids.many);
        for (int32_t s = 0; s < p->nleaves; s++) pg_decref(p->leaf_ids[s]);
    }
    free(p->slots);
    free(p->leaf_ids);
    free(p->code);
    free(p->terms);
    free(p->live_consts);
    free(p->runs);
    free(p->lanes);
    free(p->glanes);
    pg_layers_free(p);
    pg_rows_free(p);
    free(p);
}

int64_t pg_program_size(const pg_program *p) { return p ? p->nops : -1; }

/* Count the references each constant slot gets from the program's instructions. */
static void count_constant_reads(const pg_program *p, int32_t first, int64_t *edges) {
    for (int32_t i = 0; i < p->ncode; i++) {
        const pg_instr *in = &p->code[i];
        if (in->kind == PG_I_GUARD) continue;
        const int32_t *k = in->kind == PG_I_CHAIN ? in->t : pg_kids_of(&p->slots[in->slot]);
        int32_t nk = in->kind == PG_I_CHAIN ? 1 + 2 * in->nterms : pg_nkids_of(&p->slots[in->slot]);
        for (int32_t j = 0; j < nk; j++)
            if (k[j] >= first && k[j] < p->nleaves) edges[k[j] - first]++;
    }
}

int64_t pg_program_held_constants(const pg_program *p, int64_t max, int32_t *ids) {
    if (!p || max < 0 || (max > 0 && !ids)) return -PG_EINVAL;
    int32_t first = p->ninputs + p->nparams;
    int64_t *edges = calloc((size_t)(p->nleaves - first) + 1, sizeof(int64_t)), found = 0;
    if (!edges) return -PG_ENOMEM;
    count_constant_reads(p, first, edges);
    /* A constant's references: its parents in the graph, the program's own, and any others. */
    for (int32_t s = first; s < p->nleaves; s++) {
        if ((int64_t)pg_nodes[p->leaf_ids[s]].refs <= 1 + edges[s - first]) continue;
        if (found < max) ids[found] = p->leaf_ids[s];
        found++;
    }
    free(edges);
    return found;
}

/* Node id -> slot, for the nodes of one graph. Its cost follows the graph,
 * not the pool, so compiling a small graph stays cheap after a big one has
 * come and gone: an array indexed by id while the pool is within a few
 * times the graph's size (the common case, and the fastest), else an
 * open-addressing table sized by the graph. */
typedef struct {
    int32_t *keys, *vals;   /* table: keys[i] == -1 is empty; array: keys == NULL */
    uint64_t mask;
} slot_map;

static int map_init(slot_map *m, int64_t n) {
    int64_t pool = pg_pool_count();
    if (pool <= 4 * n) {
        m->keys = NULL;
        m->vals = malloc((size_t)(pool + 1) * sizeof(int32_t));
        if (!m->vals) return PG_ENOMEM;
        for (int64_t i = 0; i < pool; i++) m->vals[i] = -1;
        return PG_OK;
    }
    uint64_t cap = 16;
    while (cap < (uint64_t)n * 2) cap <<= 1;
    m->mask = cap - 1;
    m->keys = malloc(cap * sizeof(int32_t));
    m->vals = malloc(cap * sizeof(int32_t));
    if (!m->keys || !m->vals) return PG_ENOMEM;
    for (uint64_t i = 0; i < cap; i++) m->keys[i] = -1;
    return PG_OK;
}

static void map_free(slot_map *m) {
    free(m->keys);
    free(m->vals);
}

/* The value cell for `id`, created (holding -1) if absent. The table never
 * fills: it has twice as many cells as the graph has nodes. */
static int32_t *map_at(slot_map *m, int32_t id) {
    if (!m->keys) return &m->vals[id];
    uint64_t i = ((uint64_t)(uint32_t)id * 0x9E3779B97F4A7C15u >> 17) & m->mask;
    while (m->keys[i] != id && m->keys[i] != -1) i = (i + 1) & m->mask;
    if (m->keys[i] == -1) {
        m->keys[i] = id;
        m->vals[i] = -1;
    }
    return &m->vals[i];
}

/* Give leaf `id` the next leaf slot unless it has one. */
static int add_leaf(pg_program *p, slot_map *slot_of, int32_t id, int must_be_new) {
    int32_t *slot = map_at(slot_of, id);
    if (*slot >= 0) return must_be_new ? PG_EINVAL : PG_OK;
    if (pg_nodes[id].op != PG_LEAF) return PG_EINVAL;
    int32_t s = p->nleaves++;
    *slot = s;
    p->leaf_ids[s] = id;
    p->slots[s] = pg_nodes[id];
    p->slots[s].grad = 0.0;
    pg_nodes[id].refs++;   /* released by pg_program_free */
    return PG_OK;
}

/* Copy op node `id` into slot s, renaming its children. A user's op a
 * trace recorded (sides: its entry) gets its data and local gradients as
 * children after its own (see PG_I_CUSTOM). */
static int add_op(pg_program *p, slot_map *slot_of, int32_t id, int32_t s, const int32_t *sides) {
    const pg_node *n = &pg_nodes[id];
    pg_node *out = &p->slots[s];
    *out = *n;
    out->grad = 0.0;
    const int32_t *k = pg_kids_of(n);
    int32_t nk = pg_nkids_of(n), all = sides ? 2 * nk + 1 : nk;
    int32_t *dst = out->kids.pair;
    if (pg_is_nary(n->op)) {
        out->kids.many = malloc((size_t)(all + 1) * sizeof(int32_t));
        if (!out->kids.many) { out->op = PG_LEAF; return PG_ENOMEM; }
        out->kids.many[0] = all;
        dst = out->kids.many + 1;
    }
    for (int32_t i = 0; i < nk; i++) dst[i] = *map_at(slot_of, k[i]);
    for (int32_t i = nk; i < all; i++) dst[i] = *map_at(slot_of, sides[1 + i - nk]);
    return PG_OK;
}

/* After fusing: users' ops get their kind, and what computes only their
 * sides (real[slot - nleaves] == 0 before the root) is skipped by backward. */
static void mark_customs(pg_program *p, const char *real) {
    for (int32_t i = 0; i < p->ncode; i++) {
        pg_instr *in = &p->code[i];
        if (p->slots[in->slot].op == PG_CUSTOM) in->kind = PG_I_CUSTOM;
        in->side = in->slot <= p->root && !real[in->slot - p->nleaves];
    }
}

/* Drop the slots of nodes absorbed into fused chains: the op instructions'
 * slots become nleaves, nleaves + 1, ... in order (so the values a run
 * touches sit close together), and every reference is renamed. Guards
 * (after the op instructions) only read slots. */
static int compact(pg_program *p) {
    int32_t *to = malloc((size_t)p->nslots * sizeof(int32_t)), nop = p->ncode - p->nguards;
    if (!to) return PG_ENOMEM;
    for (int32_t s = 0; s < p->nslots; s++) to[s] = s < p->nleaves ? s : -1;
    for (int32_t i = 0; i < nop; i++) to[p->code[i].slot] = p->nleaves + i;
    for (int32_t i = 0; i < p->ncode; i++) {   /* ascending: never over a slot still to move */
        pg_instr *in = &p->code[i];
        if (in->kind == PG_I_GUARD) {
            in->slot = to[in->slot];
            if (in->b >= 0) in->b = to[in->b];
            continue;
        }
        pg_node *n = &p->slots[p->nleaves + i];
        *n = p->slots[in->slot];
        in->slot = p->nleaves + i;
        if (in->kind == PG_I_CHAIN) {
            for (int32_t j = 0; j < 1 + 2 * in->nterms; j++)
                if (in->t[j] >= 0) in->t[j] = to[in->t[j]];
            continue;
        }
        int32_t *k = pg_is_nary(n->op) ? n->kids.many + 1 : n->kids.pair;
        for (int32_t j = 0, nk = pg_nkids_of(n); j < nk; j++) k[j] = to[k[j]];
    }
    p->root = to[p->root];
    p->nslots = p->nleaves + nop;
    free(to);
    return PG_OK;
}

/* Ctrl-C: the build's loops ask the cancel hook every PG_CANCEL_EVERY
 * nodes, as the sort does. A handler it runs may grow the pool, so no
 * pointer into pg_nodes is held across the call. */
static int build_cancelled(int64_t j) { return j % PG_CANCEL_EVERY == PG_CANCEL_EVERY - 1 && pg_cancelled(); }

/* What a caller's guards say: per guard a, b (-1: the number c), cmp, expect. */
typedef struct {
    int32_t n;
    const int32_t *spec;
    const double *c;
} guard_list;

/* The guards, as instructions after the op instructions (slots not yet compacted). */
static int add_guards(pg_program *p, slot_map *slot_of, const guard_list *g) {
    pg_instr *code = realloc(p->code, ((size_t)p->ncode + (size_t)g->n + 1) * sizeof(pg_instr));
    if (!code) return PG_ENOMEM;
    p->code = code;
    for (int32_t i = 0; i < g->n; i++) {
        const int32_t *q = g->spec + 4 * i;
        pg_instr *in = &p->code[p->ncode++];
        *in = (pg_instr){0};
        in->kind = PG_I_GUARD;
        in->layer = -1;
        in->slot = *map_at(slot_of, q[0]);
        in->b = q[1] >= 0 ? *map_at(slot_of, q[1]) : -1;
        in->c = g->c[i];
        in->cmp = q[2];
        in->expect = q[3];
        in->index = i;
    }
    p->nguards = g->n;
    return PG_OK;
}

/* The slots fusion must keep: the root and every guard's sides. */
static char *kept_slots(const pg_program *p, slot_map *slot_of, const guard_list *g) {
    char *keep = calloc((size_t)p->nslots + 1, 1);
    if (!keep) return NULL;
    keep[p->root] = 1;
    for (int32_t i = 0; i < g->n; i++) {
        keep[*map_at(slot_of, g->spec[4 * i])] = 1;
        if (g->spec[4 * i + 1] >= 0) keep[*map_at(slot_of, g->spec[4 * i + 1])] = 1;
    }
    return keep;
}

static int add_leaves(pg_program *p, slot_map *slot_of, int32_t root, int32_t ninputs, const int32_t *inputs,
                      int32_t nparams, const int32_t *params, const int32_t *order, int64_t nops,
                      const guard_list *g, const pg_customs *cu) {
    int st = PG_OK;
    for (int32_t i = 0; i < ninputs && st == PG_OK; i++) st = add_leaf(p, slot_of, inputs[i], 1);
    for (int32_t i = 0; i < nparams && st == PG_OK; i++) st = add_leaf(p, slot_of, params[i], 1);
    for (int64_t j = 0; j < nops && st == PG_OK; j++) {
        if (build_cancelled(j)) return PG_EINTR;
        const pg_node *n = &pg_nodes[order[j]];
        const int32_t *k = pg_kids_of(n), *sides = pg_customs_of(cu, order[j]);
        for (int32_t i = 0, nk = pg_nkids_of(n); i < nk && st == PG_OK; i++)
            if (pg_nodes[k[i]].op == PG_LEAF) st = add_leaf(p, slot_of, k[i], 0);
        for (int32_t i = 1, ns = sides ? 2 + pg_nkids_of(n) : 0; i < ns && st == PG_OK; i++)
            if (pg_nodes[sides[i]].op == PG_LEAF) st = add_leaf(p, slot_of, sides[i], 0);
    }
    if (st == PG_OK && pg_nodes[root].op == PG_LEAF) st = add_leaf(p, slot_of, root, 0);
    for (int32_t i = 0; i < 2 * g->n && st == PG_OK; i++) {
        int32_t id = g->spec[4 * (i / 2) + i % 2];
        if (id >= 0 && pg_nodes[id].op == PG_LEAF) st = add_leaf(p, slot_of, id, 0);
    }
    return st;
}

/* Does the root's value depend on an input or a param? (a program that
 * computes a constant is a trace gone wrong: see compile_fn) */
static int find_depends(const pg_program *p) {
    char *dep = calloc((size_t)p->nslots + 1, 1);
    if (!dep) return 1;   /* unknown: say yes (the check is advice) */
    for (int32_t s = 0; s < p->ninputs + p->nparams; s++) dep[s] = 1;
    for (int32_t s = p->nleaves; s <= p->root; s++) {
        const pg_node *n = &p->slots[s];
        const int32_t *k = pg_kids_of(n);
        for (int32_t i = 0, nk = pg_nkids_of(n); i < nk && !dep[s]; i++) dep[s] = dep[k[i]];
    }
    int d = dep[p->root];
    free(dep);
    return d;
}

/* What a build is given: the order of the op nodes, and the users' ops
 * recorded by a trace with (real) which nodes are the root's graph's. */
typedef struct {
    const int32_t *order;
    int64_t nops;
    const pg_customs *cu;   /* NULL: none */
    const char *real;
} build_order;

static int build(pg_program *p, int32_t root, int32_t ninputs, const int32_t *inputs,
                 int32_t nparams, const int32_t *params, const build_order *b,
                 slot_map *slot_of, const guard_list *g) {
    /* `order` may be scratch that the next sort reuses: nothing here sorts. */
    const int32_t *order = b->order;
    int64_t nops = b->nops;
    int st = add_leaves(p, slot_of, root, ninputs, inputs, nparams, params, order, nops, g, b->cu);
    if (st != PG_OK) return st;
    p->nslots = p->nleaves;
    for (int64_t j = 0; j < nops; j++) {
        if (build_cancelled(j)) return PG_EINTR;
        int32_t s = p->nslots;
        *map_at(slot_of, order[j]) = s;
        st = add_op(p, slot_of, order[j], s, pg_customs_of(b->cu, order[j]));
        p->nslots++;   /* counted even on failure, so free() sees it */
        if (st != PG_OK) return st;
    }
    p->root = *map_at(slot_of, root);
    p->depends = find_depends(p);
    /* The lanes kernels know sums and dots; other n-ary ops go row by row. */
    p->blocks = 1;
    for (int32_t s = p->nleaves; s < p->nslots; s++)
        if (pg_is_nary(p->slots[s].op) && p->slots[s].op != PG_SUM && p->slots[s].op != PG_DOT) p->blocks = 0;
    p->nops = p->nslots - p->nleaves;
    if (pg_cancelled()) return PG_EINTR;   /* before fusing, the last long step */
    char *keep = kept_slots(p, slot_of, g);
    st = keep ? pg_fuse(p->slots, p->nleaves, p->nslots, keep, &p->code, &p->ncode, &p->terms) : PG_ENOMEM;
    free(keep);
    if (st == PG_OK && pg_cancelled()) st = PG_EINTR;
    if (st == PG_OK && b->cu) mark_customs(p, b->real);
    if (st == PG_OK) st = add_guards(p, slot_of, g);
    if (st == PG_OK) st = compact(p);
    if (st == PG_OK && pg_cancelled()) st = PG_EINTR;
    if (st != PG_OK) return st;
    /* The root's graph comes first in `order`, so its instructions do too. */
    p->nback = p->root >= p->nleaves ? p->root - p->nleaves + 1 : 0;
    pg_layers_find(p);
    pg_rows_find(p);
    pg_opruns_find(p);
    p->live_consts = malloc(((size_t)(p->nleaves - p->ninputs - p->nparams) + 1) * sizeof(int32_t));
    for (int32_t s = p->ninputs + p->nparams; p->live_consts && s < p->nleaves; s++) p->live_consts[p->nlive++] = s;
    p->grad_blocks = pg_lanes_grad_ok(p);
    return PG_OK;
}

static int valid_guards(const guard_list *g) {
    if (g->n < 0 || (g->n > 0 && (!g->spec || !g->c))) return 0;
    for (int32_t i = 0; i < g->n; i++) {
        const int32_t *q = g->spec + 4 * i;
        if (!pg_valid(q[0]) || (q[1] != -1 && !pg_valid(q[1]))) return 0;
        if (q[2] < PG_LT || q[2] > PG_GE || (q[3] != 0 && q[3] != 1)) return 0;
    }
    return 1;
}

/* The op nodes a program computes, in order (the root's graph first), or
 * an error; done() gives back what it holds. */
typedef struct {
    build_order b;
    pg_customs cu;
    int32_t *own;   /* the order with users' ops' sides (else the sort's scratch) */
    char *real;
    int sorted;     /* the sort ran: pg_topo_done must follow, once */
} compile_order;

static void order_done(compile_order *o) {
    if (o->sorted) pg_topo_done();
    o->sorted = 0;
    pg_customs_free(&o->cu);
    free(o->own);
    free(o->real);
}

static int find_order(compile_order *o, int32_t root, const guard_list *g, int32_t ncustom) {
    /* The root first, then every guard's sides: the root's graph is a prefix of the order. */
    int32_t *roots = malloc(((size_t)g->n * 2 + 1) * sizeof(int32_t)), nroots = 0;
    if (!roots) return PG_ENOMEM;
    roots[nroots++] = root;
    for (int32_t i = 0; i < 2 * g->n; i++)
        if (g->spec[4 * (i / 2) + i % 2] >= 0) roots[nroots++] = g->spec[4 * (i / 2) + i % 2];
    const int32_t *order;
    int64_t nops = pg_topo_many(nroots, roots, &order);
    o->sorted = 1;
    free(roots);
    if (nops < 0) return (int)-nops;
    o->b.order = order;
    o->b.nops = nops;
    if (ncustom == 0) {
        for (int64_t j = 0; j < nops; j++)
            if (pg_is_custom(pg_nodes[order[j]].op)) return PG_ECUSTOM;   /* no rule to replay */
        return PG_OK;
    }
    int64_t nroot = 0;   /* the root's graph: up to the root, the last of it */
    if (pg_nodes[root].op != PG_LEAF)
        while (order[nroot++] != root) {}
    int st = pg_order_sides(&o->cu, order, nops, nroot, &o->own, &o->real, &o->b.nops);
    o->b.order = o->own;
    o->b.cu = &o->cu;
    o->b.real = o->real;
    return st;
}

int pg_compile_custom(int32_t root, int32_t ninputs, const int32_t *inputs,
                      int32_t nparams, const int32_t *params,
                      int32_t nguards, const int32_t *guards, const double *consts,
                      int32_t ncustom, const int32_t *customs, int64_t ncustom_ints, pg_program **out) {
    if (!out) return PG_EINVAL;
    *out = NULL;
    guard_list g = {nguards, guards, consts};
    if (!pg_valid(root) || ninputs < 0 || nparams < 0 || !valid_guards(&g)) return PG_EINVAL;
    if ((ninputs > 0 && !inputs) || (nparams > 0 && !params)) return PG_EINVAL;
    for (int32_t i = 0; i < ninputs; i++) if (!pg_valid(inputs[i])) return PG_EINVAL;
    for (int32_t i = 0; i < nparams; i++) if (!pg_valid(params[i])) return PG_EINVAL;
    compile_order o = {{NULL, 0, NULL, NULL}, {NULL, NULL}, NULL, NULL, 0};
    int st = pg_customs_init(&o.cu, ncustom, customs, ncustom_ints);
    if (st == PG_OK) st = find_order(&o, root, &g, ncustom);
    if (st != PG_OK) {
        order_done(&o);
        return st;
    }
    int64_t edges = 0, nops = o.b.nops;
    for (int64_t j = 0; j < nops; j++) {
        int64_t nk = pg_nkids_of(&pg_nodes[o.b.order[j]]);
        edges += pg_customs_of(o.b.cu, o.b.order[j]) ? 2 * nk + 1 : nk;
    }
    /* Leaves: at most the inputs, the params, the roots and every child (or side) of every op. */
    int64_t max_slots = ninputs + nparams + 1 + 2 * (int64_t)nguards + edges + nops;
    pg_program *p = max_slots > INT32_MAX ? NULL : calloc(1, sizeof *p);
    slot_map slot_of = {NULL, NULL, 0};
    int map_st = p ? map_init(&slot_of, max_slots) : PG_ENOMEM;
    if (p) {
        p->slots = calloc((size_t)max_slots, sizeof(pg_node));
        p->leaf_ids = malloc((size_t)max_slots * sizeof(int32_t));
        p->ninputs = ninputs;
        p->nparams = nparams;
        p->failed_guard = -1;
        p->exact = 1;
    }
    st = PG_ENOMEM;
    if (p && map_st == PG_OK && p->slots && p->leaf_ids)
        st = build(p, root, ninputs, inputs, nparams, params, &o.b, &slot_of, &g);
    map_free(&slot_of);
    order_done(&o);
    if (st != PG_OK) {
        pg_program_free(p);
        return st;
    }
    *out = p;
    return PG_OK;
}

int pg_compile_guarded(int32_t root, int32_t ninputs, const int32_t *inputs,
                       int32_t nparams, const int32_t *params,
                       int32_t nguards, const int32_t *guards, const double *consts, pg_program **out) {
    return pg_compile_custom(root, ninputs, inputs, nparams, params, nguards, guards, consts, 0, NULL, 0, out);
}

int pg_compile(int32_t root, int32_t ninputs, const int32_t *inputs,
               int32_t nparams, const int32_t *params, pg_program **out) {
    return pg_compile_guarded(root, ninputs, inputs, nparams, params, 0, NULL, NULL, out);
}

int pg_program_depends(const pg_program *p) { return p ? p->depends : -1; }

int32_t pg_program_failed_guard(const pg_program *p) { return p ? p->failed_guard : -PG_EINVAL; }

int pg_program_set_exact(pg_program *p, int exact) {
    if (!p || p->running) return p ? PG_EBUSY : PG_EINVAL;
    p->exact = exact != 0;
    return PG_OK;
}

// ---------------------------------------------------------------------------
// running

/* A fused chain's value: base + w0*x0 + t1 + ..., left to right. */
static double chain_value(const pg_node *v, const pg_instr *in) {
    const int32_t *t = in->t;
    double acc = v[t[0]].data;
    for (int32_t i = 0; i < in->nterms; i++) {
        const int32_t *wx = t + 1 + 2 * i;
        acc = wx[1] < 0 ? acc + v[wx[0]].data : acc + v[wx[0]].data * v[wx[1]].data;
    }
    return acc;
}

/* A fused chain's backward, as its nodes' steps did it: the top's grad g
 * reached each inner node as 0.0 + g (gp); term i's step ran before term
 * i-1's, and the first ADD's step (base, then term 0) last. A product term
 * is a MUL node's step with grad gp; a plain term got its ADD's grad. In a
 * SUM chain every plain child (the base too) got the SUM's grad g. */
static void chain_step(pg_node *v, const pg_instr *in) {
    const int32_t *t = in->t;
    const int32_t last = in->nterms - 1;
    const double g = v[in->slot].grad, gp = 0.0 + g;
    for (int32_t i = last; i >= 0; i--) {
        const int32_t *wx = t + 1 + 2 * i;
        if (i == 0) v[t[0]].grad += last == 0 || in->sum ? g : gp;
        if (wx[1] < 0) {
            v[wx[0]].grad += i == last || in->sum ? g : gp;
        } else {
            double w = v[wx[0]].data, x = v[wx[1]].data;
            v[wx[0]].grad += x * gp;
            v[wx[1]].grad += w * gp;
        }
    }
}

/* A user's op's backward, as eager's (ops.c): child i gets local[i] * g,
 * local[i] being the value of its local gradient's slot this row. */
static void custom_step(pg_node *v, const pg_instr *in) {
    const int32_t *k = pg_kids_of(&v[in->slot]);
    const int32_t n = pg_nkids_of(&v[in->slot]) / 2;
    const double g = v[in->slot].grad;
    for (int32_t i = 0; i < n; i++) v[k[i]].grad += v[k[n + 1 + i]].data * g;
}

/* One row's forward: one case per kind (a layer's instructions are ops
 * here). A program with guards goes on past a failing op: if a guard then
 * fails, the row belongs to another branch, in which eager would not have
 * computed that op, so the guard's failure is what the row reports. */
static int forward_row(pg_program *p) {
    pg_node *v = p->slots;
    int err = PG_OK;
    for (int32_t i = 0; i < p->ncode; i++) {
        const pg_instr *in = &p->code[i];
        int st = PG_OK;
        switch (in->kind) {
        case PG_I_OP:
        case PG_I_LAYER: st = pg_opruns_forward(p, i, &i); i--; break;   /* a run of them (opruns.c) */
        case PG_I_CHAIN:
            if (in->rows < 0) v[in->slot].data = p->exact ? chain_value(v, in) : pg_rows_chain_fast(v, in);
            else if (p->rows[in->rows].first == i) pg_rows_forward(p, &p->rows[in->rows], v);
            break;   /* (the group's other chains ran at its first) */
        case PG_I_GUARD:
            if (!pg_guard_holds(in, v[in->slot].data, in->b >= 0 ? v[in->b].data : in->c)) {
                p->failed_guard = in->index;
                return PG_EGUARD;
            }
            break;
        case PG_I_CUSTOM: {   /* its value is its data's */
            const pg_node *n = &v[in->slot];
            v[in->slot].data = v[pg_kids_of(n)[pg_nkids_of(n) / 2]].data;
            break;
        }
        }
        if (st != PG_OK) {
            if (!p->nguards) return st;
            if (err == PG_OK) err = st;
        }
    }
    return err;
}

/* One row's backward, as eager `(scale * root).backward()` would do it:
 * the root's grad starts at scale, op slots start at 0 for every row, and
 * param slots keep accumulating over the rows (from the params' grads at
 * the start of the run), so each param receives its contributions in the
 * order eager backward calls would add them. An op slot's grad is complete
 * when its step runs and nothing adds to it after, so the step's end sets
 * it back to 0 for the next row (op slots are 0 from compile on). Only the
 * root's instructions run: those after it compute guards' sides. */
static void backward_row(pg_program *p, double scale) {
    pg_node *v = p->slots;
    if (p->root < p->nleaves) v[p->root].grad += scale;
    else v[p->root].grad = scale;
    for (int32_t i = p->nback - 1; i >= 0; i--) {
        const pg_instr *in = &p->code[i];
        if (in->side) continue;   /* (its grad stays 0: nothing adds to it) */
        switch (in->kind) {
        case PG_I_OP:
        case PG_I_LAYER: i = pg_opruns_backward(p, i); continue;   /* a run of them, grads spent */
        case PG_I_CUSTOM: custom_step(v, in); break;
        case PG_I_CHAIN:
            if (in->rows >= 0) {   /* its row group, all at its first chain */
                if (p->rows[in->rows].first == i) pg_rows_backward(p, &p->rows[in->rows], v);
                continue;
            }
            chain_step(v, in);
            break;
        case PG_I_GUARD: break;
        }
        v[in->slot].grad = 0.0;
    }
}

/* Count `slots` slots evaluated; ask the cancel hook every PG_CANCEL_EVERY. */
static int cancelled(int64_t *work, int64_t slots) {
    *work += slots;
    if (*work < PG_CANCEL_EVERY) return 0;
    *work = 0;
    return pg_cancelled();
}

static int forward_rows(pg_program *p, int64_t r0, int64_t r1, const double *batch, double *out,
                        int64_t *bad_row) {
    int64_t work = 0;
    for (int64_t r = r0; r < r1; r++) {
        if (cancelled(&work, p->nslots)) return PG_EINTR;
        for (int32_t i = 0; i < p->ninputs; i++) p->slots[i].data = batch[r * p->ninputs + i];
        int st = forward_row(p);
        if (st != PG_OK) { *bad_row = r; return st; }
        out[r] = p->slots[p->root].data;
    }
    return PG_OK;
}

/* The rows of the lanes block starting at row r: BLOCK, or a tail of at
 * least half a block (its spare lanes cost less than as many rows one by
 * one), else 0: the rest go row by row. */
static int block_rows(int64_t r, int64_t nrows) {
    int64_t left = nrows - r;
    return left >= BLOCK ? BLOCK : left >= BLOCK / 2 ? (int)left : 0;
}

/* The constants' values. A constant that only this program holds (no
 * Python handle, no graph) can never change again: read once more, it
 * leaves the list. (Without the list's memory, every run reads them all.) */
static void load_constants(pg_program *p) {
    if (!p->live_consts) {
        for (int32_t s = p->ninputs + p->nparams; s < p->nleaves; s++) p->slots[s].data = pg_nodes[p->leaf_ids[s]].data;
        return;
    }
    for (int32_t i = 0; i < p->nlive;) {
        int32_t s = p->live_consts[i];
        const pg_node *n = &pg_nodes[p->leaf_ids[s]];
        p->slots[s].data = n->data;
        if (n->refs == 1) p->live_consts[i] = p->live_consts[--p->nlive];
        else i++;
    }
}

/* The state a run starts from, loaded by every run before any row: the
 * params' and constants' values (and, for backward, the params' grads)
 * read live from the pool into the slots, and, when the run goes in lanes,
 * into every lane and the dense layers' matrices. Nothing a run computes
 * may come from an earlier run's state. Returns whether the run uses lanes. */
static int load_state(pg_program *p, int64_t nrows, int backward) {
    int lanes = block_rows(0, nrows) != 0 && (backward ? p->grad_blocks : p->blocks);
    /* A run without lanes leaves the params that row groups' matrices own
     * to them (rowmats.c: read and written in the pool directly). */
    p->mats_direct = !lanes && p->plain_params;
    int32_t n = p->mats_direct ? p->nplain : p->nparams;
    /* One visit per node and slot: a second pass over thousands of params
     * costs a few percent of a one-row run. */
    for (int32_t i = 0; i < n; i++) {
        int32_t s = p->mats_direct ? p->plain_params[i] : p->ninputs + i;
        const pg_node *node = &pg_nodes[p->leaf_ids[s]];
        p->slots[s].data = node->data;
        if (backward) p->slots[s].grad = node->grad;
    }
    load_constants(p);
    pg_rowmats_load(p, backward && !lanes ? 1 + (nrows == 1) : 0);   /* (2: one row, see rowmats.c) */
    if (!lanes) return 0;
    if (!p->lanes) p->lanes = malloc((size_t)p->nslots * BLOCK * sizeof(double));
    if (backward && !p->glanes) p->glanes = malloc((size_t)p->nslots * BLOCK * sizeof(double));
    if (!p->lanes || (backward && !p->glanes)) {   /* row by row instead */
        pg_rowmats_load(p, backward);
        return 0;
    }
    pg_lanes_load_constants(p);
    return 1;
}

static int forward_only(pg_program *p, int lanes, int64_t nrows, const double *batch, double *out,
                        int64_t *bad_row) {
    int64_t r = 0, work = 0;
    for (int n; lanes && (n = block_rows(r, nrows)) > 0; r += n) {
        if (cancelled(&work, (int64_t)BLOCK * p->nslots)) return PG_EINTR;
        /* An error or a failing guard: redo the block row by row, to name the first bad row. */
        const double *rows = p->ninputs ? batch + r * p->ninputs : batch;
        if (pg_lanes_forward(p, rows, n, out + r) != PG_OK)
            return forward_rows(p, r, r + n, batch, out, bad_row);
    }
    return forward_rows(p, r, nrows, batch, out, bad_row);
}

/* Forward and backward BLOCK rows at a time (a tail block may have fewer)
 * while no row fails; returns the first row left for the row-by-row loop
 * (a failing block is redone there, to name its row), or -PG_EINTR. */
static int64_t accumulate_blocks(pg_program *p, int64_t nrows, const double *batch, double *out,
                                 double scale, int64_t *work) {
    pg_lanes_clear_grads(p);
    pg_layers_grads(p, 0);
    int64_t r = 0;
    for (int n; (n = block_rows(r, nrows)) > 0; r += n) {
        if (cancelled(work, 2 * (int64_t)BLOCK * p->nslots)) return -PG_EINTR;
        const double *rows = p->ninputs ? batch + r * p->ninputs : batch;
        if (pg_lanes_forward(p, rows, n, out + r) != PG_OK) break;
        pg_lanes_backward(p, scale, n);
    }
    pg_layers_grads(p, 1);   /* the rows left go on from the params' grads */
    return r;
}

static int run(pg_program *p, int64_t nrows, const double *batch, double *out,
               int backward, double scale, int64_t *bad_row) {
    int lanes = load_state(p, nrows, backward);
    if (!backward) return forward_only(p, lanes, nrows, batch, out, bad_row);
    int64_t work = 0, r = lanes ? accumulate_blocks(p, nrows, batch, out, scale, &work) : 0;
    if (r < 0) return (int)-r;
    /* Rows one by one from here: after blocks, the row groups' matrices
     * start from the params' grads as the blocks left them. */
    if (lanes && r < nrows) pg_rowmats_load(p, 1);
    int by_row = r < nrows;
    for (; r < nrows; r++) {
        /* Stopped (Ctrl-C): like a failing row, the params' grads are untouched. */
        if (cancelled(&work, 2 * (int64_t)p->nslots)) return PG_EINTR;
        int st = forward_rows(p, r, r + 1, batch, out, bad_row);
        if (st != PG_OK) return st;   /* the params' grads are untouched */
        backward_row(p, scale);
        pg_rowmats_flush(p);   /* the row's weight grads, into the matrices */
    }
    if (by_row) pg_rowmats_store(p);
    int32_t n = p->mats_direct ? p->nplain : p->nparams;
    for (int32_t i = 0; i < n; i++) {
        int32_t s = p->mats_direct ? p->plain_params[i] : p->ninputs + i;
        pg_nodes[p->leaf_ids[s]].grad = p->slots[s].grad;
    }
    return PG_OK;
}

int pg_program_run(pg_program *p, int64_t nrows, const double *batch, double *out,
                   int backward, double scale, int64_t *bad_row) {
    if (bad_row) *bad_row = -1;
    if (!p || !bad_row || nrows < 0 || (nrows > 0 && (!out || (p->ninputs > 0 && !batch)))) return PG_EINVAL;
    if (p->running) return PG_EBUSY;   /* a signal handler, run by the cancel hook inside this run */
    p->running = 1;
    p->failed_guard = -1;
    int st = run(p, nrows, batch, out, backward, scale, bad_row);
    p->running = 0;
    if (st == PG_OK)
        for (int64_t r = 0; r < nrows; r++) out[r] = pg_canonical(out[r]);
    return st;
}
