/*
 * rowmats.c - row groups' weights as contiguous matrices (see rows.c).
 *
 * A linear layer's weights are params that its row group reads at every
 * position of a sequence (microgpt runs a group per layer per position).
 * Gathered once per run into a matrix, term by term and chain by chain,
 * they are read contiguously, and the kernels' vector lanes run over
 * independent elements (chains, or terms) without reordering any sum:
 * each chain's sum keeps its left-to-right order, each grad its order of
 * additions. Only with exact == 0 (pg_program_set_exact) do the lanes run
 * along a chain's terms, a dot product in partial sums. A matrix's grads
 * stay in it for the whole run (stored back into the slots at its end), so
 * its slots must be params or constants read by nothing but the groups
 * sharing it.
 */
#include <stdlib.h> /* malloc, calloc, realloc, free */
#include <string.h> /* memcmp */
#include "program.h"
#include "vec.h"

/* The matrix row of a group's chain c (perm: pg_rows.perm). */
#define ROW(perm, c) ((perm) ? (perm)[c] : (c))

// ---------------------------------------------------------------------------
// finding the matrices

/* The order in which group g's chains are M's rows: perm[c] is the row
 * holding chain c's factors, every row once; or NULL. (row_of: -1 for
 * every slot, and so left.) The chains of one group keep their own order
 * in the kernels wherever it counts (a shared grad's additions): only the
 * rows they read move. */
static int32_t *row_perm(const pg_matrix *M, const pg_rows *g, int32_t *row_of) {
    int32_t k = g->k, *perm = malloc((size_t)k * sizeof(int32_t)), ok = perm != NULL;
    for (int32_t r = 0; r < k && ok; r++) {   /* rows by their first factor, which must tell them apart */
        if (row_of[M->slots[r]] != -1) ok = 0;
        else row_of[M->slots[r]] = r;
    }
    for (int32_t c = 0; c < k && ok; c++) {
        int32_t r = row_of[g->other[c]];
        for (int32_t j = 0; r >= 0 && j < g->np; j++)
            if (g->other[(int64_t)j * k + c] != M->slots[(int64_t)j * k + r]) r = -1;
        if (r < 0) ok = 0;
        else row_of[g->other[c]] = -2;   /* taken */
        if (ok) perm[c] = r;
    }
    for (int32_t r = 0; r < k; r++) row_of[M->slots[r]] = -1;
    if (ok) return perm;
    free(perm);
    return NULL;
}

/* The matrix of group g's product factors: an equal one (perhaps with its
 * rows in another order: microgpt's first position makes its q, k and v
 * in another order than the later ones), or a new one. */
static int32_t matrix_for(pg_program *p, pg_rows *g, int32_t *cap, int32_t *row_of) {
    size_t size = (size_t)g->np * (size_t)g->k;
    for (int32_t m = 0; m < p->nmats; m++) {
        pg_matrix *M = &p->mats[m];
        if (M->k != g->k || M->n != g->np) continue;
        if (memcmp(M->slots, g->other, size * sizeof(int32_t)) && !(g->perm = row_perm(M, g, row_of))) continue;
        M->users++;
        return m;
    }
    if (p->nmats == *cap) {
        int32_t n = *cap ? 2 * *cap : 8;
        pg_matrix *mats = realloc(p->mats, (size_t)n * sizeof(pg_matrix));
        if (!mats) return -1;
        p->mats = mats;
        *cap = n;
    }
    p->mats[p->nmats] = (pg_matrix){g->k, g->np, 1, g->other, NULL, NULL, NULL, NULL, NULL, NULL, 0};
    return p->nmats++;
}

/* Params (fixed through a run) read only by M's groups. */
static int own_slots(const pg_program *p, const pg_matrix *M, const int32_t *reader_first) {
    for (int64_t i = 0; i < (int64_t)M->n * M->k; i++) {
        int32_t y = M->slots[i];
        if (y < p->ninputs || y >= p->ninputs + p->nparams || reader_first[y + 1] - reader_first[y] != M->users)
            return 0;
    }
    return 1;
}

/* The param slots that no matrix owns: what load_state and the run's end
 * copy when the matrices read and write the pool themselves. */
static int find_plain_params(pg_program *p) {
    char *owned = calloc((size_t)p->nparams + 1, 1);
    p->plain_params = malloc(((size_t)p->nparams + 1) * sizeof(int32_t));
    if (!owned || !p->plain_params) {
        free(owned);
        return PG_ENOMEM;
    }
    for (int32_t m = 0; m < p->nmats; m++)
        for (int64_t i = 0; p->mats[m].wd && i < (int64_t)p->mats[m].n * p->mats[m].k; i++)
            owned[p->mats[m].slots[i] - p->ninputs] = 1;   /* (wd: every slot checked by own_slots) */
    p->nplain = 0;
    for (int32_t i = 0; i < p->nparams; i++)
        if (!owned[i]) p->plain_params[p->nplain++] = p->ninputs + i;
    free(owned);
    return PG_OK;
}

