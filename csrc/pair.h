/*
 * pair.h - two doubles handled as one value by the lanes kernels: one
 * SSE2 (or NEON) instruction per operation where the compiler has GCC's
 * vector types, two scalar operations elsewhere. Each lane rounds exactly
 * as the scalar operation would (IEEE double, and no fused multiply-add:
 * the core is built with -ffp-contract=off).
 */
#ifndef PYGRAD_PAIR_H
#define PYGRAD_PAIR_H

#include <string.h> /* memcpy: unaligned loads and stores */

#if defined(__GNUC__) && !defined(PG_NO_VECTORS)   /* -DPG_NO_VECTORS: test the fallback */
typedef double pg_pair __attribute__((vector_size(16)));
static inline pg_pair pair_splat(double x) { return (pg_pair){x, x}; }
typedef long long pg_pair_mask __attribute__((vector_size(16)));
/* acc + a * b, lane by lane */
static inline pg_pair pair_madd(pg_pair acc, pg_pair a, pg_pair b) { return acc + a * b; }
/* ops.def's RELU, a < 0.0 ? 0.0 : a, without a branch: a's bits where it is not < 0 */
static inline pg_pair pair_relu(pg_pair a) {
    return (pg_pair)((pg_pair_mask)a & ~(pg_pair_mask)(a < pair_splat(0.0)));
}
/* (double)(a > 0.0): RELU's derivative at output a */
static inline pg_pair pair_positive(pg_pair a) {
    return (pg_pair)((pg_pair_mask)pair_splat(1.0) & (pg_pair_mask)(a > pair_splat(0.0)));
}
#else
typedef struct { double lo, hi; } pg_pair;
static inline pg_pair pair_splat(double x) { pg_pair v = {x, x}; return v; }
static inline pg_pair pair_madd(pg_pair acc, pg_pair a, pg_pair b) {
    pg_pair v = {acc.lo + a.lo * b.lo, acc.hi + a.hi * b.hi};
    return v;
}
static inline pg_pair pair_relu(pg_pair a) {
    pg_pair v = {a.lo < 0.0 ? 0.0 : a.lo, a.hi < 0.0 ? 0.0 : a.hi};
    return v;
}
static inline pg_pair pair_positive(pg_pair a) {
    pg_pair v = {(double)(a.lo > 0.0), (double)(a.hi > 0.0)};
    return v;
}
#endif

static inline pg_pair pair_load(const double *p) { pg_pair v; memcpy(&v, p, sizeof v); return v; }
static inline void pair_store(double *p, pg_pair v) { memcpy(p, &v, sizeof v); }

#endif /* PYGRAD_PAIR_H */
