/*
 * rowmat_kernels.h - the vector parts of rowmats.c's kernels, written once
 * and compiled there once per vector family of vec.h (as layer_kernels.h
 * is for layers.c): KERNEL(name) names the copy's functions, KERNEL_TARGET
 * gives their target attribute, VT the family's type, VF(op) its functions
 * and VW its width. QV vectors of VW lanes are in flight at a time.
 */
#define QV 4
#define SPAN (QV * VW)

/* The lanes of v added, left to right. */
PG_INLINE KERNEL_TARGET double KERNEL(lanes_sum)(VT v) {
    double l[VW], s = 0.0;
    VF(store)(l, v);
    for (int i = 0; i < VW; i++) s += l[i];
    return s;
}

/* Exact: acc[c] + wt[j][c] * x[j] for j in order, each chain's sum in its
 * own order, lanes running over chains (wt: the values term by term). */
static KERNEL_TARGET void KERNEL(sums)(const double *wt, const double *x, int32_t k, int32_t np, double *acc) {
    int32_t c0 = 0;
    for (; c0 + SPAN <= k; c0 += SPAN) {
        VT r[QV];
        for (int q = 0; q < QV; q++) r[q] = VF(load)(acc + c0 + q * VW);
        const double *w = wt + c0;
        for (int32_t j = 0; j < np; j++, w += k) {
            const VT xj = VF(splat)(x[j]);
            for (int q = 0; q < QV; q++) r[q] = VF(madd)(r[q], VF(load)(w + q * VW), xj);
        }
        for (int q = 0; q < QV; q++) VF(store)(acc + c0 + q * VW, r[q]);
    }
    for (; c0 < k; c0++)   /* the last k % SPAN chains */
        for (int32_t j = 0; j < np; j++) acc[c0] = acc[c0] + wt[(int64_t)j * k + c0] * x[j];
}

/* exact == 0 only: acc[c] + (w[c] . x) for each of the k rows of w (np
 * each), the dot product in QV vector partial sums: its terms reordered. */
static KERNEL_TARGET void KERNEL(dots)(const double *w, const double *x, int32_t k, int32_t np, double *acc) {
    for (int32_t c = 0; c < k; c++, w += np) {
        VT s[QV];
        for (int q = 0; q < QV; q++) s[q] = VF(splat)(0.0);
        int32_t j = 0;
        for (; j + SPAN <= np; j += SPAN)
            for (int q = 0; q < QV; q++) s[q] = VF(madd)(s[q], VF(load)(w + j + q * VW), VF(load)(x + j + q * VW));
        for (; j + VW <= np; j += VW) s[0] = VF(madd)(s[0], VF(load)(w + j), VF(load)(x + j));
        double sum = KERNEL(lanes_sum)((s[0] + s[1]) + (s[2] + s[3]));
        for (; j < np; j++) sum += w[j] * x[j];
        acc[c] = acc[c] + sum;
    }
}

/* gx[j] + w[c][j] * gp[c] for chains c from k - 1 down to 0 (chain c's
 * weights in row ROW(perm, c)): each gx[j] its additions in that order,
 * lanes running over j (exact); with exact == 0 the chains' halves go in
 * two partial sums, added at the end. */
static KERNEL_TARGET void KERNEL(grads)(const double *w, const int32_t *perm, const double *gp, int32_t k,
                                        int32_t np, double *gx, int exact) {
    int32_t j0 = 0, half = exact ? 0 : k / 2;
    for (; j0 + SPAN <= np; j0 += SPAN) {
        VT r[QV], h[QV];
        for (int q = 0; q < QV; q++) {
            r[q] = VF(load)(gx + j0 + q * VW);
            h[q] = VF(splat)(0.0);
        }
        for (int32_t c = k - 1; c >= half; c--) {
            const VT g = VF(splat)(gp[c]);
            const double *wc = w + (int64_t)ROW(perm, c) * np + j0;
            for (int q = 0; q < QV; q++) r[q] = VF(madd)(r[q], VF(load)(wc + q * VW), g);
        }
        for (int32_t c = half - 1; c >= 0; c--) {   /* exact == 0: the first half, its own sums */
            const VT g = VF(splat)(gp[c]);
            const double *wc = w + (int64_t)ROW(perm, c) * np + j0;
            for (int q = 0; q < QV; q++) h[q] = VF(madd)(h[q], VF(load)(wc + q * VW), g);
        }
        for (int q = 0; q < QV; q++) VF(store)(gx + j0 + q * VW, half ? r[q] + h[q] : r[q]);
    }
    for (int32_t j = j0; j < np; j++)   /* the last np % SPAN terms */
        for (int32_t c = k - 1; c >= 0; c--) gx[j] = gx[j] + w[(int64_t)ROW(perm, c) * np + j] * gp[c];
}

/* Both modes: each weight's grad gw[c][j] + x[j] * gp[c] for each of the
 * nlog group calls logged (x, then gp, per call), in their order: one
 * addition per call, as the calls would have made them one by one. */
static KERNEL_TARGET void KERNEL(flush)(double *gw, const double *log, int32_t nlog, int32_t k, int32_t np) {
    const int64_t size = (int64_t)np + k;
    for (int32_t c = 0; c < k; c++) {
        double *g = gw + (int64_t)c * np;
        int32_t j = 0;
        for (; j + SPAN <= np; j += SPAN) {
            VT r[QV];
            for (int q = 0; q < QV; q++) r[q] = VF(load)(g + j + q * VW);
            for (const double *e = log; e < log + nlog * size; e += size) {
                const VT s = VF(splat)(e[np + c]);
                for (int q = 0; q < QV; q++) r[q] = VF(madd)(r[q], VF(load)(e + j + q * VW), s);
            }
            for (int q = 0; q < QV; q++) VF(store)(g + j + q * VW, r[q]);
        }
        for (; j < np; j++)
            for (const double *e = log; e < log + nlog * size; e += size) g[j] = g[j] + e[j] * e[np + c];
    }
}

/* flush's sums into the grads of pool nodes ids[c * np + j] themselves
 * (a run of one row): SPAN of them gathered at a time, the same additions
 * in the same order. The ids are distinct (rowmats.c: own_slots). */
static KERNEL_TARGET void KERNEL(flush_nodes)(pg_node *pool, const int32_t *ids, const double *log, int32_t nlog,
                                              int32_t k, int32_t np) {
    const int64_t size = (int64_t)np + k;
    for (int32_t c = 0; c < k; c++) {
        const int32_t *id = ids + (int64_t)c * np;
        int32_t j = 0;
        for (; j + SPAN <= np; j += SPAN) {
            double g[SPAN];
            VT r[QV];
            for (int t = 0; t < SPAN; t++) g[t] = pool[id[j + t]].grad;
            for (int q = 0; q < QV; q++) r[q] = VF(load)(g + q * VW);
            for (const double *e = log; e < log + nlog * size; e += size) {
                const VT s = VF(splat)(e[np + c]);
                for (int q = 0; q < QV; q++) r[q] = VF(madd)(r[q], VF(load)(e + j + q * VW), s);
            }
            for (int q = 0; q < QV; q++) VF(store)(g + q * VW, r[q]);
            for (int t = 0; t < SPAN; t++) pool[id[j + t]].grad = g[t];
        }
        for (; j < np; j++) {
            double g = pool[id[j]].grad;
            for (const double *e = log; e < log + nlog * size; e += size) g = g + e[j] * e[np + c];
            pool[id[j]].grad = g;
        }
    }
}

#undef SPAN
#undef QV
