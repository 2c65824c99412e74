/*
 * layer_kernels.h - the dense-layer kernels of layers.c, written once and
 * compiled there once per vector family of vec.h: layers.c includes this
 * file with KERNEL(name) naming that copy's functions, KERNEL_TARGET
 * giving their target attribute (empty: the build's own flags), VT the
 * family's type, VF(op) its functions and VW its width. layers.c's comment
 * gives the order of every sum; each kernel keeps it.
 *
 * The kernels work on G outputs at a time (so that each row loaded serves
 * G of them), their running values in registers (8 vectors: G outputs of
 * Q vectors of lanes): G neurons' sums, G inputs' grads, G neurons' weight
 * grads. A group that runs past the last output repeats it into a spare,
 * whose results are dropped.
 */
#define Q (BLOCK / VW)
#define G (8 / Q)

/* acc[o] (BLOCK rows each) + w[o][j] times the rows of slot src[j], for j
 * in order: G neurons' sums, or G inputs' grads. */
static KERNEL_TARGET void KERNEL(lanes_sums)(const double *base, const int32_t *src, int32_t n,
                                             const double *const *w, double (*acc)[BLOCK]) {
    VT a[G][Q];
    for (int o = 0; o < G; o++)
        for (int q = 0; q < Q; q++) a[o][q] = VF(load)(acc[o] + VW * q);
    for (int32_t j = 0; j < n; j++) {
        const double *s = LANE(base, src[j]);
        VT x[Q];
        for (int q = 0; q < Q; q++) x[q] = VF(load)(s + VW * q);
        for (int o = 0; o < G; o++) {
            const VT wo = VF(splat)(w[o][j]);
            for (int q = 0; q < Q; q++) a[o][q] = VF(madd)(a[o][q], wo, x[q]);
        }
    }
    for (int o = 0; o < G; o++)
        for (int q = 0; q < Q; q++) VF(store)(acc[o] + VW * q, a[o][q]);
}

/* gw[o][0 .. VW nq) + each row's x * g[o][r], rows in order (row r's x at
 * xt + r * m): G neurons' weights' grads, VW nq weights each. */
static inline KERNEL_TARGET void KERNEL(weight_tile)(double *const *gw, const double *xt, int32_t m,
                                                     const double *const *g, int rows, const int nq) {
    VT s[G][2];
    for (int o = 0; o < G; o++)
        for (int q = 0; q < nq; q++) s[o][q] = VF(load)(gw[o] + VW * q);
    for (int r = 0; r < rows; r++) {
        VT x[2];
        for (int q = 0; q < nq; q++) x[q] = VF(load)(xt + (int64_t)r * m + VW * q);
        for (int o = 0; o < G; o++) {
            const VT go = VF(splat)(g[o][r]);
            for (int q = 0; q < nq; q++) s[o][q] = VF(madd)(s[o][q], x[q], go);
        }
    }
    for (int o = 0; o < G; o++)
        for (int q = 0; q < nq; q++) VF(store)(gw[o] + VW * q, s[o][q]);
}

static KERNEL_TARGET void KERNEL(weight_grads)(double *const *gw, const double *xt, int32_t m,
                                               const double *const *g, int rows) {
    int32_t i = 0;
    double *at[G];
    for (; i + 2 * VW <= m; i += 2 * VW) {
        for (int o = 0; o < G; o++) at[o] = gw[o] + i;
        KERNEL(weight_tile)(at, xt + i, m, g, rows, 2);
    }
    for (; i + VW <= m; i += VW) {
        for (int o = 0; o < G; o++) at[o] = gw[o] + i;
        KERNEL(weight_tile)(at, xt + i, m, g, rows, 1);
    }
    for (; i < m; i++) {   /* the G running sums interleaved: independent chains */
        double s[G];
        for (int o = 0; o < G; o++) s[o] = gw[o][i];
        for (int r = 0; r < rows; r++)
            for (int o = 0; o < G; o++) s[o] = s[o] + xt[(int64_t)r * m + i] * g[o][r];
        for (int o = 0; o < G; o++) gw[o][i] = s[o];
    }
}

static KERNEL_TARGET void KERNEL(store_neuron)(const pg_layer *L, int32_t k, const double *acc, double *v) {
    double *d = LANE(v, L->dot[k]);
    for (int q = 0; q < Q; q++) VF(store)(d + VW * q, VF(load)(acc + VW * q));
    if (L->act[k] < 0) return;
    double *o = LANE(v, L->act[k]);
    for (int q = 0; q < Q; q++) VF(store)(o + VW * q, VF(relu)(VF(load)(acc + VW * q)));
}

