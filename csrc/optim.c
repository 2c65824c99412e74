/*
 * optim.c - optimizer steps over parameter nodes, one call for all of them.
 * The same arithmetic, in the same order, as pygrad/optim.py's Python loop.
 *
 * `frozen` is NULL or one byte per parameter: a nonzero byte is a Value with
 * requires_grad = False, which the step leaves alone (data and state).
 * Weight decay follows torch: coupled (SGD, Adam) adds wd * data to the
 * grad; decoupled (AdamW) scales the data by 1 - lr * wd before the step.
 */
#include <math.h> /* sqrt, pow */
#include "core.h"

int pg_fill_grad(int32_t n, const int32_t *ids, double g) {
    if (n < 0 || !pg_all_valid(n, ids)) return PG_EINVAL;
    for (int32_t i = 0; i < n; i++) pg_nodes[ids[i]].grad = g;
    return PG_OK;
}

/* The grad a step uses: with coupled weight decay, grad + wd * data. */
static double decayed_grad(const pg_node *p, double wd) {
    return wd != 0.0 ? p->grad + wd * p->data : p->grad;
}

int pg_sgd_step(int32_t n, const int32_t *ids, const uint8_t *frozen, double lr, double momentum,
                double weight_decay, double *velocity) {
    if (n < 0 || !pg_all_valid(n, ids) || (momentum != 0.0 && !velocity)) return PG_EINVAL;
    for (int32_t i = 0; i < n; i++) {
        if (frozen && frozen[i]) continue;
        pg_node *p = &pg_nodes[ids[i]];
        double step = decayed_grad(p, weight_decay);
        if (momentum != 0.0) {
            velocity[i] = momentum * velocity[i] + step;
            step = velocity[i];
        }
        p->data = p->data - lr * step;
    }
    return PG_OK;
}

/* One parameter's Adam update from grad g (bias corrections c1, c2). */
static inline void adam_one(pg_node *p, double g, double *m, double *v, double lr, double beta1, double beta2,
                            double eps, double c1, double c2) {
    *m = beta1 * *m + (1.0 - beta1) * g;
    *v = beta2 * *v + (1.0 - beta2) * (g * g);
    double mhat = *m / c1, vhat = *v / c2;
    p->data = p->data - lr * mhat / (sqrt(vhat) + eps);
}

int pg_adam_step(int32_t n, const int32_t *ids, const uint8_t *frozen, double lr, double beta1, double beta2,
                 double eps, double weight_decay, int decoupled, int64_t t, double *m, double *v) {
    if (n < 0 || t < 1 || !m || !v || !pg_all_valid(n, ids)) return PG_EINVAL;
    double c1 = 1.0 - pow(beta1, (double)t), c2 = 1.0 - pow(beta2, (double)t);
    if (!frozen && weight_decay == 0.0) {   /* the common step: no test per parameter */
        for (int32_t i = 0; i < n; i++) {
            pg_node *p = &pg_nodes[ids[i]];
            adam_one(p, p->grad, &m[i], &v[i], lr, beta1, beta2, eps, c1, c2);
        }
        return PG_OK;
    }
    double coupled = decoupled ? 0.0 : weight_decay, shrink = 1.0 - lr * weight_decay;
    for (int32_t i = 0; i < n; i++) {
        if (frozen && frozen[i]) continue;
        pg_node *p = &pg_nodes[ids[i]];
        if (decoupled && weight_decay != 0.0) p->data = p->data * shrink;
        adam_one(p, decayed_grad(p, coupled), &m[i], &v[i], lr, beta1, beta2, eps, c1, c2);
    }
    return PG_OK;
}
