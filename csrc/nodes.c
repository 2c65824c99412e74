/*
 * nodes.c - node storage: one growable pool, a free list, reference counts.
 *
 * Ids are indices into the pool, so growing it (realloc) never invalidates
 * what Python holds. Freed nodes go on a free list and are reused before
 * the pool grows. Releasing a node whose count drops to zero releases its
 * children in turn, iteratively: a dropped 1e7-deep chain must not recurse.
 * Nothing here allocates while releasing, so releasing cannot fail.
 * When most of the pool is free and its top part holds no live node, the
 * pool is cut back, so memory follows the graphs alive, not the largest
 * graph there ever was.
 */
#include <stdlib.h> /* realloc, free */
#include <string.h> /* memset */
#include <math.h>   /* NAN */
#include "core.h"


pg_node *pg_nodes = NULL;
int32_t pg_count = 0;            /* ids handed out so far (core.h: pg_valid reads it) */
static int32_t capacity = 0;
static int32_t free_head = -1;
static int64_t freed_since_sort = 0;  /* frees since the free list was last put in order */
static int64_t live = 0;
static int64_t made = 0;         /* nodes created, ever: tells Python whether new handles can exist */
static int64_t kid_bytes = 0;
static int64_t edges = 0;        /* children over all live nodes */

// ---------------------------------------------------------------------------
// allocation

static int grow(void) {
    if (capacity >= INT32_MAX / 2) return PG_ENOMEM;
    int32_t cap = capacity ? capacity * 2 : 1024;
    pg_node *p = realloc(pg_nodes, (size_t)cap * sizeof(pg_node));
    if (!p) return PG_ENOMEM;
    pg_nodes = p;
    capacity = cap;
    return PG_OK;
}

/* Rebuild the free list in ascending id order. Freed nodes come back in
 * whatever order graphs die; reusing them in id order keeps a new graph's
 * nodes close together in memory, so its sort and sweep stream through
 * the pool instead of hopping around it. One pass over the pool, done once
 * at least half of it has been freed since the last pass: O(1) amortized. */
static void sort_free_list(void) {
    free_head = -1;
    for (int32_t id = pg_count - 1; id >= 0; id--) {
        if (pg_nodes[id].refs == 0) {
            pg_nodes[id].kids.pair[0] = free_head;
            free_head = id;
        }
    }
    freed_since_sort = 0;
}

/* After a big graph died: cut the free top of the pool (ids above the
 * highest live one) and give its memory back. Only when under a quarter of
 * the pool is live and half of it was freed since the free list was last
 * rebuilt (which this does), so the scan is O(1) amortized per free. */
enum { SHRINK_MIN = 1 << 18 };   /* pools under 8 MB are kept: steps of smaller graphs never regrow it */

static void (*on_shrink)(void) = NULL;

/* `fn` runs whenever the pool has shrunk: an upper layer's hook (backward.c
 * gives its scratch back then) without this file calling up into it. */
void pg_pool_on_shrink(void (*fn)(void)) { on_shrink = fn; }

static void maybe_shrink(void) {
    if (pg_count < SHRINK_MIN || live >= pg_count / 4 || freed_since_sort <= pg_count / 2) return;
    int32_t top = pg_count;
    while (top > 0 && pg_nodes[top - 1].refs == 0) top--;
    pg_count = top;
    int32_t cap = top < 1024 ? 1024 : top + top / 4;
    if (cap < capacity) {
        pg_node *p = realloc(pg_nodes, (size_t)cap * sizeof(pg_node));
        if (p) {   /* a failed shrink keeps the larger block: no harm */
            pg_nodes = p;
            capacity = cap;
        }
    }
    sort_free_list();
    if (on_shrink) on_shrink();
}

int32_t pg_node_alloc(void) {
    int32_t id;
    if (freed_since_sort > pg_count / 2 && freed_since_sort > 4096) sort_free_list();
    if (free_head >= 0) {
        id = free_head;
        free_head = pg_nodes[id].kids.pair[0];
    } else {
        if (pg_count == capacity && grow() != PG_OK) return -PG_ENOMEM;
        id = pg_count++;
    }
    pg_node *n = &pg_nodes[id];
    memset(n, 0, sizeof *n);
    n->refs = 1;
    n->op = PG_LEAF;
    live++;
    made++;
    return id;
}