static int alloc_matrix(const pg_program *p, pg_matrix *M) {
    size_t size = (size_t)M->n * (size_t)M->k;
    M->cslots = malloc(size * sizeof(int32_t));
    M->cids = malloc(size * sizeof(int32_t));
    M->wd = malloc(size * sizeof(double));
    M->wt = malloc(size * sizeof(double));
    M->gw = malloc(size * sizeof(double));
    M->log = malloc((size_t)M->users * ((size_t)M->n + (size_t)M->k) * sizeof(double));
    if (!M->cslots || !M->cids || !M->wd || !M->wt || !M->gw || !M->log) return PG_ENOMEM;
    for (int32_t j = 0; j < M->n; j++)
        for (int32_t c = 0; c < M->k; c++) {
            int32_t s = M->slots[(int64_t)j * M->k + c];
            M->cslots[(int64_t)c * M->n + j] = s;
            M->cids[(int64_t)c * M->n + j] = p->leaf_ids[s];
        }
    return PG_OK;
}

/* Scratch for one group at a time: x and gx (n each), acc, gt, gp (k each). */
static int alloc_scratch(pg_program *p) {
    int32_t maxk = 0, maxn = 0;
    for (int32_t i = 0; i < p->nrowgroups; i++) {
        if (p->rows[i].k > maxk) maxk = p->rows[i].k;
        if (p->rows[i].n > maxn) maxn = p->rows[i].n;
    }
    p->mat_scratch = malloc(((size_t)2 * maxn + 3 * (size_t)maxk + 1) * sizeof(double));
    return p->mat_scratch ? PG_OK : PG_ENOMEM;
}

void pg_rowmats_find(pg_program *p, const int32_t *reader_first) {
    int32_t cap = 0, *row_of = malloc(((size_t)p->nslots + 1) * sizeof(int32_t));
    int st = row_of ? PG_OK : PG_ENOMEM;
    for (int32_t s = 0; row_of && s < p->nslots; s++) row_of[s] = -1;
    for (int32_t i = 0; i < p->nrowgroups && st == PG_OK; i++) {
        p->rows[i].matrix = matrix_for(p, &p->rows[i], &cap, row_of);
        if (p->rows[i].matrix < 0) st = PG_ENOMEM;
    }
    free(row_of);
    for (int32_t m = 0; m < p->nmats && st == PG_OK; m++)
        if (own_slots(p, &p->mats[m], reader_first)) st = alloc_matrix(p, &p->mats[m]);
    if (st == PG_OK) st = alloc_scratch(p);
    if (st == PG_OK) st = find_plain_params(p);
    for (int32_t i = 0; i < p->nrowgroups; i++) {   /* groups whose matrix may not be used read the slots */
        int32_t m = p->rows[i].matrix;
        if (st != PG_OK || (m >= 0 && !p->mats[m].wd)) p->rows[i].matrix = -1;
    }
    if (st != PG_OK) pg_rowmats_free(p);
}

void pg_rowmats_free(pg_program *p) {
    for (int32_t i = 0; i < p->nrowgroups; i++) {
        free(p->rows[i].perm);
        p->rows[i].perm = NULL;
    }
    for (int32_t m = 0; m < p->nmats; m++) {
        free(p->mats[m].cslots);
        free(p->mats[m].cids);
        free(p->mats[m].wd);
        free(p->mats[m].wt);
        free(p->mats[m].gw);
        free(p->mats[m].log);
    }
    free(p->mats);
    free(p->mat_scratch);
    free(p->plain_params);
    p->mats = NULL;
    p->mat_scratch = NULL;
    p->plain_params = NULL;
    p->nmats = 0;
    p->nplain = 0;
}

// ---------------------------------------------------------------------------
// a run's state

/* The matrices' values (and, with grads, their grads): every run reads the
 * params as they are now, from their nodes in the pool (mats_direct) or
 * from their slots, which load_state filled from the nodes. The values go
 * in both layouts: the chain-lane forward reads them term by term (its
 * lanes run over chains), the rest chain by chain. Eight chains at a time, term
 * by term: a layer's params are usually made neuron by neuron, so this
 * reads eight runs of the pool in order and writes whole lines of wt.
 * grads == 2, a run of one row reading the pool: the grads stay in the
 * nodes, and the row's end adds into them (pg_rowmats_flush): a row does
 * not fail after its backward, so no grad can change in a failing run. */
