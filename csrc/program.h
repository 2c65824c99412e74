/*
 * program.h - what program.c and fuse.c share (not part of the contract).
 *
 * A program runs a list of instructions over its slots. Most instructions
 * are one op node, evaluated by ops.c's rules. A fused chain stands for the
 * left-to-right sum `base + t0 + t1 + ...` that Python's sum() and
 * micrograd-style linear layers build one ADD (and MUL) node at a time:
 * each term is a plain node or a product w * x. It computes and
 * differentiates exactly what those nodes did, in the same order, with one
 * dispatch instead of two per term. A SUM node whose children are such
 * products (`pygrad.sum(p * p for p in params)`) runs as a chain too: its
 * first child is the base, the others its terms.
 */
#ifndef PYGRAD_PROGRAM_H
#define PYGRAD_PROGRAM_H

#include "core.h"

/* What an instruction is. Each interpreter (program.c row by row,
 * lanes.c BLOCK rows at a time) has one case per kind, forward beside
 * backward. */
enum pg_kind {
    PG_I_OP,      /* one op node by ops.c's rules (n-ary sums, dots and select included) */
    PG_I_CHAIN,   /* a fused chain: base + t0 + t1 + ..., each term a node or w * x     */
    PG_I_LAYER,   /* a DOT or RELU of a dense layer: lanes run the whole layer at its
                     first instruction (layers.c); row by row it is an op              */
    PG_I_GUARD,   /* a Python decision seen at trace time: `a cmp b` must come out as
                     it did then, or the row stops with PG_EGUARD (no backward)       */
    PG_I_CUSTOM   /* a user's op recorded by a trace: its slot's children are the
                     op's n children, then its data, then its n local gradients
                     (all slots): value = data; child i += g_i * grad              */
};

/* A guard's comparison: the order of pg_compile_guarded's codes. */
enum pg_cmp { PG_LT, PG_LE, PG_GT, PG_GE };

typedef struct {
    int32_t kind;     /* enum pg_kind                                       */
    int32_t slot;     /* the slot it computes (a chain: its last ADD; a guard: a) */
    int32_t nterms;   /* a chain's terms                                    */
    int32_t *t;       /* chain: base, then (w, x) per term, x == -1 for a plain term */
    int32_t sum;      /* chain: one SUM node, not ADDs (see chain_step)     */
    int32_t layer;    /* a layer instruction's layer (layers.c), else -1    */
    int32_t b;        /* guard: the right side's slot, or -1: the number c  */
    int32_t cmp;      /* guard: enum pg_cmp                                 */
    int32_t expect;   /* guard: the outcome seen at trace time (0 or 1)     */
    int32_t index;    /* guard: its place in the list the caller gave       */
    double c;         /* guard: the right side when it is a number          */
    int32_t rows;     /* chain: its row group (rows.c), else -1             */
    int32_t side;     /* computes a user's op's data or local gradient only:
                         backward skips it                                   */
} pg_instr;

/* A dense layer (layers.c): instructions code[first, end), nout neurons
 * over the same m inputs; neuron k is the DOT at slot dot[k], then the
 * RELU at act[k] (-1: none), weights w[k * m ...], bias b[k]. */
typedef struct {
    int32_t first, end, nout, m, nxop;
    int32_t *x, *dot, *act, *w, *b;   /* slots (one block: ints)          */
    int32_t *rdot;      /* dot, last neuron first                           */
    int32_t *xop;       /* the i whose input x[i] is an op slot (nxop)      */
    double *wd, *bd;    /* the weights' and biases' values in this run     */
    double *wt;         /* wd by input (m x nout), neurons last to first    */
    double *gw, *gb;    /* their grads: the params' running sums           */
    double *xt;         /* a block's inputs, row by row (BLOCK x m)         */
    double *spare;      /* grads of the spare neurons of a pass (4 x m), dropped */
    int32_t *ints;
    double *doubles;
} pg_layer;

/* A row group (rows.c): k fused chains of the code, the first at
 * code[first], each base + sum of n products, whose products read the same
 * factor shared[j] at term j (a linear layer's inputs, attention's query)
 * times a factor of their own, other[j * k + c] for chain c. One row runs
 * them all at the first one's place as one dense kernel, several chains
 * per pass, forward and backward. */