void pg_node_free(int32_t id) {
    freed_since_sort++;
    pg_nodes[id].refs = 0;
    pg_nodes[id].kids.pair[0] = free_head;
    free_head = id;
    live--;
}

int pg_all_valid(int64_t n, const int32_t *ids) {
    if (n > 0 && !ids) return 0;
    for (int64_t i = 0; i < n; i++)
        if (!pg_valid(ids[i])) return 0;
    return 1;
}

void pg_add_kid_bytes(int64_t delta) { kid_bytes += delta; }
void pg_add_edges(int64_t delta) { edges += delta; }
int64_t pg_edge_count(void) { return edges; }
int64_t pg_pool_count(void) { return pg_count; }

/* What this thread's last creating call returned. A binding that stores
 * the returned id only after the call has returned can be interrupted in
 * between (Python runs signal handlers there); it then releases the node
 * with pg_release_unowned, so that no interrupt leaks one. */
static _Thread_local int32_t last_made = -1;

int32_t pg_made(int32_t id) {
    last_made = id;
    return id;
}

int pg_release_unowned(void) {
    int32_t id = last_made;
    last_made = -1;
    return id >= 0 ? pg_decref(id) : PG_OK;
}

int32_t pg_leaf(double data) {
    int32_t id = pg_node_alloc();
    if (id >= 0) pg_nodes[id].data = data;
    return pg_made(id);
}

// ---------------------------------------------------------------------------
// reference counts

/* Free `id` (whose count just reached zero) and every descendant that
 * only it kept alive. The pending list is threaded through the dead
 * nodes' grad field, so releasing needs no memory and cannot fail. */
static void release(int32_t id) {
    int32_t head = id;
    pg_nodes[id].next_dead = -1;
    while (head >= 0) {
        int32_t cur = head;
        pg_node *n = &pg_nodes[cur];
        head = n->next_dead;
        const int32_t *k = pg_kids_of(n);
        int32_t nk = pg_nkids_of(n);
        for (int32_t i = 0; i < nk; i++) {
            pg_node *c = &pg_nodes[k[i]];
            if (--c->refs == 0) {
                c->next_dead = head;
                head = k[i];
            }
        }
        edges -= nk;
        if (pg_is_nary(n->op)) {
            free(n->kids.many);
            kid_bytes -= pg_many_bytes(n->op, nk);
        }
        n->op = PG_LEAF;
        pg_node_free(cur);
    }
    maybe_shrink();
}

int pg_incref(int32_t id) {
    if (!pg_valid(id)) return PG_EINVAL;
    pg_nodes[id].refs++;
    return PG_OK;
}

int pg_decref(int32_t id) {
    if (!pg_valid(id)) return PG_EINVAL;
    if (--pg_nodes[id].refs == 0) release(id);
    return PG_OK;
}

// ---------------------------------------------------------------------------
// accessors

double pg_data(int32_t id) { return pg_valid(id) ? pg_canonical(pg_nodes[id].data) : NAN; }
double pg_grad(int32_t id) { return pg_valid(id) ? pg_canonical(pg_nodes[id].grad) : NAN; }
int pg_op(int32_t id) { return pg_valid(id) ? pg_nodes[id].op : -1; }
int32_t pg_nkids(int32_t id) { return pg_valid(id) ? pg_nkids_of(&pg_nodes[id]) : -1; }
int32_t pg_refs(int32_t id) { return pg_valid(id) ? (int32_t)pg_nodes[id].refs : -1; }

int pg_set_data(int32_t id, double x) {
    if (!pg_valid(id)) return PG_EINVAL;
    pg_nodes[id].data = x;
    return PG_OK;
}

int pg_set_grad(int32_t id, double g) {
    if (!pg_valid(id)) return PG_EINVAL;
    pg_nodes[id].grad = g;
    return PG_OK;
}

int32_t pg_kid(int32_t id, int32_t i) {
    if (!pg_valid(id) || i < 0 || i >= pg_nkids_of(&pg_nodes[id])) return -PG_EINVAL;
    return pg_kids_of(&pg_nodes[id])[i];
}

/* The pool's share of pg_stats (backward.c adds its scratch). */
void pg_pool_stats(pg_stats_t *out) {
    out->live = live;
    out->capacity = capacity;
    out->node_bytes = (int64_t)sizeof(pg_node);
    out->pool_bytes = (int64_t)capacity * (int64_t)sizeof(pg_node);
    out->kid_bytes = kid_bytes;
    out->made = made;
}
