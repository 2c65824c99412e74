/*
 * opruns.c - runs of op instructions, each run one call into ops.c.
 *
 * Between a program's chains and guards lie runs of plain op instructions
 * (softmax's exps and divisions, rmsnorm's scalings, ...). Row by row,
 * each cost a call to pg_eval (and one to its forward rule) and, backward,
 * one to pg_local_step. ops.c runs a whole run in one call instead, with
 * its rules inlined there (pg_eval_run, pg_step_run): the same rules on
 * the same nodes in the same order, so the same bits.
 */
#include <stdlib.h> /* malloc, free */
#include "program.h"

static int is_op(const pg_instr *in) { return in->kind == PG_I_OP || in->kind == PG_I_LAYER; }

/* Do instructions a and b (a just before b) belong to one run? Ops both,
 * and both sides (backward skips those: see PG_I_CUSTOM) or neither. */
static int joined(const pg_instr *a, const pg_instr *b) { return is_op(a) && is_op(b) && a->side == b->side; }

/* For each op instruction i: the run holding it is code[begin[i], end[i]),
 * and slot[i] its slot (a run's slots, in order, for ops.c). One block,
 * p->runs: slot, then begin, then end. Without its memory, no runs: the
 * interpreter goes instruction by instruction. */
void pg_opruns_find(pg_program *p) {
    int32_t n = p->ncode;
    p->runs = malloc(((size_t)3 * n + 1) * sizeof(int32_t));
    if (!p->runs) return;
    int32_t *slot = p->runs, *begin = slot + n, *end = begin + n;
    for (int32_t i = 0; i < n; i++) {
        slot[i] = p->code[i].slot;
        begin[i] = i > 0 && joined(&p->code[i - 1], &p->code[i]) ? begin[i - 1] : i;
    }
    for (int32_t i = n - 1; i >= 0; i--)
        end[i] = i + 1 < n && joined(&p->code[i], &p->code[i + 1]) ? end[i + 1] : i + 1;
}

/* The forward of the run starting at op instruction i (its first): the
 * first failing op's status, or PG_OK; *next is the instruction after it. */
int pg_opruns_forward(const pg_program *p, int32_t i, int32_t *next) {
    if (!p->runs) {
        *next = i + 1;
        return pg_eval(p->slots, &p->slots[p->code[i].slot]);
    }
    *next = p->runs[2 * p->ncode + i];
    return pg_eval_run(p->slots, p->runs + i, *next - i);
}

/* The backward of the run ending at op instruction i (its last, reached
 * first by the reverse sweep): each op's step, last first, its grad then
 * spent (0). Returns the run's first instruction. */
int32_t pg_opruns_backward(const pg_program *p, int32_t i) {
    int32_t first = p->runs ? p->runs[p->ncode + i] : i;
    if (p->runs) {
        pg_step_run(p->slots, p->runs + first, i + 1 - first);
        return first;
    }
    pg_local_step(p->slots, &p->slots[p->code[i].slot]);
    p->slots[p->code[i].slot].grad = 0.0;
    return i;
}
