/*
 * backward_ns.c - ns per node of pg_backward on the two graphs of
 * benchmarks/workloads.py (chain, random DAG), built in C so that the
 * timing holds the core alone. scripts/backward_ns.sh builds it against
 * two trees (old, new) and runs them in turns.
 *
 * usage: backward_ns NODES REPEATS [chain|dag]   (prints: chain NS  dag NS, medians of
 * process CPU time per node; and a checksum of the grads, which must not
 * differ between old and new)
 */
#define _POSIX_C_SOURCE 199309L   /* clock_gettime */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include "pygrad.h"

static double cpu(void) {
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static uint64_t rng = 88172645463325252ull;
static double uniform(void) {   /* xorshift64: a seeded, repeatable graph */
    rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17;
    return (rng >> 11) * (1.0 / 9007199254740992.0);
}

/* acc = acc * a + b, as workloads.chain */
static int32_t chain(int64_t nodes, int32_t *leaves) {
    int32_t a = pg_leaf(0.999), b = pg_leaf(0.001), acc = pg_leaf(1.0);
    for (int64_t s = 0; s < (nodes - 3) / 2; s++) {
        int32_t m = pg_binary(PG_MUL, acc, a);
        pg_decref(acc);
        acc = pg_binary(PG_ADD, m, b);
        pg_decref(m);
    }
    leaves[0] = a, leaves[1] = b;
    return acc;
}

/* as workloads.random_dag: unit k combines the oldest unused node with a
 * random earlier one; the root sums the unused ones. */
static int32_t dag(int64_t nodes, int32_t *leaves) {
    int64_t units = (int64_t)(nodes / 1.75), width = units / 256 > 64 ? units / 256 : 64;
    int32_t *v = malloc((size_t)(width + units) * sizeof *v);
    int32_t half = pg_leaf(0.5);
    for (int64_t i = 0; i < width; i++) v[i] = pg_leaf(0.5 + uniform());
    for (int64_t k = 0; k < units; k++) {
        int mul = uniform() < 0.25;
        int64_t j = (int64_t)(uniform() * (double)(width + k));
        if (mul) v[width + k] = pg_binary(PG_MUL, v[k], v[j]);
        else {
            int32_t s = pg_binary(PG_ADD, v[k], v[j]);
            v[width + k] = pg_binary(PG_MUL, s, half);
            pg_decref(s);
        }
    }
    int32_t root = v[units];
    pg_incref(root);
    for (int64_t k = units + 1; k < width + units; k++) {
        int32_t r = pg_binary(PG_ADD, root, v[k]);
        pg_decref(root);
        root = r;
    }
    leaves[0] = v[0], leaves[1] = half;
    for (int64_t i = 0; i < width + units; i++)
        if (i != 0) pg_decref(v[i]);
    free(v);
    (void)half;
    return root;
}

static double measure(int32_t (*build)(int64_t, int32_t *), int64_t nodes, int reps, double *sum) {
    int32_t leaves[2];
    int32_t root = build(nodes, leaves);
    double t[64];
    for (int r = 0; r < reps; r++) {
        double t0 = cpu();
        if (pg_backward(root) != PG_OK) { fprintf(stderr, "backward failed\n"); exit(1); }
        t[r] = cpu() - t0;
    }
    *sum += pg_grad(leaves[0]) + pg_grad(leaves[1]);
    pg_decref(root);
    pg_decref(leaves[0]);
    if (leaves[1] != leaves[0]) pg_decref(leaves[1]);
    qsort(t, (size_t)reps, sizeof *t, cmp);
    return t[reps / 2] / (double)nodes * 1e9;
}

int main(int argc, char **argv) {
    int64_t nodes = argc > 1 ? atoll(argv[1]) : 1000000;
    int reps = argc > 2 ? atoi(argv[2]) : 5;
    if (reps < 1 || reps > 64) reps = 5;
    const char *only = argc > 3 ? argv[3] : "";   /* one graph: for callgrind */
    double sum = 0, c = 0, d = 0;
    if (only[0] != 'd') c = measure(chain, nodes, reps, &sum);
    if (only[0] != 'c') d = measure(dag, nodes, reps, &sum);
    printf("chain %.2f  dag %.2f  ns/node  (grads %.17g)\n", c, d, sum);
    return 0;
}
