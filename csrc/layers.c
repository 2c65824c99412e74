/*
 * layers.c - dense layers of a program, run BLOCK rows at a time (lanes.c).
 *
 * A layer is a run of instructions DOT_0 [RELU_0] DOT_1 [RELU_1] ... whose
 * DOTs read the same input slots x (distinct, in the same order), with
 * weights and biases that are params or constants (the same in every row),
 * each RELU reading the DOT just before it: what Value.dense and micrograd's
 * Layer build. Such a layer runs as one kernel that keeps its weights in a
 * contiguous matrix, so each step is a few vector operations over several
 * weights or rows, not one dispatch and slot lookup per child.
 *
 * Every value and grad is the one the instruction-by-instruction lanes run
 * gives, bit for bit: each neuron's sum is b + w0*x0 + w1*x1 + ... in that
 * order; each grad slot receives the same terms in the same order:
 *  - a param's grad is a running sum over the rows (row order), each row
 *    adding x * g for a weight, g for a bias (lanes.c: every param of a
 *    blocked accumulate has one reader, so nothing else adds between);
 *  - an input x_i that is an op slot takes w_ki * g_k from the neurons
 *    last to first (the reverse sweep's order); no other node of the
 *    layer reads it, since the layer's slots all come after it;
 *  - the RELU's step adds into its DOT's grad before the DOT's step uses it.
 * The weights' grads are computed for constants too and dropped; the grads
 * of inputs and constants, written and never read, are not computed.
 */
#include <stdlib.h> /* malloc, calloc, free */
#include <string.h> /* memcmp */
#include "pair.h"
#include "program.h"

#define LANE(base, slot) ((base) + (int64_t)(slot) * BLOCK)

// ---------------------------------------------------------------------------
// finding layers

static int is_dot(const pg_program *p, int32_t i) {
    const pg_instr *in = &p->code[i];
    return !in->nterms && p->slots[in->slot].op == PG_DOT && pg_nkids_of(&p->slots[in->slot]) >= 3;
}

/* Is code[i] a DOT over inputs x[0..m) (m of them), with fixed weights and bias? */
static int neuron_at(const pg_program *p, int32_t i, const int32_t *x, int32_t m) {
    if (i >= p->ncode || !is_dot(p, i)) return 0;
    const pg_node *n = &p->slots[p->code[i].slot];
    const int32_t *k = pg_kids_of(n);
    if (pg_nkids_of(n) != 2 * m + 1 || memcmp(k + m, x, (size_t)m * sizeof(int32_t)) != 0) return 0;
    for (int32_t j = 0; j < m; j++)
        if (k[j] < p->ninputs || k[j] >= p->nleaves) return 0;
    return k[2 * m] >= p->ninputs && k[2 * m] < p->nleaves;
}

/* Is code[i] a RELU of slot s? */
static int relu_of(const pg_program *p, int32_t i, int32_t s) {
    if (i >= p->ncode || p->code[i].nterms) return 0;
    const pg_node *n = &p->slots[p->code[i].slot];
    return n->op == PG_RELU && n->kids.pair[0] == s;
}

/* The neurons of the layer starting at code[i] (0 if none), and where it ends. */
static int32_t extent(const pg_program *p, int32_t i, int32_t *end, char *seen) {
    if (!is_dot(p, i)) return 0;
    const pg_node *n = &p->slots[p->code[i].slot];
    int32_t m = pg_nkids_of(n) / 2, nout = 0;
    const int32_t *x = pg_kids_of(n) + m;
    int distinct = 1;
    for (int32_t j = 0; j < m; j++) {
        distinct = distinct && !seen[x[j]];
        seen[x[j]] = 1;
    }
    for (int32_t j = 0; j < m; j++) seen[x[j]] = 0;
    if (!distinct) return 0;
    while (neuron_at(p, i, x, m)) {
        nout++;
        i += relu_of(p, i + 1, p->code[i].slot) ? 2 : 1;
    }
    *end = i;
    return nout;
}