/* Each neuron's sums for the block: b, then + w_i * x_i for i in order. */
static KERNEL_TARGET void KERNEL(forward)(const pg_layer *L, double *v) {
    for (int32_t k0 = 0; k0 < L->nout; k0 += G) {
        double acc[G][BLOCK];
        const double *w[G];
        for (int o = 0; o < G; o++) {   /* (vector stores: lanes_sums loads vectors) */
            int32_t k = k0 + o < L->nout ? k0 + o : L->nout - 1;
            w[o] = L->wd + (int64_t)k * L->m;
            for (int q = 0; q < Q; q++) VF(store)(acc[o] + VW * q, VF(splat)(L->bd[k]));
        }
        KERNEL(lanes_sums)(v, L->x, L->m, w, acc);
        for (int o = 0; o < G && k0 + o < L->nout; o++) KERNEL(store_neuron)(L, k0 + o, acc[o], v);
    }
}

/* The op-slot inputs' grad rows: + w_ki * g_k for k last to first. */
static KERNEL_TARGET void KERNEL(input_grads)(const pg_layer *L, double *gr) {
    for (int32_t j0 = 0; j0 < L->nxop; j0 += G) {
        double acc[G][BLOCK];
        const double *w[G];
        for (int o = 0; o < G; o++) {
            int32_t i = L->xop[j0 + o < L->nxop ? j0 + o : L->nxop - 1];
            w[o] = L->wt + (int64_t)i * L->nout;
            for (int q = 0; q < Q; q++) VF(store)(acc[o] + VW * q, VF(load)(LANE(gr, L->x[i]) + VW * q));
        }
        KERNEL(lanes_sums)(gr, L->rdot, L->nout, w, acc);
        for (int o = 0; o < G && j0 + o < L->nxop; o++) {
            double *y = LANE(gr, L->x[L->xop[j0 + o]]);
            for (int q = 0; q < Q; q++) VF(store)(y + VW * q, VF(load)(acc[o] + VW * q));
        }
    }
}

static KERNEL_TARGET void KERNEL(backward)(const pg_layer *L, double *gr, const double *v, pg_node *slots,
                                           int32_t pfirst, int32_t pend, int rows) {
    int32_t m = L->m;
    for (int32_t k = 0; k < L->nout; k++) {   /* each RELU's step, into its DOT's grad */
        if (L->act[k] < 0) continue;
        const double *o = LANE(v, L->act[k]), *ga = LANE(gr, L->act[k]);
        double *gd = LANE(gr, L->dot[k]);
        for (int q = 0; q < Q; q++)   /* gd + (double)(o > 0.0) * ga */
            VF(store)(gd + VW * q, VF(madd)(VF(load)(gd + VW * q), VF(positive)(VF(load)(o + VW * q)),
                                             VF(load)(ga + VW * q)));
    }
    for (int32_t i = 0; i < m; i++)   /* the inputs' rows, row by row */
        for (int r = 0; r < rows; r++) L->xt[(int64_t)r * m + i] = LANE(v, L->x[i])[r];
    for (int32_t k0 = 0; k0 < L->nout; k0 += G) {
        double *gw[G];
        const double *g[G];
        for (int o = 0; o < G; o++) {
            int32_t k = k0 + o < L->nout ? k0 + o : L->nout - 1;
            gw[o] = k0 + o < L->nout ? L->gw + (int64_t)k * m : L->spare + (int64_t)o * m;
            g[o] = LANE(gr, L->dot[k]);
        }
        KERNEL(weight_grads)(gw, L->xt, m, g, rows);
    }
    for (int32_t k = 0; k < L->nout; k++) {
        const double *g = LANE(gr, L->dot[k]);
        double s = L->gb[k];
        for (int r = 0; r < rows; r++) s = s + g[r];
        L->gb[k] = s;
    }
    KERNEL(input_grads)(L, gr);
    for (int32_t i = 0; i < m; i++) {   /* a param input: its running sum, row by row */
        int32_t s = L->x[i];
        if (s < pfirst || s >= pend) continue;
        double sum = slots[s].grad;
        for (int r = 0; r < rows; r++)
            for (int32_t k = L->nout - 1; k >= 0; k--) sum = sum + L->wd[(int64_t)k * m + i] * LANE(gr, L->dot[k])[r];
        slots[s].grad = sum;
    }
}

#undef Q
#undef G