void pg_rowmats_load(pg_program *p, int grads) {
    p->mats_grads = grads == 2 && !p->mats_direct ? 1 : grads;
    for (int32_t m = 0; m < p->nmats; m++) {
        pg_matrix *M = &p->mats[m];
        for (int32_t c0 = 0; M->wd && c0 < M->k; c0 += 8) {
            int32_t c1 = M->k - c0 < 8 ? M->k : c0 + 8;
            for (int32_t j = 0; j < M->n; j++)
                for (int32_t c = c0; c < c1; c++) {
                    int64_t i = (int64_t)c * M->n + j;
                    const pg_node *w = p->mats_direct ? &pg_nodes[M->cids[i]] : &p->slots[M->cslots[i]];
                    M->wd[i] = w->data;
                    M->wt[(int64_t)j * M->k + c] = w->data;
                    if (p->mats_grads == 1) M->gw[i] = w->grad;
                }
        }
    }
}

/* The grads the rows added, back where the params' grads go at the run's
 * end (unless they went there already: mats_grads 2). */
void pg_rowmats_store(pg_program *p) {
    for (int32_t m = 0; m < p->nmats && p->mats_grads == 1; m++) {
        const pg_matrix *M = &p->mats[m];
        for (int64_t i = 0; M->wd && i < (int64_t)M->n * M->k; i++) {
            pg_node *w = p->mats_direct ? &pg_nodes[M->cids[i]] : &p->slots[M->cslots[i]];
            w->grad = M->gw[i];
        }
    }
}

// ---------------------------------------------------------------------------
// kernels for one row
//
// Their vector parts (rowmat_kernels.h) are compiled once per family of
// vec.h, as the dense layers' are (layers.c): scalar, vec2 and avx, the
// one layers.c chose (PYGRAD_SIMD) running. Each lane rounds as the scalar
// operation would, so the exact kernels give the same bits in every family.

#define PG_FAMILY_KERNELS "rowmat_kernels.h"
#include "families.h"
#undef PG_FAMILY_KERNELS

static void dots(const double *w, const double *x, int32_t k, int32_t np, double *acc) {
    switch (pg_simd_family()) {
#if defined(PG_AVX_FAMILY)
    case PG_FAMILY_AVX: dots_avx(w, x, k, np, acc); return;
#endif
#if defined(PG_VECTORS)
    case PG_FAMILY_VEC2: dots_vec2(w, x, k, np, acc); return;
#endif
    default: dots_scalar(w, x, k, np, acc);
    }
}

static void sums(const double *wt, const double *x, int32_t k, int32_t np, double *acc) {
    switch (pg_simd_family()) {
#if defined(PG_AVX_FAMILY)
    case PG_FAMILY_AVX: sums_avx(wt, x, k, np, acc); return;
#endif
#if defined(PG_VECTORS)
    case PG_FAMILY_VEC2: sums_vec2(wt, x, k, np, acc); return;
#endif
    default: sums_scalar(wt, x, k, np, acc);
    }
}

static void flush(double *gw, const double *log, int32_t nlog, int32_t k, int32_t np) {
    switch (pg_simd_family()) {
#if defined(PG_AVX_FAMILY)
    case PG_FAMILY_AVX: flush_avx(gw, log, nlog, k, np); return;
#endif
#if defined(PG_VECTORS)
    case PG_FAMILY_VEC2: flush_vec2(gw, log, nlog, k, np); return;
#endif
    default: flush_scalar(gw, log, nlog, k, np);
    }
}

static void flush_nodes(pg_node *pool, const int32_t *ids, const double *log, int32_t nlog, int32_t k, int32_t np) {
    switch (pg_simd_family()) {
#if defined(PG_AVX_FAMILY)
    case PG_FAMILY_AVX: flush_nodes_avx(pool, ids, log, nlog, k, np); return;
#endif
#if defined(PG_VECTORS)
    case PG_FAMILY_VEC2: flush_nodes_vec2(pool, ids, log, nlog, k, np); return;
#endif
    default: flush_nodes_scalar(pool, ids, log, nlog, k, np);
    }
}

static void grads(const double *w, const int32_t *perm, const double *gp, int32_t k, int32_t np, double *gx,
                  int exact) {
    switch (pg_simd_family()) {
#if defined(PG_AVX_FAMILY)
    case PG_FAMILY_AVX: grads_avx(w, perm, gp, k, np, gx, exact); return;
#endif
#if defined(PG_VECTORS)
    case PG_FAMILY_VEC2: grads_vec2(w, perm, gp, k, np, gx, exact); return;
#endif
    default: grads_scalar(w, perm, gp, k, np, gx, exact);
    }
}

