/*
 * dense.c - a dense neural-network layer in one call: for each output
 * neuron one PG_DOT node over (its weights, the inputs, its bias), then a
 * PG_RELU node if asked. It only composes graph.c's constructors, so the
 * nodes are exactly those of the same ops called one by one.
 */
#include <stdlib.h> /* malloc, free */
#include "core.h"

/* One neuron: DOT over (w row, x, b), then RELU if asked. */
static int32_t neuron(int32_t nin, const int32_t *w, const int32_t *x, int32_t b,
                      int relu, int32_t *kids) {
    for (int32_t i = 0; i < nin; i++) {
        kids[i] = w[i];
        kids[nin + i] = x[i];
    }
    kids[2 * nin] = b;
    int32_t dot = pg_nary_unchecked(PG_DOT, 2 * nin + 1, kids);
    if (dot < 0 || !relu) return dot;
    int32_t act = pg_unary(PG_RELU, dot);
    pg_decref(dot); /* owned by the RELU node now, or freed on failure */
    return act;
}

int pg_dense(int32_t nout, int32_t nin, const int32_t *w, const int32_t *x,
             const int32_t *b, int relu, int32_t *out) {
    if (nout < 0 || nin < 0 || !w || !x || !b || !out) return PG_EINVAL;
    if (!pg_all_valid((int64_t)nout * nin, w) || !pg_all_valid(nin, x) || !pg_all_valid(nout, b))
        return PG_EINVAL;
    int32_t *kids = malloc((size_t)(2 * nin + 1) * sizeof(int32_t));
    if (!kids) return PG_ENOMEM;
    for (int32_t r = 0; r < nout; r++) {
        out[r] = neuron(nin, w + (int64_t)r * nin, x, b[r], relu, kids);
        if (out[r] < 0) {
            int status = -out[r];
            for (int32_t j = 0; j < r; j++) pg_decref(out[j]);
            for (int32_t j = 0; j < nout; j++) out[j] = -1;   /* no id to release */
            free(kids);
            return status;
        }
    }
    free(kids);
    return PG_OK;
}
