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

typedef struct {
    int32_t slot;     /* the slot it computes (a chain: its last ADD)      */
    int32_t nterms;   /* 0: the slot's own op; > 0: a fused chain           */
    int32_t *t;       /* chain: base, then (w, x) per term, x == -1 for a plain term */
    int32_t sum;      /* chain: one SUM node, not ADDs (see chain_step)     */
    int32_t layer;    /* the dense layer it belongs to (layers.c), or -1    */
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

struct pg_program {
    pg_node *slots;      /* nslots: leaves, then op nodes children first   */
    int32_t *leaf_ids;   /* the pool node behind each leaf slot (we hold a ref) */
    pg_instr *code;      /* ncode instructions, in slot order               */
    int32_t *terms;      /* the fused chains' children (one block)          */
    double *lanes;       /* BLOCK rows of every slot's value (lanes.c)      */
    double *glanes;      /* BLOCK rows of every slot's grad                 */
    pg_layer *layers;    /* the dense layers among the instructions         */
    int32_t nlayers;
    int32_t nslots, nleaves, ninputs, nparams, root, ncode, nops;
    int blocks;          /* forward runs may go BLOCK rows at a time        */
    int grad_blocks;     /* so may accumulate runs (see lanes.c)            */
    int running;         /* in pg_program_run (a signal handler may not re-enter) */
};

/* lanes.c: BLOCK rows at a time, slot s's rows in lanes[s * BLOCK ...]. */
enum { BLOCK = 8 };
void pg_lanes_load_constants(pg_program *p);
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

/* The instructions for op slots [nleaves, nslots) of `slots`, in order;
 * chains are fused where that changes no bit of any value or gradient.
 * *code and *terms (the chains' arrays, one block) belong to the caller. */
int pg_fuse(const pg_node *slots, int32_t nleaves, int32_t nslots, int32_t root,
            pg_instr **code, int32_t *ncode, int32_t **terms);

#endif /* PYGRAD_PROGRAM_H */
