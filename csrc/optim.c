/*
 * optim.c - optimizer steps over parameter nodes, one call for all of them.
 * The same arithmetic, in the same order, as pygrad/optim.py's Python loop.
 */
#include <math.h> /* sqrt, pow */
#include "core.h"

int pg_fill_grad(int32_t n, const int32_t *ids, double g) {
    if (n < 0 || !pg_all_valid(n, ids)) return PG_EINVAL;
    for (int32_t i = 0; i < n; i++) pg_nodes[ids[i]].grad = g;
    return PG_OK;
}

int pg_sgd_step(int32_t n, const int32_t *ids, double lr, double momentum, double *velocity) {
    if (n < 0 || !pg_all_valid(n, ids) || (momentum != 0.0 && !velocity)) return PG_EINVAL;
    for (int32_t i = 0; i < n; i++) {
        pg_node *p = &pg_nodes[ids[i]];
        double step = p->grad;
        if (momentum != 0.0) {
            velocity[i] = momentum * velocity[i] + step;
            step = velocity[i];
        }
        p->data = p->data - lr * step;
    }
    return PG_OK;
}

int pg_adam_step(int32_t n, const int32_t *ids, double lr, double beta1, double beta2,
                 double eps, int64_t t, double *m, double *v) {
    if (n < 0 || t < 1 || !m || !v || !pg_all_valid(n, ids)) return PG_EINVAL;
    double c1 = 1.0 - pow(beta1, (double)t), c2 = 1.0 - pow(beta2, (double)t);
    for (int32_t i = 0; i < n; i++) {
        pg_node *p = &pg_nodes[ids[i]];
        double g = p->grad;
        m[i] = beta1 * m[i] + (1.0 - beta1) * g;
        v[i] = beta2 * v[i] + (1.0 - beta2) * (g * g);
        double mhat = m[i] / c1, vhat = v[i] / c2;
        p->data = p->data - lr * mhat / (sqrt(vhat) + eps);
    }
    return PG_OK;
}
