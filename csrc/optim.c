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
#if defined(__SSE2__)
#include <emmintrin.h> /* two doubles at a time (x86-64 always has SSE2) */
#endif
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

/* One param's moments from grad g, and the step its data takes. */
static inline double adam_step_of(double g, double *m, double *v, double lr, double beta1, double beta2,
                                  double eps, double c1, double c2) {
    *m = beta1 * *m + (1.0 - beta1) * g;
    *v = beta2 * *v + (1.0 - beta2) * (g * g);
    double mhat = *m / c1, vhat = *v / c2;
    return lr * mhat / (sqrt(vhat) + eps);
}

/* The common step's arithmetic over arrays: a chunk of params' grads, in
 * g, gives the steps their data will take, in g too. Divisions and square
 * roots dominate a step, so with SSE2 two params go at a time (vector
 * division and square root round as the scalar ones do: the same bits). */
static void adam_arrays(int32_t n, double *restrict g, double *restrict m, double *restrict v, double lr,
                        double beta1, double beta2, double eps, double c1, double c2) {
    int32_t i = 0;
#if defined(__SSE2__)
    const __m128d b1 = _mm_set1_pd(beta1), a1 = _mm_set1_pd(1.0 - beta1), b2 = _mm_set1_pd(beta2),
                  a2 = _mm_set1_pd(1.0 - beta2), k1 = _mm_set1_pd(c1), k2 = _mm_set1_pd(c2),
                  rate = _mm_set1_pd(lr), e = _mm_set1_pd(eps);
    for (; i + 2 <= n; i += 2) {
        __m128d gi = _mm_loadu_pd(g + i);
        __m128d mi = _mm_add_pd(_mm_mul_pd(b1, _mm_loadu_pd(m + i)), _mm_mul_pd(a1, gi));
        __m128d vi = _mm_add_pd(_mm_mul_pd(b2, _mm_loadu_pd(v + i)), _mm_mul_pd(a2, _mm_mul_pd(gi, gi)));
        _mm_storeu_pd(m + i, mi);
        _mm_storeu_pd(v + i, vi);
        __m128d root = _mm_add_pd(_mm_sqrt_pd(_mm_div_pd(vi, k2)), e);
        _mm_storeu_pd(g + i, _mm_div_pd(_mm_mul_pd(rate, _mm_div_pd(mi, k1)), root));
    }
#endif
    for (; i < n; i++) g[i] = adam_step_of(g[i], &m[i], &v[i], lr, beta1, beta2, eps, c1, c2);
}

enum { ADAM_CHUNK = 256 };

/* One parameter's Adam update from grad g (bias corrections c1, c2). */
static inline void adam_one(pg_node *p, double g, double *m, double *v, double lr, double beta1, double beta2,
                            double eps, double c1, double c2) {
    p->data = p->data - adam_step_of(g, m, v, lr, beta1, beta2, eps, c1, c2);
}

int pg_adam_step(int32_t n, const int32_t *ids, const uint8_t *frozen, double lr, double beta1, double beta2,
                 double eps, double weight_decay, int decoupled, int64_t t, double *m, double *v) {
    if (n < 0 || t < 1 || !m || !v || !pg_all_valid(n, ids)) return PG_EINVAL;
    double c1 = 1.0 - pow(beta1, (double)t), c2 = 1.0 - pow(beta2, (double)t);
    /* The common step: no test per parameter (and moments in two arrays,
     * which adam_arrays needs: a user may have made them one). */
    if (!frozen && weight_decay == 0.0 && (m + n <= v || v + n <= m)) {
        /* The data moves node by node, after the chunk's steps: a param
         * listed twice takes both steps, one after the other, as before. */
        double g[ADAM_CHUNK];
        for (int32_t i0 = 0; i0 < n; i0 += ADAM_CHUNK) {
            int32_t len = n - i0 < ADAM_CHUNK ? n - i0 : ADAM_CHUNK;
            for (int32_t i = 0; i < len; i++) g[i] = pg_nodes[ids[i0 + i]].grad;
            adam_arrays(len, g, m + i0, v + i0, lr, beta1, beta2, eps, c1, c2);
            for (int32_t i = 0; i < len; i++) {
                pg_node *p = &pg_nodes[ids[i0 + i]];
                p->data = p->data - g[i];
            }
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