static int add_layer(pg_program *p, int32_t first, int32_t end, int32_t nout) {
    pg_layer *L = &p->layers[p->nlayers];
    const pg_node *n0 = &p->slots[p->code[first].slot];
    int32_t m = pg_nkids_of(n0) / 2;
    int64_t nw = (int64_t)nout * m;
    L->first = first;
    L->end = end;
    L->nout = nout;
    L->m = m;
    L->ints = malloc((size_t)(2 * m + 4 * nout + nw) * sizeof(int32_t));
    L->doubles = calloc((size_t)(3 * nw + 2 * nout + (int64_t)(BLOCK + 1) * m + BLOCK), sizeof(double));
    if (!L->ints || !L->doubles) {
        free(L->ints);
        free(L->doubles);
        return PG_ENOMEM;
    }
    p->nlayers++;
    L->x = L->ints;
    L->xop = L->x + m;
    L->dot = L->xop + m;
    L->rdot = L->dot + nout;
    L->act = L->rdot + nout;
    L->b = L->act + nout;
    L->w = L->b + nout;
    L->wd = L->doubles;
    L->wt = L->wd + nw;
    L->gw = L->wt + nw;
    L->bd = L->gw + nw;
    L->gb = L->bd + nout;
    L->xt = L->gb + nout;
    L->spare = L->xt + (int64_t)BLOCK * m;
    memcpy(L->x, pg_kids_of(n0) + m, (size_t)m * sizeof(int32_t));
    L->nxop = 0;
    for (int32_t i = 0; i < m; i++)
        if (L->x[i] >= p->nleaves) L->xop[L->nxop++] = i;
    for (int32_t i = first, k = 0; i < end; i++) {
        p->code[i].layer = p->nlayers - 1;
        const pg_node *n = &p->slots[p->code[i].slot];
        if (n->op == PG_RELU) {
            L->act[k - 1] = p->code[i].slot;
            continue;
        }
        L->dot[k] = p->code[i].slot;
        L->act[k] = -1;
        L->b[k] = pg_kids_of(n)[2 * m];
        memcpy(L->w + (int64_t)k * m, pg_kids_of(n), (size_t)m * sizeof(int32_t));
        k++;
    }
    for (int32_t k = 0; k < nout; k++) L->rdot[k] = L->dot[nout - 1 - k];
    return PG_OK;
}

int pg_layers_find(pg_program *p) {
    for (int32_t i = 0; i < p->ncode; i++) p->code[i].layer = -1;
    char *seen = calloc((size_t)p->nslots + 1, 1);
    p->layers = calloc((size_t)p->ncode + 1, sizeof(pg_layer));
    if (!seen || !p->layers) {
        free(seen);
        return PG_ENOMEM;
    }
    int st = PG_OK;
    for (int32_t i = 0, end = 0; i < p->ncode && st == PG_OK;) {
        int32_t nout = extent(p, i, &end, seen);
        if (!nout) {
            i++;
            continue;
        }
        st = add_layer(p, i, end, nout);
        i = end;
    }
    free(seen);
    return st;
}

void pg_layers_free(pg_program *p) {
    for (int32_t l = 0; l < p->nlayers; l++) {
        free(p->layers[l].ints);
        free(p->layers[l].doubles);
    }
    free(p->layers);
}

/* The weights' and biases' values, for a run (they are leaves: the same in every row). */
void pg_layers_load(pg_program *p) {
    for (int32_t l = 0; l < p->nlayers; l++) {
        pg_layer *L = &p->layers[l];
        for (int64_t j = 0; j < (int64_t)L->nout * L->m; j++) L->wd[j] = p->slots[L->w[j]].data;
        for (int32_t k = 0; k < L->nout; k++) L->bd[k] = p->slots[L->b[k]].data;
        /* wt: input i's weights, neurons last to first (the order of its grad's terms) */
        for (int32_t i = 0; i < L->m; i++)
            for (int32_t k = 0; k < L->nout; k++)
                L->wt[(int64_t)i * L->nout + k] = L->wd[(int64_t)(L->nout - 1 - k) * L->m + i];
    }
}

static int is_param(const pg_program *p, int32_t s) { return s >= p->ninputs && s < p->ninputs + p->nparams; }

