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
#if defined(_MSC_VER)
#define _CRT_SECURE_NO_WARNINGS   /* MSVC's note on getenv: we only read one name, at the first run */
#endif
#include <stdlib.h> /* malloc, calloc, free, getenv */
#include <string.h> /* memcmp, strcmp */
#include "vec.h"
#include "program.h"

#define LANE(base, slot) ((base) + (int64_t)(slot) * BLOCK)

// ---------------------------------------------------------------------------
// finding layers

static int is_dot(const pg_program *p, int32_t i) {
    const pg_instr *in = &p->code[i];
    return in->kind == PG_I_OP && p->slots[in->slot].op == PG_DOT && pg_nkids_of(&p->slots[in->slot]) >= 3;
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
    if (i >= p->ncode || p->code[i].kind != PG_I_OP) return 0;
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
    L->doubles = calloc((size_t)(3 * nw + 2 * nout + (int64_t)(BLOCK + 4) * m), sizeof(double));
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
        p->code[i].kind = PG_I_LAYER;
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

/* Without the memory for them, a program has no layers: its instructions
 * then run one by one, with the same numbers. */
void pg_layers_find(pg_program *p) {
    char *seen = calloc((size_t)p->nslots + 1, 1);
    p->layers = calloc((size_t)p->ncode + 1, sizeof(pg_layer));
    int st = seen && p->layers ? PG_OK : PG_ENOMEM;
    for (int32_t i = 0; i < p->ncode; i++) p->code[i].layer = -1;
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
    if (st == PG_OK) return;
    pg_layers_free(p);
    p->layers = NULL;
    p->nlayers = 0;
    for (int32_t i = 0; i < p->ncode; i++) {
        if (p->code[i].kind == PG_I_LAYER) p->code[i].kind = PG_I_OP;
        p->code[i].layer = -1;
    }
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
// kernels (layer_kernels.h), one copy per vector family (families.h). The
// fastest the CPU runs is used; PYGRAD_SIMD=scalar|vec2|avx forces one, so
// that one build tests them all.

#define PG_FAMILY_KERNELS "layer_kernels.h"
#include "families.h"
#undef PG_FAMILY_KERNELS

/* The families in order of width; a path runs if it and all before it do. */
static const char *const path_names[] = {"scalar", "vec2", "avx"};

static int best_path(void) {
#if defined(PG_AVX_FAMILY)
    __builtin_cpu_init();   /* (its check of AVX includes the OS's saving of the registers) */
    if (__builtin_cpu_supports("avx")) return PG_FAMILY_AVX;
#endif
#if defined(PG_VECTORS)
    return PG_FAMILY_VEC2;
#else
    return PG_FAMILY_SCALAR;
#endif
}

/* Chosen at the first call (the GIL serializes calls into the core): a
 * forced path this build or CPU cannot run, or a name it does not know,
 * gives the fastest one, which pg_simd_path() then names. */
static int path(void) {
    static int chosen = -1;
    if (chosen < 0) {
        const char *want = getenv("PYGRAD_SIMD");
        int best = best_path();
        chosen = best;
        for (int i = 0; want && i <= best; i++)
            if (strcmp(want, path_names[i]) == 0) chosen = i;
    }
    return chosen;
}

/* For tests and diagnostics (declared for Python in pygrad/_build.py). */
const char *pg_simd_path(void) { return path_names[path()]; }
const char *pg_simd_best(void) { return path_names[best_path()]; }
int pg_simd_family(void) { return path(); }

void pg_layer_forward(const pg_layer *L, double *v) {
    switch (path()) {
#if defined(PG_AVX_FAMILY)
    case PG_FAMILY_AVX: forward_avx(L, v); return;
#endif
#if defined(PG_VECTORS)
    case PG_FAMILY_VEC2: forward_vec2(L, v); return;
#endif
    default: forward_scalar(L, v);
    }
}

void pg_layer_backward(const pg_layer *L, double *gr, const double *v, pg_node *slots,
                       int32_t pfirst, int32_t pend, int rows) {
    switch (path()) {
#if defined(PG_AVX_FAMILY)
    case PG_FAMILY_AVX: backward_avx(L, gr, v, slots, pfirst, pend, rows); return;
#endif
#if defined(PG_VECTORS)
    case PG_FAMILY_VEC2: backward_vec2(L, gr, v, slots, pfirst, pend, rows); return;
#endif
    default: backward_scalar(L, gr, v, slots, pfirst, pend, rows);
    }
}