typedef struct {
    int32_t first, k, n;
    int32_t np;         /* terms [0, np) are products; the rest plain terms,
                           each chain's own (a residual): other[], no shared */
    int32_t *shared;    /* n slots (the start of the group's one block)  */
    int32_t *other;     /* n x k slots, term-major                       */
    int32_t *base;      /* k slots: each chain's base                    */
    int32_t *out;       /* k slots: each chain's own                     */
    int32_t matrix;     /* its products' factors as a matrix (rowmats.c), or -1 */
    int32_t *perm;      /* chain c's row in the matrix (NULL: row c)     */
} pg_rows;

/* A row group's product factors (n x k slots, term-major: other[]),
 * gathered for a run (rowmats.c); groups with the same factors share one. */
typedef struct {
    int32_t k, n, users;     /* users: the groups sharing it                */
    const int32_t *slots;    /* the first user's other[]                    */
    int32_t *cslots;         /* the same, k x n: chain by chain             */
    int32_t *cids;           /* the pool nodes behind cslots                */
    double *wd;              /* values, k x n (NULL: not used: slots read) */
    double *wt;              /* the same values, n x k: term by term        */
    double *gw;              /* grads through a run, k x n                 */
    double *log;             /* this row's weight-grad terms, not yet added:
                                per group call, its x (n), then its gp (k) */
    int32_t nlog;            /* the calls logged (at most users)          */
} pg_matrix;

struct pg_program {
    pg_node *slots;      /* nslots: leaves, then op nodes children first   */
    int32_t *leaf_ids;   /* the pool node behind each leaf slot (we hold a ref) */
    pg_instr *code;      /* ncode instructions, in slot order               */
    int32_t *terms;      /* the fused chains' children (one block)          */
    double *lanes;       /* BLOCK rows of every slot's value (lanes.c)      */
    double *glanes;      /* BLOCK rows of every slot's grad                 */
    pg_layer *layers;    /* the dense layers among the instructions         */
    int32_t nlayers;
    pg_rows *rows;       /* the row groups among the chains (rows.c)        */
    int32_t nrowgroups;
    double *row_x;       /* one row group's shared values, gathered (row_n) */
    int32_t row_n;
    pg_matrix *mats;     /* the row groups' weight matrices (rowmats.c)     */
    int32_t nmats;
    double *mat_scratch; /* one group's vectors while it runs               */
    int32_t *plain_params;   /* the param slots no matrix owns (NULL: all)  */
    int32_t nplain;
    int mats_direct;     /* this run: matrices read and write the pool itself */
    int mats_grads;      /* this run: 0 no grads, 1 in the matrices' gw, 2 added
                            into the params' nodes at each row's end (rowmats.c) */
    int32_t *runs;       /* the runs of op instructions (opruns.c), or NULL */
    int32_t *live_consts;    /* the constant slots that may still change (load_constants) */
    int32_t nlive;
    int exact;           /* 0: sums may be reordered (pg_program_set_exact) */
    int32_t nslots, nleaves, ninputs, nparams, root, ncode, nops;
    int32_t nback;       /* code[0, nback) is the root's graph: what backward runs;
                            code[nback, ncode) computes guards' sides, then checks them */
    int32_t nguards;
    int32_t failed_guard;   /* the last run's failing guard (its index), or -1 */
    int depends;         /* the root depends on an input or a param */
    int blocks;          /* forward runs may go BLOCK rows at a time        */
    int grad_blocks;     /* so may accumulate runs (see lanes.c)            */
    int running;         /* in pg_program_run (a signal handler may not re-enter) */
};

/* lanes.c: BLOCK rows at a time, slot s's rows in lanes[s * BLOCK ...]. */
enum { BLOCK = 8 };
void pg_lanes_load_constants(pg_program *p);
/* Does guard instruction `in` hold for these values? */
static inline int pg_guard_holds(const pg_instr *in, double a, double b) {
    int r = in->cmp == PG_LT ? a < b : in->cmp == PG_LE ? a <= b : in->cmp == PG_GT ? a > b : a >= b;
    return r == in->expect;
}
/* nrows <= BLOCK: a short block (a batch's tail) runs its rows' lanes only. */
int pg_lanes_forward(pg_program *p, const double *rows, int nrows, double *out);
void pg_lanes_clear_grads(pg_program *p);
void pg_lanes_backward(pg_program *p, double scale, int nrows);
int pg_lanes_grad_ok(const pg_program *p);