/* From this many chains on, the exact kernel (lanes over chains) fills
 * every family's vectors (avx: 4 x 4 lanes) and costs less than reordered
 * dot products, which end each chain with a horizontal sum (microgpt at
 * n_embd 16, callgrind, vec2: 40.12M against 42.08M instructions over 52
 * runs): there exact == 0 keeps the order too. (wt is loaded in both
 * modes: a test per element in the load cost more than the stores.) */
enum { PG_FULL_LANES = 16 };

/* Every chain's acc = base, then acc + w * x[j] term by term (8 chains at
 * a time, each along its row), then its plain terms. */
void pg_rowmat_forward(const pg_program *p, const pg_rows *g, pg_node *v) {
    const pg_matrix *M = &p->mats[g->matrix];
    const int32_t k = g->k, np = g->np;
    const int32_t *perm = g->perm;
    double *acc = p->mat_scratch, *x = acc + k;   /* acc: by the matrix's rows */
    for (int32_t c = 0; c < k; c++) acc[ROW(perm, c)] = v[g->base[c]].data;
    for (int32_t j = 0; j < np; j++) x[j] = v[g->shared[j]].data;
    if (p->exact || k >= PG_FULL_LANES) sums(M->wt, x, k, np, acc);
    else dots(M->wd, x, k, np, acc);   /* every chain's dot product reordered */
    for (int32_t j = np; j < g->n; j++)
        for (int32_t c = 0; c < k; c++) acc[ROW(perm, c)] = acc[ROW(perm, c)] + v[g->other[(int64_t)j * k + c]].data;
    for (int32_t c = 0; c < k; c++) v[g->out[c]].data = acc[ROW(perm, c)];
}

/* The weight grads that M's group calls logged this row, added in the
 * calls' order: gw[c][j] + x[j] * gp[c] for each call (or the same into
 * the params' nodes: mats_grads 2). */
static void flush_matrix(const pg_program *p, pg_matrix *M) {
    if (p->mats_grads == 2) flush_nodes(pg_nodes, M->cids, M->log, M->nlog, M->k, M->n);
    else flush(M->gw, M->log, M->nlog, M->k, M->n);
    M->nlog = 0;
}

/* The chains' steps, as pg_rows_backward gives them: a shared x[j]'s grad
 * takes the chains' additions last chain first (terms in lanes), a
 * weight's grad one addition per group, in the groups' order (logged for
 * the row's end). */
void pg_rowmat_backward(const pg_program *p, const pg_rows *g, pg_node *v) {
    pg_matrix *M = &p->mats[g->matrix];
    const int32_t k = g->k, np = g->np;
    double *gp = p->mat_scratch, *gt = gp + k, *x = gt + k, *gx = x + g->n;
    for (int32_t c = 0; c < k; c++) {
        gt[c] = v[g->out[c]].grad;
        gp[c] = 0.0 + gt[c];
    }
    for (int32_t j = g->n - 1; j >= np; j--)   /* plain terms: an ADD's grad */
        for (int32_t c = k - 1; c >= 0; c--) v[g->other[(int64_t)j * k + c]].grad += j == g->n - 1 ? gt[c] : gp[c];
    for (int32_t j = 0; j < np; j++) {
        gx[j] = v[g->shared[j]].grad;
        x[j] = v[g->shared[j]].data;
    }
    grads(M->wd, g->perm, gp, k, np, gx, p->exact);
    /* The weights' grads wait for the row's end (pg_rowmats_flush): each
     * takes one addition per group call, in the calls' order, there as
     * here, and only once per row does the matrix of grads go by. (A full
     * log, which one row's calls never make, is added first.) */
    if (M->nlog == M->users) flush_matrix(p, M);
    double *entry = M->log + (int64_t)M->nlog++ * (np + k);
    for (int32_t j = 0; j < np; j++) entry[j] = x[j];
    for (int32_t c = 0; c < k; c++) entry[np + ROW(g->perm, c)] = gp[c];
    for (int32_t j = 0; j < np; j++) v[g->shared[j]].grad = gx[j];
    for (int32_t c = k - 1; c >= 0; c--) {
        v[g->base[c]].grad += g->n == 1 ? gt[c] : gp[c];
        v[g->out[c]].grad = 0.0;
    }
}

/* The row's weight grads, into the matrices' grads or the nodes'. */
void pg_rowmats_flush(pg_program *p) {
    for (int32_t m = 0; m < p->nmats; m++)
        if (p->mats[m].nlog) flush_matrix(p, &p->mats[m]);
}
