/*
 * program.h - what program.c and fuse.c share (not part of the contract).
 *
 * A program runs a list of instructions over its slots. Most instructions
 * are one op node, evaluated by ops.c's rules. A fused chain stands for the
 * left-to-right sum `base + t0 + t1 + ...` that Python's sum() and
 * micrograd-style linear layers build one ADD (and MUL) node at a time:
 * each term is a plain node or a product w * x. It computes and
 * differentiates exactly what those nodes did, in the same order, with one
 * dispatch instead of two per term.
 */
#ifndef PYGRAD_PROGRAM_H
#define PYGRAD_PROGRAM_H

#include "core.h"

typedef struct {
    int32_t slot;     /* the slot it computes (a chain: its last ADD)      */
    int32_t nterms;   /* 0: the slot's own op; > 0: a fused chain           */
    int32_t *t;       /* chain: base, then (w, x) per term, x == -1 for a plain term */
} pg_instr;

/* The instructions for op slots [nleaves, nslots) of `slots`, in order;
 * chains are fused where that changes no bit of any value or gradient.
 * *code and *terms (the chains' arrays, one block) belong to the caller. */
int pg_fuse(const pg_node *slots, int32_t nleaves, int32_t nslots, int32_t root,
            pg_instr **code, int32_t *ncode, int32_t **terms);

#endif /* PYGRAD_PROGRAM_H */