/* layers.c: the dense layers of p's code (marking their instructions),
 * their values and grads, and their kernels for one block of rows. */
void pg_layers_find(pg_program *p);
void pg_layers_free(pg_program *p);
void pg_layers_load(pg_program *p);
void pg_layers_grads(pg_program *p, int out);
void pg_layer_forward(const pg_layer *L, double *v);
void pg_layer_backward(const pg_layer *L, double *gr, const double *v, pg_node *slots,
                       int32_t pfirst, int32_t pend, int rows);

/* rowmats.c: the row groups' matrices (reader_first: readers of slot s
 * number reader_first[s + 1] - reader_first[s]), a run's load and store,
 * and the kernels of a group that has one. */
void pg_rowmats_find(pg_program *p, const int32_t *reader_first);
void pg_rowmats_free(pg_program *p);
void pg_rowmats_load(pg_program *p, int grads);   /* grads: 0, 1, or 2: a run of one row */
void pg_rowmats_store(pg_program *p);
void pg_rowmats_flush(pg_program *p);
void pg_rowmat_forward(const pg_program *p, const pg_rows *g, pg_node *v);
void pg_rowmat_backward(const pg_program *p, const pg_rows *g, pg_node *v);
/* layers.c: the vector family in use ("scalar", "vec2" or "avx"; PYGRAD_SIMD). */
const char *pg_simd_path(void);
/* The vector family the kernels run (families.h): PYGRAD_SIMD's, or the fastest here. */
enum pg_family { PG_FAMILY_SCALAR, PG_FAMILY_VEC2, PG_FAMILY_AVX };
int pg_simd_family(void);

/* opruns.c: the runs of op instructions, each one call into ops.c: the
 * forward of the run starting at code[i] (*next: the instruction after
 * it), and the backward of the run ending at code[i] (returns its first). */
void pg_opruns_find(pg_program *p);
int pg_opruns_forward(const pg_program *p, int32_t i, int32_t *next);
int32_t pg_opruns_backward(const pg_program *p, int32_t i);

/* rows.c: the row groups of p's code (naming them in each chain's `rows`),
 * and their kernels for one row, both run at the group's first chain:
 * forward, and backward (its chains' steps, clearing their grads). */
void pg_rows_find(pg_program *p);
void pg_rows_free(pg_program *p);
void pg_rows_forward(const pg_program *p, const pg_rows *g, pg_node *v);
void pg_rows_backward(const pg_program *p, const pg_rows *g, pg_node *v);
double pg_rows_chain_fast(const pg_node *v, const pg_instr *in);

/* sides.c: users' ops recorded by a trace (pg_compile_custom's customs),
 * looked up by node id, and the order that computes each one's data and
 * local gradients (its sides) just before it. */
typedef struct {
    int32_t *at;            /* node id -> 1 + its entry's place in ints; 0: none */
    const int32_t *ints;    /* entries [node, data, g_0, ..., g_n-1]            */
} pg_customs;
int pg_customs_init(pg_customs *c, int32_t n, const int32_t *ints, int64_t nints);
void pg_customs_free(pg_customs *c);
const int32_t *pg_customs_of(const pg_customs *c, int32_t id);   /* its entry, or NULL */
/* order (nops nodes, the root's graph its first nroot) with every recorded
 * op's sides placed before it: *out (*nout nodes) and *real (1: a node of
 * the root's graph), the caller's to free; PG_ECUSTOM for a user's op not
 * recorded, or a side that needs a node of the root's graph placed later. */
int pg_order_sides(const pg_customs *c, const int32_t *order, int64_t nops, int64_t nroot,
                   int32_t **out, char **real, int64_t *nout);

/* The instructions for op slots [nleaves, nslots) of `slots`, in order;
 * chains are fused where that changes no bit of any value or gradient;
 * a slot marked in keep (the root, guards' sides) stays an instruction.
 * *code and *terms (the chains' arrays, one block) belong to the caller;
 * *code has room for nslots - nleaves + 1 instructions. */
int pg_fuse(const pg_node *slots, int32_t nleaves, int32_t nslots, const char *keep,
            pg_instr **code, int32_t *ncode, int32_t **terms);

#endif /* PYGRAD_PROGRAM_H */