/* The params' running grads into the layers' matrices (out = 0), or back (out = 1). */
void pg_layers_grads(pg_program *p, int out) {
    for (int32_t l = 0; l < p->nlayers; l++) {
        pg_layer *L = &p->layers[l];
        int64_t nw = (int64_t)L->nout * L->m;
        for (int64_t j = 0; j < nw + L->nout; j++) {
            int32_t s = j < nw ? L->w[j] : L->b[j - nw];
            double *g = j < nw ? &L->gw[j] : &L->gb[j - nw];
            if (!is_param(p, s)) *g = 0.0;
            else if (out) p->slots[s].grad = *g;
            else *g = p->slots[s].grad;
        }
    }
}

// ---------------------------------------------------------------------------
// kernels: two outputs at a time (so each row loaded serves both), their
// running values in registers; a lone last output pairs with a spare one

/* acc0 and acc1 (BLOCK rows each) + w0[j] (w1[j]) times the rows of slot
 * src[j], for j in order: two neurons' sums, or two inputs' grads. */
static void lanes_sums(const double *base, const int32_t *src, int32_t n,
                       const double *w0, const double *w1, double *acc0, double *acc1) {
    enum { P = BLOCK / 2 };
    pg_pair a[P], c[P];
    for (int q = 0; q < P; q++) {
        a[q] = pair_load(acc0 + 2 * q);
        c[q] = pair_load(acc1 + 2 * q);
    }
    for (int32_t j = 0; j < n; j++) {
        const double *s = LANE(base, src[j]);
        const pg_pair wa = pair_splat(w0[j]), wc = pair_splat(w1[j]);
        for (int q = 0; q < P; q++) {
            const pg_pair x = pair_load(s + 2 * q);
            a[q] = pair_madd(a[q], wa, x);
            c[q] = pair_madd(c[q], wc, x);
        }
    }
    for (int q = 0; q < P; q++) {
        pair_store(acc0 + 2 * q, a[q]);
        pair_store(acc1 + 2 * q, c[q]);
    }
}

/* gw0[0..2n) and gw1[0..2n) + each row's x * g0[r] (g1[r]), rows in
 * order (the x of row r at xt + r * m): two neurons' weights' grads. */
enum { TILE = 4 };
static inline void weight_tile(double *gw0, double *gw1, const double *xt, int32_t m,
                               const double *g0, const double *g1, int rows, int n) {
    pg_pair a[TILE], c[TILE];
    for (int q = 0; q < n; q++) {
        a[q] = pair_load(gw0 + 2 * q);
        c[q] = pair_load(gw1 + 2 * q);
    }
    for (int r = 0; r < rows; r++) {
        const pg_pair ga = pair_splat(g0[r]), gc = pair_splat(g1[r]);
        for (int q = 0; q < n; q++) {
            const pg_pair x = pair_load(xt + (int64_t)r * m + 2 * q);
            a[q] = pair_madd(a[q], x, ga);
            c[q] = pair_madd(c[q], x, gc);
        }
    }
    for (int q = 0; q < n; q++) {
        pair_store(gw0 + 2 * q, a[q]);
        pair_store(gw1 + 2 * q, c[q]);
    }
}

static void weight_grads(double *gw0, double *gw1, const double *xt, int32_t m,
                         const double *g0, const double *g1, int rows) {
    int32_t i = 0;
    for (; i + 2 * TILE <= m; i += 2 * TILE) weight_tile(gw0 + i, gw1 + i, xt + i, m, g0, g1, rows, TILE);
    for (; i + 2 <= m; i += 2) weight_tile(gw0 + i, gw1 + i, xt + i, m, g0, g1, rows, 1);
    if (i == m) return;
    double s0 = gw0[i], s1 = gw1[i];
    for (int r = 0; r < rows; r++) {
        s0 = s0 + xt[(int64_t)r * m + i] * g0[r];
        s1 = s1 + xt[(int64_t)r * m + i] * g1[r];
    }
    gw0[i] = s0;
    gw1[i] = s1;
}

// ---------------------------------------------------------------------------
// forward

static void store_neuron(const pg_layer *L, int32_t k, const double *acc, double *v) {
    double *restrict d = LANE(v, L->dot[k]);
    for (int b = 0; b < BLOCK; b++) d[b] = acc[b];
    if (L->act[k] < 0) return;
    double *o = LANE(v, L->act[k]);
    for (int b = 0; b < BLOCK; b += 2) pair_store(o + b, pair_relu(pair_load(acc + b)));
}

