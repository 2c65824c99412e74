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
    L->ints = malloc((size_t)(m + 3 * nout + nw) * sizeof(int32_t));
    L->doubles = calloc((size_t)(2 * nw + 2 * nout + (int64_t)BLOCK * m), sizeof(double));
    if (!L->ints || !L->doubles) {
        free(L->ints);
        free(L->doubles);
        return PG_ENOMEM;
    }
    p->nlayers++;
    L->x = L->ints;
    L->dot = L->x + m;
    L->act = L->dot + nout;
    L->b = L->act + nout;
    L->w = L->b + nout;
    L->wd = L->doubles;
    L->gw = L->wd + nw;
    L->bd = L->gw + nw;
    L->gb = L->bd + nout;
    L->xt = L->gb + nout;
    memcpy(L->x, pg_kids_of(n0) + m, (size_t)m * sizeof(int32_t));
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
// forward

/* Neuron k's sums for the block: b, then + w_i * x_i (x's rows: X[i]). */
static void neuron_forward(const pg_layer *L, int32_t k, double *v) {
    const double *w = L->wd + (int64_t)k * L->m;
    double acc[BLOCK];
    for (int b = 0; b < BLOCK; b++) acc[b] = L->bd[k];
    for (int32_t i = 0; i < L->m; i++) {
        const double wi = w[i], *restrict x = LANE(v, L->x[i]);
        for (int b = 0; b < BLOCK; b++) acc[b] = acc[b] + wi * x[b];
    }
    double *restrict d = LANE(v, L->dot[k]);
    for (int b = 0; b < BLOCK; b++) d[b] = acc[b];
    if (L->act[k] < 0) return;
    double *restrict o = LANE(v, L->act[k]);
    for (int b = 0; b < BLOCK; b++) o[b] = acc[b] < 0.0 ? 0.0 : acc[b];   /* ops.def's RELU */
}

void pg_layer_forward(const pg_layer *L, double *v) {
    for (int32_t k = 0; k < L->nout; k++) neuron_forward(L, k, v);
}

// ---------------------------------------------------------------------------
// backward

/* gw[0..n) += each of `rows` rows' x * g, row after row; x rows are xt's
 * (stride m). Sixteen running sums at a time: independent chains. */
enum { WIDE = 16 };
static void weight_grads(double *restrict gw, const double *restrict xt, int32_t m, int32_t n,
                         const double *restrict g, int rows) {
    int32_t i = 0;
    for (; i + WIDE <= n; i += WIDE) {
        double s[WIDE];
        for (int j = 0; j < WIDE; j++) s[j] = gw[i + j];
        for (int r = 0; r < rows; r++)
            for (int j = 0; j < WIDE; j++) s[j] = s[j] + xt[(int64_t)r * m + i + j] * g[r];
        for (int j = 0; j < WIDE; j++) gw[i + j] = s[j];
    }
    for (; i < n; i++) {
        double s = gw[i];
        for (int r = 0; r < rows; r++) s = s + xt[(int64_t)r * m + i] * g[r];
        gw[i] = s;
    }
}

/* Input i's grad rows, an op slot's: + w_ki * g_k for k last to first. */
static void input_grad(const pg_layer *L, int32_t i, double *gr) {
    double acc[BLOCK];
    double *restrict y = LANE(gr, L->x[i]);
    for (int b = 0; b < BLOCK; b++) acc[b] = y[b];
    for (int32_t k = L->nout - 1; k >= 0; k--) {
        const double w = L->wd[(int64_t)k * L->m + i], *restrict g = LANE(gr, L->dot[k]);
        for (int b = 0; b < BLOCK; b++) acc[b] = acc[b] + w * g[b];
    }
    for (int b = 0; b < BLOCK; b++) y[b] = acc[b];
}

/* Input i's grad, a param's running sum: each row's terms, neurons last to first. */
static void input_param_grad(const pg_layer *L, int32_t i, const double *gr, pg_node *slots, int rows) {
    double s = slots[L->x[i]].grad;
    for (int r = 0; r < rows; r++)
        for (int32_t k = L->nout - 1; k >= 0; k--) s = s + L->wd[(int64_t)k * L->m + i] * LANE(gr, L->dot[k])[r];
    slots[L->x[i]].grad = s;
}

void pg_layer_backward(const pg_layer *L, double *gr, const double *v, pg_node *slots,
                       int32_t pfirst, int32_t pend, int32_t nleaves, int rows) {
    int32_t m = L->m;
    for (int32_t k = 0; k < L->nout; k++) {   /* each RELU's step, into its DOT's grad */
        if (L->act[k] < 0) continue;
        const double *restrict o = LANE(v, L->act[k]), *restrict ga = LANE(gr, L->act[k]);
        double *restrict gd = LANE(gr, L->dot[k]);
        for (int b = 0; b < BLOCK; b++) gd[b] = gd[b] + (double)(o[b] > 0.0) * ga[b];
    }
    for (int32_t i = 0; i < m; i++)   /* the inputs' rows, row by row */
        for (int r = 0; r < rows; r++) L->xt[(int64_t)r * m + i] = LANE(v, L->x[i])[r];
    for (int32_t k = 0; k < L->nout; k++) {
        const double *g = LANE(gr, L->dot[k]);
        weight_grads(L->gw + (int64_t)k * m, L->xt, m, m, g, rows);
        double s = L->gb[k];
        for (int r = 0; r < rows; r++) s = s + g[r];
        L->gb[k] = s;
    }
    for (int32_t i = 0; i < m; i++) {
        int32_t s = L->x[i];
        if (s >= pfirst && s < pend) input_param_grad(L, i, gr, slots, rows);
        else if (s >= nleaves) input_grad(L, i, gr);
    }
}
