/*
 * vec.h - doubles handled several at a time by the dense-layer kernels
 * (layer_kernels.h, compiled once per family): d1 is one double (any
 * compiler), d2 two (one SSE2 or NEON instruction per operation) and d4
 * four (one AVX instruction, in code built for AVX), with GCC's or Clang's
 * vector types. Each lane rounds exactly as the scalar operation would
 * (IEEE double, and no fused multiply-add: the core is built with
 * -ffp-contract=off), so every family gives the same bits. Each family:
 * load, store, splat, madd (acc + a * b), relu (ops.def's a < 0.0 ? 0.0 : a)
 * and positive ((double)(a > 0.0), RELU's derivative).
 */
#ifndef PYGRAD_VEC_H
#define PYGRAD_VEC_H

#include <string.h> /* memcpy: unaligned loads and stores */

#if defined(__GNUC__)
#define PG_INLINE static inline __attribute__((always_inline))
#else
#define PG_INLINE static inline
#endif

typedef double pg_d1;
PG_INLINE pg_d1 d1_load(const double *p) { return *p; }
PG_INLINE void d1_store(double *p, pg_d1 v) { *p = v; }
PG_INLINE pg_d1 d1_splat(double x) { return x; }
PG_INLINE pg_d1 d1_madd(pg_d1 acc, pg_d1 a, pg_d1 b) { return acc + a * b; }
PG_INLINE pg_d1 d1_relu(pg_d1 a) { return a < 0.0 ? 0.0 : a; }
PG_INLINE pg_d1 d1_positive(pg_d1 a) { return (double)(a > 0.0); }

#if defined(__GNUC__) && !defined(PG_NO_VECTORS)   /* -DPG_NO_VECTORS: a build with d1 only */
#define PG_VECTORS 1
/* GCC (and Clang) note that a d4 passed by value in a function built
 * without AVX has another ABI than with it: these helpers are always
 * inlined, so no d4 ever crosses a call. */
#if defined(__clang__)
#if __has_warning("-Wpsabi")
#pragma clang diagnostic ignored "-Wpsabi"
#endif
#else
#pragma GCC diagnostic ignored "-Wpsabi"
#endif
typedef double pg_d2 __attribute__((vector_size(16)));
typedef double pg_d4 __attribute__((vector_size(32)));
PG_INLINE pg_d2 d2_splat(double x) { return (pg_d2){x, x}; }
PG_INLINE pg_d4 d4_splat(double x) { return (pg_d4){x, x, x, x}; }
/* Relu and positive without a branch: a's bits where a is not < 0, and
 * 1.0's where a > 0 (a comparison gives all ones or all zeros per lane). */
#define PG_VEC_FAMILY(N, T, M)                                                              \
    typedef long long M __attribute__((vector_size(8 * N)));                                \
    PG_INLINE T d##N##_load(const double *p) { T v; memcpy(&v, p, sizeof v); return v; }   \
    PG_INLINE void d##N##_store(double *p, T v) { memcpy(p, &v, sizeof v); }                \
    PG_INLINE T d##N##_madd(T acc, T a, T b) { return acc + a * b; }                        \
    PG_INLINE T d##N##_relu(T a) { return (T)((M)a & ~(M)(a < d##N##_splat(0.0))); }        \
    PG_INLINE T d##N##_positive(T a) { return (T)((M)d##N##_splat(1.0) & (M)(a > d##N##_splat(0.0))); }
PG_VEC_FAMILY(2, pg_d2, pg_d2_mask)
PG_VEC_FAMILY(4, pg_d4, pg_d4_mask)
#undef PG_VEC_FAMILY
#endif

#endif /* PYGRAD_VEC_H */