/* Each neuron's sums for the block: b, then + w_i * x_i for i in order. */
void pg_layer_forward(const pg_layer *L, double *v) {
    for (int32_t k = 0; k < L->nout; k += 2) {
        int32_t k1 = k + 1 < L->nout ? k + 1 : k;
        double acc0[BLOCK], acc1[BLOCK];
        for (int b = 0; b < BLOCK; b++) {
            acc0[b] = L->bd[k];
            acc1[b] = L->bd[k1];
        }
        lanes_sums(v, L->x, L->m, L->wd + (int64_t)k * L->m, L->wd + (int64_t)k1 * L->m, acc0, acc1);
        store_neuron(L, k, acc0, v);
        if (k1 != k) store_neuron(L, k1, acc1, v);
    }
}

// ---------------------------------------------------------------------------
// backward

/* The op-slot inputs' grad rows: + w_ki * g_k for k last to first. */
static void input_grads(const pg_layer *L, double *gr) {
    for (int32_t j = 0; j < L->nxop; j += 2) {
        int32_t i0 = L->xop[j], i1 = L->xop[j + 1 < L->nxop ? j + 1 : j];
        double acc0[BLOCK], acc1[BLOCK];
        double *y0 = LANE(gr, L->x[i0]), *y1 = LANE(gr, L->x[i1]);
        for (int b = 0; b < BLOCK; b++) {
            acc0[b] = y0[b];
            acc1[b] = y1[b];
        }
        lanes_sums(gr, L->rdot, L->nout, L->wt + (int64_t)i0 * L->nout, L->wt + (int64_t)i1 * L->nout, acc0, acc1);
        for (int b = 0; b < BLOCK; b++) y0[b] = acc0[b];
        if (i1 == i0) continue;
        for (int b = 0; b < BLOCK; b++) y1[b] = acc1[b];
    }
}

/* Input i's grad, a param's running sum: each row's terms, neurons last to first. */
static void input_param_grad(const pg_layer *L, int32_t i, const double *gr, pg_node *slots, int rows) {
    double s = slots[L->x[i]].grad;
    for (int r = 0; r < rows; r++)
        for (int32_t k = L->nout - 1; k >= 0; k--) s = s + L->wd[(int64_t)k * L->m + i] * LANE(gr, L->dot[k])[r];
    slots[L->x[i]].grad = s;
}

void pg_layer_backward(const pg_layer *L, double *gr, const double *v, pg_node *slots,
                       int32_t pfirst, int32_t pend, int rows) {
    int32_t m = L->m;
    for (int32_t k = 0; k < L->nout; k++) {   /* each RELU's step, into its DOT's grad */
        if (L->act[k] < 0) continue;
        const double *o = LANE(v, L->act[k]), *ga = LANE(gr, L->act[k]);
        double *gd = LANE(gr, L->dot[k]);
        for (int b = 0; b < BLOCK; b += 2)   /* gd + (double)(o > 0.0) * ga */
            pair_store(gd + b, pair_madd(pair_load(gd + b), pair_positive(pair_load(o + b)), pair_load(ga + b)));
    }
    for (int32_t i = 0; i < m; i++)   /* the inputs' rows, row by row */
        for (int r = 0; r < rows; r++) L->xt[(int64_t)r * m + i] = LANE(v, L->x[i])[r];
    for (int32_t k = 0; k < L->nout; k += 2) {
        const double *g0 = LANE(gr, L->dot[k]);
        if (k + 1 < L->nout)
            weight_grads(L->gw + (int64_t)k * m, L->gw + (int64_t)(k + 1) * m, L->xt, m, g0,
                         LANE(gr, L->dot[k + 1]), rows);
        else
            weight_grads(L->gw + (int64_t)k * m, L->spare, L->xt, m, g0, g0, rows);
    }
    for (int32_t k = 0; k < L->nout; k++) {
        const double *g = LANE(gr, L->dot[k]);
        double s = L->gb[k];
        for (int r = 0; r < rows; r++) s = s + g[r];
        L->gb[k] = s;
    }
    input_grads(L, gr);
    for (int32_t i = 0; i < m; i++)
        if (L->x[i] >= pfirst && L->x[i] < pend) input_param_grad(L, i, gr, slots, rows);
}
